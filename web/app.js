// Red Folder tablet app. Plain ES module, no bundler.
//
// Plans live in the wasm core (crates/wasm), which keeps them in IndexedDB and syncs
// them over a WebSocket. This file only draws screens and turns taps into Edits; every
// rule about what a valid edit is lives in the core, whose error messages are shown as
// they come.

import init, { RedFolder } from './pkg/redfolder_wasm.js';

const SESSION_KEY = 'redfolder.session';
const DB_NAME = 'redfolder';
const TYPING_DEBOUNCE_MS = 300;

let rf = null;
let session = null;
let view = null; // the current screen: { name, update(), dispose() }
let lastStatus = null;

// ---------------------------------------------------------------------------
// Small DOM helpers. Text always goes in through textContent: plan content comes from
// other devices and must never be parsed as HTML.

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'testid') el.dataset.testid = value;
    else if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let idCounter = 0;
function field(labelText, input, hint) {
  const id = input.id || `f${++idCounter}`;
  input.id = id;
  const label = h('label', { for: id }, labelText, hint ? h('span', { class: 'hint' }, hint) : null);
  return h('div', { class: 'field' }, label, input);
}

function main() {
  return document.getElementById('main');
}

function show(...nodes) {
  if (view) view.dispose?.();
  view = null;
  main().replaceChildren(...nodes);
}

function fmtDateTime(ms) {
  if (ms === null || ms === undefined) return '';
  return new Date(ms).toLocaleString('en-GB', {
    day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

function fmtTime(ms) {
  return new Date(ms).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function by(attribution) {
  if (!attribution) return '';
  return `${attribution.user_name}, ${fmtDateTime(attribution.at_ms)}`;
}

// The core's messages are lower-case clauses ("pulse of 500 is outside …"); shown alone
// they read better as a sentence.
function sentence(message) {
  return message ? message[0].toUpperCase() + message.slice(1) : message;
}

function newEntryId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------------------
// Session and boot

function loadSession() {
  try {
    const saved = JSON.parse(localStorage.getItem(SESSION_KEY));
    return saved && saved.token && saved.user ? saved : null;
  } catch {
    return null;
  }
}

async function boot() {
  registerServiceWorker();
  document.querySelector('[data-testid="sign-out"]').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  try {
    await init();
    rf = await RedFolder.open(DB_NAME);
  } catch (e) {
    show(h('p', { class: 'error', role: 'alert', testid: 'boot-error' }, `Red Folder could not start: ${e.message || e}`));
    return;
  }
  rf.setListener(onCoreEvent);
  rf.setBeforeRemote(() => view?.flushTyping?.());
  // Typing still waiting for its debounce is saved before the page goes away.
  window.addEventListener('pagehide', () => view?.flushTyping?.());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') view?.flushTyping?.();
  });
  session = loadSession();
  if (session) startSession();
  route();
  renderStatus(rf.status());
}

function startSession() {
  const account = document.querySelector('[data-testid="account"]');
  account.hidden = false;
  document.querySelector('[data-testid="account-name"]').textContent = `${session.user.name}`;
  rf.signIn(session.token, session.user.id, session.user.name);
}

async function signOut() {
  const pending = rf ? rf.status().pending : 0;
  if (pending > 0) {
    // Keep the plans: unsent changes upload when someone signs in again on this tablet.
    const ok = window.confirm(`${pending} changes have not been uploaded yet. They stay on this tablet and upload after the next sign-in. Sign out?`);
    if (!ok) return;
    rf.signOut();
  } else if (rf) {
    rf.signOut();
    // Nothing unsent: leave no patient data on the device.
    await rf.wipe();
  }
  localStorage.removeItem(SESSION_KEY);
  session = null;
  document.querySelector('[data-testid="account"]').hidden = true;
  location.hash = '#/';
  route();
}

function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  const mark = () => {
    if (navigator.serviceWorker.controller) document.body.dataset.sw = 'ready';
  };
  navigator.serviceWorker.addEventListener('controllerchange', mark);
  navigator.serviceWorker.register('sw.js').then(mark, (e) => console.warn('service worker not registered', e));
  mark();
}

// ---------------------------------------------------------------------------
// Events from the core

function onCoreEvent(event) {
  switch (event.type) {
    case 'status':
      renderStatus(event);
      break;
    case 'doc_changed':
    case 'caseload':
      view?.update?.(event);
      break;
    case 'error':
      if (event.code === 'unauthorized') {
        renderStatus(rf.status());
      } else if (event.code === 'device_revoked') {
        rf.wipe().then(() => { localStorage.removeItem(SESSION_KEY); location.reload(); });
      }
      view?.remoteError?.(event);
      break;
    default:
      break;
  }
}

function renderStatus(status) {
  lastStatus = status;
  const state = document.querySelector('[data-testid="sync-state"]');
  state.dataset.state = status.state;
  state.textContent = { online: 'Online', connecting: 'Connecting…', offline: 'Offline' }[status.state] || status.state;
  const pending = document.querySelector('[data-testid="sync-pending"]');
  pending.textContent = status.pending === 1
    ? '1 change waiting to upload'
    : `${status.pending} changes waiting to upload`;
  pending.dataset.count = String(status.pending);
  const last = document.querySelector('[data-testid="sync-last"]');
  last.textContent = status.last_synced_ms ? `Last synced ${fmtTime(status.last_synced_ms)}` : 'Not synced yet';
  const error = document.querySelector('[data-testid="sync-error"]');
  let message = status.error || '';
  if (status.sign_in_refused) message = 'Your sign-in has expired. Sign out and sign in again to upload changes.';
  error.textContent = message;
  error.hidden = !message;
  if (view?.name === 'caseload') view.statusChanged?.(status);
}

// ---------------------------------------------------------------------------
// Routing: #/ (caseload), #/plan/<id>, #/plan/<id>/summary

function route() {
  if (!rf) return;
  if (!session) {
    renderLogin();
    return;
  }
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'plan' && parts[1]) {
    if (parts[2] === 'summary') renderSummary(parts[1]);
    else renderPlan(parts[1]);
  } else {
    renderCaseload();
  }
  main().focus({ preventScroll: true });
}

// ---------------------------------------------------------------------------
// Login

function renderLogin() {
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, testid: 'login-username', autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, testid: 'login-password' });
  const error = h('p', { class: 'error', role: 'alert', testid: 'login-error' });
  const submit = h('button', { type: 'submit', class: 'button', testid: 'login-submit' }, 'Sign in');
  const form = h('form', { class: 'card', testid: 'login-form', novalidate: true },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'After the first sign-in your caseload stays on this tablet and works without signal.'),
    field('Username', username),
    field('Password', password),
    error,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (!username.value.trim() || !password.value) {
      error.textContent = 'Enter your username and password.';
      return;
    }
    submit.disabled = true;
    try {
      const response = await fetch('/api/v1/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: username.value.trim(), password: password.value }),
      });
      if (response.status === 401 || response.status === 403) {
        error.textContent = 'That username and password do not match.';
        return;
      }
      if (!response.ok) {
        error.textContent = `Sign-in failed (${response.status}). Try again.`;
        return;
      }
      const body = await response.json();
      session = { token: body.token, user: body.user };
      localStorage.setItem(SESSION_KEY, JSON.stringify(session));
      startSession();
      location.hash = '#/';
      route();
    } catch {
      error.textContent = navigator.onLine
        ? 'Could not reach the server. Try again.'
        : 'You are offline. The first sign-in on a tablet needs a connection.';
    } finally {
      submit.disabled = false;
    }
  });
  show(h('div', { class: 'login' }, form));
  username.focus();
}

// ---------------------------------------------------------------------------
// Caseload

function renderCaseload() {
  const search = h('input', { type: 'search', testid: 'caseload-search', autocomplete: 'off', placeholder: 'Name or NHS number' });
  const list = h('ul', { class: 'caseload', testid: 'caseload-list', 'aria-label': 'Patients' });
  const note = h('p', { class: 'muted', testid: 'caseload-note' });
  const draw = () => {
    const query = search.value.trim().toLowerCase();
    const digits = query.replace(/[\s-]/g, '');
    const entries = rf.caseload()
      .filter((p) => !query || p.name.toLowerCase().includes(query) || (digits && /^\d+$/.test(digits) && p.nhs_number.includes(digits)))
      .sort((a, b) => a.name.localeCompare(b.name));
    list.replaceChildren(...entries.map((p) => h('li', {},
      h('a', { class: 'patient-link', href: `#/plan/${encodeURIComponent(p.id)}`, testid: 'caseload-item', 'data-id': p.id, 'data-nhs': p.nhs_number },
        h('span', { class: 'patient-name' }, p.name),
        h('span', { class: 'muted' }, `NHS ${p.nhs_number_display} · born ${p.dob}`),
        h('span', { class: 'badges' },
          p.dnacpr === 'do_not_attempt_cpr' ? h('span', { class: 'badge dnacpr' }, 'DNACPR') : null,
          p.share_with_emergency_services ? h('span', { class: 'badge' }, 'Shares with emergency services') : h('span', { class: 'badge' }, 'No emergency sharing'),
          p.pending ? h('span', { class: 'badge pending' }, `${p.pending} waiting to upload`) : null)))));
    const status = lastStatus || rf.status();
    const waiting = status.docs_waiting;
    if (!entries.length && !query) {
      note.textContent = waiting ? `Downloading your caseload (${waiting} plans to go)…` : 'No plans on this tablet yet. They download when you are online.';
    } else if (!entries.length) {
      note.textContent = 'No patient matches that search.';
    } else {
      note.textContent = waiting ? `${entries.length} patients · ${waiting} plans still downloading` : `${entries.length} patients`;
    }
  };
  search.addEventListener('input', draw);
  let scheduled = false;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => { scheduled = false; draw(); });
  };
  show(
    h('div', { class: 'caseload-head' },
      h('h1', {}, 'Caseload'),
      field('Search patients', search, 'By name or NHS number')),
    note,
    list);
  let seen = '';
  const statusChanged = (status) => {
    // Redraw only when what the list shows could differ (not on every timer tick).
    const key = `${status.docs_total}/${status.docs_waiting}/${status.pending}`;
    if (key !== seen) { seen = key; schedule(); }
  };
  view = { name: 'caseload', update: schedule, statusChanged };
  draw();
}

// ---------------------------------------------------------------------------
// Plan

function planHeader(id, plan, current) {
  return h('div', { class: 'plan-head' },
    h('div', {},
      h('a', { href: '#/', class: 'button secondary small', testid: 'back-to-caseload' }, '← Caseload'),
      h('h1', { testid: 'plan-title' }, plan ? plan.patient.name : 'Plan'),
      plan ? h('p', { class: 'muted' }, `NHS ${plan.nhs_number_display} · born ${plan.patient.date_of_birth}`) : null),
    h('nav', { class: 'tabs', 'aria-label': 'Plan views' },
      h('a', { class: 'button secondary', href: `#/plan/${encodeURIComponent(id)}`, 'aria-current': current === 'plan' ? 'page' : null, testid: 'tab-plan' }, 'Care plan'),
      h('a', { class: 'button secondary', href: `#/plan/${encodeURIComponent(id)}/summary`, 'aria-current': current === 'summary' ? 'page' : null, testid: 'tab-summary' }, 'Emergency summary')));
}

function waitingForPlan(id, rerender) {
  show(h('p', { class: 'muted', testid: 'plan-waiting' }, 'This plan has not downloaded to this tablet yet. It appears here as soon as it syncs.'));
  view = { name: 'waiting', update: (e) => { if (e.type === 'caseload' || e.id === id) rerender(id); } };
}

// One section's "Saving… / Saved on this tablet / error" line and its error box.
function saveState(testid) {
  const line = h('p', { class: 'saved', testid: `${testid}-saved`, 'aria-live': 'polite' });
  const error = h('p', { class: 'error', role: 'alert', testid: `${testid}-error` });
  let generation = 0;
  return {
    line,
    error,
    clear() { error.textContent = ''; },
    // Applies `edit`; resolves true once it is stored on this tablet.
    async apply(id, edit, after) {
      const mine = ++generation;
      error.textContent = '';
      line.dataset.state = 'saving';
      line.textContent = 'Saving…';
      let promise;
      try {
        promise = rf.apply(id, JSON.stringify(edit), Date.now());
      } catch (e) {
        promise = Promise.reject(e);
      }
      // The core applied the edit synchronously (or refused it): redraw straight away.
      after?.();
      try {
        await promise;
        if (mine === generation) {
          line.dataset.state = 'saved';
          line.textContent = `Saved on this tablet at ${fmtTime(Date.now())}`;
        }
        return true;
      } catch (e) {
        if (mine === generation) {
          line.dataset.state = 'error';
          line.textContent = 'Not saved';
        }
        error.textContent = sentence(e?.message || String(e));
        return false;
      }
    },
  };
}

function section(title, testid, ...children) {
  const headingId = `h-${testid}`;
  return h('section', { class: 'section', testid, 'aria-labelledby': headingId }, h('h2', { id: headingId }, title), ...children);
}

// Marks an entry entered-in-error after an inline confirmation (no modal dialogs).
function enteredInErrorControl(onConfirm, testid) {
  const box = h('div', { class: 'actions' });
  const ask = () => box.replaceChildren(
    h('button', { type: 'button', class: 'button danger small', testid: `${testid}-confirm`, onclick: onConfirm }, 'Confirm: entered in error'),
    h('button', { type: 'button', class: 'button secondary small', onclick: reset }, 'Cancel'));
  const reset = () => box.replaceChildren(
    h('button', { type: 'button', class: 'button secondary small', testid: `${testid}-mark`, onclick: ask }, 'Mark entered in error'));
  reset();
  return box;
}

function entryList(kind, listTestid, itemTestid, entries, describe, mark) {
  const ul = h('ul', { class: 'entries', testid: listTestid });
  if (!entries.length) {
    ul.append(h('li', { class: 'muted' }, 'None recorded.'));
    return ul;
  }
  for (const entry of entries) {
    const inError = !!entry.entered_in_error;
    const { title, meta } = describe(entry);
    ul.append(h('li', { class: `entry${inError ? ' in-error' : ''}`, testid: itemTestid, 'data-id': entry.id, 'data-in-error': inError ? 'true' : 'false' },
      h('div', { class: 'entry-main' },
        h('div', { class: 'entry-title' }, title),
        meta ? h('div', { class: 'entry-meta' }, meta) : null,
        h('div', { class: 'entry-meta' }, `Recorded by ${by(entry.recorded)}`),
        inError ? h('div', { class: 'in-error-note' }, `Entered in error — marked by ${by(entry.entered_in_error.by)}`) : null),
      inError ? null : enteredInErrorControl(() => mark(kind, entry.id), itemTestid)));
  }
  return ul;
}

function renderPlan(id) {
  const plan = rf.plan(id);
  if (!plan) {
    waitingForPlan(id, renderPlan);
    return;
  }

  // --- Patient identity
  const idState = saveState('patient');
  const nhs = h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'off', testid: 'patient-nhs' });
  const name = h('input', { type: 'text', autocomplete: 'off', testid: 'patient-name' });
  const dob = h('input', { type: 'date', testid: 'patient-dob' });
  const address = h('textarea', { rows: 3, testid: 'patient-address', style: 'min-height: 88px' });
  let identityDirty = false;
  const identityForm = h('form', { novalidate: true },
    h('div', { class: 'fields' }, field('NHS number', nhs, 'Format 000 000 0000'), field('Name', name), field('Date of birth', dob)),
    field('Address', address),
    idState.error,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', testid: 'patient-save' }, 'Save identity'), idState.line));
  identityForm.addEventListener('input', () => { identityDirty = true; });
  identityForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const ok = await idState.apply(id, { op: 'set_patient', nhs_number: nhs.value, name: name.value, date_of_birth: dob.value, address: address.value }, refresh);
    if (ok) { identityDirty = false; refresh(); }
  });

  // --- Consent
  const consentState = saveState('consent');
  const mdt = h('input', { type: 'checkbox', testid: 'consent-mdt' });
  const emergency = h('input', { type: 'checkbox', testid: 'consent-emergency' });
  const consentRecorded = h('p', { class: 'muted', testid: 'consent-recorded' });
  let consentDirty = false;
  const consentForm = h('form', {},
    h('label', { class: 'check' }, mdt, 'Share this plan with the multidisciplinary team'),
    h('label', { class: 'check' }, emergency, 'Share the emergency summary with ambulance and A&E clinicians'),
    consentRecorded,
    consentState.error,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', testid: 'consent-save' }, 'Record consent'), consentState.line));
  consentForm.addEventListener('change', () => { consentDirty = true; });
  consentForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const ok = await consentState.apply(id, { op: 'set_consent', share_with_mdt: mdt.checked, share_with_emergency_services: emergency.checked }, refresh);
    if (ok) { consentDirty = false; refresh(); }
  });

  // --- Entry lists (conditions, medications, key contacts)
  const listState = { conditions: saveState('conditions'), medications: saveState('medications'), key_contacts: saveState('contacts') };
  const mark = (list, entryId) => listState[list].apply(id, { op: 'mark_entered_in_error', list, id: entryId }, refresh);
  const conditionsBox = h('div');
  const medicationsBox = h('div');
  const contactsBox = h('div');

  const addForm = (state, summaryText, testid, inputs, toEdit) => {
    const form = h('form', { novalidate: true, testid: `${testid}-form` },
      ...inputs.map(([labelText, input, hint]) => field(labelText, input, hint)),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', testid: `${testid}-add` }, summaryText)));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const ok = await state.apply(id, toEdit(), refresh);
      if (ok) form.reset();
    });
    return h('details', { class: 'add', testid: `${testid}-details` }, h('summary', { testid: `${testid}-open` }, summaryText), form);
  };

  const condName = h('input', { type: 'text', testid: 'condition-name' });
  const condTreatment = h('textarea', { rows: 2, testid: 'condition-treatment', style: 'min-height: 70px' });
  const conditionAdd = addForm(listState.conditions, 'Add condition', 'condition',
    [['Condition', condName], ['Treatment or management', condTreatment]],
    () => ({ op: 'add_condition', id: newEntryId(), name: condName.value, treatment: condTreatment.value }));

  const medName = h('input', { type: 'text', testid: 'medication-name' });
  const medDose = h('input', { type: 'text', testid: 'medication-dose' });
  const medNotes = h('input', { type: 'text', testid: 'medication-notes' });
  const medicationAdd = addForm(listState.medications, 'Add medication', 'medication',
    [['Medication', medName], ['Dose', medDose, 'For example 5 mg twice a day'], ['Notes', medNotes, 'For example "anticipatory, kept in the fridge"']],
    () => ({ op: 'add_medication', id: newEntryId(), name: medName.value, dose: medDose.value, notes: medNotes.value }));

  const contactRole = h('input', { type: 'text', testid: 'contact-role', list: 'contact-roles' });
  const contactName = h('input', { type: 'text', testid: 'contact-name' });
  const contactPhone = h('input', { type: 'tel', testid: 'contact-phone' });
  const roles = h('datalist', { id: 'contact-roles' }, ...['next of kin', 'main carer', 'case manager', 'GP bypass', 'key safe'].map((r) => h('option', { value: r })));
  const contactAdd = addForm(listState.key_contacts, 'Add key contact', 'contact',
    [['Role', contactRole, 'For example next of kin, main carer, key safe'], ['Name', contactName], ['Phone', contactPhone]],
    () => ({ op: 'add_contact', id: newEntryId(), role: contactRole.value, name: contactName.value, phone: contactPhone.value }));

  // --- DNACPR
  const dnacprState = saveState('dnacpr');
  const dnacpr = h('select', { testid: 'dnacpr-select' },
    h('option', { value: 'not_recorded' }, 'Not recorded'),
    h('option', { value: 'for_attempted_cpr' }, 'For attempted CPR'),
    h('option', { value: 'do_not_attempt_cpr' }, 'DNACPR in place: do not attempt CPR'));
  dnacpr.addEventListener('change', () => dnacprState.apply(id, { op: 'set_dnacpr', status: dnacpr.value }, refresh));

  // --- Preferred place of care
  const placeState = saveState('place');
  const place = h('input', { type: 'text', testid: 'place-input' });
  let placeDirty = false;
  const placeForm = h('form', { novalidate: true },
    field('Preferred place of care', place, 'For example home, hospice, hospital'),
    placeState.error,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', testid: 'place-save' }, 'Save place of care'), placeState.line));
  place.addEventListener('input', () => { placeDirty = true; });
  placeForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const ok = await placeState.apply(id, { op: 'set_preferred_place_of_care', place: place.value }, refresh);
    if (ok) { placeDirty = false; refresh(); }
  });

  // --- Exacerbation plan: collaborative text. The whole text goes to the core, which
  // stores only the characters that changed, so a colleague's typing elsewhere survives.
  const exState = saveState('exacerbation');
  const exText = h('textarea', { rows: 8, testid: 'exacerbation-plan', spellcheck: 'true' });
  let exTimer = null;
  let exDocText = plan.exacerbation_plan; // the core's text the textarea was last in step with
  const flushTyping = () => {
    if (exTimer === null) return;
    clearTimeout(exTimer);
    exTimer = null;
    // The core trims the text; typing a trailing space is not an edit yet.
    if (exText.value.trim() === exDocText) {
      exState.line.dataset.state = 'saved';
      exState.line.textContent = `Saved on this tablet at ${fmtTime(Date.now())}`;
      return;
    }
    exState.apply(id, { op: 'set_exacerbation_plan', text: exText.value }, () => {
      const now = rf.plan(id);
      if (now) exDocText = now.exacerbation_plan;
      refresh();
    });
  };
  exText.addEventListener('input', () => {
    exState.line.dataset.state = 'typing';
    exState.line.textContent = 'Saving…';
    clearTimeout(exTimer);
    exTimer = setTimeout(flushTyping, TYPING_DEBOUNCE_MS);
  });
  exText.addEventListener('blur', flushTyping);

  // --- Baseline observations
  const baseState = saveState('baseline');
  const num = (testid) => h('input', { type: 'text', inputmode: 'decimal', autocomplete: 'off', testid });
  const pulse = num('baseline-pulse');
  const systolic = num('baseline-systolic');
  const diastolic = num('baseline-diastolic');
  const resp = num('baseline-resp');
  const spo2 = num('baseline-spo2');
  const temp = num('baseline-temp');
  const baseRecorded = h('p', { class: 'muted', testid: 'baseline-recorded' });
  let baseDirty = false;
  const baseForm = h('form', { novalidate: true },
    h('div', { class: 'fields' },
      field('Pulse', pulse, 'beats per minute'),
      field('Systolic BP', systolic, 'mmHg'),
      field('Diastolic BP', diastolic, 'mmHg'),
      field('Respiratory rate', resp, 'breaths per minute'),
      field('SpO2', spo2, '%'),
      field('Temperature', temp, '°C, e.g. 36.8')),
    baseRecorded,
    baseState.error,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', testid: 'baseline-save' }, 'Save baseline'), baseState.line));
  baseForm.addEventListener('input', () => { baseDirty = true; });
  baseForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    // Only parse what was typed; plausibility is the core's decision.
    const whole = (input, label) => {
      const v = input.value.trim();
      if (!v) return null;
      if (!/^\d+$/.test(v)) throw new Error(`${label} must be a whole number`);
      return Number(v);
    };
    let edit;
    try {
      const t = temp.value.trim();
      if (t && !/^\d+(\.\d)?$/.test(t)) throw new Error('temperature must be written like 36.8');
      edit = {
        op: 'set_baseline',
        pulse_bpm: whole(pulse, 'pulse'),
        systolic_mmhg: whole(systolic, 'systolic blood pressure'),
        diastolic_mmhg: whole(diastolic, 'diastolic blood pressure'),
        respiratory_rate: whole(resp, 'respiratory rate'),
        spo2_percent: whole(spo2, 'SpO2'),
        temperature_decidegrees: t ? Math.round(Number(t) * 10) : null,
      };
    } catch (err) {
      baseState.error.textContent = sentence(err.message);
      return;
    }
    const ok = await baseState.apply(id, edit, refresh);
    if (ok) { baseDirty = false; refresh(); }
  });

  const lastUpdated = h('p', { class: 'last-updated', testid: 'last-updated' });
  const title = h('div');

  show(
    title,
    h('div', { class: 'sections', testid: 'plan' },
      section('Patient', 'section-patient', identityForm),
      section('Consent', 'section-consent', consentForm),
      section('DNACPR', 'section-dnacpr',
        field('DNACPR status', dnacpr), dnacprState.error, dnacprState.line),
      section('Preferred place of care', 'section-place', placeForm),
      h('div', { class: 'wide' }, section('Exacerbation plan', 'section-exacerbation',
        field('What to do when the patient gets worse', exText, 'Saved as you type; colleagues\u2019 changes merge in'),
        exState.error, exState.line)),
      section('Conditions', 'section-conditions', conditionsBox, listState.conditions.error, listState.conditions.line, conditionAdd),
      section('Medications', 'section-medications', medicationsBox, listState.medications.error, listState.medications.line, medicationAdd),
      section('Baseline observations', 'section-baseline', baseForm),
      section('Key contacts', 'section-contacts', contactsBox, listState.key_contacts.error, listState.key_contacts.line, roles, contactAdd)),
    lastUpdated);

  function refresh() {
    const p = rf.plan(id);
    if (!p) return;
    title.replaceChildren(planHeader(id, p, 'plan'));
    const focused = document.activeElement;
    if (!identityDirty) {
      nhs.value = p.nhs_number_display;
      name.value = p.patient.name;
      dob.value = p.patient.date_of_birth;
      address.value = p.patient.address;
    }
    if (!consentDirty) {
      mdt.checked = p.consent.share_with_mdt;
      emergency.checked = p.consent.share_with_emergency_services;
    }
    consentRecorded.textContent = p.consent.recorded ? `Recorded by ${by(p.consent.recorded)}` : 'Consent not recorded yet.';
    if (focused !== dnacpr) dnacpr.value = p.dnacpr;
    dnacpr.dataset.value = p.dnacpr;
    if (!placeDirty) place.value = p.preferred_place_of_care;
    mergeText(p.exacerbation_plan);
    if (!baseDirty) {
      const b = p.baseline;
      const s = (v) => (v === null || v === undefined ? '' : String(v));
      pulse.value = s(b.pulse_bpm);
      systolic.value = s(b.systolic_mmhg);
      diastolic.value = s(b.diastolic_mmhg);
      resp.value = s(b.respiratory_rate);
      spo2.value = s(b.spo2_percent);
      temp.value = b.temperature_decidegrees == null ? '' : (b.temperature_decidegrees / 10).toFixed(1);
    }
    baseRecorded.textContent = p.baseline.recorded ? `Recorded by ${by(p.baseline.recorded)}` : 'No baseline recorded yet.';
    conditionsBox.replaceChildren(entryList('conditions', 'conditions-list', 'condition-item', p.conditions,
      (c) => ({ title: c.name, meta: c.treatment }), mark));
    medicationsBox.replaceChildren(entryList('medications', 'medications-list', 'medication-item', p.medications,
      (m) => ({ title: m.dose ? `${m.name} — ${m.dose}` : m.name, meta: m.notes }), mark));
    contactsBox.replaceChildren(entryList('key_contacts', 'contacts-list', 'contact-item', p.key_contacts,
      (c) => ({ title: `${c.name} (${c.role})`, meta: c.phone }), mark));
    lastUpdated.textContent = p.last_updated ? `Last updated by ${by(p.last_updated)}` : '';
  }

  // Brings the textarea in step with the core's text without losing the caret. Typing
  // not yet handed to the core was flushed first (see setBeforeRemote), so the only
  // local difference left is whitespace the core trims at the ends.
  function mergeText(docText) {
    if (docText === exDocText && exText.value.trim() === docText) return;
    if (exTimer !== null) return; // the user's pending text goes in first; it is merged on the next update
    const old = exText.value;
    const isFocused = document.activeElement === exText;
    const lead = isFocused ? old.match(/^\s*/)[0] : '';
    const trail = isFocused && old.trim() ? old.match(/\s*$/)[0] : '';
    const next = docText ? lead + docText + trail : old.trim() ? '' : old;
    exDocText = docText;
    if (next === old) return;
    const start = exText.selectionStart;
    const end = exText.selectionEnd;
    exText.value = next;
    if (isFocused) {
      exText.setSelectionRange(mapCaret(old, next, start), mapCaret(old, next, end));
    }
  }

  refresh();
  view = {
    name: 'plan',
    id,
    flushTyping,
    update(event) {
      if (event.type === 'doc_changed' && event.id === id) refresh();
    },
    remoteError(event) {
      if (event.doc_id === id) exState.error.textContent = `The server could not accept a change: ${event.message}`;
    },
    dispose() {
      flushTyping();
    },
  };
}

// Where a caret at `pos` in `old` belongs in `next`: text is compared from both ends
// and the changed middle shifts what comes after it.
function mapCaret(old, next, pos) {
  let prefix = 0;
  const max = Math.min(old.length, next.length);
  while (prefix < max && old[prefix] === next[prefix]) prefix++;
  let suffix = 0;
  while (suffix < max - prefix && old[old.length - 1 - suffix] === next[next.length - 1 - suffix]) suffix++;
  if (pos <= prefix) return pos;
  if (pos >= old.length - suffix) return pos + (next.length - old.length);
  return next.length - suffix;
}

// ---------------------------------------------------------------------------
// Emergency summary

function renderSummary(id) {
  const s = rf.summary(id);
  if (!s) {
    waitingForPlan(id, renderSummary);
    return;
  }
  const plan = rf.plan(id);
  const list = (items, render, testid) => (items.length
    ? h('ul', { testid }, ...items.map((i) => h('li', {}, render(i))))
    : h('p', { class: 'muted', testid }, 'None recorded.'));
  show(
    planHeader(id, plan, 'summary'),
    h('article', { class: 'summary', testid: 'emergency-summary', 'aria-labelledby': 'summary-title' },
      h('h2', { id: 'summary-title' }, 'Emergency summary'),
      h('div', { class: 'dnacpr-banner', 'data-status': s.dnacpr, testid: 'summary-dnacpr' }, s.dnacpr_label),
      s.consent_to_emergency_sharing
        ? null
        : h('p', { class: 'error', role: 'note', testid: 'summary-no-consent' }, 'The patient has not consented to sharing this summary with emergency services.'),
      h('dl', {},
        h('dt', {}, 'Name'), h('dd', { testid: 'summary-name' }, s.name),
        h('dt', {}, 'NHS number'), h('dd', {}, s.nhs_number_display),
        h('dt', {}, 'Date of birth'), h('dd', {}, s.date_of_birth),
        h('dt', {}, 'Address'), h('dd', {}, s.address),
        h('dt', {}, 'Preferred place of care'), h('dd', {}, s.preferred_place_of_care || 'Not recorded')),
      h('h3', {}, 'Exacerbation plan'),
      h('pre', { testid: 'summary-exacerbation' }, s.exacerbation_plan || 'None recorded.'),
      h('h3', {}, 'Conditions'),
      list(s.conditions, (c) => (c.treatment ? `${c.name}: ${c.treatment}` : c.name), 'summary-conditions'),
      h('h3', {}, 'Medications'),
      list(s.medications, (m) => [m.name, m.dose, m.notes].filter(Boolean).join(' — '), 'summary-medications'),
      h('h3', {}, 'Usual observations'),
      list(s.baseline.lines, (l) => l, 'summary-baseline'),
      h('h3', {}, 'Key contacts'),
      list(s.key_contacts, (c) => `${c.role}: ${c.name}${c.phone ? `, ${c.phone}` : ''}`, 'summary-contacts'),
      s.last_updated ? h('p', { class: 'last-updated' }, `Last updated by ${by(s.last_updated)}`) : null));
  view = { name: 'summary', update: (e) => { if (e.type === 'doc_changed' && e.id === id) renderSummary(id); } };
}

boot();

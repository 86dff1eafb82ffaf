// The plan editor: the patient, clinical lists, decisions and the plan's other sections
// (drawn by sections.ts), saving each change through the core as it is made.

import type { Entry, Plan } from './core.js';
import { by, errorMessage, field, fmtTime, h, section, sentence } from './dom.js';
import { app, core, show } from './shell.js';
import { paperLine } from './paper.js';
import { refusedPanel } from './refused.js';
import { correctedNote, corrections } from './forms.js';
import type { CorrectionField, SaveState } from './forms.js';
import { conflictNote, planSections } from './sections.js';
import type { EditJson } from './sections.js';

const TYPING_DEBOUNCE_MS = 300;

function newEntryId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function planHeader(id: string, plan: Plan | null, current: 'plan' | 'summary' | 'print' | 'check'): HTMLElement {
  return h('div', { class: 'plan-head' },
    h('div', {},
      h('a', { href: '#/', class: 'button secondary small', testid: 'back-to-caseload' }, '← Caseload'),
      h('h1', { testid: 'plan-title' }, plan ? plan.patient.name : 'Plan'),
      plan ? h('p', { class: 'muted' }, `NHS ${plan.nhs_number_display} · born ${plan.patient.date_of_birth}`) : null),
    h('nav', { class: 'tabs', 'aria-label': 'Plan views' },
      h('a', { class: 'button secondary', href: `#/plan/${encodeURIComponent(id)}`, 'aria-current': current === 'plan' ? 'page' : null, testid: 'tab-plan' }, 'Care plan'),
      h('a', { class: 'button secondary', href: `#/plan/${encodeURIComponent(id)}/summary`, 'aria-current': current === 'summary' ? 'page' : null, testid: 'tab-summary' }, 'Emergency summary'),
      h('a', { class: 'button secondary', href: `#/plan/${encodeURIComponent(id)}/print`, 'aria-current': current === 'print' ? 'page' : null, testid: 'tab-print' }, 'Print'),
      h('a', { class: 'button secondary', href: `#/plan/${encodeURIComponent(id)}/check`, 'aria-current': current === 'check' ? 'page' : null, testid: 'tab-check' }, 'Check a paper copy')));
}

export function waitingForPlan(id: string, rerender: (id: string) => void): void {
  show(h('p', { class: 'muted', testid: 'plan-waiting' }, 'This plan has not downloaded to this tablet yet. It appears here as soon as it syncs.'));
  app.view = { name: 'waiting', update: (e) => { if (e.type === 'caseload' || (e.type === 'doc_changed' && e.id === id)) rerender(id); } };
}

// One section's "Saving… / Saved on this tablet / error" line and its error box.
function saveState(testid: string): SaveState {
  const line = h('p', { class: 'saved', testid: `${testid}-saved`, 'aria-live': 'polite' });
  const error = h('p', { class: 'error', role: 'alert', testid: `${testid}-error` });
  let generation = 0;
  return {
    line,
    error,
    clear() { error.textContent = ''; },
    // Applies `edit`; resolves true once it is stored on this tablet.
    async apply(id: string, edit: EditJson, after?: () => void): Promise<boolean> {
      const mine = ++generation;
      error.textContent = '';
      line.dataset.state = 'saving';
      line.textContent = 'Saving…';
      let promise: Promise<unknown>;
      try {
        promise = core().apply(id, JSON.stringify(edit), Date.now());
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
        error.textContent = errorMessage(e);
        return false;
      }
    },
  };
}

// Marks an entry entered-in-error after an inline confirmation (no modal dialogs).
function enteredInErrorControl(onConfirm: () => void, testid: string): HTMLElement {
  const box = h('div', { class: 'actions' });
  const ask = () => box.replaceChildren(
    h('button', { type: 'button', class: 'button danger small', testid: `${testid}-confirm`, onclick: onConfirm }, 'Confirm: entered in error'),
    h('button', { type: 'button', class: 'button secondary small', onclick: reset }, 'Cancel'));
  const reset = () => box.replaceChildren(
    h('button', { type: 'button', class: 'button secondary small', testid: `${testid}-mark`, onclick: ask }, 'Mark entered in error'));
  reset();
  return box;
}

type ListKind = 'conditions' | 'medications' | 'key_contacts';

function entryList(kind: ListKind, listTestid: string, itemTestid: string, entries: Entry[],
  describe: (entry: Entry) => { title: string; meta?: string | null }, mark: (kind: ListKind, id: string) => void,
  correct: (entry: Entry) => HTMLElement): HTMLElement {
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
        correctedNote(entry, itemTestid),
        inError ? h('div', { class: 'in-error-note' }, `Entered in error — marked by ${by(entry.entered_in_error?.by)}`) : null),
      inError ? null : correct(entry),
      inError ? null : enteredInErrorControl(() => mark(kind, entry.id), itemTestid)));
  }
  return ul;
}

export function renderPlan(id: string): void {
  const plan = core().plan(id);
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
  const consentConflict = h('div', { testid: 'consent-conflict' });
  let consentDirty = false;
  const consentForm = h('form', {},
    h('label', { class: 'check' }, mdt, 'Share this plan with the multidisciplinary team'),
    h('label', { class: 'check' }, emergency, 'Share the emergency summary with ambulance and A&E clinicians'),
    consentConflict,
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
  const listState: Record<ListKind, SaveState> = { conditions: saveState('conditions'), medications: saveState('medications'), key_contacts: saveState('contacts') };
  const mark = (list: ListKind, entryId: string): Promise<boolean> => listState[list].apply(id, { op: 'mark_entered_in_error', list, id: entryId }, refresh);
  const correct = (kind: ListKind, op: string, testid: string, fields: CorrectionField[]) => corrections({
    id, op, testid, fields, state: () => listState[kind], refresh: () => refresh(),
  });
  const correctCondition = correct('conditions', 'update_condition', 'condition-item',
    [{ name: 'name', label: 'Condition' }, { name: 'treatment', label: 'Treatment or management', type: 'textarea' }]);
  const correctMedication = correct('medications', 'update_medication', 'medication-item',
    [{ name: 'name', label: 'Medication' }, { name: 'dose', label: 'Dose' }, { name: 'notes', label: 'Notes' }]);
  const correctContact = correct('key_contacts', 'update_contact', 'contact-item',
    [{ name: 'role', label: 'Role' }, { name: 'name', label: 'Name' }, { name: 'phone', label: 'Phone', type: 'tel' }]);
  const conditionsBox = h('div');
  const medicationsBox = h('div');
  const contactsBox = h('div');

  const addForm = (state: SaveState, summaryText: string, testid: string,
    inputs: [string, HTMLElement, string?][], toEdit: () => EditJson): HTMLElement => {
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
    h('option', { value: 'do_not_attempt_cpr' }, 'DNACPR in place: do not attempt CPR'),
    // Shown only while decisions conflict; choosing a status then records the clinician's
    // decision, which supersedes both.
    h('option', { value: 'conflicting', disabled: true, hidden: true }, 'Conflicting: confirm with the care team'));
  const dnacprConflict = h('div', { testid: 'dnacpr-conflict' });
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
  let exTimer: ReturnType<typeof setTimeout> | null = null;
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
      const now = core().plan(id);
      if (now) exDocText = now.exacerbation_plan;
      refresh();
    });
  };
  exText.addEventListener('input', () => {
    exState.line.dataset.state = 'typing';
    exState.line.textContent = 'Saving…';
    if (exTimer !== null) clearTimeout(exTimer);
    exTimer = setTimeout(flushTyping, TYPING_DEBOUNCE_MS);
  });
  exText.addEventListener('blur', flushTyping);

  // --- Baseline observations
  const baseState = saveState('baseline');
  const num = (testid: string): HTMLInputElement => h('input', { type: 'text', inputmode: 'decimal', autocomplete: 'off', testid });
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
    const whole = (input: HTMLInputElement, label: string): number | null => {
      const v = input.value.trim();
      if (!v) return null;
      if (!/^\d+$/.test(v)) throw new Error(`${label} must be a whole number`);
      return Number(v);
    };
    let edit: EditJson;
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
      baseState.error.textContent = sentence((err as Error).message);
      return;
    }
    const ok = await baseState.apply(id, edit, refresh);
    if (ok) { baseDirty = false; refresh(); }
  });

  const lastUpdated = h('p', { class: 'last-updated', testid: 'last-updated' });
  const title = h('div');
  const paper = h('div');
  const refused = refusedPanel(core, id, saveState('refused'), () => refresh());
  const more = planSections({
    id,
    saveState,
    newEntryId,
    enteredInError: enteredInErrorControl,
    reviewDue: () => core().reviewDue(id),
    refresh: () => refresh(),
  });

  show(
    title,
    paper,
    h('div', { class: 'plan-top' }, refused.node, ...more.top),
    h('div', { class: 'sections', testid: 'plan' },
      section('Patient', 'section-patient', identityForm),
      section('Consent', 'section-consent', consentForm),
      section('DNACPR', 'section-dnacpr',
        field('DNACPR status', dnacpr), dnacprConflict, dnacprState.error, dnacprState.line),
      section('Preferred place of care', 'section-place', placeForm),
      h('div', { class: 'wide' }, section('Exacerbation plan', 'section-exacerbation',
        field('What to do when the patient gets worse', exText, 'Saved as you type; colleagues\u2019 changes merge in'),
        exState.error, exState.line)),
      section('Conditions', 'section-conditions', conditionsBox, listState.conditions.error, listState.conditions.line, conditionAdd),
      section('Medications', 'section-medications', medicationsBox, listState.medications.error, listState.medications.line, medicationAdd),
      section('Baseline observations', 'section-baseline', baseForm),
      section('Key contacts', 'section-contacts', contactsBox, listState.key_contacts.error, listState.key_contacts.line, roles, contactAdd),
      ...more.rest),
    lastUpdated);

  function refresh() {
    const p = core().plan(id);
    if (!p) return;
    title.replaceChildren(planHeader(id, p, 'plan'));
    paper.replaceChildren(paperLine(id, p.paper_reading));
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
    // While consents conflict the boxes show what every value allows (the core shares no
    // more than that); the note says the conflict is there to resolve.
    const consentNote = conflictNote(p, 'consent');
    consentConflict.replaceChildren(...(consentNote ? [consentNote] : []));
    // `p.dnacpr` is the core's reading: `conflicting` rather than either side.
    if (focused !== dnacpr) dnacpr.value = p.dnacpr;
    dnacpr.dataset.value = p.dnacpr;
    const dnacprNote = conflictNote(p, 'dnacpr');
    dnacprConflict.replaceChildren(...(dnacprNote ? [dnacprNote] : []));
    if (!placeDirty) place.value = p.preferred_place_of_care;
    mergeText(p.exacerbation_plan);
    if (!baseDirty) {
      const b = p.baseline;
      const s = (v: number | null | undefined): string => (v === null || v === undefined ? '' : String(v));
      pulse.value = s(b.pulse_bpm);
      systolic.value = s(b.systolic_mmhg);
      diastolic.value = s(b.diastolic_mmhg);
      resp.value = s(b.respiratory_rate);
      spo2.value = s(b.spo2_percent);
      temp.value = b.temperature_decidegrees == null ? '' : (b.temperature_decidegrees / 10).toFixed(1);
    }
    baseRecorded.textContent = p.baseline.recorded ? `Recorded by ${by(p.baseline.recorded)}` : 'No baseline recorded yet.';
    conditionsBox.replaceChildren(entryList('conditions', 'conditions-list', 'condition-item', p.conditions,
      (c) => ({ title: c.name, meta: c.treatment }), mark, correctCondition));
    medicationsBox.replaceChildren(entryList('medications', 'medications-list', 'medication-item', p.medications,
      (m) => ({ title: m.dose ? `${m.name} — ${m.dose}` : m.name, meta: m.notes }), mark, correctMedication));
    contactsBox.replaceChildren(entryList('key_contacts', 'contacts-list', 'contact-item', p.key_contacts,
      (c) => ({ title: `${c.name} (${c.role})`, meta: c.phone }), mark, correctContact));
    lastUpdated.textContent = p.last_updated ? `Last updated by ${by(p.last_updated)}` : '';
    refused.refresh();
    more.refresh(p);
  }

  // Brings the textarea in step with the core's text without losing the caret. Typing
  // not yet handed to the core was flushed first (see setBeforeRemote), so the only
  // local difference left is whitespace the core trims at the ends.
  function mergeText(docText: string): void {
    if (docText === exDocText && exText.value.trim() === docText) return;
    if (exTimer !== null) return; // the user's pending text goes in first; it is merged on the next update
    const old = exText.value;
    const isFocused = document.activeElement === exText;
    const lead = isFocused ? (old.match(/^\s*/)?.[0] ?? '') : '';
    const trail = isFocused && old.trim() ? (old.match(/\s*$/)?.[0] ?? '') : '';
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
  app.view = {
    name: 'plan',
    id,
    flushTyping,
    update(event) {
      if ((event.type === 'doc_changed' || event.type === 'refused') && event.id === id) refresh();
    },
    remoteError(event) {
      // A refused change has its own panel (with the edits to make again); other
      // failures of this plan's sync are shown here.
      if (event.doc_id === id && event.code !== 'refused') exState.error.textContent = `The server could not accept a change: ${event.message}`;
    },
    dispose() {
      flushTyping();
    },
  };
}

// Where a caret at `pos` in `old` belongs in `next`: text is compared from both ends
// and the changed middle shifts what comes after it.
function mapCaret(old: string, next: string, pos: number): number {
  let prefix = 0;
  const max = Math.min(old.length, next.length);
  while (prefix < max && old[prefix] === next[prefix]) prefix++;
  let suffix = 0;
  while (suffix < max - prefix && old[old.length - 1 - suffix] === next[next.length - 1 - suffix]) suffix++;
  if (pos <= prefix) return pos;
  if (pos >= old.length - suffix) return pos + (next.length - old.length);
  return next.length - suffix;
}

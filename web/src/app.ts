// Red Folder tablet app, bundled by esbuild (web/build.mjs) with the wasm core's glue.
//
// Plans live in the wasm core (crates/wasm), which keeps them encrypted in IndexedDB and
// syncs them over a WebSocket. This file only draws screens and turns taps into Edits;
// every rule about what a valid edit is lives in the core, whose error messages are
// shown as they come.
//
// Nothing is kept in localStorage: the session (access token and user) is stored by the
// core, encrypted with the plans under the key the user's PIN unlocks.

import init, { RedFolder } from '../pkg/redfolder_wasm.js';
import type {
  CaseloadEntry, Core, CoreEvent, Entry, LockState, NhsNumberCheck, Plan, ReviewDue, SyncStatus,
} from './core.js';
import { by, errorMessage, field, fmtDate, fmtTime, h, section, sentence } from './dom.js';
import { fitSummary, pageFooterStyle, printDocument, summaryArticle } from './summary.js';
import type { PrintStamp } from './summary.js';
import { checkScreen, PAPER_FILTER, paperBadge, paperFilter, paperLine, printSignature, UNSIGNED_OFFLINE } from './paper.js';
import { conflictNote, correctedNote, corrections, LABELS, planSections } from './sections.js';
import { renderScheme } from './scheme.js';
import { renderReferrals } from './referrals.js';
import { refusedPanel } from './refused.js';
import type { CorrectionField, EditJson, SaveState } from './sections.js';

/** The session kept (encrypted) by the core while unlocked. */
interface User {
  id: string;
  name: string;
  role: string;
  roles?: string[];
  organisation?: string;
  username?: string;
}
interface Session {
  token: string;
  refresh_token: string | null;
  expires_at_ms: number;
  device_id: string | null;
  user: User;
}
/** The server's answer to sign-in and refresh. */
interface TokenBody {
  token: string;
  refresh_token?: string | null;
  expires_in?: number;
  device_id?: string | null;
  user?: User;
}
/** The screen on show. */
interface View {
  name: string;
  id?: string;
  update?(event: CoreEvent): void;
  statusChanged?(status: SyncStatus): void;
  remoteError?(event: Extract<CoreEvent, { type: 'error' }>): void;
  flushTyping?(): void;
  dispose?: (() => void) | null;
}

function byTestId<T extends HTMLElement = HTMLElement>(testid: string): T {
  const el = document.querySelector<T>(`[data-testid="${testid}"]`);
  if (!el) throw new Error(`index.html has no ${testid}`);
  return el;
}

// The wasm file's name in the build, content-hashed (defined by web/build.mjs).
declare const WASM_FILE: string;

const DB_NAME = 'redfolder';
const TYPING_DEBOUNCE_MS = 300;
// Before encryption the session was kept here; it is removed on start.
const LEGACY_SESSION_KEY = 'redfolder.session';
const EMERGENCY_ROLE = 'emergency_clinician';
const COMMISSIONER_ROLE = 'commissioner';

// The app locks after this long without a touch or a key press. A shorter time can be
// given in the page address (`?lock-after-ms=2000`, for tests and demonstrations); a
// longer one cannot.
const IDLE_LOCK_MS = 5 * 60 * 1000;
const lockAfterMs = (() => {
  const asked = Number(new URLSearchParams(location.search).get('lock-after-ms'));
  return Number.isFinite(asked) && asked > 0 ? Math.min(asked, IDLE_LOCK_MS) : IDLE_LOCK_MS;
})();

// Renew the access token this long before it expires (it lasts 15 minutes).
const REFRESH_MARGIN_MS = 2 * 60 * 1000;
const REVOKED_NOTICE = 'This tablet\u2019s access to Red Folder has been withdrawn (the device was revoked or the account disabled), so all Red Folder data on it, including changes not yet uploaded, has been erased. Speak to your administrator if you did not expect this.';

let rf: Core | null = null;
// While unlocked: { token, refresh_token, expires_at_ms, device_id, user: { id, name,
// role, organisation } }. Stored encrypted by the core (saveSession).
let session: Session | null = null;
let refreshing: Promise<boolean> | null = null; // the token renewal in flight, shared by everyone who needs it
let erasing = false;
let view: View | null = null; // the current screen
let lastStatus: SyncStatus | null = null;
let lastActivity = Date.now();

function main(): HTMLElement {
  return elementById('main');
}

// The wasm core, opened by `boot` before any screen is drawn.
function core(): Core {
  if (!rf) throw new Error('Red Folder has not started');
  return rf;
}

function elementById(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el;
}

function show(...nodes: Node[]): void {
  if (view) view.dispose?.();
  view = null;
  main().replaceChildren(...nodes);
}

function newEntryId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function isEmergencyClinician() {
  return session?.user?.role === EMERGENCY_ROLE;
}

// Commissioners read the scheme's figures across practices; no plan reaches them.
function isCommissioner() {
  return session?.user?.role === COMMISSIONER_ROLE;
}

// A GP reviewer reads referrals from the server; one with no other role reads no plan.
function isReviewer() {
  const user = session?.user;
  return !!user && (user.role === 'gp_reviewer' || !!user.roles?.includes('gp_reviewer'));
}

// Only these users read plans, so only their tablets sync.
function syncsPlans() {
  return !isEmergencyClinician() && !isCommissioner() && session?.user?.role !== 'gp_reviewer';
}

function isCaseManager() {
  const user = session?.user;
  return !!user && (user.role === 'case_manager' || !!user.roles?.includes('case_manager'));
}

function lockState(): Partial<LockState> & { has_pin: boolean; unlocked: boolean } {
  return rf ? rf.lockState() : { has_pin: false, unlocked: false };
}

// ---------------------------------------------------------------------------
// Boot, session, lock

async function boot() {
  registerServiceWorker();
  localStorage.removeItem(LEGACY_SESSION_KEY);
  byTestId('sign-out').addEventListener('click', signOut);
  byTestId('lock').addEventListener('click', () => lockNow('button'));
  byTestId('reauth').addEventListener('click', () => renderLogin({ reauth: true }));
  window.addEventListener('hashchange', route);
  window.addEventListener('online', () => renderStatus(lastStatus));
  window.addEventListener('offline', () => renderStatus(lastStatus));
  try {
    await init({ module_or_path: new URL(WASM_FILE, import.meta.url) });
    rf = await RedFolder.open(DB_NAME);
  } catch (e) {
    show(h('p', { class: 'error', role: 'alert', testid: 'boot-error' }, `Red Folder could not start: ${(e as Error | null)?.message || e}`));
    return;
  }
  core().setListener(onCoreEvent);
  core().setBeforeRemote(() => view?.flushTyping?.());
  // Typing still waiting for its debounce is saved before the page goes away.
  window.addEventListener('pagehide', () => view?.flushTyping?.());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') view?.flushTyping?.();
    else checkIdle();
  });
  watchIdle();
  setInterval(renewIfDue, 15_000);
  window.addEventListener('online', renewIfDue);
  document.body.dataset.lockAfterMs = String(lockAfterMs);
  enter();
  renderStatus(core().status());
}

// Chooses the first screen from the lock state: sign in, set a PIN, unlock, or the app.
function enter(notice: string | null = null): void {
  const lock = lockState();
  if (!lock.has_pin) renderLogin({ notice });
  else if (!lock.unlocked) renderUnlock({ notice });
  else if (!session) renderLogin({ notice, reauth: true });
  else route();
}

function startSession(): void {
  if (!session) return;
  byTestId('account').hidden = false;
  byTestId('account-name').textContent = session.user.name;
  document.body.dataset.role = session.user.role;
  // Emergency clinicians read summaries live from the server, commissioners read figures;
  // nothing of theirs syncs.
  if (syncsPlans()) core().signIn(session.token, session.user.id, session.user.name);
  lastActivity = Date.now();
  renderStatus(core().status());
  renewIfDue();
}

// The session as the server's sign-in or refresh answer gives it.
function sessionFrom(body: TokenBody, user: User): Session {
  return {
    token: body.token,
    refresh_token: body.refresh_token ?? null,
    expires_at_ms: Date.now() + (Number(body.expires_in) || 0) * 1000,
    device_id: body.device_id ?? null,
    user,
  };
}

function renewIfDue() {
  if (!session?.refresh_token || !navigator.onLine || !lockState().unlocked) return;
  if (!session.expires_at_ms || session.expires_at_ms - Date.now() < REFRESH_MARGIN_MS) renewToken();
}

// Exchanges the refresh token for a new pair and hands the new access token to the core,
// which reconnects if the server had refused the old one. Resolves with whether a token
// was renewed; a revoked device is erased on the way.
function renewToken() {
  if (refreshing) return refreshing;
  const current = session;
  if (!current?.refresh_token) return Promise.resolve(false);
  refreshing = (async () => {
    let response;
    try {
      response = await fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: current.refresh_token }),
        cache: 'no-store',
      });
    } catch {
      return false; // offline: tried again when the network is back
    }
    const body = await response.json().catch(() => null);
    if (response.status === 403 && body?.error === 'device_revoked') {
      await eraseRevokedDevice();
      return false;
    }
    if (!response.ok) {
      // The refresh token was used, expired or ended: only a sign-in helps now.
      if (session === current && response.status === 401) session = { ...current, refresh_token: null };
      return false;
    }
    if (session !== current) return false; // signed out or locked meanwhile
    session = sessionFrom(body, current.user);
    if (!session.device_id) session.device_id = current.device_id;
    await core().saveSession(JSON.stringify(session));
    if (syncsPlans()) core().setToken(session.token);
    document.body.dataset.tokenRenewals = String(Number(document.body.dataset.tokenRenewals || 0) + 1);
    return true;
  })().catch((e) => {
    console.warn('token renewal failed', e);
    return false;
  }).finally(() => { refreshing = null; });
  return refreshing;
}

// The server says this device may no longer hold data: erase everything and say why.
async function eraseRevokedDevice() {
  if (erasing) return;
  erasing = true;
  try {
    core().signOut();
    await core().wipe();
    if (view) view.dispose = null; // nothing typed may be saved back after the erase
    endSessionView();
    history.replaceState(null, '', `${location.pathname}${location.search}#/`);
    renderLogin({ notice: REVOKED_NOTICE, revoked: true });
    renderStatus(core().status());
  } finally {
    erasing = false;
  }
}

function endSessionView() {
  session = null;
  lastPrint = null;
  byTestId('account').hidden = true;
  delete document.body.dataset.role;
}

async function signOut() {
  const pending = rf ? rf.status().pending : 0;
  const warning = pending > 0
    ? `${pending === 1 ? '1 change has' : `${pending} changes have`} not been uploaded yet and will be lost. Signing out erases Red Folder's data from this tablet. Sign out anyway?`
    : "Signing out erases Red Folder's data from this tablet; your caseload downloads again at the next sign-in. Sign out?";
  if (!window.confirm(warning)) return;
  view?.flushTyping?.();
  // Ends this device's tokens on the server too, when it can be reached.
  if (session?.token && navigator.onLine) {
    fetch('/api/v1/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${session.token}` } }).catch(() => {});
  }
  core().signOut();
  await core().wipe();
  endSessionView();
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  renderLogin({ notice: 'Signed out. Red Folder\u2019s data has been erased from this tablet.' });
  renderStatus(core().status());
}

// Drops the data key and every plan from memory; the PIN brings them back.
function lockNow(reason: 'button' | 'idle'): void {
  if (!rf || !lockState().unlocked) return;
  view?.flushTyping?.();
  core().lock();
  endSessionView();
  renderUnlock({ notice: reason === 'idle' ? `Locked after ${Math.round(lockAfterMs / 60000) || 'a few'} minutes without use.` : null });
  renderStatus(core().status());
}

function watchIdle() {
  const touch = () => { lastActivity = Date.now(); };
  for (const type of ['pointerdown', 'keydown', 'input', 'wheel', 'touchstart', 'scroll']) {
    document.addEventListener(type, touch, { capture: true, passive: true });
  }
  setInterval(checkIdle, Math.min(1000, Math.max(100, lockAfterMs / 4)));
}

function checkIdle() {
  if (rf && lockState().unlocked && Date.now() - lastActivity >= lockAfterMs) lockNow('idle');
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

function onCoreEvent(event: CoreEvent): void {
  switch (event.type) {
    case 'status':
      renderStatus(event);
      break;
    case 'doc_changed':
    case 'caseload':
      view?.update?.(event);
      break;
    case 'refused':
      // The plan was put back to the server's state and holds refused edits to show.
      renderStatus(core().status());
      view?.update?.(event);
      break;
    case 'error':
      if (event.code === 'device_revoked') {
        eraseRevokedDevice();
        return;
      }
      // An expired access token: renew it quietly; the core reconnects with the new one.
      if (event.code === 'unauthorized') renewToken();
      renderStatus(core().status());
      view?.remoteError?.(event);
      break;
    default:
      break;
  }
}

// What the server's error codes mean to the person holding the tablet.
function describeError(status: SyncStatus): string {
  if (status.sign_in_refused) return 'Your sign-in has expired or was withdrawn. Sign in again to upload changes; they are kept on this tablet.';
  if (!status.error) return '';
  const reason = sentence(status.error);
  switch (status.error_code) {
    case 'refused': return `The server refused a change: ${reason}`;
    case 'forbidden': return `The server would not share a plan: ${reason}`;
    case 'too_large': return `A change was too large to upload: ${reason}`;
    case 'internal': return `The server had a problem and will be tried again: ${reason}`;
    case 'unsupported_version': return `This app is out of date; reload it when online: ${reason}`;
    case 'storage': return `Could not save on this tablet: ${reason}`;
    default: return `Sync error: ${reason}`;
  }
}

function renderStatus(status: SyncStatus | null): void {
  if (!status) return;
  lastStatus = status;
  const syncing = !!session && !isEmergencyClinician() && !status.locked;
  const state = byTestId('sync-state');
  const pending = byTestId('sync-pending');
  const last = byTestId('sync-last');
  const error = byTestId('sync-error');
  const reauth = byTestId('reauth');
  if (syncing) {
    state.dataset.state = status.state;
    state.textContent = ({ online: 'Online', connecting: 'Connecting…', offline: 'Offline' } as Record<string, string>)[status.state] || status.state;
    pending.textContent = status.pending === 1 ? '1 change waiting to upload' : `${status.pending} changes waiting to upload`;
    pending.dataset.count = String(status.pending);
    pending.hidden = false;
    last.textContent = status.last_synced_ms ? `Last synced ${fmtTime(status.last_synced_ms)}` : 'Not synced yet';
  } else {
    // Nothing syncs before sign-in, while locked, or for emergency clinicians: show the network.
    const online = navigator.onLine;
    state.dataset.state = online ? 'online' : 'offline';
    state.textContent = online ? 'Online' : 'Offline';
    pending.hidden = true;
    pending.dataset.count = '0';
    if (session && isEmergencyClinician()) last.textContent = 'Summaries are looked up live; none are kept on this tablet';
    else if (lockState().has_pin && !lockState().unlocked) last.textContent = 'Locked';
    else last.textContent = '';
  }
  const message = syncing ? describeError(status) : '';
  error.textContent = message;
  error.hidden = !message;
  error.dataset.code = syncing ? (status.error_code || '') : '';
  reauth.hidden = !(syncing && status.sign_in_refused);
  renderRefusedLink(syncing ? status.refused ?? 0 : 0);
  if (view?.name === 'caseload') view.statusChanged?.(status);
}

// Changes the server did not accept, over every plan: a link in the sync bar to the
// (first) plan holding them, where they can be made again or dismissed.
function renderRefusedLink(count: number): void {
  let link = document.querySelector<HTMLAnchorElement>('[data-testid="sync-refused"]');
  if (!link) {
    link = h('a', { class: 'button secondary small', testid: 'sync-refused', hidden: true });
    byTestId('sync-status').append(link);
  }
  link.hidden = !count;
  link.dataset.count = String(count);
  if (!count) return;
  const first = core().refused()[0];
  link.textContent = count === 1 ? '1 change not accepted: see why' : `${count} changes not accepted: see why`;
  if (first) link.href = `#/plan/${encodeURIComponent(first.doc_id)}`;
}

// ---------------------------------------------------------------------------
// Routing: #/ (caseload, or the emergency lookup), #/plan/<id>, #/plan/<id>/summary,
// #/plan/<id>/print, #/plan/<id>/check (check a paper copy)

function route() {
  if (!rf) return;
  if (!lockState().unlocked || !session) {
    enter();
    return;
  }
  if (isEmergencyClinician()) {
    if (view?.name !== 'emergency') renderEmergency();
    main().focus({ preventScroll: true });
    return;
  }
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if ((parts[0] === 'referrals' && (isCaseManager() || isReviewer() || isCommissioner())) || session.user.role === 'gp_reviewer') {
    renderReferralsView(parts[0] === 'referrals' ? parts[1] ?? null : null);
  } else if (isCommissioner() || (parts[0] === 'scheme' && isCaseManager())) {
    if (view?.name !== 'scheme') renderSchemeView();
  } else if (parts[0] === 'plan' && parts[1]) {
    if (parts[2] === 'summary') renderSummary(parts[1]);
    else if (parts[2] === 'print') renderPrint(parts[1]);
    else if (parts[2] === 'check') renderCheck(parts[1]);
    else renderPlan(parts[1]);
  } else {
    renderCaseload();
  }
  main().focus({ preventScroll: true });
}

// ---------------------------------------------------------------------------
// Sign in, set a PIN, unlock

function renderLogin({ notice = null, reauth = false, revoked = false }: { notice?: string | null; reauth?: boolean; revoked?: boolean } = {}): void {
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, testid: 'login-username', autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, testid: 'login-password' });
  const error = h('p', { class: 'error', role: 'alert', testid: 'login-error' });
  const submit = h('button', { type: 'submit', class: 'button', testid: 'login-submit' }, 'Sign in');
  const owner = reauth ? session?.user ?? null : null;
  if (owner) username.value = owner.username || '';
  const form = h('form', { class: 'card', testid: 'login-form', novalidate: true },
    h('h1', {}, reauth ? 'Sign in again' : 'Sign in'),
    notice ? h('p', { class: revoked ? 'notice warning' : 'notice', role: revoked ? 'alert' : 'status', testid: 'login-notice', 'data-reason': revoked ? 'device-revoked' : null }, notice) : null,
    h('p', { class: 'muted' }, reauth
      ? 'Your plans and unsent changes stay on this tablet. Sign in to carry on syncing.'
      : 'After the first sign-in you set a PIN; your caseload then stays on this tablet, encrypted, and works without signal.'),
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
        body: JSON.stringify({
          username: username.value.trim(),
          password: password.value,
          // The same tablet keeps its registration (and the editing identity bound to it).
          device_id: session?.device_id || undefined,
          device_label: 'Red Folder tablet',
        }),
      });
      if (response.status === 403) {
        const refusal = await response.json().catch(() => null);
        if (refusal?.error === 'device_revoked') {
          await eraseRevokedDevice();
          return;
        }
      }
      if (response.status === 401 || response.status === 403) {
        error.textContent = 'That username and password do not match.';
        return;
      }
      if (!response.ok) {
        error.textContent = `Sign-in failed (${response.status}). Try again.`;
        return;
      }
      const body = await response.json();
      const fresh = sessionFrom(body, { ...body.user, username: username.value.trim() });
      const lock = lockState();
      if (!lock.has_pin) {
        renderSetPin(fresh);
        return;
      }
      // Unlocked with an expired or missing session: this tablet's data belongs to one user.
      if (session && session.user.id !== fresh.user.id) {
        error.textContent = `This tablet holds ${session.user.name}'s caseload. To sign in as someone else, sign out first (that erases this tablet's data).`;
        return;
      }
      session = fresh;
      await core().saveSession(JSON.stringify(session));
      startSession();
      route();
    } catch (err) {
      error.textContent = navigator.onLine
        ? `Could not sign in: ${errorMessage(err)}`
        : 'You are offline. Signing in needs a connection; unlocking with your PIN does not.';
    } finally {
      submit.disabled = false;
    }
  });
  show(h('div', { class: 'login' }, form));
  view = { name: 'login' };
  username.focus();
}

function pinInput(testid: string, autocomplete: string): HTMLInputElement {
  return h('input', {
    type: 'password', inputmode: 'numeric', pattern: '[0-9]*', autocomplete, maxlength: '12',
    required: true, testid, class: 'pin',
  });
}

function renderSetPin(fresh: Session): void {
  const lock = lockState();
  const pin = pinInput('pin-new', 'new-password');
  const confirm = pinInput('pin-confirm', 'new-password');
  const error = h('p', { class: 'error', role: 'alert', testid: 'pin-error' });
  const submit = h('button', { type: 'submit', class: 'button', testid: 'pin-submit' }, 'Set PIN');
  const form = h('form', { class: 'card', testid: 'pin-form', novalidate: true },
    h('h1', {}, 'Set a PIN for this tablet'),
    h('p', {}, `Signed in as ${fresh.user.name}.`),
    h('p', { class: 'muted' }, `Your caseload is stored on this tablet encrypted. The PIN opens it, with or without signal. Red Folder locks after ${Math.round(IDLE_LOCK_MS / 60000)} minutes without use, and ${lock.max_attempts} wrong PINs in a row erase the data on this tablet.`),
    field('New PIN', pin, `${lock.min_pin_digits} to 12 digits`),
    field('Type the PIN again', confirm),
    error,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (pin.value !== confirm.value) {
      error.textContent = 'The two PINs are different. Type the same PIN twice.';
      return;
    }
    submit.disabled = true;
    try {
      await core().setPin(pin.value);
      session = fresh;
      await core().saveSession(JSON.stringify(session));
      history.replaceState(null, '', `${location.pathname}${location.search}#/`);
      startSession();
      route();
    } catch (err) {
      error.textContent = errorMessage(err);
    } finally {
      submit.disabled = false;
    }
  });
  show(h('div', { class: 'login' }, form));
  view = { name: 'set-pin' };
  pin.focus();
}

function attemptsWarning(left: number): string {
  if (left <= 0) return '';
  return left === 1
    ? '1 attempt left: one more wrong PIN erases the data on this tablet.'
    : `${left} attempts left before the data on this tablet is erased.`;
}

function renderUnlock({ notice = null }: { notice?: string | null } = {}): void {
  const lock = lockState();
  const pin = pinInput('unlock-pin', 'off');
  const error = h('p', { class: 'error', role: 'alert', testid: 'unlock-error' });
  const attempts = h('p', { class: 'warning', role: 'alert', testid: 'unlock-attempts' }, (lock.failed_attempts ?? 0) > 0 ? attemptsWarning(lock.attempts_left ?? 0) : '');
  const submit = h('button', { type: 'submit', class: 'button', testid: 'unlock-submit' }, 'Unlock');
  const forgot = h('div', { class: 'actions forgot' });
  const askErase = () => forgot.replaceChildren(
    h('p', { class: 'warning' }, 'This erases every plan on this tablet, including changes not yet uploaded. You then sign in again.'),
    h('button', { type: 'button', class: 'button danger', testid: 'erase-confirm', onclick: eraseAndSignIn }, 'Erase this tablet'),
    h('button', { type: 'button', class: 'button secondary', onclick: resetForgot }, 'Cancel'));
  const resetForgot = () => forgot.replaceChildren(
    h('button', { type: 'button', class: 'button secondary', testid: 'forgot-pin', onclick: askErase }, 'Forgotten your PIN?'));
  async function eraseAndSignIn() {
    await core().wipe();
    renderLogin({ notice: 'The data on this tablet has been erased. Sign in to download your caseload again.' });
    renderStatus(core().status());
  }
  resetForgot();
  const form = h('form', { class: 'card', testid: 'unlock-form', novalidate: true },
    h('h1', {}, 'Red Folder is locked'),
    notice ? h('p', { class: 'notice', role: 'status', testid: 'unlock-notice' }, notice) : null,
    h('p', { class: 'muted' }, 'Enter your PIN to open your caseload. This works without signal.'),
    field('PIN', pin),
    error,
    attempts,
    h('div', { class: 'actions' }, submit),
    forgot);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (!/^\d{6,12}$/.test(pin.value)) {
      error.textContent = 'Your PIN is 6 to 12 digits.';
      return;
    }
    submit.disabled = true;
    try {
      const result = await core().unlock(pin.value);
      if (result.ok) {
        session = result.session ? JSON.parse(result.session) : null;
        if (!session) {
          renderLogin({ reauth: true, notice: 'Sign in again to carry on syncing.' });
          return;
        }
        startSession();
        route();
        return;
      }
      if (result.erased) {
        endSessionView();
        renderLogin({ notice: `${lock.max_attempts} wrong PINs were entered, so the data on this tablet has been erased. Sign in to download your caseload again.` });
        renderStatus(core().status());
        return;
      }
      pin.value = '';
      error.textContent = 'That PIN is not right.';
      attempts.textContent = attemptsWarning(result.attempts_left);
      pin.focus();
    } catch (err) {
      error.textContent = errorMessage(err);
    } finally {
      submit.disabled = false;
    }
  });
  show(h('div', { class: 'login' }, form));
  view = { name: 'unlock' };
  pin.focus();
}

// ---------------------------------------------------------------------------
// Caseload

function caseloadRow(p: CaseloadEntry): HTMLLIElement {
  return h('li', {},
    h('a', { class: 'patient-link', href: `#/plan/${encodeURIComponent(p.id)}`, testid: 'caseload-item', 'data-id': p.id, 'data-nhs': p.nhs_number, 'data-version': p.plan_version },
      h('span', { class: 'patient-name' }, p.name),
      h('span', { class: 'muted' }, `NHS ${p.nhs_number_display} · born ${p.dob}`),
      h('span', { class: 'badges' },
        dnacprBadge(p),
        paperBadge(p.paper_copy, p.paper_copy_label),
        p.share_with_emergency_services ? h('span', { class: 'badge' }, 'Shares with emergency services') : h('span', { class: 'badge' }, 'No emergency sharing'),
        p.conflicts ? h('span', { class: 'badge conflict', testid: 'caseload-conflicts' }, p.conflicts === 1 ? '1 conflict to resolve' : `${p.conflicts} conflicts to resolve`) : null,
        p.review ? h('span', { class: `badge${p.review.state === 'overdue' ? ' overdue' : ''}`, testid: 'caseload-review', 'data-state': p.review.state, 'data-due': p.review.due }, reviewText(p.review)) : null,
        p.pending ? h('span', { class: 'badge pending' }, `${p.pending} waiting to upload`) : null,
        p.refused ? h('span', { class: 'badge refused', testid: 'caseload-refused', 'data-count': p.refused }, p.refused === 1 ? '1 change not accepted' : `${p.refused} changes not accepted`) : null)));
}

// The DNACPR badge from the core's reading: never one side of a conflict, and a
// conflict is badged louder than a settled DNACPR because the crew must ask.
function dnacprBadge(p: CaseloadEntry): HTMLElement | null {
  if (p.dnacpr === 'conflicting') {
    return h('span', { class: 'badge dnacpr conflicting', testid: 'caseload-dnacpr', 'data-status': p.dnacpr, title: p.dnacpr_label }, 'DNACPR conflicting: confirm with the care team');
  }
  if (p.dnacpr === 'do_not_attempt_cpr') return h('span', { class: 'badge dnacpr', testid: 'caseload-dnacpr', 'data-status': p.dnacpr }, 'DNACPR');
  return null;
}

// The caseload's DNACPR filter: a conflicting decision matches only "conflicting", never
// either of the statuses it is torn between.
const DNACPR_FILTER: Record<string, string> = {
  do_not_attempt_cpr: 'DNACPR in place',
  for_attempted_cpr: 'For attempted CPR',
  not_recorded: 'Not recorded',
  conflicting: 'Conflicting decisions',
};

// The core's next review (when it falls due and whether that is overdue) in words.
function reviewText(r: ReviewDue): string {
  if (r.state === 'overdue') return `Review overdue since ${fmtDate(r.due)}`;
  if (r.state === 'due_soon') return `Review due soon: ${fmtDate(r.due)}`;
  return `Review due ${fmtDate(r.due)}`;
}

// The caseload's review filter, on the core's reckoning: "this month" is what falls due
// from today to the end of the month; overdue reviews have their own filter.
function reviewFilter(p: CaseloadEntry, filter: string): boolean {
  if (!filter) return true;
  if (!p.review) return false;
  if (filter === 'overdue') return p.review.state === 'overdue';
  return p.review.due_this_month && p.review.state !== 'overdue';
}

function filterSelect(testid: string, blank: string, options: Record<string, string>): HTMLSelectElement {
  return h('select', { testid }, h('option', { value: '' }, blank), ...Object.entries(options).map(([value, text]) => h('option', { value }, text)));
}

function renderCaseload() {
  const search = h('input', { type: 'search', testid: 'caseload-search', autocomplete: 'off', placeholder: 'Name or NHS number' });
  const dueFilter = filterSelect('filter-review', 'Any review date', { this_month: 'Review due this month', overdue: 'Review overdue' });
  const cohortFilter = filterSelect('filter-cohort', 'Any cohort', LABELS.cohort);
  const tierFilter = filterSelect('filter-tier', 'Any tier', LABELS.tier);
  const dnacprFilter = filterSelect('filter-dnacpr', 'Any DNACPR status', DNACPR_FILTER);
  const paperFilterSelect = filterSelect('filter-paper', 'Any paper copy', PAPER_FILTER);
  const list = h('ul', { class: 'caseload', testid: 'caseload-list', 'aria-label': 'Patients' });
  const note = h('p', { class: 'muted', testid: 'caseload-note', 'aria-live': 'polite' });
  const bar = h('progress', { id: 'caseload-progress-bar', testid: 'caseload-progress-bar', max: 1, value: 0 });
  const barLabel = h('label', { for: 'caseload-progress-bar', testid: 'caseload-progress-label' });
  const progress = h('div', { class: 'progress', testid: 'caseload-progress', hidden: true }, barLabel, bar);
  const drawn = new Map<string, { signature: string; li: HTMLLIElement }>();
  const draw = () => {
    const query = search.value.trim().toLowerCase();
    const digits = query.replace(/[\s-]/g, '');
    const byNumber = digits.length > 0 && /^\d+$/.test(digits);
    const due = dueFilter.value;
    const filtered = !!(query || due || cohortFilter.value || tierFilter.value || dnacprFilter.value || paperFilterSelect.value);
    const entries = core().caseload()
      .filter((p) => !query || p.name.toLowerCase().includes(query) || (byNumber && p.nhs_number.includes(digits)))
      .filter((p) => reviewFilter(p, due))
      .filter((p) => !cohortFilter.value || p.cohort === cohortFilter.value)
      .filter((p) => !tierFilter.value || p.tier === tierFilter.value)
      .filter((p) => !dnacprFilter.value || p.dnacpr === dnacprFilter.value)
      .filter((p) => paperFilter(p.paper_copy, paperFilterSelect.value))
      .sort((a, b) => a.name.localeCompare(b.name));
    // Rows are kept and reused while their patient's line is unchanged, so a tap is never
    // lost to a redraw while the caseload syncs.
    const rows = entries.map((p) => {
      const signature = JSON.stringify([p.name, p.nhs_number_display, p.dob, p.dnacpr, p.share_with_emergency_services, p.pending, p.conflicts, p.review, p.refused, p.paper_copy_label]);
      let row = drawn.get(p.id);
      if (!row || row.signature !== signature) {
        row = { signature, li: caseloadRow(p) };
        drawn.set(p.id, row);
      }
      return row.li;
    });
    const current = list.children;
    if (current.length !== rows.length || rows.some((li, i) => current[i] !== li)) list.replaceChildren(...rows);
    const status = lastStatus || core().status();
    const { docs_total: total, docs_received: received, docs_waiting: waiting } = status;
    progress.hidden = !waiting;
    progress.dataset.received = String(received);
    progress.dataset.total = String(total);
    bar.max = Math.max(total, 1);
    bar.value = received;
    barLabel.textContent = `Downloading your caseload: ${received} of ${total} plans received${status.state === 'online' ? '' : ' (paused until the connection is back; it carries on where it stopped)'}`;
    if (!entries.length && !filtered) {
      note.textContent = waiting ? '' : 'No plans on this tablet yet. They download when you are online.';
    } else if (!entries.length) {
      note.textContent = query ? 'No patient matches that search.' : 'No patient matches those filters.';
    } else {
      note.textContent = filtered ? `${entries.length} of ${received} patients match` : `${entries.length} patients`;
    }
  };
  search.addEventListener('input', draw);
  for (const f of [dueFilter, cohortFilter, tierFilter, dnacprFilter, paperFilterSelect]) f.addEventListener('change', draw);
  let scheduled = false;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => { scheduled = false; draw(); });
  };
  show(
    h('div', { class: 'caseload-head' },
      h('h1', {}, 'Caseload'),
      isCaseManager() ? h('a', { href: '#/scheme', class: 'button secondary', testid: 'nav-scheme' }, 'Running the scheme') : null,
      isCaseManager() ? h('a', { href: '#/referrals', class: 'button secondary', testid: 'nav-referrals' }, 'Referrals') : null,
      isCaseManager() ? cohortLine() : null,
      field('Search patients', search, 'By name or NHS number'),
      h('div', { class: 'caseload-filters', role: 'group', 'aria-label': 'Filter the caseload' },
        field('Review', dueFilter), field('Cohort', cohortFilter), field('Tier', tierFilter), field('DNACPR', dnacprFilter), field('Paper copy', paperFilterSelect))),
    progress,
    note,
    list);
  let seen = '';
  const statusChanged = (status: SyncStatus): void => {
    // Redraw only when what the list shows could differ (not on every timer tick).
    const key = `${status.docs_total}/${status.docs_waiting}/${status.pending}/${status.state}`;
    if (key !== seen) { seen = key; schedule(); }
  };
  view = { name: 'caseload', update: schedule, statusChanged };
  draw();
}

// ---------------------------------------------------------------------------
// Plan

function planHeader(id: string, plan: Plan | null, current: 'plan' | 'summary' | 'print' | 'check'): HTMLElement {
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

function waitingForPlan(id: string, rerender: (id: string) => void): void {
  show(h('p', { class: 'muted', testid: 'plan-waiting' }, 'This plan has not downloaded to this tablet yet. It appears here as soon as it syncs.'));
  view = { name: 'waiting', update: (e) => { if (e.type === 'caseload' || (e.type === 'doc_changed' && e.id === id)) rerender(id); } };
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

function renderPlan(id: string): void {
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
  view = {
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


// ---------------------------------------------------------------------------
// Emergency summary (case manager's view of a plan on the tablet)

function renderSummary(id: string): void {
  const s = core().summary(id);
  if (!s) {
    waitingForPlan(id, renderSummary);
    return;
  }
  const plan = core().plan(id);
  show(planHeader(id, plan, 'summary'), summaryArticle(s, core().summaryHtml(id)));
  view = { name: 'summary', update: (e) => { if (e.type === 'doc_changed' && e.id === id) renderSummary(id); } };
}

// ---------------------------------------------------------------------------
// Print: the red folder for the patient's home

// The stamp of the last print made on this tablet, kept while the plan's yellow pages
// still say what was printed: redrawing the view (the print's own record arriving, a
// colleague's goal edit) then shows the paper as it went out.
let lastPrint: { id: string; stamp: PrintStamp } | null = null;

function renderPrint(id: string, { printed = false }: { printed?: boolean } = {}): void {
  const s = core().summary(id);
  const plan = core().plan(id);
  const now = core().printCode(id);
  if (!s || !plan || !now) {
    waitingForPlan(id, renderPrint);
    return;
  }
  const stamp: PrintStamp = lastPrint?.id === id && lastPrint.stamp.code === now.code
    ? lastPrint.stamp
    : {
      printedAtMs: Date.now(),
      planVersion: now.plan_version,
      code: now.code,
      qrSvg: now.qr_svg,
      signature: null,
      unsigned: navigator.onLine ? 'Preview: the server signs these pages when you press Print.' : UNSIGNED_OFFLINE,
    };
  const paper = printDocument(s, core().summaryHtml(id), plan, stamp);
  const fitNote = h('p', { class: 'notice', role: 'status', testid: 'print-fit' });
  const footer = h('style', { testid: 'print-footer-style' }, pageFooterStyle(s, stamp));
  const error = h('p', { class: 'error', role: 'alert', testid: 'print-error' });
  const recorded = h('p', { class: 'saved', testid: 'print-recorded', 'aria-live': 'polite', hidden: !printed },
    printed ? `Recorded as the paper copy in the home (saved on this tablet at ${fmtTime(stamp.printedAtMs)}).` : '');
  const button = h('button', { type: 'button', class: 'button', testid: 'print-button' }, 'Print');
  // Printing records the copy for the home first (who, when, which version, what the
  // pages say), through the ordinary edit path, so the plan, the caseload and the
  // reviews-due list can say when this paper goes out of date.
  button.addEventListener('click', async () => {
    button.disabled = true;
    error.textContent = '';
    const current = core().printCode(id);
    if (!current) return;
    const at = Date.now();
    const hash = location.hash;
    const signed = await printSignature(apiRequest, id, current.code, current.plan_version);
    // The clinician left the print view while the server was asked: print nothing.
    if (location.hash !== hash) return;
    const printing: PrintStamp = { printedAtMs: at, planVersion: current.plan_version, code: current.code, qrSvg: current.qr_svg, ...signed };
    try {
      await core().apply(id, JSON.stringify({ op: 'record_paper_copy', fingerprint: current.fingerprint }), at);
    } catch (e) {
      error.textContent = `The print was not recorded, so nothing was printed: ${errorMessage(e)}`;
      button.disabled = false;
      return;
    }
    lastPrint = { id, stamp: printing };
    renderPrint(id, { printed: true });
    window.print();
  });
  show(
    h('div', { class: 'no-print' },
      planHeader(id, plan, 'print'),
      paperLine(id, plan.paper_reading),
      h('div', { class: 'print-toolbar' },
        h('div', {},
          h('h2', {}, 'Print the red folder'),
          h('p', { class: 'muted' }, 'Pages 1 and 2 are the emergency summary: load yellow paper for them. The full care plan follows from page 3. Print on A4. Printing records these pages as the paper copy in the home.'),
          fitNote, error, recorded),
        button)),
    footer,
    paper);
  const fits = fitSummary(paper.querySelector<HTMLElement>('.print-summary') ?? paper);
  paper.dataset.fits = String(fits);
  fitNote.textContent = fits
    ? ''
    : 'The emergency summary is longer than two pages even in small type. Shorten the exacerbation plan or mark old entries entered in error before printing.';
  fitNote.hidden = fits;
  view = { name: 'print', update: (e) => { if (e.type === 'doc_changed' && e.id === id) renderPrint(id, { printed: recorded.hidden === false }); } };
}

// ---------------------------------------------------------------------------
// Check a paper copy: a print code typed, pasted or scanned, against this tablet's copy

function renderCheck(id: string): void {
  const plan = core().plan(id);
  if (!plan) {
    waitingForPlan(id, renderCheck);
    return;
  }
  const screen = checkScreen(core, id);
  show(planHeader(id, plan, 'check'), paperLine(id, plan.paper_reading, { checkLink: false }), screen.node);
  view = { name: 'check', id, dispose: screen.dispose };
}

// ---------------------------------------------------------------------------
// Running the scheme (case managers) and the practices' returns (commissioners): read
// from the server, online only (web/src/scheme.ts).

// A fetch of `/api/v1<path>` as the signed-in user, renewing an expired token once.
async function apiRequest(path: string, init: RequestInit = {}): Promise<Response> {
  const send = () => fetch(`/api/v1${path}`, {
    ...init,
    cache: 'no-store',
    headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${session?.token ?? ''}` },
  });
  const response = await send();
  if (response.status === 401 && await renewToken()) return send();
  return response;
}

// The practice's enrolment against 3 % and 5 % of its list, by category, on the caseload
// (seed 003: "always visible"). Read from the server when online; it names no patient.
function cohortLine(): HTMLElement {
  const line = h('p', { class: 'muted cohort-line', testid: 'caseload-cohort' });
  if (!navigator.onLine) {
    line.textContent = 'Enrolment against the list: needs a connection.';
    return line;
  }
  apiRequest('/scheme/cohort').then(async (response) => {
    const body = response.ok ? await response.json() : null;
    const c = body?.cohort as { percent_of_list: number; percent_by_category: Record<string, number>; list_size: number } | null | undefined;
    if (!c) {
      line.textContent = response.ok ? 'Enrolment against the list: record the list size under \u201cRunning the scheme\u201d.' : '';
      return;
    }
    const by = Object.entries({ risk_tool: 'risk tool', care_home: 'care home', practice_discretion: 'practice discretion', over75: 'over-75 review' })
      .map(([k, label]) => `${label} ${(c.percent_by_category[k] ?? 0).toFixed(2)} %`).join(', ');
    line.dataset.percent = c.percent_of_list.toFixed(2);
    line.textContent = `Enrolled: ${c.percent_of_list.toFixed(2)} % of ${c.list_size} (targets 3 % and 5 %) \u2014 ${by}.`;
  }).catch(() => { line.textContent = 'Enrolment against the list: needs a connection.'; });
  return line;
}

function renderSchemeView(): void {
  const root = h('div', { class: 'scheme', testid: 'scheme' });
  show(root);
  view = { name: 'scheme' };
  renderScheme(root, {
    request: apiRequest,
    commissioner: isCommissioner(),
    openPlan: (id) => { location.hash = `#/plan/${encodeURIComponent(id)}`; },
  });
  if (isCommissioner()) root.prepend(h('a', { href: '#/referrals', class: 'button secondary', testid: 'nav-referrals' }, 'Referral peer review'));
}

// Referral peer review (web/src/referrals.ts): online only, read from the server.
function renderReferralsView(openId: string | null): void {
  const root = h('div', { class: 'referrals', testid: 'referrals' });
  show(root);
  view = { name: 'referrals' };
  renderReferrals(root, {
    request: apiRequest,
    referrer: isCaseManager(),
    reviewer: isReviewer(),
    commissioner: isCommissioner(),
    caseload: () => (syncsPlans() ? core().caseload() : []),
    openId,
    open: (id) => { location.hash = id ? `#/referrals/${encodeURIComponent(id)}` : '#/referrals'; },
  });
}

// ---------------------------------------------------------------------------
// Emergency clinicians: look up a summary by NHS number, read-only

function renderEmergency() {
  const nhs = h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'off', testid: 'emergency-nhs', 'aria-describedby': 'emergency-nhs-hint' });
  const dob = h('input', { type: 'date', testid: 'emergency-dob' });
  const error = h('p', { class: 'error', role: 'alert', testid: 'emergency-error' });
  const submit = h('button', { type: 'submit', class: 'button', testid: 'emergency-submit' }, 'Find summary');
  const result = h('div', { testid: 'emergency-result', 'aria-live': 'polite' });
  const nhsField = field('NHS number', nhs);
  nhsField.querySelector('label')?.append(h('span', { class: 'hint', id: 'emergency-nhs-hint' }, '10 digits, spaces allowed: 943 476 5919'));
  const form = h('form', { class: 'card lookup', testid: 'emergency-form', novalidate: true, role: 'search', 'aria-label': 'Find an emergency summary' },
    h('div', { class: 'fields' }, nhsField, field('Date of birth (optional)', dob, 'Checked against the record')),
    error,
    h('div', { class: 'actions' }, submit));
  let generation = 0;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const mine = ++generation;
    error.textContent = '';
    result.replaceChildren();
    let number: NhsNumberCheck;
    try {
      number = RedFolder.checkNhsNumber(nhs.value);
    } catch (err) {
      error.textContent = `That is not a valid NHS number: ${errorMessage(err).replace(/^./, (c) => c.toLowerCase())}.`;
      error.dataset.kind = 'invalid';
      return;
    }
    if (!navigator.onLine) {
      error.textContent = 'You are offline. Emergency summaries are looked up live and are not kept on this tablet.';
      error.dataset.kind = 'offline';
      return;
    }
    submit.disabled = true;
    try {
      const lookup = () => fetch(`/api/v1/emergency/summary/${number.digits}`, {
        headers: { authorization: `Bearer ${session?.token}` },
        cache: 'no-store',
      });
      let response = await lookup();
      // An expired access token is renewed once, without asking the clinician.
      if (response.status === 401 && await renewToken()) response = await lookup();
      if (response.status === 403 && (await response.clone().json().catch(() => null))?.error === 'device_revoked') {
        await eraseRevokedDevice();
        return;
      }
      if (mine !== generation) return;
      const body = await response.json().catch(() => null);
      if (response.status === 200) {
        if (dob.value && body.date_of_birth !== dob.value) {
          error.textContent = `The date of birth does not match the record for NHS number ${number.display}. Check both and search again.`;
          error.dataset.kind = 'dob';
          return;
        }
        let html = null;
        try {
          html = RedFolder.renderSummaryHtml(JSON.stringify(body));
        } catch (err) {
          console.warn('summary shown as received:', err);
        }
        result.replaceChildren(summaryArticle(body, html));
      } else if (response.status === 404) {
        result.replaceChildren(h('div', { class: 'card none', testid: 'emergency-none', role: 'status' },
          h('h2', {}, 'No summary available'),
          h('p', {}, `No emergency summary is available for NHS number ${number.display}. The patient may have no care plan, or has not agreed to share it with emergency services. Follow your usual protocol.`)));
      } else if (response.status === 400) {
        error.textContent = sentence(body?.message || 'The server could not read that NHS number.');
        error.dataset.kind = 'invalid';
      } else if (response.status === 401) {
        error.textContent = 'Your sign-in has expired. Sign in again to look up summaries.';
        error.dataset.kind = 'unauthorized';
        error.append(' ', h('button', { type: 'button', class: 'button secondary small', onclick: () => renderLogin({ reauth: true }) }, 'Sign in again'));
      } else if (response.status === 403) {
        error.textContent = 'Your account may not look up emergency summaries.';
        error.dataset.kind = 'forbidden';
      } else {
        error.textContent = `The server could not answer (${response.status}). Try again.`;
        error.dataset.kind = 'server';
      }
    } catch {
      error.textContent = 'Could not reach the server. Check the connection and try again.';
      error.dataset.kind = 'network';
    } finally {
      submit.disabled = false;
    }
  });
  show(
    h('h1', {}, 'Emergency summary lookup'),
    h('p', { class: 'muted' }, 'Read-only. Every lookup is recorded with your name and organisation.'),
    form,
    result);
  view = { name: 'emergency' };
  nhs.focus();
}

boot();

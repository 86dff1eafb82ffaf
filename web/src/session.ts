// The signed-in session and the lock: choosing the first screen, renewing the access
// token, signing out, erasing a revoked device, locking after idle time, and the
// server requests made as the signed-in user.

import { app, byTestId, core, lockState, syncsPlans } from './shell.js';
import type { Session, TokenBody, User } from './shell.js';
import { route } from './routes.js';
import { forgetLastPrint } from './print.js';
import { renderLogin, renderUnlock } from './signin.js';
import { renderStatus } from './status.js';

// The app locks after this long without a touch or a key press. A shorter time can be
// given in the page address (`?lock-after-ms=2000`, for tests and demonstrations); a
// longer one cannot.
export const IDLE_LOCK_MS = 5 * 60 * 1000;
export const lockAfterMs = (() => {
  const asked = Number(new URLSearchParams(location.search).get('lock-after-ms'));
  return Number.isFinite(asked) && asked > 0 ? Math.min(asked, IDLE_LOCK_MS) : IDLE_LOCK_MS;
})();

// Renew the access token this long before it expires (it lasts 15 minutes).
const REFRESH_MARGIN_MS = 2 * 60 * 1000;
const REVOKED_NOTICE = 'This tablet\u2019s access to Red Folder has been withdrawn (the device was revoked or the account disabled), so all Red Folder data on it, including changes not yet uploaded, has been erased. Speak to your administrator if you did not expect this.';

// Chooses the first screen from the lock state: sign in, set a PIN, unlock, or the app.
export function enter(notice: string | null = null): void {
  const lock = lockState();
  if (!lock.has_pin) renderLogin({ notice });
  else if (!lock.unlocked) renderUnlock({ notice });
  else if (!app.session) renderLogin({ notice, reauth: true });
  else route();
}

export function startSession(): void {
  if (!app.session) return;
  byTestId('account').hidden = false;
  byTestId('account-name').textContent = app.session.user.name;
  document.body.dataset.role = app.session.user.role;
  // Emergency clinicians read summaries live from the server, commissioners read figures;
  // nothing of theirs syncs.
  if (syncsPlans()) core().signIn(app.session.token, app.session.user.id, app.session.user.name);
  app.lastActivity = Date.now();
  renderStatus(core().status());
  renewIfDue();
}

// The session as the server's sign-in or refresh answer gives it.
export function sessionFrom(body: TokenBody, user: User): Session {
  return {
    token: body.token,
    refresh_token: body.refresh_token ?? null,
    expires_at_ms: Date.now() + (Number(body.expires_in) || 0) * 1000,
    device_id: body.device_id ?? null,
    user,
  };
}

export function renewIfDue() {
  if (!app.session?.refresh_token || !navigator.onLine || !lockState().unlocked) return;
  if (!app.session.expires_at_ms || app.session.expires_at_ms - Date.now() < REFRESH_MARGIN_MS) renewToken();
}

// Exchanges the refresh token for a new pair and hands the new access token to the core,
// which reconnects if the server had refused the old one. Resolves with whether a token
// was renewed; a revoked device is erased on the way.
export function renewToken() {
  if (app.refreshing) return app.refreshing;
  const current = app.session;
  if (!current?.refresh_token) return Promise.resolve(false);
  app.refreshing = (async () => {
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
      if (app.session === current && response.status === 401) app.session = { ...current, refresh_token: null };
      return false;
    }
    if (app.session !== current) return false; // signed out or locked meanwhile
    app.session = sessionFrom(body, current.user);
    if (!app.session.device_id) app.session.device_id = current.device_id;
    await core().saveSession(JSON.stringify(app.session));
    if (syncsPlans()) core().setToken(app.session.token);
    document.body.dataset.tokenRenewals = String(Number(document.body.dataset.tokenRenewals || 0) + 1);
    return true;
  })().catch((e) => {
    console.warn('token renewal failed', e);
    return false;
  }).finally(() => { app.refreshing = null; });
  return app.refreshing;
}

// The server says this device may no longer hold data: erase everything and say why.
export async function eraseRevokedDevice() {
  if (app.erasing) return;
  app.erasing = true;
  try {
    core().signOut();
    await core().wipe();
    if (app.view) app.view.dispose = null; // nothing typed may be saved back after the erase
    endSessionView();
    history.replaceState(null, '', `${location.pathname}${location.search}#/`);
    renderLogin({ notice: REVOKED_NOTICE, revoked: true });
    renderStatus(core().status());
  } finally {
    app.erasing = false;
  }
}

export function endSessionView() {
  app.session = null;
  forgetLastPrint();
  byTestId('account').hidden = true;
  delete document.body.dataset.role;
}

export async function signOut() {
  const pending = app.rf ? app.rf.status().pending : 0;
  const warning = pending > 0
    ? `${pending === 1 ? '1 change has' : `${pending} changes have`} not been uploaded yet and will be lost. Signing out erases Red Folder's data from this tablet. Sign out anyway?`
    : "Signing out erases Red Folder's data from this tablet; your caseload downloads again at the next sign-in. Sign out?";
  if (!window.confirm(warning)) return;
  app.view?.flushTyping?.();
  // Ends this device's tokens on the server too, when it can be reached.
  if (app.session?.token && navigator.onLine) {
    fetch('/api/v1/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${app.session.token}` } }).catch(() => {});
  }
  core().signOut();
  await core().wipe();
  endSessionView();
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  renderLogin({ notice: 'Signed out. Red Folder\u2019s data has been erased from this tablet.' });
  renderStatus(core().status());
}

// Drops the data key and every plan from memory; the PIN brings them back.
export function lockNow(reason: 'button' | 'idle'): void {
  if (!app.rf || !lockState().unlocked) return;
  app.view?.flushTyping?.();
  core().lock();
  endSessionView();
  renderUnlock({ notice: reason === 'idle' ? `Locked after ${Math.round(lockAfterMs / 60000) || 'a few'} minutes without use.` : null });
  renderStatus(core().status());
}

export function watchIdle() {
  const touch = () => { app.lastActivity = Date.now(); };
  for (const type of ['pointerdown', 'keydown', 'input', 'wheel', 'touchstart', 'scroll']) {
    document.addEventListener(type, touch, { capture: true, passive: true });
  }
  setInterval(checkIdle, Math.min(1000, Math.max(100, lockAfterMs / 4)));
}

export function checkIdle() {
  if (app.rf && lockState().unlocked && Date.now() - app.lastActivity >= lockAfterMs) lockNow('idle');
}

// A fetch of `/api/v1<path>` as the signed-in user, renewing an expired token once.
export async function apiRequest(path: string, init: RequestInit = {}): Promise<Response> {
  const send = () => fetch(`/api/v1${path}`, {
    ...init,
    cache: 'no-store',
    headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${app.session?.token ?? ''}` },
  });
  const response = await send();
  if (response.status === 401 && await renewToken()) return send();
  return response;
}

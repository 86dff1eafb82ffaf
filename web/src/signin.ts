// Sign in, set a PIN, unlock.

import { errorMessage, field, h } from './dom.js';
import { app, core, lockState, show } from './shell.js';
import type { Session } from './shell.js';
import { route } from './routes.js';
import { IDLE_LOCK_MS, endSessionView, eraseRevokedDevice, sessionFrom, startSession } from './session.js';
import { renderStatus } from './status.js';

export function renderLogin({ notice = null, reauth = false, revoked = false }: { notice?: string | null; reauth?: boolean; revoked?: boolean } = {}): void {
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, testid: 'login-username', autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, testid: 'login-password' });
  const error = h('p', { class: 'error', role: 'alert', testid: 'login-error' });
  const submit = h('button', { type: 'submit', class: 'button', testid: 'login-submit' }, 'Sign in');
  const owner = reauth ? app.session?.user ?? null : null;
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
          device_id: app.session?.device_id || undefined,
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
      if (app.session && app.session.user.id !== fresh.user.id) {
        error.textContent = `This tablet holds ${app.session.user.name}'s caseload. To sign in as someone else, sign out first (that erases this tablet's data).`;
        return;
      }
      app.session = fresh;
      await core().saveSession(JSON.stringify(app.session));
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
  app.view = { name: 'login' };
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
      app.session = fresh;
      await core().saveSession(JSON.stringify(app.session));
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
  app.view = { name: 'set-pin' };
  pin.focus();
}

function attemptsWarning(left: number): string {
  if (left <= 0) return '';
  return left === 1
    ? '1 attempt left: one more wrong PIN erases the data on this tablet.'
    : `${left} attempts left before the data on this tablet is erased.`;
}

export function renderUnlock({ notice = null }: { notice?: string | null } = {}): void {
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
        app.session = result.session ? JSON.parse(result.session) : null;
        if (!app.session) {
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
  app.view = { name: 'unlock' };
  pin.focus();
}

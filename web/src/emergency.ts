// Emergency clinicians: look up a summary by NHS number, read-only.

import { RedFolder } from '../pkg/redfolder_wasm.js';
import type { NhsNumberCheck } from './core.js';
import { errorMessage, field, h, sentence } from './dom.js';
import { app, show } from './shell.js';
import { eraseRevokedDevice, renewToken } from './session.js';
import { renderLogin } from './signin.js';
import { summaryArticle } from './summary.js';

export function renderEmergency() {
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
        headers: { authorization: `Bearer ${app.session?.token}` },
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
  app.view = { name: 'emergency' };
  nhs.focus();
}

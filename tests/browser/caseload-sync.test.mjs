// The caseload and the sync status bar: search by name or NHS number; a first sync
// shows its progress and, interrupted by a reload, resumes where it stopped; errors the
// server sends are shown with their reason.
//
// These tests stand between the app and the server (playwright's routeWebSocket) to
// hold back or inject protocol frames; frames are decoded with helpers.mjs.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  byTestId, describeTablet, ERROR_CODE, errorFrame, FRAME, PIN, PORTRAIT, relay, setup, signIn, unlock,
  waitForCaseload, waitStored,
} from './helpers.mjs';

let env;
let caseload;

async function progress(page) {
  return page.evaluate(() => {
    const p = document.querySelector('[data-testid="caseload-progress"]');
    return p ? {
      hidden: p.hidden,
      received: Number(p.dataset.received),
      total: Number(p.dataset.total),
      label: document.querySelector('[data-testid="caseload-progress-label"]')?.textContent,
      value: document.querySelector('[data-testid="caseload-progress-bar"]')?.value,
      max: document.querySelector('[data-testid="caseload-progress-bar"]')?.max,
    } : null;
  });
}

describe('caseload and sync status', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json;
  });
  after(async () => { await env?.close(); });

  test('the caseload is searched by name or NHS number', async () => {
    const t = await env.openTablet('search', PORTRAIT);
    try {
      await signIn(t, 'cm1.demo');
      await waitForCaseload(t, caseload.length);
      const search = byTestId(t.page, 'caseload-search');
      const shown = async () => t.page.locator('[data-testid="caseload-item"]').evaluateAll((els) => els.map((e) => e.dataset.id));
      const target = caseload[7];
      const surname = target.name.split(' ').pop();
      await search.fill(surname.toLowerCase());
      const bySurname = await shown();
      assert.ok(bySurname.includes(target.id), `searching "${surname}" does not find ${target.name}`);
      const expected = caseload.filter((p) => p.name.toLowerCase().includes(surname.toLowerCase())).map((p) => p.id).sort();
      assert.deepEqual([...bySurname].sort(), expected);
      for (const form of [target.nhs_number, `${target.nhs_number.slice(0, 3)} ${target.nhs_number.slice(3, 6)} ${target.nhs_number.slice(6)}`]) {
        await search.fill(form);
        assert.deepEqual(await shown(), [target.id], `searching "${form}"`);
      }
      await search.fill('zzzz no such patient');
      assert.deepEqual(await shown(), []);
      assert.match(await byTestId(t.page, 'caseload-note').textContent(), /No patient matches/);
      await search.fill('');
      assert.equal((await shown()).length, caseload.length);
    } catch (e) {
      await env.screenshotAll('failure-search');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });

  test('a first sync shows progress and, after a reload, resumes where it stopped', async () => {
    const t = await env.openTablet('first-sync', PORTRAIT);
    const { state, ready } = relay(t.context);
    await ready;
    const FIRST = 12;
    const admitted = new Set();
    // Phase 1: only the first FIRST plans the server sends get through; the rest stall.
    state.allow = (info) => {
      if (!info.docId) return true;
      if (admitted.has(info.docId)) return true;
      if (admitted.size < FIRST) { admitted.add(info.docId); return true; }
      return false;
    };
    try {
      await signIn(t, 'cm1.demo', { waitFor: 'caseload-search' });
      await t.page.waitForFunction((n) => Number(document.querySelector('[data-testid="caseload-progress"]')?.dataset.received) >= n, FIRST, { timeout: 30_000 });
      const during = await progress(t.page);
      assert.deepEqual({ hidden: during.hidden, received: during.received, total: during.total, value: during.value, max: during.max },
        { hidden: false, received: FIRST, total: caseload.length, value: FIRST, max: caseload.length }, JSON.stringify(during));
      assert.match(during.label, new RegExp(`${FIRST} of ${caseload.length} plans received`));
      await waitStored(t, FIRST);

      // Interrupted: the tablet reloads mid-sync. Nothing gets through until checked.
      state.phase = 2;
      state.allow = () => false;
      for (const c of state.connections) c.held.length = 0;
      state.connections.length = 0;
      await t.page.reload();
      await unlock(t, PIN);
      await byTestId(t.page, 'caseload-progress').waitFor();
      const resumed = await progress(t.page);
      assert.equal(resumed.received, FIRST, `after the reload the progress restarted: ${JSON.stringify(resumed)}`);
      assert.equal(resumed.total, caseload.length, JSON.stringify(resumed));
      assert.equal(await t.page.locator('[data-testid="caseload-item"]').count(), FIRST, 'the plans received before the reload are not shown');

      // The link comes back: the rest download, and the first plans are not sent again.
      state.release();
      await waitForCaseload(t, caseload.length);
      await t.page.waitForFunction(() => document.querySelector('[data-testid="caseload-progress"]')?.hidden === true, null, { timeout: 30_000 });
      const bytes = (phase, ids) => state.log.filter((f) => f.phase === phase && (f.type === FRAME.sync || f.type === FRAME.snapshot) && ids.has(f.docId)).reduce((n, f) => n + f.bytes, 0);
      const first = bytes(1, admitted);
      const again = bytes(2, admitted);
      assert.ok(first > 0, 'no plan bytes counted in the first phase');
      assert.ok(again < first / 2, `the ${FIRST} plans already on the tablet were downloaded again: ${again} bytes after the reload, ${first} before`);
    } catch (e) {
      await env.screenshotAll('failure-first-sync');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });

  test('errors the server sends are shown with their reason; an expired sign-in is renewed in place', async () => {
    const t = await env.openTablet('status', PORTRAIT);
    const { state, ready } = relay(t.context);
    await ready;
    try {
      await signIn(t, 'cm2.demo');
      await waitForCaseload(t, caseload.length);
      await t.page.waitForFunction(() => /^Last synced \d\d:\d\d:\d\d$/.test(document.querySelector('[data-testid="sync-last"]')?.textContent || ''));
      const error = byTestId(t.page, 'sync-error');
      assert.ok(await error.isHidden(), 'an error is shown before any');

      state.injectToPage(errorFrame(ERROR_CODE.refused, 'dnacpr may only be changed by a clinician of the patient\'s practice', caseload[0].id));
      await error.waitFor();
      assert.equal(await error.getAttribute('data-code'), 'refused');
      assert.equal(await error.textContent(), 'The server refused a change: Dnacpr may only be changed by a clinician of the patient\'s practice');

      // An expired access token is renewed with the refresh token, with no user action.
      const refreshes = [];
      t.page.on('request', (r) => { if (r.url().endsWith('/api/v1/auth/refresh')) refreshes.push(r.url()); });
      state.injectToPage(errorFrame(ERROR_CODE.unauthorized, 'the access token is not valid'));
      await t.page.waitForFunction(() => Number(document.body.dataset.tokenRenewals || 0) >= 1, null, { timeout: 20_000 });
      assert.equal(refreshes.length, 1);
      await t.page.waitForFunction(() => document.querySelector('[data-testid="sync-state"]')?.dataset.state === 'online', null, { timeout: 20_000 });
      assert.ok(await byTestId(t.page, 'reauth').isHidden(), 'a renewed token needs no sign-in');

      // When the refresh token is no longer accepted either, the user is asked to sign in.
      await t.page.route('**/api/v1/auth/refresh', (route) => route.fulfill({ status: 401, json: { error: 'unauthorized', message: 'not signed in' } }));
      state.injectToPage(errorFrame(ERROR_CODE.unauthorized, 'the access token is not valid'));
      await byTestId(t.page, 'reauth').waitFor();
      assert.match(await error.textContent(), /sign-in has expired.*kept on this tablet/);
      await t.page.waitForFunction(() => document.querySelector('[data-testid="sync-state"]')?.dataset.state === 'offline');

      // Signing in again keeps the tablet's plans and resumes syncing.
      await byTestId(t.page, 'reauth').click();
      await byTestId(t.page, 'login-password').fill('demo');
      assert.equal(await byTestId(t.page, 'login-username').inputValue(), 'cm2.demo');
      const relogin = t.page.waitForRequest((r) => r.url().endsWith('/api/v1/auth/login'));
      await byTestId(t.page, 'login-submit').click();
      // The same device registration is kept.
      assert.ok((await relogin).postDataJSON().device_id, 'signing in again sends the device id');
      await waitForCaseload(t, caseload.length);
      await t.page.waitForFunction(() => document.querySelector('[data-testid="sync-state"]')?.dataset.state === 'online', null, { timeout: 20_000 });
      assert.ok(await error.isHidden(), `the error stayed after signing in again: ${await error.textContent()}`);
      assert.ok(await byTestId(t.page, 'reauth').isHidden());
    } catch (e) {
      await env.screenshotAll('failure-status');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });
});

// Tokens and devices: an expired access token is renewed with the refresh token without
// the user doing anything, and a device an administrator revokes erases its local data
// on its next connection and says why.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { axeViolations, byTestId, describeTablet, dumpStorage, setup, signIn, smallTouchTargets, waitForCaseload } from './helpers.mjs';

let env;

// The stores and keys a tablet holds (values aside), for comparing with a fresh one.
async function storedKeys(page) {
  const dump = await dumpStorage(page);
  return {
    keys: dump.records.map((r) => `${r.db}/${r.store}/${r.key}`).sort(),
    local: dump.local,
  };
}

describe('tokens and devices', () => {
  before(async () => { env = await setup(); });
  after(async () => { await env?.close(); });

  test('an expired access token is renewed and syncing carries on without a sign-in', async () => {
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm2.demo') });
    assert.equal(listing.status, 200, listing.text);
    const t = await env.openTablet('renew');
    const { page } = t;
    const refreshes = [];
    page.on('request', (r) => { if (r.url().endsWith('/api/v1/auth/refresh')) refreshes.push(r); });
    // The server's access token lasts 15 minutes and has no shorter setting, so the app
    // is handed one the server no longer accepts (as after expiry); the refresh token
    // it gets is real.
    await page.route('**/api/v1/auth/login', async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      assert.ok(body.refresh_token, 'login returns a refresh token');
      assert.ok(body.device_id, 'login returns a device id');
      await route.fulfill({ response, json: { ...body, token: 'expired-access-token-0000000000000000' } });
    });
    try {
      await signIn(t, 'cm2.demo');
      await waitForCaseload(t, listing.json.length);
      assert.ok(refreshes.length >= 1, 'the app called /api/v1/auth/refresh');
      await page.waitForFunction(() => document.querySelector('[data-testid="sync-state"]')?.dataset.state === 'online', null, { timeout: 20_000 });
      assert.equal(await byTestId(page, 'reauth').isHidden(), true, 'no "sign in again" is asked for');
      assert.ok(Number(await page.evaluate(() => document.body.dataset.tokenRenewals)) >= 1);
      // The renewed pair was stored (encrypted) with the session: a reload and PIN
      // unlock syncs without asking for the password.
      await page.unroute('**/api/v1/auth/login');
      await page.reload();
      await byTestId(page, 'unlock-pin').fill('482916');
      await byTestId(page, 'unlock-submit').click();
      await waitForCaseload(t, listing.json.length);
      await page.waitForFunction(() => document.querySelector('[data-testid="sync-state"]')?.dataset.state === 'online', null, { timeout: 20_000 });
      assert.equal(await byTestId(page, 'login-form').count(), 0);
    } catch (e) {
      await env.screenshotAll('failure-renew');
      throw new Error(`${e.message}${await describeTablet(t)}\n${env.serverLogs()}`, { cause: e });
    }
  });

  test('a revoked device erases its local data and says why', async () => {
    const admin = await env.apiLogin('admin.demo');
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    const fresh = await env.openTablet('fresh');
    await fresh.page.goto(fresh.url);
    await byTestId(fresh.page, 'login-form').waitFor();
    const freshKeys = await storedKeys(fresh.page);

    const t = await env.openTablet('revoked');
    const { page } = t;
    const logins = [];
    page.on('request', (r) => { if (r.url().endsWith('/api/v1/auth/login')) logins.push(r.postDataJSON()); });
    try {
      await signIn(t, 'cm1.demo');
      await waitForCaseload(t, listing.json.length);
      const before = await storedKeys(page);
      assert.ok(before.keys.length > freshKeys.keys.length, 'the tablet holds plans before the revocation');

      const devices = await env.api('GET', '/api/v1/admin/users/cm1.demo/devices', { token: admin });
      assert.equal(devices.status, 200, devices.text);
      for (const d of devices.json.filter((x) => !x.revoked_at_ms)) {
        const r = await env.api('POST', `/api/v1/admin/devices/${encodeURIComponent(d.id)}/revoke`, { token: admin });
        assert.equal(r.status, 200, r.text);
      }

      const notice = page.locator('[data-testid="login-notice"][data-reason="device-revoked"]');
      await notice.waitFor({ timeout: 30_000 });
      assert.match(await notice.textContent(), /withdrawn.*erased/s);
      await page.waitForFunction(() => !document.querySelector('[data-testid="caseload-item"]'));
      const afterKeys = await storedKeys(page);
      assert.deepEqual(afterKeys, freshKeys, 'only what a fresh device holds is left');
      const problems = [...await axeViolations(page), ...await smallTouchTargets(page)];
      assert.deepEqual(problems, [], problems.join('\n'));

      // The first sign-in registered a new device (no device id to send yet).
      assert.equal(logins[0].device_id, undefined);
    } catch (e) {
      await env.screenshotAll('failure-revoked');
      throw new Error(`${e.message}${await describeTablet(t)}\n${env.serverLogs()}`, { cause: e });
    }
  });
});

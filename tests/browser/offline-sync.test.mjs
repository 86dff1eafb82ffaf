// End-to-end: two case managers edit the same plan offline on two tablets, reload,
// come back online and converge; the ambulance crew then reads the merged summary.
//
// Runs the real server binary (see helpers.mjs) and Debian's Chromium. Each tablet signs
// in and sets a PIN; after the offline reload the PIN unlocks the encrypted plans.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { byTestId, describeTablet, LANDSCAPE, PORTRAIT, setOffline, setup, signIn, unlock } from './helpers.mjs';

const CONVERGE_MS = 30_000;

let env;

async function openPlan(tablet, id) {
  const { page } = tablet;
  // The caseload downloads after sign-in; wait for this patient's plan to arrive.
  await page.locator(`[data-testid="caseload-item"][data-id="${id}"]`).waitFor({ timeout: 30_000 });
  await page.evaluate((docId) => { location.hash = `#/plan/${encodeURIComponent(docId)}`; }, id);
  await byTestId(page, 'exacerbation-plan').waitFor();
}

async function waitSaved(tablet, section) {
  const line = byTestId(tablet.page, `${section}-saved`);
  try {
    await tablet.page.waitForFunction(
      (el) => el.dataset.state === 'saved' || el.dataset.state === 'error',
      await line.elementHandle(), { timeout: 10_000 });
  } catch (e) {
    throw new Error(`${tablet.label}: ${section} never showed "saved": ${await line.textContent()} ${await describeTablet(tablet)}`);
  }
  const state = await line.getAttribute('data-state');
  const error = await byTestId(tablet.page, `${section}-error`).textContent();
  assert.equal(state, 'saved', `${tablet.label}: saving ${section} failed: ${error}`);
}

/// What a tablet shows, for assertions and failure messages.
async function snapshot(tablet) {
  return tablet.page.evaluate(() => {
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    return {
      text: q('exacerbation-plan')?.value ?? null,
      dnacpr: q('dnacpr-select')?.value ?? null,
      medications: [...document.querySelectorAll('[data-testid="medication-item"]')].map((li) => li.querySelector('.entry-title')?.textContent),
      sync: q('sync-state')?.textContent,
      pending: q('sync-pending')?.textContent,
      last: q('sync-last')?.textContent,
      error: q('sync-error')?.hidden ? '' : q('sync-error')?.textContent,
      bootError: q('boot-error')?.textContent,
      hash: location.hash,
    };
  }).catch((e) => ({ unavailable: e.message }));
}


async function typeAt(tablet, where, text) {
  const area = byTestId(tablet.page, 'exacerbation-plan');
  await area.click();
  await tablet.page.keyboard.press(where === 'start' ? 'Control+Home' : 'Control+End');
  await tablet.page.keyboard.type(text, { delay: 15 });
  await waitSaved(tablet, 'exacerbation');
}

// ---------------------------------------------------------------------------

describe('two case managers offline on the same plan', () => {
  before(async () => { env = await setup(); });
  after(async () => { await env?.close(); });

  test('edits made offline on two tablets merge, and the crew sees them', async () => {
    const run = Date.now().toString(36).slice(-5);
    const medication = `Oramorph ${run}`;
    const cm1Text = `CM1-START-${run} `;
    const cm2Text = ` CM2-END-${run}`;

    // Pick a consenting patient and one who has not consented, from cm1's caseload.
    const cm1Token = await env.apiLogin('cm1.demo');
    const listing = await env.api('GET', '/api/v1/patients', { token: cm1Token });
    assert.equal(listing.status, 200, `GET /api/v1/patients: ${listing.status} ${listing.text}`);
    const patient = listing.json.find((p) => p.share_with_emergency_services);
    const refuser = listing.json.find((p) => !p.share_with_emergency_services);
    assert.ok(patient, `no consenting patient in ${listing.text.slice(0, 500)}`);
    assert.ok(refuser, `no non-consenting patient in ${listing.text.slice(0, 500)}`);

    const cm1 = await env.openTablet('cm1', PORTRAIT);
    const cm2 = await env.openTablet('cm2', LANDSCAPE);
    try {
      await Promise.all([signIn(cm1, 'cm1.demo'), signIn(cm2, 'cm2.demo')]);
      await Promise.all([openPlan(cm1, patient.id), openPlan(cm2, patient.id)]);
      // The app must be able to reload with no network: wait for the service worker.
      for (const t of [cm1, cm2]) {
        await t.page.waitForFunction(() => document.body.dataset.sw === 'ready', null, { timeout: 20_000 })
          .catch(async () => { throw new Error(`${t.label}: service worker never took control ${await describeTablet(t)}`); });
      }
      const startDnacpr = await byTestId(cm2.page, 'dnacpr-select').inputValue();
      const newDnacpr = startDnacpr === 'do_not_attempt_cpr' ? 'for_attempted_cpr' : 'do_not_attempt_cpr';

      await Promise.all([setOffline(cm1, true), setOffline(cm2, true)]);

      // cm1 adds a medication; cm2 changes the DNACPR status.
      await byTestId(cm1.page, 'medication-open').click();
      await byTestId(cm1.page, 'medication-name').fill(medication);
      await byTestId(cm1.page, 'medication-dose').fill('2.5 mg as needed');
      await byTestId(cm1.page, 'medication-add').click();
      await waitSaved(cm1, 'medications');
      await byTestId(cm2.page, 'dnacpr-select').selectOption(newDnacpr);
      await waitSaved(cm2, 'dnacpr');

      // Both type into the exacerbation plan: cm1 at the start, cm2 at the end.
      await typeAt(cm1, 'start', cm1Text);
      await typeAt(cm2, 'end', cm2Text);

      // Still offline, reload: the app comes from the service worker, the plan from
      // IndexedDB, decrypted with the PIN.
      await Promise.all([cm1.page.reload(), cm2.page.reload()]);
      await Promise.all([unlock(cm1), unlock(cm2)]);
      for (const t of [cm1, cm2]) {
        await byTestId(t.page, 'exacerbation-plan').waitFor({ timeout: 15_000 })
          .catch(async () => { throw new Error(`${t.label}: plan did not load offline ${await describeTablet(t)}`); });
        assert.equal(await byTestId(t.page, 'sync-state').getAttribute('data-state'), 'offline', `${t.label} ${await describeTablet(t)}`);
      }
      const s1 = await snapshot(cm1);
      const s2 = await snapshot(cm2);
      assert.ok(s1.text.startsWith(cm1Text.trim()), `cm1 lost its typing after an offline reload: ${JSON.stringify(s1)}`);
      assert.ok(s1.medications.some((m) => m.includes(medication)), `cm1 lost its medication: ${JSON.stringify(s1)}`);
      assert.ok(!s1.text.includes(cm2Text.trim()), `cm1 saw cm2's text while both were offline: ${JSON.stringify(s1)}`);
      assert.ok(s2.text.endsWith(cm2Text.trim()), `cm2 lost its typing after an offline reload: ${JSON.stringify(s2)}`);
      assert.equal(s2.dnacpr, newDnacpr, `cm2 lost its DNACPR change: ${JSON.stringify(s2)}`);
      assert.notEqual(s1.pending, '0 changes waiting to upload', `cm1 shows nothing waiting: ${JSON.stringify(s1)}`);

      await Promise.all([setOffline(cm1, false), setOffline(cm2, false)]);

      // Both tablets converge on a plan holding every edit.
      const deadline = Date.now() + CONVERGE_MS;
      let last;
      for (;;) {
        const [a, b] = [await snapshot(cm1), await snapshot(cm2)];
        last = { cm1: a, cm2: b };
        const complete = (s) => s.text && s.text.includes(cm1Text.trim()) && s.text.includes(cm2Text.trim())
          && s.dnacpr === newDnacpr && s.medications.some((m) => m.includes(medication))
          && s.pending === '0 changes waiting to upload';
        if (complete(a) && complete(b) && a.text === b.text) break;
        if (Date.now() > deadline) {
          await env.screenshotAll('not-converged');
          assert.fail(`the tablets did not converge within ${CONVERGE_MS / 1000} s:\n${JSON.stringify(last, null, 1)}`
            + `${await describeTablet(cm1)}${await describeTablet(cm2)}\n${env.serverLogs()}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(last.cm1.text.indexOf(cm1Text.trim()) < last.cm1.text.indexOf(cm2Text.trim()),
        `cm1's text should come before cm2's: ${JSON.stringify(last.cm1.text)}`);

      // The crew's view: the server's emergency summary holds the merged plan.
      const crew = await env.apiLogin('ambulance.demo');
      let summary;
      const summaryDeadline = Date.now() + 10_000;
      for (;;) {
        summary = await env.api('GET', `/api/v1/emergency/summary/${patient.nhs_number}`, { token: crew });
        const s = summary.json;
        if (summary.status === 200 && s.dnacpr === newDnacpr
          && s.exacerbation_plan.includes(cm1Text.trim()) && s.exacerbation_plan.includes(cm2Text.trim())
          && s.medications.some((m) => m.name === medication)) break;
        if (Date.now() > summaryDeadline) {
          assert.fail(`the emergency summary does not hold the merged plan: ${summary.status} ${summary.text}\n${env.serverLogs()}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(summary.json.exacerbation_plan, last.cm1.text.trim(), 'summary text differs from the tablets');
      const refused = await env.api('GET', `/api/v1/emergency/summary/${refuser.nhs_number}`, { token: crew });
      assert.equal(refused.status, 404, `a non-consenting patient's summary answered ${refused.status}: ${refused.text}`);

      // The emergency summary view in the app shows the same.
      await cm2.page.click('[data-testid="tab-summary"]');
      await byTestId(cm2.page, 'emergency-summary').waitFor();
      const shown = await byTestId(cm2.page, 'emergency-summary').textContent();
      assert.ok(shown.includes(medication) && shown.includes(cm1Text.trim()), `summary view: ${shown}`);
    } catch (e) {
      await env.screenshotAll('failure');
      throw e;
    }
  });
});

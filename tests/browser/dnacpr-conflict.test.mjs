// No surface presents one side of a conflict as settled (hazard H1).
//
// Two case managers record different DNACPR decisions for the same patient while their
// tablets are offline. Back online, every place that shows the decision says
// "Conflicting: A / B — confirm with the care team" instead of either value: the plan
// editor's DNACPR control and decisions list, the tablet's summary banner, the printed
// yellow pages and full plan, the caseload badge and DNACPR filter, and the ambulance
// crew's lookup.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { byTestId, describeTablet, goto, LANDSCAPE, setOffline, setup, signIn, waitSaved } from './helpers.mjs';

const CONFLICT = /Conflicting: (DNACPR in place: do not attempt CPR \/ For attempted CPR|For attempted CPR \/ DNACPR in place: do not attempt CPR) — confirm with the care team/;

let env;
let patient;

async function openPlan(tablet, id) {
  await tablet.page.locator(`[data-testid="caseload-item"][data-id="${id}"]`).waitFor({ timeout: 30_000 });
  await goto(tablet, `#/plan/${encodeURIComponent(id)}`);
  await byTestId(tablet.page, 'section-lifecycle').waitFor();
}

describe('a DNACPR conflict on every surface', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    patient = listing.json.find((p) => p.share_with_emergency_services);
    assert.ok(patient, 'no consenting demo patient');
  });
  after(async () => { await env?.close(); });

  test('two tablets record different decisions offline; no surface shows either as settled', async () => {
    const a = await env.openTablet('h1-a');
    const b = await env.openTablet('h1-b');
    try {
      await signIn(a, 'cm1.demo');
      await signIn(b, 'cm2.demo');
      await openPlan(a, patient.id);
      await openPlan(b, patient.id);
      await setOffline(a, true);
      await setOffline(b, true);
      await byTestId(a.page, 'dnacpr-select').selectOption('do_not_attempt_cpr');
      await waitSaved(a, 'dnacpr');
      await byTestId(b.page, 'dnacpr-select').selectOption('for_attempted_cpr');
      await waitSaved(b, 'dnacpr');
      await setOffline(a, false);
      await setOffline(b, false);

      for (const t of [a, b]) {
        // The editor's control holds no value; the conflict is said beside it.
        await t.page.waitForFunction(() => document.querySelector('[data-testid="dnacpr-select"]')?.value === 'conflicting', null, { timeout: 30_000 })
          .catch(async () => { throw new Error(`${t.label}'s DNACPR control never showed the conflict ${await describeTablet(t)}`); });
        assert.match(await byTestId(t.page, 'dnacpr-conflict').textContent(), CONFLICT, t.label);
        const decided = t.page.locator('[data-testid="decision-conflict"][data-field="dnacpr"]');
        assert.match(await decided.textContent(), CONFLICT, `${t.label}: the decisions list`);
      }
      // Both tablets have uploaded: the server holds the conflict too.
      for (const t of [a, b]) {
        await t.page.waitForFunction(() => document.querySelector('[data-testid="sync-pending"]')?.dataset.count === '0', null, { timeout: 30_000 });
      }

      // The tablet's summary: the CPR banner says conflicting, with both sides.
      await goto(a, `#/plan/${encodeURIComponent(patient.id)}/summary`);
      const banner = byTestId(a.page, 'summary-dnacpr');
      await banner.waitFor();
      assert.equal(await banner.getAttribute('data-status'), 'conflicting');
      assert.match(await banner.textContent(), CONFLICT);

      // The printout: the banner on the yellow pages, and the full plan's decision.
      await goto(a, `#/plan/${encodeURIComponent(patient.id)}/print`);
      await byTestId(a.page, 'print-view').waitFor();
      const printed = byTestId(a.page, 'print-view').locator('[data-testid="summary-dnacpr"]');
      assert.equal(await printed.getAttribute('data-status'), 'conflicting');
      assert.match(await printed.textContent(), CONFLICT);
      const full = a.page.locator('[data-testid="print-full"] [data-testid="print-conflict"][data-field="dnacpr"]');
      assert.match(await full.textContent(), CONFLICT);
      assert.match(await full.textContent(), /recorded by Sam Carter \(demo\)/);
      assert.match(await full.textContent(), /recorded by Priya Nair \(demo\)/);

      // The caseload: a conflict badge (not "DNACPR"), and the filter puts the patient
      // under "conflicting", never under either status.
      await goto(a, '#/');
      const row = a.page.locator(`[data-testid="caseload-item"][data-id="${patient.id}"]`);
      await row.waitFor();
      const badge = row.locator('[data-testid="caseload-dnacpr"]');
      assert.equal(await badge.getAttribute('data-status'), 'conflicting');
      assert.match(await badge.textContent(), /DNACPR conflicting: confirm with the care team/);
      for (const [status, listed] of [['do_not_attempt_cpr', false], ['for_attempted_cpr', false], ['conflicting', true]]) {
        await byTestId(a.page, 'filter-dnacpr').selectOption(status);
        await a.page.waitForFunction(([id, want]) => !!document.querySelector(`[data-testid="caseload-item"][data-id="${id}"]`) === want,
          [patient.id, listed], { timeout: 10_000 })
          .catch(() => { throw new Error(`filter ${status}: the patient should ${listed ? '' : 'not '}be listed`); });
      }
      await byTestId(a.page, 'filter-dnacpr').selectOption('');
    } catch (e) {
      await env.screenshotAll('failure-dnacpr-conflict');
      throw e;
    }
  });

  test('the crew\'s lookup shows the conflict, not a decision', async () => {
    const crew = await env.openTablet('h1-crew', LANDSCAPE);
    try {
      await signIn(crew, 'ambulance.demo', { waitFor: 'emergency-form' });
      await byTestId(crew.page, 'emergency-nhs').fill(patient.nhs_number);
      await byTestId(crew.page, 'emergency-submit').click();
      const banner = crew.page.locator('[data-testid="emergency-result"] [data-testid="summary-dnacpr"]');
      await banner.waitFor({ timeout: 15_000 });
      assert.equal(await banner.getAttribute('data-status'), 'conflicting');
      assert.match(await banner.textContent(), CONFLICT);
    } catch (e) {
      await env.screenshotAll('failure-dnacpr-conflict-crew');
      throw e;
    }
  });
});

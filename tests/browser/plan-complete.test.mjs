// "Plan complete" means what seed 003 step 16 says (issue 16): a clinician with consent
// and a case manager recorded tries to mark the plan complete, is told in plain words
// what is missing (MDT discussion or "no wider action needed", the face-to-face meeting
// with the GP, a mental health assessment, the paper copy in the home), records each in
// the "Before the plan is complete" section, prints the red folder, and completes it;
// the server's copy says complete.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  axeViolations, byTestId, describeTablet, fill, goto, PORTRAIT, printPaperCopy, setup, signIn, smallTouchTargets, waitForCaseload, waitSaved,
} from './helpers.mjs';

let env;
let caseload;

async function problems(page) {
  return byTestId(page, 'completion-problems').locator('li').allTextContents();
}

async function done(page, key) {
  return byTestId(page, `completion-${key}`).getAttribute('data-done');
}

async function waitDone(page, key) {
  await page.waitForFunction((k) => document.querySelector(`[data-testid="completion-${k}"]`)?.dataset.done === 'true', key, { timeout: 10_000 });
}

describe('plan complete means step 16', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json;
  });
  after(async () => { await env?.close(); });

  test('completion is refused with what is missing; each record clears its item; then it completes', async () => {
    const t = await env.openTablet('complete', PORTRAIT);
    const { page } = t;
    const patient = caseload[3];
    const plan = `#/plan/${encodeURIComponent(patient.id)}`;
    try {
      await signIn(t, 'cm1.demo');
      await waitForCaseload(t, caseload.length);
      await goto(t, plan);
      await byTestId(page, 'section-completion').waitFor();
      await fill(page, 'enrolment', { cohort: 'risk_tool', tier: 'moderate', start_date: '2026-01-05', review_interval_months: '4' });
      await waitSaved(t, 'enrolment');
      await fill(page, 'case-manager', { name: 'Sam Carter', role: 'Community matron', phone: '01632 960001' });
      await waitSaved(t, 'case-manager');
      await fill(page, 'consent-full', { 'recipients-mdt': true, 'recipients-ambulance': true, given_by: 'patient', consent_date: '2026-01-05' });
      await waitSaved(t, 'consent-full');

      // Consent and a case manager are no longer enough: the core names the four others.
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="completion-problems"] li').length === 4, null, { timeout: 10_000 });
      const missing = (await problems(page)).join('\n');
      assert.match(missing, /No MDT discussion is recorded, and nobody has stated that no wider action is needed/);
      assert.match(missing, /No face-to-face meeting with the GP is recorded/);
      assert.match(missing, /No mental health assessment is recorded/);
      assert.match(missing, /No paper copy of the plan is recorded as left in the home/);
      for (const key of ['mdt', 'gp', 'mental-health', 'paper']) assert.equal(await done(page, key), 'false', key);
      await byTestId(page, 'mark-complete').click();
      await page.waitForFunction(() => document.querySelector('[data-testid="lifecycle-error"]')?.textContent);
      assert.match(await byTestId(page, 'lifecycle-error').textContent(), /face-to-face meeting with the GP/);
      assert.equal(await byTestId(page, 'plan-status').getAttribute('data-status'), 'draft');
      const a11y = [...await axeViolations(page), ...await smallTouchTargets(page)];
      assert.deepEqual(a11y, [], a11y.join('\n'));

      // An MDT discussion counts as the MDT item.
      await fill(page, 'mdt', { date: '2026-01-12', attendees: 'GP, district nurse, social worker', outcome: 'Falls clinic referral' });
      await waitSaved(t, 'mdt');
      await waitDone(page, 'mdt');
      assert.equal((await problems(page)).length, 3);

      // The face-to-face meeting with the GP.
      await fill(page, 'gp-meeting', { date: '2026-01-14', gp: 'Dr Patel', attendees: 'Sam Carter and the patient\u2019s daughter' });
      await waitSaved(t, 'gp-meeting');
      await waitDone(page, 'gp');
      assert.match(await byTestId(page, 'completion-gp').textContent(), /Dr Patel/);

      // A mental health assessment "not indicated" that names a tool is refused by the
      // core, in words; with only its reason it is recorded.
      await fill(page, 'mental-health', { status: 'not_indicated', tool: 'PHQ-9', reason: 'Assessed by the memory clinic in December' });
      await page.waitForFunction(() => document.querySelector('[data-testid="mental-health-error"]')?.textContent);
      assert.match(await byTestId(page, 'mental-health-error').textContent(), /assessment tool is recorded only when the assessment was done/i);
      assert.equal(await done(page, 'mental-health'), 'false');
      await fill(page, 'mental-health', { tool: '' });
      await waitSaved(t, 'mental-health');
      await waitDone(page, 'mental-health');
      assert.match(await byTestId(page, 'completion-mental-health').textContent(), /Not indicated: Assessed by the memory clinic/);
      assert.deepEqual(await problems(page), ['No paper copy of the plan is recorded as left in the home']);

      // The red folder printed for the home: nothing blocks completion any more.
      await printPaperCopy(t, patient.id);
      await goto(t, plan);
      await waitDone(page, 'paper');
      await byTestId(page, 'completion-problems').waitFor({ state: 'detached' });
      await byTestId(page, 'mark-complete').click();
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();

      // The server accepted it: the crew's summary says complete.
      const crew = await env.apiLogin('ambulance.demo');
      const deadline = Date.now() + 30_000;
      let summary;
      while (Date.now() < deadline) {
        const r = await env.api('GET', `/api/v1/emergency/summary/${patient.nhs_number}`, { token: crew });
        summary = r.json;
        if (r.status === 200 && summary.plan_status === 'complete') break;
        await page.waitForTimeout(200);
      }
      assert.equal(summary?.plan_status, 'complete', JSON.stringify(summary));
    } catch (e) {
      await env.screenshotAll('failure-plan-complete');
      throw new Error(`${e.message}\n${await describeTablet(t)}`, { cause: e });
    }
  });
});

// The conflicts inbox, the plan lifecycle and the caseload filters.
//
// Two case managers set DNACPR differently while offline; back online both tablets list
// the conflict with who set each value, one resolves it and both converge. The same plan
// is then enrolled, refused completion with the core's reasons, completed, reviewed, and
// found through the caseload filters.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  axeViolations, byTestId, describeTablet, fill, goto, recordStep16, setOffline, setup, signIn, smallTouchTargets, waitForCaseload, waitSaved,
} from './helpers.mjs';

let env;
let caseload;
let patient;
const tablets = {};

async function openPlan(tablet, id) {
  await tablet.page.locator(`[data-testid="caseload-item"][data-id="${id}"]`).waitFor({ timeout: 30_000 });
  await goto(tablet, `#/plan/${encodeURIComponent(id)}`);
  await byTestId(tablet.page, 'section-lifecycle').waitFor();
}

describe('conflicts, lifecycle and caseload filters', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json;
    patient = caseload[0];
  });
  after(async () => { await env?.close(); });

  test('two tablets set DNACPR differently offline; both see the conflict; one resolves it', async () => {
    const a = await env.openTablet('conflict-a');
    const b = await env.openTablet('conflict-b');
    tablets.a = a;
    try {
      await signIn(a, 'cm1.demo');
      await signIn(b, 'cm2.demo');
      await openPlan(a, patient.id);
      await openPlan(b, patient.id);
      assert.equal(await byTestId(a.page, 'section-conflicts').isHidden(), true);
      await setOffline(a, true);
      await setOffline(b, true);
      await byTestId(a.page, 'dnacpr-select').selectOption('do_not_attempt_cpr');
      await waitSaved(a, 'dnacpr');
      await byTestId(b.page, 'dnacpr-select').selectOption('for_attempted_cpr');
      await waitSaved(b, 'dnacpr');
      await setOffline(a, false);
      await setOffline(b, false);

      for (const t of [a, b]) {
        await t.page.locator('[data-testid="conflict-item"][data-field="dnacpr"]').waitFor({ timeout: 30_000 })
          .catch(async () => { throw new Error(`${t.label} never listed the conflict ${await describeTablet(t)}`); });
        await t.page.waitForFunction(() => document.querySelectorAll('[data-testid="conflict-value"]').length === 2, null, { timeout: 30_000 });
        const text = await byTestId(t.page, 'conflict-item').textContent();
        assert.match(text, /Set by Sam Carter \(demo\)/, `${t.label}: who set the first value`);
        assert.match(text, /Set by Priya Nair \(demo\)/, `${t.label}: who set the second value`);
        assert.match(text, /do not attempt CPR/);
        assert.match(text, /For attempted CPR/);
      }
      const problems = [...await axeViolations(a.page), ...await smallTouchTargets(a.page)];
      assert.deepEqual(problems, [], problems.join('\n'));

      // The emergency summary shows both entries, marked as conflicting: the crew's
      // (from the server) and the tablet's own.
      const crew = await env.apiLogin('ambulance.demo');
      const summaryText = async () => {
        const r = await env.api('GET', `/api/v1/emergency/summary/${patient.nhs_number}`, { token: crew });
        assert.equal(r.status, 200, r.text);
        return r.json;
      };
      const during = await summaryText();
      assert.ok(during.conflicts.some((c) => c.field === 'dnacpr'), `the server's summary does not mark DNACPR as conflicting: ${JSON.stringify(during.conflicts)}`);
      assert.match(JSON.stringify(during), /For attempted CPR/);
      assert.match(JSON.stringify(during), /do not attempt CPR/);
      await goto(b, `#/plan/${encodeURIComponent(patient.id)}/summary`);
      await byTestId(b.page, 'summary-body').waitFor();
      const shownSummary = await byTestId(b.page, 'summary-body').textContent();
      assert.match(shownSummary, /CONFLICTING ENTRIES/i, shownSummary.slice(0, 600));
      assert.match(shownSummary, /For attempted CPR/);
      await goto(b, `#/plan/${encodeURIComponent(patient.id)}`);
      await byTestId(b.page, 'section-lifecycle').waitFor();

      await a.page.locator('[data-testid="conflict-value"]', { hasText: 'do not attempt CPR' }).locator('[data-testid="conflict-keep"]').click();
      await waitSaved(a, 'conflict');
      for (const t of [a, b]) {
        await t.page.waitForFunction(() => document.querySelector('[data-testid="section-conflicts"]').hidden
          && document.querySelector('[data-testid="dnacpr-select"]').value === 'do_not_attempt_cpr', null, { timeout: 30_000 })
          .catch(async () => { throw new Error(`${t.label} did not converge on the resolved value ${await describeTablet(t)}`); });
      }
      // And the summary, on the server and on the tablet, shows the resolved value only.
      await b.page.waitForFunction(() => document.querySelector('[data-testid="sync-pending"]')?.dataset.count === '0');
      await a.page.waitForFunction(() => document.querySelector('[data-testid="sync-pending"]')?.dataset.count === '0');
      let after = await summaryText();
      for (let i = 0; i < 50 && after.conflicts.length; i += 1) {
        await new Promise((r) => setTimeout(r, 200));
        after = await summaryText();
      }
      assert.deepEqual(after.conflicts, [], 'the server\'s summary still shows the conflict');
      assert.equal(after.dnacpr, 'do_not_attempt_cpr');
      await goto(b, `#/plan/${encodeURIComponent(patient.id)}/summary`);
      await byTestId(b.page, 'summary-body').waitFor();
      const resolved = await byTestId(b.page, 'summary-body').textContent();
      assert.doesNotMatch(resolved, /CONFLICTING/i);
      assert.doesNotMatch(resolved, /For attempted CPR/);
      await goto(b, `#/plan/${encodeURIComponent(patient.id)}`);
    } catch (e) {
      await env.screenshotAll('failure-conflict');
      throw e;
    }
  });

  test('enrol, completion refused with the core\'s reasons, complete, review, filter the caseload', async () => {
    const t = tablets.a;
    const { page } = t;
    try {
      await fill(page, 'enrolment', { cohort: 'care_home', tier: 'severe', start_date: '2019-06-01', review_interval_months: '4' });
      await waitSaved(t, 'enrolment');
      // Severe tier with no ceiling of treatment, and no case manager: the core says so.
      await byTestId(page, 'completion-problems').waitFor();
      assert.match(await byTestId(page, 'completion-problems').textContent(), /no case manager/i);
      await byTestId(page, 'mark-complete').click();
      await page.waitForFunction(() => document.querySelector('[data-testid="lifecycle-error"]')?.textContent);
      assert.match(await byTestId(page, 'lifecycle-error').textContent(), /case manager/i);

      await fill(page, 'case-manager', { name: 'Sam Carter', role: 'Community matron', phone: '01632 960001' });
      await waitSaved(t, 'case-manager');
      await fill(page, 'ceiling', { ceiling: 'ward_based_care', notes: 'No ICU' });
      await waitSaved(t, 'ceiling');
      await fill(page, 'consent-full', { 'recipients-mdt': true, 'recipients-ambulance': true, given_by: 'patient', consent_date: '2019-06-01' });
      await waitSaved(t, 'consent-full');
      await recordStep16(t, patient.id, '2019-06-01');
      await byTestId(page, 'mark-complete').click();
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();

      await byTestId(page, 'start-review').click();
      await page.locator('[data-testid="plan-status"][data-status="under_review"]').waitFor();
      // The review is guided: go through the plan, then record findings and outcome.
      await byTestId(page, 'review-guide').waitFor();
      const guided = [...await axeViolations(page), ...await smallTouchTargets(page)];
      assert.deepEqual(guided, [], guided.join('\n'));
      await byTestId(page, 'review-go-medications').click();
      await page.waitForFunction(() => {
        const r = document.querySelector('[data-testid="section-medications"]').getBoundingClientRect();
        return r.top < window.innerHeight && r.bottom > 0;
      });
      await byTestId(page, 'review-go-record').click();
      assert.ok(await byTestId(page, 'review-panel').evaluate((d) => d.open), 'the review form did not open');
      await fill(page, 'review', {
        date: '2020-01-01', face_to_face: true, reviewer: 'Sam Carter', notes: 'Stable.', outcome: 'continue', next_review_due: '2020-05-01',
      });
      await waitSaved(t, 'review');
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();
      assert.equal(await byTestId(page, 'review-guide').count(), 0, 'the review guide outlived the review');
      assert.match(await byTestId(page, 'next-review-due').textContent(), /1 May 2020/);

      await goto(t, '#/');
      await waitForCaseload(t, caseload.length);
      const shown = () => page.evaluate(() => [...document.querySelectorAll('[data-testid="caseload-item"]')].map((a) => a.dataset.id));
      await byTestId(page, 'filter-review').selectOption('overdue');
      assert.deepEqual(await shown(), [patient.id]);
      await byTestId(page, 'filter-review').selectOption('this_month');
      assert.deepEqual(await shown(), []);
      await byTestId(page, 'filter-review').selectOption('');
      await byTestId(page, 'filter-tier').selectOption('severe');
      assert.deepEqual(await shown(), [patient.id]);
      await byTestId(page, 'filter-cohort').selectOption('risk_tool');
      assert.deepEqual(await shown(), []);
      await byTestId(page, 'filter-cohort').selectOption('care_home');
      assert.deepEqual(await shown(), [patient.id]);
      const problems = [...await axeViolations(page), ...await smallTouchTargets(page)];
      assert.deepEqual(problems, [], problems.join('\n'));
    } catch (e) {
      await env.screenshotAll('failure-lifecycle');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });
  test('every section takes its edits, and the core\'s refusals show inline', async () => {
    const t = tablets.a;
    const { page } = t;
    const other = caseload[1];
    try {
      // Straight to the plan: the caseload is still filtered from the test before.
      await goto(t, `#/plan/${encodeURIComponent(other.id)}`);
      await byTestId(page, 'section-lifecycle').waitFor();
      const items = (id) => page.locator(`[data-testid="${id}"][data-in-error="false"]`).count();

      // A refusal from the core is shown beside the form, and nothing is saved.
      await fill(page, 'allergy', { substance: '', severity: 'severe' });
      await page.waitForFunction(() => document.querySelector('[data-testid="allergy-error"]')?.textContent);
      assert.equal(await items('allergy-item'), 0);
      await fill(page, 'allergy', { substance: 'Penicillin', reaction: 'Rash', severity: 'severe' });
      await waitSaved(t, 'allergy');
      assert.equal(await items('allergy-item'), 1);
      assert.equal(await byTestId(page, 'allergy-status').getAttribute('data-status'), 'allergies_recorded');

      await fill(page, 'team', { kind: 'gp_bypass', role: 'GP bypass', phone: '01632 960002' });
      await waitSaved(t, 'team');
      await fill(page, 'personal', { relationship: 'lpa_health_and_welfare', name: 'Ann Example', phone: '07700 900001' });
      await waitSaved(t, 'personal');
      await fill(page, 'anticipatory', { name: 'Midazolam', dose: '2.5 mg', location: 'Fridge, top shelf' });
      await waitSaved(t, 'anticipatory');
      assert.match(await byTestId(page, 'anticipatory-list').textContent(), /Kept: Fridge, top shelf/);
      await fill(page, 'escalation', { condition: 'COPD', plan: 'Start rescue pack, call the matron', rescue_pack: 'Kitchen drawer' });
      await waitSaved(t, 'escalation');
      await fill(page, 'goal', { what_matters: 'Staying at home', goal: 'Walk to the shop', owner: 'Patient' });
      await waitSaved(t, 'goal');
      await fill(page, 'goal-action', { action: 'Physiotherapy referral', owner: 'Sam Carter' });
      await waitSaved(t, 'goal-action');
      await byTestId(page, 'goal-action-status').selectOption('done');
      await waitSaved(t, 'goals-list');
      await fill(page, 'adrt', { in_place: true, details: 'Refuses ventilation', original_location: 'Red folder' });
      await waitSaved(t, 'adrt');
      await fill(page, 'resus', { status: 'do_not_attempt_cpr', respect_form: true, decision_date: '2024-03-01', decided_by: 'Dr Lee, GP', original_location: 'Red folder' });
      await waitSaved(t, 'resus');
      await fill(page, 'death-place', { place: 'Home' });
      await waitSaved(t, 'death-place');
      await fill(page, 'mdt', { date: '2024-05-01', attendees: 'GP, DN, social worker', outcome: 'Continue plan' });
      await waitSaved(t, 'mdt');
      await fill(page, 'advice', { from_name: 'Dr Shah', from_role: 'Respiratory consultant', advice: 'Keep SpO2 88-92 %' });
      await waitSaved(t, 'advice');
      // A baseline the core finds implausible is refused with its reason.
      await fill(page, 'baseline-set', { observed_on: '2024-05-01', pulse_bpm: '500' });
      await page.waitForFunction(() => document.querySelector('[data-testid="baseline-set-error"]')?.textContent);
      await fill(page, 'baseline-set', { pulse_bpm: '72', peak_flow_l_min: '250', weight_decikg: '61.5', known_af: 'true', usual_cognition: 'Mild memory loss' });
      await waitSaved(t, 'baseline-set');
      assert.match(await byTestId(page, 'baseline-full-facts').textContent(), /250 L\/min.*61\.5 kg/s);
      await fill(page, 'withdraw', { date: '2024-06-01' });
      const withdrawn = await page.waitForFunction(() => {
        const s = document.querySelector('[data-testid="withdraw-saved"]')?.dataset.state;
        return s === 'saved' || s === 'error' ? s : null;
      });
      if (await withdrawn.jsonValue() === 'saved') assert.match(await byTestId(page, 'consent-withdrawn').textContent(), /nothing is shared/);
      else assert.ok(await byTestId(page, 'withdraw-error').textContent());

      const decisions = await byTestId(page, 'decisions-facts').textContent();
      assert.match(decisions, /ReSPECT form.*Dr Lee, GP.*original: Red folder/s);
      assert.match(decisions, /Refuses ventilation/);
      const problems = [...await axeViolations(page), ...await smallTouchTargets(page)];
      assert.deepEqual(problems, [], problems.join('\n'));
    } catch (e) {
      await env.screenshotAll('failure-sections');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });
});

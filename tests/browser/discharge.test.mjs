// A discharge from case management walked in the app (issue 16; seed 003 step 17, seed 002):
// a case manager completes a moderate-tier plan of a patient under 75, the MDT discusses
// them, and at review the discharge screen applies step 17. Without the patient told and
// the questionnaire sent the server refuses and the screen says why; with them and the
// MDT's sign-off the plan ends on the tablet, the letter to the GP is shown, printable,
// and the month's return (and the commissioner's aggregate) counts the discharge.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  axeViolations, byTestId, describeTablet, fill, goto, LANDSCAPE, recordStep16, setup, signIn, waitForCaseload, waitSaved,
} from './helpers.mjs';

let env;
let patient;

const today = () => new Date().toISOString().slice(0, 10);

describe('discharge from case management in the app', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    // Under 75 on any day of the test, so step 17 discharges rather than moving them to
    // the annual over-75 review.
    patient = listing.json.find((p) => p.access === 'case_manager' && Number(p.date_of_birth.slice(0, 4)) >= 1952);
    assert.ok(patient, 'cm1.demo has no patient under 75');
  });
  after(async () => { await env?.close(); });

  test('review to GP letter; the return counts the discharge', async () => {
    const t = await env.openTablet('discharge', LANDSCAPE);
    const { page } = t;
    try {
      await signIn(t, 'cm1.demo');
      await waitForCaseload(t, 1);
      // The plan is completed on the tablet, in the moderate tier (the MDT signs off).
      await goto(t, `#/plan/${encodeURIComponent(patient.id)}`);
      await byTestId(page, 'section-lifecycle').waitFor();
      await fill(page, 'enrolment', { cohort: 'risk_tool', tier: 'moderate', start_date: '2025-01-06', review_interval_months: '4' });
      await waitSaved(t, 'enrolment');
      await fill(page, 'case-manager', { name: 'Sam Carter', role: 'Community matron', phone: '01632 960001' });
      await waitSaved(t, 'case-manager');
      await fill(page, 'consent-full', { 'recipients-mdt': true, given_by: 'patient', consent_date: '2025-01-06' });
      await waitSaved(t, 'consent-full');
      await recordStep16(t, patient.id, '2025-01-06');
      await byTestId(page, 'mark-complete').click();
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor()
        .catch(async () => { throw new Error(`not completed: ${await byTestId(page, 'lifecycle-error').textContent()} ${await describeTablet(t)}`); });

      // The MDT meets today and discusses the patient (the meeting screens have their own
      // test: mdt.test.mjs).
      const token = await env.apiLogin('cm1.demo');
      const meeting = await env.api('POST', '/api/v1/scheme/mdt-meetings', { token, body: { date: today() } });
      assert.equal(meeting.status, 201, meeting.text);
      const base = `/api/v1/scheme/mdt-meetings/${meeting.json.id}`;
      assert.equal((await env.api('POST', `${base}/patients`, { token, body: { patient_id: patient.id } })).status, 201);
      assert.equal((await env.api('PUT', `${base}/patients/${patient.id}`, { token, body: { outcome: 'Stable for a year: discharge at review' } })).status, 200);
      assert.equal((await env.api('POST', `${base}/attendance`, { token, body: { name: 'Dr Asha Patel', core_role: 'gp', signed: true } })).status, 200);

      // The discharge screen, from the scheme's.
      await goto(t, '#/scheme');
      await byTestId(page, 'nav-discharge').click();
      await byTestId(page, 'discharge-form').waitFor();
      await page.locator(`[data-testid="discharge-patient"] option[value="${patient.id}"]`).waitFor({ state: 'attached' });
      await byTestId(page, 'discharge-patient').selectOption(patient.id);
      await byTestId(page, 'discharge-top5').selectOption('no');
      await byTestId(page, 'discharge-submit').click();
      // Refused: the steps step 17 and the moderate tier ask for, each named.
      await byTestId(page, 'discharge-error').filter({ hasText: 'told' }).waitFor();
      const refusal = await byTestId(page, 'discharge-error').textContent();
      assert.match(refusal, /evaluation questionnaire/);
      assert.match(refusal, /moderate tier needs the MDT/);

      await byTestId(page, 'discharge-told').fill(today());
      await byTestId(page, 'discharge-questionnaire').fill(today());
      await page.locator(`[data-testid="discharge-mdt"] option[value="${meeting.json.id}"]`).waitFor({ state: 'attached' });
      await byTestId(page, 'discharge-mdt').selectOption(meeting.json.id);
      await byTestId(page, 'discharge-face-to-face').check();
      await byTestId(page, 'discharge-notes').fill('No admissions for a year; risk score fell.');
      await byTestId(page, 'discharge-submit').click();
      const done = page.locator('[data-testid="discharge-done"][data-decision="discharge"]');
      await done.waitFor();
      // The letter to the GP, in its printable frame.
      const letter = page.frameLocator('[data-testid="discharge-letter"]').locator('pre');
      await letter.waitFor();
      const text = await letter.textContent();
      assert.match(text, new RegExp(patient.name));
      assert.match(text, /discharged from case management/);
      assert.match(text, /The patient was told on/);
      assert.match(text, /evaluation questionnaire was sent/);
      assert.match(text, /MDT signed the discharge off/);
      assert.match(text, /No admissions for a year/);
      await byTestId(page, 'discharge-letter-print').waitFor();
      await page.locator('[data-testid="discharge-table"] tbody tr').first().waitFor();
      const found = (await axeViolations(page)).filter(Boolean);
      assert.deepEqual(found, [], found.join('\n'));
      await env.screenshotAll('discharge-letter');

      // The plan has ended on the tablet.
      await goto(t, `#/plan/${encodeURIComponent(patient.id)}`);
      await page.locator('[data-testid="plan-status"][data-status="ended"]').waitFor();

      // The month's return counts it, and so does the commissioner's aggregate.
      await goto(t, '#/scheme');
      const counted = byTestId(page, 'scheme-return-discharges');
      await counted.waitFor();
      assert.equal(await counted.getAttribute('data-total'), '1');
      assert.match(await counted.textContent(), /1 discharged/);
      const month = today().slice(0, 7);
      const agg = await env.api('GET', `/api/v1/scheme/returns/${month}/aggregate`, { token: await env.apiLogin('commissioner.demo') });
      assert.equal(agg.status, 200, agg.text);
      assert.equal(agg.json.totals.discharges.discharged, 1, agg.text);
    } catch (e) {
      await env.screenshotAll('failure-discharge');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });
});

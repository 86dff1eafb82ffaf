// A virtual clinic in the app (issue 16, seed 004), walked from end to end on two
// tablets: the practice's case manager schedules a diabetes clinic for today with the
// demo MDT member as specialist (a patient without consent to MDT sharing cannot be
// chosen), types an HbA1c (a bad value is refused with the server's reason) and imports a
// blood pressure from a GP system's FHIR Observations; the specialist opens the clinic,
// reads the plan and the pre-clinic data, records the outcome and logs an education
// session; the practice closes the clinic (the specialist's page then refuses), prints the
// GP's and the patient's letters, and reads the metrics, as a commissioner does.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { axeViolations, byTestId, describeTablet, goto, horizontalOverflow, LANDSCAPE, setup, signIn, smallTouchTargets, unlock } from './helpers.mjs';

let env;
let consenting;
let refusing;

const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

const bloodPressure = (nhs) => JSON.stringify({
  resourceType: 'Bundle', type: 'collection', entry: [{
    resource: {
      resourceType: 'Observation', status: 'final', effectiveDateTime: `${day(-7)}T10:00:00Z`,
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel' }] },
      subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhs } },
      component: [
        { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 148, code: 'mm[Hg]' } },
        { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 88, code: 'mm[Hg]' } },
      ],
    },
  }],
});

async function checkScreen(page, label) {
  const found = [...await axeViolations(page), ...await smallTouchTargets(page), await horizontalOverflow(page)].filter(Boolean);
  assert.deepEqual(found, [], `${label}:\n${found.join('\n')}`);
}

describe('a virtual clinic in the app', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    const own = listing.json.filter((p) => p.access === 'case_manager');
    consenting = own.find((p) => p.share_with_mdt);
    refusing = own.find((p) => !p.share_with_mdt);
    assert.ok(consenting && refusing, 'the demo practice needs patients with and without MDT consent');
  });
  after(async () => { await env?.close(); });

  test('schedule, pre-clinic data, outcome, close, letters and metrics', async () => {
    const practice = await env.openTablet('clinic-practice', LANDSCAPE);
    const specialist = await env.openTablet('clinic-specialist', LANDSCAPE);
    const { page } = practice;
    const card = (p) => p.locator(`[data-testid="clinic-patient-card"][data-patient-id="${consenting.id}"]`);
    try {
      // Scheduling, from the scheme screen.
      await signIn(practice, 'cm1.demo');
      await byTestId(page, 'nav-scheme').click();
      await byTestId(page, 'nav-clinics').click();
      await byTestId(page, 'clinic-schedule-form').waitFor();
      const box = (p) => page.locator(`[data-testid="clinic-patient"][data-patient-id="${p.id}"]`);
      assert.equal(await box(refusing).isDisabled(), true, 'a patient without MDT consent can be chosen');
      assert.match(await page.locator(`label:has([data-patient-id="${refusing.id}"])`).textContent(), /no consent to MDT sharing/);
      await byTestId(page, 'clinic-specialist').fill('mdt.demo');
      await byTestId(page, 'clinic-date').fill(day(0));
      await byTestId(page, 'clinic-specialty').selectOption('diabetes');
      await box(consenting).check();
      await byTestId(page, 'clinic-schedule-form').locator('button[type="submit"]').click();
      await page.locator('[data-testid="clinic-title"][data-state="open"]').waitFor();
      const clinicId = await byTestId(page, 'clinic-title').getAttribute('data-id');
      assert.match(await byTestId(page, 'clinic-title').textContent(), /Diabetes virtual clinic/);

      // Pre-clinic data: typed (a bad value refused with the reason), then imported.
      const form = card(page).locator('[data-testid="clinic-reading-form"]');
      await form.locator('[data-testid="clinic-reading-measure"]').selectOption('hba1c');
      await form.locator('[data-testid="clinic-reading-value"]').fill('high');
      await form.locator('[data-testid="clinic-reading-date"]').fill(day(-3));
      await form.locator('button[type="submit"]').click();
      await form.locator('[role="alert"]', { hasText: 'must be a number' }).waitFor();
      await form.locator('[data-testid="clinic-reading-value"]').fill('58');
      await form.locator('button[type="submit"]').click();
      await card(page).locator('li[data-measure="hba1c"]', { hasText: '58 mmol/mol' }).waitFor();
      await card(page).locator('[data-testid="clinic-fhir"]').fill(bloodPressure(consenting.nhs_number));
      await card(page).locator('[data-testid="clinic-fhir-form"] button[type="submit"]').click();
      await page.locator('[data-testid="clinic-flash"]', { hasText: '1 results imported' }).waitFor();
      assert.match(await card(page).locator('li[data-measure="blood_pressure"]').textContent(), /148\/88 mmHg .*\(GP system\)/);
      await checkScreen(page, 'the practice\u2019s clinic page');

      // The specialist: the clinic is listed and open today.
      await signIn(specialist, 'mdt.demo');
      const sp = specialist.page;
      await byTestId(sp, 'nav-clinics').click();
      await sp.locator(`[data-testid="clinic-open"][data-id="${clinicId}"]`).click();
      await card(sp).waitFor();
      assert.equal(await card(sp).locator('[data-testid="clinic-reading-form"]').count(), 0, 'the specialist can type pre-clinic data');
      assert.match(await card(sp).locator('li[data-measure="hba1c"]').textContent(), /58 mmol\/mol/);
      await card(sp).locator('[data-testid="clinic-read-plan"]').click();
      await card(sp).locator('[data-testid="clinic-plan"]').waitFor();
      await card(sp).locator('[data-testid="clinic-outcome"]').selectOption('keep_in_practice');
      await card(sp).locator('[data-testid="clinic-outcome-plan"]').fill('Add gliclazide 40 mg; repeat HbA1c in 3 months.');
      await card(sp).locator('[data-testid="clinic-follow-up"]').fill(day(90));
      await card(sp).locator('[data-testid="clinic-outcome-form"] button[type="submit"]').click();
      await sp.locator(`[data-testid="clinic-patient-card"][data-patient-id="${consenting.id}"][data-has-outcome="true"]`).waitFor();
      await byTestId(sp, 'clinic-education-topic').fill('Starting GLP-1 agonists');
      await byTestId(sp, 'clinic-education-attendees').fill('Dr Asha Patel (GP), practice nurse');
      await byTestId(sp, 'clinic-education-form').locator('button[type="submit"]').click();
      await sp.locator('[data-testid="clinic-education"] tbody tr', { hasText: 'Starting GLP-1 agonists' }).waitFor();
      await checkScreen(sp, 'the specialist\u2019s clinic page');

      // The practice sees the outcome and closes the clinic; the specialist's page then
      // refuses.
      // (The practice's tablet is still on this clinic's page: leave it and come back, so
      // the page is read afresh.)
      await goto(practice, '#/clinics');
      await page.locator('[data-testid="clinic-metrics-summary"]').waitFor();
      await goto(practice, `#/clinics/${clinicId}`);
      await card(page).locator('[data-testid="clinic-outcome-recorded"][data-outcome="keep_in_practice"]').waitFor();
      page.once('dialog', (d) => d.accept());
      await byTestId(page, 'clinic-close').click();
      await page.locator('[data-testid="clinic-title"][data-state="closed"]').waitFor();
      await sp.reload();
      await unlock(specialist);
      await byTestId(sp, 'clinics-error').waitFor();

      // Letters, printable: to the GP, and in plain words for the patient.
      await card(page).locator('[data-testid="clinic-letter-gp"]').click();
      await page.locator('[data-testid="clinic-letter"][data-audience="gp"]').waitFor();
      assert.match(await byTestId(page, 'letter-subject').textContent(), new RegExp(consenting.name));
      const gp = await byTestId(page, 'clinic-letter').textContent();
      assert.match(gp, /continue care in the practice/);
      assert.match(gp, /gliclazide/);
      assert.match(await byTestId(page, 'letter-results').textContent(), /HbA1c58 mmol\/mol/);
      await checkScreen(page, 'the GP letter');
      await page.emulateMedia({ media: 'print' });
      assert.equal(await byTestId(page, 'letter-print').isVisible(), false, 'the print button is printed');
      assert.equal(await byTestId(page, 'clinic-letter').isVisible(), true);
      await page.emulateMedia({ media: 'screen' });
      await goto(practice, `#/clinics/${clinicId}/letter/${consenting.id}/patient`);
      await page.locator('[data-testid="clinic-letter"][data-audience="patient"]').waitFor();
      assert.equal(await byTestId(page, 'letter-to').textContent(), consenting.name);
      assert.doesNotMatch(await byTestId(page, 'clinic-letter').textContent(), /NHS number/);

      // Metrics: the practice's, then a commissioner's across practices.
      await goto(practice, '#/clinics');
      const summary = page.locator('[data-testid="clinic-metrics-summary"]');
      await summary.waitFor();
      assert.equal(await summary.getAttribute('data-discussed'), '1');
      assert.equal(await summary.getAttribute('data-avoided'), '1');
      assert.equal(await summary.getAttribute('data-new'), '0');
      assert.match(await byTestId(page, 'clinic-metrics-table').textContent(), /Diabetes/);
      await checkScreen(page, 'the clinics list');
      const commissioner = await env.openTablet('clinic-commissioner', LANDSCAPE);
      await signIn(commissioner, 'commissioner.demo', { waitFor: 'scheme-title' });
      await commissioner.page.locator('[data-testid="clinic-metrics-summary"][data-discussed="1"]').waitFor();
      assert.doesNotMatch(await byTestId(commissioner.page, 'clinic-metrics').textContent(), new RegExp(consenting.nhs_number));

      // The server's record: the letter reads were audited.
      const token = await env.apiLogin('cm1.demo');
      const letter = await env.api('GET', `/api/v1/scheme/virtual-clinics/${clinicId}/patients/${consenting.id}/letter`, { token });
      assert.equal(letter.status, 200, letter.text);
      assert.equal(letter.json.results.find((r) => r.label === 'Blood pressure').value, '148/88 mmHg');
    } catch (e) {
      await env.screenshotAll('failure-clinics');
      throw new Error(`${e.message}${await describeTablet(practice)}${await describeTablet(specialist)}`, { cause: e });
    }
  });
});

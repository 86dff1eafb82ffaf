// Referral peer review in the app, the whole loop: a case manager's urgent referral is
// refused (it bypasses review) and a routine one is sent; the GP reviewer finds it in the
// queue and returns it with advice, and writes the practice an education note (one naming a
// patient is refused); the case manager reads the note, sees the outcome, acknowledges it,
// prints the patient's letter, downloads the referral as a FHIR ServiceRequest and finds
// the advice in the patient's plan; offline, the screen says it needs a connection; the
// commissioner's learning report counts it and names no patient.

import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { axeViolations, byTestId, describeTablet, goto, LANDSCAPE, PORTRAIT, setOffline, setup, signIn, smallTouchTargets, waitForCaseload } from './helpers.mjs';

let env;

describe('referral peer review', () => {
  before(async () => { env = await setup(); });
  after(async () => { await env?.close(); });

  test('referral, review, advice, acknowledgement and the report', async () => {
    const gp = await env.openTablet('referrer', LANDSCAPE);
    const reviewer = await env.openTablet('reviewer', PORTRAIT);
    const commissioner = await env.openTablet('commissioner', PORTRAIT);
    let current = gp;
    try {
      await signIn(gp, 'cm1.demo');
      await waitForCaseload(gp, 1);
      await byTestId(gp.page, 'nav-referrals').click();
      await byTestId(gp.page, 'referral-form').waitFor();
      const patient = await byTestId(gp.page, 'referral-patient').inputValue();
      assert.ok(patient, 'a caseload patient is offered first');
      const patientName = (await byTestId(gp.page, 'referral-patient').locator('option:checked').textContent()).replace(/ \(.*$/, '');
      assert.ok(patientName.length > 3, patientName);

      // An urgent referral is refused with the reason.
      await byTestId(gp.page, 'referral-specialty').selectOption('Dermatology');
      await byTestId(gp.page, 'referral-urgency').selectOption('urgent');
      await byTestId(gp.page, 'referral-condition').fill('Psoriasis');
      await byTestId(gp.page, 'referral-question').fill('Is a biologic indicated?');
      await byTestId(gp.page, 'referral-history').fill('Plaque psoriasis, 20 % body surface; topical steroids and vitamin D for 12 weeks.');
      await byTestId(gp.page, 'referral-submit').click();
      await gp.page.locator('[data-testid="referral-error"]', { hasText: 'bypass peer review' }).waitFor();

      // The routine referral goes for review and opens.
      await byTestId(gp.page, 'referral-urgency').selectOption('routine');
      await byTestId(gp.page, 'referral-submit').click();
      await gp.page.waitForFunction(() => /^#\/referrals\/[^/]+$/.test(location.hash));
      const id = decodeURIComponent((await gp.page.evaluate(() => location.hash)).split('/')[2]);
      await gp.page.locator('[data-testid="referral-detail"] [data-testid="referral-state"][data-state="awaiting_review"]').waitFor();
      assert.match(await byTestId(gp.page, 'referral-next').textContent(), /3 working days/);

      // The reviewer's queue holds it; they return it with advice.
      current = reviewer;
      await signIn(reviewer, 'reviewer.demo', { waitFor: 'referral-queue-table' });
      const row = reviewer.page.locator(`[data-testid="referral-queue-table"] tr[data-id="${id}"]`);
      await row.waitFor();
      assert.match(await row.textContent(), /Dermatology/);
      await row.getByRole('button', { name: 'Open' }).click();
      await byTestId(reviewer.page, 'decision-form').waitFor();
      await byTestId(reviewer.page, 'decision-kind').selectOption('return');
      await byTestId(reviewer.page, 'decision-tests').fill('Check lipids and LFTs before any systemic treatment');
      await byTestId(reviewer.page, 'decision-treatment').fill('Potent steroid with calcipotriol, once daily for 8 weeks');
      await byTestId(reviewer.page, 'decision-re-refer').fill('If under 50 % better after 8 weeks');
      await byTestId(reviewer.page, 'decision-submit').click();
      await reviewer.page.locator('[data-testid="referral-detail"] [data-testid="referral-state"][data-state="returned"]').waitFor();
      const found = [...await axeViolations(reviewer.page), ...await smallTouchTargets(reviewer.page)];
      assert.deepEqual(found, [], found.join('\n'));

      // What the reviewer learned goes to the practice as an education note; a note naming
      // a patient by NHS number is refused.
      await goto(reviewer, '#/referrals');
      await byTestId(reviewer.page, 'education-form').waitFor();
      await byTestId(reviewer.page, 'education-practice').fill('Y99901');
      await byTestId(reviewer.page, 'education-specialty').selectOption('Dermatology');
      await byTestId(reviewer.page, 'education-condition').fill('Psoriasis');
      await byTestId(reviewer.page, 'education-title').fill('Psoriasis: a full topical trial first');
      await byTestId(reviewer.page, 'education-body').fill('As for 943 476 5919: eight weeks of potent steroid with calcipotriol before referral.');
      await byTestId(reviewer.page, 'education-submit').click();
      await reviewer.page.locator('[data-testid="education-error"]', { hasText: 'NHS number' }).waitFor();
      await byTestId(reviewer.page, 'education-body').fill('Eight weeks of potent steroid with calcipotriol before referral; most plaque psoriasis settles.');
      await byTestId(reviewer.page, 'education-submit').click();
      await reviewer.page.locator('[data-testid="education-note"]', { hasText: 'Psoriasis: a full topical trial first' }).waitFor();
      const noteFound = [...await axeViolations(reviewer.page), ...await smallTouchTargets(reviewer.page)];
      assert.deepEqual(noteFound, [], noteFound.join('\n'));

      // The referrer sees the advice, acknowledges it and prints the letter.
      current = gp;
      await goto(gp, '#/referrals');
      await gp.page.locator('[data-testid="education-note"]', { hasText: 'Psoriasis: a full topical trial first' }).waitFor();
      const outcome = gp.page.locator(`[data-testid="referral-table"] tr[data-id="${id}"] [data-testid="referral-state"]`);
      await outcome.waitFor();
      assert.equal(await outcome.getAttribute('data-state'), 'returned');
      await gp.page.locator(`[data-testid="referral-table"] tr[data-id="${id}"]`).getByRole('button', { name: 'Open' }).click();
      await gp.page.locator('[data-testid="referral-advice"]', { hasText: 'calcipotriol' }).waitFor();
      await byTestId(gp.page, 'referral-acknowledge').click();
      await gp.page.locator('[data-testid="referral-detail"] [data-testid="referral-state"][data-state="advice_acknowledged"]').waitFor();
      // The referral as a FHIR ServiceRequest, for the GP system: revoked (it does not go
      // to hospital), with the reviewer's advice as a note.
      const [download] = await Promise.all([gp.page.waitForEvent('download'), byTestId(gp.page, 'referral-fhir').click()]);
      const sr = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
      assert.equal(sr.resourceType, 'ServiceRequest');
      assert.equal(sr.status, 'revoked');
      assert.ok(sr.note.some((n) => n.text.includes('calcipotriol')), JSON.stringify(sr.note));
      await byTestId(gp.page, 'referral-letter-show').click();
      const letter = gp.page.frameLocator('[data-testid="referral-letter"]');
      await letter.locator('body', { hasText: 'closer to home' }).waitFor();
      const letterText = await letter.locator('body').textContent();
      assert.match(letterText, /Dermatology/);
      assert.match(letterText, /calcipotriol/);
      await byTestId(gp.page, 'referral-letter-print').waitFor();
      const gpFound = [...await axeViolations(gp.page), ...await smallTouchTargets(gp.page)];
      assert.deepEqual(gpFound, [], gpFound.join('\n'));
      await env.screenshotAll('referrals');

      // The patient is case-managed: the outcome reached their plan on the tablet by sync,
      // attributed to the reviewer.
      await goto(gp, `#/plan/${encodeURIComponent(patient)}`);
      const planAdvice = gp.page.locator('[data-testid="section-advice"]', { hasText: 'returned with advice' });
      await planAdvice.waitFor({ timeout: 30_000 });
      assert.match(await planAdvice.textContent(), /GP reviewer, Dermatology \(mentored\)/);

      // Offline, the screen says it needs a connection.
      await setOffline(gp, true);
      await goto(gp, '#/referrals');
      await byTestId(gp.page, 'referrals-offline').waitFor();
      await setOffline(gp, false);

      // The commissioner's learning report counts it and names no patient.
      current = commissioner;
      await signIn(commissioner, 'commissioner.demo', { waitFor: 'scheme-aggregate' });
      await byTestId(commissioner.page, 'nav-referrals').click();
      const total = byTestId(commissioner.page, 'referral-report-total');
      await total.waitFor();
      assert.ok(Number(await total.getAttribute('data-referrals')) >= 6, await total.textContent());
      const line = commissioner.page.locator('[data-testid="referral-report-table"] tr', { hasText: 'psoriasis' }).first();
      await line.waitFor();
      const text = await commissioner.page.locator('main').textContent();
      assert.ok(!text.includes(patientName), 'the report names a patient');
      assert.equal(await byTestId(commissioner.page, 'referral-table').count(), 0, 'a commissioner sees no referral list');
    } catch (e) {
      await env.screenshotAll('failure-referrals');
      throw new Error(`${e.message}${await describeTablet(current)}`, { cause: e });
    }
  });
});

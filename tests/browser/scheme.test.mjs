// Running the scheme in the app: a case manager records the list size, uploads the
// risk-tool list (a bad file is refused line by line and nothing of it kept), works the
// candidates list (excluding one with a reason), schedules an MDT meeting (warned when
// under four weeks ahead) and reads the month's return with its claim and CSV; a
// commissioner sees every practice's figures and no patient.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  axeViolations, byTestId, describeTablet, fill, goto, LANDSCAPE, PORTRAIT, recordStep16, setup, signIn, smallTouchTargets, waitSaved,
} from './helpers.mjs';

let env;
let caseload;

const csvOf = (rows) => Buffer.from(['nhs_number,risk_score,risk_level,as_of', ...rows].join('\n') + '\n');

describe('running the scheme', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json;
  });
  after(async () => { await env?.close(); });

  test('a case manager works the cohort, the MDT and the monthly return', async () => {
    const t = await env.openTablet('scheme', LANDSCAPE);
    const { page } = t;
    try {
      await signIn(t, 'cm1.demo');
      await page.locator('[data-testid="caseload-cohort"]', { hasText: 'record the list size' }).waitFor();
      await byTestId(page, 'nav-scheme').click();
      await byTestId(page, 'scheme-no-list-size').waitFor();

      await byTestId(page, 'scheme-list-size').fill('1200');
      await byTestId(page, 'scheme-list-size-form').locator('button[type="submit"]').click();
      await page.locator('[data-testid="scheme-cohort"][data-percent="0.00"]').waitFor();

      // A file with a bad NHS number and a bad level is refused whole, line by line.
      const rows = caseload.slice(0, 6).map((p, i) => `${p.nhs_number},${90 - i},${i < 3 ? 3 : 2},2026-11-01`);
      await byTestId(page, 'scheme-risk-file').setInputFiles({ name: 'bad.csv', mimeType: 'text/csv', buffer: csvOf([...rows, '9434765918,50,2,2026-11-01', `${caseload[7].nhs_number},50,7,2026-11-01`]) });
      await byTestId(page, 'scheme-risk-form').locator('button[type="submit"]').click();
      const problems = byTestId(page, 'scheme-risk-problems');
      await problems.waitFor();
      const listed = await problems.locator('li').allTextContents();
      assert.equal(listed.length, 2, listed.join('\n'));
      assert.match(listed[0], /^Line 8: /);
      assert.match(listed[1], /^Line 9: /);
      const kept = await env.api('GET', '/api/v1/scheme/risk-uploads', { token: await env.apiLogin('cm1.demo') });
      assert.deepEqual(kept.json, [], 'a refused file was kept');

      await byTestId(page, 'scheme-risk-file').setInputFiles({ name: 'risk.csv', mimeType: 'text/csv', buffer: csvOf(rows) });
      await byTestId(page, 'scheme-risk-form').locator('button[type="submit"]').click();
      await page.locator('[data-testid="scheme-candidates"] tbody tr').nth(5).waitFor();
      const names = await page.locator('[data-testid="scheme-candidates"] tbody tr td:first-child').allTextContents();
      assert.equal(names[0], caseload[0].name, 'the highest score comes first');

      // Excluding a candidate asks why and moves them to the excluded list.
      page.once('dialog', (d) => d.accept('Renal unit follows up monthly'));
      await page.locator('[data-testid="scheme-candidates"] tbody tr').first().getByRole('button', { name: 'Exclude' }).click();
      await byTestId(page, 'scheme-exclusions').waitFor();
      assert.match(await byTestId(page, 'scheme-exclusions').textContent(), /Renal unit follows up monthly/);
      assert.equal(await page.locator('[data-testid="scheme-candidates"] tbody tr').count(), 5);

      // The next quarter's list: one patient drops out of the top 5 %, another comes in;
      // the upload says who.
      const next = caseload.slice(0, 7).map((p, i) => `${p.nhs_number},${90 - i},${i === 5 ? 1 : (i < 3 ? 3 : 2)},2026-11-15`);
      await byTestId(page, 'scheme-risk-file').setInputFiles({ name: 'risk-q2.csv', mimeType: 'text/csv', buffer: csvOf(next) });
      await byTestId(page, 'scheme-risk-form').locator('button[type="submit"]').click();
      await page.locator('[data-testid="scheme-risk-summary"]', { hasText: 'Since the previous list' }).waitFor();
      assert.match(await byTestId(page, 'scheme-risk-summary').textContent(), /1 came into the top 5 % and 1 left it/);
      assert.match(await byTestId(page, 'scheme-risk-entered').textContent(), new RegExp(caseload[6].nhs_number));
      assert.match(await byTestId(page, 'scheme-risk-left').textContent(), new RegExp(caseload[5].nhs_number));
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="scheme-candidates"] tbody tr').length === 5);

      // An MDT meeting under four weeks ahead is scheduled with a warning.
      const soon = new Date(Date.now() + 14 * 86_400_000).toISOString().slice(0, 10);
      await byTestId(page, 'scheme-mdt-date').fill(soon);
      await byTestId(page, 'scheme-mdt-form').locator('button[type="submit"]').click();
      await page.locator('[data-testid="scheme-mdt-table"] tbody tr').first().waitFor();
      assert.match(await byTestId(page, 'scheme-mdt-table').textContent(), /4 weeks/);
      assert.match(await byTestId(page, 'scheme-mdt-count').textContent(), /0 of the 10 meetings/);

      // A candidate enrolled in the app (care home, moderate) and marked complete counts
      // in this month's return as a new full plan: £110.
      await byTestId(page, 'scheme-return-summary').waitFor();
      assert.equal(await byTestId(page, 'scheme-return-summary').getAttribute('data-claim-total'), '0');
      const enrolled = caseload[1];
      await page.locator('[data-testid="scheme-candidates"] a', { hasText: enrolled.name }).click();
      await byTestId(page, 'section-lifecycle').waitFor({ timeout: 30_000 });
      const today = new Date().toISOString().slice(0, 10);
      await fill(page, 'enrolment', { cohort: 'care_home', tier: 'moderate', start_date: today, review_interval_months: '4' });
      await waitSaved(t, 'enrolment');
      await fill(page, 'case-manager', { name: 'Sam Carter', role: 'Community matron', phone: '01632 960001' });
      await waitSaved(t, 'case-manager');
      await fill(page, 'consent-full', { 'recipients-mdt': true, 'recipients-ambulance': true, given_by: 'patient', consent_date: today });
      await waitSaved(t, 'consent-full');
      await recordStep16(t, enrolled.id, today);
      await byTestId(page, 'mark-complete').click();
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();
      await page.waitForFunction(() => document.querySelector('[data-testid="sync-state"]')?.dataset.state === 'online'
        && document.querySelector('[data-testid="sync-pending"]')?.dataset.count === '0', null, { timeout: 30_000 });
      await goto(t, '#/scheme');
      await page.locator('[data-testid="scheme-return-summary"][data-claim-total="110"]').waitFor({ timeout: 15_000 });
      const returned = await byTestId(page, 'scheme-return-table').textContent();
      assert.match(returned, /New plans0100/, returned);
      assert.match(await byTestId(page, 'scheme-cohort-table').textContent(), /Care home1/);
      assert.equal(await page.locator('[data-testid="scheme-candidates"] a', { hasText: enrolled.name }).count(), 0, 'an enrolled patient is still a candidate');

      // The caseload shows the practice's enrolment against its list all the time.
      await goto(t, '#/');
      await page.locator('[data-testid="caseload-cohort"][data-percent="0.08"]').waitFor({ timeout: 15_000 });
      assert.match(await byTestId(page, 'caseload-cohort').textContent(), /care home 0\.08 %/);
      await goto(t, '#/scheme');
      await byTestId(page, 'scheme-return-summary').waitFor();

      // The month's return as CSV.
      const [download] = await Promise.all([page.waitForEvent('download'), byTestId(page, 'scheme-return-csv').click()]);
      const csv = await new Promise((resolve, reject) => {
        download.createReadStream().then((s) => { let out = ''; s.on('data', (c) => { out += c; }); s.on('end', () => resolve(out)); s.on('error', reject); }, reject);
      });
      assert.match(csv, /^measure,category,value\n/);
      assert.match(csv, /\nlist_size,,1200\n/);

      const found = [...await axeViolations(page), ...await smallTouchTargets(page)];
      assert.deepEqual(found, [], found.join('\n'));
      await env.screenshotAll('scheme-case-manager');
    } catch (e) {
      await env.screenshotAll('failure-scheme');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });

  test('a commissioner sees every practice\u2019s return and no patient', async () => {
    const t = await env.openTablet('commissioner', PORTRAIT);
    const { page } = t;
    try {
      await signIn(t, 'commissioner.demo', { waitFor: 'scheme-aggregate' });
      await page.locator('[data-testid="scheme-aggregate-table"] tbody tr').first().waitFor();
      const text = await page.locator('main').textContent();
      assert.match(text, /Ashbridge Medical Practice/);
      for (const p of caseload) {
        assert.ok(!text.includes(p.nhs_number) && !text.includes(p.name), `a patient is named on the commissioner's screen: ${p.name}`);
      }
      await goto(t, '#/');
      await byTestId(page, 'scheme-aggregate').waitFor();
      const found = [...await axeViolations(page), ...await smallTouchTargets(page)];
      assert.deepEqual(found, [], found.join('\n'));
      await env.screenshotAll('scheme-commissioner');
    } catch (e) {
      await env.screenshotAll('failure-commissioner');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });
});

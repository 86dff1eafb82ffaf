// When a plan's next review falls due, as the core reckons it: the interval after the
// plan was completed or last reviewed, annual after a move to the over-75 case review.
// The caseload badge, its review filters and the plan screen all show the core's date and
// state (overdue, due soon, not yet due), not a date the app worked out itself.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  axeViolations, byTestId, describeTablet, fill, goto, PORTRAIT, recordStep16, setup, signIn, smallTouchTargets, waitForCaseload, waitSaved,
} from './helpers.mjs';

let env;
let caseload;

// Today on the tablet's calendar (the tablets run in Europe/London).
function today() {
  return new Date().toLocaleDateString('en-CA', { timeZone: 'Europe/London' });
}

// `iso` plus `months` calendar months, the day kept where the month has it.
function addMonths(iso, months) {
  const [y, m, d] = iso.split('-').map(Number);
  const total = y * 12 + (m - 1) + months;
  const year = Math.floor(total / 12);
  const month = total % 12 + 1;
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return `${year}-${String(month).padStart(2, '0')}-${String(Math.min(d, last)).padStart(2, '0')}`;
}

async function badge(page, id) {
  return page.evaluate((pid) => {
    const b = document.querySelector(`[data-testid="caseload-item"][data-id="${pid}"] [data-testid="caseload-review"]`);
    return b ? { state: b.dataset.state, due: b.dataset.due, text: b.textContent } : null;
  }, id);
}

const shown = (page) => page.evaluate(() => [...document.querySelectorAll('[data-testid="caseload-item"]')].map((a) => a.dataset.id));

async function nextReview(page) {
  const el = byTestId(page, 'next-review-due');
  return { state: await el.getAttribute('data-state'), due: await el.getAttribute('data-due'), text: await el.textContent() };
}

describe('review due, from the core', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json;
  });
  after(async () => { await env?.close(); });

  test('completed, reviewed late, moved to annual review: caseload, filters and plan follow the core', async () => {
    const t = await env.openTablet('review-due', PORTRAIT);
    const { page } = t;
    const patient = caseload[1];
    try {
      await signIn(t, 'cm1.demo');
      await waitForCaseload(t, caseload.length);
      // Draft plans have no review due.
      assert.equal(await badge(page, patient.id), null);
      await goto(t, `#/plan/${encodeURIComponent(patient.id)}`);
      await byTestId(page, 'section-lifecycle').waitFor();
      assert.equal((await nextReview(page)).state, 'none');

      await fill(page, 'enrolment', { cohort: 'risk_tool', tier: 'mild', start_date: '2023-09-01', review_interval_months: '4' });
      await waitSaved(t, 'enrolment');
      await fill(page, 'case-manager', { name: 'Sam Carter', role: 'Community matron', phone: '01632 960001' });
      await waitSaved(t, 'case-manager');
      await fill(page, 'consent-full', { 'recipients-mdt': true, given_by: 'patient', consent_date: '2023-09-01' });
      await waitSaved(t, 'consent-full');
      await recordStep16(t, patient.id, '2023-09-01');
      await byTestId(page, 'mark-complete').click();
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor()
        .catch(async () => { throw new Error(`not completed: ${await byTestId(page, 'lifecycle-error').textContent()} ${await describeTablet(t)}`); });

      // Completed today: due in four months.
      const fourMonths = addMonths(today(), 4);
      let next = await nextReview(page);
      assert.deepEqual([next.state, next.due], ['not_yet_due', fourMonths], next.text);
      assert.match(next.text, /every 4 months/);

      // Reviewed long ago (recorded late): four months after that review is overdue.
      await byTestId(page, 'start-review').click();
      await page.locator('[data-testid="plan-status"][data-status="under_review"]').waitFor();
      await fill(page, 'review', { date: '2024-01-15', face_to_face: true, reviewer: 'Sam Carter', notes: 'Stable.', outcome: 'continue' });
      await waitSaved(t, 'review');
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();
      next = await nextReview(page);
      assert.deepEqual([next.state, next.due], ['overdue', '2024-05-15'], next.text);
      assert.match(next.text, /15 May 2024 — overdue by \d+ days/);
      const problems = [...await axeViolations(page), ...await smallTouchTargets(page)];
      assert.deepEqual(problems, [], problems.join('\n'));

      await goto(t, '#/');
      await waitForCaseload(t, caseload.length);
      let b = await badge(page, patient.id);
      assert.deepEqual([b?.state, b?.due], ['overdue', '2024-05-15'], JSON.stringify(b));
      assert.match(b.text, /Review overdue since 15 May 2024/);
      await byTestId(page, 'filter-review').selectOption('overdue');
      assert.deepEqual(await shown(page), [patient.id]);
      await byTestId(page, 'filter-review').selectOption('this_month');
      assert.deepEqual(await shown(page), []);
      await byTestId(page, 'filter-review').selectOption('');

      // Reviewed today and moved to the annual over-75 case review: due in a year.
      await goto(t, `#/plan/${encodeURIComponent(patient.id)}`);
      await byTestId(page, 'start-review').click();
      await page.locator('[data-testid="plan-status"][data-status="under_review"]').waitFor();
      await fill(page, 'review', { date: today(), face_to_face: true, reviewer: 'Sam Carter', notes: 'Over 75, stable.', outcome: 'move_to_annual_review' });
      await waitSaved(t, 'review');
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();
      next = await nextReview(page);
      assert.deepEqual([next.state, next.due], ['not_yet_due', addMonths(today(), 12)], next.text);
      assert.match(next.text, /annual over-75 case review/);

      await goto(t, '#/');
      await waitForCaseload(t, caseload.length);
      b = await badge(page, patient.id);
      assert.deepEqual([b?.state, b?.due], ['not_yet_due', addMonths(today(), 12)], JSON.stringify(b));
      await byTestId(page, 'filter-review').selectOption('overdue');
      assert.deepEqual(await shown(page), []);
    } catch (e) {
      await env.screenshotAll('failure-review-due');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });
});

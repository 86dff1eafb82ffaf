// The conflicts inbox, the plan lifecycle and the caseload filters.
//
// Two case managers set DNACPR differently while offline; back online both tablets list
// the conflict with who set each value, one resolves it and both converge. The same plan
// is then enrolled, refused completion with the core's reasons, completed, reviewed, and
// found through the caseload filters.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { axeViolations, byTestId, describeTablet, goto, setup, signIn, smallTouchTargets, waitForCaseload } from './helpers.mjs';

let env;
let caseload;
let patient;
const tablets = {};

async function openPlan(tablet, id) {
  await tablet.page.locator(`[data-testid="caseload-item"][data-id="${id}"]`).waitFor({ timeout: 30_000 });
  await goto(tablet, `#/plan/${encodeURIComponent(id)}`);
  await byTestId(tablet.page, 'section-lifecycle').waitFor();
}

async function waitSaved(tablet, key) {
  const { page } = tablet;
  await page.waitForFunction((k) => {
    const s = document.querySelector(`[data-testid="${k}-saved"]`)?.dataset.state;
    return s === 'saved' || s === 'error';
  }, key, { timeout: 10_000 });
  const error = await byTestId(page, `${key}-error`).textContent();
  assert.equal(await byTestId(page, `${key}-saved`).getAttribute('data-state'), 'saved', `${tablet.label}: ${key} not saved: ${error}`);
}

async function setOffline(tablet, offline) {
  await tablet.context.setOffline(offline);
  await tablet.page.waitForFunction((s) => document.querySelector('[data-testid="sync-state"]')?.dataset.state === s,
    offline ? 'offline' : 'online', { timeout: 30_000 });
}

// Fills a form built by sections.js: { name: value } by its controls' test ids.
async function fill(page, key, values) {
  const details = page.locator(`[data-testid="${key}-details"]`);
  if (await details.count() && !(await details.evaluate((d) => d.open))) await byTestId(page, `${key}-open`).click();
  for (const [name, value] of Object.entries(values)) {
    const el = byTestId(page, `${key}-${name}`);
    const tag = await el.evaluate((e) => `${e.tagName}:${e.type || ''}`);
    if (tag.startsWith('SELECT')) await el.selectOption(String(value));
    else if (tag === 'INPUT:checkbox') await el.setChecked(!!value);
    else await el.fill(String(value));
  }
  await byTestId(page, `${key}-save`).click();
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

      await a.page.locator('[data-testid="conflict-value"]', { hasText: 'do not attempt CPR' }).locator('[data-testid="conflict-keep"]').click();
      await waitSaved(a, 'conflict');
      for (const t of [a, b]) {
        await t.page.waitForFunction(() => document.querySelector('[data-testid="section-conflicts"]').hidden
          && document.querySelector('[data-testid="dnacpr-select"]').value === 'do_not_attempt_cpr', null, { timeout: 30_000 })
          .catch(async () => { throw new Error(`${t.label} did not converge on the resolved value ${await describeTablet(t)}`); });
      }
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
      await byTestId(page, 'mark-complete').click();
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();

      await byTestId(page, 'start-review').click();
      await page.locator('[data-testid="plan-status"][data-status="under_review"]').waitFor();
      await fill(page, 'review', {
        date: '2020-01-01', face_to_face: true, reviewer: 'Sam Carter', notes: 'Stable.', outcome: 'continue', next_review_due: '2020-05-01',
      });
      await waitSaved(t, 'review');
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();
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
});

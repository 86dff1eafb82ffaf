// A full home visit with no signal: the tablet is offline from the moment the case
// manager unlocks it in the patient's home. They find the patient whose review is
// overdue, start the review, change the medications, capture the patient's consent
// again (now to out-of-hours and A&E as well), reload the tab half-way (nothing is lost),
// record the review, and only then get a signal back. The server's copy of the plan,
// read through the API, holds all of it.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  byTestId, describeTablet, fill, goto, LANDSCAPE, PIN, recordStep16, setOffline, setup, signIn, unlock, waitForCaseload, waitSaved,
} from './helpers.mjs';

let env;
let caseload;

async function synced(tablet) {
  await tablet.page.waitForFunction(() => document.querySelector('[data-testid="sync-state"]')?.dataset.state === 'online'
    && document.querySelector('[data-testid="sync-pending"]')?.dataset.count === '0', null, { timeout: 30_000 });
}

async function openFromCaseload(tablet, id) {
  await tablet.page.locator(`[data-testid="caseload-item"][data-id="${id}"]`).click();
  await byTestId(tablet.page, 'section-lifecycle').waitFor();
}

describe('a home visit with no signal', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json;
  });
  after(async () => { await env?.close(); });

  test('review, medications and consent recorded offline, through a reload, reach the server', async () => {
    const t = await env.openTablet('visit', LANDSCAPE);
    const { page } = t;
    const patient = caseload[2];
    try {
      // Before the visit (at the practice, online): the plan is complete and was last
      // reviewed in January, with the next review set for May, so it is overdue now.
      await signIn(t, 'cm1.demo');
      await waitForCaseload(t, caseload.length);
      await goto(t, `#/plan/${encodeURIComponent(patient.id)}`);
      await byTestId(page, 'section-lifecycle').waitFor();
      await fill(page, 'enrolment', { cohort: 'risk_tool', tier: 'moderate', start_date: '2025-06-01', review_interval_months: '4' });
      await waitSaved(t, 'enrolment');
      await fill(page, 'case-manager', { name: 'Sam Carter', role: 'Community matron', phone: '01632 960001' });
      await waitSaved(t, 'case-manager');
      await fill(page, 'consent-full', { 'recipients-mdt': true, 'recipients-ambulance': true, given_by: 'patient', consent_date: '2025-06-01' });
      await waitSaved(t, 'consent-full');
      await recordStep16(t, patient.id, '2025-06-01');
      await byTestId(page, 'mark-complete').click();
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();
      await byTestId(page, 'start-review').click();
      await page.locator('[data-testid="plan-status"][data-status="under_review"]').waitFor();
      await fill(page, 'review', { date: '2026-01-05', face_to_face: true, reviewer: 'Sam Carter', notes: 'Stable.', outcome: 'continue', next_review_due: '2026-05-05' });
      await waitSaved(t, 'review');
      await synced(t);
      await goto(t, '#/');

      // In the patient's home: no signal. The tablet locked on the way; the PIN opens it.
      await setOffline(t, true);
      await byTestId(page, 'lock').click();
      await unlock(t, PIN);
      await waitForCaseload(t, caseload.length);
      await byTestId(page, 'filter-review').selectOption('overdue');
      await page.waitForFunction((id) => {
        const shown = [...document.querySelectorAll('[data-testid="caseload-item"]')].map((a) => a.dataset.id);
        return shown.length === 1 && shown[0] === id;
      }, patient.id, { timeout: 10_000 });
      await openFromCaseload(t, patient.id);

      // The review, guided: start it, change the medications, capture consent.
      await byTestId(page, 'start-review').click();
      await byTestId(page, 'review-guide').waitFor();
      await byTestId(page, 'review-go-medications').click();
      if (!(await byTestId(page, 'medication-details').evaluate((d) => d.open))) await byTestId(page, 'medication-open').click();
      await byTestId(page, 'medication-name').fill('Furosemide');
      await byTestId(page, 'medication-dose').fill('40 mg each morning');
      await byTestId(page, 'medication-add').click();
      await waitSaved(t, 'medications');
      await fill(page, 'consent-full', {
        'recipients-mdt': true, 'recipients-ambulance': true, 'recipients-out_of_hours': true, 'recipients-emergency_department': true,
        given_by: 'patient', consent_date: '2026-11-20',
      });
      await waitSaved(t, 'consent-full');

      // Half-way, the tab reloads (still no signal): nothing typed and saved is lost.
      await page.reload();
      await unlock(t, PIN);
      await goto(t, `#/plan/${encodeURIComponent(patient.id)}`);
      await page.locator('[data-testid="plan-status"][data-status="under_review"]').waitFor();
      assert.match(await byTestId(page, 'section-medications').textContent(), /Furosemide/);
      assert.match(await byTestId(page, 'section-consent-full').textContent(), /Out-of-hours service/);

      // Findings and outcome finish the review.
      await byTestId(page, 'review-go-record').click();
      await fill(page, 'review', {
        date: '2026-11-20', face_to_face: true, reviewer: 'Sam Carter', attendees: 'Patient and daughter',
        notes: 'Ankles more swollen; breathless on the stairs. Started furosemide.', outcome: 'continue',
      });
      await waitSaved(t, 'review');
      await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();
      assert.ok(Number(await byTestId(page, 'sync-pending').getAttribute('data-count')) > 0, 'nothing waiting to upload after an offline visit');

      // Signal again: everything uploads, and the server's plan holds all of it.
      await setOffline(t, false);
      await synced(t);
      const bundle = await env.api('GET', `/api/v1/patients/${encodeURIComponent(patient.id)}/fhir`, { token: await env.apiLogin('cm1.demo') });
      assert.equal(bundle.status, 200, bundle.text);
      for (const text of ['Furosemide', '40 mg each morning', 'Started furosemide', 'Review 2026-11-20', '2026-11-20']) {
        assert.ok(bundle.text.includes(text), `the server's plan lacks "${text}"`);
      }
      const consent = bundle.json.entry.map((e) => e.resource).filter((r) => r.resourceType === 'Consent' && r.status === 'active');
      assert.ok(consent.length > 0, 'no active consent on the server');
      // Every recipient category is a provision; those the patient agreed to are permits.
      const permitted = [];
      const walk = (v) => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') {
          if (v.type === 'permit' && Array.isArray(v.actor)) permitted.push(...v.actor.map((a) => a.reference?.display));
          Object.values(v).forEach(walk);
        }
      };
      walk(consent);
      assert.deepEqual([...permitted].sort(), ['A&E', 'MDT', 'ambulance', 'out-of-hours'], JSON.stringify(consent).slice(0, 1500));
      const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
      const row = listing.json.find((p) => p.id === patient.id);
      assert.equal(row.last_updated.user_name, 'Sam Carter (demo)');
    } catch (e) {
      await env.screenshotAll('failure-home-visit');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });
});

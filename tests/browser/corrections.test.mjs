// Correcting entries in place: each entry of the plan's lists has an "Edit" action that
// opens a form filled from the entry; saving sends the core's update op with the fields
// changed, the entry shows who corrected it and when, and an invalid correction is
// refused inline by the core with nothing changed. The server ends up holding the
// corrections.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  axeViolations, byTestId, describeTablet, fill, goto, horizontalOverflow, LANDSCAPE, setup, signIn, smallTouchTargets, waitForCaseload, waitSaved,
} from './helpers.mjs';

let env;
let caseload;

const item = (page, testid, text) => page.locator(`[data-testid="${testid}"]`, { hasText: text });

// Opens the correction form of the entry `testid` showing `text`, checks it is filled
// from the entry (`expect`), fills `values` and saves.
async function correct(page, testid, text, expect, values) {
  const entry = item(page, testid, text);
  await entry.locator(`[data-testid="${testid}-edit"]`).click();
  const form = entry.locator(`[data-testid="${testid}-edit-form"]`);
  await form.waitFor();
  for (const [name, value] of Object.entries(expect)) {
    assert.equal(await form.locator(`[data-testid="${testid}-edit-${name}"]`).inputValue(), value, `${testid} form: ${name}`);
  }
  for (const [name, value] of Object.entries(values)) {
    const el = form.locator(`[data-testid="${testid}-edit-${name}"]`);
    if (await el.evaluate((e) => e.tagName === 'SELECT')) await el.selectOption(value);
    else await el.fill(value);
  }
  await form.locator(`[data-testid="${testid}-edit-save"]`).click();
}

async function corrected(page, testid, text) {
  const note = item(page, testid, text).locator(`[data-testid="${testid}-corrected"]`);
  await note.waitFor();
  assert.match(await note.textContent(), /^Corrected by Sam Carter \(demo\), \d+ \w+ \d{4}/);
  assert.equal(await item(page, testid, text).locator(`[data-testid="${testid}-edit-form"]`).count(), 0, `${testid}: the form stayed open`);
}

describe('correcting entries in place', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json;
  });
  after(async () => { await env?.close(); });

  test('every list\'s entries are corrected with the update ops, attributed, and kept by the server', async () => {
    const t = await env.openTablet('corrections', LANDSCAPE);
    const { page } = t;
    const patient = caseload[2];
    try {
      await signIn(t, 'cm1.demo');
      await waitForCaseload(t, caseload.length);
      await goto(t, `#/plan/${encodeURIComponent(patient.id)}`);
      await byTestId(page, 'section-medications').waitFor();

      // Medication (first screens' list): a wrong dose corrected.
      await byTestId(page, 'medication-open').click();
      await byTestId(page, 'medication-name').fill('Bisoprolol');
      await byTestId(page, 'medication-dose').fill('2.5 mg once a day');
      await byTestId(page, 'medication-add').click();
      await waitSaved(t, 'medications');
      await correct(page, 'medication-item', 'Bisoprolol', { name: 'Bisoprolol', dose: '2.5 mg once a day' }, { dose: '5 mg once a day' });
      await waitSaved(t, 'medications');
      await corrected(page, 'medication-item', 'Bisoprolol — 5 mg once a day');

      // An invalid correction is refused inline by the core and changes nothing.
      await correct(page, 'medication-item', 'Bisoprolol', { dose: '5 mg once a day' }, { name: '' });
      await page.waitForFunction(() => document.querySelector('[data-testid="medications-saved"]')?.dataset.state === 'error');
      assert.notEqual(await byTestId(page, 'medications-error').textContent(), '');
      assert.equal(await item(page, 'medication-item', 'Bisoprolol — 5 mg once a day').count(), 1);
      const problems = [...await axeViolations(page), ...await smallTouchTargets(page), await horizontalOverflow(page)].filter(Boolean);
      assert.deepEqual(problems, [], problems.join('\n'));
      await item(page, 'medication-item', 'Bisoprolol').locator('[data-testid="medication-item-edit-cancel"]').click();
      await item(page, 'medication-item', 'Bisoprolol').locator('[data-testid="medication-item-edit"]').waitFor();

      // Condition and key contact.
      await byTestId(page, 'condition-open').click();
      await byTestId(page, 'condition-name').fill('Heart failure');
      await byTestId(page, 'condition-treatment').fill('Diuretics');
      await byTestId(page, 'condition-add').click();
      await waitSaved(t, 'conditions');
      await correct(page, 'condition-item', 'Heart failure', { name: 'Heart failure', treatment: 'Diuretics' }, { treatment: 'Diuretics; daily weights' });
      await waitSaved(t, 'conditions');
      await corrected(page, 'condition-item', 'Heart failure');
      assert.match(await item(page, 'condition-item', 'Heart failure').textContent(), /daily weights/);

      await byTestId(page, 'contact-open').click();
      await byTestId(page, 'contact-role').fill('key safe');
      await byTestId(page, 'contact-name').fill('Key safe by the back door');
      await byTestId(page, 'contact-phone').fill('0000');
      await byTestId(page, 'contact-add').click();
      await waitSaved(t, 'contacts');
      await correct(page, 'contact-item', 'Key safe by the back door', { phone: '0000' }, { phone: '4821' });
      await waitSaved(t, 'contacts');
      await corrected(page, 'contact-item', 'Key safe by the back door');

      // The rest of the plan's lists.
      await fill(page, 'allergy', { substance: 'Penicillin', reaction: 'Rash', severity: 'mild' });
      await waitSaved(t, 'allergy');
      await correct(page, 'allergy-item', 'Penicillin', { severity: 'mild', reaction: 'Rash' }, { severity: 'severe', reaction: 'Anaphylaxis' });
      await waitSaved(t, 'allergies-list');
      await corrected(page, 'allergy-item', 'Penicillin — Severe');

      await fill(page, 'team', { kind: 'member', role: 'District nurse', name: 'Ann Lee', phone: '01632 960100' });
      await waitSaved(t, 'team');
      await correct(page, 'team-item', 'Ann Lee', { kind: 'member', phone: '01632 960100' }, { phone: '01632 960101', hours: 'Mon–Fri 8–6' });
      await waitSaved(t, 'care-team-list');
      await corrected(page, 'team-item', 'Ann Lee');

      await fill(page, 'personal', { relationship: 'next_of_kin', name: 'Mary Jones', phone: '07700 900001' });
      await waitSaved(t, 'personal');
      await correct(page, 'personal-item', 'Mary Jones', { relationship: 'next_of_kin' }, { phone: '07700 900002' });
      await waitSaved(t, 'key-contacts-list');
      await corrected(page, 'personal-item', 'Mary Jones');

      await fill(page, 'anticipatory', { name: 'Morphine sulfate', dose: '2.5 mg sc', location: 'Fridge' });
      await waitSaved(t, 'anticipatory');
      await correct(page, 'anticipatory-item', 'Morphine sulfate', { location: 'Fridge' }, { location: 'Red folder box' });
      await waitSaved(t, 'medications-list');
      await corrected(page, 'anticipatory-item', 'Morphine sulfate');

      await fill(page, 'escalation', { condition: 'COPD', plan: 'Start rescue pack', rescue_pack: 'Pred and amox' });
      await waitSaved(t, 'escalation');
      await correct(page, 'escalation-item', 'COPD', { condition: 'COPD' }, { rescue_pack: 'Prednisolone 30 mg, amoxicillin 500 mg' });
      await waitSaved(t, 'escalation-plans-list');
      await corrected(page, 'escalation-item', 'Prednisolone 30 mg');

      await fill(page, 'goal', { what_matters: 'Garden', goal: 'Walk to the garden', owner: 'Physio' });
      await waitSaved(t, 'goal');
      await correct(page, 'goal-item', 'Walk to the garden', { owner: 'Physio' }, { owner: 'Community physio' });
      await waitSaved(t, 'goals-list');
      await corrected(page, 'goal-item', 'Community physio');

      // Uploaded: the server's plan holds the corrections.
      await page.waitForFunction(() => document.querySelector('[data-testid="sync-pending"]')?.dataset.count === '0', null, { timeout: 30_000 });
      const bundle = await env.api('GET', `/api/v1/patients/${encodeURIComponent(patient.id)}/fhir`, { token: await env.apiLogin('cm1.demo') });
      assert.equal(bundle.status, 200, bundle.text);
      for (const text of ['5 mg once a day', 'daily weights', 'Anaphylaxis', '07700 900002', 'Community physio']) {
        assert.ok(bundle.text.includes(text), `the server's plan lacks "${text}"`);
      }
    } catch (e) {
      await env.screenshotAll('failure-corrections');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });
});

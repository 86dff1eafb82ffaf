// Changes the server did not accept. An MDT member may not change DNACPR (the server's
// write rules, crates/server/src/access.rs), so a DNACPR change made on an MDT member's
// tablet is refused by the real server, and so is the medication added after it on the
// same tablet while offline (it is built on the refused change). The app puts the plan
// back to the server's state and shows both with their reasons, who made them and what
// they were; the medication is made again (and this time the server keeps it), the
// DNACPR change is dismissed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  axeViolations, byTestId, describeTablet, goto, horizontalOverflow, PORTRAIT, setOffline, setup, signIn, smallTouchTargets, unlock, waitSaved,
} from './helpers.mjs';

let env;

async function waitUploaded(tablet) {
  await tablet.page.waitForFunction(
    () => document.querySelector('[data-testid="sync-pending"]')?.dataset.count === '0', null, { timeout: 30_000 },
  ).catch(async () => { throw new Error(`${tablet.label} never uploaded ${await describeTablet(tablet)}`); });
}

const refusedItems = (page) => page.evaluate(() => [...document.querySelectorAll('[data-testid="refused-item"]')].map((li) => ({
  hash: li.dataset.hash,
  reason: li.querySelector('[data-testid="refused-reason"]').textContent,
  by: li.querySelector('[data-testid="refused-by"]').textContent,
  edits: [...li.querySelectorAll('[data-testid="refused-edit"]')].map((e) => e.textContent),
})));

describe('changes the server refused', () => {
  before(async () => { env = await setup(); });
  after(async () => { await env?.close(); });

  test('an MDT member sees a refused DNACPR change, makes the medication again and dismisses the rest', async () => {
    const t = await env.openTablet('mdt-refused', PORTRAIT);
    const { page } = t;
    try {
      await signIn(t, 'mdt.demo');
      const first = page.locator('[data-testid="caseload-item"]').first();
      await first.waitFor({ timeout: 30_000 });
      const id = await first.getAttribute('data-id');
      await first.click();
      await byTestId(page, 'dnacpr-select').waitFor();
      // The refused panel only shows when there is something to show.
      assert.equal(await byTestId(page, 'section-refused').isVisible(), false);
      const before = await byTestId(page, 'dnacpr-select').getAttribute('data-value');
      const other = before === 'do_not_attempt_cpr' ? 'for_attempted_cpr' : 'do_not_attempt_cpr';

      await setOffline(t, true);
      await byTestId(page, 'dnacpr-select').selectOption(other);
      await waitSaved(t, 'dnacpr');
      await byTestId(page, 'medication-open').click();
      await byTestId(page, 'medication-name').fill('Refusotin');
      await byTestId(page, 'medication-dose').fill('5 mg at night');
      await byTestId(page, 'medication-add').click();
      await waitSaved(t, 'medications');
      assert.equal(await byTestId(page, 'dnacpr-select').getAttribute('data-value'), other);

      await setOffline(t, false);
      await page.locator('[data-testid="section-refused"][data-count="2"]').waitFor({ timeout: 30_000 });
      let items = await refusedItems(page);
      assert.equal(items.length, 2, JSON.stringify(items));
      const [dnacpr, medication] = items;
      assert.match(dnacpr.reason, /DNACPR/, dnacpr.reason);
      assert.match(dnacpr.by, /Made by .+, \d+ \w+ \d{4}/, dnacpr.by);
      assert.equal(dnacpr.edits.length, 1);
      assert.match(dnacpr.edits[0], /Set the DNACPR status — status: /);
      assert.doesNotMatch(dnacpr.reason, /[0-9a-f]{16}/, "the reason names the change by its hash");
      assert.match(medication.reason, /built on/i, medication.reason);
      assert.match(medication.edits[0], /Add a medication — name: Refusotin; dose: 5 mg at night/);
      // The plan went back to what the server holds.
      await page.locator(`[data-testid="dnacpr-select"][data-value="${before}"]`).waitFor();
      assert.equal(await page.locator('[data-testid="medication-item"]', { hasText: 'Refusotin' }).count(), 0);
      // The server's reason names the change by a long hash; the portrait page must not
      // scroll sideways for it.
      const problems = [...await axeViolations(page), ...await smallTouchTargets(page), await horizontalOverflow(page)].filter(Boolean);
      assert.deepEqual(problems, [], problems.join('\n'));

      // The sync bar says so on every screen and leads to the plan.
      const syncLink = page.locator('[data-testid="sync-refused"]:not([hidden])');
      assert.match(await syncLink.textContent(), /2 changes not accepted/);

      // The caseload says so too, and the records survive a reload.
      await goto(t, '#/');
      const badge = page.locator(`[data-testid="caseload-item"][data-id="${id}"] [data-testid="caseload-refused"]`);
      await badge.waitFor();
      assert.match(await badge.textContent(), /2 changes not accepted/);
      await page.reload();
      await unlock(t);
      await badge.waitFor();
      await syncLink.click();
      await byTestId(page, 'dnacpr-select').waitFor();
      await page.locator('[data-testid="section-refused"][data-count="2"]').waitFor();

      // Make the medication again: allowed for an MDT member, so the server keeps it.
      await page.locator(`[data-testid="refused-item"][data-hash="${medication.hash}"] [data-testid="refused-reapply"]`).click();
      await waitSaved(t, 'refused');
      await page.locator('[data-testid="section-refused"][data-count="1"]').waitFor();
      await page.locator('[data-testid="medication-item"]', { hasText: 'Refusotin' }).waitFor();
      await waitUploaded(t);
      items = await refusedItems(page);
      assert.deepEqual(items.map((i) => i.hash), [dnacpr.hash], 'only the DNACPR change is left');

      // Dismiss the DNACPR change: the panel and the badge go.
      await page.locator(`[data-testid="refused-item"][data-hash="${dnacpr.hash}"] [data-testid="refused-dismiss"]`).click();
      await page.waitForFunction(() => document.querySelector('[data-testid="section-refused"]').hidden);
      assert.equal(await byTestId(page, 'dnacpr-select').getAttribute('data-value'), before);
      await page.waitForFunction(() => document.querySelector('[data-testid="sync-refused"]').hidden);
      await goto(t, '#/');
      await page.locator(`[data-testid="caseload-item"][data-id="${id}"]`).waitFor();
      assert.equal(await badge.count(), 0);

      // The server holds the medication made again, and not the refused DNACPR.
      const token = await env.apiLogin('mdt.demo');
      const bundle = await env.api('GET', `/api/v1/patients/${encodeURIComponent(id)}/fhir`, { token });
      assert.equal(bundle.status, 200, bundle.text);
      assert.match(bundle.text, /Refusotin/);
    } catch (e) {
      await env.screenshotAll('failure-refused');
      throw new Error(`${e.message}${await describeTablet(t)}${env.serverLogs()}`, { cause: e });
    }
  });
});

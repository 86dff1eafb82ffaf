// A tablet's first sync of a caseload of 200 plans (fetched whole, as snapshots) is
// interrupted by reloads at several points, one of them offline. After each reload every
// plan counted as received is still on the tablet (offline too), and at the end every
// plan's document is exactly the server's: the same version (document heads) as on a
// tablet that synced without interruption.
//
// A relay between page and server admits the plans in stages, so each reload really falls
// in the middle of the sync, however fast the machine.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  byTestId, describeTablet, PIN, PORTRAIT, relay, setOffline, setup, signIn, unlock, waitForCaseload,
} from './helpers.mjs';
import { fillCaseload } from './caseload-fixture.mjs';

const PLANS = 200;
let env;

async function received(page) {
  return page.evaluate(() => Number(document.querySelector('[data-testid="caseload-progress"]')?.dataset.received ?? 0));
}

async function versions(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-testid="caseload-item"]')]
    .map((a) => [a.dataset.id, a.dataset.version])));
}

describe('a first sync of 200 plans', () => {
  before(async () => {
    env = await setup();
    await fillCaseload(env, PLANS);
  });
  after(async () => { await env?.close(); });

  test('survives reloads at several points, offline too, and ends with every plan as the server holds it', async () => {
    const t = await env.openTablet('first-sync-200', PORTRAIT);
    const { state, ready } = relay(t.context);
    await ready;
    const admitted = new Set();
    let limit = 0;
    state.allow = (info) => {
      if (!info.docId || admitted.has(info.docId)) return true;
      if (admitted.size < limit) { admitted.add(info.docId); return true; }
      return false;
    };
    // A reload after `saved` plans are saved; the next stage admits up to `next`.
    const stages = [
      { saved: 30, offline: false, next: 90 },
      { saved: 90, offline: true, next: 150 },
      { saved: 150, offline: false, next: PLANS },
    ];
    try {
      limit = stages[0].saved;
      await signIn(t, 'cm1.demo', { waitFor: 'caseload-search' });
      for (const stage of stages) {
        await t.page.waitForFunction((n) => Number(document.querySelector('[data-testid="caseload-progress"]')?.dataset.received) >= n,
          stage.saved, { timeout: 120_000 });
        const before = await received(t.page);
        // The reload: frames in flight are dropped with the page.
        state.allow = () => false;
        for (const c of state.connections) c.held.length = 0;
        state.connections.length = 0;
        if (stage.offline) await setOffline(t, true);
        await t.page.reload();
        await unlock(t, PIN);
        await byTestId(t.page, 'caseload-progress').waitFor();
        const after = await received(t.page);
        assert.ok(after >= before, `${before} plans were received before the reload, ${after} after it`);
        assert.equal(await t.page.locator('[data-testid="caseload-item"]').count(), after,
          'every plan counted as received is listed (and readable) after the reload');
        limit = stage.next;
        state.allow = (info) => {
          if (!info.docId || admitted.has(info.docId)) return true;
          if (admitted.size < limit) { admitted.add(info.docId); return true; }
          return false;
        };
        if (stage.offline) await setOffline(t, false);
      }
      await waitForCaseload(t, PLANS, 300_000);
      await t.page.waitForFunction(() => document.querySelector('[data-testid="caseload-progress"]')?.hidden === true,
        null, { timeout: 300_000 });

      // The reference: a tablet that syncs the same caseload without interruption.
      const reference = await env.openTablet('first-sync-reference', PORTRAIT);
      await signIn(reference, 'cm2.demo');
      await waitForCaseload(reference, PLANS, 300_000);
      await reference.page.waitForFunction(() => document.querySelector('[data-testid="caseload-progress"]')?.hidden === true,
        null, { timeout: 300_000 });
      const mine = await versions(t.page);
      const theirs = await versions(reference.page);
      assert.equal(Object.keys(mine).length, PLANS);
      assert.deepEqual(mine, theirs, 'a plan on the interrupted tablet differs from the server\'s');
      assert.ok(Object.values(mine).every((v) => v && v.length >= 64), 'a plan without a version');

      // And offline, once more: everything is on the device.
      await setOffline(t, true);
      await t.page.reload();
      await unlock(t, PIN);
      await waitForCaseload(t, PLANS, 60_000);
      assert.deepEqual(await versions(t.page), theirs);
      await setOffline(t, false);
    } catch (e) {
      await env.screenshotAll('failure-first-sync-200');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });
});

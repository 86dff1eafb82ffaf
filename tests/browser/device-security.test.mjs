// Protecting the data on the tablet: everything stored is encrypted under a key the PIN
// unlocks; the app locks when idle and unlocks offline; five wrong PINs erase it.
//
// The storage test reads IndexedDB, localStorage, sessionStorage and Cache Storage raw
// from inside the page and looks for every demo patient's name and NHS number. Automerge
// compresses large columns, so plaintext documents would not necessarily show a name as
// bytes: the search also inflates every deflate stream found at any offset, and the same
// search run on the sync traffic (which is not encrypted at rest, only in transit) must
// find the names, proving the search would catch them.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  byTestId, describeTablet, dumpStorage, findPlaintext, goto, PIN, PORTRAIT, setup, signIn, unlock, unpackFrames, waitForCaseload,
  waitStored,
} from './helpers.mjs';

const AUTOMERGE_MAGIC = Buffer.from([0x85, 0x6f, 0x4a, 0x83]);
const SEALED_V1 = 1;
const NONCE_LEN = 12;
const TAG_LEN = 16;

let env;
let caseload; // the demo caseload as the server lists it

function needlesOf(patients) {
  return patients.flatMap((p) => [
    p.name,
    p.nhs_number,
    `${p.nhs_number.slice(0, 3)} ${p.nhs_number.slice(3, 6)} ${p.nhs_number.slice(6)}`,
  ]);
}

async function addMedication(tablet, name) {
  const { page } = tablet;
  if (!(await byTestId(page, 'medication-details').evaluate((d) => d.open))) await byTestId(page, 'medication-open').click();
  await byTestId(page, 'medication-name').fill(name);
  await byTestId(page, 'medication-dose').fill('1 tablet');
  await byTestId(page, 'medication-add').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="medications-saved"]')?.dataset.state === 'saved');
}

async function waitFullySynced(tablet) {
  await tablet.page.waitForFunction(() => {
    const p = document.querySelector('[data-testid="sync-pending"]');
    return document.querySelector('[data-testid="sync-state"]')?.dataset.state === 'online' && p?.dataset.count === '0';
  }, null, { timeout: 30_000 });
}

function docRecord(dump, id) {
  return dump.records.find((r) => r.store === 'docs' && r.key === id);
}

describe('data on the tablet', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json;
    assert.ok(caseload.length >= 10, `demo caseload too small: ${listing.text.slice(0, 300)}`);
  });
  after(async () => { await env?.close(); });

  test('nothing about a patient is readable in the tablet\'s storage', async () => {
    const t = await env.openTablet('storage', PORTRAIT);
    // Stand between the app and the server to keep what the server sent: the control.
    const received = [];
    await t.context.routeWebSocket(/\/api\/v1\/sync/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => server.send(m));
      server.onMessage((m) => { received.push(...unpackFrames(m)); ws.send(m); });
    });
    try {
      await signIn(t, 'cm1.demo');
      await waitForCaseload(t, caseload.length);
      const patient = caseload[0];
      await goto(t, `#/plan/${encodeURIComponent(patient.id)}`);
      await byTestId(t.page, 'exacerbation-plan').waitFor();
      // An edit naming the patient, so the stored document certainly holds new text.
      await addMedication(t, `Paracetamol for ${patient.name}`);
      await waitFullySynced(t);

      const first = await dumpStorage(t.page);
      const needles = [...needlesOf(caseload), 'Sam Carter', 'Paracetamol for'];

      // Control: the same search finds the patients in what came over the wire.
      const wire = new Set();
      for (const frame of received) {
        for (const hit of findPlaintext(frame, needlesOf(caseload))) wire.add(hit.replace(/ \(.*$/, ''));
        if (wire.size >= caseload.length) break;
      }
      assert.ok(wire.size >= caseload.length,
        `the plaintext search found only ${wire.size} names/numbers in the sync traffic; it cannot be trusted: ${[...wire].slice(0, 5)}`);

      const leaks = [];
      for (const r of first.records) {
        for (const bytes of [r.bytes, ...r.inner]) {
          for (const hit of findPlaintext(bytes, needles)) leaks.push(`${r.db}/${r.store}/${r.key}: ${hit}`);
          if (bytes.includes(AUTOMERGE_MAGIC)) leaks.push(`${r.db}/${r.store}/${r.key}: an Automerge document in the clear`);
        }
        for (const n of needles) if (r.key.includes(n)) leaks.push(`${r.store} key ${r.key} names ${n}`);
      }
      for (const [k, v] of Object.entries({ ...first.local, ...first.session })) {
        for (const hit of findPlaintext(Buffer.from(`${k}=${v}`), needles)) leaks.push(`web storage ${k}: ${hit}`);
      }
      assert.deepEqual(leaks, [], `patient data readable on the tablet:\n${leaks.join('\n')}`);
      assert.deepEqual(first.local, {}, 'localStorage should hold nothing');
      assert.deepEqual(first.session, {}, 'sessionStorage should hold nothing');
      assert.deepEqual(first.cached.filter((u) => new URL(u).pathname.startsWith('/api/')), [], 'API responses cached');

      // Every document is one sealed value: format byte, nonce, ciphertext and tag.
      const docs = first.records.filter((r) => r.store === 'docs');
      assert.equal(docs.length, caseload.length, `expected ${caseload.length} stored plans, found ${docs.length}`);
      for (const r of docs) {
        assert.ok(r.binary !== null, `docs/${r.key} is not a byte string: ${r.json?.slice(0, 200)}`);
        assert.equal(r.bytes[0], SEALED_V1, `docs/${r.key} does not start with the sealed format byte`);
        assert.ok(r.bytes.length > 1 + NONCE_LEN + TAG_LEN + 100, `docs/${r.key} is too short to hold a plan`);
      }
      const meta = Object.fromEntries(first.records.filter((r) => r.store === 'meta').map((r) => [r.key, r]));
      assert.deepEqual(Object.keys(meta).sort(), ['actor', 'caseload', 'keyring', 'session']);
      for (const name of ['session', 'caseload']) assert.equal(meta[name].bytes[0], SEALED_V1, `meta/${name} is not sealed`);
      const keyring = JSON.parse(meta.keyring.json);
      assert.equal(keyring.kdf, 'PBKDF2-HMAC-SHA256');
      assert.equal(keyring.iterations, 600000);
      assert.equal(keyring.failed_attempts, 0);
      assert.ok(Buffer.from(keyring.salt.base64, 'base64').length >= 16, 'salt shorter than 16 bytes');
      assert.ok(!meta.keyring.json.includes(PIN), 'the PIN is stored');

      // A fresh nonce for every write: all differ, and rewriting a plan changes its nonce.
      const nonces = first.records.filter((r) => r.binary !== null && r.key !== 'actor')
        .map((r) => r.bytes.subarray(1, 1 + NONCE_LEN).toString('hex'));
      assert.equal(new Set(nonces).size, nonces.length, 'two stored values share a nonce');
      await addMedication(t, 'Senna');
      await waitFullySynced(t);
      const second = await dumpStorage(t.page);
      const before = docRecord(first, patient.id).bytes.subarray(1, 1 + NONCE_LEN);
      const after = docRecord(second, patient.id).bytes.subarray(1, 1 + NONCE_LEN);
      assert.notDeepEqual(after, before, 'the plan was rewritten with the same nonce');
    } catch (e) {
      await env.screenshotAll('failure-storage');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });

  test('the app locks when idle and unlocks with the PIN while offline', async () => {
    const t = await env.openTablet('idle', PORTRAIT);
    try {
      await signIn(t, 'cm2.demo');
      await waitForCaseload(t, caseload.length);
      await waitStored(t, caseload.length);
      // The idle time can only be shortened through the address, for tests. Four seconds
      // leaves a loaded machine time to tap a patient before the tablet locks.
      await t.page.goto(`${env.base}/?lock-after-ms=4000#/`);
      await unlock(t);
      // Taps count as use: open a plan from the caseload.
      const patient = caseload[3];
      await t.page.locator(`[data-testid="caseload-item"][data-id="${patient.id}"]`).click();
      await byTestId(t.page, 'plan-title').waitFor();
      assert.equal(await byTestId(t.page, 'plan-title').textContent(), patient.name);
      await t.context.setOffline(true);

      // Nobody touches the tablet: it locks, and the plan leaves the screen.
      await byTestId(t.page, 'unlock-form').waitFor({ timeout: 10_000 });
      assert.match(await byTestId(t.page, 'unlock-notice').textContent(), /without use/);
      const shown = await t.page.evaluate(() => document.body.innerText);
      assert.ok(!shown.includes(patient.name), 'the locked screen still shows the patient');
      assert.equal(await byTestId(t.page, 'sync-last').textContent(), 'Locked');

      // Offline, the PIN brings the same plan back.
      await unlock(t);
      await byTestId(t.page, 'plan-title').waitFor();
      assert.equal(await byTestId(t.page, 'plan-title').textContent(), patient.name);
      assert.equal(await byTestId(t.page, 'sync-state').getAttribute('data-state'), 'offline');
      // Activity keeps it open: typing for longer than the idle time does not lock it.
      const area = byTestId(t.page, 'exacerbation-plan');
      await area.click();
      for (let i = 0; i < 8; i++) {
        await t.page.keyboard.type('.', { delay: 10 });
        await t.page.waitForTimeout(600);
      }
      assert.equal(await byTestId(t.page, 'unlock-form').count(), 0, 'locked while the user was typing');
    } catch (e) {
      await env.screenshotAll('failure-idle');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });

  test('five wrong PINs erase the tablet, after saying how many attempts are left', async () => {
    const t = await env.openTablet('wrong-pin', PORTRAIT);
    const tryPin = async (pin) => {
      await byTestId(t.page, 'unlock-pin').fill(pin);
      await byTestId(t.page, 'unlock-submit').click();
    };
    const attemptsShown = async (left) => {
      await t.page.waitForFunction((n) => (document.querySelector('[data-testid="unlock-attempts"]')?.textContent || '').startsWith(`${n} attempt`), left, { timeout: 15_000 })
        .catch(async () => { throw new Error(`never showed ${left} attempts left: ${await byTestId(t.page, 'unlock-attempts').textContent()}`); });
    };
    try {
      await signIn(t, 'cm1.demo');
      await waitForCaseload(t, caseload.length);

      // Two wrong PINs, then the right one: the count starts again.
      await byTestId(t.page, 'lock').click();
      await tryPin('000000');
      await attemptsShown(4);
      await tryPin('111111');
      await attemptsShown(3);
      await unlock(t);
      await waitForCaseload(t, caseload.length);

      await byTestId(t.page, 'lock').click();
      await t.context.setOffline(true);
      for (const left of [4, 3, 2, 1]) {
        await tryPin('999999');
        await attemptsShown(left);
        assert.match(await byTestId(t.page, 'unlock-error').textContent(), /not right/);
      }
      assert.match(await byTestId(t.page, 'unlock-attempts').textContent(), /one more wrong PIN erases/);
      // The count survives a reload: reloading does not earn more guesses.
      await t.page.reload();
      await byTestId(t.page, 'unlock-pin').waitFor();
      assert.match(await byTestId(t.page, 'unlock-attempts').textContent(), /^1 attempt left/);

      await tryPin('999999');
      await byTestId(t.page, 'login-form').waitFor({ timeout: 15_000 });
      assert.match(await byTestId(t.page, 'login-notice').textContent(), /wrong PINs.*erased/);
      const dump = await dumpStorage(t.page);
      const left = dump.records.filter((r) => r.db === 'redfolder').map((r) => `${r.store}/${r.key}`);
      assert.deepEqual(left, ['meta/actor'], `data left after the erase: ${left}`);
      // Even the right PIN opens nothing now; a reload starts from sign-in.
      await t.page.reload();
      await byTestId(t.page, 'login-form').waitFor();
      assert.equal(await byTestId(t.page, 'unlock-form').count(), 0);
    } catch (e) {
      await env.screenshotAll('failure-wrong-pin');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });
});

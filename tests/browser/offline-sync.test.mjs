// End-to-end: two case managers edit the same plan offline on two tablets, reload,
// come back online and converge; the ambulance crew then reads the merged summary.
//
// Runs the real server binary (REDFOLDER_BIN, default target/debug/redfolder) on port 0
// with a temporary SQLite database, and Debian's Chromium through playwright-core.
// The web app must be built first (web/pkg from wasm-bindgen).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.resolve(repo, process.env.REDFOLDER_BIN || 'target/debug/redfolder');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const outputDir = path.join(repo, 'tests', 'browser', 'output');
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const CONVERGE_MS = 30_000;
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let server;
let browser;
let base;
const tablets = [];

// ---------------------------------------------------------------------------
// Server

function startServer() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'redfolder-browser-'));
  assert.ok(fs.existsSync(bin), `server binary not found at ${bin} (build it, or set REDFOLDER_BIN)`);
  assert.ok(fs.existsSync(path.join(repo, 'web', 'pkg', 'redfolder_wasm.js')),
    'web/pkg is missing: build the wasm crate and run wasm-bindgen first');
  const child = spawn(bin, [
    'serve', '--demo', '--bind', '127.0.0.1:0',
    '--database', `sqlite://${path.join(tmp, 't.db')}`,
    '--web-dir', path.join(repo, 'web'),
  ], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
  const logs = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { logs.stderr = (logs.stderr + d).slice(-20_000); });
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not print its address within 180 s\nstdout:\n${logs.stdout}\nstderr:\n${logs.stderr}`)), 180_000);
    child.stdout.on('data', (d) => {
      logs.stdout = (logs.stdout + d).slice(-20_000);
      const m = logs.stdout.match(/listening on (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1].replace(/\/$/, '')); }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code}, signal ${signal})\nstdout:\n${logs.stdout}\nstderr:\n${logs.stderr}`));
    });
  });
  return { child, logs, tmp, listening };
}

function serverLogs() {
  return server ? `--- server stderr (tail) ---\n${server.logs.stderr.slice(-4000)}` : '';
}

async function api(method, route, { token, body } = {}) {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, text, json };
}

async function apiLogin(username) {
  const r = await api('POST', '/api/v1/auth/login', { body: { username, password: 'demo' } });
  assert.equal(r.status, 200, `login as ${username}: ${r.status} ${r.text}`);
  return r.json.token;
}

// ---------------------------------------------------------------------------
// Tablets

async function openTablet(label, viewport) {
  const context = await browser.newContext({ viewport, serviceWorkers: 'allow' });
  const page = await context.newPage();
  const seen = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') seen.push(`[${m.type()}] ${m.text()}`); });
  page.on('pageerror', (e) => seen.push(`[pageerror] ${e.message}`));
  const tablet = { label, context, page, seen };
  tablets.push(tablet);
  return tablet;
}

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

async function signIn(tablet, username) {
  const { page } = tablet;
  await page.goto(`${base}/`);
  await byTestId(page, 'login-username').fill(username);
  await byTestId(page, 'login-password').fill('demo');
  await byTestId(page, 'login-submit').click();
  await byTestId(page, 'caseload-list').waitFor();
}

async function openPlan(tablet, id) {
  const { page } = tablet;
  // The caseload downloads after sign-in; wait for this patient's plan to arrive.
  await page.locator(`[data-testid="caseload-item"][data-id="${id}"]`).waitFor({ timeout: 30_000 });
  await page.evaluate((docId) => { location.hash = `#/plan/${encodeURIComponent(docId)}`; }, id);
  await byTestId(page, 'exacerbation-plan').waitFor();
}

async function waitSaved(tablet, section) {
  const line = byTestId(tablet.page, `${section}-saved`);
  try {
    await tablet.page.waitForFunction(
      (el) => el.dataset.state === 'saved' || el.dataset.state === 'error',
      await line.elementHandle(), { timeout: 10_000 });
  } catch (e) {
    throw new Error(`${tablet.label}: ${section} never showed "saved": ${await line.textContent()} ${await describeTablet(tablet)}`);
  }
  const state = await line.getAttribute('data-state');
  const error = await byTestId(tablet.page, `${section}-error`).textContent();
  assert.equal(state, 'saved', `${tablet.label}: saving ${section} failed: ${error}`);
}

/// What a tablet shows, for assertions and failure messages.
async function snapshot(tablet) {
  return tablet.page.evaluate(() => {
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    return {
      text: q('exacerbation-plan')?.value ?? null,
      dnacpr: q('dnacpr-select')?.value ?? null,
      medications: [...document.querySelectorAll('[data-testid="medication-item"]')].map((li) => li.querySelector('.entry-title')?.textContent),
      sync: q('sync-state')?.textContent,
      pending: q('sync-pending')?.textContent,
      last: q('sync-last')?.textContent,
      error: q('sync-error')?.hidden ? '' : q('sync-error')?.textContent,
      bootError: q('boot-error')?.textContent,
      hash: location.hash,
    };
  }).catch((e) => ({ unavailable: e.message }));
}

async function describeTablet(tablet) {
  return `\n${tablet.label} shows ${JSON.stringify(await snapshot(tablet), null, 1)}\n${tablet.label} console: ${tablet.seen.slice(-15).join('\n') || '(nothing)'}`;
}

async function typeAt(tablet, where, text) {
  const area = byTestId(tablet.page, 'exacerbation-plan');
  await area.click();
  await tablet.page.keyboard.press(where === 'start' ? 'Control+Home' : 'Control+End');
  await tablet.page.keyboard.type(text, { delay: 15 });
  await waitSaved(tablet, 'exacerbation');
}

async function setOffline(tablet, offline) {
  await tablet.context.setOffline(offline);
  const want = offline ? 'offline' : 'online';
  await tablet.page.waitForFunction(
    (state) => document.querySelector('[data-testid="sync-state"]')?.dataset.state === state,
    want, { timeout: offline ? 10_000 : 30_000 },
  ).catch(async () => {
    throw new Error(`${tablet.label} never showed ${want} ${await describeTablet(tablet)}`);
  });
}

async function screenshotAll(name) {
  fs.mkdirSync(outputDir, { recursive: true });
  for (const t of tablets) {
    await t.page.screenshot({ path: path.join(outputDir, `${name}-${t.label}.png`), fullPage: true }).catch(() => {});
  }
}

async function axeViolations(page) {
  await page.addScriptTag({ content: axeSource });
  return page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
}

// ---------------------------------------------------------------------------

describe('two case managers offline on the same plan', () => {
  before(async () => {
    server = startServer();
    base = await server.listening;
    browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    if (server) {
      server.child.kill('SIGTERM');
      await new Promise((resolve) => {
        const timer = setTimeout(() => { server.child.kill('SIGKILL'); resolve(); }, 5_000);
        server.child.once('exit', () => { clearTimeout(timer); resolve(); });
        if (server.child.exitCode !== null) { clearTimeout(timer); resolve(); }
      });
      fs.rmSync(server.tmp, { recursive: true, force: true });
    }
  });

  test('edits made offline on two tablets merge, and the crew sees them', async () => {
    const run = Date.now().toString(36).slice(-5);
    const medication = `Oramorph ${run}`;
    const cm1Text = `CM1-START-${run} `;
    const cm2Text = ` CM2-END-${run}`;

    // Pick a consenting patient and one who has not consented, from cm1's caseload.
    const cm1Token = await apiLogin('cm1.demo');
    const listing = await api('GET', '/api/v1/patients', { token: cm1Token });
    assert.equal(listing.status, 200, `GET /api/v1/patients: ${listing.status} ${listing.text}`);
    const patient = listing.json.find((p) => p.share_with_emergency_services);
    const refuser = listing.json.find((p) => !p.share_with_emergency_services);
    assert.ok(patient, `no consenting patient in ${listing.text.slice(0, 500)}`);
    assert.ok(refuser, `no non-consenting patient in ${listing.text.slice(0, 500)}`);

    const cm1 = await openTablet('cm1', { width: 768, height: 1024 });
    const cm2 = await openTablet('cm2', { width: 1280, height: 800 });
    try {
      await Promise.all([signIn(cm1, 'cm1.demo'), signIn(cm2, 'cm2.demo')]);
      await Promise.all([openPlan(cm1, patient.id), openPlan(cm2, patient.id)]);
      // The app must be able to reload with no network: wait for the service worker.
      for (const t of [cm1, cm2]) {
        await t.page.waitForFunction(() => document.body.dataset.sw === 'ready', null, { timeout: 20_000 })
          .catch(async () => { throw new Error(`${t.label}: service worker never took control ${await describeTablet(t)}`); });
      }
      const startDnacpr = await byTestId(cm2.page, 'dnacpr-select').inputValue();
      const newDnacpr = startDnacpr === 'do_not_attempt_cpr' ? 'for_attempted_cpr' : 'do_not_attempt_cpr';

      await Promise.all([setOffline(cm1, true), setOffline(cm2, true)]);

      // cm1 adds a medication; cm2 changes the DNACPR status.
      await byTestId(cm1.page, 'medication-open').click();
      await byTestId(cm1.page, 'medication-name').fill(medication);
      await byTestId(cm1.page, 'medication-dose').fill('2.5 mg as needed');
      await byTestId(cm1.page, 'medication-add').click();
      await waitSaved(cm1, 'medications');
      await byTestId(cm2.page, 'dnacpr-select').selectOption(newDnacpr);
      await waitSaved(cm2, 'dnacpr');

      // Both type into the exacerbation plan: cm1 at the start, cm2 at the end.
      await typeAt(cm1, 'start', cm1Text);
      await typeAt(cm2, 'end', cm2Text);

      // Still offline, reload: the app comes from the service worker, the plan from IndexedDB.
      await Promise.all([cm1.page.reload(), cm2.page.reload()]);
      for (const t of [cm1, cm2]) {
        await byTestId(t.page, 'exacerbation-plan').waitFor({ timeout: 15_000 })
          .catch(async () => { throw new Error(`${t.label}: plan did not load offline ${await describeTablet(t)}`); });
        assert.equal(await byTestId(t.page, 'sync-state').getAttribute('data-state'), 'offline', `${t.label} ${await describeTablet(t)}`);
      }
      const s1 = await snapshot(cm1);
      const s2 = await snapshot(cm2);
      assert.ok(s1.text.startsWith(cm1Text.trim()), `cm1 lost its typing after an offline reload: ${JSON.stringify(s1)}`);
      assert.ok(s1.medications.some((m) => m.includes(medication)), `cm1 lost its medication: ${JSON.stringify(s1)}`);
      assert.ok(!s1.text.includes(cm2Text.trim()), `cm1 saw cm2's text while both were offline: ${JSON.stringify(s1)}`);
      assert.ok(s2.text.endsWith(cm2Text.trim()), `cm2 lost its typing after an offline reload: ${JSON.stringify(s2)}`);
      assert.equal(s2.dnacpr, newDnacpr, `cm2 lost its DNACPR change: ${JSON.stringify(s2)}`);
      assert.notEqual(s1.pending, '0 changes waiting to upload', `cm1 shows nothing waiting: ${JSON.stringify(s1)}`);

      await Promise.all([setOffline(cm1, false), setOffline(cm2, false)]);

      // Both tablets converge on a plan holding every edit.
      const deadline = Date.now() + CONVERGE_MS;
      let last;
      for (;;) {
        const [a, b] = [await snapshot(cm1), await snapshot(cm2)];
        last = { cm1: a, cm2: b };
        const complete = (s) => s.text && s.text.includes(cm1Text.trim()) && s.text.includes(cm2Text.trim())
          && s.dnacpr === newDnacpr && s.medications.some((m) => m.includes(medication))
          && s.pending === '0 changes waiting to upload';
        if (complete(a) && complete(b) && a.text === b.text) break;
        if (Date.now() > deadline) {
          await screenshotAll('not-converged');
          assert.fail(`the tablets did not converge within ${CONVERGE_MS / 1000} s:\n${JSON.stringify(last, null, 1)}`
            + `${await describeTablet(cm1)}${await describeTablet(cm2)}\n${serverLogs()}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(last.cm1.text.indexOf(cm1Text.trim()) < last.cm1.text.indexOf(cm2Text.trim()),
        `cm1's text should come before cm2's: ${JSON.stringify(last.cm1.text)}`);

      // The crew's view: the server's emergency summary holds the merged plan.
      const crew = await apiLogin('ambulance.demo');
      let summary;
      const summaryDeadline = Date.now() + 10_000;
      for (;;) {
        summary = await api('GET', `/api/v1/emergency/summary/${patient.nhs_number}`, { token: crew });
        const s = summary.json;
        if (summary.status === 200 && s.dnacpr === newDnacpr
          && s.exacerbation_plan.includes(cm1Text.trim()) && s.exacerbation_plan.includes(cm2Text.trim())
          && s.medications.some((m) => m.name === medication)) break;
        if (Date.now() > summaryDeadline) {
          assert.fail(`the emergency summary does not hold the merged plan: ${summary.status} ${summary.text}\n${serverLogs()}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(summary.json.exacerbation_plan, last.cm1.text.trim(), 'summary text differs from the tablets');
      const refused = await api('GET', `/api/v1/emergency/summary/${refuser.nhs_number}`, { token: crew });
      assert.equal(refused.status, 404, `a non-consenting patient's summary answered ${refused.status}: ${refused.text}`);

      // The emergency summary view in the app shows the same.
      await cm2.page.click('[data-testid="tab-summary"]');
      await byTestId(cm2.page, 'emergency-summary').waitFor();
      const shown = await byTestId(cm2.page, 'emergency-summary').textContent();
      assert.ok(shown.includes(medication) && shown.includes(cm1Text.trim()), `summary view: ${shown}`);
    } catch (e) {
      await screenshotAll('failure');
      throw e;
    }
  });

  test('caseload, plan and summary screens have no serious accessibility violations', async () => {
    const t = await openTablet('a11y', { width: 768, height: 1024 });
    await signIn(t, 'cm1.demo');
    const problems = [];
    for (const hash of ['#/', null, 'summary']) {
      if (hash === '#/') {
        await t.page.evaluate(() => { location.hash = '#/'; });
        await byTestId(t.page, 'caseload-item').first().waitFor();
      } else {
        const id = await t.page.evaluate(() => document.querySelector('[data-testid="caseload-item"]')?.dataset.id
          ?? decodeURIComponent(location.hash.split('/')[2] || ''));
        await t.page.evaluate(([docId, sub]) => { location.hash = `#/plan/${encodeURIComponent(docId)}${sub ? `/${sub}` : ''}`; }, [id, hash]);
        await byTestId(t.page, hash ? 'emergency-summary' : 'exacerbation-plan').waitFor();
      }
      for (const v of await axeViolations(t.page)) problems.push(`${hash || 'plan'}: ${v}`);
    }
    // Touch targets: every visible button, link and form control is at least 44 px tall.
    await t.page.evaluate(() => { location.hash = '#/'; });
    await byTestId(t.page, 'caseload-item').first().waitFor();
    const small = await t.page.evaluate(() => [...document.querySelectorAll('button, a.button, input:not([type=checkbox]), select, summary, .patient-link')]
      .filter((el) => el.offsetParent !== null && el.getBoundingClientRect().height < 44)
      .map((el) => `${el.tagName} ${el.dataset.testid || el.textContent.trim().slice(0, 30)} ${el.getBoundingClientRect().height}px`));
    problems.push(...small.map((s) => `touch target too small: ${s}`));
    assert.deepEqual(problems, [], problems.join('\n'));
  });
});

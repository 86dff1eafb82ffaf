// How fast the tablet app opens, offline, with a full caseload: a benchmark that prints
// figures, not a test (nothing is asserted against a time; `cargo xtask bench-app` runs
// it, `cargo xtask test` does not).
//
//   node tests/browser/bench/app-open.mjs [--plans 300] [--runs 5] [--opens 10]
//
// The real server (REDFOLDER_BIN, debug build by default) runs with the demo data; plans
// are added through the FHIR import (`POST /api/v1/patients/import`, a GP record with
// conditions, medicines, an allergy and observations each) until cm1.demo's caseload
// holds --plans. One tablet in headless Chromium signs in, sets its PIN and downloads
// them all (stored encrypted in IndexedDB; offline reloads check that every plan is on
// the tablet, going back online to finish storing any missing), and the service worker
// holds the app. Then, --runs times, offline:
//
// - open: the page is reloaded with the network off; `boot` is navigation start → the
//   PIN screen, `unlock` is pressing Unlock → every caseload row drawn (the core decrypts
//   and loads every stored plan on the way), and `open to caseload` is their sum, the
//   time the app itself takes (typing the PIN is not counted);
// - plan: --opens different plans are opened from the caseload, each timed from the tap
//   to the plan screen drawn (`drawn`) and to the next frame after it (`painted`).
//
// Times are taken inside the page with performance.now(), so the driver's round trips do
// not count. Medians with min–max. The machine is shared: read them with that in mind.

import fs from 'node:fs';
import path from 'node:path';
import {
  byTestId, outputDir, PIN, PORTRAIT, setup, signIn, unlock, waitForCaseload, waitStored,
} from '../helpers.mjs';
import { fillCaseload } from '../caseload-fixture.mjs';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const PLANS = arg('--plans', 300);
const RUNS = arg('--runs', 5);
const OPENS = arg('--opens', 10);

// Installed before the app's own scripts on every load: stamps, with performance.now(),
// when the PIN screen appears, when Unlock is pressed and when the caseload is drawn.
function stamps(plans) {
  const marks = {};
  window.__bench = marks;
  document.addEventListener('submit', (e) => {
    if (e.target?.dataset?.testid === 'unlock-form' && marks.unlockPressed === undefined) marks.unlockPressed = performance.now();
  }, true);
  new MutationObserver(() => {
    if (marks.pinScreen === undefined && document.querySelector('[data-testid="unlock-pin"]')) marks.pinScreen = performance.now();
    if (marks.caseload === undefined && document.querySelectorAll('[data-testid="caseload-item"]').length >= plans) marks.caseload = performance.now();
  }).observe(document, { subtree: true, childList: true });
}

// Taps the n-th caseload row and times it, inside the page.
function openPlan(n) {
  return new Promise((resolve, reject) => {
    const rows = document.querySelectorAll('[data-testid="caseload-item"]');
    const row = rows[n % rows.length];
    const id = row.dataset.id;
    const started = performance.now();
    const timer = setTimeout(() => reject(new Error(`plan ${id} did not open within 10 s`)), 10_000);
    const observer = new MutationObserver(() => {
      const title = document.querySelector('[data-testid="plan-title"]');
      if (!title || !document.querySelector('[data-testid="plan"]') || !location.hash.includes(encodeURIComponent(id))) return;
      const drawn = performance.now();
      observer.disconnect();
      requestAnimationFrame(() => setTimeout(() => {
        clearTimeout(timer);
        resolve({ drawn: drawn - started, painted: performance.now() - started });
      }, 0));
    });
    observer.observe(document.getElementById('main'), { subtree: true, childList: true });
    row.click();
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (xs) => `${median(xs).toFixed(0).padStart(6)} ms  (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}, n=${xs.length})`;

const env = await setup();
try {
  console.log(`app-open benchmark: ${PLANS} plans, ${RUNS} offline opens, ${OPENS} plans opened per run`);
  await fillCaseload(env, PLANS);
  const tablet = await env.openTablet('bench', PORTRAIT);
  const { page, context } = tablet;
  await context.addInitScript(stamps, PLANS);
  const synced = Date.now();
  await signIn(tablet, 'cm1.demo');
  await waitForCaseload(tablet, PLANS, 300_000);
  // Every plan downloaded (not only listed): the progress bar's count is the core's.
  const downloaded = () => page.waitForFunction((n) => {
    const p = document.querySelector('[data-testid="caseload-progress"]');
    return p && p.hidden && Number(p.dataset.received) >= n;
  }, PLANS, { timeout: 600_000, polling: 500 });
  await downloaded();
  await waitStored(tablet, PLANS, 300_000);
  await page.waitForFunction(() => document.body.dataset.sw === 'ready', null, { timeout: 30_000 });
  console.log(`first sync of ${PLANS} plans: ${((Date.now() - synced) / 1000).toFixed(1)} s (sign-in to every plan downloaded)`);
  // Received plans reach IndexedDB asynchronously: until an offline reload shows every
  // plan, go back online and let the sync finish storing them.
  for (let attempt = 1; ; attempt++) {
    await context.setOffline(true);
    await page.reload();
    await unlock(tablet, PIN);
    await byTestId(page, 'caseload-list').waitFor();
    const stored = await page.evaluate(() => Number(document.querySelector('[data-testid="caseload-progress"]')?.dataset.received));
    if (stored >= PLANS) break;
    if (attempt === 5) throw new Error(`only ${stored} of ${PLANS} plans are on the tablet after 5 syncs`);
    console.log(`offline reload ${attempt}: ${stored} of ${PLANS} plans on the tablet; syncing the rest`);
    await context.setOffline(false);
    await downloaded();
    await page.waitForTimeout(5_000);
  }

  const boot = [];
  const unlocking = [];
  const total = [];
  const drawn = [];
  const painted = [];
  for (let run = 0; run < RUNS; run++) {
    await page.reload();
    await byTestId(page, 'unlock-pin').waitFor();
    await unlock(tablet, PIN);
    await page.waitForFunction(() => window.__bench.caseload !== undefined, null, { timeout: 120_000 })
      .catch(async (e) => {
        const seen = await page.evaluate(() => ({ marks: window.__bench, rows: document.querySelectorAll('[data-testid="caseload-item"]').length, hash: location.hash, main: document.getElementById('main')?.innerText.slice(0, 300) }));
        throw new Error(`run ${run}: the caseload was never drawn: ${JSON.stringify(seen)}`, { cause: e });
      });
    const m = await page.evaluate(() => window.__bench);
    boot.push(m.pinScreen);
    unlocking.push(m.caseload - m.unlockPressed);
    total.push(m.pinScreen + (m.caseload - m.unlockPressed));
    for (let k = 0; k < OPENS; k++) {
      const t = await page.evaluate(openPlan, run * OPENS + k * 7);
      drawn.push(t.drawn);
      painted.push(t.painted);
      await page.evaluate(() => { location.hash = '#/'; });
      await byTestId(page, 'caseload-list').waitFor();
    }
  }
  const online = await page.evaluate(() => navigator.onLine);
  console.log(`\nopened offline (navigator.onLine = ${online}), ${PLANS} plans stored, headless Chromium:`);
  console.log(`  boot (navigation → PIN screen)         ${fmt(boot)}`);
  console.log(`  unlock (Unlock pressed → caseload)     ${fmt(unlocking)}`);
  console.log(`  open to caseload (boot + unlock)       ${fmt(total)}   target < 1500 ms`);
  console.log(`  open a plan (tap → plan drawn)         ${fmt(drawn)}`);
  console.log(`  open a plan (tap → next frame)         ${fmt(painted)}   target < 100 ms`);
  fs.mkdirSync(outputDir, { recursive: true });
  const file = path.join(outputDir, 'app-open.json');
  fs.writeFileSync(file, JSON.stringify({ plans: PLANS, runs: RUNS, boot, unlock: unlocking, total, planDrawn: drawn, planPainted: painted }, null, 1));
  console.log(`raw figures: ${path.relative(process.cwd(), file)}`);
} finally {
  await env.close();
}

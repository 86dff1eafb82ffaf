// Shared helpers for the browser tests: the real server on port 0 with a temporary
// SQLite database, Debian's Chromium through playwright-core, tablets (browser contexts)
// that sign in and set a PIN, axe-core, touch-target and PDF checks.
//
// The server binary is REDFOLDER_BIN (default target/debug/redfolder); the web app is
// REDFOLDER_WEB_DIR (default target/web), built first by `cargo xtask build`.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.resolve(repo, process.env.REDFOLDER_BIN || 'target/debug/redfolder');
const webDir = path.resolve(repo, process.env.REDFOLDER_WEB_DIR || 'target/web');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// Screenshots, printed PDFs and benchmark figures: test artifacts, under target/.
export const outputDir = path.join(repo, 'target', 'browser-artifacts');
const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const PIN = '482916';
export const PORTRAIT = { width: 768, height: 1024 };
export const LANDSCAPE = { width: 1280, height: 800 };
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// ---------------------------------------------------------------------------
// Server and browser, one of each per test file

export function startServer() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'redfolder-browser-'));
  assert.ok(fs.existsSync(bin), `server binary not found at ${bin} (build it, or set REDFOLDER_BIN)`);
  assert.ok(fs.existsSync(path.join(webDir, 'sw.js')),
    `the web app is not built in ${webDir}: run cargo xtask build (or set REDFOLDER_WEB_DIR)`);
  const child = spawn(bin, [
    'serve', '--demo', '--bind', '127.0.0.1:0',
    '--database', `sqlite://${path.join(tmp, 't.db')}`,
    '--web-dir', webDir,
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

async function stopServer(server) {
  server.child.kill('SIGTERM');
  await new Promise((resolve) => {
    const timer = setTimeout(() => { server.child.kill('SIGKILL'); resolve(); }, 5_000);
    server.child.once('exit', () => { clearTimeout(timer); resolve(); });
    if (server.child.exitCode !== null) { clearTimeout(timer); resolve(); }
  });
  fs.rmSync(server.tmp, { recursive: true, force: true });
}

// Starts the server and Chromium for one test file: call from `before`, and
// `env.close()` from `after`.
export async function setup() {
  const server = startServer();
  const base = await server.listening;
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
  const tablets = [];
  const browsers = [browser];
  const env = {
    server,
    base,
    browser,
    tablets,
    serverLogs: () => `--- server stderr (tail) ---\n${server.logs.stderr.slice(-4000)}`,
    api: (method, route, opts) => api(base, method, route, opts),
    apiLogin: (username) => apiLogin(base, username),
    // Another Chromium with `args` added to the usual flags (a fake camera, say), closed
    // with the rest; open tablets in it with `openTablet(…, { browser })`.
    async launchBrowser(args) {
      const extra = await chromium.launch({ executablePath: chromiumPath, args: [...CHROMIUM_ARGS, ...args] });
      browsers.push(extra);
      return extra;
    },
    async openTablet(label, viewport = PORTRAIT, { query = '', browser: into = browser } = {}) {
      const context = await into.newContext({ viewport, serviceWorkers: 'allow', locale: 'en-GB', timezoneId: 'Europe/London' });
      const page = await context.newPage();
      const seen = [];
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') seen.push(`[${m.type()}] ${m.text()}`); });
      page.on('pageerror', (e) => seen.push(`[pageerror] ${e.message}`));
      const tablet = { label, context, page, seen, url: `${base}/${query}` };
      tablets.push(tablet);
      return tablet;
    },
    async screenshotAll(name) {
      fs.mkdirSync(outputDir, { recursive: true });
      for (const t of tablets) {
        await t.page.screenshot({ path: path.join(outputDir, `${name}-${t.label}.png`), fullPage: true }).catch(() => {});
      }
    },
    async close() {
      for (const b of browsers) await b.close().catch(() => {});
      await stopServer(server);
    },
  };
  return env;
}

async function api(base, method, route, { token, body } = {}) {
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

async function apiLogin(base, username) {
  const r = await api(base, 'POST', '/api/v1/auth/login', { body: { username, password: 'demo' } });
  assert.equal(r.status, 200, `login as ${username}: ${r.status} ${r.text}`);
  return r.json.token;
}

// ---------------------------------------------------------------------------
// Driving the app

export const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

// First sign-in on a fresh tablet: password, then a new PIN. Waits for the first screen.
export async function signIn(tablet, username, { pin = PIN, waitFor = 'caseload-list' } = {}) {
  const { page } = tablet;
  await page.goto(tablet.url);
  await byTestId(page, 'login-username').fill(username);
  await byTestId(page, 'login-password').fill('demo');
  await byTestId(page, 'login-submit').click();
  await byTestId(page, 'pin-new').waitFor();
  await byTestId(page, 'pin-new').fill(pin);
  await byTestId(page, 'pin-confirm').fill(pin);
  await byTestId(page, 'pin-submit').click();
  await byTestId(page, waitFor).waitFor();
}

// Unlocks a locked tablet with the PIN; resolves once the unlock screen has gone.
export async function unlock(tablet, pin = PIN) {
  const { page } = tablet;
  await byTestId(page, 'unlock-pin').waitFor();
  await byTestId(page, 'unlock-pin').fill(pin);
  await byTestId(page, 'unlock-submit').click();
  await page.waitForFunction(() => !document.querySelector('[data-testid="unlock-form"]'), null, { timeout: 15_000 });
}

export async function waitForCaseload(tablet, count, timeout = 30_000) {
  await tablet.page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="caseload-item"]').length >= n, count, { timeout },
  ).catch(async () => { throw new Error(`${tablet.label}: caseload never reached ${count} ${await describeTablet(tablet)}`); });
}

// Waits until the form `key` reports its edit saved on the device (or failed), and fails
// the test with the form's error if it did not save.
export async function waitSaved(tablet, key) {
  const { page } = tablet;
  await page.waitForFunction((k) => {
    const s = document.querySelector(`[data-testid="${k}-saved"]`)?.dataset.state;
    return s === 'saved' || s === 'error';
  }, key, { timeout: 10_000 });
  const error = await byTestId(page, `${key}-error`).textContent();
  assert.equal(await byTestId(page, `${key}-saved`).getAttribute('data-state'), 'saved', `${tablet.label}: ${key} not saved: ${error}`);
}

// Fills a form built by sections.ts: { name: value } by its controls' test ids.
export async function fill(page, key, values) {
  const details = page.locator(`[data-testid="${key}-panel"]`);
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

// Prints the plan's red folder from the tablet (the app records the paper copy before the
// browser's print dialog, which is stubbed) and waits until the record is stored.
export async function printPaperCopy(tablet, planId) {
  const { page } = tablet;
  await goto(tablet, `#/plan/${encodeURIComponent(planId)}/print`);
  await byTestId(page, 'print-view').waitFor();
  await page.evaluate(() => { window.print = () => {}; });
  await byTestId(page, 'print-button').click();
  await byTestId(page, 'print-recorded').waitFor();
}

// Records, on the plan screen, what "plan complete" asks for besides consent and a case
// manager (seed 003 step 16): no wider action needed, the face-to-face meeting with the
// GP and a mental health assessment on `date`, then prints the paper copy for the home
// and comes back to the plan, ready for "Mark plan complete".
export async function recordStep16(tablet, planId, date) {
  const { page } = tablet;
  await fill(page, 'no-wider-action', { reason: 'Needs met by the practice team' });
  await waitSaved(tablet, 'no-wider-action');
  await fill(page, 'gp-meeting', { date, gp: 'Dr Patel', attendees: 'Case manager and patient' });
  await waitSaved(tablet, 'gp-meeting');
  await fill(page, 'mental-health', { status: 'done', date, tool: 'PHQ-9', outcome: 'Minimal symptoms' });
  await waitSaved(tablet, 'mental-health');
  await printPaperCopy(tablet, planId);
  await goto(tablet, `#/plan/${encodeURIComponent(planId)}`);
  await byTestId(page, 'section-lifecycle').waitFor();
}

// Takes a tablet off the network (or back on) and waits until the app's sync bar says so.
export async function setOffline(tablet, offline) {
  await tablet.context.setOffline(offline);
  const want = offline ? 'offline' : 'online';
  await tablet.page.waitForFunction(
    (state) => document.querySelector('[data-testid="sync-state"]')?.dataset.state === state,
    want, { timeout: offline ? 10_000 : 30_000 },
  ).catch(async () => { throw new Error(`${tablet.label} never showed ${want} ${await describeTablet(tablet)}`); });
}

export async function goto(tablet, hash) {
  await tablet.page.evaluate((h) => { location.hash = h; }, hash);
}

export async function describeTablet(tablet) {
  const shows = await tablet.page.evaluate(() => ({
    hash: location.hash,
    main: document.getElementById('main')?.innerText.slice(0, 600),
    sync: document.querySelector('[data-testid="sync-status"]')?.innerText,
  })).catch((e) => ({ unavailable: e.message }));
  return `\n${tablet.label} shows ${JSON.stringify(shows, null, 1)}\n${tablet.label} console: ${tablet.seen.slice(-15).join('\n') || '(nothing)'}`;
}

// ---------------------------------------------------------------------------
// Quality checks

// Serious and critical axe-core violations on the page as it is now.
export async function axeViolations(page) {
  const loaded = await page.evaluate(() => typeof window.axe !== 'undefined');
  // Evaluated through the DevTools protocol, not added as an inline <script>: the app's
  // Content-Security-Policy (rightly) blocks inline scripts.
  if (!loaded) await page.evaluate(axeSource);
  return page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
}

// Visible controls smaller than 44 px in either direction (WCAG 2.5.5 target size).
export async function smallTouchTargets(page) {
  return page.evaluate(() => [...document.querySelectorAll(
    'button, a.button, a.patient-link, input:not([type=checkbox]):not([type=hidden]), select, textarea, summary, label.check',
  )]
    .filter((el) => el.offsetParent !== null)
    .map((el) => ({ el, r: el.getBoundingClientRect() }))
    .filter(({ r }) => r.height < 44 || r.width < 44)
    .map(({ el, r }) => `${el.tagName.toLowerCase()} "${el.dataset.testid || el.textContent.trim().slice(0, 30)}" ${Math.round(r.width)}×${Math.round(r.height)}px`));
}

// Whether the page scrolls sideways (a layout that does not fit the tablet).
export async function horizontalOverflow(page) {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    return document.documentElement.scrollWidth > width + 1
      ? `page is ${document.documentElement.scrollWidth}px wide in a ${width}px viewport` : null;
  });
}

// Text of each page of a PDF, with pdf.js (pure JavaScript).
export async function pdfPages(pdf) {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const doc = await pdfjs.getDocument({ data: new Uint8Array(pdf), isEvalSupported: false, verbosity: 0 }).promise;
  const pages = [];
  for (let i = 1; i <= doc.numPages; i++) {
    const content = await (await doc.getPage(i)).getTextContent();
    // Items carry their own spaces; NFKC turns ligatures (ﬁ, ﬀ) back into letters.
    pages.push(content.items.map((item) => item.str + (item.hasEOL ? ' ' : '')).join('').normalize('NFKC').replace(/\s+/g, ' '));
  }
  await doc.destroy();
  return pages;
}

// ---------------------------------------------------------------------------
// Looking for plaintext in bytes

// Every needle's occurrences in `bytes`: as UTF-8 text, as UTF-16LE text, and inside any
// raw-deflate or zlib stream starting anywhere in the bytes (Automerge compresses large
// columns, so a name in a compressed plaintext document would not show as bytes).
export function findPlaintext(bytes, needles) {
  const buf = Buffer.from(bytes);
  const hits = new Set();
  const look = (hay, where) => {
    for (const n of needles) {
      if (hay.includes(Buffer.from(n, 'utf8')) || hay.includes(Buffer.from(n, 'utf16le'))) hits.add(`${n} (${where})`);
    }
  };
  look(buf, 'bytes');
  for (let i = 0; i < buf.length - 2; i++) {
    const attempts = [];
    if (mayStartDeflate(buf, i)) attempts.push(zlib.inflateRawSync);
    if (buf[i] === 0x78 && (buf[i] * 256 + buf[i + 1]) % 31 === 0) attempts.push(zlib.inflateSync);
    for (const inflate of attempts) {
      let out;
      try {
        out = inflate(buf.subarray(i, i + 1_048_576), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch {
        continue;
      }
      if (out.length >= 8) look(out, `deflate stream at byte ${i}`);
    }
  }
  return [...hits];
}

// Whether a raw deflate stream could start at byte `at`: the checks zlib makes on a
// block header first, done here so that only plausible offsets pay for a real inflate.
function mayStartDeflate(buf, at) {
  let bit = 0;
  const read = (n) => {
    let v = 0;
    for (let k = 0; k < n; k++, bit++) {
      const byte = buf[at + (bit >> 3)];
      if (byte === undefined) throw new RangeError('end');
      v |= ((byte >> (bit & 7)) & 1) << k;
    }
    return v;
  };
  try {
    read(1); // BFINAL
    const type = read(2);
    if (type === 1) return true; // fixed Huffman codes: nothing to check up front
    if (type === 0) {
      const len = buf[at + 1] | (buf[at + 2] << 8);
      const nlen = buf[at + 3] | (buf[at + 4] << 8);
      return at + 4 < buf.length && len === (~nlen & 0xffff);
    }
    if (type === 3) return false;
    const hlit = read(5) + 257;
    const hdist = read(5) + 1;
    const hclen = read(4) + 4;
    if (hlit > 286 || hdist > 30) return false;
    // The code-length code must be a complete prefix code (Kraft sum exactly 2^7).
    let kraft = 0;
    for (let k = 0; k < hclen; k++) {
      const len = read(3);
      if (len) kraft += 2 ** (7 - len);
    }
    return kraft === 128;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// The sync protocol, for tests that stand between the app and the server

const MAGIC = [0x52, 0x46]; // "RF"
export const FRAME = {
  hello: 1, welcome: 2, caseload: 3, subscribe: 4, sync: 5, ack: 6, error: 7,
  features: 8, batch: 9, fetch: 10, snapshot: 11,
};
const CODEC = { deflate: 1, brotli: 2 };
export const ERROR_CODE = { unauthorized: 3, forbidden: 4, refused: 5, internal: 8 };

function leb128(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

function str(s) {
  const b = Buffer.from(s, 'utf8');
  return [...leb128(b.length), ...b];
}

export function errorFrame(code, message, docId = null) {
  return Buffer.from([...MAGIC, 1, FRAME.error, ...leb128(code), ...(docId ? [1, ...str(docId)] : [0]), ...str(message)]);
}

// An unsigned LEB128 at `at`: [value, offset after it].
function readLeb(b, at) {
  let i = at;
  let n = 0;
  let shift = 0;
  for (;;) {
    const byte = b[i++];
    n += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(byte & 0x80)) return [n, i];
  }
}

// `{type, docId}` of a frame (docId for the frames about one plan: sync, ack, snapshot).
export function frameInfo(bytes) {
  const b = Buffer.from(bytes);
  const type = b[3];
  if (type !== FRAME.sync && type !== FRAME.ack && type !== FRAME.snapshot) return { type };
  const [len, i] = readLeb(b, 4);
  return { type, docId: b.subarray(i, i + len).toString('utf8') };
}

// The frames one WebSocket message holds: the message itself, or the frames of a batch,
// decompressed (docs/protocol.md, "Optional features").
export function unpackFrames(bytes) {
  const b = Buffer.from(bytes);
  if (b[3] !== FRAME.batch) return [b];
  const codec = b[4];
  const [len, at] = readLeb(b, 5);
  const data = b.subarray(at, at + len);
  const raw = codec === CODEC.brotli ? zlib.brotliDecompressSync(data) : zlib.inflateRawSync(data);
  const frames = [];
  for (let i = 0; i < raw.length;) {
    const [n, start] = readLeb(raw, i);
    frames.push(raw.subarray(start, start + n));
    i = start + n;
  }
  return frames;
}

// ---------------------------------------------------------------------------
// Reading what the app stored, raw, from inside the page

// Every record of every IndexedDB database of the page's origin, with binary values as
// base64 and other values as JSON (their binary fields as base64 too), plus
// localStorage, sessionStorage and the Cache Storage request URLs.
export async function dumpStorage(page) {
  const dump = await page.evaluate(async () => {
    const b64 = (u8) => {
      let s = '';
      for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000));
      return btoa(s);
    };
    const plain = (v) => JSON.stringify(v, (_, x) => (x instanceof Uint8Array ? { base64: b64(x) }
      : x instanceof ArrayBuffer ? { base64: b64(new Uint8Array(x)) } : x));
    const request = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
    const records = [];
    for (const info of await indexedDB.databases()) {
      const db = await request(indexedDB.open(info.name));
      for (const storeName of db.objectStoreNames) {
        const store = db.transaction(storeName).objectStore(storeName);
        const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
        keys.forEach((key, i) => {
          const v = values[i];
          records.push({
            db: info.name,
            store: storeName,
            key: String(key),
            binary: v instanceof Uint8Array ? b64(v) : null,
            json: v instanceof Uint8Array ? null : plain(v),
          });
        });
      }
      db.close();
    }
    const storage = (s) => Object.fromEntries(Array.from({ length: s.length }, (_, i) => [s.key(i), s.getItem(s.key(i))]));
    const cached = [];
    for (const name of await caches.keys()) {
      for (const req of await (await caches.open(name)).keys()) cached.push(req.url);
    }
    return { records, local: storage(localStorage), session: storage(sessionStorage), cached };
  });
  for (const r of dump.records) {
    r.bytes = r.binary !== null ? Buffer.from(r.binary, 'base64') : Buffer.from(r.json ?? '', 'utf8');
    // Binary fields inside JSON values (the keyring) are checked as bytes too.
    r.inner = [];
    if (r.json) {
      JSON.parse(r.json, (_, x) => { if (x && typeof x.base64 === 'string') r.inner.push(Buffer.from(x.base64, 'base64')); return x; });
    }
  }
  return dump;
}

// Waits until the tablet's IndexedDB holds `count` plans: writes are asynchronous, and a
// reload before they land would (correctly) download the rest again.
export async function waitStored(tablet, count, timeout = 20_000) {
  // Polled from here: `waitForFunction` takes a promise for a truthy answer, so an async
  // predicate would pass at once, before anything is stored.
  const deadline = Date.now() + timeout;
  let stored = 0;
  for (;;) {
    stored = await tablet.page.evaluate(async () => {
      const db = await new Promise((resolve, reject) => { const r = indexedDB.open('redfolder'); r.onsuccess = () => resolve(r.result); r.onerror = reject; });
      const n = await new Promise((resolve) => { const r = db.transaction('docs').objectStore('docs').count(); r.onsuccess = () => resolve(r.result); });
      db.close();
      return n;
    });
    if (stored >= count) return stored;
    if (Date.now() > deadline) throw new Error(`only ${stored} of ${count} plans were stored on the device within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// A relay between page and server that can hold back the server's frames. `allow(info)`
// decides per frame; held frames are released, in order, by `release()`.
export function relay(context) {
  const state = {
    allow: () => true,
    log: [], // { phase, type, docId, bytes } of every server frame delivered
    phase: 1,
    connections: [],
    injectToPage(frame) { for (const c of state.connections) c.page.send(frame); },
    release() {
      state.allow = () => true;
      for (const c of state.connections) {
        for (const m of c.held.splice(0)) c.deliver(m);
      }
    },
  };
  const ready = context.routeWebSocket(/\/api\/v1\/sync/, (page) => {
    const server = page.connectToServer();
    const conn = {
      page,
      held: [],
      deliver(m) {
        const info = frameInfo(m);
        state.log.push({ phase: state.phase, ...info, bytes: Buffer.byteLength(m) });
        page.send(m);
      },
    };
    state.connections.push(conn);
    page.onMessage((m) => server.send(m));
    // Held frames belong to plans (or, once everything is held, to the connection) that
    // get nothing through until released, so each plan's frames keep their order.
    // A batch is split so each plan's frames are judged on their own; the app reads
    // frames one by one as well as in batches.
    server.onMessage((m) => {
      for (const frame of unpackFrames(m)) {
        if (state.allow(frameInfo(frame))) conn.deliver(frame);
        else conn.held.push(frame);
      }
    });
  });
  return { state, ready };
}

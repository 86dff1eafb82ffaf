// The paper copy in the home (issue 14): a tablet prints the red folder, which records the
// print (a first print is part of completing the plan, step 16); the printed pages carry the plan version, the print time and the print code in
// words and as a QR code. A goal edit leaves the paper current; an allergy makes it out of
// date on the plan, the caseload (badge and filter) and the reviews-due list, naming
// "allergies". The old code, typed, says out of date (offline too); a garbage code is a
// clear error; a reprint made offline is recorded and says it is not signed; and a
// second tablet whose camera films the printed QR code reads the code and gives the same
// answer.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  byTestId, describeTablet, fill, goto, outputDir, pdfPages, PORTRAIT, recordStep16, setOffline, setup, signIn, waitForCaseload, waitSaved, waitStored,
} from './helpers.mjs';

let env;
let token;
let caseload;
let patient;
let tablet;

// The fake camera's picture: this many pixels, this many frames (Chromium loops them).
const VIDEO = { width: 640, height: 480, frames: 5 };

// Polls the server's caseload until `patient`'s row satisfies `ok`, or fails after 30 s.
async function serverRow(ok, what) {
  const deadline = Date.now() + 30_000;
  let row;
  while (Date.now() < deadline) {
    const listing = await env.api('GET', '/api/v1/patients', { token });
    row = listing.json?.find((p) => p.id === patient.id);
    if (row && ok(row)) return row;
    await new Promise((resolve) => { setTimeout(resolve, 200); });
  }
  throw new Error(`the server's caseload row never showed ${what}: ${JSON.stringify(row)}`);
}

async function paperState(page) {
  await byTestId(page, 'plan-paper').waitFor();
  return byTestId(page, 'plan-paper').getAttribute('data-state');
}

async function waitPaperState(page, state) {
  await page.waitForFunction((s) => document.querySelector('[data-testid="plan-paper"]')?.dataset.state === s, state, { timeout: 15_000 });
}

// The printed QR code as the camera would see it: the print view's QR image drawn into a
// grey frame by the page, read back as luminance, and written as a YUV4MPEG2 file (the Y
// plane, U and V at 128) that Chromium's fake camera plays.
async function qrVideo(page, file) {
  const luma = await page.evaluate(async ({ width, height }) => {
    const img = document.querySelector('[data-testid="print-qr"]');
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#c8c8c8';
    ctx.fillRect(0, 0, width, height);
    const size = Math.min(width, height) - 40;
    ctx.drawImage(img, (width - size) / 2, (height - size) / 2, size, size);
    const { data } = ctx.getImageData(0, 0, width, height);
    const y = new Uint8Array(width * height);
    for (let i = 0; i < y.length; i++) y[i] = Math.round(0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2]);
    let binary = '';
    for (const b of y) binary += String.fromCharCode(b);
    return btoa(binary);
  }, VIDEO);
  const y = Buffer.from(luma, 'base64');
  assert.equal(y.length, VIDEO.width * VIDEO.height);
  const chroma = Buffer.alloc((VIDEO.width / 2) * (VIDEO.height / 2), 128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, chroma, chroma]);
  const header = Buffer.from(`YUV4MPEG2 W${VIDEO.width} H${VIDEO.height} F10:1 Ip A1:1 C420jpeg\n`);
  fs.writeFileSync(file, Buffer.concat([header, ...Array(VIDEO.frames).fill(frame)]));
}

describe('the paper copy in the home', () => {
  before(async () => {
    env = await setup();
    token = await env.apiLogin('cm1.demo');
    const listing = await env.api('GET', '/api/v1/patients', { token });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json;
    patient = caseload[1];
    assert.equal(patient.paper_copy, 'not_printed');
    tablet = await env.openTablet('printer', PORTRAIT);
    await signIn(tablet, 'cm1.demo');
    await waitForCaseload(tablet, caseload.length);
    await waitStored(tablet, caseload.length);
    // The plan is completed and its last review recorded long ago, so it is overdue and
    // on the reviews-due list, whose paper column is checked too.
    const { page } = tablet;
    await goto(tablet, `#/plan/${encodeURIComponent(patient.id)}`);
    await byTestId(page, 'section-lifecycle').waitFor();
    await fill(page, 'enrolment', { cohort: 'risk_tool', tier: 'mild', start_date: '2023-09-01', review_interval_months: '4' });
    await waitSaved(tablet, 'enrolment');
    await fill(page, 'case-manager', { name: 'Sam Carter', role: 'Community matron', phone: '01632 960001' });
    await waitSaved(tablet, 'case-manager');
    await fill(page, 'consent-full', { 'recipients-mdt': true, given_by: 'patient', consent_date: '2023-09-01' });
    await waitSaved(tablet, 'consent-full');
    await recordStep16(tablet, patient.id, '2023-09-01');
    await byTestId(page, 'mark-complete').click();
    await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();
    await byTestId(page, 'start-review').click();
    await page.locator('[data-testid="plan-status"][data-status="under_review"]').waitFor();
    await fill(page, 'review', { date: '2024-01-15', face_to_face: true, reviewer: 'Sam Carter', notes: 'Stable.', outcome: 'continue' });
    await waitSaved(tablet, 'review');
    await page.locator('[data-testid="plan-status"][data-status="complete"]').waitFor();
    await goto(tablet, '#/');
    await waitForCaseload(tablet, caseload.length);
  });
  after(async () => { await env?.close(); });

  test('printing records the copy; the allergy, not the goal, makes it out of date everywhere; the code checks typed and scanned', async () => {
    const { page } = tablet;
    const plan = `#/plan/${encodeURIComponent(patient.id)}`;
    let code;
    try {
      // The copy printed so the plan could be completed (step 16) still says "draft": the
      // plan and the caseload say it is out of date.
      const row = page.locator(`[data-testid="caseload-item"][data-id="${patient.id}"]`);
      assert.equal(await row.locator('[data-testid="caseload-paper"]').getAttribute('data-state'), 'out_of_date');
      await goto(tablet, plan);
      assert.equal(await paperState(page), 'out_of_date');

      // Print: the record is made (and stored) before the browser's print dialog opens.
      await goto(tablet, `${plan}/print`);
      await byTestId(page, 'print-view').waitFor();
      await page.evaluate(() => { window.print = () => { window.printCalls = (window.printCalls ?? 0) + 1; }; });
      await byTestId(page, 'print-button').click();
      await byTestId(page, 'print-recorded').waitFor();
      assert.equal(await page.evaluate(() => window.printCalls), 1, 'window.print was not called once');
      const stamp = byTestId(page, 'print-stamp');
      code = await stamp.getAttribute('data-code');
      const version = await stamp.getAttribute('data-version');
      assert.match(code, /^RF1-[0-9a-f]{16}-[0-9a-f]{44}$/);
      const shortVersion = version.split(',').map((v) => v.slice(0, 8)).join(' ');
      // Online, at the server's version: the server signed the print.
      assert.equal(await byTestId(page, 'print-signature').getAttribute('data-signed'), 'true',
        await byTestId(page, 'print-signature').textContent());
      const qr = await byTestId(page, 'print-qr').getAttribute('src');
      assert.ok(qr.startsWith('data:image/svg+xml;base64,'), qr.slice(0, 40));
      assert.ok(Buffer.from(qr.split(',')[1], 'base64').toString().includes('<path'), 'the QR image draws nothing');

      // Both yellow pages carry the code, the plan version and the print time.
      const pdf = await page.pdf({ format: 'A4', printBackground: true });
      fs.mkdirSync(outputDir, { recursive: true });
      fs.writeFileSync(path.join(outputDir, 'paper-copy.pdf'), pdf);
      const pages = await pdfPages(pdf);
      const printedAt = (await stamp.textContent()).match(/printed ([^·]+?\d{2}:\d{2})/)?.[1];
      assert.ok(printedAt, await stamp.textContent());
      for (const i of [0, 1]) {
        const text = pages[i].replace(/\s+/g, ' ');
        assert.ok(text.includes(code), `page ${i + 1} lacks the print code\n${text.slice(-600)}`);
        assert.ok(text.includes(`Plan version ${shortVersion}`), `page ${i + 1} lacks the plan version ${shortVersion}\n${text.slice(-600)}`);
        assert.ok(text.includes(`printed ${printedAt}`), `page ${i + 1} lacks the print time ${printedAt}\n${text.slice(-600)}`);
      }

      // The record reached the server; the plan says current.
      await serverRow((r) => r.paper_copy === 'current', 'a current paper copy');
      await goto(tablet, plan);
      await waitPaperState(page, 'current');

      // The QR code the camera tablet will film, from the page as printed.
      await goto(tablet, `${plan}/print`);
      await byTestId(page, 'print-qr').waitFor();
      assert.equal(await byTestId(page, 'print-stamp').getAttribute('data-code'), code);
      const video = path.join(outputDir, 'paper-qr.y4m');
      await qrVideo(page, video);

      // A goal is not on the yellow pages: the paper stays current.
      await goto(tablet, plan);
      await waitPaperState(page, 'current');
      await fill(page, 'goal', { what_matters: 'Her garden', goal: 'Sit in the garden daily', owner: 'Daughter' });
      await waitSaved(tablet, 'goal');
      await waitPaperState(page, 'current');

      // An allergy is: out of date, naming the section, with a reprint button.
      await fill(page, 'allergy', { substance: 'Penicillin', reaction: 'Rash', severity: 'severe' });
      await waitSaved(tablet, 'allergy');
      await waitPaperState(page, 'out_of_date');
      assert.match(await byTestId(page, 'plan-paper-label').textContent(), /out of date.*reprint.*allergies/);
      await byTestId(page, 'plan-paper-print').waitFor();

      // The caseload badges it, and its paper filter finds it.
      await goto(tablet, '#/');
      const badge = page.locator(`[data-testid="caseload-item"][data-id="${patient.id}"] [data-testid="caseload-paper"]`);
      await page.waitForFunction((id) => document.querySelector(`[data-testid="caseload-item"][data-id="${id}"] [data-testid="caseload-paper"]`)?.dataset.state === 'out_of_date', patient.id, { timeout: 10_000 });
      assert.match(await badge.textContent(), /out of date/);
      await byTestId(page, 'filter-paper').selectOption('out_of_date');
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid="caseload-item"]').length === n, 1);
      assert.equal(await byTestId(page, 'caseload-item').getAttribute('data-id'), patient.id);
      await byTestId(page, 'filter-paper').selectOption('not_printed');
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid="caseload-item"]').length === n, caseload.length - 1);
      assert.equal(await page.locator(`[data-testid="caseload-item"][data-id="${patient.id}"]`).count(), 0);
      await byTestId(page, 'filter-paper').selectOption('');

      // The reviews-due list, from the server once the allergy is there.
      await serverRow((r) => r.paper_copy === 'out_of_date', 'an out-of-date paper copy');
      await byTestId(page, 'nav-scheme').click();
      const dueRow = byTestId(page, 'scheme-reviews-table').locator('tr', { hasText: patient.name });
      await dueRow.waitFor();
      const cell = dueRow.locator('[data-testid="scheme-reviews-paper"]');
      assert.equal(await cell.getAttribute('data-state'), 'out_of_date');
      assert.match(await cell.textContent(), /out of date.*allergies/);

      // The printed code, typed: out of date, naming allergies; offline too. A garbage
      // code is a clear error.
      await goto(tablet, `${plan}/check`);
      await byTestId(page, 'paper-code-input').fill(code);
      await byTestId(page, 'paper-code-check').click();
      const answer = byTestId(page, 'paper-check-answer');
      await answer.waitFor();
      assert.equal(await answer.getAttribute('data-state'), 'out_of_date');
      assert.match(await byTestId(page, 'paper-check-changed').textContent(), /allergies/);
      await setOffline(tablet, true);
      await byTestId(page, 'paper-code-input').fill(`  ${code.toUpperCase()} `);
      await byTestId(page, 'paper-code-check').click();
      await answer.waitFor();
      assert.equal(await answer.getAttribute('data-state'), 'out_of_date');
      await byTestId(page, 'paper-code-input').fill('hello world');
      await byTestId(page, 'paper-code-check').click();
      const error = byTestId(page, 'paper-check-error');
      await page.waitForFunction(() => document.querySelector('[data-testid="paper-check-error"]')?.dataset.kind === 'invalid');
      assert.match(await error.textContent(), /^This is not a Red Folder print code \(expected RF1-/);
      assert.equal(await answer.count(), 0, 'a garbage code still shows an answer');

      // Reprinted offline: recorded on the tablet, and the pages say plainly that the
      // server did not sign them. Back online, the server hears of the reprint.
      await goto(tablet, `${plan}/print`);
      await byTestId(page, 'print-view').waitFor();
      await page.evaluate(() => { window.print = () => { window.printCalls = (window.printCalls ?? 0) + 1; }; });
      await byTestId(page, 'print-button').click();
      await byTestId(page, 'print-recorded').waitFor();
      assert.equal(await page.evaluate(() => window.printCalls), 2);
      assert.equal(await byTestId(page, 'print-signature').getAttribute('data-signed'), 'false');
      assert.equal(await byTestId(page, 'print-signature').textContent(), 'Printed offline: not signed by the server.');
      assert.notEqual(await byTestId(page, 'print-stamp').getAttribute('data-code'), code);
      await goto(tablet, plan);
      await waitPaperState(page, 'current');
      await setOffline(tablet, false);
      await serverRow((r) => r.paper_copy === 'current', 'the offline reprint');
    } catch (e) {
      await env.screenshotAll('failure-paper-copy');
      throw new Error(`${e.message}${await describeTablet(tablet)}${env.serverLogs()}`, { cause: e });
    }

    // A second tablet films the printed QR code with its camera and reads the code.
    const cameraBrowser = await env.launchBrowser([
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${path.join(outputDir, 'paper-qr.y4m')}`,
    ]);
    const camera = await env.openTablet('camera', PORTRAIT, { browser: cameraBrowser });
    try {
      await signIn(camera, 'cm1.demo');
      await waitForCaseload(camera, caseload.length);
      await waitStored(camera, caseload.length);
      await goto(camera, `#/plan/${encodeURIComponent(patient.id)}/check`);
      await byTestId(camera.page, 'paper-scan-start').click();
      const answer = byTestId(camera.page, 'paper-check-answer');
      await answer.waitFor({ timeout: 30_000 });
      assert.equal(await answer.getAttribute('data-how'), 'scanned');
      assert.equal(await answer.getAttribute('data-state'), 'out_of_date');
      assert.match(await byTestId(camera.page, 'paper-check-changed').textContent(), /allergies/);
      const read = await byTestId(camera.page, 'paper-code-input').inputValue();
      // The QR code holds the printed code in capitals.
      assert.equal(read, code.toUpperCase());
      // The camera is released once the code is read.
      assert.ok(await byTestId(camera.page, 'paper-scan-video').isHidden());
    } catch (e) {
      await env.screenshotAll('failure-paper-copy-camera');
      throw new Error(`${e.message}${await describeTablet(camera)}`, { cause: e });
    }
  });
});

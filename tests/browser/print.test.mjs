// The red folder, printed: Chromium prints a plan's print view to an A4 PDF, and pdf.js
// reads the text of each page. Page 1 must name the patient and their CPR status; the
// emergency summary must fit pages 1 and 2 (the yellow paper), so the full plan's
// heading first appears on page 3; every page carries the patient and a page number.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  axeViolations, byTestId, describeTablet, goto, outputDir, pdfPages, PORTRAIT, setup, signIn, waitForCaseload, waitStored,
} from './helpers.mjs';

const DNACPR_LABELS = {
  do_not_attempt_cpr: 'DNACPR in place: do not attempt CPR',
  for_attempted_cpr: 'For attempted CPR',
  not_recorded: 'Not recorded',
};

let env;
let caseload;
let tablet;

async function printPlan(patient, name) {
  await goto(tablet, `#/plan/${encodeURIComponent(patient.id)}/print`);
  await byTestId(tablet.page, 'print-view').waitFor();
  const pdf = await tablet.page.pdf({ format: 'A4', printBackground: true });
  fs.mkdirSync(outputDir, { recursive: true });
  fs.writeFileSync(path.join(outputDir, `print-${name}.pdf`), pdf);
  return pdfPages(pdf);
}

function checkRedFolder(pages, patient, { medications = [] } = {}) {
  const dump = pages.map((p, i) => `--- page ${i + 1} ---\n${p.slice(0, 400)}`).join('\n');
  assert.ok(pages.length >= 3, `expected at least 3 pages, got ${pages.length}\n${dump}`);
  assert.ok(pages[0].includes(patient.name), `page 1 does not name ${patient.name}\n${dump}`);
  const label = DNACPR_LABELS[patient.dnacpr];
  assert.ok(pages[0].includes(label), `page 1 does not give the CPR status "${label}"\n${dump}`);
  const fullPlanPage = pages.findIndex((p) => p.includes('Full care plan')) + 1;
  assert.ok(fullPlanPage > 0, `no page starts the full care plan\n${dump}`);
  assert.ok(fullPlanPage <= 3, `the emergency summary runs past two pages: the full plan starts on page ${fullPlanPage}\n${dump}`);
  // Both yellow pages belong to the summary, whatever its length.
  assert.equal(fullPlanPage, 3, `the full plan starts on page ${fullPlanPage}, on the yellow paper\n${dump}`);
  pages.forEach((p, i) => {
    assert.ok(p.includes(`Page ${i + 1} of ${pages.length}`), `page ${i + 1} has no page number\n${dump}`);
    assert.ok(p.includes(patient.name), `page ${i + 1} does not name the patient\n${dump}`);
  });
  const fullPlan = pages.slice(2).join(' ');
  for (const m of medications) assert.ok(fullPlan.includes(m), `the full plan does not list ${m}\n${dump}`);
}

describe('the red folder, printed', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json;
    tablet = await env.openTablet('print', PORTRAIT);
    await signIn(tablet, 'cm1.demo');
    await waitForCaseload(tablet, caseload.length);
    await waitStored(tablet, caseload.length);
  });
  after(async () => { await env?.close(); });

  test('a demo plan prints with the summary on the two yellow pages', async () => {
    const patient = caseload.find((p) => p.dnacpr === 'do_not_attempt_cpr') ?? caseload[0];
    try {
      checkRedFolder(await printPlan(patient, 'demo'), patient);
      const problems = await axeViolations(tablet.page);
      assert.deepEqual(problems, [], `print view: ${problems.join('\n')}`);
    } catch (e) {
      await env.screenshotAll('failure-print');
      throw new Error(`${e.message}${await describeTablet(tablet)}`, { cause: e });
    }
  });

  test('a long plan still fits its summary in two pages', async () => {
    const patient = caseload.find((p) => p.dnacpr === 'for_attempted_cpr') ?? caseload[1];
    const { page } = tablet;
    const medications = [];
    try {
      await goto(tablet, `#/plan/${encodeURIComponent(patient.id)}`);
      await byTestId(page, 'exacerbation-plan').waitFor();
      // A plan at the full extent a busy patient reaches: many medications, long advice.
      for (let i = 1; i <= 10; i++) {
        const name = `Medicine${i} ${'x'.repeat(3)}`;
        medications.push(name);
        if (!(await byTestId(page, 'medication-details').evaluate((d) => d.open))) await byTestId(page, 'medication-open').click();
        await byTestId(page, 'medication-name').fill(name);
        await byTestId(page, 'medication-dose').fill('10 mg twice a day, with food, reduce if drowsy');
        await byTestId(page, 'medication-notes').fill('Kept in the blue dosette box on the kitchen windowsill');
        await byTestId(page, 'medication-add').click();
        await page.waitForFunction(() => document.querySelector('[data-testid="medications-saved"]')?.dataset.state === 'saved');
      }
      const advice = 'If breathless at rest: sit upright, use the rescue inhaler (4 puffs via spacer), start the rescue pack from the kitchen drawer, and call the practice. If SpO2 stays below 88% or the patient is confused or drowsy, call 999. ';
      await byTestId(page, 'exacerbation-plan').fill(advice.repeat(3));
      await byTestId(page, 'exacerbation-plan').blur();
      await page.waitForFunction(() => document.querySelector('[data-testid="exacerbation-saved"]')?.dataset.state === 'saved');

      const pages = await printPlan(patient, 'long');
      checkRedFolder(pages, patient, { medications });
      assert.equal(await byTestId(page, 'print-view').getAttribute('data-fits'), 'true');
      assert.ok(await byTestId(page, 'print-fit').isHidden(), 'the print view warns that the summary is too long');
    } catch (e) {
      await env.screenshotAll('failure-print-long');
      throw new Error(`${e.message}${await describeTablet(tablet)}`, { cause: e });
    }
  });
});

// Tablet-first quality on every screen, at 768×1024 portrait and 1280×800 landscape:
// axe-core finds no serious or critical violation, every control is at least 44 px
// square, and nothing scrolls sideways. A screenshot of each screen is kept in
// target/browser-artifacts/ for a person to look at.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  axeViolations, byTestId, describeTablet, goto, horizontalOverflow, LANDSCAPE, outputDir, PIN, PORTRAIT, setup,
  smallTouchTargets, unlock, waitForCaseload,
} from './helpers.mjs';

let env;
let caseload;

async function check(tablet, screen, problems) {
  const { page } = tablet;
  // Let the screen settle (fonts, the first frames of sync) before measuring.
  await page.waitForTimeout(150);
  for (const v of await axeViolations(page)) problems.push(`${tablet.label} ${screen}: ${v}`);
  for (const s of await smallTouchTargets(page)) problems.push(`${tablet.label} ${screen}: touch target too small: ${s}`);
  const overflow = await horizontalOverflow(page);
  if (overflow) problems.push(`${tablet.label} ${screen}: ${overflow}`);
  fs.mkdirSync(outputDir, { recursive: true });
  await page.screenshot({ path: path.join(outputDir, `screen-${tablet.label}-${screen}.png`), fullPage: true });
}

for (const [name, viewport] of [['portrait', PORTRAIT], ['landscape', LANDSCAPE]]) {
  describe(`every screen, ${name} ${viewport.width}×${viewport.height}`, () => {
    before(async () => {
      env = await setup();
      const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
      assert.equal(listing.status, 200, listing.text);
      caseload = listing.json;
    });
    after(async () => { await env?.close(); });

    test('case manager: sign in, PIN, caseload, plan, summary, print, lock', async () => {
      const t = await env.openTablet(`cm-${name}`, viewport);
      const { page } = t;
      const problems = [];
      try {
        await page.goto(t.url);
        await byTestId(page, 'login-form').waitFor();
        await check(t, 'login', problems);
        await byTestId(page, 'login-username').fill('cm1.demo');
        await byTestId(page, 'login-password').fill('wrong');
        await byTestId(page, 'login-submit').click();
        await page.waitForFunction(() => document.querySelector('[data-testid="login-error"]')?.textContent);
        await check(t, 'login-error', problems);
        await byTestId(page, 'login-password').fill('demo');
        await byTestId(page, 'login-submit').click();

        await byTestId(page, 'pin-new').waitFor();
        await check(t, 'set-pin', problems);
        await byTestId(page, 'pin-new').fill('123');
        await byTestId(page, 'pin-confirm').fill('123');
        await byTestId(page, 'pin-submit').click();
        await page.waitForFunction(() => document.querySelector('[data-testid="pin-error"]')?.textContent);
        assert.match(await byTestId(page, 'pin-error').textContent(), /at least 6 digits/);
        await check(t, 'set-pin-error', problems);
        await byTestId(page, 'pin-new').fill(PIN);
        await byTestId(page, 'pin-confirm').fill(PIN);
        await byTestId(page, 'pin-submit').click();

        await waitForCaseload(t, caseload.length);
        await check(t, 'caseload', problems);
        const patient = caseload.find((p) => p.dnacpr === 'do_not_attempt_cpr') ?? caseload[0];
        await goto(t, `#/plan/${encodeURIComponent(patient.id)}`);
        await byTestId(page, 'exacerbation-plan').waitFor();
        await check(t, 'plan', problems);
        // Every section's forms, opened: enrolment, care team, contacts, medicines,
        // allergies, baseline, exacerbation plans, goals, decisions, reviews, MDT, consent.
        await page.evaluate(() => { for (const d of document.querySelectorAll('#main details')) d.open = true; });
        for (const s of ['section-lifecycle', 'section-enrolment', 'section-care-team', 'section-personal-contacts', 'section-anticipatory',
          'section-allergies', 'section-baseline-full', 'section-escalation', 'section-goals', 'section-decisions', 'section-reviews',
          'section-mdt', 'section-advice', 'section-consent-full']) {
          assert.equal(await byTestId(page, s).count(), 1, `plan screen has ${s}`);
        }
        await check(t, 'plan-all-sections', problems);
        await byTestId(page, 'tab-summary').click();
        await byTestId(page, 'emergency-summary').waitFor();
        await check(t, 'summary', problems);
        await byTestId(page, 'tab-print').click();
        await byTestId(page, 'print-view').waitFor();
        await check(t, 'print', problems);

        await byTestId(page, 'lock').click();
        await byTestId(page, 'unlock-form').waitFor();
        await check(t, 'unlock', problems);
        await byTestId(page, 'unlock-pin').fill('000000');
        await byTestId(page, 'unlock-submit').click();
        await page.waitForFunction(() => document.querySelector('[data-testid="unlock-attempts"]')?.textContent);
        await check(t, 'unlock-wrong-pin', problems);
        await byTestId(page, 'forgot-pin').click();
        await check(t, 'unlock-forgot', problems);
        await unlock(t);
        await byTestId(page, 'print-view').waitFor();
        assert.deepEqual(problems, [], problems.join('\n'));
      } catch (e) {
        await env.screenshotAll(`failure-screens-${name}`);
        throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
      }
    });

    test('emergency clinician: lookup, summary, no summary, malformed number', async () => {
      const t = await env.openTablet(`crew-${name}`, viewport);
      const { page } = t;
      const problems = [];
      const sharing = caseload.find((p) => p.share_with_emergency_services);
      try {
        await page.goto(t.url);
        await byTestId(page, 'login-username').fill('ambulance.demo');
        await byTestId(page, 'login-password').fill('demo');
        await byTestId(page, 'login-submit').click();
        await byTestId(page, 'pin-new').fill(PIN);
        await byTestId(page, 'pin-confirm').fill(PIN);
        await byTestId(page, 'pin-submit').click();
        await byTestId(page, 'emergency-form').waitFor();
        await check(t, 'emergency', problems);
        const submit = async (nhs) => {
          await byTestId(page, 'emergency-nhs').fill(nhs);
          await byTestId(page, 'emergency-submit').click();
          await page.waitForFunction(() => !document.querySelector('[data-testid="emergency-submit"]').disabled
            && (document.querySelector('[data-testid="emergency-error"]').textContent || document.querySelector('[data-testid="emergency-result"]').children.length));
        };
        await submit('943 476 5918');
        await check(t, 'emergency-invalid', problems);
        await submit(sharing.nhs_number);
        await byTestId(page, 'emergency-summary').waitFor();
        await check(t, 'emergency-summary', problems);
        await submit('9434765919');
        await byTestId(page, 'emergency-none').waitFor();
        await check(t, 'emergency-none', problems);
        assert.deepEqual(problems, [], problems.join('\n'));
      } catch (e) {
        await env.screenshotAll(`failure-crew-${name}`);
        throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
      }
    });
  });
}

// The emergency clinician's screen: an ambulance crew member signs in, sets a PIN, and
// looks up summaries by NHS number (optionally checked against a date of birth). It is
// read-only and keeps nothing about patients on the tablet.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { axeViolations, byTestId, describeTablet, dumpStorage, findPlaintext, LANDSCAPE, setup, signIn } from './helpers.mjs';

let env;
let caseload;
let tablet;

async function lookUp(nhs, dob = '') {
  const { page } = tablet;
  await byTestId(page, 'emergency-nhs').fill(nhs);
  await byTestId(page, 'emergency-dob').fill(dob);
  await byTestId(page, 'emergency-submit').click();
  await page.waitForFunction(() => {
    const error = document.querySelector('[data-testid="emergency-error"]');
    const result = document.querySelector('[data-testid="emergency-result"]');
    const busy = document.querySelector('[data-testid="emergency-submit"]')?.disabled;
    return !busy && ((error && error.textContent) || (result && result.children.length));
  }, null, { timeout: 15_000 });
  return {
    error: (await byTestId(page, 'emergency-error').textContent()) || '',
    kind: await byTestId(page, 'emergency-error').getAttribute('data-kind'),
    result: (await byTestId(page, 'emergency-result').textContent()) || '',
  };
}

const display = (nhs) => `${nhs.slice(0, 3)} ${nhs.slice(3, 6)} ${nhs.slice(6)}`;

describe('emergency summary lookup', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json;
    tablet = await env.openTablet('crew', LANDSCAPE);
    await signIn(tablet, 'ambulance.demo', { waitFor: 'emergency-form' });
  });
  after(async () => { await env?.close(); });

  test('finds a consenting patient\'s summary, checks the date of birth, and says when there is none', async () => {
    const sharing = caseload.find((p) => p.share_with_emergency_services);
    const refusing = caseload.find((p) => !p.share_with_emergency_services);
    const problems = [];
    try {
      // Malformed numbers are refused on the tablet, with the reason.
      let r = await lookUp('943 476 5918');
      assert.equal(r.kind, 'invalid', JSON.stringify(r));
      assert.match(r.error, /not a valid NHS number: .*check digit/i);
      r = await lookUp('12345');
      assert.equal(r.kind, 'invalid', JSON.stringify(r));
      assert.match(r.error, /10 digits/);
      r = await lookUp('94347659AB');
      assert.equal(r.kind, 'invalid', JSON.stringify(r));
      problems.push(...(await axeViolations(tablet.page)).map((v) => `invalid number: ${v}`));

      // A consenting patient, typed in the 3-3-4 form.
      r = await lookUp(display(sharing.nhs_number));
      assert.equal(r.error, '', JSON.stringify(r));
      assert.ok(r.result.includes(sharing.name), `summary does not name ${sharing.name}: ${r.result.slice(0, 300)}`);
      assert.ok(await byTestId(tablet.page, 'summary-dnacpr').isVisible(), 'no CPR status shown');
      problems.push(...(await axeViolations(tablet.page)).map((v) => `summary: ${v}`));

      // With the date of birth: a match shows it, a mismatch does not.
      r = await lookUp(sharing.nhs_number, sharing.date_of_birth);
      assert.ok(r.result.includes(sharing.name), JSON.stringify(r));
      r = await lookUp(sharing.nhs_number, '1901-01-01');
      assert.equal(r.kind, 'dob', JSON.stringify(r));
      assert.equal(r.result, '', 'a summary was shown for the wrong date of birth');

      // No consent, or no plan: the same clear "no summary".
      for (const nhs of [refusing.nhs_number, '9434765919']) {
        r = await lookUp(nhs);
        assert.equal(r.error, '', JSON.stringify(r));
        assert.ok(await byTestId(tablet.page, 'emergency-none').isVisible(), `no "no summary" message for ${nhs}: ${JSON.stringify(r)}`);
        assert.match(r.result, /No summary available/);
      }
      problems.push(...(await axeViolations(tablet.page)).map((v) => `no summary: ${v}`));

      // Offline: a clear message, not a stale copy.
      await tablet.context.setOffline(true);
      r = await lookUp(sharing.nhs_number);
      assert.equal(r.kind, 'offline', JSON.stringify(r));
      await tablet.context.setOffline(false);

      // Nothing about the patients looked up stays on the tablet.
      const dump = await dumpStorage(tablet.page);
      const leaks = dump.records.flatMap((rec) => findPlaintext(rec.bytes, [sharing.name, sharing.nhs_number]).map((h) => `${rec.store}/${rec.key}: ${h}`));
      assert.deepEqual(leaks, []);
      assert.equal(dump.records.filter((rec) => rec.store === 'docs').length, 0, 'plans stored on a crew tablet');
      assert.deepEqual(problems, [], problems.join('\n'));
    } catch (e) {
      await env.screenshotAll('failure-emergency');
      throw new Error(`${e.message}${await describeTablet(tablet)}`, { cause: e });
    }
  });
});

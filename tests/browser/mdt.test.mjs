// An MDT meeting run from the scheme screen (issue 6): a case manager schedules a meeting
// for today (warned: under four weeks' notice), is refused one in the past with the
// server's reason, lists a patient of the practice (warned: under a week before), records
// the outcome with a referral, then the signed attendance of the four core roles one by
// one (the missing-roles warning shrinks and goes), and invites a member of another
// organisation by username (a case manager's is refused), who then sees the meeting. The
// meeting counts as held against the ten a year, and the server's own record (API) holds
// every value typed. A meeting five weeks ahead refuses attendance before its day, and
// the screen says why.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { axeViolations, byTestId, describeTablet, horizontalOverflow, LANDSCAPE, PORTRAIT, setup, signIn, smallTouchTargets } from './helpers.mjs';

let env;
let caseload;

const CORE = [
  ['Dr Asha Patel', 'gp', 'Ashbridge Medical Practice'],
  ['Jo Reeves', 'community_nurse', 'Community nursing'],
  ['Marek Nowak', 'social_work', 'Adult social care'],
  ['Dee Lawson', 'voluntary_sector', 'Age UK'],
];

describe('an MDT meeting in the app', () => {
  before(async () => {
    env = await setup();
    const listing = await env.api('GET', '/api/v1/patients', { token: await env.apiLogin('cm1.demo') });
    assert.equal(listing.status, 200, listing.text);
    caseload = listing.json.filter((p) => p.access === 'case_manager');
    assert.ok(caseload.length > 0, 'cm1.demo has no patient of the practice');
  });
  after(async () => { await env?.close(); });

  test('schedule, list a patient, record an outcome and signed attendance; the meeting is held', async () => {
    const t = await env.openTablet('mdt', LANDSCAPE);
    const { page } = t;
    try {
      await signIn(t, 'cm1.demo');
      await byTestId(page, 'nav-scheme').click();
      await byTestId(page, 'scheme-mdt-count').waitFor();
      assert.match(await byTestId(page, 'scheme-mdt-count').textContent(), /^0 of the 10 meetings/);

      // A date in the past is refused, and the server's reason is shown.
      const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
      await byTestId(page, 'scheme-mdt-date').fill(day(-1));
      await byTestId(page, 'scheme-mdt-form').locator('button[type="submit"]').click();
      await byTestId(page, 'scheme-mdt-form').locator('[role="alert"]', { hasText: 'cannot be scheduled in the past' }).waitFor();

      // Today: scheduled (with the four-weeks warning) and opened in place.
      await byTestId(page, 'scheme-mdt-date').fill(day(0));
      await byTestId(page, 'scheme-mdt-form').locator('button[type="submit"]').click();
      const meeting = byTestId(page, 'scheme-mdt-meeting');
      await meeting.waitFor();
      const id = await byTestId(page, 'scheme-mdt-meeting-title').getAttribute('data-id');
      assert.ok(id);
      assert.match(await byTestId(page, 'scheme-mdt-warnings').textContent(), /at least 4 weeks in advance/);
      assert.equal(await byTestId(page, 'scheme-mdt-state').getAttribute('data-held'), 'false');

      // A patient of the practice, chosen from the caseload, listed on the day: warned.
      const patient = caseload[0];
      await byTestId(page, 'scheme-mdt-add-patient').selectOption(patient.id);
      await byTestId(page, 'scheme-mdt-add-form').locator('button[type="submit"]').click();
      const row = page.locator(`[data-testid="scheme-mdt-patient"][data-patient-id="${patient.id}"]`);
      await row.waitFor();
      assert.match(await row.textContent(), new RegExp(patient.name));
      assert.match(await byTestId(page, 'scheme-mdt-warnings').textContent(), /1 patient\(s\) listed less than a week before/);
      assert.equal(await byTestId(page, 'scheme-mdt-add-patient').locator(`option[value="${patient.id}"]`).count(), 0, 'a listed patient can be listed again');

      // The outcome and a referral.
      await row.locator('[data-testid="scheme-mdt-outcome"]').fill('Falls risk: home assessment before next review');
      await row.locator('[data-testid="scheme-mdt-referrals"]').fill('Falls clinic; occupational therapy');
      await row.locator('[data-testid="scheme-mdt-save-outcome"]').click();
      await page.locator(`[data-testid="scheme-mdt-patient"][data-patient-id="${patient.id}"][data-has-outcome="true"]`).waitFor();
      assert.equal(await row.locator('[data-testid="scheme-mdt-referrals"]').inputValue(), 'Falls clinic; occupational therapy');

      // Attendance, signed, by core role: the meeting is held from the first signature and
      // warns about the core roles still missing until all four have signed.
      for (const [i, [name, role, organisation]] of CORE.entries()) {
        await byTestId(page, 'scheme-mdt-attendee').fill(name);
        await byTestId(page, 'scheme-mdt-role').selectOption(role);
        await byTestId(page, 'scheme-mdt-organisation').fill(organisation);
        await byTestId(page, 'scheme-mdt-signed').check();
        await byTestId(page, 'scheme-mdt-attendance-form').locator('button[type="submit"]').click();
        await page.locator('[data-testid="scheme-mdt-attendance"] tbody tr').nth(i).waitFor();
        assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'scheme-mdt-attendee', 'the name field is not ready for the next attendee');
        if (i === 0) {
          assert.equal(await byTestId(page, 'scheme-mdt-state').getAttribute('data-held'), 'true');
          assert.match(await byTestId(page, 'scheme-mdt-warnings').textContent(),
            /no signed attendance from core member\(s\): community_nurse, social_work, voluntary_sector/);
        }
      }
      assert.doesNotMatch(await byTestId(page, 'scheme-mdt-warnings').textContent(), /no signed attendance/);
      const attendance = await byTestId(page, 'scheme-mdt-attendance').textContent();
      for (const [name] of CORE) assert.match(attendance, new RegExp(`${name}`));

      // A member from another organisation is invited by username. A user who is no MDT
      // member is refused with the server's reason; inviting twice says so.
      const invite = async (username) => {
        await byTestId(page, 'scheme-mdt-invite-username').fill(username);
        await byTestId(page, 'scheme-mdt-invite-form').locator('button[type="submit"]').click();
      };
      await invite('cm1.demo');
      await byTestId(page, 'scheme-mdt-invite-form').locator('[role="alert"]', { hasText: 'no MDT member has that username' }).waitFor();
      await invite('mdt.demo');
      await byTestId(page, 'scheme-mdt-flash').filter({ hasText: 'Jo Whitaker (demo)' }).filter({ hasText: 'is invited to this meeting' }).waitFor();
      await invite('mdt.demo');
      await byTestId(page, 'scheme-mdt-flash').filter({ hasText: 'was already invited to this meeting' }).waitFor();
      const invited = await page.locator('[data-testid="scheme-mdt-members"] tbody tr').allTextContents();
      assert.equal(invited.length, 1, invited.join('\n'));
      assert.match(invited[0], /Jo Whitaker \(demo\).*mdt\.demo/);
      assert.match(await byTestId(page, 'scheme-mdt-count').textContent(), /^1 of the 10 meetings required in \d{4} have been held; 1 scheduled/);

      const found = [...await axeViolations(page), ...await smallTouchTargets(page), await horizontalOverflow(page)].filter(Boolean);
      assert.deepEqual(found, [], found.join('\n'));
      await env.screenshotAll('scheme-mdt-meeting');
      // The open meeting fits a tablet held upright too.
      await page.setViewportSize(PORTRAIT);
      const upright = [...await smallTouchTargets(page), await horizontalOverflow(page)].filter(Boolean);
      assert.deepEqual(upright, [], upright.join('\n'));

      // The server holds what was typed.
      const token = await env.apiLogin('cm1.demo');
      const one = await env.api('GET', `/api/v1/scheme/mdt-meetings/${id}`, { token });
      assert.equal(one.status, 200, one.text);
      assert.equal(one.json.date, day(0));
      assert.equal(one.json.held, true);
      assert.deepEqual(one.json.patients.map((p) => [p.patient_id, p.outcome, p.referrals]),
        [[patient.id, 'Falls risk: home assessment before next review', 'Falls clinic; occupational therapy']]);
      assert.deepEqual(one.json.attendance.map((a) => [a.name, a.core_role, a.organisation, a.signed]).sort(),
        CORE.map(([n, r, o]) => [n, r, o, true]).sort());
      assert.ok(!one.json.warnings.some((w) => /core member/.test(w)), one.text);
      // The invited member sees the meeting and its one patient.
      const member = await env.api('GET', '/api/v1/scheme/my-mdt-meetings', { token: await env.apiLogin('mdt.demo') });
      assert.equal(member.status, 200, member.text);
      const seen = member.json.find((x) => x.id === id);
      assert.ok(seen, member.text);
      assert.equal(seen.patients.length, 1, member.text);
      const list = await env.api('GET', '/api/v1/scheme/mdt-meetings', { token });
      assert.equal(list.json.held, 1, list.text);
      assert.equal(list.json.required, 10);

      // A meeting five weeks ahead (perhaps next year: the list moves to its year) opens
      // once scheduled; signing attendance before the day is refused, and the server's
      // reason is shown beside the form.
      await page.setViewportSize(LANDSCAPE);
      const later = day(35);
      await byTestId(page, 'scheme-mdt-date').fill(later);
      await byTestId(page, 'scheme-mdt-form').locator('button[type="submit"]').click();
      await page.locator(`[data-testid="scheme-mdt-meeting-title"]:not([data-id="${id}"])`).waitFor();
      assert.equal(await byTestId(page, 'scheme-mdt-state').getAttribute('data-held'), 'false');
      assert.doesNotMatch(await byTestId(page, 'scheme-mdt-warnings').count() ? await byTestId(page, 'scheme-mdt-warnings').textContent() : '', /4 weeks/);
      assert.match(await byTestId(page, 'scheme-mdt-count').textContent(), new RegExp(`required in ${later.slice(0, 4)} `));
      await byTestId(page, 'scheme-mdt-attendee').fill('Dr Asha Patel');
      await byTestId(page, 'scheme-mdt-attendance-form').locator('button[type="submit"]').click();
      await byTestId(page, 'scheme-mdt-attendance-form').locator('[role="alert"]', { hasText: 'attendance is signed at or after the meeting' }).waitFor();

      // Back to this year's list: today's meeting opens again from it, still held.
      await byTestId(page, 'scheme-mdt-year').fill(day(0).slice(0, 4));
      await byTestId(page, 'scheme-mdt-year').dispatchEvent('change');
      await page.locator(`[data-testid="scheme-mdt-open"][data-id="${id}"]`).click();
      await page.locator(`[data-testid="scheme-mdt-meeting-title"][data-id="${id}"]`).waitFor();
      assert.equal(await byTestId(page, 'scheme-mdt-state').getAttribute('data-held'), 'true');
      assert.match(await byTestId(page, 'scheme-mdt-count').textContent(), /^1 of the 10 meetings required/);
      await byTestId(page, 'scheme-mdt-close').click();
      await byTestId(page, 'scheme-mdt-meeting').waitFor({ state: 'detached' });
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.id), id, 'closing does not return focus to the meeting\'s button');
    } catch (e) {
      await env.screenshotAll('failure-mdt');
      throw new Error(`${e.message}${await describeTablet(t)}`, { cause: e });
    }
  });
});

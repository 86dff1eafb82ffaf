// The caseload: the plans on this tablet with their DNACPR, review and paper-copy state,
// filtered; and the practice's enrolment line above it.

import type { CaseloadEntry, ReviewDue, SyncStatus } from './core.js';
import { field, fmtDate, h } from './dom.js';
import { app, core, isCaseManager, isMdtMember, show } from './shell.js';
import { PAPER_FILTER, paperBadge, paperFilter } from './paper.js';
import { LABELS } from './labels.js';
import { apiRequest } from './session.js';

function caseloadRow(p: CaseloadEntry): HTMLLIElement {
  return h('li', {},
    h('a', { class: 'patient-link', href: `#/plan/${encodeURIComponent(p.id)}`, testid: 'caseload-item', 'data-id': p.id, 'data-nhs': p.nhs_number, 'data-version': p.plan_version },
      h('span', { class: 'patient-name' }, p.name),
      h('span', { class: 'muted' }, `NHS ${p.nhs_number_display} · born ${p.dob}`),
      h('span', { class: 'badges' },
        dnacprBadge(p),
        paperBadge(p.paper_copy, p.paper_copy_label),
        p.share_with_emergency_services ? h('span', { class: 'badge' }, 'Shares with emergency services') : h('span', { class: 'badge' }, 'No emergency sharing'),
        p.conflicts ? h('span', { class: 'badge conflict', testid: 'caseload-conflicts' }, p.conflicts === 1 ? '1 conflict to resolve' : `${p.conflicts} conflicts to resolve`) : null,
        p.review ? h('span', { class: `badge${p.review.state === 'overdue' ? ' overdue' : ''}`, testid: 'caseload-review', 'data-state': p.review.state, 'data-due': p.review.due }, reviewText(p.review)) : null,
        p.pending ? h('span', { class: 'badge pending' }, `${p.pending} waiting to upload`) : null,
        p.refused ? h('span', { class: 'badge refused', testid: 'caseload-refused', 'data-count': p.refused }, p.refused === 1 ? '1 change not accepted' : `${p.refused} changes not accepted`) : null)));
}

// The DNACPR badge from the core's reading: never one side of a conflict, and a
// conflict is badged louder than a settled DNACPR because the crew must ask.
function dnacprBadge(p: CaseloadEntry): HTMLElement | null {
  if (p.dnacpr === 'conflicting') {
    return h('span', { class: 'badge dnacpr conflicting', testid: 'caseload-dnacpr', 'data-status': p.dnacpr, title: p.dnacpr_label }, 'DNACPR conflicting: confirm with the care team');
  }
  if (p.dnacpr === 'do_not_attempt_cpr') return h('span', { class: 'badge dnacpr', testid: 'caseload-dnacpr', 'data-status': p.dnacpr }, 'DNACPR');
  return null;
}

// The caseload's DNACPR filter: a conflicting decision matches only "conflicting", never
// either of the statuses it is torn between.
const DNACPR_FILTER: Record<string, string> = {
  do_not_attempt_cpr: 'DNACPR in place',
  for_attempted_cpr: 'For attempted CPR',
  not_recorded: 'Not recorded',
  conflicting: 'Conflicting decisions',
};

// The core's next review (when it falls due and whether that is overdue) in words.
function reviewText(r: ReviewDue): string {
  if (r.state === 'overdue') return `Review overdue since ${fmtDate(r.due)}`;
  if (r.state === 'due_soon') return `Review due soon: ${fmtDate(r.due)}`;
  return `Review due ${fmtDate(r.due)}`;
}

// The caseload's review filter, on the core's reckoning: "this month" is what falls due
// from today to the end of the month; overdue reviews have their own filter.
function reviewFilter(p: CaseloadEntry, filter: string): boolean {
  if (!filter) return true;
  if (!p.review) return false;
  if (filter === 'overdue') return p.review.state === 'overdue';
  return p.review.due_this_month && p.review.state !== 'overdue';
}

function filterSelect(testid: string, blank: string, options: Record<string, string>): HTMLSelectElement {
  return h('select', { testid }, h('option', { value: '' }, blank), ...Object.entries(options).map(([value, text]) => h('option', { value }, text)));
}

export function renderCaseload() {
  const search = h('input', { type: 'search', testid: 'caseload-search', autocomplete: 'off', placeholder: 'Name or NHS number' });
  const dueFilter = filterSelect('filter-review', 'Any review date', { this_month: 'Review due this month', overdue: 'Review overdue' });
  const cohortFilter = filterSelect('filter-cohort', 'Any cohort', LABELS.cohort);
  const tierFilter = filterSelect('filter-tier', 'Any tier', LABELS.tier);
  const dnacprFilter = filterSelect('filter-dnacpr', 'Any DNACPR status', DNACPR_FILTER);
  const paperFilterSelect = filterSelect('filter-paper', 'Any paper copy', PAPER_FILTER);
  const list = h('ul', { class: 'caseload', testid: 'caseload-list', 'aria-label': 'Patients' });
  const note = h('p', { class: 'muted', testid: 'caseload-note', 'aria-live': 'polite' });
  const bar = h('progress', { id: 'caseload-progress-bar', testid: 'caseload-progress-bar', max: 1, value: 0 });
  const barLabel = h('label', { for: 'caseload-progress-bar', testid: 'caseload-progress-label' });
  const progress = h('div', { class: 'progress', testid: 'caseload-progress', hidden: true }, barLabel, bar);
  const drawn = new Map<string, { signature: string; li: HTMLLIElement }>();
  const draw = () => {
    const query = search.value.trim().toLowerCase();
    const digits = query.replace(/[\s-]/g, '');
    const byNumber = digits.length > 0 && /^\d+$/.test(digits);
    const due = dueFilter.value;
    const filtered = !!(query || due || cohortFilter.value || tierFilter.value || dnacprFilter.value || paperFilterSelect.value);
    const entries = core().caseload()
      .filter((p) => !query || p.name.toLowerCase().includes(query) || (byNumber && p.nhs_number.includes(digits)))
      .filter((p) => reviewFilter(p, due))
      .filter((p) => !cohortFilter.value || p.cohort === cohortFilter.value)
      .filter((p) => !tierFilter.value || p.tier === tierFilter.value)
      .filter((p) => !dnacprFilter.value || p.dnacpr === dnacprFilter.value)
      .filter((p) => paperFilter(p.paper_copy, paperFilterSelect.value))
      .sort((a, b) => a.name.localeCompare(b.name));
    // Rows are kept and reused while their patient's line is unchanged, so a tap is never
    // lost to a redraw while the caseload syncs.
    const rows = entries.map((p) => {
      const signature = JSON.stringify([p.name, p.nhs_number_display, p.dob, p.dnacpr, p.share_with_emergency_services, p.pending, p.conflicts, p.review, p.refused, p.paper_copy_label]);
      let row = drawn.get(p.id);
      if (!row || row.signature !== signature) {
        row = { signature, li: caseloadRow(p) };
        drawn.set(p.id, row);
      }
      return row.li;
    });
    const current = list.children;
    if (current.length !== rows.length || rows.some((li, i) => current[i] !== li)) list.replaceChildren(...rows);
    const status = app.lastStatus || core().status();
    const { docs_total: total, docs_received: received, docs_waiting: waiting } = status;
    progress.hidden = !waiting;
    progress.dataset.received = String(received);
    progress.dataset.total = String(total);
    bar.max = Math.max(total, 1);
    bar.value = received;
    barLabel.textContent = `Downloading your caseload: ${received} of ${total} plans received${status.state === 'online' ? '' : ' (paused until the connection is back; it carries on where it stopped)'}`;
    if (!entries.length && !filtered) {
      note.textContent = waiting ? '' : 'No plans on this tablet yet. They download when you are online.';
    } else if (!entries.length) {
      note.textContent = query ? 'No patient matches that search.' : 'No patient matches those filters.';
    } else {
      note.textContent = filtered ? `${entries.length} of ${received} patients match` : `${entries.length} patients`;
    }
  };
  search.addEventListener('input', draw);
  for (const f of [dueFilter, cohortFilter, tierFilter, dnacprFilter, paperFilterSelect]) f.addEventListener('change', draw);
  let scheduled = false;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => { scheduled = false; draw(); });
  };
  show(
    h('div', { class: 'caseload-head' },
      h('h1', {}, 'Caseload'),
      isCaseManager() ? h('a', { href: '#/scheme', class: 'button secondary', testid: 'nav-scheme' }, 'Running the scheme') : null,
      isCaseManager() ? h('a', { href: '#/referrals', class: 'button secondary', testid: 'nav-referrals' }, 'Referrals') : null,
      isMdtMember() ? h('a', { href: '#/mdt', class: 'button secondary', testid: 'nav-my-mdt' }, 'My MDT meetings') : null,
      isMdtMember() && !isCaseManager() ? h('a', { href: '#/clinics', class: 'button secondary', testid: 'nav-clinics' }, 'Virtual clinics') : null,
      isCaseManager() ? cohortLine() : null,
      field('Search patients', search, 'By name or NHS number'),
      h('div', { class: 'caseload-filters', role: 'group', 'aria-label': 'Filter the caseload' },
        field('Review', dueFilter), field('Cohort', cohortFilter), field('Tier', tierFilter), field('DNACPR', dnacprFilter), field('Paper copy', paperFilterSelect))),
    progress,
    note,
    list);
  let seen = '';
  const statusChanged = (status: SyncStatus): void => {
    // Redraw only when what the list shows could differ (not on every timer tick).
    const key = `${status.docs_total}/${status.docs_waiting}/${status.pending}/${status.state}`;
    if (key !== seen) { seen = key; schedule(); }
  };
  app.view = { name: 'caseload', update: schedule, statusChanged };
  draw();
}

// The practice's enrolment against 3 % and 5 % of its list, by category, on the caseload
// (seed 003: "always visible"). Read from the server when online; it names no patient.
function cohortLine(): HTMLElement {
  const line = h('p', { class: 'muted cohort-line', testid: 'caseload-cohort' });
  if (!navigator.onLine) {
    line.textContent = 'Enrolment against the list: needs a connection.';
    return line;
  }
  apiRequest('/scheme/cohort').then(async (response) => {
    const body = response.ok ? await response.json() : null;
    const c = body?.cohort as { percent_of_list: number; percent_by_category: Record<string, number>; list_size: number } | null | undefined;
    if (!c) {
      line.textContent = response.ok ? 'Enrolment against the list: record the list size under \u201cRunning the scheme\u201d.' : '';
      return;
    }
    const by = Object.entries({ risk_tool: 'risk tool', care_home: 'care home', practice_discretion: 'practice discretion', over75: 'over-75 review' })
      .map(([k, label]) => `${label} ${(c.percent_by_category[k] ?? 0).toFixed(2)} %`).join(', ');
    line.dataset.percent = c.percent_of_list.toFixed(2);
    line.textContent = `Enrolled: ${c.percent_of_list.toFixed(2)} % of ${c.list_size} (targets 3 % and 5 %) \u2014 ${by}.`;
  }).catch(() => { line.textContent = 'Enrolment against the list: needs a connection.'; });
  return line;
}

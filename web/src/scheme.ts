// Running the case management scheme (seed 003): the practice's cohort against 3 % and 5 %
// of its list, the risk-tool upload, the candidates worklist, reviews due, advice from
// virtual clinics, MDT meetings and the monthly return with its claim; for a
// commissioner, the same return across practices with no patient named.
//
// These screens read and write the server directly (they are practice administration,
// not home-visit work), so they need a connection and say so without one. Every figure
// and rule comes from the server (crates/server/src/scheme); this module only shows them.

import { type Child, errorMessage, field, fmtDate, fmtDateTime, h, section } from './dom.js';

/** How the scheme screens reach the server: `request` adds the signed-in user's token
 * (renewing it first if due) to a fetch of `/api/v1<path>`. */
export interface SchemeContext {
  request(path: string, init?: RequestInit): Promise<Response>;
  /** `commissioner` sees the aggregate return only. */
  commissioner: boolean;
  /** Opens a patient's plan in the app. */
  openPlan(patientId: string): void;
}

type Category = 'risk_tool' | 'care_home' | 'practice_discretion' | 'over75';
const CATEGORIES: [Category, string][] = [
  ['risk_tool', 'Risk tool'],
  ['care_home', 'Care home'],
  ['practice_discretion', 'Practice discretion'],
  ['over75', 'Over-75 case review'],
];

interface Cohort {
  list_size: number;
  enrolled: Record<Category, number>;
  full_case_management: number;
  percent_of_list: number;
  percent_by_category: Record<Category, number>;
  first_tier_places: number;
  cohort_places: number;
  phase: string;
}

interface Candidate {
  nhs_number: string;
  patient_id: string | null;
  name: string | null;
  reason: string;
  risk_level: number | null;
  risk_score: number | null;
}

interface Exclusion {
  id: string;
  nhs_number: string;
  reason: string;
  recorded_at_ms: number;
}

interface Candidates {
  cohort: Cohort | null;
  risk_upload: { id: string; uploaded_at_ms: number; row_count: number } | null;
  candidates: Candidate[];
  exclusions: Exclusion[];
}

interface DueRow {
  patient_id: string;
  nhs_number: string;
  name: string;
  case_manager: string | null;
  due: string;
  state: 'overdue' | 'due_soon' | 'not_yet_due';
  /** Whether the paper copy in the home still says what the plan says (the core's reading). */
  paper_copy?: 'not_printed' | 'current' | 'out_of_date';
  paper_copy_label?: string;
}

interface DueCounts {
  overdue: number;
  due_soon: number;
  not_yet_due: number;
}

interface ReviewsDue {
  today: string;
  within_days: number;
  practice: DueCounts;
  plans: DueRow[];
  by_case_manager: { case_manager: string | null; counts: DueCounts }[];
}

interface ClaimLine {
  activity: string;
  count: number;
  unit_price: number;
  value: number;
}

interface MonthlyReturn {
  month: string;
  claimed_on: string;
  list_size: number | null;
  new_plans: Record<Category, number>;
  reviews_done: number;
  over_75_case_reviews: number;
  plans_in_place: Record<Category, number>;
  full_case_management_in_place: number;
  percent_of_list: number | null;
  target_first_tier_percent: number;
  target_cohort_percent: number;
  claim: ClaimLine[];
  claim_total: number;
  not_payable: ClaimLine[];
  discharges: { discharged: number; to_annual_review: number; moved_away: number; died: number; patient_declined: number; total: number };
}

interface Aggregate {
  month: string;
  claimed_on: string;
  practices: { code: string; name: string; return: MonthlyReturn }[];
  totals: Record<string, number>;
}

interface MeetingPatient {
  patient_id: string;
  listed_at_ms: number;
  outcome: string | null;
  referrals: string | null;
}

interface Attendee {
  name: string;
  core_role: CoreRole;
  organisation: string;
  signed: boolean;
}

interface Meeting {
  id: string;
  date: string;
  scheduled_at_ms: number;
  held: boolean;
  warnings: string[];
  patients: MeetingPatient[];
  attendance: Attendee[];
  /** Members of other organisations invited to the meeting. */
  members: InvitedMember[];
}

/** A row of the caseload (`GET /patients`): the patients a meeting can list. */
export interface CaseloadRow {
  id: string;
  nhs_number: string;
  name: string;
  access?: string;
}

type CoreRole = 'gp' | 'community_nurse' | 'social_work' | 'voluntary_sector' | 'other';
const CORE_ROLES: [CoreRole, string][] = [
  ['gp', 'GP'],
  ['community_nurse', 'Community nurse'],
  ['social_work', 'Social work'],
  ['voluntary_sector', 'Voluntary sector co-ordinator'],
  ['other', 'Other'],
];
const roleLabel = (role: string): string => CORE_ROLES.find(([k]) => k === role)?.[1] ?? role.replace(/_/g, ' ');

/** Someone from another organisation invited to a meeting. */
interface InvitedMember {
  username: string;
  name: string;
  organisation: string;
  invited_at_ms: number;
}

/** `POST /scheme/mdt-meetings/{id}/members`. */
interface Invited {
  meeting_id: string;
  username: string;
  name: string;
  organisation: string;
  /** False when they were invited already. */
  newly_invited: boolean;
}

interface Meetings {
  year: number;
  held: number;
  required: number;
  scheduled: number;
  short_of_required: number;
  meetings: Meeting[];
}

interface Advice {
  patient_id: string;
  patient_name: string;
  nhs_number: string;
  advice_id: string;
  specialist: string;
  at_ms: number;
}

class Refused extends Error {
  constructor(message: string, readonly status: number, readonly body: unknown) {
    super(message);
  }
}

export async function call<T>(ctx: Pick<SchemeContext, 'request'>, path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await ctx.request(path, init);
  } catch {
    throw new Refused('The server cannot be reached: the scheme screens need a connection.', 0, null);
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const message = (body as { message?: string } | null)?.message ?? `the server answered ${response.status}`;
    throw new Refused(message, response.status, body);
  }
  return body as T;
}

export function postJson(body: unknown, method = 'POST'): RequestInit {
  return { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

const thisMonth = (): string => new Date().toISOString().slice(0, 7);
const pct = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : `${n.toFixed(2)} %`);
const pounds = (n: number): string => `£${n.toLocaleString('en-GB')}`;

/** A horizontal bar chart in SVG; the same figures are always in a table beside it, so
 * the chart is decoration for screen readers (it has a label summarising it). */
export function barChart(label: string, rows: { label: string; value: number; mark?: number }[], unit = ''): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const width = 600;
  const barHeight = 26;
  const labelWidth = 230;
  const height = rows.length * (barHeight + 8) + 8;
  const max = Math.max(1, ...rows.map((r) => Math.max(r.value, r.mark ?? 0)));
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${label}: ${rows.map((r) => `${r.label} ${r.value}${unit}`).join(', ')}`);
  const el = (tag: string, attrs: Record<string, string | number>, text?: string) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  const span = width - labelWidth - 70;
  rows.forEach((row, i) => {
    const y = 8 + i * (barHeight + 8);
    el('text', { x: 0, y: y + barHeight * 0.7, class: 'chart-label' }, row.label);
    el('rect', { x: labelWidth, y, width: Math.max(2, (row.value / max) * span), height: barHeight, class: 'chart-bar' });
    el('text', { x: labelWidth + Math.max(2, (row.value / max) * span) + 6, y: y + barHeight * 0.7, class: 'chart-value' }, `${row.value}${unit}`);
    if (row.mark !== undefined) {
      const x = labelWidth + (row.mark / max) * span;
      el('line', { x1: x, x2: x, y1: y - 3, y2: y + barHeight + 3, class: 'chart-mark' });
    }
  });
  return svg;
}

export function table(testid: string, head: string[], rows: (string | number | Node)[][], empty: string): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'muted', testid: `${testid}-empty` }, empty);
  return h('table', { class: 'grid', testid },
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

// The server's paper-copy reading for a plan due review: a review is when the paper in the
// home gets reprinted, so an out-of-date or missing copy is flagged beside it.
function paperCell(p: DueRow): Node | string {
  if (!p.paper_copy) return '';
  return h('span', { class: `paper-state ${p.paper_copy}`, testid: 'scheme-reviews-paper', 'data-state': p.paper_copy }, p.paper_copy_label ?? '');
}

export function patientLink(ctx: SchemeContext, id: string | null, name: string | null, nhs: string): Node {
  if (!id) return document.createTextNode(`${name ?? 'Not on Red Folder'} (${nhs})`);
  return h('a', { href: `#/plan/${encodeURIComponent(id)}`, onclick: (e: Event) => { e.preventDefault(); ctx.openPlan(id); } }, `${name ?? nhs}`);
}

/** A section that loads itself and can reload after an action. */
export function loading(title: string, testid: string, load: (body: HTMLElement, reload: () => void) => Promise<void>): HTMLElement {
  const body = h('div', { 'aria-live': 'polite' });
  const run = () => {
    body.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    load(body, run).catch((e) => body.replaceChildren(h('p', { class: 'error', role: 'alert', testid: `${testid}-error` }, errorMessage(e))));
  };
  run();
  return section(title, testid, body);
}

function cohortView(cohort: Cohort | null): HTMLElement {
  if (!cohort) return h('p', { class: 'notice warning', testid: 'scheme-no-list-size' }, 'Record the practice\u2019s list size to see the percentage enrolled.');
  const rows = CATEGORIES.map(([key, label]) => ({ label, value: Number(cohort.percent_by_category[key].toFixed(2)) }));
  rows.push({ label: 'All full case management', value: Number(cohort.percent_of_list.toFixed(2)) });
  return h('div', { testid: 'scheme-cohort', 'data-percent': cohort.percent_of_list.toFixed(2) },
    h('p', {}, `${cohort.full_case_management} of ${cohort.list_size} patients (${pct(cohort.percent_of_list)}) are in full case management: `,
      cohort.phase === 'first_three_percent'
        ? `below 3 % (${cohort.first_tier_places} places), candidates are care-home residents and risk-tool patients.`
        : `between 3 % and 5 % (${cohort.cohort_places} places), risk-tool patients or those the GP judges appropriate.`),
    barChart('Percentage of the list enrolled, by category', rows.map((r) => ({ ...r, mark: 3 })), ' %'),
    table('scheme-cohort-table', ['Category', 'Enrolled', '% of list'],
      CATEGORIES.map(([key, label]) => [label, cohort.enrolled[key], pct(cohort.percent_by_category[key])]), ''));
}

function listSizeForm(ctx: SchemeContext, done: () => void): HTMLElement {
  const size = h('input', { type: 'number', min: '1', inputmode: 'numeric', testid: 'scheme-list-size', required: true });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'inline-form', testid: 'scheme-list-size-form' },
    field('List size', size), error, h('button', { type: 'submit', class: 'button' }, 'Record list size'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      await call(ctx, '/scheme/list-size', postJson({ list_size: Number(size.value) }));
      done();
    } catch (err) {
      error.textContent = errorMessage(err);
    }
  });
  return form;
}

interface UploadAnswer {
  rows: number;
  top_5_percent: number;
  movement: { compared_with: string | null; entered_top_5_percent: string[]; left_top_5_percent: string[] };
}

// What an accepted upload changed: rows kept, and who came into or left the top 5 %
// since the previous list.
function uploadSummary(body: UploadAnswer): HTMLElement {
  const m = body.movement;
  const list = (testid: string, title: string, nhs: string[]) => (nhs.length
    ? h('details', { testid }, h('summary', {}, `${title}: ${nhs.length}`), h('ul', {}, nhs.map((n) => h('li', {}, n))))
    : null);
  return h('div', { class: 'notice', role: 'status', testid: 'scheme-risk-summary' },
    h('p', {}, `${body.rows} rows kept, ${body.top_5_percent} in the top 5 %.`,
      m.compared_with
        ? ` Since the previous list, ${m.entered_top_5_percent.length} came into the top 5 % and ${m.left_top_5_percent.length} left it.`
        : ' This is the practice\u2019s first list.'),
    ...[list('scheme-risk-entered', 'Came into the top 5 %', m.entered_top_5_percent),
      list('scheme-risk-left', 'Left the top 5 %', m.left_top_5_percent)].filter((n): n is HTMLDetailsElement => n !== null));
}

function riskUploadForm(ctx: SchemeContext, done: (summary: HTMLElement) => void, shown: HTMLElement | null): HTMLElement {
  const file = h('input', { type: 'file', accept: '.csv,text/csv', testid: 'scheme-risk-file' });
  const result = h('div', { 'aria-live': 'polite', testid: 'scheme-risk-result' });
  if (shown) result.append(shown);
  const form = h('form', { class: 'inline-form', testid: 'scheme-risk-form' },
    field('Risk-tool list (CSV: nhs_number, risk_score, risk_level, as_of)', file),
    h('button', { type: 'submit', class: 'button' }, 'Upload'), result);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    result.replaceChildren();
    const chosen = file.files?.[0];
    if (!chosen) {
      result.append(h('p', { class: 'error', role: 'alert' }, 'Choose the CSV file the risk tool produced.'));
      return;
    }
    try {
      const body = await call<UploadAnswer>(ctx, '/scheme/risk-uploads',
        { method: 'POST', headers: { 'content-type': 'text/csv' }, body: await chosen.text() });
      done(uploadSummary(body));
    } catch (err) {
      const problems = (err instanceof Refused ? (err.body as { problems?: { line: number; message: string }[] } | null)?.problems : null) ?? [];
      result.append(h('p', { class: 'error', role: 'alert' }, errorMessage(err)));
      if (problems.length) {
        result.append(h('ul', { class: 'problems', testid: 'scheme-risk-problems' }, problems.map((p) => h('li', {}, `Line ${p.line}: ${p.message}`))));
      }
    }
  });
  return form;
}

function exclusionButton(ctx: SchemeContext, nhs: string, done: () => void): HTMLElement {
  return h('button', {
    type: 'button', class: 'button secondary', testid: 'scheme-exclude',
    onclick: async () => {
      const reason = window.prompt('Why is case management inappropriate for this patient? (for example: renal unit follows up)');
      if (!reason?.trim()) return;
      try {
        await call(ctx, '/scheme/exclusions', postJson({ nhs_number: nhs, reason }));
        done();
      } catch (err) {
        window.alert(errorMessage(err));
      }
    },
  }, 'Exclude');
}

// MDT meetings (issue 6). The year's meetings against the ten required, a form to
// schedule one, and one meeting opened in place below the list: its warnings, the
// patients listed with each outcome and referrals, and the attendance signed by core
// role. Each action is one request; the screen then shows the meeting and the count as
// the server has them, so every warning and the "held" state are the server's.
function mdtSection(ctx: SchemeContext): HTMLElement {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  let openId: string | null = null;
  // The list is one calendar year (the server's default: this one); scheduling a meeting
  // moves the list to that meeting's year so it never vanishes after a December booking.
  let year: number | null = null;
  let flash = '';
  let caseload: Promise<CaseloadRow[]> | null = null;
  const patients = (): Promise<CaseloadRow[]> => {
    // The caseload is read once per visit to the screen; a failed read is retried.
    caseload ??= call<CaseloadRow[]>(ctx, '/patients').catch((e: unknown) => { caseload = null; throw e; });
    return caseload;
  };

  const render = async (): Promise<void> => {
    // Re-rendering replaces the forms, so the control in use is found again afterwards by
    // its test id (and patient) and refocused without scrolling the tablet; after a submit
    // button, the form's first field, ready for the next attendee or patient.
    const active = document.activeElement instanceof HTMLElement && body.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = active?.dataset.testid ?? active?.closest<HTMLElement>('form')?.dataset.testid;
    const focusPatient = active?.closest<HTMLElement>('[data-patient-id]')?.dataset.patientId;
    let list: Meetings;
    try {
      list = await call<Meetings>(ctx, `/scheme/mdt-meetings${year === null ? '' : `?year=${year}`}`);
    } catch (err) {
      body.replaceChildren(h('p', { class: 'error', role: 'alert', testid: 'scheme-mdt-error' }, errorMessage(err)));
      return;
    }
    const panel = openId ? await meetingPanel(openId) : null;
    const pickYear = h('input', { type: 'number', min: '2000', max: '2100', inputmode: 'numeric', value: String(list.year), testid: 'scheme-mdt-year' });
    pickYear.addEventListener('change', () => {
      const y = Number(pickYear.value);
      if (Number.isInteger(y) && y >= 2000 && y <= 2100) { year = y; void render(); }
    });
    body.replaceChildren(...[
      h('div', { class: 'inline-form' }, field('Year', pickYear)),
      h('p', { testid: 'scheme-mdt-count', 'data-held': String(list.held), 'data-required': String(list.required) },
        `${list.held} of the ${list.required} meetings required in ${list.year} have been held; ${list.scheduled} scheduled.`),
      table('scheme-mdt-table', ['Date', 'Patients', 'Attendance', 'Held', 'Warnings', ''],
        list.meetings.map((x) => [fmtDate(x.date), x.patients.length, x.attendance.length, x.held ? 'yes' : 'no',
          h('ul', { class: 'warnings' }, x.warnings.map((w) => h('li', {}, w))),
          h('button', {
            type: 'button', class: 'button secondary', testid: 'scheme-mdt-open', 'data-id': x.id,
            'aria-expanded': String(openId === x.id), 'aria-controls': openId === x.id ? 'scheme-mdt-meeting' : undefined,
            onclick: () => { openId = x.id; flash = ''; void render().then(() => document.getElementById('h-scheme-mdt-meeting')?.focus()); },
          }, `Open ${fmtDate(x.date)}`)]),
        `No meeting scheduled in ${list.year}.`),
      scheduleForm(),
      panel,
    ].filter((n): n is HTMLElement => n !== null));
    if (focusKey) {
      const scope = focusPatient ? body.querySelector(`[data-patient-id="${CSS.escape(focusPatient)}"]`) : body;
      const again = scope?.querySelector<HTMLElement>(`[data-testid="${CSS.escape(focusKey)}"]`);
      const target = again instanceof HTMLFormElement ? again.querySelector<HTMLElement>('input, select, textarea') : again;
      target?.focus({ preventScroll: true });
    }
  };

  /** Sends one change; on success shows `done` and the meeting again, on refusal the
   * server's reason in `error` (the form keeps what was typed). */
  // `done` says what happened: a string, or worded from the server's answer.
  const act = async <T,>(error: HTMLElement, send: () => Promise<T>, done: string | ((answer: T) => string)): Promise<void> => {
    error.textContent = '';
    let answer: T;
    try {
      answer = await send();
    } catch (err) {
      error.textContent = errorMessage(err);
      return;
    }
    flash = typeof done === 'function' ? done(answer) : done;
    await render();
  };

  const scheduleForm = (): HTMLElement => {
    const date = h('input', { type: 'date', testid: 'scheme-mdt-date', required: true });
    const error = h('p', { class: 'error', role: 'alert' });
    const form = h('form', { class: 'inline-form', testid: 'scheme-mdt-form' }, field('Schedule a meeting on', date), error,
      h('button', { type: 'submit', class: 'button' }, 'Schedule'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void act(error, async () => {
        const m = await call<Meeting>(ctx, '/scheme/mdt-meetings', postJson({ date: date.value }));
        openId = m.id;
        year = Number(m.date.slice(0, 4));
      }, `Meeting scheduled for ${fmtDate(date.value)}.`);
    });
    return form;
  };

  const meetingPanel = async (id: string): Promise<HTMLElement> => {
    const close = h('button', {
      type: 'button', class: 'button secondary', testid: 'scheme-mdt-close',
      onclick: () => { openId = null; flash = ''; void render().then(() => body.querySelector<HTMLElement>(`[data-testid="scheme-mdt-open"][data-id="${CSS.escape(id)}"]`)?.focus()); },
    }, 'Close meeting');
    const frame = (...children: Child[]) => h('div', {
      class: 'mdt-meeting', id: 'scheme-mdt-meeting', testid: 'scheme-mdt-meeting', role: 'region', 'aria-labelledby': 'h-scheme-mdt-meeting',
    }, ...children);
    let m: Meeting;
    try {
      m = await call<Meeting>(ctx, `/scheme/mdt-meetings/${encodeURIComponent(id)}`);
    } catch (err) {
      return frame(h('h3', { id: 'h-scheme-mdt-meeting', tabindex: '-1' }, 'MDT meeting'),
        h('p', { class: 'error', role: 'alert', testid: 'scheme-mdt-meeting-error' }, errorMessage(err)), close);
    }
    let rows: CaseloadRow[] = [];
    let caseloadError: string | null = null;
    try {
      rows = await patients();
    } catch (err) {
      caseloadError = errorMessage(err);
    }
    const byId = new Map(rows.map((p) => [p.id, p]));
    const who = (pid: string) => {
      const p = byId.get(pid);
      return p ? `${p.name} (${p.nhs_number})` : `Patient ${pid}`;
    };
    const base = `/scheme/mdt-meetings/${encodeURIComponent(m.id)}`;
    const upcoming = m.date > new Date().toISOString().slice(0, 10);

    const listed = m.patients.map((p) => {
      const outcome = h('textarea', { testid: 'scheme-mdt-outcome', rows: 3, required: true, maxlength: 4000 });
      outcome.value = p.outcome ?? '';
      const referrals = h('textarea', { testid: 'scheme-mdt-referrals', rows: 2, maxlength: 4000 });
      referrals.value = p.referrals ?? '';
      const error = h('p', { class: 'error', role: 'alert' });
      const form = h('form', { class: 'mdt-outcome', testid: 'scheme-mdt-outcome-form' },
        field('Outcome', outcome, 'What the meeting decided'),
        field('Referrals', referrals, 'Services referred to, if any'),
        error, h('button', { type: 'submit', class: 'button', testid: 'scheme-mdt-save-outcome' }, 'Save outcome'));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        void act(error, () => call(ctx, `${base}/patients/${encodeURIComponent(p.patient_id)}`,
          postJson({ outcome: outcome.value, referrals: referrals.value }, 'PUT')), `Outcome saved for ${who(p.patient_id)}.`);
      });
      return h('li', { class: 'mdt-patient', testid: 'scheme-mdt-patient', 'data-patient-id': p.patient_id, 'data-has-outcome': String(p.outcome !== null) },
        h('h5', {}, byId.has(p.patient_id) ? patientLink(ctx, p.patient_id, byId.get(p.patient_id)!.name, byId.get(p.patient_id)!.nhs_number) : who(p.patient_id)),
        h('p', { class: 'muted' }, `Listed ${fmtDateTime(p.listed_at_ms)}.`,
          p.outcome === null ? ' No outcome recorded yet.' : ''),
        form);
    });

    // Only the practice's own patients can be listed (the caseload also holds plans an
    // MDT member of another organisation shares; the server refuses those).
    const choosable = rows.filter((p) => (p.access ?? 'case_manager') === 'case_manager' && !m.patients.some((x) => x.patient_id === p.id));
    const pick = h('select', { testid: 'scheme-mdt-add-patient', required: true },
      h('option', { value: '' }, 'Choose a patient…'),
      choosable.map((p) => h('option', { value: p.id }, `${p.name} (${p.nhs_number})`)));
    const addError = h('p', { class: 'error', role: 'alert' }, caseloadError ?? '');
    const addForm = h('form', { class: 'inline-form', testid: 'scheme-mdt-add-form' },
      field('Patient', pick, 'Patients should be listed at least a week before the meeting'), addError,
      h('button', { type: 'submit', class: 'button' }, 'List for discussion'));
    addForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const pid = pick.value;
      if (!pid) { addError.textContent = 'Choose the patient to list.'; return; }
      void act(addError, () => call(ctx, `${base}/patients`, postJson({ patient_id: pid })), `${who(pid)} listed for discussion.`);
    });

    const name = h('input', { type: 'text', testid: 'scheme-mdt-attendee', required: true, maxlength: 200, autocomplete: 'off' });
    const role = h('select', { testid: 'scheme-mdt-role', required: true },
      CORE_ROLES.map(([k, label]) => h('option', { value: k }, label)));
    const organisation = h('input', { type: 'text', testid: 'scheme-mdt-organisation', maxlength: 200, autocomplete: 'off' });
    const signed = h('input', { type: 'checkbox', testid: 'scheme-mdt-signed', checked: true });
    const attendError = h('p', { class: 'error', role: 'alert' });
    const attendForm = h('form', { class: 'inline-form', testid: 'scheme-mdt-attendance-form' },
      field('Name', name), field('Core role', role), field('Organisation', organisation),
      h('label', { class: 'check' }, signed, 'Signed the attendance sheet'),
      attendError, h('button', { type: 'submit', class: 'button' }, 'Record attendance'));
    attendForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const attendee = name.value.trim();
      void act(attendError, () => call(ctx, `${base}/attendance`,
        postJson({ name: attendee, core_role: role.value, organisation: organisation.value, signed: signed.checked })),
      `Attendance recorded for ${attendee} (${roleLabel(role.value)}${signed.checked ? ', signed' : ', not signed'}).`);
    });

    // Members from other organisations (community nursing, social work, the voluntary
    // sector) see the meetings they are invited to and the patients listed (`#/mdt`).
    const invitee = h('input', { type: 'text', testid: 'scheme-mdt-invite-username', required: true, maxlength: 128, autocomplete: 'off' });
    const inviteError = h('p', { class: 'error', role: 'alert' });
    const inviteForm = h('form', { class: 'inline-form', testid: 'scheme-mdt-invite-form' },
      field('Username', invitee, 'An MDT member of another organisation: they will see this meeting and the patients listed for it'),
      inviteError, h('button', { type: 'submit', class: 'button' }, 'Invite to this meeting'));
    inviteForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const username = invitee.value.trim();
      if (!username) { inviteError.textContent = 'Type the username of the member to invite.'; return; }
      void act(inviteError, () => call<Invited>(ctx, `${base}/members`, postJson({ username })),
        (i) => (i.newly_invited
          ? `${i.name} (${i.organisation}) is invited to this meeting.`
          : `${i.name} (${i.organisation}) was already invited to this meeting.`));
    });

    const heading = `MDT meeting on ${fmtDate(m.date)}`;
    return frame(
      h('h3', { id: 'h-scheme-mdt-meeting', tabindex: '-1', testid: 'scheme-mdt-meeting-title', 'data-id': m.id }, heading),
      h('p', { testid: 'scheme-mdt-state', 'data-held': String(m.held) }, m.held
        ? 'Held: counted towards the ten meetings this year.'
        : upcoming ? 'Scheduled: attendance is recorded at or after the meeting.' : 'Not yet held: record the attendance signed at the meeting.'),
      flash ? h('p', { class: 'notice', role: 'status', testid: 'scheme-mdt-flash' }, flash) : null,
      m.warnings.length
        ? h('div', { class: 'notice warning', testid: 'scheme-mdt-warnings' }, h('ul', { class: 'warnings' }, m.warnings.map((w) => h('li', {}, w))))
        : h('p', { class: 'muted', testid: 'scheme-mdt-no-warnings' }, 'No warnings.'),
      h('h4', {}, 'Patients to discuss'),
      listed.length ? h('ul', { class: 'mdt-patients', testid: 'scheme-mdt-patients' }, listed) : h('p', { class: 'muted' }, 'No patient listed yet.'),
      addForm,
      h('h4', {}, 'Attendance'),
      table('scheme-mdt-attendance', ['Name', 'Core role', 'Organisation', 'Signed'],
        m.attendance.map((a) => [a.name, roleLabel(a.core_role), a.organisation, a.signed ? 'signed' : 'not signed']),
        'No attendance recorded yet.'),
      attendForm,
      h('h4', {}, 'Members from other organisations'),
      table('scheme-mdt-members', ['Name', 'Organisation', 'Username', 'Invited'],
        m.members.map((x) => [x.name, x.organisation, x.username, fmtDateTime(x.invited_at_ms)]),
        'No one from another organisation is invited yet.'),
      inviteForm,
      close);
  };

  void render();
  return section('MDT meetings', 'scheme-mdt', body);
}

function practiceScreen(ctx: SchemeContext): HTMLElement[] {
  // The last upload's summary, kept across the reload the upload triggers.
  let uploaded: HTMLElement | null = null;
  const overview = loading('Cohort', 'scheme-overview', async (body, reload) => {
    const c = await call<Candidates>(ctx, '/scheme/candidates');
    body.replaceChildren(...[cohortView(c.cohort), listSizeForm(ctx, reload),
      h('p', { class: 'muted' }, c.risk_upload
        ? `Latest risk-tool list: ${c.risk_upload.row_count} rows, uploaded ${fmtDateTime(c.risk_upload.uploaded_at_ms)}.`
        : 'No risk-tool list uploaded yet.'),
      riskUploadForm(ctx, (summary) => { uploaded = summary; reload(); }, uploaded),
      h('h3', {}, 'Candidates'),
      table('scheme-candidates', ['Patient', 'Why', 'Risk level', 'Score', ''],
        c.candidates.map((p) => [patientLink(ctx, p.patient_id, p.name, p.nhs_number), p.reason.replace(/_/g, ' '),
          p.risk_level ?? '', p.risk_score ?? '', exclusionButton(ctx, p.nhs_number, reload)]),
        'No candidates: upload a risk-tool list, or every candidate is enrolled or excluded.'),
      c.exclusions.length ? h('h3', {}, 'Excluded') : null,
      c.exclusions.length ? table('scheme-exclusions', ['NHS number', 'Reason', 'Since'], c.exclusions.map((x) => [x.nhs_number, x.reason, fmtDateTime(x.recorded_at_ms)]), '') : null,
    ].filter((n): n is HTMLElement => n !== null));
  });
  const reviews = loading('Reviews due', 'scheme-reviews', async (body) => {
    const due = await call<ReviewsDue>(ctx, '/scheme/reviews-due?within_days=28');
    body.replaceChildren(
      h('p', { testid: 'scheme-reviews-counts' }, `${due.practice.overdue} overdue, ${due.practice.due_soon} due in the next ${due.within_days} days.`),
      table('scheme-reviews-managers', ['Case manager', 'Overdue', 'Due soon'],
        due.by_case_manager.map((m) => [m.case_manager ?? 'No case manager named', m.counts.overdue, m.counts.due_soon]), ''),
      table('scheme-reviews-table', ['Patient', 'Case manager', 'Review due', 'State', 'Paper copy in the home'],
        due.plans.map((p) => [patientLink(ctx, p.patient_id, p.name, p.nhs_number), p.case_manager ?? '', fmtDate(p.due), p.state.replace(/_/g, ' '), paperCell(p)]),
        'No review is due in the next four weeks.'));
  });
  const advice = loading('Advice from virtual clinics', 'scheme-advice', async (body) => {
    const list = await call<{ advice: Advice[] }>(ctx, '/scheme/advice?days=30');
    body.replaceChildren(table('scheme-advice-table', ['Patient', 'From', 'When'],
      list.advice.map((a) => [patientLink(ctx, a.patient_id, a.patient_name, a.nhs_number), a.specialist, fmtDateTime(a.at_ms)]),
      'No advice from virtual clinics in the last 30 days.'));
  });
  const mdt = mdtSection(ctx);
  // Virtual clinics have their own screen (web/src/clinics.ts); the advice they produce
  // is listed above.
  const clinics = section('Virtual clinics', 'scheme-clinics',
    h('p', {}, 'Schedule clinics with a specialist, add pre-clinic data, print outcome letters and see what the clinics achieved.'),
    h('a', { href: '#/clinics', class: 'button secondary', testid: 'nav-clinics' }, 'Virtual clinics'));
  return [overview, reviews, advice, clinics, mdt, returnSection(ctx)];
}

function returnTable(r: MonthlyReturn): HTMLElement {
  return table('scheme-return-table', ['Measure', ...CATEGORIES.map(([, l]) => l)], [
    ['New plans', ...CATEGORIES.map(([k]) => r.new_plans[k])],
    ['Plans in place', ...CATEGORIES.map(([k]) => r.plans_in_place[k])],
  ], '');
}

function claimTable(r: MonthlyReturn): HTMLElement {
  return h('div', {},
    table('scheme-claim-table', ['Activity', 'Count', 'Price', 'Value'],
      [...r.claim.map((c) => [c.activity.replace(/_/g, ' '), c.count, pounds(c.unit_price), pounds(c.value)]),
        ['Total', '', '', pounds(r.claim_total)]], ''),
    r.not_payable.length
      ? h('p', { class: 'notice warning', testid: 'scheme-not-payable' },
        `Not payable (older than three months on ${fmtDate(r.claimed_on)}): ${r.not_payable.map((c) => `${c.count} ${c.activity.replace(/_/g, ' ')}`).join(', ')}.`)
      : null);
}

function monthPicker(initial: string, onChange: (month: string) => void): HTMLElement {
  const month = h('input', { type: 'month', value: initial, testid: 'scheme-month', required: true });
  month.addEventListener('change', () => { if (/^\d{4}-\d{2}$/.test(month.value)) onChange(month.value); });
  return field('Month', month);
}

function returnSection(ctx: SchemeContext): HTMLElement {
  const body = h('div', { 'aria-live': 'polite' });
  const show = async (month: string) => {
    body.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    try {
      const r = await call<MonthlyReturn>(ctx, `/scheme/returns/${month}`);
      const csv = h('button', {
        type: 'button', class: 'button secondary', testid: 'scheme-return-csv',
        onclick: async () => {
          const response = await ctx.request(`/scheme/returns/${month}?format=csv`);
          if (!response.ok) return;
          const url = URL.createObjectURL(new Blob([await response.text()], { type: 'text/csv' }));
          const a = h('a', { href: url, download: `red-folder-return-${month}.csv` });
          document.body.append(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10_000);
        },
      }, 'Download CSV');
      body.replaceChildren(
        h('p', { testid: 'scheme-return-summary', 'data-claim-total': String(r.claim_total) },
          `${r.reviews_done} reviews and ${r.over_75_case_reviews} over-75 case reviews done; ${r.full_case_management_in_place} plans in full case management (${pct(r.percent_of_list)} of the list against ${r.target_first_tier_percent} % and ${r.target_cohort_percent} %). Claim ${pounds(r.claim_total)}.`),
        h('p', { testid: 'scheme-return-discharges', 'data-total': String(r.discharges.total) },
          `Left full case management: ${r.discharges.discharged} discharged, ${r.discharges.to_annual_review} to the annual over-75 review, ${r.discharges.moved_away} moved away, ${r.discharges.died} died, ${r.discharges.patient_declined} declined.`),
        barChart(`New plans and plans in place, ${month}`, CATEGORIES.flatMap(([k, l]) => [
          { label: `${l}: new`, value: r.new_plans[k] },
          { label: `${l}: in place`, value: r.plans_in_place[k] },
        ])),
        returnTable(r), claimTable(r), csv);
    } catch (err) {
      body.replaceChildren(h('p', { class: 'error', role: 'alert' }, errorMessage(err)));
    }
  };
  const month = thisMonth();
  void show(month);
  return section('Monthly return', 'scheme-return', monthPicker(month, (m) => void show(m)), body);
}

function commissionerScreen(ctx: SchemeContext): HTMLElement[] {
  const body = h('div', { 'aria-live': 'polite' });
  const show = async (month: string) => {
    body.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    try {
      const a = await call<Aggregate>(ctx, `/scheme/returns/${month}/aggregate`);
      body.replaceChildren(
        barChart(`Claim by practice, ${month}`, a.practices.map((p) => ({ label: p.name, value: p.return.claim_total }))),
        table('scheme-aggregate-table', ['Practice', 'List size', '% enrolled', 'New plans', 'Reviews', 'Over-75 reviews', 'Discharges', 'Claim'],
          a.practices.map((p) => [
            `${p.name} (${p.code})`, p.return.list_size ?? '–', pct(p.return.percent_of_list),
            CATEGORIES.reduce((n, [k]) => n + p.return.new_plans[k], 0), p.return.reviews_done, p.return.over_75_case_reviews,
            p.return.discharges.total, pounds(p.return.claim_total)]),
          'No practice has a return for this month.'),
        h('p', { testid: 'scheme-aggregate-total' }, `Total claim across practices: ${pounds(a.totals.claim_total ?? 0)}.`));
    } catch (err) {
      body.replaceChildren(h('p', { class: 'error', role: 'alert' }, errorMessage(err)));
    }
  };
  const month = thisMonth();
  void show(month);
  return [section('Practices\u2019 returns', 'scheme-aggregate', h('p', { class: 'muted' }, 'Figures only: no patient is named here.'),
    monthPicker(month, (m) => void show(m)), body)];
}

/** Renders the scheme screen into `root`. */
export function renderScheme(root: HTMLElement, ctx: SchemeContext): void {
  const offline = !navigator.onLine
    ? h('p', { class: 'notice warning', role: 'status' }, 'You are offline: the scheme\u2019s lists and returns come from the server and need a connection.')
    : null;
  root.replaceChildren(
    h('h1', { testid: 'scheme-title' }, ctx.commissioner ? 'Case management across practices' : 'Running the scheme'),
    ...(ctx.commissioner ? [] : [h('a', { href: '#/discharge', class: 'button secondary', testid: 'nav-discharge' }, 'Discharges and over-75 reviews')]),
    ...(offline ? [offline] : []),
    ...(ctx.commissioner ? commissionerScreen(ctx) : practiceScreen(ctx)));
}

// Leaving case management and the over-75 register (seed 003 step 17 and section 1.2;
// seed 002): discharging a patient at review with the steps the scheme asks for and the
// letter to the GP, the practice's discharges, the over-75 register with coverage against
// the practice's over-75 list; and, for MDT members from other organisations, the MDT
// meetings they are invited to.
//
// Like the rest of the scheme these screens read and write the server directly and need a
// connection. Every rule (step 17, which steps a discharge needs, who is on the register)
// is the server's (crates/server/src/scheme/rules); this module only asks and shows.

import { errorMessage, field, fmtDate, h, section } from './dom.js';
import { type CaseloadRow, type SchemeContext, call, loading, patientLink, postJson, table } from './scheme.js';

interface Discharge {
  id: string;
  patient_id: string;
  decision: 'annual_review' | 'discharge' | 'moved_away' | 'died';
  discharge_date: string;
  risk_source: string;
  patient_told_on: string | null;
  questionnaire_sent_on: string | null;
  mdt_meeting_id: string | null;
  gp_letter: string;
  recorded_by_name: string;
}

const DECISIONS: Record<Discharge['decision'], string> = {
  annual_review: 'To the annual over-75 review',
  discharge: 'Discharged',
  moved_away: 'Moved away',
  died: 'Died',
};

interface Over75Row {
  nhs_number: string;
  patient_id: string | null;
  name: string | null;
  risk_score: number | null;
  risk_level: number | null;
  last_reviewed: string | null;
  next_due: string | null;
  scheme: string;
  state: 'no_plan' | 'overdue' | 'reviewed';
}

interface Over75Register {
  today: string;
  list_as_of: string | null;
  coverage: { list_size: number; reviewed_in_last_year: number; percent: number | null };
  rows: Over75Row[];
}

interface HeldMeeting { id: string; date: string; held: boolean }

interface MemberMeeting {
  id: string;
  practice: string;
  date: string;
  held: boolean;
  duration_minutes: number | null;
  patients: { patient_id: string | null; name: string; nhs_number: string | null; can_open_plan: boolean }[];
}

const today = (): string => new Date().toISOString().slice(0, 10);

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The GP letter in a sandboxed frame (no scripts) that prints on its own. */
function letterView(text: string): HTMLElement {
  const doc = `<!doctype html><meta charset="utf-8"><title>Letter to the GP</title>`
    + `<style>body{font:12pt/1.5 system-ui,sans-serif;margin:2cm}pre{white-space:pre-wrap;font:inherit}</style>`
    + `<pre>${escapeHtml(text)}</pre>`;
  const frame = h('iframe', { class: 'referral-letter', testid: 'discharge-letter', title: 'Letter to the GP', sandbox: 'allow-same-origin allow-modals', srcdoc: doc });
  const print = h('button', { type: 'button', class: 'button', testid: 'discharge-letter-print', onclick: () => frame.contentWindow?.print() }, 'Print the letter to the GP');
  return h('div', { class: 'letter', testid: 'discharge-letter-panel' }, print, frame);
}

function dateInput(testid: string, value = ''): HTMLInputElement {
  return h('input', { type: 'date', testid, value });
}

function dischargeForm(ctx: SchemeContext, done: (d: Discharge) => void): HTMLElement {
  const patient = h('select', { testid: 'discharge-patient', required: true }, h('option', { value: '' }, 'Loading the caseload…'));
  const meeting = h('select', { testid: 'discharge-mdt' }, h('option', { value: '' }, 'No MDT sign-off'));
  void call<CaseloadRow[]>(ctx, '/patients').then((rows) => {
    patient.replaceChildren(h('option', { value: '' }, 'Choose a patient'),
      ...rows.map((r) => h('option', { value: r.id }, `${r.name} (${r.nhs_number})`)));
  }).catch((e: unknown) => patient.replaceChildren(h('option', { value: '' }, errorMessage(e))));
  void call<{ meetings: HeldMeeting[] }>(ctx, '/scheme/mdt-meetings').then((m) => {
    meeting.append(...m.meetings.filter((x) => x.held).map((x) => h('option', { value: x.id }, `MDT meeting of ${fmtDate(x.date)}`)));
  }).catch(() => undefined);
  const date = dateInput('discharge-date', today());
  const onList = h('select', { testid: 'discharge-on-list' },
    h('option', { value: 'yes' }, 'Still on the practice list'),
    h('option', { value: 'moved_away' }, 'No longer on the list: moved away'),
    h('option', { value: 'died' }, 'No longer on the list: died'));
  const top5 = h('select', { testid: 'discharge-top5' },
    h('option', { value: '' }, 'As the latest risk upload says'),
    h('option', { value: 'yes' }, 'Yes (no risk upload)'),
    h('option', { value: 'no' }, 'No (no risk upload)'));
  const exceptional = h('input', { type: 'checkbox', testid: 'discharge-exceptional' });
  const told = dateInput('discharge-told');
  const questionnaire = dateInput('discharge-questionnaire');
  const faceToFace = h('input', { type: 'checkbox', testid: 'discharge-face-to-face' });
  const notes = h('textarea', { testid: 'discharge-notes', rows: 3, maxlength: 4000 });
  const error = h('p', { class: 'error', role: 'alert', testid: 'discharge-error' });
  const form = h('form', { testid: 'discharge-form' },
    field('Patient', patient), field('Date of the decision', date), field('On the practice list', onList),
    field('Still in the top 5 % of the risk tool', top5),
    field('Exceptional circumstances to keep under review (practice discretion)', exceptional),
    field('Patient told on', told, 'Step 17: the patient is informed'),
    field('Evaluation questionnaire sent on', questionnaire, 'Sent to every discharged patient'),
    field('MDT sign-off', meeting, 'A held meeting at which the patient was discussed (needed unless the tier is mild)'),
    field('Final review face to face', faceToFace),
    field('Notes for the GP', notes),
    error,
    h('button', { type: 'submit', class: 'button', testid: 'discharge-submit' }, 'Apply step 17'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const d = await call<Discharge>(ctx, '/scheme/discharges', postJson({
        patient_id: patient.value,
        date: date.value,
        on_list: onList.value,
        still_in_top_5_percent: top5.value === '' ? null : top5.value === 'yes',
        exceptional_circumstances: exceptional.checked,
        patient_told_on: told.value || null,
        questionnaire_sent_on: questionnaire.value || null,
        mdt_meeting_id: meeting.value || null,
        face_to_face: faceToFace.checked,
        notes: notes.value,
      }));
      done(d);
    } catch (err) {
      error.textContent = errorMessage(err);
    }
  });
  return form;
}

function dischargeSection(ctx: SchemeContext): HTMLElement[] {
  const result = h('div', { 'aria-live': 'polite', testid: 'discharge-result' });
  let reloadList: () => void = () => undefined;
  const form = dischargeForm(ctx, (d) => {
    result.replaceChildren(
      h('p', { class: 'notice', role: 'status', testid: 'discharge-done', 'data-decision': d.decision },
        `${DECISIONS[d.decision]} on ${fmtDate(d.discharge_date)}. The plan has changed on every tablet; print the letter for the GP.`),
      letterView(d.gp_letter));
    reloadList();
  });
  const list = loading('Discharges in the last year', 'discharge-list', async (body, reload) => {
    reloadList = reload;
    const [rows, caseload] = await Promise.all([
      call<Discharge[]>(ctx, '/scheme/discharges'),
      call<CaseloadRow[]>(ctx, '/patients').catch(() => [] as CaseloadRow[]),
    ]);
    const names = new Map(caseload.map((c) => [c.id, c]));
    const holder = h('div', {});
    body.replaceChildren(table('discharge-table', ['Date', 'Patient', 'Decision', 'Top 5 % from', 'By', ''],
      rows.map((d) => {
        const c = names.get(d.patient_id);
        return [fmtDate(d.discharge_date), patientLink(ctx, d.patient_id, c?.name ?? null, c?.nhs_number ?? d.patient_id),
          DECISIONS[d.decision], d.risk_source, d.recorded_by_name,
          h('button', { type: 'button', class: 'button secondary', onclick: () => holder.replaceChildren(letterView(d.gp_letter)) }, 'Letter')];
      }), 'No discharges in the last year.'), holder);
  });
  return [section('Discharge from case management', 'discharge',
    h('p', { class: 'muted' }, 'Step 17: off the list → moved away or died; still in the top 5 % → continue; exceptional circumstances → practice discretion; over 75 → the annual case review; otherwise discharge. The plan ends (or moves to yearly review) on every tablet.'),
    form, result), list];
}

function over75ListForm(ctx: SchemeContext, done: () => void): HTMLElement {
  const size = h('input', { type: 'number', min: '0', inputmode: 'numeric', testid: 'over75-size' });
  const numbers = h('textarea', { testid: 'over75-numbers', rows: 3, placeholder: 'One NHS number a line (optional)' });
  const error = h('p', { class: 'error', role: 'alert', testid: 'over75-error' });
  const form = h('form', { class: 'inline-form', testid: 'over75-form' },
    field('Over-75s on the practice list', size), field('Or their NHS numbers', numbers), error,
    h('button', { type: 'submit', class: 'button' }, 'Record the over-75 list'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const listed = numbers.value.split(/[\s,]+/).filter((s) => s !== '');
    try {
      await call(ctx, '/scheme/over-75-list', postJson({ list_size: size.value === '' ? null : Number(size.value), nhs_numbers: listed }));
      done();
    } catch (err) {
      error.textContent = errorMessage(err);
    }
  });
  return form;
}

function over75Section(ctx: SchemeContext): HTMLElement {
  const STATES: Record<Over75Row['state'], string> = { no_plan: 'No plan', overdue: 'Review overdue', reviewed: 'Reviewed this year' };
  return loading('Over-75 annual reviews', 'over75', async (body, reload) => {
    const r = await call<Over75Register>(ctx, '/scheme/over-75-register');
    const c = r.coverage;
    body.replaceChildren(
      h('p', { testid: 'over75-coverage', 'data-reviewed': String(c.reviewed_in_last_year), 'data-size': String(c.list_size) },
        `${c.reviewed_in_last_year} of ${c.list_size} over-75s reviewed in the last year (${c.percent === null ? '–' : `${c.percent.toFixed(2)} %`})`
        + (r.list_as_of ? `, against the practice\u2019s list of ${fmtDate(r.list_as_of)}.` : '. Record the practice\u2019s over-75 list to measure coverage against it.')),
      over75ListForm(ctx, reload),
      table('over75-table', ['Patient', 'Risk score', 'Level', 'Scheme', 'Last reviewed', 'Next due', 'State'],
        r.rows.map((x) => [patientLink(ctx, x.patient_id, x.name, x.nhs_number), x.risk_score ?? '', x.risk_level ?? '',
          x.scheme.replace(/_/g, ' '), fmtDate(x.last_reviewed), fmtDate(x.next_due), STATES[x.state]]),
        'No over-75s known: record the practice\u2019s over-75 list.'));
  });
}

/** The case manager's discharge and over-75 screen (`#/discharge`). */
export function renderDischarge(root: HTMLElement, ctx: SchemeContext): void {
  root.replaceChildren(
    h('h1', { testid: 'discharge-title' }, 'Leaving case management'),
    h('a', { href: '#/scheme', class: 'button secondary' }, 'Running the scheme'),
    ...dischargeSection(ctx),
    over75Section(ctx));
}

/** An MDT member's meetings (`#/mdt`): schedule and patient list; a plan opens only where
 * the member's own access reaches it. */
export function renderMyMdt(root: HTMLElement, ctx: SchemeContext): void {
  root.replaceChildren(
    h('h1', { testid: 'my-mdt-title' }, 'My MDT meetings'),
    loading('Meetings', 'my-mdt', async (body) => {
      const meetings = await call<MemberMeeting[]>(ctx, '/scheme/my-mdt-meetings');
      body.replaceChildren(table('my-mdt-table', ['Date', 'Practice', 'Held', 'Length', 'Patients'],
        meetings.map((m) => [fmtDate(m.date), m.practice, m.held ? 'yes' : 'no',
          m.duration_minutes === null ? '' : `${m.duration_minutes} minutes`,
          h('ul', {}, m.patients.map((p) => h('li', {}, p.can_open_plan && p.patient_id
            ? patientLink(ctx, p.patient_id, p.name, p.nhs_number ?? '')
            : `${p.name}${p.nhs_number ? ` (${p.nhs_number})` : ''}`)))]),
        'You are not invited to any MDT meeting.'));
    }));
}

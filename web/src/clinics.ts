// Virtual clinics (seed 004, issue 16). The practice's case manager schedules a clinic
// with a specialist for a specialty, chooses patients (consent to MDT sharing shown and
// required), types in or imports the pre-clinic data, closes the clinic and prints the
// outcome letters. The specialist, on the clinic day while it is open, reads each
// patient's plan and pre-clinic data, adds advice, records an outcome and logs the
// education sessions given. Metrics per practice and specialty close the screen.
//
// Like the scheme's screens these read and write the server directly and need a
// connection; every rule (who, when, consent, ranges) is the server's.

import { type Child, errorMessage, field, fmtDate, fmtDateTime, h, section } from './dom.js';
import { barChart, call, postJson, type SchemeContext, table } from './scheme.js';

export interface ClinicsContext extends Pick<SchemeContext, 'request' | 'openPlan'> {
  /** The practice's case manager (schedules, edits, closes) or the specialist. */
  practice: boolean;
  /** Moves to another clinics address (`#/clinics/…`). */
  go(parts: string[]): void;
}

type Specialty = 'diabetes' | 'respiratory' | 'heart_failure' | 'frailty' | 'other';
const SPECIALTIES: [Specialty, string][] = [
  ['diabetes', 'Diabetes'],
  ['respiratory', 'Respiratory'],
  ['heart_failure', 'Heart failure'],
  ['frailty', 'Frailty'],
  ['other', 'Other'],
];
const specialtyLabel = (s: string): string => SPECIALTIES.find(([k]) => k === s)?.[1] ?? s;

type OutcomeKey = 'keep_in_practice' | 'locality_clinic' | 'refer_to_hub';
const OUTCOMES: [OutcomeKey, string][] = [
  ['keep_in_practice', 'Keep in the practice with a plan'],
  ['locality_clinic', 'Locality clinic'],
  ['refer_to_hub', 'Refer to the hub'],
];
const outcomeLabel = (o: string): string => OUTCOMES.find(([k]) => k === o)?.[1] ?? o;

interface ClinicSummary {
  id: string;
  practice: string;
  specialist: string;
  specialist_username: string;
  specialty: string;
  date: string;
  state: 'scheduled' | 'open' | 'closed';
  patient_count: number;
}

interface Measure {
  key: string;
  label: string;
  unit: string;
  kind: 'number' | 'blood_pressure' | 'screening';
}

interface Reading {
  id: string;
  measure: string;
  value: string;
  observed_on: string;
  source: 'fhir' | 'typed';
}

interface ClinicOutcome {
  outcome: OutcomeKey;
  plan: string;
  follow_up_on: string | null;
  recorded_by: string;
  recorded_at_ms: number;
}

interface ClinicPatient {
  patient_id: string;
  name: string;
  nhs_number: string;
  date_of_birth: string;
  share_with_mdt: boolean;
  outcome: ClinicOutcome | null;
  readings: Reading[];
}

interface Education {
  id: string;
  topic: string;
  attendees: string;
  session_date: string;
}

interface ClinicDetail extends ClinicSummary {
  viewer: 'practice' | 'specialist';
  measures: Measure[];
  patients: ClinicPatient[];
  education: Education[];
}

interface CaseloadRow {
  id: string;
  nhs_number: string;
  name: string;
  share_with_mdt: boolean;
  access?: string;
}

interface Letter {
  audience: 'gp' | 'patient';
  from: string;
  to: string;
  date: string;
  subject: string;
  paragraphs: string[];
  results: { label: string; value: string; observed_on: string }[];
}

interface Metrics {
  practice_code: string;
  practice_name: string;
  specialty: string;
  clinics: number;
  patients_discussed: number;
  referrals_avoided: number;
  new_referrals: number;
  not_discussed: number;
  education_sessions: number;
}

const today = (): string => new Date().toISOString().slice(0, 10);

/** Runs `send`; shows its refusal in `error`, else calls `done`. */
async function attempt(error: HTMLElement, send: () => Promise<unknown>, done: () => void): Promise<void> {
  error.textContent = '';
  try {
    await send();
  } catch (err) {
    error.textContent = errorMessage(err);
    return;
  }
  done();
}

function form(testid: string, submit: string, onSubmit: (error: HTMLElement) => void, ...fields: Child[]): HTMLFormElement {
  const error = h('p', { class: 'error', role: 'alert' });
  const f = h('form', { class: 'inline-form', testid }, ...fields, error, h('button', { type: 'submit', class: 'button' }, submit));
  f.addEventListener('submit', (e) => { e.preventDefault(); onSubmit(error); });
  return f;
}

/** Renders the clinics screen into `root`: the list (`parts` empty), one clinic, or a letter. */
export function renderClinics(root: HTMLElement, ctx: ClinicsContext, parts: string[]): void {
  const [id, sub, patientId, audience] = parts;
  root.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  const shown = id && sub === 'letter' && patientId
    ? letterScreen(ctx, id, patientId, audience === 'patient' ? 'patient' : 'gp')
    : id ? clinicScreen(ctx, id) : listScreen(ctx);
  shown.then((nodes) => root.replaceChildren(...nodes))
    .catch((e) => root.replaceChildren(h('p', { class: 'error', role: 'alert', testid: 'clinics-error' }, errorMessage(e))));
}

async function listScreen(ctx: ClinicsContext): Promise<HTMLElement[]> {
  const list = await call<{ clinics: ClinicSummary[] }>(ctx, '/scheme/virtual-clinics');
  const rows = list.clinics.map((c) => [fmtDate(c.date), specialtyLabel(c.specialty), ctx.practice ? c.specialist : c.practice,
    h('span', { testid: 'clinic-state', 'data-state': c.state }, c.state), c.patient_count,
    c.state === 'open' || ctx.practice
      ? h('button', { type: 'button', class: 'button secondary', testid: 'clinic-open', 'data-id': c.id, onclick: () => ctx.go([c.id]) }, `Open ${fmtDate(c.date)}`)
      : h('span', { class: 'muted' }, c.state === 'scheduled' ? 'Opens on the day' : 'Closed')]);
  const out = [
    h('h1', { testid: 'clinics-title' }, 'Virtual clinics'),
    section(ctx.practice ? 'The practice\u2019s clinics' : 'Your clinics', 'clinics-list',
      table('clinics-table', ['Date', 'Specialty', ctx.practice ? 'Specialist' : 'Practice', 'State', 'Patients', ''], rows,
        ctx.practice ? 'No clinic scheduled yet.' : 'No clinic names you as its specialist.')),
  ];
  if (ctx.practice) out.push(await scheduleSection(ctx), metricsSection(ctx));
  return out;
}

async function caseload(ctx: ClinicsContext): Promise<CaseloadRow[]> {
  const rows = await call<CaseloadRow[]>(ctx, '/patients');
  return rows.filter((p) => (p.access ?? 'case_manager') === 'case_manager');
}

// Each patient of the practice with their consent shown; those without consent to MDT
// sharing cannot be chosen (the server refuses them too).
function patientChoice(p: CaseloadRow, testid: string): HTMLElement {
  const box = h('input', { type: 'checkbox', value: p.id, testid, disabled: !p.share_with_mdt, 'data-patient-id': p.id });
  return h('label', { class: 'check', 'data-consent': String(p.share_with_mdt) }, box, `${p.name} (${p.nhs_number}) `,
    h('span', { class: p.share_with_mdt ? 'muted' : 'warning' }, p.share_with_mdt ? 'consents to MDT sharing' : 'no consent to MDT sharing: cannot be chosen'));
}

async function scheduleSection(ctx: ClinicsContext): Promise<HTMLElement> {
  const patients = await caseload(ctx);
  const specialist = h('input', { type: 'text', testid: 'clinic-specialist', required: true, autocomplete: 'off', maxlength: 100 });
  const date = h('input', { type: 'date', testid: 'clinic-date', required: true, value: today() });
  const specialty = h('select', { testid: 'clinic-specialty' }, SPECIALTIES.map(([k, l]) => h('option', { value: k }, l)));
  const choices = h('fieldset', { class: 'field', testid: 'clinic-patients' }, h('legend', {}, 'Patients'),
    h('div', { class: 'checks' }, patients.map((p) => patientChoice(p, 'clinic-patient'))));
  const f = form('clinic-schedule-form', 'Schedule clinic', (error) => {
    const ids = [...choices.querySelectorAll<HTMLInputElement>('input:checked')].map((b) => b.value);
    if (!ids.length) { error.textContent = 'Choose at least one patient who consents to MDT sharing.'; return; }
    let created = '';
    void attempt(error, async () => {
      created = (await call<{ id: string }>(ctx, '/scheme/virtual-clinics',
        postJson({ specialist: specialist.value.trim(), date: date.value, specialty: specialty.value, patient_ids: ids }))).id;
    }, () => ctx.go([created]));
  }, field('Specialist (their Red Folder username)', specialist, 'An MDT member'), field('Date', date), field('Specialty', specialty), choices);
  return section('Schedule a clinic', 'clinic-schedule', f);
}

// One measure's readings, oldest first: a trend for blood pressure and the like.
function readingsTable(measures: Measure[], readings: Reading[]): HTMLElement {
  const known = new Set(measures.map((m) => m.key));
  const extra = [...new Set(readings.map((r) => r.measure).filter((k) => !known.has(k)))].map((k) => ({ key: k, label: k, unit: '', kind: 'number' as const }));
  const rows = [...measures, ...extra].map((m) => {
    const of = readings.filter((r) => r.measure === m.key);
    const values = of.length
      ? h('ul', { class: 'readings' }, of.map((r) => h('li', { 'data-measure': m.key },
        `${r.value}${m.unit ? ` ${m.unit}` : ''} on ${fmtDate(r.observed_on)}${r.source === 'fhir' ? ' (GP system)' : ''}`)))
      : h('span', { class: 'muted' }, 'Not recorded');
    return [m.label, values];
  });
  return table('clinic-readings', ['Measure', 'Results (oldest first)'], rows, '');
}

function readingForm(ctx: ClinicsContext, base: string, measures: Measure[], reload: () => void): HTMLElement {
  const measure = h('select', { testid: 'clinic-reading-measure' }, measures.map((m) => h('option', { value: m.key }, `${m.label}${m.unit ? ` (${m.unit})` : ''}`)));
  const value = h('input', { type: 'text', testid: 'clinic-reading-value', required: true, maxlength: 200, autocomplete: 'off' });
  const on = h('input', { type: 'date', testid: 'clinic-reading-date', required: true, max: today() });
  return form('clinic-reading-form', 'Add result', (error) => void attempt(error,
    () => call(ctx, `${base}/readings`, postJson({ readings: [{ measure: measure.value, value: value.value, observed_on: on.value }] })), reload),
  field('Measure', measure), field('Result', value, 'A number, 142/86, or the screening result'), field('Taken on', on));
}

function importForm(ctx: ClinicsContext, base: string, reload: (note: string) => void): HTMLElement {
  const text = h('textarea', { testid: 'clinic-fhir', rows: 3, required: true, placeholder: '{"resourceType": "Bundle", …}' });
  return form('clinic-fhir-form', 'Import from GP system', (error) => {
    let body: unknown;
    try { body = JSON.parse(text.value); } catch { error.textContent = 'Paste the FHIR JSON the GP system exported.'; return; }
    let note = '';
    void attempt(error, async () => {
      const r = await call<{ added: number; skipped: string[] }>(ctx, `${base}/fhir`, postJson(body));
      note = `${r.added} results imported${r.skipped.length ? `; skipped: ${r.skipped.join('; ')}` : ''}.`;
    }, () => reload(note));
  }, field('FHIR Observations (Bundle or Observation)', text));
}

function outcomeForm(ctx: ClinicsContext, base: string, current: ClinicOutcome | null, reload: () => void): HTMLElement {
  const outcome = h('select', { testid: 'clinic-outcome' }, OUTCOMES.map(([k, l]) => h('option', { value: k, selected: current?.outcome === k }, l)));
  const plan = h('textarea', { testid: 'clinic-outcome-plan', rows: 3, required: true, maxlength: 4000 });
  plan.value = current?.plan ?? '';
  const followUp = h('input', { type: 'date', testid: 'clinic-follow-up', value: current?.follow_up_on ?? '' });
  return form('clinic-outcome-form', 'Save outcome', (error) => void attempt(error,
    () => call(ctx, `${base}/outcome`, postJson({ outcome: outcome.value, plan: plan.value, follow_up_on: followUp.value || null }, 'PUT')), reload),
  field('Outcome', outcome), field('Plan', plan, 'What the practice does, or what the referral is for'), field('Follow up by', followUp));
}

function adviceForm(ctx: ClinicsContext, clinicId: string, patientId: string, reload: () => void): HTMLElement {
  const advice = h('textarea', { testid: 'clinic-advice', rows: 2, required: true, maxlength: 4000 });
  return form('clinic-advice-form', 'Add advice to the plan', (error) => void attempt(error,
    () => call(ctx, `/scheme/virtual-clinics/${encodeURIComponent(clinicId)}/plans/${encodeURIComponent(patientId)}/advice`, postJson({ advice: advice.value })), reload),
  field('Advice for the care plan', advice));
}

// The plan as the specialist reads it (through the audited clinic route): what matters
// for a clinic decision, read-only.
async function planPanel(ctx: ClinicsContext, clinicId: string, patientId: string): Promise<HTMLElement> {
  type Entry = { name?: string; dose?: string; treatment?: string; advice?: string; from_name?: string; entered_in_error?: unknown };
  const plan = await call<Record<string, unknown>>(ctx, `/scheme/virtual-clinics/${encodeURIComponent(clinicId)}/plans/${encodeURIComponent(patientId)}`);
  const live = (key: string) => ((plan[key] as Entry[] | undefined) ?? []).filter((e) => !e.entered_in_error);
  const list = (title: string, items: string[]) => h('div', {}, h('h5', {}, title),
    items.length ? h('ul', {}, items.map((i) => h('li', {}, i))) : h('p', { class: 'muted' }, 'None recorded.'));
  return h('div', { class: 'clinic-plan', testid: 'clinic-plan' },
    list('Conditions', live('conditions').map((c) => [c.name, c.treatment].filter(Boolean).join(': '))),
    list('Medication', live('medications').map((m) => [m.name, m.dose].filter(Boolean).join(' '))),
    list('Advice', live('advice').map((a) => `${a.advice ?? ''} (${a.from_name ?? ''})`)));
}

function patientCard(ctx: ClinicsContext, c: ClinicDetail, p: ClinicPatient, reload: (note?: string) => void): HTMLElement {
  const base = `/scheme/virtual-clinics/${encodeURIComponent(c.id)}/patients/${encodeURIComponent(p.patient_id)}`;
  const open = c.state !== 'closed';
  const letters = p.outcome
    ? h('p', { class: 'actions' },
      h('button', { type: 'button', class: 'button secondary', testid: 'clinic-letter-gp', onclick: () => ctx.go([c.id, 'letter', p.patient_id, 'gp']) }, 'Letter to the GP'),
      ' ',
      h('button', { type: 'button', class: 'button secondary', testid: 'clinic-letter-patient', onclick: () => ctx.go([c.id, 'letter', p.patient_id, 'patient']) }, 'Letter for the patient'))
    : null;
  const planSlot = h('div', {});
  const readPlan = h('button', {
    type: 'button', class: 'button secondary', testid: 'clinic-read-plan',
    onclick: () => { planPanel(ctx, c.id, p.patient_id).then((n) => planSlot.replaceChildren(n)).catch((e) => planSlot.replaceChildren(h('p', { class: 'error', role: 'alert' }, errorMessage(e)))); },
  }, 'Read the care plan');
  return h('li', { class: 'mdt-patient', testid: 'clinic-patient-card', 'data-patient-id': p.patient_id, 'data-has-outcome': String(!!p.outcome) },
    h('h3', {}, `${p.name} (${p.nhs_number})`),
    h('p', { class: p.share_with_mdt ? 'muted' : 'notice warning', testid: 'clinic-consent' },
      p.share_with_mdt ? `Born ${fmtDate(p.date_of_birth)}. Consents to sharing with the MDT.` : 'Consent to MDT sharing has been withdrawn: the specialist cannot see this patient.'),
    readingsTable(c.measures, p.readings),
    c.viewer === 'practice' && open ? readingForm(ctx, base, c.measures, () => reload()) : null,
    c.viewer === 'practice' && open ? importForm(ctx, base, reload) : null,
    c.viewer === 'specialist' ? [readPlan, planSlot] : null,
    p.outcome
      ? h('p', { class: 'notice', testid: 'clinic-outcome-recorded', 'data-outcome': p.outcome.outcome },
        `Outcome: ${outcomeLabel(p.outcome.outcome)}. ${p.outcome.plan}${p.outcome.follow_up_on ? ` Follow up by ${fmtDate(p.outcome.follow_up_on)}.` : ''} (${p.outcome.recorded_by}, ${fmtDateTime(p.outcome.recorded_at_ms)})`)
      : h('p', { class: 'muted' }, 'No outcome yet.'),
    c.viewer === 'specialist' ? [outcomeForm(ctx, base, p.outcome, () => reload()), adviceForm(ctx, c.id, p.patient_id, () => reload('Advice added to the plan.'))] : null,
    letters);
}

async function clinicScreen(ctx: ClinicsContext, id: string): Promise<HTMLElement[]> {
  const root = h('div', {});
  await fillClinic(ctx, id, root, '');
  return [root];
}

// Draws a clinic into `root`; every change redraws it from the server's answer.
async function fillClinic(ctx: ClinicsContext, id: string, root: HTMLElement, note: string): Promise<void> {
  const c = await call<ClinicDetail>(ctx, `/scheme/virtual-clinics/${encodeURIComponent(id)}`);
  const path = `/scheme/virtual-clinics/${encodeURIComponent(c.id)}`;
  const reload = (flash = '') => { fillClinic(ctx, id, root, flash).catch((e) => root.replaceChildren(h('p', { class: 'error', role: 'alert', testid: 'clinic-error' }, errorMessage(e)))); };
  const cards = c.patients.map((p) => patientCard(ctx, c, p, reload));
  const education = h('div', {},
    table('clinic-education', ['Date', 'Topic', 'Attendees'], c.education.map((e) => [fmtDate(e.session_date), e.topic, e.attendees]), 'No education session logged.'),
    c.state !== 'closed' || c.viewer === 'practice' ? (() => {
      const topic = h('input', { type: 'text', testid: 'clinic-education-topic', required: true, maxlength: 500 });
      const attendees = h('input', { type: 'text', testid: 'clinic-education-attendees', required: true, maxlength: 500 });
      return form('clinic-education-form', 'Log session', (error) => void attempt(error,
        () => call(ctx, `${path}/education`, postJson({ topic: topic.value, attendees: attendees.value })), () => reload('Education session logged.')),
      field('Topic', topic), field('Attendees', attendees));
    })() : null);
  let practiceTools: HTMLElement[] = [];
  if (c.viewer === 'practice' && c.state !== 'closed') {
    const listed = new Set(c.patients.map((p) => p.patient_id));
    const more = (await caseload(ctx)).filter((p) => !listed.has(p.id));
    const pick = h('select', { testid: 'clinic-add-patient' }, h('option', { value: '' }, 'Choose a patient…'),
      more.map((p) => h('option', { value: p.id, disabled: !p.share_with_mdt }, `${p.name} (${p.nhs_number})${p.share_with_mdt ? '' : ': no consent to MDT sharing'}`)));
    practiceTools = [
      form('clinic-add-form', 'Add to the clinic', (error) => void attempt(error,
        () => call(ctx, `${path}/patients`, postJson({ patient_id: pick.value })), () => reload('Patient added.')), field('Patient', pick)),
      h('button', {
        type: 'button', class: 'button danger', testid: 'clinic-close',
        onclick: () => { if (window.confirm('Close the clinic? The specialist will see nothing more of it.')) void call(ctx, `${path}/close`, { method: 'POST' }).then(() => reload('Clinic closed.'), (e) => window.alert(errorMessage(e))); },
      }, 'Close the clinic'),
    ];
  }
  root.replaceChildren(...[
    h('p', { class: 'no-print' }, h('a', { href: '#/clinics', testid: 'clinics-back' }, 'All clinics')),
    h('h1', { testid: 'clinic-title', 'data-id': c.id, 'data-state': c.state },
      `${specialtyLabel(c.specialty)} virtual clinic, ${fmtDate(c.date)}`),
    h('p', { testid: 'clinic-summary' }, `${c.practice} with ${c.specialist}. `,
      c.state === 'open' ? 'Open today.' : c.state === 'scheduled' ? 'Scheduled: the specialist reads the patients on the day.' : 'Closed.'),
    note ? h('p', { class: 'notice', role: 'status', testid: 'clinic-flash' }, note) : null,
    section('Patients', 'clinic-patients-section', cards.length ? h('ul', { class: 'mdt-patients' }, cards) : h('p', { class: 'muted' }, 'No patient to show.'), ...practiceTools),
    section('Education sessions', 'clinic-education-section', education),
  ].filter((n): n is HTMLElement => n !== null));
}

async function letterScreen(ctx: ClinicsContext, id: string, patientId: string, audience: 'gp' | 'patient'): Promise<HTMLElement[]> {
  const l = await call<Letter>(ctx, `/scheme/virtual-clinics/${encodeURIComponent(id)}/patients/${encodeURIComponent(patientId)}/letter?audience=${audience}`);
  return [
    h('p', { class: 'no-print' },
      h('a', { href: `#/clinics/${encodeURIComponent(id)}`, testid: 'letter-back' }, 'Back to the clinic'), ' ',
      h('button', { type: 'button', class: 'button', testid: 'letter-print', onclick: () => window.print() }, 'Print')),
    h('article', { class: 'letter paper', testid: 'clinic-letter', 'data-audience': l.audience },
      h('p', { class: 'letter-from' }, l.from),
      h('p', { class: 'letter-date' }, fmtDate(l.date)),
      h('p', { class: 'letter-to', testid: 'letter-to' }, l.to),
      h('h1', { testid: 'letter-subject' }, l.subject),
      l.paragraphs.map((p) => h('p', {}, p)),
      l.results.length
        ? [h('h2', {}, l.audience === 'gp' ? 'Pre-clinic results' : 'Your latest results'),
          table('letter-results', ['Test', 'Result', 'Taken on'], l.results.map((r) => [r.label, r.value, fmtDate(r.observed_on)]), '')]
        : null),
  ];
}

/** Virtual clinic metrics per practice and specialty, with a chart: the case manager's
 * practice, or every practice for a commissioner. */
export function metricsSection(ctx: Pick<SchemeContext, 'request'>): HTMLElement {
  const body = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading…'));
  call<{ from: string; to: string; rows: Metrics[]; totals: Metrics }>(ctx, '/scheme/clinic-metrics').then((m) => {
    const name = (r: Metrics) => `${r.practice_name}, ${specialtyLabel(r.specialty)}`;
    body.replaceChildren(
      h('p', { testid: 'clinic-metrics-summary', 'data-discussed': String(m.totals.patients_discussed), 'data-avoided': String(m.totals.referrals_avoided), 'data-new': String(m.totals.new_referrals) },
        `${fmtDate(m.from)} to ${fmtDate(m.to)}: ${m.totals.patients_discussed} patients discussed in ${m.totals.clinics} clinics, ${m.totals.referrals_avoided} referrals avoided, ${m.totals.new_referrals} new referrals, ${m.totals.education_sessions} education sessions.`),
      barChart('Virtual clinic outcomes', m.rows.flatMap((r) => [
        { label: `${name(r)}: avoided`, value: r.referrals_avoided },
        { label: `${name(r)}: new referrals`, value: r.new_referrals },
      ])),
      table('clinic-metrics-table', ['Practice', 'Specialty', 'Clinics', 'Discussed', 'Referrals avoided', 'New referrals', 'Not discussed', 'Education'],
        m.rows.map((r) => [`${r.practice_name} (${r.practice_code})`, specialtyLabel(r.specialty), r.clinics, r.patients_discussed, r.referrals_avoided, r.new_referrals, r.not_discussed, r.education_sessions]),
        'No virtual clinic in the last year.'));
  }).catch((e) => body.replaceChildren(h('p', { class: 'error', role: 'alert' }, errorMessage(e))));
  return section('Virtual clinic metrics', 'clinic-metrics', body);
}

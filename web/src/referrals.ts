// Referral peer review (issue 15; seeds 000 CASES and 001 CASPeR): the practice makes a
// routine referral; a GP reviewer for its specialty forwards it to hospital, returns it
// with advice or asks a question, within 3 working days; the practice answers, and
// acknowledges returned advice; the patient gets a printable letter; the learning report
// counts outcomes with no patient named; reviewers write education notes to practices.
//
// Online only: referrals live on the server (crates/server/src/routes/referrals/), not
// in the plans on the tablet, so every screen here says so without a connection. Every
// rule (routine only, the deadline, who may take which step) is the server's; this module
// shows what it answers.

import { errorMessage, field, fmtDate, fmtDateTime, h, section } from './dom.js';
import { barChart } from './scheme.js';

export interface ReferralsContext {
  request(path: string, init?: RequestInit): Promise<Response>;
  /** A case manager: makes referrals and acts on their outcomes. */
  referrer: boolean;
  /** A GP reviewer: the queue of their specialties and the decision form. */
  reviewer: boolean;
  /** A commissioner: the learning report only. */
  commissioner: boolean;
  /** The caseload on this tablet, to refer a patient by their plan. */
  caseload(): { id: string; name: string; nhs_number_display: string }[];
  /** The referral to open, from the address (`#/referrals/<id>`). */
  openId: string | null;
  open(id: string | null): void;
}

interface Listing {
  id: string;
  practice: { code: string; name: string };
  referrer: string;
  patient_id: string | null;
  nhs_number: string;
  patient_name: string;
  date_of_birth: string;
  specialty: string;
  condition: string;
  clinical_question: string;
  state: string;
  received_on: string;
  deadline: string;
  overdue: boolean;
  decided_on: string | null;
}

interface Advice {
  tests?: string | null;
  treatment?: string | null;
  re_refer_when?: string;
}

interface ReferralEvent {
  seq: number;
  kind: string;
  user_name: string;
  organisation: string;
  mentored: boolean | null;
  body: { note?: string; question?: string; answer?: string; advice?: Advice };
  at_ms: number;
}

interface Attachment {
  seq: number;
  title: string;
  content_type: string;
  size: number;
}

interface Detail extends Listing {
  relevant_history: string;
  attachments: Attachment[];
  urgency: string;
  events: ReferralEvent[];
  you_are: 'referrer' | 'reviewer';
  your_steps: string[];
  what_happens_next: string;
}

interface Outcomes {
  referrals: number;
  forwarded: number;
  returned: number;
  awaiting: number;
  questions_asked: number;
  advice_tests: number;
  advice_treatment: number;
  decided_on_time: number;
  decided_late: number;
  overdue: number;
  mean_turnaround_working_days: number | null;
}

interface ReportLine extends Outcomes {
  practice: string | null;
  specialty: string;
  condition: string | null;
}

interface EducationNote {
  id: string;
  practice_code: string;
  practice_name: string;
  author_name: string;
  specialty: string;
  condition: string | null;
  title: string;
  body: string;
  created_at_ms: number;
}

interface Report {
  today: string;
  review_working_days: number;
  total: Outcomes;
  lines: ReportLine[];
}

const STATE_LABELS: Record<string, string> = {
  awaiting_review: 'Awaiting review',
  question_asked: 'Question for the referrer',
  forwarded: 'Forwarded to hospital',
  returned: 'Returned with advice',
  advice_acknowledged: 'Advice acknowledged',
};

const STEP_LABELS: Record<string, string> = {
  forward: 'Forwarded to hospital',
  return: 'Returned with advice',
  ask_question: 'Question asked',
  answer: 'Answered',
  acknowledge: 'Advice acknowledged',
};

class Refused extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

async function call<T>(ctx: ReferralsContext, path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await ctx.request(path, init);
  } catch {
    throw new Refused('The server cannot be reached: referrals need a connection.', 0);
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    throw new Refused((body as { message?: string } | null)?.message ?? `the server answered ${response.status}`, response.status);
  }
  return body as T;
}

function postJson(body: unknown): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function table(testid: string, head: string[], rows: (string | number | Node)[][], empty: string, rowIds?: string[]): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'muted', testid: `${testid}-empty` }, empty);
  return h('table', { class: 'grid', testid },
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((r, i) => h('tr', { 'data-id': rowIds?.[i] ?? null }, r.map((c) => h('td', {}, c))))));
}

function loading(title: string, testid: string, load: (body: HTMLElement, reload: () => void) => Promise<void>): HTMLElement {
  const body = h('div', { 'aria-live': 'polite' });
  const run = () => {
    body.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    load(body, run).catch((e) => body.replaceChildren(h('p', { class: 'error', role: 'alert', testid: `${testid}-error` }, errorMessage(e))));
  };
  run();
  return section(title, testid, body);
}

function stateBadge(r: Listing): HTMLElement {
  return h('span', { class: r.overdue ? 'badge warning' : 'badge', 'data-state': r.state, testid: 'referral-state' },
    STATE_LABELS[r.state] ?? r.state, r.overdue ? ' \u2014 overdue' : '');
}

function openButton(ctx: ReferralsContext, id: string): HTMLElement {
  return h('button', { type: 'button', class: 'button secondary', testid: 'referral-open', onclick: () => ctx.open(id) }, 'Open');
}

/** Fetches `path` with the session and saves what it answers as `filename`. */
async function download(ctx: ReferralsContext, path: string, filename: string): Promise<void> {
  const response = await ctx.request(path);
  if (!response.ok) throw new Refused(`the server answered ${response.status}`, response.status);
  const url = URL.createObjectURL(await response.blob());
  const a = h('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function downloadButton(ctx: ReferralsContext, testid: string, label: string, path: string, filename: string, error: HTMLElement): HTMLElement {
  return h('button', {
    type: 'button', class: 'button secondary', testid,
    onclick: () => download(ctx, path, filename).catch((e) => { error.textContent = errorMessage(e); }),
  }, label);
}

function textArea(testid: string, required = true): HTMLTextAreaElement {
  return h('textarea', { rows: 3, testid, required, maxlength: 4000 });
}

// ---------------------------------------------------------------- making a referral

function newReferralForm(ctx: ReferralsContext, specialties: string[], done: (id: string) => void): HTMLElement {
  const patients = ctx.caseload();
  const patient = h('select', { testid: 'referral-patient' },
    h('option', { value: '' }, 'Another patient (by NHS number)'),
    patients.map((p) => h('option', { value: p.id }, `${p.name} (${p.nhs_number_display})`)));
  const nhs = h('input', { type: 'text', inputmode: 'numeric', testid: 'referral-nhs', autocomplete: 'off' });
  const name = h('input', { type: 'text', testid: 'referral-name', autocomplete: 'off' });
  const dob = h('input', { type: 'date', testid: 'referral-dob' });
  const other = h('div', { testid: 'referral-other-patient' }, field('NHS number', nhs), field('Name', name), field('Date of birth', dob));
  const syncOther = () => { other.hidden = patient.value !== ''; };
  patient.addEventListener('change', syncOther);
  if (patients.length) patient.value = patients[0].id;
  syncOther();
  const specialty = h('select', { testid: 'referral-specialty', required: true }, specialties.map((s) => h('option', { value: s }, s)));
  const urgency = h('select', { testid: 'referral-urgency' },
    h('option', { value: 'routine' }, 'Routine'),
    h('option', { value: 'urgent' }, 'Urgent'),
    h('option', { value: 'two_week_wait' }, 'Two-week wait (suspected cancer)'));
  const condition = h('input', { type: 'text', testid: 'referral-condition', required: true, maxlength: 120 });
  const question = textArea('referral-question');
  const history = textArea('referral-history');
  const error = h('p', { class: 'error', role: 'alert', testid: 'referral-error' });
  const submit = h('button', { type: 'submit', class: 'button', testid: 'referral-submit' }, 'Send for peer review');
  const form = h('form', { testid: 'referral-form', novalidate: true },
    field('Patient', patient), other, field('Specialty', specialty),
    field('Urgency', urgency, 'Urgent and two-week-wait referrals go straight to hospital: they are not peer reviewed.'),
    field('Condition', condition, 'Briefly, e.g. \u201catrial fibrillation\u201d: the learning report groups by it.'),
    field('Clinical question', question), field('Relevant history', history), error, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const body: Record<string, string> = {
      specialty: specialty.value,
      urgency: urgency.value,
      condition: condition.value,
      clinical_question: question.value,
      relevant_history: history.value,
    };
    if (patient.value) body.patient_id = patient.value;
    else Object.assign(body, { nhs_number: nhs.value, patient_name: name.value, date_of_birth: dob.value });
    submit.disabled = true;
    try {
      const made = await call<Listing>(ctx, '/referrals', postJson(body));
      form.reset();
      done(made.id);
    } catch (err) {
      error.textContent = errorMessage(err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// ---------------------------------------------------------------- one referral

function eventLine(e: ReferralEvent): HTMLElement {
  const who = `${e.user_name}, ${e.organisation}${e.mentored ? ' (mentored reviewer)' : ''}, ${fmtDateTime(e.at_ms)}`;
  const a = e.body.advice;
  return h('li', { testid: 'referral-event', 'data-kind': e.kind },
    h('strong', {}, STEP_LABELS[e.kind] ?? e.kind), ` \u2014 ${who}`,
    e.body.note ? h('p', {}, e.body.note) : null,
    e.body.question ? h('p', {}, `Question: ${e.body.question}`) : null,
    e.body.answer ? h('p', {}, `Answer: ${e.body.answer}`) : null,
    a ? h('dl', { testid: 'referral-advice' },
      a.tests ? [h('dt', {}, 'Tests to do'), h('dd', {}, a.tests)] : null,
      a.treatment ? [h('dt', {}, 'Treatment to try'), h('dd', {}, a.treatment)] : null,
      a.re_refer_when ? [h('dt', {}, 'When to re-refer'), h('dd', {}, a.re_refer_when)] : null) : null);
}

function decisionForm(ctx: ReferralsContext, id: string, done: () => void): HTMLElement {
  const kind = h('select', { testid: 'decision-kind' },
    h('option', { value: 'forward' }, 'Forward to hospital'),
    h('option', { value: 'return' }, 'Return to the referrer with advice'),
    h('option', { value: 'ask_question' }, 'Ask the referrer a question'));
  const note = textArea('decision-note');
  const tests = textArea('decision-tests', false);
  const treatment = textArea('decision-treatment', false);
  const when = textArea('decision-re-refer');
  const question = textArea('decision-question');
  const parts = {
    forward: field('Note for the hospital', note),
    return: h('div', {}, field('Tests to do', tests), field('Treatment to try', treatment), field('When to re-refer', when)),
    ask_question: field('Question', question),
  };
  const sync = () => {
    for (const [k, el] of Object.entries(parts)) el.hidden = k !== kind.value;
  };
  kind.addEventListener('change', sync);
  sync();
  const error = h('p', { class: 'error', role: 'alert', testid: 'decision-error' });
  const submit = h('button', { type: 'submit', class: 'button', testid: 'decision-submit' }, 'Record the decision');
  const form = h('form', { testid: 'decision-form', novalidate: true },
    field('Decision', kind), parts.forward, parts.return, parts.ask_question, error, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const step = kind.value === 'forward' ? { kind: 'forward', note: note.value }
      : kind.value === 'return' ? { kind: 'return', advice: { tests: tests.value || null, treatment: treatment.value || null, re_refer_when: when.value } }
        : { kind: 'ask_question', question: question.value };
    submit.disabled = true;
    try {
      await call(ctx, `/referrals/${encodeURIComponent(id)}/decision`, postJson(step));
      done();
    } catch (err) {
      error.textContent = errorMessage(err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function answerForm(ctx: ReferralsContext, id: string, done: () => void): HTMLElement {
  const answer = textArea('answer-text');
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { testid: 'answer-form', novalidate: true },
    field('Your answer to the reviewer', answer), error,
    h('button', { type: 'submit', class: 'button', testid: 'answer-submit' }, 'Send the answer'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await call(ctx, `/referrals/${encodeURIComponent(id)}/answer`, postJson({ answer: answer.value }));
      done();
    } catch (err) {
      error.textContent = errorMessage(err);
    }
  });
  return form;
}

// The letter is the server's HTML, shown in a sandboxed frame (no scripts) the user can
// print on its own.
function letterPanel(ctx: ReferralsContext, id: string): HTMLElement {
  const holder = h('div', { testid: 'referral-letter-holder' });
  const show = h('button', {
    type: 'button', class: 'button secondary', testid: 'referral-letter-show',
    onclick: async () => {
      try {
        const response = await ctx.request(`/referrals/${encodeURIComponent(id)}/letter`);
        if (!response.ok) throw new Error(`the server answered ${response.status}`);
        const frame = h('iframe', { class: 'referral-letter', testid: 'referral-letter', title: 'Letter for the patient', sandbox: 'allow-same-origin allow-modals', srcdoc: await response.text() });
        const print = h('button', { type: 'button', class: 'button', testid: 'referral-letter-print', onclick: () => frame.contentWindow?.print() }, 'Print the letter');
        holder.replaceChildren(print, frame);
      } catch (err) {
        holder.replaceChildren(h('p', { class: 'error', role: 'alert' }, errorMessage(err)));
      }
    },
  }, 'Letter for the patient: what happens next');
  return h('div', {}, show, holder);
}

function documentsList(ctx: ReferralsContext, id: string, docs: Attachment[]): HTMLElement {
  const error = h('p', { class: 'error', role: 'alert' });
  const kib = (n: number) => `${Math.max(1, Math.round(n / 1024))} KiB`;
  return h('div', { testid: 'referral-documents' },
    h('h3', {}, 'Documents sent with the referral'),
    h('ul', {}, docs.map((a) => h('li', { testid: 'referral-document' },
      `${a.title} (${a.content_type}, ${kib(a.size)}) `,
      downloadButton(ctx, 'referral-document-download', 'Download', `/referrals/${encodeURIComponent(id)}/attachments/${a.seq}`, a.title, error)))),
    error);
}

function fhirButton(ctx: ReferralsContext, id: string): HTMLElement {
  const error = h('p', { class: 'error', role: 'alert' });
  return h('div', {},
    downloadButton(ctx, 'referral-fhir', 'Download as FHIR ServiceRequest', `/referrals/${encodeURIComponent(id)}/fhir`, `referral-${id}.json`, error),
    error);
}

function detailSection(ctx: ReferralsContext, id: string, changed: () => void): HTMLElement {
  return loading('Referral', 'referral-detail', async (body, reload) => {
    const d = await call<Detail>(ctx, `/referrals/${encodeURIComponent(id)}`);
    const after = () => { reload(); changed(); };
    const ack = d.your_steps.includes('acknowledge')
      ? h('button', {
        type: 'button', class: 'button', testid: 'referral-acknowledge',
        onclick: async () => {
          try {
            await call(ctx, `/referrals/${encodeURIComponent(id)}/acknowledge`, { method: 'POST' });
            after();
          } catch (err) {
            body.append(h('p', { class: 'error', role: 'alert' }, errorMessage(err)));
          }
        },
      }, 'Acknowledge the advice')
      : null;
    body.replaceChildren(...[
      h('p', {}, h('strong', {}, d.patient_name), ` \u2014 NHS ${d.nhs_number}, born ${fmtDate(d.date_of_birth)}; ${d.practice.name}, referred by ${d.referrer}`),
      h('p', {}, `${d.specialty}, ${d.urgency}: ${d.condition}. Received ${fmtDate(d.received_on)}, decision due by ${fmtDate(d.deadline)}. `, stateBadge(d)),
      h('h3', {}, 'Clinical question'), h('p', {}, d.clinical_question),
      h('h3', {}, 'Relevant history'), h('p', {}, d.relevant_history),
      d.attachments.length ? documentsList(ctx, id, d.attachments) : null,
      h('h3', {}, 'Review'),
      d.events.length ? h('ol', { testid: 'referral-events' }, d.events.map(eventLine)) : h('p', { class: 'muted' }, 'Not reviewed yet.'),
      h('p', { class: 'muted', testid: 'referral-next' }, d.what_happens_next),
      d.your_steps.some((s) => s === 'forward' || s === 'return' || s === 'ask_question') ? decisionForm(ctx, id, after) : null,
      d.your_steps.includes('answer') ? answerForm(ctx, id, after) : null,
      ack,
      d.you_are === 'referrer' ? letterPanel(ctx, id) : null,
      fhirButton(ctx, id),
      h('button', { type: 'button', class: 'button secondary', testid: 'referral-close', onclick: () => ctx.open(null) }, 'Back to the list'),
    ].filter((n): n is HTMLElement => n !== null));
  });
}

// ---------------------------------------------------------------- lists and the report

function practiceSection(ctx: ReferralsContext): HTMLElement {
  return loading('Your practice\u2019s referrals', 'referral-list', async (body, reload) => {
    const [list, specs] = await Promise.all([
      call<{ referrals: Listing[]; needs_you: number }>(ctx, '/referrals'),
      call<{ specialties: string[] }>(ctx, '/referrals/specialties'),
    ]);
    body.replaceChildren(
      h('p', { testid: 'referral-needs-you', 'data-count': String(list.needs_you) },
        list.needs_you ? `${list.needs_you} need you: a question to answer or advice to acknowledge.` : 'Nothing waits for you.'),
      table('referral-table', ['Patient', 'Specialty', 'Condition', 'Outcome', 'Decision due', ''],
        list.referrals.map((r) => [`${r.patient_name} (${r.nhs_number})`, r.specialty, r.condition, stateBadge(r), fmtDate(r.deadline), openButton(ctx, r.id)]),
        'No referrals yet.', list.referrals.map((r) => r.id)),
      h('h3', {}, 'New referral'),
      newReferralForm(ctx, specs.specialties, (id) => { reload(); ctx.open(id); }));
  });
}

function queueSection(ctx: ReferralsContext): HTMLElement {
  return loading('Review queue', 'referral-queue', async (body) => {
    const q = await call<{ today: string; specialties: { specialty: string; mentored: boolean }[]; queue: Listing[] }>(ctx, '/referrals/queue');
    body.replaceChildren(
      h('p', { class: 'muted' }, `Your specialties: ${q.specialties.map((s) => `${s.specialty}${s.mentored ? ' (mentored)' : ''}`).join(', ') || 'none assigned yet'}. Earliest deadline first; a decision is due within 3 working days.`),
      table('referral-queue-table', ['Due', 'Patient', 'Practice', 'Specialty', 'Question', 'State', ''],
        q.queue.map((r) => [fmtDate(r.deadline), `${r.patient_name} (${r.nhs_number})`, r.practice.name, r.specialty, r.clinical_question, stateBadge(r), openButton(ctx, r.id)]),
        'Nothing to review.', q.queue.map((r) => r.id)));
  });
}

function reportSection(ctx: ReferralsContext): HTMLElement {
  return loading('What we are learning', 'referral-report', async (body) => {
    const r = await call<Report>(ctx, '/referrals/report');
    const t = r.total;
    const mean = (n: number | null) => (n === null ? '\u2013' : n.toFixed(1));
    const csvError = h('p', { class: 'error', role: 'alert' });
    const csv = downloadButton(ctx, 'referral-report-csv', 'Download CSV', '/referrals/report?format=csv', 'referral-learning-report.csv', csvError);
    // Outcomes by specialty across practices, and referrals per practice: the variation
    // between practices commissioners watch.
    const bySpecialty = r.lines.filter((l) => l.practice === null && l.condition === null);
    const perPractice = new Map<string, number>();
    for (const l of r.lines) {
      if (l.practice !== null && l.condition === null) perPractice.set(l.practice, (perPractice.get(l.practice) ?? 0) + l.referrals);
    }
    const charts = r.lines.length ? [
      barChart('Forwarded and returned, by specialty', bySpecialty.flatMap((l) => [
        { label: `${l.specialty}: forwarded`, value: l.forwarded },
        { label: `${l.specialty}: returned`, value: l.returned },
      ])),
      barChart('Referrals by practice', [...perPractice].map(([practice, n]) => ({ label: practice, value: n }))),
      barChart('Returned with advice, by specialty and condition', r.lines
        .filter((l) => l.practice === null && l.condition !== null)
        .map((l) => ({ label: `${l.specialty}: ${l.condition}`, value: l.returned }))),
    ] : [];
    body.replaceChildren(
      h('p', { class: 'muted' }, 'Figures only: no patient is named here.'),
      ...charts,
      h('p', { testid: 'referral-report-total', 'data-referrals': String(t.referrals) },
        `${t.referrals} referrals: ${t.forwarded} forwarded, ${t.returned} returned with advice, ${t.awaiting} under review (${t.overdue} overdue). ${t.decided_on_time} decided within ${r.review_working_days} working days, ${t.decided_late} later; mean ${mean(t.mean_turnaround_working_days)} working days.`),
      table('referral-report-table', ['Practice', 'Specialty', 'Condition', 'Referrals', 'Forwarded', 'Returned', 'Advice: tests / treatment', 'On time / late', 'Mean working days'],
        r.lines.map((l) => [l.practice ?? 'All practices', l.specialty, l.condition ?? 'All conditions', l.referrals, l.forwarded, l.returned,
          `${l.advice_tests} / ${l.advice_treatment}`, `${l.decided_on_time} / ${l.decided_late}`, mean(l.mean_turnaround_working_days)]),
        'No referrals yet.'),
      csv, csvError);
  });
}

function noteItem(n: EducationNote): HTMLElement {
  return h('li', { testid: 'education-note' },
    h('strong', {}, n.title), ` — ${n.specialty}${n.condition ? `, ${n.condition}` : ''}; to ${n.practice_name} (${n.practice_code}) from ${n.author_name}, ${fmtDateTime(n.created_at_ms)}`,
    h('p', {}, n.body));
}

function noteForm(ctx: ReferralsContext, specialties: string[], practices: string[], done: () => void): HTMLElement {
  const practice = h('input', { type: 'text', testid: 'education-practice', required: true, list: 'education-practices', autocomplete: 'off' });
  const known = h('datalist', { id: 'education-practices' }, practices.map((p) => h('option', { value: p })));
  const specialty = h('select', { testid: 'education-specialty' }, specialties.map((s) => h('option', { value: s }, s)));
  const condition = h('input', { type: 'text', testid: 'education-condition', maxlength: 120 });
  const title = h('input', { type: 'text', testid: 'education-title', required: true, maxlength: 200 });
  const text = h('textarea', { rows: 5, testid: 'education-body', required: true, maxlength: 8000 });
  const error = h('p', { class: 'error', role: 'alert', testid: 'education-error' });
  const submit = h('button', { type: 'submit', class: 'button', testid: 'education-submit' }, 'Send the note to the practice');
  const form = h('form', { testid: 'education-form', novalidate: true },
    field('Practice code', practice, 'The practice\u2019s ODS code, as the report shows it.'), known,
    field('Specialty', specialty), field('Condition (optional)', condition),
    field('Title', title), field('What the practice can learn', text, 'Name no patient: a note with an NHS number is refused.'),
    error, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      await call(ctx, '/referrals/education-notes', postJson({
        practice_code: practice.value, specialty: specialty.value,
        condition: condition.value || null, title: title.value, body: text.value,
      }));
      form.reset();
      done();
    } catch (err) {
      error.textContent = errorMessage(err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function educationSection(ctx: ReferralsContext): HTMLElement {
  const heading = ctx.reviewer ? 'Education notes you have written' : 'Education notes from reviewers';
  return loading(heading, 'education-notes', async (body, reload) => {
    const notes = await call<{ notes: EducationNote[] }>(ctx, '/referrals/education-notes');
    const list = notes.notes.length
      ? h('ul', { testid: 'education-list' }, notes.notes.map(noteItem))
      : h('p', { class: 'muted', testid: 'education-empty' }, 'No education notes yet.');
    const parts: HTMLElement[] = [list];
    if (ctx.reviewer) {
      const [queue, report] = await Promise.all([
        call<{ specialties: { specialty: string }[] }>(ctx, '/referrals/queue'),
        call<Report>(ctx, '/referrals/report'),
      ]);
      const practices = [...new Set(report.lines.map((l) => l.practice).filter((p): p is string => p !== null))];
      parts.push(h('h3', {}, 'Write to a practice'),
        noteForm(ctx, queue.specialties.map((s) => s.specialty), practices, reload));
    }
    body.replaceChildren(...parts);
  });
}

/** Renders the referrals screen into `root`. */
export function renderReferrals(root: HTMLElement, ctx: ReferralsContext): void {
  const offline = !navigator.onLine
    ? h('p', { class: 'notice warning', role: 'status', testid: 'referrals-offline' }, 'You are offline: referrals are kept on the server, not on this tablet, and need a connection.')
    : null;
  const parts: HTMLElement[] = [];
  if (ctx.openId) parts.push(detailSection(ctx, ctx.openId, () => undefined));
  if (!ctx.openId) {
    if (ctx.reviewer) parts.push(queueSection(ctx));
    if (ctx.referrer) parts.push(practiceSection(ctx));
    parts.push(reportSection(ctx));
    parts.push(educationSection(ctx));
  }
  root.replaceChildren(
    h('h1', { testid: 'referrals-title' }, 'Referrals for peer review'),
    ...(offline ? [offline] : []),
    ...parts);
}

// The rest of the care plan: every section the core's schema holds that the first
// screens did not draw, the plan's lifecycle and the conflicts inbox.
//
// Each form here only gathers what was typed into one of the core's Edit ops (see
// crates/shared/src/edit.rs for the JSON) and shows the core's answer inline: whether a
// date may be in the future, a number plausible, a plan complete, is the core's decision.
// The labels (labels.ts) are how the app words the core's codes; they carry no rules.

import type { EditJson, Entry, Plan, Reading, ReviewDue, SafetyField } from './core.js';
import { by, field, fmtDate, h, section, sentence } from './dom.js';
import type { Child } from './dom.js';
import { control, corrections, editForm, entries, states } from './forms.js';
import type { CorrectionField, EditForm, FormSpec, SectionContext } from './forms.js';
import { LABELS } from './labels.js';

export type { EditJson };

const label = (kind: string, value: unknown): string => (value === null || value === undefined || value === '' ? '—' : LABELS[kind]?.[String(value)] ?? String(value));
const text = (v: unknown): string => (v === null || v === undefined || v === '' ? '—' : String(v));

// The core's reading of a safety-critical register when its values conflict, else null.
// While they conflict the plan's own field holds Automerge's arbitrary winner, which must
// never be shown (or offered as a form's starting value) as if it were settled.
export function conflictReading(p: Plan, field: SafetyField): Reading | null {
  const r = p.readings?.[field];
  return r && r.state === 'conflicting' ? r : null;
}

// "Conflicting: A / B — confirm with the care team", in place of a register's value.
export function conflictNote(p: Plan, field: SafetyField): HTMLElement | null {
  const r = conflictReading(p, field);
  return r ? h('p', { class: 'conflict-note', role: 'alert', testid: 'conflict-note', 'data-field': field }, r.label) : null;
}

// A register's value for a facts list: the conflict's label when its values conflict.
function settledOr(p: Plan, field: SafetyField, value: () => Child): Child {
  const r = conflictReading(p, field);
  return r ? h('span', { class: 'conflict-note', testid: 'decision-conflict', 'data-field': field }, r.label) : value();
}

// A definition list of [term, value] pairs, leaving out nothing (a dash shows "not set").
function facts(testid: string, pairs: (readonly [string, Child])[]): HTMLElement {
  return h('dl', { class: 'facts', testid }, ...pairs.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

// ---------------------------------------------------------------------------
// The sections

// `ctx`: { id, saveState, newEntryId, enteredInError, refresh } from the plan screen.
// Returns { top, rest, refresh(plan) }: `top` goes above the first screens' sections
// (lifecycle and conflicts), `rest` after them.

export interface PlanSections {
  top: HTMLElement[];
  rest: HTMLElement[];
  refresh(plan: Plan): void;
}

// The parts of a plan a review goes through with the patient, in the order of the
// paper folder; each link takes the clinician to the section to update it.
const REVIEW_STEPS: [string, string][] = [
  ['section-conditions', 'Conditions and treatment'],
  ['section-medications', 'Medications'],
  ['section-allergies', 'Allergies'],
  ['section-escalation', 'Exacerbation plans'],
  ['section-dnacpr', 'DNACPR'],
  ['section-decisions', 'Emergency decisions'],
  ['section-place', 'Preferred place of care'],
  ['section-personal-contacts', 'Carers and contacts'],
  ['section-goals', 'The patient\u2019s goals'],
  ['section-baseline', 'Baseline observations'],
  ['section-consent-full', 'Consent to share'],
];

// Shown while a plan is under review: start (done) → go through the plan with the
// patient, updating what changed → record the findings and the outcome, which finishes
// the review and moves the plan on.
function reviewGuide(): HTMLElement {
  const goTo = (testid: string, open?: string) => (e: Event) => {
    e.preventDefault();
    const target = document.querySelector<HTMLElement>(`[data-testid="${testid}"]`);
    if (!target) return;
    const panel = open ? document.querySelector<HTMLDetailsElement>(`[data-testid="${open}"]`) : null;
    if (panel) panel.open = true;
    target.scrollIntoView({ block: 'start' });
    target.querySelector<HTMLElement>('input, select, textarea, summary, button')?.focus({ preventScroll: true });
  };
  return h('div', { class: 'notice review-guide', testid: 'review-guide' },
    h('h3', {}, 'Review in progress'),
    h('ol', {},
      h('li', { 'data-step': 'started' }, 'Review started.'),
      h('li', { 'data-step': 'update' }, 'Go through the plan with the patient and update what has changed:',
        h('ul', { class: 'review-steps' }, ...REVIEW_STEPS.map(([testid, name]) =>
          h('li', {}, h('a', { href: `#${testid}`, testid: `review-go-${testid.replace(/^section-/, '')}`, onclick: goTo(testid) }, name))))),
      h('li', { 'data-step': 'finish' }, 'Record the findings and the outcome: ',
        h('a', { href: '#section-reviews', testid: 'review-go-record', onclick: goTo('section-reviews', 'review-panel') }, 'Record review'),
        '. Recording it finishes the review: the plan is complete again with its next review date, or ends with the reason.')));
}

// When the next review falls due and how far off it is, as the core reckons it.
function nextReview(r: ReviewDue | null): HTMLElement {
  if (!r) return h('span', { testid: 'next-review-due', 'data-state': 'none' }, '—');
  const days = Math.abs(r.days_left);
  const when = r.state === 'overdue'
    ? `overdue by ${days === 1 ? '1 day' : `${days} days`}`
    : r.days_left === 0 ? 'due today' : `in ${days === 1 ? '1 day' : `${days} days`}`;
  const why = r.set_earlier ? 'set earlier by the case manager' : `every ${r.interval_months} months${r.annual ? ' (annual over-75 case review)' : ''}`;
  return h('span', { testid: 'next-review-due', 'data-state': r.state, 'data-due': r.due, class: r.state === 'overdue' ? 'review-overdue' : null },
    `${fmtDate(r.due)} — ${when}; ${why}`);
}

export function planSections(ctx: SectionContext): PlanSections {
  const forms: EditForm[] = [];
  const boxes: [HTMLElement, (plan: Plan) => Node | null][] = [];
  const form = (spec: FormSpec): HTMLElement => { const f = editForm(ctx, spec); forms.push(f); return f.node; };
  // A part of a section redrawn from the plan on every refresh.
  const live = (draw: (plan: Plan) => Node | null): HTMLElement => { const box = h('div'); boxes.push([box, draw]); return box; };
  ctx.states = Object.fromEntries(['care_team', 'allergies', 'escalation_plans', 'goals', 'reviews', 'mdt_discussions', 'advice', 'key_contacts', 'medications']
    .map((list) => [list, ctx.saveState(`${list.replace(/_/g, '-')}-list`)]));
  const listStatus = (list: string): HTMLElement[] => [states(ctx)[list].error, states(ctx)[list].line];
  const correct = (op: string, testid: string, list: string, fields: CorrectionField[]) => corrections({
    id: ctx.id, op, testid: `${testid}-item`, fields, state: () => states(ctx)[list], refresh: ctx.refresh,
  });
  const correctTeam = correct('update_care_team_member', 'team', 'care_team', [
    { name: 'kind', label: 'Kind', type: 'select', labels: 'team_kind' }, { name: 'role', label: 'Role' },
    { name: 'name', label: 'Name' }, { name: 'organisation', label: 'Organisation' },
    { name: 'phone', label: 'Phone', type: 'tel' }, { name: 'hours', label: 'Hours' },
  ]);
  const correctPersonal = correct('update_contact', 'personal', 'key_contacts', [
    { name: 'relationship', label: 'Relationship', type: 'select', labels: 'relationship' },
    { name: 'name', label: 'Name' }, { name: 'phone', label: 'Phone', type: 'tel' },
  ]);
  const correctAnticipatory = correct('update_medication', 'anticipatory', 'medications', [
    { name: 'name', label: 'Medicine' }, { name: 'dose', label: 'Dose' },
    { name: 'location', label: 'Where it is kept' }, { name: 'notes', label: 'Notes' },
  ]);
  const correctAllergy = correct('update_allergy', 'allergy', 'allergies', [
    { name: 'substance', label: 'Substance' }, { name: 'reaction', label: 'Reaction' },
    { name: 'severity', label: 'Severity', type: 'select', labels: 'severity' },
  ]);
  const correctEscalation = correct('update_escalation_plan', 'escalation', 'escalation_plans', [
    { name: 'condition', label: 'Condition' }, { name: 'rescue_pack', label: 'Rescue pack' },
  ]);
  const correctGoal = correct('update_goal', 'goal', 'goals', [
    { name: 'what_matters', label: 'What matters to the patient' }, { name: 'goal', label: 'Goal' }, { name: 'owner', label: 'Owner' },
  ]);

  // --- Lifecycle
  const lifeState = ctx.saveState('lifecycle');
  const endReason = control({ type: 'select', labels: 'end_reason' }, 'end-reason');
  const endDate = control({ type: 'date' }, 'end-date');
  const endForm = h('form', { novalidate: true, testid: 'end-form' },
    h('div', { class: 'fields' }, field('Reason', endReason), field('Date ended', endDate)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button danger', testid: 'end-plan' }, 'End case management')));
  endForm.addEventListener('submit', (e) => {
    e.preventDefault();
    lifeState.apply(ctx.id, { op: 'end_plan', reason: endReason.value, date: endDate.value }, ctx.refresh);
  });
  // Made once, so a colleague's change arriving does not close it while it is in use.
  const endDetails = h('details', { class: 'add', testid: 'end-details' }, h('summary', { testid: 'end-open' }, 'End case management'), endForm);
  const lifecycle = section('Plan status', 'section-lifecycle',
    live((p) => {
      const e = p.enrolment;
      const problems = p.completion_problem_messages || [];
      return h('div', {},
        facts('lifecycle-facts', [
          ['Status', h('span', { testid: 'plan-status', 'data-status': e.status }, label('status', e.status))],
          ['Next review due', nextReview(ctx.reviewDue())],
          e.completed ? ['Marked complete', by(e.completed)] : null,
          e.ended ? ['Ended', `${label('end_reason', e.ended.reason)}, ${fmtDate(e.ended.date)} (${by(e.ended.recorded)})`] : null,
        ].filter(Boolean) as [string, Child][]),
        (e.status === 'draft' || e.status === 'under_review') && problems.length
          ? h('div', { class: 'notice', testid: 'completion-problems' },
            h('p', {}, 'This plan cannot be marked complete yet:'),
            h('ul', {}, ...problems.map((m: string) => h('li', {}, sentence(m)))))
          : null);
    }),
    lifeState.error,
    live((p) => {
      const s = p.enrolment.status;
      return h('div', { class: 'actions' },
        s === 'draft' || s === 'under_review'
          ? h('button', { type: 'button', class: 'button', testid: 'mark-complete', onclick: () => lifeState.apply(ctx.id, { op: 'mark_complete' }, ctx.refresh) }, 'Mark plan complete')
          : null,
        s === 'complete'
          ? h('button', { type: 'button', class: 'button secondary', testid: 'start-review', onclick: () => lifeState.apply(ctx.id, { op: 'start_review' }, ctx.refresh) }, 'Start review')
          : null);
    }),
    lifeState.line,
    live((p) => (p.enrolment.status === 'under_review' ? reviewGuide() : null)),
    endDetails);

  // --- What "plan complete" asks for beyond consent and a case manager (seed 003 step 16
  // and the scheme's outputs): an MDT discussion or "no wider action needed", the
  // face-to-face meeting with the GP, a mental health assessment, the paper copy in the
  // home. Whether the plan may be marked complete stays the core's decision (above).
  const stepState = (p: Plan): [string, string, Child][] => {
    const mdt = (p.mdt_discussions || []).filter((m: Entry) => !m.entered_in_error);
    const nwa = p.no_wider_action;
    const gp = p.gp_meeting;
    const mh = p.mental_health_assessment;
    const paper = p.paper_copy;
    return [
      ['mdt', 'MDT discussion', mdt.length
        ? `${mdt.length === 1 ? '1 discussion' : `${mdt.length} discussions`}, last ${fmtDate(mdt[mdt.length - 1].date)}`
        : nwa ? `No wider action needed: ${nwa.reason} (${by(nwa.recorded)})` : null],
      ['gp', 'Face-to-face meeting with the GP', gp ? `${fmtDate(gp.date)} with ${gp.gp}; ${gp.attendees} (${by(gp.recorded)})` : null],
      ['mental-health', 'Mental health assessment', !mh ? null : mh.status === 'done'
        ? `Done ${fmtDate(mh.date)} with ${mh.tool}: ${mh.outcome} (${by(mh.recorded)})`
        : `Not indicated: ${mh.reason} (${by(mh.recorded)})`],
      ['paper', 'Paper copy in the home', paper ? `Printed (${by(paper.printed)})` : null],
    ];
  };
  const completion = section('Before the plan is complete', 'section-completion',
    h('p', { class: 'muted' }, 'Step 16: the patient discussed at an MDT (or no wider action needed), a face-to-face meeting with the GP, a mental health assessment, and the plan\u2019s paper copy in the home.'),
    live((p) => h('dl', { class: 'facts', testid: 'completion-facts' }, ...stepState(p).flatMap(([key, term, value]) => [
      h('dt', {}, term),
      h('dd', { testid: `completion-${key}`, 'data-done': value ? 'true' : 'false' }, value ?? 'Not recorded'),
    ]))),
    h('p', { class: 'muted' }, 'Record an MDT discussion in \u201cMDT discussions\u201d below (an MDT meeting that discussed the patient adds one), and print the red folder from \u201cPrint\u201d to record the paper copy.'),
    form({
      key: 'no-wider-action', op: 'record_no_wider_action', submit: 'No wider action needed', collapsed: true,
      note: 'Instead of an MDT discussion, when the patient\u2019s needs call for no wider action. Recorded with your name and the time.',
      fields: [{ name: 'reason', label: 'Why no wider action is needed', type: 'textarea' }],
      fill: (p) => p.no_wider_action || {},
    }),
    form({
      key: 'gp-meeting', op: 'record_gp_meeting', submit: 'Record GP meeting', collapsed: true,
      fields: [
        { name: 'date', label: 'Date', type: 'date' }, { name: 'gp', label: 'GP' },
        { name: 'attendees', label: 'Who else was there', hint: 'The case manager, the patient, family or carers' },
      ],
      fill: (p) => p.gp_meeting || {},
    }),
    form({
      key: 'mental-health', op: 'record_mental_health_assessment', submit: 'Record mental health assessment', collapsed: true,
      note: 'Done: the date, tool and outcome. Not indicated: only the reason.',
      fields: [
        { name: 'status', label: 'Assessment', type: 'select', labels: 'mental_health' },
        { name: 'date', label: 'Date', type: 'date', optional: true }, { name: 'tool', label: 'Tool', hint: 'PHQ-9, GAD-7, 6CIT …' },
        { name: 'outcome', label: 'Outcome' }, { name: 'reason', label: 'Why not indicated' },
      ],
      fill: (p) => p.mental_health_assessment || {},
    }));

  // --- Conflicts inbox: concurrent different values of a safety-critical fact, each
  // with who set it and when, until a clinician keeps one.
  const conflictState = ctx.saveState('conflict');
  const conflicts = h('section', { class: 'section conflicts', testid: 'section-conflicts', 'aria-labelledby': 'h-section-conflicts' },
    h('h2', { id: 'h-section-conflicts' }, 'Conflicting entries to resolve'),
    h('p', {}, 'Colleagues recorded these safety-critical facts differently without seeing each other\u2019s entry. Both are kept, and the emergency summary shows the conflict, until you choose the correct one.'),
    live((p) => h('ul', { class: 'entries', testid: 'conflicts-list' }, ...(p.conflicts || []).map((c: any) => h('li', { class: 'entry conflict', testid: 'conflict-item', 'data-field': c.field },
      h('div', { class: 'entry-main' },
        h('div', { class: 'entry-title' }, sentence(c.field_label || c.field)),
        h('ul', { class: 'conflict-values' }, ...c.values.map((v: any) => h('li', { testid: 'conflict-value', 'data-value-id': v.id },
          h('div', {}, h('strong', {}, v.label)),
          h('div', { class: 'entry-meta' }, `Set by ${by(v.recorded)}`),
          h('button', {
            type: 'button', class: 'button secondary', testid: 'conflict-keep',
            onclick: () => conflictState.apply(ctx.id, { op: 'resolve_conflict', field: c.field, keep: v.id }, ctx.refresh),
          }, `Keep this: ${v.label}`))))))))),
    conflictState.error,
    conflictState.line);

  // --- Enrolment and case manager
  const enrolment = section('Enrolment', 'section-enrolment',
    live((p) => facts('enrolment-facts', [
      ['Cohort', label('cohort', p.enrolment.cohort)],
      ['Tier', label('tier', p.enrolment.tier)],
      ['Start date', p.enrolment.start_date ? fmtDate(p.enrolment.start_date) : '—'],
      ['Review every', `${p.enrolment.review_interval_months ?? 4} months`],
      ['Case manager', p.enrolment.case_manager ? `${p.enrolment.case_manager.name}${p.enrolment.case_manager.role ? ` (${p.enrolment.case_manager.role})` : ''} ${p.enrolment.case_manager.phone}`.trim() : '—'],
    ])),
    form({
      key: 'enrolment', op: 'set_enrolment', submit: 'Save enrolment',
      fields: [
        { name: 'cohort', label: 'Cohort category', type: 'select', labels: 'cohort', optional: true },
        { name: 'tier', label: 'Tier', type: 'select', labels: 'tier', optional: true },
        { name: 'start_date', label: 'Start date', type: 'date', optional: true },
        { name: 'review_interval_months', label: 'Review interval (months)', type: 'number', hint: 'Usually 4' },
      ],
      fill: (p) => p.enrolment,
    }),
    form({
      key: 'case-manager', op: 'set_case_manager', submit: 'Save case manager',
      note: 'The case manager until the next review.',
      fields: [
        { name: 'name', label: 'Name' }, { name: 'role', label: 'Role' }, { name: 'phone', label: 'Phone', type: 'tel' },
      ],
      fill: (p) => p.enrolment.case_manager || {},
    }));

  // --- Patient details beyond identity
  const details = section('Patient details', 'section-patient-details',
    form({
      key: 'details', op: 'set_patient_details', submit: 'Save patient details',
      fields: [
        { name: 'preferred_name', label: 'Preferred name' },
        { name: 'sex', label: 'Sex', type: 'select', labels: 'sex', optional: true },
        { name: 'phone', label: 'Phone', type: 'tel' },
        { name: 'residence', label: 'Residence', type: 'select', labels: 'residence', optional: true },
        { name: 'access_notes', label: 'Access notes', hint: 'Key safe code location, entry' },
        { name: 'gp_practice_ods', label: 'GP practice ODS code' },
        { name: 'gp_practice_name', label: 'GP practice' },
        { name: 'named_gp', label: 'Named GP' },
        { name: 'communication_needs', label: 'Communication needs' },
        { name: 'interpreter_language', label: 'Interpreter language' },
      ],
      fill: (p) => p.patient,
    }));

  // --- Care team
  const careTeam = section('Care team', 'section-care-team',
    live((p) => entries(ctx, 'care_team', 'team', p.care_team, (m) => ({
      title: `${m.name || m.role} — ${label('team_kind', m.kind)}`,
      meta: [[m.role, m.organisation].filter(Boolean).join(', '), [m.phone, m.hours].filter(Boolean).join(' · ')],
    }), correctTeam)),
    ...listStatus('care_team'),
    form({
      key: 'team', op: 'add_care_team_member', submit: 'Add care team member', withId: true, collapsed: true,
      fields: [
        { name: 'kind', label: 'Kind', type: 'select', labels: 'team_kind' },
        { name: 'role', label: 'Role', hint: 'For example district nurse, social worker' },
        { name: 'name', label: 'Name' }, { name: 'organisation', label: 'Organisation' },
        { name: 'phone', label: 'Phone', type: 'tel' }, { name: 'hours', label: 'Hours', hint: 'For example Mon–Fri 8–6' },
      ],
    }));

  // --- Personal contacts
  const personal = section('Personal contacts', 'section-personal-contacts',
    live((p) => entries(ctx, 'key_contacts', 'personal', p.key_contacts.filter((c) => c.relationship), (c) => ({
      title: `${c.name} — ${label('relationship', c.relationship)}`, meta: [c.phone],
    }), correctPersonal)),
    ...listStatus('key_contacts'),
    form({
      key: 'personal', op: 'add_personal_contact', submit: 'Add personal contact', withId: true, collapsed: true,
      fields: [
        { name: 'relationship', label: 'Relationship', type: 'select', labels: 'relationship' },
        { name: 'name', label: 'Name' }, { name: 'phone', label: 'Phone', type: 'tel' },
      ],
    }));

  // --- Anticipatory medicines
  const anticipatory = section('Anticipatory medicines', 'section-anticipatory',
    live((p) => entries(ctx, 'medications', 'anticipatory', p.medications.filter((m) => m.anticipatory), (m) => ({
      title: m.dose ? `${m.name} — ${m.dose}` : m.name, meta: [`Kept: ${m.location}`, m.notes],
    }), correctAnticipatory)),
    ...listStatus('medications'),
    form({
      key: 'anticipatory', op: 'add_anticipatory_medication', submit: 'Add anticipatory medicine', withId: true, collapsed: true,
      fields: [
        { name: 'name', label: 'Medicine' }, { name: 'dose', label: 'Dose' },
        { name: 'location', label: 'Where it is kept', hint: 'For example in the fridge, in the red folder box' },
        { name: 'notes', label: 'Notes' },
      ],
    }));

  // --- Allergies
  const nkaState = ctx.saveState('nka');
  const allergies = section('Allergies', 'section-allergies',
    live((p) => conflictNote(p, 'allergies') || h('p', { testid: 'allergy-status', 'data-status': p.allergy_status?.status || 'not_recorded' },
      `Status: ${label('allergy_status', p.allergy_status?.status || 'not_recorded')}`,
      p.allergy_status?.recorded ? ` (${by(p.allergy_status.recorded)})` : '')),
    live((p) => entries(ctx, 'allergies', 'allergy', p.allergies, (a) => ({
      title: `${a.substance} — ${label('severity', a.severity)}`, meta: [a.reaction],
    }), correctAllergy)),
    ...listStatus('allergies'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button secondary', testid: 'record-nka', onclick: () => nkaState.apply(ctx.id, { op: 'record_no_known_allergies' }, ctx.refresh) }, 'Record no known allergies'),
      nkaState.line),
    nkaState.error,
    form({
      key: 'allergy', op: 'add_allergy', submit: 'Add allergy', withId: true, collapsed: true,
      fields: [
        { name: 'substance', label: 'Substance' }, { name: 'reaction', label: 'Reaction' },
        { name: 'severity', label: 'Severity', type: 'select', labels: 'severity' },
      ],
    }));

  // --- A full baseline set
  const baselineFull = section('Baseline: full set', 'section-baseline-full',
    live((p) => facts('baseline-full-facts', [
      ['Observed on', p.baseline.observed_on ? fmtDate(p.baseline.observed_on) : '—'],
      ['Peak flow', p.baseline.peak_flow_l_min ? `${p.baseline.peak_flow_l_min} L/min` : '—'],
      ['Weight', p.baseline.weight_decikg ? `${(p.baseline.weight_decikg / 10).toFixed(1)} kg` : '—'],
      ['Known AF', label('yes_no', p.baseline.known_af)],
      ['Usual cognition', text(p.baseline.usual_cognition)],
      ['Usual mobility', text(p.baseline.usual_mobility)],
    ])),
    form({
      key: 'baseline-set', op: 'record_baseline', submit: 'Record baseline set', collapsed: true,
      fields: [
        { name: 'observed_on', label: 'Observed on', type: 'date' },
        { name: 'pulse_bpm', label: 'Pulse', type: 'number' },
        { name: 'systolic_mmhg', label: 'Systolic BP', type: 'number' },
        { name: 'diastolic_mmhg', label: 'Diastolic BP', type: 'number' },
        { name: 'respiratory_rate', label: 'Respiratory rate', type: 'number' },
        { name: 'spo2_percent', label: 'SpO2 %', type: 'number' },
        { name: 'temperature_decidegrees', label: 'Temperature °C', type: 'decimal' },
        { name: 'peak_flow_l_min', label: 'Peak flow L/min', type: 'number' },
        { name: 'weight_decikg', label: 'Weight kg', type: 'decimal' },
        { name: 'known_af', label: 'Known AF', type: 'bool' },
        { name: 'usual_cognition', label: 'Usual cognition' },
        { name: 'usual_mobility', label: 'Usual mobility' },
      ],
      fill: (p) => p.baseline,
    }));

  // --- Exacerbation plans per condition
  const escalation = section('Exacerbation plans by condition', 'section-escalation',
    live((p) => entries(ctx, 'escalation_plans', 'escalation', p.escalation_plans, (e) => ({
      title: e.condition, meta: [e.plan, e.rescue_pack ? `Rescue pack: ${e.rescue_pack}` : null],
    }), correctEscalation)),
    ...listStatus('escalation_plans'),
    form({
      key: 'escalation', op: 'add_escalation_plan', submit: 'Add exacerbation plan', withId: true, collapsed: true,
      fields: [
        { name: 'condition', label: 'Condition', hint: 'For example COPD, heart failure, falls' },
        { name: 'plan', label: 'What to do', type: 'textarea' },
        { name: 'rescue_pack', label: 'Rescue pack', hint: 'What it holds and where it is' },
      ],
    }));

  // --- Goals with actions
  const goalState = states(ctx).goals;
  const statusSelect = (kind: string, value: string, testid: string, onchange: (value: string) => void): HTMLSelectElement => {
    const s = h('select', { testid, 'aria-label': 'Status', onchange: (e: Event) => onchange((e.target as HTMLSelectElement).value) },
      ...Object.entries(LABELS[kind]).map(([v, t]) => h('option', { value: v }, t)));
    s.value = value;
    return s;
  };
  const goalChoices = h('select', { testid: 'goal-action-goal' });
  const goals = section('Goals', 'section-goals',
    live((p) => entries(ctx, 'goals', 'goal', p.goals, (g) => ({
      title: g.goal,
      meta: [g.what_matters ? `What matters: ${g.what_matters}` : null, g.owner ? `Owner: ${g.owner}` : null],
      extra: g.entered_in_error ? null : h('div', {},
        field('Goal status', statusSelect('goal_status', g.status, 'goal-status', (status: string) => goalState.apply(ctx.id, { op: 'set_goal_status', id: g.id, status }, ctx.refresh))),
        h('ul', { class: 'actions-list', testid: 'goal-actions' }, ...g.actions.map((a: Entry) => h('li', { testid: 'goal-action', 'data-id': a.id },
          h('span', {}, `${a.action}${a.owner ? ` — ${a.owner}` : ''}`),
          statusSelect('action_status', a.status, 'goal-action-status', (status: string) => goalState.apply(ctx.id, { op: 'set_goal_action_status', goal_id: g.id, id: a.id, status }, ctx.refresh)))))),
    }), correctGoal)),
    ...listStatus('goals'),
    form({
      key: 'goal', op: 'add_goal', submit: 'Add goal', withId: true, collapsed: true,
      fields: [
        { name: 'what_matters', label: 'What matters to the patient' },
        { name: 'goal', label: 'Goal' }, { name: 'owner', label: 'Owner' },
      ],
    }),
    form({
      key: 'goal-action', op: 'add_goal_action', submit: 'Add action to a goal', withId: true, collapsed: true,
      extra: () => ({ goal_id: goalChoices.value }),
      note: 'Choose the goal, then describe the action.',
      fields: [{ name: 'action', label: 'Action' }, { name: 'owner', label: 'Owner' }],
    }));
  const goalForm = goals.querySelector('[data-testid="goal-action-form"] .fields');
  goalForm?.prepend(field('Goal', goalChoices));

  // --- Emergency decisions
  const decisions = section('Emergency decisions', 'section-decisions',
    live((p) => facts('decisions-facts', [
      ['DNACPR/ReSPECT', settledOr(p, 'dnacpr', () => p.resuscitation
        ? `${label('dnacpr', p.resuscitation.status)}${p.resuscitation.respect_form ? ' (ReSPECT form)' : ''}${p.resuscitation.decision_date ? `, decided ${fmtDate(p.resuscitation.decision_date)}` : ''}${p.resuscitation.decided_by ? ` by ${p.resuscitation.decided_by}` : ''}${p.resuscitation.original_location ? `; original: ${p.resuscitation.original_location}` : ''}`
        : label('dnacpr', p.dnacpr))],
      ['ADRT', p.adrt.in_place ? `In place: ${text(p.adrt.details)}; original: ${text(p.adrt.original_location)}` : 'None recorded'],
      ['Focus of care', `${label('focus', p.focus_of_care.focus)}${p.focus_of_care.notes ? ` — ${p.focus_of_care.notes}` : ''}`],
      ['Prognosis', text(p.focus_of_care.prognosis)],
      ['Ceiling of treatment', settledOr(p, 'ceiling_of_treatment', () => (p.ceiling_of_treatment ? `${label('ceiling', p.ceiling_of_treatment.ceiling)}${p.ceiling_of_treatment.notes ? ` — ${p.ceiling_of_treatment.notes}` : ''}` : '—'))],
      ['Admission', settledOr(p, 'admission_wanted', () => (p.admission_wanted ? `${label('admission', p.admission_wanted.wanted)}${p.admission_wanted.notes ? ` — ${p.admission_wanted.notes}` : ''}` : '—'))],
      ['Preferred place of death', settledOr(p, 'preferred_place_of_death', () => (p.preferred_place_of_death ? p.preferred_place_of_death.place : '—'))],
    ])),
    form({
      key: 'resus', op: 'set_resuscitation', submit: 'Save DNACPR/ReSPECT decision', collapsed: true,
      fields: [
        { name: 'status', label: 'Recommendation', type: 'select', labels: 'dnacpr' },
        { name: 'respect_form', label: 'Recorded on a ReSPECT form', type: 'check' },
        { name: 'decision_date', label: 'Date of decision', type: 'date', optional: true },
        { name: 'decided_by', label: 'Decided by (name and role)' },
        { name: 'original_location', label: 'Where the original is' },
      ],
      fill: (p) => (conflictReading(p, 'dnacpr') ? {} : p.resuscitation || { status: p.dnacpr }),
    }),
    form({
      key: 'adrt', op: 'set_adrt', submit: 'Save ADRT', collapsed: true,
      fields: [
        { name: 'in_place', label: 'An advance decision to refuse treatment is in place', type: 'check' },
        { name: 'details', label: 'What it refuses', type: 'textarea' },
        { name: 'original_location', label: 'Where the original is' },
      ],
      fill: (p) => p.adrt,
    }),
    form({
      key: 'focus', op: 'set_focus_of_care', submit: 'Save focus of care', collapsed: true,
      fields: [
        { name: 'focus', label: 'Focus of care', type: 'select', labels: 'focus', optional: true },
        { name: 'notes', label: 'Notes' }, { name: 'prognosis', label: 'Prognosis' },
      ],
      fill: (p) => p.focus_of_care,
    }),
    form({
      key: 'ceiling', op: 'set_ceiling_of_treatment', submit: 'Save ceiling of treatment', collapsed: true,
      fields: [{ name: 'ceiling', label: 'Ceiling of treatment', type: 'select', labels: 'ceiling' }, { name: 'notes', label: 'Notes' }],
      fill: (p) => (conflictReading(p, 'ceiling_of_treatment') ? {} : p.ceiling_of_treatment || {}),
    }),
    form({
      key: 'admission', op: 'set_admission_wanted', submit: 'Save admission wish', collapsed: true,
      fields: [{ name: 'wanted', label: 'Hospital admission', type: 'select', labels: 'admission' }, { name: 'notes', label: 'Notes' }],
      fill: (p) => (conflictReading(p, 'admission_wanted') ? {} : p.admission_wanted || {}),
    }),
    form({
      key: 'death-place', op: 'set_preferred_place_of_death', submit: 'Save preferred place of death', collapsed: true,
      fields: [{ name: 'place', label: 'Preferred place of death' }],
      fill: (p) => (conflictReading(p, 'preferred_place_of_death') ? {} : p.preferred_place_of_death || {}),
    }));

  // --- Self-management advice, equipment and services (collaborative texts)
  const textForm = (key: string, target: 'self_management_advice' | 'equipment_and_services', title: string): HTMLElement => form({
    key, op: 'set_text', submit: `Save ${title.toLowerCase()}`,
    extra: () => ({ target: { text: target } }),
    fields: [{ name: 'text', label: title, type: 'textarea' }],
    fill: (p) => ({ text: p[target] }),
  });
  const texts = section('Self-management and equipment', 'section-texts',
    textForm('advice-text', 'self_management_advice', 'Self-management advice'),
    textForm('equipment-text', 'equipment_and_services', 'Equipment and services'));

  // --- Reviews
  const reviews = section('Reviews', 'section-reviews',
    live((p) => entries(ctx, 'reviews', 'review', p.reviews, (r) => ({
      title: `${fmtDate(r.date)} — ${label('outcome', r.outcome)}`,
      meta: [`${r.face_to_face ? 'Face to face' : 'Not face to face'}; reviewer ${r.reviewer}${r.attendees ? `; with ${r.attendees}` : ''}`,
        r.notes, r.changes ? `Changes: ${r.changes}` : null,
        r.still_in_top_5_percent === null ? null : `Still in the top 5 %: ${label('yes_no', r.still_in_top_5_percent)}`,
        r.next_review_due ? `Next review due ${fmtDate(r.next_review_due)}` : null],
    }))),
    ...listStatus('reviews'),
    form({
      key: 'review', op: 'record_review', submit: 'Record review', withId: true, collapsed: true,
      note: 'Start the review (Plan status) first. The outcome moves the plan on.',
      fields: [
        { name: 'date', label: 'Date', type: 'date' },
        { name: 'face_to_face', label: 'Face to face', type: 'check' },
        { name: 'reviewer', label: 'Reviewer' }, { name: 'attendees', label: 'Attendees' },
        { name: 'notes', label: 'Findings', type: 'textarea' }, { name: 'changes', label: 'Changes made' },
        { name: 'still_in_top_5_percent', label: 'Still in the top 5 %?', type: 'bool' },
        { name: 'outcome', label: 'Outcome', type: 'select', labels: 'outcome' },
        { name: 'next_review_due', label: 'Next review due', type: 'date', optional: true, hint: 'Leave empty for the usual interval' },
      ],
    }));

  // --- MDT discussions and advice
  const mdt = section('MDT discussions', 'section-mdt',
    live((p) => entries(ctx, 'mdt_discussions', 'mdt', p.mdt_discussions, (m) => ({
      title: `${fmtDate(m.date)} — ${m.outcome}`, meta: [`Attendees: ${m.attendees}`, m.referrals ? `Referrals: ${m.referrals}` : null],
    }))),
    ...listStatus('mdt_discussions'),
    form({
      key: 'mdt', op: 'add_mdt_discussion', submit: 'Add MDT discussion', withId: true, collapsed: true,
      fields: [
        { name: 'date', label: 'Date', type: 'date' }, { name: 'attendees', label: 'Attendees' },
        { name: 'outcome', label: 'Outcome', type: 'textarea' }, { name: 'referrals', label: 'Referrals' },
      ],
    }));
  const advice = section('Specialist advice', 'section-advice',
    live((p) => entries(ctx, 'advice', 'advice', p.advice, (a) => ({
      title: a.advice, meta: [`From ${a.from_name}${a.from_role ? ` (${a.from_role})` : ''}`],
    }))),
    ...listStatus('advice'),
    form({
      key: 'advice', op: 'add_advice', submit: 'Add advice', withId: true, collapsed: true,
      fields: [
        { name: 'from_name', label: 'From' }, { name: 'from_role', label: 'Their role' },
        { name: 'advice', label: 'Advice', type: 'textarea' },
      ],
    }));

  // --- Consent in full, and its withdrawal
  const consent = section('Consent to share', 'section-consent-full',
    live((p) => conflictNote(p, 'consent')),
    live((p) => {
      const c = p.consent;
      return facts('consent-facts', [
        ['Shared with', c.recipients?.length ? c.recipients.map((r: string) => label('recipient', r)).join(', ') : '—'],
        ['Given by', label('given_by', c.given_by)],
        ['Capacity', text(c.capacity_note)],
        ['Date', c.consent_date ? fmtDate(c.consent_date) : '—'],
        ['Withdrawn', h('span', { testid: 'consent-withdrawn' }, c.withdrawn ? `${fmtDate(c.withdrawn.date)} (${by(c.withdrawn.recorded)}): nothing is shared` : 'No')],
      ]);
    }),
    form({
      key: 'consent-full', op: 'record_consent', submit: 'Record consent', collapsed: true,
      fields: [
        { name: 'recipients', label: 'Who may see the plan', type: 'checks', labels: 'recipient' },
        { name: 'given_by', label: 'Given by', type: 'select', labels: 'given_by' },
        { name: 'capacity_note', label: 'Capacity note' },
        { name: 'consent_date', label: 'Date', type: 'date' },
      ],
    }),
    form({
      key: 'withdraw', op: 'withdraw_consent', submit: 'Withdraw consent', collapsed: true,
      note: 'Withdrawal stops all sharing at once.',
      fields: [{ name: 'date', label: 'Date withdrawn', type: 'date' }],
    }));

  function refresh(plan: Plan): void {
    for (const [box, draw] of boxes) {
      const node = draw(plan);
      box.replaceChildren(...(node ? [node] : []));
    }
    for (const f of forms) f.refill(plan);
    conflicts.hidden = !(plan.conflicts || []).length;
    endDetails.hidden = plan.enrolment.status === 'ended';
    const chosen = goalChoices.value;
    goalChoices.replaceChildren(...plan.goals.filter((g: Entry) => !g.entered_in_error).map((g: Entry) => h('option', { value: g.id }, g.goal)));
    if (chosen) goalChoices.value = chosen;
  }

  return {
    top: [conflicts, lifecycle, completion],
    rest: [enrolment, details, careTeam, personal, anticipatory, allergies, baselineFull, escalation, goals, decisions, texts, reviews, mdt, advice, consent],
    refresh,
  };
}

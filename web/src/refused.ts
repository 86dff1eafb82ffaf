// Changes the server did not accept. When the server refuses a change (an MDT member
// changing DNACPR, say), the core puts the plan back to the server's state and keeps the
// refused edits; this panel shows each with the server's reason, who made it and when,
// and what it would have changed, so the clinician can make it again or dismiss it.
// Whether a change is allowed is the server's decision; the app only words it.

import type { Core, EditJson, RefusedChange } from './core.js';
import { by, errorMessage, fmtDate, h, humanise, sentence } from './dom.js';
import { LABELS } from './labels.js';
import type { SaveState } from './forms.js';

// How the app names an edit op to the person holding the tablet; any other op is
// named from its code.
const OP_NAMES: Record<string, string> = {
  set_patient: 'Change patient identity',
  set_consent: 'Record consent to share',
  record_consent: 'Record consent to share',
  withdraw_consent: 'Withdraw consent',
  set_dnacpr: 'Set the DNACPR status',
  set_resuscitation: 'Record the DNACPR/ReSPECT decision',
  set_preferred_place_of_care: 'Set the preferred place of care',
  set_exacerbation_plan: 'Change the exacerbation plan',
  set_baseline: 'Record baseline observations',
  record_baseline: 'Record a baseline set',
  add_condition: 'Add a condition',
  add_medication: 'Add a medication',
  add_anticipatory_medication: 'Add an anticipatory medicine',
  add_allergy: 'Add an allergy',
  add_contact: 'Add a key contact',
  add_personal_contact: 'Add a personal contact',
  add_care_team_member: 'Add a care team member',
  add_escalation_plan: 'Add an exacerbation plan',
  add_goal: 'Add a goal',
  update_condition: 'Correct a condition',
  update_medication: 'Correct a medication',
  update_allergy: 'Correct an allergy',
  update_contact: 'Correct a contact',
  update_care_team_member: 'Correct a care team member',
  update_escalation_plan: 'Correct an exacerbation plan',
  update_goal: 'Correct a goal',
  mark_entered_in_error: 'Mark an entry entered in error',
  resolve_conflict: 'Resolve a conflict',
  mark_complete: 'Mark the plan complete',
  record_no_wider_action: 'State that no wider action is needed',
  record_gp_meeting: 'Record the meeting with the GP',
  record_mental_health_assessment: 'Record a mental health assessment',
  start_review: 'Start a review',
  record_review: 'Record a review',
  end_plan: 'End case management',
};

// Which of LABELS words a field's codes, by field name (and op where it matters).
const FIELD_LABELS: Record<string, string> = {
  severity: 'severity', kind: 'team_kind', relationship: 'relationship', ceiling: 'ceiling', focus: 'focus',
  wanted: 'admission', outcome: 'outcome', recipients: 'recipient', given_by: 'given_by', cohort: 'cohort', tier: 'tier',
};
const STATUS_LABELS: Record<string, string> = {
  set_dnacpr: 'dnacpr', set_resuscitation: 'dnacpr', set_goal_status: 'goal_status', set_goal_action_status: 'action_status',
  record_no_known_allergies: 'allergy_status', record_mental_health_assessment: 'mental_health',
};

function wordValue(op: string, key: string, value: unknown): string {
  const kind = key === 'status' ? STATUS_LABELS[op] : key === 'reason' && op === 'end_plan' ? 'end_reason' : FIELD_LABELS[key];
  const one = (v: unknown): string => {
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (kind && LABELS[kind]?.[String(v)]) return LABELS[kind][String(v)];
    if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v)) return fmtDate(v);
    if (v !== null && typeof v === 'object') return Object.values(v as Record<string, unknown>).map(one).join(', ');
    return String(v);
  };
  return Array.isArray(value) ? value.map(one).join(', ') : one(value);
}

// The server names changes by their hash, which means nothing to a clinician.
function wordReason(reason: string): string {
  return sentence(reason.replace(/^change [0-9a-f]{16,} /i, 'This change ').replace(/\bchange [0-9a-f]{16,}/gi, 'another change'));
}

/** One edit as a line a clinician reads: what it did, then the values it gave. */
export function describeEdit(edit: EditJson): string {
  const name = OP_NAMES[edit.op] || humanise(edit.op);
  const first = ['name', 'substance', 'condition', 'goal', 'role', 'status'];
  const rank = (key: string): number => (first.includes(key) ? first.indexOf(key) : first.length);
  const parts = Object.entries(edit)
    .sort(([a], [b]) => rank(a) - rank(b))
    .filter(([key, value]) => key !== 'op' && key !== 'id' && !key.endsWith('_id') && value !== null && value !== undefined && value !== '')
    .map(([key, value]) => `${humanise(key).toLowerCase()}: ${wordValue(edit.op, key, value)}`);
  return parts.length ? `${name} — ${parts.join('; ')}` : name;
}

export interface RefusedPanel {
  node: HTMLElement;
  refresh(): void;
}

/** The plan screen's panel of plan `id`'s refused changes; hidden while there are none. */
export function refusedPanel(core: () => Core, id: string, state: SaveState, onChange: () => void): RefusedPanel {
  const list = h('ul', { class: 'entries', testid: 'refused-list' });
  const node = h('section', { class: 'section refused', testid: 'section-refused', 'aria-labelledby': 'h-section-refused', hidden: true },
    h('h2', { id: 'h-section-refused' }, 'Changes the server did not accept'),
    h('p', {}, 'The server did not accept these changes, so this tablet went back to the plan as the server holds it. Read each one: make it again if it is still right (and allowed), or dismiss it.'),
    list,
    state.error,
    state.line);

  async function makeAgain(change: RefusedChange): Promise<void> {
    for (const edit of change.edits) {
      if (!(await state.apply(id, edit, onChange))) return;
    }
    await dismiss(change);
  }

  async function dismiss(change: RefusedChange): Promise<void> {
    try {
      await core().dismissRefused(id, change.hash);
    } catch (e) {
      state.line.dataset.state = 'error';
      state.line.textContent = 'Not saved';
      state.error.textContent = errorMessage(e);
    }
    refresh();
    onChange();
  }

  function refresh(): void {
    const changes = core().refused(id);
    node.hidden = !changes.length;
    node.dataset.count = String(changes.length);
    list.replaceChildren(...changes.map((change) => h('li', { class: 'entry refused-change', testid: 'refused-item', 'data-hash': change.hash },
      h('div', { class: 'entry-main' },
        h('div', { class: 'entry-title', testid: 'refused-reason', title: change.reason }, wordReason(change.reason)),
        h('div', { class: 'entry-meta', testid: 'refused-by' }, change.by ? `Made by ${by(change.by)}` : 'Made on this tablet'),
        change.edits.length
          ? h('ul', { class: 'refused-edits' }, ...change.edits.map((edit) => h('li', { testid: 'refused-edit', 'data-op': edit.op }, describeEdit(edit))))
          : h('p', { class: 'entry-meta' }, `This tablet did not record the change itself. It wrote: ${change.fields.map(humanise).join(', ')}.`)),
      h('div', { class: 'actions' },
        change.edits.length
          ? h('button', { type: 'button', class: 'button', testid: 'refused-reapply', onclick: () => makeAgain(change) }, 'Make this change again')
          : null,
        h('button', { type: 'button', class: 'button secondary', testid: 'refused-dismiss', onclick: () => dismiss(change) }, 'Dismiss')))));
  }

  return { node, refresh };
}

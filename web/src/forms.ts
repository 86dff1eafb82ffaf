// Forms built from a list of field specs, for the plan's sections: each gathers what was
// typed into one of the core's Edit ops (see crates/shared/src/edit.rs for the JSON) and
// shows the core's answer inline. Also the correction form an entry opens in place and
// the list of a section's entries with who recorded, corrected or withdrew each.

import type { EditJson, Entry, Plan, ReviewDue } from './core.js';
import { by, field, h, sentence } from './dom.js';
import { LABELS } from './labels.js';

/** A section's "Saving… / Saved" line and error box, made by the plan screen. */
export interface SaveState {
  line: HTMLElement;
  error: HTMLElement;
  clear(): void;
  /** Applies `edit`; resolves true once it is stored on this tablet. */
  apply(id: string, edit: EditJson, after?: () => void): Promise<boolean>;
}

/** What the plan screen hands the sections drawn here. */
export interface SectionContext {
  id: string;
  saveState(testid: string): SaveState;
  newEntryId(): string;
  enteredInError(onConfirm: () => void, testid: string): HTMLElement;
  /** The core's next review of this plan (on today's date), or `null`. */
  reviewDue(): ReviewDue | null;
  refresh(): void;
  states?: Record<string, SaveState>;
}

type FieldType = 'text' | 'tel' | 'textarea' | 'date' | 'select' | 'bool' | 'check' | 'number' | 'decimal' | 'checks';
interface FieldSpec {
  name: string;
  label: string;
  type?: FieldType;
  labels?: string;
  optional?: boolean;
  blank?: string;
  hint?: string;
}
// Every control made by `control`: inputs, selects and textareas, and the `checks`
// group (a div), which `read` and `write` treat by its spec instead of its value.
type Control = HTMLElement & { value: string; checked: boolean };
type Fields = Record<string, unknown>;

// ---------------------------------------------------------------------------
// Forms built from a list of fields

export function control(spec: Omit<FieldSpec, 'name' | 'label'>, testid: string): Control {
  return makeControl(spec, testid) as Control;
}

function makeControl(spec: Omit<FieldSpec, 'name' | 'label'>, testid: string): HTMLElement {
  switch (spec.type) {
    case 'textarea':
      return h('textarea', { rows: 3, testid, style: 'min-height: 88px' });
    case 'date':
      return h('input', { type: 'date', testid });
    case 'select':
    case 'bool':
      return h('select', { testid },
        spec.optional || spec.type === 'bool' ? h('option', { value: '' }, spec.blank || 'Not recorded') : null,
        ...Object.entries(LABELS[spec.labels || 'yes_no']).map(([value, text]) => h('option', { value }, text)));
    case 'check':
      return h('input', { type: 'checkbox', testid });
    case 'number':
    case 'decimal':
      return h('input', { type: 'text', inputmode: spec.type === 'decimal' ? 'decimal' : 'numeric', autocomplete: 'off', testid });
    case 'checks':
      return h('div', { class: 'checks', testid },
        ...Object.entries(LABELS[spec.labels ?? '']).map(([value, text]) => h('label', { class: 'check' },
          h('input', { type: 'checkbox', value, testid: `${testid}-${value}` }), text)));
    default:
      return h('input', { type: spec.type === 'tel' ? 'tel' : 'text', autocomplete: 'off', testid });
  }
}

// What was typed, as the edit's JSON wants it. Only the shape is checked here.
function read(spec: FieldSpec, el: Control): unknown {
  switch (spec.type) {
    case 'check':
      return el.checked;
    case 'checks':
      return [...el.querySelectorAll<HTMLInputElement>('input:checked')].map((c) => c.value);
    case 'bool':
      return el.value === '' ? null : el.value === 'true';
    case 'select':
    case 'date':
      // An empty optional choice or date is "not recorded"; an empty required one goes
      // to the core as it is, which says what is missing.
      return el.value === '' && spec.optional ? null : el.value;
    case 'number': {
      const v = el.value.trim();
      if (!v) return null;
      if (!/^\d+$/.test(v)) throw new Error(`${spec.label.toLowerCase()} must be a whole number`);
      return Number(v);
    }
    case 'decimal': {
      const v = el.value.trim();
      if (!v) return null;
      if (!/^\d+(\.\d)?$/.test(v)) throw new Error(`${spec.label.toLowerCase()} must be written like 12.5`);
      return Math.round(Number(v) * 10);
    }
    default:
      return el.value;
  }
}

function write(spec: FieldSpec, el: Control, value: unknown): void {
  switch (spec.type) {
    case 'check':
      el.checked = !!value;
      break;
    case 'checks':
      for (const c of el.querySelectorAll('input')) c.checked = ((value || []) as string[]).includes(c.value);
      break;
    case 'bool':
      el.value = value === null || value === undefined ? '' : String(value);
      break;
    case 'decimal':
      el.value = value === null || value === undefined ? '' : (Number(value) / 10).toFixed(1);
      break;
    default:
      el.value = value === null || value === undefined ? '' : String(value);
  }
}

// A form for one Edit op. `fill(plan)` gives current values for a form that sets a
// single fact (it is refilled from the plan unless the user has started changing it);
// forms that add an entry start empty and clear after a successful save.
export interface FormSpec {
  key: string;
  op: string;
  submit: string;
  fields: FieldSpec[];
  fill?: (plan: Plan) => Fields;
  extra?: (form: HTMLFormElement) => Fields;
  withId?: boolean;
  collapsed?: boolean;
  note?: string;
}

export interface EditForm {
  node: HTMLElement;
  refill(plan: Plan): void;
}

export function editForm(ctx: SectionContext, { key, op, submit, fields, fill, extra, withId, collapsed, note }: FormSpec): EditForm {
  const state = ctx.saveState(key);
  const inputs = fields.map((spec): [FieldSpec, Control] => [spec, control(spec, `${key}-${spec.name}`)]);
  let dirty = false;
  const form = h('form', { novalidate: true, testid: `${key}-form` },
    note ? h('p', { class: 'muted' }, note) : null,
    h('div', { class: 'fields' }, ...inputs.map(([spec, el]) => (spec.type === 'check'
      ? h('label', { class: 'check' }, el, spec.label)
      : spec.type === 'checks'
        ? h('fieldset', { class: 'field' }, h('legend', {}, spec.label), el)
        : field(spec.label, el, spec.hint)))),
    state.error,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', testid: `${key}-save` }, submit), state.line));
  form.addEventListener('input', () => { dirty = true; });
  form.addEventListener('change', () => { dirty = true; });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let edit: EditJson;
    try {
      edit = { op, ...(withId ? { id: ctx.newEntryId() } : {}), ...(extra ? extra(form) : {}) };
      for (const [spec, el] of inputs) edit[spec.name] = read(spec, el);
    } catch (err) {
      state.error.textContent = sentence((err as Error).message);
      return;
    }
    const ok = await state.apply(ctx.id, edit, ctx.refresh);
    if (ok) {
      dirty = false;
      if (!fill) form.reset();
      ctx.refresh();
    }
  });
  const refill = (plan: Plan): void => {
    if (!fill || dirty) return;
    const values = fill(plan);
    for (const [spec, el] of inputs) write(spec, el, values[spec.name]);
  };
  const node = collapsed
    ? h('details', { class: 'add', testid: `${key}-panel` }, h('summary', { testid: `${key}-open` }, submit), form)
    : form;
  return { node, refill };
}

// ---------------------------------------------------------------------------
// Correcting an entry in place: an "Edit" button on the entry opens a form filled from
// it; saving sends the core's update op with only the fields that were changed, so a
// colleague's concurrent correction of another field is kept. The core records who
// corrected the entry (its `updated` attribution).

/** A field of an entry's correction form: the update op's field name and its control. */
export type CorrectionField = Pick<FieldSpec, 'name' | 'label' | 'type' | 'labels' | 'hint'>;

export interface CorrectionSpec {
  /** The plan. */
  id: string;
  /** The core's update op, e.g. `update_condition`. */
  op: string;
  /** The entry items' test id: the button is `<testid>-edit`, the form `<testid>-edit-form`. */
  testid: string;
  fields: CorrectionField[];
  /** The list's save state, whose saved/error lines report the correction. */
  state(): SaveState;
  refresh(): void;
}

/** Makes, for each entry of one list, its "Edit" button and (once opened) its form.
 * Open forms are kept across redraws of the list, so a colleague's change arriving
 * while one is being filled in does not lose what was typed. */
export function corrections(spec: CorrectionSpec): (entry: Entry) => HTMLElement {
  const open = new Map<string, HTMLElement>();
  const makeForm = (entry: Entry): HTMLElement => {
    const inputs = spec.fields.map((f): [FieldSpec, Control] => [f, control({ ...f, optional: false }, `${spec.testid}-edit-${f.name}`)]);
    for (const [f, el] of inputs) write(f, el, entry[f.name]);
    // The form moves to each redraw's container, so it finds its current one.
    const close = () => { open.delete(entry.id); form.closest('.correct')?.replaceChildren(button(entry)); };
    const form: HTMLFormElement = h('form', { novalidate: true, class: 'correction', testid: `${spec.testid}-edit-form`, 'aria-label': 'Correct this entry' },
      h('div', { class: 'fields' }, ...inputs.map(([f, el]) => field(f.label, el, f.hint))),
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'button', testid: `${spec.testid}-edit-save` }, 'Save correction'),
        h('button', { type: 'button', class: 'button secondary', testid: `${spec.testid}-edit-cancel`, onclick: close }, 'Cancel')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const edit: EditJson = { op: spec.op, id: entry.id };
      for (const [f, el] of inputs) {
        const value = read(f, el);
        const was = entry[f.name] ?? '';
        if (String(value ?? '') !== String(was)) edit[f.name] = value;
      }
      if (Object.keys(edit).length === 2) {
        close();
        return;
      }
      const ok = await spec.state().apply(spec.id, edit, spec.refresh);
      if (ok) {
        open.delete(entry.id);
        spec.refresh();
      }
    });
    return form;
  };
  const button = (entry: Entry): HTMLElement => h('div', { class: 'actions' },
    h('button', {
      type: 'button', class: 'button secondary small', testid: `${spec.testid}-edit`,
      onclick: (e: Event) => {
        const form = makeForm(entry);
        open.set(entry.id, form);
        (e.currentTarget as HTMLElement).closest('.correct')?.replaceChildren(form);
        form.querySelector<HTMLElement>('input, select, textarea')?.focus();
      },
    }, 'Edit'));
  return (entry: Entry): HTMLElement => {
    return h('div', { class: 'correct' }, open.get(entry.id) ?? button(entry));
  };
}

/** "Corrected by X, when" for an entry the core says was corrected. */
export function correctedNote(entry: Entry, testid: string): HTMLElement | null {
  return entry.updated ? h('div', { class: 'entry-meta corrected', testid: `${testid}-corrected` }, `Corrected by ${by(entry.updated)}`) : null;
}

// A list of entries with "entered in error" on each, like the first screens' lists.
interface Described {
  title: string;
  meta?: (string | null | undefined)[];
  extra?: HTMLElement | null;
}

export function entries(ctx: SectionContext, list: string, testid: string, items: Entry[], describe: (entry: Entry) => Described,
  correct?: (entry: Entry) => HTMLElement): HTMLElement {
  const ul = h('ul', { class: 'entries', testid: `${testid}-list` });
  if (!items.length) {
    ul.append(h('li', { class: 'muted' }, 'None recorded.'));
    return ul;
  }
  for (const entry of items) {
    const inError = !!entry.entered_in_error;
    const { title, meta = [], extra = null } = describe(entry);
    ul.append(h('li', { class: `entry${inError ? ' in-error' : ''}`, testid: `${testid}-item`, 'data-id': entry.id, 'data-in-error': String(inError) },
      h('div', { class: 'entry-main' },
        h('div', { class: 'entry-title' }, title),
        ...meta.filter(Boolean).map((m) => h('div', { class: 'entry-meta' }, m)),
        h('div', { class: 'entry-meta' }, `Recorded by ${by(entry.recorded)}`),
        correctedNote(entry, `${testid}-item`),
        inError ? h('div', { class: 'in-error-note' }, `Entered in error — marked by ${by(entry.entered_in_error?.by)}`) : null,
        extra),
      inError || !correct ? null : correct(entry),
      inError ? null : ctx.enteredInError(() => states(ctx)[list].apply(ctx.id, { op: 'mark_entered_in_error', list, id: entry.id }, ctx.refresh), `${testid}-item`)));
  }
  return ul;
}

// The save states of the lists, made by `planSections`.
export function states(ctx: SectionContext): Record<string, SaveState> {
  if (!ctx.states) throw new Error('planSections makes the list states first');
  return ctx.states;
}

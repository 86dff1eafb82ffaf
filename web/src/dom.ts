// Small DOM and formatting helpers shared by the app's screens.
//
// Text always goes in through textContent: plan content comes from other devices and
// must never be parsed as HTML.

import type { Attribution } from './core.js';

/** What `h` accepts as attributes: `testid` (→ `data-testid`), `class`, `on<event>`
 * listeners, element properties given as non-strings, anything else as an attribute.
 * `null`, `undefined` and `false` leave the attribute out. */
export type Attrs = Record<string, unknown>;
/** Children of `h`: nodes, text, nested arrays; `null`, `undefined` and `false` are skipped. */
export type Child = Node | string | number | boolean | null | undefined | Child[];

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Attrs, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'testid') el.dataset.testid = String(value);
    else if (key === 'class') el.className = String(value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value as EventListener);
    else if (key in el && typeof value !== 'string') (el as unknown as Record<string, unknown>)[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of (children as unknown[]).flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let idCounter = 0;
export function uniqueId(prefix = 'f'): string {
  idCounter += 1;
  return `${prefix}${idCounter}`;
}

export function field(labelText: string, input: HTMLElement, hint?: string | null): HTMLDivElement {
  const id = input.id || uniqueId();
  input.id = id;
  const label = h('label', { for: id }, labelText, hint ? h('span', { class: 'hint' }, hint) : null);
  return h('div', { class: 'field' }, label, input);
}

export function section(title: string, testid: string, ...children: Child[]): HTMLElement {
  const headingId = `h-${testid}`;
  return h('section', { class: 'section', testid, 'aria-labelledby': headingId }, h('h2', { id: headingId }, title), ...children);
}

export function fmtDateTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  return new Date(ms).toLocaleString('en-GB', {
    day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

export function fmtTime(ms: number): string {
  return new Date(ms).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

// `YYYY-MM-DD` as "3 Mar 1941"; anything else as it is.
export function fmtDate(iso: string | null | undefined): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || '');
  if (!m) return iso || '';
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])).toLocaleDateString('en-GB', {
    day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC',
  });
}

export function by(attribution: Attribution | null | undefined): string {
  if (!attribution) return '';
  return `${attribution.user_name}, ${fmtDateTime(attribution.at_ms)}`;
}

// The core's messages are lower-case clauses ("pulse of 500 is outside …"); shown alone
// they read better as a sentence.
export function sentence(message: string): string {
  return message ? message[0].toUpperCase() + message.slice(1) : message;
}

export function errorMessage(e: unknown): string {
  return sentence((e as { message?: string } | null)?.message || String(e));
}

// "share_with_mdt" → "Share with mdt", for fields this build does not know by name.
export function humanise(key: string): string {
  return sentence(String(key).replace(/_/g, ' '));
}

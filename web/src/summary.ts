// The emergency summary and the printed red folder.
//
// What the emergency summary says, in which order, how conflicting entries and long
// texts are shown: all of that is the core's (`render_html` in redfolder-shared), and
// the app shows the core's output on the tablet, on the emergency clinician's screen and
// on the yellow pages of the printout alike. The core escapes every value; the HTML is
// parsed inertly (DOMParser) and only its body's elements are adopted.
//
// The full plan printed after the summary is drawn here from `rf.plan(id)`, section by
// section in the order of docs/domain.md; fields this build does not know by name are still
// printed, after the known ones, so a newer core adding to the plan never leaves
// something off the paper.

import type { Attribution, Entry, Plan, SafetyField, Summary } from './core.js';
import { by, fmtDateTime, h, humanise } from './dom.js';

// The core's summary page as nodes for this document: its <h1> becomes an <h2> and its
// section <h2>s become <h3>s, to sit under the page's own heading.
export function coreSummaryNodes(html: string): HTMLElement[] {
  const parsed = new DOMParser().parseFromString(html, 'text/html');
  const demote: Record<string, string> = { H1: 'h2', H2: 'h3' };
  for (const heading of [...parsed.body.querySelectorAll<HTMLElement>('h1, h2')]) {
    const replacement = parsed.createElement(demote[heading.tagName]);
    replacement.append(...heading.childNodes);
    heading.replaceWith(replacement);
  }
  return [...parsed.body.children].map((node) => document.adoptNode(node as HTMLElement));
}

// The CPR banner. `dnacpr` is the core's reading: `conflicting` (with both sides in the
// label) while resuscitation decisions conflict, so the banner never shows one of them as
// settled; an older server's summary has no such state and shows what it says.
function dnacprBanner(s: Summary): HTMLElement {
  const conflicting = s.dnacpr === 'conflicting';
  return h('div', { class: 'dnacpr-banner', 'data-status': s.dnacpr, testid: 'summary-dnacpr', role: conflicting ? 'alert' : null },
    h('span', { class: 'banner-label' }, 'CPR: '), s.dnacpr_label);
}

function consentNote(s: Summary): HTMLElement {
  return s.consent_to_emergency_sharing
    ? h('p', { class: 'consent-note', testid: 'summary-consent' }, 'The patient has agreed to share this summary with emergency services.')
    : h('p', { class: 'error', role: 'note', testid: 'summary-no-consent' }, 'The patient has not consented to sharing this summary with emergency services.');
}

// The summary as an on-screen card: the CPR flag first, then the core's summary, whose
// own heading names the card.
export function summaryArticle(s: Summary, html: string | null, { testid = 'emergency-summary' }: { testid?: string } = {}): HTMLElement {
  const headingId = `${testid}-title`;
  const body: HTMLElement[] = html ? coreSummaryNodes(html) : [h('h2', {}, `Emergency summary: ${s.name}`), fallbackSummary(s)];
  const heading = body.find((n) => n.tagName === 'H2');
  if (heading) heading.id = headingId;
  return h('article', { class: 'summary', testid, 'aria-labelledby': headingId },
    dnacprBanner(s),
    consentNote(s),
    h('div', { class: 'core-summary', testid: 'summary-body' }, ...body));
}

// Used only when the core could not render a summary (a server newer than this app).
function fallbackSummary(s: Summary): HTMLElement {
  return h('div', {},
    h('p', { class: 'notice' }, 'This summary came from a newer server than this app understands; every field is shown as received.'),
    genericValue(s));
}

// ---------------------------------------------------------------------------
// Any JSON value, readably

const HIDDEN_IN_ENTRIES = new Set(['id', 'recorded', 'updated', 'entered_in_error']);
// Keys read first wherever they appear; the rest follow alphabetically (the core's JSON
// objects arrive with sorted keys).
const KEY_ORDER = [
  'name', 'preferred_name', 'substance', 'condition', 'kind', 'role', 'relationship', 'what_matters', 'goal', 'action',
  'date', 'status', 'nhs_number', 'date_of_birth', 'sex', 'address', 'access_notes', 'phone', 'organisation', 'hours',
  'treatment', 'dose', 'location', 'anticipatory', 'notes', 'reaction', 'severity', 'plan', 'rescue_pack', 'owner',
];
function ordered(keys: Iterable<string>): string[] {
  const rank = (k: string): number => (KEY_ORDER.includes(k) ? KEY_ORDER.indexOf(k) : KEY_ORDER.length);
  return [...keys].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function isEntryList(value: unknown): value is Entry[] {
  return Array.isArray(value) && value.length > 0 && value.every((v) => v && typeof v === 'object' && !Array.isArray(v) && ('recorded' in v || 'id' in v));
}

function isAttribution(value: unknown): value is Attribution {
  return !!value && typeof value === 'object' && 'user_name' in value && 'at_ms' in value;
}

function scalar(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  if (typeof value === 'string' && /^[a-z]+(_[a-z0-9]+)+$/.test(value)) return humanise(value); // enum names
  return String(value);
}

export function genericValue(value: unknown): Node | string {
  if (value === null || value === undefined || value === '') return h('span', { class: 'muted' }, 'Not recorded');
  if (isAttribution(value)) return by(value);
  if (isEntryList(value)) return entryTable(value);
  if (Array.isArray(value)) {
    return value.length ? h('ul', {}, ...value.map((v) => h('li', {}, genericValue(v)))) : h('span', { class: 'muted' }, 'None recorded.');
  }
  if (typeof value === 'object') {
    const keys = ordered(Object.keys(value));
    if (!keys.length) return h('span', { class: 'muted' }, 'Not recorded');
    return h('dl', { class: 'generic' }, ...keys.flatMap((k) => [h('dt', {}, humanise(k)), h('dd', {}, genericValue((value as Record<string, unknown>)[k]))]));
  }
  if (typeof value === 'string' && value.includes('\n')) return h('span', { class: 'pre' }, value);
  return scalar(value);
}

// Entries (conditions, medications, reviews …) as a table; entries marked entered in
// error stay, struck through and labelled, as nothing is deleted.
function entryTable(entries: Entry[]): HTMLElement {
  const columns = ordered(new Set(entries.flatMap((e) => Object.keys(e)))).filter((k) => !HIDDEN_IN_ENTRIES.has(k));
  return h('table', {},
    h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col' }, humanise(c))), h('th', { scope: 'col' }, 'Recorded'))),
    h('tbody', {}, ...entries.map((e) => h('tr', { class: e.entered_in_error ? 'in-error' : '' },
      ...columns.map((c) => h('td', {}, e[c] === undefined ? '' : genericValue(e[c]))),
      h('td', {}, e.recorded ? by(e.recorded) : '',
        e.updated ? h('div', {}, `Updated by ${by(e.updated)}`) : null,
        e.entered_in_error ? h('div', { class: 'in-error-note' }, `Entered in error — marked by ${by(e.entered_in_error.by)}`) : null)))));
}

// ---------------------------------------------------------------------------
// The printed red folder: pages 1–2 the emergency summary (yellow paper), then the full
// plan from page 3. style.css lays it out for A4.

const MM_TO_PX = 96 / 25.4;
// Keep in step with `@page` in style.css: 297 mm less 12 mm top and 16 mm bottom margins.
const PAGE_CONTENT_MM = 297 - 12 - 16;
// Density steps tried in order until the summary fits two pages.
const DENSITY = ['', 'dense', 'denser'];

// The plan's sections in the order of docs/domain.md "What a plan holds": [title, keys].
const PLAN_SECTIONS: [string, string[]][] = [
  ['Unresolved conflicts', ['conflicts']],
  ['Patient', ['patient']],
  ['Enrolment', ['enrolment']],
  ['Care team', ['care_team']],
  ['Personal contacts', ['key_contacts']],
  ['Conditions', ['conditions']],
  ['Medications', ['medications']],
  ['Allergies', ['allergy_status', 'allergies']],
  ['Baseline observations', ['baseline']],
  ['Exacerbation plan', ['exacerbation_plan']],
  ['Escalation plans', ['escalation_plans']],
  ['What matters and goals', ['goals']],
  ['Self-management advice', ['self_management_advice']],
  ['Equipment and services', ['equipment_and_services']],
  ['Emergency decisions', ['dnacpr_label', 'resuscitation', 'adrt', 'focus_of_care', 'ceiling_of_treatment', 'admission_wanted', 'preferred_place_of_care', 'preferred_place_of_death']],
  ['Reviews', ['reviews']],
  ['MDT discussions', ['mdt_discussions']],
  ['Specialist advice', ['advice']],
  ['Consent to share', ['consent']],
  ['Completeness', ['completion_problems']],
];
// Shown elsewhere or only for the app's own use.
const NOT_PRINTED = new Set(['schema_version', 'pending', 'nhs_number_display', 'dnacpr', 'last_updated', 'plan_version', 'readings', 'paper_copy', 'paper_reading']);

// The plan's keys that hold a safety-critical register, and the core's name for it. While
// a register's values conflict the key holds Automerge's arbitrary winner, so the paper
// prints the core's reading (every value, who recorded it, confirm with the care team).
const REGISTER_KEYS: Record<string, SafetyField> = {
  resuscitation: 'dnacpr',
  allergy_status: 'allergies',
  ceiling_of_treatment: 'ceiling_of_treatment',
  admission_wanted: 'admission_wanted',
  preferred_place_of_death: 'preferred_place_of_death',
  consent: 'consent',
};

// The printout walks every field of the plan by name, printing what it does not know
// generically, so it reads the plan as a record.
function fieldOf(plan: Plan, key: string): unknown {
  return (plan as unknown as Record<string, unknown>)[key];
}

function planValue(plan: Plan, key: string): Node | string {
  const reading = REGISTER_KEYS[key] ? plan.readings?.[REGISTER_KEYS[key]] : undefined;
  if (reading?.state === 'conflicting') {
    return h('div', { class: 'conflict', testid: 'print-conflict', 'data-field': reading.field },
      h('strong', {}, reading.label),
      h('ul', {}, ...reading.values.map((v) => h('li', {}, `${v.label} (recorded by ${by(v.recorded)})`))));
  }
  return genericValue(fieldOf(plan, key));
}

function printSection(title: string, content: Node | string): HTMLElement {
  return h('section', { class: 'print-section' }, h('h3', {}, title), content);
}

function sectionContent(plan: Plan, keys: string[]): Node | string {
  if (keys.length === 1) return planValue(plan, keys[0]);
  return h('dl', { class: 'generic' }, ...keys.filter((k) => k in plan).flatMap((k) => [
    h('dt', {}, k === 'dnacpr_label' ? 'DNACPR' : humanise(k)), h('dd', {}, planValue(plan, k))]));
}

function fullPlanSections(plan: Plan): HTMLElement[] {
  const placed = new Set([...NOT_PRINTED, ...PLAN_SECTIONS.flatMap(([, keys]) => keys)]);
  const sections = PLAN_SECTIONS
    .filter(([title, keys]) => keys.some((k) => k in plan) && !(title === 'Unresolved conflicts' && !plan.conflicts?.length))
    .map(([title, keys]) => printSection(title, sectionContent(plan, keys)));
  const rest = Object.keys(plan).filter((k) => !placed.has(k)).sort()
    .map((k) => printSection(humanise(k), genericValue(fieldOf(plan, k))));
  return [
    ...sections,
    ...rest,
    // The plan version printed is the footer's, on every page: the version whose yellow
    // pages these are (recording the print makes a newer one).
    h('p', { class: 'last-updated' }, plan.last_updated ? `Plan last updated by ${by(plan.last_updated)}` : ''),
  ];
}

// What identifies one print: when it was made, the plan version whose yellow pages it
// carries, and the core's print code (and its QR code) a tablet checks the paper by.
export interface PrintStamp {
  printedAtMs: number;
  planVersion: string;
  code: string;
  qrSvg: string;
  // The server's signature over the code and the version, fetched when this tablet's copy
  // is at the server's version; otherwise null and `unsigned` says why.
  signature: { algorithm: string; key_id: string; value: string } | null;
  unsigned: string;
}

// A plan version (the document's heads) as printed: each head's first 8 hex digits.
export function shortVersion(version: string): string {
  return version.split(',').map((v) => v.slice(0, 8)).join(' ');
}

// The QR code as an image at `size` (a CSS length): the core's SVG, resized through its
// root element's width and height (its viewBox keeps the modules square).
export function qrDataUrl(svg: string, size: string): string {
  const sized = svg.replace(/<svg\b[^>]*>/, (tag) => tag.replace(/\swidth="[^"]*"/, ` width="${size}"`).replace(/\sheight="[^"]*"/, ` height="${size}"`));
  return `data:image/svg+xml;base64,${btoa(sized)}`;
}

function signatureLine(stamp: PrintStamp): HTMLElement {
  if (!stamp.signature) return h('p', { class: 'print-signature', testid: 'print-signature', 'data-signed': 'false' }, stamp.unsigned);
  return h('p', { class: 'print-signature', testid: 'print-signature', 'data-signed': 'true' },
    `Signed by the Red Folder server (${stamp.signature.algorithm}, key ${stamp.signature.key_id}) over this print code and plan version ${stamp.planVersion}: ${stamp.signature.value}`);
}

// The print's identity on page 1: the QR code a tablet scans to check this paper, with the
// same code, the plan version and the print time in words beside it.
function printStampBlock(stamp: PrintStamp): HTMLElement {
  return h('div', { class: 'print-stamp', testid: 'print-stamp', 'data-code': stamp.code, 'data-version': stamp.planVersion },
    h('img', { class: 'print-qr', testid: 'print-qr', src: qrDataUrl(stamp.qrSvg, '30mm'), alt: `QR code of the print code ${stamp.code}` }),
    h('div', {},
      h('p', {}, `Plan version ${shortVersion(stamp.planVersion)} · printed ${fmtDateTime(stamp.printedAtMs)}`),
      h('p', { class: 'print-code', testid: 'print-code' }, `Print code ${stamp.code}`),
      h('p', { class: 'muted' }, 'Scan the QR code (or type the print code) under \u201cCheck a paper copy\u201d on a Red Folder tablet to see whether these pages are still current.'),
      signatureLine(stamp)));
}

export function printDocument(s: Summary, summaryHtml: string | null, plan: Plan, stamp: PrintStamp): HTMLElement {
  const summary = h('section', { class: 'print-summary', testid: 'print-summary', 'aria-labelledby': 'print-summary-title' },
    h('header', { class: 'print-band' },
      h('h2', { id: 'print-summary-title' }, 'Emergency summary'),
      h('p', {}, `Red Folder · pages 1–2, for yellow paper · printed ${fmtDateTime(stamp.printedAtMs)}`)),
    printStampBlock(stamp),
    dnacprBanner(s),
    consentNote(s),
    h('div', { class: 'core-summary' }, ...(summaryHtml ? coreSummaryNodes(summaryHtml) : [fallbackSummary(s)])),
    h('p', { class: 'print-end' }, 'End of the emergency summary. The full care plan starts on page 3.'));
  const full = h('section', { class: 'print-full', testid: 'print-full', 'aria-labelledby': 'full-plan-start' },
    h('header', { class: 'print-band' },
      h('h2', { id: 'full-plan-start', testid: 'full-plan-start' }, 'Full care plan'),
      h('p', {}, `${plan.patient?.name ?? ''} · NHS ${plan.nhs_number_display ?? ''}`)),
    ...fullPlanSections(plan));
  return h('div', { class: 'paper', testid: 'print-view' }, summary, full);
}

// A CSS string literal holding `text`, every character outside a safe set escaped, so
// plan content cannot break out of the page-footer rule.
function cssString(text: string): string {
  return `"${Array.from(text, (ch) => (/[A-Za-z0-9 .,()-]/.test(ch) ? ch : `\\${(ch.codePointAt(0) ?? 0).toString(16)} `)).join('')}"`;
}

// The footer on every printed page (the two yellow ones included): who the paper is
// about and when it was printed, the plan version, and the print code, a line each, with
// the print code's QR code in the bottom-left corner (the margin's corner box is 12 mm
// wide); the page number is style.css's.
export function pageFooterStyle(s: Summary, stamp: PrintStamp): string {
  const lines = [
    `Red Folder · ${s.name} · NHS ${s.nhs_number_display} · printed ${fmtDateTime(stamp.printedAtMs)}`,
    `Plan version ${shortVersion(stamp.planVersion)}`,
    `Print code ${stamp.code}`,
  ];
  return `@page { @bottom-left { content: ${lines.map(cssString).join(' "\\a " ')}; white-space: pre; font-size: 7pt; }`
    + ` @bottom-left-corner { content: url("${qrDataUrl(stamp.qrSvg, '11mm')}"); } }`;
}

// Tightens the summary's type until it fits two A4 pages; returns whether it does.
// The on-screen preview is laid out at the printed width, so its height predicts pages.
export function fitSummary(summary: HTMLElement): boolean {
  const limit = 2 * PAGE_CONTENT_MM * MM_TO_PX;
  for (const density of DENSITY) {
    summary.classList.remove(...DENSITY.filter(Boolean));
    if (density) summary.classList.add(density);
    const style = getComputedStyle(summary);
    const height = summary.scrollHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    // The last block on each page may be pushed whole to the next: leave room for it.
    if (height <= limit - 40 * MM_TO_PX) return true;
  }
  return false;
}

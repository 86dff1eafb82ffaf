// The emergency summary and the printed red folder.
//
// One renderer draws the summary the core projects (`rf.summary(id)`, or the server's
// `/api/v1/emergency/summary/{nhs}`) on the tablet, on the emergency clinician's screen
// and on the yellow pages of the printout, in the order crews read it (DOMAIN.md).
// Fields this build does not know by name are still shown, after the known ones, so a
// newer core adding to the summary or the plan never leaves something off the paper.

import { by, fmtDate, fmtDateTime, h, humanise } from './dom.js';

// Fields the summary renderer places itself; anything else is listed under "Also recorded".
const SUMMARY_FIELDS = new Set([
  'nhs_number', 'nhs_number_display', 'name', 'date_of_birth', 'address', 'dnacpr', 'dnacpr_label',
  'preferred_place_of_care', 'conditions', 'medications', 'exacerbation_plan', 'baseline', 'key_contacts',
  'consent_to_emergency_sharing', 'last_updated', 'patient_id', 'plan_version',
]);

// Fields of `rf.plan(id)` the full-plan printout places itself.
const PLAN_FIELDS = new Set([
  'schema_version', 'patient', 'nhs_number_display', 'consent', 'conditions', 'medications', 'dnacpr',
  'dnacpr_label', 'preferred_place_of_care', 'exacerbation_plan', 'baseline', 'key_contacts', 'last_updated',
  'pending',
]);

function block(title, testid, ...content) {
  return h('section', { class: 'sum-block', testid },
    h('h3', {}, title),
    ...content);
}

function listOrNone(items, render, testid) {
  return items && items.length
    ? h('ul', { testid }, ...items.map((i) => h('li', {}, render(i))))
    : h('p', { class: 'muted', testid }, 'None recorded.');
}

// Any JSON value, readably. Used only for fields this build has no layout for.
export function genericValue(value) {
  if (value === null || value === undefined || value === '') return h('span', { class: 'muted' }, 'Not recorded');
  if (Array.isArray(value)) {
    return value.length ? h('ul', {}, ...value.map((v) => h('li', {}, genericValue(v)))) : h('span', { class: 'muted' }, 'None recorded.');
  }
  if (typeof value === 'object') {
    if ('user_name' in value && 'at_ms' in value) return by(value);
    return h('dl', { class: 'generic' }, ...Object.entries(value).flatMap(([k, v]) => [h('dt', {}, humanise(k)), h('dd', {}, genericValue(v))]));
  }
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  return String(value);
}

function extras(object, known, testid) {
  const rest = Object.entries(object || {}).filter(([k]) => !known.has(k));
  if (!rest.length) return null;
  return block('Also recorded', testid,
    h('dl', { class: 'generic' }, ...rest.flatMap(([k, v]) => [h('dt', {}, humanise(k)), h('dd', {}, genericValue(v))])));
}

function medicationLine(m) {
  return [m.name, m.dose, m.notes].filter(Boolean).join(' — ');
}

// The summary's content blocks, identity first. `idPrefix` keeps ids unique when two
// summaries share a page.
export function summaryBlocks(s, { idPrefix = 'summary' } = {}) {
  const known = SUMMARY_FIELDS;
  return [
    h('dl', { class: 'identity', testid: 'summary-identity' },
      h('dt', {}, 'Name'), h('dd', { testid: 'summary-name' }, s.name),
      h('dt', {}, 'NHS number'), h('dd', { testid: 'summary-nhs' }, s.nhs_number_display),
      h('dt', {}, 'Date of birth'), h('dd', { testid: 'summary-dob' }, `${fmtDate(s.date_of_birth)} (${s.date_of_birth})`),
      h('dt', {}, 'Address'), h('dd', {}, s.address || 'Not recorded')),
    h('div', { class: 'dnacpr-banner', 'data-status': s.dnacpr, testid: 'summary-dnacpr' },
      h('span', { class: 'banner-label' }, 'DNACPR / CPR status: '), s.dnacpr_label),
    s.consent_to_emergency_sharing
      ? h('p', { class: 'consent-note', testid: 'summary-consent' }, 'The patient has agreed to share this summary with emergency services.')
      : h('p', { class: 'error', role: 'note', testid: 'summary-no-consent' }, 'The patient has not consented to sharing this summary with emergency services.'),
    h('div', { class: 'sum-grid' },
      block('Escalation and exacerbation plan', 'summary-exacerbation-block',
        h('p', { class: 'pre', testid: 'summary-exacerbation' }, s.exacerbation_plan || 'None recorded.')),
      block('Preferred place of care', 'summary-place',
        h('p', {}, s.preferred_place_of_care || 'Not recorded')),
      block('Key contacts', 'summary-contacts-block',
        listOrNone(s.key_contacts, (c) => `${c.role}: ${c.name}${c.phone ? `, ${c.phone}` : ''}`, 'summary-contacts')),
      block('Conditions', 'summary-conditions-block',
        listOrNone(s.conditions, (c) => (c.treatment ? `${c.name}: ${c.treatment}` : c.name), 'summary-conditions')),
      block('Medications', 'summary-medications-block',
        listOrNone(s.medications, medicationLine, 'summary-medications')),
      block('Usual observations', 'summary-baseline-block',
        listOrNone(s.baseline?.lines, (l) => l, 'summary-baseline'),
        s.baseline?.recorded ? h('p', { class: 'muted small' }, `Recorded by ${by(s.baseline.recorded)}`) : null),
      extras(s, known, `${idPrefix}-extras`)),
    s.last_updated ? h('p', { class: 'last-updated' }, `Plan last updated by ${by(s.last_updated)}`) : null,
  ];
}

// The summary as an on-screen card.
export function summaryArticle(s, { testid = 'emergency-summary', title = 'Emergency summary' } = {}) {
  const headingId = `${testid}-title`;
  return h('article', { class: 'summary', testid, 'aria-labelledby': headingId },
    h('h2', { id: headingId }, title),
    ...summaryBlocks(s, { idPrefix: testid }));
}

// ---------------------------------------------------------------------------
// The printed red folder: pages 1–2 the emergency summary (yellow paper), then the full
// plan from page 3. style.css lays it out for A4.

const MM_TO_PX = 96 / 25.4;
// Keep in step with `@page` in style.css: 297 mm less 12 mm top and 16 mm bottom margins.
const PAGE_CONTENT_MM = 297 - 12 - 16;
// Density steps tried in order until the summary fits two pages.
const DENSITY = ['', 'dense', 'denser'];

export function printDocument(s, plan, printedAtMs) {
  const summary = h('section', { class: 'print-summary', testid: 'print-summary', 'aria-labelledby': 'print-summary-title' },
    h('header', { class: 'print-band' },
      h('h2', { id: 'print-summary-title' }, 'Emergency summary'),
      h('p', {}, `Red Folder · pages 1–2, for yellow paper · printed ${fmtDateTime(printedAtMs)}`)),
    ...summaryBlocks(s, { idPrefix: 'print-summary' }),
    h('p', { class: 'print-end' }, 'End of the emergency summary. The full care plan starts on page 3.'));
  const full = h('section', { class: 'print-full', testid: 'print-full', 'aria-labelledby': 'full-plan-start' },
    h('h2', { id: 'full-plan-start', class: 'print-band', testid: 'full-plan-start' }, 'Full care plan'),
    ...fullPlanSections(plan));
  return h('div', { class: 'paper', testid: 'print-view' }, summary, full);
}

function entryRows(entries, columns) {
  if (!entries.length) return h('p', { class: 'muted' }, 'None recorded.');
  return h('table', {},
    h('thead', {}, h('tr', {}, ...columns.map(([label]) => h('th', { scope: 'col' }, label)), h('th', { scope: 'col' }, 'Recorded'))),
    h('tbody', {}, ...entries.map((e) => h('tr', { class: e.entered_in_error ? 'in-error' : '' },
      ...columns.map(([, get]) => h('td', {}, get(e) || '')),
      h('td', {}, by(e.recorded),
        e.entered_in_error ? h('div', { class: 'in-error-note' }, `Entered in error — marked by ${by(e.entered_in_error.by)}`) : null)))));
}

function printSection(title, ...content) {
  return h('section', { class: 'print-section' }, h('h3', {}, title), ...content);
}

function fullPlanSections(p) {
  const b = p.baseline || {};
  const obs = [
    ['Pulse', b.pulse_bpm, '/min'], ['Systolic BP', b.systolic_mmhg, 'mmHg'], ['Diastolic BP', b.diastolic_mmhg, 'mmHg'],
    ['Respiratory rate', b.respiratory_rate, '/min'], ['SpO2', b.spo2_percent, '%'],
    ['Temperature', b.temperature_decidegrees == null ? null : (b.temperature_decidegrees / 10).toFixed(1), '°C'],
  ];
  return [
    printSection('Patient',
      h('dl', { class: 'identity' },
        h('dt', {}, 'Name'), h('dd', {}, p.patient.name),
        h('dt', {}, 'NHS number'), h('dd', {}, p.nhs_number_display),
        h('dt', {}, 'Date of birth'), h('dd', {}, `${fmtDate(p.patient.date_of_birth)} (${p.patient.date_of_birth})`),
        h('dt', {}, 'Address'), h('dd', {}, p.patient.address || 'Not recorded'),
        ...Object.entries(p.patient).filter(([k]) => !['name', 'nhs_number', 'date_of_birth', 'address'].includes(k))
          .flatMap(([k, v]) => [h('dt', {}, humanise(k)), h('dd', {}, genericValue(v))]))),
    printSection('Consent to share',
      h('p', {}, `With the multidisciplinary team: ${p.consent.share_with_mdt ? 'yes' : 'no'}. With ambulance and A&E clinicians: ${p.consent.share_with_emergency_services ? 'yes' : 'no'}.`),
      h('p', { class: 'muted' }, p.consent.recorded ? `Recorded by ${by(p.consent.recorded)}` : 'Consent not recorded yet.')),
    printSection('DNACPR', h('p', { class: 'dnacpr-banner', 'data-status': p.dnacpr }, p.dnacpr_label)),
    printSection('Preferred place of care', h('p', {}, p.preferred_place_of_care || 'Not recorded')),
    printSection('Exacerbation plan', h('p', { class: 'pre' }, p.exacerbation_plan || 'None recorded.')),
    printSection('Conditions', entryRows(p.conditions, [['Condition', (c) => c.name], ['Treatment or management', (c) => c.treatment]])),
    printSection('Medications', entryRows(p.medications, [['Medication', (m) => m.name], ['Dose', (m) => m.dose], ['Notes', (m) => m.notes]])),
    printSection('Baseline observations',
      h('dl', { class: 'identity' }, ...obs.flatMap(([label, v, unit]) => [h('dt', {}, label), h('dd', {}, v == null ? 'Not recorded' : `${v} ${unit}`)])),
      h('p', { class: 'muted' }, b.recorded ? `Recorded by ${by(b.recorded)}` : 'No baseline recorded yet.')),
    printSection('Key contacts', entryRows(p.key_contacts, [['Role', (c) => c.role], ['Name', (c) => c.name], ['Phone', (c) => c.phone]])),
    ...Object.entries(p).filter(([k]) => !PLAN_FIELDS.has(k)).map(([k, v]) => printSection(humanise(k), genericValue(v))),
    h('p', { class: 'last-updated' }, p.last_updated ? `Plan last updated by ${by(p.last_updated)}` : ''),
  ];
}

// A CSS string literal holding `text`, every character outside a safe set escaped, so
// plan content cannot break out of the page-footer rule.
function cssString(text) {
  return `"${Array.from(text, (ch) => (/[A-Za-z0-9 .,()-]/.test(ch) ? ch : `\\${ch.codePointAt(0).toString(16)} `)).join('')}"`;
}

// The footer on every printed page: who the paper is about, and the page number.
export function pageFooterStyle(s, printedAtMs) {
  const label = `Red Folder · ${s.name} · NHS ${s.nhs_number_display} · printed ${fmtDateTime(printedAtMs)}`;
  return `@page { @bottom-left { content: ${cssString(label)}; } }`;
}

// Tightens the summary's type until it fits two A4 pages; returns whether it does.
// The on-screen preview is laid out at the printed width, so its height predicts pages.
export function fitSummary(summary) {
  const limit = 2 * PAGE_CONTENT_MM * MM_TO_PX;
  for (const density of DENSITY) {
    summary.classList.remove(...DENSITY.filter(Boolean));
    if (density) summary.classList.add(density);
    // The last block on each page may be pushed whole to the next: leave room for it.
    const style = getComputedStyle(summary);
    const height = summary.scrollHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    if (height <= limit - 40 * MM_TO_PX) return true;
  }
  return false;
}

// A plan's yellow pages on the tablet: the emergency summary on screen, printing the red
// folder for the patient's home (recording the print), and checking a paper copy.

import { errorMessage, fmtTime, h } from './dom.js';
import { app, core, show } from './shell.js';
import { checkScreen, paperLine, printSignature, UNSIGNED_OFFLINE } from './paper.js';
import { planHeader, waitingForPlan } from './plan.js';
import { apiRequest } from './session.js';
import { fitSummary, pageFooterStyle, printDocument, summaryArticle } from './summary.js';
import type { PrintStamp } from './summary.js';

// Emergency summary (case manager's view of a plan on the tablet)

export function renderSummary(id: string): void {
  const s = core().summary(id);
  if (!s) {
    waitingForPlan(id, renderSummary);
    return;
  }
  const plan = core().plan(id);
  show(planHeader(id, plan, 'summary'), summaryArticle(s, core().summaryHtml(id)));
  app.view = { name: 'summary', update: (e) => { if (e.type === 'doc_changed' && e.id === id) renderSummary(id); } };
}

// ---------------------------------------------------------------------------
// Print: the red folder for the patient's home

// The stamp of the last print made on this tablet, kept while the plan's yellow pages
// still say what was printed: redrawing the view (the print's own record arriving, a
// colleague's goal edit) then shows the paper as it went out.
let lastPrint: { id: string; stamp: PrintStamp } | null = null;

// A new session starts with no print of its own to show.
export function forgetLastPrint(): void {
  lastPrint = null;
}

export function renderPrint(id: string, { printed = false }: { printed?: boolean } = {}): void {
  const s = core().summary(id);
  const plan = core().plan(id);
  const now = core().printCode(id);
  if (!s || !plan || !now) {
    waitingForPlan(id, renderPrint);
    return;
  }
  const stamp: PrintStamp = lastPrint?.id === id && lastPrint.stamp.code === now.code
    ? lastPrint.stamp
    : {
      printedAtMs: Date.now(),
      planVersion: now.plan_version,
      code: now.code,
      qrSvg: now.qr_svg,
      signature: null,
      unsigned: navigator.onLine ? 'Preview: the server signs these pages when you press Print.' : UNSIGNED_OFFLINE,
    };
  const paper = printDocument(s, core().summaryHtml(id), plan, stamp);
  const fitNote = h('p', { class: 'notice', role: 'status', testid: 'print-fit' });
  const footer = h('style', { testid: 'print-footer-style' }, pageFooterStyle(s, stamp));
  const error = h('p', { class: 'error', role: 'alert', testid: 'print-error' });
  const recorded = h('p', { class: 'saved', testid: 'print-recorded', 'aria-live': 'polite', hidden: !printed },
    printed ? `Recorded as the paper copy in the home (saved on this tablet at ${fmtTime(stamp.printedAtMs)}).` : '');
  const button = h('button', { type: 'button', class: 'button', testid: 'print-button' }, 'Print');
  // Printing records the copy for the home first (who, when, which version, what the
  // pages say), through the ordinary edit path, so the plan, the caseload and the
  // reviews-due list can say when this paper goes out of date.
  button.addEventListener('click', async () => {
    button.disabled = true;
    error.textContent = '';
    const current = core().printCode(id);
    if (!current) return;
    const at = Date.now();
    const hash = location.hash;
    const signed = await printSignature(apiRequest, id, current.code, current.plan_version);
    // The clinician left the print view while the server was asked: print nothing.
    if (location.hash !== hash) return;
    const printing: PrintStamp = { printedAtMs: at, planVersion: current.plan_version, code: current.code, qrSvg: current.qr_svg, ...signed };
    try {
      await core().apply(id, JSON.stringify({ op: 'record_paper_copy', fingerprint: current.fingerprint }), at);
    } catch (e) {
      error.textContent = `The print was not recorded, so nothing was printed: ${errorMessage(e)}`;
      button.disabled = false;
      return;
    }
    lastPrint = { id, stamp: printing };
    renderPrint(id, { printed: true });
    window.print();
  });
  show(
    h('div', { class: 'no-print' },
      planHeader(id, plan, 'print'),
      paperLine(id, plan.paper_reading),
      h('div', { class: 'print-toolbar' },
        h('div', {},
          h('h2', {}, 'Print the red folder'),
          h('p', { class: 'muted' }, 'Pages 1 and 2 are the emergency summary: load yellow paper for them. The full care plan follows from page 3. Print on A4. Printing records these pages as the paper copy in the home.'),
          fitNote, error, recorded),
        button)),
    footer,
    paper);
  const fits = fitSummary(paper.querySelector<HTMLElement>('.print-summary') ?? paper);
  paper.dataset.fits = String(fits);
  fitNote.textContent = fits
    ? ''
    : 'The emergency summary is longer than two pages even in small type. Shorten the exacerbation plan or mark old entries entered in error before printing.';
  fitNote.hidden = fits;
  app.view = { name: 'print', update: (e) => { if (e.type === 'doc_changed' && e.id === id) renderPrint(id, { printed: recorded.hidden === false }); } };
}

// ---------------------------------------------------------------------------
// Check a paper copy: a print code typed, pasted or scanned, against this tablet's copy

export function renderCheck(id: string): void {
  const plan = core().plan(id);
  if (!plan) {
    waitingForPlan(id, renderCheck);
    return;
  }
  const screen = checkScreen(core, id);
  show(planHeader(id, plan, 'check'), paperLine(id, plan.paper_reading, { checkLink: false }), screen.node);
  app.view = { name: 'check', id, dispose: screen.dispose };
}

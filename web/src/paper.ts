// The paper copy in the home: whether it is current (on the plan screen), checking a
// printed copy by its print code (typed, pasted, or scanned from its QR code with the
// camera), and asking the server to sign a print.
//
// Every answer is the core's (`paperCopyReading`, `checkPaperCode`, on this tablet's copy
// of the plan), so a check works offline. Chromium on Linux has no BarcodeDetector, so
// camera frames are decoded here by jsQR (pinned in package.json, bundled by esbuild).

import jsQR from 'jsqr';
import type { Core, PaperReading } from './core.js';
import { errorMessage, field, fmtDateTime, h, sentence } from './dom.js';

// The plan screen's line about the paper in the home, with what to do about it.
export function paperLine(id: string, reading: PaperReading | undefined, { checkLink = true }: { checkLink?: boolean } = {}): HTMLElement {
  const state = reading?.state ?? 'not_printed';
  const plan = `#/plan/${encodeURIComponent(id)}`;
  return h('div', { class: `paper-line ${state}`, testid: 'plan-paper', 'data-state': state, role: state === 'current' ? null : 'status' },
    h('span', { testid: 'plan-paper-label' }, reading?.label ?? ''),
    ' ',
    state === 'current' ? null : h('a', { href: `${plan}/print`, class: 'button small', testid: 'plan-paper-print' }, state === 'out_of_date' ? 'Reprint' : 'Print'),
    ' ',
    checkLink ? h('a', { href: `${plan}/check`, class: 'button secondary small', testid: 'plan-paper-check' }, 'Check a paper copy') : null);
}

// The caseload's badge for a plan whose paper in the home needs printing.
export function paperBadge(state: string, label: string): HTMLElement | null {
  if (state === 'current') return null;
  return h('span', { class: `badge paper-copy ${state}`, testid: 'caseload-paper', 'data-state': state, title: label },
    state === 'out_of_date' ? 'Paper copy out of date: reprint' : 'No paper copy printed');
}

// The caseload's paper filter.
export const PAPER_FILTER: Record<string, string> = {
  needs_print: 'Needs printing (out of date or none)',
  out_of_date: 'Out of date',
  not_printed: 'Not printed',
  current: 'Current',
};

export function paperFilter(state: string, filter: string): boolean {
  if (!filter) return true;
  if (filter === 'needs_print') return state !== 'current';
  return state === filter;
}

// The server's signature for a print, or why the pages go out unsigned. The server signs
// only the plan version it holds, so a tablet whose copy differs (changes not uploaded
// yet, or not received yet) prints unsigned rather than claim a version the server never
// saw.
export type PrintSignature =
  | { signature: { algorithm: string; key_id: string; value: string }; unsigned: '' }
  | { signature: null; unsigned: string };

export const UNSIGNED_OFFLINE = 'Printed offline: not signed by the server.';

// How long Print waits for the server's signature before printing unsigned.
const SIGNATURE_WAIT_MS = 8_000;

export async function printSignature(
  request: (path: string, init?: RequestInit) => Promise<Response>, id: string, code: string, version: string,
): Promise<PrintSignature> {
  if (!navigator.onLine) return { signature: null, unsigned: UNSIGNED_OFFLINE };
  try {
    const query = new URLSearchParams({ code, version });
    const response = await request(`/patients/${encodeURIComponent(id)}/paper-copy/signed?${query}`,
      { signal: AbortSignal.timeout(SIGNATURE_WAIT_MS) });
    const body = await response.json().catch(() => null);
    if (response.ok && body?.signature?.value) return { signature: body.signature, unsigned: '' };
    if (response.status === 409) {
      return { signature: null, unsigned: 'Printed while this tablet\u2019s copy of the plan differed from the server\u2019s: not signed by the server.' };
    }
    return { signature: null, unsigned: `Not signed by the server (it answered ${response.status}).` };
  } catch {
    return { signature: null, unsigned: navigator.onLine ? 'The server could not be reached: not signed by the server.' : UNSIGNED_OFFLINE };
  }
}

// How often a camera frame is decoded while scanning: often enough to feel immediate,
// rarely enough to leave a tablet's CPU for the rest of the app.
const SCAN_INTERVAL_MS = 150;
// Frames are decoded at most this wide; a print code's QR code reads well below it.
const SCAN_MAX_WIDTH = 640;

// "Check a paper copy": a print code typed or pasted, or read from the QR code by the
// camera, checked against this tablet's copy of plan `id`.
export function checkScreen(core: () => Core, id: string): { node: HTMLElement; dispose(): void } {
  const input = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', testid: 'paper-code-input', placeholder: 'RF1-…' });
  const error = h('p', { class: 'error', role: 'alert', testid: 'paper-check-error' });
  const result = h('div', { testid: 'paper-check-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'card', novalidate: true, testid: 'paper-check-form' },
    field('Print code', input, 'As printed beside the QR code on the yellow pages; pasting works too'),
    error,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', testid: 'paper-code-check' }, 'Check')));

  const check = (code: string, how: 'typed' | 'scanned'): void => {
    error.textContent = '';
    result.replaceChildren();
    delete error.dataset.kind;
    if (!code.trim()) {
      error.textContent = 'Type the print code from the paper, or scan its QR code.';
      error.dataset.kind = 'empty';
      return;
    }
    let reading: PaperReading | null;
    try {
      reading = core().checkPaperCode(id, code);
    } catch (e) {
      // The core's reason says it is not a Red Folder print code, and what one looks like.
      error.textContent = sentence(errorMessage(e));
      error.dataset.kind = 'invalid';
      return;
    }
    if (!reading) {
      error.textContent = 'This plan has not downloaded to this tablet yet, so the paper cannot be checked here.';
      return;
    }
    result.replaceChildren(readingCard(reading, how));
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    check(input.value, 'typed');
  });

  // --- The camera
  const video = h('video', { testid: 'paper-scan-video', muted: true, playsInline: true, hidden: true, 'aria-label': 'Camera view' });
  const scanStatus = h('p', { class: 'muted', testid: 'paper-scan-status', 'aria-live': 'polite' });
  const start = h('button', { type: 'button', class: 'button secondary', testid: 'paper-scan-start' }, 'Scan the QR code with the camera');
  const stopButton = h('button', { type: 'button', class: 'button secondary', testid: 'paper-scan-stop', hidden: true }, 'Stop the camera');
  const canvas = document.createElement('canvas');
  let stream: MediaStream | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const stop = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    stopButton.hidden = true;
    start.hidden = false;
  };
  const scanFrame = (): void => {
    timer = null;
    if (!stream) return;
    if (video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && video.videoWidth > 0) {
      const scale = Math.min(1, SCAN_MAX_WIDTH / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      const context = canvas.getContext('2d', { willReadFrequently: true });
      if (context) {
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        const frame = context.getImageData(0, 0, canvas.width, canvas.height);
        const found = jsQR(frame.data, frame.width, frame.height);
        if (found?.data) {
          stop();
          input.value = found.data;
          scanStatus.textContent = 'QR code read.';
          check(found.data, 'scanned');
          return;
        }
      }
    }
    timer = setTimeout(scanFrame, SCAN_INTERVAL_MS);
  };
  start.addEventListener('click', async () => {
    error.textContent = '';
    if (!navigator.mediaDevices?.getUserMedia) {
      scanStatus.textContent = 'This browser cannot use the camera here: type the print code instead.';
      return;
    }
    scanStatus.textContent = 'Starting the camera…';
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
    } catch (e) {
      scanStatus.textContent = `The camera could not be used (${errorMessage(e)}): type the print code instead.`;
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    start.hidden = true;
    stopButton.hidden = false;
    try {
      await video.play();
    } catch {
      // Autoplay of a muted camera preview is allowed; if not, frames still decode once
      // the element has data.
    }
    scanStatus.textContent = 'Hold the QR code on the yellow pages in front of the camera.';
    scanFrame();
  });
  stopButton.addEventListener('click', () => { stop(); scanStatus.textContent = ''; });

  const node = h('div', { class: 'paper-check', testid: 'paper-check' },
    h('h2', {}, 'Check a paper copy'),
    h('p', { class: 'muted' }, 'Says whether printed yellow pages still say what this plan says, from this tablet\u2019s copy of the plan (works offline).'),
    form,
    h('div', { class: 'card' }, h('div', { class: 'actions' }, start, stopButton), scanStatus, video),
    result);
  return { node, dispose: stop };
}

function readingCard(reading: PaperReading, how: 'typed' | 'scanned'): HTMLElement {
  const headline = reading.state === 'current'
    ? 'Current: this paper says what the plan says now.'
    : 'Out of date: this paper no longer says what the plan says. Print the red folder again and replace it.';
  return h('div', { class: `card paper-result ${reading.state}`, testid: 'paper-check-answer', 'data-state': reading.state, 'data-how': how, role: reading.state === 'current' ? 'status' : 'alert' },
    h('p', { class: 'paper-headline' }, h('strong', {}, headline)),
    reading.changed_sections.length
      ? h('p', { testid: 'paper-check-changed' }, `Changed since it was printed: ${reading.changed_sections.join(', ')}.`)
      : null,
    reading.printed ? h('p', { class: 'muted' }, `This is the copy recorded for the home, printed ${fmtDateTime(reading.printed.at_ms)} by ${reading.printed.user_name}.`) : null);
}

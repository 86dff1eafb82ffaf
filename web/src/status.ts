// The sync status bar, and what the app does with the core's events (status, plan
// changes, refused changes, errors from the server).

import type { CoreEvent, SyncStatus } from './core.js';
import { fmtTime, h, sentence } from './dom.js';
import { app, byTestId, core, isEmergencyClinician, lockState } from './shell.js';
import { eraseRevokedDevice, renewToken } from './session.js';

export function onCoreEvent(event: CoreEvent): void {
  switch (event.type) {
    case 'status':
      renderStatus(event);
      break;
    case 'doc_changed':
    case 'caseload':
      app.view?.update?.(event);
      break;
    case 'refused':
      // The plan was put back to the server's state and holds refused edits to show.
      renderStatus(core().status());
      app.view?.update?.(event);
      break;
    case 'error':
      if (event.code === 'device_revoked') {
        eraseRevokedDevice();
        return;
      }
      // An expired access token: renew it quietly; the core reconnects with the new one.
      if (event.code === 'unauthorized') renewToken();
      renderStatus(core().status());
      app.view?.remoteError?.(event);
      break;
    default:
      break;
  }
}

// What the server's error codes mean to the person holding the tablet.
function describeError(status: SyncStatus): string {
  if (status.sign_in_refused) return 'Your sign-in has expired or was withdrawn. Sign in again to upload changes; they are kept on this tablet.';
  if (!status.error) return '';
  const reason = sentence(status.error);
  switch (status.error_code) {
    case 'refused': return `The server refused a change: ${reason}`;
    case 'forbidden': return `The server would not share a plan: ${reason}`;
    case 'too_large': return `A change was too large to upload: ${reason}`;
    case 'internal': return `The server had a problem and will be tried again: ${reason}`;
    case 'unsupported_version': return `This app is out of date; reload it when online: ${reason}`;
    case 'storage': return `Could not save on this tablet: ${reason}`;
    default: return `Sync error: ${reason}`;
  }
}

export function renderStatus(status: SyncStatus | null): void {
  if (!status) return;
  app.lastStatus = status;
  const syncing = !!app.session && !isEmergencyClinician() && !status.locked;
  const state = byTestId('sync-state');
  const pending = byTestId('sync-pending');
  const last = byTestId('sync-last');
  const error = byTestId('sync-error');
  const reauth = byTestId('reauth');
  if (syncing) {
    state.dataset.state = status.state;
    state.textContent = ({ online: 'Online', connecting: 'Connecting…', offline: 'Offline' } as Record<string, string>)[status.state] || status.state;
    pending.textContent = status.pending === 1 ? '1 change waiting to upload' : `${status.pending} changes waiting to upload`;
    pending.dataset.count = String(status.pending);
    pending.hidden = false;
    last.textContent = status.last_synced_ms ? `Last synced ${fmtTime(status.last_synced_ms)}` : 'Not synced yet';
  } else {
    // Nothing syncs before sign-in, while locked, or for emergency clinicians: show the network.
    const online = navigator.onLine;
    state.dataset.state = online ? 'online' : 'offline';
    state.textContent = online ? 'Online' : 'Offline';
    pending.hidden = true;
    pending.dataset.count = '0';
    if (app.session && isEmergencyClinician()) last.textContent = 'Summaries are looked up live; none are kept on this tablet';
    else if (lockState().has_pin && !lockState().unlocked) last.textContent = 'Locked';
    else last.textContent = '';
  }
  const message = syncing ? describeError(status) : '';
  error.textContent = message;
  error.hidden = !message;
  error.dataset.code = syncing ? (status.error_code || '') : '';
  reauth.hidden = !(syncing && status.sign_in_refused);
  renderRefusedLink(syncing ? status.refused ?? 0 : 0);
  if (app.view?.name === 'caseload') app.view.statusChanged?.(status);
}

// Changes the server did not accept, over every plan: a link in the sync bar to the
// (first) plan holding them, where they can be made again or dismissed.
function renderRefusedLink(count: number): void {
  let link = document.querySelector<HTMLAnchorElement>('[data-testid="sync-refused"]');
  if (!link) {
    link = h('a', { class: 'button secondary small', testid: 'sync-refused', hidden: true });
    byTestId('sync-status').append(link);
  }
  link.hidden = !count;
  link.dataset.count = String(count);
  if (!count) return;
  const first = core().refused()[0];
  link.textContent = count === 1 ? '1 change not accepted: see why' : `${count} changes not accepted: see why`;
  if (first) link.href = `#/plan/${encodeURIComponent(first.doc_id)}`;
}

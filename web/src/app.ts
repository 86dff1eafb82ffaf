// Red Folder tablet app, bundled by esbuild (web/build.mjs) with the wasm core's glue.
//
// Plans live in the wasm core (crates/wasm), which keeps them encrypted in IndexedDB and
// syncs them over a WebSocket. The app only draws screens and turns taps into Edits;
// every rule about what a valid edit is lives in the core, whose error messages are
// shown as they come.
//
// Nothing is kept in localStorage: the session (access token and user) is stored by the
// core, encrypted with the plans under the key the user's PIN unlocks.
//
// This module boots the app and routes between screens; each screen is a module beside
// it (shell.ts holds the state they share).

import init, { RedFolder } from '../pkg/redfolder_wasm.js';
import { h } from './dom.js';
import { app, byTestId, core, show } from './shell.js';
import { route } from './routes.js';
import { checkIdle, enter, lockAfterMs, lockNow, renewIfDue, signOut, watchIdle } from './session.js';
import { renderLogin } from './signin.js';
import { onCoreEvent, renderStatus } from './status.js';

// The wasm file's name in the build, content-hashed (defined by web/build.mjs).
declare const WASM_FILE: string;

const DB_NAME = 'redfolder';
// Before encryption the session was kept here; it is removed on start.
const LEGACY_SESSION_KEY = 'redfolder.session';

async function boot() {
  registerServiceWorker();
  localStorage.removeItem(LEGACY_SESSION_KEY);
  byTestId('sign-out').addEventListener('click', signOut);
  byTestId('lock').addEventListener('click', () => lockNow('button'));
  byTestId('reauth').addEventListener('click', () => renderLogin({ reauth: true }));
  window.addEventListener('hashchange', route);
  window.addEventListener('online', () => renderStatus(app.lastStatus));
  window.addEventListener('offline', () => renderStatus(app.lastStatus));
  try {
    await init({ module_or_path: new URL(WASM_FILE, import.meta.url) });
    app.rf = await RedFolder.open(DB_NAME);
  } catch (e) {
    show(h('p', { class: 'error', role: 'alert', testid: 'boot-error' }, `Red Folder could not start: ${(e as Error | null)?.message || e}`));
    return;
  }
  core().setListener(onCoreEvent);
  core().setBeforeRemote(() => app.view?.flushTyping?.());
  // Typing still waiting for its debounce is saved before the page goes away.
  window.addEventListener('pagehide', () => app.view?.flushTyping?.());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') app.view?.flushTyping?.();
    else checkIdle();
  });
  watchIdle();
  setInterval(renewIfDue, 15_000);
  window.addEventListener('online', renewIfDue);
  document.body.dataset.lockAfterMs = String(lockAfterMs);
  enter();
  renderStatus(core().status());
}

function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  const mark = () => {
    if (navigator.serviceWorker.controller) document.body.dataset.sw = 'ready';
  };
  navigator.serviceWorker.addEventListener('controllerchange', mark);
  navigator.serviceWorker.register('sw.js').then(mark, (e) => console.warn('service worker not registered', e));
  mark();
}

boot();

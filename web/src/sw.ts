// Red Folder service worker: keeps the app shell on the device so it opens and works
// with no signal. /api requests always go to the network (the WebSocket never passes
// here); the app's files are served from the cache.
//
// The build (web/build.mjs) defines BUILD_ID, a hash of every shipped file, and
// SHELL_FILES, the list of them (the JS and wasm carry their own hash in their names).
// Each build caches under its own name: a new build is a new sw.js, which the browser
// installs beside the old one, filling a fresh cache with all of the new files before it
// takes over and deletes the old cache. So a cache only ever holds one build's files,
// never index.html of one build with the app of another, and nothing is refreshed in
// the background.

declare const BUILD_ID: string;
declare const SHELL_FILES: string[];
declare const self: ServiceWorkerGlobalScope;

const CACHE = `redfolder-shell-${BUILD_ID}`;
const SHELL = ['./', ...SHELL_FILES];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((path) => new Request(path, { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('redfolder-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;
  // Every page of the app is the same shell; routes live in the URL hash.
  const key = request.mode === 'navigate' ? new URL('./', self.registration.scope).href : request;
  event.respondWith(cacheFirst(key, request));
});

async function cacheFirst(key: RequestInfo, request: Request): Promise<Response> {
  const cached = await caches.match(key, { cacheName: CACHE, ignoreSearch: true });
  // Not part of this build (or the cache was cleared): the network, uncached.
  return cached ?? fetch(request);
}

export {};

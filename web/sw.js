// Red Folder service worker: keeps the app shell on the device so it opens and works
// with no signal. Static files are served from the cache first and refreshed in the
// background; /api requests always go to the network (the WebSocket never passes here).

const CACHE = 'redfolder-shell-v3';
const SHELL = [
  './',
  'index.html',
  'app.js',
  'dom.js',
  'summary.js',
  'sections.js',
  'style.css',
  'manifest.webmanifest',
  'icon.svg',
  'pkg/redfolder_wasm.js',
  'pkg/redfolder_wasm_bg.wasm',
];

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
  event.respondWith(cacheFirst(key, request, event));
});

async function cacheFirst(key, request, event) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(key, { ignoreSearch: true });
  const fresh = fetch(request)
    .then((response) => {
      if (response.ok && response.type === 'basic') {
        return cache.put(key, response.clone()).then(() => response);
      }
      return response;
    });
  if (cached) {
    // Refresh for next time; a failure just means we are offline.
    event.waitUntil(fresh.catch(() => undefined));
    return cached;
  }
  return fresh;
}

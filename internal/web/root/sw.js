// Observable Code's service worker: keeps the app shell available offline,
// serves the API network-first (falling back to the last answer it saw),
// and turns every push into a notification.
const VERSION = "__VERSION__";
const ASSETS = ["__ASSETS__"];
const SHELL = `shell-${VERSION}`;
const API = 'api';
// The app's own paths: app.js's ROUTES, put here by the server.
const APP_PATHS = [/__APP_PATHS__/];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    await cache.addAll(['/', ...ASSETS]);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith('shell-') && key !== SHELL) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  // The live stream and the pairing page must always be the network's.
  if (url.origin !== self.location.origin || url.pathname === '/api/v1/events/stream') return;
  if (url.pathname.startsWith('/api/')) event.respondWith(networkFirst(req));
  else if (req.mode === 'navigate' && APP_PATHS.some((re) => re.test(url.pathname))) event.respondWith(shell(req));
  else if (url.pathname.startsWith('/s/')) event.respondWith(cacheFirst(req));
});

async function networkFirst(req) {
  try {
    const res = await fetch(req);
    if (res.status === 401) {
      // Unpaired: keep none of the session's data on the phone.
      await caches.delete(API);
    } else if (res.ok) {
      const cache = await caches.open(API);
      await cache.put(req, res.clone());
    }
    return res;
  } catch {
    const hit = await caches.match(req, {cacheName: API});
    if (!hit) return Response.error();
    // Tell the app it is looking at saved data.
    const headers = new Headers(hit.headers);
    headers.set('X-Observable-Offline', '1');
    return new Response(hit.body, {status: hit.status, statusText: hit.statusText, headers});
  }
}

// Navigations go to the network first, for the newest shell; offline, the
// cached shell opens the app on its saved data.
async function shell(req) {
  try {
    const res = await fetch(req);
    if (res.ok) {
      const cache = await caches.open(SHELL);
      await cache.put('/', res.clone());
    }
    return res;
  } catch {
    return (await caches.match('/', {cacheName: SHELL})) || Response.error();
  }
}

// Asset URLs carry their version, so a cached copy is always right.
async function cacheFirst(req) {
  return (await caches.match(req, {cacheName: SHELL})) || fetch(req);
}

function appURL(url, seq) {
  try {
    const u = new URL(url, self.location.origin);
    if (u.origin === self.location.origin) return u.pathname + u.search;
  } catch {
    // Fall through to the run or the feed.
  }
  return Number.isInteger(seq) ? `/runs/${seq}` : '/';
}

// Every push shows a notification: browsers revoke subscriptions that
// receive pushes without one.
self.addEventListener('push', (event) => {
  let data;
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {body: event.data ? event.data.text() : ''};
  }
  const tag = typeof data.tag === 'string' && data.tag ? data.tag : undefined;
  const options = {
    body: typeof data.body === 'string' && data.body ? data.body : 'Something happened in your jobs. Tap to see it.',
    icon: `/s/${VERSION}/icon-192.png`,
    badge: `/s/${VERSION}/badge-96.png`,
    timestamp: Date.now(),
    data: {url: appURL(data.url, data.seq)},
  };
  if (tag) {
    // One notification per job: a new failure or a recovery replaces the
    // last one and alerts again; a plain event (rule "all") replaces it quietly.
    options.tag = tag;
    options.renotify = data.kind === 'failed' || data.kind === 'recovered';
  }
  const title = typeof data.title === 'string' && data.title ? data.title : 'Observable Code';
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || '/';
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({type: 'window', includeUncontrolled: true});
    const win = windows.find((w) => new URL(w.url).origin === self.location.origin);
    if (win) {
      await win.focus();
      win.postMessage({type: 'open', url});
      return;
    }
    await self.clients.openWindow(url);
  })());
});

function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

// The push service replaced the subscription: subscribe again and tell the
// server, or notifications would stop without a word.
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil((async () => {
    const res = await fetch('/api/v1/push/key', {credentials: 'same-origin'});
    const {vapid_public_key: key} = await res.json();
    if (!key) return;
    const sub = await self.registration.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: keyBytes(key)});
    await fetch('/api/v1/device/push', {
      method: 'PUT', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify(sub.toJSON()),
    });
  })().catch(() => {
    // The app renews the subscription the next time it opens.
  }));
});

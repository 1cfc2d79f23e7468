// Observable Code's service worker: keeps the app shell available offline,
// serves the API network-first (falling back to the last answer it saw),
// and turns every push into a notification, one per job, with "Snooze 1 day"
// and "Open" on an incident's.
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

function appURL(url, seq, job) {
  try {
    if (typeof url === 'string' && url) {
      const u = new URL(url, self.location.origin);
      if (u.origin === self.location.origin) return u.pathname + u.search;
    }
  } catch {
    // Fall through to the run, the job or the feed.
  }
  // seq 0 is no run (a missed run has none): the job's page then.
  if (Number.isInteger(seq) && seq > 0) return `/runs/${seq}`;
  return job ? `/jobs/${encodeURIComponent(job)}` : '/';
}

// Kinds of push that open an incident: their notification offers a snooze.
const INCIDENT = new Set(['failed', 'missed', 'overdue', 'slow', 'fast']);

// Every push shows a notification: browsers revoke subscriptions that
// receive pushes without one.
self.addEventListener('push', (event) => {
  let data;
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {body: event.data ? event.data.text() : ''};
  }
  const job = typeof data.job === 'string' && data.job ? data.job : '';
  // One notification per job, so an open incident's replaces its last one
  // rather than stacking: the server's tag, else one made from the job.
  const tag = typeof data.tag === 'string' && data.tag ? data.tag : job ? `job:${job}` : undefined;
  const options = {
    body: typeof data.body === 'string' && data.body ? data.body : 'Something happened in your jobs. Tap to see it.',
    icon: `/s/${VERSION}/icon-192.png`,
    badge: `/s/${VERSION}/badge-96.png`,
    timestamp: Date.now(),
    data: {url: appURL(data.url, data.seq, job), job},
  };
  if (tag) {
    // An incident opening or closing alerts again; a plain event (rule
    // "all") replaces the last one quietly.
    options.tag = tag;
    options.renotify = INCIDENT.has(data.kind) || data.kind === 'recovered';
  }
  if (job && INCIDENT.has(data.kind)) {
    options.actions = [{action: 'snooze', title: 'Snooze 1 day'}, {action: 'open', title: 'Open'}];
  }
  const title = typeof data.title === 'string' && data.title ? data.title : 'Observable Code';
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(notificationAction(event.notification, event.action));
});

/**
 * What a tap does: "snooze" snoozes the job for a day with the phone's own
 * cookie, without opening the app; "open" or the notification itself opens
 * the run (or the job) in the open app, or opens the app there.
 */
async function notificationAction(notification, action) {
  const data = notification.data || {};
  if (action === 'snooze' && data.job) {
    let res = null;
    try {
      res = await fetch(`/api/v1/jobs/${encodeURIComponent(data.job)}`, {
        method: 'PATCH', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({snooze_s: 86400}),
      });
    } catch {
      // Said below: no network.
    }
    if (res && res.ok) return;
    // A snooze that did not happen must not pass for one that did.
    await self.registration.showNotification(`Could not snooze ${data.job}`, {
      body: res ? `The server answered ${res.status}. Open the app and snooze it from the job's page.` : 'No network. Open the app and snooze it from the job\'s page when it is back.',
      icon: `/s/${VERSION}/icon-192.png`, badge: `/s/${VERSION}/badge-96.png`,
      tag: notification.tag || undefined, data: {url: appURL('', null, data.job), job: data.job},
    });
    return;
  }
  const url = data.url || '/';
  const windows = await self.clients.matchAll({type: 'window', includeUncontrolled: true});
  const win = windows.find((w) => new URL(w.url).origin === self.location.origin);
  if (win) {
    try {
      await win.focus();
    } catch {
      // Browsers allow focus only within the tap itself; the app still opens the page.
    }
    win.postMessage({type: 'open', url});
    return;
  }
  await self.clients.openWindow(url);
}

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

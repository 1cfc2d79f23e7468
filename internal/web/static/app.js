// The app: a router over four screens, the live stream, the service worker,
// and the not-paired screen that any 401 leads to.
import {bus, forgetDevice, loadDevice} from './api.js';
import {h} from './dom.js';
import {feedView, loadTimeline, resetTimeline} from './feed.js';
import {relTime, visible} from './format.js';
import {jobsView, jobView} from './jobs.js';
import {mount} from './lifecycle.js';
import {onLiveState, startLive, stopLive} from './live.js';
import {pairEntry} from './pairentry.js';
import {renewPush} from './push.js';
import {runView} from './run.js';
import {settingsView} from './settings.js';

const view = document.getElementById('view');
// The one list of the app's own paths: the server reads these patterns
// (internal/web/routes.go) to serve the shell for exactly them and hands
// them to the service worker. One per line, each anchored with ^ and $.
const ROUTES = [
  [/^\/$/, 'feed', 'Feed', feedView],
  [/^\/jobs$/, 'jobs', 'Jobs', jobsView],
  [/^\/jobs\/(.+)$/, 'jobs', null, jobView],
  [/^\/runs\/(\d{1,19})$/, 'feed', 'Run', runView],
  [/^\/settings$/, 'settings', 'Settings', settingsView],
];
const isAppPath = (p) => ROUTES.some(([re]) => re.test(p));

// Every screen is mounted through lifecycle.js; unmounting the current one
// ends its fetches, listeners, timers and subscriptions.
let unmount = () => {};
let paired = false;

function render({focus = false} = {}) {
  if (!paired) return;
  unmount();
  unmount = () => {};
  const path = location.pathname;
  const [re, tab, title, fn] = ROUTES.find(([r]) => r.test(path)) || [];
  for (const a of document.querySelectorAll('#tabs a')) {
    if (a.dataset.tab === tab) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  view.setAttribute('aria-busy', 'true');
  if (!fn) {
    document.title = 'Not found · Observable Code';
    view.replaceChildren(h('h1', {tabindex: '-1', text: 'Nothing here'}), h('p', null, h('a', {href: '/', text: 'Open the feed'})));
    view.removeAttribute('aria-busy');
  } else {
    const m = path.match(re);
    let arg = m[1];
    try {
      arg = arg != null ? decodeURIComponent(arg) : undefined;
    } catch {
      // A malformed escape: show the name as it is written.
    }
    document.title = `${title || visible(arg)} · Observable Code`;
    unmount = mount(fn, view, {arg, params: new URLSearchParams(location.search), navigate});
  }
  // A new screen takes focus at its heading, so screen readers announce it
  // and keyboard users start at the top; Back returns to where the reader was.
  if (focus) {
    const h1 = view.querySelector('h1');
    if (h1) h1.focus({preventScroll: true});
    window.scrollTo(0, (history.state && history.state.scroll) || 0);
  }
}

history.scrollRestoration = 'manual';

export function navigate(url, {replace = false, keepFocus = false} = {}) {
  const state = history.state || {};
  const depth = state.depth || 0;
  if (replace) {
    history.replaceState({depth}, '', url);
  } else {
    history.replaceState({...state, scroll: window.scrollY}, '');
    history.pushState({depth: depth + 1}, '', url);
  }
  render({focus: !keepFocus});
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || a.target) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin || !isAppPath(url.pathname) || !paired) return;
  e.preventDefault();
  // "Back" returns to where the user came from, when that was in the app.
  if (a.hasAttribute('data-back') && history.state && history.state.depth > 0) history.back();
  else navigate(url.pathname + url.search);
});
window.addEventListener('popstate', () => render({focus: true}));

// The header says whether the feed is live.
const conn = document.getElementById('conn');
const connText = document.getElementById('conn-text');
let liveState = 'connecting';
let stale = false;
function showConn() {
  const state = stale ? 'offline' : liveState;
  conn.dataset.state = state;
  connText.textContent = stale ? 'Offline · saved data' : {live: 'Live', connecting: 'Connecting…', offline: 'Offline'}[state];
}
onLiveState((s) => {
  liveState = s;
  // A live stream means the server answers again; the stream fills the gap.
  if (s === 'live') stale = false;
  showConn();
});
bus.addEventListener('stale', (e) => { stale = e.detail; showConn(); });

function notPaired() {
  paired = false;
  stopLive();
  forgetDevice();
  resetTimeline();
  unmount();
  unmount = () => {};
  if ('caches' in window) caches.delete('api').catch(() => {});
  document.body.classList.add('unpaired');
  document.title = 'Pair this phone · Observable Code';
  view.removeAttribute('aria-busy');
  view.replaceChildren(h('div', {class: 'hero', id: 'not-paired'},
    h('h1', {tabindex: '-1', text: 'This phone is not paired'}),
    h('p', {text: 'Pair it with your computer to see your jobs here and be told when they fail.'}),
    h('ol', {class: 'steps'},
      h('li', null, 'On your computer, run ', h('code', {text: 'observable setup'}), ' the first time, or ', h('code', {text: 'observable pair'}), ' to add this phone.'),
      h('li', {text: 'Scan the QR code it shows with this phone\'s camera, or paste its link below.'}),
      h('li', {text: 'Tap "Pair this phone" on the page that opens.'})),
    h('p', null, h('button', {type: 'button', class: 'button', text: 'I have paired: check again', onclick: () => location.reload()})),
    pairEntry()));
  view.querySelector('h1').focus({preventScroll: true});
}

bus.addEventListener('unpaired', notPaired);

function offlineScreen(message) {
  view.removeAttribute('aria-busy');
  view.replaceChildren(h('h1', {tabindex: '-1', text: 'Cannot reach the server'}),
    h('p', {text: message}),
    h('p', null, h('button', {type: 'button', class: 'button', text: 'Try again', onclick: () => location.reload()})));
}

function registerWorker() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  // The page's CSP requires Trusted Types for script URLs; this policy lets
  // exactly one through.
  const url = window.trustedTypes
    ? window.trustedTypes.createPolicy('sw', {
      createScriptURL: (u) => {
        if (u !== '/sw.js') throw new TypeError(`unexpected worker URL ${u}`);
        return u;
      },
    }).createScriptURL('/sw.js')
    : '/sw.js';
  navigator.serviceWorker.register(url, {scope: '/', updateViaCache: 'none'}).catch(() => {
    // Without it the app still works online; offline use and push do not.
  });
  // A tapped notification asks an open app to show the run.
  navigator.serviceWorker.addEventListener('message', (e) => {
    const d = e.data || {};
    if (d.type === 'open' && typeof d.url === 'string' && d.url.startsWith('/')) navigate(d.url);
  });
}

setInterval(() => {
  for (const t of document.querySelectorAll('time[data-rel]')) t.textContent = relTime(t.dateTime);
}, 30000);

async function boot() {
  registerWorker();
  if (!history.state) history.replaceState({depth: 0}, '');
  try {
    const [, newest] = await Promise.all([loadDevice(), loadTimeline()]);
    paired = true;
    document.body.classList.remove('unpaired');
    render();
    startLive(newest);
    renewPush();
    // An installed app is mostly resumed, not reopened: renew then too.
    let renewed = Date.now();
    document.addEventListener('visibilitychange', () => {
      if (paired && document.visibilityState === 'visible' && Date.now() - renewed > 10 * 60 * 1000) {
        renewed = Date.now();
        renewPush();
      }
    });
  } catch (e) {
    if (e.status === 401) return; // the not-paired screen is up
    offlineScreen(e.message);
  }
}

boot();

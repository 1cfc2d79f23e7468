// The one live stream of the app. Screens subscribe to its events; the
// header shows its state. EventSource reconnects by itself after a drop and
// resumes with Last-Event-ID; when the server refuses it outright (a 401,
// a restart), we start a new one from the last seq we saw.
import {api} from './api.js';

const listeners = new Set();
const stateListeners = new Set();
let source = null;
let last = 0;
let state = 'connecting';
let retry = 0;
let retryTimer = 0;
let running = false;

function setState(next) {
  if (next === state) return;
  state = next;
  for (const fn of stateListeners) fn(state);
}

/** Subscribe to live events; returns the unsubscribe function. */
export function onLiveEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function onLiveState(fn) {
  stateListeners.add(fn);
  fn(state);
  return () => stateListeners.delete(fn);
}

/** Start streaming events after seq `after` (the newest one already shown). */
export function startLive(after) {
  last = Math.max(last, after || 0);
  running = true;
  connect();
}

export function stopLive() {
  running = false;
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
}

function connect() {
  clearTimeout(retryTimer);
  if (source) source.close();
  setState(navigator.onLine === false ? 'offline' : 'connecting');
  const es = new EventSource(`/api/v1/events/stream?after=${last}`);
  source = es;
  es.onopen = () => {
    retry = 0;
    setState('live');
  };
  es.addEventListener('event', (msg) => {
    let ev;
    try {
      ev = JSON.parse(msg.data);
    } catch {
      return;
    }
    if (!ev || typeof ev.seq !== 'number' || ev.seq <= last) return;
    last = ev.seq;
    for (const fn of listeners) fn(ev);
  });
  es.onerror = () => {
    if (es !== source) return;
    if (es.readyState === EventSource.CLOSED) {
      setState('offline');
      scheduleReconnect();
    } else {
      setState(navigator.onLine === false ? 'offline' : 'connecting');
    }
  };
}

// After a refusal, ask the API why before trying again: a 401 there shows
// the not-paired screen (api.js raises it); anything else backs off.
function scheduleReconnect() {
  clearTimeout(retryTimer);
  const wait = Math.min(30000, 1000 * 2 ** retry++) * (0.75 + Math.random() / 2);
  retryTimer = setTimeout(async () => {
    if (!running) return;
    try {
      await api('/api/v1/device');
    } catch (e) {
      if (e.status === 401) return;
    }
    if (running) connect();
  }, wait);
}

function revive() {
  if (running && (!source || source.readyState === EventSource.CLOSED)) connect();
}
window.addEventListener('online', revive);
window.addEventListener('offline', () => setState('offline'));
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') revive();
});

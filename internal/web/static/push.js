// Web Push on this phone: the permission prompt only ever follows a tap,
// and the subscription is renewed whenever the app opens (iOS drops them).
import {api} from './api.js';

const WANT = 'observable.push';

export const isIOS = () => /iPhone|iPad|iPod/.test(navigator.userAgent) ||
  (navigator.platform === 'MacIntel' && navigator.maxTouchPoints > 1);
export const isStandalone = () => matchMedia('(display-mode: standalone)').matches || navigator.standalone === true;

/** Why push cannot work here, in words, or '' when it can. */
export function pushBlocker() {
  if (!window.isSecureContext) {
    return 'Notifications need this app on HTTPS; it was opened over plain HTTP. Ask whoever runs the server to serve it over HTTPS (see the pairing page), then pair again.';
  }
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
    if (isIOS() && !isStandalone()) {
      return 'On iPhone, notifications work only in the installed app: tap Share, then Add to Home Screen, and open Observable from your Home Screen.';
    }
    return 'This browser cannot show web notifications. Try Chrome, Edge, Firefox or Safari.';
  }
  if (Notification.permission === 'denied') {
    return 'Notifications are blocked for this site. Allow them in the browser\'s site settings (or the phone\'s settings for this app), then turn them on here.';
  }
  return '';
}

export const wantsPush = () => localStorage.getItem(WANT) === 'on';

function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function sameKey(sub, key) {
  const k = sub.options && sub.options.applicationServerKey;
  if (!k) return false;
  const a = new Uint8Array(k);
  return a.length === key.length && a.every((v, i) => v === key[i]);
}

// Subscribes (again) with the server's current key and tells the server.
async function subscribe() {
  const {vapid_public_key: vapid} = await api('/api/v1/push/key');
  if (!vapid) throw new Error('This server has no push key yet, so it cannot send notifications. Try again after it is updated.');
  const key = keyBytes(vapid);
  const reg = await navigator.serviceWorker.ready;
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub, key)) {
    await sub.unsubscribe();
    sub = null;
  }
  if (!sub) sub = await reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: key});
  await api('/api/v1/device/push', {method: 'PUT', body: sub.toJSON()});
}

/** Turns push on; call it from a tap, since it may ask for permission. */
export async function enablePush() {
  const blocker = pushBlocker();
  if (blocker) throw new Error(blocker);
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    throw new Error(permission === 'denied' ? pushBlocker() : 'Notifications stay off: the permission was not given.');
  }
  localStorage.setItem(WANT, 'on');
  try {
    await subscribe();
  } catch (e) {
    localStorage.removeItem(WANT);
    throw new Error(e.name === 'AbortError' || e.name === 'NotAllowedError'
      ? 'The browser\'s push service refused the subscription. Check the connection and try again.'
      : e.message, {cause: e});
  }
}

export async function disablePush() {
  localStorage.removeItem(WANT);
  if ('serviceWorker' in navigator) {
    const reg = await navigator.serviceWorker.getRegistration();
    const sub = reg && await reg.pushManager.getSubscription();
    if (sub) await sub.unsubscribe();
  }
  await api('/api/v1/device/push', {method: 'DELETE'});
}

/** On app open: renew the subscription the user asked for, silently. */
export async function renewPush() {
  if (!wantsPush() || pushBlocker() || Notification.permission !== 'granted') return;
  try {
    await subscribe();
  } catch {
    // The settings screen shows the state; a failed renewal retries next open.
  }
}

// Calls to the server's JSON API, with the contract's errors as ApiError.
// The device token travels as an HttpOnly cookie; fetch sends it, and the
// Origin header that state-changing calls need, by itself.

export class ApiError extends Error {
  constructor(status, code, message, field = '') {
    super(message);
    this.status = status;
    this.code = code;
    // The input the error is about ("url"), when the server names one.
    this.field = field;
  }
}

/** App-wide signals: "unpaired" (a 401), "stale" (detail: served from the offline copy). */
export const bus = new EventTarget();

export async function api(path, {method = 'GET', body} = {}) {
  const init = {method, credentials: 'same-origin', cache: 'no-store'};
  if (body !== undefined) {
    init.headers = {'Content-Type': 'application/json'};
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'offline', 'Cannot reach the server. Check this phone\'s connection; the app retries by itself.');
  }
  bus.dispatchEvent(new CustomEvent('stale', {detail: res.headers.get('X-Observable-Offline') === '1'}));
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    // Not JSON: a proxy's error page, say. The status tells enough.
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    if (res.status === 401) bus.dispatchEvent(new Event('unpaired'));
    throw new ApiError(res.status, e.code || `http_${res.status}`, e.message || `The server answered ${res.status}. Try again in a moment.`, e.field || '');
  }
  return data;
}

// The device's settings, read once and kept current by updateDevice.
let device = null;

function keep(d) {
  device = {...d, muted: d.muted || []};
  return device;
}

export async function loadDevice() {
  return keep(await api('/api/v1/device'));
}

export const currentDevice = () => device;

export async function updateDevice(patch) {
  return keep(await api('/api/v1/device', {method: 'PATCH', body: patch}));
}

export function forgetDevice() {
  device = null;
}

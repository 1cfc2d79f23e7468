// Words and numbers for times, durations and statuses.
const rtf = new Intl.RelativeTimeFormat(undefined, {numeric: 'auto', style: 'short'});
const whenFmt = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'medium'});
const dayFmt = new Intl.DateTimeFormat(undefined, {month: 'short', day: 'numeric'});

/** When an event happened: its own timestamp, else when it arrived. */
export const whenOf = (ev) => ev.timestamp || ev.received_at;

export function relTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const sec = (t - now) / 1000, abs = Math.abs(sec);
  if (abs < 45) return 'just now';
  if (abs < 3600) return rtf.format(Math.round(sec / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(sec / 3600), 'hour');
  if (abs < 7 * 86400) return rtf.format(Math.round(sec / 86400), 'day');
  return dayFmt.format(t);
}

export function absTime(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : whenFmt.format(t);
}

export function duration(ms) {
  if (ms == null || !Number.isFinite(ms)) return '';
  if (ms < 1) return '<1 ms';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const sec = ms / 1000;
  if (sec < 10) return `${sec.toFixed(1)} s`;
  if (sec < 60) return `${Math.round(sec)} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min ${Math.round(sec - min * 60)} s`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

export function percent(part, whole) {
  if (!whole) return '–';
  const p = (part / whole) * 100;
  return `${p > 99 && p < 100 ? p.toFixed(1) : Math.round(p)}%`;
}

/** Status shown with a class (colour), an icon and a word. */
export function statusInfo(status) {
  if (status === 'completed') return {cls: 'st-completed', icon: 'check', label: 'Completed'};
  if (status === 'failed') return {cls: 'st-failed', icon: 'cross', label: 'Failed'};
  const word = String(status || 'unknown').replaceAll('_', ' ');
  return {cls: 'st-other', icon: 'dot', label: word.charAt(0).toUpperCase() + word.slice(1)};
}

export const firstLine = (text) => String(text ?? '').split('\n', 1)[0];

// Characters that reorder or hide text: bidirectional embeddings, overrides
// and isolates, zero-width spaces and joiners, direction marks, the word
// joiner and the byte-order mark. In event data they make one job look like
// another, or text say what it does not ("sync \u202Edeliaf" shows as
// "sync failed"), so the app shows each as a marker instead of obeying it.
const INVISIBLE = /[\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]/g;

/** text with every invisible control shown as a marker such as ⟨U+202E⟩. */
export function visible(text) {
  return String(text ?? '').replace(INVISIBLE, (c) => `⟨U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

/** A metadata value as text: strings as they are, the rest as JSON. */
export function valueText(v) {
  return typeof v === 'string' ? v : JSON.stringify(v, null, 1);
}

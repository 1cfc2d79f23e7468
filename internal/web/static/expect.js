// Words for a job's state, expectation and incidents, and the editor's
// values turned into an EXPECT and back. Pure: no DOM, no fetches, so the
// unit tests (internal/web/_dev/test/expect.test.js) cover all of it.
import {duration, whenOf} from './format.js';

// Problems first: they are why the user opened the app. An unknown state
// (the contract allows more) sorts with the healthy ones and shows its word.
const STATES = {
  missed: {rank: 0, cls: 'js-bad', label: 'Missed', problem: true},
  overdue: {rank: 1, cls: 'js-bad', label: 'Overdue', problem: true},
  failing: {rank: 2, cls: 'js-bad', label: 'Failing', problem: true},
  running: {rank: 3, cls: 'js-run', label: 'Running'},
  up: {rank: 4, cls: 'js-ok', label: 'Up'},
  new: {rank: 5, cls: 'js-new', label: 'New'},
  paused: {rank: 6, cls: 'js-off', label: 'Paused'},
};

/**
 * A job's state: the server's `state`, or on a server without the job
 * model, what its last event says (a failure is "failing").
 */
export function stateOf(job) {
  if (job && typeof job.state === 'string' && job.state) return job.state;
  const st = job && job.last && job.last.status;
  return st === 'failed' ? 'failing' : st === 'started' ? 'running' : 'up';
}

export function stateInfo(state) {
  const known = Object.hasOwn(STATES, state) ? STATES[state] : null;
  if (known) return {state, ...known, problem: !!known.problem};
  const word = String(state || 'unknown').replaceAll('_', ' ');
  return {state, rank: 4, cls: 'js-other', label: word.charAt(0).toUpperCase() + word.slice(1), problem: false};
}

const when = (j) => Date.parse((j.last && whenOf(j.last)) || '') || 0;

/** Sort order of the jobs list: problems first, then the most recently run. */
export function byProblem(a, b) {
  const ra = stateInfo(stateOf(a)).rank, rb = stateInfo(stateOf(b)).rank;
  return ra !== rb ? ra - rb : when(b) - when(a);
}

export const SOURCES = {learned: 'Learned from its runs', code: 'Declared in its code', user: 'Set by you'};
export const sourceWords = (src) => SOURCES[src] || (src ? `From ${src}` : '');

const UNITS = [['days', 86400], ['hours', 3600], ['minutes', 60]];

/** every_s as {n, unit} with the largest unit that divides it. */
export function splitEvery(sec) {
  for (const [unit, s] of UNITS) {
    if (sec >= s && sec % s === 0) return {n: sec / s, unit};
  }
  return {n: Math.max(1, Math.round(sec / 60)), unit: 'minutes'};
}

function everyWords(sec) {
  const {n, unit} = splitEvery(sec);
  return n === 1 ? `every ${unit.slice(0, -1)}` : `every ${n} ${unit}`;
}

/** The usual duration range in words: "usually 3–4 s". */
export function usualWords(usual) {
  if (!Array.isArray(usual) || usual.length !== 2 || !usual.every(Number.isFinite)) return '';
  const [lo, hi] = usual.map(duration);
  return lo === hi ? `usually ${lo}` : `usually ${lo}–${hi}`;
}

/**
 * The expectation in words. The server's own `description` when it sends
 * one (it knows the calendar rhythm), else built from the fields.
 */
export function expectWords(e) {
  if (!e) return 'Nothing is expected of this job: it alerts only when a run fails.';
  if (typeof e.description === 'string' && e.description) return e.description;
  const parts = [];
  if (Number.isFinite(e.every_s) && e.every_s > 0) parts.push(everyWords(e.every_s));
  else if (typeof e.cron === 'string' && e.cron) parts.push(`on the schedule “${e.cron}”${e.tz ? ` (${e.tz})` : ''}`);
  const usual = usualWords(e.usual_ms);
  if (usual) parts.push(usual);
  else if (Number.isFinite(e.typical_ms)) parts.push(`typically ${duration(e.typical_ms)}`);
  return parts.join(', ') || 'an expectation this app cannot put in words';
}

/** The details under the words: grace, bounds, alert threshold. */
export function expectDetails(e) {
  if (!e) return [];
  const out = [];
  if (Number.isFinite(e.grace_s) && e.grace_s > 0) out.push(`up to ${duration(e.grace_s * 1000)} late is fine`);
  if (Number.isFinite(e.max_duration_ms)) out.push(`overdue after ${duration(e.max_duration_ms)}`);
  if (Number.isFinite(e.min_duration_ms)) out.push(`too fast under ${duration(e.min_duration_ms)}`);
  if (Number.isInteger(e.alert_after) && e.alert_after > 1) out.push(`alerts after ${e.alert_after} failures in a row`);
  return out;
}

export const KINDS = {
  failed: 'Failing', missed: 'Missed a run', overdue: 'A run is overdue', slow: 'Too slow', fast: 'Too fast',
};

/** An incident's kind in words; an unknown kind shown as it is. */
export function kindWords(kind) {
  return KINDS[kind] || String(kind || 'incident').replaceAll('_', ' ');
}

/** How long an incident lasted (or has lasted), and its failed runs. */
export function incidentWords(inc, now = Date.now()) {
  const from = Date.parse(inc.opened_at);
  const to = inc.closed_at ? Date.parse(inc.closed_at) : now;
  const parts = [];
  if (Number.isFinite(from) && Number.isFinite(to) && to >= from) {
    parts.push(`${inc.closed_at ? 'lasted' : 'open for'} ${duration(Math.max(1000, to - from))}`);
  }
  if (Number.isInteger(inc.runs) && inc.runs > 0) parts.push(`${inc.runs} ${inc.runs === 1 ? 'run' : 'runs'}`);
  return parts.join(', ');
}

/** "snoozed for 3 h 10 min" while a snooze lasts, else ''. */
export function snoozeWords(until, now = Date.now()) {
  const t = Date.parse(until || '');
  return Number.isFinite(t) && t > now ? `Snoozed for ${duration(t - now)} more` : '';
}

const DUR = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$/i;
const MULT = {ms: 0.001, s: 1, m: 60, min: 60, h: 3600, d: 86400};

/** "90s", "15m", "2h", "1d" or a bare number of seconds, as seconds; NaN if not one. */
export function parseSeconds(text) {
  const m = DUR.exec(String(text ?? ''));
  if (!m) return NaN;
  return Number(m[1]) * MULT[(m[2] || 's').toLowerCase()];
}

/** Seconds as the shortest string parseSeconds reads back: 5400 → "90m". */
export function secondsText(sec) {
  if (!Number.isFinite(sec)) return '';
  for (const [u, s] of [['d', 86400], ['h', 3600], ['m', 60]]) {
    if (sec >= s && sec % s === 0) return `${sec / s}${u}`;
  }
  return Number.isInteger(sec) ? `${sec}s` : `${Math.round(sec * 1000)}ms`;
}

/** The editor's starting values for an expectation (or none). */
export function formValues(e, tz = 'UTC') {
  const v = {kind: 'every', n: '1', unit: 'days', cron: '', tz, grace: '', max: '', min: '', alertAfter: '1'};
  if (!e) return v;
  if (typeof e.cron === 'string' && e.cron) {
    v.kind = 'cron';
    v.cron = e.cron;
    v.tz = e.tz || tz;
  } else if (Number.isFinite(e.every_s) && e.every_s > 0) {
    const {n, unit} = splitEvery(e.every_s);
    v.n = String(n);
    v.unit = unit;
  }
  if (Number.isFinite(e.grace_s)) v.grace = secondsText(e.grace_s);
  if (Number.isFinite(e.max_duration_ms)) v.max = secondsText(e.max_duration_ms / 1000);
  if (Number.isFinite(e.min_duration_ms)) v.min = secondsText(e.min_duration_ms / 1000);
  if (Number.isInteger(e.alert_after)) v.alertAfter = String(e.alert_after);
  return v;
}

const UNIT_S = Object.fromEntries(UNITS);

/**
 * The editor's values as an EXPECT for PATCH /api/v1/jobs/{name}, or
 * {error, field} naming what to fix. The server checks it again (the cron
 * line and time zone fully); this catches typing slips before a round trip.
 */
export function buildExpect(v) {
  const out = {};
  if (v.kind === 'cron') {
    const cron = String(v.cron || '').trim().replace(/\s+/g, ' ');
    if (cron.split(' ').length !== 5) {
      return {field: 'cron', error: 'A cron line has 5 fields: minute hour day-of-month month day-of-week, e.g. "0 3 * * *".'};
    }
    const tz = String(v.tz || '').trim();
    if (!tz) return {field: 'tz', error: 'Give the time zone the schedule is in, e.g. "Europe/Berlin" or "UTC".'};
    out.cron = cron;
    out.tz = tz;
  } else {
    const n = Number(v.n);
    if (!Number.isInteger(n) || n < 1 || !UNIT_S[v.unit]) return {field: 'n', error: 'Give a whole number of minutes, hours or days, 1 or more.'};
    out.every_s = n * UNIT_S[v.unit];
    if (out.every_s < 60 || out.every_s > 31 * 86400) return {field: 'n', error: 'A job can be expected from every minute to every 31 days.'};
  }
  for (const [key, field, name, scale] of [['grace_s', 'grace', 'Grace', 1], ['max_duration_ms', 'max', 'Longest run', 1000], ['min_duration_ms', 'min', 'Shortest run', 1000]]) {
    const text = String(v[field] ?? '').trim();
    if (!text) continue;
    const sec = parseSeconds(text);
    if (!Number.isFinite(sec) || sec <= 0) return {field, error: `${name}: write a length such as "90s", "15m", "2h" or "1d".`};
    out[key] = Math.round(sec * scale);
  }
  if (out.max_duration_ms != null && out.min_duration_ms != null && out.min_duration_ms >= out.max_duration_ms) {
    return {field: 'min', error: 'The shortest run must be shorter than the longest.'};
  }
  const after = String(v.alertAfter ?? '').trim();
  if (after) {
    const a = Number(after);
    if (!Number.isInteger(a) || a < 1 || a > 100) return {field: 'alertAfter', error: 'Alert after 1 to 100 failed runs in a row.'};
    if (a > 1) out.alert_after = a;
  }
  return {expect: out};
}

/** The declared part of an expectation (what PATCH takes), e.g. to confirm a learned one. */
export function declared(e) {
  const out = {};
  for (const k of ['every_s', 'cron', 'tz', 'grace_s', 'max_duration_ms', 'min_duration_ms', 'alert_after']) {
    if (e && e[k] != null) out[k] = e[k];
  }
  return out;
}

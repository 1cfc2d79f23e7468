import assert from 'node:assert/strict';
import {test} from 'node:test';
import {
  buildExpect, byProblem, declared, expectDetails, expectWords, formValues, incidentWords, kindWords,
  parseSeconds, secondsText, snoozeWords, sourceWords, splitEvery, stateInfo, stateOf, usualWords,
} from '../../static/expect.js';

const job = (name, state, agoMin, status = 'completed') => ({
  name, state, last: {status, timestamp: new Date(Date.now() - agoMin * 60000).toISOString()},
});

test('problems first (missed, overdue, failing), then running, up, new, paused; newest first within each', () => {
  const jobs = [job('p', 'paused', 1), job('u2', 'up', 5), job('n', 'new', 1), job('r', 'running', 9),
    job('f', 'failing', 30, 'failed'), job('u1', 'up', 2), job('o', 'overdue', 50), job('m', 'missed', 600)];
  assert.deepEqual(jobs.sort(byProblem).map((j) => j.name), ['m', 'o', 'f', 'r', 'u1', 'u2', 'n', 'p']);
});

test('a server without the job model: state from the last status, failures first as before', () => {
  assert.equal(stateOf({last: {status: 'failed'}}), 'failing');
  assert.equal(stateOf({last: {status: 'started'}}), 'running');
  assert.equal(stateOf({last: {status: 'completed'}}), 'up');
  const jobs = [job('a', undefined, 1), job('b', undefined, 60, 'failed')];
  assert.deepEqual(jobs.sort(byProblem).map((j) => j.name), ['b', 'a']);
});

test('an unknown state is shown plainly, never an error', () => {
  const st = stateInfo('cooling_down');
  assert.equal(st.label, 'Cooling down');
  assert.equal(st.problem, false);
  assert.equal(stateInfo('missed').problem, true);
  assert.equal(stateInfo('paused').label, 'Paused');
  assert.equal(kindWords('weird_kind'), 'weird kind');
  assert.equal(kindWords('missed'), 'Missed a run');
});

test('the expectation in words: the server\'s description first, else built from its fields', () => {
  assert.equal(expectWords({source: 'learned', cron: '0 3 * * *', tz: 'UTC', description: 'every day around 03:00, usually 3–4 s'}),
    'every day around 03:00, usually 3–4 s');
  assert.equal(expectWords({every_s: 3600, usual_ms: [3000, 4000]}), 'every hour, usually 3.0 s–4.0 s');
  assert.equal(expectWords({every_s: 900}), 'every 15 minutes');
  assert.equal(expectWords({cron: '0 3 * * 1-5', tz: 'Europe/Berlin', typical_ms: 1500}), 'on the schedule “0 3 * * 1-5” (Europe/Berlin), typically 1.5 s');
  assert.match(expectWords(null), /Nothing is expected/);
  assert.equal(usualWords([1, 'x']), '');
  assert.deepEqual(expectDetails({grace_s: 600, max_duration_ms: 3600000, alert_after: 3}),
    ['up to 10 min 0 s late is fine', 'overdue after 1 h 0 min', 'alerts after 3 failures in a row']);
  assert.equal(sourceWords('learned'), 'Learned from its runs');
  assert.equal(sourceWords('code'), 'Declared in its code');
  assert.equal(sourceWords('user'), 'Set by you');
});

test('durations as people write them', () => {
  assert.equal(parseSeconds('90s'), 90);
  assert.equal(parseSeconds('15m'), 900);
  assert.equal(parseSeconds('2h'), 7200);
  assert.equal(parseSeconds('1d'), 86400);
  assert.equal(parseSeconds(' 45 '), 45);
  assert.equal(parseSeconds('500ms'), 0.5);
  assert.ok(Number.isNaN(parseSeconds('soon')));
  assert.ok(Number.isNaN(parseSeconds('-5m')));
  for (const s of [90, 900, 7200, 86400, 45, 0.25]) assert.equal(parseSeconds(secondsText(s)), s);
  assert.deepEqual(splitEvery(7 * 86400), {n: 7, unit: 'days'});
  assert.deepEqual(splitEvery(5400), {n: 90, unit: 'minutes'});
});

test('the editor round-trips an expectation', () => {
  for (const e of [
    {every_s: 86400, grace_s: 900, max_duration_ms: 3600000, min_duration_ms: 30000, alert_after: 3},
    {every_s: 300},
    {cron: '0 3 * * *', tz: 'Europe/Berlin', grace_s: 1800},
  ]) {
    assert.deepEqual(buildExpect(formValues(e)), {expect: e});
  }
  // A learned one, confirmed: only what PATCH takes.
  assert.deepEqual(declared({source: 'learned', every_s: 60, grace_s: 20, typical_ms: 5, usual_ms: [1, 9], next_due_at: 'x', description: 'd'}),
    {every_s: 60, grace_s: 20});
  assert.deepEqual(formValues(null, 'Asia/Tokyo').tz, 'Asia/Tokyo');
});

test('the editor names the field to fix', () => {
  const base = formValues(null);
  assert.equal(buildExpect({...base, n: '0'}).field, 'n');
  assert.equal(buildExpect({...base, n: '1.5'}).field, 'n');
  assert.equal(buildExpect({...base, n: '40', unit: 'days'}).field, 'n');
  assert.equal(buildExpect({...base, kind: 'cron', cron: '0 3 * *'}).field, 'cron');
  assert.equal(buildExpect({...base, kind: 'cron', cron: '0 3 * * *', tz: ' '}).field, 'tz');
  assert.equal(buildExpect({...base, grace: 'later'}).field, 'grace');
  assert.equal(buildExpect({...base, max: '1m', min: '2m'}).field, 'min');
  assert.equal(buildExpect({...base, alertAfter: '0'}).field, 'alertAfter');
  assert.deepEqual(buildExpect({...base, kind: 'cron', cron: ' 0  3 * *   1-5 ', tz: 'UTC'}), {expect: {cron: '0 3 * * 1-5', tz: 'UTC'}});
});

test('incidents and snoozes in words', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  assert.equal(incidentWords({kind: 'failed', opened_at: '2026-12-01T08:48:00Z', closed_at: '2026-12-01T12:00:00Z', runs: 4}, now),
    'lasted 3 h 12 min, 4 runs');
  assert.equal(incidentWords({kind: 'missed', opened_at: '2026-12-01T11:30:00Z', runs: 0}, now), 'open for 30 min 0 s');
  assert.equal(snoozeWords('2026-12-01T13:00:00Z', now), 'Snoozed for 1 h 0 min more');
  assert.equal(snoozeWords('2026-12-01T11:00:00Z', now), '');
  assert.equal(snoozeWords(null, now), '');
});

import assert from 'node:assert/strict';
import {test} from 'node:test';
import {CAP, Timeline} from '../../static/timeline.js';

const ev = (seq) => ({seq, name: 'job', status: 'completed'});
const seqs = (t, limit) => t.newest(limit).map((e) => e.seq);
// A page as the API sends it: newest first, `before` exclusive.
const page = (before, n) => Array.from({length: n}, (_, i) => ev(before - 1 - i));

test('live events go on top, newest first, without duplicates', () => {
  const t = new Timeline(5);
  t.addOlder(page(4, 3), null);
  assert.deepEqual(t.addNewest(ev(4)), []);
  assert.equal(t.addNewest(ev(4)), null, 'a second copy is refused');
  assert.deepEqual(seqs(t), [4, 3, 2, 1]);
  assert.ok(t.has(4) && !t.has(9));
});

test('past the cap the oldest go, and the cursor points at them again', () => {
  const t = new Timeline(3);
  t.addOlder(page(11, 3), null);
  assert.deepEqual(seqs(t), [10, 9, 8]);
  assert.equal(t.next, null);
  const dropped = t.addNewest(ev(11));
  assert.deepEqual(dropped.map((e) => e.seq), [8]);
  assert.deepEqual(seqs(t), [11, 10, 9]);
  assert.equal(t.next, 9, 'an older page before 9 brings 8 back');
  assert.ok(t.full);
});

test('older pages fill only up to the cap', () => {
  const t = new Timeline(4);
  assert.deepEqual(t.addOlder(page(100, 3), 97).map((e) => e.seq), [99, 98, 97]);
  assert.equal(t.next, 97);
  assert.deepEqual(t.addOlder(page(97, 3), 94).map((e) => e.seq), [96]);
  assert.equal(t.next, 96, 'the page did not fit: the cursor stays at the oldest kept');
  assert.deepEqual(seqs(t), [99, 98, 97, 96]);
  assert.deepEqual(seqs(t, 2), [99, 98]);
});

test('a repeated page adds nothing and keeps its cursor', () => {
  const t = new Timeline(10);
  t.addOlder(page(10, 3), 7);
  assert.deepEqual(t.addOlder(page(10, 3), 7), []);
  assert.equal(t.size, 3);
  assert.equal(t.next, 7);
});

test('a day of live events keeps memory bounded and costs O(1) each', () => {
  const t = new Timeline();
  const n = 200_000;
  const start = process.hrtime.bigint();
  for (let seq = 1; seq <= n; seq++) t.addNewest(ev(seq));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.equal(t.size, CAP);
  assert.ok(t.buf.length <= 2 * CAP, `the buffer holds ${t.buf.length} slots`);
  assert.equal(t.seqs.size, CAP);
  assert.deepEqual(seqs(t, 2), [n, n - 1]);
  assert.equal(t.newest().at(-1).seq, n - CAP + 1);
  // A rescan per event would take seconds here (n × CAP steps).
  assert.ok(ms < 1000, `${n} live events took ${ms} ms`);
});

test('clear empties it', () => {
  const t = new Timeline(3);
  t.addOlder(page(5, 2), 3);
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(t.next, null);
  assert.ok(!t.has(4));
});

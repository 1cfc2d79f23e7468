import assert from 'node:assert/strict';
import {test} from 'node:test';
import {byClass, byTag} from './fakedom.js';
import {durationChart, MAX_BARS} from '../../static/chart.js';

const run = (seq, status, ms) => ({seq, status, duration_ms: ms, received_at: new Date(Date.now() - seq * 60000).toISOString()});

test('one bar per run, failures red and marked, up to MAX_BARS', () => {
  const runs = Array.from({length: MAX_BARS + 15}, (_, i) => run(1000 - i, i % 10 === 3 ? 'failed' : 'completed', 100 + i));
  const fig = durationChart(runs, {p50: 120});
  const svg = byTag(fig, 'svg')[0];
  const bars = svg.findAll((e) => e.tagName === 'G' && e.getAttribute('data-seq'));
  assert.equal(bars.length, MAX_BARS);
  const failed = bars.filter((g) => g.getAttribute('data-status') === 'failed').length;
  assert.equal(byClass(svg, 'bar-fail').length, failed);
  assert.equal(byClass(svg, 'mark').length, failed, 'a cross on every failed bar: not colour alone');
  assert.match(svg.getAttribute('aria-label'), new RegExp(`last ${MAX_BARS} runs, oldest first: ${failed} failed`));
  assert.equal(byClass(svg, 'median').length, 1);
  // Oldest on the left: the newest run is the last bar.
  assert.equal(bars.at(-1).getAttribute('data-seq'), '1000');
});

test('a bar is never taller than the plot, and short runs still show', () => {
  const fig = durationChart([run(2, 'completed', 0), run(1, 'completed', 5000)]);
  for (const rect of byClass(fig, 'bar-ok')) {
    assert.ok(Number(rect.getAttribute('height')) >= 2, 'a zero-length run gets a sliver');
    assert.ok(Number(rect.getAttribute('y')) >= 16);
  }
});

test('without durations it says so instead of drawing', () => {
  const p = durationChart([{seq: 1, status: 'completed', received_at: new Date().toISOString()}]);
  assert.equal(p.tagName, 'P');
  assert.match(p.textContent, /No durations recorded yet/);
});

test('the usual band is shaded and runs outside it are marked, slow up and fast down', () => {
  const runs = [run(5, 'completed', 3500), run(4, 'completed', 200), run(3, 'completed', 9000), run(2, 'failed', 9500), run(1, 'completed', 3000)];
  const fig = durationChart(runs, {p50: 3200, band: [3000, 4000]});
  const svg = byTag(fig, 'svg')[0];
  assert.equal(byClass(svg, 'band').length, 1);
  const out = svg.findAll((e) => e.tagName === 'G' && e.getAttribute('data-outside'));
  assert.deepEqual(out.map((g) => [g.getAttribute('data-seq'), g.getAttribute('data-outside')]), [['3', 'slow'], ['4', 'fast']],
    'a failed run is marked as failed, not as slow');
  assert.equal(byClass(svg, 'mark-out').length, 2);
  assert.match(svg.getAttribute('aria-label'), /usually 3\.0 s to 4\.0 s, 2 runs outside that/);
  assert.equal(byClass(durationChart(runs, {band: [5, 'x']}), 'band').length, 0, 'a malformed band draws nothing');
  assert.equal(byClass(durationChart(runs), 'mark-out').length, 0);
});

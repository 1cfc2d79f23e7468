// A bar chart of a job's recent durations, oldest on the left. Failed runs
// are red and carry a cross above the bar, so they stand out without colour.
// The job's usual range (its learned band) is shaded; a completed run
// outside it carries a triangle, pointing up for slow, down for fast.
import {h, s} from './dom.js';
import {duration, relTime, statusInfo, whenOf} from './format.js';

const W = 340, H = 160, LEFT = 44, RIGHT = 6, TOP = 16, BOTTOM = 20;
export const MAX_BARS = 60;

// The smallest 1, 2 or 5 × 10^k at or above v.
function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((c) => c >= v);
}

/** [low, high] when band is a usable range of durations, else null. */
export function usualBand(band) {
  if (!Array.isArray(band) || band.length !== 2) return null;
  const [lo, hi] = band;
  return Number.isFinite(lo) && Number.isFinite(hi) && lo >= 0 && hi >= lo ? [lo, hi] : null;
}

/** 'slow', 'fast' or '' for a run against the usual band. */
export function outside(run, band) {
  if (!band || run.status !== 'completed' || run.duration_ms == null) return '';
  return run.duration_ms > band[1] ? 'slow' : run.duration_ms < band[0] ? 'fast' : '';
}

/**
 * runs are newest first; p50 draws the typical duration as a dashed line;
 * band ([low, high] in ms, the expectation's usual_ms) is shaded.
 */
export function durationChart(runs, {p50 = null, band = null, onPick = null} = {}) {
  const usual = usualBand(band);
  const data = runs.slice(0, MAX_BARS).reverse();
  const timed = data.filter((r) => r.duration_ms != null);
  if (!timed.length) return h('p', {class: 'muted', text: 'No durations recorded yet: runs that report a duration appear here.'});
  const failed = data.filter((r) => r.status === 'failed').length;
  const out = data.filter((r) => outside(r, usual)).length;
  const longest = Math.max(...timed.map((r) => r.duration_ms));
  const top = niceCeil(Math.max(longest, usual ? usual[1] : 0));
  const plotH = H - TOP - BOTTOM;
  const slot = (W - LEFT - RIGHT) / Math.max(data.length, 20);
  const bar = Math.max(2, slot * 0.68);
  const y = (ms) => TOP + plotH - (ms / top) * plotH;

  const summary = `Durations of the last ${data.length} runs, oldest first: ${failed} failed; ` +
    `the longest took ${duration(longest)}${p50 != null ? `, a typical run ${duration(p50)}` : ''}` +
    `${usual ? `; usually ${duration(usual[0])} to ${duration(usual[1])}, ${out} ${out === 1 ? 'run' : 'runs'} outside that` : ''}.`;
  const svg = s('svg', {class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary});
  if (usual) {
    // Drawn first, so the bars stay on top of it; at least 2 units tall so
    // a narrow band still shows.
    const y1 = y(usual[1]), y0 = Math.max(y(usual[0]), y1 + 2);
    svg.append(s('rect', {class: 'band', x: LEFT, width: W - RIGHT - LEFT, y: y1, height: y0 - y1}));
  }
  for (const v of [0, top / 2, top]) {
    svg.append(s('line', {class: 'grid', x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v)}),
      s('text', {x: LEFT - 6, y: y(v) + 4, 'text-anchor': 'end', text: v ? duration(v) : '0'}));
  }
  data.forEach((run, i) => {
    const x = LEFT + i * slot + (slot - bar) / 2;
    const cls = run.status === 'failed' ? 'bar-fail' : run.status === 'completed' ? 'bar-ok' : 'bar-other';
    const off = outside(run, usual);
    const label = `Run ${run.seq}: ${statusInfo(run.status).label}` +
      `${run.duration_ms != null ? `, ${duration(run.duration_ms)}` : ''}${off ? `, ${off === 'slow' ? 'slower' : 'faster'} than usual` : ''}, ${relTime(whenOf(run))}`;
    const barTop = run.duration_ms != null ? Math.min(y(run.duration_ms), TOP + plotH - 2) : TOP + plotH - 2;
    const g = s('g', {'data-seq': run.seq, 'data-status': run.status, 'data-outside': off || null},
      s('title', {text: label}),
      s('rect', {class: cls, x, y: barTop, width: bar, height: TOP + plotH - barTop, rx: Math.min(2, bar / 3)}));
    if (run.status === 'failed') {
      const cx = x + bar / 2, cy = barTop - 7, d = 3.2;
      g.append(s('path', {class: 'mark', d: `M${cx - d} ${cy - d}L${cx + d} ${cy + d}M${cx + d} ${cy - d}L${cx - d} ${cy + d}`}));
    } else if (off) {
      const cx = x + bar / 2, cy = barTop - 7, d = 3.6;
      g.append(s('path', {class: 'mark-out', d: off === 'slow'
        ? `M${cx - d} ${cy + d * 0.7}L${cx} ${cy - d * 0.7}L${cx + d} ${cy + d * 0.7}Z`
        : `M${cx - d} ${cy - d * 0.7}L${cx} ${cy + d * 0.7}L${cx + d} ${cy - d * 0.7}Z`}));
    }
    // A full-height target makes short bars easy to tap.
    g.append(s('rect', {class: 'bar-hit', x: LEFT + i * slot, y: TOP, width: slot, height: plotH}));
    svg.append(g);
  });
  if (p50 != null && p50 <= top) {
    svg.append(s('line', {class: 'median', x1: LEFT, x2: W - RIGHT, y1: y(p50), y2: y(p50)}));
  }
  svg.append(
    s('text', {x: LEFT, y: H - 4, text: relTime(whenOf(data[0]))}),
    s('text', {x: W - RIGHT, y: H - 4, 'text-anchor': 'end', text: relTime(whenOf(data[data.length - 1]))}));
  if (onPick) {
    svg.addEventListener('click', (e) => {
      const g = e.target.closest('g[data-seq]');
      if (g) onPick(Number(g.dataset.seq));
    });
  }
  return h('figure', {class: 'chart-fig'}, svg,
    h('ul', {class: 'legend', 'aria-hidden': 'true'},
      h('li', null, h('span', {class: 'key'}), 'Completed'),
      h('li', null, h('span', {class: 'key key-fail'}), '✕ Failed'),
      p50 != null ? h('li', null, h('span', {class: 'key key-median'}), 'Typical') : null,
      usual ? h('li', null, h('span', {class: 'key key-band'}), 'Usual range') : null,
      out ? h('li', null, h('span', {class: 'key key-out'}), '▲▼ Outside it') : null));
}

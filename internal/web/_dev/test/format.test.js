import assert from 'node:assert/strict';
import {test} from 'node:test';
import {duration, firstLine, percent, relTime, statusInfo, valueText, visible, whenOf} from '../../static/format.js';

test('visible shows every bidirectional and invisible control as a marker', () => {
  const controls = [0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
    0x2060, 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF];
  for (const cp of controls) {
    const hex = cp.toString(16).toUpperCase().padStart(4, '0');
    assert.equal(visible(`a${String.fromCharCode(cp)}b`), `a⟨U+${hex}⟩b`, `U+${hex}`);
  }
});

test('visible defuses a name that would read as another job', () => {
  // Shown as "sync failed" when the override is obeyed.
  assert.equal(visible('sync \u202Edeliaf'), 'sync ⟨U+202E⟩deliaf');
  assert.equal(visible('night\u200Bly_sync'), 'night⟨U+200B⟩ly_sync');
  assert.equal(visible('\u2067evil\u2069'), '⟨U+2067⟩evil⟨U+2069⟩');
});

test('visible leaves ordinary text alone, right-to-left scripts included', () => {
  for (const s of ['nightly_sync', 'שלום עולם', 'مرحبا', 'データ同期', 'émigré 🚀', 'line one\nline two\ttab', '']) {
    assert.equal(visible(s), s);
  }
  assert.equal(visible(null), '');
  assert.equal(visible(undefined), '');
  assert.equal(visible(42), '42');
});

test('duration reads as a person would say it', () => {
  assert.equal(duration(null), '');
  assert.equal(duration(Number.NaN), '');
  assert.equal(duration(0.4), '<1 ms');
  assert.equal(duration(12.4), '12 ms');
  assert.equal(duration(3200), '3.2 s');
  assert.equal(duration(42_000), '42 s');
  assert.equal(duration(125_000), '2 min 5 s');
  assert.equal(duration(3 * 3600_000 + 7 * 60_000), '3 h 7 min');
});

test('relTime is relative to now, and empty for a bad time', () => {
  const now = Date.parse('2026-05-12T14:00:00Z');
  assert.equal(relTime('2026-05-12T13:59:40Z', now), 'just now');
  assert.match(relTime('2026-05-12T13:55:00Z', now), /5 min/);
  assert.match(relTime('2026-05-12T11:00:00Z', now), /3 hr/);
  assert.equal(relTime('not a time', now), '');
});

test('percent rounds, but never shows 99.6% as 100%', () => {
  assert.equal(percent(9, 10), '90%');
  assert.equal(percent(996, 1000), '99.6%');
  assert.equal(percent(10, 10), '100%');
  assert.equal(percent(0, 0), '–');
});

test('statusInfo gives a class, an icon and a word for any status', () => {
  assert.deepEqual(statusInfo('failed'), {cls: 'st-failed', icon: 'cross', label: 'Failed'});
  assert.equal(statusInfo('completed').label, 'Completed');
  assert.deepEqual(statusInfo('timed_out'), {cls: 'st-other', icon: 'dot', label: 'Timed out'});
  assert.equal(statusInfo(undefined).label, 'Unknown');
});

test('firstLine, valueText and whenOf', () => {
  assert.equal(firstLine('KeyError\nTraceback'), 'KeyError');
  assert.equal(firstLine(null), '');
  assert.equal(valueText('as is'), 'as is');
  assert.equal(valueText({a: 1}), '{\n "a": 1\n}');
  assert.equal(whenOf({timestamp: 't', received_at: 'r'}), 't');
  assert.equal(whenOf({received_at: 'r'}), 'r');
});

import assert from 'node:assert/strict';
import {test} from 'node:test';
import {setTimeout as sleep} from 'node:timers/promises';
import {mount, throttle} from '../../static/lifecycle.js';

// A source of events like live.js's onLiveEvent.
function source() {
  const fns = new Set();
  return {fns, on: (fn) => { fns.add(fn); return () => fns.delete(fn); }, emit: (v) => { for (const fn of fns) fn(v); }};
}

test('unmount ends everything the view set up', async () => {
  const target = new EventTarget();
  const live = source();
  const seen = [];
  let returned = 0, cleaned = 0, fired = 0;
  let signal;
  const unmount = mount((root, scope) => {
    assert.equal(root, 'root');
    assert.equal(scope.arg, 'x', 'props reach the view');
    signal = scope.signal;
    scope.listen(target, 'ping', () => seen.push('ping'));
    scope.subscribe(live.on, (v) => seen.push(v));
    scope.timeout(() => fired++, 5);
    scope.onCleanup(() => cleaned++);
    return () => returned++;
  }, 'root', {arg: 'x'});

  target.dispatchEvent(new Event('ping'));
  live.emit('event');
  assert.deepEqual(seen, ['ping', 'event']);
  unmount();
  target.dispatchEvent(new Event('ping'));
  live.emit('late');
  await sleep(20);
  assert.deepEqual(seen, ['ping', 'event'], 'no listener survives');
  assert.equal(live.fns.size, 0);
  assert.equal(fired, 0, 'the timer was cleared');
  assert.ok(signal.aborted);
  assert.equal(cleaned, 1);
  assert.equal(returned, 1);
  unmount();
  assert.equal(cleaned, 1, 'unmounting twice cleans once');
});

test('what a view sets up after unmount (a late fetch) ends at once', async () => {
  let scope;
  const unmount = mount((_, s) => { scope = s; }, null);
  unmount();
  let cleaned = false, fired = false;
  scope.onCleanup(() => { cleaned = true; });
  scope.timeout(() => { fired = true; }, 1);
  const target = new EventTarget();
  let heard = false;
  scope.listen(target, 'x', () => { heard = true; });
  target.dispatchEvent(new Event('x'));
  await sleep(10);
  assert.ok(cleaned);
  assert.ok(!fired);
  assert.ok(!heard);
});

test('timers that fired are forgotten, so a long-lived view does not grow', async () => {
  let scope;
  const unmount = mount((_, s) => { scope = s; }, null);
  let n = 0;
  for (let i = 0; i < 50; i++) scope.timeout(() => n++, 0);
  await sleep(10);
  assert.equal(n, 50);
  unmount();
});

test('one failing cleanup does not keep the others from running', async () => {
  const errors = [];
  const consoleError = console.error;
  console.error = (e) => errors.push(e.message);
  let ran = false;
  const unmount = mount((_, scope) => {
    scope.onCleanup(() => { ran = true; });
    scope.onCleanup(() => { throw new Error('boom'); });
  }, null);
  try {
    unmount();
  } finally {
    console.error = consoleError;
  }
  assert.ok(ran);
  assert.deepEqual(errors, ['boom'], 'the error is still reported');
});

test('throttle runs once per period on the scope, and not after unmount', async () => {
  let scope;
  const unmount = mount((_, s) => { scope = s; }, null);
  let n = 0;
  const fn = throttle(scope, () => n++, 10);
  for (let i = 0; i < 100; i++) fn();
  await sleep(30);
  assert.equal(n, 1);
  fn();
  unmount();
  await sleep(30);
  assert.equal(n, 1);
});

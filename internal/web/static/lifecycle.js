// One lifecycle for every screen. The router mounts a view with a scope and
// unmounts it before the next one: everything the view set up through the
// scope (listeners, timers, subscriptions, fetches watching the signal) ends
// then, so moving between screens leaks nothing.

/**
 * Mounts view(root, scope) and returns its unmount function. The scope
 * carries `props` and:
 *   signal             aborted at unmount (pass it to fetches, check it after awaits)
 *   listen(t, type, fn, opts)  addEventListener, removed at unmount
 *   timeout(fn, ms)    setTimeout, cleared at unmount
 *   subscribe(on, fn)  on(fn) returns an unsubscribe function, called at unmount
 *   onCleanup(fn)      runs fn at unmount (at once if already unmounted)
 * A view may also return a cleanup function.
 */
export function mount(view, root, props = {}) {
  const controller = new AbortController();
  const cleanups = [];
  const timers = new Set();
  let done = false;
  const onCleanup = (fn) => {
    if (done) fn();
    else cleanups.push(fn);
  };
  const scope = {
    ...props,
    signal: controller.signal,
    onCleanup,
    listen(target, type, fn, opts = {}) {
      target.addEventListener(type, fn, {...opts, signal: controller.signal});
    },
    timeout(fn, ms) {
      if (done) return 0;
      const id = setTimeout(() => {
        timers.delete(id);
        fn();
      }, ms);
      timers.add(id);
      return id;
    },
    subscribe(on, fn) {
      onCleanup(on(fn));
    },
  };
  const ret = view(root, scope);
  if (typeof ret === 'function') onCleanup(ret);
  return function unmount() {
    if (done) return;
    done = true;
    controller.abort();
    for (const id of timers) clearTimeout(id);
    timers.clear();
    // Last set up, first torn down; one failing cleanup does not stop the rest.
    while (cleanups.length) {
      try {
        cleanups.pop()();
      } catch (e) {
        // Reported, not thrown: the next screen must still mount.
        console.error(e);
      }
    }
  };
}

/** fn at most once per `ms` while calls pour in, on the scope's timers. */
export function throttle(scope, fn, ms) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    scope.timeout(() => {
      pending = false;
      fn();
    }, ms);
  };
}

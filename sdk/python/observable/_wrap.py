"""The caller's thread's hot path: the route, event() and the wrappers of
tracked functions and coroutines.

Everything here does the least possible: read the context variable, read
the clock, fill a record from the pool (_record.py), append it to the
route's queue. No I/O, no JSON, no locks, no logging. The sender thread
does the rest (_events.build), and gives the record back.

Where records go (the route) is set by whoever owns the delivery
(_client): this module imports no other part of the SDK but its records,
the trace state (_context) and the sinks (_route).

Runs (_runs): the sender thread finds long calls itself, in the stack
frames of the wrappers below (RUN_CODES; it reads their locals `name` and
`start`). For it to be there while the very first call still runs (a cron
job is often one call per process), a wrapper starts life with a "cold"
code object that starts delivery and then swaps every wrapper to its plain
code: the steady-state caller pays nothing for this, not even a test.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from time import perf_counter
from typing import Any, Callable, Tuple

from ._context import IN_CALL as _IN_CALL
from ._context import var_get as _get
from ._context import var_reset as _reset
from ._context import var_set as _set
from ._record import Call, Record, Scope, new_call, refill_posted, refill_returned
from ._record import posted_pool as _posted_pool
from ._record import returned_pool as _returned_pool
from ._route import Discard, Forward

Route = Any  # a sink (see _route) or a function taking each record

_pop_returned = _returned_pool.pop
_pop_posted = _posted_pool.pop


def discard(item: Record) -> None:
    """The route when the SDK is disabled (no credentials)."""


_DISCARD = Discard()
_starter: Callable[[], Any] = lambda: None  # replaced by _client at import


def _first_push(item: Record) -> None:
    """The route until the first event: start delivery, then queue."""
    _starter()
    if _sink is not _FIRST:
        put(item)


_FIRST = Forward(_first_push)
# The route, read on every call as module globals (the cheapest lookup):
# the sink, its items, their append and its bound (see _route).
_routed: Route = None
_sink: Any = _FIRST
_items: Any = _FIRST.items
_append: Callable[[Record], None] = _FIRST.items.append
_limit: int = _FIRST.limit


def put(item: Record) -> None:
    """Queue a record: what the hot paths below write out inline."""
    if len(_items) < _limit:
        _append(item)
        if _sink.idle:
            _sink.wake()
    else:
        _sink.refuse()


def on_first_event(starter: Callable[[], Any]) -> None:
    """Call starter() at the first event; it routes the records (route())."""
    global _starter
    _starter = starter


def route(target: Route) -> None:
    """Send records to target from now on: a sink (see _route) or a function
    taking each record; None: back to starting at the next event."""
    global _routed, _sink, _items, _append, _limit
    if target is None:
        sink: Any = _FIRST
    elif target is discard:
        sink = _DISCARD
    elif hasattr(target, "items"):
        sink = target
    else:
        sink = Forward(target)
    _routed = target
    _sink, _items, _append, _limit = sink, sink.items, sink.items.append, sink.limit


def current_route() -> Route:
    """What route() was given; None while the first event has not started delivery."""
    return _routed


# --- the cold start ----------------------------------------------------------

# The wrappers' code objects, for the sender thread to recognise their frames.
RUN_CODES: "set[Any]" = set()
# Every wrapper: function -> (its plain code, its cold code).
_wrappers: "weakref.WeakKeyDictionary[Any, Tuple[Any, Any]]" = weakref.WeakKeyDictionary()
_cold_lock = threading.Lock()
warm = False  # True once the process's first tracked call started delivery


def cold_start() -> None:
    """The first tracked call: start delivery now, then make every wrapper plain."""
    global warm
    if _sink is _FIRST:
        try:
            _starter()
        except Exception:
            pass
    with _cold_lock:
        warm = True
        for fn, (plain, _) in list(_wrappers.items()):
            fn.__code__ = plain


def _warm(fn: Any, name: Any) -> Any:
    """The wrapper of fn under name, plain again, for a call that began cold: cold code runs
    once a process (cold_start makes every wrapper plain), so a search costs nothing that
    matters, and tracked calls keep their one frame with nothing to look up."""
    with _cold_lock:
        for w in list(_wrappers):
            cells = dict(zip(w.__code__.co_freevars, w.__closure__ or ()))
            if "fn" in cells and cells["fn"].cell_contents is fn and cells["name"].cell_contents is name:
                return w
    return fn  # never expected (the wrapper is alive: it is running): the call goes untracked


def _arm(tracked: Any, cold: Any) -> Any:
    """Give a new wrapper its cold code until the first tracked call of the process."""
    plain = tracked.__code__
    RUN_CODES.add(plain)  # not the cold code: its frame only calls the plain one
    if cold.__code__.co_freevars != plain.co_freevars:
        return tracked  # cannot swap (never expected): runs start at the next call
    with _cold_lock:
        _wrappers[tracked] = (plain, cold.__code__)
        if not warm:
            tracked.__code__ = cold.__code__
    return tracked


def _rearm_after_fork() -> None:
    # A forked child has no sender thread: its first long call must start one.
    global warm, _cold_lock
    _cold_lock = threading.Lock()
    warm = False
    for fn, (_, cold) in list(_wrappers.items()):
        fn.__code__ = cold


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rearm_after_fork)


# --- the hot paths -------------------------------------------------------------
# Each writes put() out inline and pops its record from the pool untested
# (a test costs ~20 ns on 3.9): when the pool is empty (the first calls,
# the disabled SDK, a burst the sender has not caught up with) the except
# refills it with a batch, so an exception is paid once per REFILL calls.


def event(name: str, status: str = "completed", **kwargs: Any) -> None:
    """Post an event without wrapping a function; kwargs become metadata."""
    if len(_items) < _limit:
        try:
            record = _pop_posted()
        except IndexError:
            record = refill_posted()
        record.name = name
        record.status = status
        record.end = perf_counter()
        record.before = kwargs
        _append(record)
        if _sink.idle:
            _sink.wake()
    else:
        _sink.refuse()


def failed(name: Any, start: float, token: Any, failure: Any) -> None:
    """The end of a tracked call that raised (off the hot path: a call is affordable)."""
    end = perf_counter()
    scope = _get()
    outer = token.old_value
    if type(outer) is dict:
        _set(None)
    else:
        try:
            _reset(token)
        except ValueError:
            _set(outer if type(outer) is Scope else None)
    put(new_call(Call, (name, None, start, end, outer, scope, failure)))


def wrap_sync(name: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def tracked(*args: Any, **kwargs: Any) -> Any:
        token = _set(_IN_CALL)
        start = perf_counter()
        try:
            result = fn(*args, **kwargs) if kwargs else fn(*args)
        except BaseException as exc:
            failed(name, start, token, (exc, exc.__traceback__))
            raise
        end = perf_counter()
        scope = _get()
        outer = token.old_value
        if type(outer) is dict:
            _set(None)  # the traces pending for this call are used up
        else:
            try:
                _reset(token)  # back to the enclosing call's scope, or to nothing
            except ValueError:  # resumed in another context (a coroutine driven by hand)
                _set(outer if type(outer) is Scope else None)
        if len(_items) < _limit:
            try:
                record = _pop_returned()
            except IndexError:
                record = refill_returned()
            record.name = name
            record.start = start
            record.end = end
            record.before = outer
            record.during = scope
            _append(record)
            if _sink.idle:
                _sink.wake()
        else:
            _sink.refuse()
        return result

    def cold(*args: Any, **kwargs: Any) -> Any:  # tracked's code until the first tracked call
        cold_start()
        return _warm(fn, name)(*args, **kwargs)

    return _arm(tracked, cold)


def wrap_async(name: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    # The same steps as wrap_sync, written out again on purpose: a shared
    # helper would add a call to every tracked call on the caller's thread.
    @functools.wraps(fn)
    async def tracked(*args: Any, **kwargs: Any) -> Any:
        token = _set(_IN_CALL)
        start = perf_counter()
        try:
            result = await (fn(*args, **kwargs) if kwargs else fn(*args))
        except BaseException as exc:
            failed(name, start, token, (exc, exc.__traceback__))
            raise
        end = perf_counter()
        scope = _get()
        outer = token.old_value
        if type(outer) is dict:
            _set(None)  # the traces pending for this call are used up
        else:
            try:
                _reset(token)  # back to the enclosing call's scope, or to nothing
            except ValueError:  # resumed in another context (a coroutine driven by hand)
                _set(outer if type(outer) is Scope else None)
        if len(_items) < _limit:
            try:
                record = _pop_returned()
            except IndexError:
                record = refill_returned()
            record.name = name
            record.start = start
            record.end = end
            record.before = outer
            record.during = scope
            _append(record)
            if _sink.idle:
                _sink.wake()
        else:
            _sink.refuse()
        return result

    async def cold(*args: Any, **kwargs: Any) -> Any:  # tracked's code until the first tracked call
        cold_start()
        return await _warm(fn, name)(*args, **kwargs)

    return _arm(tracked, cold)

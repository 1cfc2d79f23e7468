"""track(), trace() and event(): the code that runs on the caller's thread.

Everything here is on the hot path, so it does the least possible: read the
context variable, read the clock, build a Call record (_record.py), hand it
to the route. No I/O, no JSON, no locks, no logging. The sender thread does
the rest (_events.build).

Trace metadata lives in one ContextVar, so each thread and each asyncio task
has its own. Its value is:
  - None: nothing traced;
  - a dict: traces made outside any tracked call, waiting for the next one;
  - a Scope: we are inside a tracked call; its .meta holds the traces made
    during that call (a nested tracked call gets a scope of its own, so
    traces always belong to the innermost running call).
Values are never mutated in place, only replaced, because a task created
while a dict is pending shares that very object with its parent.

Where records go (the route) is set by whoever owns the delivery
(_client): this module imports no other part of the SDK but its records
and the checks of declared expectations (_expect).

Runs (_runs): the sender thread finds long calls itself, in the stack
frames of the wrappers below (RUN_CODES) and in open_blocks. For it to be
there while the very first call still runs (a cron job is often one call
per process), a wrapper starts life with a "cold" code object that starts
delivery and then swaps every wrapper to its plain code: the steady-state
caller pays nothing for this, not even a test.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import weakref
from contextvars import ContextVar
from time import perf_counter
from types import TracebackType
from typing import Any, AsyncGenerator, Callable, Dict, Generator, Optional, Tuple, Type, TypeVar, cast, overload

from . import _expect
from ._record import Call, Job, Scope, new_call
from ._route import Discard, Forward

F = TypeVar("F", bound=Callable[..., Any])
Route = Any  # a sink (see _route) or a function taking each record

_IN_CALL = Scope(None, None, 0.0, None)
_var: ContextVar[Any] = ContextVar("observable_trace", default=None)
_get = _var.get
_set = _var.set
_reset = _var.reset


def discard(item: Call) -> None:
    """The route when the SDK is disabled (no credentials)."""


_DISCARD = Discard()
_starter: Callable[[], Any] = lambda: None  # replaced by _client at import


def _first_push(item: Call) -> None:
    """The route until the first event: start delivery, then queue."""
    _starter()
    if _sink is not _FIRST:
        _put(item)


_FIRST = Forward(_first_push)
# The route, read on every call as module globals (the cheapest lookup):
# the sink, its items, their append and its bound (see _route).
_routed: Route = None
_sink: Any = _FIRST
_items: Any = _FIRST.items
_append: Callable[[Call], None] = _FIRST.items.append
_limit: int = _FIRST.limit


def _put(item: Call) -> None:
    """Queue a record: what the hot paths below write out inline."""
    if len(_items) < _limit:
        _append(item)
        if _sink.idle:
            _sink.wake()
    else:
        _sink.refuse()

# The wrappers' code objects, for the sender thread to recognise their frames.
RUN_CODES: "set[Any]" = set()
# With-blocks open now: id(scope) -> scope (dict operations are atomic under the GIL).
open_blocks: Dict[int, Scope] = {}
MAX_OPEN_BLOCKS = 10_000  # blocks entered and never left (rare) must not grow it forever
# Every wrapper: function -> (its plain code, its cold code).
_wrappers: "weakref.WeakKeyDictionary[Any, Tuple[Any, Any]]" = weakref.WeakKeyDictionary()
_cold_lock = threading.Lock()
_warm = False  # True once the process's first tracked call started delivery


def _cold_start() -> None:
    """The first tracked call: start delivery now, then make every wrapper plain."""
    global _warm
    if _sink is _FIRST:
        try:
            _starter()
        except Exception:
            pass
    with _cold_lock:
        _warm = True
        for fn, (plain, _) in list(_wrappers.items()):
            fn.__code__ = plain


def _arm(tracked: Any, cold: Any) -> Any:
    """Give a new wrapper its cold code until the first tracked call of the process."""
    plain = tracked.__code__
    RUN_CODES.add(plain)
    RUN_CODES.add(cold.__code__)
    if cold.__code__.co_freevars != plain.co_freevars:
        return tracked  # cannot swap (never expected): runs start at the next call
    with _cold_lock:
        _wrappers[tracked] = (plain, cold.__code__)
        if not _warm:
            tracked.__code__ = cold.__code__
    return tracked


def _rearm_after_fork() -> None:
    # A forked child has no sender thread: its first long call must start one.
    global _warm, _cold_lock
    _cold_lock = threading.Lock()
    _warm = False
    open_blocks.clear()  # the parent's threads' blocks: not running here
    for fn, (_, cold) in list(_wrappers.items()):
        fn.__code__ = cold


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rearm_after_fork)


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


def trace(key: str, value: Any) -> None:
    """Attach key=value to the next tracked call in this thread or task.

    Called inside a tracked call, it belongs to that call.
    """
    try:
        if type(key) is not str:
            key = str(key)
        cur = _get()
        if cur is None:
            _set({key: value})
        elif type(cur) is dict:
            new = cur.copy()
            new[key] = value
            _set(new)
        else:
            meta = {key: value} if cur.meta is None else {**cur.meta, key: value}
            _set(Scope(meta, cur.outer, cur.start, cur.owner))
    except Exception:
        pass


def event(name: str, status: str = "completed", **kwargs: Any) -> None:
    """Post an event without wrapping a function; kwargs become metadata."""
    if len(_items) < _limit:  # _put(), inline
        _append(new_call(Call, (name, status, None, perf_counter(), kwargs, None, None)))
        if _sink.idle:
            _sink.wake()
    else:
        _sink.refuse()


def _take_pending() -> Any:
    """Consume traces waiting outside any tracked call (generators use this)."""
    cur = _get()
    if type(cur) is dict:
        _set(None)
        return cur
    return None


class _Tracker:
    """What track(name) returns: a decorator and a context manager.

    It holds only the name (and what it declares): the state of each call
    lives in that call's frame (decorator) or in the context variable
    (context manager), so overlapping, recursive and concurrent uses never
    mix. `job` is what its records carry as their name: the name itself,
    or a Job (name + expect) when the tracker declares an expectation.
    """

    __slots__ = ("name", "job")

    def __init__(self, name: str, job: Any = None) -> None:
        self.name = name
        self.job = name if job is None else job

    def __repr__(self) -> str:
        if type(self.job) is Job:
            return f"observable.track({self.name!r}, expect={self.job.expect!r})"
        return f"observable.track({self.name!r})"

    def __call__(self, fn: F) -> F:
        if isinstance(fn, (staticmethod, classmethod)):
            return cast(F, type(fn)(self(fn.__func__)))
        if not callable(fn):
            raise TypeError(f"observable.track({self.name!r}) decorates a function, not {type(fn).__name__}")
        kind = _kind(fn)
        if kind == "async_gen":
            return cast(F, _wrap_async_gen(self.job, fn))
        if kind == "async":
            return cast(F, _wrap_async(self.job, fn))
        if kind == "gen":
            return cast(F, _wrap_gen(self.job, fn))
        return cast(F, _wrap_sync(self.job, fn))

    def __enter__(self) -> "_Tracker":
        if not _warm:
            _cold_start()
        outer = _get()
        scope = Scope(None, outer, perf_counter(), self)
        _set(scope)
        if len(open_blocks) < MAX_OPEN_BLOCKS:
            open_blocks[id(scope)] = scope
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        end = perf_counter()
        scope = _get()
        failure = None if exc is None else (exc, tb)
        if type(scope) is Scope and scope.owner is self:
            outer = scope.outer
            _set(outer if type(outer) is Scope else None)
            open_blocks.pop(id(scope), None)
            _put(new_call(Call, (self.job, None, scope.start, end, outer, scope, failure)))
        else:
            # Entered in another context (rare: e.g. a generator or an
            # asyncio callback split the block): no duration to report.
            for key, open_scope in list(open_blocks.items()):
                if open_scope.owner is self:
                    open_blocks.pop(key, None)
                    break
            _put(new_call(Call, (self.job, None, None, end, None, None, failure)))

    async def __aenter__(self) -> "_Tracker":
        return self.__enter__()

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        self.__exit__(exc_type, exc, tb)


_CO_GENERATOR, _CO_COROUTINE, _CO_ASYNC_GENERATOR = 0x20, 0x80, 0x200


def _kind(fn: Any) -> str:
    """What kind of function fn is, without importing inspect (~30 ms).

    When inspect is already loaded (asyncio loads it), it decides, so that
    inspect.markcoroutinefunction() and friends are honoured.
    """
    inspect = sys.modules.get("inspect")
    if inspect is not None:
        if inspect.isasyncgenfunction(fn):
            return "async_gen"
        if inspect.iscoroutinefunction(fn):
            return "async"
        return "gen" if inspect.isgeneratorfunction(fn) else "sync"
    while isinstance(fn, functools.partial):
        fn = fn.func
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    flags = getattr(code, "co_flags", 0)
    if flags & _CO_ASYNC_GENERATOR:
        return "async_gen"
    if flags & _CO_COROUTINE:
        return "async"
    return "gen" if flags & _CO_GENERATOR else "sync"


@overload
def track(name: str, *, every: Optional[_expect.Duration] = None, schedule: Optional[str] = None,
          tz: Optional[str] = None, grace: Optional[_expect.Duration] = None,
          max_duration: Optional[_expect.Duration] = None, min_duration: Optional[_expect.Duration] = None,
          alert_after: Optional[int] = None) -> _Tracker: ...


@overload
def track(name: F) -> F: ...


def track(name: Any, *, every: Any = None, schedule: Any = None, tz: Any = None, grace: Any = None,
          max_duration: Any = None, min_duration: Any = None, alert_after: Any = None) -> Any:
    """Track a function (sync or async) or a block of code under a name.

    The keyword options declare what the server should expect of this job
    (see README); a wrong value raises ValueError here, at decoration.
    """
    if callable(name) and not isinstance(name, str):
        fn = name  # @track without parentheses: name it after the function
        return _Tracker(getattr(fn, "__qualname__", None) or repr(fn))(fn)
    if every is None and schedule is None and tz is None and grace is None and max_duration is None \
            and min_duration is None and alert_after is None:
        return _Tracker(name)
    expect = _expect.build_expect(every=every, schedule=schedule, tz=tz, grace=grace,
                                  max_duration=max_duration, min_duration=min_duration,
                                  alert_after=alert_after)
    return _Tracker(name, Job(name, expect))


def _failed(name: Any, start: float, token: Any, failure: Any) -> None:
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
    _put(new_call(Call, (name, None, start, end, outer, scope, failure)))


def _wrap_sync(name: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def tracked(*args: Any, **kwargs: Any) -> Any:
        token = _set(_IN_CALL)
        start = perf_counter()
        try:
            result = fn(*args, **kwargs) if kwargs else fn(*args)
        except BaseException as exc:
            _failed(name, start, token, (exc, exc.__traceback__))
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
        if len(_items) < _limit:  # _put(), inline
            _append(new_call(Call, (name, None, start, end, outer, scope, None)))
            if _sink.idle:
                _sink.wake()
        else:
            _sink.refuse()
        return result

    def cold(*args: Any, **kwargs: Any) -> Any:  # tracked's body, after _cold_start()
        _cold_start()
        token = _set(_IN_CALL)
        start = perf_counter()
        try:
            result = fn(*args, **kwargs) if kwargs else fn(*args)
        except BaseException as exc:
            _failed(name, start, token, (exc, exc.__traceback__))
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
        if len(_items) < _limit:  # _put(), inline
            _append(new_call(Call, (name, None, start, end, outer, scope, None)))
            if _sink.idle:
                _sink.wake()
        else:
            _sink.refuse()
        return result

    return _arm(tracked, cold)


def _wrap_async(name: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    # The same steps as _wrap_sync, written out again on purpose: a shared
    # helper would add a call to every tracked call on the caller's thread.
    @functools.wraps(fn)
    async def tracked(*args: Any, **kwargs: Any) -> Any:
        token = _set(_IN_CALL)
        start = perf_counter()
        try:
            result = await (fn(*args, **kwargs) if kwargs else fn(*args))
        except BaseException as exc:
            _failed(name, start, token, (exc, exc.__traceback__))
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
        if len(_items) < _limit:  # _put(), inline
            _append(new_call(Call, (name, None, start, end, outer, scope, None)))
            if _sink.idle:
                _sink.wake()
        else:
            _sink.refuse()
        return result

    async def cold(*args: Any, **kwargs: Any) -> Any:  # tracked's body, after _cold_start()
        _cold_start()
        token = _set(_IN_CALL)
        start = perf_counter()
        try:
            result = await (fn(*args, **kwargs) if kwargs else fn(*args))
        except BaseException as exc:
            _failed(name, start, token, (exc, exc.__traceback__))
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
        if len(_items) < _limit:  # _put(), inline
            _append(new_call(Call, (name, None, start, end, outer, scope, None)))
            if _sink.idle:
                _sink.wake()
        else:
            _sink.refuse()
        return result

    return _arm(tracked, cold)


def _wrap_gen(name: Any, fn: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Any]:
    """Times the whole iteration; send/throw/close reach the generator.

    A generator runs in its consumer's context, so traces made inside it
    cannot be told apart from the consumer's: only traces pending when the
    iteration starts are attached.
    """

    @functools.wraps(fn)
    def tracked(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        pending = _take_pending()
        start = perf_counter()
        try:
            result = yield from fn(*args, **kwargs)
        except BaseException as exc:
            _put(new_call(Call, (name, None, start, perf_counter(), pending, None, (exc, exc.__traceback__))))
            raise
        _put(new_call(Call, (name, None, start, perf_counter(), pending, None, None)))
        return result

    return tracked


def _wrap_async_gen(name: Any, fn: Callable[..., AsyncGenerator[Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def tracked(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        pending = _take_pending()
        start = perf_counter()
        agen = fn(*args, **kwargs)
        try:
            item = await agen.__anext__()
            while True:
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as thrown:
                    item = await agen.athrow(thrown)
                else:
                    item = await agen.asend(sent)
        except StopAsyncIteration:
            _put(new_call(Call, (name, None, start, perf_counter(), pending, None, None)))
        except BaseException as exc:
            _put(new_call(Call, (name, None, start, perf_counter(), pending, None, (exc, exc.__traceback__))))
            raise

    return tracked

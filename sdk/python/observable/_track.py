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
(_client): this module imports no other part of the SDK but its records.
"""

from __future__ import annotations

import functools
import sys
from contextvars import ContextVar
from time import perf_counter
from types import TracebackType
from typing import Any, AsyncGenerator, Callable, Dict, Generator, Optional, Type, TypeVar, cast, overload

from ._record import Call, Scope, new_call

F = TypeVar("F", bound=Callable[..., Any])
Push = Callable[[Call], None]

_IN_CALL = Scope(None, None, 0.0, None)
_var: ContextVar[Any] = ContextVar("observable_trace", default=None)
_get = _var.get
_set = _var.set


def discard(item: Call) -> None:
    """The route when the SDK is disabled (no credentials)."""


_starter: Callable[[], Push] = lambda: discard  # replaced by _client at import


def _first_push(item: Call) -> None:
    """The route until the first event: start delivery, then push."""
    _starter()(item)


# Looked up on every call (a module global: the cheapest indirection).
_push: Push = _first_push


def on_first_event(starter: Callable[[], Push]) -> None:
    """Call starter() at the first event; it returns (and routes to) the push to use."""
    global _starter
    _starter = starter


def route(push: Optional[Push]) -> None:
    """Send records to push from now on; None: back to starting at the next event."""
    global _push
    _push = _first_push if push is None else push


def current_route() -> Optional[Push]:
    """The push records go to; None while the first event has not started delivery."""
    return None if _push is _first_push else _push


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
    _push(new_call(Call, (name, status, None, perf_counter(), kwargs, None, None)))


def _take_pending() -> Any:
    """Consume traces waiting outside any tracked call (generators use this)."""
    cur = _get()
    if type(cur) is dict:
        _set(None)
        return cur
    return None


class _Tracker:
    """What track(name) returns: a decorator and a context manager.

    It holds only the name: the state of each call lives in that call's
    frame (decorator) or in the context variable (context manager), so
    overlapping, recursive and concurrent uses never mix.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"observable.track({self.name!r})"

    def __call__(self, fn: F) -> F:
        if isinstance(fn, (staticmethod, classmethod)):
            return cast(F, type(fn)(self(fn.__func__)))
        if not callable(fn):
            raise TypeError(f"observable.track({self.name!r}) decorates a function, not {type(fn).__name__}")
        kind = _kind(fn)
        if kind == "async_gen":
            return cast(F, _wrap_async_gen(self.name, fn))
        if kind == "async":
            return cast(F, _wrap_async(self.name, fn))
        if kind == "gen":
            return cast(F, _wrap_gen(self.name, fn))
        return cast(F, _wrap_sync(self.name, fn))

    def __enter__(self) -> "_Tracker":
        outer = _get()
        _set(Scope(None, outer, perf_counter(), self))
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        end = perf_counter()
        scope = _get()
        failure = None if exc is None else (exc, tb)
        if type(scope) is Scope and scope.owner is self:
            outer = scope.outer
            _set(outer if type(outer) is Scope else None)
            _push(new_call(Call, (self.name, None, scope.start, end, outer, scope, failure)))
        else:
            # Entered in another context (rare: e.g. a generator or an
            # asyncio callback split the block): no duration to report.
            _push(new_call(Call, (self.name, None, None, end, None, None, failure)))

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
def track(name: str) -> _Tracker: ...


@overload
def track(name: F) -> F: ...


def track(name: Any) -> Any:
    """Track a function (sync or async) or a block of code under a name."""
    if callable(name) and not isinstance(name, str):
        fn = name  # @track without parentheses: name it after the function
        return _Tracker(getattr(fn, "__qualname__", None) or repr(fn))(fn)
    return _Tracker(name)


def _wrap_sync(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def tracked(*args: Any, **kwargs: Any) -> Any:
        outer = _set(_IN_CALL).old_value  # one C call where _get() + _set() were two
        start = perf_counter()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            end = perf_counter()
            scope = _set(outer if type(outer) is Scope else None).old_value
            _push(new_call(Call, (name, None, start, end, outer, scope, (exc, exc.__traceback__))))
            raise
        end = perf_counter()
        scope = _set(outer if type(outer) is Scope else None).old_value
        _push(new_call(Call, (name, None, start, end, outer, scope, None)))
        return result

    return tracked


def _wrap_async(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    # The same steps as _wrap_sync, written out again on purpose: a shared
    # helper would add a call to every tracked call on the caller's thread.
    @functools.wraps(fn)
    async def tracked(*args: Any, **kwargs: Any) -> Any:
        outer = _set(_IN_CALL).old_value  # one C call where _get() + _set() were two
        start = perf_counter()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            end = perf_counter()
            scope = _set(outer if type(outer) is Scope else None).old_value
            _push(new_call(Call, (name, None, start, end, outer, scope, (exc, exc.__traceback__))))
            raise
        end = perf_counter()
        scope = _set(outer if type(outer) is Scope else None).old_value
        _push(new_call(Call, (name, None, start, end, outer, scope, None)))
        return result

    return tracked


def _wrap_gen(name: str, fn: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Any]:
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
            _push(new_call(Call, (name, None, start, perf_counter(), pending, None, (exc, exc.__traceback__))))
            raise
        _push(new_call(Call, (name, None, start, perf_counter(), pending, None, None)))
        return result

    return tracked


def _wrap_async_gen(name: str, fn: Callable[..., AsyncGenerator[Any, Any]]) -> Callable[..., Any]:
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
            _push(new_call(Call, (name, None, start, perf_counter(), pending, None, None)))
        except BaseException as exc:
            _push(new_call(Call, (name, None, start, perf_counter(), pending, None, (exc, exc.__traceback__))))
            raise

    return tracked

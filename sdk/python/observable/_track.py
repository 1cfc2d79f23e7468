"""track(), trace() and event(): what the SDK's users call.

The pieces, each on the caller's thread and each doing the least possible:
  - _context: the trace state (one ContextVar) and trace();
  - _wrap: the route, event() and the wrappers of tracked functions and
    coroutines, the hot path;
  - _block: the tracker as a (async) context manager;
  - _gen: tracked generators and async generators.
This module decides which applies (track(), _Tracker) and is the face the
rest of the SDK (_client, _runs) and its tests import.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, Optional, TypeVar, cast, overload

from . import _expect
from ._block import Block, open_blocks
from ._context import trace
from ._gen import wrap_async_gen, wrap_gen
from ._record import Job
from ._wrap import RUN_CODES, Route, current_route, discard, event, on_first_event, route, wrap_async, wrap_sync

__all__ = ["RUN_CODES", "Route", "current_route", "discard", "event", "on_first_event", "open_blocks",
           "route", "trace", "track"]

F = TypeVar("F", bound=Callable[..., Any])


class _Tracker(Block):
    """What track(name) returns: a decorator and a context manager (Block).

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
            return cast(F, wrap_async_gen(self.job, fn))
        if kind == "async":
            return cast(F, wrap_async(self.job, fn))
        if kind == "gen":
            return cast(F, wrap_gen(self.job, fn))
        return cast(F, wrap_sync(self.job, fn))


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

"""`with observable.track(name):` and `async with`: the tracker as a
context manager.

The state of each block lives in the context variable (a Scope whose
owner is the tracker), so overlapping, recursive and concurrent blocks of
one tracker never mix. Open blocks are also listed in open_blocks, where
the sender thread looks for long ones (_runs).
"""

from __future__ import annotations

import os
from time import perf_counter
from types import TracebackType
from typing import Any, Dict, Optional, Type, TypeVar

from . import _wrap
from ._context import var_get as _get
from ._context import var_set as _set
from ._record import Call, Scope, new_call
from ._wrap import put

# With-blocks open now: id(scope) -> scope (dict operations are atomic under the GIL).
open_blocks: Dict[int, Scope] = {}
MAX_OPEN_BLOCKS = 10_000  # blocks entered and never left (rare) must not grow it forever
B = TypeVar("B", bound="Block")


def _forget_after_fork() -> None:
    open_blocks.clear()  # the parent's threads' blocks: not running here


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


class Block:
    """The context-manager half of _track._Tracker, which gives it `job`."""

    __slots__ = ()
    job: Any

    def __enter__(self: B) -> B:
        if not _wrap.warm:
            _wrap.cold_start()
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
            put(new_call(Call, (self.job, None, scope.start, end, outer, scope, failure)))
        else:
            # Entered in another context (rare: e.g. a generator or an
            # asyncio callback split the block): no duration to report.
            for key, open_scope in list(open_blocks.items()):
                if open_scope.owner is self:
                    open_blocks.pop(key, None)
                    break
            put(new_call(Call, (self.job, None, None, end, None, None, failure)))

    async def __aenter__(self: B) -> B:
        return self.__enter__()

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        self.__exit__(exc_type, exc, tb)

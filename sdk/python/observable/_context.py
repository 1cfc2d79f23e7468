"""The trace state of the running thread or task: one ContextVar.

Each thread and each asyncio task has its own value:
  - None: nothing traced;
  - a dict: traces made outside any tracked call, waiting for the next one;
  - a Scope: we are inside a tracked call; its .meta holds the traces made
    during that call (a nested tracked call gets a scope of its own, so
    traces always belong to the innermost running call).
Values are never mutated in place, only replaced, because a task created
while a dict is pending shares that very object with its parent.

The hot paths (_wrap, _block, _gen) bind these as their own
module globals (_get, _set, _reset): a global lookup is the cheapest there is.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from ._record import Scope

IN_CALL = Scope(None, None, 0.0, None)  # inside a tracked call, nothing traced yet
var: ContextVar[Any] = ContextVar("observable_trace", default=None)
var_get = var.get
var_set = var.set
var_reset = var.reset


def trace(key: str, value: Any) -> None:
    """Attach key=value to the next tracked call in this thread or task.

    Called inside a tracked call, it belongs to that call.
    """
    try:
        if type(key) is not str:
            key = str(key)
        cur = var_get()
        if cur is None:
            var_set({key: value})
        elif type(cur) is dict:
            new = cur.copy()
            new[key] = value
            var_set(new)
        else:
            meta = {key: value} if cur.meta is None else {**cur.meta, key: value}
            var_set(Scope(meta, cur.outer, cur.start, cur.owner))
    except Exception:
        pass


def take_pending() -> Any:
    """Consume traces waiting outside any tracked call (generators use this)."""
    cur = var_get()
    if type(cur) is dict:
        var_set(None)
        return cur
    return None

"""Where the caller's thread puts its records: the sink _track writes to.

A sink is the queue's caller-facing side (_queue.CallQueue is one): the hot
path in _track tests `len(items) < limit`, appends to `items`, and calls
wake() when it sees `idle`, or refuse() past the bound. It reads these
itself, inline, rather than through a function, because a Python call per
tracked call is what the caller's thread can least afford.

Forward makes a sink of a plain function (the first event, the disabled
SDK, tests that capture records).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Deque

from ._record import Call

Push = Callable[[Call], None]


class Forward:
    """A sink that hands each record to push (its `items` is itself)."""

    __slots__ = ("items", "push")
    limit = 1 << 62
    idle = False

    def __init__(self, push: Push) -> None:
        self.items = self
        self.push = push

    def __len__(self) -> int:
        return 0

    def append(self, item: Call) -> None:
        self.push(item)

    def wake(self) -> None:
        pass

    def refuse(self) -> None:
        pass


class Discard:
    """The sink of the disabled SDK: appending to a deque of length 0 drops in C."""

    __slots__ = ("items",)
    limit = 1 << 62
    idle = False

    def __init__(self) -> None:
        self.items: Deque[Any] = deque(maxlen=0)

    def wake(self) -> None:
        pass

    def refuse(self) -> None:
        pass

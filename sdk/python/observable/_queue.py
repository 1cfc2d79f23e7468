"""The bounded queue between the caller's threads and the sender thread.

Callers (_wrap, the route's hot path) append records to `items`, a
deque (atomic under the GIL, no lock), while it holds fewer than `limit`;
past it they call refuse(). The sender thread wakes when the first record
arrives after it went idle: callers call wake() only when they see the idle
flag, so a busy stream of events costs no wake-ups. A wake-up lost to a
race is picked up at the next record or after the thread's idle timeout.

A flush travels through the queue as a FlushRequest behind the records
queued before it, so "delivered" means "everything before the flush".
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Deque, List, Optional, Tuple, Union

from ._record import Record


class FlushRequest:
    """A flush() (or the exit) waiting for everything queued before it."""

    __slots__ = ("done", "losses", "ok")

    def __init__(self, losses: int) -> None:
        self.done = threading.Event()
        self.losses = losses  # losses counted when it was made (see Losses)
        self.ok = False

    def resolve(self, losses: int) -> None:
        self.ok = losses == self.losses
        self.done.set()


class CallQueue:
    """What _wrap.route() takes: the fields and methods the hot path uses."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: Deque[Union[Record, FlushRequest]] = deque()
        self.dropped = 0  # records refused at the bound
        self.idle = False  # the sender thread waits for a wake-up
        self._wake = threading.Event()

    def refuse(self) -> None:
        """A caller met the bound: its record is dropped, and counted."""
        self.dropped += 1

    def __len__(self) -> int:
        return len(self.items)

    def request_flush(self, losses: int) -> FlushRequest:
        request = FlushRequest(losses)
        self.items.append(request)  # past the bound: a flush is never dropped
        self.wake()
        return request

    def wake(self) -> None:
        self.idle = False
        self._wake.set()

    def wait(self, timeout: float, stopped: Callable[[], bool]) -> None:
        """Sleep until a record arrives (or timeout); returns at once if one is there."""
        self.idle = True
        if self.items or stopped():
            self.idle = False
            return
        self._wake.wait(timeout)
        self._wake.clear()
        self.idle = False

    def take(self, n: int) -> Tuple[List[Record], Optional[FlushRequest]]:
        """Up to n records, stopping after a flush request (returned apart)."""
        q = self.items
        out: List[Record] = []
        while q and len(out) < n:
            item = q.popleft()
            if isinstance(item, FlushRequest):
                return out, item
            out.append(item)
        return out, None

    def take_all(self) -> Tuple[List[Record], List[FlushRequest]]:
        """Everything queued (exit and spill), flush requests set apart."""
        q = self.items
        calls: List[Record] = []
        requests: List[FlushRequest] = []
        while q:
            item = q.popleft()
            if isinstance(item, FlushRequest):
                requests.append(item)
            else:
                calls.append(item)
        return calls, requests

    def clear(self) -> None:
        self.items.clear()

"""The records that cross from the caller's thread to the sender thread.

The caller's thread queues one record per tracked call or event():
  - `Returned`: a tracked function or coroutine call that returned (the
    hot path), and `Posted`: an event(). These two are reused: the sender
    thread gives each back to its pool once built (recycle()), and the
    caller takes one from there (or makes one when the pool is empty), so
    the hot paths allocate nothing a collection would have to look at.
  - `Call`: every other ending (a raise, a with-block, a generator), rarer
    and allowed to cost more: an immutable NamedTuple, never reused.
All three answer the same fields (a Returned's status and failure are
None, a Posted's start and during), each meaning the same thing whatever
made the record, so the sender reads them alike (`Record`).
`Scope` is the trace state of one running tracked call, kept in the
ContextVar (see _context.py).

Pools and threads: a record belongs to one thread at a time. The caller
pops it from the pool (deque.pop is atomic, also on free-threaded builds;
an empty pool is refilled with a batch of new records) and writes every field before appending it to the queue; from there it is
the sender's, which builds it, clears every field (nothing of a call
outlives its event) and appends it to the pool again. A pool is bounded
(maxlen drops the surplus); a record on a route that is not the sender's
(tests, the disabled SDK) is simply never given back.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType
from typing import Any, Deque, Dict, NamedTuple, Optional, Tuple, Union

# The exception a call ended with and its traceback *where the tracked call
# ended*: exc.__traceback__ keeps growing as the exception propagates.
Failure = Tuple[BaseException, Optional[TracebackType]]


class Scope:
    """The trace state of one running tracked call (never mutated)."""

    __slots__ = ("meta", "outer", "start", "owner")

    def __init__(self, meta: Optional[Dict[str, Any]], outer: Any, start: float, owner: Any) -> None:
        self.meta = meta  # traces made during the call, or None
        self.outer = outer  # the context's value before the call (restored after)
        self.start = start  # perf_counter() at the start (context manager)
        self.owner = owner  # the tracker that entered it (context manager)


class Call(NamedTuple):
    """One tracked call or event(), as queued. Times are perf_counter()."""

    name: Any  # as given; cleaned on the sender thread
    status: Optional[str]  # event()'s status; None: decided from `failure`
    start: Optional[float]  # None: no duration to report
    end: float
    # Metadata known when the call began: a dict (traces pending for it, or
    # event()'s kwargs). Any other value (None, a Scope, Token.MISSING)
    # carries none: the caller's thread queues the context's raw value
    # rather than spend time testing it.
    before: Any
    during: Optional[Scope]  # the call's scope at its end: its .meta are the traces made during it
    failure: Optional[Failure]


# Call(...) runs the NamedTuple's Python-level __new__; the caller's thread
# builds records with new_call(Call, (fields...)) instead, the C call that
# __new__ makes itself, which spares a Python frame on every tracked call.
new_call = tuple.__new__


class Returned:
    """A tracked function or coroutine call that returned (pooled, see above)."""

    __slots__ = ("name", "start", "end", "before", "during")
    status = None  # decided from `failure`
    failure = None  # it returned

    # name, start, end, before and during mean what they mean in Call.
    name: Any
    start: Optional[float]
    end: Optional[float]
    before: Any
    during: Optional[Scope]


class Posted:
    """An event() (pooled, see above): `before` holds its kwargs."""

    __slots__ = ("name", "status", "end", "before")
    start = None  # no duration
    during = None
    failure = None

    name: Any
    status: Optional[str]
    end: Optional[float]
    before: Any


Record = Union[Call, Returned, Posted]

POOL_SIZE = 1024  # per kind: a burst longer than this allocates the rest
returned_pool: Deque[Returned] = deque(maxlen=POOL_SIZE)
posted_pool: Deque[Posted] = deque(maxlen=POOL_SIZE)


REFILL = 64  # records made at once when a pool is found empty (see _wrap)


def refill_returned() -> Returned:
    """A record for the caller that found the pool empty, and a batch more in the pool."""
    returned_pool.extend([Returned() for _ in range(REFILL - 1)])
    return Returned()


def refill_posted() -> Posted:
    posted_pool.extend([Posted() for _ in range(REFILL - 1)])
    return Posted()


def recycle(record: Record) -> None:
    """The sender thread, once it has built record: clear it, give it back."""
    if type(record) is Returned:
        record.name = record.start = record.end = record.before = record.during = None
        returned_pool.append(record)
    elif type(record) is Posted:
        record.name = record.status = record.end = record.before = None
        posted_pool.append(record)


class Job:
    """A tracked job's name with what its code declares (EXPECT): the name
    field of its records, so that a plain track(name) carries a str and
    costs nothing more."""

    __slots__ = ("name", "expect")

    def __init__(self, name: Any, expect: Optional[Dict[str, Any]]) -> None:
        self.name = name
        self.expect = expect

    def __repr__(self) -> str:
        return f"Job({self.name!r}, {self.expect!r})"

"""The records that cross from the caller's thread to the sender thread.

`Call` is what the caller's thread queues for each tracked call or event();
`Scope` is the trace state of one running tracked call, kept in the
ContextVar (see _track.py). Both are immutable, and each field always means
the same thing, whichever kind of call made the record.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Dict, NamedTuple, Optional, Tuple

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

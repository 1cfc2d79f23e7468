"""What a send's result means, shared by everything that delivers events.

The exporter (_transport.Transport) sends one batch and classifies the
answer; `Link` turns that answer into what to do next (acknowledge, retry
after a delay, send smaller batches, drop what was refused) and says so
once to the person. `Losses` counts what was not delivered, which is what
flush() answers. The sender thread, the spool drain and the detached sender
all use them, so a 413 or a 401 means the same wherever it is met.
"""

from __future__ import annotations

from typing import Iterable, List, NamedTuple, Optional, Protocol

from . import _transport, _warn
from ._queue import CallQueue, FlushRequest

MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 900 * 1024  # under the server's 1 MiB body limit

# Verdict kinds.
ACKED = "acked"  # stored: forget these events
RETRY = "retry"  # keep them and try again after `delay`
SMALLER = "smaller"  # keep them, send fewer per request (batch_events shrank)
DROP = "drop"  # refused for good: drop the events at `drop` (indexes)


class Exporter(Protocol):
    """Sends one batch of event JSON texts; never raises."""

    url: str

    def export(self, events: List[str]) -> _transport.Result: ...


class Verdict(NamedTuple):
    kind: str
    delay: float = 0.0  # RETRY: seconds to wait
    honour: bool = False  # RETRY: the server asked for the delay (Retry-After): wait it out
    drop: Optional[List[int]] = None  # DROP: indexes in the batch
    recovered: bool = False  # ACKED after failures: an outage may have left spooled files


class Link:
    """What the sender knows of the API: the batch size it takes, the
    failures in a row, and the last problem (said at exit)."""

    def __init__(self, api_url: str, exporter: Exporter) -> None:
        self.api_url = api_url
        self.exporter = exporter
        self.batch_events = MAX_BATCH_EVENTS
        self.failures = 0
        self.last_problem = ""

    def send(self, events: List[str], whole: bool = False) -> Verdict:
        """Export events and judge the answer (whole: a refusal drops them all)."""
        return self.judge(self.exporter.export(events), len(events), whole)

    def judge(self, result: _transport.Result, n: int, whole: bool = False) -> Verdict:
        kind = result.kind
        if kind == _transport.OK:
            recovered, self.failures = self.failures > 0, 0
            return Verdict(ACKED, recovered=recovered)
        if kind == _transport.RETRY:
            self.failures += 1
            self._note_retry(result)
            if result.retry_after is not None:
                return Verdict(RETRY, result.retry_after, honour=True)
            return Verdict(RETRY, _transport.retry_delay(self.failures))
        if kind == _transport.TOO_LARGE and n > 1:
            self.batch_events = max(1, n // 2)
            return Verdict(SMALLER)
        drop = list(range(n))
        if not whole and kind == _transport.REJECTED and result.event_index is not None and result.event_index < n:
            drop = [result.event_index]
        self._warn_dropped(result, len(drop))
        return Verdict(DROP, drop=drop)

    def _note_retry(self, result: _transport.Result) -> None:
        what = f"HTTP {result.status}: {result.message}" if result.status else result.message
        self.last_problem = f"{self.exporter.url}: {what}"
        kind = f"retry-{result.status // 100}xx" if result.status else "retry-connection"
        _warn.warn_once(kind, f"cannot deliver events to {self.last_problem}; retrying in the background")

    def _warn_dropped(self, result: _transport.Result, n: int) -> None:
        if result.kind == _transport.UNAUTHORIZED:
            _warn.warn_once(
                "unauthorized",
                f"the session is not known to the server at {self.api_url} ({n} events not stored); "
                "run `observable setup` to pair again",
            )
        else:
            _warn.warn_once(
                f"refused-{result.status}",
                f"the server refused {n} events (HTTP {result.status}: {result.message}); they are not retried",
            )


class Losses:
    """Events not delivered (dropped at the queue's bound, refused, moved to
    disk), counted so that flush() can say whether any was lost since the
    previous flush."""

    def __init__(self, queue: CallQueue) -> None:
        self.queue = queue
        self.lost = 0  # refused, unbuildable, or spilled to disk
        self.mark = 0  # the total when the last flush finished
        self.reported = 0  # queue drops already said

    def add(self, n: int) -> None:
        self.lost += n

    def total(self) -> int:
        return self.queue.dropped + self.lost

    def settle(self) -> bool:
        """A flush with nothing queued: True when nothing was lost since the last."""
        total = self.total()
        ok, self.mark = total == self.mark, total
        return ok

    def resolve(self, requests: Iterable[FlushRequest]) -> None:
        total, any_request = self.total(), False
        for r in requests:
            r.resolve(total)
            any_request = True
        if any_request:
            self.mark = total

    def report_drops(self) -> None:
        dropped = self.queue.dropped
        if dropped != self.reported:
            self.reported = dropped
            _warn.warn_once(
                "queue-full",
                f"the event queue is full ({self.queue.limit} events waiting); events are being dropped "
                f"({dropped} so far)",
            )

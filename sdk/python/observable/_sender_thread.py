"""The queue and the one daemon thread that delivers it.

Callers append tuples to a bounded deque (atomic under the GIL, no lock).
The thread wakes when the first item arrives after it went idle: callers
set an Event only when they see the thread's idle flag, so a busy stream
of events costs no wake-ups. A wake-up lost to a race is picked up at the
next item or after IDLE_WAIT.

Events are built (id, JSON) when taken from the deque and kept in
`pending` until the server acknowledges them; a retry re-sends the same
ids, so nothing is stored twice. `lock` guards only the hand-over of
`pending` between this thread and the exit handler: it is never held
across network I/O or a wait.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, List, Optional, Tuple

from . import _events, _spool, _transport, _warn

MAX_QUEUE = 50_000
MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 900 * 1024  # under the server's 1 MiB body limit
SPILL_AT = 5_000  # while the API is down, move a backlog this long to disk
IDLE_WAIT = 30.0


class _Marker:
    """A flush request travelling through the queue behind earlier events."""

    __slots__ = ("done", "losses", "ok")

    def __init__(self, losses: int) -> None:
        self.done = threading.Event()
        self.losses = losses
        self.ok = False


class Sender:
    def __init__(self, api_url: str, session_id: str) -> None:
        self.api_url = api_url
        self.session_id = session_id
        self.pid = os.getpid()
        self.transport = _transport.Transport(api_url, session_id)
        self.spool = _spool.Spool(api_url, session_id)
        self.source = _events.make_source()
        self.queue: Deque[Any] = deque()
        self.idle = False
        self.dropped = 0  # over the queue bound (counted by callers)
        self.losses = 0  # every event not delivered: dropped, refused, spilled
        self.reported_drops = 0
        self.loss_mark = 0  # losses counted when the last flush finished
        self.wake = threading.Event()
        self.urgent = threading.Event()
        self.lock = threading.Lock()
        self.pending: List[Tuple[str, str]] = []
        self.generation = 0  # bumped when the exit handler takes `pending`
        self.markers: List[_Marker] = []
        self.batch_events = MAX_BATCH_EVENTS
        self.failures = 0
        self.last_problem = ""
        self.exiting = False
        self.stopped = False
        self.spool_unchecked = True
        self.spool_retry_at = 0.0
        self.exit_marker: Optional[_Marker] = None
        self.draining = threading.Event()  # set while a spool file is being sent
        self.thread: Optional[threading.Thread] = None
        self.push = self._make_push()

    # --- the caller's side -----------------------------------------------

    def _make_push(self) -> Callable[[Any], None]:
        q, limit, append, state, wake = self.queue, MAX_QUEUE, self.queue.append, self, self.wake.set

        def push(item: Any) -> None:
            if len(q) < limit:
                append(item)
                if state.idle:
                    state.idle = False
                    wake()
            else:
                state.dropped += 1

        return push

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="observable-sender", daemon=True)
        self.thread.start()

    def _idle_now(self) -> bool:
        with self.lock:  # the thread builds events holding it: nothing in between
            return not self.queue and not self.pending

    def flush(self, timeout: float) -> bool:
        if self._idle_now():
            total = self.dropped + self.losses
            ok, self.loss_mark = total == self.loss_mark, total
            return ok
        marker = self._request_marker()
        return marker.done.wait(max(0.0, timeout)) and marker.ok

    def _request_marker(self) -> _Marker:
        # flush() is False when an event queued since the last flush
        # finished was dropped or refused (losses are counted from there).
        marker = _Marker(self.loss_mark)
        self.queue.append(marker)  # past the bound: a flush is never dropped
        self.idle = False
        self.wake.set()
        self.urgent.set()
        return marker

    def shutdown(self, wait: float) -> List[str]:
        """Deliver within `wait` seconds; return the events still undelivered."""
        self.exiting = True
        if self._idle_now():
            # Only the spool is being sent: let the file in flight finish
            # (its events may be stored already) rather than send it twice.
            deadline = time.monotonic() + wait
            while self.draining.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)
            return []
        marker = self.exit_marker = self._request_marker()
        if self.thread is not None and self.thread.is_alive():
            marker.done.wait(wait)
        with self.lock:
            self.generation += 1
            left = [js for _, js in self.pending]
            self.pending = []
            left.extend(self._build_all())
            self.markers = []
        return left

    def spool_left_behind(self) -> bool:
        """Spooled events remain while the API answers (checked at exit)."""
        if self.failures or not (self.spool_unchecked or self.draining.is_set()):
            return False
        return any(self.spool.files(d) for d in self.spool.existing_directories())

    def stop(self) -> None:
        self.stopped = True
        self.wake.set()
        self.urgent.set()
        self.transport.close()

    def abandon_after_fork(self) -> None:
        """In a forked child: this copy's thread does not exist; drop it all."""
        self.stopped = True
        self.queue.clear()
        self.pending = []
        self.transport.conn = None  # the parent's socket: never touch it here

    # --- the thread --------------------------------------------------------

    def _run(self) -> None:
        while not self.stopped:
            try:
                self._cycle()
            except Exception as e:
                _warn.warn_once("internal", f"internal error in the sender thread ({type(e).__name__}: {e}); it carries on")
                self.urgent.wait(1.0)

    def _cycle(self) -> None:
        self.report_drops()
        with self.lock:
            if not self.pending:
                self._fill()
        if self.pending:
            self._send_pending()
        elif self.markers:
            self._resolve_markers()
        elif self.spool_unchecked and not self.exiting and time.monotonic() >= self.spool_retry_at:
            self._drain_spool()
        else:
            self._wait_idle()

    def _wait_idle(self) -> None:
        self.idle = True
        if self.queue or self.stopped:
            self.idle = False
            return
        timeout = IDLE_WAIT
        if self.spool_unchecked and not self.exiting:
            timeout = min(timeout, max(0.01, self.spool_retry_at - time.monotonic()))
        self.wake.wait(timeout)
        self.wake.clear()
        self.idle = False

    def _fill(self) -> None:
        """Build events from the queue into pending, stopping at a marker."""
        q = self.queue
        offset = time.time() - time.perf_counter()
        while q and len(self.pending) < self.batch_events:
            item = q.popleft()
            if type(item) is _Marker:
                self.markers.append(item)
                break
            built = self._build(item, offset)
            if built is not None:
                self.pending.append(built)

    def _build(self, item: Any, offset: float) -> Optional[Tuple[str, str]]:
        try:
            return _events.build(item, self.source, offset)
        except Exception as e:
            self.losses += 1
            _warn.warn_once("build", f"an event could not be prepared and was skipped ({type(e).__name__}: {e})")
            return None

    def _build_all(self) -> List[str]:
        """Every event still in the queue (exit and spill), markers set aside."""
        out: List[str] = []
        offset = time.time() - time.perf_counter()
        q = self.queue
        while q:
            item = q.popleft()
            if type(item) is _Marker:
                self.markers.append(item)
                continue
            built = self._build(item, offset)
            if built is not None:
                out.append(built[1])
        return out

    def _chunk(self) -> List[Tuple[str, str]]:
        size, n = 0, 0
        for _, js in self.pending[: self.batch_events]:
            size += len(js) + 1
            if size > MAX_BATCH_BYTES and n:
                break
            n += 1
        return self.pending[:n]

    def _send_pending(self) -> None:
        chunk = self._chunk()
        generation = self.generation
        self.urgent.clear()
        result = self.transport.post(_transport.batch_body([js for _, js in chunk]))
        with self.lock:
            if generation != self.generation or self.stopped:
                return  # the exit handler took these events over
            delay = self._handle(result, chunk)
        if delay is not None:
            # A server's Retry-After is honoured even by flush(); exit does
            # not wait for it (it spools instead).
            self._backoff(delay, interruptible=result.retry_after is None)

    def _handle(self, result: _transport.Result, chunk: List[Tuple[str, str]]) -> Optional[float]:
        """Apply a result to pending (holding the lock); returns a backoff delay."""
        kind = result.kind
        if kind == _transport.OK:
            del self.pending[: len(chunk)]
            self._recovered()
            if not self.pending:
                self._resolve_markers()
            return None
        if kind == _transport.RETRY:
            return self._failed(result)
        if kind == _transport.TOO_LARGE and len(chunk) > 1:
            self.batch_events = max(1, len(chunk) // 2)
            return None
        drop = chunk
        if kind == _transport.REJECTED and result.event_index is not None and result.event_index < len(chunk):
            drop = [chunk[result.event_index]]
        ids = {eid for eid, _ in drop}
        self.pending = [p for p in self.pending if p[0] not in ids]
        self.losses += len(drop)
        self._warn_dropped(result, len(drop))
        if not self.pending:
            self._resolve_markers()
        return None

    def _recovered(self) -> None:
        if self.failures:
            self.failures = 0
            self.spool_unchecked = True  # an outage may have left files
            self.spool_retry_at = 0.0

    def _failed(self, result: _transport.Result) -> float:
        self.failures += 1
        self._note_retry(result)
        if self.exiting and self.exit_marker is not None:
            self.exit_marker.done.set()  # exit spools now instead of waiting
        if result.retry_after is not None:
            return result.retry_after
        return _transport.retry_delay(self.failures)

    def _note_retry(self, result: _transport.Result) -> None:
        what = f"HTTP {result.status}: {result.message}" if result.status else result.message
        self.last_problem = f"{self.transport.url}: {what}"
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

    def _backoff(self, delay: float, interruptible: bool = True) -> None:
        deadline = time.monotonic() + delay
        while not self.stopped:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            step = min(remaining, 1.0)
            if not interruptible:
                time.sleep(step)
            elif self.urgent.wait(step):
                self.urgent.clear()
                return
            if len(self.queue) >= SPILL_AT and not self.exiting:
                self._spill()

    def _spill(self) -> None:
        """A long outage: keep the backlog on disk instead of in memory."""
        with self.lock:
            events = self._build_all()
        kept, lost = self.spool.write(events)
        self.losses += len(events)  # not delivered yet, as far as flush() can tell
        if lost:
            _warn.warn_once("spool-full", f"{lost} events could not be kept on disk and are lost")
        self.spool_unchecked = True

    def _resolve_markers(self) -> None:
        markers, self.markers = self.markers, []
        total = self.dropped + self.losses
        for m in markers:
            m.ok = total == m.losses
            m.done.set()
        if markers:
            self.loss_mark = total

    def report_drops(self) -> None:
        if self.dropped != self.reported_drops:
            self.reported_drops = self.dropped
            _warn.warn_once(
                "queue-full",
                f"the event queue is full ({MAX_QUEUE} events waiting); events are being dropped "
                f"({self.dropped} so far)",
            )

    def _drain_spool(self) -> None:
        delay: List[float] = []

        def send(events: List[str]) -> bool:
            result = self.transport.post(_transport.batch_body(events))
            if result.kind == _transport.OK:
                self._recovered()
                return True
            if result.kind == _transport.TOO_LARGE and len(events) > 1:
                self.batch_events = max(1, len(events) // 2)
                return False
            if result.kind == _transport.RETRY:
                delay.append(self._failed(result))
                return False
            self._warn_dropped(result, len(events))
            return True  # refused for good: keeping it would block the spool

        self.draining.set()
        try:
            done = self.spool.drain(send, lambda: self.batch_events, MAX_BATCH_BYTES,
                                    lambda: not (self.queue or self.exiting or self.stopped))
        except Exception as e:
            _warn.warn_once("spool-read", f"could not read the spool: {e}")
            return
        finally:
            self.draining.clear()
        # None: another process holds the spool and delivers it.
        self.spool_unchecked = done is False
        if delay:
            self.spool_retry_at = time.monotonic() + delay[0]

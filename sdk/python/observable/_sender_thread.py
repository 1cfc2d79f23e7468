"""The one daemon thread that turns queued calls into delivered events.

Modelled on OpenTelemetry's BatchSpanProcessor: it takes records from the
queue (_queue), builds them into events (_events) kept in the outbox
(_outbox) until acknowledged, exports batches through the transport and
lets the link (_delivery) decide what each answer means. When it has
nothing queued it drains the spool (_spool_drain). The exit hand-off
(_exit) calls shutdown() and takes over what is left.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Dict, List, Optional

from . import _events, _runs, _spool, _transport, _warn
from ._delivery import ACKED, DROP, MAX_BATCH_BYTES, RETRY, Link, Losses, Verdict
from ._events import Built
from ._outbox import Outbox
from ._queue import CallQueue, FlushRequest
from ._record import Record, recycle
from ._spool_drain import SpoolDrain

MAX_QUEUE = 50_000
SPILL_AT = 5_000  # while the API is down, move a backlog this long to disk
IDLE_WAIT = 30.0


class SenderThread:
    def __init__(self, api_url: str, session_id: str) -> None:
        self.api_url = api_url
        self.session_id = session_id
        self.pid = os.getpid()
        self.transport = _transport.Transport(api_url, session_id)
        self.spool = _spool.Spool(api_url, session_id)
        self.queue = CallQueue(MAX_QUEUE)
        self.outbox = Outbox()
        self.link = Link(api_url, self.transport)
        self.losses = Losses(self.queue)
        self.drain = SpoolDrain(self.spool, self.link)
        self.source: Dict[str, Any] = _events.make_source()
        self.runs = _runs.Runs()
        self.flushes: List[FlushRequest] = []  # taken from the queue, waiting for the outbox to empty
        self.urgent = threading.Event()  # cuts a backoff short: a flush, or stop
        self.exiting = False
        self.stopped = False
        self.exit_request: Optional[FlushRequest] = None
        self.thread: Optional[threading.Thread] = None

    # --- called from other threads -----------------------------------------

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="observable-sender", daemon=True)
        self.thread.start()

    def _idle_now(self) -> bool:
        with self.outbox.lock:  # the thread builds events holding it: nothing in between
            return not len(self.queue) and not len(self.outbox)

    def flush(self, timeout: float) -> bool:
        if self._idle_now():
            return self.losses.settle()
        request = self._request_flush()
        return request.done.wait(max(0.0, timeout)) and request.ok

    def _request_flush(self) -> FlushRequest:
        # flush() is False when an event queued since the last flush
        # finished was dropped or refused (losses are counted from there).
        request = self.queue.request_flush(self.losses.mark)
        self.urgent.set()
        return request

    def shutdown(self, wait: float) -> List[str]:
        """Deliver within `wait` seconds; return the events still undelivered."""
        self.exiting = True
        if self._idle_now():
            self.drain.finish_file_in_flight(wait)
            return []
        request = self.exit_request = self._request_flush()
        if self.thread is not None and self.thread.is_alive():
            request.done.wait(wait)
        with self.outbox.lock:
            left = self.outbox.take_over()
            left.extend(b.json for b in self._build_all())
            self.flushes = []
        return left

    def spool_left_behind(self) -> bool:
        return self.drain.left_behind(failing=self.link.failures > 0)

    def last_problem(self) -> str:
        return self.link.last_problem

    def report_drops(self) -> None:
        self.losses.report_drops()

    def stop(self) -> None:
        self.stopped = True
        self.queue.wake()
        self.urgent.set()
        self.transport.close()

    def abandon_after_fork(self) -> None:
        """In a forked child: this copy's thread does not exist; drop it all."""
        self.stopped = True
        self.queue.clear()
        self.outbox.clear()
        self.runs.forget()
        self.transport.forget()

    # --- the thread ----------------------------------------------------------

    def _run(self) -> None:
        while not self.stopped:
            try:
                self._cycle()
            except Exception as e:
                _warn.warn_once("internal", f"internal error in the sender thread ({type(e).__name__}: {e}); "
                                "it carries on")
                self.urgent.wait(1.0)

    def _cycle(self) -> None:
        self.losses.report_drops()
        with self.outbox.lock:
            self._look_for_runs()
            if not len(self.outbox):
                self._fill()
        if len(self.outbox):
            self._send()
        elif self.flushes:
            self._resolve_flushes()
        elif not self.exiting and self.drain.due():
            self._drain_spool()
        else:
            wait = IDLE_WAIT if self.exiting else self.drain.wait_hint(IDLE_WAIT)
            self.queue.wait(self.runs.wait_hint(wait), lambda: self.stopped)

    def _look_for_runs(self) -> None:
        """Announce the calls that have run long (holding the outbox lock; see _runs)."""
        found = self.runs.look()
        if found:
            offset = time.time() - time.perf_counter()
            self.outbox.add(_events.build_started(job, start, run, self.source, offset)
                            for job, start, run in found)

    def _fill(self) -> None:
        """Build the next records into the outbox, stopping at a flush request."""
        calls, request = self.queue.take(self.link.batch_events)
        self.outbox.add(self._build(calls))
        if request is not None:
            self.flushes.append(request)

    def _build(self, calls: List[Record]) -> List[Built]:
        out: List[Built] = []
        offset = time.time() - time.perf_counter()
        for call in calls:
            try:
                out.append(_events.build(call, self.source, offset, self.runs.finish(call)))
            except Exception as e:
                self.losses.add(1)
                _warn.warn_once("build", "an event could not be prepared and was skipped "
                                f"({type(e).__name__}: {e})")
            recycle(call)  # built: nothing holds it any more (see _record)
        return out

    def _build_all(self) -> List[Built]:
        """Every event still queued (exit and spill), flush requests set aside."""
        calls, requests = self.queue.take_all()
        self.flushes.extend(requests)
        return self._build(calls)

    def _send(self) -> None:
        chunk = self.outbox.chunk(self.link.batch_events, MAX_BATCH_BYTES)
        generation = self.outbox.generation
        self.urgent.clear()
        result = self.transport.export([b.json for b in chunk])
        with self.outbox.lock:
            if generation != self.outbox.generation or self.stopped:
                return  # the exit handler took these events over
            verdict = self.link.judge(result, len(chunk))
            self._apply(verdict, chunk)
        if verdict.kind == RETRY:
            # A server's Retry-After is honoured even by flush(); exit does
            # not wait for it (it spools instead).
            self._backoff(verdict.delay, interruptible=not verdict.honour)

    def _apply(self, verdict: Verdict, chunk: List[Built]) -> None:
        """Apply a verdict to the outbox (holding its lock)."""
        if verdict.kind == ACKED:
            self.outbox.acknowledge(len(chunk))
            if verdict.recovered:
                self.drain.recheck()
        elif verdict.kind == RETRY:
            self._exit_spools_now()
            return
        elif verdict.kind == DROP:
            drop = verdict.drop or []
            self.outbox.drop({chunk[i].id for i in drop})
            self.losses.add(len(drop))
        else:
            return  # SMALLER: the same events go again, fewer per request
        if not len(self.outbox):
            self._resolve_flushes()

    def _exit_spools_now(self) -> None:
        if self.exiting and self.exit_request is not None:
            self.exit_request.done.set()  # exit spools now instead of waiting

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
            with self.outbox.lock:
                self._look_for_runs()  # a long outage: runs still start on time (spooled with the rest)

    def _spill(self) -> None:
        """A long outage: keep the backlog on disk instead of in memory."""
        with self.outbox.lock:
            events = [b.json for b in self._build_all()]
        kept, lost = self.spool.write(events)
        self.losses.add(len(events))  # not delivered yet, as far as flush() can tell
        if lost:
            _warn.warn_once("spool-full", f"{lost} events could not be kept on disk and are lost")
        self.drain.note_files()

    def _resolve_flushes(self) -> None:
        requests, self.flushes = self.flushes, []
        self.losses.resolve(requests)

    def _drain_spool(self) -> None:
        verdict = self.drain.run(lambda: not (len(self.queue) or self.exiting or self.stopped))
        if verdict is not None:
            self._exit_spools_now()

"""Long tracked calls become runs, found by the sender thread, not told.

A call still running after RUN_AFTER seconds gets a `started` event with a
run id, and its end carries the same id (contract v1.1 "Runs"). The caller's
thread does nothing for this: no id, no timer, no record at the start. The
sender thread looks every RUN_AFTER/4 seconds at what is running instead:
  - each thread's stack (sys._current_frames()) for the frames of our sync
    and async wrappers (_wrap.RUN_CODES), whose locals hold the job and
    the start time;
  - each asyncio task's await chain, for async calls suspended in an await;
  - the with-blocks open now (_block.open_blocks).
A call is known by (start, job): start is its own perf_counter() reading,
which its end record carries too, so overlapping runs of one job (threads,
tasks) each get their own id. Generators are not marked: a suspended one
lives in its consumer's locals, where nothing cheap can find it.
"""

from __future__ import annotations

import os
import sys
import threading
from time import perf_counter
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from . import _block, _wrap
from ._record import Record

Key = Tuple[float, Any]


def _run_after() -> float:
    # Internal knob for the SDK's own tests (no test waits 10 s); not documented.
    try:
        value = float(os.environ.get("OBSERVABLE_CODE_TEST_RUN_AFTER", "") or 10.0)
    except ValueError:
        return 10.0
    return value if value > 0 else 10.0


RUN_AFTER = _run_after()
LOOK_EVERY = min(2.5, RUN_AFTER / 4)
MAX_AWAIT_DEPTH = 200
_CO_COROUTINE = 0x80


class Runs:
    """The sender thread's view of long calls (used by it alone, holding the outbox lock)."""

    def __init__(self, clock: Any = perf_counter) -> None:
        self.clock = clock
        self.started: Dict[Key, str] = {}  # announced calls: their run id, until their end is built
        # Long calls whose end was built without a run: their frame may still be on
        # the stack for a moment (the record is queued before the wrapper returns).
        self.ended: Set[Key] = set()
        self.next_look = 0.0
        self.own_thread = threading.get_ident()

    def wait_hint(self, timeout: float) -> float:
        """How long the sender may sleep and still look in time."""
        if not _wrap.RUN_CODES and not _block.open_blocks:
            return timeout
        return max(0.0, min(timeout, self.next_look - self.clock()))

    def look(self) -> List[Tuple[Any, float, str]]:
        """(job, start, run id) for each call that has now run long enough to be announced."""
        now = self.clock()
        if now < self.next_look or (not _wrap.RUN_CODES and not _block.open_blocks):
            return []
        self.next_look = now + LOOK_EVERY
        self.own_thread = threading.get_ident()
        seen: Set[Key] = set()
        new: List[Tuple[Any, float, str]] = []
        for job, start in self._running():
            key = (start, job)
            if key in seen:
                continue
            seen.add(key)
            if now - start >= RUN_AFTER and key not in self.started and key not in self.ended:
                run = os.urandom(16).hex()
                self.started[key] = run
                new.append((job, start, run))
        self.ended &= seen  # gone from the stack: its end cannot be confused any more
        return new

    def finish(self, call: Record) -> Optional[str]:
        """The run id an ending call carries, if it was announced."""
        start = call.start
        if start is None or call.status is not None:
            return None
        key = (start, call.name)
        if self.started:
            run = self.started.pop(key, None)
            if run is not None:
                return run
        if call.end - start >= RUN_AFTER:
            self.ended.add(key)
        return None

    def forget(self) -> None:
        self.started.clear()
        self.ended.clear()

    # --- what is running -----------------------------------------------------

    def _running(self) -> Iterator[Tuple[Any, float]]:
        codes = _wrap.RUN_CODES
        if codes:
            for ident, frame in sys._current_frames().items():
                if ident == self.own_thread:
                    continue
                while frame is not None:
                    if frame.f_code in codes:
                        found = _job_and_start(frame)
                        if found is not None:
                            yield found
                    frame = frame.f_back
            # A snapshot: a function decorated on another thread meanwhile
            # would change the set under the loop.
            coroutines = {code for code in _copy(lambda: list(codes)) if code.co_flags & _CO_COROUTINE}
            if coroutines:  # no async def tracked: no task to walk
                yield from self._suspended_tasks(coroutines)
        for scope in _copy(lambda: list(_block.open_blocks.values())):
            owner = scope.owner
            if owner is not None:
                yield owner.job, scope.start

    def _suspended_tasks(self, codes: Set[Any]) -> Iterator[Tuple[Any, float]]:
        tasks_module = sys.modules.get("asyncio.tasks")
        if tasks_module is None:
            return
        registry = getattr(tasks_module, "_scheduled_tasks", None)  # 3.12+
        if registry is None:
            registry = getattr(tasks_module, "_all_tasks", None)  # 3.9 to 3.11
        if registry is None:
            return
        for task in _copy(lambda: list(registry)):
            try:
                obj = task.get_coro()
            except Exception:
                continue
            for _ in range(MAX_AWAIT_DEPTH):
                if obj is None:
                    break
                code = getattr(obj, "cr_code", None) or getattr(obj, "gi_code", None)
                if code in codes:
                    frame = getattr(obj, "cr_frame", None)
                    found = None if frame is None else _job_and_start(frame)
                    if found is not None:
                        yield found
                obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)


def _job_and_start(frame: Any) -> Optional[Tuple[Any, float]]:
    try:
        local = frame.f_locals
        start = local.get("start")
        job = local.get("name")
    except Exception:
        return None
    if type(start) is not float or job is None:
        return None  # the call has not read its start yet
    return job, start


def _copy(take: Any) -> List[Any]:
    """A snapshot of a collection other threads change meanwhile."""
    for _ in range(3):
        try:
            return take()
        except RuntimeError:  # changed size during iteration: try again
            continue
        except Exception:
            return []
    return []

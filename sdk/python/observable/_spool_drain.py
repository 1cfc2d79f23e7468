"""The sender thread's side of the spool: send what is on disk, when due.

Files are there after an earlier process could not deliver before exit, or
after a long outage moved the backlog to disk. They are checked at start,
again after the API recovers from failures, and after a failed drain once
the retry delay has passed. The thread drains only when it has nothing
queued, and stops at the next file when new events arrive.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, List, Optional

from . import _warn
from ._delivery import ACKED, MAX_BATCH_BYTES, RETRY, SMALLER, Link, Verdict
from ._spool import Spool


class SpoolDrain:
    def __init__(self, spool: Spool, link: Link) -> None:
        self.spool = spool
        self.link = link
        self.unchecked = True  # files may be waiting
        self.retry_at = 0.0  # monotonic time before which a drain is not tried again
        self.busy = threading.Event()  # set while a file is being sent

    def recheck(self) -> None:
        """An outage ended: it may have left files; look now."""
        self.unchecked = True
        self.retry_at = 0.0

    def note_files(self) -> None:
        """Files were written: look once the retry delay has passed."""
        self.unchecked = True

    def due(self) -> bool:
        return self.unchecked and time.monotonic() >= self.retry_at

    def wait_hint(self, longest: float) -> float:
        """How long the thread may sleep before a drain falls due."""
        if not self.unchecked:
            return longest
        return min(longest, max(0.01, self.retry_at - time.monotonic()))

    def run(self, keep_going: Callable[[], bool]) -> Optional[Verdict]:
        """Drain the spool; returns the verdict that stopped it, if a send failed."""
        failed: List[Verdict] = []

        def send(events: List[str]) -> bool:
            verdict = self.link.send(events, whole=True)
            if verdict.kind == ACKED:
                if verdict.recovered:
                    self.recheck()
                return True
            if verdict.kind in (SMALLER, RETRY):
                if verdict.kind == RETRY:
                    failed.append(verdict)
                return False
            return True  # refused for good: keeping it would block the spool

        self.busy.set()
        try:
            done = self.spool.drain(send, lambda: self.link.batch_events, MAX_BATCH_BYTES, keep_going)
        except Exception as e:
            _warn.warn_once("spool-read", f"could not read the spool: {e}")
            return None
        finally:
            self.busy.clear()
        # None: another process holds the spool and delivers it.
        self.unchecked = done is False
        if failed:
            self.retry_at = time.monotonic() + failed[0].delay
            return failed[0]
        return None

    def left_behind(self, failing: bool) -> bool:
        """Spooled events remain while the API answers (checked at exit)."""
        if failing or not (self.unchecked or self.busy.is_set()):
            return False
        return any(self.spool.files(d) for d in self.spool.existing_directories())

    def finish_file_in_flight(self, wait: float) -> None:
        """At exit: let the file being sent finish (its events may be stored
        already) rather than send it twice."""
        deadline = time.monotonic() + wait
        while self.busy.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)

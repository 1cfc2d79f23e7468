"""Events from the command line (`observable run`, `observable event`): built
with the SDK's rules, delivered at once, or spooled like the SDK's.

An event here is built whole, with the contract v1.1's `run` and `expect`
fields (the expect built by _expect, as track()'s). Delivery is one attempt
with a short timeout; what is not delivered goes to the SDK's spool and a
detached sender (`python -m observable._sender`) delivers it once the API is
reachable (or the next process that uses the SDK does). A job is never
failed, nor held, because the server is down.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Dict, List, Optional

from . import _exit, _spool, _transport, _warn
from ._delivery import ACKED, RETRY, Link
from ._events import clean_name, clean_status, iso_utc, make_source, new_id
from ._serialize import MAX_METADATA_BYTES, dumps, metadata_json, safe_str, truncate_text
from ._version import __version__

MAX_MESSAGE = 2000


def build_event(name: str, status: str, *, run: Optional[str] = None,
                expect: Optional[Dict[str, Any]] = None, duration_s: Optional[float] = None,
                when: Optional[float] = None, error: Optional[Dict[str, str]] = None,
                metadata: Optional[Dict[str, Any]] = None, metadata_fitted: bool = False) -> str:
    """One event's JSON, within the contract's limits whatever was given.

    metadata_fitted: the metadata is JSON already, sized to the limit by its
    maker (the run's output: cutting its strings to 8 KiB would lose the
    tail's end), and is sent as it is if it fits."""
    event: Dict[str, Any] = {"id": new_id(), "name": clean_name(name),
                             "status": clean_status(status)}
    if run:
        event["run"] = run[:64]
    if expect:
        event["expect"] = expect
    if duration_s is not None:
        event["duration_ms"] = round(max(0.0, duration_s) * 1000.0, 3)
    event["timestamp"] = iso_utc(time.time() if when is None else when)
    if error:
        event["error"] = {k: truncate_text(safe_str(v), MAX_MESSAGE) for k, v in error.items()}
    meta = metadata if metadata_fitted and _fits(metadata) else metadata_json(metadata)
    if meta:
        event["metadata"] = meta
    source = make_source()
    source["sdk"] = f"observable-cli/{__version__}"
    event["source"] = source
    return dumps(event)


def _fits(metadata: Optional[Dict[str, Any]]) -> bool:
    try:
        return bool(metadata) and len(dumps(metadata)) <= MAX_METADATA_BYTES
    except (TypeError, ValueError):
        return False


class Reporter:
    """Delivers a few events for one (API URL, session)."""

    def __init__(self, api_url: str, session_id: str, timeout: float) -> None:
        self.api_url, self.session_id = api_url, session_id
        self.timeout = timeout
        self.link = self._link()
        self.spool = _spool.Spool(api_url, session_id)
        self.problem = ""
        self._early: Optional[threading.Thread] = None
        self._early_events: List[str] = []
        self._early_done = False

    def _link(self) -> Link:
        return _QuietLink(self.api_url, _transport.Transport(self.api_url, self.session_id, timeout=self.timeout))

    def send(self, events: List[str], link: Optional[Link] = None) -> Optional[bool]:
        """One attempt: True delivered, False worth retrying later, None refused for good."""
        link = link or self.link
        verdict = link.send(events, whole=True)
        link.exporter.close()  # type: ignore[attr-defined]
        if verdict.kind == ACKED:
            return True
        if verdict.kind == RETRY:
            self.problem = link.last_problem or "API not reachable"
            return False
        # Refused (the Link said why, once) or too large: retrying will not help.
        return None

    def send_early(self, events: List[str]) -> None:
        """Start sending in the background (the `started` event: the command waits for nothing)."""
        self._early_events = events
        link = self._link()  # its own connection: the last events may go while it still waits

        def go() -> None:
            # Done unless worth retrying: delivered (True) or refused for good (None).
            self._early_done = self.send(events, link) is not False

        self._early = threading.Thread(target=go, name="observable-started", daemon=True)
        self._early.start()

    def finish(self, events: List[str], wait_early: float) -> bool:
        """Deliver the last events, after the early ones (or with them); spool what fails.

        Returns True when everything was delivered now."""
        if self._early is not None:
            self._early.join(wait_early)
            if not self._early_done:
                # Not acknowledged (or still in flight): send it again in front
                # of the rest, so that the server sees them in order. Its id
                # makes a second copy harmless.
                events = self._early_events + events
        delivered = self.send(events)
        if delivered is False:
            self.keep(events)
            return False
        self.deliver_waiting()
        return True

    def deliver_waiting(self) -> None:
        """The API answers: if older reports wait on disk, have them sent too."""
        if self.spool.files():
            self.hand_off()

    def keep(self, events: List[str]) -> None:
        kept, lost = self.spool.write(events)
        if lost:
            _warn.warn_once("spool-full", f"{lost} events could not be kept on disk and are lost")
        if kept:
            if _sender_allowed():
                later = "a sender in the background delivers it once the API is reachable"
            else:
                later = (f"{_exit.SENDER_ENV}=0, so nothing sends it in the background: the next "
                         "program that uses the SDK, or `observable` command run without that "
                         "setting, delivers it once the API is reachable")
            _warn.warn_once("spooled", f"the report could not be delivered ({self.problem}); it is kept in "
                            f"{self.spool.directory()}; {later}")
            self.hand_off()

    def hand_off(self) -> None:
        if _sender_allowed():
            _exit._start_detached_sender(self.api_url, self.session_id)


def _sender_allowed() -> bool:
    return os.environ.get(_exit.SENDER_ENV, "1").strip() != "0"


class _QuietLink(Link):
    """A Link that only notes why a send failed: the Link's own warning
    ("retrying in the background") is not what happens here; the reporter
    says what does, once it knows (Reporter.keep)."""

    def _note_retry(self, result: _transport.Result) -> None:
        what = f"HTTP {result.status}: {result.message}" if result.status else result.message
        self.last_problem = f"{self.exporter.url}: {what}"  # type: ignore[attr-defined]

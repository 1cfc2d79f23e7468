"""The detached sender: `python -m observable._sender`.

Started at exit by a process that had to spool events (the API was down or
hanging). It runs in its own session with no terminal, reads the session id
and API URL from its environment (never its command line), delivers the
spool with backoff, and gives up after OBSERVABLE_CODE_SENDER_SECONDS
(default 900); whatever is left then is delivered by the next process that
uses the SDK. Only one drains a spool directory at a time (a file lock).
"""

from __future__ import annotations

import os
import sys
import time
from typing import List

from . import _config, _spool, _transport
from ._delivery import MAX_BATCH_BYTES, RETRY, SMALLER, Link, Verdict

TTL_ENV = "OBSERVABLE_CODE_SENDER_SECONDS"
LOCK_RETRIES = 10


def run(api_url: str, session_id: str, ttl: float) -> int:
    link = Link(api_url, _transport.Transport(api_url, session_id))
    spool = _spool.Spool(api_url, session_id)
    deadline = time.monotonic() + ttl
    attempt = busy = 0
    while time.monotonic() < deadline:
        retry: List[Verdict] = []

        def send(events: List[str]) -> bool:
            verdict = link.send(events, whole=True)
            if verdict.kind == RETRY:
                retry.append(verdict)
                return False
            # Stored, or refused for good (unknown session, invalid): done
            # with them. SMALLER: the same events go again in halves.
            return verdict.kind != SMALLER

        done = spool.drain(send, lambda: link.batch_events, MAX_BATCH_BYTES, lambda: time.monotonic() < deadline)
        if done:
            return 0
        if done is None:
            # Locked: the process that started us may still be finishing a
            # file, or another sender is at work. Wait a little, then leave
            # it to whoever holds the lock.
            busy += 1
            if busy > LOCK_RETRIES:
                return 0
            time.sleep(0.5)
            continue
        busy = 0
        if retry:
            attempt += 1
            first = retry[0]
            wait = first.delay if first.honour else _transport.retry_delay(attempt, base=1.0, cap=60.0)
            time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
    return 0


def main() -> int:
    settings = _config.resolve()
    if not settings.session_id:
        return 0
    try:
        ttl = float(os.environ.get(TTL_ENV, "900"))
    except ValueError:
        ttl = 900.0
    try:
        return run(settings.api_url, settings.session_id, ttl)
    except Exception:
        return 1


if __name__ == "__main__":
    sys.exit(main())

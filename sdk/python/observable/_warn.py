"""Warnings for people, not programs: stderr, prefixed, once per kind.

The SDK must never break the program it observes, so writing a warning can
never raise (stderr may be closed, replaced, or None under pythonw) and no
traceback is ever printed.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Set

PREFIX = "observable: "

_said: Set[str] = set()
_lock = threading.Lock()


def warn_once(kind: str, message: str) -> bool:
    """Print message unless a warning of this kind was already printed.

    Returns whether it was printed. Only called off the caller's hot path.
    """
    message = " ".join(message.split())  # one line, whatever a server sent us
    if len(message) > 500:
        message = message[:497] + "..."
    message = "".join(c if c.isprintable() else "?" for c in message)
    with _lock:
        if kind in _said:
            return False
        _said.add(kind)
    try:
        stream = sys.stderr
        if stream is not None:
            stream.write(PREFIX + message + "\n")
            stream.flush()
    except Exception:
        pass
    return True


def reset() -> None:
    """Forget what was said (tests only)."""
    with _lock:
        _said.clear()


def _after_fork_in_child() -> None:
    # Another thread may have held the lock at the fork: the child's copy
    # would stay locked forever.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

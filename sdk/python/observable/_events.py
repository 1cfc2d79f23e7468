"""From what the caller's thread queued to the event the server accepts.

The caller's thread only queues a record (_record.py); everything costly
happens here, on the sender thread: ids, wall-clock time, the error's
traceback, metadata serialisation and the contract's validation rules, so
the server never rejects a batch the SDK sent.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
import traceback
from types import TracebackType
from typing import Any, Dict, NamedTuple, Optional, Tuple

from ._record import Failure, Job, Record, Scope
from ._serialize import dumps, metadata_json, safe_str, truncate_text
from ._version import __version__
from ._zone import local_zone


class Built(NamedTuple):
    """An event ready to send: its id (for de-duplication) and its JSON."""

    id: str
    json: str

MAX_NAME = 200
MAX_STATUS = 32
MAX_MESSAGE = 2000
MAX_TRACEBACK = 8000
TRACEBACK_FRAMES = 30
_STATUS_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
_NOT_STATUS_CHAR = re.compile(r"[^a-z0-9_]+")

COMPLETED = "completed"
STARTED = "started"
FAILED = "failed"
CANCELLED = "cancelled"


def clean_name(name: Any) -> str:
    """1 to 200 characters, whatever was given."""
    text = name if type(name) is str else safe_str(name, 400)
    if "\x00" in text:  # refused by the server (no database stores it)
        text = text.replace("\x00", "\ufffd")
    text = text.strip()
    if not text:
        return "unnamed"
    if len(text) > MAX_NAME:
        text = text[: MAX_NAME - 3] + "..."
    return text


def clean_status(status: Any) -> str:
    """A lowercase word of at most 32 characters: "Timed Out" -> "timed_out"."""
    text = status if type(status) is str else safe_str(status, 100)
    if _STATUS_RE.match(text) and len(text) <= MAX_STATUS:
        return text
    word = _NOT_STATUS_CHAR.sub("_", text.strip().lower()).strip("_")
    if not word:
        return COMPLETED
    if not ("a" <= word[0] <= "z"):
        word = "s_" + word
    return word[:MAX_STATUS].rstrip("_")


def qualified_type(exc_type: type) -> str:
    module = getattr(exc_type, "__module__", None)
    name = getattr(exc_type, "__qualname__", None) or getattr(exc_type, "__name__", "Exception")
    if not module or module in ("builtins", "__main__"):
        return str(name)
    return f"{module}.{name}"


def _is_cancelled(exc: BaseException) -> bool:
    if isinstance(exc, KeyboardInterrupt):
        return True
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


def outcome(failure: Optional[Failure]) -> Tuple[str, Optional[Dict[str, str]]]:
    """The status a call ended with, and its error object.

    Decisions (see README): SystemExit(0) or SystemExit(None) is a clean exit,
    "completed"; any other SystemExit is "failed". KeyboardInterrupt and
    asyncio.CancelledError were stopped from outside: "cancelled", error kept
    so it can be shown. GeneratorExit means a generator's consumer stopped
    early: "completed". Anything else: "failed".
    """
    if failure is None:
        return COMPLETED, None
    exc, tb = failure
    if isinstance(exc, GeneratorExit):
        return COMPLETED, None
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        return COMPLETED, None
    status = CANCELLED if _is_cancelled(exc) else FAILED
    return status, error_info(exc, tb)


def error_info(exc: BaseException, tb: Optional[TracebackType]) -> Dict[str, str]:
    return {
        "type": qualified_type(type(exc)),
        "message": truncate_text(safe_str(exc, MAX_MESSAGE * 2), MAX_MESSAGE),
        "traceback": format_traceback(exc, tb),
    }


def format_traceback(exc: BaseException, tb: Optional[TracebackType]) -> str:
    """The innermost frames, bounded, without the SDK's own wrapper frame."""
    try:
        if tb is not None and _is_ours(tb):
            tb = tb.tb_next
        depth, cur = 0, tb
        while cur is not None:
            depth, cur = depth + 1, cur.tb_next
        for _ in range(depth - TRACEBACK_FRAMES):  # keep the innermost frames
            tb = tb.tb_next if tb is not None else None
        frames = traceback.extract_tb(tb)
        lines = traceback.format_list(frames)
        lines.append(f"{qualified_type(type(exc))}: {safe_str(exc, 500)}\n")
        text = "".join(lines)
        if len(text) > MAX_TRACEBACK:
            text = "...\n" + text[-MAX_TRACEBACK:]
        return text
    except Exception:
        return ""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _is_ours(tb: TracebackType) -> bool:
    return os.path.dirname(os.path.abspath(tb.tb_frame.f_code.co_filename)) == _PACKAGE_DIR


def iso_utc(seconds: float) -> str:
    """RFC 3339, UTC, milliseconds: 2026-01-02T15:04:05.123Z."""
    whole = int(seconds)
    millis = int((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + ".%03dZ" % millis


def make_source() -> Dict[str, Any]:
    try:
        host = socket.gethostname()
    except Exception:
        host = "unknown"
    impl = {"cpython": "CPython", "pypy": "PyPy"}.get(sys.implementation.name, sys.implementation.name)
    v = sys.version_info
    source: Dict[str, Any] = {
        "host": host,
        "pid": os.getpid(),
        "sdk": f"observable-python/{__version__}",
        "runtime": f"{impl} {v.major}.{v.minor}.{v.micro}",
    }
    try:
        tz = local_zone()
    except Exception:  # never let a strange host break the sender
        tz = None
    if tz:
        source["tz"] = tz
    return source


def _merged_metadata(call: Record) -> Optional[Dict[Any, Any]]:
    before = call.before if type(call.before) is dict else None
    during = call.during.meta if type(call.during) is Scope else None
    if not before:
        return during or None
    if not during:
        return before
    merged = dict(before)
    merged.update(during)
    return merged


def new_id() -> str:
    """A client id that sorts by the time it was made: 12 hex digits of milliseconds since the
    epoch, then 80 random bits. The server keeps (session, id) in a B-tree to refuse duplicates;
    ids made one after another land side by side there, where random ones would each dirty a
    page of their own in every commit (docs/benchmarks/server.md, issue 15)."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def _head(job: Any) -> Tuple[Dict[str, Any], Any]:
    """The event's id and name, and the job's declared expectation (None if it has none)."""
    expect = None
    if type(job) is Job:
        job, expect = job.name, job.expect
    return {"id": new_id(), "name": clean_name(job)}, expect


def build(call: Record, source: Dict[str, Any], wall_offset: float, run: Optional[str] = None) -> Built:
    """The event the server accepts. wall_offset = time.time() - perf_counter().

    run: the run id, when the call was announced by a `started` event (_runs)."""
    status, start, end, failure = call.status, call.start, call.end, call.failure
    event, expect = _head(call.name)
    if status is None:
        event["status"], error = outcome(failure)
    else:
        event["status"], error = clean_status(status), None
    if run is not None:
        event["run"] = run
    if expect is not None:
        event["expect"] = expect
    if start is not None:
        event["duration_ms"] = round(max(0.0, (end - start) * 1000.0), 3)
    event["timestamp"] = iso_utc(end + wall_offset)
    if error is not None:
        event["error"] = error
    meta = metadata_json(_merged_metadata(call))
    if meta:
        event["metadata"] = meta
    event["source"] = source
    return Built(event["id"], dumps(event))


def build_started(job: Any, start: float, run: str, source: Dict[str, Any], wall_offset: float) -> Built:
    """The `started` event of a long call (see _runs), stamped with the call's start."""
    event, expect = _head(job)
    event["status"], event["run"] = STARTED, run
    if expect is not None:
        event["expect"] = expect
    event["timestamp"] = iso_utc(start + wall_offset)
    event["source"] = source
    return Built(event["id"], dumps(event))

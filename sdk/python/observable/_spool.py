"""Events that could not be delivered before exit wait on disk.

Layout: <base>/<key>/<time>-<pid>-<random>.jsonl, one event's JSON per line,
where <key> is a hash of the API URL and session id (so the id itself is
not written here, and a process only ever sends what was meant for its own
session and server). <base> is $OBSERVABLE_CODE_SPOOL_DIR, else
~/.observable-code/spool, else (home not writable) a private directory in
the system's temporary directory.

Files appear whole (written aside, then renamed) and are deleted only once
every event in them was acknowledged; a file sent twice is harmless because
the server de-duplicates events by id. One drainer at a time per directory
(an flock), so a detached sender and the next process do not race.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

from . import _config

try:
    import fcntl
except ImportError:  # Windows: no lock; ids still prevent doubles
    fcntl = None  # type: ignore[assignment]

SPOOL_ENV = "OBSERVABLE_CODE_SPOOL_DIR"
MAX_BYTES = 32 * 1024 * 1024
MAX_FILES = 2000
SUFFIX = ".jsonl"


def key_for(api_url: str, session_id: str) -> str:
    return hashlib.sha256(f"{api_url}\n{session_id}".encode()).hexdigest()[:32]


def _private_dir(path: Path) -> bool:
    """Create path (0700) if needed; True when it is ours and writable."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or not os.path.isdir(path)):
            return False
        if os.path.islink(path):
            return False
        return os.access(path, os.W_OK | os.X_OK)
    except Exception:
        return False


def base_candidates() -> List[Path]:
    env = os.environ.get(SPOOL_ENV, "").strip()
    if env:
        return [Path(env)]
    out: List[Path] = []
    try:
        out.append(_config.config_dir() / "spool")
    except Exception:
        pass
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    out.append(_temp_dir() / f"observable-code-{uid}" / "spool")
    return out


def _temp_dir() -> Path:
    """The system's temporary directory, found without tempfile.gettempdir.

    gettempdir() holds a module lock while it probes the disk; if the sender
    thread held it when the program forked, the child would deadlock on its
    first call. Reading the environment takes no lock.
    """
    if os.name != "posix":
        import tempfile

        return Path(tempfile.gettempdir())
    for name in ("TMPDIR", "TEMP", "TMP"):
        value = os.environ.get(name)
        if value:
            return Path(value)
    return Path("/tmp")


class Spool:
    """The spool directory of one (API URL, session) pair."""

    def __init__(self, api_url: str, session_id: str) -> None:
        self.key = key_for(api_url, session_id)
        self._dir: Optional[Path] = None

    def directory(self) -> Optional[Path]:
        if self._dir is None:
            for base in base_candidates():
                if _private_dir(base / self.key):
                    self._dir = base / self.key
                    break
        return self._dir

    def existing_directories(self) -> List[Path]:
        """Every candidate directory that already holds files for this key."""
        return [b / self.key for b in base_candidates() if (b / self.key).is_dir()]

    def files(self, directory: Optional[Path] = None) -> List[Path]:
        d = directory or self.directory()
        if d is None:
            return []
        try:
            return sorted(p for p in d.iterdir() if p.name.endswith(SUFFIX) and not p.name.startswith("."))
        except OSError:
            return []

    def write(self, events: List[str]) -> Tuple[int, int]:
        """Append events as one new file; returns (kept, dropped)."""
        if not events:
            return 0, 0
        d = self.directory()
        if d is None:
            return 0, len(events)
        data = ("\n".join(events) + "\n").encode("ascii")
        dropped = self._make_room(d, len(data))
        name = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}{SUFFIX}"
        tmp = d / ("." + name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, d / name)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return 0, dropped + len(events)
        return len(events), dropped

    def _make_room(self, d: Path, incoming: int) -> int:
        """Delete the oldest files until incoming fits; returns events lost."""
        files = self.files(d)
        sizes = []
        for p in files:
            try:
                sizes.append(p.stat().st_size)
            except OSError:
                sizes.append(0)
        total, lost = sum(sizes), 0
        while files and (total + incoming > MAX_BYTES or len(files) >= MAX_FILES):
            p = files.pop(0)
            total -= sizes.pop(0)
            lost += sum(1 for _ in read_events(p))
            _unlink(p)
        return lost

    def drain(self, send: Callable[[List[str]], bool], batch_events: Callable[[], int],
              batch_bytes: int, keep_going: Callable[[], bool]) -> Optional[bool]:
        """Send every spooled file, oldest first, holding the directory lock.

        send(events) returns True when acknowledged. Returns True when the
        spool is empty, False when a send failed, None when another process
        holds the lock or nothing could be read.
        """
        for d in self.existing_directories():
            with _Lock(d / ".lock") as locked:
                if not locked:
                    return None
                for path in self.files(d):
                    if not keep_going():
                        return False
                    events = list(read_events(path))
                    for chunk in chunks(events, batch_events, batch_bytes):
                        if not send(chunk):
                            return False
                    _unlink(path)
        return True


def read_events(path: Path) -> Iterator[str]:
    try:
        with open(path, "rb") as f:
            for line in f:
                text = line.strip().decode("ascii", "replace")
                if text.startswith("{") and text.endswith("}"):
                    yield text
    except OSError:
        return


def chunks(events: List[str], max_events: Callable[[], int], max_bytes: int) -> Iterator[List[str]]:
    """Split events into request-sized groups (the limit may shrink as we go)."""
    start = 0
    while start < len(events):
        size, end = 0, start
        while end < len(events) and end - start < max(1, max_events()):
            size += len(events[end]) + 1
            if size > max_bytes and end > start:
                break
            end += 1
        yield events[start:end]
        start = end


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class _Lock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: Optional[int] = None

    def __enter__(self) -> bool:
        if fcntl is None:
            return True
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            self._close()
            return False

    def __exit__(self, *exc: Any) -> None:
        self._close()

    def _close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

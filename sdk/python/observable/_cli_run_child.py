"""`observable run`'s side of the process tree: start the command, copy its
output through live, keep the head and tail, pass signals on, stop it at a
timeout, and say how it ended.

Two ways to hold the command, chosen by what the wrapper was started on:

- on the foreground of a terminal: the command stays in our process group,
  as it would be without us, so the terminal's job control works and Ctrl-C
  (or Ctrl-\\) reaches it straight from the terminal; forwarding SIGINT or
  SIGQUIT too would deliver them twice, so only SIGTERM and SIGHUP are
  forwarded (to the command's own pid);
- anywhere else (cron, systemd, a pipeline, a script): the command gets a
  process group of its own, and every forwarded signal and the timeout reach
  that whole group (a shell script's children too).

Output is copied through pipes, as bytes, unbuffered, while only the first
and the last few KB are kept. When stdout or stderr is a terminal (or with
--no-capture) the command writes to it directly instead: interactive
programs need a terminal, and then no output is kept.
"""

from __future__ import annotations

import errno
import os
import selectors
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, NamedTuple, Optional

FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
READ_SIZE = 65536
# After the command exits, a child it left behind may keep the pipes open:
# stop copying once they have been quiet this long.
QUIET_AFTER_EXIT = 0.5
EXIT_TIMEOUT = 124
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Output:
    """The first `head` and the last `tail` bytes of everything written."""

    def __init__(self, head: int, tail: int) -> None:
        self.head_limit, self.tail_limit = head, tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_limit:
            self.tail += data
            if len(self.tail) > 2 * self.tail_limit:  # trim in steps, not on every chunk
                del self.tail[: len(self.tail) - self.tail_limit]

    def metadata(self) -> Dict[str, Any]:
        tail = bytes(self.tail[-self.tail_limit:]) if self.tail_limit else b""
        skipped = self.total - len(self.head) - len(tail)
        if skipped <= 0:
            return {"output": _text(bytes(self.head) + tail), "output_bytes": self.total}
        # The tail may start inside a UTF-8 character: start at the next one.
        cut = 0
        while cut < min(3, len(tail)) and 0x80 <= tail[cut] < 0xC0:
            cut += 1
        return {"output_head": _text(bytes(self.head)), "output_tail": _text(tail[cut:]),
                "output_bytes": self.total, "output_skipped_bytes": skipped + cut}


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


class Ended(NamedTuple):
    """How one attempt ended."""

    exit_status: int  # as a shell reports it: 128 + n for a death by signal n
    signal: Optional[int]  # the signal that killed the command
    timed_out: bool
    not_started: Optional[str]  # why the command could not be started
    duration: float  # seconds
    cpu_s: float  # user + system time of the command and its children
    max_rss_kib: int  # the largest resident set of any child so far


class Signals:
    """Our handlers for the forwarded signals, installed for the whole run."""

    def __init__(self) -> None:
        self.received: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None  # type: ignore[type-arg]
        self.own_group = True
        self.previous: Dict[int, Any] = {}

    def install(self) -> None:
        for name in FORWARDED:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            current = signal.getsignal(sig)
            if current is signal.SIG_IGN:
                continue  # ignored by whoever started us (nohup): the command inherits that
            self.previous[sig] = current
            signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            try:
                signal.signal(sig, handler)
            except (OSError, ValueError, TypeError):
                pass

    def _handle(self, sig: int, frame: Any) -> None:
        self.received = sig
        if not self.own_group and sig in (signal.SIGINT, getattr(signal, "SIGQUIT", -1)):
            return  # the terminal delivered it to the command already
        self.send(sig)

    def send(self, sig: int) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        try:
            if self.own_group:
                os.killpg(proc.pid, sig)
            else:
                os.kill(proc.pid, sig)
        except OSError:
            pass


def _terminal_foreground() -> bool:
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def capture_wanted(no_capture: bool) -> bool:
    if no_capture:
        return False
    return not any(_isatty(fd) for fd in (1, 2))


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _rusage() -> Any:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN)


def _max_rss_kib(usage: Any) -> int:
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    return int(usage.ru_maxrss // 1024) if sys.platform == "darwin" else int(usage.ru_maxrss)


def run_once(argv: List[str], signals: Signals, output: Output, capture: bool,
             timeout: Optional[float], kill_after: float) -> Ended:
    """Run the command once, to its end; never raises for the command's sake."""
    own_group = not _terminal_foreground()
    signals.own_group = own_group
    before = _rusage()
    started = time.monotonic()
    kwargs: Dict[str, Any] = {}
    if own_group:
        if sys.version_info >= (3, 11):
            kwargs["process_group"] = 0
        else:
            kwargs["preexec_fn"] = os.setpgrp
    pipe = subprocess.PIPE if capture else None
    try:
        proc = subprocess.Popen(argv, stdout=pipe, stderr=pipe, **kwargs)
    except OSError as e:
        return _not_started(argv[0], e, started)
    signals.proc = proc
    if signals.received is not None:
        signals.send(signals.received)  # a signal came while it was starting
    watch = _Watch(proc, signals, timeout, kill_after, started)
    if capture:
        _copy(proc, output, watch)
    watch.wait()
    signals.proc = None
    after = _rusage()
    rc = proc.returncode
    sig = -rc if rc < 0 else None
    status = 128 + sig if sig is not None else rc
    if watch.timed_out and sig != signal.SIGKILL:
        status = EXIT_TIMEOUT  # as GNU timeout; a SIGKILL after the grace gives 137, as there
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Ended(status, sig, watch.timed_out, None, time.monotonic() - started,
                 round(max(0.0, cpu), 3), _max_rss_kib(after))


def _not_started(program: str, e: OSError, started: float) -> Ended:
    if isinstance(e, FileNotFoundError) or e.errno == errno.ENOENT:
        status, why = EXIT_NOT_FOUND, f"{program}: command not found"
    else:
        status, why = EXIT_NOT_EXECUTABLE, f"{program}: cannot run it: {e.strerror or e}"
    return Ended(status, None, False, why, time.monotonic() - started, 0.0, _max_rss_kib(_rusage()))


class _Watch:
    """The timeout's two steps (SIGTERM, then SIGKILL after the grace)."""

    def __init__(self, proc: "subprocess.Popen[bytes]", signals: Signals, timeout: Optional[float],
                 kill_after: float, started: float) -> None:
        self.proc, self.signals = proc, signals
        self.term_at = started + timeout if timeout else None
        self.kill_after = kill_after
        self.kill_at: Optional[float] = None
        self.timed_out = False

    def next_timer(self) -> Optional[float]:
        """Seconds until the next step is due (None: no timer)."""
        due = self.kill_at if self.kill_at is not None else self.term_at
        return None if due is None else max(0.0, due - time.monotonic())

    def tick(self) -> None:
        now = time.monotonic()
        if self.term_at is not None and self.kill_at is None and now >= self.term_at:
            self.timed_out = True
            self.signals.send(signal.SIGTERM)
            self.kill_at = now + self.kill_after
        elif self.kill_at is not None and now >= self.kill_at:
            self.signals.send(signal.SIGKILL)
            self.kill_at, self.term_at = float("inf"), None

    def wait(self) -> None:
        while True:
            self.tick()
            left = self.next_timer()
            try:
                self.proc.wait(None if left is None or left == float("inf") else left)
                return
            except subprocess.TimeoutExpired:
                continue


def _copy(proc: "subprocess.Popen[bytes]", output: Output, watch: _Watch) -> None:
    """Copy stdout and stderr through as they come, until both end."""
    sel = selectors.DefaultSelector()
    for stream, dest in ((proc.stdout, 1), (proc.stderr, 2)):
        if stream is not None:
            sel.register(stream.fileno(), selectors.EVENT_READ, (stream, dest))
    exited_at: Optional[float] = None
    last_data = time.monotonic()
    try:
        while sel.get_map():
            watch.tick()
            wait = 0.25
            left = watch.next_timer()
            if left is not None:
                wait = min(wait, left)
            if exited_at is not None:
                wait = min(wait, QUIET_AFTER_EXIT)
            for key, _ in sel.select(wait):
                stream, dest = key.data
                try:
                    data = os.read(key.fd, READ_SIZE)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fd)
                    stream.close()
                    continue
                last_data = time.monotonic()
                output.add(data)
                if not _write_all(dest, data):
                    # Our reader went away: let the command meet a closed pipe
                    # (SIGPIPE, EPIPE), as it would without us.
                    sel.unregister(key.fd)
                    stream.close()
            if exited_at is None and proc.poll() is not None:
                exited_at = time.monotonic()
            if exited_at is not None and time.monotonic() - last_data >= QUIET_AFTER_EXIT:
                break
    finally:
        for key in list(sel.get_map().values()):
            key.data[0].close()
        sel.close()


def _write_all(fd: int, data: bytes) -> bool:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return False
        view = view[n:]
    return True

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

Output is copied through, as bytes, unbuffered, while only the first and
the last few KB are kept: one pipe for both when stdout and stderr are one
file or pipe (`2>&1`: their order is kept), else one each. Where stdout or
stderr is a terminal, the command gets a pseudo-terminal instead of a pipe
(one for both when they are the same terminal), so it still sees a terminal
(_cli_run_pty). With --no-capture, or where no pty can be had, the command
writes to our stdout and stderr directly, and no output is kept.
"""

from __future__ import annotations

import errno
import os
import selectors
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional

from . import _cli_run_pty
from ._serialize import MAX_METADATA_BYTES, dumps

FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
READ_SIZE = 65536
# After the command exits, a child it left behind may keep the pipes open:
# stop copying once they have been quiet this long.
QUIET_AFTER_EXIT = 0.5
MIRROR_EVERY = 0.1  # how often a pty's input modes are looked at (_cli_run_pty.Pty.mirror)
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

    def metadata(self, base: Optional[Dict[str, Any]] = None,
                 limit: int = MAX_METADATA_BYTES) -> Dict[str, Any]:
        """`base` and the output's fields, serialized within `limit` bytes.

        JSON escapes can make the text several times its bytes (a NUL or an
        invalid byte is 6 bytes as \\ufffd): then the head and the tail are
        both cut, the tail keeping its end, until it all fits."""
        base = dict(base or {})
        head = bytes(self.head)
        tail = bytes(self.tail[-self.tail_limit:]) if self.tail_limit else b""
        if self.total <= len(head) + len(tail):  # nothing skipped: one piece
            whole = _text(head + tail)
            meta = dict(base, output=whole, output_bytes=self.total)
            if len(dumps(meta)) <= limit:
                return meta
        h, t = len(head), len(tail)
        while True:
            kept_head = head[:_char_start(head, h)]
            kept_tail = tail[len(tail) - t:]
            cut = 0  # the tail may start inside a UTF-8 character: start at the next one
            while cut < min(3, len(kept_tail)) and 0x80 <= kept_tail[cut] < 0xC0:
                cut += 1
            kept_tail = kept_tail[cut:]
            meta = dict(base, output_head=_text(kept_head), output_tail=_text(kept_tail),
                        output_bytes=self.total,
                        output_skipped_bytes=self.total - len(kept_head) - len(kept_tail))
            size = len(dumps(meta))
            if size <= limit or h + t == 0:
                return meta
            # Escapes grow text evenly enough that a proportional cut nearly
            # fits at once; the margin and the step make each turn progress.
            fixed = len(dumps(base)) + 200
            ratio = max(0.0, (limit - fixed) / max(1, size - fixed)) * 0.97
            h = max(0, min(h - 1, int(h * ratio))) if h else 0
            t = max(0, min(t - 1, int(t * ratio))) if t else 0


def _char_start(data: bytes, end: int) -> int:
    """`end`, moved back to the start of the UTF-8 character it falls in."""
    if end >= len(data):
        return len(data)
    i = end
    while i > 0 and end - i < 3 and 0x80 <= data[i] < 0xC0:
        i -= 1
    return i if i < end and data[i] >= 0xC0 else end


def _text(data: bytes) -> str:
    # Neither of the server's databases stores a NUL: it would refuse the event.
    return data.decode("utf-8", "replace").replace("\x00", "\ufffd")


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
    """Whether output is kept: yes unless --no-capture, or a terminal is
    there and no pty can be had to stand in for it (then the command writes
    to the terminal itself, as without us)."""
    if no_capture:
        return False
    return not _cli_run_pty.terminals() or _cli_run_pty.available()


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
    # close_fds=False: the command inherits what it would without us (a
    # flock's fd, systemd's LISTEN_FDS, `3>file`); ours are all close-on-exec
    # (PEP 446), pipes and sockets included.
    kwargs: Dict[str, Any] = {"close_fds": False}
    setup = _child_setup(own_group and sys.version_info < (3, 11))
    if setup is not None:
        kwargs["preexec_fn"] = setup
    if own_group and sys.version_info >= (3, 11):
        kwargs["process_group"] = 0
    ptys = _cli_run_pty.open_ptys(not own_group) if capture else {}
    if ptys is None:  # no pty here after all: the terminal's side is not captured
        ptys, capture = {}, False
    merged = capture and not ptys and _same_file(1, 2)
    pipe = subprocess.PIPE if capture else None
    stdout = ptys[1].slave if 1 in ptys else pipe
    stderr = ptys[2].slave if 2 in ptys else subprocess.STDOUT if merged else pipe
    try:
        try:
            proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, **kwargs)
        except OSError as e:
            return _not_started(argv[0], e, started)
        finally:
            for p in set(ptys.values()):
                p.close_slave()  # the command's alone now: its end reads as EIO on the master
        signals.proc = proc
        if signals.received is not None:
            signals.send(signals.received)  # a signal came while it was starting
        watch = _Watch(proc, signals, timeout, kill_after, started)
        group = (lambda: proc.pid) if own_group else os.getpgrp
        with _cli_run_pty.Resizes(list(set(ptys.values())), group):
            if capture:
                _copy(proc, output, watch, ptys)
            watch.wait()
    finally:
        for p in set(ptys.values()):
            p.close()
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


def _same_file(a: int, b: int) -> bool:
    """Whether fds a and b are one file or pipe (`2>&1`, cron, systemd): then
    the command gets one pipe for both, and their order is kept."""
    try:
        sa, sb = os.fstat(a), os.fstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _child_setup(setpgrp: bool) -> Optional[Callable[[], None]]:
    """What the child does before exec: its own process group (before 3.11's
    process_group), and on Linux death with us: kill -9 of the wrapper
    would otherwise leave the command running, outside the group its
    parent's killer aimed at (PR_SET_PDEATHSIG(SIGKILL))."""
    prctl = _prctl() if sys.platform.startswith("linux") else None
    if not setpgrp and prctl is None:
        return None
    parent = os.getpid()

    def setup() -> None:
        if setpgrp:
            os.setpgrp()
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # we died before it was set
                os.kill(os.getpid(), signal.SIGKILL)

    return setup


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _prctl() -> Optional[Callable[..., int]]:
    # Looked up before the fork: the child only calls it.
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).prctl
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        return fn  # type: ignore[no-any-return]
    except (ImportError, OSError, AttributeError):
        return None


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


class _Source:
    """A pipe or a pty master the command's output comes from."""

    def __init__(self, fd: int, dest: int, close: Callable[[], None],
                 pty: Optional[_cli_run_pty.Pty] = None) -> None:
        self.fd, self.dest, self.pty = fd, dest, pty
        self.text = pty.text if pty is not None else None
        self._close = close

    def close(self, output: Output) -> None:
        if self.pty is not None:
            self.pty.mirror()  # the modes it left: a curses program's restore at its end
        if self.text is not None:  # the line the pty's output ended in
            rest = self.text.flush()
            if rest:
                output.add(rest)
            self.text = None
        self._close()


def _copy(proc: "subprocess.Popen[bytes]", output: Output, watch: _Watch,
          ptys: Dict[int, _cli_run_pty.Pty]) -> None:
    """Copy stdout and stderr through as they come, until both end."""
    sel = selectors.DefaultSelector()
    sources: List[_Source] = []
    for p in set(ptys.values()):
        sources.append(_Source(p.master, p.dest, p.close, p))
    for stream, dest in ((proc.stdout, 1), (proc.stderr, 2)):
        if stream is not None:
            sources.append(_Source(stream.fileno(), dest, stream.close))
    for source in sources:
        sel.register(source.fd, selectors.EVENT_READ, source)
    mirrors = [p for p in set(ptys.values()) if p.stdin is not None]
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
            if mirrors:  # a mode change with nothing written after it is seen this soon
                wait = min(wait, MIRROR_EVERY)
                for p in mirrors:
                    p.mirror()
            for key, _ in sel.select(wait):
                source = key.data
                try:
                    data = os.read(key.fd, READ_SIZE)
                except OSError:  # EIO from a pty master: every holder of its other end is gone
                    data = b""
                if not data:
                    sel.unregister(key.fd)
                    source.close(output)
                    continue
                last_data = time.monotonic()
                if source.pty is not None:
                    source.pty.mirror()  # before its keys come: set, then drawn
                output.add(data if source.text is None else source.text.feed(data))
                if not _write_all(source.dest, data):
                    # Our reader went away: let the command meet a closed pipe
                    # (SIGPIPE, EPIPE), as it would without us.
                    sel.unregister(key.fd)
                    source.close(output)
            if exited_at is None and proc.poll() is not None:
                exited_at = time.monotonic()
            if exited_at is not None and time.monotonic() - last_data >= QUIET_AFTER_EXIT:
                break
    finally:
        for key in list(sel.get_map().values()):
            key.data.close(output)
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

"""`observable run` on a terminal: the command's stdout (and stderr, when it
is the same terminal) goes to a pseudo-terminal of ours, copied live to the
real terminal and kept, head and tail, as readable text.

Only output moves: stdin stays the real terminal, and the command keeps the
real terminal as its controlling terminal, in the same process group as
without us (no setsid), so Ctrl-C, Ctrl-Z and job control work as before.
The pty's output post-processing is off (no OPOST): the bytes reach the real
terminal exactly as the command wrote them, and the real terminal does its
own newline handling, raw mode included.

A full-screen program (curses) sets its input modes (no echo, a key at a
time) through its stdout: on the pty, where they would do nothing, since
its keys come from the real terminal. So what changes in the pty's input
and local modes is made on the real terminal too (Pty.mirror), when that
terminal is stdin and we are in its foreground: only the bits the program
changed, so a command's own `stty -echo` on stdin is left alone.

What the program wrote for a terminal holds colours, cursor moves and `\\r`
redraws; the terminal gets those bytes untouched, and the kept text is what
the screen shows of each line at its end (TermText).
"""

from __future__ import annotations

import codecs
import os
import re
import signal
import sys
from typing import Any, Callable, Dict, List, Optional

# A line never ended (a spinner that runs for hours) is kept in pieces of this many characters.
MAX_LINE = 8192
# An escape sequence never ended is dropped once it holds this much.
MAX_ESCAPE = 4096

_TOKEN = re.compile(
    r"(?P<text>[^\x00-\x08\x0a-\x1f\x7f]+)"  # text, tabs included
    r"|(?P<nl>\n)|(?P<cr>\r)|(?P<bs>\x08)"
    r"|\x1b\[(?P<params>[0-?]*)[ -/]*(?P<final>[@-~])"  # CSI
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC (titles, links), DCS, SOS, PM, APC
    r"|\x1b(?:[ -/]+[0-~]|[0-OQ-WYZ\\`a-~])"  # the short ones: charset, keypad mode, save cursor
    r"|(?P<esc>\x1b)"  # an escape not (yet) complete
    r"|[\x00-\x08\x0b-\x1f\x7f]"  # other control characters (bell, shift in/out): not shown
)
# What may still become a complete escape sequence when more arrives.
_PARTIAL = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b]*\x1b?|[ -/]*)?")


class TermText:
    """Terminal output in, the text a screen would show of it out, one line at
    a time: escape sequences are removed, and a line redrawn with `\\r` (a
    progress bar), backspaces or erase-in-line keeps its last state. Feed it
    bytes as they come; sequences split across reads are joined."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""  # an escape sequence begun, not yet ended
        self._line = ""
        self._col = 0

    def feed(self, data: bytes) -> bytes:
        return self._run(self._pending + self._decoder.decode(data))

    def flush(self) -> bytes:
        """The line in progress (and any undecodable rest): at the end of the output."""
        rest = self._run(self._pending + self._decoder.decode(b"", True), final=True)
        line, self._line, self._col = self._line, "", 0
        return rest + line.encode("utf-8")

    def _run(self, text: str, final: bool = False) -> bytes:
        self._pending = ""
        out: List[str] = []
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            if kind == "text":
                self._write(m.group("text"), out)
            elif kind == "nl":
                out.append(self._line + "\n")
                self._line, self._col = "", 0
            elif kind == "cr":
                self._col = 0
            elif kind == "bs":
                self._col = max(0, self._col - 1)
            elif kind == "final":
                self._csi(m.group("params"), m.group("final"))
            elif kind == "esc":
                rest = text[m.start():]
                partial = _PARTIAL.match(rest)
                if not final and partial and partial.end() == len(rest) and len(rest) < MAX_ESCAPE:
                    self._pending = rest
                    break
                # Not an escape sequence after all: the ESC alone is dropped.
        return "".join(out).encode("utf-8")

    def _write(self, chars: str, out: List[str]) -> None:
        line, col = self._line, self._col
        if col > len(line):
            line += " " * (col - len(line))
        line = line[:col] + chars + line[col + len(chars):]
        col += len(chars)
        while len(line) >= MAX_LINE:  # kept in pieces: nothing held without bound
            out.append(line[:MAX_LINE])
            line, col = line[MAX_LINE:], max(0, col - MAX_LINE)
        self._line, self._col = line, col

    def _csi(self, params: str, final: str) -> None:
        first = params.split(";")[0]
        n = int(first) if first.isdigit() else 0
        if final == "K":  # erase in line: to its end, to its start, all
            if n == 0:
                self._line = self._line[:self._col]
            elif n == 1:  # the cursor's own column too
                self._line = " " * (self._col + 1) + self._line[self._col + 1:]
            elif n == 2:
                self._line = ""
        elif final == "G":  # to column n
            self._col = max(0, n - 1)
        elif final == "D":
            self._col = max(0, self._col - max(1, n))
        elif final == "C":
            self._col += max(1, n)
        # Colours, cursor up and down, screen clears: nothing to keep in a line of text.


def clean(data: bytes) -> str:
    """All of `data` as TermText keeps it (for tests and one-off use)."""
    t = TermText()
    return (t.feed(data) + t.flush()).decode("utf-8")


class Pty:
    """One pseudo-terminal standing in for the real terminal at `dest`."""

    def __init__(self, master: int, slave: int, dest: int, stdin: Optional[int]) -> None:
        self.master, self.slave, self.dest = master, slave, dest
        self.stdin = stdin  # the real terminal to mirror input modes onto, if any
        self.text = TermText()
        self._size: Optional[bytes] = None
        self.sync_size()
        self._initial = self._seen = self._modes()

    def _modes(self) -> Optional[List[Any]]:
        import termios

        try:
            return termios.tcgetattr(self.master)  # Linux answers with the slave's settings
        except (termios.error, OSError):
            return None

    def mirror(self, again: bool = False) -> None:
        """Make the program's changes to the pty's input modes on the real
        terminal; `again`: all of them since the start (after a stop, the
        shell may have reset the real terminal while the pty kept them)."""
        import termios

        if self.stdin is None or self.master < 0 or self._seen is None:
            return
        now = self._modes()
        if now is None or (now == self._seen and not again):
            return
        base = self._initial if again else self._seen
        self._seen = now
        if now == base or base is None:
            return
        try:
            real = termios.tcgetattr(self.stdin)
            for i in (0, 3):  # iflag, lflag
                changed = now[i] ^ base[i]
                real[i] = (real[i] & ~changed) | (now[i] & changed)
            for j, (was, value) in enumerate(zip(base[6], now[6])):
                if was != value:
                    real[6][j] = value
            termios.tcsetattr(self.stdin, termios.TCSANOW, real)
        except (termios.error, OSError, IndexError):
            self.stdin = None  # not ours to set after all: leave it

    def sync_size(self) -> bool:
        """Give the pty the real terminal's window size; whether it changed."""
        import fcntl
        import termios

        try:
            size = fcntl.ioctl(self.dest, termios.TIOCGWINSZ, b"\0" * 8)
        except OSError:
            return False
        if size == self._size:
            return False
        try:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
        except OSError:
            return False
        self._size = size
        return True

    def close_slave(self) -> None:
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    def close(self) -> None:
        self.close_slave()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


def _open(dest: int, stdin: Optional[int] = None) -> Optional[Pty]:
    try:
        import fcntl  # noqa: F401  (a platform without them has no pty for us)
        import termios

        master, slave = os.openpty()  # both close-on-exec (PEP 446): only the dup2s reach the command
    except (ImportError, OSError, AttributeError):
        return None
    try:
        try:
            attrs = termios.tcgetattr(dest)  # the real terminal's settings, as script(1) copies them
        except termios.error:
            attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        return Pty(master, slave, dest, stdin)
    except (termios.error, OSError):
        os.close(master)
        os.close(slave)
        return None


def _terminal(fd: int) -> Optional[Any]:
    try:
        if os.isatty(fd):
            st = os.fstat(fd)
            return (st.st_dev, st.st_ino, st.st_rdev)
    except OSError:
        pass
    return None


def terminals() -> Dict[int, Any]:
    """Which of stdout and stderr are terminals, and which terminal."""
    found: Dict[int, Any] = {}
    for fd in (1, 2):
        t = _terminal(fd)
        if t is not None:
            found[fd] = t
    return found


def available() -> bool:
    """Whether a pty can be had here (no /dev/ptmx, no pty module: not)."""
    p = _open(1) if terminals() else None
    if p is None:
        return False
    p.close()
    return True


def open_ptys(foreground: bool) -> Optional[Dict[int, Pty]]:
    """A pty for each of fd 1 and 2 that is a terminal, one for both when they
    are the same terminal (their order kept); {} when neither is a terminal,
    None when a pty cannot be made. In the terminal's foreground, input modes
    set on a pty are mirrored onto stdin when it is the same terminal."""
    if not sys.platform.startswith("linux"):
        # Elsewhere a pty's input modes cannot be read from its master side, so a full-screen
        # program's no-echo and key-at-a-time would not reach the real terminal: no pty there.
        return None
    ttys = terminals()
    stdin = _terminal(0) if foreground else None
    ptys: Dict[int, Pty] = {}
    for fd in sorted(ttys):
        if fd == 2 and 1 in ptys and ttys[1] == ttys[2]:
            ptys[2] = ptys[1]
            continue
        p = _open(fd, 0 if stdin is not None and stdin == ttys[fd] else None)
        if p is None:
            for q in set(ptys.values()):
                q.close()
            return None
        ptys[fd] = p
    return ptys


class Resizes:
    """While the command runs: on each SIGWINCH, the new window size to its
    pty; on SIGCONT (after Ctrl-Z and `fg`), its input modes again.

    The real terminal signals its foreground group (us and the command) at
    once, so the command may look before its pty has the new size: once it
    has, the group is signalled again (a second SIGWINCH finds no change)."""

    def __init__(self, ptys: List[Pty], group: Callable[[], Optional[int]]) -> None:
        self.ptys, self.group = ptys, group
        self.previous: Dict[int, Any] = {}

    def __enter__(self) -> "Resizes":
        if not self.ptys:
            return self
        for name, handler in (("SIGWINCH", self._handle), ("SIGCONT", self._continued)):
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                self.previous[sig] = signal.signal(sig, handler)
            except (OSError, ValueError):
                pass
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self.previous.items():
            try:
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
            except (OSError, ValueError, TypeError):
                pass

    def _continued(self, sig: int, frame: Any) -> None:
        for p in self.ptys:
            p.mirror(again=True)

    def _handle(self, sig: int, frame: Any) -> None:
        changed = False
        for p in self.ptys:
            changed = p.sync_size() or changed
        group = self.group() if changed else None
        if group:
            try:
                os.killpg(group, sig)
            except OSError:
                pass

"""What the CLI looks like: colour, symbols, the QR code, the countdown line.

Colour only on a terminal and never when NO_COLOR is set (https://no-color.org)
or TERM is dumb; animation only on a terminal; Unicode only when the output
encoding can carry it.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import IO, Mapping, Optional

_RESET = "\x1b[0m"
_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
# Explicit colours for the QR code: light modules bright white, dark modules
# black, so it scans whatever the terminal's own background is.
_QR_LIGHT_INK = "\x1b[97;40m"  # ink (█) is light, the rest black
_QR_DARK_INK = "\x1b[30;107m"  # ink is black, the rest bright white
SPINNER_UNICODE = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SPINNER_ASCII = "-\\|/"


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _can_encode(stream: IO[str], text: str) -> bool:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def light_background(environ: Mapping[str, str]) -> bool:
    """True when the terminal says it has a light background (COLORFGBG="0;15")."""
    last = environ.get("COLORFGBG", "").split(";")[-1].strip()
    return last in ("7", "15")


class Term:
    """One place that decides how output looks; commands only say what."""

    def __init__(self, out: Optional[IO[str]] = None, err: Optional[IO[str]] = None,
                 stdin: Optional[IO[str]] = None, environ: Optional[Mapping[str, str]] = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.stdin = stdin or sys.stdin
        env = os.environ if environ is None else environ
        self.environ = env
        self.tty = _isatty(self.out)
        no_color = bool(env.get("NO_COLOR", "")) or env.get("TERM") == "dumb"
        self.color = self.tty and not no_color
        self.err_color = _isatty(self.err) and not no_color
        self.unicode = _can_encode(self.out, "█▀▄✓✗⠋…—“”")
        self.interactive = self.tty and _isatty(self.stdin)
        self._live = False

    # --- words ---------------------------------------------------------------

    def style(self, text: str, *names: str, err: bool = False) -> str:
        if not (self.err_color if err else self.color) or not names:
            return text
        codes = ";".join(_STYLES[n] for n in names)
        return f"\x1b[{codes}m{text}{_RESET}"

    def sym(self, kind: str, err: bool = False) -> str:
        table = {
            "ok": ("✓", "ok:", "green"), "fail": ("✗", "error:", "red"),
            "warn": ("!", "warning:", "yellow"), "dot": ("•", "-", "dim"),
        }
        uni, ascii_, colour = table[kind]
        return self.style(uni if self.unicode else ascii_, colour, "bold", err=err)

    def q(self, text: str) -> str:
        """Quote a name the way the output's encoding allows."""
        return f"“{text}”" if self.unicode else f'"{text}"'

    def cmd(self, text: str, err: bool = False) -> str:
        """A command the user can type."""
        return self.style(text, "cyan", err=err) if (self.err_color if err else self.color) \
            else f"`{text}`"

    @property
    def ellipsis(self) -> str:
        return "…" if self.unicode else "..."

    @property
    def dash(self) -> str:
        return "—" if self.unicode else "-"

    def line(self, text: str = "") -> None:
        self.clear_live()
        self.out.write(text + "\n")
        self.out.flush()

    def error(self, what: str, next_step: Optional[str] = None) -> None:
        """A failure in one or two lines on stderr: what failed, what to do."""
        self.clear_live()
        self.out.flush()
        self.err.write(f"{self.sym('fail', err=True)} {what}\n")
        if next_step:
            self.err.write(f"  {next_step}\n")
        self.err.flush()

    def warn(self, what: str, next_step: Optional[str] = None) -> None:
        self.clear_live()
        self.out.flush()
        self.err.write(f"{self.sym('warn', err=True)} {what}\n")
        if next_step:
            self.err.write(f"  {next_step}\n")
        self.err.flush()

    def debug(self, text: str) -> None:
        self.clear_live()
        self.err.write(self.style(f"debug: {text}", "dim", err=True) + "\n")
        self.err.flush()

    # --- the live line (terminals only) ----------------------------------

    def live(self, text: str) -> None:
        """Rewrite the status line in place; a no-op when not a terminal."""
        if not self.tty:
            return
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        self.out.write("\r\x1b[K" + _clip(text, width, self.color))
        self.out.flush()
        self._live = True

    def clear_live(self) -> None:
        if self._live:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._live = False

    def spinner(self, tick: int) -> str:
        frames = SPINNER_UNICODE if self.unicode else SPINNER_ASCII
        return self.style(frames[tick % len(frames)], "cyan")

    # --- questions -------------------------------------------------------

    def confirm(self, question: str, default: bool = True) -> bool:
        """Ask a yes/no question; False when nobody can answer (no terminal, EOF)."""
        if not self.interactive:
            return False
        self.clear_live()
        hint = "[Y/n]" if default else "[y/N]"
        self.out.write(f"{question} {hint} ")
        self.out.flush()
        answer = self.stdin.readline()
        if not answer:  # EOF (Ctrl-D)
            self.out.write("\n")
            return False
        answer = answer.strip().lower()
        if not answer:
            return default
        return answer in ("y", "yes")

    # --- the QR code -------------------------------------------------------

    def qr(self, text: str, light_ink: bool) -> None:
        """Print the server's half-block QR code.

        light_ink says what the server drew as ink (█): the light modules (its
        default) or the dark ones (invert=1). With colour the ink and the gaps
        get explicit colours, so the code is right on any background.
        """
        lines = [ln for ln in text.splitlines() if ln.strip("\n")]
        if not self.color:
            for ln in lines:
                self.out.write(ln + "\n")
        else:
            start = _QR_LIGHT_INK if light_ink else _QR_DARK_INK
            for ln in lines:
                self.out.write(f"{start}{ln}{_RESET}\n")
        self.out.flush()


def qr_width(text: str) -> int:
    return max((len(ln) for ln in text.splitlines()), default=0)


def _clip(text: str, width: int, has_escapes: bool) -> str:
    """Cut a live line to the terminal width so it never wraps (a wrapped line
    cannot be rewritten in place)."""
    if not has_escapes:
        return text[:width]
    visible, out, i = 0, [], 0
    while i < len(text):
        if text[i] == "\x1b":
            end = text.find("m", i)
            if end == -1:
                break
            out.append(text[i:end + 1])
            i = end + 1
            continue
        if visible >= width:
            break
        out.append(text[i])
        visible += 1
        i += 1
    return "".join(out) + _RESET


def format_duration(seconds: float) -> str:
    """9:58 for a countdown."""
    seconds = max(0, int(seconds + 0.999))
    return f"{seconds // 60}:{seconds % 60:02d}"


def format_ago(seconds: Optional[float]) -> str:
    if seconds is None:
        return "never"
    if seconds < 0:
        seconds = 0  # clocks disagree a little: do not say "in the future"
    if seconds < 10:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def format_in(seconds: float) -> str:
    if seconds < 90:
        return f"in {max(0, int(seconds))} s"
    return f"in {int(round(seconds / 60))} min"

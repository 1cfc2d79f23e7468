"""Helpers shared by the CLI's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from typing import Dict, List

try:
    import pexpect
except ImportError as e:  # a test-only dependency: say how to get it
    raise ImportError("the CLI tests need pexpect and zxing-cpp: "
                      "pip install -r sdk/python/requirements-test.txt") from e

# The CLI as a process. -S leaves site-packages out: the CLI must run on the
# standard library alone (and starts faster, which keeps the suite quick).
CLI = [sys.executable, "-S", "-m", "observable"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
URL_LINE = re.compile(r"open this link on your phone: (\S+)\r?\n", re.IGNORECASE)
# Generous for a 2-core machine running the server too; tests finish far sooner.
EXPECT_TIMEOUT = 15


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def pairing_url(text: str) -> str:
    """The last pairing link the CLI printed."""
    found = URL_LINE.findall(strip_ansi(text))
    assert found, f"no pairing link in output:\n{text}"
    return found[-1]


def code_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


class Run:
    """A finished non-terminal run."""

    def __init__(self, proc: subprocess.CompletedProcess):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    @property
    def all(self) -> str:
        return self.out + self.err


class Terminal:
    """The CLI in a pseudo-terminal; `text` is everything it printed so far."""

    def __init__(self, args: List[str], env: Dict[str, str], columns: int = 100,
                 rows: int = 60):
        self.log = io.StringIO()
        self.child = pexpect.spawn(CLI[0], [*CLI[1:], *args], env=env,
                                   encoding="utf-8", dimensions=(rows, columns),
                                   timeout=EXPECT_TIMEOUT)
        self.child.logfile_read = self.log

    @property
    def text(self) -> str:
        return self.log.getvalue()

    def expect(self, pattern, timeout: float = EXPECT_TIMEOUT) -> None:
        try:
            self.child.expect(pattern, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as e:
            raise AssertionError(f"waited for {pattern!r}, got:\n{self.text}") from e

    def wait_url(self) -> str:
        self.expect(URL_LINE)
        return strip_ansi(self.child.match.group(1))

    def finish(self, timeout: float = EXPECT_TIMEOUT) -> int:
        """Wait for the CLI to exit; its exit code."""
        self.expect(pexpect.EOF, timeout=timeout)
        self.child.wait()
        # It has exited: closing need not give it time to (pexpect's default).
        self.child.delayafterclose = self.child.ptyproc.delayafterclose = 0
        self.child.close()
        assert self.child.signalstatus is None, f"killed by signal {self.child.signalstatus}"
        return self.child.exitstatus

    def kill(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)

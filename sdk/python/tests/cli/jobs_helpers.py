"""Helpers and fixtures for `observable run`, `event` and `tail` tests: a
session on the real server, the CLI as a real process, waits on conditions.
Test modules import the fixtures they use from here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from cli_helpers import CLI
from server import Server

DEADLINE = 15.0  # generous for a loaded 2-core machine; conditions come far sooner


def wait_for(what: str, check: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """Poll check() until it returns something true; fail with `what` after timeout."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.03)


class Jobs:
    """One session on a server, and the CLI pointed at it."""

    def __init__(self, server: Server, env: Dict[str, str], tmp: Path) -> None:
        self.server = server
        self.session_id = server.create_session()["session_id"]
        self.tmp = tmp
        self.env = dict(env, OBSERVABLE_CODE_SESSION_ID=self.session_id,
                        OBSERVABLE_CODE_API_URL=server.url,
                        OBSERVABLE_CODE_SPOOL_DIR=str(tmp / "spool"),
                        OBSERVABLE_CODE_DETACHED_SENDER="0", OBSERVABLE_CODE_SENDER_SECONDS="30")

    def run(self, *args: str, stdin: bytes = b"", env: Optional[Dict[str, str]] = None,
            timeout: float = 30) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        return subprocess.run([*CLI, *args], input=stdin, capture_output=True, timeout=timeout,
                              env={**self.env, **(env or {})}, cwd=self.tmp)

    def start(self, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:  # type: ignore[type-arg]
        return subprocess.Popen([*CLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env={**self.env, **(env or {})}, cwd=self.tmp)

    def events(self, **params: Any) -> List[Dict[str, Any]]:
        return self.server.events(self.session_id, **params) or []

    def wait_events(self, n: int, timeout: float = DEADLINE, **params: Any) -> List[Dict[str, Any]]:
        """At least n stored events (newest first)."""
        return wait_for(f"{n} events", lambda: (lambda e: e if len(e) >= n else None)(self.events(**params)),
                        timeout)

    def last_run(self, name: str) -> Dict[str, Dict[str, Any]]:
        """The started and the final event of the latest run of job `name`."""
        def both() -> Optional[Dict[str, Dict[str, Any]]]:
            events = self.events(name=name)
            final = next((e for e in events if e["status"] != "started"), None)
            if final is None:
                return None
            run = final["metadata"]["run"]
            started = next((e for e in events if e["status"] == "started"
                            and e["metadata"]["run"] == run), None)
            return {"final": final, "started": started} if started else None
        return wait_for(f"a finished run of {name}", both)

    def spooled(self) -> int:
        root = self.tmp / "spool"
        return sum(1 for p in root.rglob("*.jsonl") if not p.name.startswith(".")) if root.exists() else 0


@pytest.fixture
def jobs(shared_server, cli_env, tmp_path) -> Jobs:
    return Jobs(shared_server, cli_env, tmp_path)


def script(tmp: Path, name: str, body: str) -> str:
    """A small Python program for the command to run (no site-packages: quick to start)."""
    path = tmp / name
    path.write_text(body)
    return str(path)


PY = [sys.executable, "-S"]


def max_rss_of(argv: List[str], env: Dict[str, str], cwd: Path) -> Dict[str, Any]:
    """Run argv from a small Python process and report the peak RSS of its
    children (KiB) and the bytes they wrote: the measure starts small, so it
    is the wrapper's own peak, not that of the test runner that forked it."""
    probe = ("import json,resource,subprocess,sys\n"
             "p=subprocess.Popen(sys.argv[1:],stdin=subprocess.DEVNULL,stdout=subprocess.PIPE)\n"
             "n=0\n"
             "while True:\n"
             "    b=p.stdout.read(1<<16)\n"
             "    if not b: break\n"
             "    n+=len(b)\n"
             "p.wait()\n"
             "print(json.dumps({'rc':p.returncode,'bytes':n,"
             "'max_rss_kib':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n")
    out = subprocess.run([*PY, "-c", probe, *argv], capture_output=True, env=env, cwd=cwd, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False

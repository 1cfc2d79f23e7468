"""Fixtures for the CLI's tests: a private HOME, the CLI in a pseudo-terminal
or behind pipes, and a QR reader that turns the printed code back into a URL.

Every CLI run is a real `python -m observable` process talking HTTP to the
real server binary (see ../server.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from cli_helpers import CLI, Run, Terminal
from server import Server

# The CLI under test is the source tree's, in the child processes and here.
SDK_ROOT = Path(__file__).resolve().parents[2]
if str(SDK_ROOT) not in sys.path:
    sys.path.insert(0, str(SDK_ROOT))


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory) -> Iterator[Server]:
    """One server for tests that only need sessions of their own."""
    s = Server(tmp_path_factory.mktemp("shared-server")).start()
    yield s
    s.kill()


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own HOME, here and in the CLI processes it starts,
    so that the real ~/.observable-code is never read or written."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    for name in ("OBSERVABLE_CODE_SESSION_ID", "OBSERVABLE_CODE_API_URL", "NO_COLOR", "COLORFGBG"):
        monkeypatch.delenv(name, raising=False)
    return h


@pytest.fixture(scope="session")
def pycache(tmp_path_factory) -> Path:
    """Where the CLI processes keep their bytecode: compiling the package anew
    in each of them (PYTHONDONTWRITEBYTECODE) would double their start-up time,
    and the source tree stays clean."""
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def cli_env(home, pycache) -> Dict[str, str]:
    """The environment of a CLI run: private HOME, nothing from this shell's
    Observable settings, UTF-8, colour allowed unless a test says otherwise."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OBSERVABLE_CODE_")
           and k not in ("NO_COLOR", "COLORFGBG", "PYTHONDONTWRITEBYTECODE")}
    env.update(HOME=str(home), PYTHONPATH=str(SDK_ROOT), LANG="C.UTF-8", LC_ALL="C.UTF-8",
               TERM="xterm-256color", PYTHONIOENCODING="utf-8",
               PYTHONPYCACHEPREFIX=str(pycache))
    return env


@pytest.fixture
def run_cli(cli_env):
    """Run the CLI with pipes (not a terminal) and wait for it."""

    def run(*args: str, env: Optional[Dict[str, str]] = None, stdin: str = "",
            timeout: float = 20) -> Run:
        proc = subprocess.run([*CLI, *args], input=stdin,
                              capture_output=True, text=True, env={**cli_env, **(env or {})},
                              timeout=timeout, encoding="utf-8")
        return Run(proc)

    return run


@pytest.fixture
def terminal(cli_env):
    """Start the CLI in a pseudo-terminal: terminal("setup", "--api-url", url)."""
    started: List[Terminal] = []

    def start(*args: str, env: Optional[Dict[str, str]] = None, columns: int = 100,
              rows: int = 60) -> Terminal:
        t = Terminal(list(args), {**cli_env, **(env or {})}, columns=columns, rows=rows)
        started.append(t)
        return t

    yield start
    for t in started:
        t.kill()


@pytest.fixture
def saved_session(home):
    """Write a config file as setup would: saved_session(session_id, api_url)."""
    from observable import _config

    def save(session_id: str, api_url: str) -> Path:
        return _config.write_config(session_id, api_url, home / ".observable-code" / "config.json")

    return save


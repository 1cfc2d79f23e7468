from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from observable import _client, _events, _track, _warn  # noqa: E402
from sdk_helpers import SDK, Run, run_script  # noqa: E402


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def env(home: Path) -> Dict[str, str]:
    """An environment for SDK subprocesses: own HOME, no detached sender."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVABLE_CODE_")}
    e.update({
        "HOME": str(home),
        "PYTHONPATH": str(SDK),
        "OBSERVABLE_CODE_DETACHED_SENDER": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return e


@pytest.fixture
def run() -> Callable[..., Run]:
    return run_script


class Captured:
    """Items the caller's thread queued, turned into events as the sender would."""

    def __init__(self) -> None:
        self.items: List[Any] = []

    def events(self) -> List[Dict[str, Any]]:
        import json

        offset = time.time() - time.perf_counter()
        source = _events.make_source()
        return [json.loads(_events.build(i, source, offset)[1]) for i in self.items]

    def one(self) -> Dict[str, Any]:
        evs = self.events()
        assert len(evs) == 1, evs
        return evs[0]


@pytest.fixture
def captured() -> Iterator[Captured]:
    """Route the hot path's queue into a list (no thread, no network)."""
    c = Captured()
    old = _track.current_route()
    _track.route(c.items.append)
    try:
        yield c
    finally:
        _track.route(old)


@pytest.fixture
def sdk_client(monkeypatch: pytest.MonkeyPatch, home: Path) -> Iterator[Callable[[str], None]]:
    """Point the in-process SDK at a URL with a fresh session id."""

    def configure(url: str, session_id: Optional[str] = None) -> None:
        monkeypatch.setenv("OBSERVABLE_CODE_SESSION_ID", session_id or str(uuid.uuid4()))
        monkeypatch.setenv("OBSERVABLE_CODE_API_URL", url)
        _client.reset_for_tests()

    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OBSERVABLE_CODE_DETACHED_SENDER", "0")
    yield configure
    _client.reset_for_tests()
    _warn.reset()

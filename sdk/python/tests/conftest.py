from __future__ import annotations

import pytest

from server import Server


@pytest.fixture
def server(tmp_path):
    """A fresh server with its own database, stopped after the test."""
    s = Server(tmp_path).start()
    yield s
    s.kill()


@pytest.fixture
def make_server(tmp_path):
    """Start servers with extra flags: make_server("--max-batch-events", "10")."""
    started = []

    def make(*flags: str, port=None) -> Server:
        s = Server(tmp_path, *flags, port=port).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.kill()

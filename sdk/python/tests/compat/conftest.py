"""Fixtures for the compatibility tests (helpers are in compat_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compat_helpers import PUBLISHED_VERSIONS, Published, compat_published_venv


@pytest.fixture(scope="session", params=PUBLISHED_VERSIONS, ids=lambda v: f"observable-code=={v}")
def published(request) -> Published:
    return Published(request.param, compat_published_venv(request.param))


@pytest.fixture
def compat_home(tmp_path, monkeypatch) -> Path:
    """A private HOME here and in every process a test starts."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    for name in ("OBSERVABLE_CODE_SESSION_ID", "OBSERVABLE_CODE_API_URL", "OBSERVABLE_CODE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return h

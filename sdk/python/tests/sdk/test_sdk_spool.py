"""The spool on disk: private, bounded, whole files, one drainer at a time."""

from __future__ import annotations

import json
import os

from observable import _spool


def events(n, start=0):
    return [json.dumps({"id": f"e{i}", "name": "x", "status": "completed"}) for i in range(start, start + n)]


def test_files_are_private_and_whole(monkeypatch, tmp_path):
    monkeypatch.setenv("OBSERVABLE_CODE_SPOOL_DIR", str(tmp_path / "spool"))
    sp = _spool.Spool("http://api", "secret-session-id")
    assert sp.write(events(3)) == (3, 0)
    (f,) = sp.files()
    assert f.stat().st_mode & 0o777 == 0o600 and f.parent.stat().st_mode & 0o777 == 0o700
    assert "secret-session-id" not in str(f) and "secret-session-id" not in f.read_text()
    assert [json.loads(x)["id"] for x in _spool.read_events(f)] == ["e0", "e1", "e2"]
    assert not [p for p in f.parent.iterdir() if p.name.startswith(".") and p.name != ".lock"]


def test_the_spool_is_bounded_and_drops_the_oldest(monkeypatch, tmp_path):
    monkeypatch.setenv("OBSERVABLE_CODE_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setattr(_spool, "MAX_FILES", 3)
    sp = _spool.Spool("http://api", "s")
    for k in range(5):
        kept, dropped = sp.write(events(10, start=k * 10))
        assert kept == 10 and dropped == (10 if k >= 3 else 0)
    ids = [json.loads(e)["id"] for f in sp.files() for e in _spool.read_events(f)]
    assert ids == [f"e{i}" for i in range(20, 50)]


def test_drain_sends_in_order_and_deletes_only_what_was_acknowledged(monkeypatch, tmp_path):
    monkeypatch.setenv("OBSERVABLE_CODE_SPOOL_DIR", str(tmp_path / "spool"))
    sp = _spool.Spool("http://api", "s")
    sp.write(events(5))
    sp.write(events(5, start=5))
    sent = []

    def fail_second(batch):
        if sent:
            return False
        sent.append(batch)
        return True

    assert sp.drain(fail_second, lambda: 500, 10_000, lambda: True) is False
    assert len(sp.files()) == 1  # the first file was acknowledged and deleted
    assert sp.drain(lambda b: sent.append(b) or True, lambda: 2, 10_000, lambda: True) is True
    assert [len(b) for b in sent] == [5, 2, 2, 1] and not sp.files()


def test_corrupt_lines_are_skipped(monkeypatch, tmp_path):
    monkeypatch.setenv("OBSERVABLE_CODE_SPOOL_DIR", str(tmp_path / "spool"))
    sp = _spool.Spool("http://api", "s")
    sp.write(events(2))
    (f,) = sp.files()
    f.write_bytes(f.read_bytes() + b"\x00garbage\n{\"id\": \"e9\", \"name\": \"x\", \"status\": \"completed\"}\n")
    assert [json.loads(x)["id"] for x in _spool.read_events(f)] == ["e0", "e1", "e9"]


def test_one_drainer_at_a_time(monkeypatch, tmp_path):
    monkeypatch.setenv("OBSERVABLE_CODE_SPOOL_DIR", str(tmp_path / "spool"))
    sp = _spool.Spool("http://api", "s")
    sp.write(events(1))
    if _spool.fcntl is None:
        return  # no locks on this platform; ids still prevent doubles
    inner = []

    def send(batch):
        inner.append(sp.drain(lambda b: True, lambda: 500, 10_000, lambda: True))
        return True

    assert sp.drain(send, lambda: 500, 10_000, lambda: True) is True
    assert inner == [None]  # the nested drainer found the lock held
    assert os.path.exists(sp.directory() / ".lock")

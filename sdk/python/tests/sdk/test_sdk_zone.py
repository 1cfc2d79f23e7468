"""source.tz: the host's IANA zone, which the server learns a job's rhythm in."""

import os

import pytest

from observable import _events, _zone


@pytest.mark.parametrize("tz, want", [
    ("Europe/Berlin", "Europe/Berlin"),
    (":America/New_York", "America/New_York"),
    (":/usr/share/zoneinfo/Asia/Tokyo", "Asia/Tokyo"),
    ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ("Etc/GMT+5", "Etc/GMT+5"),
    ("UTC", "UTC"),
    ("CET-1CEST,M3.5.0,M10.5.0/3", None),  # a POSIX rule, not a zone name
    ("EST5EDT", None),
    ("", None),
    ("../../etc/passwd", None),
])
def test_tz_names(monkeypatch, tz, want):
    monkeypatch.setenv("TZ", tz)
    assert _zone.local_zone() == want


def test_the_link_of_etc_localtime(monkeypatch, tmp_path):
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(os, "readlink", lambda p: "/usr/share/zoneinfo/posix/Europe/Lisbon")
    assert _zone.local_zone() == "Europe/Lisbon"


def test_source_carries_the_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert _events.make_source()["tz"] == "Europe/Berlin"
    monkeypatch.setenv("TZ", "CET-1CEST")
    assert "tz" not in _events.make_source()

"""The CLI's small decisions, table by table (in-process, no server needed)."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from observable._cli_http import ApiError, parse_time
from observable._cli_pairing import EXIT_SERVER, explain, loopback_host
from observable._cli_term import Term, _clip, format_ago, format_duration, light_background


@pytest.mark.parametrize("url,loopback", [
    ("http://127.0.0.1:3000/pair/x", "127.0.0.1"),
    ("http://127.8.9.1/pair/x", "127.8.9.1"),
    ("http://localhost:3000/pair/x", "localhost"),
    ("http://LocalHost./pair/x", "localhost."),
    ("http://app.localhost/pair/x", "app.localhost"),
    ("http://[::1]:3000/pair/x", "::1"),
    ("http://[::ffff:127.0.0.1]/pair/x", "::ffff:127.0.0.1"),
    ("http://0.0.0.0:3000/pair/x", "0.0.0.0"),
    ("http://192.168.1.20:3000/pair/x", None),
    ("https://observable.example.com/pair/x", None),
    ("http://[fe80::1%25eth0]/pair/x", None),
    ("not a url", None),
])
def test_loopback_host(url, loopback):
    assert loopback_host(url) == loopback


@pytest.mark.parametrize("text,expected", [
    ("2026-01-02T15:04:05.000Z", datetime(2026, 1, 2, 15, 4, 5, tzinfo=timezone.utc)),
    ("2026-01-02T15:04:05.5Z", datetime(2026, 1, 2, 15, 4, 5, 500000, tzinfo=timezone.utc)),
    ("2026-01-02T16:04:05+01:00", datetime(2026, 1, 2, 15, 4, 5, tzinfo=timezone.utc)),
    ("2026-01-02T15:04:05.123456789Z",
     datetime(2026, 1, 2, 15, 4, 5, 123456, tzinfo=timezone.utc)),
    (None, None), ("", None), ("yesterday", None), (12, None),
])
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("seconds,text", [
    (599.2, "10:00"), (61, "1:01"), (59.5, "1:00"), (0.2, "0:01"), (0, "0:00"), (-3, "0:00"),
])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds,text", [
    (None, "never"), (-5, "just now"), (3, "just now"), (42, "42 s ago"), (125, "2 min ago"),
    (7200, "2 h ago"), (86400 * 3, "3 days ago"),
])
def test_format_ago(seconds, text):
    assert format_ago(seconds) == text


def test_clip_keeps_escapes_and_cuts_visible_text():
    line = "\x1b[36m⠋\x1b[0m Waiting for your phone"
    clipped = _clip(line, 9, True)
    assert clipped.startswith("\x1b[36m⠋\x1b[0m") and clipped.endswith("\x1b[0m")
    assert "Waiting" in clipped and "phone" not in clipped
    assert _clip("abcdef", 3, False) == "abc"


@pytest.mark.parametrize("env,light", [
    ({"COLORFGBG": "0;15"}, True), ({"COLORFGBG": "0;default;7"}, True),
    ({"COLORFGBG": "15;0"}, False), ({}, False),
])
def test_light_background(env, light):
    assert light_background(env) is light


class _Tty(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("env,tty,colour", [
    ({}, True, True), ({"NO_COLOR": "1"}, True, False), ({"NO_COLOR": ""}, True, True),
    ({"TERM": "dumb"}, True, False), ({}, False, False),
])
def test_colour_decision(env, tty, colour):
    out = _Tty() if tty else io.StringIO()
    term = Term(out=out, err=io.StringIO(), stdin=io.StringIO(), environ=env)
    assert term.color is colour
    term.live("spinning")
    assert ("\r" in out.getvalue()) is tty  # animation only on a terminal


@pytest.mark.parametrize("error,words", [
    (ApiError("GET", "http://h/x", "connection refused: nothing listens there"),
     ["Could not reach the server at http://h", "observable-server"]),
    (ApiError("GET", "http://h/x", "no answer in time (timed out)"), ["--timeout"]),
    (ApiError("POST", "http://h/x", "Too Many Requests", status=429, retry_after=12.2),
     ["answered 429", "try again in 13 s"]),
    (ApiError("POST", "http://h/x", "Service Unavailable", status=503, code="unavailable",
              message="Database down."), ["Database down", "try again in a minute"]),
    (ApiError("POST", "http://h/x", "Internal Server Error", status=500), ["server's log"]),
    (ApiError("GET", "http://h/x", "Not Found", status=404), ["Observable Code server?"]),
    (ApiError("POST", "http://h/x", "Bad Request", status=400, code="invalid_body",
              message="host is too long"), ["host is too long", "--debug"]),
])
def test_explain_names_the_failure_and_the_next_step(error, words):
    failure = explain(error, "http://h")
    assert failure.code == EXIT_SERVER
    text = failure.what + " " + (failure.next_step or "")
    for word in words:
        assert word in text

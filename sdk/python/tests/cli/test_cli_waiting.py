"""Waiting for the phone: Ctrl-C, an expired code, output that is not a terminal."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from cli_helpers import CLI, URL_LINE, code_of, pairing_url, strip_ansi
from cli_qr import decode_printed_qr
from server import HTTPError

NO_COLOR = {"NO_COLOR": "1"}


def test_ctrl_c_leaves_a_clean_message_and_a_session_to_pair_later(shared_server, terminal,
                                                                   home):
    t = terminal("setup", "--api-url", shared_server.url)
    t.wait_url()
    t.expect("left")
    t.child.sendintr()
    assert t.finish() == 130
    out = strip_ansi(t.text)
    assert "Stopped. Your session is saved" in out and "observable pair" in out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out

    saved = json.loads((home / ".observable-code" / "config.json").read_text())
    later = terminal("pair", env=NO_COLOR)
    url = later.wait_url()
    shared_server.claim(code_of(url), name="Later phone")
    assert later.finish() == 0
    assert "Paired with “Later phone”" in later.text
    assert shared_server.session(saved["session_id"])["paired"] is True


def test_expired_code_offers_a_new_one(make_server, terminal):
    server = make_server("--pairing-ttl", "3s")
    t = terminal("setup", "--api-url", server.url, env=NO_COLOR)
    first = t.wait_url()
    t.expect("The pairing code expired before a phone paired.", timeout=10)
    t.expect(r"Show a new code\? \[Y/n\]")
    with pytest.raises(HTTPError) as gone:
        server.claim(code_of(first))
    assert gone.value.status == 410

    t.child.sendline("")  # Enter takes the default: yes
    t.expect(URL_LINE)
    second = strip_ansi(t.child.match.group(1))
    assert second != first
    assert decode_printed_qr(t.text, "dark") == second
    server.claim(code_of(second), name="Quick phone")
    assert t.finish() == 0
    assert "Paired with “Quick phone”" in t.text


def test_declining_a_new_code_says_how_to_pair_later(make_server, terminal):
    server = make_server("--pairing-ttl", "1s")
    t = terminal("setup", "--api-url", server.url, env=NO_COLOR)
    t.expect(r"Show a new code\? \[Y/n\]", timeout=10)
    t.child.sendline("n")
    assert t.finish() == 1
    out = strip_ansi(t.text)
    assert "Run `observable pair` for a new code." in out
    assert "Traceback" not in out


def test_expired_code_without_a_terminal_says_what_to_do(make_server, run_cli):
    server = make_server("--pairing-ttl", "1s")
    r = run_cli("setup", "--api-url", server.url, timeout=15)
    assert r.code == 1
    assert "The pairing code expired before a phone paired." in r.err
    assert "observable pair" in r.err
    assert "Traceback" not in r.all


def test_output_that_is_not_a_terminal_has_no_animation(shared_server, cli_env):
    proc = subprocess.Popen([*CLI, "setup", "--api-url", shared_server.url],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            encoding="utf-8", env=cli_env)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Waiting for your phone"):
                break
        url = pairing_url("".join(lines))
        shared_server.claim(code_of(url), name="Piped phone")
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(lines) + out
    assert proc.returncode == 0, err
    assert "\r" not in text and "\x1b" not in text + err
    assert "⠋" not in text and "left" not in text
    assert decode_printed_qr(text, "dark") == url
    assert "Paired with “Piped phone”" in text


def test_server_lost_while_waiting_is_shown_and_survived(make_server, terminal, tmp_path):
    server = make_server()
    t = terminal("setup", "--api-url", server.url, env=NO_COLOR)
    url = t.wait_url()
    t.expect("left")
    server.stop()
    t.expect("lost contact with the server")
    server.start()
    server.claim(code_of(url), name="Patient phone")
    assert t.finish(timeout=20) == 0
    assert "Paired with “Patient phone”" in t.text


def test_claim_from_another_thread_while_long_polling(shared_server, terminal):
    """The CLI notices the phone at once, not at the end of a long poll."""
    t = terminal("setup", "--api-url", shared_server.url, env=NO_COLOR)
    url = t.wait_url()
    t.expect("left")
    timer = threading.Timer(0.2, shared_server.claim, args=(code_of(url),))
    timer.start()
    t.expect("Paired with", timeout=5)
    timer.join()
    assert t.finish() == 0

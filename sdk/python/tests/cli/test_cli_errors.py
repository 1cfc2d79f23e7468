"""Failures say what failed and what to do; --debug, --help, colour and encodings.

The misbehaving servers here stand in for what they are: a proxy answering
HTML, a server that hangs, another web app on the port, a database outage.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from cli_helpers import strip_ansi
from observable.cli import main

NO_COLOR = {"NO_COLOR": "1"}


class _Misbehaving(BaseHTTPRequestHandler):
    answers = {
        "/proxy": (502, "text/html", b"<html><body>502 Bad Gateway</body></html>", {}),
        "/other": (200, "text/html", b"<html>Welcome to my blog</html>", {}),
        "/dbdown": (503, "application/json", json.dumps({"error": {
            "code": "unavailable", "message": "The database is not answering."}}).encode(),
            {"Retry-After": "7"}),
    }

    def _answer(self) -> None:
        prefix = "/" + self.path.split("/")[1]
        status, ctype, body, headers = self.answers[prefix]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def misbehaving() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Misbehaving)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def hanging() -> Iterator[str]:
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.mark.parametrize("path,status,advice", [
    ("/proxy", "answered 502", "could not reach it"),
    ("/other", "answered 200", "an Observable Code server?"),
    ("/dbdown", "answered 503", "try again in 7 s"),
])
def test_a_misbehaving_server_is_named_with_what_to_do(misbehaving, run_cli, path, status,
                                                       advice):
    r = run_cli("setup", "--api-url", misbehaving + path)
    assert r.code == 3
    assert f"POST {misbehaving}{path}/api/v1/sessions {status}" in r.err
    assert advice in r.err
    assert len(r.err.strip().splitlines()) == 2
    assert "Traceback" not in r.all


def test_a_hanging_server_times_out_with_advice(hanging, run_cli):
    r = run_cli("status", "--timeout", "0.5", "--api-url", hanging)
    assert r.code == 3
    assert "No answer from" in r.err and "--timeout" in r.err


def test_debug_shows_requests_but_never_the_key(shared_server, run_cli, saved_session):
    created = shared_server.create_session()
    saved_session(created["session_id"], shared_server.url)
    r = run_cli("status", "--debug")
    assert "debug: → GET " + shared_server.url + "/api/v1/session (with session key)" in r.err
    assert "← 200" in r.err
    assert created["session_id"] not in r.all


def test_traceback_only_with_debug(run_cli, misbehaving):
    quiet = run_cli("setup", "--api-url", misbehaving + "/proxy")
    loud = run_cli("setup", "--debug", "--api-url", misbehaving + "/proxy")
    assert "Traceback" not in quiet.all
    assert "Traceback" in loud.err
    assert quiet.code == loud.code == 3


def test_options_go_before_or_after_the_command(shared_server, run_cli):
    before = run_cli("--api-url", shared_server.url, "--debug", "status", "--json")
    after = run_cli("status", "--json", "--debug", "--api-url", shared_server.url)
    for r in (before, after):
        report = json.loads(r.out)
        assert (report["api_url"], report["api_url_source"]) == (shared_server.url, "flag")
        assert report["reachable"] is True
        assert "debug: → GET" in r.err


@pytest.mark.parametrize("command", ["setup", "pair", "show-key", "status"])
def test_help_has_an_example(capsys, command):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"observable {command}" in out
    assert "--api-url" in out


def test_usage_errors(capsys, cli_env):
    # The real entry point, as a process, with site-packages this time.
    bare = subprocess.run([sys.executable, "-m", "observable"], capture_output=True, text=True,
                          env=cli_env, timeout=20)
    assert bare.returncode == 2 and "observable setup" in bare.stdout
    assert main(["status", "--api-url", "localhost:3000"]) == 2
    assert "http://localhost:3000" in capsys.readouterr().err
    assert main(["fly"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("observable ")


def test_colour_on_a_terminal_and_never_with_no_color(shared_server, terminal):
    coloured = terminal("status", "--api-url", shared_server.url)
    assert coloured.finish() == 1
    assert "\x1b[" in coloured.text
    plain = terminal("status", "--api-url", shared_server.url, env=NO_COLOR)
    assert plain.finish() == 1
    assert "\x1b[" not in plain.text
    dumb = terminal("status", "--api-url", shared_server.url, env={"TERM": "dumb"})
    assert dumb.finish() == 1
    assert "\x1b[" not in dumb.text
    same = re.compile(r"\d+ ms")
    assert same.sub("", strip_ansi(coloured.text)) == same.sub("", plain.text)


def test_an_ascii_terminal_gets_the_link_instead_of_the_code(shared_server, terminal):
    t = terminal("setup", "--api-url", shared_server.url,
                 env={**NO_COLOR, "PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C"})
    t.expect("Open this link on your phone: ")
    assert "cannot draw the QR code" in t.text
    assert "█" not in t.text
    t.kill()


def test_a_small_terminal_is_told_to_grow(shared_server, terminal):
    t = terminal("setup", "--api-url", shared_server.url, env=NO_COLOR, columns=40, rows=20)
    t.expect("left")
    out = strip_ansi(t.text)
    assert "The terminal is 40 columns wide" in out
    assert "The terminal is 20 rows tall" in out
    t.kill()


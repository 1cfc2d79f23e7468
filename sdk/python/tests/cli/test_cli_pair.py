"""`observable pair` in each state: no config, unreachable, unknown, unpaired, paired."""

from __future__ import annotations

import json

from cli_helpers import code_of, strip_ansi
from cli_qr import decode_printed_qr

NO_COLOR = {"NO_COLOR": "1"}


def test_pair_without_a_session_runs_setup(shared_server, terminal, home):
    t = terminal("pair", "--api-url", shared_server.url, env=NO_COLOR)
    url = t.wait_url()
    assert "No session is saved yet: setting one up first." in t.text
    saved = json.loads((home / ".observable-code" / "config.json").read_text())
    shared_server.claim(code_of(url))
    assert t.finish() == 0
    assert shared_server.session(saved["session_id"])["paired"] is True


def test_pair_an_unpaired_session(shared_server, terminal, saved_session):
    created = shared_server.create_session()
    saved_session(created["session_id"], shared_server.url)
    t = terminal("pair", env=NO_COLOR)
    url = t.wait_url()
    assert decode_printed_qr(t.text, "dark") == url
    assert url != created["pairing"]["url"]  # a new code, not the one setup had
    shared_server.claim(code_of(url), name="First phone")
    assert t.finish() == 0
    out = strip_ansi(t.text)
    assert "Paired with “First phone”" in out
    assert "import observable" in out  # the first phone gets the next steps
    events = shared_server.events(created["session_id"])
    assert [e["name"] for e in events] == ["observable pair"]


def test_pair_adds_a_phone(shared_server, terminal, saved_session):
    created = shared_server.create_session()
    shared_server.claim(created["pairing"]["code"], name="Phone A")
    saved_session(created["session_id"], shared_server.url)
    t = terminal("pair", env=NO_COLOR)
    url = t.wait_url()
    assert "Already paired: Phone A" in t.text and "--replace" in t.text
    shared_server.claim(code_of(url), name="Phone B")
    assert t.finish() == 0
    assert "Paired with “Phone B”" in t.text
    names = sorted(d["name"] for d in shared_server.session(created["session_id"])["devices"])
    assert names == ["Phone A", "Phone B"]


def test_pair_replace_unpairs_the_others_once_the_new_one_paired(shared_server, terminal,
                                                                 saved_session):
    created = shared_server.create_session()
    old = shared_server.claim(created["pairing"]["code"], name="Old phone")
    saved_session(created["session_id"], shared_server.url)
    t = terminal("pair", "--replace", env=NO_COLOR)
    url = t.wait_url()
    assert "Old phone will be unpaired" in t.text
    # Nothing changes before the new phone has paired.
    devices = shared_server.session(created["session_id"])["devices"]
    assert [d["id"] for d in devices] == [old["device_id"]]

    shared_server.claim(code_of(url), name="New phone")
    assert t.finish() == 0
    out = strip_ansi(t.text)
    assert "Paired with “New phone”" in out
    assert "Unpaired Old phone" in out
    devices = shared_server.session(created["session_id"])["devices"]
    assert [d["name"] for d in devices] == ["New phone"]


def test_pair_with_an_unknown_session(shared_server, run_cli, saved_session):
    saved_session("00000000-0000-4000-8000-000000000000", shared_server.url)
    r = run_cli("pair")
    assert r.code == 1
    assert "not known to" in r.err and "401" in r.err and "observable setup" in r.err
    assert "Traceback" not in r.all


def test_pair_with_an_unreachable_server(run_cli, saved_session):
    saved_session("11111111-1111-4111-8111-111111111111", "http://127.0.0.1:9")
    r = run_cli("pair")
    assert r.code == 3
    assert "http://127.0.0.1:9" in r.err and "connection refused" in r.err
    assert "Traceback" not in r.all

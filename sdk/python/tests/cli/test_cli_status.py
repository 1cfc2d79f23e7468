"""`observable status` and `observable show-key` in each state."""

from __future__ import annotations

import json

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def test_status_without_a_session(shared_server, run_cli):
    r = run_cli("status", "--api-url", shared_server.url)
    assert r.code == 1
    assert shared_server.url in r.out and "answers in" in r.out
    assert "No session is set up" in r.err and "observable setup" in r.err


def test_status_with_an_unreachable_server(run_cli, saved_session):
    saved_session(UNKNOWN, "http://127.0.0.1:9")
    r = run_cli("status")
    assert r.code == 3
    assert "http://127.0.0.1:9 (saved by setup)" in r.out and "does not answer" in r.out
    assert "connection refused" in r.err and "observable-server" in r.err
    assert "Traceback" not in r.all


def test_status_with_an_unknown_session(shared_server, run_cli, saved_session):
    saved_session(UNKNOWN, shared_server.url)
    r = run_cli("status")
    assert r.code == 1
    assert "unknown to this server" in r.out
    assert "answered 401" in r.err and "observable setup" in r.err
    assert UNKNOWN not in r.all  # the key is a secret: shown masked only
    assert UNKNOWN[:8] in r.out


def test_status_unpaired(shared_server, run_cli, saved_session):
    created = shared_server.create_session()
    saved_session(created["session_id"], shared_server.url)
    r = run_cli("status")
    assert r.code == 1
    assert "valid" in r.out and "none paired" in r.out
    assert "No phone is paired" in r.err and "observable pair" in r.err


def test_status_paired(shared_server, run_cli, saved_session):
    created = shared_server.create_session()
    device = shared_server.claim(created["pairing"]["code"], name="Grace's phone")
    sid = created["session_id"]
    shared_server.request("POST", "/api/v1/events", {"name": "backup", "status": "completed"},
                          token=sid)
    shared_server.request("POST", "/api/v1/events", {"name": "backup", "status": "failed"},
                          token=sid)
    saved_session(sid, shared_server.url)
    r = run_cli("status")
    assert r.code == 0, r.all
    assert "1 paired" in r.out and "Grace's phone" in r.out
    assert "2 received, the last just now" in r.out
    assert "Ready: your code's events reach your phone." in r.out
    assert sid not in r.all
    # The test phone never subscribed to push: status says what that means.
    assert "No paired phone has turned on notifications" in r.err

    j = run_cli("status", "--json")
    assert j.code == 0
    report = json.loads(j.out)
    assert report["ok"] is True and report["paired"] is True
    assert report["event_count"] == 2
    assert [d["id"] for d in report["devices"]] == [device["device_id"]]
    assert sid not in j.out


def test_status_json_reports_the_problem(run_cli):
    r = run_cli("status", "--json", "--api-url", "http://127.0.0.1:9")
    assert r.code == 3
    report = json.loads(r.out)
    assert report["reachable"] is False and report["ok"] is False
    assert "connection refused" in report["problem"]


def test_status_uses_the_session_from_the_environment(shared_server, run_cli):
    created = shared_server.create_session()
    shared_server.claim(created["pairing"]["code"])
    r = run_cli("status", env={"OBSERVABLE_CODE_SESSION_ID": created["session_id"],
                               "OBSERVABLE_CODE_API_URL": shared_server.url})
    assert r.code == 0, r.all
    assert "from OBSERVABLE_CODE_SESSION_ID" in r.out
    assert "from OBSERVABLE_CODE_API_URL" in r.out


def test_show_key_prints_the_saved_session(run_cli, saved_session):
    sid = "33333333-3333-4333-8333-333333333333"
    saved_session(sid, "http://127.0.0.1:9")  # needs no server
    r = run_cli("show-key")
    assert (r.code, r.out, r.err) == (0, sid + "\n", "")


def test_show_key_without_a_session(run_cli):
    r = run_cli("show-key")
    assert r.code == 1 and r.out == ""
    assert "No session is saved" in r.err and "observable setup" in r.err


def test_show_key_notes_a_different_key_in_the_environment(run_cli, saved_session):
    sid = "33333333-3333-4333-8333-333333333333"
    saved_session(sid, "http://127.0.0.1:9")
    r = run_cli("show-key", env={"OBSERVABLE_CODE_SESSION_ID": UNKNOWN})
    assert r.code == 0 and r.out == sid + "\n"
    assert "OBSERVABLE_CODE_SESSION_ID is set" in r.err


def test_show_key_with_a_corrupt_config(run_cli, home):
    folder = home / ".observable-code"
    folder.mkdir()
    (folder / "config.json").write_text("[1, 2")
    r = run_cli("show-key")
    assert r.code == 1
    assert "cannot read" in r.err and "setup --force" in r.err
    assert "Traceback" not in r.all

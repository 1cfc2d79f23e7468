"""`observable event NAME [--status S] [key=value ...]` against the real server."""

from __future__ import annotations

from jobs_helpers import jobs, wait_for  # noqa: F401  (jobs is a fixture)


def test_event_types_key_value_pairs(jobs):
    r = jobs.run("event", "deploy_done", "rows=120", "ratio=0.5", "big=1e3", "ok=true", "dry=false",
                 "none=null", "version=1.4.2", "code=007", "empty=", "eq=a=b")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"" and r.stderr == b""
    (event,) = jobs.wait_events(1, name="deploy_done")
    assert event["status"] == "completed"
    assert event["metadata"] == {"rows": 120, "ratio": 0.5, "big": 1000.0, "ok": True, "dry": False,
                                 "none": None, "version": "1.4.2", "code": "007", "empty": "", "eq": "a=b"}


def test_event_json_and_status(jobs):
    r = jobs.run("event", "disk_low", "--status", "failed", "--json", '{"tags": ["a", "b"], "free_gb": 3}',
                 "free_gb=1.5")
    assert r.returncode == 0, r.stderr
    (event,) = jobs.wait_events(1, name="disk_low")
    assert event["status"] == "failed"
    assert event["metadata"] == {"tags": ["a", "b"], "free_gb": 1.5}  # pairs win over --json


def test_event_bad_input_is_a_usage_error(jobs):
    for args in (["x", "--json", "[1]"], ["x", "--json", "{nope"], ["x", "novalue"]):
        r = jobs.run("event", *args)
        assert r.returncode == 2 and b"Traceback" not in r.stderr, (args, r.stderr)
    assert not jobs.events()


def test_event_exits_0_when_the_server_is_down_and_is_sent_later(make_server, cli_env, tmp_path):
    from jobs_helpers import Jobs

    server = make_server()
    jobs = Jobs(server, cli_env, tmp_path)
    server.kill()
    r = jobs.run("event", "while_down", "n=1")
    assert r.returncode == 0
    assert b"OBSERVABLE_CODE_DETACHED_SENDER=0, so nothing sends it in the background" in r.stderr
    assert b"retrying in the background" not in r.stderr  # nothing is
    assert jobs.spooled() == 1
    r = jobs.run("event", "while_down", "n=2", "--wait", "--timeout", "0.5")
    assert r.returncode == 3 and b"not delivered" in r.stderr
    assert jobs.spooled() == 1  # --wait keeps nothing: the caller knows it failed
    make_server(port=server.port)
    r = jobs.run("event", "back", "--wait", env={"OBSERVABLE_CODE_DETACHED_SENDER": "1"})
    assert r.returncode == 0
    events = wait_for("the spooled event", lambda: jobs.events(name="while_down"))
    assert [e["metadata"] for e in events] == [{"n": 1}]


def test_event_without_a_session_says_how_to_set_up(jobs):
    r = jobs.run("event", "x", env={"OBSERVABLE_CODE_SESSION_ID": ""})
    assert r.returncode == 1 and b"observable setup" in r.stderr

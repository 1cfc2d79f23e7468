"""The API misbehaves; the user's program does not notice.

Each case runs a real script in a subprocess against a stand-in API and
checks: the script's own result is unchanged, it exits 0 with no traceback,
exit is not held by a pending post, every warning is one `observable:` line,
and every event ends up delivered exactly once (by id) — during the run, at
exit, or from the spool by the next process.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from sdk_helpers import N, SCRIPT, check_run, spooled
from standin import StandIn, closed_port

def setup_env(env, url):
    env = dict(env)
    env["OBSERVABLE_CODE_SESSION_ID"] = str(uuid.uuid4())
    env["OBSERVABLE_CODE_API_URL"] = url
    return env


def assert_delivered_once(standin: StandIn, count: int):
    assert standin.wait_for(count, timeout=10), f"{len(standin.events)} of {count} delivered"
    assert len(standin.events) == count
    names = [e["name"] for e in standin.events.values()]
    assert names.count("chaos") == N


@pytest.mark.parametrize("behaviour", [
    ("slow", lambda n: ("slow", 0.05)),
    ("500 twice", lambda n: ("status", 500, None) if n < 2 else "ok"),
    ("503 with Retry-After", lambda n: ("status", 503, 0.2) if n < 1 else "ok"),
    ("garbage once", lambda n: "garbage" if n < 1 else "ok"),
    ("reset once", lambda n: "reset" if n < 1 else "ok"),
    ("200 that is not the API", lambda n: "html200" if n < 1 else "ok"),
    ("408 then ok", lambda n: ("status", 408, None) if n < 1 else "ok"),
], ids=lambda b: b[0])
def test_transient_failures_deliver_everything_once(run, env, home, behaviour):
    with StandIn(behaviour[1]) as api:
        r = run(SCRIPT % N + "print('flushed', observable.flush(8))\n", setup_env(env, api.url))
        check_run(r)
        assert "flushed True" in r.out
        assert_delivered_once(api, N)
        assert not spooled(home)


def test_429_retry_after_is_honoured(run, env):
    times = []

    def behaviour(n):
        times.append(time.monotonic())
        return ("status", 429, 0.6) if n == 0 else "ok"

    with StandIn(behaviour) as api:
        r = run(SCRIPT % N + "print('flushed', observable.flush(8))\n", setup_env(env, api.url))
        check_run(r)
        assert "flushed True" in r.out
        assert_delivered_once(api, N)
        assert times[1] - times[0] >= 0.55  # even flush() waits as told


NEXT_LIVES_ON = """
import glob, os, time, observable
observable.event("next_process")
print("ok", observable.flush(5))
# A process that keeps running (a service, a long job) sends the spool itself.
deadline = time.time() + 5
while glob.glob(os.path.expanduser("~/.observable-code/spool/*/*.jsonl")) and time.time() < deadline:
    time.sleep(0.02)
"""
NEXT_EXITS_AT_ONCE = """
import observable
observable.event("next_process")
print("ok", observable.flush(5))
# Leaves at once: the spool goes to a detached sender started at exit.
"""


@pytest.mark.parametrize("next_process", ["lives on", "exits at once"])
@pytest.mark.parametrize("mode", ["down", "hanging"])
def test_unreachable_api_spools_and_next_process_delivers(run, env, home, mode, next_process):
    state = {"mode": "hang" if mode == "hanging" else "ok"}
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    e = setup_env(env, url)
    if mode == "hanging":
        api = StandIn(lambda n: state["mode"])
        url = e["OBSERVABLE_CODE_API_URL"] = api.url
        api.__enter__()
    try:
        r = run(SCRIPT % N, e)
        check_run(r)
        assert "kept in" in r.err and str(home) in r.err
        on_disk = spooled(home)
        assert len(on_disk) == N and {ev["name"] for ev in on_disk} == {"chaos"}

        # The API is back: the next process that uses the SDK sends the spool.
        if mode == "hanging":
            state["mode"] = "ok"
        else:
            api = _standin_on_port(port)
            api.__enter__()
        if next_process == "lives on":
            r2 = run(NEXT_LIVES_ON, e)
        else:
            r2 = run(NEXT_EXITS_AT_ONCE, dict(e, OBSERVABLE_CODE_DETACHED_SENDER="1",
                                              OBSERVABLE_CODE_SENDER_SECONDS="10"))
        check_run(r2, "ok True")
        assert api.wait_for(N + 1)
        deadline = time.monotonic() + 5
        while spooled(home) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not spooled(home), "delivered spool files are deleted"
        assert {ev["id"] for ev in on_disk} <= set(api.events)
        assert len(api.events) == N + 1
    finally:
        api.__exit__()


def _standin_on_port(port):
    from standin import _QuietServer

    api = StandIn()
    handler = api.server.RequestHandlerClass
    api.server.server_close()
    api.server = _QuietServer(("127.0.0.1", port), handler)
    api.url = f"http://127.0.0.1:{port}"
    import threading

    api.thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    return api


def test_unknown_session_warns_once_and_drops(run, env, home):
    with StandIn(lambda n: ("status", 401, None)) as api:
        r = run(SCRIPT % N + "print('flushed', observable.flush(3))\n", setup_env(env, api.url))
        check_run(r)
        assert "flushed False" in r.out
        unauthorized = [line for line in r.err.splitlines() if "not known" in line]
        assert len(unauthorized) == 1 and "observable setup" in unauthorized[0]
        assert not spooled(home)


def test_one_rejected_event_does_not_lose_the_batch(run, env):
    def behaviour(n):
        return ("status", 400, None) if n == 0 else "ok"

    with StandIn(behaviour) as api:
        # The stand-in's 400 names no index: the SDK drops that whole request
        # once; the rest of the run must still arrive.
        script = ("import observable\nobservable.event('first')\nobservable.flush(3)\n"
                  + SCRIPT % N + "print('flushed', observable.flush(5))\n")
        r = run(script, setup_env(env, api.url))
        check_run(r)
        assert_delivered_once(api, N)
        assert "refused" in r.err


def test_rejected_index_drops_only_that_event(run, env):
    rejected = []

    class Picky(StandIn):
        def answer(self, h, n, body):
            if n == 0:  # the server names the bad event: the last of the batch
                events = json.loads(body)["events"]
                rejected.append(events[-1]["id"])
                message = f"events[{len(events) - 1}].name: is required"
                payload = json.dumps({"error": {"code": "invalid_event", "message": message}}).encode()
                return self._send(h, 400, payload, "application/json")
            return super().answer(h, n, body)

    with Picky() as api:
        r = run(SCRIPT % N + "print('flushed', observable.flush(5))\n", setup_env(env, api.url))
        check_run(r)
        assert "flushed False" in r.out  # one event was refused
        assert api.wait_for(N - 1)
        assert len(api.events) == N - 1 and rejected[0] not in api.events


def test_413_shrinks_batches_until_they_fit(run, env):
    class Small(StandIn):
        def answer(self, h, n, body):
            if len(json.loads(body)["events"]) > 4:
                payload = b'{"error":{"code":"too_large","message":"at most 4 events"}}'
                return self._send(h, 413, payload, "application/json")
            return super().answer(h, n, body)

    with Small() as api:
        script = ("import observable, time\n"
                  "for i in range(30): observable.event('batch', i=i)\n"
                  "print('flushed', observable.flush(8))\n")
        r = run(script, setup_env(env, api.url))
        check_run(r, "flushed True")
        assert len(api.events) == 30


def test_corrupt_config_warns_once_and_runs(run, env, home):
    cfg = home / ".observable-code"
    cfg.mkdir()
    (cfg / "config.json").write_text("{not json")
    r = run(SCRIPT % N, env)
    check_run(r)
    lines = [line for line in r.err.splitlines() if line]
    assert len(lines) == 1 and "config" in lines[0] and "observable setup" in lines[0]


def test_unreadable_config_warns_once_and_runs(run, env, home):
    cfg = home / ".observable-code"
    cfg.mkdir()
    (cfg / "config.json").mkdir()  # a directory where a file should be: unreadable as root too
    r = run(SCRIPT % N, env)
    check_run(r)
    assert len([line for line in r.err.splitlines() if line]) == 1


def test_config_file_credentials_and_url_are_used(run, env, home):
    with StandIn() as api:
        cfg = home / ".observable-code"
        cfg.mkdir()
        (cfg / "config.json").write_text(json.dumps({"session_id": "from-file", "api_url": api.url}))
        r = run(SCRIPT % N, env)
        check_run(r)
        assert api.wait_for(N)
        assert set(api.auth) == {"Bearer from-file"}


def test_environment_wins_over_config_file(run, env, home):
    with StandIn() as api, StandIn() as other:
        cfg = home / ".observable-code"
        cfg.mkdir()
        (cfg / "config.json").write_text(json.dumps({"session_id": "from-file", "api_url": other.url}))
        e = dict(env, OBSERVABLE_CODE_SESSION_ID="from-env", OBSERVABLE_CODE_API_URL=api.url)
        r = run(SCRIPT % N, e)
        check_run(r)
        assert api.wait_for(N) and set(api.auth) == {"Bearer from-env"}
        assert other.requests == 0


def test_bad_api_url_warns_and_runs(run, env):
    r = run(SCRIPT % N, dict(env, OBSERVABLE_CODE_SESSION_ID="s", OBSERVABLE_CODE_API_URL="ftp://nowhere"))
    check_run(r)
    assert "API URL" in r.err


def test_full_queue_drops_are_counted_and_said_once(run, env):
    with StandIn(lambda n: "hang") as api:
        script = """
import observable
from observable import _sender_thread
_sender_thread.MAX_QUEUE = 100   # small, to fill it while the API hangs
for i in range(1000):
    observable.event("flood", i=i)
print("done")
"""
        r = run(script, dict(setup_env(env, api.url), OBSERVABLE_CODE_DETACHED_SENDER="0"))
        check_run(r, "done")
        full = [line for line in r.err.splitlines() if "queue is full" in line]
        assert len(full) == 1 and "dropped" in full[0]


def test_unwritable_home_spools_to_the_temporary_directory(run, env, tmp_path):
    port = closed_port()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    e = dict(setup_env(env, f"http://127.0.0.1:{port}"), HOME="/dev/null/nohome", TMPDIR=str(tmp))
    r = run(SCRIPT % N, e)
    check_run(r)
    files = list(tmp.glob("observable-code-*/spool/*/*.jsonl"))
    assert len(files) == 1 and len(files[0].read_text().splitlines()) == N
    assert (files[0].stat().st_mode & 0o777) == 0o600
    assert (files[0].parent.stat().st_mode & 0o777) == 0o700


def test_long_outage_moves_the_backlog_to_disk_then_delivers(sdk_client, monkeypatch, home):
    import observable
    from observable import _sender_thread

    monkeypatch.setattr(_sender_thread, "SPILL_AT", 50)
    port = closed_port()
    sdk_client(f"http://127.0.0.1:{port}")
    # 500 wait in memory for the retry (one full batch), the rest go to disk.
    for i in range(800):
        observable.event("outage", i=i)
    deadline = time.monotonic() + 10
    while len(spooled(home)) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(spooled(home)) == 300, "the backlog was not moved to disk"
    api = _standin_on_port(port)
    api.__enter__()
    try:
        observable.flush(0)  # wake the sender from its backoff
        assert api.wait_for(800, timeout=15)
        assert len(api.events) == 800
        assert sorted(e["metadata"]["i"] for e in api.events.values()) == list(range(800))
        deadline = time.monotonic() + 5
        while spooled(home) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not spooled(home)
    finally:
        api.__exit__()

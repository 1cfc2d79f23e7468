"""Expectations declared in code (track(..., every=...)) and long calls
marked as runs (a `started` event, then the end with the same run id),
against the real server binary: what it stores is what the SDK sent.

No test waits 10 s: OBSERVABLE_CODE_TEST_RUN_AFTER (an internal knob of
_runs) makes "long" 0.3 s in the scripts below.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Dict, List

import pytest

import observable
from observable import _expect

from test_sdk_server import all_events, script_env

RUN_AFTER = "0.3"
# Prepended to scripts: a long call waits until its sender has announced it
# (a condition, not a sleep that a loaded machine could outrun).
_WAIT = """
import time as _time
from observable import _client as _obs_client
def announced(name, n=1):
    c = _obs_client._client
    keys = list(c.runs.started) if c is not None else []
    return sum(1 for _, job in keys if getattr(job, "name", job) == name) >= n
def wait_announced(name, n=1):
    deadline = _time.monotonic() + 10
    while not announced(name, n) and _time.monotonic() < deadline:
        _time.sleep(0.01)
"""


def _events_by_name(server: Any, sid: str, count: int, timeout: float = 10.0) -> Dict[str, List[Dict[str, Any]]]:
    deadline = time.monotonic() + timeout
    events: List[Dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = all_events(server, sid)
        if len(events) >= count:
            break
        time.sleep(0.05)
    out: Dict[str, List[Dict[str, Any]]] = {}
    for e in sorted(events, key=lambda e: e["timestamp"]):
        out.setdefault(e["name"], []).append(e)
    return out


def _run_script(run: Any, env: Dict[str, str], server: Any, sid: str, code: str) -> None:
    import textwrap

    r = run(_WAIT + textwrap.dedent(code), dict(script_env(env, server, sid), OBSERVABLE_CODE_TEST_RUN_AFTER=RUN_AFTER))
    assert r.code == 0, r.err
    assert "Traceback" not in r.err, r.err


def test_each_form_of_declaration_is_sent_as_the_events_expect(run, env, server):
    sid = server.create_session()["session_id"]
    _run_script(run, env, server, sid, """
        import observable
        for name, kw in [
            ("daily", dict(every="1d")),
            ("hourly_s", dict(every=3600)),
            ("mixed", dict(every="2h30m", grace="15m", max_duration="90s", min_duration=0.5, alert_after=3)),
            ("berlin", dict(schedule="0 3 * * *", tz="Europe/Berlin")),
            ("utc_cron", dict(schedule="15 * * * 1-5")),
            ("daily_at", dict(schedule="@daily", grace=600)),
        ]:
            observable.track(name, **kw)(lambda: None)()
        with observable.track("block", every="15m"):
            pass
        observable.track("plain")(lambda: None)()
    """)
    got = {name: evs[0] for name, evs in _events_by_name(server, sid, 8).items()}
    assert {name: e.get("expect") for name, e in got.items()} == {
        "daily": {"every_s": 86400},
        "hourly_s": {"every_s": 3600},
        "mixed": {"every_s": 9000, "grace_s": 900, "max_duration_ms": 90_000, "min_duration_ms": 500,
                  "alert_after": 3},
        "berlin": {"cron": "0 3 * * *", "tz": "Europe/Berlin"},
        "utc_cron": {"cron": "15 * * * 1-5", "tz": "UTC"},
        "daily_at": {"cron": "@daily", "tz": "UTC", "grace_s": 600},
        "block": {"every_s": 900},
        "plain": None,
    }
    assert all(e["status"] == "completed" and e.get("run") is None for e in got.values())


@pytest.mark.parametrize("kwargs, words", [
    (dict(every="1x"), "not a duration"),
    (dict(every="1 day"), "not a duration"),
    (dict(every=-5), "not a duration"),
    (dict(every=True), "not a duration"),
    (dict(every=float("nan")), "not a duration"),
    (dict(every="30s"), "too short"),
    (dict(every="32d"), "too long"),
    (dict(every="1d", schedule="0 3 * * *"), "not both"),
    (dict(every="1d", tz="Europe/Berlin"), "tz= applies to schedule="),
    (dict(tz="Europe/Berlin"), "tz= needs schedule="),
    (dict(schedule="0 3 * *"), "5 fields"),
    (dict(schedule="0 3 * * * *"), "5 fields"),
    (dict(schedule="every day"), "5 fields"),
    (dict(schedule="@every 1h"), "use every="),
    (dict(schedule="CRON_TZ=UTC 0 3 * * *"), "tz="),
    (dict(schedule="0 3 * * *", tz="Europe/Berlinn"), "not a known time zone"),
    (dict(schedule="0 3 * * *", tz="not a zone"), "IANA"),
    (dict(every="1d", grace="forever"), "grace="),
    (dict(every="1d", grace="32d"), "too long"),
    (dict(every="1d", max_duration="1m", min_duration="2m"), "shorter than"),
    (dict(every="1d", alert_after=0), "alert_after="),
    (dict(every="1d", alert_after=2.5), "alert_after="),
    (dict(max_duration="1h"), "need every= or schedule="),
])
def test_a_wrong_declaration_raises_at_decoration(kwargs, words):
    with pytest.raises(ValueError) as info:
        observable.track("job", **kwargs)
    assert words in str(info.value)


def test_a_misspelt_option_is_an_error_not_a_silent_nothing():
    with pytest.raises(TypeError):
        observable.track("job", evry="1d")  # type: ignore[call-overload]


def test_durations_in_seconds_or_with_units():
    cases = {90: 90, 1.5: 1.5, "90": 90, "90s": 90, "15m": 900, "1d": 86400, "2h30m": 9000,
             "500ms": 0.5, " 1H ": 3600, "1.5m": 90}
    assert {k: _expect.parse_duration(k) for k in cases} == cases


def test_plain_track_sends_neither_run_nor_expect(captured):
    observable.track("plain")(lambda: None)()
    with observable.track("plain"):
        pass
    body = [json.loads(json.dumps(e)) for e in captured.events()]
    assert [sorted(e) for e in body] == [["duration_ms", "id", "name", "source", "status", "timestamp"]] * 2


def test_long_calls_send_started_then_their_end_with_the_same_run(run, env, server):
    sid = server.create_session()["session_id"]
    # The first tracked call of the process is itself long (a cron job's usual shape).
    _run_script(run, env, server, sid, """
        import asyncio, time, observable

        @observable.track("backup", every="1d")
        def backup():
            wait_announced("backup")

        @observable.track("fails")
        def fails():
            wait_announced("fails")
            raise RuntimeError("disk full")

        @observable.track("fetch")
        async def fetch():
            while not announced("fetch"):
                await asyncio.sleep(0.01)

        @observable.track("quick")
        def quick():
            return 1

        backup()
        try:
            fails()
        except RuntimeError:
            pass
        asyncio.run(fetch())
        with observable.track("block"):
            wait_announced("block")
        for _ in range(50):
            quick()
    """)
    by = _events_by_name(server, sid, 4 * 2 + 50)
    for name, end in [("backup", "completed"), ("fails", "failed"), ("fetch", "completed"),
                      ("block", "completed")]:
        evs = by[name]
        assert [e["status"] for e in evs] == ["started", end], (name, evs)
        started, ended = evs
        assert started["run"] and len(started["run"]) <= 64
        assert ended["run"] == started["run"], name
        assert "duration_ms" not in started and ended["duration_ms"] >= float(RUN_AFTER) * 1000
        # started is stamped with the call's start, its end with the end
        assert started["timestamp"] < ended["timestamp"]
    assert by["backup"][0]["expect"] == by["backup"][1]["expect"] == {"every_s": 86400}
    assert len(by["quick"]) == 50
    assert all(e["status"] == "completed" and e.get("run") is None for e in by["quick"])


def test_overlapping_runs_of_one_job_each_get_their_own_run(run, env, server):
    sid = server.create_session()["session_id"]
    _run_script(run, env, server, sid, """
        import asyncio, threading, time, observable

        seen = []  # set once all three runs were announced: then they may end

        @observable.track("sync_job")
        def sync_job():
            deadline = time.monotonic() + 10
            while not seen and time.monotonic() < deadline:
                if announced("sync_job", 3):
                    seen.append(1)
                time.sleep(0.01)

        @observable.track("task_job")
        async def task_job():
            deadline = time.monotonic() + 10
            while not seen and time.monotonic() < deadline:
                if announced("task_job", 3):
                    seen.append(1)
                await asyncio.sleep(0.01)

        threads = [threading.Thread(target=sync_job) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seen.clear()

        async def main():
            await asyncio.gather(*(task_job() for i in range(3)))
        asyncio.run(main())
    """)
    by = _events_by_name(server, sid, 12)
    for name in ("sync_job", "task_job"):
        evs = by[name]
        runs: Dict[str, List[str]] = {}
        for e in evs:
            runs.setdefault(e["run"], []).append(e["status"])
        assert len(runs) == 3, (name, evs)
        assert all(sorted(statuses) == ["completed", "started"] for statuses in runs.values()), runs


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_childs_first_long_call_is_a_run_too(run, env, server):
    sid = server.create_session()["session_id"]
    _run_script(run, env, server, sid, """
        import os, time, observable

        @observable.track("parent")
        def parent():
            pass

        @observable.track("child")
        def child():
            wait_announced("child")

        parent()
        pid = os.fork()
        if pid == 0:
            child()
            observable.flush(5)
            os._exit(0)
        os.waitpid(pid, 0)
    """)
    by = _events_by_name(server, sid, 3)
    assert [e["status"] for e in by["child"]] == ["started", "completed"], by
    assert by["child"][0]["run"] == by["child"][1]["run"]


def test_repr_says_what_is_declared():
    assert repr(observable.track("a")) == "observable.track('a')"
    assert "every_s" in repr(observable.track("a", every="1h"))


_SCHEDULES = ["0 3 * * *", "*/15 * * * *", "0 9 * * 1-5", "0 9 * * MON-FRI", "0 0 1,15 * *", "5/15 * * * *",
              "0 3 1 jan *", "0 0 29 2 *", "@daily", "@hourly", "@weekly", "@monthly", "@yearly", "? * * * *",
              "0 3 * * 7", "60 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *", "0 0 31 2 *", "0 0 30 feb *",
              "0 5-3 * * *", "*/0 * * * *", "0 3 * *", "0 0 3 * * *", "x * * * *", "@every 1h", "@sometimes",
              "0 3 * * sun-sat", "0 3 * * 1-5/2", "1,2,,3 * * * *", ", * * * *", "0 0 L * *"]
_DECLARATIONS = [dict(every=s) for s in (59, 60, 31 * 86400, 31 * 86400 + 1)] + [
    dict(schedule="0 3 * * *", tz=z) for z in ("Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5",
                                              "UTC", "Mars/Olympus")] + [
    dict(every=3600, grace=g) for g in (0, 31 * 86400, 31 * 86400 + 1)] + [
    dict(every=3600, max_duration=hi, min_duration=lo) for hi, lo in ((10, 9), (10, 10), (366 * 86400, 1),
                                                                     (366 * 86400 + 1, None))] + [
    dict(every=3600, alert_after=n) for n in (1, 1000, 1001)]


def _raw_expect(kw: Dict[str, Any]) -> Dict[str, Any]:
    """The EXPECT another client would send for these options, unchecked."""
    names = {"every": "every_s", "schedule": "cron", "tz": "tz", "grace": "grace_s",
             "max_duration": "max_duration_ms", "min_duration": "min_duration_ms", "alert_after": "alert_after"}
    raw = {names[k]: v * 1000 if k.endswith("duration") else v for k, v in kw.items() if v is not None}
    if "cron" in raw:
        raw.setdefault("tz", "UTC")
    return raw


def test_the_sdk_accepts_a_declaration_exactly_when_the_server_does(server):
    """The SDK's checks are the server's (robfig/cron, internal/expect): a
    declaration the SDK lets through is never refused later, event by event,
    and one the server takes is never refused at decoration."""
    sid = server.create_session()["session_id"]
    disagree = []
    for kw in [dict(schedule=s) for s in _SCHEDULES] + _DECLARATIONS:
        try:
            _expect.build_expect(**kw)
            sdk_ok = True
        except ValueError:
            sdk_ok = False
        try:
            server.request("POST", "/api/v1/events", {"name": "probe", "status": "completed",
                                                      "expect": _raw_expect(kw)}, token=sid)
            server_ok = True
        except Exception as e:
            assert getattr(e, "status", None) == 400, e
            server_ok = False
        if sdk_ok != server_ok:
            disagree.append((kw, sdk_ok, server_ok))
    assert not disagree


def _runs_routed_to(push: Any) -> Any:
    from observable import _track

    old = _track.current_route()
    _track.route(push)
    return lambda: _track.route(old)


def test_the_sender_announces_a_running_call_and_its_end_carries_the_run(monkeypatch):
    """Runs (the sender thread's side) driven by hand: this thread plays the sender."""
    import threading

    from observable import _runs

    monkeypatch.setattr(_runs, "RUN_AFTER", 0.05)
    ended: List[Any] = []
    restore = _runs_routed_to(ended.append)
    release = threading.Event()
    try:
        job = observable.track("slow")(lambda: release.wait(5))
        quick = observable.track("quick")(lambda: None)
        worker = threading.Thread(target=job)
        worker.start()
        quick()
        runs = _runs.Runs()
        deadline = time.monotonic() + 5
        found: List[Any] = []
        while not found and time.monotonic() < deadline:
            runs.next_look = 0.0
            found = runs.look()
            time.sleep(0.01)
        assert [job_name for job_name, _, _ in found] == ["slow"]
        runs.next_look = 0.0
        assert runs.look() == []  # announced once
        release.set()
        worker.join(5)
        by_name = {c.name: c for c in ended}
        assert runs.finish(by_name["slow"]) == found[0][2]
        assert runs.finish(by_name["quick"]) is None
    finally:
        release.set()
        restore()


def test_a_long_call_whose_end_is_built_is_not_announced_while_its_frame_lingers(monkeypatch):
    """The end record is queued before the wrapper returns: the sender may build it
    while the frame is still on the stack, and must not announce a run then."""
    import queue
    import threading

    from observable import _runs

    monkeypatch.setattr(_runs, "RUN_AFTER", 0.05)
    pushed: "queue.Queue[Any]" = queue.Queue()
    release = threading.Event()

    def push(call: Any) -> None:
        pushed.put(call)
        release.wait(5)  # the wrapper's frame stays on the stack meanwhile

    restore = _runs_routed_to(push)
    try:
        job = observable.track("slow")(lambda: time.sleep(0.1))
        worker = threading.Thread(target=job)
        worker.start()
        call = pushed.get(timeout=5)
        runs = _runs.Runs()
        assert runs.finish(call) is None  # built: no run was announced
        runs.next_look = 0.0
        assert runs.look() == []
        release.set()
        worker.join(5)
        runs.next_look = 0.0
        assert runs.look() == [] and not runs.ended  # forgotten once the frame is gone
    finally:
        release.set()
        restore()


@pytest.mark.parametrize("options, words", [
    (["--schedule", "0 3 * * 7"], b"not a day-of-week"),
    (["--grace", "10m"], b"--grace, --max-duration, --min-duration and --alert-after need --every or --schedule"),
    (["--every", "30s"], b"too short"),
])
def test_observable_run_checks_its_declaration_as_track_does(env, tmp_path, options, words):
    """`observable run` shares _expect: what the server would refuse is bad usage (exit 2), and the
    command is not run."""
    import subprocess

    marker = tmp_path / "ran"
    r = subprocess.run([sys.executable, "-m", "observable", "run", "--name", "job", *options, "--",
                        "touch", str(marker)], env=dict(env, OBSERVABLE_CODE_SESSION_ID="s"),
                       capture_output=True, timeout=30)
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert not marker.exists()

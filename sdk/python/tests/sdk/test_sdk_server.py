"""Against the real observable-server binary: what the SDK sends is stored,
once, as the contract says, under load and across a server restart."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import observable
from observable import _serialize

from sdk_helpers import SCRIPT, check_run, spooled
from test_sdk_serialize import BadRepr


def wait_events(server, sid, count, timeout=15.0, **params):
    deadline = time.monotonic() + timeout
    events = []
    while time.monotonic() < deadline:
        events = all_events(server, sid, **params)
        if len(events) >= count:
            return events
        time.sleep(0.05)
    return events


def all_events(server, sid, **params):
    out, before = [], None
    while True:
        q = dict(params)
        if before is not None:
            q["before"] = before
        page = server.request("GET", "/api/v1/events?" + "&".join(
            f"{k}={v}" for k, v in {"limit": 200, **q}.items()), token=sid)
        out.extend(page["events"])
        before = page.get("next_before")
        if not before:
            return out


def script_env(env, server, sid):
    return dict(env, OBSERVABLE_CODE_SESSION_ID=sid, OBSERVABLE_CODE_API_URL=server.url)


def test_a_script_delivers_its_last_event_before_exit(run, env, server):
    sid = server.create_session()["session_id"]
    r = run("""
        import observable
        observable.trace("records_processed", 500)
        observable.trace("source", "s3://my-bucket")
        @observable.track("nightly_sync")
        def sync():
            return "synced"
        @observable.track("fails")
        def fails():
            raise ValueError("bad row 7")
        print(sync())
        try:
            fails()
        except ValueError:
            print("raised")
        observable.event("payment_received", amount=99.99, currency="USD")
    """, script_env(env, server, sid))
    check_run(r, "synced\nraised")
    assert r.err == ""
    # No flush() in the script: the exit handler delivered them.
    events = {e["name"]: e for e in all_events(server, sid)}
    assert set(events) == {"nightly_sync", "fails", "payment_received"}
    sync = events["nightly_sync"]
    assert sync["status"] == "completed" and sync["duration_ms"] >= 0
    assert sync["metadata"] == {"records_processed": 500, "source": "s3://my-bucket"}
    assert sync["source"]["sdk"].startswith("observable-python/")
    assert sync["source"]["runtime"].startswith("CPython 3.")
    fails = events["fails"]
    assert fails["status"] == "failed" and fails["error"]["type"] == "ValueError"
    assert fails["error"]["message"] == "bad row 7" and "in fails" in fails["error"]["traceback"]
    assert events["payment_received"]["metadata"] == {"amount": 99.99, "currency": "USD"}
    assert "duration_ms" not in events["payment_received"] or events["payment_received"]["duration_ms"] is None


def test_odd_metadata_names_and_statuses_are_all_accepted(sdk_client, server):
    sid = server.create_session()["session_id"]
    sdk_client(server.url, sid)
    loop = []
    loop.append(loop)
    observable.event("", status="Not A Status!", nan=float("nan"), loop=loop, bad=BadRepr(),
                     big="é" * 100_000, raw=b"\x00\xff", huge=10**400)
    observable.event("n" * 1000, status="9lives", nested={str(i): list(range(300)) for i in range(300)})
    observable.event("\u0000control\ttab", status="")
    assert observable.flush(10)
    events = all_events(server, sid)
    assert len(events) == 3
    for e in events:
        assert len(_serialize.dumps(e.get("metadata") or {})) <= 65536


def test_lone_surrogates_arrive_as_replacement_characters(sdk_client, server):
    # A file name decoded with surrogateescape, as os.listdir gives one for bytes that are not
    # UTF-8: the server refuses an unpaired surrogate escape, so the SDK replaces it.
    odd = b"report-\xff.csv".decode("utf-8", "surrogateescape")
    sid = server.create_session()["session_id"]
    sdk_client(server.url, sid)
    observable.event(odd, file=odd, pair="\ud83d\ude00", **{odd: 1})
    assert observable.flush(10)
    events = wait_events(server, sid, 1)
    assert len(events) == 1
    assert events[0]["name"] == "report-\ufffd.csv"
    assert events[0]["metadata"] == {"file": "report-\ufffd.csv", "pair": "\U0001f600", "report-\ufffd.csv": 1}


def test_1000_threads_tracking_at_once(sdk_client, server):
    sid = server.create_session()["session_id"]
    sdk_client(server.url, sid)
    barrier = threading.Barrier(1000)
    results = []

    @observable.track("threaded")
    def work(i):
        observable.trace("i", i)
        return i

    def worker(i):
        observable.trace("thread", i)
        barrier.wait()  # all 1,000 threads call at once
        results.append(work(i))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1000))
    assert observable.flush(15)
    events = all_events(server, sid)
    assert len(events) == 1000 and len({e["id"] for e in events}) == 1000
    assert all(e["metadata"] == {"thread": e["metadata"]["i"], "i": e["metadata"]["i"]} for e in events)


def test_10000_asyncio_tasks_with_their_own_traces(sdk_client, make_server):
    server = make_server("--session-rate", "0")
    sid = server.create_session()["session_id"]
    sdk_client(server.url, sid)

    @observable.track("task")
    async def body(i):
        await asyncio.sleep(0)
        observable.trace("inside", i)
        return i

    async def task(i):
        observable.trace("task", i)
        await asyncio.sleep(0)
        return await body(i)

    async def main():
        return await asyncio.gather(*(task(i) for i in range(10_000)))

    assert asyncio.run(main()) == list(range(10_000))
    assert observable.flush(20)
    events = all_events(server, sid)
    assert len(events) == 10_000
    assert all(e["metadata"]["task"] == e["metadata"]["inside"] for e in events)
    assert len({e["metadata"]["task"] for e in events}) == 10_000


def test_rate_limited_by_the_server_nothing_lost(sdk_client, make_server):
    server = make_server("--session-rate", "1000", "--session-burst", "500")
    sid = server.create_session()["session_id"]
    sdk_client(server.url, sid)
    for i in range(1500):
        observable.event("burst", i=i)
    assert observable.flush(15)  # 429s with Retry-After on the way
    assert len(all_events(server, sid)) == 1500


def test_server_restarted_mid_run(sdk_client, server):
    sid = server.create_session()["session_id"]
    sdk_client(server.url, sid)
    for i in range(50):
        observable.event("before", i=i)
    assert observable.flush(5)
    server.stop()
    for i in range(50):
        observable.event("during", i=i)
    assert not observable.flush(0.3)  # nowhere to deliver yet
    server.start()
    for i in range(50):
        observable.event("after", i=i)
    assert observable.flush(15)
    names = [e["name"] for e in all_events(server, sid)]
    assert sorted(names) == sorted(["before"] * 50 + ["during"] * 50 + ["after"] * 50)


def test_unknown_session_is_said_once(run, env, server):
    r = run(SCRIPT % 5 + "print('flushed', observable.flush(3))\n",
            dict(env, OBSERVABLE_CODE_SESSION_ID=str(uuid.uuid4()), OBSERVABLE_CODE_API_URL=server.url))
    check_run(r, "flushed False")
    lines = [line for line in r.err.splitlines() if line]
    assert len(lines) == 1 and "not known" in lines[0] and "observable setup" in lines[0]


def test_spool_is_delivered_once_by_the_detached_sender(run, env, home, server):
    sid = server.create_session()["session_id"]
    server.stop()  # the API is down when the script runs and exits
    e = dict(script_env(env, server, sid), OBSERVABLE_CODE_DETACHED_SENDER="1",
             OBSERVABLE_CODE_SENDER_SECONDS="20")
    r = run(SCRIPT % 20, e)
    check_run(r)
    assert len(spooled(home)) == 20
    # The server comes back; the sender the exited script left behind
    # delivers, with no other process using the SDK.
    server.start()
    events = wait_events(server, sid, 20, timeout=20)
    assert len(events) == 20 and len({ev["id"] for ev in events}) == 20
    deadline = time.monotonic() + 5
    while spooled(home) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not spooled(home)
    # A later process finds nothing left to send twice.
    r2 = run("import observable\nobservable.event('later')\nprint('ok', observable.flush(5))\n", e)
    check_run(r2, "ok True")
    assert sorted(ev["name"] for ev in all_events(server, sid)) == ["chaos"] * 20 + ["later"]


def test_past_the_job_limit_only_the_new_jobs_event_is_lost(sdk_client, make_server):
    # The server refuses a request whose events bring a job name past
    # --max-jobs-per-session (422 naming the event): the SDK drops that event
    # alone and delivers the rest of the batch.
    server = make_server("--max-jobs-per-session", "2")
    sid = server.create_session()["session_id"]
    sdk_client(server.url, sid)
    for name in ("a", "b"):
        observable.event(name)
    assert observable.flush(10)
    for name in ("a", "c", "b", "a"):
        observable.event(name)
    assert not observable.flush(10)  # one event was refused, and flush says so
    names = sorted(e["name"] for e in all_events(server, sid))
    assert names == ["a", "a", "a", "b", "b"]

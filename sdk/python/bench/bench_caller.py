"""Caller-thread cost of the SDK, beside a bare call, in one run.

    python sdk/python/bench/bench_caller.py [--rounds 300] [--calls 1000]

Each figure is the best round of `--rounds` rounds of `--calls` calls, in
nanoseconds per call, the cases taking turns round by round; "added"
subtracts the bare call of the same kind measured in the same run. Rows:

  bare sync / bare async       the undecorated no-op function
  track sync / track async     @observable.track on that function
  track sync, every=1d         the same, declaring an expectation (sent on the sender thread)
  trace + track sync           observable.trace(k, v) then the tracked call
  event()                      observable.event("name", key=value)
  sentry_sdk.monitor           (if sentry_sdk is importable) a decorated no-op
  posthog capture              (if posthog is importable) Client.capture

What is measured is the work on the caller's thread: the SDK's sender
thread is stopped and the queue is emptied between rounds, so neither its
network work nor a growing queue (GC) leaks into the figure. Emptying it
gives each record back to its pool, as the sender does once it has built
it (_record.recycle); `--no-recycle` drops them instead, which shows the
cost while the pools are empty (the first calls, a burst past the pool). The
`--with-sender` mode instead starts the real server and keeps the sender
delivering to it during the run, which shows the whole process's cost per
call (the GIL is shared with the sender's JSON and HTTP work). `--look`
times instead the sender thread's periodic look for long calls (_runs),
with 1, 10 and 100 threads and 10,000 asyncio tasks inside tracked calls.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import observable  # noqa: E402
from observable import _client, _record  # noqa: E402


def one_round_sync(fn: Callable[[], Any], calls: int) -> float:
    rng = range(calls)
    t = time.perf_counter()
    for _ in rng:
        fn()
    return (time.perf_counter() - t) / calls


async def one_round_async(fn: Callable[[], Any], calls: int) -> float:
    rng = range(calls)
    t = time.perf_counter()
    for _ in rng:
        await fn()
    return (time.perf_counter() - t) / calls


def interleaved(sync_cases: Dict[str, Callable[[], Any]], async_cases: Dict[str, Callable[[], Any]],
                rounds: int, calls: int, between: Callable[[], None]) -> Dict[str, float]:
    """Best round per case, the cases taking turns round by round, so a
    burst of load from elsewhere hits them all alike."""
    best = {name: float("inf") for name in [*sync_cases, *async_cases]}

    async def main() -> None:
        for _ in range(rounds):
            for name, fn in sync_cases.items():
                best[name] = min(best[name], one_round_sync(fn, calls))
                between()
            for name, afn in async_cases.items():
                best[name] = min(best[name], await one_round_async(afn, calls))
                between()

    asyncio.run(main())
    return {name: value * 1e9 for name, value in best.items()}


def best_sync(fn: Callable[[], Any], rounds: int, calls: int, between: Callable[[], None]) -> float:
    return interleaved({"x": fn}, {}, rounds, calls, between)["x"]


def sentry_row(rounds: int, calls: int) -> Optional[float]:
    try:
        import sentry_sdk
    except ImportError:
        return None
    # A DSN on a closed local port: nothing leaves the machine.
    sentry_sdk.init(dsn="http://public@127.0.0.1:9/1", traces_sample_rate=0.0)

    @sentry_sdk.monitor(monitor_slug="bench")
    def monitored() -> None:
        return None

    return best_sync(monitored, rounds, calls, lambda: None)


def posthog_row(rounds: int, calls: int) -> Optional[float]:
    try:
        from posthog import Posthog
    except ImportError:
        return None
    client = Posthog("phc_bench", host="http://127.0.0.1:9", max_queue_size=10**7)
    props = {"k": 1}

    def capture() -> None:
        client.capture("bench", distinct_id="bench-user", properties=props)

    # posthog 7 keeps its queue and consumers on "lanes"; older ones on the client.
    holder = getattr(client, "_analytics_lane", client)

    def drain() -> None:
        q = holder.queue
        with q.mutex:
            q.queue.clear()

    try:
        # Keep its consumer threads from competing, as for our own SDK.
        for consumer in getattr(holder, "consumers", None) or []:
            consumer.pause()
    except Exception:
        pass
    capture()
    drain()
    result = best_sync(capture, rounds, calls, drain)
    print(f"posthog queue left after the run: {holder.queue.qsize()} (emptied between rounds)")
    return result


def look_rows() -> None:
    """Median time of one _runs.Runs().look() with calls in flight (the sender thread's work)."""
    import threading

    from observable import _runs, _track

    _track.route(lambda call: None)
    release = threading.Event()
    blocked = observable.track("look")(release.wait)

    def deep(n: int) -> Any:
        return deep(n - 1) if n else blocked()

    def median_look() -> float:
        runs, times = _runs.Runs(), []
        for _ in range(21):
            runs.next_look = 0.0
            t = time.perf_counter()
            runs.look()
            times.append(time.perf_counter() - t)
        return sorted(times)[10] * 1e6

    for n in (1, 10, 100):
        threads = [threading.Thread(target=deep, args=(30,)) for _ in range(n)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        print(f"look(), {n:>3} threads in tracked calls (30 frames deep): {median_look():8.0f} µs")
        release.set()
        for t in threads:
            t.join()
        release.clear()

    @observable.track("look_async")
    async def waiting() -> None:
        await asyncio.sleep(2)

    async def tasks() -> float:
        pending = [asyncio.ensure_future(waiting()) for _ in range(10_000)]
        await asyncio.sleep(0.5)
        out: Dict[str, float] = {}
        side = threading.Thread(target=lambda: out.update(us=median_look()))
        side.start()
        while side.is_alive():
            await asyncio.sleep(0.01)
        await asyncio.gather(*pending)
        return out["us"]

    print(f"look(), 10,000 asyncio tasks in tracked calls: {asyncio.run(tasks()):8.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--with-sender", action="store_true",
                        help="start the real server and keep the sender delivering to it")
    parser.add_argument("--look", action="store_true", help="time the sender's look for long calls instead")
    parser.add_argument("--no-recycle", action="store_true",
                        help="drop the records between rounds instead of giving them back to their pools")
    args = parser.parse_args()
    if args.look:
        look_rows()
        return

    live = args.with_sender
    server = None
    if live:
        import tempfile

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from server import Server

        server = Server(Path(tempfile.mkdtemp(prefix="observable-bench-")), "--session-rate", "0").start()
        os.environ["OBSERVABLE_CODE_SESSION_ID"] = server.create_session()["session_id"]
        os.environ["OBSERVABLE_CODE_API_URL"] = server.url
    else:
        os.environ["OBSERVABLE_CODE_SESSION_ID"] = "bench-session"
        os.environ["OBSERVABLE_CODE_API_URL"] = "http://127.0.0.1:9"
    os.environ.setdefault("OBSERVABLE_CODE_DETACHED_SENDER", "0")

    def bare() -> None:
        return None

    async def abare() -> None:
        return None

    tracked = observable.track("bench")(bare)
    declared = observable.track("bench_declared", every="1d")(bare)
    atracked = observable.track("bench_async")(abare)

    def trace_track() -> None:
        observable.trace("records", 500)
        tracked()

    def event() -> None:
        observable.event("bench_event", amount=1)

    observable.event("warm-up")  # creates the client and its thread
    client = _client._client
    assert client is not None
    if live:
        between = lambda: None  # noqa: E731
    else:
        client.stop()
        time.sleep(1.2)  # the thread is gone: it is no longer idle, so callers never wake it
        client.queue.clear()
        queue, recycle = client.queue, (lambda record: None) if args.no_recycle else _record.recycle

        def between() -> None:
            for record in queue.take_all()[0]:
                recycle(record)

    rounds, calls = args.rounds, args.calls
    gc.collect()
    rows = interleaved(
        {"bare sync": bare, "track sync": tracked, "track sync, every=1d": declared,
         "trace + track sync": trace_track, "event()": event},
        {"bare async": abare, "track async": atracked},
        rounds, calls, between,
    )
    if live:
        ok = observable.flush(120)
        print(f"delivered everything: {ok}")
        if server is not None:
            server.kill()
    for name, fn in (("sentry_sdk.monitor", sentry_row), ("posthog capture", posthog_row)):
        value = fn(rounds, calls)
        if value is not None:
            rows[name] = value

    base = {"sync": rows["bare sync"], "async": rows["bare async"]}
    print(f"Python {sys.version.split()[0]} · {rounds} rounds × {calls} calls · best round, ns per call"
          + (" · sender live" if live else " · caller thread only")
          + (" · records not recycled" if args.no_recycle else ""))
    print(f"{'':24} {'per call':>10} {'added':>10}")
    for name, value in rows.items():
        kind = "async" if "async" in name else "sync"
        added = value - base[kind]
        print(f"{name:24} {value:10.0f} {added:10.0f}")


if __name__ == "__main__":
    main()

"""track() as decorator and context manager: same behaviour as undecorated,
plus one event per call with the right status, duration and error."""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import traceback

import pytest

import observable


def test_sync_keeps_identity_and_result(captured):
    def add(a: int, b: int = 2) -> int:
        """Adds."""
        return a + b

    tracked = observable.track("add")(add)
    assert tracked(1) == 3
    assert tracked.__name__ == "add" and tracked.__doc__ == "Adds."
    assert inspect.signature(tracked) == inspect.signature(add)
    assert tracked.__wrapped__ is add
    ev = captured.one()
    assert ev["name"] == "add" and ev["status"] == "completed"
    assert ev["duration_ms"] >= 0 and "error" not in ev
    assert ev["timestamp"].endswith("Z") and len(ev["timestamp"]) == 24
    assert len(ev["id"]) == 32
    assert ev["source"]["sdk"] == f"observable-python/{observable.__version__}"


def test_failure_reraises_the_same_exception_with_its_traceback(captured):
    err = ValueError("bad input 42")

    @observable.track("boom")
    def boom():
        raise err

    with pytest.raises(ValueError) as info:
        boom()
    assert info.value is err
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "boom"  # the raising frame is still there
    ev = captured.one()
    assert ev["status"] == "failed"
    assert ev["error"]["type"] == "ValueError"
    assert ev["error"]["message"] == "bad input 42"
    assert "raise err" in ev["error"]["traceback"]
    assert "observable/_track.py" not in ev["error"]["traceback"]


def test_error_type_is_qualified(captured):
    class Outer:
        class Inner(Exception):
            pass

    @observable.track("q")
    def fail():
        raise Outer.Inner("x")

    with pytest.raises(Outer.Inner):
        fail()
    assert captured.one()["error"]["type"].endswith("test_error_type_is_qualified.<locals>.Outer.Inner")


def test_async_stays_a_coroutine_function_and_times_the_awaited_body(captured):
    @observable.track("sleepy")
    async def sleepy(x):
        await asyncio.sleep(0.05)
        return x

    assert inspect.iscoroutinefunction(sleepy)
    coro = sleepy(7)
    assert asyncio.run(coro) == 7
    ev = captured.one()
    assert ev["status"] == "completed" and ev["duration_ms"] >= 45


def test_async_failure_reraises(captured):
    @observable.track("afail")
    async def afail():
        raise KeyError("k")

    with pytest.raises(KeyError):
        asyncio.run(afail())
    assert captured.one()["error"]["type"] == "KeyError"


@pytest.mark.parametrize("exc, status", [
    (KeyboardInterrupt(), "cancelled"),
    (SystemExit(0), "completed"),
    (SystemExit(None), "completed"),
    (SystemExit(3), "failed"),
    (SystemExit("fatal: bad config"), "failed"),
    (GeneratorExit(), "completed"),
])
def test_base_exceptions_are_reraised_and_recorded(captured, exc, status):
    @observable.track("base")
    def f():
        raise exc

    with pytest.raises(type(exc)) as info:
        f()
    assert info.value is exc
    ev = captured.one()
    assert ev["status"] == status
    assert ("error" in ev) == (status != "completed")


def test_cancelled_task_records_cancelled(captured):
    @observable.track("slow")
    async def slow():
        await asyncio.sleep(10)

    async def main():
        t = asyncio.ensure_future(slow())
        await asyncio.sleep(0.01)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    asyncio.run(main())
    ev = captured.one()
    assert ev["status"] == "cancelled" and ev["error"]["type"].endswith("CancelledError")


def test_context_manager(captured):
    with observable.track("block") as t:
        observable.trace("rows", 3)
    assert repr(t) == "observable.track('block')"
    with pytest.raises(RuntimeError):
        with observable.track("bad block"):
            raise RuntimeError("no")
    ok, bad = captured.events()
    assert ok["status"] == "completed" and ok["metadata"] == {"rows": 3}
    assert bad["status"] == "failed" and bad["error"]["message"] == "no"


def test_async_context_manager(captured):
    async def main():
        async with observable.track("ablock"):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert captured.one()["name"] == "ablock"


def test_one_tracker_object_used_recursively_and_concurrently(captured):
    t = observable.track("shared")

    @t
    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)

    assert fact(5) == 120
    assert len(captured.events()) == 5
    captured.items.clear()

    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        with t:
            barrier.wait()  # every thread is inside the same tracker at once

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    evs = captured.events()
    assert len(evs) == 8 and all(e["duration_ms"] is not None for e in evs)


def test_generator_is_timed_over_its_iteration(captured):
    @observable.track("gen")
    def gen(n):
        for i in range(n):
            got = yield i
            if got:
                yield got * 10
        return "done"

    assert inspect.isgeneratorfunction(gen)
    g = gen(3)
    assert next(g) == 0
    assert g.send(5) == 50
    assert list(g) == [1, 2]
    assert captured.one()["status"] == "completed"


def test_generator_closed_early_and_failing(captured):
    @observable.track("gen")
    def gen():
        yield 1
        yield 2
        raise OSError("disk")

    for x in gen():
        break
    with pytest.raises(OSError):
        list(gen())
    closed, failed = captured.events()
    assert closed["status"] == "completed"
    assert failed["status"] == "failed" and failed["error"]["type"] == "OSError"


def test_async_generator(captured):
    @observable.track("agen")
    async def agen(n):
        for i in range(n):
            got = yield i
            if got is not None:
                yield got

    assert inspect.isasyncgenfunction(agen)

    async def main():
        out = [x async for x in agen(3)]
        g = agen(5)
        assert await g.__anext__() == 0
        assert await g.asend("echo") == "echo"
        await g.aclose()
        return out

    assert asyncio.run(main()) == [0, 1, 2]
    assert [e["status"] for e in captured.events()] == ["completed", "completed"]


def test_methods_staticmethods_classmethods(captured):
    class C:
        @observable.track("m")
        def m(self, x):
            return x + 1

        @observable.track("s")
        @staticmethod
        def s(x):
            return x * 2

        @observable.track("c")
        @classmethod
        def c(cls):
            return cls.__name__

    assert C().m(1) == 2 and C.s(2) == 4 and C.c() == "C"
    assert [e["name"] for e in captured.events()] == ["m", "s", "c"]


def test_track_without_parentheses_names_after_the_function(captured):
    @observable.track
    def nightly():
        return 1

    assert nightly() == 1
    assert captured.one()["name"].endswith("nightly")


def test_event(captured):
    observable.event("payment_received", amount=99.99, currency="USD")
    observable.event("webhook_failed", status="failed", endpoint="/stripe")
    observable.event("deployment_complete")
    a, b, c = captured.events()
    assert a["status"] == "completed" and a["metadata"] == {"amount": 99.99, "currency": "USD"}
    assert "duration_ms" not in a
    assert b["status"] == "failed" and b["metadata"] == {"endpoint": "/stripe"}
    assert c["name"] == "deployment_complete" and "metadata" not in c


def test_undecorated_behaviour_without_credentials(run, env):
    r = run("""
        import observable
        @observable.track("job")
        def job(x): return x * 3
        observable.trace("k", 1)
        observable.event("e", a=1)
        with observable.track("block"):
            pass
        print("result", job(14), observable.flush())
    """, env)
    assert r.code == 0 and "result 42 True" in r.out
    lines = [line for line in r.err.splitlines() if line]
    assert len(lines) == 1, r.err
    assert lines[0].startswith("observable: ") and "observable setup" in lines[0]
    assert "Traceback" not in r.err


def test_python_version_is_supported():
    assert sys.version_info >= (3, 9)

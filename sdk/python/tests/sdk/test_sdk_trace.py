"""trace(): for the next tracked call of this thread or asyncio task only."""

from __future__ import annotations

import asyncio
import threading

import observable


@observable.track("job")
def job():
    return None


def test_trace_attaches_to_the_next_call_and_is_cleared(captured):
    observable.trace("records_processed", 500)
    observable.trace("source", "s3://my-bucket")
    job()
    job()
    first, second = captured.events()
    assert first["metadata"] == {"records_processed": 500, "source": "s3://my-bucket"}
    assert "metadata" not in second


def test_trace_inside_the_call_belongs_to_it_and_wins_over_earlier(captured):
    @observable.track("inside")
    def inside():
        observable.trace("rows", 2)
        observable.trace("k", "inner")

    observable.trace("k", "outer")
    inside()
    job()
    a, b = captured.events()
    assert a["metadata"] == {"k": "inner", "rows": 2}
    assert "metadata" not in b


def test_nested_calls_keep_their_own_traces(captured):
    @observable.track("inner")
    def inner():
        observable.trace("level", "inner")

    @observable.track("outer")
    def outer():
        observable.trace("before_inner", True)
        inner()
        observable.trace("after_inner", True)

    observable.trace("pending", 1)
    outer()
    inner_ev, outer_ev = captured.events()
    assert inner_ev["metadata"] == {"level": "inner"}
    assert outer_ev["metadata"] == {"pending": 1, "before_inner": True, "after_inner": True}


def test_failed_call_keeps_and_clears_its_traces(captured):
    @observable.track("fails")
    def fails():
        observable.trace("step", 3)
        raise ValueError("x")

    observable.trace("attempt", 1)
    try:
        fails()
    except ValueError:
        pass
    job()
    a, b = captured.events()
    assert a["metadata"] == {"attempt": 1, "step": 3} and "metadata" not in b


def test_threads_do_not_see_each_others_traces(captured):
    barrier = threading.Barrier(16)

    def worker(i):
        observable.trace("thread", i)
        barrier.wait()
        job()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(e["metadata"]["thread"] for e in captured.events()) == list(range(16))


def test_asyncio_tasks_have_their_own_traces(captured):
    @observable.track("task")
    async def task_body(i):
        await asyncio.sleep(0)
        observable.trace("during", i)
        await asyncio.sleep(0)

    async def one(i):
        observable.trace("task", i)
        await asyncio.sleep(0)
        await task_body(i)

    async def main():
        observable.trace("parent", "only in the parent task")
        await asyncio.gather(*(one(i) for i in range(200)))

    asyncio.run(main())
    evs = captured.events()
    assert len(evs) == 200
    for e in evs:
        assert e["metadata"]["task"] == e["metadata"]["during"]
    # Tasks start with a copy of the parent's context: the parent's pending
    # trace is seen by each of them, but none of them consumes it for another.
    assert all(e["metadata"]["parent"] == "only in the parent task" for e in evs)


def test_trace_with_odd_keys_never_raises(captured):
    observable.trace(("tuple", 1), 1)
    observable.trace(None, 2)
    job()
    assert captured.one()["metadata"] == {"('tuple', 1)": 1, "None": 2}


def test_event_does_not_consume_pending_traces(captured):
    observable.trace("for_the_job", 1)
    observable.event("unrelated", x=1)
    job()
    ev, tracked = captured.events()
    assert ev["metadata"] == {"x": 1}
    assert tracked["metadata"] == {"for_the_job": 1}

"""The record pools (_record.py): the caller's thread fills a record taken
from a pool, the sender builds it and gives it back. A reused record must
carry nothing of the call it last described, and threads sharing the
pools must never see one record in two places at once."""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
import weakref
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import observable
from observable import _events, _record, _track
from observable._queue import CallQueue

SOURCE = _events.make_source()


class Token:
    """A value only the first call holds, to see whether anything keeps it."""


@pytest.fixture
def queue() -> Iterator[CallQueue]:
    """The hot path routed to a real queue, with empty pools."""
    old = _track.current_route()
    q = CallQueue(1_000_000)
    _record.returned_pool.clear()
    _record.posted_pool.clear()
    _track.route(q)
    try:
        yield q
    finally:
        _track.route(old)


def build_and_recycle(records: List[Any]) -> List[Dict[str, Any]]:
    """What the sender thread does with the records it takes (_sender_thread._build)."""
    offset = time.time() - time.perf_counter()
    events = []
    for record in records:
        events.append(json.loads(_events.build(record, SOURCE, offset).json))
        _record.recycle(record)
    return events


def test_a_reused_record_carries_nothing_of_its_last_call(queue):
    token = Token()

    @observable.track("first")
    def first() -> None:
        observable.trace("during", token)

    observable.trace("before", token)
    first()
    observable.event("first_event", status="odd", held=token)
    old_records, _ = queue.take_all()
    assert [type(r) for r in old_records] == [_record.Returned, _record.Posted]
    first_events = build_and_recycle(old_records)
    assert first_events[0]["metadata"] == {"before": repr(token), "during": repr(token)}
    assert first_events[1]["status"] == "odd" and "held" in first_events[1]["metadata"]

    # Back in the pools, cleared: nothing there keeps the first calls' values alive.
    for record in old_records:
        assert all(getattr(record, slot) is None for slot in type(record).__slots__), record
    ref = weakref.ref(token)
    del token, first_events
    gc.collect()
    assert ref() is None

    @observable.track("second")
    def second() -> int:
        return 2

    assert second() == 2
    observable.event("second_event")
    new_records, _ = queue.take_all()
    assert [id(r) for r in new_records] == [id(r) for r in old_records]  # the same objects, reused
    called, posted = build_and_recycle(new_records)
    assert called["name"] == "second" and called["status"] == "completed" and "metadata" not in called
    assert "duration_ms" in called
    assert posted["name"] == "second_event" and posted["status"] == "completed"
    assert "metadata" not in posted and "duration_ms" not in posted


def test_a_pool_keeps_at_most_its_size(queue):
    for i in range(_record.POOL_SIZE + 100):
        observable.event("burst", i=i)
    records, _ = queue.take_all()
    build_and_recycle(records)
    assert len(_record.posted_pool) == _record.POOL_SIZE
    assert len(_record.returned_pool) == 0


def test_many_threads_share_the_pools_without_mixing_calls(queue):
    threads, per_thread = 8, 3000
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over as often as it can be
    done = threading.Event()
    built: List[Dict[str, Any]] = []
    seen: Dict[int, Any] = {}  # every record met, kept alive so that ids stay unique

    def sender() -> None:
        while True:
            finished = done.is_set()
            records, _ = queue.take(500)
            seen.update((id(r), r) for r in records)
            built.extend(build_and_recycle(records))
            if finished and not records:
                return

    @observable.track("called")
    def called(t: int, i: int) -> None:
        observable.trace("i", i)

    def caller(t: int) -> None:
        for i in range(per_thread):
            while len(queue) > 400:  # let the sender keep up, so that records come back to be reused
                time.sleep(0.0001)
            observable.trace("t", t)
            called(t, i)
            observable.event("posted", t=t, i=i)

    try:
        drain = threading.Thread(target=sender)
        drain.start()
        workers = [threading.Thread(target=caller, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        done.set()
        drain.join(60)
    finally:
        sys.setswitchinterval(old_interval)
    assert not drain.is_alive()
    assert queue.dropped == 0

    def pairs(name: str) -> List[Tuple[int, int]]:
        return sorted((e["metadata"]["t"], e["metadata"]["i"]) for e in built if e["name"] == name)

    expected = sorted((t, i) for t in range(threads) for i in range(per_thread))
    # Each call's fields came whole from that call: a record shared by two
    # threads at once would show a pair twice and lose another.
    assert pairs("called") == expected
    assert pairs("posted") == expected
    assert all(set(e["metadata"]) == {"t", "i"} for e in built)
    assert all(("duration_ms" in e) == (e["name"] == "called") for e in built)
    assert len(seen) < len(built) // 2  # records were reused, while the threads ran

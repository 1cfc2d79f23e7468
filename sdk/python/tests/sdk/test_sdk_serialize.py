"""Every value serialises; every event is valid by the contract's rules."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import math
import re
import threading
import uuid

import pytest

import observable
from observable import _events, _serialize


class BadRepr:
    def __repr__(self):
        raise RuntimeError("repr exploded")

    __str__ = __repr__


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: float


def contract_valid(ev):
    """The server's rules (internal/domain/validate.go), restated."""
    assert 1 <= len(ev["name"]) <= 200
    assert re.fullmatch(r"[a-z][a-z0-9_]*", ev["status"]) and len(ev["status"]) <= 32
    assert len(ev["id"]) <= 64
    if "duration_ms" in ev:
        assert ev["duration_ms"] >= 0
    if "metadata" in ev:
        assert isinstance(ev["metadata"], dict)
        assert len(_serialize.dumps(ev["metadata"])) <= 65536
    if "error" in ev:
        assert ev["error"]["type"] and isinstance(ev["error"]["message"], str)
    datetime.datetime.strptime(ev["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")


def meta_of(captured, **values):
    observable.event("odd", **values)
    ev = captured.events()[-1]
    contract_valid(ev)
    return ev["metadata"]


def test_json_values_stay_json(captured):
    m = meta_of(captured, i=1, f=1.5, s="é", b=True, n=None, l=[1, "a"], d={"k": {"n": [None]}})
    assert m == {"i": 1, "f": 1.5, "s": "é", "b": True, "n": None, "l": [1, "a"], "d": {"k": {"n": [None]}}}


def test_nan_and_infinities_become_valid_json(captured):
    m = meta_of(captured, nan=math.nan, inf=math.inf, ninf=-math.inf)
    assert m == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity"}


def test_cycles_are_marked(captured):
    a = [1]
    a.append(a)
    d = {"x": 1}
    d["self"] = d
    m = meta_of(captured, a=a, d=d, twice=[d, d])
    assert m["a"] == [1, "<cycle>"]
    assert m["d"] == {"x": 1, "self": "<cycle>"}
    assert m["twice"] == [{"x": 1, "self": "<cycle>"}] * 2  # shared, not cyclic


def test_a_repr_that_raises_survives(captured):
    m = meta_of(captured, bad=BadRepr(), keyed={BadRepr(): 1})
    assert m["bad"] == "<unrepresentable BadRepr>"
    assert list(m["keyed"].values()) == [1]


def test_other_types(captured):
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    u = uuid.UUID(int=1)
    m = meta_of(captured, when=when, day=when.date(), dec=decimal.Decimal("1.10"), u=u,
                color=Color.RED, pt=Point(1, 2.5), st={3}, tup=(1, 2), raw=b"\xffab",
                big=10**30, obj=object(), keys={1: "a", (2, 3): "b"})
    assert m["when"] == "2026-01-02T03:04:05+00:00" and m["day"] == "2026-01-02"
    assert m["dec"] == "1.10" and m["u"] == str(u) and m["color"] == "red"
    assert m["pt"] == {"x": 1, "y": 2.5} and m["st"] == [3] and m["tup"] == [1, 2]
    assert m["raw"] == "\\xffab" and m["big"] == str(10**30)
    assert m["obj"].startswith("<object object")
    assert m["keys"] == {"1": "a", "(2, 3)": "b"}


def test_huge_int_beyond_str_limit(captured):
    m = meta_of(captured, huge=10**5000)
    assert isinstance(m["huge"], str)


def test_oversized_values_are_truncated_with_a_marker(captured):
    m = meta_of(captured, text="x" * 200_000)
    assert "more characters]" in m["text"]
    many = {f"k{i}": "v" * 100 for i in range(5000)}
    m = meta_of(captured, many=many)
    assert any("more items" in str(v) for v in m["many"].values())


def test_metadata_always_fits_64_kib(captured):
    wide = {f"key{i}": ["é" * 500] * 30 for i in range(200)}  # escapes grow it 6x
    m = meta_of(captured, wide=wide, deep=[[[[[[[[["x" * 50_000]]]]]]]]])
    assert len(_serialize.dumps(m)) <= 65536


def test_deep_nesting_is_bounded(captured):
    deep = cur = []
    for _ in range(10_000):
        nxt = []
        cur.append(nxt)
        cur = nxt
    m = meta_of(captured, deep=deep)
    assert "<too deep>" in json.dumps(m)


def test_values_mutated_by_another_thread_while_serialised(captured):
    d = {i: i for i in range(1000)}
    stop = threading.Event()

    def mutate():
        i = 1000
        while not stop.is_set():
            d[i] = i
            d.pop(i - 1000, None)
            i += 1

    t = threading.Thread(target=mutate)
    t.start()
    try:
        for _ in range(5):
            meta_of(captured, d=d)
    finally:
        stop.set()
        t.join()


@pytest.mark.parametrize("name, expected", [
    ("", "unnamed"), ("   ", "unnamed"), ("x" * 500, "x" * 197 + "..."), (42, "42"), (None, "None"),
])
def test_names_are_made_valid(captured, name, expected):
    observable.event(name)
    ev = captured.one()
    contract_valid(ev)
    assert ev["name"] == expected


@pytest.mark.parametrize("status, expected", [
    ("completed", "completed"), ("Failed", "failed"), ("timed out", "timed_out"),
    ("in-progress!", "in_progress"), ("123", "s_123"), ("", "completed"), ("é", "completed"),
    ("a" * 40, "a" * 32), (None, "completed"), ("ok_2", "ok_2"),
])
def test_statuses_are_made_valid(captured, status, expected):
    observable.event("s", status=status)
    ev = captured.one()
    contract_valid(ev)
    assert ev["status"] == expected


def test_error_message_and_traceback_are_bounded(captured):
    @observable.track("deep")
    def recurse(n):
        if n == 0:
            raise ValueError("m" * 100_000)
        return recurse(n - 1)

    with pytest.raises(ValueError):
        recurse(200)
    ev = captured.events()[-1]
    contract_valid(ev)
    assert len(ev["error"]["message"]) < 2100
    assert len(ev["error"]["traceback"]) <= _events.MAX_TRACEBACK + 10


def test_exception_whose_str_raises(captured):
    class Weird(Exception):
        def __str__(self):
            raise RuntimeError("nope")

    @observable.track("weird")
    def f():
        raise Weird()

    with pytest.raises(Weird):
        f()
    ev = captured.one()
    contract_valid(ev)
    assert ev["error"]["type"].endswith("Weird")


def test_timestamp_is_utc_with_milliseconds():
    assert _events.iso_utc(0.0) == "1970-01-01T00:00:00.000Z"
    assert _events.iso_utc(1767366245.1239) == "2026-01-02T15:04:05.123Z"


def test_dumps_replaces_lone_surrogates_and_keeps_pairs():
    assert _serialize.dumps({"a": "\udcff x"}) == '{"a":"\\ufffd x"}'
    assert _serialize.dumps({"a": "\U0001f600"}) == '{"a":"\\ud83d\\ude00"}'
    assert _serialize.dumps({"a": "\ud83d\ude00"}) == '{"a":"\\ud83d\\ude00"}'  # two code points, one pair
    assert _serialize.dumps({"\ud800k": ["\udfff", "\\ud800"]}) == '{"\\ufffdk":["\\ufffd","\\\\ud800"]}'

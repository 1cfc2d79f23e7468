"""Client ids sort by the time they were made (the server's duplicate index stays local)."""
import re
import time

from observable._events import new_id


def test_ids_are_32_hex_digits_and_unique():
    ids = [new_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_ids_sort_by_the_millisecond_they_were_made():
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(2_000)]
    after = time.time_ns() // 1_000_000
    stamps = [int(i[:12], 16) for i in ids]
    assert stamps == sorted(stamps)
    assert before <= stamps[0] and stamps[-1] <= after

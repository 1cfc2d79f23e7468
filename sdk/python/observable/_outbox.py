"""Built events waiting for the server's acknowledgement.

Events are built (id, JSON) when taken from the queue and stay here until
acknowledged; a retry re-sends the same ids, so nothing is stored twice.
`lock` guards the hand-over between the sender thread and the exit
handler, which takes whatever is left: it is never held across network I/O
or a wait. The generation tells the sender thread, back from a send, that
the exit handler took its events over meanwhile.
"""

from __future__ import annotations

import threading
from typing import Iterable, List, Set

from ._events import Built


class Outbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: List[Built] = []
        self.generation = 0

    def __len__(self) -> int:
        return len(self.events)

    def add(self, events: Iterable[Built]) -> None:
        self.events.extend(events)

    def chunk(self, max_events: int, max_bytes: int) -> List[Built]:
        """The next request's events: at most max_events, about max_bytes."""
        size, n = 0, 0
        for built in self.events[:max_events]:
            size += len(built.json) + 1
            if size > max_bytes and n:
                break
            n += 1
        return self.events[:n]

    def acknowledge(self, n: int) -> None:
        del self.events[:n]

    def drop(self, ids: Set[str]) -> None:
        self.events = [b for b in self.events if b.id not in ids]

    def take_over(self) -> List[str]:
        """Everything left, for the exit handler (call holding lock)."""
        self.generation += 1
        left = [b.json for b in self.events]
        self.events = []
        return left

    def clear(self) -> None:
        self.events = []

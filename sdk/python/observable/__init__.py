"""Observable Code: know on your phone when your code finishes or fails.

    import observable

    @observable.track("nightly_sync")
    def sync(): ...

    @observable.track("backup", schedule="0 3 * * *", tz="Europe/Berlin", max_duration="2h")
    def backup(): ...                     # declares what the server should expect

    observable.trace("records", 500)      # metadata for the next tracked call
    observable.event("deployed", version="1.4.2")
    observable.flush()                    # before a serverless handler returns

Events are sent by one background daemon thread; your code's return is
never delayed, and nothing the SDK does can raise into your code, except a
wrong declaration (every="1x"), which raises ValueError at decoration, once,
at import. A tracked call still running after 10 s is announced as a run
(a `started` event; its end carries the same `run` id).
"""

from __future__ import annotations

from ._client import flush
from ._track import event, trace, track
from ._version import __version__

__all__ = ["track", "trace", "event", "flush", "__version__"]

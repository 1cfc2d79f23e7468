"""`observable tail`: the session's events in the terminal as they happen.

It reads the server's event stream (Server-Sent Events) and resumes after
the last event it printed when the connection drops or the server restarts
(Last-Event-ID), so nothing is missed nor printed twice. "Now", where it
starts, is the newest stored event's seq when it first reaches the server:
events posted after that are shown even if the stream was down before the
first one came. --json prints each
stored event as one JSON object a line, for jq.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import time
import urllib.parse
from datetime import datetime
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ._cli_context import Context
from ._cli_http import cli_version, parse_time
from ._cli_pairing import EXIT_NOT_READY, EXIT_OK, EXIT_USAGE, Failure

# The server sends a comment at least every 30 s: silence past this is a dead link.
READ_TIMEOUT = 75.0
FIRST_PAUSE, LONGEST_PAUSE = 0.25, 5.0


def add_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "tail", help="show new events as they happen",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Prints the session's new events as they arrive (failures in red on a\n"
                    "terminal), reconnecting and resuming where it left off. Ctrl-C stops it.",
        epilog="examples:\n"
               "  observable tail\n"
               "  observable tail --job nightly_backup --status failed\n"
               "  observable tail --json | jq -r .name")
    common(p, suppress=True)
    p.add_argument("--job", action="append", default=[], metavar="NAME",
                   help="only this job's events (repeat for several)")
    p.add_argument("--status", action="append", default=[], metavar="STATUS",
                   help="only events with this status (repeat for several)")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.add_argument("--after", metavar="SEQ", type=int, default=None,
                   help="start after this event number (0: the whole history) instead of now")


def parse_sse(lines: Iterator[bytes]) -> Iterator[Tuple[Optional[str], str, str]]:
    """(id, event type, data) for each event of a text/event-stream."""
    event_id: Optional[str] = None
    kind: str = "message"
    data: List[str] = []
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield event_id, kind, "\n".join(data)
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "id":
            event_id = value
        elif field == "event":
            kind = value
        elif field == "data":
            data.append(value)


class Printer:
    def __init__(self, ctx: Context) -> None:
        self.term = ctx.term
        self.json = ctx.args.json
        self.jobs = set(ctx.args.job)
        self.statuses = set(ctx.args.status)

    def show(self, event: Dict[str, Any]) -> None:
        if self.jobs and event.get("name") not in self.jobs:
            return
        if self.statuses and event.get("status") not in self.statuses:
            return
        out = self.term.out
        out.write((json.dumps(event, ensure_ascii=False) if self.json else self.line(event)) + "\n")
        out.flush()

    def line(self, e: Dict[str, Any]) -> str:
        t = self.term
        status = str(e.get("status", ""))
        when = parse_time(e.get("timestamp") or e.get("received_at"))
        stamp = when.astimezone().strftime("%H:%M:%S") if isinstance(when, datetime) else "--:--:--"
        color = {"completed": "green", "failed": "red", "started": "cyan"}.get(status, "yellow")
        parts = [t.style(stamp, "dim"), t.style(f"{status:<9}", color, *(("bold",) if status == "failed" else ())),
                 _printable(str(e.get("name", "")))]
        if isinstance(e.get("duration_ms"), (int, float)):
            parts.append(_duration(float(e["duration_ms"])))
        err = e.get("error")
        if isinstance(err, dict) and (err.get("message") or err.get("type")):
            text = _printable(f"{err.get('type') or 'error'}: {err.get('message') or ''}".strip())
            parts.append(t.style(text[:200], "red") if status == "failed" else text[:200])
        return "  ".join(parts)


def _printable(text: str) -> str:
    """An event's text never moves the cursor or recolours the terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _duration(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.0f} ms"
    s = ms / 1000
    if s < 120:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {int(s % 60)} s"


def tail_command(ctx: Context) -> int:
    if not ctx.settings.session_id:
        raise Failure("Not set up: there is no session to follow.",
                      "Run `observable setup` once (or set OBSERVABLE_CODE_SESSION_ID or OBSERVABLE_CODE_API_KEY).", EXIT_NOT_READY)
    if ctx.args.after is not None and ctx.args.after < 0:
        raise Failure("--after must be 0 or more.", None, EXIT_USAGE)
    printer = Printer(ctx)
    follow = Follow(ctx.api_url, ctx.settings.session_id, printer.show, ctx.term.err)
    if ctx.args.after is not None:
        follow.last_id = str(ctx.args.after)
    try:
        follow.forever()
    except KeyboardInterrupt:
        pass
    return EXIT_OK


class Follow:
    """The stream, reconnected with backoff, resumed after the last event seen."""

    def __init__(self, api_url: str, token: str, show: Callable[[Dict[str, Any]], None], err: Any,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        parts = urllib.parse.urlsplit(api_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.path = parts.path.rstrip("/") + "/api/v1/events/stream"
        self.token, self.show, self.err, self.sleep = token, show, err, sleep
        self.events_path = parts.path.rstrip("/") + "/api/v1/events?limit=1"
        # None until the first answer: then the newest event's seq ("now"),
        # sent as Last-Event-ID from the first connection on, so that the
        # events posted while the stream is down are not lost, even before
        # the first one was shown.
        self.last_id: Optional[str] = None
        self.lost = False  # said "reconnecting" and not yet "connected again"

    def forever(self) -> None:
        pause = FIRST_PAUSE
        while True:
            got_events = self.once()
            if got_events:
                pause = FIRST_PAUSE
            self.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)

    def _connection(self) -> http.client.HTTPConnection:
        conn_cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return conn_cls(self.host, self.port, timeout=READ_TIMEOUT)

    def _headers(self, accept: str) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": accept,
                "User-Agent": f"observable-cli/{cli_version()}"}

    def _answered(self, status: int) -> bool:
        """Whether the answer is a 200; a lost connection otherwise, but an unknown session ends tail."""
        if status in (401, 403):
            raise Failure("The server does not know this session.",
                          "Run `observable setup` to pair again.", EXIT_NOT_READY)
        if status != 200:
            self._lost(f"HTTP {status}")
            return False
        return True

    def newest(self) -> Optional[str]:
        """The newest stored event's seq ("0" when there is none); None: ask again later."""
        conn = self._connection()
        try:
            conn.request("GET", self.events_path, headers=self._headers("application/json"))
            resp = conn.getresponse()
            body = resp.read()
            if not self._answered(resp.status):
                return None
            events = json.loads(body).get("events") or []
            return str(int(events[0]["seq"])) if events else "0"
        except (ValueError, TypeError, KeyError, AttributeError):
            self._lost("an answer that is not a list of events")
            return None
        except (OSError, http.client.HTTPException, socket.timeout) as e:
            self._lost(str(e) or type(e).__name__)
            return None
        finally:
            conn.close()

    def once(self) -> bool:
        """One connection, until it ends; True when it carried events."""
        if self.last_id is None:
            self.last_id = self.newest()
            if self.last_id is None:
                return False
        conn = self._connection()
        headers = self._headers("text/event-stream")
        headers["Last-Event-ID"] = self.last_id
        got = False
        try:
            conn.request("GET", self.path, headers=headers)
            resp = conn.getresponse()
            if not self._answered(resp.status):
                return False
            if self.lost:
                self._say("connected again")
            self.lost = False
            for event_id, kind, data in parse_sse(iter(resp.readline, b"")):
                if kind != "event":
                    continue
                try:
                    event = json.loads(data)
                except ValueError:
                    continue
                if event_id:
                    self.last_id = event_id
                got = True
                self.show(event)
            self._lost("the server closed the stream")
        except (OSError, http.client.HTTPException, socket.timeout) as e:
            self._lost(str(e) or type(e).__name__)
        finally:
            conn.close()
        return got

    def _lost(self, why: str) -> None:
        if not self.lost:
            self._say(f"connection lost ({why}); reconnecting...")
        self.lost = True

    def _say(self, text: str) -> None:
        try:
            self.err.write(f"observable tail: {text}\n")
            self.err.flush()
        except (OSError, ValueError):
            pass


"""Misbehaving stand-ins for the events API, for the chaos suite.

Each stands in only for what it fakes: an API that is down, hangs, is slow,
answers 500, 429 with Retry-After, garbage, or resets connections. When it
does answer 202, it keeps the events it was sent, de-duplicated by id as the
real server does, so tests can check that nothing was lost or doubled; the
real server is used everywhere else (see test_sdk_server.py).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets and garbage are the point here


class StandIn:
    """A server whose answer to each POST is chosen by `behaviour(n)`.

    behaviour(n) gets the 0-based number of the request and returns one of:
    "ok", "hang", ("slow", seconds), ("status", code, retry_after or None),
    "garbage", "reset", "html200".
    """

    def __init__(self, behaviour: Callable[[int], Any] = lambda n: "ok") -> None:
        self.behaviour = behaviour
        self.requests = 0
        self.events: Dict[str, Dict[str, Any]] = {}
        self.received: List[Dict[str, Any]] = []  # every event, duplicates too
        self.bodies: List[bytes] = []
        self.auth: List[str] = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with standin.lock:
                    n = standin.requests
                    standin.requests += 1
                    standin.bodies.append(body)
                    standin.auth.append(self.headers.get("Authorization", ""))
                standin.answer(self, n, body)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "StandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, h: BaseHTTPRequestHandler, n: int, body: bytes) -> None:
        what = self.behaviour(n)
        kind = what[0] if isinstance(what, tuple) else what
        if kind == "hang":
            self.stop_event.wait(30)
            return
        if kind == "slow":
            time.sleep(what[1])
            kind = "ok"
        if kind == "reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
            return
        if kind == "garbage":
            h.wfile.write(b"\x00\xffthis is not HTTP at all\r\n\r\n")
            h.close_connection = True
            return
        if kind == "html200":
            self._send(h, 200, b"<html>welcome to the captive portal</html>", "text/html")
            return
        if kind == "status":
            code, retry_after = what[1], what[2]
            payload = json.dumps({"error": {"code": "stand_in", "message": f"stand-in says {code}"}}).encode()
            self._send(h, code, payload, "application/json", retry_after)
            return
        events = json.loads(body)["events"]
        accepted = duplicates = 0
        with self.lock:
            for ev in events:
                self.received.append(ev)
                if ev["id"] in self.events:
                    duplicates += 1
                else:
                    self.events[ev["id"]] = ev
                    accepted += 1
        self._send(h, 202, json.dumps({"accepted": accepted, "duplicates": duplicates}).encode(), "application/json")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, code: int, payload: bytes, ctype: str,
              retry_after: Optional[float] = None) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(payload)))
        if retry_after is not None:
            h.send_header("Retry-After", str(retry_after))
        h.end_headers()
        h.wfile.write(payload)

    def names(self) -> List[str]:
        with self.lock:
            return sorted(e["name"] for e in self.events.values())

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.events) >= count:
                    return True
            time.sleep(0.02)
        return False


def closed_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

"""One HTTP request at a time to POST /api/v1/events, classified for retry.

http.client rather than urllib: the connection is kept alive between
batches (exit with the API up costs one round trip, not a new TCP and TLS
handshake), and every failure, whatever its shape, becomes a Result instead
of an exception. Proxies from the environment (HTTP(S)_PROXY, NO_PROXY)
are honoured as urllib would.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import urllib.parse
from typing import List, NamedTuple, Optional, Tuple, Union

from ._version import __version__

TIMEOUT = 2.0
MAX_RETRY_AFTER = 300.0
_READ_LIMIT = 65536

# Result kinds.
OK = "ok"  # the server committed the batch
RETRY = "retry"  # try again later: connection error, 5xx, 408, 429, not our API
TOO_LARGE = "too_large"  # 413: send fewer events per request
REJECTED = "rejected"  # 400: an event is invalid (index tells which, when known)
UNAUTHORIZED = "unauthorized"  # 401: the session is not known to this server
REFUSED = "refused"  # any other 4xx: retrying will not help

_INDEX_RE = re.compile(r"events\[(\d+)\]")


class Result(NamedTuple):
    kind: str
    status: int = 0
    message: str = ""
    retry_after: Optional[float] = None
    event_index: Optional[int] = None


class ConfigurationError(ValueError):
    """The API URL or session id cannot be used at all."""


def check_settings(api_url: str, session_id: str) -> None:
    parts = urllib.parse.urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"the API URL {api_url!r} is not an http:// or https:// URL; "
            "fix OBSERVABLE_CODE_API_URL or run `observable setup`"
        )
    if not session_id.isprintable() or not session_id.isascii() or " " in session_id:
        raise ConfigurationError(
            "the session id holds characters a session id never has; "
            "fix OBSERVABLE_CODE_SESSION_ID or run `observable setup`"
        )


def batch_body(events: List[str]) -> bytes:
    return ('{"events":[' + ",".join(events) + "]}").encode("ascii")


def retry_delay(attempt: int, base: float = 0.25, cap: float = 30.0) -> float:
    """Exponential backoff with jitter, so a fleet of cron jobs spreads out."""
    ceiling = min(cap, base * 2.0 ** min(attempt, 16))
    return ceiling / 2 + ceiling / 2 * int.from_bytes(os.urandom(2), "big") / 65535


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: rare; the backoff applies instead
    if seconds != seconds or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


class Transport:
    """The exporter: one kept-alive connection to one server's events route."""

    def __init__(self, api_url: str, session_id: str, timeout: float = TIMEOUT) -> None:
        check_settings(api_url, session_id)
        parts = urllib.parse.urlsplit(api_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.path = parts.path.rstrip("/") + "/api/v1/events"
        self.url = f"{parts.scheme}://{parts.netloc}{self.path}"
        self.timeout = timeout
        self.headers = {
            "Authorization": f"Bearer {session_id}",
            "Content-Type": "application/json",
            "User-Agent": f"observable-python/{__version__}",
        }
        self.proxy = _proxy_for(api_url)
        self.conn: Optional[http.client.HTTPConnection] = None

    def _connect(self) -> Tuple[http.client.HTTPConnection, str]:
        """The connection to use and the request target on it."""
        if self.conn is not None:
            return self.conn, self._target()
        conn: http.client.HTTPConnection
        if self.proxy is None:
            conn = self._new(self.host, self.port, self.https)
        else:
            p = urllib.parse.urlsplit(self.proxy)
            conn = self._new(p.hostname or "", p.port or 8080, p.scheme == "https")
            if self.https:
                conn.set_tunnel(self.host, self.port)
        self.conn = conn
        return conn, self._target()

    def _target(self) -> str:
        if self.proxy is not None and not self.https:
            return self.url  # a plain-HTTP proxy wants the absolute URL
        return self.path

    def _new(self, host: str, port: int, https: bool) -> http.client.HTTPConnection:
        if https:
            return http.client.HTTPSConnection(host, port, timeout=self.timeout)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def export(self, events: List[str]) -> Result:
        """Send events (their JSON texts) as one batch."""
        return self.post(batch_body(events))

    def forget(self) -> None:
        """In a forked child: the connection is the parent's socket; never touch it."""
        self.conn = None

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def post(self, body: bytes) -> Result:
        """Send one request; a kept-alive connection that went stale is retried once."""
        reused = self.conn is not None
        result, sent = self._post_once(body)
        if result.kind == RETRY and reused and not sent:
            result, _ = self._post_once(body)
        return result

    def _post_once(self, body: bytes) -> Tuple[Result, bool]:
        got_response = False
        try:
            conn, target = self._connect()
            conn.request("POST", target, body=body, headers=self.headers)
            response = conn.getresponse()
            got_response = True
            raw = response.read(_READ_LIMIT)
            if response.will_close or len(raw) >= _READ_LIMIT:
                self.close()
            return _classify(response.status, response.getheader("Retry-After"), raw), True
        except (OSError, http.client.HTTPException, ValueError) as e:
            self.close()
            return Result(RETRY, message=_describe(e)), got_response
        except Exception as e:  # never let a transport surprise reach the caller
            self.close()
            return Result(RETRY, message=f"{type(e).__name__}: {e}"), got_response


def _describe(e: BaseException) -> str:
    if isinstance(e, socket.timeout):
        return f"no answer within {TIMEOUT:g} s"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, http.client.BadStatusLine):
        return "the answer is not HTTP"
    text = str(e) or type(e).__name__
    return text


def _error_message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])[:500]
    except Exception:
        pass
    return raw[:200].decode("utf-8", "replace").strip()


def _classify(status: int, retry_after_header: Optional[str], raw: bytes) -> Result:
    if 200 <= status < 300:
        # Anything else answering 2xx (a captive portal, a wrong URL) has not
        # stored the events: keep them and try again.
        try:
            data = json.loads(raw)
            if isinstance(data, dict) and isinstance(data.get("accepted"), int):
                return Result(OK, status)
        except Exception:
            pass
        return Result(RETRY, status, "the answer is not Observable Code's (no \"accepted\" count)")
    message = _error_message(raw)
    retry_after = parse_retry_after(retry_after_header)
    if status in (408, 429) or status >= 500:
        return Result(RETRY, status, message, retry_after)
    if status == 413:
        return Result(TOO_LARGE, status, message)
    if status in (400, 422):
        # 422: past a server limit (the session's job count); the message
        # names the event at fault, so the rest of the batch is resent.
        m = _INDEX_RE.search(message)
        return Result(REJECTED, status, message, event_index=int(m.group(1)) if m else None)
    if status in (401, 403):
        return Result(UNAUTHORIZED, status, message)
    return Result(REFUSED, status, message)


def _proxy_for(url: str) -> Optional[str]:
    if not any(k.lower().endswith("_proxy") for k in os.environ):
        return None  # the usual case: spare importing urllib.request
    try:
        import urllib.request

        host = urllib.parse.urlsplit(url).hostname or ""
        scheme = urllib.parse.urlsplit(url).scheme
        proxies = urllib.request.getproxies()
        proxy: Union[str, None] = proxies.get(scheme)
        if not proxy or urllib.request.proxy_bypass(host):
            return None
        if "://" not in proxy:
            proxy = "http://" + proxy
        return proxy
    except Exception:
        return None

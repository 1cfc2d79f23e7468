"""The CLI's HTTP client: JSON over urllib, and failures a person can act on.

Every failure becomes an ApiError that knows the method and URL it tried and,
when the server answered, the status and the contract's error code, so that
commands can say what failed and what to do next in one or two lines.
"""

from __future__ import annotations

import email.utils
import json
import platform
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Optional

DEFAULT_TIMEOUT = 10.0
# Longest long poll the contract allows is 60 s; shorter polls keep the
# countdown honest when the network drops silently.
LONG_POLL_SECONDS = 25
_FRACTION = re.compile(r"\.(\d+)")


def cli_version() -> str:
    """The SDK's version, which is the CLI's."""
    version = getattr(sys.modules.get("observable"), "__version__", None)
    if isinstance(version, str):
        return version
    try:
        from importlib.metadata import version as dist_version
        return dist_version("observable-code-sdk")
    except Exception:  # not installed as a distribution (a source checkout)
        return "0+unknown"


class ApiError(Exception):
    """A request that did not give the answer the CLI needed."""

    def __init__(self, method: str, url: str, reason: str, status: Optional[int] = None,
                 code: Optional[str] = None, message: Optional[str] = None,
                 retry_after: Optional[float] = None):
        self.method = method
        self.url = url
        self.reason = reason
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        super().__init__(self.summary())

    @property
    def unreachable(self) -> bool:
        """No HTTP answer at all (refused, DNS, timeout, TLS)."""
        return self.status is None

    @property
    def transient(self) -> bool:
        """Worth retrying by itself: no answer, a 5xx, 408 or 429."""
        return self.status is None or self.status >= 500 or self.status in (408, 429)

    def summary(self) -> str:
        where = f"{self.method} {self.url}"
        if self.status is None:
            return f"could not reach {where}: {self.reason}"
        text = f"{where} answered {self.status} {self.reason}"
        if self.message:
            text += f": {self.message.rstrip('.')}"
        return text


def parse_time(value: Any) -> Optional[datetime]:
    """An RFC 3339 time of the contract (or None), as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.9's fromisoformat wants exactly 3 or 6 fraction digits.
    fraction = _FRACTION.search(text)
    if fraction:
        digits = (fraction.group(1) + "000000")[:6]
        text = text[:fraction.start()] + "." + digits + text[fraction.end():]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _reason(err: BaseException) -> str:
    """A short human reason for a failure below HTTP."""
    inner = getattr(err, "reason", err)
    if isinstance(inner, (socket.timeout, TimeoutError)):
        return "no answer in time (timed out)"
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused: nothing listens there"
    if isinstance(inner, ConnectionResetError):
        return "the connection was reset"
    if isinstance(inner, socket.gaierror):
        return f"cannot resolve the host name ({inner.strerror or inner})"
    text = str(inner) or type(inner).__name__
    return text[:200]


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Client:
    """Talks to one server. `debug` (a writer) sees each request, never a secret."""

    def __init__(self, api_url: str, timeout: float = DEFAULT_TIMEOUT,
                 debug: Optional[Callable[[str], None]] = None, user_agent: str = "observable-cli"):
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.debug = debug
        self.user_agent = f"{user_agent} python/{platform.python_version()}"
        # Seconds to add to the local clock to get the server's, from the
        # Date header; only trusted when the two disagree by a lot.
        self.clock_offset = 0.0

    def url(self, path: str) -> str:
        return self.api_url + path

    def request(self, method: str, path: str, body: Any = None, token: Optional[str] = None,
                timeout: Optional[float] = None, raw: bool = False) -> Any:
        url = self.url(path)
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "text/plain" if raw else "application/json")
        req.add_header("User-Agent", self.user_agent)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        started = time.monotonic()
        self._log(f"→ {method} {url}" + (" (with session key)" if token else ""))
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                payload = resp.read()
                status = resp.status
                self._note_clock(resp.headers.get("Date"))
        except urllib.error.HTTPError as e:
            self._log(f"← {e.code} after {self._ms(started)} ms")
            raise self._http_error(method, url, e) from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            self._log(f"← failed after {self._ms(started)} ms: {e!r}")
            raise ApiError(method, url, _reason(e)) from e
        self._log(f"← {status} after {self._ms(started)} ms, {len(payload)} bytes")
        if raw:
            return payload.decode("utf-8", errors="replace")
        if not payload:
            return None
        try:
            return json.loads(payload)
        except ValueError:
            raise ApiError(method, url, "with a body that is not JSON",
                           status=status) from None

    def _http_error(self, method: str, url: str, e: urllib.error.HTTPError) -> ApiError:
        try:
            payload = e.read()
        except OSError:
            payload = b""
        code = message = None
        try:
            err = json.loads(payload).get("error") or {}
            code = err.get("code") if isinstance(err.get("code"), str) else None
            message = err.get("message") if isinstance(err.get("message"), str) else None
        except (ValueError, AttributeError):
            pass
        reason = e.reason if isinstance(e.reason, str) and e.reason else "error"
        return ApiError(method, url, reason, status=e.code, code=code, message=message,
                        retry_after=_retry_after(e.headers.get("Retry-After") if e.headers else None))

    def _note_clock(self, date_header: Optional[str]) -> None:
        if not date_header:
            return
        try:
            server_now = email.utils.parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError):
            return
        offset = server_now - time.time()
        # The header has 1 s resolution: small differences are noise.
        self.clock_offset = offset if abs(offset) > 3 else 0.0

    def seconds_until(self, when: Optional[datetime]) -> Optional[float]:
        """Seconds from now until a server time, corrected for clock skew."""
        if when is None:
            return None
        return when.timestamp() - (time.time() + self.clock_offset)

    def _log(self, line: str) -> None:
        if self.debug is not None:
            self.debug(line)

    @staticmethod
    def _ms(started: float) -> int:
        return int((time.monotonic() - started) * 1000)

    # --- the contract ------------------------------------------------------

    def _object(self, method: str, path: str, **kw: Any) -> Dict[str, Any]:
        """A request whose answer must be a JSON object."""
        answer = self.request(method, path, **kw)
        if not isinstance(answer, dict):
            raise ApiError(method, self.url(path.split("?", 1)[0]),
                           "with JSON that is not an object", status=200)
        return answer

    def create_session(self, host: str) -> Dict[str, Any]:
        return self._object("POST", "/api/v1/sessions", body={"host": host})

    def session(self, session_id: str, wait_seconds: Optional[int] = None) -> Dict[str, Any]:
        if wait_seconds is None:
            return self._object("GET", "/api/v1/session", token=session_id)
        return self._object("GET", f"/api/v1/session?wait=paired&timeout={int(wait_seconds)}",
                            token=session_id, timeout=wait_seconds + self.timeout)

    def new_pairing(self, session_id: str, replace: bool) -> Dict[str, Any]:
        return self._object("POST", "/api/v1/pairings", body={"replace": replace},
                            token=session_id)

    def qr_text(self, code: str, invert: bool) -> str:
        query = "format=text" + ("&invert=1" if invert else "")
        path = f"/api/v1/pairings/{urllib.parse.quote(code, safe='')}/qr?{query}"
        return str(self.request("GET", path, raw=True))

    def post_event(self, session_id: str, event: Dict[str, Any]) -> None:
        self.request("POST", "/api/v1/events", event, token=session_id)

    def ready(self) -> None:
        """Raises ApiError unless /readyz answers 2xx."""
        self.request("GET", "/readyz", raw=True)

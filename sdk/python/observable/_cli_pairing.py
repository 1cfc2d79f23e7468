"""Pairing a phone: show the code, count down, notice the phone, offer a new code.

The server's long poll (GET /api/v1/session?wait=paired) runs in a daemon
thread so that the main thread can redraw the countdown and stay responsive
to Ctrl-C. A phone counts as paired when a device id appears that was not
there before, so pairing a second phone works even though the session was
already "paired".
"""

from __future__ import annotations

import ipaddress
import math
import os
import platform
import shutil
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from ._cli_http import LONG_POLL_SECONDS, ApiError, Client, parse_time
from ._cli_term import Term, format_duration, format_in, qr_width

EXIT_OK = 0
EXIT_NOT_READY = 1
EXIT_USAGE = 2
EXIT_SERVER = 3
EXIT_INTERRUPTED = 130
# How often to look when the long poll cannot wait (a phone is already
# paired): quick enough to feel immediate, cheap for the server.
SHORT_POLL_SECONDS = 0.5

SERVER_HINT = "Start it with `observable-server`, or give its address: --api-url URL " \
              "(or OBSERVABLE_CODE_API_URL)."


class Failure(Exception):
    """Ends a command: what failed, what to do next, and the exit code."""

    def __init__(self, what: str, next_step: Optional[str] = None, code: int = EXIT_NOT_READY):
        super().__init__(what)
        self.what = what
        self.next_step = next_step
        self.code = code


def explain(e: ApiError, api_url: str) -> Failure:
    """Turn a failed request into what failed and what to do next."""
    if e.unreachable:
        if "timed out" in e.reason:
            return Failure(f"No answer from {api_url} in time ({e.method} {e.url}).",
                           "Check the address and your network, or allow longer with --timeout "
                           "SECONDS.", EXIT_SERVER)
        return Failure(f"Could not reach the server at {api_url} ({e.method} {e.url}: "
                       f"{e.reason}).", SERVER_HINT, EXIT_SERVER)
    wait = f" in {math.ceil(e.retry_after)} s" if e.retry_after is not None else " in a minute"
    if e.status == 429:
        return Failure(e.summary() + ".", f"Too many requests from this computer: try again{wait}.",
                       EXIT_SERVER)
    if e.status == 503:
        return Failure(e.summary() + ".", f"The server cannot use its database right now: try "
                       f"again{wait}, and check the server's log.", EXIT_SERVER)
    if e.status in (502, 504):
        return Failure(e.summary() + ".", "The proxy in front of the server could not reach it: "
                       "check that the server runs, and its log.", EXIT_SERVER)
    if e.status is not None and e.status >= 500:
        return Failure(e.summary() + ".", "The server failed: try again, and check the server's "
                       "log.", EXIT_SERVER)
    if e.code is None and e.status in (200, 201, 404, 405):
        return Failure(e.summary() + ".", f"Is {api_url} an Observable Code server? Check "
                       "--api-url (or OBSERVABLE_CODE_API_URL).", EXIT_SERVER)
    return Failure(e.summary() + ".", "Run again with --debug to see the whole exchange.",
                   EXIT_SERVER)


def loopback_host(url: str) -> Optional[str]:
    """The URL's host when a phone could never reach it (loopback, 0.0.0.0)."""
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return host
    try:
        ip = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return host if (ip.is_loopback or ip.is_unspecified) else None


def require_pairing(value: Any, url: str) -> Dict[str, Any]:
    """The PAIRING object of the contract, or a Failure naming the bad answer."""
    if isinstance(value, dict) and all(isinstance(value.get(k), str) and value.get(k)
                                       for k in ("code", "url")):
        return value
    raise Failure(f"The server's answer to {url} has no pairing code.",
                  "Is it an Observable Code server (v1)? Check --api-url.", EXIT_SERVER)


def device_name(device: Dict[str, Any]) -> str:
    name = device.get("name")
    return name if isinstance(name, str) and name.strip() else "a phone"


class PairingFlow:
    """Shows pairing codes for one session until a new phone pairs."""

    def __init__(self, client: Client, term: Term, session_id: str, replace: bool = False,
                 dark_ink: bool = False, host: Optional[str] = None, tick: float = 0.1):
        self.client = client
        self.term = term
        self.session_id = session_id
        self.replace = replace
        self.dark_ink = dark_ink
        self.host = host
        self.tick = tick

    def run(self, pairing: Optional[Dict[str, Any]], known: Iterable[str]
            ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """Returns (the new device, the session's status) once a phone paired."""
        known_ids = set(known)
        while True:
            if pairing is None:
                pairing = self._new_pairing()
            self.show(pairing)
            found = self.wait(pairing, known_ids)
            if found is not None:
                return found
            expired = "The pairing code expired before a phone paired."
            if not self.term.interactive:
                raise Failure(expired, "Run `observable pair` for a new code.", EXIT_NOT_READY)
            self.term.line(f"{self.term.sym('warn')} {expired}")
            if not self.term.confirm("Show a new code?"):
                raise Failure(expired, "Run `observable pair` for a new code.", EXIT_NOT_READY)
            pairing = None

    def _new_pairing(self) -> Dict[str, Any]:
        try:
            answer = self.client.new_pairing(self.session_id, self.replace)
        except ApiError as e:
            raise explain(e, self.client.api_url) from e
        return require_pairing(answer, self.client.url("/api/v1/pairings"))

    # --- showing the code ------------------------------------------------

    def show(self, pairing: Dict[str, Any]) -> None:
        term, url = self.term, pairing["url"]
        loop = loopback_host(url)
        if loop:
            port = urllib.parse.urlsplit(url).port
            example = f"http://<LAN IP>{f':{port}' if port else ''}"
            term.warn(f"The pairing link points at {loop}, which your phone cannot reach.",
                      f"Start the server with --public-url {example}, then `observable pair`.")
        qr = self._qr(pairing["code"])
        if qr:
            term.line()
            term.line("Scan this code with your phone's camera:")
            term.line()
            term.qr(qr, light_ink=not self.dark_ink)
            term.line()
            term.line(f"Or open this link on your phone: {term.style(url, 'bold')}")
        else:
            term.line()
            term.line(f"Open this link on your phone: {term.style(url, 'bold')}")
        expires = parse_time(pairing.get("expires_at"))
        left = self.client.seconds_until(expires)
        if expires is not None and left is not None:
            at = expires.astimezone().strftime("%H:%M:%S")
            term.line(f"It works once and expires at {at} ({format_in(left)}).")
        if self.host:
            term.line(f"The page on your phone names this computer, {term.q(self.host)}: "
                      "pair only if it does.")
        term.line()
        if qr and term.tty:
            # The code plus the lines under it and the countdown must fit, or
            # its top has scrolled away by the time the phone looks.
            rows = shutil.get_terminal_size((80, 24)).lines
            needed = len(qr.splitlines()) + 6
            if rows < needed:
                term.warn(f"The terminal is {rows} rows tall and the code needs about {needed}.",
                          "Make the window taller, or scroll up to scan it.")

    def _qr(self, code: str) -> Optional[str]:
        term = self.term
        if not term.unicode:
            term.warn("This terminal's encoding cannot draw the QR code: open the link instead.",
                      "A UTF-8 terminal (e.g. LANG=C.UTF-8) shows the code.")
            return None
        try:
            qr = self.client.qr_text(code, invert=self.dark_ink)
        except ApiError as e:
            term.warn(f"Could not get the QR code: {e.summary()}.", "Open the link below instead.")
            return None
        if term.tty:
            columns = shutil.get_terminal_size((80, 24)).columns
            if qr_width(qr) > columns:
                term.warn(f"The terminal is {columns} columns wide and the QR code needs "
                          f"{qr_width(qr)}.", "Widen the window, or open the link below.")
        return qr

    # --- waiting for the phone -------------------------------------------

    def wait(self, pairing: Dict[str, Any], known: Set[str]
             ) -> Optional[Tuple[Dict[str, Any], Dict[str, Any]]]:
        expires = parse_time(pairing.get("expires_at"))
        left = self.client.seconds_until(expires)
        deadline = time.monotonic() + (left if left is not None else 600.0)
        result: Dict[str, Any] = {}
        done, stop = threading.Event(), threading.Event()
        worker = threading.Thread(target=self._poll, name="observable-pair-wait", daemon=True,
                                  args=(known, deadline, result, done, stop))
        term = self.term
        if not term.tty:
            until = expires.astimezone().strftime("%H:%M:%S") if expires else "it expires"
            term.line(f"Waiting for your phone to pair (until {until}){term.ellipsis}")
        worker.start()
        tick = 0
        try:
            while not done.wait(self.tick):
                tick += 1
                remaining = deadline - time.monotonic()
                problem = result.get("problem")
                text = f"{term.spinner(tick)} Waiting for your phone{term.ellipsis} " \
                       f"{format_duration(remaining)} left"
                if problem:
                    text += f" {term.dash} {term.style(problem, 'yellow')}"
                else:
                    text += term.style("  (Ctrl-C to stop)", "dim")
                term.live(text)
        finally:
            stop.set()
            term.clear_live()
        if "error" in result:
            raise result["error"]
        if "found" in result:
            found: Tuple[Dict[str, Any], Dict[str, Any]] = result["found"]
            return found
        # The local countdown ran out: one last look, in case a phone paired
        # in the last instant.
        try:
            return self._new_device(self.client.session(self.session_id), known)
        except ApiError as e:
            raise explain(e, self.client.api_url) from e

    def _poll(self, known: Set[str], deadline: float, result: Dict[str, Any],
              done: threading.Event, stop: threading.Event) -> None:
        failures = 0
        try:
            while not stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                started = time.monotonic()
                try:
                    status = self.client.session(
                        self.session_id, wait_seconds=max(1, min(LONG_POLL_SECONDS,
                                                                 math.ceil(remaining))))
                except ApiError as e:
                    if not e.transient:
                        result["error"] = self._wait_failure(e)
                        return
                    failures += 1
                    result["problem"] = "lost contact with the server, retrying"
                    if failures == 1 and not self.term.tty:
                        self.term.warn(f"{e.summary()}; retrying until the code expires.")
                    stop.wait(min(2.0, 0.5 * 2 ** failures, max(0.0, remaining)))
                    continue
                failures = 0
                result.pop("problem", None)
                found = self._new_device(status, known)
                if found is not None:
                    result["found"] = found
                    return
                # A long poll that answers at once (the session was already
                # paired to another phone) must not become a busy loop.
                elapsed = time.monotonic() - started
                if elapsed < SHORT_POLL_SECONDS:
                    stop.wait(SHORT_POLL_SECONDS - elapsed)
        except Exception as e:  # never die silently: the main thread reports it
            result["error"] = e
        finally:
            done.set()

    def _wait_failure(self, e: ApiError) -> Failure:
        if e.status == 401:
            return Failure(f"The server no longer knows this session ({e.method} {e.url} "
                           "answered 401).", "Run `observable setup` to start a new one.")
        return explain(e, self.client.api_url)

    @staticmethod
    def _new_device(status: Any, known: Set[str]) -> Optional[Tuple[Dict[str, Any], Dict[str, Any]]]:
        if not isinstance(status, dict):
            return None
        devices = [d for d in status.get("devices") or [] if isinstance(d, dict)]
        new = [d for d in devices if d.get("id") not in known]
        if not new:
            return None
        new.sort(key=lambda d: str(d.get("paired_at") or ""))
        return new[-1], status


def next_steps(term: Term) -> None:
    """The three lines that make a function report to the phone."""
    term.line("Now make your code report to your phone, for example:")
    term.line()
    for text in ('import observable', '', '@observable.track("nightly_backup")',
                 'def nightly_backup():'):
        term.line(f"    {term.style(text, 'cyan')}" if text else "")
    term.line(f"        {term.ellipsis}")
    term.line()


def send_first_event(client: Client, term: Term, session_id: str, name: str, message: str,
                     version: str, host: str) -> bool:
    """Post one event so that the phone shows something at once.

    Retried a few times on transient failures; the event's id makes a retry
    safe. A failure here is only a warning: the pairing itself is done.
    """
    event = {
        "id": f"cli-{uuid.uuid4()}",
        "name": name,
        "status": "completed",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "metadata": {"message": message, "host": host},
        "source": {"host": host, "pid": os.getpid(), "sdk": f"observable-cli/{version}",
                   "runtime": f"python {platform.python_version()}"},
    }
    last: Optional[ApiError] = None
    for attempt in range(3):
        try:
            client.post_event(session_id, event)
            term.line(f"{term.sym('ok')} Sent a test event, {term.q(name)}: "
                      "it is on your phone now.")
            return True
        except ApiError as e:
            last = e
            if not e.transient:
                break
            time.sleep(min(2.0, e.retry_after or 0.3 * (attempt + 1)))
    assert last is not None
    term.warn(f"Could not send the test event: {last.summary()}.",
              "Pairing is done; your code's events will reach the phone once the server "
              "answers.")
    return False


def describe_devices(devices: List[Dict[str, Any]]) -> str:
    return ", ".join(device_name(d) for d in devices)

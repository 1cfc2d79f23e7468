"""Runs the real observable-server binary for tests.

The binary is built once per test run (or taken from $OBSERVABLE_SERVER_BIN,
which the repository's test command sets) and started on a free port of
127.0.0.1 with its own SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[3]
_built: Optional[str] = None


def server_binary() -> str:
    """Path of the server binary, building it on first use."""
    global _built
    if os.environ.get("OBSERVABLE_SERVER_BIN"):
        return os.environ["OBSERVABLE_SERVER_BIN"]
    if _built is None:
        out = Path(tempfile.mkdtemp(prefix="observable-bin-")) / "observable-server"
        subprocess.run(
            ["go", "build", "-o", str(out), "./cmd/observable-server"],
            cwd=REPO, check=True, env={**os.environ, "CGO_ENABLED": "0"},
        )
        _built = str(out)
    return _built


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HTTPError(Exception):
    def __init__(self, status: int, body: Any):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Server:
    """One server process. Extra flags go to the command line as given."""

    def __init__(self, workdir: Path, *flags: str, port: Optional[int] = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = str(self.workdir / "observable.db")
        self.flags = list(flags)
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = self.workdir / f"server-{self.port}.log"

    def start(self, timeout: float = 15.0) -> "Server":
        args = [
            server_binary(),
            "--listen", f"127.0.0.1:{self.port}",
            "--database", self.database,
            "--public-url", self.url,
            "--sessions-per-minute", "0",
            *self.flags,
        ]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"server did not become ready: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> int:
        """SIGTERM, and wait for a graceful exit."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        finally:
            self._log.close()

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self._log.close()

    def restart(self) -> "Server":
        self.stop()
        return self.start()

    # --- the contract, for tests ---------------------------------------

    def request(self, method: str, path: str, body: Any = None, token: Optional[str] = None,
                timeout: float = 10.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
            raise HTTPError(e.code, parsed) from None
        return json.loads(raw) if raw else None

    def create_session(self, host: Optional[str] = None) -> Dict[str, Any]:
        """POST /api/v1/sessions: {"session_id", "pairing": {...}}."""
        return self.request("POST", "/api/v1/sessions", {"host": host} if host else {})

    def claim(self, code: str, name: str = "test phone") -> Dict[str, Any]:
        """Pair a pretend phone: {"device_id", "device_token"}."""
        return self.request("POST", f"/api/v1/pairings/{code}/claim", {"name": name})

    def events(self, session_id: str, limit: int = 200, **params: Any) -> List[Dict[str, Any]]:
        """The session's stored events, newest first."""
        query = "&".join(f"{k}={v}" for k, v in {"limit": limit, **params}.items())
        return self.request("GET", f"/api/v1/events?{query}", token=session_id)["events"]

    def session(self, session_id: str) -> Dict[str, Any]:
        return self.request("GET", "/api/v1/session", token=session_id)

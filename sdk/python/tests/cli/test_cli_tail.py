"""`observable tail`: new events as they happen, filtered, as JSON lines, and
resumed after the server restarts (Last-Event-ID)."""

from __future__ import annotations

import json
import os
import selectors
import signal
import time
from typing import List

from jobs_helpers import DEADLINE, Jobs, jobs, wait_for  # noqa: F401  (jobs is a fixture)


class Tail:
    """`observable tail` as a process; its lines read without blocking."""

    def __init__(self, jobs: Jobs, *args: str) -> None:
        self.jobs = jobs
        self.proc = jobs.start("tail", *args)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buffer = b""
        self.lines: List[str] = []

    def read(self, wait: float) -> None:
        for _ in self.sel.select(wait):
            chunk = self.proc.stdout.read1(65536)  # type: ignore[union-attr]
            self.buffer += chunk
            *done, self.buffer = self.buffer.split(b"\n")
            self.lines += [d.decode() for d in done]

    def until(self, what: str, check, post=None) -> List[str]:
        """Read until check(lines); post() is called meanwhile (to probe the link)."""
        end = time.monotonic() + DEADLINE
        while not check(self.lines):
            if time.monotonic() > end:
                raise AssertionError(f"tail: waited for {what}, got {self.lines}; "
                                     f"stderr so far: {self.stop()}")
            if post is not None:
                post()
            self.read(0.2)
        return self.lines

    def connected(self) -> None:
        """Events posted before the stream opened are not shown: probe until one is."""
        n = [0]

        def probe() -> None:
            n[0] += 1
            self.jobs.server.request("POST", "/api/v1/events", {"name": "probe", "status": "completed",
                                                                "metadata": {"n": n[0]}},
                                     token=self.jobs.session_id)
        self.until("a probe", lambda lines: any("probe" in line for line in lines), probe)

    def stop(self) -> str:
        self.proc.kill()
        _, err = self.proc.communicate(timeout=10)
        return err.decode(errors="replace")


def post(jobs: Jobs, name: str, status: str = "completed", **meta) -> None:
    jobs.server.request("POST", "/api/v1/events", {"name": name, "status": status, "metadata": meta},
                        token=jobs.session_id)


def test_tail_json_prints_new_events_filtered_by_job_and_status(jobs):
    tail = Tail(jobs, "--json", "--job", "backup", "--job", "probe", "--status", "failed",
                "--status", "completed")
    try:
        tail.connected()
        post(jobs, "backup", "failed", n=1)
        post(jobs, "other", "failed", n=2)
        post(jobs, "backup", "started", n=3)
        post(jobs, "backup", "completed", n=4)
        lines = tail.until("two backup events", lambda ls: sum('"backup"' in x for x in ls) >= 2)
    finally:
        tail.stop()
    shown = [json.loads(x) for x in lines if '"backup"' in x]
    assert [(e["status"], e["metadata"]["n"]) for e in shown] == [("failed", 1), ("completed", 4)]
    assert all("seq" in e and "received_at" in e for e in shown)  # the stored events, whole


def test_tail_human_lines(jobs):
    tail = Tail(jobs)
    try:
        tail.connected()
        jobs.server.request("POST", "/api/v1/events", {
            "name": "nightly", "status": "failed", "duration_ms": 3200,
            "error": {"type": "exit_status", "message": "exited with status 3\x1b[2J"}}, token=jobs.session_id)
        lines = tail.until("the failure", lambda ls: any("nightly" in x for x in ls))
    finally:
        tail.stop()
    line = next(x for x in lines if "nightly" in x)
    assert "failed" in line and "3.2 s" in line and "exit_status: exited with status 3?[2J" in line
    assert "\x1b" not in line  # not a terminal: no colour, and an event never sends escapes


def restart_while_frozen(jobs, tail, make_server, name: str) -> None:
    """Restarts the server with tail frozen, so that it cannot reconnect before an event called
    name is posted, then waits for tail to show it."""
    port = jobs.server.port
    jobs.server.stop()
    tail.proc.send_signal(signal.SIGSTOP)
    try:
        jobs.server = make_server(port=port)
        post(jobs, name, n=1)
    finally:
        tail.proc.send_signal(signal.SIGCONT)
    tail.until(f"{name}, posted while tail was away", lambda ls: any(name in x for x in ls))


def test_tail_resumes_after_the_server_restarts(make_server, cli_env, tmp_path):
    server = make_server()
    jobs = Jobs(server, cli_env, tmp_path)
    tail = Tail(jobs, "--json")
    try:
        tail.connected()
        # Only resuming after the last event it saw (Last-Event-ID) shows it.
        restart_while_frozen(jobs, tail, make_server, "after_restart")
        tail.read(0.3)  # anything printed twice would come now
    finally:
        err = tail.stop()
    seqs = [json.loads(x)["seq"] for x in tail.lines]
    assert len(seqs) == len(set(seqs)), "an event was printed twice"
    assert [json.loads(x)["name"] for x in tail.lines if '"probe"' not in x] == ["after_restart"]
    assert "reconnecting" in err and "connected again" in err


def test_tail_in_a_terminal_shows_failures_in_red(jobs):
    from cli_helpers import Terminal

    t = Terminal(["tail"], jobs.env)
    try:
        end = time.monotonic() + DEADLINE
        while "probe" not in t.text:  # until the stream is open
            assert time.monotonic() < end, t.text
            post(jobs, "probe")
            try:
                t.child.expect("probe", timeout=0.2)
            except Exception:
                pass
        post(jobs, "backup", "failed")
        t.expect("backup")
    finally:
        t.kill()
    line = next(x for x in t.text.splitlines() if "backup" in x)
    assert "\x1b[31;1mfailed" in line, repr(line)
    probe = next(x for x in t.text.splitlines() if "probe" in x)
    assert "\x1b[32m" in probe  # completed: green


def stream_open(pid: int, port: int) -> bool:
    """Whether process pid holds an established TCP connection to port, in
    two looks 0.2 s apart on the same socket: the stream, not a short request."""
    def sockets() -> set:
        inodes = set()
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            pass
        found = set()
        with open("/proc/net/tcp") as f:
            for row in f.readlines()[1:]:
                cols = row.split()
                if cols[3] == "01" and int(cols[2].split(":")[1], 16) == port and cols[9] in inodes:
                    found.add(cols[9])
        return found

    first = sockets()
    time.sleep(0.2)
    return bool(first & sockets())


def test_tail_that_has_shown_nothing_yet_resumes_after_the_server_restarts(make_server, cli_env, tmp_path):
    # No probe is shown first: the newest seq at start is where it resumes.
    server = make_server()
    jobs = Jobs(server, cli_env, tmp_path)
    post(jobs, "before_start", n=0)
    tail = Tail(jobs, "--json")
    try:
        wait_for("the tail's stream", lambda: stream_open(tail.proc.pid, server.port))
        restart_while_frozen(jobs, tail, make_server, "while_away")
        tail.read(0.3)
    finally:
        err = tail.stop()
    assert [json.loads(x)["name"] for x in tail.lines] == ["while_away"], err  # not the older one
    assert "reconnecting" in err

"""The published `observable-code` SDK (every release on PyPI, 0.1.0 to 0.2.0,
unmodified, in venvs of their own) delivers to this server: the seed's own examples run
with OBSERVABLE_CODE_API_URL, and its CLI's setup and status flow works
against /api/sessions.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from compat_helpers import WARN_429_ONCE, WARN_BAD_STATUS_ONCE, WARN_EVERY_429

DEADLINE = 20.0

# The seed's examples (seeds/api-reference.txt), as a user's script runs
# them. 0.1.0 posts from daemon threads that die with the process, so the
# script waits for them as a long-running program would have.
EXAMPLES = r"""
import asyncio, threading
import observable

@observable.track("send_report")
def send_report():
    return "sent"

@observable.track("fetch_prices")
async def fetch_prices():
    return 42

send_report()
asyncio.run(fetch_prices())

with observable.track("batch_import"):
    pass

observable.trace("records_processed", 500)
observable.trace("source", "s3://my-bucket")

@observable.track("nightly_sync")
def sync():
    raise ValueError("bad row 17")

try:
    sync()
except ValueError:
    pass

observable.event("payment_received", amount=99.99, currency="USD")
observable.event("webhook_failed", status="failed", endpoint="/stripe")
observable.event("deployment_complete")

for t in threading.enumerate():
    if t is not threading.main_thread() and t.daemon:
        t.join(10)
"""

# Its CLI draws the pairing QR code with `qrcode`; without that module it
# prints obsapp://pair?token=<code> instead (both versions), which a test can
# read. Nothing of the published package itself is changed.
CLI = "import sys; sys.modules['qrcode'] = None; from observable._cli import main; sys.argv[0] = 'observable'; main()"

TOKEN = re.compile(r"obsapp://pair\?token=([A-Za-z0-9_-]+)")


def compat_wait(fn, what: str, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_seed_examples_arrive(server, published, compat_home):
    session = server.create_session()["session_id"]
    env = published.env(compat_home)
    env.update(OBSERVABLE_CODE_API_URL=server.url, OBSERVABLE_CODE_SESSION_ID=session)
    r = subprocess.run([str(published.python), "-I", "-c", EXAMPLES], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr, r.stderr  # every post was answered 2xx
    events = compat_wait(lambda: (e := server.events(session)) and len(e) >= 7 and e, "7 events")
    by_name = {e["name"]: e for e in events}
    assert set(by_name) == {"send_report", "fetch_prices", "batch_import", "nightly_sync",
                            "payment_received", "webhook_failed", "deployment_complete"}
    for name in ("send_report", "fetch_prices", "batch_import"):
        assert by_name[name]["status"] == "completed" and by_name[name]["duration_ms"] >= 0
    failed = by_name["nightly_sync"]
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "ValueError" and failed["error"]["message"] == "bad row 17"
    assert failed["metadata"] == {"records_processed": 500, "source": "s3://my-bucket"}
    assert by_name["payment_received"]["metadata"] == {"amount": 99.99, "currency": "USD"}
    assert by_name["webhook_failed"]["status"] == "failed"
    assert by_name["webhook_failed"]["metadata"] == {"endpoint": "/stripe"}
    jobs = {j["name"]: j for j in server.request("GET", "/api/v1/jobs", token=session)["jobs"]}
    assert jobs["nightly_sync"]["failures"] == 1 and jobs["nightly_sync"]["ping_url"].startswith(server.url + "/ping/")


def test_cli_setup_and_status(server, published, compat_home):
    env = published.env(compat_home)
    env.update(OBSERVABLE_CODE_API_URL=server.url)  # -u below: -I ignores PYTHONUNBUFFERED
    proc = subprocess.Popen([str(published.python), "-I", "-u", "-c", CLI, "setup"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            m = TOKEN.search(line)
            if m:
                server.claim(m.group(1), name="published sdk phone")
                break
        else:
            raise AssertionError("setup printed no obsapp:// link:\n" + "".join(seen))
        rest, _ = proc.communicate(timeout=DEADLINE)  # it polls every 2 s
        assert proc.returncode == 0, "".join(seen) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    saved = json.loads((Path(compat_home) / ".observable-code" / "config.json").read_text())
    assert server.session(saved["session_id"])["paired"] is True

    status = subprocess.run([str(published.python), "-I", "-c", CLI, "status"], env=env,
                            capture_output=True, text=True, timeout=DEADLINE)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "paired" in status.stdout.lower()
    # The key was in the status route's path: it is not in the server's log.
    assert saved["session_id"] not in server.log()


def test_unknown_session_status_is_404(server, published, compat_home):
    env = published.env(compat_home)
    env.update(OBSERVABLE_CODE_API_URL=server.url,
               OBSERVABLE_CODE_SESSION_ID="6f1c8a52-8c1e-4a4e-9a51-0d9c1f7e3b21")
    r = subprocess.run([str(published.python), "-I", "-c", CLI, "status"], env=env,
                       capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert "404" in out or "not found" in out.lower(), out


# Three events, then the wait for 0.1.x's daemon threads (0.2.0's executor
# is joined at exit by itself). The posts are sent one after another, as
# the events are far apart in a real program.
REFUSED = r"""
import sys, threading, time
import observable
for i in range(3):
    observable.event("payment_received", status=sys.argv[1], amount=i)
    for t in threading.enumerate():
        if t is not threading.main_thread() and t.daemon:
            t.join(10)
"""


def compat_run_refused(published, home, server, session, status):
    env = published.env(home)
    env.update(OBSERVABLE_CODE_API_URL=server.url, OBSERVABLE_CODE_SESSION_ID=session)
    r = subprocess.run([str(published.python), "-I", "-c", REFUSED, status], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stderr


def test_what_each_version_says_on_429(make_server, published, compat_home):
    # A burst of one: the first event passes, the next two get 429.
    server = make_server("--session-rate", "0.001", "--session-burst", "1", "--max-batch-events", "1")
    session = server.create_session()["session_id"]
    stderr = compat_run_refused(published, compat_home, server, session, "completed")
    assert len(server.events(session)) == 1
    lines = stderr.count("Rate limit exceeded")
    if published.version in WARN_EVERY_429:
        assert lines == 2, stderr
    elif published.version in WARN_429_ONCE:
        assert lines == 1, stderr
    else:
        assert stderr == "", stderr  # 0.1.0 to 0.1.2 never look at the answer


def test_what_each_version_says_on_a_bad_status(server, published, compat_home):
    # event() passes any status through; one that is not a lowercase word
    # (the contract's [a-z][a-z0-9_]*) is refused with 400.
    session = server.create_session()["session_id"]
    stderr = compat_run_refused(published, compat_home, server, session, "Payment OK")
    assert server.events(session) == []
    if published.version in WARN_BAD_STATUS_ONCE:
        assert stderr.count("Event post returned HTTP 400.") == 1, stderr
        assert stderr.count("[observable]") == 1, stderr
    else:
        assert stderr == "", stderr

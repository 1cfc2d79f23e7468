"""Unmodified Healthchecks clients from PyPI ping this server by changing
their base URL only: healthchecks-decorator (a ping URL) and
healthchecks-io (uuid and slug pings, CheckTrap)."""

from __future__ import annotations

import time

import pytest

from compat_hc_helpers import compat_hc_run, compat_hc_venv


@pytest.fixture(scope="session")
def hc_python():
    return compat_hc_venv()


def compat_hc_events(server, session, name):
    return list(reversed(server.events(session, name=name)))


def compat_hc_setup(server):
    session = server.create_session()["session_id"]
    ping_key = server.session(session)["ping_key"]
    return session, ping_key


def test_healthchecks_decorator(server, hc_python):
    session, _ = compat_hc_setup(server)
    url = server.request("GET", "/api/v1/jobs/nightly/ping", token=session)["ping_url"]
    r = compat_hc_run(hc_python, r"""
from healthchecks_decorator import healthcheck

@healthcheck(send_start=True)
def nightly():
    return "done"

@healthcheck(send_start=True)
def broken():
    raise RuntimeError("disk full")

assert nightly() == "done"
try:
    broken()
except RuntimeError:
    pass
""", {"HEALTHCHECK_URL": url})
    assert r.returncode == 0, r.stderr
    statuses = [e["status"] for e in compat_hc_events(server, session, "nightly")]
    assert statuses == ["started", "completed", "started", "failed"], statuses
    events = compat_hc_events(server, session, "nightly")
    assert events[1]["duration_ms"] is not None and events[3]["duration_ms"] is not None


def test_healthchecks_io_client(server, hc_python):
    session, ping_key = compat_hc_setup(server)
    url = server.request("GET", "/api/v1/jobs/etl/ping", token=session)["ping_url"]
    uuid = url.rsplit("/", 1)[1]
    r = compat_hc_run(hc_python, r"""
import os
from healthchecks_io import Client, CheckTrap
from healthchecks_io.client.exceptions import CheckNotFoundError, NonUniqueSlugError

c = Client(ping_key=os.environ["PING_KEY"], ping_url=os.environ["BASE"] + "/ping/")
uuid = os.environ["UUID"]
assert c.start_ping(uuid=uuid)[0]
assert c.exit_code_ping(0, uuid=uuid, data="exported 3 tables")[0]
assert c.fail_ping(uuid=uuid, data="connection refused")[0]
assert c.success_ping(slug="etl")[0]
with CheckTrap(c, uuid=uuid) as trap:
    trap.add_log("step 1 ok")
try:
    c.success_ping(slug="no-such-check")
    raise SystemExit("a ping of an unknown slug succeeded")
except CheckNotFoundError:
    pass
try:
    c.success_ping(uuid="6f1c8a52-8c1e-4a4e-9a51-0d9c1f7e3b21")
    raise SystemExit("a ping of an unknown uuid succeeded")
except CheckNotFoundError:
    pass
""", {"PING_KEY": ping_key, "BASE": server.url, "UUID": uuid})
    assert r.returncode == 0, r.stdout + r.stderr
    events = compat_hc_events(server, session, "etl")
    assert [e["status"] for e in events] == ["started", "completed", "failed", "completed", "started", "completed"]
    assert events[1]["metadata"]["body"] == "exported 3 tables"
    assert events[2]["metadata"]["body"] == "connection refused"
    assert events[5]["metadata"]["body"] == "step 1 ok"
    assert events[1]["duration_ms"] is not None

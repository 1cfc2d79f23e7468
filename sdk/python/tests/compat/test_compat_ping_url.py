"""`observable ping-url NAME` prints a URL that Healthchecks-style pings of
a job not yet seen create, and `--key` the session's ping key."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

from compat_helpers import compat_our_env


def compat_ping_url(server, home, session, *args):
    return subprocess.run([sys.executable, "-m", "observable", "--api-url", server.url, "ping-url", *args],
                          env=compat_our_env(home, {"OBSERVABLE_CODE_SESSION_ID": session}),
                          capture_output=True, text=True, timeout=30)


def test_ping_url_of_a_new_job(server, compat_home):
    session = server.create_session()["session_id"]
    r = compat_ping_url(server, compat_home, session, "nightly backup")
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert url.startswith(server.url + "/ping/") and len(url.rsplit("/", 1)[1]) == 36
    assert compat_ping_url(server, compat_home, session, "nightly backup").stdout.strip() == url
    with urllib.request.urlopen(urllib.request.Request(url + "/1", data=b"tar: disk full"), timeout=10) as resp:
        assert resp.read() == b"OK"
    [event] = server.events(session)
    assert event["name"] == "nightly backup" and event["status"] == "failed"
    assert event["metadata"]["body"] == "tar: disk full"

    key = compat_ping_url(server, compat_home, session, "--key")
    assert key.returncode == 0 and key.stdout.strip() == server.session(session)["ping_key"]


def test_ping_url_without_a_session(server, compat_home):
    r = subprocess.run([sys.executable, "-m", "observable", "--api-url", server.url, "ping-url", "x"],
                       env=compat_our_env(compat_home), capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "observable setup" in r.stderr

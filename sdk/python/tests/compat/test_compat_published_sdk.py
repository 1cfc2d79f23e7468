"""Our SDK and CLI and the published `observable-code` SDK (every release on
PyPI, 0.1.0 to 0.2.0, run from their own venvs) share ~/.observable-code/config.json and
the OBSERVABLE_CODE_* variables: a file either one writes, the other reads
the same way.

Delivery through the published SDK is tested in
test_compat_published_delivery.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compat_helpers import HOSTED_DEFAULT, IGNORE_API_KEY, SDK_ROOT, compat_our_env

sys.path.insert(0, str(SDK_ROOT))
from observable import _config  # noqa: E402  (this tree's SDK, not the published one)

URL_LINE = re.compile(r"open this link on your phone: (\S+)", re.IGNORECASE)
# A CLI run on a busy 2-core machine; each step takes well under a second.
DEADLINE = 20.0


def compat_run_our_setup(server, home: Path) -> str:
    """`observable setup` as a person runs it, paired by a pretend phone;
    returns the session id it saved."""
    proc = subprocess.Popen([sys.executable, "-S", "-m", "observable", "--api-url", server.url, "setup"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=compat_our_env(home), stdin=subprocess.DEVNULL)
    try:
        seen = []
        deadline = time.monotonic() + DEADLINE
        for line in proc.stdout:
            seen.append(line)
            m = URL_LINE.search(line)
            if m:
                server.claim(m.group(1).rstrip("/").rsplit("/", 1)[-1], name="compat phone")
                break
            assert time.monotonic() < deadline, "".join(seen)
        else:
            raise AssertionError("setup printed no pairing link:\n" + "".join(seen))
        rest, _ = proc.communicate(timeout=DEADLINE)
        assert proc.returncode == 0, "".join(seen) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    saved = json.loads((home / ".observable-code" / "config.json").read_text())
    assert server.session(saved["session_id"])["paired"] is True
    return saved["session_id"]


def compat_send_with_ours(home: Path, name: str, env=None) -> subprocess.CompletedProcess:
    """A script that uses this tree's SDK, settings from HOME and env only."""
    script = ("import observable\n"
              f"@observable.track({name!r})\n"
              "def job():\n    return 1\n"
              "job()\n"
              "assert observable.flush(5)\n")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=compat_our_env(home, env), timeout=DEADLINE)


def test_our_setup_is_read_by_the_published_sdk(server, published, compat_home):
    session_id = compat_run_our_setup(server, compat_home)
    [got] = published.probe(compat_home, [{}])
    assert got["session_id"] == session_id
    assert got["api_url"] == server.url
    assert got["config"]["session_id"] == session_id


def test_published_setup_file_is_read_by_ours(server, published, compat_home):
    # The published `observable setup` saves {"session_id": ...} with its own
    # save(), which merges onto what the file holds; an api_url is written by
    # hand (or by our setup). Our SDK must post to that session at that URL.
    key = server.create_session("compat")["session_id"]
    published.probe(compat_home, [{"save": {"session_id": key}}, {"save": {"api_url": server.url + "/"}}])
    assert _config.read_config() == {"session_id": key, "api_url": server.url + "/"}
    settings = _config.resolve({})
    assert (settings.session_id, settings.api_url, settings.session_source) == (key, server.url, "file")
    r = compat_send_with_ours(compat_home, "from_published_config")
    assert r.returncode == 0, r.stderr
    assert [e["name"] for e in server.events(key)] == ["from_published_config"]


def test_each_sdk_keeps_the_others_keys(published, compat_home):
    # Ours over theirs: setup replaces the session and URL, nothing else.
    published.probe(compat_home, [{"write": {"session_id": "theirs", "theme": "dark"}}])
    _config.write_config("ours", "http://127.0.0.1:9")
    assert _config.read_config() == {"session_id": "ours", "api_url": "http://127.0.0.1:9", "theme": "dark"}
    # Theirs over ours: its save() of a new session keeps our api_url.
    [got] = published.probe(compat_home, [{"save": {"session_id": "theirs-again"}}])
    assert got["config"] == {"session_id": "theirs-again", "api_url": "http://127.0.0.1:9", "theme": "dark"}
    assert _config.resolve({})[:2] == ("theirs-again", "http://127.0.0.1:9")


def compat_cases(version: str):
    """Every combination of the variables and the file's keys."""
    cases = []
    for api_key in (None, "key-from-api-key"):
        for session_env in (None, "key-from-session-env"):
            for file_session in (None, "key-from-file"):
                for url_env in (None, "http://env.example:3000/"):
                    for file_url in (None, "http://file.example:3000"):
                        if api_key and version in IGNORE_API_KEY:
                            continue  # it ignores credentials while the variable is set: see below
                        env = {k: v for k, v in (("OBSERVABLE_CODE_API_KEY", api_key),
                                                 ("OBSERVABLE_CODE_SESSION_ID", session_env),
                                                 ("OBSERVABLE_CODE_API_URL", url_env)) if v}
                        data = {k: v for k, v in (("session_id", file_session), ("api_url", file_url)) if v}
                        cases.append({"env": env, "write": data})
    return cases


def test_same_session_and_url_as_the_published_sdk_for_every_setting(published, compat_home, monkeypatch):
    cases = compat_cases(published.version)
    theirs = published.probe(compat_home, cases)
    for case, got in zip(cases, theirs):
        (compat_home / ".observable-code" / "config.json").write_text(json.dumps(case["write"]))
        ours = _config.resolve(case["env"])
        # 0.1.3's and 0.2.0's default is their hosted service; the others'
        # and ours, localhost.
        want_url = got["api_url"]
        if not case["env"].get("OBSERVABLE_CODE_API_URL") and not case["write"].get("api_url"):
            assert got["api_url"] == ("https://observable.codes" if published.version in HOSTED_DEFAULT
                                      else "http://localhost:3000"), case
            want_url = _config.DEFAULT_API_URL
        assert (ours.session_id, ours.api_url) == (got["session_id"], want_url), case


def test_published_api_key_is_ignored_only_by_0_1_0_to_0_1_2(published, compat_home):
    # Documented in docs/coming-from.md: 0.1.0 to 0.1.2 reserved the
    # variable for accounts and send nothing while it is set; 0.1.3, 0.2.0
    # and ours take it first.
    [got] = published.probe(compat_home, [{"env": {"OBSERVABLE_CODE_API_KEY": "k",
                                                    "OBSERVABLE_CODE_SESSION_ID": "s"}}])
    assert got["session_id"] == (None if published.version in IGNORE_API_KEY else "k")


@pytest.mark.parametrize("variable", ["OBSERVABLE_CODE_API_KEY", "OBSERVABLE_CODE_SESSION_ID"])
def test_our_sdk_posts_with_a_key_from_either_variable(server, compat_home, variable):
    key = server.create_session("compat")["session_id"]
    r = compat_send_with_ours(compat_home, "from_" + variable.lower(),
                              {variable: key, "OBSERVABLE_CODE_API_URL": server.url})
    assert r.returncode == 0, r.stderr
    assert "no session id" not in r.stderr
    assert [e["name"] for e in server.events(key)] == ["from_" + variable.lower()]

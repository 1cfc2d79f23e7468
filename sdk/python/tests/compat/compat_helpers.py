"""Helpers for the compatibility tests: the published `observable-code`
SDK from PyPI (a different codebase that also installs a top-level
`observable` package) in throwaway virtual environments of its own.

Each venv is made once per published version and interpreter and cached in
the repository's .tmp/published-sdk/ (git-ignored), so a CI run pays for
the download once and later runs start at once. The venv is built in a
temporary directory and renamed into place, so two runs never share a
half-built one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

SDK_ROOT = Path(__file__).resolve().parents[2]
REPO = SDK_ROOT.parents[1]
CACHE = Path(os.environ.get("OBSERVABLE_COMPAT_CACHE", REPO / ".tmp" / "published-sdk"))
# Every release on PyPI. They are three codebases, not two: 0.1.1 is 0.1.0
# again, 0.1.2 adds only `python -m observable`, and 0.1.3 keeps 0.1.0's
# threads and CLI but sends 0.2.0's payload, reads OBSERVABLE_CODE_API_KEY
# first, defaults to https://observable.codes and warns on every 429.
PUBLISHED_VERSIONS = ("0.1.0", "0.1.1", "0.1.2", "0.1.3", "0.2.0")
# What each does, by version, as read from the wheels (docs/coming-from.md):
# these send nothing while OBSERVABLE_CODE_API_KEY is set (kept for accounts),
IGNORE_API_KEY = frozenset({"0.1.0", "0.1.1", "0.1.2"})
# these default to the hosted service rather than http://localhost:3000,
HOSTED_DEFAULT = frozenset({"0.1.3", "0.2.0"})
# and on stderr: a line for each 429 (0.1.3), one line for all of them
# (0.2.0), or nothing (0.1.0 to 0.1.2); one line for other refusals (0.2.0
# only: the others are silent about any status).
WARN_EVERY_429 = frozenset({"0.1.3"})
WARN_429_ONCE = frozenset({"0.2.0"})
WARN_BAD_STATUS_ONCE = frozenset({"0.2.0"})
PIP_TIMEOUT = 300

# Runs inside the published SDK's venv: for each case, writes HOME's config
# file (or removes it), sets the environment, and asks the published SDK's
# own functions what they resolve. Its config module caches (0.2.0), so the
# cache is dropped between cases.
PROBE = r"""
import json, os, sys
import observable
from observable import _client, _config
cases = json.load(sys.stdin)
path = os.path.join(os.path.expanduser("~"), ".observable-code", "config.json")
names = ("OBSERVABLE_CODE_API_KEY", "OBSERVABLE_CODE_SESSION_ID", "OBSERVABLE_CODE_API_URL")
cred = getattr(_client, "_resolve_cred", None) or _client._resolve_session_id
out = []
for case in cases:
    if case.get("write") is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(case["write"], f)
    elif case.get("remove") and os.path.exists(path):
        os.unlink(path)
    if case.get("save") is not None:
        _config.save(case["save"])
    for n in names:
        os.environ.pop(n, None)
    os.environ.update(case.get("env", {}))
    if hasattr(_config, "invalidate_cache"):
        _config.invalidate_cache()
    out.append({"session_id": cred(), "api_url": _client._resolve_api_url(), "config": _config.load()})
print(json.dumps({"file": observable.__file__, "results": out}))
"""


def compat_cached_venv(cache: Path, tag: str, packages: List[str]) -> Path:
    """The python of a venv holding packages (wheels from PyPI), built once
    in cache/tag: in a temporary directory, then renamed into place, so two
    runs never share a half-built one."""
    final = cache / tag
    python = final / "bin" / "python"
    if (final / ".complete").is_file() and python.exists():
        return python
    cache.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{tag}-", dir=str(cache)))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(build)], check=True,
                       capture_output=True, timeout=120)
        pip = subprocess.run(
            [str(build / "bin" / "python"), "-m", "pip", "install", "-q",
             "--disable-pip-version-check", "--only-binary", ":all:", *packages],
            capture_output=True, text=True, timeout=PIP_TIMEOUT)
        if pip.returncode != 0:
            pytest.fail(f"cannot install {' '.join(packages)} from PyPI into a venv: "
                        f"{pip.stderr.strip()[-600:]}\nThese tests need PyPI (or a pip "
                        "mirror in PIP_INDEX_URL) once; later runs use the cache in "
                        f"{cache}.", pytrace=False)
        (build / ".complete").write_text("\n".join(packages) + "\n")
        try:
            os.rename(build, final)
        except OSError:
            # Another run finished first: use its venv, throw this one away.
            if not (final / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    # Only bin/python is used (it finds its site-packages through pyvenv.cfg
    # beside it), so the rename does not matter; the console scripts, whose
    # first lines name the build directory, are never run.
    return python


def compat_published_venv(version: str) -> Path:
    """The python of a venv holding observable-code==version from PyPI."""
    tag = f"observable-code-{version}-py{sys.version_info[0]}.{sys.version_info[1]}"
    return compat_cached_venv(CACHE, tag, [f"observable-code=={version}"])


class Published:
    """The published SDK of one version, run as its users run it."""

    def __init__(self, version: str, python: Path):
        self.version = version
        self.python = python

    def env(self, home: Path) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OBSERVABLE_") and k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update(HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
        return env

    def probe(self, home: Path, cases: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """What the published SDK resolves for each case (see PROBE)."""
        # -I: neither this tree's `observable` nor PYTHON* variables reach it.
        r = subprocess.run([str(self.python), "-I", "-c", PROBE], input=json.dumps(cases),
                           capture_output=True, text=True, env=self.env(home), timeout=60)
        assert r.returncode == 0, r.stderr
        answer = json.loads(r.stdout.splitlines()[-1])
        assert Path(answer["file"]).resolve().is_relative_to(self.python.parents[1].resolve()), \
            f"imported {answer['file']}, not the published SDK of its venv"
        return answer["results"]


def compat_our_env(home: Path, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment of a process that uses this tree's SDK and CLI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVABLE_CODE_")}
    env.update(HOME=str(home), PYTHONPATH=str(SDK_ROOT), LANG="C.UTF-8", LC_ALL="C.UTF-8",
               PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1")
    env.update(extra or {})
    return env

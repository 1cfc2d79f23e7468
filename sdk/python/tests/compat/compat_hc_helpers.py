"""Unmodified Healthchecks clients from PyPI (healthchecks-decorator,
healthchecks-io) in throwaway venvs of their own, cached in the
repository's .tmp/healthchecks-clients/ (git-ignored) like the published
SDK's (compat_helpers.py): built in a temporary directory and renamed into
place, so two runs never share a half-built one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from compat_helpers import REPO, compat_cached_venv

HC_CACHE = Path(os.environ.get("OBSERVABLE_HC_CACHE", REPO / ".tmp" / "healthchecks-clients"))
HC_CLIENTS = ("healthchecks-decorator==0.5.0", "healthchecks-io==0.4.4")


def compat_hc_venv() -> Path:
    """The python of a venv holding the Healthchecks clients from PyPI."""
    tag = "hc-" + "-".join(c.replace("==", "-") for c in HC_CLIENTS) + f"-py{sys.version_info[0]}.{sys.version_info[1]}"
    return compat_cached_venv(HC_CACHE, tag, list(HC_CLIENTS))


def compat_hc_run(python: Path, script: str, env: dict) -> subprocess.CompletedProcess:
    """Runs script in the clients' venv, isolated from this tree (-I)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HEALTHCHECK", "PYTHON"))}
    clean.update(env)
    return subprocess.run([str(python), "-I", "-c", script], env=clean, capture_output=True,
                          text=True, timeout=60)

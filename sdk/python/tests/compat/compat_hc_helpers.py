"""Unmodified Healthchecks clients from PyPI (healthchecks-decorator,
healthchecks-io) in throwaway venvs of their own, cached in the
repository's .tmp/healthchecks-clients/ (git-ignored) like the published
SDK's (compat_helpers.py): built in a temporary directory and renamed into
place, so two runs never share a half-built one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from compat_helpers import REPO

HC_CACHE = Path(os.environ.get("OBSERVABLE_HC_CACHE", REPO / ".tmp" / "healthchecks-clients"))
HC_CLIENTS = ("healthchecks-decorator==0.5.0", "healthchecks-io==0.4.4")
PIP_TIMEOUT = 300


def compat_hc_venv() -> Path:
    """The python of a venv holding the Healthchecks clients from PyPI."""
    tag = "hc-" + "-".join(c.replace("==", "-") for c in HC_CLIENTS) + f"-py{sys.version_info[0]}.{sys.version_info[1]}"
    final = HC_CACHE / tag
    python = final / "bin" / "python"
    if (final / ".complete").is_file() and python.exists():
        return python
    HC_CACHE.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{tag}-", dir=str(HC_CACHE)))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(build)], check=True, capture_output=True, timeout=120)
        pip = subprocess.run([str(build / "bin" / "python"), "-m", "pip", "install", "-q",
                              "--disable-pip-version-check", "--only-binary", ":all:", *HC_CLIENTS],
                             capture_output=True, text=True, timeout=PIP_TIMEOUT)
        if pip.returncode != 0:
            pytest.fail(f"cannot install {' '.join(HC_CLIENTS)} from PyPI into a venv: "
                        f"{pip.stderr.strip()[-600:]}\nThese tests need PyPI (or a pip mirror in "
                        f"PIP_INDEX_URL) once; later runs use the cache in {HC_CACHE}.", pytrace=False)
        (build / ".complete").write_text("\n".join(HC_CLIENTS) + "\n")
        try:
            os.rename(build, final)
        except OSError:
            if not (final / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return python


def compat_hc_run(python: Path, script: str, env: dict) -> subprocess.CompletedProcess:
    """Runs script in the clients' venv, isolated from this tree (-I)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HEALTHCHECK", "PYTHON"))}
    clean.update(env)
    return subprocess.run([str(python), "-I", "-c", script], env=clean, capture_output=True,
                          text=True, timeout=60)

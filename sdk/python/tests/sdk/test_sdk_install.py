"""The package installs with pip into a fresh virtual environment and works
from there (not from the source tree)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv

from standin import StandIn
from sdk_helpers import SDK, run_script


def test_pip_install_into_a_fresh_venv(tmp_path, env):
    target = tmp_path / "venv"
    e = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    e["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # pip >= 22.3 installs into another environment with --python, which
    # spares the seconds ensurepip takes to put a pip in the new venv.
    outer_pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
    version = tuple(int(x) for x in outer_pip.stdout.split()[1].split(".")[:2]) if outer_pip.returncode == 0 else (0, 0)
    with_pip = version < (22, 3)
    venv.EnvBuilder(with_pip=with_pip, symlinks=True).create(target)
    python = str(target / "bin" / "python")
    pip = [python, "-m", "pip"] if with_pip else [sys.executable, "-m", "pip", "--python", python]
    # A copy of sdk/python: setuptools builds in the source tree (build/,
    # *.egg-info), and runs on several Python versions must not share that.
    source = tmp_path / "src"
    shutil.copytree(SDK, source, ignore=shutil.ignore_patterns(
        "build", "dist", "*.egg-info", "tests", "bench", "__pycache__", ".*"))
    build = subprocess.run([*pip, "install", "-q", str(source)], env=e,
                           capture_output=True, text=True, timeout=240)
    assert build.returncode == 0, build.stdout + build.stderr
    with StandIn() as api:
        e.update(OBSERVABLE_CODE_SESSION_ID="venv-session", OBSERVABLE_CODE_API_URL=api.url, HOME=str(tmp_path))
        r = run_script("""
            import json, os, observable
            from importlib import metadata, resources
            @observable.track("from_venv")
            def f():
                return 1
            f()
            print(json.dumps({
                "file": observable.__file__,
                "version": observable.__version__,
                "dist": metadata.version("observable-code-sdk"),
                "typed": resources.files("observable").joinpath("py.typed").is_file(),
                "script": [ep.value for ep in metadata.distribution("observable-code-sdk").entry_points
                           if ep.group == "console_scripts" and ep.name == "observable"],
                "requires": metadata.requires("observable-code-sdk"),
                "flushed": observable.flush(5),
            }))
        """, e, python=python, path=tmp_path / "use_it.py")
        assert r.code == 0, r.err
        info = json.loads(r.out.splitlines()[0])
        assert info["file"].startswith(str(target)), "imported from the venv, not the source tree"
        assert info["version"] == info["dist"]
        assert info["typed"] is True
        assert info["script"] == ["observable.cli:main"]
        assert not info["requires"], "no runtime dependencies"
        assert info["flushed"] is True
        assert api.names() == ["from_venv"]
    assert os.path.isdir(target) and sys.version_info >= (3, 9)

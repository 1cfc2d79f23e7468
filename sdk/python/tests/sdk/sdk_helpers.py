"""Helpers shared by the SDK's tests (kept out of conftest.py, which the
CLI's tests also have: `import conftest` would be ambiguous)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional

HERE = Path(__file__).resolve().parent
SDK = HERE.parents[1]


class Run(NamedTuple):
    code: int
    out: str
    err: str
    exit_delay: float  # from the script's last line to the process being gone


# Appended to every script: the time its last line ran, for the exit delay.
_EPILOGUE = "\nimport sys as _s, time as _t\n_s.stdout.write('LAST %r\\n' % _t.time()); _s.stdout.flush()\n"


def run_script(code: str, env: Dict[str, str], timeout: float = 20.0,
               python: Optional[str] = None, path: Optional[Path] = None) -> Run:
    """Run code in a new interpreter (from a file at path, when given)."""
    source = textwrap.dedent(code) + _EPILOGUE
    if path is not None:
        path.write_text(source)
        args = [python or sys.executable, str(path)]
    else:
        args = [python or sys.executable, "-c", source]
    # Its own process group, so that a hung child it forked is ended too.
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"script did not finish in {timeout} s\nstdout: {out}\nstderr: {err}")
    gone = time.time()
    last = [line for line in out.splitlines() if line.startswith("LAST ")]
    delay = gone - float(last[-1].split()[1]) if last else float("nan")
    return Run(proc.returncode, out, err, delay)


# A small job used by many tests: N tracked calls, then its own result.
N = 20
SCRIPT = """
import observable
@observable.track("chaos")
def work(i):
    observable.trace("i", i)
    return i * 2
total = sum(work(i) for i in range(%d))
print("result", total)
"""
EXPECTED = f"result {sum(i * 2 for i in range(N))}"
# Exit bounds asserted in tests are loose on purpose (a busy CI machine);
# the precise figures are measured in bench/, see docs/benchmarks-sdk.md.
EXIT_BOUND = 1.0


def check_run(r: Run, expect: str = EXPECTED) -> None:
    """Same result as undecorated, exit 0, no traceback, warnings one line
    each and never repeated, exit not held by a pending post."""
    assert r.code == 0, r.err
    assert expect in r.out
    assert "Traceback" not in r.err, r.err
    lines = [line for line in r.err.splitlines() if line]
    assert all(line.startswith("observable: ") for line in lines), r.err
    assert len(lines) == len(set(lines)), "a warning was repeated"
    assert r.exit_delay < EXIT_BOUND, f"exit took {r.exit_delay:.3f} s"


def spooled(home: Path) -> List[Dict[str, Any]]:
    files = list((home / ".observable-code" / "spool").glob("*/*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]

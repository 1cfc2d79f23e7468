"""The time `observable run` adds to a command that does nothing, API up and down,
beside a curl one-liner that makes the same report.

    python sdk/python/bench/bench_run.py [--runs 30]

Each sample is the wall time of one process tree, started the way cron
starts one (`/bin/sh -c LINE`, stdin from /dev/null, output to pipes):

  bare          true
  run, up       observable run -- true             (the real observable-server, built from
                                                    cmd/observable-server or $OBSERVABLE_SERVER_BIN)
  run, down     observable run -- true             (a closed port: the reports are spooled)
  curl, up      true; curl -fsS -m 5 ... -d '{...}' (one POST with the exit status, as people
                                                    write it by hand; no started event, no spool)
  curl, down    the same against the closed port

The figure is the median minus the bare median. `observable run` is started
as the console script would start it: `python -m observable` (site-packages
left out with -S, as an installed script in a venv has little in them).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
SDK = HERE.parent
sys.path.insert(0, str(SDK / "tests"))

from server import Server, free_port  # noqa: E402


def sample(line: str, env: Dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(["/bin/sh", "-c", line], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{line}: exit {proc.returncode}: {proc.stderr!r}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-run-"))
    server = Server(work).start()
    try:
        session = server.create_session()["session_id"]
        down = f"http://127.0.0.1:{free_port()}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVABLE_CODE_")}
        base.update(PYTHONPATH=str(SDK), HOME=str(work), OBSERVABLE_CODE_SESSION_ID=session,
                    OBSERVABLE_CODE_SPOOL_DIR=str(work / "spool"),
                    # The spool is measured, the detached sender's delivery is not.
                    OBSERVABLE_CODE_DETACHED_SENDER="0")
        run = f"{shlex.quote(sys.executable)} -S -m observable run --name bench -- true"
        body = '{"name":"bench","status":"completed","metadata":{"exit_status":0}}'

        def curl(url: str) -> str:
            return (f"true; curl -fsS -m 5 -o /dev/null -H 'Authorization: Bearer {session}' "
                    f"-H 'Content-Type: application/json' -d '{body}' {url}/api/v1/events || true")

        cases = [("bare", "true", base),
                 ("run, up", run, dict(base, OBSERVABLE_CODE_API_URL=server.url)),
                 ("run, down", run, dict(base, OBSERVABLE_CODE_API_URL=down))]
        if shutil.which("curl"):
            cases += [("curl, up", curl(server.url), base), ("curl, down", curl(down), base)]
        samples: Dict[str, List[float]] = {name: [] for name, _, _ in cases}
        for name, line, env in cases:
            sample(line, env)  # warm the page cache and the bytecode cache
        for _ in range(args.runs):  # interleaved, so that load changes touch every case alike
            for name, line, env in cases:
                samples[name].append(sample(line, env))
        bare = statistics.median(samples["bare"])
        print(f"Python {sys.version.split()[0]}, {args.runs} runs each; ms added to `true` "
              f"(bare median {bare * 1000:.1f} ms)")
        print(f"{'case':<12} {'median':>8} {'p90':>8} {'max':>8}")
        for name, values in samples.items():
            if name == "bare":
                continue
            values.sort()
            p90 = values[int(0.9 * (len(values) - 1))]
            print(f"{name:<12} {(statistics.median(values) - bare) * 1000:8.1f} "
                  f"{(p90 - bare) * 1000:8.1f} {(values[-1] - bare) * 1000:8.1f}")
        stored = [e for e in server.events(session, limit=200) if e["name"] == "bench"]
        print(f"events stored by the `up` runs: {len(stored)} (2 a run for observable run, 1 for curl)")
        spooled = sum(1 for _ in (work / "spool").rglob("*.jsonl")) if (work / "spool").exists() else 0
        print(f"spool files written by the `down` runs: {spooled}")
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long the SDK delays a script's exit, with the API up, hanging, down.

    python sdk/python/bench/bench_exit.py [--runs 30]

A cron-like script tracks one call and exits with no flush(). We time from
its last line to the process being gone (interpreter teardown included),
for the same script without the SDK (baseline) and with it, against:

  up       the real observable-server (built from cmd/observable-server, or
           $OBSERVABLE_SERVER_BIN); we also check the last event arrived
  hanging  a server that accepts the request and never answers
  down     a closed port (connection refused)

The delay added is the median with the SDK minus the median baseline.
"""

from __future__ import annotations

import argparse
import os
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
sys.path.insert(0, str(SDK / "tests" / "sdk"))

from server import Server  # noqa: E402
from standin import StandIn, closed_port  # noqa: E402

WITH_SDK = """
import observable
@observable.track("nightly_job")
def job():
    return sum(range(1000))
job()
"""
WITHOUT_SDK = """
def job():
    return sum(range(1000))
job()
"""
EPILOGUE = "\nimport sys as _s, time as _t\n_s.stdout.write('%r' % _t.time()); _s.stdout.flush()\n"


def exit_delay(code: str, env: Dict[str, str]) -> float:
    proc = subprocess.run([sys.executable, "-c", code + EPILOGUE], env=env, capture_output=True,
                          text=True, timeout=30)
    gone = time.time()
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return gone - float(proc.stdout.strip().splitlines()[-1])


def measure(runs: int, env: Dict[str, str]) -> Dict[str, float]:
    with_sdk: List[float] = []
    without: List[float] = []
    for _ in range(runs):  # interleaved, so load changes hit both alike
        without.append(exit_delay(WITHOUT_SDK, env))
        with_sdk.append(exit_delay(WITH_SDK, env))
    return {
        "baseline_median": statistics.median(without),
        "sdk_median": statistics.median(with_sdk),
        "sdk_p90": sorted(with_sdk)[int(len(with_sdk) * 0.9) - 1],
        "sdk_max": max(with_sdk),
        "added_median": statistics.median(with_sdk) - statistics.median(without),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="observable-bench-exit-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVABLE_CODE_")}
    env.update(HOME=str(work), PYTHONPATH=str(SDK), OBSERVABLE_CODE_DETACHED_SENDER="1",
               OBSERVABLE_CODE_SENDER_SECONDS="2")
    results = {}

    server = Server(work).start()
    try:
        sid = server.create_session()["session_id"]
        e = dict(env, OBSERVABLE_CODE_SESSION_ID=sid, OBSERVABLE_CODE_API_URL=server.url)
        results["up"] = measure(args.runs, e)
        stored = len(server.events(sid))
        results["up"]["delivered"] = stored / args.runs
    finally:
        server.kill()

    with StandIn(lambda n: "hang") as api:
        e = dict(env, OBSERVABLE_CODE_SESSION_ID="bench", OBSERVABLE_CODE_API_URL=api.url)
        results["hanging"] = measure(args.runs, e)

    e = dict(env, OBSERVABLE_CODE_SESSION_ID="bench",
             OBSERVABLE_CODE_API_URL=f"http://127.0.0.1:{closed_port()}")
    results["down"] = measure(args.runs, e)

    print(f"Python {sys.version.split()[0]} · {args.runs} runs each · last line -> process gone, ms")
    print(f"{'API':10} {'baseline':>9} {'with SDK':>9} {'p90':>7} {'max':>7} {'added':>7}  notes")
    for name, r in results.items():
        note = f"last event stored in {r['delivered']:.0%} of runs" if "delivered" in r else "events spooled"
        print(f"{name:10} {r['baseline_median'] * 1000:9.1f} {r['sdk_median'] * 1000:9.1f} "
              f"{r['sdk_p90'] * 1000:7.1f} {r['sdk_max'] * 1000:7.1f} {r['added_median'] * 1000:7.1f}  {note}")


if __name__ == "__main__":
    main()

"""fork and multiprocessing: each process sends its own events, once.

Ids are made by the sender thread when it takes an event from the queue,
so if a forked child re-sent what its parent had queued, the real server
would store those events twice: these tests would see it.
"""

from __future__ import annotations

import sys

import pytest

from sdk_helpers import check_run
from test_sdk_server import script_env, wait_events

FORK = """
import os, sys, warnings, observable
# Python 3.12+ warns about any fork() in a process that has threads (here,
# the SDK's sender thread); that warning is Python's, about the fork itself.
warnings.simplefilter("ignore", DeprecationWarning)

for i in range(200):
    observable.event("before_fork", i=i)   # still queued (or being sent) at fork

pid = os.fork()
if pid == 0:
    for i in range(10):
        observable.event("child", i=i)
    sys.exit(0)                             # a normal exit: atexit delivers

pid2 = os.fork()
if pid2 == 0:
    observable.event("child_os_exit")
    ok = observable.flush(5)                # os._exit skips atexit: flush first
    os._exit(0 if ok else 3)

assert os.waitpid(pid, 0)[1] == 0
assert os.waitpid(pid2, 0)[1] == 0
observable.event("parent_after")
print("forked ok")
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="os.fork is POSIX only")
def test_fork_children_get_their_own_queue(run, env, server):
    sid = server.create_session()["session_id"]
    r = run(FORK, script_env(env, server, sid))
    check_run(r, "forked ok")
    names = [e["name"] for e in wait_events(server, sid, 212)]  # late ones: see below
    assert names.count("before_fork") == 200
    assert names.count("child") == 10
    assert names.count("child_os_exit") == 1
    assert names.count("parent_after") == 1


MULTIPROCESSING = """
import multiprocessing as mp
import sys
import observable

@observable.track("mp_task")
def task(i):
    observable.trace("i", i)
    return i * i

def process_body(tag):
    for i in range(5):
        observable.event(tag, i=i)
    # no flush: the child leaves through os._exit; the SDK's
    # multiprocessing finalizer delivers before that.

if __name__ == "__main__":
    observable.event("parent_first")
    methods = [m for m in ("fork", "spawn") if m in mp.get_all_start_methods()]
    for method in methods:
        ctx = mp.get_context(method)
        p = ctx.Process(target=process_body, args=("process_" + method,))
        p.start()
        p.join()
        assert p.exitcode == 0, p.exitcode
        pool = ctx.Pool(2)
        assert pool.map(task, range(10)) == [i * i for i in range(10)]
        pool.close()
        pool.join()
    print("methods", ",".join(methods))
"""


def test_multiprocessing_children_deliver(run, env, server, tmp_path):
    sid = server.create_session()["session_id"]
    r = run(MULTIPROCESSING, script_env(env, server, sid), path=tmp_path / "mp_script.py", timeout=60)
    check_run(r, "methods")
    methods = [line for line in r.out.splitlines() if line.startswith("methods")][0].split()[1].split(",")
    # A child's exit waits 0.15 s for delivery (_exit.EXIT_WAIT), then spools what is left for
    # the detached sender: on a loaded machine some events arrive just after the script ends.
    events = wait_events(server, sid, 1 + 15 * len(methods))
    names = [e["name"] for e in events]
    assert names.count("parent_first") == 1
    for m in methods:
        assert names.count("process_" + m) == 5, (m, names)
    assert names.count("mp_task") == 10 * len(methods)
    assert sorted(e["metadata"]["i"] for e in events if e["name"] == "mp_task") == sorted(
        list(range(10)) * len(methods))
    assert sys.platform != "win32"

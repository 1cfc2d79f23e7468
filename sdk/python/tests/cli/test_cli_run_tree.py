"""`observable run` leaves the command's process tree as it would be without
us: stdout and stderr in one order when they are one file, inherited fds,
death with the wrapper, and the whole tree's peak memory and CPU."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time

from cli_helpers import CLI
from jobs_helpers import PY, Jobs, jobs, wait_for  # noqa: F401  (jobs is a fixture)

# Ten lines, stdout and stderr in turn, written as fast as sh can.
INTERLEAVED = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done"


def shell(jobs: Jobs, line: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run(["/bin/sh", "-c", line], env=jobs.env, cwd=jobs.tmp, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=30)


def cli_line(*args: str) -> str:
    return " ".join(shlex.quote(a) for a in [*CLI, *args])


def test_run_keeps_the_order_of_stdout_and_stderr_when_they_are_one_file(jobs):
    plain, wrapped = jobs.tmp / "plain.txt", jobs.tmp / "wrapped.txt"
    assert shell(jobs, f"sh -c {shlex.quote(INTERLEAVED)} > {plain} 2>&1").returncode == 0
    expected = plain.read_text()
    assert expected.split() == [f"{s}{i}" for i in range(1, 6) for s in ("out", "err")]
    for attempt in range(3):  # two pipes would reorder them nearly every time: three chances to
        name = f"interleaved_{attempt}"
        r = shell(jobs, cli_line("run", "--name", name, "--", "sh", "-c", INTERLEAVED) + f" > {wrapped} 2>&1")
        assert r.returncode == 0
        assert wrapped.read_text() == expected
        assert jobs.last_run(name)["final"]["metadata"]["output"] == expected


def test_run_copies_stdout_and_stderr_apart_when_they_are_different_files(jobs):
    r = jobs.run("run", "--name", "apart", "--", "sh", "-c", INTERLEAVED)
    assert r.stdout.split() == [f"out{i}".encode() for i in range(1, 6)]
    assert r.stderr.split() == [f"err{i}".encode() for i in range(1, 6)]


def test_run_passes_inherited_file_descriptors_to_the_command(jobs):
    out = jobs.tmp / "fd3.txt"
    r = shell(jobs, cli_line("run", "--name", "fd3", "--", "sh", "-c", "echo to-fd-3 >&3") + f" 3>{out}")
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "to-fd-3\n"
    assert jobs.last_run("fd3")["final"]["status"] == "completed"


def test_run_passes_no_fd_of_its_own_to_the_command(jobs):
    # The same fd numbers with us as without: our pipes, sockets and files are close-on-exec.
    list_fds = "ls /proc/$$/fd"  # no pipeline: sh would hold its pipes while ls runs
    plain = shell(jobs, f"sh -c {shlex.quote(list_fds)} 3>/dev/null")
    wrapped = shell(jobs, cli_line("run", "--name", "fds", "--", "sh", "-c", list_fds) + " 3>/dev/null")
    assert wrapped.returncode == 0, wrapped.stderr
    fds = sorted(plain.stdout.split(), key=int)
    assert b"3" in fds and sorted(wrapped.stdout.split(), key=int) == fds, (plain.stdout, wrapped.stdout)


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_run_command_dies_when_the_wrapper_is_killed(jobs):
    proc = jobs.start("run", "--name", "orphan", "--", "sh", "-c", "echo $$; exec sleep 60")
    pid = 0
    try:
        pid = int(proc.stdout.readline())
        assert not gone(pid)
        proc.kill()  # kill -9: no handler of ours runs
        proc.wait(timeout=10)
        wait_for("the command to die with the wrapper", lambda: gone(pid), timeout=5)
    finally:
        proc.kill()
        if pid and not gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_run_reports_peak_memory_and_cpu_of_the_commands_children(jobs):
    # sh starts python (a grandchild of the wrapper): 200 MiB touched, ~0.5 s of CPU.
    prog = ("import time\n"
            "b = bytearray(200 * 1024 * 1024)\n"
            "for i in range(0, len(b), 4096): b[i] = 1\n"
            "end = time.process_time() + 0.5\n"
            "while time.process_time() < end: pass\n")
    cmd = " ".join(shlex.quote(a) for a in [*PY, "-c", prog])
    r = jobs.run("run", "--name", "hungry", "--", "sh", "-c", f"{cmd}; echo done")
    assert r.returncode == 0 and r.stdout == b"done\n", r.stderr
    meta = jobs.last_run("hungry")["final"]["metadata"]
    assert meta["max_rss_kib"] >= 200 * 1024, meta
    assert meta["cpu_s"] >= 0.4, meta
    # Close to what the command used, not the test runner's own peak.
    assert meta["max_rss_kib"] < 400 * 1024 and meta["cpu_s"] < 5, meta

"""`observable run` in a real process tree: signals passed on to the command,
the server going down during a run, and cron's bare environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from jobs_helpers import jobs, wait_for  # noqa: F401  (jobs is a fixture)

# A command that says it is ready, and on each forwarded signal prints its
# name and exits 7; the waiting is in short sleeps (sh runs a trap between
# commands), and the sleeps share its process group, so they get it too.
TRAPPER = ("for s in INT TERM HUP QUIT; do trap \"echo got-$s; exit 7\" $s; done; "
           "echo ready; while :; do sleep 0.05; done")


@pytest.mark.parametrize("sig", ["INT", "TERM", "HUP", "QUIT"])
def test_run_forwards_signals_to_the_command_and_reports_cancelled(jobs, sig):
    name = f"stopped_{sig}"
    proc = jobs.start("run", "--name", name, "--", "sh", "-c", TRAPPER)
    try:
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(getattr(signal, f"SIG{sig}"))
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert out == f"got-{sig}\n".encode(), err
    assert proc.returncode == 7  # the command's own status
    final = jobs.last_run(name)["final"]
    assert final["status"] == "cancelled"
    assert final["error"]["message"] == f"stopped by SIG{sig}; exited with status 7"


def test_run_reports_are_delivered_after_the_server_comes_back(make_server, cli_env, tmp_path):
    from jobs_helpers import Jobs

    server = make_server()
    jobs = Jobs(server, cli_env, tmp_path)
    flag = tmp_path / "go-on"
    proc = jobs.start("run", "--name", "outage", "--", "sh", "-c",
                      f"while [ ! -e {flag} ]; do sleep 0.02; done; echo done")
    try:
        wait_for("the started event", lambda: jobs.events(name="outage"))
        server.kill()  # down while the command runs
        flag.touch()
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0 and out == b"done\n"  # the job is not failed for it
    assert b"OBSERVABLE_CODE_DETACHED_SENDER=0, so nothing sends it in the background" in err
    assert b"retrying in the background" not in err  # nothing is
    assert jobs.spooled() == 1
    # Back on the same port and database: the next run delivers what waits.
    make_server(port=server.port)
    again = jobs.run("run", "--name", "after", "--", "true", env={"OBSERVABLE_CODE_DETACHED_SENDER": "1"})
    assert again.returncode == 0 and again.stderr == b""
    events = wait_for("the outage run", lambda: [e for e in jobs.events(name="outage")
                                                 if e["status"] == "completed"])
    assert events[0]["metadata"]["output"] == "done\n"
    statuses = sorted(e["status"] for e in jobs.events(name="outage"))
    assert statuses == ["completed", "started"]  # the started event once, though sent twice
    wait_for("the spool to empty", lambda: jobs.spooled() == 0)


def test_run_works_in_crons_bare_environment(jobs, home, saved_session, tmp_path):
    # What pip writes as the `observable` console script: this interpreter's
    # absolute path in the shebang, so PATH need not find Python.
    sdk_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    launcher = tmp_path / "observable"
    launcher.write_text(f"#!{sys.executable} -S\nimport sys\nsys.path.insert(0, {sdk_root!r})\n"
                        "from observable.cli import main\nsys.exit(main())\n")
    launcher.chmod(0o755)
    saved_session(jobs.session_id, jobs.server.url)  # found through HOME, as setup saved it
    line = f"{launcher} run --name nightly_backup -- sh -c 'echo PATH=$PATH; tty || true'"
    r = subprocess.run(["env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin", "OBSERVABLE_CODE_DETACHED_SENDER=0",
                        "/bin/sh", "-c", line], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=30, start_new_session=True)  # no controlling terminal, as cron
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"PATH=/usr/bin:/bin\nnot a tty"), r.stdout
    final = jobs.last_run("nightly_backup")["final"]
    assert final["status"] == "completed" and final["metadata"]["output"].startswith("PATH=/usr/bin:/bin")


def test_run_in_a_terminal_stays_interactive_and_ctrl_c_reaches_the_command(jobs):
    from cli_helpers import Terminal

    t = Terminal(["run", "--name", "asks", "--", "sh", "-c",
                  'tty >/dev/null && echo on-a-tty; printf "name? "; read x; echo "hello $x"; '
                  'trap "echo interrupted; exit 9" INT; echo waiting; while :; do sleep 0.05; done'],
                 jobs.env)
    try:
        t.expect("on-a-tty")  # a terminal (a pty of ours), not a pipe
        t.expect("name\\? ")  # a prompt without a newline shows at once
        t.child.sendline("Ada")
        t.expect("hello Ada")
        t.expect("waiting")
        t.child.sendintr()  # Ctrl-C: the terminal sends SIGINT to the command itself
        t.expect("interrupted")
        assert t.finish() == 9
    finally:
        t.kill()
    final = jobs.last_run("asks")["final"]
    assert final["status"] == "cancelled" and "SIGINT" in final["error"]["message"]
    # The command wrote to a pty of ours (still a terminal): its output is kept.
    assert final["metadata"]["output"] == "on-a-tty\nname? hello Ada\nwaiting\ninterrupted\n"


def test_run_while_the_server_is_down_the_detached_sender_delivers(make_server, cli_env, tmp_path):
    from jobs_helpers import Jobs

    server = make_server()
    jobs = Jobs(server, cli_env, tmp_path)
    server.kill()
    r = jobs.run("run", "--name", "cron_line", "--", "sh", "-c", "echo backed up",
                 env={"OBSERVABLE_CODE_DETACHED_SENDER": "1"})
    assert r.returncode == 0 and r.stdout == b"backed up\n"
    make_server(port=server.port)  # nothing else runs: the sender started at exit delivers
    jobs.server = server
    run = jobs.last_run("cron_line")
    assert run["final"]["status"] == "completed" and run["final"]["metadata"]["output"] == "backed up\n"
    wait_for("the spool to empty", lambda: jobs.spooled() == 0)

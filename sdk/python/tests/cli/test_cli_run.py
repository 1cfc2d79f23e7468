"""`observable run -- COMMAND`: the command runs as without us, and the run
is reported to the real server (exit status, output, limits, retries)."""

from __future__ import annotations

import json
import os
import signal
import stat

import pytest

from jobs_helpers import PY, jobs, max_rss_of, script  # noqa: F401  (jobs is a fixture)


@pytest.mark.parametrize("status", [0, 1, 3, 255])
def test_run_exit_status_passes_through(jobs, status):
    name = f"exit_{status}"
    r = jobs.run("run", "--name", name, "--", "sh", "-c", f"exit {status}")
    assert r.returncode == status, r.stderr
    assert r.stdout == b"" and r.stderr == b""  # nothing of ours when all goes well
    run = jobs.last_run(name)
    final, started = run["final"], run["started"]
    assert final["status"] == ("completed" if status == 0 else "failed")
    assert final["metadata"]["exit_status"] == status
    assert final["duration_ms"] >= 0
    if status == 0:
        assert "error" not in final
    else:
        assert final["error"] == {"type": "exit_status", "message": f"exited with status {status}"}
    assert started["metadata"]["command"] == "sh"
    assert started["seq"] < final["seq"]


def test_run_output_is_copied_through_and_kept(jobs):
    r = jobs.run("run", "--", "sh", "-c", "echo out-line; echo err-line >&2; printf 'caf\\303\\251'")
    assert r.returncode == 0
    assert r.stdout == "out-line\ncafé".encode() and r.stderr == b"err-line\n"
    meta = jobs.last_run("sh")["final"]["metadata"]
    # Both streams, combined as they arrived (two pipes: no order between them).
    assert sorted(meta["output"].replace("café", "café\n").split()) == ["café", "err-line", "out-line"]
    assert meta["output_bytes"] == len("out-line\nerr-line\ncafé".encode())
    assert meta["cpu_s"] >= 0 and meta["max_rss_kib"] > 0


def test_run_stdin_passes_through(jobs):
    r = jobs.run("run", "--name", "cat_job", "--", "cat", stdin=b"data\x00\xff\n")
    assert r.returncode == 0 and r.stdout == b"data\x00\xff\n"
    assert jobs.last_run("cat_job")["final"]["status"] == "completed"


def test_run_megabytes_of_output_keeps_head_and_tail_in_bounded_memory(jobs):
    size = 64 * 1024 * 1024
    cmd = f"echo FIRST-LINE; head -c {size} /dev/zero | tr '\\000' x; echo; echo LAST-LINE"
    quiet = max_rss_of([*jobs_cli(), "run", "--name", "small", "--", "sh", "-c", "echo hi"],
                       jobs.env, jobs.tmp)
    loud = max_rss_of([*jobs_cli(), "run", "--name", "loud", "--head", "4k", "--tail", "4k",
                       "--", "sh", "-c", cmd], jobs.env, jobs.tmp)
    assert loud["rc"] == 0 and loud["bytes"] == size + len("FIRST-LINE\n\nLAST-LINE\n")
    # Holding the output would take 64 MiB more; copying it costs a few buffers.
    assert loud["max_rss_kib"] < quiet["max_rss_kib"] + 16 * 1024, (quiet, loud)
    meta = jobs.last_run("loud")["final"]["metadata"]
    assert meta["output_head"].startswith("FIRST-LINE\nxxx") and len(meta["output_head"]) == 4096
    assert meta["output_tail"].endswith("xxx\nLAST-LINE\n") and len(meta["output_tail"]) == 4096
    assert meta["output_bytes"] == loud["bytes"] and meta["output_skipped_bytes"] == loud["bytes"] - 8192


def jobs_cli():
    from cli_helpers import CLI
    return CLI


@pytest.mark.parametrize("sig", ["TERM", "KILL"])
def test_run_death_by_signal_is_reported_with_its_name(jobs, sig):
    r = jobs.run("run", "--name", f"dies_{sig}", "--", "sh", "-c", f"kill -{sig} $$")
    number = getattr(signal, f"SIG{sig}")
    assert r.returncode == 128 + number
    final = jobs.last_run(f"dies_{sig}")["final"]
    assert final["status"] == "failed"
    assert final["error"]["message"] == f"killed by SIG{sig} (exit status {128 + number})"
    assert final["metadata"]["signal"] == f"SIG{sig}"


def test_run_timeout_stops_the_command_and_exits_124(jobs):
    r = jobs.run("run", "--name", "slow", "--timeout", "300ms", "--", "sleep", "30")
    assert r.returncode == 124
    final = jobs.last_run("slow")["final"]
    assert final["status"] == "failed" and final["error"]["type"] == "timeout"
    assert final["metadata"]["timed_out"] is True
    assert final["duration_ms"] < 10_000


def test_run_timeout_kills_a_command_that_ignores_sigterm(jobs):
    # The whole process group: sh and the sleep it waits for ignore SIGTERM.
    r = jobs.run("run", "--name", "stubborn", "--timeout", "200ms", "--kill-after", "200ms",
                 "--", "sh", "-c", "trap '' TERM; sleep 30")
    assert r.returncode == 137  # as GNU timeout when SIGKILL was needed
    final = jobs.last_run("stubborn")["final"]
    assert final["error"]["type"] == "timeout" and "SIGKILL" in final["error"]["message"]


def test_run_shorter_than_min_duration_is_a_failure(jobs):
    r = jobs.run("run", "--name", "too_quick", "--min-duration", "5s", "--", "true")
    assert r.returncode == 0  # the command's own status is never changed
    run = jobs.last_run("too_quick")
    assert run["final"]["status"] == "failed" and run["final"]["error"]["type"] == "too_short"


def test_run_retries_a_failing_command_and_reports_once(jobs):
    counter = jobs.tmp / "count"
    cmd = f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; [ $n -ge 3 ]"
    r = jobs.run("run", "--name", "flaky", "--retries", "4", "--retry-delay", "0", "--", "sh", "-c", cmd)
    assert r.returncode == 0
    final = jobs.last_run("flaky")["final"]
    assert final["status"] == "completed"
    assert final["metadata"]["attempts"] == 3 and final["metadata"]["attempt_exit_statuses"] == [1, 1, 0]
    assert [e["status"] for e in jobs.events(name="flaky")] == ["completed", "started"]


def test_run_command_not_found_exits_127_and_is_reported(jobs):
    r = jobs.run("run", "--", "no-such-command-here", "arg")
    assert r.returncode == 127
    assert b"no-such-command-here: command not found" in r.stderr
    final = jobs.last_run("no-such-command-here")["final"]
    assert final["status"] == "failed" and final["error"]["type"] == "command_not_found"


def test_run_not_executable_exits_126(jobs):
    path = jobs.tmp / "not-executable.sh"
    path.write_text("#!/bin/sh\necho hi\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    r = jobs.run("run", "--", str(path))
    assert r.returncode == 126
    assert jobs.last_run("not-executable.sh")["final"]["error"]["type"] == "not_executable"


def test_run_expectation_options_are_sent(jobs):
    r = jobs.run("run", "--name", "nightly", "--schedule", "0 3 * * *", "--tz", "Europe/Paris",
                 "--grace", "10m", "--max-duration", "2h", "--alert-after", "2", "--no-start", "--", "true")
    assert r.returncode == 0
    events = jobs.wait_events(1, name="nightly")
    assert [e["status"] for e in events] == ["completed"]  # --no-start
    declared = {"cron": "0 3 * * *", "tz": "Europe/Paris", "grace_s": 600,
                "max_duration_ms": 7_200_000, "alert_after": 2}
    assert events[0]["expect"] == declared
    job = jobs.server.request("GET", "/api/v1/jobs/nightly", token=jobs.session_id)
    expect = job["expect"]
    assert expect["source"] == "code"
    assert {k: expect.get(k) for k in declared} == declared, expect
    assert expect["next_due_at"]  # a schedule the server understood


def test_run_every_is_declared_on_both_events_and_becomes_the_jobs_expectation(jobs):
    r = jobs.run("run", "--name", "hourly", "--every", "1h", "--grace", "5m", "--min-duration", "1s",
                 "--", "sh", "-c", "sleep 1.1")
    assert r.returncode == 0, r.stderr
    run = jobs.last_run("hourly")
    declared = {"every_s": 3600, "grace_s": 300, "min_duration_ms": 1000}
    assert run["started"]["expect"] == declared and run["final"]["expect"] == declared
    assert run["final"]["status"] == "completed" and run["started"]["run"] == run["final"]["run"]
    expect = jobs.server.request("GET", "/api/v1/jobs/hourly", token=jobs.session_id)["expect"]
    assert expect["source"] == "code" and {k: expect.get(k) for k in declared} == declared, expect
    assert expect["next_due_at"]


def test_run_head_and_tail_over_the_metadata_limit_is_a_usage_error(jobs):
    marker = jobs.tmp / "ran"
    r = jobs.run("run", "--head", "32k", "--tail", "32k", "--", "touch", str(marker))
    assert r.returncode == 2 and not marker.exists()
    assert b"--head and --tail would keep 65536 bytes" in r.stderr
    assert b"48k (49152 bytes) in all fits the server's 64 KiB metadata limit" in r.stderr
    assert jobs.run("run", "--name", "at_limit", "--head", "16k", "--tail", "32k", "--", "true").returncode == 0


def test_run_default_tail_keeps_the_outputs_very_end(jobs):
    # 40 KB of output: the default 8k head and 16k tail, whole (not cut to 8 KiB strings).
    cmd = "echo FIRST; i=0; while [ $i -lt 1000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; echo LAST"
    r = jobs.run("run", "--name", "long_output", "--", "sh", "-c", cmd)
    assert r.returncode == 0
    meta = jobs.last_run("long_output")["final"]["metadata"]
    assert len(meta["output_head"]) == 8192 and meta["output_head"].startswith("FIRST\n")
    assert len(meta["output_tail"]) == 16384 and meta["output_tail"].endswith("line-999-" + "x" * 30 + "\nLAST\n")
    assert meta["output_bytes"] == len(r.stdout)
    assert meta["output_skipped_bytes"] == len(r.stdout) - 8192 - 16384


def test_run_output_that_json_escapes_keeps_as_much_head_and_tail_as_fits(jobs):
    # NULs and invalid UTF-8 each take 6 bytes serialized (\ufffd): 48k of them
    # cannot all go, so head and tail are both cut to fit, not dropped to ~1k.
    cmd = "printf HEAD-START; head -c 200000 /dev/zero; printf '\\377\\376%.0s' $(seq 2000); printf TAIL-END"
    r = jobs.run("run", "--name", "binary_output", "--head", "16k", "--tail", "32k", "--", "sh", "-c", cmd)
    assert r.returncode == 0 and r.stdout.endswith(b"TAIL-END")
    final = jobs.last_run("binary_output")["final"]
    meta = final["metadata"]
    assert "_truncated" not in meta
    head, tail = meta["output_head"], meta["output_tail"]
    assert head.startswith("HEAD-START\ufffd") and tail.endswith("\ufffd\ufffdTAIL-END")
    assert "\x00" not in head + tail and "..." not in tail
    serialized = len(json.dumps(meta, separators=(",", ":"), ensure_ascii=True))
    assert 60 * 1024 < serialized <= 64 * 1024  # as much as fits, within the limit
    assert len(head) > 3000 and len(tail) > 6000 and len(tail) > len(head)  # the sizes' proportion kept
    assert meta["output_bytes"] == len(r.stdout)
    # Every byte kept was one character: ASCII, a NUL or an invalid byte.
    assert meta["output_skipped_bytes"] == len(r.stdout) - len(head) - len(tail)


def test_run_expectation_is_the_contracts_expect():
    import json

    from observable import cli
    from observable._cli_report import build_event
    from observable._cli_run import expectation, parse_duration

    args = cli.build_parser().parse_args(
        ["run", "--schedule", "0 3 * * *", "--tz", "Europe/Paris", "--grace", "10m", "--max-duration", "2h",
         "--min-duration", "1m30s", "--alert-after", "2", "--", "true"])
    expect = expectation(args)
    assert expect == {"cron": "0 3 * * *", "tz": "Europe/Paris", "grace_s": 600.0,
                      "max_duration_ms": 7_200_000, "min_duration_ms": 90_000, "alert_after": 2}
    every = expectation(cli.build_parser().parse_args(["run", "--every", "1d", "--", "true"]))
    assert every == {"every_s": 86400.0}
    event = json.loads(build_event("job", "started", run="r" * 80, expect=every))
    assert event["run"] == "r" * 64 and event["expect"] == every and event["status"] == "started"
    assert [parse_duration(x) for x in ("90", "500ms", "1h30m", "2d", "1.5m")] == [90, 0.5, 5400, 172800, 90]


def test_run_bad_usage_exits_2_without_running_anything(jobs):
    marker = jobs.tmp / "ran"
    r = jobs.run("run", "--every", "1h", "--schedule", "0 3 * * *", "--", "touch", str(marker))
    assert r.returncode == 2 and b"--every (a period) or --schedule" in r.stderr and b"not both" in r.stderr
    r = jobs.run("run", "--tz", "Europe/Paris", "--", "touch", str(marker))
    assert r.returncode == 2 and b"--tz needs --schedule" in r.stderr
    r = jobs.run("run", "--schedule", "0 3 * *", "--", "touch", str(marker))
    assert r.returncode == 2 and b"--schedule '0 3 * *' has 4 fields" in r.stderr
    r = jobs.run("run", "--every", "1h", "--alert-after", "0", "--", "touch", str(marker))
    assert r.returncode == 2 and b"--alert-after 0" in r.stderr
    r = jobs.run("run", "--timeout", "soon", "--", "touch", str(marker))
    assert r.returncode == 2 and b"not a duration" in r.stderr
    assert not marker.exists()


def test_run_without_a_session_still_runs_the_command(jobs):
    env = {"OBSERVABLE_CODE_SESSION_ID": ""}
    r = jobs.run("run", "--", "sh", "-c", "echo ran; exit 4", env=env)
    assert r.returncode == 4 and r.stdout == b"ran\n"
    assert b"not reported" in r.stderr and b"observable setup" in r.stderr


def test_run_python_child_sees_a_pipe_and_exit_code_of_sys_exit(jobs):
    prog = script(jobs.tmp, "child.py", "import sys\nprint(sys.stdin.read().upper())\nsys.exit(5)\n")
    r = jobs.run("run", "--name", "py_child", "--", *PY, prog, stdin=b"abc")
    assert r.returncode == 5 and r.stdout == b"ABC\n"


def test_output_keeps_head_and_tail_and_starts_the_tail_on_a_character():
    from observable._cli_run_child import Output

    out = Output(head=4, tail=5)
    for chunk in (b"ab", b"cd\xc3", b"\xa9" * 1, b"x" * 1000, "é!".encode()):
        out.add(chunk)
    meta = out.metadata()
    assert meta["output_head"] == "abcd"
    assert meta["output_tail"] == "xxé!"  # 5 bytes kept: xx, é (2 bytes), !
    assert meta["output_bytes"] == 4 + 2 + 1000 + 3
    cut = Output(head=0, tail=2)
    cut.add("aéb".encode())  # the last 2 bytes start inside é: skip to the next character
    assert cut.metadata()["output_tail"] == "b" and cut.metadata()["output_skipped_bytes"] == 3
    small = Output(head=4, tail=4)
    small.add(b"hello")
    assert small.metadata() == {"output": "hello", "output_bytes": 5}


def test_output_cut_to_fit_the_limit_keeps_both_ends_and_counts_what_it_left_out():
    from observable._cli_run_child import Output
    from observable._serialize import dumps

    out = Output(head=300, tail=600)
    out.add(b"<" + b"\x00" * 5000 + "é".encode() * 300 + b">")
    meta = out.metadata(base={"exit_status": 0}, limit=2000)
    assert len(dumps(meta)) <= 2000 and meta["exit_status"] == 0
    head, tail = meta["output_head"], meta["output_tail"]
    assert head.startswith("<\ufffd") and tail.endswith("é>") and "\ufffd" not in tail[-5:]
    assert 2 * len(head) <= len(tail.encode()) + 6  # cut in proportion, the tail's 2:1 kept
    kept = len(head.encode("utf-8")) - 2 * head.count("\ufffd") + len(tail.encode())
    assert meta["output_skipped_bytes"] == meta["output_bytes"] - kept
    whole = Output(head=300, tail=600)
    whole.add(b"\x00" * 500)  # all kept, but 3000 bytes serialized: split to fit
    fitted = whole.metadata(limit=1000)
    assert "output" not in fitted and len(dumps(fitted)) <= 1000
    assert fitted["output_skipped_bytes"] == 500 - len(fitted["output_head"]) - len(fitted["output_tail"])

"""`observable run [options] -- COMMAND [ARGS...]`: any program reports a run.

The command runs as it would without us (same stdin, output copied through
live, its own exit status); around it, a `started` event and then one
`completed`, `failed` or `cancelled` event with the duration, the exit
status or the signal, peak memory and CPU time, and the head and tail of
the output. Reports never fail nor hold the job: what cannot be delivered
is spooled and sent later (see _cli_report).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Any, Dict, List, Optional

from . import _config, _expect
from ._cli_report import Reporter, build_event
from ._cli_run_child import (EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, Ended, Output, Signals,
                             capture_wanted, run_once, signal_name)
from ._cli_term import Term

EXIT_USAGE = 2
DEFAULT_HEAD = 8 * 1024
DEFAULT_TAIL = 16 * 1024
# The contract's metadata limit is 64 KiB serialized; escaping can grow text.
MAX_KEPT = 48 * 1024
REPORT_TIMEOUT = 1.5  # the last report's one attempt before it is spooled
EARLY_WAIT = 0.5  # how long the `started` event may still take at the end

def parse_duration(text: str) -> float:
    """Seconds from "90", "90s", "1.5m", "1h30m", "500ms", "2d" (track()'s rules, in _expect)."""
    try:
        return _expect.parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*(k|kb|kib|b)?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: give bytes (4096) or KiB (4k)")
    return int(m.group(1)) * (1024 if m.group(2) in ("k", "kb", "kib") else 1)


def add_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "run", help="run any command and report it: exit status, duration, output, memory",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Runs COMMAND with the same stdin, stdout and stderr, exits with its exit\n"
                    "status, and reports the run to your phone (a `started` event, then\n"
                    "completed, failed or cancelled). It never fails the job because the server\n"
                    "is down: reports are kept on disk and sent later.",
        epilog="examples:\n"
               "  observable run -- ./backup.sh\n"
               "  observable run --name nightly_backup --timeout 2h --min-duration 1m -- pg_dump mydb\n"
               "  # m h dom mon dow  (crontab)\n"
               "  0 3 * * * observable run --name nightly_backup --schedule '0 3 * * *' -- /usr/local/bin/backup.sh\n\n"
               "exit status: the command's own; 124 when --timeout stopped it (137 if it needed\n"
               "SIGKILL), 128+N when signal N killed it, 127 command not found, 126 not executable,\n"
               "2 bad usage of observable run itself.")
    common(p, suppress=True, with_timeout=False)
    p.add_argument("--name", help="the job's name (default: the command's base name)")
    p.add_argument("--timeout", dest="run_timeout", metavar="DURATION", type=parse_duration,
                   help="stop the command after this long: SIGTERM, then SIGKILL after --kill-after")
    p.add_argument("--kill-after", metavar="DURATION", type=parse_duration, default=10.0,
                   help="grace between SIGTERM and SIGKILL at a timeout (default 10s)")
    p.add_argument("--min-duration", metavar="DURATION", type=parse_duration,
                   help="a run shorter than this is a failure (a backup that did nothing)")
    p.add_argument("--retries", metavar="N", type=int, default=0,
                   help="run a failing command again up to N times; one report")
    p.add_argument("--retry-delay", metavar="DURATION", type=parse_duration, default=1.0,
                   help="pause between attempts (default 1s)")
    p.add_argument("--no-start", action="store_true", help="do not send the `started` event")
    p.add_argument("--no-capture", action="store_true",
                   help="let the command write to our stdout and stderr directly, terminal or not "
                        "(no output kept)")
    p.add_argument("--head", metavar="SIZE", type=parse_size, default=DEFAULT_HEAD,
                   help=f"bytes of the output's start to keep (default {DEFAULT_HEAD // 1024}k)")
    p.add_argument("--tail", metavar="SIZE", type=parse_size, default=DEFAULT_TAIL,
                   help=f"bytes of the output's end to keep (default {DEFAULT_TAIL // 1024}k)")
    p.add_argument("--quiet", action="store_true", help="say nothing of our own on stderr")
    g = p.add_argument_group("what the server should expect of this job (as track()'s)")
    g.add_argument("--every", metavar="DURATION", type=parse_duration, help="it runs this often")
    g.add_argument("--schedule", metavar="CRON",
                   help="it runs on this cron schedule ('m h dom mon dow', or @daily...)")
    g.add_argument("--tz", metavar="ZONE", help="the schedule's time zone (IANA name; default UTC)")
    g.add_argument("--grace", metavar="DURATION", type=parse_duration, help="how late a run may be")
    g.add_argument("--max-duration", metavar="DURATION", type=parse_duration,
                   help="a run longer than this is overdue")
    g.add_argument("--alert-after", metavar="N", type=int, help="failed runs in a row before an alert")
    p.add_argument("command_args", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")


def _usage(term: Term, what: str) -> int:
    term.error(what, "See `observable run --help`.")
    return EXIT_USAGE


def expectation(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    """track()'s EXPECT (_expect.build_expect); ValueError when an option is wrong.

    --min-duration alone is this command's own check (a short run fails), not a declaration."""
    timed = args.every is not None or bool(args.schedule)
    return _expect.build_expect(every=args.every, schedule=args.schedule or None, tz=args.tz,
                                grace=args.grace, max_duration=args.max_duration,
                                min_duration=args.min_duration if timed else None,
                                alert_after=args.alert_after)


_TRACK_OPTION = re.compile(r"\b(every|schedule|tz|grace|max_duration|min_duration|alert_after)=( ?)(?=(.?))")


def _as_flags(message: str) -> str:
    """track()'s message in this command's words: every="1d" becomes --every "1d", grace= --grace."""
    def flag(m: "re.Match[str]") -> str:
        spaced = m.group(2) or (m.group(3) not in ("", ",", ".", ")", ":", ";"))
        return "--" + m.group(1).replace("_", "-") + (" " if spaced else "")
    return _TRACK_OPTION.sub(flag, message)


def _check(args: argparse.Namespace, argv: List[str]) -> Optional[str]:
    if not argv:
        return "No command given: put it after --, e.g. observable run -- ./backup.sh"
    if args.retries < 0:
        return "--retries must be 0 or more."
    if args.run_timeout is not None and args.run_timeout <= 0:
        return "--timeout must be more than 0."
    if args.head + args.tail > MAX_KEPT:
        return (f"--head and --tail would keep {args.head + args.tail} bytes; at most {MAX_KEPT // 1024}k "
                f"({MAX_KEPT} bytes) in all fits the server's 64 KiB metadata limit.")
    try:  # the expectation options: track()'s own checks, one set of rules
        expectation(args)
    except ValueError as e:
        return _as_flags(str(e))
    return None


def _reporter(args: argparse.Namespace) -> Optional[Reporter]:
    """None when there is nowhere to report: the command still runs."""
    from ._warn import warn_once

    settings = _config.resolve()
    if not settings.session_id:
        warn_once("no-credentials", "this run is not reported: no session id "
                  f"({_config.SESSION_ENV} is not set and {_config.config_path()} has none); "
                  "run `observable setup` once")
        return None
    api_url = (getattr(args, "api_url", None) or settings.api_url).strip().rstrip("/")
    try:
        return Reporter(api_url, settings.session_id, REPORT_TIMEOUT)
    except ValueError as e:
        warn_once("setup", f"this run is not reported: {e}")
        return None


def run_command(args: argparse.Namespace, term: Term) -> int:
    argv = list(args.command_args)
    if argv and argv[0] == "--":
        argv = argv[1:]
    problem = _check(args, argv)
    if problem:
        return _usage(term, problem)
    if args.quiet:
        sys.stderr = open(os.devnull, "w")  # our warnings only: the command keeps fd 2
    name = args.name or os.path.basename(argv[0]) or argv[0]
    expect = expectation(args)
    run_id = os.urandom(16).hex()
    reporter = _reporter(args)
    began = time.time()
    # argv[0] only (arguments often carry passwords), as valid text.
    command = argv[0].encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:1024]
    meta: Dict[str, Any] = {"command": command, "run": run_id}
    if reporter is not None and not args.no_start:
        reporter.send_early([build_event(name, "started", run=run_id, expect=expect,
                                         when=began, metadata=meta)])
    signals = Signals()
    signals.install()
    try:
        ended, output, attempts = _attempts(args, argv, signals)
    finally:
        signals.restore()
    if ended.not_started:
        term.err.write(f"observable run: {ended.not_started}\n")
        term.err.flush()
    if reporter is not None:
        status, error = judge(ended, signals.received, args)
        last = build_event(name, status, run=run_id, expect=expect, duration_s=time.time() - began,
                           error=error, metadata=_facts(meta, ended, output, attempts),
                           metadata_fitted=True)
        reporter.finish([last], EARLY_WAIT)
    return int(ended.exit_status)


def _attempts(args: argparse.Namespace, argv: List[str], signals: Signals) -> Any:
    capture = capture_wanted(args.no_capture)
    attempts: List[int] = []
    while True:
        output = Output(args.head, args.tail) if capture else None
        ended = run_once(argv, signals, output or Output(0, 0), capture,
                         args.run_timeout, args.kill_after)
        attempts.append(ended.exit_status)
        failed = judge(ended, signals.received, args)[0] == "failed"
        if not failed or len(attempts) > args.retries or signals.received is not None \
                or ended.exit_status in (EXIT_NOT_FOUND, EXIT_NOT_EXECUTABLE) and ended.not_started:
            return ended, output, attempts
        deadline = time.monotonic() + args.retry_delay
        while time.monotonic() < deadline and signals.received is None:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        if signals.received is not None:
            return ended, output, attempts


def judge(ended: Ended, received: Optional[int], args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The run's status and error, from how its last attempt ended."""
    if ended.not_started:
        kind = "command_not_found" if ended.exit_status == EXIT_NOT_FOUND else "not_executable"
        return "failed", {"type": kind, "message": ended.not_started}
    if received is not None:
        how = f"killed by {signal_name(ended.signal)}" if ended.signal else f"exited with status {ended.exit_status}"
        return "cancelled", {"type": "signal", "message": f"stopped by {signal_name(received)}; {how}"}
    if ended.timed_out:
        how = "it needed SIGKILL" if ended.signal == 9 else "stopped with SIGTERM"
        return "failed", {"type": "timeout",
                          "message": f"timed out after {_seconds(args.run_timeout)} ({how})"}
    if ended.signal:
        return "failed", {"type": "signal", "message": f"killed by {signal_name(ended.signal)} "
                                                        f"(exit status {ended.exit_status})"}
    if ended.exit_status != 0:
        return "failed", {"type": "exit_status", "message": f"exited with status {ended.exit_status}"}
    if args.min_duration is not None and ended.duration < args.min_duration:
        return "failed", {"type": "too_short",
                          "message": f"finished in {_seconds(ended.duration)}, under --min-duration "
                                     f"{_seconds(args.min_duration)}"}
    return "completed", None


def _seconds(s: float) -> str:
    return f"{s:.3g} s" if s < 100 else f"{s:.0f} s"


def _facts(meta: Dict[str, Any], ended: Ended, output: Optional[Output],
           attempts: List[int]) -> Dict[str, Any]:
    """The final event's metadata, JSON ready and within the contract's limit."""
    facts: Dict[str, Any] = dict(meta, exit_status=ended.exit_status, cpu_s=ended.cpu_s,
                                 max_rss_kib=ended.max_rss_kib)
    if ended.signal:
        facts["signal"] = signal_name(ended.signal)
    if ended.timed_out:
        facts["timed_out"] = True
    if len(attempts) > 1:
        facts["attempts"] = len(attempts)
        facts["attempt_exit_statuses"] = attempts
    if output is None:
        facts["output"] = "(not captured: --no-capture, or a terminal without a pty to stand in for it)"
        return facts
    return output.metadata(base=facts)

"""`observable`: pair a phone with this computer, and check that events reach it.

    observable setup      create a session, save it, pair a phone in one scan
    observable pair       pair another phone (or --replace the paired ones)
    observable show-key   print the saved session key
    observable status     is the server up, the session valid, a phone paired?
    observable run        run any command and report it (cron, shell scripts)
    observable event      send an event from a shell
    observable tail       show new events as they happen

Exit codes: 0 done; 1 not set up, not paired, or the code expired; 2 bad
usage; 3 the server could not be reached or failed; 130 stopped by Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import List, Optional

from . import _config
from ._cli_context import Context
from ._cli_http import DEFAULT_TIMEOUT, cli_version
from ._cli_jobs import HANDLERS as JOB_HANDLERS, RAW_HANDLERS, _common as _job_common, add_job_commands
from ._cli_pingurl import add_parser as add_ping_url_parser, ping_url_command
from ._cli_pairing import EXIT_INTERRUPTED, EXIT_NOT_READY, EXIT_OK, EXIT_USAGE, Failure
from ._cli_setup import pair_command, setup_command, show_key_command
from ._cli_status import status_command
from ._cli_term import Term

EPILOG_MAIN = """\
examples:
  observable setup                  pair your phone with this computer (one scan)
  observable status                 check that events reach your phone
  observable pair --replace         move to a new phone
  observable --api-url https://observable.example.com setup

Start with `observable setup`. Exit codes: 0 done, 1 not set up / not paired,
2 bad usage, 3 server unreachable or failing, 130 stopped with Ctrl-C.
"""

COMMANDS = {
    "setup": ("pair your phone with this computer in one scan",
              "Creates a session on the server, saves it to ~/.observable-code/config.json,\n"
              "shows a QR code and waits until your phone has paired. Then it shows how to\n"
              "track a function and sends a first event to the phone.",
              "  observable setup\n"
              "  observable setup --api-url http://192.168.1.20:3000\n"
              "  observable setup --force          start over with a new session\n"
              "  observable setup --invert         QR code for a dark-on-light terminal"),
    "pair": ("pair another phone with the saved session",
             "Shows a new pairing code for the saved session and waits until a phone\n"
             "pairs (runs setup when nothing is saved yet).",
             "  observable pair                   add a phone\n"
             "  observable pair --replace         pair a new phone and unpair the others"),
    "show-key": ("print the saved session key",
                 "Prints the session id from ~/.observable-code/config.json, e.g. for a CI\n"
                 "secret. Keep it secret: it can post events to your phone.",
                 "  observable show-key\n"
                 "  export OBSERVABLE_CODE_SESSION_ID=$(observable show-key)"),
    "status": ("check the server, the session and the paired phones",
               "Shows the API URL and whether it answers, whether the session is valid and\n"
               "paired, the paired phones and the events received. Exits 0 only when events\n"
               "reach a phone.",
               "  observable status\n"
               "  observable status --json"),
}


def _common_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--api-url", metavar="URL", default=default,
                        help="the server (default: $OBSERVABLE_CODE_API_URL, then the saved "
                             f"one, then {_config.DEFAULT_API_URL})")
    parser.add_argument("--timeout", metavar="SECONDS", type=float,
                        default=argparse.SUPPRESS if suppress else DEFAULT_TIMEOUT,
                        help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--debug", action="store_true",
                        default=argparse.SUPPRESS if suppress else False,
                        help="show each request and, on failure, the traceback")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="observable", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Observable Code tells you on your phone when your code finishes or fails.",
        epilog=EPILOG_MAIN)
    parser.add_argument("--version", action="version", version=f"observable {cli_version()}")
    _common_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (summary, description, examples) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=description,
                           epilog="examples:\n" + examples,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        _common_options(p, suppress=True)
        if name in ("setup", "pair"):
            p.add_argument("--invert", action="store_true",
                           help="draw the QR code for dark text on a light background "
                                "(only needed with NO_COLOR or when output is not a terminal)")
        if name == "setup":
            p.add_argument("--force", action="store_true",
                           help="start over with a new session even if one is paired")
        if name == "pair":
            p.add_argument("--replace", action="store_true",
                           help="unpair the other phones once the new one has paired")
        if name == "status":
            p.add_argument("--json", action="store_true", help="print the status as JSON")
    add_job_commands(sub)
    add_ping_url_parser(sub, _job_common)
    return parser


HANDLERS = {"setup": setup_command, "pair": pair_command, "show-key": show_key_command,
            "status": status_command, "ping-url": ping_url_command, **JOB_HANDLERS}


def main(argv: Optional[List[str]] = None) -> int:
    """The `observable` command; returns its exit code."""
    term = Term()
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and getattr(args, "command", None) == "event":
            args.pairs += extra  # key=value pairs given after an option
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:  # --help, --version, or a usage error already printed
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    if args.command in RAW_HANDLERS:
        return RAW_HANDLERS[args.command](args, term)
    ctx: Optional[Context] = None
    try:
        ctx = Context(args, term)
        return HANDLERS[args.command](ctx)
    except Failure as f:
        term.error(f.what, f.next_step)
        if args.debug and f.__cause__ is not None:
            traceback.print_exception(type(f.__cause__), f.__cause__, f.__cause__.__traceback__)
        return f.code
    except KeyboardInterrupt:
        term.clear_live()
        term.out.flush()
        if ctx is not None and ctx.saved_session:
            term.err.write(f"\nStopped. Your session is saved: pair a phone later with "
                           f"{term.cmd('observable pair', err=True)}.\n")
        else:
            term.err.write("\nStopped. Nothing was changed.\n")
        term.err.flush()
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `observable status | head -1`): not an error.
        # Point stdout at /dev/null so that the flush at exit cannot fail again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_OK
    except Exception as e:
        if args.debug:
            traceback.print_exc()
        term.error(f"Unexpected error: {type(e).__name__}: {e}",
                   "Run again with --debug for the traceback, and please report it.")
        return EXIT_NOT_READY


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

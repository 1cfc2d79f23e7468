"""`observable event NAME [--status S] [key=value ...]`: observable.event() from a shell.

Values are typed as a shell user means them: integers and decimals become
numbers, true/false booleans, null null; anything else stays a string
(quote it in --json to keep "42" a string). Exits 0 when the server is down
(the event is spooled and sent later), unless --wait asks for delivery.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import Any, Dict, List

from ._cli_context import Context
from ._cli_pairing import EXIT_NOT_READY, EXIT_OK, EXIT_SERVER, EXIT_USAGE, Failure
from ._cli_report import Reporter, build_event

_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?\Z")
NO_WAIT_TIMEOUT = 2.0


def typed(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _NUMBER.match(text):
        number = json.loads(text)
        return number
    return text


def metadata_from(pairs: List[str], raw_json: str) -> Dict[str, Any]:
    meta: Dict[str, Any] = {}
    if raw_json:
        try:
            given = json.loads(raw_json)
        except ValueError as e:
            raise Failure(f"--json is not valid JSON: {e}.", "Give an object, e.g. --json '{\"rows\": 3}'.",
                          EXIT_USAGE) from None
        if not isinstance(given, dict):
            raise Failure("--json must be a JSON object.", "E.g. --json '{\"tags\": [\"a\", \"b\"]}'.", EXIT_USAGE)
        meta.update(given)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise Failure(f"{pair!r} is not key=value.", "E.g. observable event backup_done rows=120 ok=true.",
                          EXIT_USAGE)
        meta[key] = typed(value)
    return meta


def add_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "event", help="send an event from a shell (observable.event())",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Sends one event with metadata from key=value pairs (numbers and true/false\n"
                    "typed as such) or --json. Exits 0 even when the server is down: the event is\n"
                    "kept on disk and sent later. With --wait it exits 3 unless delivered.",
        epilog="examples:\n"
               "  observable event deploy_done version=1.4.2 rows=120 dry_run=false\n"
               "  observable event disk_low --status failed free_gb=1.5\n"
               "  observable event import --json '{\"tables\": [\"a\", \"b\"]}' --wait")
    common(p, suppress=True)
    p.add_argument("name", help="the event's (the job's) name")
    p.add_argument("pairs", nargs="*", metavar="key=value", help="metadata")
    p.add_argument("--status", default="completed",
                   help="completed (default), failed, or another lowercase word")
    p.add_argument("--json", dest="json_metadata", metavar="OBJECT", default="",
                   help="metadata as a JSON object (key=value pairs are added to it)")
    p.add_argument("--run", metavar="ID", help="the run this event belongs to")
    p.add_argument("--wait", action="store_true",
                   help="wait for delivery, retrying up to --timeout seconds; exit 3 when not delivered")


def event_command(ctx: Context) -> int:
    args = ctx.args
    meta = metadata_from(args.pairs, args.json_metadata)
    if not ctx.settings.session_id:
        raise Failure("Not set up: there is no session to send the event to.",
                      "Run `observable setup` once (or set OBSERVABLE_CODE_SESSION_ID or OBSERVABLE_CODE_API_KEY).", EXIT_NOT_READY)
    timeout = args.timeout if args.wait else min(args.timeout, NO_WAIT_TIMEOUT)
    try:
        reporter = Reporter(ctx.api_url, ctx.settings.session_id, timeout)
    except ValueError as e:
        raise Failure(f"Cannot send: {e}.", None, EXIT_USAGE) from None
    event = build_event(args.name, args.status, run=args.run, metadata=meta)
    delivered = reporter.send([event])
    deadline, pause = time.monotonic() + args.timeout, 0.25
    while args.wait and delivered is False and time.monotonic() + pause < deadline:
        time.sleep(pause)  # --wait: the server may be restarting
        pause = min(pause * 2, 2.0)
        delivered = reporter.send([event])
    if delivered:
        reporter.deliver_waiting()
        return EXIT_OK
    if delivered is None:
        return EXIT_SERVER  # refused for good; the Link said why
    if args.wait:
        raise Failure(f"The event was not delivered ({reporter.problem}).",
                      "Check the server with `observable status`; nothing was kept.", EXIT_SERVER)
    reporter.keep([event])
    return EXIT_OK

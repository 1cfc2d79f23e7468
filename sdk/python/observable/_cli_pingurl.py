"""`observable ping-url NAME`: the job's Healthchecks-style ping URL, for a
cron line, a systemd unit or any Healthchecks client (docs/pings.md).

The job need not exist yet: the server answers its URL anyway and the
first ping makes the job. The URL is stable; anyone who has it can ping
the job (not read anything), so treat it like a password of the job.
"""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from ._cli_context import Context
from ._cli_http import ApiError
from ._cli_pairing import EXIT_NOT_READY, EXIT_OK, EXIT_SERVER, Failure


def add_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "ping-url", help="print a job's Healthchecks-style ping URL",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Prints the job's ping URL (<server>/ping/<uuid>): curl it, or give it to any\n"
                    "Healthchecks client, and the phone hears about the job. Add /start, /fail,\n"
                    "/log or /<exit status>. The job need not exist yet: its first ping makes it.\n"
                    "With --key, prints the session's ping key instead (<server>/ping/<key>/<slug>).",
        epilog="examples:\n"
               "  observable ping-url backup\n"
               "  0 3 * * * /usr/local/bin/backup && curl -fsS -m 10 --retry 5 -o /dev/null $(observable ping-url backup)\n"
               "  observable ping-url --key")
    common(p, suppress=True)
    p.add_argument("name", nargs="?", help="the job's name")
    p.add_argument("--key", action="store_true", help="print the session's ping key")


def ping_url_command(ctx: Context) -> int:
    args = ctx.args
    session = ctx.settings.session_id
    if not session:
        raise Failure("Not set up: there is no session whose jobs to ping.",
                      "Run `observable setup` once (or set OBSERVABLE_CODE_SESSION_ID or OBSERVABLE_CODE_API_KEY).",
                      EXIT_NOT_READY)
    if not args.key and not args.name:
        raise Failure("Name the job: observable ping-url NAME.", "Or print the ping key with --key.", 2)
    try:
        if args.key:
            answer = ctx.client.request("GET", "/api/v1/ping-key", token=session)
            value = answer.get("ping_key") if isinstance(answer, dict) else None
        else:
            path = "/api/v1/jobs/" + urllib.parse.quote(args.name, safe="") + "/ping"
            answer = ctx.client.request("GET", path, token=session)
            value = answer.get("ping_url") if isinstance(answer, dict) else None
    except ApiError as e:
        hint = "Check the server with `observable status`."
        if e.status == 401:
            hint = "The saved session is not known to this server: run `observable setup --force`."
        elif e.status == 404:
            hint = "This server has no ping URLs: upgrade it to a version with Healthchecks-style pings."
        raise Failure(f"Cannot read the ping URL: {e.summary()}.", hint, EXIT_SERVER) from e
    if not isinstance(value, str) or not value:
        raise Failure("The server's answer has no ping URL.",
                      "Upgrade the server to a version with Healthchecks-style pings.", EXIT_SERVER)
    ctx.term.out.write(value + "\n")
    ctx.term.out.flush()
    return EXIT_OK

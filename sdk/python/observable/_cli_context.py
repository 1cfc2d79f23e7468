"""What every CLI command is given: how to print, where the server is, the
settings (the commands take it; cli.py makes it from the parsed arguments)."""

from __future__ import annotations

import argparse
import socket
import urllib.parse
from typing import Optional

from . import _config
from ._cli_http import Client, cli_version
from ._cli_pairing import EXIT_USAGE, Failure, PairingFlow
from ._cli_term import Term, light_background


class Context:
    """What every command needs: how to print, where the server is, the settings."""

    def __init__(self, args: argparse.Namespace, term: Term):
        self.args = args
        self.term = term
        self.settings = _config.resolve()
        self.api_url = (args.api_url or self.settings.api_url).strip().rstrip("/")
        self.api_url_source = "flag" if args.api_url else self.settings.api_url_source
        parts = urllib.parse.urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Failure(f"The API URL {self.api_url!r} is not an http(s) URL.",
                          "Give it like --api-url http://localhost:3000.", EXIT_USAGE)
        if not (args.timeout > 0):
            raise Failure("--timeout must be a positive number of seconds.", None, EXIT_USAGE)
        self.client = Client(self.api_url, timeout=args.timeout,
                             debug=term.debug if args.debug else None,
                             user_agent=f"observable-cli/{cli_version()}")
        self.host = socket.gethostname() or "this computer"
        # Set once a session is saved, so that Ctrl-C can say how to go on.
        self.saved_session = False

    def dark_ink(self) -> bool:
        if getattr(self.args, "invert", False):
            return True
        # Without colour the terminal's own colours show the code: ask for
        # dark ink when the terminal says its background is light.
        return not self.term.color and light_background(self.term.environ)

    def flow(self, session_id: str, replace: bool = False, host: Optional[str] = None
             ) -> PairingFlow:
        return PairingFlow(self.client, self.term, session_id, replace=replace,
                           dark_ink=self.dark_ink(), host=host)

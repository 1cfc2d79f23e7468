"""The commands for jobs that are not Python functions: `observable run`,
`observable event` and `observable tail` (cli.py registers them here)."""

from __future__ import annotations

import argparse
from typing import Any, Callable, Dict

from . import _cli_event, _cli_run, _cli_tail
from ._cli_context import Context
from ._cli_http import DEFAULT_TIMEOUT


def _common(parser: argparse.ArgumentParser, suppress: bool = True, with_timeout: bool = True) -> None:
    # As cli.py's own options; `run` leaves --timeout to the command's timeout.
    parser.add_argument("--api-url", metavar="URL", default=argparse.SUPPRESS,
                        help="the server (default: $OBSERVABLE_CODE_API_URL, then the saved one)")
    if with_timeout:
        parser.add_argument("--timeout", metavar="SECONDS", type=float, default=argparse.SUPPRESS,
                            help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on failure, show the traceback")


def add_job_commands(sub: Any) -> None:
    _cli_run.add_parser(sub, _common)
    _cli_event.add_parser(sub, _common)
    _cli_tail.add_parser(sub, _common)


# `run` takes no Context: a bad API URL or a missing config must not stop the command.
RAW_HANDLERS: Dict[str, Callable[..., int]] = {"run": _cli_run.run_command}
HANDLERS: Dict[str, Callable[[Context], int]] = {"event": _cli_event.event_command,
                                                 "tail": _cli_tail.tail_command}

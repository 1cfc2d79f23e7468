"""The exit hand-off: the last moment of a process that has events to send.

The sender thread gets a short moment to deliver what is queued; what is
left is written to the spool, and a detached sender process
(`python -m observable._sender`) is started to deliver it once the API is
reachable. The process is never held longer than that.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List

from . import _config, _warn
from ._sender_thread import SenderThread

# The exit waits at most this long for delivery before spooling; with the
# spool write and the detached sender's start, exit stays within ~300 ms.
EXIT_WAIT = 0.15
SENDER_ENV = "OBSERVABLE_CODE_DETACHED_SENDER"

_children: List[Any] = []  # detached senders, kept so no ResourceWarning fires


def finish(sender: SenderThread) -> None:
    """Deliver, or spool and hand off, what this process still has."""
    if sender.pid != os.getpid():
        return
    try:
        leftovers = sender.shutdown(EXIT_WAIT)
        sender.report_drops()
        if leftovers:
            _spool_and_hand_off(sender, leftovers)
        elif sender.spool_left_behind():
            # The API works but this process leaves before it sent older
            # spooled events: hand them to a detached sender.
            _hand_off(sender)
    except Exception as e:
        _warn.warn_once("exit", f"could not finish sending at exit: {e}")


def _spool_and_hand_off(sender: SenderThread, events: List[str]) -> None:
    kept, lost = sender.spool.write(events)
    if lost:
        _warn.warn_once("spool-full", f"{lost} events could not be kept on disk and are lost")
    if not kept:
        return
    _warn.warn_once(
        "spooled",
        f"{kept} events could not be delivered before exit ({sender.last_problem() or 'API not reachable'}); "
        f"they are kept in {sender.spool.directory()} and will be sent when the API is reachable",
    )
    _hand_off(sender)


def _hand_off(sender: SenderThread) -> None:
    if os.environ.get(SENDER_ENV, "1").strip() != "0":
        _start_detached_sender(sender.api_url, sender.session_id)


def _start_detached_sender(api_url: str, session_id: str) -> None:
    exe = sys.executable
    if not exe or not os.access(exe, os.X_OK):
        return
    import subprocess  # only now: most programs never need it
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env[_config.SESSION_ENV] = session_id  # in the environment, never on the command line
    env[_config.API_URL_ENV] = api_url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    try:
        kwargs: Dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {}
        _children.append(subprocess.Popen(
            [exe, "-m", "observable._sender"], env=env, cwd=os.path.abspath(os.sep),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, **kwargs,
        ))
    except Exception:
        pass  # the next process that uses the SDK delivers the spool instead

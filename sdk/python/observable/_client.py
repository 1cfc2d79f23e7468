"""The process-wide client: settings, lifecycle, exit and fork handling.

The client is created at the first event (not at import: the environment
may change until then). Without credentials there is no client at all and
tracked code runs as if undecorated.

Exit: an atexit handler (and, in multiprocessing children, which leave
through os._exit, a multiprocessing Finalize) gives the sender thread a
short moment to deliver what is queued, then writes what is left to the
spool and starts a detached sender for it. Fork: the child forgets the
parent's queue (the parent sends those events) and gets its own client at
its first event.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, Dict, List, Optional

from . import _config, _spool, _track, _warn
from ._sender_thread import Sender

# The exit waits at most this long for delivery before spooling; with the
# spool write and the detached sender's start, exit stays within ~300 ms.
EXIT_WAIT = 0.15
SENDER_ENV = "OBSERVABLE_CODE_DETACHED_SENDER"

_client: Optional[Sender] = None
_settings: Optional[_config.Settings] = None  # kept across fork
_init_lock = threading.Lock()
_atexit_registered = False
_finalize_pid: Optional[int] = None
_children: List[Any] = []  # detached senders, kept so no ResourceWarning fires


def _settings_or_warn() -> Optional[_config.Settings]:
    settings = _config.resolve()
    if settings.config_error:
        suffix = "" if settings.session_id else (
            "; events are not sent. Run `observable setup` to write a new one, "
            f"or set {_config.SESSION_ENV}"
        )
        _warn.warn_once("config", f"ignoring the config file: {settings.config_error}{suffix}")
    elif not settings.session_id:
        _warn.warn_once(
            "no-credentials",
            f"no session id ({_config.SESSION_ENV} is not set and {_config.config_path()} "
            "has none), so events are not sent; run `observable setup` to pair your phone",
        )
    return settings if settings.session_id else None


def activate() -> Callable[[Any], None]:
    """Create the client on the first event; returns the push to use."""
    global _client, _settings
    with _init_lock:
        if _track._push is not _track._first_push:
            return _track._push
        try:
            if _settings is None:
                _settings = _settings_or_warn()
            client = None
            if _settings is not None and _settings.session_id:
                client = Sender(_settings.api_url, _settings.session_id)
                client.start()
        except Exception as e:
            _warn.warn_once("setup", f"events are not sent: {e}")
            client = None
        _client = client
        _track._push = client.push if client is not None else _track._discard
        if client is not None:
            _register_exit()
        return _track._push


def _register_exit() -> None:
    global _atexit_registered, _finalize_pid
    if not _atexit_registered:
        import atexit

        atexit.register(at_exit)
        _atexit_registered = True
    # multiprocessing clears its finalizers in each child it starts, and its
    # children skip atexit (os._exit): register in every process that has it.
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None and _finalize_pid != os.getpid():
        try:
            mp_util.Finalize(None, at_exit, exitpriority=100)
            _finalize_pid = os.getpid()
        except Exception:
            pass


def flush(timeout: float = 2.0) -> bool:
    """Wait until every event queued so far is delivered (or timeout)."""
    client = _client
    if client is None:
        return True
    try:
        return client.flush(timeout)
    except Exception:
        return False


def at_exit() -> None:
    client = _client
    if client is None or client.pid != os.getpid():
        return
    try:
        leftovers = client.shutdown(EXIT_WAIT)
        client.report_drops()
        if leftovers:
            _spool_and_hand_off(client, leftovers)
        elif client.spool_left_behind():
            # The API works but this process leaves before it sent older
            # spooled events: hand them to a detached sender.
            _hand_off(client)
    except Exception as e:
        _warn.warn_once("exit", f"could not finish sending at exit: {e}")


def _spool_and_hand_off(client: Sender, events: List[str]) -> None:
    kept, lost = client.spool.write(events)
    if lost:
        _warn.warn_once("spool-full", f"{lost} events could not be kept on disk and are lost")
    if not kept:
        return
    _warn.warn_once(
        "spooled",
        f"{kept} events could not be delivered before exit ({client.last_problem or 'API not reachable'}); "
        f"they are kept in {client.spool.directory()} and will be sent when the API is reachable",
    )
    _hand_off(client)


def _hand_off(client: Sender) -> None:
    if os.environ.get(SENDER_ENV, "1").strip() != "0":
        _start_detached_sender(client.api_url, client.session_id)


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


def _after_fork_in_child() -> None:
    """A forked child starts empty; the parent sends what it had queued."""
    global _client, _init_lock, _finalize_pid
    _init_lock = threading.Lock()
    _warn._lock = threading.Lock()
    old, _client = _client, None
    if old is not None:
        old.abandon_after_fork()
    if _track._push is not _track._discard:
        _track._push = _track._first_push


def reset_for_tests() -> None:
    """Forget the client and settings so the next event resolves again."""
    global _client, _settings
    with _init_lock:
        old, _client, _settings = _client, None, None
        if old is not None:
            old.stop()
        _track._push = _track._first_push
    _warn.reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

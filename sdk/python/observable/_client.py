"""The process-wide client: settings, lifecycle, exit and fork handling.

The client (a SenderThread) is created at the first event, or when the
first tracked call begins (not at import:
the environment may change until then). Without credentials there is no
client at all and tracked code runs as if undecorated.

Exit: an atexit handler (and, in multiprocessing children, which leave
through os._exit, a multiprocessing Finalize) runs the exit hand-off
(_exit). Fork: the child forgets the parent's queue (the parent sends those
events) and gets its own client at its first event.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Optional

from . import _config, _exit, _track, _warn
from ._sender_thread import SenderThread

_client: Optional[SenderThread] = None
_settings: Optional[_config.Settings] = None  # kept across fork
_init_lock = threading.Lock()
_atexit_registered = False
_finalize_pid: Optional[int] = None


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
            f"no session id ({_config.SESSION_ENV} and {_config.API_KEY_ENV} are not set "
            f"and {_config.config_path()} "
            "has none), so events are not sent; run `observable setup` to pair your phone",
        )
    return settings if settings.session_id else None


def activate() -> _track.Route:
    """Create the client on the first event; returns (and routes to) its queue."""
    global _client, _settings
    with _init_lock:
        current = _track.current_route()
        if current is not None:
            return current  # another thread's first event got here first
        try:
            if _settings is None:
                _settings = _settings_or_warn()
            client = None
            if _settings is not None and _settings.session_id:
                client = SenderThread(_settings.api_url, _settings.session_id)
                client.start()
        except Exception as e:
            _warn.warn_once("setup", f"events are not sent: {e}")
            client = None
        _client = client
        target: _track.Route = client.queue if client is not None else _track.discard
        _track.route(target)
        if client is not None:
            _register_exit()
        return target


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
    if client is not None:
        _exit.finish(client)


def _after_fork_in_child() -> None:
    """A forked child starts empty; the parent sends what it had queued."""
    global _client, _init_lock
    _init_lock = threading.Lock()
    old, _client = _client, None
    if old is not None:
        old.abandon_after_fork()
    if _track.current_route() is not _track.discard:
        _track.route(None)  # a client of its own at its first event


def reset_for_tests() -> None:
    """Forget the client and settings so the next event resolves again."""
    global _client, _settings
    with _init_lock:
        old, _client, _settings = _client, None, None
        if old is not None:
            old.stop()
        _track.route(None)
    _warn.reset()


_track.on_first_event(activate)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

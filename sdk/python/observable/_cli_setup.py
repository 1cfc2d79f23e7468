"""`observable setup`, `pair` and `show-key`: make a session, pair phones, show the key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from . import _config
from ._cli_context import Context
from ._cli_http import ApiError, cli_version
from ._cli_pairing import (
    EXIT_OK, EXIT_SERVER, Failure, describe_devices, device_name, explain,
    next_steps, require_pairing, send_first_event,
)

T = TypeVar("T")


def _home_relative(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def _call(ctx: Context, fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except ApiError as e:
        raise explain(e, ctx.api_url) from e


def _saved_file() -> Dict[str, Any]:
    try:
        return _config.read_config()
    except _config.ConfigError:
        return {}


# --- setup -------------------------------------------------------------------

def setup_command(ctx: Context) -> int:
    term, s = ctx.term, ctx.settings
    force = getattr(ctx.args, "force", False)
    if s.config_error:
        term.warn(s.config_error.rstrip(".") + ".", "Setup replaces it and keeps the old file "
                  "as config.json.bad.")
    if s.session_id and not force:
        saved_url = str(_saved_file().get("api_url") or _config.DEFAULT_API_URL).rstrip("/")
        if s.session_source == "env" or saved_url == ctx.api_url:
            done = _resume_existing(ctx, s.session_id)
            if done is not None:
                return done
        else:
            term.line(f"Your saved session belongs to {saved_url}; setting up a new one on "
                      f"{ctx.api_url}.")
    return _new_session(ctx)


def _resume_existing(ctx: Context, session_id: str) -> Optional[int]:
    """Handle a session that is already set up; None means: make a new one."""
    term = ctx.term
    try:
        status = ctx.client.session(session_id)
    except ApiError as e:
        if e.status == 401:
            term.line(f"The saved session is not known to {ctx.api_url} (was its database "
                      "reset?): setting up a new one.")
            return None
        raise explain(e, ctx.api_url) from e
    devices = status.get("devices") or []
    if status.get("paired") and devices:
        term.line(f"{term.sym('ok')} Already set up: this computer's session on {ctx.api_url} "
                  f"is paired with {describe_devices(devices)}.")
        term.line(f"  To pair another phone: {term.cmd('observable pair')}. "
                  f"To start over: {term.cmd('observable setup --force')}.")
        return EXIT_OK
    term.line(f"Resuming your saved session on {ctx.api_url}: no phone is paired yet.")
    ctx.saved_session = True
    pairing = _call(ctx, ctx.client.new_pairing, session_id, False)
    pairing = require_pairing(pairing, ctx.client.url("/api/v1/pairings"))
    _finish(ctx, session_id, pairing, known=[], first=True, command="observable setup")
    return EXIT_OK


def _new_session(ctx: Context) -> int:
    term = ctx.term
    term.line(f"Setting up Observable Code: pairing your phone with {term.q(ctx.host)}.")
    answer = _call(ctx, ctx.client.create_session, ctx.host[:255])
    url = ctx.client.url("/api/v1/sessions")
    session_id = answer.get("session_id") if isinstance(answer, dict) else None
    if not isinstance(session_id, str) or not session_id:
        raise Failure(f"The server's answer to POST {url} has no session_id.",
                      "Is it an Observable Code server (v1)? Check --api-url.", EXIT_SERVER)
    pairing = require_pairing(answer.get("pairing"), url)
    path, kept = _save(ctx, session_id)
    term.line(f"{term.sym('ok')} Created a session on {ctx.api_url}")
    term.line(f"{term.sym('ok')} Saved it to {_home_relative(path)}")
    if kept is not None:
        term.line(f"  (what the file held before is kept in {_home_relative(kept)})")
    if ctx.settings.session_source == "env":
        name = ctx.settings.session_env or _config.SESSION_ENV
        term.warn(f"{name} is set: your code keeps posting to that session, "
                  "not this one.", "Unset it to use the session saved here.")
    _finish(ctx, session_id, pairing, known=[], first=True, command="observable setup")
    return EXIT_OK


def _save(ctx: Context, session_id: str) -> Tuple[Path, Optional[Path]]:
    """Save the new session, keeping what the file held before beside it."""
    path = _config.config_path()
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = None
    except OSError as e:
        raise Failure(f"Cannot read {path}: {e.strerror or e}.",
                      "Check the permissions of ~/.observable-code.") from e
    try:
        if old is not None:
            try:
                _config.read_config(path)
                keep = path.with_name("config.json.previous")
            except _config.ConfigError:
                keep = path.with_name("config.json.bad")
            _config.write_private(keep, old)
        _config.write_config(session_id, ctx.api_url, path)
    except OSError as e:
        raise Failure(f"Cannot save the session to {path}: {e.strerror or e}.",
                      "Check that your home directory is writable, then run setup again.") from e
    ctx.saved_session = True
    return path, (keep if old is not None else None)


def _finish(ctx: Context, session_id: str, pairing: Optional[Dict[str, Any]],
            known: List[Dict[str, Any]],
            first: bool, command: str, replace: bool = False) -> None:
    """Pair, then say what happened and what to do next."""
    term = ctx.term
    flow = ctx.flow(session_id, replace=replace, host=ctx.host if first else None)
    device, status = flow.run(pairing, [str(d.get("id")) for d in known])
    term.line(f"{term.sym('ok')} Paired with {term.q(device_name(device))}.")
    if replace:
        now_ids = {d.get("id") for d in status.get("devices") or []}
        gone = [d for d in known if d.get("id") not in now_ids]
        still = [d for d in known if d.get("id") in now_ids]
        if gone:
            term.line(f"{term.sym('ok')} Unpaired {describe_devices(gone)}.")
        if still:
            term.warn(f"Still paired: {describe_devices(still)}.",
                      "Unpair them from the phone app's settings.")
    term.line()
    if first:
        next_steps(term)
    message = (f"{device_name(device)} is paired with {ctx.host}: you will be told here when "
               "your code finishes or fails.")
    send_first_event(ctx.client, term, session_id, command, message, cli_version(), ctx.host)
    if first:
        term.line(f"Check any time with {term.cmd('observable status')}.")


# --- pair --------------------------------------------------------------------

def pair_command(ctx: Context) -> int:
    term, s = ctx.term, ctx.settings
    replace = bool(getattr(ctx.args, "replace", False))
    if not s.session_id:
        if s.config_error:
            raise Failure(s.config_error.rstrip(".") + ".",
                          "Fix the file, or start over with `observable setup --force`.")
        term.line("No session is saved yet: setting one up first.")
        return _new_session(ctx)
    try:
        status = ctx.client.session(s.session_id)
    except ApiError as e:
        if e.status == 401:
            raise Failure(f"The saved session is not known to {ctx.api_url} (GET "
                          f"{e.url} answered 401).",
                          "Run `observable setup` to start a new session, or check --api-url."
                          ) from e
        raise explain(e, ctx.api_url) from e
    ctx.saved_session = True
    known = [d for d in status.get("devices") or [] if isinstance(d, dict)]
    if known and replace:
        term.line(f"Once the new phone has paired, {describe_devices(known)} will be unpaired.")
    elif known:
        term.line(f"Already paired: {describe_devices(known)}. The new phone will be added "
                  "(use --replace to keep only the new one).")
    pairing = _call(ctx, ctx.client.new_pairing, s.session_id, replace)
    pairing = require_pairing(pairing, ctx.client.url("/api/v1/pairings"))
    _finish(ctx, s.session_id, pairing, known, first=not known, command="observable pair",
            replace=replace)
    return EXIT_OK


# --- show-key ----------------------------------------------------------------

def show_key_command(ctx: Context) -> int:
    path = _config.config_path()
    try:
        data = _config.read_config(path)
    except _config.ConfigError as e:
        raise Failure(str(e).rstrip(".") + ".",
                      "Fix the file, or start over with `observable setup --force`.") from e
    session_id = data.get("session_id")
    env_name = ctx.settings.session_env or _config.SESSION_ENV
    env_id = os.environ.get(env_name, "").strip()
    if not isinstance(session_id, str) or not session_id.strip():
        next_step = "Run `observable setup` to create one."
        if env_id:
            next_step += f" ({env_name} is set in this shell: your code uses that.)"
        raise Failure(f"No session is saved in {_home_relative(path)}.", next_step)
    ctx.term.out.write(session_id.strip() + "\n")
    ctx.term.out.flush()
    if env_id and env_id != session_id.strip():
        ctx.term.warn(f"{env_name} is set in this shell to another key: your "
                      "code uses that one, not the key above.")
    return EXIT_OK

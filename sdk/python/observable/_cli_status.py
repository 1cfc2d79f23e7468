"""`observable status`: can this computer's events reach a phone right now?

It checks, in order, what each step depends on: the server answers, its
database is up, the session is known, a phone is paired. The first thing
missing decides the exit code and the advice.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any, Dict, List, Optional

from ._cli_context import Context
from ._cli_http import ApiError, parse_time
from ._cli_pairing import EXIT_NOT_READY, EXIT_OK, EXIT_SERVER, SERVER_HINT, device_name, explain
from ._cli_term import format_ago

LABEL = 9


def _mask(session_id: str) -> str:
    """Enough of the key to recognise it, too little to use it."""
    return session_id[:8] + "..." if len(session_id) > 12 else "..."


def _when(value: Any) -> Optional[datetime]:
    return parse_time(value)


def _ago(ctx: Context, when: Optional[datetime]) -> str:
    left = ctx.client.seconds_until(when)
    return format_ago(None if left is None else -left)


def _local(when: Optional[datetime]) -> str:
    if when is None:
        return ""
    local = when.astimezone()
    if abs(time.time() - when.timestamp()) < 86400:
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


def status_command(ctx: Context) -> int:
    report = _collect(ctx)
    if getattr(ctx.args, "json", False):
        ctx.term.out.write(json.dumps(report, indent=2) + "\n")
        ctx.term.out.flush()
    else:
        _render(ctx, report)
    return int(report["exit_code"])


def _collect(ctx: Context) -> Dict[str, Any]:
    s = ctx.settings
    report: Dict[str, Any] = {
        "api_url": ctx.api_url, "api_url_source": ctx.api_url_source, "reachable": False,
        "database": None, "server_error": None, "latency_ms": None, "session_source": s.session_source,
        "session_env": s.session_env,
        "session": None, "session_valid": None, "paired": False, "devices": [],
        "event_count": None, "last_event_at": None, "ok": False, "problem": None,
        "next_step": None, "exit_code": EXIT_NOT_READY,
    }

    def stop(problem: str, next_step: Optional[str], code: int) -> Dict[str, Any]:
        report.update(problem=problem, next_step=next_step, exit_code=code)
        return report

    started = time.monotonic()
    try:
        ctx.client.ready()
        report.update(reachable=True, database="up")
    except ApiError as e:
        if e.unreachable:
            f = explain(e, ctx.api_url)
            return stop(f.what, f.next_step or SERVER_HINT, EXIT_SERVER)
        f = explain(e, ctx.api_url)
        report.update(reachable=True, server_error=f"answered {e.status} {e.reason}")
        if e.status != 503:
            return stop(f.what, f.next_step, EXIT_SERVER)
        report["database"] = "down"
        return stop(f"The server answers, but its database does not ({e.method} {e.url} "
                    "answered 503).", f.next_step, EXIT_SERVER)
    report["latency_ms"] = int((time.monotonic() - started) * 1000)

    if s.config_error and not s.session_id:
        return stop(s.config_error.rstrip(".") + ".",
                    "Fix the file, or start over with `observable setup --force`.",
                    EXIT_NOT_READY)
    if not s.session_id:
        return stop("No session is set up on this computer.",
                    "Run `observable setup` to pair your phone.", EXIT_NOT_READY)
    report["session"] = _mask(s.session_id)
    try:
        status = ctx.client.session(s.session_id)
    except ApiError as e:
        if e.status == 401:
            report["session_valid"] = False
            return stop(f"The server does not know this session (GET {e.url} answered 401).",
                        "Run `observable setup` to start a new one, or check --api-url.",
                        EXIT_NOT_READY)
        f = explain(e, ctx.api_url)
        return stop(f.what, f.next_step, f.code)
    if not isinstance(status, dict):
        return stop(f"The server's answer to GET {ctx.client.url('/api/v1/session')} is not a "
                    "session.", "Is it an Observable Code server (v1)? Check --api-url.",
                    EXIT_SERVER)
    devices: List[Dict[str, Any]] = [d for d in status.get("devices") or []
                                     if isinstance(d, dict)]
    report.update(session_valid=True, devices=devices, paired=bool(status.get("paired")),
                  event_count=status.get("event_count"),
                  last_event_at=status.get("last_event_at"))
    if not report["paired"] or not devices:
        return stop("No phone is paired with this session yet.",
                    "Run `observable pair` and scan the code with your phone.", EXIT_NOT_READY)
    report.update(ok=True, exit_code=EXIT_OK)
    return report


def _render(ctx: Context, r: Dict[str, Any]) -> None:
    term = ctx.term
    ok, fail, dot = term.sym("ok"), term.sym("fail"), term.sym("dot")

    def row(label: str, text: str) -> None:
        term.line(f"{term.style(label.ljust(LABEL), 'bold')}{text}")

    source = {"flag": "from --api-url", "env": "from OBSERVABLE_CODE_API_URL",
              "file": "saved by setup", "default": "the default"}.get(r["api_url_source"], "")
    healthy = r["reachable"] and not r["server_error"]
    if healthy:
        row("Server", f"{r['api_url']} ({source}) {ok} answers in {r['latency_ms']} ms")
    elif r["database"] == "down":
        row("Server", f"{r['api_url']} ({source}) {fail} its database is down")
    elif r["reachable"]:
        row("Server", f"{r['api_url']} ({source}) {fail} {r['server_error']}")
    else:
        row("Server", f"{r['api_url']} ({source}) {fail} does not answer")
    if healthy:
        if r["session"] is None:
            row("Session", f"{fail} none")
        else:
            where = (r.get("session_env") or "OBSERVABLE_CODE_SESSION_ID") if r["session_source"] == "env" \
                else "~/.observable-code/config.json"
            mark = f"{ok} valid" if r["session_valid"] else f"{fail} unknown to this server"
            row("Session", f"{r['session']} from {where} {mark}")
    if r["session_valid"]:
        devices = r["devices"]
        if devices:
            row("Phones", f"{ok} {len(devices)} paired")
            width = max(len(device_name(d)) for d in devices)
            for d in devices:
                seen = _when(d.get("last_seen_at"))
                seen_text = f"last seen {_ago(ctx, seen)}" if seen else "not seen since pairing"
                push = "" if d.get("push") else f" {term.dash} push notifications not enabled"
                term.line(" " * LABEL + f"{dot} {device_name(d).ljust(width)}  {seen_text}{push}")
        else:
            row("Phones", f"{fail} none paired")
        count = r["event_count"] if isinstance(r["event_count"], int) else 0
        last = _when(r["last_event_at"])
        if count and last:
            row("Events", f"{count} received, the last {_ago(ctx, last)} ({_local(last)})")
        else:
            row("Events", f"{count} received")
    term.line()
    if r["ok"]:
        term.line(f"{ok} Ready: your code's events reach your phone.")
        if not any(d.get("push") for d in r["devices"]):
            term.warn("No paired phone has turned on notifications: events show in the app, "
                      "but nothing alerts you.", "Open the app on your phone and allow "
                      "notifications.")
    else:
        term.error(r["problem"], r["next_step"])

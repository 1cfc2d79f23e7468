"""What code declares about its job (contract v1.1 EXPECT): one home for
parsing durations and building the `expect` object, shared by track() and
`observable run`.

Checked when declared (track() runs at decoration, once, at import), with
the server's own rules (internal/expect), so a typo raises there instead of
being refused later, event by event, where nobody sees it.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional, Union

Duration = Union[int, float, str]

MIN_EVERY = 60.0
MAX_EVERY = 31 * 86400.0
MAX_GRACE = 31 * 86400.0
MAX_RUN = 366 * 86400.0
MAX_ALERT_AFTER = 1000

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_HOW = "give seconds (90) or a string with units (500ms, 90s, 15m, 2h30m, 1d)"
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (lowest, highest, names) per field, as robfig/cron's standard parser has them.
_FIELDS = ((0, 59, ()), (0, 23, ()), (1, 31, ()), (1, 12, _MONTHS), (0, 6, _DAYS))
_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ITEM_RE = re.compile(r"(\*|\?|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/(\d+))?\Z")
_CRON_HOW = ('write 5 fields "minute hour day-of-month month day-of-week" '
             '(e.g. "0 3 * * *", "15 * * * *", "0 9 * * 1-5") or @hourly, @daily, @weekly, @monthly')
_TZ_RE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*\Z")


def parse_duration(value: Any, what: str = "") -> float:
    """Seconds from 90, 1.5, "90", "90s", "1.5m", "2h30m", "500ms", "1d"; ValueError otherwise.

    `what` names the option in the error ("every" -> "every='1x' is not a duration")."""
    bad = f"{what}={value!r} is not a duration: {_HOW}" if what else f"{value!r} is not a duration: {_HOW}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(bad)
    if not isinstance(value, str):
        seconds = float(value)
    else:
        text = value.strip().lower().replace(" ", "")
        if not text:
            raise ValueError(f"{what or 'duration'}: a duration is needed: {_HOW}")
        seconds, pos = 0.0, 0
        while pos < len(text):
            m = _DURATION_RE.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(bad)
            seconds += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
    if not (seconds >= 0.0) or seconds == float("inf"):  # also NaN
        raise ValueError(bad)
    return seconds


def check_cron(expr: Any) -> str:
    """The expression, stripped, if it has the shape the server parses (robfig/cron's standard)."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError(f"schedule={expr!r}: {_CRON_HOW}")
    text = " ".join(expr.split())
    if text.startswith(("TZ=", "CRON_TZ=")):
        raise ValueError(f'schedule={expr!r}: give the time zone as tz="Europe/Berlin", not in the schedule')
    if text.startswith("@every"):
        raise ValueError(f"schedule={expr!r}: @every is a period: use every= instead")
    if text.startswith("@"):
        if text.lower() not in _DESCRIPTORS:
            raise ValueError(f"schedule={expr!r}: {_CRON_HOW}")
        return text
    fields = text.split(" ")
    if len(fields) != 5:
        raise ValueError(f"schedule={expr!r} has {len(fields)} fields: {_CRON_HOW}")
    values = [_cron_field(expr, field, i) for i, field in enumerate(fields)]
    days, months = values[2], values[3]
    dom_only = fields[4] in ("*", "?") and fields[2] not in ("*", "?")
    if dom_only and min(days) > max(_MONTH_DAYS[m - 1] for m in months):
        raise ValueError(f"schedule={expr!r} never comes (no such date); {_CRON_HOW}")
    return text


def _cron_field(expr: str, field: str, i: int) -> "set[int]":
    lo, hi, names = _FIELDS[i]
    out: "set[int]" = set()
    items = [item for item in field.lower().split(",") if item]  # robfig/cron skips empty ones
    if not items:
        raise ValueError(f"schedule={expr!r}: {field!r} is not a {_FIELD_NAMES[i]}; {_CRON_HOW}")
    for item in items:
        m = _ITEM_RE.match(item)
        if not m:
            raise ValueError(f"schedule={expr!r}: {item!r} is not a {_FIELD_NAMES[i]}; {_CRON_HOW}")
        step = 1 if m.group(4) is None else int(m.group(4))
        if m.group(2) is None:  # * or ?
            first, last = lo, hi
        else:
            first = _cron_value(expr, m.group(2), i)
            last = first if m.group(3) is None else _cron_value(expr, m.group(3), i)
            if m.group(4) is not None and m.group(3) is None:
                last = hi  # "5/15": from 5 to the end, as robfig/cron reads it
        if step < 1 or first > last:
            raise ValueError(f"schedule={expr!r}: {item!r} is not a {_FIELD_NAMES[i]} range; {_CRON_HOW}")
        out.update(range(first, last + 1, step))
    return out


def _cron_value(expr: str, word: str, i: int) -> int:
    lo, hi, names = _FIELDS[i]
    if word in names:
        return names.index(word) + lo
    if not word.isdigit() or not lo <= int(word) <= hi:
        raise ValueError(f"schedule={expr!r}: {word!r} is not a {_FIELD_NAMES[i]} ({lo} to {hi}); {_CRON_HOW}")
    return int(word)


def check_tz(tz: Any) -> str:
    """An IANA zone name that this machine knows, when it knows zones at all."""
    if not isinstance(tz, str) or not _TZ_RE.match(tz):
        raise ValueError(f'tz={tz!r} is not an IANA time zone name, e.g. "Europe/Berlin" or "UTC"')
    try:
        import zoneinfo  # 3.9+
    except ImportError:  # pragma: no cover - the SDK needs 3.9
        return tz
    try:
        zoneinfo.ZoneInfo(tz)
    except Exception:
        try:
            zoneinfo.ZoneInfo("America/New_York")
        except Exception:
            return tz  # no zone database here (no tzdata): the server checks it
        raise ValueError(f'tz={tz!r} is not a known time zone: use an IANA name, e.g. "Europe/Berlin" or "UTC"') \
            from None
    return tz


def _seconds(value: Optional[Duration], what: str, top: float, top_words: str) -> Optional[float]:
    if value is None:
        return None
    s = parse_duration(value, what)
    if s > top:
        raise ValueError(f"{what}={value!r} is too long: at most {top_words}")
    return s


def build_expect(every: Optional[Duration] = None, schedule: Optional[str] = None, tz: Optional[str] = None,
                 grace: Optional[Duration] = None, max_duration: Optional[Duration] = None,
                 min_duration: Optional[Duration] = None, alert_after: Optional[int] = None,
                 ) -> Optional[Dict[str, Any]]:
    """The EXPECT object for these options, None when none is given; ValueError when one is wrong."""
    expect: Dict[str, Any] = {}
    if every is not None and schedule is not None:
        raise ValueError("give either every= (a period) or schedule= (a cron schedule), not both")
    if every is not None:
        s = parse_duration(every, "every")
        if s < MIN_EVERY:
            raise ValueError(f"every={every!r} is too short: the shortest period is 1 minute (60 s)")
        if s > MAX_EVERY:
            raise ValueError(f'every={every!r} is too long: at most 31 days; for a monthly job use '
                             f'schedule="0 3 1 * *"')
        if tz is not None:
            raise ValueError("tz= applies to schedule= only: a period (every=) is the same in every zone")
        expect["every_s"] = _number(s)
    elif schedule is not None:
        expect["cron"] = check_cron(schedule)
        expect["tz"] = "UTC" if tz is None else check_tz(tz)
    elif tz is not None:
        raise ValueError('tz= needs schedule=, e.g. schedule="0 3 * * *", tz="Europe/Berlin"')
    g = _seconds(grace, "grace", MAX_GRACE, "31 days")
    hi = _seconds(max_duration, "max_duration", MAX_RUN, "366 days")
    lo = _seconds(min_duration, "min_duration", MAX_RUN, "366 days")
    if hi is not None and lo is not None and lo >= hi:
        raise ValueError(f"min_duration={min_duration!r} must be shorter than max_duration={max_duration!r}")
    if alert_after is not None:
        if isinstance(alert_after, bool) or not isinstance(alert_after, int) \
                or not 1 <= alert_after <= MAX_ALERT_AFTER:
            raise ValueError(f"alert_after={alert_after!r}: give a whole number of consecutive failed runs, "
                             f"1 to {MAX_ALERT_AFTER}")
    rest = (g, hi, lo, alert_after)
    if not expect and any(v is not None for v in rest):
        # The server checks runs against a schedule: without one it refuses the declaration.
        raise ValueError('grace=, max_duration=, min_duration= and alert_after= need every= or schedule= '
                         '(e.g. every="1d" or schedule="0 3 * * *")')
    if g is not None:
        expect["grace_s"] = _number(g)
    if hi is not None:
        expect["max_duration_ms"] = round(hi * 1000)
    if lo is not None:
        expect["min_duration_ms"] = round(lo * 1000)
    if alert_after is not None:
        expect["alert_after"] = alert_after
    return expect or None


def _number(seconds: float) -> Union[int, float]:
    return int(seconds) if seconds == int(seconds) else seconds

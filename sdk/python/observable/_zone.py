"""The host's IANA time zone name, sent in each event's ``source.tz``.

A cron line runs at the host's wall-clock time, so a job that runs "daily
at 03:00" in Europe/Berlin moves by an hour in UTC twice a year. The server
learns a job's rhythm in this zone (and in UTC), so that the change to or
from summer time raises no false "missed" alarm. Read once per process, on
the sender's side, never on the caller's thread.
"""

import os
import re
from typing import Optional

# IANA names: "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5",
# "UTC". POSIX TZ rules ("CET-1CEST,M3.5.0") and bare abbreviations are not.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)+|UTC")


def _name(value: str) -> Optional[str]:
    value = value.strip().lstrip(":")
    marker = "zoneinfo/"
    if marker in value:  # TZ=:/usr/share/zoneinfo/Europe/Berlin, or a link target
        value = value[value.rindex(marker) + len(marker):]
    if value.startswith("posix/") or value.startswith("right/"):
        value = value.split("/", 1)[1]
    return value if _NAME.fullmatch(value) else None


def local_zone() -> Optional[str]:
    """TZ if it names a zone, else where /etc/localtime points, else
    /etc/timezone (Debian); None when the host does not say."""
    tz = os.environ.get("TZ")
    if tz is not None:
        return _name(tz)  # set but not a zone name: the host's rule is unknown
    try:
        return _name(os.readlink("/etc/localtime"))
    except (OSError, ValueError):
        pass
    try:
        with open("/etc/timezone", encoding="utf-8") as f:
            return _name(f.read(100))
    except (OSError, ValueError):
        return None

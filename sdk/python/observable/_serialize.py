"""Turn any Python value into JSON the server accepts, without ever raising.

Metadata comes from user code, so anything can arrive here: objects whose
__repr__ raises, self-referencing containers, NaN, huge strings, dicts that
another thread mutates while we walk them. The rules:

- JSON types stay JSON (bool, int, float, str, None, dict with str keys, list).
- NaN and the infinities become the strings "NaN", "Infinity", "-Infinity"
  (valid JSON, and the same spelling JavaScript uses).
- tuples, sets and other iterables of known kinds become lists; datetimes
  become ISO 8601 strings; dataclasses become dicts; anything else becomes
  str(value), then repr(value), then a "<unrepresentable T>" marker.
- A container seen again on the path being walked becomes "<cycle>".
- Strings, containers and depth are bounded; what is cut says so.

The whole metadata object is then checked against the contract's 64 KiB
limit, measured exactly as it is sent (compact separators, ASCII escapes),
and shrunk step by step until it fits.
"""

from __future__ import annotations

import enum
import json
import math
import sys
from typing import Any, Dict, List, Optional, Set, Tuple

MAX_METADATA_BYTES = 65536
# Each step trades detail for size; the last one always fits.
_LIMITS: Tuple[Tuple[int, int, int], ...] = (
    # (characters per string, items per container, depth)
    (8192, 1000, 16),
    (1024, 200, 8),
    (256, 50, 6),
    (64, 20, 4),
)
CYCLE = "<cycle>"
TOO_DEEP = "<too deep>"


def dumps(value: Any) -> str:
    """Compact JSON, ASCII only, exactly as the SDK sends it."""
    out = json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    if "\\ud" in out:  # astral characters, or lone surrogates: rare, so checked only then
        return _without_lone_surrogates(value)
    return out


def _without_lone_surrogates(value: Any) -> str:
    """The JSON with every lone surrogate as U+FFFD. Python strings can hold them (file names and
    environment values decoded with surrogateescape, text from C extensions), and the server
    refuses an unpaired surrogate escape, which strict JSON readers reject: the event must
    arrive, with the character marked as replaced. A UTF-16 round trip joins true pairs and
    replaces the rest."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def truncate_text(text: str, limit: int) -> str:
    if "\x00" in text:
        # Neither database stores a NUL, so the server refuses one: the
        # event must arrive, with the character marked as replaced.
        text = text.replace("\x00", "\ufffd")
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return text[:limit] + f"...[{cut} more characters]"


def safe_str(value: Any, limit: int = 8192) -> str:
    """str(value), else repr(value), else a marker naming the type."""
    if type(value) is str:
        return truncate_text(value, limit)
    for convert in (str, repr):
        try:
            text = convert(value)
            if isinstance(text, str):
                return truncate_text(str.__str__(text), limit)
        except Exception:
            pass
    return f"<unrepresentable {_type_name(value)}>"


def _type_name(value: Any) -> str:
    try:
        return type(value).__qualname__
    except Exception:
        return "object"


class _Walker:
    def __init__(self, max_str: int, max_items: int, max_depth: int) -> None:
        self.max_str = max_str
        self.max_items = max_items
        self.max_depth = max_depth
        self.path: Set[int] = set()

    def convert(self, value: Any, depth: int) -> Any:
        t = type(value)
        if value is None or t is bool:
            return value
        if t is str:
            return truncate_text(value, self.max_str)
        if t is int:
            return self._int(value)
        if t is float:
            return self._float(value)
        if isinstance(value, enum.Enum):
            return self.convert(value.value, depth)
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return self._int(int(value))
        if isinstance(value, float):
            return self._float(float(value))
        if isinstance(value, str):
            return truncate_text(str.__str__(value), self.max_str)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return truncate_text(bytes(value).decode("utf-8", "backslashreplace"), self.max_str)
        dt = sys.modules.get("datetime")  # no datetime value exists unless it is loaded
        if dt is not None and isinstance(value, (dt.datetime, dt.date, dt.time)):
            return value.isoformat()
        if isinstance(value, (dict, list, tuple, set, frozenset)) or _is_dataclass(value):
            return self._container(value, depth)
        return safe_str(value, self.max_str)

    def _int(self, value: int) -> Any:
        # Beyond 2**63 JSON readers lose precision or refuse; and Python 3.11+
        # refuses to print ints of more than 4300 digits.
        if -(2**63) <= value < 2**63:
            return value
        return safe_str(value, self.max_str)

    @staticmethod
    def _float(value: float) -> Any:
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value

    def _container(self, value: Any, depth: int) -> Any:
        if depth >= self.max_depth:
            return TOO_DEEP
        ident = id(value)
        if ident in self.path:
            return CYCLE
        self.path.add(ident)
        try:
            if isinstance(value, dict):
                return self._dict(list(value.items()), depth)
            if _is_dataclass(value):
                fields = sys.modules["dataclasses"].fields(value)
                return self._dict([(f.name, getattr(value, f.name, None)) for f in fields], depth)
            return self._list(list(value), depth)
        finally:
            self.path.discard(ident)

    def _dict(self, items: List[Tuple[Any, Any]], depth: int) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for i, (key, val) in enumerate(items):
            if i >= self.max_items:
                out["..."] = f"{len(items) - i} more items"
                break
            name = key if type(key) is str else safe_str(key, 200)
            out[truncate_text(name, 200)] = self.convert(val, depth + 1)
        return out

    def _list(self, items: List[Any], depth: int) -> List[Any]:
        out = [self.convert(v, depth + 1) for v in items[: self.max_items]]
        if len(items) > self.max_items:
            out.append(f"...{len(items) - self.max_items} more items")
        return out


def _is_dataclass(value: Any) -> bool:
    # Without importing dataclasses (it imports inspect): an instance of a
    # dataclass exists only once dataclasses is loaded.
    dc = sys.modules.get("dataclasses")
    return dc is not None and not isinstance(value, type) and bool(dc.is_dataclass(value))


def to_json_value(value: Any, level: int = 0) -> Any:
    """A JSON-safe copy of value at one of the detail levels; never raises."""
    max_str, max_items, max_depth = _LIMITS[min(level, len(_LIMITS) - 1)]
    walker = _Walker(max_str, max_items, max_depth)
    # A dict mutated by another thread while we copy it raises RuntimeError;
    # trying again usually succeeds, and a marker is the last resort.
    for _ in range(3):
        try:
            return walker.convert(value, 0)
        except Exception:
            walker.path.clear()
    return f"<unreadable {_type_name(value)}>"


def metadata_json(meta: Optional[Dict[Any, Any]]) -> Optional[Dict[str, Any]]:
    """The metadata object to send, within the contract's 64 KiB, or None."""
    if not meta:
        return None
    size = 0
    for level in range(len(_LIMITS)):
        converted = to_json_value(meta, level)
        if not isinstance(converted, dict):
            converted = {"value": converted}
        try:
            size = len(dumps(converted))
        except Exception:
            continue
        if size <= MAX_METADATA_BYTES:
            return converted
    keys = [safe_str(k, 64) for k in list(meta)[:50]]
    return {"_truncated": f"metadata was {size} bytes serialized, over the 64 KiB limit", "_keys": keys}

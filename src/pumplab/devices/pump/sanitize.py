"""Untrusted values made safe to show, to compare and to record.

Everything that arrives off the air is a claim (see :mod:`pumplab.link.messages`):
a field may hold an integer with a thousand digits, a float that is NaN, a
string with a lone surrogate, a list nested three thousand deep, a dict whose
key is named ``secret_key``, or an object that is not data at all.  The pump
must still *record* such a message (a ``command`` record with its payload,
outcome and reason) and *answer* it with a NAK whose detail names the bad
value.  The history refuses what its canonical JSON cannot carry (integers
beyond ±(2^53 − 1), NaN, invalid Unicode, nesting deeper than 16, names that
look like key material: :mod:`pumplab.devices.history`), and Python itself
fails on some of these (``float(10**400)`` overflows, ``repr`` of an integer
with more than 4300 digits raises, deep recursion raises).  This module turns
any value into something that never fails:

* :func:`record_value` — a JSON value the history always accepts: numbers out
  of range and non-finite floats become text, strings are escaped and
  shortened, nesting is capped at :data:`MAX_DEPTH`, containers at
  :data:`MAX_ITEMS` items, dict keys that trip the history's key-material rule
  are renamed ``redacted_<n>`` and their values are *not recorded* (they may
  be key material), other objects become a short description (never their
  contents: bytes may be key material);
* :func:`show` — a short, safe text for a NAK detail or an error message
  (values under key-like names are not shown either);
* :func:`is_finite_number` — a bool-free int or float that is finite and
  within ±2^53 (checked before any float conversion).

It is pure: no state, no I/O.  It deliberately does not validate meaning
(ranges, grids): the pump's checks do that on the raw value; this only makes
the evidence of a bad value recordable.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Sequence
from itertools import islice
from typing import Final

from pumplab.devices.history import KEY_MATERIAL_NAME, JSONValue

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_TEXT",
    "SAFE_INT",
    "is_finite_number",
    "record_value",
    "safe_text",
    "show",
]

#: Largest integer magnitude recorded as a number (I-JSON safe integers, RFC 7493 §2.2).
SAFE_INT: Final = 2**53 - 1
#: Containers deeper than this are recorded as a marker (the history allows 16).
MAX_DEPTH: Final = 8
#: Items recorded per list or dict; the rest are counted, not recorded.
MAX_ITEMS: Final = 64
#: Characters recorded per string; longer strings are cut and their length noted.
MAX_TEXT: Final = 200


def is_finite_number(value: object) -> bool:
    """True for an int or float (not a bool) that is finite and within ±2^53."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -SAFE_INT <= value <= SAFE_INT
    return isinstance(value, float) and math.isfinite(value)


def safe_text(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, with anything not UTF-8-encodable escaped."""
    text = str.__str__(text)  # a plain str even for a subclass with odd methods
    if len(text) > limit:
        text = f"{text[:limit]}…({len(text)} chars)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _type_name(value: object) -> str:
    return safe_text(type(value).__name__, 40)


def _big_int(value: int) -> str:
    return f"<int of {value.bit_length()} bits>"


def record_value(value: object, depth: int = 0) -> JSONValue:
    """``value`` as a JSON value the history always accepts (see the module docstring).

    Never raises: a value that cannot even be read (a container whose iteration
    fails) is recorded as ``"<unreadable TYPE>"``."""
    try:
        return _record(value, depth)
    except Exception:
        return f"<unreadable {_type_name(value)}>"


def _record(value: object, depth: int) -> JSONValue:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value) if -SAFE_INT <= value <= SAFE_INT else _big_int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else repr(float(value))
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, enum.Enum):
        return record_value(value.value, depth)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{_type_name(value)} of {len(value)} bytes, not recorded>"
    if depth >= MAX_DEPTH and isinstance(value, list | tuple | dict):
        return f"<{_type_name(value)} nested deeper than {MAX_DEPTH} levels>"
    if isinstance(value, list | tuple):
        items = [record_value(v, depth + 1) for v in islice(value, MAX_ITEMS)]
        if len(value) > MAX_ITEMS:
            items.append(f"<{len(value) - MAX_ITEMS} more items>")
        return items
    if isinstance(value, dict):
        return _record_mapping(list(islice(value.items(), MAX_ITEMS)), len(value), depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if depth >= MAX_DEPTH:
            return f"<{_type_name(value)} nested deeper than {MAX_DEPTH} levels>"
        fields = [(f.name, getattr(value, f.name, None)) for f in dataclasses.fields(value)]
        return _record_mapping(fields[:MAX_ITEMS], len(fields), depth)
    return f"<{_type_name(value)}>"


def _record_mapping(items: Sequence[tuple[object, object]], total: int,
                    depth: int) -> dict[str, JSONValue]:
    out: dict[str, JSONValue] = {}
    for index, (key, item) in enumerate(items):
        name = safe_text(key, 64) if isinstance(key, str) else show(key, 64)
        recorded: JSONValue
        if KEY_MATERIAL_NAME.search(name):
            # The history refuses such names (records must never carry key
            # material); the value may be a key, so it is not recorded at all.
            recorded = f"<value not recorded: field name {name!r} looks like key material>"
            name = f"redacted_{index}"
        else:
            recorded = record_value(item, depth + 1)
        while name in out:
            name = f"{name}_{index}"
        out[name] = recorded
    if total > len(items):
        out[f"more_{len(items)}"] = f"<{total - len(items)} more fields>"
    return out


def show(value: object, limit: int = 60) -> str:
    """A short text for ``value`` that is always safe to print, send and record."""
    try:
        text = _show(value, 0)
    except Exception:
        text = f"<unreadable {_type_name(value)}>"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _show(value: object, depth: int) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value)) if -(10**18) < value < 10**18 else _big_int(value)
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, str):
        # repr escapes what is not printable, lone surrogates included.
        return repr(str.__str__(value)[:80])
    if isinstance(value, enum.Enum):
        return f"{_type_name(value)}.{safe_text(value.name, 40)}"
    if isinstance(value, list | tuple):
        if depth >= 2:
            return "[…]" if isinstance(value, list) else "(…)"
        parts = [_show(v, depth + 1) for v in islice(value, 6)]
        if len(value) > 6:
            parts.append("…")
        inner = ", ".join(parts)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        if depth >= 2:
            return "{…}"
        parts = [f"{_show(k, depth + 1)}: "
                 + ("<not shown>" if isinstance(k, str) and KEY_MATERIAL_NAME.search(k)
                    else _show(v, depth + 1))
                 for k, v in islice(value.items(), 4)]
        if len(value) > 4:
            parts.append("…")
        return "{" + ", ".join(parts) + "}"
    return f"<{_type_name(value)}>"

"""Shared Hypothesis strategies and helpers for the history tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from pumplab.devices.history import KEY_MATERIAL_NAME, HistoryStore

#: 2024-01-01T08:00:00Z: the fixed start of the pump's user clock in tests.
T0_CLOCK_MS = 1_704_096_000_000

_names = st.text(alphabet="abcdefghijlmnoqrtuvwxz_", min_size=1, max_size=12).filter(
    lambda name: not KEY_MATERIAL_NAME.search(name)
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    # Any Unicode except lone surrogates (which have no UTF-8 form).
    st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
)

#: JSON values the store accepts, nested a few levels.
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_names, inner, max_size=4)
    ),
    max_leaves=12,
)

#: A record payload: a JSON object with harmless key names.
payloads = st.dictionaries(_names, json_values, max_size=6)

kinds = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)

#: A sequence of (kind, data, device-time step ms, clock step ms).
record_specs = st.lists(
    st.tuples(
        kinds,
        payloads,
        st.integers(min_value=0, max_value=10_000_000),
        st.integers(min_value=-10_000_000, max_value=10_000_000),
    ),
    max_size=8,
)


def fill(store: HistoryStore, specs: list[tuple[str, dict[str, Any], int, int]]) -> None:
    """Append records built from ``record_specs`` (times accumulate the steps)."""
    device_ms, clock_ms = 0, T0_CLOCK_MS
    for kind, data, device_step, clock_step in specs:
        device_ms += device_step
        clock_ms += clock_step
        store.append(kind, data, device_time_ms=device_ms, clock_ms=clock_ms)


def strokes(store: HistoryStore, count: int, start_ms: int = 0) -> None:
    """Append ``count`` basal stroke records, one a minute."""
    for i in range(count):
        store.append(
            "stroke",
            {"what": "basal", "bolus_id": None, "amount_u": 0.025, "bolus_delivered_u": None},
            device_time_ms=start_ms + i * 60_000,
            clock_ms=T0_CLOCK_MS + start_ms + i * 60_000,
        )


Appender = Callable[..., Any]

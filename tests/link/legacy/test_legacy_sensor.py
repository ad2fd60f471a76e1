"""pumplab's CGM readings on sensor frames (the stated assumption)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumplab.link.legacy.frames import PacketType, decode_air, to_air
from pumplab.link.legacy.sensor import (
    SENSOR_FLAG_LOW,
    sensor_frame,
    sensor_values,
    unwrap_sequence,
)

TX = bytes.fromhex("25c123")


def test_reading_and_backfill_travel_in_one_frame() -> None:
    """Current value, then earlier ones newest first, in 0.1 mg/dL; seq sent modulo 16."""
    frame = sensor_frame(TX, 37, 123.44, previous_mg_dl=(120.0, None, 118.5))
    values = sensor_values(decode_air(to_air(frame)))  # type: ignore[arg-type]
    assert values.sequence == 37 % 16 and values.repeat == 0
    assert values.glucose_mg_dl == (123.4, 120.0, None, 118.5, None, None, None, None)
    assert not values.warming_up


def test_flags_and_warm_up() -> None:
    """LOW travels in byte 6; warm-up is the AA packet type."""
    frame = sensor_frame(TX, 1, None, flag=SENSOR_FLAG_LOW, state=PacketType.SENSOR_WARMUP)
    values = sensor_values(frame)
    assert values.flag == SENSOR_FLAG_LOW and values.warming_up
    assert values.glucose_mg_dl[0] is None


@pytest.mark.parametrize("bad", [float("nan"), -1.0, 0.0, 7000.0])
def test_impossible_glucose_is_refused(bad: float) -> None:
    """The encoder does not clamp: ValueError."""
    with pytest.raises(ValueError):
        sensor_frame(TX, 1, bad)


@given(st.integers(0, 10**6), st.integers(1, 15))
def test_sequence_unwraps_across_gaps_shorter_than_16(last: int, gap: int) -> None:
    """The full reading number comes back from its low 4 bits after a gap of 1..15."""
    assert unwrap_sequence(last, (last + gap) % 16) == last + gap

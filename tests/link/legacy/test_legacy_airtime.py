"""Airtime of frames at 16,384 baud with subg_rfspy's preamble and sync, and burst lengths."""

from __future__ import annotations

import pytest

from pumplab.link.legacy.airtime import (
    MMEOWLINK_BURST,
    RILEYLINK_BURST,
    airtime_ms,
    packet_airtime_ms,
)
from pumplab.link.legacy.coding import air_length


def test_short_frame_airtime_is_15_6_ms() -> None:
    """7-byte packet: 12 bytes on air + 16 preamble + 4 sync = 32 bytes = 15.625 ms."""
    assert packet_airtime_ms(7) == pytest.approx(15.625)
    assert airtime_ms(air_length(7)) == 15.625


def test_long_frame_airtime_is_62_5_ms() -> None:
    """71-byte packet: 108 bytes on air + 20 = 128 bytes = 62.5 ms."""
    assert packet_airtime_ms(71) == 62.5


def test_bursts_last_as_the_published_drivers_send_them() -> None:
    """MinimedKit's 256 copies take about 4.6 s; mmeowlink's 500 take about 12 s."""
    short_air = air_length(7)
    assert 4_500 <= RILEYLINK_BURST.duration_ms(short_air) <= 4_700
    assert 11_900 <= MMEOWLINK_BURST.duration_ms(short_air) <= 12_100
    # Copies never overlap: the interval is longer than one frame's airtime.
    assert RILEYLINK_BURST.interval_ms > airtime_ms(short_air)


def test_negative_lengths_are_refused() -> None:
    """A negative length is a programming error."""
    with pytest.raises(ValueError):
        airtime_ms(-1)

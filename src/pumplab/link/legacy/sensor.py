"""pumplab's CGM readings on the sensor frame (A8/AA/AB): a stated assumption.

A real Paradigm-era sensor transmitter sends **raw ISIG**, one-way, and the
pump calibrates it against fingersticks; the frame carries a 4-bit sequence
number, a 4-bit repeat counter and the previous values (minimed_rf
``messages/sensor.rb``; beached/NightWatcher ``packet_types.h``).  The exact
meaning of most bytes and the pump's calibration are not published.

pumplab does **not** model ISIG and calibration.  Its CGM already produces
calibrated glucose (:mod:`pumplab.physiology.sensor`), so on this wire
(docs/legacy-protocol.md, "Sensor frames: an assumption"):

- the eight 16-bit value slots of :class:`~pumplab.link.legacy.frames.
  SensorFrame` carry **calibrated glucose in 0.1 mg/dL** (0 = no reading):
  slot 0 the reading being sent, slots 1-7 the seven before it, newest first;
  that is all the **backfill** the legacy wire has (35 minutes at one reading
  per 5 minutes);
- the sequence nibble is the reading's ``seq`` modulo 16; the repeat nibble
  counts copies of the same reading (the transmitter sends each reading more
  than once because nobody acknowledges it);
- byte 6 (``flags``) carries pumplab's screen flag: 0 ok, 1 LOW, 2 HIGH;
- the packet type is the sensor state: AB normal, AA warm-up, A8 test;
- there are **no acknowledgements** on this wire; a pumplab transmitter on the
  legacy radio cannot learn what the pump received.

The other bytes keep the values of the published capture (byte 1 = 0x0F,
version 0x0D, ISIG adjust 0, tail zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from pumplab.link.legacy.frames import PacketType, SensorFrame

__all__ = [
    "SENSOR_FLAG_HIGH",
    "SENSOR_FLAG_LOW",
    "SENSOR_FLAG_OK",
    "SENSOR_HISTORY_SLOTS",
    "SensorValues",
    "sensor_frame",
    "sensor_values",
    "unwrap_sequence",
]

SENSOR_FLAG_OK: Final = 0
SENSOR_FLAG_LOW: Final = 1
SENSOR_FLAG_HIGH: Final = 2
#: Value slots in a frame: the current reading and seven earlier ones.
SENSOR_HISTORY_SLOTS: Final = 8
_MAX_TENTHS: Final = 0xFFFF


def _tenths(glucose_mg_dl: float | None) -> int:
    if glucose_mg_dl is None:
        return 0
    if not (isinstance(glucose_mg_dl, int | float) and math.isfinite(glucose_mg_dl)
            and 0.05 <= glucose_mg_dl <= _MAX_TENTHS / 10):
        raise ValueError(f"glucose must be None or 0.05..6553.5 mg/dL, got {glucose_mg_dl!r}")
    return round(glucose_mg_dl * 10)


def sensor_frame(device_id: bytes, seq: int, glucose_mg_dl: float | None, *,
                 flag: int = SENSOR_FLAG_OK, previous_mg_dl: tuple[float | None, ...] = (),
                 repeat: int = 0, state: PacketType = PacketType.SENSOR) -> SensorFrame:
    """The frame of reading ``seq`` (any int; sent modulo 16) and up to 7 earlier values.

    ``previous_mg_dl`` is newest first; values are rounded to 0.1 mg/dL.
    """
    if len(previous_mg_dl) > SENSOR_HISTORY_SLOTS - 1:
        raise ValueError(f"at most {SENSOR_HISTORY_SLOTS - 1} previous values fit")
    if flag not in (SENSOR_FLAG_OK, SENSOR_FLAG_LOW, SENSOR_FLAG_HIGH):
        raise ValueError(f"flag must be 0 (ok), 1 (LOW) or 2 (HIGH), got {flag!r}")
    values = [_tenths(glucose_mg_dl)] + [_tenths(v) for v in previous_mg_dl]
    values += [0] * (SENSOR_HISTORY_SLOTS - len(values))
    return SensorFrame(state, device_id, seq % 16, repeat, tuple(values), flags=flag)


@dataclass(frozen=True, slots=True)
class SensorValues:
    """What a pumplab pump reads from a sensor frame."""

    sequence: int  # 0..15
    repeat: int
    flag: int  # as sent; 0 ok, 1 LOW, 2 HIGH in pumplab's reading
    glucose_mg_dl: tuple[float | None, ...]  # slot 0 current, then newest first
    warming_up: bool


def sensor_values(frame: SensorFrame) -> SensorValues:
    """pumplab's reading of a sensor frame (any frame decodes; unknown flags are kept)."""
    return SensorValues(
        sequence=frame.sequence,
        repeat=frame.repeat,
        flag=frame.flags,
        glucose_mg_dl=tuple(None if v == 0 else v / 10 for v in frame.values),
        warming_up=frame.packet_type is PacketType.SENSOR_WARMUP,
    )


def unwrap_sequence(last_seq: int, sequence: int) -> int:
    """The full reading number after ``last_seq`` whose low 4 bits are ``sequence``.

    The nearest such number above ``last_seq``: a gap of 16 or more readings
    (80 minutes) cannot be told apart from a shorter one, a limit of the wire.
    """
    if not 0 <= sequence <= 15:
        raise ValueError(f"sequence must be in 0..15, got {sequence!r}")
    step = (sequence - last_seq - 1) % 16
    return last_seq + 1 + step

"""History pages of a Paradigm x23: 1,024-byte pages of binary records, CRC-16 at the end.

A pump keeps its history as pages; page 0 is the newest.  A page is 1,022
bytes of records, oldest first, then zero bytes, then the CRC-16 CCITT-FALSE
of those 1,022 bytes, big-endian (minimed_rf ``history_page.rb`` ``crc_ok?``;
MinimedKit ``HistoryPage.swift``).  It travels as 16 data frames of 64 bytes
(:class:`~pumplab.link.legacy.messages.DataFrameBody`).

**Records.**  A record starts with its opcode; most are ``[opcode][1 argument
byte][5-byte timestamp]`` (7 bytes), some longer.  The typed records here are
the ones the pump writes for pumplab's events (bolus, temp basal, suspend and
resume, settings changes, alarms, meter BG), in the x23 ("larger") layout of
decocare ``decocare/history.py`` and ``records/*``, minimed_rf
``lib/minimed_rf/log_entries/*`` and MinimedKit ``PumpEvents/*``.  Every other
record type of those tables is read as an :class:`OpaqueRecord` of its known
length, so real published pages walk end to end.  Zero bytes between records
are skipped (MinimedKit: "slurp up 0's"); an opcode outside the table is a
:class:`~pumplab.errors.DecodeError`, as in MinimedKit.

**Timestamp** (5 bytes, minimed_rf ``Base#parse_date``, decocare
``records/times.py``)::

    b0  MMssssss   second (0-59); month bits 3-2
    b1  MMmmmmmm   minute (0-59); month bits 1-0
    b2  xxxhhhhh   hour (0-23)
    b3  xRxddddd   day (1-31); R: "remotely triggered" (MinimedKit
                   ``BolusNormalPumpEvent.wasRemotelyTriggered``)
    b4  xyyyyyyy   year - 2000

The ``x`` bits have no published meaning (BGReceived uses b2's for BG bits);
records keep them as ``spare_bits`` (b2 bits 5-7 → 0-2, b3 bit 5 → 3, b3 bit 7
→ 4, b4 bit 7 → 5) so a record decodes and encodes back to its bytes.

Amounts are in strokes of 1/40 U (x23), as on the wire.  This module encodes
and decodes; which records a pump writes for which event is the pump's
business (docs/legacy-protocol.md, "History records").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, Final

from pumplab.errors import DecodeError
from pumplab.link.legacy.crc import crc16
from pumplab.link.legacy.messages import DataFrameBody
from pumplab.link.legacy.pumptime import PumpTime

__all__ = [
    "HISTORY_DATA_BYTES",
    "HISTORY_PAGE_BYTES",
    "HISTORY_PAGE_FRAMES",
    "X23_RECORD_LENGTHS",
    "BgReceivedRecord",
    "BolusRecord",
    "ChangeEasyBolusRecord",
    "ChangeMaxBasalRecord",
    "ChangeMaxBolusRecord",
    "ChangeTempBasalTypeRecord",
    "ChangeTimeRecord",
    "ClearAlarmRecord",
    "EnableRemoteRecord",
    "HistoryRecord",
    "NewTimeRecord",
    "OpaqueRecord",
    "PumpAlarmRecord",
    "PumpAlarmType",
    "ResumeRecord",
    "SuspendRecord",
    "TempBasalDurationRecord",
    "TempBasalRecord",
    "decode_history_page",
    "decode_record",
    "decode_timestamp",
    "encode_history_page",
    "encode_record",
    "encode_timestamp",
    "history_page_frames",
    "history_page_from_frames",
]

HISTORY_PAGE_BYTES: Final = 1024
HISTORY_DATA_BYTES: Final = 1022
HISTORY_PAGE_FRAMES: Final = 16

#: Record lengths on an x23 (523/723), by opcode: minimed_rf ``log_entries/*``
#: ``bytesize`` for a "larger" model without low suspend, which decocare and
#: MinimedKit agree with for these types.  0x5C (unabsorbed insulin) is
#: variable: its second byte is its length (minimum 2).
X23_RECORD_LENGTHS: Final[dict[int, int]] = {
    0x01: 13, 0x03: 10, 0x06: 9, 0x07: 10, 0x08: 152, 0x09: 152, 0x0A: 7, 0x0B: 8,
    0x0C: 7, 0x14: 7, 0x16: 7, 0x17: 7, 0x18: 7, 0x19: 7, 0x1A: 7, 0x1B: 7, 0x1E: 7,
    0x1F: 7, 0x20: 7, 0x21: 7, 0x22: 7, 0x23: 7, 0x24: 7, 0x26: 21, 0x2C: 7, 0x2D: 7,
    0x31: 7, 0x32: 14, 0x33: 8, 0x34: 7, 0x35: 7, 0x36: 21, 0x3B: 7, 0x3C: 21, 0x3F: 10,
    0x40: 9, 0x41: 8, 0x4F: 39, 0x50: 37, 0x51: 7, 0x52: 7, 0x53: 8, 0x54: 64, 0x55: 55,
    0x56: 12, 0x57: 7, 0x5A: 144, 0x5B: 22, 0x5D: 7, 0x5E: 7, 0x5F: 7, 0x60: 7, 0x61: 7,
    0x62: 7, 0x63: 7, 0x64: 7, 0x65: 7, 0x66: 7, 0x67: 9, 0x68: 9, 0x69: 9, 0x6A: 14,
    0x6C: 38, 0x6D: 44, 0x6E: 52, 0x6F: 7, 0x7B: 10, 0x7C: 7, 0x7D: 37, 0x81: 12, 0x82: 12,
    0x83: 7,
}
_UNABSORBED_INSULIN: Final = 0x5C


class PumpAlarmType(enum.IntEnum):
    """Alarm codes of the AlarmPump record (MinimedKit ``PumpAlarmPumpEvent.swift``)."""

    BATTERY_OUT_LIMIT = 3
    NO_DELIVERY = 4
    BATTERY_DEPLETED = 5
    AUTO_OFF = 6
    DEVICE_RESET = 16
    REPROGRAM_ERROR = 61
    EMPTY_RESERVOIR = 62


# ---------------------------------------------------------------------------
# Timestamps.


def encode_timestamp(time: PumpTime, *, via_radio: bool = False, spare_bits: int = 0) -> bytes:
    """The 5-byte history timestamp of ``time`` (years 2000..2127)."""
    if not 2000 <= time.year <= 2127:
        raise ValueError(f"history timestamps hold years 2000..2127, got {time.year}")
    if not 0 <= spare_bits <= 0x3F:
        raise ValueError(f"spare_bits must be in 0..63, got {spare_bits}")
    month = time.month
    return bytes([
        time.second | ((month >> 2) & 3) << 6,
        time.minute | (month & 3) << 6,
        time.hour | (spare_bits & 7) << 5,
        time.day | (0x40 if via_radio else 0) | ((spare_bits >> 3) & 1) << 5
        | ((spare_bits >> 4) & 1) << 7,
        (time.year - 2000) | ((spare_bits >> 5) & 1) << 7,
    ])


def decode_timestamp(raw: bytes) -> tuple[PumpTime, bool, int]:
    """``(time, via_radio, spare_bits)`` of a 5-byte timestamp; DecodeError if impossible."""
    if len(raw) != 5:
        raise DecodeError(f"a history timestamp is 5 bytes, got {len(raw)}")
    b0, b1, b2, b3, b4 = raw
    month = ((b0 >> 6) << 2) | (b1 >> 6)
    time = PumpTime.checked(2000 + (b4 & 0x7F), month, b3 & 0x1F, b2 & 0x1F, b1 & 0x3F,
                            b0 & 0x3F)
    spare = (b2 >> 5) | ((b3 >> 5) & 1) << 3 | (b3 >> 7) << 4 | (b4 >> 7) << 5
    return time, bool(b3 & 0x40), spare


def _check_int(name: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in {lo}..{hi}, got {value!r}")


def _check_stamp(rec: _Stamped) -> None:
    if not isinstance(rec.time, PumpTime):
        raise ValueError("time must be a PumpTime")
    if not isinstance(rec.via_radio, bool):
        raise ValueError("via_radio must be a bool")
    _check_int("spare_bits", rec.spare_bits, 0, 0x3F)


class _Stamped:
    """Mixin: the timestamp fields every typed record has (declared by each dataclass)."""

    __slots__ = ()
    time: PumpTime
    via_radio: bool
    spare_bits: int

    def _stamp(self) -> bytes:
        return encode_timestamp(self.time, via_radio=self.via_radio, spare_bits=self.spare_bits)


def _raw(record_bytes: bytes, opcode: int, length: int, name: str) -> bytes:
    if len(record_bytes) != length or record_bytes[0] != opcode:
        raise DecodeError(f"{name}: expected {length} bytes starting 0x{opcode:02x}")
    return record_bytes


# ---------------------------------------------------------------------------
# Typed records.


@dataclass(frozen=True, slots=True)
class BolusRecord(_Stamped):
    """0x01 BolusNormal, x23: ``01 <programmed> <delivered> <unabsorbed> <duration> <ts>``.

    Amounts are 2-byte big-endian strokes (1/40 U); ``duration_segments`` is in
    30-minute steps, 0 for a normal bolus (minimed_rf ``bolus_normal.rb``,
    ``larger`` branch; MinimedKit ``BolusNormalPumpEvent``).
    """

    opcode: ClassVar[int] = 0x01
    length: ClassVar[int] = 13
    time: PumpTime
    programmed_strokes: int
    delivered_strokes: int
    unabsorbed_strokes: int = 0
    duration_segments: int = 0
    via_radio: bool = False
    spare_bits: int = 0

    def __post_init__(self) -> None:
        _check_stamp(self)
        for name in ("programmed_strokes", "delivered_strokes", "unabsorbed_strokes"):
            _check_int(name, getattr(self, name), 0, 0xFFFF)
        _check_int("duration_segments", self.duration_segments, 0, 0xFF)

    @property
    def programmed_u(self) -> float:
        return self.programmed_strokes / 40

    @property
    def delivered_u(self) -> float:
        return self.delivered_strokes / 40

    def encode(self) -> bytes:
        return (bytes([self.opcode]) + self.programmed_strokes.to_bytes(2, "big")
                + self.delivered_strokes.to_bytes(2, "big")
                + self.unabsorbed_strokes.to_bytes(2, "big")
                + bytes([self.duration_segments]) + self._stamp())

    @classmethod
    def decode(cls, raw: bytes) -> BolusRecord:
        r = _raw(raw, cls.opcode, cls.length, "bolus record")
        time, radio, spare = decode_timestamp(r[8:13])
        return cls(time, int.from_bytes(r[1:3], "big"), int.from_bytes(r[3:5], "big"),
                   int.from_bytes(r[5:7], "big"), r[7], radio, spare)


@dataclass(frozen=True, slots=True)
class TempBasalRecord(_Stamped):
    """0x33 TempBasal: ``33 <value low byte> <ts> <body>`` (8 bytes).

    Body bit 3 set: percent, ``value`` = byte 1; clear: absolute, ``value`` =
    ``((body & 7) << 8) | byte 1`` strokes (1/40 U/h) (decocare ``TempBasal``;
    minimed_rf ``temp_basal.rb``).  Body bits 4-7 must be zero.
    """

    opcode: ClassVar[int] = 0x33
    length: ClassVar[int] = 8
    time: PumpTime
    percent: bool
    value: int
    via_radio: bool = False
    spare_bits: int = 0

    def __post_init__(self) -> None:
        _check_stamp(self)
        if not isinstance(self.percent, bool):
            raise ValueError("percent must be a bool")
        _check_int("value", self.value, 0, 0xFF if self.percent else 0x7FF)

    @property
    def rate_u_per_h(self) -> float | None:
        """The absolute rate, or None for a percent temp basal."""
        return None if self.percent else self.value / 40

    def encode(self) -> bytes:
        body = 0x08 if self.percent else self.value >> 8
        return bytes([self.opcode, self.value & 0xFF]) + self._stamp() + bytes([body])

    @classmethod
    def decode(cls, raw: bytes) -> TempBasalRecord:
        r = _raw(raw, cls.opcode, cls.length, "temp basal record")
        time, radio, spare = decode_timestamp(r[2:7])
        body = r[7]
        if body & 0xF0 or (body & 0x08 and body & 0x07):
            raise DecodeError(f"temp basal record: unknown type byte 0x{body:02x}")
        if body & 0x08:
            return cls(time, True, r[1], radio, spare)
        return cls(time, False, ((body & 7) << 8) | r[1], radio, spare)


@dataclass(frozen=True, slots=True)
class _SevenByte(_Stamped):
    """Shape of the 7-byte records ``[opcode][argument][ts]``."""

    time: PumpTime
    arg: int = 0
    via_radio: bool = False
    spare_bits: int = 0

    opcode: ClassVar[int] = 0
    length: ClassVar[int] = 7

    def __post_init__(self) -> None:
        _check_stamp(self)
        _check_int("arg", self.arg, 0, 0xFF)

    def encode(self) -> bytes:
        return bytes([self.opcode, self.arg]) + self._stamp()

    @classmethod
    def _parts(cls, raw: bytes) -> tuple[PumpTime, int, bool, int]:
        r = _raw(raw, cls.opcode, cls.length, f"record 0x{cls.opcode:02x}")
        time, radio, spare = decode_timestamp(r[2:7])
        return time, r[1], radio, spare


@dataclass(frozen=True, slots=True)
class TempBasalDurationRecord(_SevenByte):
    """0x16 TempBasalDuration: ``arg`` = 30-minute segments (decocare, minimed_rf)."""

    opcode: ClassVar[int] = 0x16

    @property
    def duration_min(self) -> int:
        return 30 * self.arg

    @classmethod
    def decode(cls, raw: bytes) -> TempBasalDurationRecord:
        return cls(*cls._parts(raw))


@dataclass(frozen=True, slots=True)
class SuspendRecord(_SevenByte):
    """0x1E Suspend (minimed_rf ``suspend.rb``: ``1e01 603612030e``); ``arg`` unpublished."""

    opcode: ClassVar[int] = 0x1E

    @classmethod
    def decode(cls, raw: bytes) -> SuspendRecord:
        return cls(*cls._parts(raw))


@dataclass(frozen=True, slots=True)
class ResumeRecord(_SevenByte):
    """0x1F Resume (minimed_rf ``resume.rb``: ``1F20 763612030E``); ``arg`` unpublished."""

    opcode: ClassVar[int] = 0x1F

    @classmethod
    def decode(cls, raw: bytes) -> ResumeRecord:
        return cls(*cls._parts(raw))


@dataclass(frozen=True, slots=True)
class ChangeMaxBolusRecord(_SevenByte):
    """0x24 ChangeMaxBolus; ``arg`` = the new max bolus ×10 (pumplab's reading; unpublished)."""

    opcode: ClassVar[int] = 0x24

    @property
    def max_bolus_u(self) -> float:
        return self.arg / 10

    @classmethod
    def decode(cls, raw: bytes) -> ChangeMaxBolusRecord:
        return cls(*cls._parts(raw))


@dataclass(frozen=True, slots=True)
class ChangeMaxBasalRecord(_SevenByte):
    """0x2C ChangeMaxBasal; ``arg`` = the new max basal ×40, so at most 6.375 U/h.

    decocare ``ChangeMaxBasal`` and minimed_rf ``change_max_basal.rb`` read
    ``byte 1 / 40``; how the pump records a larger value is not published.
    """

    opcode: ClassVar[int] = 0x2C

    @property
    def max_basal_u_per_h(self) -> float:
        return self.arg / 40

    @classmethod
    def decode(cls, raw: bytes) -> ChangeMaxBasalRecord:
        return cls(*cls._parts(raw))


@dataclass(frozen=True, slots=True)
class ChangeTempBasalTypeRecord(_SevenByte):
    """0x62 ChangeTempBasalType: ``arg`` 1 percent, 0 absolute (decocare, minimed_rf)."""

    opcode: ClassVar[int] = 0x62

    def __post_init__(self) -> None:
        _SevenByte.__post_init__(self)
        if self.arg not in (0, 1):
            raise ValueError("arg is 0 (absolute) or 1 (percent)")

    @property
    def percent(self) -> bool:
        return self.arg == 1

    @classmethod
    def decode(cls, raw: bytes) -> ChangeTempBasalTypeRecord:
        time, arg, radio, spare = cls._parts(raw)
        if arg not in (0, 1):
            raise DecodeError(f"temp basal type record: type {arg}")
        return cls(time, arg, radio, spare)


@dataclass(frozen=True, slots=True)
class ChangeEasyBolusRecord(_SevenByte):
    """0x5F ChangeAudioBolus (easy bolus): bit 0 enabled, bits 1-7 step in 0.05 U.

    (minimed_rf ``change_audio_bolus.rb``: ``5F05`` enabled with a 0.1 U step.)
    """

    opcode: ClassVar[int] = 0x5F

    @property
    def enabled(self) -> bool:
        return bool(self.arg & 1)

    @property
    def step_u(self) -> float:
        return (self.arg >> 1) / 20

    @classmethod
    def decode(cls, raw: bytes) -> ChangeEasyBolusRecord:
        return cls(*cls._parts(raw))


@dataclass(frozen=True, slots=True)
class ChangeTimeRecord(_SevenByte):
    """0x17 ChangeTime: written at the old time when the clock is set (minimed_rf)."""

    opcode: ClassVar[int] = 0x17

    @classmethod
    def decode(cls, raw: bytes) -> ChangeTimeRecord:
        return cls(*cls._parts(raw))


@dataclass(frozen=True, slots=True)
class NewTimeRecord(_SevenByte):
    """0x18 NewTime: the time the clock was set to (minimed_rf ``change_time.rb`` comment)."""

    opcode: ClassVar[int] = 0x18

    @classmethod
    def decode(cls, raw: bytes) -> NewTimeRecord:
        return cls(*cls._parts(raw))


@dataclass(frozen=True, slots=True)
class ClearAlarmRecord(_SevenByte):
    """0x0C ClearAlarm: ``arg`` = the alarm code cleared (minimed_rf ``clear_alarm.rb``)."""

    opcode: ClassVar[int] = 0x0C

    @classmethod
    def decode(cls, raw: bytes) -> ClearAlarmRecord:
        return cls(*cls._parts(raw))


@dataclass(frozen=True, slots=True)
class PumpAlarmRecord(_Stamped):
    """0x06 AlarmPump, 9 bytes: ``06 <alarm code> <b2> <b3> <ts>``; b2, b3 unpublished.

    (minimed_rf ``alarm_pump.rb``: ``06 67 01 6E 773BB1880E``; codes in
    :class:`PumpAlarmType`.)
    """

    opcode: ClassVar[int] = 0x06
    length: ClassVar[int] = 9
    time: PumpTime
    alarm_type: int
    arg2: int = 0
    arg3: int = 0
    via_radio: bool = False
    spare_bits: int = 0

    def __post_init__(self) -> None:
        _check_stamp(self)
        for name in ("alarm_type", "arg2", "arg3"):
            _check_int(name, getattr(self, name), 0, 0xFF)

    def encode(self) -> bytes:
        return bytes([self.opcode, self.alarm_type, self.arg2, self.arg3]) + self._stamp()

    @classmethod
    def decode(cls, raw: bytes) -> PumpAlarmRecord:
        r = _raw(raw, cls.opcode, cls.length, "alarm record")
        time, radio, spare = decode_timestamp(r[4:9])
        return cls(time, r[1], r[2], r[3], radio, spare)


@dataclass(frozen=True, slots=True)
class EnableRemoteRecord(_Stamped):
    """0x26 EnableDisableRemote, 21 bytes: ``26 <arg: bit 0 enabled> <ts> <14 bytes>``.

    (decocare ``EnableDisableRemote``, body 14; minimed_rf
    ``enable_disable_remote.rb``.)  The 14 trailing bytes are unpublished and
    kept raw; pumplab writes zeros.
    """

    opcode: ClassVar[int] = 0x26
    length: ClassVar[int] = 21
    time: PumpTime
    arg: int
    tail: bytes = bytes(14)
    via_radio: bool = False
    spare_bits: int = 0

    def __post_init__(self) -> None:
        _check_stamp(self)
        _check_int("arg", self.arg, 0, 0xFF)
        if not isinstance(self.tail, bytes) or len(self.tail) != 14:
            raise ValueError("tail must be 14 bytes")

    @property
    def enabled(self) -> bool:
        return bool(self.arg & 1)

    def encode(self) -> bytes:
        return bytes([self.opcode, self.arg]) + self._stamp() + self.tail

    @classmethod
    def decode(cls, raw: bytes) -> EnableRemoteRecord:
        r = _raw(raw, cls.opcode, cls.length, "remote option record")
        time, radio, spare = decode_timestamp(r[2:7])
        return cls(time, r[1], r[7:21], radio, spare)


@dataclass(frozen=True, slots=True)
class BgReceivedRecord(_Stamped):
    """0x3F BGReceived, 10 bytes: a meter BG the pump took (minimed_rf ``bg_received.rb``).

    BG = ``(byte1 << 3) | (b2 >> 5)`` (the hour byte of the timestamp lends its
    top three bits), then the 3-byte meter id: ``3f 18 4007af640e c527ad`` is
    197 mg/dL from meter C527AD.
    """

    opcode: ClassVar[int] = 0x3F
    length: ClassVar[int] = 10
    time: PumpTime
    bg_mg_dl: int
    meter_id: bytes
    via_radio: bool = False
    spare_bits: int = 0

    def __post_init__(self) -> None:
        _check_stamp(self)
        _check_int("bg_mg_dl", self.bg_mg_dl, 0, 0x7FF)
        if self.spare_bits & 7:
            raise ValueError("spare bits 0-2 hold BG bits in this record; keep them 0")
        if not isinstance(self.meter_id, bytes) or len(self.meter_id) != 3:
            raise ValueError("meter_id must be 3 bytes")

    def encode(self) -> bytes:
        stamp = encode_timestamp(self.time, via_radio=self.via_radio,
                                 spare_bits=self.spare_bits | (self.bg_mg_dl & 7))
        return bytes([self.opcode, self.bg_mg_dl >> 3]) + stamp + self.meter_id

    @classmethod
    def decode(cls, raw: bytes) -> BgReceivedRecord:
        r = _raw(raw, cls.opcode, cls.length, "BG received record")
        time, radio, spare = decode_timestamp(r[2:7])
        return cls(time, (r[1] << 3) | (spare & 7), r[7:10], radio, spare & ~7)


@dataclass(frozen=True, slots=True)
class OpaqueRecord:
    """A record of a known type and length that pumplab does not interpret."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or not self.raw:
            raise ValueError("raw must be non-empty bytes")
        expected = _record_length(self.raw)
        if expected is None or expected != len(self.raw):
            raise ValueError(f"not a whole record of type 0x{self.raw[0]:02x}")

    @property
    def opcode(self) -> int:
        return self.raw[0]

    def encode(self) -> bytes:
        return self.raw


HistoryRecord = (
    BolusRecord | TempBasalRecord | TempBasalDurationRecord | SuspendRecord | ResumeRecord
    | ChangeMaxBolusRecord | ChangeMaxBasalRecord | ChangeTempBasalTypeRecord
    | ChangeEasyBolusRecord | ChangeTimeRecord | NewTimeRecord | ClearAlarmRecord
    | PumpAlarmRecord | EnableRemoteRecord | BgReceivedRecord | OpaqueRecord
)

_TypedRecord = (
    BolusRecord | TempBasalRecord | TempBasalDurationRecord | SuspendRecord | ResumeRecord
    | ChangeMaxBolusRecord | ChangeMaxBasalRecord | ChangeTempBasalTypeRecord
    | ChangeEasyBolusRecord | ChangeTimeRecord | NewTimeRecord | ClearAlarmRecord
    | PumpAlarmRecord | EnableRemoteRecord | BgReceivedRecord
)
_TYPED: Final[dict[int, type[_TypedRecord]]] = {
    cls.opcode: cls
    for cls in (BolusRecord, TempBasalRecord, TempBasalDurationRecord, SuspendRecord,
                ResumeRecord, ChangeMaxBolusRecord, ChangeMaxBasalRecord,
                ChangeTempBasalTypeRecord, ChangeEasyBolusRecord, ChangeTimeRecord,
                NewTimeRecord, ClearAlarmRecord, PumpAlarmRecord, EnableRemoteRecord,
                BgReceivedRecord)
}


def _record_length(data: bytes) -> int | None:
    """Length of the record starting data[0] (None for an unknown opcode)."""
    opcode = data[0]
    if opcode == _UNABSORBED_INSULIN:
        return max(2, data[1]) if len(data) > 1 else 2
    return X23_RECORD_LENGTHS.get(opcode)


def encode_record(record: HistoryRecord) -> bytes:
    """The bytes of one record."""
    return record.encode()


def decode_record(raw: bytes) -> HistoryRecord:
    """One record from exactly its bytes; DecodeError if they are not one."""
    if not raw:
        raise DecodeError("empty record")
    length = _record_length(raw)
    if length is None:
        raise DecodeError(f"unknown history record type 0x{raw[0]:02x}")
    if length != len(raw):
        raise DecodeError(f"record 0x{raw[0]:02x} is {length} bytes, got {len(raw)}")
    cls = _TYPED.get(raw[0])
    if cls is None:
        return OpaqueRecord(bytes(raw))
    return cls.decode(bytes(raw))


def encode_history_page(records: list[HistoryRecord] | tuple[HistoryRecord, ...]) -> bytes:
    """A 1,024-byte page: the records (oldest first), zero padding, CRC-16.

    ValueError if they do not fit in 1,022 bytes.
    """
    body = b"".join(r.encode() for r in records)
    if len(body) > HISTORY_DATA_BYTES:
        raise ValueError(f"{len(body)} bytes of records do not fit a page "
                         f"({HISTORY_DATA_BYTES} bytes)")
    body += bytes(HISTORY_DATA_BYTES - len(body))
    return body + crc16(body).to_bytes(2, "big")


def decode_history_page(page: bytes) -> tuple[HistoryRecord, ...]:
    """The records of a 1,024-byte page; DecodeError on a bad size, CRC or record."""
    page = bytes(page)
    if len(page) != HISTORY_PAGE_BYTES:
        raise DecodeError(f"a history page is {HISTORY_PAGE_BYTES} bytes, got {len(page)}")
    data = page[:HISTORY_DATA_BYTES]
    found = int.from_bytes(page[HISTORY_DATA_BYTES:], "big")
    computed = crc16(data)
    if found != computed:
        raise DecodeError(f"history page CRC-16 mismatch: page has 0x{found:04x}, "
                          f"computed 0x{computed:04x}")
    records: list[HistoryRecord] = []
    offset = 0
    while offset < HISTORY_DATA_BYTES:
        if data[offset] == 0:
            offset += 1
            continue
        length = _record_length(data[offset:offset + 2])
        if length is None:
            raise DecodeError(f"unknown history record type 0x{data[offset]:02x} "
                              f"at offset {offset}")
        if offset + length > HISTORY_DATA_BYTES:
            raise DecodeError(f"record 0x{data[offset]:02x} at offset {offset} runs past "
                              f"the end of the page")
        try:
            records.append(decode_record(data[offset:offset + length]))
        except DecodeError as exc:
            raise DecodeError(f"record at offset {offset}: {exc}") from None
        offset += length
    return tuple(records)


def history_page_frames(page: bytes) -> tuple[DataFrameBody, ...]:
    """The 16 data frames that carry a 1,024-byte page, numbered 1..16."""
    if len(page) != HISTORY_PAGE_BYTES:
        raise ValueError(f"a history page is {HISTORY_PAGE_BYTES} bytes, got {len(page)}")
    return DataFrameBody.split(bytes(page))


def history_page_from_frames(frames: list[DataFrameBody] | tuple[DataFrameBody, ...]) -> bytes:
    """The page carried by 16 data frames; DecodeError if numbering or count is wrong."""
    content = DataFrameBody.join(tuple(frames))
    if len(content) != HISTORY_PAGE_BYTES:
        raise DecodeError(f"history page frames carry {len(content)} bytes, "
                          f"expected {HISTORY_PAGE_BYTES}")
    return content

"""MiniMed Paradigm frames: packets with their CRC, to and from typed values.

A *packet* here is the decoded frame including its checksum (what 4b6b
carries); *air* is the 4b6b encoding plus the 0x00 terminator
(:mod:`pumplab.link.legacy.coding`).  Byte layouts (docs/legacy-protocol.md
draws them):

- **A7 pump / A2 MySentry**: ``[type][3-byte id][message type][body][CRC-8]``.
  On A7 the body is either *short*, one byte (``00`` for a command, the code of
  a NAK), a 7-byte frame, or *long*, 65 bytes (a count byte, the arguments or
  the answer, zero padding), a 71-byte frame (MinimedKit
  ``CarelinkShortMessageBody`` / ``CarelinkLongMessageBody``).  MySentry A2
  bodies have other lengths (minimed_rf ``spec/packet_spec.rb``: a 42-byte A2
  status frame), so any A2 body of 1 to 163 bytes is accepted.
- **A5 meter**: ``A5 <3-byte id> b4 b5 CRC-8``; BG = ``((b4 & 1) << 8) | b5``
  mg/dL, flags = ``(b4 >> 1) & 3`` (3 is minimed_rf's "Ack"); the other bits
  of b4 are zero in every published frame and pumplab requires them to be
  (minimed_rf ``messages/meter.rb``, ``spec/meter_spec.rb``).
- **A6 remote**: ``A6 <3-byte id> <button> <sequence> CRC-8``; buttons 0x81 S
  (suspend), 0x86 ACT, 0x88 B (bolus) (minimed_rf ``messages/remote.rb``).  No
  freshness, no MAC: a recorded frame is as good as a new one.
- **A8/AA/AB sensor**: 34 bytes ending in a big-endian CRC-16; the layout
  pumplab uses is in :class:`SensorFrame` and docs/legacy-protocol.md ("Sensor
  frames: an assumption").

Every decoder raises :class:`~pumplab.errors.DecodeError` with a reason, and
only that, for any byte string (the fuzz tests hold it to this).  Frames are
frozen dataclasses validated at construction: building an impossible frame in
code is a ``ValueError`` (a bug), a malformed packet off the air is a
``DecodeError`` (data).

What a frame *means* to a pump (message bodies, the exchange) is in
:mod:`pumplab.link.legacy.messages` and :mod:`pumplab.link.legacy.exchange`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from pumplab.errors import DecodeError
from pumplab.link.legacy.coding import TERMINATOR, decode_4b6b, encode_4b6b
from pumplab.link.legacy.crc import crc8, crc16

__all__ = [
    "LONG_BODY_LEN",
    "LONG_FRAME_LEN",
    "MAX_MYSENTRY_BODY_LEN",
    "METER_FRAME_LEN",
    "REMOTE_FRAME_LEN",
    "SENSOR_FRAME_LEN",
    "SHORT_BODY_LEN",
    "SHORT_FRAME_LEN",
    "Frame",
    "MeterFrame",
    "PacketType",
    "PumpFrame",
    "RemoteButton",
    "RemoteFrame",
    "SensorFrame",
    "crc_ok",
    "decode_air",
    "decode_packet",
    "encode_packet",
    "seal",
    "to_air",
]


class PacketType(enum.IntEnum):
    """The first byte of a frame: which kind of device sent it (minimed_rf ``packet.rb``)."""

    MYSENTRY = 0xA2
    METER = 0xA5
    REMOTE = 0xA6
    PUMP = 0xA7
    SENSOR_TEST = 0xA8
    SENSOR_WARMUP = 0xAA
    SENSOR = 0xAB


_SENSOR_TYPES: Final = frozenset({PacketType.SENSOR_TEST, PacketType.SENSOR_WARMUP,
                                  PacketType.SENSOR})
_PACKET_TYPES: Final = {int(t): t for t in PacketType}

SHORT_BODY_LEN: Final = 1
LONG_BODY_LEN: Final = 65
#: ``[type][id×3][message type][body][crc]`` with a 1-byte / 65-byte body.
SHORT_FRAME_LEN: Final = 7
LONG_FRAME_LEN: Final = 71
METER_FRAME_LEN: Final = 7
REMOTE_FRAME_LEN: Final = 7
SENSOR_FRAME_LEN: Final = 34
#: Longest A2 body accepted: the whole packet then fits a 255-byte CC1110 buffer on air.
MAX_MYSENTRY_BODY_LEN: Final = 163


class RemoteButton(enum.IntEnum):
    """The three keys of the MMT-503 keychain remote, as its A6 frame codes them."""

    SUSPEND = 0x81  # "S"
    ACT = 0x86
    BOLUS = 0x88  # "B"

    @property
    def label(self) -> str:
        """The key's label on the remote: ``S``, ``ACT`` or ``B``."""
        return {RemoteButton.SUSPEND: "S", RemoteButton.ACT: "ACT", RemoteButton.BOLUS: "B"}[self]


_BUTTONS: Final = {int(b): b for b in RemoteButton}


def _check_id(device_id: bytes) -> None:
    if not isinstance(device_id, bytes) or len(device_id) != 3:
        raise ValueError(f"device_id must be 3 bytes, got {device_id!r}")


def _check_byte(name: str, value: int, hi: int = 0xFF) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
        raise ValueError(f"{name} must be an int in 0..{hi}, got {value!r}")


@dataclass(frozen=True, slots=True)
class PumpFrame:
    """An A7 (pump, driver) or A2 (MySentry) frame: ``[type][id][message type][body]``."""

    device_id: bytes
    message_type: int
    body: bytes
    packet_type: PacketType = PacketType.PUMP

    def __post_init__(self) -> None:
        _check_id(self.device_id)
        _check_byte("message_type", self.message_type)
        if not isinstance(self.body, bytes):
            raise ValueError("body must be bytes")
        if self.packet_type is PacketType.PUMP:
            if len(self.body) not in (SHORT_BODY_LEN, LONG_BODY_LEN):
                raise ValueError(f"an A7 body is 1 or 65 bytes, got {len(self.body)}")
        elif self.packet_type is PacketType.MYSENTRY:
            if not 1 <= len(self.body) <= MAX_MYSENTRY_BODY_LEN:
                raise ValueError(f"an A2 body is 1..{MAX_MYSENTRY_BODY_LEN} bytes, "
                                 f"got {len(self.body)}")
        else:
            raise ValueError(f"PumpFrame is A7 or A2, not {self.packet_type!r}")

    @property
    def is_short(self) -> bool:
        """A one-byte body: a command packet, an ACK or a NAK."""
        return len(self.body) == SHORT_BODY_LEN


@dataclass(frozen=True, slots=True)
class MeterFrame:
    """An A5 frame from a linked meter: one fingerstick BG in mg/dL (9 bits)."""

    device_id: bytes
    bg_mg_dl: int
    flags: int = 0

    def __post_init__(self) -> None:
        _check_id(self.device_id)
        _check_byte("bg_mg_dl", self.bg_mg_dl, 0x1FF)
        _check_byte("flags", self.flags, 3)

    @property
    def packet_type(self) -> PacketType:
        return PacketType.METER

    @property
    def is_ack(self) -> bool:
        """Flags 3: minimed_rf reads the frame as an acknowledgement, not a reading."""
        return self.flags == 3


@dataclass(frozen=True, slots=True)
class RemoteFrame:
    """An A6 frame from an MMT-503 keychain remote: one key press."""

    device_id: bytes
    button: RemoteButton
    sequence: int

    def __post_init__(self) -> None:
        _check_id(self.device_id)
        if not isinstance(self.button, RemoteButton):
            raise ValueError(f"button must be a RemoteButton, got {self.button!r}")
        _check_byte("sequence", self.sequence)

    @property
    def packet_type(self) -> PacketType:
        return PacketType.REMOTE


@dataclass(frozen=True, slots=True)
class SensorFrame:
    """A 34-byte sensor frame (A8 test, AA warm-up, AB normal), CRC-16 at the end.

    The positions follow the one published capture (minimed_rf
    ``messages/sensor.rb``: ``a8 0f 25c123 0d 19 1c 50 008f 0090 …``)::

        0      packet type (the sensor state)
        1      ``byte1`` (0x0F in the capture; meaning unpublished)
        2-4    transmitter id
        5      ``version`` (0x0D, "1.3", in the capture)
        6      ``flags`` (unpublished; pumplab: 0 ok, 1 LOW, 2 HIGH)
        7      ``isig_adjust``
        8      ``sequence`` (high nibble) and ``repeat`` (low nibble)
        9-24   ``values``: eight 16-bit big-endian values, the current one
               first, then the seven before it (the real sensor: raw ISIG;
               pumplab: calibrated glucose in 0.1 mg/dL, 0 = none)
        25-31  ``tail`` (unpublished; pumplab writes zeros)
        32-33  CRC-16 CCITT-FALSE of bytes 0-31

    The codec keeps every byte, so the published capture decodes and encodes
    back to itself; the meaning pumplab gives the fields is in
    :mod:`pumplab.link.legacy.sensor` and docs/legacy-protocol.md.
    """

    packet_type: PacketType
    device_id: bytes
    sequence: int
    repeat: int
    values: tuple[int, ...]
    flags: int = 0
    byte1: int = 0x0F
    version: int = 0x0D
    isig_adjust: int = 0
    tail: bytes = bytes(7)

    def __post_init__(self) -> None:
        if self.packet_type not in _SENSOR_TYPES:
            raise ValueError(f"a sensor frame is A8, AA or AB, not {self.packet_type!r}")
        _check_id(self.device_id)
        _check_byte("sequence", self.sequence, 0x0F)
        _check_byte("repeat", self.repeat, 0x0F)
        if len(self.values) != 8:
            raise ValueError(f"values holds 8 16-bit values, got {len(self.values)}")
        for value in self.values:
            _check_byte("values[]", value, 0xFFFF)
        for name in ("flags", "byte1", "version", "isig_adjust"):
            _check_byte(name, getattr(self, name))
        if not isinstance(self.tail, bytes) or len(self.tail) != 7:
            raise ValueError("tail must be 7 bytes")


Frame = PumpFrame | MeterFrame | RemoteFrame | SensorFrame


def seal(packet: bytes) -> bytes:
    """``packet`` (no CRC) with its CRC appended: CRC-16 for sensor types, else CRC-8.

    This is what ``radio encode`` and frame injection with ``fix_crc`` use; it
    does not check anything else about the packet.
    """
    if not packet:
        raise ValueError("cannot seal an empty packet")
    if packet[0] in _SENSOR_TYPES:
        return packet + crc16(packet).to_bytes(2, "big")
    return packet + bytes([crc8(packet)])


def crc_ok(packet: bytes) -> bool:
    """Whether ``packet`` ends in the right CRC for its type (False when too short)."""
    if packet and packet[0] in _SENSOR_TYPES:
        return len(packet) >= 3 and crc16(packet[:-2]) == int.from_bytes(packet[-2:], "big")
    return len(packet) >= 2 and crc8(packet[:-1]) == packet[-1]


def encode_packet(frame: Frame) -> bytes:
    """The packet bytes of ``frame``, CRC included."""
    if isinstance(frame, PumpFrame):
        return seal(bytes([frame.packet_type, *frame.device_id, frame.message_type]) + frame.body)
    if isinstance(frame, MeterFrame):
        b4 = (frame.flags << 1) | (frame.bg_mg_dl >> 8)
        return seal(bytes([PacketType.METER, *frame.device_id, b4, frame.bg_mg_dl & 0xFF]))
    if isinstance(frame, RemoteFrame):
        return seal(bytes([PacketType.REMOTE, *frame.device_id, frame.button, frame.sequence]))
    if isinstance(frame, SensorFrame):
        head = bytes([frame.packet_type, frame.byte1, *frame.device_id, frame.version,
                      frame.flags, frame.isig_adjust, (frame.sequence << 4) | frame.repeat])
        values = b"".join(v.to_bytes(2, "big") for v in frame.values)
        return seal(head + values + frame.tail)
    raise TypeError(f"not a frame: {frame!r}")


def to_air(frame: Frame | bytes) -> bytes:
    """On-air bytes of a frame (or of a sealed packet): 4b6b symbols and the 0x00."""
    packet = frame if isinstance(frame, bytes) else encode_packet(frame)
    return encode_4b6b(packet) + TERMINATOR


def _check_length(packet: bytes, kind: str, expected: int) -> None:
    if len(packet) != expected:
        raise DecodeError(f"{kind} frame must be {expected} bytes, got {len(packet)}")


def _check_crc8(packet: bytes) -> None:
    computed = crc8(packet[:-1])
    if computed != packet[-1]:
        raise DecodeError(f"CRC-8 mismatch: frame has 0x{packet[-1]:02x}, "
                          f"computed 0x{computed:02x}")


def decode_packet(packet: bytes) -> Frame:
    """The typed frame in ``packet`` (CRC included); DecodeError if it is not one."""
    packet = bytes(packet)
    if len(packet) < 2:
        raise DecodeError(f"frame too short: {len(packet)} byte(s)")
    kind = _PACKET_TYPES.get(packet[0])
    if kind is None:
        raise DecodeError(f"unknown packet type 0x{packet[0]:02x}")
    if kind is PacketType.PUMP:
        if len(packet) not in (SHORT_FRAME_LEN, LONG_FRAME_LEN):
            raise DecodeError(f"A7 frame must be 7 or 71 bytes (short or long body), "
                              f"got {len(packet)}")
        _check_crc8(packet)
        return PumpFrame(packet[1:4], packet[4], packet[5:-1], kind)
    if kind is PacketType.MYSENTRY:
        if not 7 <= len(packet) <= 6 + MAX_MYSENTRY_BODY_LEN:
            raise DecodeError(f"A2 frame must be 7..{6 + MAX_MYSENTRY_BODY_LEN} bytes, "
                              f"got {len(packet)}")
        _check_crc8(packet)
        return PumpFrame(packet[1:4], packet[4], packet[5:-1], kind)
    if kind is PacketType.METER:
        _check_length(packet, "A5 meter", METER_FRAME_LEN)
        _check_crc8(packet)
        b4 = packet[4]
        if b4 & 0xF8:
            raise DecodeError(f"A5 meter frame: reserved bits set in byte 4 (0x{b4:02x})")
        return MeterFrame(packet[1:4], ((b4 & 1) << 8) | packet[5], (b4 >> 1) & 3)
    if kind is PacketType.REMOTE:
        _check_length(packet, "A6 remote", REMOTE_FRAME_LEN)
        _check_crc8(packet)
        button = _BUTTONS.get(packet[4])
        if button is None:
            raise DecodeError(f"A6 remote frame: unknown button 0x{packet[4]:02x}")
        return RemoteFrame(packet[1:4], button, packet[5])
    # Sensor types (A8, AA, AB).
    _check_length(packet, f"{packet[0]:02X} sensor", SENSOR_FRAME_LEN)
    computed = crc16(packet[:-2])
    found = int.from_bytes(packet[-2:], "big")
    if computed != found:
        raise DecodeError(f"CRC-16 mismatch: frame has 0x{found:04x}, computed 0x{computed:04x}")
    values = tuple(int.from_bytes(packet[i:i + 2], "big") for i in range(9, 25, 2))
    return SensorFrame(kind, packet[2:5], packet[8] >> 4, packet[8] & 0x0F, values,
                       flags=packet[6], byte1=packet[1], version=packet[5],
                       isig_adjust=packet[7], tail=packet[25:32])


def decode_air(air: bytes) -> Frame:
    """The typed frame carried by on-air bytes: 4b6b decoding, CRC, structure."""
    return decode_packet(decode_4b6b(air))

"""Frames: published A7/A2/A5/A6/sensor frames, round trips, malformed frames, BCD ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from legacy_strategies import any_frames, meter_frames, pump_frames, remote_frames, sensor_frames
from legacy_vectors import (
    METER_142,
    METER_398,
    MINIMED_RF_CAPTURE_AIR,
    MYSENTRY_AIR,
    MYSENTRY_PACKET,
    REMOTE_B_93,
    SENSOR_A8,
    WAKEUP_SHORT_350535,
)

from pumplab.errors import DecodeError, InputError
from pumplab.link.legacy.coding import encode_4b6b
from pumplab.link.legacy.frames import (
    Frame,
    MeterFrame,
    PacketType,
    PumpFrame,
    RemoteButton,
    RemoteFrame,
    SensorFrame,
    crc_ok,
    decode_air,
    decode_packet,
    encode_packet,
    seal,
    to_air,
)
from pumplab.link.legacy.ids import is_bcd, pack_serial, unpack_serial


def test_pump_id_is_packed_bcd_of_the_label() -> None:
    """665455 -> 66 54 55 (decocare's serial), and back."""
    assert pack_serial("665455") == bytes([0x66, 0x54, 0x55])
    assert unpack_serial(bytes([0x66, 0x54, 0x55])) == "665455"
    assert is_bcd(bytes.fromhex("350535")) and not is_bcd(bytes.fromhex("c527ad"))


@pytest.mark.parametrize("bad", ["66545", "6654555", "66545a", "", "６６５４５５", " 665455"])
def test_bad_serial_is_an_input_error_naming_the_field(bad: str) -> None:
    """Not six ASCII digits: InputError naming 'serial'."""
    with pytest.raises(InputError, match="serial"):
        pack_serial(bad)


def test_short_wakeup_frame_published_by_minimed_rf() -> None:
    """a7 350535 5d 00 48: pump frame, message type 0x5D, short body 00."""
    frame = decode_packet(WAKEUP_SHORT_350535)
    assert frame == PumpFrame(bytes.fromhex("350535"), 0x5D, b"\x00")
    assert frame.is_short and len(WAKEUP_SHORT_350535) == 7
    assert encode_packet(frame) == WAKEUP_SHORT_350535


def test_meter_frames_published_by_minimed_rf() -> None:
    """meter_spec.rb: 142 mg/dL, and 398 above 255 (BG = (b4 & 1) << 8 | b5).

    MinimedKit's MeterMessageTests expects 257 for the second frame because
    its decoder reads byte 4 twice; the issue and minimed_rf give 398.
    """
    assert decode_packet(METER_142) == MeterFrame(bytes.fromhex("c527ad"), 142, 0)
    frame = decode_packet(METER_398)
    assert isinstance(frame, MeterFrame) and frame.bg_mg_dl == 398 and not frame.is_ack
    assert encode_packet(frame) == METER_398


def test_remote_frame_published_by_minimed_rf() -> None:
    """remote_spec.rb: remote 411525, button B (0x88), sequence 93."""
    frame = decode_packet(REMOTE_B_93)
    assert frame == RemoteFrame(bytes.fromhex("411525"), RemoteButton.BOLUS, 93)
    assert frame.button.label == "B"
    assert encode_packet(frame) == REMOTE_B_93


def test_mysentry_frame_on_air() -> None:
    """The A2 frame of minimed_rf packet_spec / MinimedKit testDecode4b6b decodes fully."""
    frame = decode_air(MYSENTRY_AIR)
    assert isinstance(frame, PumpFrame) and frame.packet_type is PacketType.MYSENTRY
    assert frame.device_id.hex() == "597055" and frame.message_type == 0x04
    assert encode_packet(frame) == MYSENTRY_PACKET
    assert to_air(frame) == MYSENTRY_AIR


def test_captured_frame_without_terminator_decodes() -> None:
    """The 64-byte capture in minimed_rf packet_spec is a valid A2 frame (CRC checks)."""
    frame = decode_air(MINIMED_RF_CAPTURE_AIR)
    assert isinstance(frame, PumpFrame) and frame.device_id.hex() == "597055"


def test_sensor_frame_published_by_minimed_rf() -> None:
    """sensor.rb's A8 frame: id 25c123, sequence 5, repeat 0, first value 0x008F; CRC-16."""
    frame = decode_packet(SENSOR_A8)
    assert isinstance(frame, SensorFrame)
    assert frame.packet_type is PacketType.SENSOR_TEST
    assert frame.device_id.hex() == "25c123"
    assert (frame.sequence, frame.repeat, frame.values[0], frame.version) == (5, 0, 0x8F, 0x0D)
    assert encode_packet(frame) == SENSOR_A8


def test_frame_lengths() -> None:
    """Short and long A7 frames are 7 and 71 bytes; meter and remote 7; sensor 34."""
    pid = bytes(3)
    assert len(encode_packet(PumpFrame(pid, 0x8D, b"\x00"))) == 7
    assert len(encode_packet(PumpFrame(pid, 0x8D, bytes(65)))) == 71
    assert len(encode_packet(MeterFrame(pid, 100))) == 7
    assert len(encode_packet(RemoteFrame(pid, RemoteButton.ACT, 1))) == 7
    assert len(encode_packet(SensorFrame(PacketType.SENSOR, pid, 0, 0, (0,) * 8))) == 34


def test_seal_picks_the_crc_by_packet_type() -> None:
    """CRC-8 on A2/A5/A6/A7, CRC-16 on A8/AA/AB."""
    assert seal(SENSOR_A8[:-2]) == SENSOR_A8
    assert seal(METER_142[:-1]) == METER_142
    assert crc_ok(SENSOR_A8) and crc_ok(METER_142) and not crc_ok(METER_142[:-1] + b"\x00")


@given(any_frames)
def test_packet_round_trip(frame: Frame) -> None:
    """decode_packet(encode_packet(f)) == f for every frame type."""
    assert decode_packet(encode_packet(frame)) == frame


@given(pump_frames | meter_frames | remote_frames | sensor_frames)
def test_air_round_trip(frame: Frame) -> None:
    """decode_air(to_air(f)) == f."""
    assert decode_air(to_air(frame)) == frame


@given(any_frames)
def test_encoding_is_canonical(frame: Frame) -> None:
    """encode_packet(decode_packet(p)) == p for every packet the encoder makes."""
    packet = encode_packet(frame)
    assert encode_packet(decode_packet(packet)) == packet


def _flip(packet: bytes, index: int) -> bytes:
    return packet[:index] + bytes([packet[index] ^ 0x01]) + packet[index + 1:]


SHORT = encode_packet(PumpFrame(bytes.fromhex("665455"), 0x8D, b"\x00"))
LONG = encode_packet(PumpFrame(bytes.fromhex("665455"), 0x42, bytes(65)))
MALFORMED_FRAMES = [
    (b"", "empty"),
    (b"\xa7", "one byte"),
    (seal(b"\x99\x12\x34\x56\x00\x00"), "unknown packet type 0x99"),
    (_flip(SHORT, 4), "A7 short frame with a bad CRC"),
    (_flip(LONG, 70), "A7 long frame with a bad CRC byte"),
    (seal(SHORT[:-1] + b"\x00"), "A7 frame of 8 bytes (body of 2)"),
    (seal(LONG[:-2]), "A7 frame of 70 bytes (body of 64)"),
    (seal(b"\xa7\x66\x54\x55\x8d"), "A7 frame with no body"),
    (seal(b"\xa2\x66\x54\x55\x04"), "A2 frame with no body"),
    (_flip(METER_142, 2), "meter frame with a bad CRC"),
    (seal(METER_142[:-1] + b"\x00"), "meter frame of 8 bytes"),
    (seal(bytes.fromhex("a5c527ad088e")), "meter frame with reserved bits set"),
    (seal(bytes.fromhex("a6411525895d")), "remote frame with unknown button 0x89"),
    (seal(bytes.fromhex("a6411525885d00")), "remote frame of 8 bytes"),
    (_flip(SENSOR_A8, 10), "sensor frame with a bad CRC-16"),
    (SENSOR_A8[:-3] + SENSOR_A8[-2:], "sensor frame of 33 bytes"),
    (seal(SENSOR_A8[:-2] + b"\x00"), "sensor frame of 35 bytes"),
]


@pytest.mark.parametrize(("packet", "why"), MALFORMED_FRAMES, ids=[m[1] for m in MALFORMED_FRAMES])
def test_malformed_frame_raises_decode_error(packet: bytes, why: str) -> None:
    """Each malformed packet raises DecodeError (also when it arrives on the air)."""
    with pytest.raises(DecodeError):
        decode_packet(packet)
    if packet:
        with pytest.raises(DecodeError):
            decode_air(encode_4b6b(packet) + b"\x00")


def test_building_an_impossible_frame_is_a_value_error() -> None:
    """Misuse in code (not data) raises ValueError."""
    with pytest.raises(ValueError):
        PumpFrame(b"\x01\x02", 0x8D, b"\x00")
    with pytest.raises(ValueError):
        PumpFrame(bytes(3), 0x8D, bytes(2))
    with pytest.raises(ValueError):
        MeterFrame(bytes(3), 512)

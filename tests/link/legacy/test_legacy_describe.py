"""The JSON-ready views behind `radio decode/encode --protocol legacy`."""

from __future__ import annotations

import json

import pytest
from legacy_vectors import (
    METER_398,
    MK_TEMP_BASAL_1_1_30,
    MYSENTRY_AIR,
    REMOTE_B_93,
    SENSOR_A8,
)

from pumplab.errors import DecodeError, InputError
from pumplab.link.legacy.describe import decode_air_hex, encode_packet_hex
from pumplab.link.legacy.frames import seal, to_air
from pumplab.link.legacy.messages import (
    BolusBody,
    NakCode,
    TempBasalPercentBody,
    args_frame,
    nak_frame,
)

PID = bytes.fromhex("665455")


def test_bolus_frame() -> None:
    """An x23 bolus of 1.5 U: message_type 66 (int), units 1.5, CRC ok, JSON-serialisable."""
    out = decode_air_hex(to_air(args_frame(PID, BolusBody.x23(1.5))).hex())
    assert out["crc_ok"] is True and out["packet_type"] == "a7"
    assert out["device_id"] == "665455" and out["message_type"] == 0x42
    assert out["units"] == 1.5 and out["message"] == "bolus"
    assert out["body"].startswith("02003c") and len(out["body"]) == 130
    assert out["decoded"] == seal(bytes.fromhex("a7665455") + b"\x42"
                                  + BolusBody(60).encode()).hex()
    json.dumps(out)


def test_temp_basal_frames() -> None:
    """MinimedKit's 1.1 U/h for 30 min; a percent temp basal shows percent and duration."""
    out = decode_air_hex(to_air(seal(MK_TEMP_BASAL_1_1_30)).hex())
    assert (out["rate_u_per_h"], out["duration_min"]) == (1.1, 30)
    pct = decode_air_hex(to_air(args_frame(PID, TempBasalPercentBody(0, 4))).hex())
    assert (pct["percent"], pct["duration_min"]) == (0, 120)


def test_meter_frame_has_bg_and_flags_and_no_message_type() -> None:
    """minimed_rf's 398 mg/dL meter frame."""
    out = decode_air_hex(to_air(METER_398).hex())
    assert out["bg_mg_dl"] == 398 and out["flags"] == 0
    assert out["device_id"] == "c527ad" and "message_type" not in out


def test_remote_frame_has_button_and_sequence() -> None:
    """minimed_rf's remote frame: B, sequence 93."""
    out = decode_air_hex(to_air(REMOTE_B_93).hex())
    assert (out["button"], out["sequence"]) == ("B", 93) and "message_type" not in out


def test_sensor_and_mysentry_frames() -> None:
    """Sensor: id from bytes 2-4, sequence/repeat; MySentry: message_type from byte 4."""
    sensor = decode_air_hex(to_air(SENSOR_A8).hex())
    assert sensor["device_id"] == "25c123" and sensor["sequence"] == 5 and sensor["crc_ok"]
    mysentry = decode_air_hex(MYSENTRY_AIR.hex())
    assert mysentry["packet_type"] == "a2" and mysentry["message_type"] == 4


def test_nak_frame_shows_its_code() -> None:
    """A7 id 15 0C: nak_code 12."""
    assert decode_air_hex(to_air(nak_frame(PID, NakCode.BOLUS_IN_PROGRESS)).hex())[
        "nak_code"] == 0x0C


def test_bad_crc_is_described_not_refused() -> None:
    """A frame with a wrong CRC is still shown, with crc_ok false."""
    packet = bytearray(METER_398)
    packet[-1] ^= 0xFF
    out = decode_air_hex(to_air(bytes(packet)).hex())
    assert out["crc_ok"] is False and out["bg_mg_dl"] == 398 and "error" not in out


def test_structurally_bad_frame_carries_an_error() -> None:
    """An A7 packet of 8 bytes: described, with an 'error' saying why it is no frame."""
    out = decode_air_hex(to_air(seal(bytes.fromhex("a76654558d0000"))).hex())
    assert "error" in out and out["crc_ok"] is True


def test_encode_adds_crc_and_air() -> None:
    """Packet hex without CRC -> packet with CRC and on-air hex (minimed_rf's wake-up frame)."""
    assert encode_packet_hex("a73505355d00") == {
        "packet": "a73505355d0048", "air": to_air(bytes.fromhex("a73505355d0048")).hex()}


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"), ("   ", "blank"), ("a7f", "odd length"), ("a7zz", "non-hex"),
    ("a7 35", "inner space"), ("0xa7", "0x prefix"),
])
@pytest.mark.parametrize("function", [decode_air_hex, encode_packet_hex])
def test_bad_hex_is_an_input_error_naming_the_field(text: str, why: str, function: object) -> None:
    """One clear InputError naming the field, for each kind of bad hex."""
    with pytest.raises(InputError, match="HEX"):
        function(text)  # type: ignore[operator]


def test_undecodable_air_is_a_decode_error() -> None:
    """Hex that is not 4b6b raises DecodeError."""
    with pytest.raises(DecodeError):
        decode_air_hex("ffff")

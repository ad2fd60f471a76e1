"""Pump message bodies: MinimedKit/decocare vectors, round trips, malformed bodies, the x23 grid."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from legacy_strategies import command_bodies, data_frames, response_bodies
from legacy_vectors import (
    MK_BATTERY_1_40,
    MK_BOLUS_1_1_X22,
    MK_BOLUS_1_1_X23,
    MK_BOLUS_7_9_X23,
    MK_BOLUS_10_2_X23,
    MK_CHANGE_TIME,
    MK_DELETE_REMOTE_ID_BODY,
    MK_MAX_BASAL_6_4_BODY,
    MK_MAX_BOLUS_6_4_X23_BODY,
    MK_MODEL_523,
    MK_REMOTE_IDS_ONE,
    MK_REMOTE_IDS_THREE,
    MK_RESERVOIR_723,
    MK_SET_REMOTE_ID_BODY,
    MK_SETTINGS_523,
    MK_TEMP_BASAL_1_1_30,
    MK_TEMP_BASAL_6_5_150,
    MK_TEMP_BASAL_STATUS,
)

from pumplab.errors import DecodeError, InputError
from pumplab.link.legacy import messages as ms
from pumplab.link.legacy.frames import PumpFrame, decode_packet, encode_packet, seal
from pumplab.link.legacy.pumptime import PumpTime

ID = bytes.fromhex("123456")


def _frame(packet_without_crc: bytes) -> PumpFrame:
    frame = decode_packet(seal(packet_without_crc))
    assert isinstance(frame, PumpFrame)
    return frame


@pytest.mark.parametrize(("packet", "body"), [
    (MK_BOLUS_1_1_X23, ms.BolusBody(44)),
    (MK_BOLUS_1_1_X22, ms.BolusBody(11, 10)),
    (MK_BOLUS_7_9_X23, ms.BolusBody(316)),
    (MK_BOLUS_10_2_X23, ms.BolusBody(408)),
    (MK_TEMP_BASAL_1_1_30, ms.TempBasalAbsoluteBody(44, 1)),
    (MK_TEMP_BASAL_6_5_150, ms.TempBasalAbsoluteBody(260, 5)),
    (MK_CHANGE_TIME, ms.SetClockBody(PumpTime(2017, 12, 29, 9, 22, 59))),
])
def test_command_packets_match_minimedkit(packet: bytes, body: ms.CommandBody) -> None:
    """MinimedKit's txData for these commands is exactly our argument packet (before CRC)."""
    assert encode_packet(ms.args_frame(ID, body))[:-1] == packet
    frame = _frame(packet)
    assert ms.decode_command_body(frame.message_type, frame.body) == body


def test_bolus_units() -> None:
    """1.1 U on an x23 is 44 strokes of 1/40 U; on an x22 11 tenths."""
    assert ms.BolusBody(44).amount_u == pytest.approx(1.1)
    assert ms.BolusBody(11, 10).amount_u == pytest.approx(1.1)
    assert ms.BolusBody.x23(2.675).count == 107


@pytest.mark.parametrize("bad", [1.01, 0.0, -1.0, float("nan"), 2000.0])
def test_inexact_bolus_is_an_input_error(bad: float) -> None:
    """x23_bolus_strokes rounds nothing: a non-multiple of 0.025 U is refused, naming the field."""
    with pytest.raises(InputError, match="amount_u"):
        ms.x23_bolus_strokes(bad)


@pytest.mark.parametrize(("strokes", "on_grid"), [
    (1, True), (39, True), (40, True),  # 0.025 U steps up to 1 U
    (41, False), (42, True), (59, False), (58, True),  # 0.05 U above 1 U (1.475 -> 1.45)
    (400, True), (402, False), (404, True), (410, False), (408, True),  # 0.1 U above 10 U
    (0, False),
])
def test_x23_scroll_grid(strokes: int, on_grid: bool) -> None:
    """MinimedKit BolusCarelinkMessageBody: scroll rate 1, 2, 4 strokes (its rounding tests)."""
    assert ms.x23_bolus_on_grid(strokes) is on_grid


@pytest.mark.parametrize(("packet", "body"), [
    (MK_REMOTE_IDS_ONE, ms.RemoteIdsBody(("123456", None, None))),
    (MK_REMOTE_IDS_THREE, ms.RemoteIdsBody(("000000", "100100", "999999"))),
    (MK_BATTERY_1_40, ms.BatteryBody(False, 140)),
    (MK_RESERVOIR_723, ms.ReservoirBody(3235)),
    (MK_MODEL_523, ms.ModelBody("523")),
    (MK_TEMP_BASAL_STATUS, ms.TempBasalStatusBody(False, 0, 55, 23)),
])
def test_answers_match_minimedkit(packet: bytes, body: ms.ResponseBody) -> None:
    """MinimedKit's rxData vectors decode to these answers and encode back to themselves."""
    frame = _frame(packet)
    assert ms.decode_response_body(frame.message_type, frame.body) == body
    assert frame.body == body.encode()


def test_quantities_of_minimedkit_answers() -> None:
    """80.875 U in the reservoir; 1.40 V; 1.375 U/h for 23 min (MinimedKit's expectations)."""
    assert ms.ReservoirBody(3235).reservoir_u == 80.875
    assert ms.BatteryBody(False, 140).voltage_v == pytest.approx(1.4)
    assert ms.TempBasalStatusBody(False, 0, 55, 23).rate_u_per_h == 1.375


def test_settings_523_match_minimedkit() -> None:
    """testValidSettings523: max basal 34 U/h, max bolus 22.9 U, standard pattern, 4 h action."""
    frame = _frame(MK_SETTINGS_523)
    body = ms.SettingsBody.decode(frame.body)
    assert body.max_basal_u_per_h == 34 and body.max_bolus_u == pytest.approx(22.9)
    assert body.selected_pattern == 0 and body.insulin_action_h == 4
    assert not body.remote_enabled and body.easy_bolus_enabled
    assert body.encode() == frame.body


def test_remote_id_bodies_match_minimedkit() -> None:
    """ChangeRemoteControlIDMessageBodyTests: slot 0 set to 123456; slot 2 deleted."""
    assert ms.SetRemoteIdBody(0, "123456").encode() == MK_SET_REMOTE_ID_BODY
    assert ms.SetRemoteIdBody(2, None).encode() == MK_DELETE_REMOTE_ID_BODY


def test_max_bolus_and_max_basal_bodies_match_minimedkit() -> None:
    """testMaxBolus523 (6.4 U -> 00 40) and testMaxBasalRate (6.4 U/h -> 01 00)."""
    assert ms.SetMaxBolusBody(64).encode() == MK_MAX_BOLUS_6_4_X23_BODY
    assert ms.SetMaxBasalBody(256).encode() == MK_MAX_BASAL_6_4_BODY


def test_power_on_bodies() -> None:
    """decocare PowerControl params 01 0A (10 min); MinimedKit 02 01 01 (1 min)."""
    assert ms.PowerOnBody(10).encode()[:3] == bytes([2, 1, 10])
    assert ms.PowerOnBody(1).encode()[:3] == bytes([2, 1, 1])
    assert ms.PowerOnBody(0, on=False).encode()[:3] == bytes([2, 0, 0])


def test_suspend_resume_and_button_bodies() -> None:
    """0x4D 01 01 / 01 00; 0x5B 01 <key> (ACT 02, EASY 00)."""
    assert ms.SuspendResumeBody(True).encode()[:2] == b"\x01\x01"
    assert ms.SuspendResumeBody(False).encode()[:2] == b"\x01\x00"
    assert ms.ButtonPressBody(ms.PumpButton.ACT).encode()[:2] == b"\x01\x02"


def test_short_packets() -> None:
    """Command, ACK and NAK packets are 7-byte frames with a one-byte body."""
    assert encode_packet(ms.command_frame(ID, ms.MessageType.READ_MODEL))[4:6] == b"\x8d\x00"
    assert encode_packet(ms.ack_frame(ID))[4:6] == b"\x06\x00"
    assert encode_packet(ms.nak_frame(ID, ms.NakCode.BOLUS_IN_PROGRESS))[4:6] == b"\x15\x0c"


@given(command_bodies)
def test_command_body_round_trip(body: ms.CommandBody) -> None:
    """decode_command_body(type, encode(b)) == b, and the body is 65 bytes."""
    raw = body.encode()
    assert len(raw) == 65
    assert ms.decode_command_body(body.message_type, raw) == body


@given(response_bodies)
def test_response_body_round_trip(body: ms.ResponseBody) -> None:
    """decode_response_body(type, encode(b)) == b."""
    assert not isinstance(body, ms.DataFrameBody)
    assert ms.decode_response_body(body.message_type, body.encode()) == body


@given(data_frames)
def test_data_frame_round_trip(frame: ms.DataFrameBody) -> None:
    """A data frame's number, last flag and 64 bytes survive encoding."""
    assert ms.DataFrameBody.decode(frame.encode()) == frame


@given(st.integers(1, 20).flatmap(lambda n: st.binary(min_size=64 * n, max_size=64 * n)))
def test_split_and_join(content: bytes) -> None:
    """Content cut into frames 1..n (only the last flagged) joins back."""
    frames = ms.DataFrameBody.split(content)
    assert [f.frame_number for f in frames] == list(range(1, len(frames) + 1))
    assert [f.last for f in frames] == [False] * (len(frames) - 1) + [True]
    assert ms.DataFrameBody.join(frames) == content


def _body(*payload: int) -> bytes:
    return bytes(payload) + bytes(65 - len(payload))


MALFORMED_BODIES = [
    (0x42, bytes(64), "64-byte body"),
    (0x42, _body(3, 0, 1, 2), "bolus count byte 3"),
    (0x42, _body(2, 0, 40, 1), "bolus with non-zero padding"),
    (0x4D, _body(1, 2), "suspend state 2"),
    (0x5B, _body(1, 9), "button 9"),
    (0x5D, _body(2, 7, 10), "power-on 'on' byte 7"),
    (0x40, _body(7, 25, 0, 0, 0x07, 0xE1, 1, 1), "set clock hour 25"),
    (0x40, _body(7, 9, 22, 59, 0x07, 0xE1, 2, 30), "set clock 30 February"),
    (0x51, _body(7, 3, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36), "remote slot 3"),
    (0x51, _body(7, 0, 0x31, 0x32, 0x33, 0x34, 0x35, 0x2D), "half-deleted remote id"),
    (0x57, _body(1, 2), "remote option 2"),
    (0x80, _body(2, 0, 0), "history page count 2"),
    (0x4C, _body(2, 0, 44), "temp basal count 2"),
    (0x8D, b"\x00" * 65, "no answers arguments for a read"),
]


@pytest.mark.parametrize(("mtype", "body", "why"), MALFORMED_BODIES,
                         ids=[m[2] for m in MALFORMED_BODIES])
def test_malformed_command_body_raises_decode_error(mtype: int, body: bytes, why: str) -> None:
    """Each malformed argument body raises DecodeError."""
    with pytest.raises(DecodeError):
        ms.decode_command_body(mtype, body)


MALFORMED_ANSWERS = [
    (0xCE, _body(3, 3, 2, 0), "status bolusing byte 2"),
    (0xC0, _body(25, *range(25)), "a 554 settings layout (count 25)"),
    (0x8D, _body(9, 0), "model of length 0"),
    (0x8D, _body(9, 3, 0x35, 0x32, 0x00), "model with a NUL"),
    (0x76, _body(18, *([0x41] * 18)), "remote ids of letters"),
    (0x98, _body(6, 2, 0, 0, 0, 0, 0), "temp basal type 2"),
    (0x80, b"\x00" + bytes(64), "data frame number 0"),
    (0x80, bytes(10), "short data frame"),
    (0x42, _body(1, 1), "bolus is no read"),
]


@pytest.mark.parametrize(("mtype", "body", "why"), MALFORMED_ANSWERS,
                         ids=[m[2] for m in MALFORMED_ANSWERS])
def test_malformed_answer_raises_decode_error(mtype: int, body: bytes, why: str) -> None:
    """Each malformed answer body raises DecodeError."""
    with pytest.raises(DecodeError):
        ms.decode_response_body(mtype, body)


@given(st.sampled_from(sorted(ms.ARGUMENT_COMMANDS | ms.READ_COMMANDS)),
       st.binary(max_size=70))
def test_body_decoders_raise_only_decode_error(mtype: int, body: bytes) -> None:
    """Any bytes either decode or raise DecodeError, for every message type."""
    for decode in (ms.decode_command_body, ms.decode_response_body):
        with contextlib.suppress(DecodeError):
            decode(mtype, body)


def test_data_frames_must_be_numbered_in_order() -> None:
    """join refuses gaps, a wrong first number, or a misplaced last flag."""
    f1, f2 = ms.DataFrameBody.split(bytes(128))
    with pytest.raises(DecodeError):
        ms.DataFrameBody.join((f2, f1))
    with pytest.raises(DecodeError):
        ms.DataFrameBody.join((ms.DataFrameBody(1, True, bytes(64)), f2))
    with pytest.raises(DecodeError):
        ms.DataFrameBody.join(())

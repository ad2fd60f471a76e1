"""The driver side of the exchange, run against the pump side on a test air."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from legacy_harness import PAGE0, PUMP_ID, Air, FakeIntake

from pumplab.link.legacy.airtime import MMEOWLINK_BURST, RILEYLINK_BURST
from pumplab.link.legacy.driver import (
    Completed,
    DriverState,
    Failed,
    FailReason,
    PumpDriver,
    failed_wakeup_ms,
)
from pumplab.link.legacy.exchange import (
    DriverConfig,
    Ignored,
    IgnoreReason,
    IllegalTransition,
    PumpLinkConfig,
    Transmit,
)
from pumplab.link.legacy.frames import PumpFrame, decode_packet, to_air
from pumplab.link.legacy.history import BolusRecord, decode_history_page
from pumplab.link.legacy.messages import (
    BolusBody,
    MessageType,
    PumpStatusBody,
    ReadHistoryPageBody,
    ReadRequest,
    ack_frame,
    command_frame,
)
from pumplab.link.legacy.pumpside import PumpLink, PumpLinkState


def sent_types(air: Air, side: str) -> list[tuple[int, bool]]:
    """(message type, short?) of each frame a side transmitted, in order."""
    out = []
    for who, event in air.log:
        if who == side and isinstance(event, Transmit):
            frame = decode_packet(event.packet)
            assert isinstance(frame, PumpFrame)
            out.append((frame.message_type, frame.is_short))
    return out


def test_wakes_a_sleeping_pump_then_boluses_once() -> None:
    """Probe ×2, burst of 256, power-on arguments, command, arguments: one bolus delivered."""
    air = Air(PumpDriver(PUMP_ID), PumpLink(PUMP_ID))
    outcomes = air.run(air.driver.request(BolusBody.x23(1.5), 1_000))
    assert outcomes == [Completed(outcomes[0].t_ms, BolusBody(60), None)]
    assert air.intake.boluses == [60]
    assert sent_types(air, "driver") == [(0x8D, True), (0x8D, True), (0x5D, True),
                                         (0x5D, False), (0x42, True), (0x42, False)]
    burst = [e for w, e in air.log if w == "driver" and isinstance(e, Transmit)][2]
    assert (burst.repeat, burst.interval_ms) == (RILEYLINK_BURST.count, 18)
    # About 5 s from asleep to bolus: the probes, then the ~4.6 s burst.
    assert 5_000 <= outcomes[0].t_ms - 1_000 <= 6_000
    assert air.driver.awake_until_ms is not None
    assert air.pump.state is PumpLinkState.AWAKE


def test_an_awake_pump_gets_no_probe_and_no_burst() -> None:
    """The driver believes the pump awake: the short command goes out first."""
    driver = PumpDriver(PUMP_ID, awake_until_ms=60_000)
    air = Air(driver, PumpLink(PUMP_ID, awake_until_ms=60_000))
    (outcome,) = air.run(driver.request(BolusBody.x23(0.5), 1_000))
    assert isinstance(outcome, Completed)
    assert sent_types(air, "driver") == [(0x42, True), (0x42, False)]


def test_a_probe_that_is_answered_skips_the_burst() -> None:
    """An awake pump the driver did not know about answers the model probe."""
    air = Air(PumpDriver(PUMP_ID), PumpLink(PUMP_ID, awake_until_ms=60_000))
    (outcome,) = air.run(air.driver.request(ReadRequest(MessageType.READ_STATUS), 1_000))
    assert outcome == Completed(outcome.t_ms, ReadRequest(MessageType.READ_STATUS),
                                PumpStatusBody(False, False))
    assert sent_types(air, "driver") == [(0x8D, True), (0xCE, True)]


def test_no_wakeup_burst_means_no_command() -> None:
    """Negative control: a command sent to a sleeping pump without the burst fails, certainly."""
    air = Air(PumpDriver(PUMP_ID), PumpLink(PUMP_ID))
    (outcome,) = air.run(air.driver.request(BolusBody.x23(5.0), 1_000, wake=False))
    assert isinstance(outcome, Failed)
    assert outcome.reason is FailReason.NO_COMMAND_ACK and not outcome.uncertain
    assert air.intake.requests == [] and air.pump.state is PumpLinkState.ASLEEP


def test_wrong_serial_never_wakes_the_pump() -> None:
    """Negative control: a burst for another id is not answered."""
    air = Air(PumpDriver(bytes.fromhex("665456")), PumpLink(PUMP_ID))
    (outcome,) = air.run(air.driver.request(BolusBody.x23(5.0), 1_000))
    assert isinstance(outcome, Failed) and outcome.reason is FailReason.NO_WAKEUP_ACK
    assert air.intake.requests == []


def test_a_refused_bolus_is_a_certain_failure_with_its_code() -> None:
    """Suspended pump: NAK 0x08; the driver reports a certain refusal."""
    air = Air(PumpDriver(PUMP_ID, awake_until_ms=60_000), PumpLink(PUMP_ID, awake_until_ms=60_000),
              FakeIntake(suspended=True))
    (outcome,) = air.run(air.driver.request(BolusBody.x23(1.0), 1_000))
    assert isinstance(outcome, Failed)
    assert (outcome.reason, outcome.nak_code, outcome.uncertain) == (FailReason.NAK, 0x08, False)


def test_a_bolus_off_the_scroll_grid_is_refused_max_exceeded() -> None:
    """1.025 U (41 strokes) on an x23: NAK 0x09, nothing delivered."""
    air = Air(PumpDriver(PUMP_ID, awake_until_ms=60_000), PumpLink(PUMP_ID, awake_until_ms=60_000))
    (outcome,) = air.run(air.driver.request(BolusBody(41), 1_000))
    assert isinstance(outcome, Failed) and outcome.nak_code == 0x09
    assert air.intake.boluses == []


def test_lost_ack_to_the_arguments_is_uncertain_and_delivers_once() -> None:
    """The pump acted, its ACK was lost; the driver's retries are not executed again."""
    def drop_first_bolus_ack(side: str, tx: Transmit) -> bool:
        if side == "pump" and tx.t_ms > 1_000 and not getattr(drop_first_bolus_ack, "done", 0):
            frame = decode_packet(tx.packet)
            if air.intake.boluses and frame == ack_frame(PUMP_ID):
                drop_first_bolus_ack.done = 1  # type: ignore[attr-defined]
                return True
        return False

    air = Air(PumpDriver(PUMP_ID, awake_until_ms=60_000), PumpLink(PUMP_ID, awake_until_ms=60_000),
              drop=drop_first_bolus_ack)
    (outcome,) = air.run(air.driver.request(BolusBody.x23(2.0), 1_000))
    assert isinstance(outcome, Failed)
    assert outcome.reason is FailReason.NO_ARGS_ACK and outcome.uncertain
    assert air.intake.boluses == [80]
    assert sent_types(air, "driver").count((0x42, False)) == 4  # first try + 3 retries


def test_lost_ack_to_the_command_packet_is_retried() -> None:
    """The short packet is sent again; the bolus then goes through once."""
    drops = {"n": 0}

    def drop_first_pump_ack(side: str, tx: Transmit) -> bool:
        if side == "pump" and drops["n"] == 0:
            drops["n"] = 1
            return True
        return False

    air = Air(PumpDriver(PUMP_ID, awake_until_ms=60_000), PumpLink(PUMP_ID, awake_until_ms=60_000),
              drop=drop_first_pump_ack)
    (outcome,) = air.run(air.driver.request(BolusBody.x23(2.0), 1_000))
    assert isinstance(outcome, Completed) and air.intake.boluses == [80]
    assert sent_types(air, "driver") == [(0x42, True), (0x42, True), (0x42, False)]


def test_history_page_download() -> None:
    """Command, page argument, 16 frames each ACKed; the page decodes to the pump's record."""
    air = Air(PumpDriver(PUMP_ID, awake_until_ms=60_000), PumpLink(PUMP_ID, awake_until_ms=60_000))
    (outcome,) = air.run(air.driver.request(ReadHistoryPageBody(0), 1_000))
    assert isinstance(outcome, Completed) and outcome.response == PAGE0
    (record,) = decode_history_page(PAGE0)
    assert isinstance(record, BolusRecord) and record.via_radio
    driver_frames = sent_types(air, "driver")
    assert driver_frames[:2] == [(0x80, True), (0x80, False)]
    assert driver_frames[2:] == [(0x06, True)] * 16
    assert sent_types(air, "pump") == [(0x06, True)] + [(0x80, False)] * 16


def test_missing_page_is_a_nak_0d() -> None:
    """Page 3 does not exist in the fake pump: NAK 0x0D."""
    air = Air(PumpDriver(PUMP_ID, awake_until_ms=60_000), PumpLink(PUMP_ID, awake_until_ms=60_000))
    (outcome,) = air.run(air.driver.request(ReadHistoryPageBody(3), 1_000))
    assert isinstance(outcome, Failed) and outcome.nak_code == 0x0D


def test_a_lost_data_frame_fails_the_page() -> None:
    """As in MinimedKit: the re-sent ACK makes the pump skip a frame; the driver sees the gap."""
    drops = {"frames": 0}

    def drop_third_frame(side: str, tx: Transmit) -> bool:
        frame = decode_packet(tx.packet)
        if side == "pump" and isinstance(frame, PumpFrame) and frame.message_type == 0x80:
            drops["frames"] += 1
            return drops["frames"] == 3
        return False

    air = Air(PumpDriver(PUMP_ID, awake_until_ms=60_000), PumpLink(PUMP_ID, awake_until_ms=60_000),
              drop=drop_third_frame)
    (outcome,) = air.run(air.driver.request(ReadHistoryPageBody(0), 1_000))
    assert isinstance(outcome, Failed) and outcome.reason is FailReason.FRAME_SEQUENCE


def test_mmeowlink_style_driver_wakes_the_pump_too() -> None:
    """500 copies every 24 ms, 10 minutes on, no probe (decocare/mmeowlink figures)."""
    config = DriverConfig(burst=MMEOWLINK_BURST, wake_minutes=10, probe_first=False)
    air = Air(PumpDriver(PUMP_ID, config), PumpLink(PUMP_ID))
    (outcome,) = air.run(air.driver.request(ReadRequest(MessageType.READ_CLOCK), 1_000))
    assert isinstance(outcome, Completed)
    assert air.driver.awake_until_ms is not None and air.driver.awake_until_ms > 600_000


@given(st.integers(0, 3_999))
def test_the_burst_reaches_the_pump_at_any_phase_of_its_sleep_cycle(phase: int) -> None:
    """Whatever the listen windows' phase, MinimedKit's burst covers one of them."""
    air = Air(PumpDriver(PUMP_ID), PumpLink(PUMP_ID, PumpLinkConfig(sleep_phase_ms=phase)))
    (outcome,) = air.run(air.driver.request(ReadRequest(MessageType.READ_STATUS), 10_000))
    assert isinstance(outcome, Completed)


def test_one_request_at_a_time() -> None:
    """A second request while one runs is a programming error."""
    driver = PumpDriver(PUMP_ID)
    driver.request(BolusBody(4), 0)
    with pytest.raises(IllegalTransition):
        driver.request(BolusBody(4), 1)


def test_driver_ignores_garbage_foreign_and_idle_frames() -> None:
    """Undecodable bytes, another pump's frames and frames while idle are Ignored, not raised."""
    driver = PumpDriver(PUMP_ID)
    assert [e.reason for e in driver.receive(b"\x01\x02", 0) if isinstance(e, Ignored)] == [
        IgnoreReason.UNDECODABLE]
    other = to_air(ack_frame(bytes.fromhex("111111")))
    assert [e.reason for e in driver.receive(other, 0) if isinstance(e, Ignored)] == [
        IgnoreReason.OTHER_DEVICE]
    assert [e.reason for e in driver.receive(to_air(ack_frame(PUMP_ID)), 0)
            if isinstance(e, Ignored)] == [IgnoreReason.IDLE]
    assert driver.state is DriverState.IDLE


def test_unexpected_frames_do_not_disturb_a_request() -> None:
    """A stray short 0x8D (another driver's probe) while waiting for an ACK is ignored."""
    driver = PumpDriver(PUMP_ID, awake_until_ms=60_000)
    driver.request(BolusBody(4), 0)
    events = driver.receive(to_air(command_frame(PUMP_ID, MessageType.READ_MODEL)), 30)
    assert [type(e) for e in events] == [Ignored]
    assert driver.state is DriverState.COMMANDING


def test_failed_wakeup_costs_what_the_helper_says() -> None:
    """A wrong serial costs probe ×2, the burst and 12 s of listening: 17,038 ms by default."""
    air = Air(PumpDriver(bytes.fromhex("999999")), PumpLink(PUMP_ID))
    (outcome,) = air.run(air.driver.request(ReadRequest(MessageType.READ_STATUS), 1_000))
    assert isinstance(outcome, Failed) and outcome.reason is FailReason.NO_WAKEUP_ACK
    assert outcome.t_ms - 1_000 == failed_wakeup_ms() == 17_038
    no_probe = DriverConfig(probe_first=False, burst_listen_ms=500)
    assert failed_wakeup_ms(no_probe) == 5_106

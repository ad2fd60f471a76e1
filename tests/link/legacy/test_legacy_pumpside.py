"""The pump side of the exchange: sleep cycle, wake-up, window, commands, reads, frames."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pumplab.link.legacy.exchange import (
    Ignored,
    IgnoreReason,
    IllegalTransition,
    PumpLinkConfig,
    Transmit,
)
from pumplab.link.legacy.frames import (
    MeterFrame,
    PacketType,
    PumpFrame,
    decode_air,
    decode_packet,
    to_air,
)
from pumplab.link.legacy.history import encode_history_page
from pumplab.link.legacy.messages import (
    BolusBody,
    DataFrameBody,
    MessageType,
    ModelBody,
    NakCode,
    PowerOnBody,
    PumpStatusBody,
    ReadHistoryPageBody,
    ReadRequest,
    ack_frame,
    args_frame,
    command_frame,
)
from pumplab.link.legacy.pumpside import (
    ANSWER_TABLE,
    CommandReceived,
    FellAsleep,
    MalformedArguments,
    PendingKind,
    PeripheralReceived,
    PoweredOn,
    PumpLink,
    PumpLinkState,
    Woke,
)

PID = bytes.fromhex("665455")
SHORT_MS = 16  # a 7-byte frame is on the air for 15.625 ms


def air(frame: PumpFrame) -> bytes:
    return to_air(frame)


def wake(link: PumpLink, t: int = 20) -> list[object]:
    """A short 5D whose first bit falls in the listen window at 0..25 ms (phase 0)."""
    return list(link.receive(air(command_frame(PID, MessageType.POWER_ON)), t))


def awake_link(t: int = 0) -> PumpLink:
    return PumpLink(PID, awake_until_ms=t + 600_000)


def transmitted(events: Sequence[object]) -> list[PumpFrame]:
    frames = []
    for e in events:
        if isinstance(e, Transmit):
            frame = decode_packet(e.packet)
            assert isinstance(frame, PumpFrame)
            frames.append(frame)
    return frames


def test_sleeping_receiver_is_on_only_in_its_windows() -> None:
    """25 ms every 4 s by default, shifted by the phase."""
    link = PumpLink(PID, PumpLinkConfig(sleep_phase_ms=1000))
    assert [link.listening_at(t) for t in (1000, 1024, 1025, 4999, 5000, 5010)] == [
        True, True, False, False, True, True]


def test_a_frame_outside_the_windows_is_not_heard() -> None:
    """The wake-up starting at 30 ms (window 0..25) is not heard; at 10 ms it is."""
    link = PumpLink(PID)
    events = link.receive(air(command_frame(PID, MessageType.POWER_ON)), 30 + SHORT_MS)
    assert events == [Ignored(46, IgnoreReason.NOT_LISTENING)]
    assert link.state is PumpLinkState.ASLEEP
    assert any(isinstance(e, Woke) for e in wake(link, 10 + SHORT_MS))


@pytest.mark.parametrize("mtype", [MessageType.READ_MODEL, MessageType.BOLUS,
                                   MessageType.SUSPEND_RESUME, MessageType.ACK])
def test_sleeping_pump_answers_only_the_wakeup(mtype: MessageType) -> None:
    """Heard in a window but not a short 5D: dropped, nothing transmitted."""
    link = PumpLink(PID)
    events = link.receive(air(command_frame(PID, mtype)), 20)
    assert [type(e) for e in events] == [Ignored]
    assert isinstance(events[0], Ignored) and events[0].reason is IgnoreReason.ASLEEP


def test_wakeup_is_acked_after_the_burst_ends() -> None:
    """A half-duplex driver hears nothing while it transmits: the ACK waits for the burst."""
    link = PumpLink(PID)
    events = link.receive(air(command_frame(PID, MessageType.POWER_ON)), 20, burst_end_ms=4_600)
    assert isinstance(events[0], Woke)
    tx = events[1]
    assert isinstance(tx, Transmit) and tx.t_ms == 4_605
    assert decode_packet(tx.packet) == ack_frame(PID)
    assert link.state is PumpLinkState.AWAITING_ARGS


def test_power_on_arguments_set_the_window() -> None:
    """02 01 0A keeps the radio on 10 minutes; the window then closes and the pump sleeps."""
    link = PumpLink(PID)
    wake(link)
    events = link.receive(air(args_frame(PID, PowerOnBody(10))), 1_000)
    assert events[0] == PoweredOn(1_000, 10, True, 601_000)
    assert transmitted(events) == [ack_frame(PID)]
    assert link.tick(600_999) == [] and link.deadline_ms == 601_000
    assert link.tick(601_000) == [FellAsleep(601_000)]
    assert link.state is PumpLinkState.ASLEEP


def test_power_off_arguments_put_the_radio_to_sleep_after_the_ack() -> None:
    """02 00 00 (decocare PowerControlOff): ACK, then asleep."""
    link = awake_link()
    link.receive(air(command_frame(PID, MessageType.POWER_ON)), 100)
    events = link.receive(air(args_frame(PID, PowerOnBody(0, on=False))), 200)
    assert transmitted(events) == [ack_frame(PID)] and isinstance(events[-1], FellAsleep)
    assert link.state is PumpLinkState.ASLEEP


def test_each_exchange_extends_the_window() -> None:
    """A read one second before the window closes keeps the pump awake a minute more."""
    link = PumpLink(PID, awake_until_ms=10_000)
    link.receive(air(command_frame(PID, MessageType.READ_STATUS)), 9_000)
    link.answer(PumpStatusBody(False, False), 9_000)
    assert link.awake_until_ms == 69_000
    assert link.tick(10_000) == []


def test_command_then_arguments_then_the_intakes_answer() -> None:
    """Short 0x42 is ACKed by the link; the long packet goes to the intake, whose ACK is sent."""
    link = awake_link()
    first = link.receive(air(command_frame(PID, MessageType.BOLUS)), 100, tag="tx-1")
    assert transmitted(first) == [ack_frame(PID)]
    assert link.state is PumpLinkState.AWAITING_ARGS
    second = link.receive(air(args_frame(PID, BolusBody(60))), 200, tag="tx-2")
    assert second == [CommandReceived(200, 0x42, BolusBody(60), "tx-2")]
    assert link.pending == BolusBody(60)
    answer = link.ack(200)
    assert transmitted(answer) == [ack_frame(PID)]
    assert isinstance(answer[0], Transmit) and answer[0].t_ms == 205
    assert link.state.value == "awake" and link.pending is None


def test_refusal_goes_out_as_a_nak_with_its_code() -> None:
    """nak(REFUSED) sends A7 id 15 08."""
    link = awake_link()
    link.receive(air(command_frame(PID, MessageType.BOLUS)), 100)
    link.receive(air(args_frame(PID, BolusBody(60))), 200)
    assert transmitted(link.nak(NakCode.REFUSED, 200)) == [
        PumpFrame(PID, MessageType.NAK, b"\x08")]


def test_a_repeated_command_packet_is_acked_again() -> None:
    """The driver retries the short packet when the ACK was lost: the pump ACKs again."""
    link = awake_link()
    link.receive(air(command_frame(PID, MessageType.BOLUS)), 100)
    again = link.receive(air(command_frame(PID, MessageType.BOLUS)), 400)
    assert transmitted(again) == [ack_frame(PID)]
    assert link.state is PumpLinkState.AWAITING_ARGS


def test_arguments_without_their_command_packet_are_ignored() -> None:
    """A lone argument packet (no short packet before it) does nothing."""
    link = awake_link()
    events = link.receive(air(args_frame(PID, BolusBody(60))), 100)
    assert len(events) == 1 and isinstance(events[0], Ignored)
    assert events[0].reason is IgnoreReason.UNEXPECTED


def test_arguments_repeated_after_the_answer_are_not_executed_again() -> None:
    """The driver resends arguments when the ACK was lost; the pump already acted: silence."""
    link = awake_link()
    link.receive(air(command_frame(PID, MessageType.BOLUS)), 100)
    link.receive(air(args_frame(PID, BolusBody(60))), 200)
    link.ack(200)
    events = link.receive(air(args_frame(PID, BolusBody(60))), 500)
    assert not any(isinstance(e, CommandReceived | Transmit) for e in events)


def test_malformed_arguments_are_handed_to_the_intake() -> None:
    """The intake decides (and records) a malformed request; the link does not hide it."""
    link = awake_link()
    link.receive(air(command_frame(PID, MessageType.BOLUS)), 100)
    bad = PumpFrame(PID, MessageType.BOLUS, bytes([3, 0, 0, 60]) + bytes(61))
    (event,) = link.receive(air(bad), 200)
    assert isinstance(event, CommandReceived)
    assert isinstance(event.request, MalformedArguments)


def test_a_read_goes_to_the_intake_and_its_answer_on_the_air() -> None:
    """Short 0x8D -> CommandReceived(ReadRequest); answer(ModelBody) -> the long answer."""
    link = awake_link()
    (event,) = link.receive(air(command_frame(PID, MessageType.READ_MODEL)), 100)
    assert isinstance(event, CommandReceived)
    assert event.request == ReadRequest(MessageType.READ_MODEL)
    (frame,) = transmitted(link.answer(ModelBody("523"), 100))
    assert frame.message_type == 0x8D and ModelBody.decode(frame.body) == ModelBody("523")


def test_history_page_goes_out_one_frame_per_ack() -> None:
    """Frames 1..16, the next only after the driver's ACK; 0x80 marks frame 16."""
    link = awake_link()
    link.receive(air(command_frame(PID, MessageType.READ_HISTORY_PAGE)), 100)
    link.receive(air(args_frame(PID, ReadHistoryPageBody(0))), 200)
    page = encode_history_page([])
    sent = transmitted(link.answer_frames(page, 200))
    t = 300
    while link.state is PumpLinkState.SENDING_FRAMES:
        sent += transmitted(link.receive(air(ack_frame(PID)), t))
        t += 100
    frames = [DataFrameBody.decode(f.body) for f in sent]
    assert [f.frame_number for f in frames] == list(range(1, 17))
    assert [f.last for f in frames].count(True) == 1 and frames[-1].last
    assert DataFrameBody.join(frames) == page
    assert link.state is PumpLinkState.AWAKE


def test_a_new_command_interrupts_a_multi_frame_answer() -> None:
    """The driver gave up on the page: its next command is served."""
    link = awake_link()
    link.receive(air(command_frame(PID, MessageType.READ_HISTORY_PAGE)), 100)
    link.receive(air(args_frame(PID, ReadHistoryPageBody(0))), 200)
    link.answer_frames(encode_history_page([]), 200)
    events = link.receive(air(command_frame(PID, MessageType.READ_STATUS)), 900)
    assert isinstance(events[0], CommandReceived)


def test_frames_for_others_are_ignored() -> None:
    """Another pump's id, and MySentry frames, are dropped with a reason."""
    link = awake_link()
    other = link.receive(air(command_frame(bytes.fromhex("111111"), MessageType.BOLUS)), 10)
    mysentry = link.receive(air(PumpFrame(PID, 0x04, bytes(36), PacketType.MYSENTRY)), 20)
    assert [e.reason for e in other + mysentry if isinstance(e, Ignored)] == [
        IgnoreReason.OTHER_DEVICE, IgnoreReason.NOT_FOR_PUMP]


def test_peripheral_frames_arrive_even_while_asleep() -> None:
    """The meter link is one-way: its frame is handed over without any wake-up."""
    link = PumpLink(PID)
    meter = MeterFrame(bytes.fromhex("c527ad"), 142)
    assert link.receive(to_air(meter), 2_000, tag=7) == [PeripheralReceived(2_000, meter, 7)]
    assert link.state is PumpLinkState.ASLEEP


def test_garbage_is_ignored_not_raised() -> None:
    """Undecodable bytes come back as Ignored(UNDECODABLE)."""
    (event,) = PumpLink(PID).receive(b"\xff\xff\xff", 5)
    assert isinstance(event, Ignored) and event.reason is IgnoreReason.UNDECODABLE


def test_frames_are_dropped_while_the_intake_owes_an_answer() -> None:
    """BUSY until the pending request is answered."""
    link = awake_link()
    link.receive(air(command_frame(PID, MessageType.READ_STATUS)), 100)
    (event,) = link.receive(air(command_frame(PID, MessageType.READ_MODEL)), 150)
    assert isinstance(event, Ignored) and event.reason is IgnoreReason.BUSY


def _pending_read() -> PumpLink:
    link = awake_link()
    link.receive(air(command_frame(PID, MessageType.READ_STATUS)), 100)
    return link


def _pending_command() -> PumpLink:
    link = awake_link()
    link.receive(air(command_frame(PID, MessageType.BOLUS)), 100)
    link.receive(air(args_frame(PID, BolusBody(4))), 150)
    return link


ILLEGAL = [
    ("ack with nothing pending", lambda: awake_link().ack(1)),
    ("nak while asleep", lambda: PumpLink(PID).nak(NakCode.REFUSED, 1)),
    ("answer with nothing pending", lambda: awake_link().answer(ModelBody("523"), 1)),
    ("ack to a read", lambda: _pending_read().ack(200)),
    ("answer to a command", lambda: _pending_command().answer(ModelBody("523"), 200)),
    ("answer of the wrong type", lambda: _pending_read().answer(ModelBody("523"), 200)),
    ("frames to a one-frame read", lambda: _pending_read().answer_frames(bytes(64), 200)),
    ("decline with nothing pending", lambda: awake_link().decline(1)),
]


@pytest.mark.parametrize("call", [c for _, c in ILLEGAL], ids=[n for n, _ in ILLEGAL])
def test_out_of_turn_calls_raise_illegal_transition(call: object) -> None:
    """Each local call that does not fit the state raises IllegalTransition."""
    with pytest.raises(IllegalTransition):
        call()  # type: ignore[operator]


def test_nak_needs_a_nak_code() -> None:
    """A raw int is a programming error (TypeError)."""
    with pytest.raises(TypeError):
        _pending_command().nak(8, 200)  # type: ignore[arg-type]


def test_decline_sends_nothing() -> None:
    """A declined request leaves the air silent and the pump awake."""
    link = _pending_command()
    assert link.decline(200) == [] and link.state is PumpLinkState.AWAKE


def test_the_ack_frame_decodes_on_air() -> None:
    """What the link transmits is a well-formed on-air frame."""
    link = awake_link()
    (tx,) = link.receive(air(command_frame(PID, MessageType.BOLUS)), 100)
    assert isinstance(tx, Transmit) and decode_air(tx.air) == ack_frame(PID)


def _pending_of(kind: PendingKind) -> PumpLink:
    link = awake_link()
    if kind is PendingKind.COMMAND:
        link.receive(air(command_frame(PID, MessageType.BOLUS)), 100)
        link.receive(air(args_frame(PID, BolusBody(4))), 150)
    elif kind is PendingKind.MALFORMED:
        link.receive(air(command_frame(PID, MessageType.BOLUS)), 100)
        link.receive(air(PumpFrame(PID, MessageType.BOLUS, bytes([9]) + bytes(64))), 150)
    elif kind is PendingKind.READ:
        link.receive(air(command_frame(PID, MessageType.READ_STATUS)), 100)
    else:
        link.receive(air(command_frame(PID, MessageType.READ_HISTORY_PAGE)), 100)
        link.receive(air(args_frame(PID, ReadHistoryPageBody(0))), 150)
    assert link.state is PumpLinkState.AWAITING_ANSWER
    return link


ANSWERS = {
    "ack": lambda link: link.ack(200),
    "nak": lambda link: link.nak(NakCode.REFUSED, 200),
    "answer": lambda link: link.answer(PumpStatusBody(False, False), 200),
    "answer_frames": lambda link: link.answer_frames(encode_history_page([]), 200),
    "decline": lambda link: link.decline(200),
}


@pytest.mark.parametrize("kind", list(PendingKind))
@pytest.mark.parametrize("call", sorted(ANSWERS))
def test_answer_table_is_enforced(kind: PendingKind, call: str) -> None:
    """Every (pending kind, answer) pair: legal ones go through, the others raise."""
    link = _pending_of(kind)
    if call in ANSWER_TABLE[kind]:
        ANSWERS[call](link)
        assert link.state in (PumpLinkState.AWAKE, PumpLinkState.SENDING_FRAMES)
    else:
        with pytest.raises(IllegalTransition):
            ANSWERS[call](link)
        assert link.state is PumpLinkState.AWAITING_ANSWER

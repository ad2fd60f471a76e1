"""Jamming: continuous noise on a channel for a time, and reactive jamming of chosen frames."""

from __future__ import annotations

import pytest
from radiokit import LONG_AIR, OTHER, QUIET, SHORT_AIR, Inbox, Records, device, quiet_medium

from pumplab.clock import EventClock
from pumplab.link.radio import FrameStart, JamRecord, MediumRadio, RxStatus


def test_continuous_jamming_blocks_frames_while_it_lasts() -> None:
    """Frames during the jam are lost as jammed; after it they arrive again."""
    clock, medium = quiet_medium()
    records = Records()
    medium.add_frame_observer(records)
    cgm = medium.add(device("cgm", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 0.5), channels=[QUIET.name], handler=inbox)
    jammer = medium.add(device("jammer", 20.0, eirp_dbm=30.0), channels=[QUIET.name])
    jammer.jam(1_000)
    clock.run_until(100)
    cgm.transmit(SHORT_AIR)
    clock.run_until(1_000)
    cgm.transmit(SHORT_AIR)
    clock.run_until(1_100)
    assert [r.start_us for r in inbox.got] == [1_000_000]
    assert records.by_id()["cgm#1"].rx["pump"].status is RxStatus.JAMMED


def test_weak_jamming_far_away_does_not_block() -> None:
    """A jammer whose noise arrives far below the signal changes nothing."""
    clock, medium = quiet_medium()
    cgm = medium.add(device("cgm", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 0.5), channels=[QUIET.name], handler=inbox)
    medium.add(device("jammer", 500.0, eirp_dbm=0.0), channels=[QUIET.name]).jam(1_000)
    cgm.transmit(SHORT_AIR)
    clock.run_until(100)
    assert len(inbox.got) == 1


def test_jamming_one_channel_leaves_another_alone() -> None:
    """Jamming raises the noise on its channel only."""
    clock, medium = quiet_medium()
    cgm = medium.add(device("cgm", 0.0), channels=[OTHER.name])
    inbox = Inbox()
    medium.add(device("pump", 0.5), channels=[OTHER.name], handler=inbox)
    medium.add(device("jammer", 1.0, eirp_dbm=30.0), channels=[QUIET.name]).jam(1_000)
    cgm.transmit(SHORT_AIR)
    clock.run_until(100)
    assert len(inbox.got) == 1


def test_jammer_is_busy_while_jamming_and_stop_ends_it() -> None:
    """A jamming radio cannot transmit (half-duplex) until it stops."""
    clock, medium = quiet_medium()
    cgm = medium.add(device("cgm", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 0.5), channels=[QUIET.name], handler=inbox)
    jammer = medium.add(device("jammer", 2.0, eirp_dbm=30.0), channels=[QUIET.name])
    jammer.jam(60_000)
    clock.run_until(10)
    with pytest.raises(ValueError, match="still on the air"):
        jammer.transmit(SHORT_AIR)
    jammer.stop()
    cgm.transmit(SHORT_AIR)
    clock.run_until(100)
    assert len(inbox.got) == 1
    jammer.transmit(SHORT_AIR)


def test_jam_observers_see_every_jamming_transmission() -> None:
    """Jamming is ground truth for the lab, reported when it starts."""
    clock, medium = quiet_medium()
    jams: list[JamRecord] = []
    medium.add_jam_observer(jams.append)
    clock.run_until(5)
    medium.add(device("jammer", 2.0, eirp_dbm=30.0), channels=[QUIET.name]).jam(250)
    assert jams == [JamRecord("jammer", QUIET.name, 5_000, 250_000, 30.0, (2.0, 0.0))]


def _reactive_rig() -> tuple[EventClock, MediumRadio, Inbox, list[FrameStart], Records]:
    clock, medium = quiet_medium()
    records = Records()
    medium.add_frame_observer(records)
    sender = medium.add(device("sender", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 1.0), channels=[QUIET.name], handler=inbox)
    guardian = medium.add(device("guardian", 0.5, eirp_dbm=0.0), channels=[QUIET.name])
    seen: list[FrameStart] = []

    def only_0xaa(start: FrameStart) -> bool:
        seen.append(start)
        return start.air_prefix[:1] == b"\xaa"

    # 12 ms after the start: 16-byte preamble and 4 sync bytes (9.77 ms) plus 4 whole
    # air bytes (1.95 ms) have arrived.
    guardian.jam_reactively(only_0xaa, reaction_us=12_000)
    return clock, sender, inbox, seen, records


def test_reactive_jammer_jams_only_the_frames_its_trigger_picks() -> None:
    """A guardian jams a frame it recognises from its first bytes, and no other."""
    clock, sender, inbox, seen, records = _reactive_rig()
    sender.transmit(b"\xaa" + SHORT_AIR[1:])
    clock.run_until(50)
    sender.transmit(b"\xbb" + SHORT_AIR[1:])
    clock.run_until(100)
    assert [r.air[0] for r in inbox.got] == [0xBB]
    assert [s.air_prefix for s in seen] == [b"\xaa" + SHORT_AIR[1:4], b"\xbb" + SHORT_AIR[1:4]]
    assert records.by_id()["sender#1"].rx["pump"].status is RxStatus.JAMMED
    # The guardian itself could not receive the frame it jammed (half-duplex).
    assert records.by_id()["sender#1"].rx["guardian"].status is RxStatus.TRANSMITTING


def test_reactive_jamming_covers_every_repetition_of_a_burst() -> None:
    """A triggered jam follows each repetition of a wake-up burst."""
    clock, sender, inbox, seen, _ = _reactive_rig()
    sender.transmit(b"\xaa" + SHORT_AIR[1:], repeat=50, interval_ms=24)
    clock.run_until(2_000)
    assert inbox.got == [] and len(seen) == 1


def test_cancelled_reactive_jammer_stops_reacting() -> None:
    """cancel() ends the registration."""
    clock, medium = quiet_medium()
    sender = medium.add(device("sender", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 1.0), channels=[QUIET.name], handler=inbox)
    guardian = medium.add(device("guardian", 0.5), channels=[QUIET.name])
    registration = guardian.jam_reactively(lambda start: True, reaction_us=10_000)
    registration.cancel()
    sender.transmit(SHORT_AIR)
    clock.run_until(50)
    assert len(inbox.got) == 1


def test_reactive_jammer_cannot_hear_while_it_transmits() -> None:
    """A reactive jammer busy with its own frame misses (and cannot jam) a frame's start."""
    clock, medium = quiet_medium()
    sender = medium.add(device("sender", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 1.0), channels=[QUIET.name], handler=inbox)
    guardian = medium.add(device("guardian", 30.0), channels=[QUIET.name])
    guardian.jam_reactively(lambda start: True, reaction_us=10_000)
    guardian.transmit(LONG_AIR)
    sender.transmit(SHORT_AIR)
    clock.run_until(100)
    assert len(inbox.got) == 1

"""The medium: airtime, reach, half-duplex, collisions and capture, provenance, misuse."""

from __future__ import annotations

import pytest
from radiokit import LONG_AIR, OTHER, QUIET, SHORT_AIR, Inbox, Records, device, quiet_medium

from pumplab.link.radio import Participant, Radio, RxStatus
from pumplab.link.radio.calibration import median_received_dbm


def test_frame_is_delivered_when_its_airtime_ends() -> None:
    """A 12-byte legacy frame sent at 100 ms is received at 115.625 ms (event at 116 ms)."""
    clock, medium = quiet_medium()
    tx = medium.add(device("tx", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("rx", 1.0), channels=[QUIET.name], handler=inbox)
    clock.run_until(100)
    report = tx.transmit(SHORT_AIR)
    assert (report.start_ms, report.end_ms, report.airtime_us) == (100, 116, 15_625)
    clock.run_until(115)
    assert inbox.got == []
    clock.run_until(116)
    [got] = inbox.got
    assert (got.air, got.channel, got.start_us, got.end_us) == (SHORT_AIR, QUIET.name, 100_000,
                                                                 115_625)


def test_rssi_is_the_link_budget_on_a_quiet_channel() -> None:
    """Without shadowing the reported RSSI is EIRP − path loss − body + gain, to 0.1 dB."""
    clock, medium = quiet_medium()
    pump = device("pump", 0.0, worn_on="wearer")
    remote = device("remote", 1.5)
    inbox = Inbox()
    medium.add(pump, channels=[QUIET.name], handler=inbox)
    medium.add(remote, channels=[QUIET.name]).transmit(SHORT_AIR)
    clock.run_until(20)
    assert inbox.got[0].rssi_dbm == round(median_received_dbm(remote, pump, QUIET, 1.5), 1)


def test_frame_beyond_reach_is_lost_to_bit_errors() -> None:
    """At 50 m a legacy device's frame is below the noise: lost, counted as bit errors."""
    clock, medium = quiet_medium()
    tx = medium.add(device("tx", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("rx", 50.0), channels=[QUIET.name], handler=inbox)
    tx.transmit(SHORT_AIR)
    clock.run_until(100)
    assert inbox.got == []
    assert medium.stats.bit_errors == 1 and medium.stats.deliveries == 0


def test_receiver_tuned_elsewhere_hears_nothing() -> None:
    """Frames stay on their channel."""
    clock, medium = quiet_medium()
    tx = medium.add(device("tx", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    rx = medium.add(device("rx", 1.0), channels=[OTHER.name], handler=inbox)
    tx.transmit(SHORT_AIR)
    clock.run_until(50)
    assert inbox.got == []
    rx.tune(QUIET.name)
    tx.transmit(SHORT_AIR)
    clock.run_until(100)
    assert len(inbox.got) == 1


def test_provenance_resolves_to_the_true_transmitter_and_shows_nothing() -> None:
    """The lab resolves a reception's token; the reception's repr does not reveal the sender."""
    clock, medium = quiet_medium()
    attacker = medium.add(device("attacker", 0.0, eirp_dbm=40.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 3.0), channels=[QUIET.name], handler=inbox)
    clock.run_until(7)
    attacker.transmit(SHORT_AIR)
    clock.run_until(30)
    [got] = inbox.got
    truth = medium.resolve(got.provenance)
    assert (truth.transmitter, truth.tx_id, truth.t_ms) == ("attacker", "attacker#1", 7)
    assert "attacker" not in repr(got) and "attacker" not in repr(got.provenance)
    _, other = quiet_medium()
    with pytest.raises(ValueError, match="does not come from this medium"):
        other.resolve(got.provenance)


def test_transmitting_radio_cannot_receive() -> None:
    """Half-duplex: a frame that overlaps a radio's own transmission is lost at that radio."""
    clock, medium = quiet_medium()
    records = Records()
    medium.add_frame_observer(records)
    a = medium.add(device("a", 0.0), channels=[QUIET.name])
    b = medium.add(device("b", 1.0), channels=[QUIET.name])
    a.transmit(LONG_AIR)                      # on the air 0-62.5 ms
    clock.run_until(10)
    b.transmit(SHORT_AIR)                     # 10-25.6 ms, inside a's frame
    clock.run_until(100)
    frames = records.by_id()
    assert frames["b#1"].rx["a"].status is RxStatus.TRANSMITTING
    assert frames["a#1"].rx["b"].status is RxStatus.TRANSMITTING


def test_radio_cannot_start_a_second_transmission_while_on_the_air() -> None:
    """A second transmit during the first is misuse; after busy_until_ms it is fine."""
    clock, medium = quiet_medium()
    a = medium.add(device("a", 0.0), channels=[QUIET.name])
    a.transmit(LONG_AIR)
    clock.run_until(30)
    with pytest.raises(ValueError, match="still on the air"):
        a.transmit(SHORT_AIR)
    assert a.busy_until_ms() == 63
    clock.run_until(63)
    a.transmit(SHORT_AIR)


def test_overlapping_frames_of_equal_strength_collide() -> None:
    """Two equally strong overlapping frames: neither gets through."""
    clock, medium = quiet_medium()
    records = Records()
    medium.add_frame_observer(records)
    inbox = Inbox()
    medium.add(device("rx", 0.0), channels=[QUIET.name], handler=inbox)
    left = medium.add(device("left", -1.0), channels=[QUIET.name])
    right = medium.add(device("right", 1.0), channels=[QUIET.name])
    left.transmit(SHORT_AIR)
    clock.run_until(5)
    right.transmit(SHORT_AIR)
    clock.run_until(100)
    assert inbox.got == []
    assert {f.rx["rx"].status for f in records.frames} == {RxStatus.COLLISION}


@pytest.mark.parametrize(
    ("far_m", "near_captures"),
    [
        (1.9, False),   # 24·log10(1.9) = 6.7 dB < 8 dB capture ratio
        (2.4, True),    # 9.1 dB >= 8 dB
        (8.0, True),    # 21.7 dB
    ],
)
def test_stronger_frame_captures_the_receiver_beyond_the_capture_ratio(
    far_m: float, near_captures: bool
) -> None:
    """The nearer frame survives only if it is at least the capture ratio stronger."""
    clock, medium = quiet_medium()
    inbox = Inbox()
    medium.add(device("rx", 0.0), channels=[QUIET.name], handler=inbox)
    near = medium.add(device("near", 1.0), channels=[QUIET.name])
    far = medium.add(device("far", -far_m, eirp_dbm=20.0), channels=[QUIET.name])
    far.transmit(LONG_AIR)
    clock.run_until(3)
    near.transmit(SHORT_AIR, power_dbm=20.0)
    clock.run_until(100)
    senders = [medium.resolve(r.provenance).transmitter for r in inbox.got]
    assert senders == (["near"] if near_captures else [])


def test_back_to_back_frames_do_not_collide() -> None:
    """A frame starting the millisecond after another ends is received too."""
    clock, medium = quiet_medium()
    inbox = Inbox()
    medium.add(device("rx", 0.0), channels=[QUIET.name], handler=inbox)
    a = medium.add(device("a", -1.0), channels=[QUIET.name])
    b = medium.add(device("b", 1.0), channels=[QUIET.name])
    a.transmit(SHORT_AIR)                     # ends at 15.625 ms
    clock.run_until(16)
    b.transmit(SHORT_AIR)
    clock.run_until(100)
    assert [medium.resolve(r.provenance).transmitter for r in inbox.got] == ["a", "b"]


def test_moving_a_receiver_changes_what_it_hears() -> None:
    """Positions are live: a receiver moved out of range stops receiving."""
    clock, medium = quiet_medium()
    tx = medium.add(device("tx", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("rx", 1.0), channels=[QUIET.name], handler=inbox)
    tx.transmit(SHORT_AIR)
    clock.run_until(20)
    medium.move("rx", (80.0, 0.0))
    tx.transmit(SHORT_AIR)
    clock.run_until(40)
    assert len(inbox.got) == 1


def test_removed_radio_hears_nothing_and_cannot_transmit() -> None:
    """remove() takes a participant off the air."""
    clock, medium = quiet_medium()
    tx = medium.add(device("tx", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    rx = medium.add(device("rx", 1.0), channels=[QUIET.name], handler=inbox)
    tx.transmit(SHORT_AIR)
    medium.remove("rx")
    clock.run_until(20)
    assert inbox.got == []
    with pytest.raises(ValueError, match="removed"):
        rx.transmit(SHORT_AIR)


def test_sleeping_receiver_hears_nothing() -> None:
    """sleep() turns the receiver off; listen() turns it back on."""
    clock, medium = quiet_medium()
    tx = medium.add(device("tx", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    rx = medium.add(device("rx", 1.0), channels=[QUIET.name], handler=inbox)
    rx.sleep()
    tx.transmit(SHORT_AIR)
    clock.run_until(20)
    rx.listen()
    tx.transmit(SHORT_AIR)
    clock.run_until(40)
    assert [r.start_us for r in inbox.got] == [20_000]
    assert medium.stats.not_listening == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"air": b""}, "non-empty"),
        ({"air": SHORT_AIR, "repeat": 0}, "repeat"),
        ({"air": SHORT_AIR, "repeat": 2, "interval_ms": 10}, "shorter than one frame"),
        ({"air": SHORT_AIR, "interval_ms": -1}, "interval_ms"),
        ({"air": SHORT_AIR, "channel": "nowhere"}, "unknown channel"),
        ({"air": SHORT_AIR, "power_dbm": float("nan")}, "power_dbm"),
    ],
)
def test_impossible_transmissions_are_refused(kwargs: dict[str, object], message: str) -> None:
    """Misuse of transmit raises ValueError naming what is wrong."""
    _, medium = quiet_medium()
    radio = medium.add(device("tx", 0.0), channels=[QUIET.name])
    with pytest.raises(ValueError, match=message):
        radio.transmit(**kwargs)  # type: ignore[arg-type]


def test_participant_names_are_unique_and_channels_known() -> None:
    """Adding a name twice, or listening on an unknown channel, is refused."""
    _, medium = quiet_medium()
    medium.add(device("a", 0.0), channels=[QUIET.name])
    with pytest.raises(ValueError, match="already on the air"):
        medium.add(device("a", 1.0), channels=[QUIET.name])
    with pytest.raises(ValueError, match="unknown channel"):
        medium.add(device("b", 1.0), channels=["nowhere"])


def test_radio_needs_a_channel_when_it_listens_on_several() -> None:
    """transmit() without a channel is ambiguous for a radio tuned to two."""
    _, medium = quiet_medium()
    radio = medium.add(device("a", 0.0), channels=[QUIET.name, OTHER.name])
    with pytest.raises(ValueError, match="say which"):
        radio.transmit(SHORT_AIR)
    radio.transmit(SHORT_AIR, channel=OTHER.name)


def test_medium_radio_is_a_radio() -> None:
    """MediumRadio implements the Radio protocol a real adapter would."""
    _, medium = quiet_medium()
    assert isinstance(medium.add(device("a", 0.0), channels=[QUIET.name]), Radio)
    assert medium.radio("a").airtime_us(12) == 15_625


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "name"),
        ({"position_m": (1.0,)}, "position_m"),
        ({"position_m": (1.0, float("inf"))}, "position_m"),
        ({"eirp_dbm": float("nan")}, "eirp_dbm"),
        ({"worn_on": ""}, "worn_on"),
    ],
)
def test_impossible_participants_are_refused(kwargs: dict[str, object], message: str) -> None:
    """A participant needs a name, a finite 2-D position and a finite power."""
    fields: dict[str, object] = {"name": "a", "position_m": (0.0, 0.0), "eirp_dbm": 0.0}
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Participant(**fields)  # type: ignore[arg-type]


def test_participant_position_is_stored_as_a_float_pair() -> None:
    assert Participant("a", [1, 2], 0.0).position_m == (1.0, 2.0)  # type: ignore[arg-type]

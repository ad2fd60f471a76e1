"""The CGM transmitter: 5-minute readings, acknowledgements and backfill."""

from pumplab.clock import MS_PER_MINUTE, EventClock
from pumplab.devices.cgm import CgmTransmitter
from pumplab.link.base import Envelope
from pumplab.link.memory import InMemoryLink
from pumplab.link.messages import Ack, SensorBackfill, SensorFlag, SensorReading


class AckingReceiver:
    """Stands in for the pump: records readings, acknowledges them while 'in range'."""

    def __init__(self, clock: EventClock, link: InMemoryLink) -> None:
        self.link = link
        self.in_range = True
        self.readings: dict[int, SensorReading] = {}
        self.backfills = 0
        link.attach("pump:1", self.on_envelope)

    def on_envelope(self, env: Envelope) -> None:
        if not self.in_range:
            return
        msg = env.message
        if isinstance(msg, SensorReading):
            self.readings[msg.seq] = msg
            self.link.send("pump:1", env.src, Ack("SensorReading", command_id=msg.seq))
        elif isinstance(msg, SensorBackfill):
            self.backfills += 1
            for r in msg.readings:
                self.readings[r.seq] = r
            top = max(r.seq for r in msg.readings)
            self.link.send("pump:1", env.src, Ack("SensorBackfill", command_id=top))


def make(source=lambda now: (100.0 + now / MS_PER_MINUTE, SensorFlag.OK)):  # type: ignore[no-untyped-def]
    clock = EventClock()
    link = InMemoryLink(clock)
    pump = AckingReceiver(clock, link)
    tx = CgmTransmitter("cgm:1", "pump:1", clock, link, source)
    tx.start()
    return clock, pump, tx


def test_sends_a_reading_every_five_minutes() -> None:
    """One numbered reading per 5 minutes, sampled at the grid time."""
    clock, pump, tx = make()
    clock.run_until(60 * MS_PER_MINUTE - 1)
    assert sorted(pump.readings) == list(range(1, 13))
    assert [pump.readings[s].sampled_at_ms for s in (1, 2)] == [0, 5 * MS_PER_MINUTE]
    assert pump.readings[2].glucose_mg_dl == 105.0
    assert tx.unacknowledged == 0


def test_backfills_readings_missed_while_out_of_range() -> None:
    """Readings sent during a gap reach the pump once it hears again."""
    clock, pump, tx = make()
    clock.run_until(20 * MS_PER_MINUTE - 1)  # seq 1..4 received
    pump.in_range = False
    clock.run_until(60 * MS_PER_MINUTE - 1)  # seq 5..12 missed
    assert tx.unacknowledged == 8
    pump.in_range = True
    clock.run_until(65 * MS_PER_MINUTE + 100)
    assert sorted(pump.readings) == list(range(1, 15))
    assert pump.backfills == 1
    assert tx.unacknowledged == 0


def test_missing_samples_are_not_invented() -> None:
    """Warm-up or dropout (no value) sends nothing and backfills nothing."""
    clock, pump, tx = make(lambda now: (None, SensorFlag.OK) if now < 30 * MS_PER_MINUTE
                           else (120.0, SensorFlag.OK))
    clock.run_until(40 * MS_PER_MINUTE - 1)
    assert sorted(pump.readings) == [7, 8]
    assert tx.readings_sent == 2


def test_low_and_high_flags_are_sent() -> None:
    """LOW and HIGH readings travel with their flag."""
    clock, pump, _tx = make(lambda now: (None, SensorFlag.LOW))
    clock.run_until(100)
    assert pump.readings[1].flag is SensorFlag.LOW


def test_backfill_keeps_at_most_the_limit() -> None:
    """The transmitter's memory is bounded (oldest readings are dropped)."""
    clock = EventClock()
    link = InMemoryLink(clock)
    tx = CgmTransmitter("cgm:1", "pump:1", clock, link, lambda n: (100.0, SensorFlag.OK),
                        backfill_limit=3)
    tx.start()
    clock.run_until(60 * MS_PER_MINUTE - 1)  # nobody acknowledges
    assert tx.unacknowledged == 4
    assert tx.dropped_unacked == 8


def test_a_stopped_transmitter_sends_nothing_more() -> None:
    """Switched off, the transmitter stops sampling and leaves the link."""
    clock, pump, tx = make()
    clock.run_until(12 * MS_PER_MINUTE)
    assert sorted(pump.readings) == [1, 2, 3]
    tx.stop()
    clock.run_until(60 * MS_PER_MINUTE)
    assert sorted(pump.readings) == [1, 2, 3] and tx.readings_sent == 3

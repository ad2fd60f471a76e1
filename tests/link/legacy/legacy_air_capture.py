"""A small exchange on the radio medium, written to a capture file, for the `radio` CLI tests.

A RileyLink-class bridge drives an awake x23 (a 1.5 U bolus, then a status
read) with the real sans-I/O machines (`PumpDriver`, `PumpLink`) over a
`Medium`; a meter, a remote and a CGM transmitter send one frame each; an
attacker sends a wake-up burst to another serial and one frame that is no
4b6b.  The capture writer gets the legacy codec's 4b6b decoder, as a run's
would.  The channel has no shadowing, so what is delivered does not hang on a
draw; the capture records every transmission whatever its fate anyway.

The glue here is the minimum the test needs (the pump's intake and the
controller app's bridge are other parts of issue 12): transmissions are put on
the air at their `t_ms`, receptions are handed to the machine of the radio
that got them at the end of reception, the driver's timers run on the clock.
The pump starts awake, so there is no wake-up burst between the bridge and the
pump (the medium would deliver the burst's first and last copies; handling
that is the intake's business).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from pumplab.clock import EventClock, EventHandle
from pumplab.link.legacy import (
    RILEYLINK_BURST,
    CommandReceived,
    Completed,
    Failed,
    MessageType,
    MeterFrame,
    PumpDriver,
    PumpLink,
    ReadRequest,
    RemoteButton,
    RemoteFrame,
    Transmit,
    decode_4b6b,
    to_air,
)
from pumplab.link.legacy.messages import BolusBody, PumpStatusBody, command_frame
from pumplab.link.legacy.sensor import sensor_frame
from pumplab.link.radio import (
    LEGACY_OOK,
    CaptureWriter,
    Channel,
    Medium,
    MediumRadio,
    Participant,
    Propagation,
    Reception,
)

PUMP_ID = bytes.fromhex("665455")
OTHER_PUMP_ID = bytes.fromhex("123456")
METER_ID = bytes.fromhex("c527ad")
REMOTE_ID = bytes.fromhex("411525")
SENSOR_ID = bytes.fromhex("25c123")
QUIET = Channel("legacy-quiet", LEGACY_OOK, 916.5e6, Propagation(shadowing_sigma_db=0.0))
NOT_4B6B = bytes.fromhex("ffffffff00")


@dataclass
class CapturedExchange:
    """What the run produced: the capture text and the driver's outcomes."""

    capture: str
    outcomes: list[Completed | Failed]
    boluses: list[float]


@dataclass
class _Run:
    clock: EventClock
    medium: Medium
    driver: PumpDriver
    pump: PumpLink
    bridge: MediumRadio = field(init=False)
    pump_radio: MediumRadio = field(init=False)
    outcomes: list[Completed | Failed] = field(default_factory=list)
    boluses: list[float] = field(default_factory=list)
    _timer: EventHandle | None = None

    def send(self, radio: MediumRadio, tx: Transmit) -> None:
        def go() -> None:
            radio.transmit(tx.air, repeat=tx.repeat, interval_ms=tx.interval_ms)

        self.clock.schedule_at(max(tx.t_ms, self.clock.now_ms), go)

    def driver_events(self, events: Sequence[object]) -> None:
        for event in events:
            if isinstance(event, Transmit):
                self.send(self.bridge, event)
            elif isinstance(event, Completed | Failed):
                self.outcomes.append(event)
        if self._timer is not None:
            self.clock.cancel(self._timer)
            self._timer = None
        deadline = self.driver.deadline_ms
        if deadline is not None:
            at = max(deadline, self.clock.now_ms)
            self._timer = self.clock.schedule_at(
                at, lambda: self.driver_events(self.driver.tick(at)))

    def pump_events(self, events: Sequence[object]) -> None:
        for event in events:
            if isinstance(event, Transmit):
                self.send(self.pump_radio, event)
            elif isinstance(event, CommandReceived):
                self.pump_events(self._intake(event))

    def _intake(self, event: CommandReceived) -> list[object]:
        """A fake intake: accepts boluses, answers the status read, declines the rest."""
        request, t = event.request, event.t_ms
        if isinstance(request, BolusBody):
            self.boluses.append(request.amount_u)
            return list(self.pump.ack(t))
        if isinstance(request, ReadRequest) and request.message_type == MessageType.READ_STATUS:
            return list(self.pump.answer(PumpStatusBody(bolusing=False, suspended=False), t))
        return list(self.pump.decline(t))

    def to_driver(self, reception: Reception) -> None:
        self.driver_events(self.driver.receive(reception.air, self.clock.now_ms))

    def to_pump(self, reception: Reception) -> None:
        self.pump_events(self.pump.receive(reception.air, self.clock.now_ms))

    def request(self, request: BolusBody | ReadRequest) -> None:
        self.driver_events(self.driver.request(request, self.clock.now_ms))
        self.clock.run_until(self.clock.now_ms + 2_000)


def captured_exchange(seed: int = 7) -> CapturedExchange:
    """Run the exchange and return its capture (JSON Lines) and the driver's outcomes."""
    clock = EventClock()
    medium = Medium(clock, seed=seed, channels=(QUIET,))
    stream = io.StringIO()
    medium.add_frame_observer(CaptureWriter(stream, {QUIET.name: decode_4b6b}))
    awake_ms = 10 * 60_000
    run = _Run(clock, medium, PumpDriver(PUMP_ID, awake_until_ms=awake_ms),
               PumpLink(PUMP_ID, awake_until_ms=awake_ms))
    on = [QUIET.name]
    run.pump_radio = medium.add(Participant("pump", (0.0, 0.0), -1.2), channels=on,
                                handler=run.to_pump)
    run.bridge = medium.add(Participant("bridge", (1.0, 0.0), 10.0), channels=on,
                            handler=run.to_driver)
    meter = medium.add(Participant("meter", (0.5, 0.0), -1.2), channels=on)
    remote = medium.add(Participant("remote", (0.0, 0.8), -1.2), channels=on)
    cgm = medium.add(Participant("cgm", (0.1, 0.0), -1.2), channels=on)
    attacker = medium.add(Participant("attacker", (20.0, 0.0), 30.0), channels=on)

    clock.run_until(100)
    run.request(BolusBody.x23(1.5))
    run.request(ReadRequest(MessageType.READ_STATUS))
    meter.transmit(to_air(MeterFrame(METER_ID, 142)))
    clock.run_until(clock.now_ms + 100)
    remote.transmit(to_air(RemoteFrame(REMOTE_ID, RemoteButton.BOLUS, 93)))
    clock.run_until(clock.now_ms + 100)
    cgm.transmit(to_air(sensor_frame(SENSOR_ID, 5, 123.4)))
    clock.run_until(clock.now_ms + 100)
    burst = RILEYLINK_BURST
    attacker.transmit(to_air(command_frame(OTHER_PUMP_ID, MessageType.POWER_ON)),
                      repeat=burst.count, interval_ms=burst.interval_ms)
    clock.run_until(clock.now_ms + 6_000)
    attacker.transmit(NOT_4B6B)
    clock.run_until(clock.now_ms + 100)
    return CapturedExchange(stream.getvalue(), run.outcomes, run.boluses)

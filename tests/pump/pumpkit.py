"""Shared test bench for the pump tests: a pump on an in-memory link, with a motor record."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pumplab.clock import MS_PER_MINUTE, EventClock
from pumplab.devices.history import HistoryRecord, HistoryStore, JSONValue, MemoryHistory
from pumplab.devices.pump import ProtocolMode, Pump, PumpSettings, RecordingMotor
from pumplab.errors import HistoryError
from pumplab.link.base import Envelope
from pumplab.link.memory import InMemoryLink
from pumplab.link.messages import Message, Response

SERIAL = "665455"
PUMP = f"pump:{SERIAL}"
APP = "app:phone"
CLINIC = "clinic:desk"
CGM = "cgm:SN1234"
METER = "meter:C0FFEE"
REMOTE = "remote:123456"
ATTACKER = "radio:evil"


class FailingHistory(MemoryHistory):
    """A memory history whose appends fail on demand.

    After ``ok`` records every append raises ``error`` (a full disk); and, once,
    the next append of kind ``fail_on`` raises it (power lost between a command
    and its effect).
    """

    def __init__(self, ok: int | None = None,
                 error: Exception | None = None) -> None:
        super().__init__()
        self.ok = ok
        self.error = error if error is not None else HistoryError("disk full")
        self.fail_on: str | None = None

    def append(self, kind: str, data: Mapping[str, JSONValue], *, device_time_ms: int,
               clock_ms: int) -> HistoryRecord:
        if kind == self.fail_on:
            self.fail_on = None
            raise self.error
        if self.ok is not None and len(self.records()) >= self.ok:
            raise self.error
        return super().append(kind, data, device_time_ms=device_time_ms, clock_ms=clock_ms)


@dataclass
class Bench:
    """Clock, link, history, motor and pump, plus every answer the pump sent."""

    clock: EventClock
    link: InMemoryLink
    history: HistoryStore
    motor: RecordingMotor
    pump: Pump
    replies: list[Envelope] = field(default_factory=list)
    settings: PumpSettings | None = None
    mode: ProtocolMode = ProtocolMode.SECURE

    def run_min(self, minutes: float) -> None:
        self.clock.run_until(self.clock.now_ms + round(minutes * MS_PER_MINUTE))

    def send(self, src: str, message: Message) -> Response | None:
        """Send from ``src`` and deliver at once; returns the pump's answer to ``src``, if any."""
        before = len(self.replies)
        self.link.send(src, PUMP, message)
        self.clock.run_until(self.clock.now_ms)
        for env in self.replies[before:]:
            if env.dst == src and isinstance(env.message, Response):
                return env.message
        return None

    def kinds(self, kind: str) -> list[dict[str, object]]:
        return [dict(r.data) for r in self.history.records() if r.kind == kind]

    def restart(self, **kwargs: object) -> Pump:
        """Power the pump off and build a new one on the same history, motor and link."""
        self.pump.stop()
        self.pump = Pump(serial=SERIAL, clock=self.clock, link=self.link, history=self.history,
                         motor=self.motor, mode=self.mode,
                         rng=np.random.default_rng(7), **kwargs)  # type: ignore[arg-type]
        self.pump.start()
        return self.pump


def bench(mode: ProtocolMode | str = ProtocolMode.SECURE, settings: PumpSettings | None = None,
          *, history: HistoryStore | None = None, start_ms: int = 0, pair: bool = True,
          **kwargs: object) -> Bench:
    """A started pump; in secure mode the usual peers are paired (as if done on the keys)."""
    mode = ProtocolMode(mode)
    clock = EventClock(start_ms)
    link = InMemoryLink(clock, delay_ms=0)
    history = history if history is not None else MemoryHistory()
    motor = RecordingMotor(clock)
    if settings is None:
        settings = PumpSettings()
    if mode is ProtocolMode.SECURE and pair and not settings.pairings:
        settings = dataclasses.replace(settings, pairings=(
            (APP, "controller"), (CLINIC, "clinician"), (CGM, "cgm"), (METER, "meter"),
            (REMOTE, "remote")))
    pump = Pump(serial=SERIAL, clock=clock, link=link, history=history, motor=motor, mode=mode,
                settings=settings, rng=np.random.default_rng(7), **kwargs)  # type: ignore[arg-type]
    b = Bench(clock, link, history, motor, pump, settings=settings, mode=mode)
    for addr in (APP, CLINIC, CGM, METER, REMOTE, ATTACKER):
        link.attach(addr, b.replies.append)
    pump.start()
    return b


def motor_u(b: Bench, *, what: str | None = None, origin: str | None = None) -> float:
    """Insulin the motor delivered (U), optionally only basal/bolus or one origin."""
    mu = sum(25 for s in b.motor.strokes
             if (what is None or s.source.what == what)
             and (origin is None or s.source.origin == origin))
    return mu / 1000

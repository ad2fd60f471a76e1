"""The motor boundary and the x23's delivery timing.

Insulin leaves the pump only through a :class:`Motor`: ``push(amount_u,
source=...)`` drives one stroke and returns whether it went out (``False`` is a
motor fault or an occlusion: the pump raises its "NO DELIVERY" alarm).  The
motor is the independent record of insulin that reached the patient: the
world feeds it to the physiology, tests compare it with the pump's limits;
the pump's own bookkeeping (its history, its windows) is kept separately.

Timing facts used (docs/pump.md, "Delivery"):

* one stroke is 0.025 U for boluses and basal on x23 pumps (LoopKit MinimedKit
  ``PumpModel.pulsesPerUnit`` = 40 for generation ≥ 23; decocare/Pummpcomm read
  x23 amounts in 1/40 U);
* a normal bolus is delivered at 0.75 U/min below 1 U, at 1.5 U/min up to
  7.5 U, and in 5 minutes above that (LoopKit MinimedKit
  ``PumpModel.bolusDeliveryTime`` for x23 "variable rate" pumps; Loop's
  estimate from observing real pumps, not a Medtronic specification);
* basal is delivered in the same 0.025-U strokes, evenly: the pump credits
  ``rate × elapsed time`` and pushes a stroke each time a whole stroke has
  accrued (integer arithmetic, so no drift over a day).

This module holds no pump state.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pumplab.clock import MS_PER_HOUR, MS_PER_MINUTE, Clock

__all__ = [
    "BASAL_CREDIT_PER_STROKE",
    "STROKE_MU",
    "STROKE_U",
    "BolusKind",
    "Motor",
    "MotorStroke",
    "Origin",
    "RecordingMotor",
    "StrokeSource",
    "normal_bolus_duration_ms",
    "stroke_offset_ms",
]

#: One x23 stroke: 0.025 U = 25 mU.
STROKE_MU = 25
STROKE_U = 0.025
#: Basal credit is counted in mU·ms/h: a rate in mU/h times elapsed ms.  A stroke
#: is due when the credit reaches 25 mU × 1 h.
BASAL_CREDIT_PER_STROKE = STROKE_MU * MS_PER_HOUR


class Origin(enum.Enum):
    """Who started a delivery.  Written in history and passed to the motor."""

    SCHEDULE = "schedule"  # scheduled basal
    BUTTONS = "buttons"  # manual / square / dual bolus, temp basal, suspend from the keys
    WIZARD = "wizard"
    EASY = "easy"
    RADIO = "radio"  # legacy: any radio command (sender unknown)
    REMOTE = "remote"  # the keychain remote
    APP = "app"  # secure: a paired controller (automated delivery)
    AUTO_OFF = "auto_off"
    LIMIT = "limit"  # the pump itself, enforcing a limit

    @property
    def from_air(self) -> bool:
        """True for requests that arrived by radio (withholding limits apply)."""
        return self in (Origin.RADIO, Origin.REMOTE, Origin.APP)

    @property
    def automated(self) -> bool:
        """True for automated delivery (the active-insulin limit applies)."""
        return self is Origin.APP


class BolusKind(enum.Enum):
    NORMAL = "normal"
    SQUARE = "square"
    DUAL = "dual"


@dataclass(frozen=True, slots=True)
class StrokeSource:
    """What a stroke is for: ``what`` is ``"basal"`` or ``"bolus"``; ``origin`` an
    :class:`Origin` value; ``bolus_id`` names the bolus (None for basal)."""

    what: str
    origin: str
    bolus_id: int | None = None


@runtime_checkable
class Motor(Protocol):
    """The pump's drive: one call, one stroke."""

    def push(self, amount_u: float, *, source: StrokeSource) -> bool:
        """Deliver one stroke of ``amount_u``; False if it did not go out (fault/occlusion)."""
        ...


@dataclass(frozen=True, slots=True)
class MotorStroke:
    """One stroke that reached the patient."""

    at_ms: int
    amount_u: float
    source: StrokeSource


class RecordingMotor:
    """A motor that keeps every stroke that went out, with fault injection.

    ``occlude()`` makes every following push fail (the pump then alarms);
    ``clear_occlusion()`` fixes it.  ``add_listener(cb)`` calls
    ``cb(stroke)`` for each stroke delivered: the world uses it to feed the
    patient's insulin input.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.strokes: list[MotorStroke] = []
        self.occluded = False
        self.failed_pushes = 0
        self._listeners: list[Callable[[MotorStroke], None]] = []

    def push(self, amount_u: float, *, source: StrokeSource) -> bool:
        if self.occluded:
            self.failed_pushes += 1
            return False
        stroke = MotorStroke(self._clock.now_ms, amount_u, source)
        self.strokes.append(stroke)
        for listener in self._listeners:
            listener(stroke)
        return True

    def occlude(self) -> None:
        self.occluded = True

    def clear_occlusion(self) -> None:
        self.occluded = False

    def add_listener(self, listener: Callable[[MotorStroke], None]) -> None:
        self._listeners.append(listener)

    @property
    def total_u(self) -> float:
        """Everything delivered, U (strokes × 0.025, summed in milliunits)."""
        return round(sum(s.amount_u for s in self.strokes) * 1000) / 1000


def normal_bolus_duration_ms(amount_mu: int) -> int:
    """Time the x23 takes to deliver a normal bolus of ``amount_mu`` (LoopKit's model)."""
    if amount_mu <= 0:
        return 0
    if amount_mu < 1000:
        u_per_min = 0.75
    elif amount_mu > 7500:
        return 5 * MS_PER_MINUTE
    else:
        u_per_min = 1.5
    return round(amount_mu / 1000 / u_per_min * MS_PER_MINUTE)


def stroke_offset_ms(index: int, strokes: int, duration_ms: int) -> int:
    """When stroke ``index`` (0-based) of ``strokes`` spread over ``duration_ms`` goes out.

    Strokes end the slots they fill: the last one at ``duration_ms``, so a
    bolus takes its full delivery time and a square wave ends when it should.
    ``strokes`` must be at least 1 (a phase with no stroke has nothing to time).
    """
    if strokes < 1:
        raise ValueError(f"a delivery of {strokes} strokes has no stroke to time")
    return (index + 1) * duration_ms // strokes

"""The controller interface: what a closed-loop controller sees and what it may ask for.

A controller is a *pure decision*.  Every 5 minutes the loop gives it one
:class:`ControllerInput` — recent CGM readings with their times, the pump's
status (the running temp basal, active insulin), recent boluses, basal actually
delivered and carbs, the therapy profile and the current time — and it answers
with a :class:`Decision`: a :class:`TempBasal` (rate and duration; duration 0
cancels the running temp), an optional micro-bolus, or nothing, with
structured :class:`Reason` s.  A controller that boluses for announced meals
(the open-loop baseline, a hybrid loop) adds a :class:`MealBolus`: the bolus
the pump's Bolus Wizard recommends for one announced meal (a
:class:`CarbRecord`), which the supervisor checks against its own wizard
figure rather than against the micro-bolus limit.

Rules a controller follows:

* **no I/O and no wall clock**: time is ``ControllerInput.now_ms``, the loop's
  millisecond clock; the minute of the pump's user-visible day at that instant
  is ``minute_of_day`` (for time-of-day schedules);
* it may keep state between calls (a PID's integral) but the built-in oref0
  keeps none: the same input always gives the same decision;
* it talks to the pump only through the controller app, behind the
  independent :mod:`~pumplab.control.supervisor`, so whatever it returns — a
  NaN rate, a negative bolus, an exception, a hang — is caught there.

For that reason the output types do **not** validate themselves: a controller
may build a ``TempBasal(float("nan"), 30)`` and the supervisor, not the
constructor, turns it into a recorded fallback.  The input types, built by the
loop from the pump and the CGM, are validated by :meth:`ControllerInput.check`
(programmer errors raise ``ValueError``).

Times are integer milliseconds on the loop's clock (``t_ms``, as the device
clock in :mod:`pumplab.clock`); insulin in U, rates in U/h, glucose in mg/dL,
carbohydrate in g.

Deliberately not here: running a controller with a deadline (see
:func:`pumplab.control.supervisor.call_controller`), the loop itself, and the
controller app that carries a decision to the pump (the closed-loop wiring).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pumplab.therapy import BgTarget, InsulinCurve, Schedule

__all__ = [
    "MS_PER_MINUTE",
    "ActiveTempBasal",
    "BasalRecord",
    "BolusRecord",
    "CarbRecord",
    "CgmReading",
    "Controller",
    "ControllerInput",
    "Decision",
    "MealBolus",
    "PumpStatus",
    "Reason",
    "TempBasal",
    "TherapyProfile",
]

MS_PER_MINUTE = 60_000


@dataclass(frozen=True, slots=True)
class CgmReading:
    """One CGM value: ``bg_mg_dl`` measured at ``t_ms`` (sensor glucose, mg/dL)."""

    t_ms: int
    bg_mg_dl: float


@dataclass(frozen=True, slots=True)
class ActiveTempBasal:
    """The temp basal the pump is running: ``rate_u_per_h`` with ``remaining_min`` to go."""

    rate_u_per_h: float
    remaining_min: float


@dataclass(frozen=True, slots=True)
class PumpStatus:
    """The pump as its last status report described it (at ``t_ms``).

    ``iob_u`` is the pump's own active insulin (every stroke, on its
    active-insulin curve: a *total* IOB), NaN when the pump cannot vouch for
    it.  ``withheld_episode_min`` / ``withheld_day_min`` are the pump's
    radio-withholding counters (the episode in progress, the last 24 h) when
    the pump reports them; ``None`` when it does not (the supervisor then keeps
    its own, conservative, count).
    """

    t_ms: int
    suspended: bool
    scheduled_basal_u_per_h: float
    temp_basal: ActiveTempBasal | None
    iob_u: float
    reservoir_u: float | None = None
    withheld_episode_min: float | None = None
    withheld_day_min: float | None = None


@dataclass(frozen=True, slots=True)
class BolusRecord:
    """A bolus given at ``t_ms`` (``automatic``: a controller's micro-bolus)."""

    t_ms: int
    units: float
    automatic: bool = False


@dataclass(frozen=True, slots=True)
class BasalRecord:
    """Basal actually delivered at ``rate_u_per_h`` from ``start_ms`` for ``duration_min``.

    Temp basals and suspensions (rate 0) as they ran; time not covered by any
    record is taken as delivered at the scheduled rate (OpenAPS semantics).
    """

    start_ms: int
    duration_min: float
    rate_u_per_h: float


@dataclass(frozen=True, slots=True)
class CarbRecord:
    """``carbs_g`` of carbohydrate announced as eaten at ``t_ms``."""

    t_ms: int
    carbs_g: float


@dataclass(frozen=True, slots=True)
class TherapyProfile:
    """The person's therapy settings, as schedules over the pump's day.

    ``target`` ranges are what a controller aims for; ``max_basal_u_per_h`` is
    the pump's max basal setting (a controller never needs more).
    """

    basal: Schedule[float]
    isf: Schedule[float]
    carb_ratio: Schedule[float]
    target: Schedule[BgTarget]
    insulin_curve: InsulinCurve
    max_basal_u_per_h: float


@dataclass(frozen=True, slots=True)
class ControllerInput:
    """Everything a controller may look at for one decision.

    ``cgm``, ``boluses``, ``basal_history`` and ``carbs`` are in time order
    (oldest first) and hold nothing after ``now_ms``.  ``minute_of_day`` is the
    pump's user-visible minute of day at ``now_ms``.
    """

    now_ms: int
    minute_of_day: float
    cgm: tuple[CgmReading, ...]
    pump: PumpStatus
    boluses: tuple[BolusRecord, ...]
    basal_history: tuple[BasalRecord, ...]
    carbs: tuple[CarbRecord, ...]
    profile: TherapyProfile

    def minute_of_day_at(self, t_ms: int) -> float:
        """The pump's minute of day at loop time ``t_ms`` (may be before ``now_ms``)."""
        return (self.minute_of_day + (t_ms - self.now_ms) / MS_PER_MINUTE) % 1440.0

    def latest_cgm(self) -> CgmReading | None:
        """The newest reading, or None if there is none."""
        return self.cgm[-1] if self.cgm else None

    def check(self) -> None:
        """Raise ``ValueError`` if the loop built an inconsistent input (a bug, not user data)."""
        if not (math.isfinite(self.minute_of_day) and 0.0 <= self.minute_of_day < 1440.0):
            raise ValueError(f"minute_of_day {self.minute_of_day!r} is not a minute of the day")
        for name, times in (
            ("cgm", [r.t_ms for r in self.cgm]),
            ("boluses", [b.t_ms for b in self.boluses]),
            ("basal_history", [b.start_ms for b in self.basal_history]),
            ("carbs", [c.t_ms for c in self.carbs]),
        ):
            if any(b < a for a, b in itertools.pairwise(times)):
                raise ValueError(f"{name} is not in time order")
            if times and times[-1] > self.now_ms:
                raise ValueError(f"{name} holds an entry after now_ms")
        for r in self.cgm:
            if not math.isfinite(r.bg_mg_dl):
                raise ValueError(f"CGM reading {r!r} is not finite")


@dataclass(frozen=True, slots=True)
class TempBasal:
    """Run ``rate_u_per_h`` for ``duration_min`` minutes; ``duration_min == 0`` cancels.

    The pump accepts durations of 30 min to 24 h in 30-min steps (MiniMed temp
    basal; a cancel is a temp basal of 0 min).  Not validated here (see the
    module docstring): the supervisor checks every field.
    """

    rate_u_per_h: float
    duration_min: int

    @property
    def cancels(self) -> bool:
        """True if this asks the pump to end its running temp basal."""
        return self.duration_min == 0


@dataclass(frozen=True, slots=True)
class Reason:
    """One step of a decision's reasoning: a machine ``code``, a human ``text``, key numbers."""

    code: str
    text: str
    values: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class MealBolus:
    """A Bolus Wizard bolus for one announced meal.

    ``announced_ms`` and ``carbs_g`` name the :class:`CarbRecord` the bolus is
    for; ``bg_mg_dl`` is the BG entered in the wizard (None: none entered, no
    correction); ``units`` the wizard's total the person would accept on the
    pump (:func:`pumplab.therapy.bolus_wizard`).  It is an ordinary (not an
    automatic) bolus: the supervisor limits it by its own wizard figure for
    that meal and the pump's max bolus, not by the micro-bolus limit, and
    sends at most one per announced meal.  Not validated here (see the module
    docstring).
    """

    announced_ms: int
    carbs_g: float
    bg_mg_dl: float | None
    units: float


@dataclass(frozen=True, slots=True)
class Decision:
    """A controller's answer: a temp basal, a micro-bolus, a meal bolus, any of them, or
    none (leave the pump).

    ``temp_basal`` None means "leave the running basal as it is";
    ``micro_bolus_u`` None or 0 means no automatic bolus; ``meal_bolus`` None
    means no wizard bolus for an announced meal.
    """

    temp_basal: TempBasal | None = None
    micro_bolus_u: float | None = None
    reasons: tuple[Reason, ...] = ()
    meal_bolus: MealBolus | None = None

    @property
    def is_nothing(self) -> bool:
        """True if the decision asks the pump for nothing."""
        return self.temp_basal is None and not self.micro_bolus_u and self.meal_bolus is None


@runtime_checkable
class Controller(Protocol):
    """A closed-loop controller: one pure decision per CGM cycle."""

    @property
    def name(self) -> str:
        """Short name used in reports (``oref0``, ``pid``, ...)."""
        ...

    def decide(self, inputs: ControllerInput) -> Decision:
        """The decision for ``inputs`` (no I/O, no clock)."""
        ...

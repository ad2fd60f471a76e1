"""Insulin on board (IOB) and insulin activity from a sequence of doses.

A :class:`Dose` is ``units`` delivered evenly over ``[start_min, start_min +
duration_min)``; a bolus has ``duration_min == 0`` and counts from its start
minute.  A spread dose (square-wave bolus, basal, temp-basal delta) is
integrated *exactly* against the curve: the part delivered by ``t`` is
``units / duration`` per minute, so its IOB is
``units / duration · ∫ iob_fraction(u) du`` over the ages ``u`` of that
delivered insulin, which every curve provides in closed form
(:meth:`~pumplab.therapy.curves.InsulinCurve.iob_fraction_integral`).  oref0
instead splits a temp basal into 0.05-U pieces spaced over its duration
(``lib/iob/history.js``); the exact integral is that with infinitely small
pieces, and costs one call.  Insulin not yet delivered at ``t`` (the rest of a
running square wave, a dose starting after ``t``) counts nothing.

*Total* IOB counts every dose given — boluses and all basal delivered.
*Net* IOB follows OpenAPS: scheduled basal is the baseline, so only basal
delivered above the schedule counts (positive) and basal withheld below it (a
low temp basal, a suspension) counts negative; periods with no
:class:`BasalDelivery` record are taken as delivered as scheduled.

Pure functions; time is passed in as minutes since an arbitrary epoch, and the
pump's minute of day at that epoch (``minute_of_day_at_zero``) maps it to the
basal schedule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from pumplab.therapy.curves import InsulinCurve
from pumplab.therapy.schedules import Schedule, schedule_pieces

__all__ = [
    "BasalDelivery",
    "Dose",
    "InsulinOnBoard",
    "NetInsulinOnBoard",
    "insulin_activity",
    "insulin_on_board",
    "iob_and_activity",
    "net_basal_doses",
    "net_insulin_on_board",
]


@dataclass(frozen=True, slots=True)
class Dose:
    """``units`` delivered evenly from ``start_min`` over ``duration_min`` (0 = a bolus).

    ``units`` may be negative only for a net basal delta (see
    :func:`net_basal_doses`).  Non-finite values or a negative duration raise
    ``ValueError`` (these come from code, not from a user).
    """

    start_min: float
    units: float
    duration_min: float = 0.0

    def __post_init__(self) -> None:
        if not (
            math.isfinite(self.start_min)
            and math.isfinite(self.units)
            and math.isfinite(self.duration_min)
            and self.duration_min >= 0.0
        ):
            raise ValueError(f"invalid dose {self!r}")


@dataclass(frozen=True, slots=True)
class BasalDelivery:
    """Basal actually delivered at ``rate_u_per_h`` from ``start_min`` for ``duration_min``."""

    start_min: float
    duration_min: float
    rate_u_per_h: float

    def __post_init__(self) -> None:
        if not (
            math.isfinite(self.start_min)
            and math.isfinite(self.duration_min)
            and math.isfinite(self.rate_u_per_h)
            and self.duration_min >= 0.0
            and self.rate_u_per_h >= 0.0
        ):
            raise ValueError(f"invalid basal delivery {self!r}")

    def as_dose(self) -> Dose:
        """The same insulin as a spread :class:`Dose`."""
        return Dose(self.start_min, self.rate_u_per_h * self.duration_min / 60.0, self.duration_min)


@dataclass(frozen=True, slots=True)
class InsulinOnBoard:
    """IOB (U) and activity (U/min) at one time."""

    iob_u: float
    activity_u_per_min: float


@dataclass(frozen=True, slots=True)
class NetInsulinOnBoard:
    """OpenAPS-style split of IOB at one time (U; activity in U/min).

    ``total_u`` counts boluses and all basal delivered (as recorded);
    ``net_u`` = ``bolus_u`` + ``basal_net_u`` counts basal relative to the
    schedule (``basal_net_u`` is negative when less was delivered than
    scheduled); ``net_activity_u_per_min`` is the activity of the net doses.
    """

    total_u: float
    net_u: float
    bolus_u: float
    basal_net_u: float
    net_activity_u_per_min: float


def _dose_iob_activity(dose: Dose, t_min: float, curve: InsulinCurve) -> tuple[float, float]:
    age = t_min - dose.start_min
    if age < 0.0:
        return 0.0, 0.0  # not yet given
    d = dose.duration_min
    if d == 0.0:
        return dose.units * curve.iob_fraction(age), dose.units * curve.activity(age)
    if age >= d + curve.effect_duration_min:
        return 0.0, 0.0  # all of it delivered and acted
    # Ages of the delivered insulin run from the newest (age − delivered time)
    # to the oldest (age).
    newest = max(0.0, age - d)
    per_min = dose.units / d
    iob = per_min * curve.iob_fraction_integral(newest, age)
    # activity = ∫ activity(u) du over the same ages = iob(newest) − iob(oldest).
    act = per_min * (curve.iob_fraction(newest) - curve.iob_fraction(age))
    return iob, act


def iob_and_activity(doses: Iterable[Dose], t_min: float, curve: InsulinCurve) -> InsulinOnBoard:
    """IOB (U) and activity (U/min) at ``t_min`` in one pass; only delivered insulin counts."""
    iob = 0.0
    act = 0.0
    for dose in doses:
        i, a = _dose_iob_activity(dose, t_min, curve)
        iob += i
        act += a
    return InsulinOnBoard(iob, act)


def insulin_on_board(doses: Iterable[Dose], t_min: float, curve: InsulinCurve) -> float:
    """IOB (U) at ``t_min`` from ``doses``; only insulin delivered by ``t_min`` counts."""
    return iob_and_activity(doses, t_min, curve).iob_u


def insulin_activity(doses: Iterable[Dose], t_min: float, curve: InsulinCurve) -> float:
    """Insulin activity (U/min) at ``t_min`` from ``doses``."""
    return iob_and_activity(doses, t_min, curve).activity_u_per_min


def net_basal_doses(
    deliveries: Iterable[BasalDelivery],
    schedule: Schedule[float],
    *,
    minute_of_day_at_zero: float = 0.0,
) -> tuple[Dose, ...]:
    """Basal delivered minus basal scheduled, as (possibly negative) spread doses.

    Each delivery is split where the schedule's rate changes; each piece
    becomes ``Dose(start, (delivered − scheduled rate) × minutes / 60, minutes)``.
    Pieces delivered exactly at the scheduled rate are dropped.
    """
    out: list[Dose] = []
    for delivery in deliveries:
        end = delivery.start_min + delivery.duration_min
        for a, b, scheduled in schedule_pieces(
            schedule, delivery.start_min, end, minute_of_day_at_zero
        ):
            delta_u = (delivery.rate_u_per_h - scheduled) * (b - a) / 60.0
            if delta_u != 0.0:
                out.append(Dose(a, delta_u, b - a))
    return tuple(out)


def net_insulin_on_board(
    boluses: Iterable[Dose],
    deliveries: Iterable[BasalDelivery],
    schedule: Schedule[float],
    t_min: float,
    curve: InsulinCurve,
    *,
    minute_of_day_at_zero: float = 0.0,
) -> NetInsulinOnBoard:
    """Total and net IOB at ``t_min`` (OpenAPS semantics; see the module docstring)."""
    deliveries = tuple(deliveries)
    bolus = iob_and_activity(boluses, t_min, curve)
    basal_total = insulin_on_board((d.as_dose() for d in deliveries), t_min, curve)
    basal_net = iob_and_activity(
        net_basal_doses(deliveries, schedule, minute_of_day_at_zero=minute_of_day_at_zero),
        t_min,
        curve,
    )
    return NetInsulinOnBoard(
        total_u=bolus.iob_u + basal_total,
        net_u=bolus.iob_u + basal_net.iob_u,
        bolus_u=bolus.iob_u,
        basal_net_u=basal_net.iob_u,
        net_activity_u_per_min=bolus.activity_u_per_min + basal_net.activity_u_per_min,
    )

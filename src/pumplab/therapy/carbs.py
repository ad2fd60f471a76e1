"""Carbs on board (COB): what is left to absorb of the carbohydrate eaten.

Static absorption models, each a function from the fraction of a meal's
absorption time elapsed (0 at the meal, 1 at the end) to the fraction of its
carbohydrate absorbed:

* :class:`LinearAbsorption` — constant rate over the absorption time, so COB
  falls linearly to zero (LoopKit ``LinearAbsorption``; the usual static
  carbs-on-board rule of pumps and calculators);
* :class:`PiecewiseLinearAbsorption` — LoopKit ``PiecewiseLinearAbsorption``
  (``CarbMath.swift``): the rate rises linearly over the first 15 % of the
  absorption time, is flat until 50 %, then falls linearly to zero at 100 %;
  its height is scaled so the area is 1.

Deliberately not here: Loop's dynamic carb effect and oref0's deviation-based
COB, which adapt absorption to observed glucose (they belong with the
controllers, which see glucose), and any delay before absorption starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pumplab.errors import InputError

__all__ = [
    "AbsorptionModel",
    "CarbEntry",
    "LinearAbsorption",
    "PiecewiseLinearAbsorption",
    "carb_absorption_rate",
    "carbs_on_board",
]


class AbsorptionModel(Protocol):
    """Fraction of a meal absorbed at a fraction of its absorption time."""

    def fraction_absorbed(self, fraction_of_time: float) -> float:
        """Absorbed fraction (0 at or before 0, 1 at or after 1, non-decreasing)."""
        ...

    def rate(self, fraction_of_time: float) -> float:
        """d(fraction absorbed)/d(fraction of time); integrates to 1 over [0, 1]."""
        ...


@dataclass(frozen=True, slots=True)
class LinearAbsorption:
    """Constant-rate absorption over the absorption time."""

    def fraction_absorbed(self, fraction_of_time: float) -> float:
        """Absorbed fraction: the elapsed fraction itself, clipped to [0, 1]."""
        return min(1.0, max(0.0, fraction_of_time))

    def rate(self, fraction_of_time: float) -> float:
        """1 during the absorption time, 0 outside it."""
        return 1.0 if 0.0 < fraction_of_time < 1.0 else 0.0


# LoopKit CarbMath.swift, PiecewiseLinearAbsorption: percentEndOfRise = 0.15,
# percentStartOfFall = 0.5, scale = 2 / (1 + percentStartOfFall − percentEndOfRise).
_RISE_END = 0.15
_FALL_START = 0.5
_SCALE = 2.0 / (1.0 + _FALL_START - _RISE_END)


@dataclass(frozen=True, slots=True)
class PiecewiseLinearAbsorption:
    """LoopKit's trapezoidal absorption rate: rise over 0–15 %, flat to 50 %, fall to 100 %.

    With r = 0.15, f = 0.5 and height s = 2 / (1 + f − r) (area 1)::

        rate(x) = s x / r          0 ≤ x < r
                = s                r ≤ x < f
                = s (1 − x)/(1 − f) f ≤ x < 1
        absorbed(x) = s x² / (2r)                                   x < r
                    = s (x − r/2)                                   r ≤ x < f
                    = s (f − r/2 + (x − f)(1 − (x − f)/(2(1 − f))))   f ≤ x < 1
    """

    def fraction_absorbed(self, fraction_of_time: float) -> float:
        """Absorbed fraction at ``fraction_of_time``."""
        x = fraction_of_time
        if x <= 0.0:
            return 0.0
        if x < _RISE_END:
            return 0.5 * _SCALE * x * x / _RISE_END
        if x < _FALL_START:
            return _SCALE * (x - 0.5 * _RISE_END)
        if x < 1.0:
            y = x - _FALL_START
            return _SCALE * (
                _FALL_START - 0.5 * _RISE_END + y * (1.0 - 0.5 * y / (1.0 - _FALL_START))
            )
        return 1.0

    def rate(self, fraction_of_time: float) -> float:
        """Absorption rate in fractions per unit fraction of time."""
        x = fraction_of_time
        if x <= 0.0 or x >= 1.0:
            return 0.0
        if x < _RISE_END:
            return _SCALE * x / _RISE_END
        if x < _FALL_START:
            return _SCALE
        return _SCALE * (1.0 - x) / (1.0 - _FALL_START)


@dataclass(frozen=True, slots=True)
class CarbEntry:
    """``carbs_g`` eaten at ``time_min``, expected to absorb over ``absorption_min``.

    Invalid values raise :class:`~pumplab.errors.InputError` naming the field
    (carb entries come from people and scenario files).
    """

    time_min: float
    carbs_g: float
    absorption_min: float = 180.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.time_min):
            raise InputError(
                f"{self.time_min!r} is not a time", field="time_min", allowed="finite minutes"
            )
        if not (math.isfinite(self.carbs_g) and self.carbs_g >= 0.0):
            raise InputError(
                f"{self.carbs_g!r} g is not an amount of carbohydrate",
                field="carbs_g",
                allowed="0 g or more",
            )
        if not (math.isfinite(self.absorption_min) and 0.0 < self.absorption_min <= 1440.0):
            raise InputError(
                f"absorption time {self.absorption_min!r} min is out of range",
                field="absorption_min",
                allowed="more than 0, at most 1440 min",
            )


def carbs_on_board(
    entries: Iterable[CarbEntry],
    t_min: float,
    model: AbsorptionModel = LinearAbsorption(),
) -> float:
    """Grams of carbohydrate not yet absorbed at ``t_min``; later entries count nothing."""
    cob = 0.0
    for entry in entries:
        age = t_min - entry.time_min
        if age < 0.0:
            continue
        cob += entry.carbs_g * (1.0 - model.fraction_absorbed(age / entry.absorption_min))
    return cob


def carb_absorption_rate(
    entries: Iterable[CarbEntry],
    t_min: float,
    model: AbsorptionModel = LinearAbsorption(),
) -> float:
    """Grams absorbed per minute at ``t_min`` under the model."""
    rate = 0.0
    for entry in entries:
        age = t_min - entry.time_min
        if age < 0.0:
            continue
        rate += entry.carbs_g * model.rate(age / entry.absorption_min) / entry.absorption_min
    return rate

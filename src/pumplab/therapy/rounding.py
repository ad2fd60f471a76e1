"""Exact insulin amounts: integer milliunits, increment grids, rounding down.

Insulin amounts in pumplab's dosing maths are carried as *integer milliunits*
(1 U = 1000 mU) wherever an increment matters, so that 0.1 + 0.2 never becomes
0.30000000000000004 U and "is this rate on the 0.025 U/h grid?" is an integer
modulo, not a float comparison.  Every x23 increment (0.025, 0.05, 0.1 U or
U/h) is a whole number of milliunits, and so is one pump stroke (0.025 U).

Converting a float to milliunits snaps to the nearest milliunit when the float
is within 10⁻⁶ mU of it (so the float nearest 0.3 is 300 mU, not 299) and
otherwise floors it.  A requested dose is then rounded *down* to the pump's
increment, never up: a pump must not deliver more than was asked for.

The same grid type serves any decimal setting (carb ratios in 0.1 g/U, BG in
1 mg/dL): "milli" is then a thousandth of that setting's unit.

This module does not decide which limits apply (that is the pump's safety
gate) and reads no settings; it is arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "MILLIUNITS_PER_U",
    "X23_BASAL_INCREMENT",
    "X23_BOLUS_INCREMENT",
    "X23_STROKE_U",
    "BolusIncrement",
    "IncrementRule",
    "floor_to_milliunits",
    "is_on_grid",
    "milliunits_to_u",
    "round_down",
    "round_down_mu",
    "strokes_to_u",
    "u_to_milliunits",
    "u_to_strokes",
]

MILLIUNITS_PER_U = 1000

# How far (in mU) a float may sit from a whole milliunit and still be taken as
# that decimal amount; far below any pump increment (25 mU), far above float
# error on amounts up to thousands of units.
_SNAP_MU = 1e-6


def floor_to_milliunits(units: float) -> int:
    """An amount in U to whole milliunits, rounding *down* unless within 10⁻⁶ mU of a whole one."""
    if not math.isfinite(units):
        raise ValueError(f"insulin amount must be finite, got {units!r}")
    x = units * MILLIUNITS_PER_U
    nearest = round(x)
    if abs(x - nearest) <= _SNAP_MU:
        return int(nearest)
    return math.floor(x)


def u_to_milliunits(units: float) -> int:
    """An amount in U to the nearest whole milliunit (0.3 → 300; exact for 3-decimal inputs)."""
    if not math.isfinite(units):
        raise ValueError(f"insulin amount must be finite, got {units!r}")
    return round(units * MILLIUNITS_PER_U)


def milliunits_to_u(milliunits: int) -> float:
    """Whole milliunits back to U (the float nearest the decimal amount)."""
    return milliunits / MILLIUNITS_PER_U


@dataclass(frozen=True, slots=True)
class IncrementRule:
    """The grid a pump accepts amounts on, possibly coarser for larger amounts.

    ``tiers`` is a tuple of ``(from_mu, step_mu)`` pairs, strictly increasing in
    ``from_mu``, the first starting at 0: an amount ``a`` mU with
    ``a >= from_mu`` (the last such tier) must be a multiple of that tier's
    ``step_mu``.  ``((0, 25),)`` is a flat 0.025 grid; each tier's start must
    itself lie on the previous tier's grid.
    """

    tiers: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not self.tiers or self.tiers[0][0] != 0:
            raise ValueError("an increment rule needs a first tier starting at 0")
        prev_from, prev_step = -1, 1
        for from_mu, step_mu in self.tiers:
            if step_mu <= 0 or from_mu <= prev_from or from_mu % prev_step or from_mu % step_mu:
                raise ValueError(f"bad increment tiers {self.tiers!r}")
            prev_from, prev_step = from_mu, step_mu

    def step_mu_at(self, milliunits: int) -> int:
        """The grid step (mU) that applies to an amount of ``milliunits``."""
        step = self.tiers[0][1]
        for from_mu, step_mu in self.tiers:
            if milliunits < from_mu:
                break
            step = step_mu
        return step


#: The name issue 4 uses for the rule a bolus is rounded with; the same class.
BolusIncrement = IncrementRule

#: x23 pump stroke: 0.025 U (decocare: models 523/723 deliver 40 strokes per unit).
X23_STROKE_U = 0.025

#: Bolus grid used by pumplab's x23: 0.025 U throughout, one stroke (see
#: docs/therapy.md for the source and what could not be confirmed).
X23_BOLUS_INCREMENT = IncrementRule(((0, 25),))

#: Basal-rate grid of x23/x54 pumps: 0.025 U/h below 1 U/h, 0.05 U/h from 1 to
#: 9.95 U/h, 0.1 U/h from 10 U/h (oref0 ``lib/round-basal.js``).
X23_BASAL_INCREMENT = IncrementRule(((0, 25), (1000, 50), (10000, 100)))


def round_down_mu(milliunits: int, rule: IncrementRule) -> int:
    """Round ``milliunits`` (≥ 0) down to the largest amount on ``rule``'s grid not above it."""
    if milliunits < 0:
        raise ValueError(f"cannot round a negative amount ({milliunits} mU)")
    from_mu, step_mu = rule.tiers[0]
    for tier_from, tier_step in rule.tiers:
        if milliunits < tier_from:
            break
        from_mu, step_mu = tier_from, tier_step
    return from_mu + (milliunits - from_mu) // step_mu * step_mu


def round_down(units: float, rule: IncrementRule) -> float:
    """Round an amount in U (≥ 0) down to the grid of ``rule`` (never up)."""
    return milliunits_to_u(round_down_mu(floor_to_milliunits(units), rule))


def is_on_grid(units: float, rule: IncrementRule) -> bool:
    """True if ``units`` is (within float error of) a non-negative amount on ``rule``'s grid."""
    if not math.isfinite(units) or units < 0:
        return False
    x = units * MILLIUNITS_PER_U
    mu = round(x)
    if abs(x - mu) > _SNAP_MU:
        return False
    return mu % rule.step_mu_at(mu) == 0


def u_to_strokes(units: float, stroke_u: float = X23_STROKE_U) -> int:
    """The whole number of pump strokes in ``units``; ValueError if it is not whole."""
    stroke_mu = u_to_milliunits(stroke_u)
    if stroke_mu <= 0:
        raise ValueError(f"stroke size must be positive, got {stroke_u!r}")
    rule = IncrementRule(((0, stroke_mu),))
    if not is_on_grid(units, rule):
        raise ValueError(f"{units!r} U is not a whole number of {stroke_u:g}-U strokes")
    return u_to_milliunits(units) // stroke_mu


def strokes_to_u(strokes: int, stroke_u: float = X23_STROKE_U) -> float:
    """Pump strokes back to U (exact to the milliunit)."""
    return milliunits_to_u(strokes * u_to_milliunits(stroke_u))

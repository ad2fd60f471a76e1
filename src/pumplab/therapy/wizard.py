"""The bolus wizard, with Medtronic Paradigm x23 Bolus Wizard semantics.

Following the MiniMed Paradigm 523/723 user guide's description of the Bolus
Wizard (see docs/therapy.md for what was confirmed):

* food estimate = carbs / carb ratio in force at the time of day;
* correction estimate = (BG − high target) / ISF when BG is above the target
  range, (BG − low target) / ISF (negative) below it, 0 within it, and 0 when
  no BG is entered;
* active insulin is subtracted from a *positive* correction only, never from
  the food estimate: correction after active insulin = max(0, correction −
  active insulin).  Below target or within it, active insulin is not used;
* a negative correction reduces the food estimate; the total is never negative;
* the total is rounded *down* to the pump's bolus increment;
* a total above the max bolus is *flagged* (``EXCEEDS_MAX_BOLUS``), not capped:
  the pump refuses it and the caller (the person, the pump's screen) decides.

The wizard is pure: the caller passes the active insulin already computed —
with :func:`pumplab.therapy.iob.insulin_on_board` over the pump's boluses and
the curve from :func:`x23_active_insulin_curve` — and the minute of the
pump's user-visible day.  Deliberately not here: the pump's screens, the
linked-meter BG's age limit, and carb entry in exchanges.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from pumplab.errors import InputError, SettingsError
from pumplab.therapy.curves import BilinearCurve
from pumplab.therapy.rounding import (
    X23_BOLUS_INCREMENT,
    IncrementRule,
    floor_to_milliunits,
    is_on_grid,
    milliunits_to_u,
    round_down_mu,
)
from pumplab.therapy.schedules import BgTarget, Schedule

__all__ = [
    "WIZARD_BG_RANGE_MG_DL",
    "WIZARD_CARBS_RANGE_G",
    "X23_ACTIVE_INSULIN_TIME_DEFAULT_H",
    "X23_MAX_BOLUS_DEFAULT_U",
    "X23_MAX_BOLUS_LIMIT_U",
    "X23_MAX_BOLUS_STEP",
    "BolusRecommendation",
    "WizardNote",
    "WizardSettings",
    "bolus_wizard",
    "x23_active_insulin_curve",
]

#: Carbohydrate entry accepted by the x23 wizard, grams.
WIZARD_CARBS_RANGE_G = (0.0, 300.0)
#: BG accepted by the wizard: the linked meter's reading range, mg/dL.
WIZARD_BG_RANGE_MG_DL = (20.0, 600.0)
#: x23 max bolus: default 10 U, settable 0–25 U in 0.1-U steps (decocare
#: ``ReadSettings523`` stores it in tenths of a unit; range and default assumed).
X23_MAX_BOLUS_DEFAULT_U = 10.0
X23_MAX_BOLUS_LIMIT_U = 25.0
X23_MAX_BOLUS_STEP = IncrementRule(((0, 100),))
#: x23 active insulin time: default 6 h, settable 2–8 h in 1-h steps.
X23_ACTIVE_INSULIN_TIME_DEFAULT_H = 6
_ACTIVE_INSULIN_TIME_RANGE_H = (2, 8)


class WizardNote(enum.Enum):
    """Structured reasons attached to a recommendation (value = human text)."""

    NO_BG = "no BG entered: no correction, active insulin not used"
    BG_ABOVE_TARGET = "BG above target: correction added"
    BG_IN_RANGE = "BG within target range: no correction"
    BG_BELOW_TARGET = "BG below target: negative correction reduces the food bolus"
    ACTIVE_INSULIN_REDUCES_CORRECTION = "active insulin subtracted from the correction"
    ACTIVE_INSULIN_COVERS_CORRECTION = "active insulin covers the whole correction"
    TOTAL_CLAMPED_AT_ZERO = "negative total shown as 0 U"
    ROUNDED_DOWN = "rounded down to the bolus increment"
    EXCEEDS_MAX_BOLUS = "exceeds max bolus: the pump will refuse this amount"


@dataclass(frozen=True, slots=True)
class WizardSettings:
    """The wizard's settings (x23 Bolus Wizard setup plus max bolus and increment).

    ``max_bolus_u`` is checked on construction (x23: 0–25 U in 0.1-U steps) and
    raises :class:`SettingsError` naming ``max_bolus_u``.
    """

    carb_ratio_g_per_u: Schedule[float]
    isf_mg_dl_per_u: Schedule[float]
    bg_target: Schedule[BgTarget]
    max_bolus_u: float = X23_MAX_BOLUS_DEFAULT_U
    increment: IncrementRule = X23_BOLUS_INCREMENT

    def __post_init__(self) -> None:
        ok = (
            isinstance(self.max_bolus_u, int | float)
            and math.isfinite(self.max_bolus_u)
            and 0.0 <= self.max_bolus_u <= X23_MAX_BOLUS_LIMIT_U
            and is_on_grid(self.max_bolus_u, X23_MAX_BOLUS_STEP)
        )
        # Schedules built by hand (not through the validating builders) could
        # hold a zero ratio; refuse it here rather than divide by it later.
        for name, schedule in (
            ("carb_ratio_g_per_u", self.carb_ratio_g_per_u),
            ("isf_mg_dl_per_u", self.isf_mg_dl_per_u),
        ):
            for i, seg in enumerate(schedule.segments):
                if not (math.isfinite(seg.value) and seg.value > 0.0):
                    raise SettingsError(
                        f"{seg.value!r} is not a usable ratio",
                        field=f"{name}[{i}]",
                        allowed="a positive number",
                    )
        if not ok:
            raise SettingsError(
                f"max bolus {self.max_bolus_u!r} U is not allowed",
                field="max_bolus_u",
                allowed=f"0–{X23_MAX_BOLUS_LIMIT_U:g} U in 0.1-U steps",
            )


@dataclass(frozen=True, slots=True)
class BolusRecommendation:
    """A wizard result with its parts and structured notes (all U).

    ``food_u`` = carbs / carb ratio; ``correction_u`` the correction estimate
    before active insulin (negative below target); ``iob_u`` the active
    insulin actually subtracted (≤ a positive correction, else 0);
    ``unrounded_u`` = max(0, food + correction − iob); ``total_u`` that rounded
    down to the bolus increment — the amount to offer the user.
    """

    food_u: float
    correction_u: float
    iob_u: float
    unrounded_u: float
    total_u: float
    notes: tuple[WizardNote, ...]

    @property
    def exceeds_max_bolus(self) -> bool:
        """True if the pump's max bolus would refuse ``total_u``."""
        return WizardNote.EXCEEDS_MAX_BOLUS in self.notes


def _check_input(value: float, field: str, bounds: tuple[float, float], unit: str) -> None:
    lo, hi = bounds
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and lo <= value <= hi)
    ):
        raise InputError(
            f"{value!r} {unit} is out of range", field=field, allowed=f"{lo:g}–{hi:g} {unit}"
        )


def bolus_wizard(
    *,
    carbs_g: float,
    bg_mg_dl: float | None,
    active_insulin_u: float,
    minute_of_day: float,
    settings: WizardSettings,
) -> BolusRecommendation:
    """Recommend a bolus (x23 Bolus Wizard semantics; see the module docstring).

    ``carbs_g`` (0–300 g) and ``bg_mg_dl`` (20–600 mg/dL, or None when no BG
    was entered) come from the user: out of range raises
    :class:`~pumplab.errors.InputError` naming the field.
    ``active_insulin_u`` (≥ 0) is the pump's bolus insulin still active.
    """
    _check_input(carbs_g, "carbs_g", WIZARD_CARBS_RANGE_G, "g")
    if bg_mg_dl is not None:
        _check_input(bg_mg_dl, "bg_mg_dl", WIZARD_BG_RANGE_MG_DL, "mg/dL")
    if not (math.isfinite(active_insulin_u) and active_insulin_u >= 0.0):
        raise ValueError(f"active insulin must be a finite amount ≥ 0, got {active_insulin_u!r}")

    notes: list[WizardNote] = []
    food_u = carbs_g / settings.carb_ratio_g_per_u.value_at(minute_of_day)
    correction_u = 0.0
    iob_used_u = 0.0
    if bg_mg_dl is None:
        notes.append(WizardNote.NO_BG)
    else:
        target = settings.bg_target.value_at(minute_of_day)
        isf = settings.isf_mg_dl_per_u.value_at(minute_of_day)
        if bg_mg_dl > target.high_mg_dl:
            notes.append(WizardNote.BG_ABOVE_TARGET)
            correction_u = (bg_mg_dl - target.high_mg_dl) / isf
            iob_used_u = min(active_insulin_u, correction_u)
            if active_insulin_u >= correction_u:
                notes.append(WizardNote.ACTIVE_INSULIN_COVERS_CORRECTION)
            elif active_insulin_u > 0.0:
                notes.append(WizardNote.ACTIVE_INSULIN_REDUCES_CORRECTION)
        elif bg_mg_dl < target.low_mg_dl:
            notes.append(WizardNote.BG_BELOW_TARGET)
            correction_u = (bg_mg_dl - target.low_mg_dl) / isf
        else:
            notes.append(WizardNote.BG_IN_RANGE)

    raw_u = food_u + correction_u - iob_used_u
    if raw_u < 0.0:
        notes.append(WizardNote.TOTAL_CLAMPED_AT_ZERO)
    unrounded_u = max(0.0, raw_u)
    unrounded_mu = floor_to_milliunits(unrounded_u)
    total_mu = round_down_mu(unrounded_mu, settings.increment)
    if total_mu != unrounded_mu or unrounded_u * 1000.0 - unrounded_mu > 1e-6:
        notes.append(WizardNote.ROUNDED_DOWN)
    if total_mu > floor_to_milliunits(settings.max_bolus_u):
        notes.append(WizardNote.EXCEEDS_MAX_BOLUS)
    return BolusRecommendation(
        food_u=food_u,
        correction_u=correction_u,
        iob_u=iob_used_u,
        unrounded_u=unrounded_u,
        total_u=milliunits_to_u(total_mu),
        notes=tuple(notes),
    )


def x23_active_insulin_curve(active_insulin_time_h: int) -> BilinearCurve:
    """The curve pumplab's x23 uses for active insulin at an active-insulin-time setting.

    Medtronic publishes the x23's active-insulin curves only as a graph (one per
    setting, 2–8 h), not as numbers; pumplab approximates each by oref0's
    bilinear curve with DIA = the setting (see docs/therapy.md).  A setting
    outside 2–8 whole hours raises :class:`SettingsError` naming
    ``active_insulin_time_h``.
    """
    lo, hi = _ACTIVE_INSULIN_TIME_RANGE_H
    if (
        isinstance(active_insulin_time_h, bool)
        or not isinstance(active_insulin_time_h, int)
        or not lo <= active_insulin_time_h <= hi
    ):
        raise SettingsError(
            f"active insulin time {active_insulin_time_h!r} h is not allowed",
            field="active_insulin_time_h",
            allowed=f"{lo}–{hi} h in 1-h steps",
        )
    return BilinearCurve(dia_min=60.0 * active_insulin_time_h)

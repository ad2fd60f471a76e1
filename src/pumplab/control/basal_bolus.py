"""Open-loop basal-bolus: the pump's schedule, and Bolus Wizard boluses on announced meals.

The baseline every closed loop is compared with (issue 20): the pump runs its
basal schedule untouched, and for each announced meal (a
:class:`~pumplab.control.interface.CarbRecord`) the person accepts the bolus the
pump's Bolus Wizard recommends (:func:`pumplab.therapy.bolus_wizard`, x23
semantics):

* food = carbs / carb ratio at the time of day;
* correction from the BG entered: the latest CGM reading if it is at most
  ``wizard_bg_max_age_min`` (15) old, else no BG (no correction, active insulin not
  used) — a person uses the value on the screen;
* active insulin: bolus insulin on board (every bolus in the input, on the
  therapy profile's insulin curve), subtracted from a positive correction only;
* rounded down to the pump's bolus increment; a total above the pump's max
  bolus is sent as the max bolus with a reason saying so.

A meal is *pending* while it is at most ``meal_window_min`` (30) old and no ordinary
(non-automatic) bolus was given at or after its time; the earliest pending
meal is bolused first, one per decision.  The bolus is a
:class:`~pumplab.control.interface.MealBolus`, which the supervisor checks
against its own wizard figure.

:func:`wizard_meal_bolus` is the pure rule, shared by every controller that
boluses for meals: :class:`BasalBolusController` (the baseline),
:class:`WithMealBoluses` (adds meal boluses to any controller: a hybrid loop,
as the 670G's Auto Mode expects the person to bolus for meals) and the
predictive low-glucose suspend.  :class:`NoController` asks for nothing at all.

Pure: no I/O, no clock.  Deliberately not here: extended (square/dual wave)
boluses, the person's own mistakes (missed or late boluses, wrong carb counts:
the lab's person model) and correction boluses between meals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pumplab.control.interface import (
    MS_PER_MINUTE,
    CarbRecord,
    Controller,
    ControllerInput,
    Decision,
    MealBolus,
    Reason,
)
from pumplab.errors import InputError, SettingsError
from pumplab.therapy import Dose, insulin_on_board
from pumplab.therapy.rounding import is_on_grid
from pumplab.therapy.wizard import (
    X23_MAX_BOLUS_DEFAULT_U,
    X23_MAX_BOLUS_LIMIT_U,
    X23_MAX_BOLUS_STEP,
    WizardNote,
    WizardSettings,
    bolus_wizard,
)

__all__ = [
    "BasalBolusController",
    "MealBolusSettings",
    "NoController",
    "WithMealBoluses",
    "bolus_iob_u",
    "pending_meal",
    "wizard_bg_mg_dl",
    "wizard_meal_bolus",
]


@dataclass(frozen=True, slots=True)
class MealBolusSettings:
    """How the person boluses for announced meals.

    ``max_bolus_u`` is the pump's max bolus (x23: 0–25 U in 0.1-U steps,
    default 10 U); ``meal_window_min`` how long after its announcement a meal
    is still bolused; ``wizard_bg_max_age_min`` how old a CGM reading may be
    to be entered in the wizard (the supervisor's stale-data limit).
    """

    max_bolus_u: float = X23_MAX_BOLUS_DEFAULT_U
    meal_window_min: float = 30.0
    wizard_bg_max_age_min: float = 15.0

    def __post_init__(self) -> None:
        if not (isinstance(self.max_bolus_u, int | float) and not isinstance(self.max_bolus_u, bool)
                and math.isfinite(self.max_bolus_u)
                and 0.0 <= self.max_bolus_u <= X23_MAX_BOLUS_LIMIT_U
                and is_on_grid(self.max_bolus_u, X23_MAX_BOLUS_STEP)):
            raise SettingsError(f"{self.max_bolus_u!r} U is not allowed", field="max_bolus_u",
                                allowed=f"0–{X23_MAX_BOLUS_LIMIT_U:g} U in 0.1-U steps")
        for name in ("meal_window_min", "wizard_bg_max_age_min"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, int | float)
                                               and math.isfinite(value) and value > 0):
                raise SettingsError(f"{value!r} is out of range", field=name,
                                    allowed="a finite number of minutes > 0")


def pending_meal(inputs: ControllerInput, window_min: float) -> CarbRecord | None:
    """The earliest announced meal not yet bolused, at most ``window_min`` old, or None.

    A meal counts as bolused once an ordinary (non-automatic) bolus was given at
    or after its announcement (the wizard records carbs and bolus together).
    """
    since = inputs.now_ms - window_min * MS_PER_MINUTE
    for carb in inputs.carbs:
        if carb.t_ms < since or carb.carbs_g <= 0:
            continue
        if not any(not b.automatic and carb.t_ms <= b.t_ms <= inputs.now_ms
                   for b in inputs.boluses):
            return carb
    return None


def wizard_bg_mg_dl(inputs: ControllerInput, max_age_min: float) -> float | None:
    """The BG a person enters in the wizard: the latest CGM reading if fresh, else None."""
    latest = inputs.latest_cgm()
    if latest is None or inputs.now_ms - latest.t_ms > max_age_min * MS_PER_MINUTE:
        return None
    return latest.bg_mg_dl


def bolus_iob_u(inputs: ControllerInput) -> float:
    """Bolus insulin on board at ``now_ms`` (every bolus, on the profile's insulin curve)."""
    now_min = inputs.now_ms / MS_PER_MINUTE
    doses = [Dose(b.t_ms / MS_PER_MINUTE, b.units) for b in inputs.boluses if b.units > 0]
    return max(0.0, insulin_on_board(doses, now_min, inputs.profile.insulin_curve))


def wizard_meal_bolus(inputs: ControllerInput, settings: MealBolusSettings) -> tuple[
        MealBolus | None, tuple[Reason, ...]]:
    """The wizard bolus for the earliest pending meal (see the module docstring), with reasons.

    No pending meal: ``(None, ())``.  A meal the wizard cannot take (more than
    300 g) is not bolused, and the reason says why.
    """
    meal = pending_meal(inputs, settings.meal_window_min)
    if meal is None:
        return None, ()
    profile = inputs.profile
    wizard = WizardSettings(carb_ratio_g_per_u=profile.carb_ratio, isf_mg_dl_per_u=profile.isf,
                            bg_target=profile.target, max_bolus_u=settings.max_bolus_u)
    bg = wizard_bg_mg_dl(inputs, settings.wizard_bg_max_age_min)
    iob = bolus_iob_u(inputs)
    try:
        rec = bolus_wizard(carbs_g=meal.carbs_g, bg_mg_dl=bg, active_insulin_u=iob,
                           minute_of_day=inputs.minute_of_day, settings=wizard)
    except InputError as exc:
        return None, (Reason("wizard_refused", f"no meal bolus for {meal.carbs_g:g} g: {exc}",
                             (("carbs_g", meal.carbs_g),)),)
    units = rec.total_u
    reasons = [Reason(
        "meal_bolus",
        f"wizard bolus {units:g} U for {meal.carbs_g:g} g"
        + (f" at BG {bg:g} mg/dL" if bg is not None else " (no BG entered)")
        + f": food {rec.food_u:.2f} U, correction {rec.correction_u:.2f} U, "
          f"active insulin {rec.iob_u:.2f} U",
        (("carbs_g", meal.carbs_g), ("food_u", rec.food_u), ("correction_u", rec.correction_u),
         ("active_insulin_u", rec.iob_u), ("units", units)))]
    if WizardNote.EXCEEDS_MAX_BOLUS in rec.notes:
        units = settings.max_bolus_u
        reasons.append(Reason("max_bolus", f"the wizard's {rec.total_u:g} U exceeds the max "
                                           f"bolus: {units:g} U given",
                              (("max_bolus_u", units),)))
    return MealBolus(meal.t_ms, meal.carbs_g, bg, units), tuple(reasons)


@dataclass(frozen=True, slots=True)
class NoController:
    """No controller: asks for nothing, ever (the pump runs its schedule)."""

    @property
    def name(self) -> str:
        """``none``."""
        return "none"

    def decide(self, inputs: ControllerInput) -> Decision:
        """Nothing."""
        del inputs
        return Decision()


@dataclass(frozen=True, slots=True)
class BasalBolusController:
    """Open-loop basal-bolus: the scheduled basal, and wizard boluses on announced meals."""

    settings: MealBolusSettings = MealBolusSettings()

    @property
    def name(self) -> str:
        """``basal_bolus``."""
        return "basal_bolus"

    def decide(self, inputs: ControllerInput) -> Decision:
        """A meal bolus if a meal is pending; the basal is left to the schedule."""
        bolus, reasons = wizard_meal_bolus(inputs, self.settings)
        return Decision(meal_bolus=bolus, reasons=reasons)


class WithMealBoluses:
    """``inner``'s decision, plus the wizard bolus for a pending meal (a hybrid loop).

    If ``inner`` already asks for a meal bolus, its own is kept.  An exception
    from ``inner`` propagates (the supervisor records it).
    """

    def __init__(self, inner: Controller, settings: MealBolusSettings | None = None) -> None:
        self.inner = inner
        self.settings = settings if settings is not None else MealBolusSettings()

    @property
    def name(self) -> str:
        """The inner controller's name."""
        return self.inner.name

    def close(self) -> None:
        """Close the inner controller if it holds anything (an external process)."""
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    def decide(self, inputs: ControllerInput) -> Decision:
        """``inner.decide(inputs)`` with the pending meal's wizard bolus added."""
        decision = self.inner.decide(inputs)
        if not isinstance(decision, Decision) or decision.meal_bolus is not None:
            return decision  # nonsense is the supervisor's to catch
        bolus, reasons = wizard_meal_bolus(inputs, self.settings)
        if bolus is None and not reasons:
            return decision
        return Decision(temp_basal=decision.temp_basal, micro_bolus_u=decision.micro_bolus_u,
                        reasons=(*decision.reasons, *reasons), meal_bolus=bolus)

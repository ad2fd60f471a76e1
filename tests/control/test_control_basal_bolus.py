"""Open-loop basal-bolus: wizard boluses on announced meals, each decision derived.

The test profile (control_helpers.PROFILE): carb ratio 10 g/U, ISF 50 mg/dL/U,
target 100–110 mg/dL, rapid-acting adult curve (peak 75 min, 6 h), max basal
3 U/h; x23 bolus increment 0.025 U.
"""

from __future__ import annotations

import pytest
from control_helpers import NOW_MS, cgm_trace, controller_input, linear_trace

from pumplab.control import (
    MS_PER_MINUTE,
    ActiveTempBasal,
    BolusRecord,
    CarbRecord,
    Decided,
    Decision,
    MealBolus,
    Reason,
    Supervisor,
    SupervisorLimits,
    TempBasal,
)
from pumplab.control.basal_bolus import (
    BasalBolusController,
    MealBolusSettings,
    NoController,
    WithMealBoluses,
    pending_meal,
)
from pumplab.errors import SettingsError

MIN = MS_PER_MINUTE
BB = BasalBolusController()
#: BG 150, flat: fresh and in the wizard's range.
AT_150 = cgm_trace([150.0] * 6)
MEAL = CarbRecord(NOW_MS - 2 * MIN, 60.0)


def decide(cgm=AT_150, **kw):  # type: ignore[no-untyped-def]
    return BB.decide(controller_input(cgm, **kw))


def test_meal_at_high_bg_gets_food_plus_correction() -> None:
    """60 g / 10 g/U = 6 U food; (150 − 110) / 50 = 0.8 U correction; no active insulin:
    6.8 U, for that meal, at BG 150, and the basal is left to the schedule."""
    d = decide(carbs=(MEAL,))
    assert d.meal_bolus == MealBolus(MEAL.t_ms, 60.0, 150.0, 6.8)
    assert d.temp_basal is None and d.micro_bolus_u is None
    assert d.reasons[0].code == "meal_bolus"


def test_active_insulin_covers_the_correction_not_the_food() -> None:
    """2 U bolused an hour ago (≈1.56 U still active) covers the 0.8-U correction but is
    never taken off the food: 6.0 U."""
    d = decide(carbs=(MEAL,), boluses=(BolusRecord(NOW_MS - 60 * MIN, 2.0),))
    assert d.meal_bolus is not None and d.meal_bolus.units == 6.0


def test_below_target_the_correction_is_negative() -> None:
    """BG 80: (80 − 100) / 50 = −0.4 U off the 6-U food bolus: 5.6 U."""
    d = decide(cgm_trace([80.0] * 6), carbs=(MEAL,))
    assert d.meal_bolus is not None and d.meal_bolus.units == pytest.approx(5.6)


def test_without_a_fresh_reading_no_bg_is_entered() -> None:
    """The last reading is 20 min old: no BG, no correction: 6 U for the food alone."""
    d = decide(cgm_trace([150.0] * 6, end_ms=NOW_MS - 20 * MIN), carbs=(MEAL,))
    assert d.meal_bolus == MealBolus(MEAL.t_ms, 60.0, None, 6.0)


def test_a_meal_bolused_already_is_not_bolused_again() -> None:
    """A (non-automatic) bolus at or after the meal means the person bolused for it."""
    d = decide(carbs=(MEAL,), boluses=(BolusRecord(MEAL.t_ms + MIN, 6.8),))
    assert d == Decision()


def test_an_automatic_micro_bolus_does_not_count_as_the_meal_bolus() -> None:
    """A controller's micro-bolus after the meal is not the person's meal bolus."""
    d = decide(carbs=(MEAL,), boluses=(BolusRecord(MEAL.t_ms + MIN, 0.3, automatic=True),))
    assert d.meal_bolus is not None


def test_a_meal_older_than_the_window_is_missed() -> None:
    """Announced 40 min ago (window 30 min): too late to bolus."""
    assert decide(carbs=(CarbRecord(NOW_MS - 40 * MIN, 60.0),)) == Decision()


def test_the_earliest_pending_meal_comes_first() -> None:
    """Two meals pending: one bolus per decision, the earlier meal first."""
    first, second = CarbRecord(NOW_MS - 10 * MIN, 20.0), CarbRecord(NOW_MS - 5 * MIN, 30.0)
    inp = controller_input(AT_150, carbs=(first, second))
    assert pending_meal(inp, 30.0) == first
    d = BB.decide(inp)
    assert d.meal_bolus is not None and d.meal_bolus.carbs_g == 20.0


def test_a_bolus_above_max_bolus_is_capped_with_a_reason() -> None:
    """150 g → 15 U food + 0.8 U: above the 10-U max bolus, so 10 U and a reason."""
    d = decide(carbs=(CarbRecord(NOW_MS, 150.0),))
    assert d.meal_bolus is not None and d.meal_bolus.units == 10.0
    assert [r.code for r in d.reasons] == ["meal_bolus", "max_bolus"]


def test_a_meal_the_wizard_cannot_take_is_not_bolused_and_says_why() -> None:
    """The x23 wizard takes 0–300 g: 350 g is refused, with the wizard's reason."""
    d = decide(carbs=(CarbRecord(NOW_MS, 350.0),))
    assert d.meal_bolus is None and d.reasons[0].code == "wizard_refused"
    assert "carbs_g" in d.reasons[0].text


def test_the_baseline_bolus_passes_the_supervisor_unchanged() -> None:
    """The supervisor's own wizard figure for the meal is the same: nothing to change."""
    inp = controller_input(AT_150, carbs=(MEAL,))
    d = BB.decide(inp)
    result = Supervisor(SupervisorLimits(5.0, 3.0)).step(inp, Decided(d))
    assert result.decision == d and not result.overridden


def test_no_controller_asks_for_nothing() -> None:
    """``none`` asks for nothing, announced meal or not."""
    assert NoController().decide(controller_input(AT_150, carbs=(MEAL,))) == Decision()


class _Fixed:
    """A controller that always asks for the same decision."""

    name = "fixed"

    def __init__(self, decision: Decision) -> None:
        self.decision = decision

    def decide(self, inputs: object) -> Decision:
        return self.decision


def test_with_meal_boluses_adds_the_bolus_and_keeps_the_inner_decision() -> None:
    """A hybrid loop: the inner temp and reasons, plus the wizard bolus for the meal."""
    inner = Decision(TempBasal(1.5, 30), reasons=(Reason("x", "inner"),))
    d = WithMealBoluses(_Fixed(inner)).decide(controller_input(AT_150, carbs=(MEAL,)))
    assert d.temp_basal == TempBasal(1.5, 30)
    assert d.meal_bolus is not None and d.meal_bolus.units == 6.8
    assert [r.code for r in d.reasons] == ["x", "meal_bolus"]


def test_with_meal_boluses_keeps_an_inner_meal_bolus() -> None:
    """If the inner controller already boluses for the meal, its bolus is kept."""
    own = Decision(meal_bolus=MealBolus(MEAL.t_ms, 60.0, None, 5.0))
    assert WithMealBoluses(_Fixed(own)).decide(controller_input(AT_150, carbs=(MEAL,))) == own


def test_with_meal_boluses_without_a_meal_is_the_inner_decision() -> None:
    """No pending meal: exactly what the inner controller asked."""
    inner = Decision(TempBasal(0.0, 30))
    inp = controller_input(linear_trace(100, -2), temp=ActiveTempBasal(1.0, 10))
    assert WithMealBoluses(_Fixed(inner)).decide(inp) == inner


@pytest.mark.parametrize(("kw", "field"), [
    ({"max_bolus_u": 30.0}, "max_bolus_u"),
    ({"max_bolus_u": 2.55}, "max_bolus_u"),
    ({"meal_window_min": 0.0}, "meal_window_min"),
    ({"wizard_bg_max_age_min": float("nan")}, "wizard_bg_max_age_min"),
])
def test_bad_settings_name_the_field(kw: dict[str, float], field: str) -> None:
    """Out-of-range settings are a SettingsError naming the field."""
    with pytest.raises(SettingsError, match=field):
        MealBolusSettings(**kw)  # type: ignore[arg-type]

"""The supervisor and meal boluses, rule by rule; and a controller's own timeout.

Same profile as the other control tests: carb ratio 10 g/U, ISF 50, target
100–110; 60 g at BG 150 is a 6.8-U wizard bolus (6 food + 0.8 correction).
"""

from __future__ import annotations

from control_helpers import NOW_MS, cgm_trace, controller_input, linear_trace

from pumplab.control import (
    MS_PER_MINUTE,
    BolusRecord,
    CarbRecord,
    Decided,
    Decision,
    MealBolus,
    Raised,
    Rule,
    SupervisorLimits,
    SupervisorState,
    TempBasal,
    TimedOut,
    call_controller,
    supervise,
)
from pumplab.errors import ControllerError, ControllerTimeoutError

MIN = MS_PER_MINUTE
LIMITS = SupervisorLimits(max_iob_u=5.0, max_temp_basal_u_per_h=3.0)
AT_150 = cgm_trace([150.0] * 6)
MEAL = CarbRecord(NOW_MS - 2 * MIN, 60.0)
BOLUS = MealBolus(MEAL.t_ms, 60.0, 150.0, 6.8)


def run(decision: Decision, *, cgm=AT_150, state=None, limits=LIMITS, **kw):  # type: ignore[no-untyped-def]
    inp = controller_input(cgm, carbs=kw.pop("carbs", (MEAL,)), **kw)
    return supervise(limits, state or SupervisorState(), inp, Decided(decision))


def rules(result) -> list[Rule]:  # type: ignore[no-untyped-def]
    return [o.rule for o in result.overrides]


def test_the_wizard_bolus_for_an_announced_meal_passes_and_is_remembered() -> None:
    """6.8 U for the announced 60 g: sent as asked, and the meal noted as bolused."""
    result, state = run(Decision(meal_bolus=BOLUS))
    assert result.decision.meal_bolus == BOLUS and not result.overridden
    assert state.meal_boluses == (MEAL.t_ms,)


def test_a_meal_is_bolused_once() -> None:
    """The same meal asked for again next cycle (no bolus record yet): refused."""
    _, state = run(Decision(meal_bolus=BOLUS))
    result, _ = run(Decision(meal_bolus=BOLUS), state=state, now_ms=NOW_MS + 5 * MIN)
    assert result.decision.meal_bolus is None and rules(result) == [Rule.MEAL_BOLUS_REFUSED]


def test_a_meal_with_a_bolus_record_after_it_is_not_bolused_again() -> None:
    """A non-automatic bolus at or after the meal: it was bolused already."""
    result, _ = run(Decision(meal_bolus=BOLUS), boluses=(BolusRecord(MEAL.t_ms + MIN, 6.8),))
    assert result.decision.meal_bolus is None and rules(result) == [Rule.MEAL_BOLUS_REFUSED]


def test_an_unannounced_meal_is_refused() -> None:
    """No carb record at that time with those carbs: refused (one for 50 g, or none)."""
    for carbs in ((CarbRecord(MEAL.t_ms, 50.0),), ()):
        result, _ = run(Decision(meal_bolus=BOLUS), carbs=carbs)
        assert result.decision.meal_bolus is None
        assert "no such meal" in result.overrides[0].detail


def test_a_meal_older_than_the_window_is_refused() -> None:
    """Announced 40 min ago, window 30 min: too late."""
    old = CarbRecord(NOW_MS - 40 * MIN, 60.0)
    result, _ = run(Decision(meal_bolus=MealBolus(old.t_ms, 60.0, 150.0, 6.0)), carbs=(old,))
    assert result.decision.meal_bolus is None and "window" in result.overrides[0].detail


def test_more_than_the_wizard_recommends_is_cut_to_the_wizard() -> None:
    """9 U asked for 60 g at 150: cut to the supervisor's own wizard figure, 6.8 U."""
    result, _ = run(Decision(meal_bolus=MealBolus(MEAL.t_ms, 60.0, 150.0, 9.0)))
    assert result.decision.meal_bolus == BOLUS and rules(result) == [Rule.MEAL_BOLUS_LIMIT]


def test_a_false_bg_does_not_buy_a_bigger_bolus() -> None:
    """The controller claims BG 300 while the CGM says 150: the wizard at 150 decides."""
    result, _ = run(Decision(meal_bolus=MealBolus(MEAL.t_ms, 60.0, 300.0, 9.8)))
    assert result.decision.meal_bolus is not None
    assert result.decision.meal_bolus.units == 6.8


def test_the_max_bolus_caps_a_meal_bolus() -> None:
    """Max meal bolus 5 U: 6.8 U is cut to 5."""
    limits = SupervisorLimits(5.0, 3.0, max_meal_bolus_u=5.0)
    result, _ = run(Decision(meal_bolus=BOLUS), limits=limits)
    assert result.decision.meal_bolus is not None and result.decision.meal_bolus.units == 5.0
    assert rules(result) == [Rule.MEAL_BOLUS_LIMIT]


def test_a_meal_bolus_is_rounded_down_to_the_bolus_increment() -> None:
    """6.79 U is not on the x23's 0.025-U grid: rounded down to 6.775 U."""
    result, _ = run(Decision(meal_bolus=MealBolus(MEAL.t_ms, 60.0, 150.0, 6.79)))
    assert result.decision.meal_bolus is not None
    assert result.decision.meal_bolus.units == 6.775 and rules(result) == [Rule.PUMP_INCREMENT]


def test_on_stale_cgm_the_meal_is_bolused_for_the_food_only() -> None:
    """CGM 20 min old: the basal falls back, but the person still boluses for the meal —
    with no BG, so the 6.8 U asked is cut to the 6-U food bolus."""
    stale = cgm_trace([150.0] * 6, end_ms=NOW_MS - 20 * MIN)
    result, _ = run(Decision(TempBasal(2.0, 30), meal_bolus=BOLUS), cgm=stale)
    assert result.decision.temp_basal is None
    assert result.decision.meal_bolus is not None and result.decision.meal_bolus.units == 6.0
    assert set(rules(result)) == {Rule.STALE_CGM, Rule.MEAL_BOLUS_LIMIT}


def test_a_predicted_low_does_not_drop_the_meal_bolus() -> None:
    """Falling to a predicted low: zero temp, micro-bolus dropped, but the meal's wizard
    bolus (already reduced below target by the wizard) is sent."""
    falling = linear_trace(113, -3, 12)  # 80 now, 62 predicted
    wizard = MealBolus(MEAL.t_ms, 60.0, 80.0, 5.6)
    result, _ = run(Decision(micro_bolus_u=0.5, meal_bolus=wizard), cgm=falling)
    assert result.decision.meal_bolus == wizard
    assert result.decision.micro_bolus_u is None
    assert result.decision.temp_basal == TempBasal(0.0, 30)


def test_the_meal_bolus_counts_against_max_iob_for_automatic_insulin() -> None:
    """IOB 1 U + 6.8 U meal bolus + 1 U micro-bolus > max IOB 5 U: the micro-bolus goes."""
    result, _ = run(Decision(micro_bolus_u=1.0, meal_bolus=BOLUS))
    assert result.decision.meal_bolus == BOLUS and result.decision.micro_bolus_u is None
    assert rules(result) == [Rule.MAX_IOB]


def test_a_suspended_pump_gets_no_meal_bolus() -> None:
    """Nothing is sent to a suspended pump, meal bolus included."""
    result, state = run(Decision(meal_bolus=BOLUS), suspended=True)
    assert result.decision == Decision() and state.meal_boluses == ()


def test_a_malformed_meal_bolus_is_nonsense() -> None:
    """NaN units, a non-integer time, zero carbs: the whole decision is nonsense."""
    for bad in (MealBolus(MEAL.t_ms, 60.0, 150.0, float("nan")),
                MealBolus(float(MEAL.t_ms), 60.0, 150.0, 6.8),  # type: ignore[arg-type]
                MealBolus(MEAL.t_ms, 0.0, 150.0, 6.8), "6.8"):
        result, _ = run(Decision(meal_bolus=bad))  # type: ignore[arg-type]
        assert result.decision.meal_bolus is None
        assert rules(result) == [Rule.CONTROLLER_NONSENSE]


def test_meal_rules_are_counted() -> None:
    """Refusals and cuts appear in the trial counters."""
    _, state = run(Decision(meal_bolus=MealBolus(MEAL.t_ms, 60.0, 150.0, 9.0)))
    _, state = run(Decision(meal_bolus=BOLUS), state=state)
    counters = state.counters()
    assert counters["meal_bolus_limit"] == 1 and counters["meal_bolus_refused"] == 1


class _Slow:
    name = "slow"

    def decide(self, inputs: object) -> Decision:
        raise ControllerTimeoutError("did not answer", elapsed_s=5.2, budget_s=5.0)


class _Broken:
    name = "broken"

    def decide(self, inputs: object) -> Decision:
        raise ControllerError("external controller wrote garbage")


def test_a_controller_reporting_its_own_timeout_is_timed_out() -> None:
    """ControllerTimeoutError is a timeout with the controller's own figures, not a crash."""
    outcome = call_controller(_Slow(), controller_input(AT_150))
    assert outcome == TimedOut(5.2, 5.0)


def test_a_controller_error_is_raised() -> None:
    """Any other ControllerError is an exception the supervisor records."""
    outcome = call_controller(_Broken(), controller_input(AT_150))
    assert isinstance(outcome, Raised) and "garbage" in outcome.error

"""The safety supervisor, rule by rule (each test: one rule, why it binds)."""

from __future__ import annotations

import pytest
from control_helpers import NOW_MS, cgm_trace, controller_input, linear_trace

from pumplab.control import (
    MS_PER_MINUTE,
    ActiveTempBasal,
    AlertKind,
    ControllerInput,
    Decided,
    Decision,
    Raised,
    Rule,
    Supervisor,
    SupervisorLimits,
    SupervisorState,
    TempBasal,
    TimedOut,
    WithholdLedger,
    call_controller,
    supervise,
)
from pumplab.errors import SettingsError

LIMITS = SupervisorLimits(max_iob_u=5.0, max_temp_basal_u_per_h=3.0, max_micro_bolus_u=1.0)
#: BG 120 rising 1 mg/dL per 5 min: fresh, clean, not flat, no low ahead.
STEADY = linear_trace(109, 1, 12)
#: BG 80 falling 3 mg/dL per 5 min: 62 mg/dL predicted in 30 min.
FALLING = linear_trace(113, -3, 12)
MIN = MS_PER_MINUTE


def step(inp: ControllerInput, asked: object, state: SupervisorState | None = None,
         limits: SupervisorLimits = LIMITS):
    result, new_state = supervise(limits, state or SupervisorState(), inp, Decided(asked))
    return result, new_state


def rules(result) -> set[Rule]:  # type: ignore[no-untyped-def]
    return {o.rule for o in result.overrides}


# ---------------------------------------------------------------- passes through


def test_a_sane_decision_passes_unchanged() -> None:
    """1.5 U/h for 30 min and 0.2 U, within every limit: sent as asked, no override."""
    asked = Decision(TempBasal(1.5, 30), 0.2)
    result, _ = step(controller_input(STEADY), asked)
    assert result.decision == asked
    assert not result.overridden


def test_nothing_asked_nothing_sent() -> None:
    """A controller that asks for nothing gets nothing sent."""
    result, _ = step(controller_input(STEADY), Decision())
    assert result.decision.is_nothing and not result.overridden


# ---------------------------------------------------------------- limits


def test_rate_above_max_temp_basal_is_cut() -> None:
    """10 U/h asked, max 3 U/h (and IOB room for it: 1 + (3 − 1)/2 = 2 U ≤ 5)."""
    result, _ = step(controller_input(STEADY), Decision(TempBasal(10.0, 30)))
    assert result.decision.temp_basal == TempBasal(3.0, 30)
    assert rules(result) == {Rule.MAX_TEMP_BASAL}


def test_duration_above_the_maximum_is_cut() -> None:
    """A 240-min temp is cut to 120 min: a loop that stops must not leave a long temp."""
    result, _ = step(controller_input(STEADY), Decision(TempBasal(1.2, 240)))
    assert result.decision.temp_basal == TempBasal(1.2, 120)
    assert Rule.MAX_TEMP_DURATION in rules(result)


def test_duration_off_the_30_minute_grid_is_rounded_down() -> None:
    """The pump takes 30-min steps: 45 min becomes 30."""
    result, _ = step(controller_input(STEADY), Decision(TempBasal(1.2, 45)))
    assert result.decision.temp_basal == TempBasal(1.2, 30)
    assert rules(result) == {Rule.PUMP_INCREMENT}


def test_micro_bolus_above_the_maximum_is_cut() -> None:
    """5 U asked as a micro-bolus, max 1 U."""
    result, _ = step(controller_input(STEADY, iob_u=0.0), Decision(micro_bolus_u=5.0))
    assert result.decision.micro_bolus_u == 1.0
    assert rules(result) == {Rule.MAX_MICRO_BOLUS}


def test_max_iob_cuts_the_bolus_first_then_the_temp() -> None:
    """IOB 4.5 of max 5: room 0.5 U.  3 U/h for 30 min over the 1 U/h schedule adds 1 U, a
    0.3-U bolus more: the temp keeps 0.5 U (1 + 0.5·60/30 = 2 U/h) and the bolus goes."""
    result, _ = step(controller_input(STEADY, iob_u=4.5), Decision(TempBasal(3.0, 30), 0.3))
    assert result.decision.temp_basal == TempBasal(2.0, 30)
    assert result.decision.micro_bolus_u is None
    assert Rule.MAX_IOB in rules(result)


def test_iob_above_max_allows_no_insulin_above_the_schedule() -> None:
    """IOB 6 > max 5: a high temp is cut to the scheduled 1 U/h; a low temp is untouched."""
    high, _ = step(controller_input(STEADY, iob_u=6.0), Decision(TempBasal(2.5, 30), 0.5))
    assert high.decision == Decision(TempBasal(1.0, 30))
    low, _ = step(controller_input(STEADY, iob_u=6.0), Decision(TempBasal(0.5, 30)))
    assert low.decision.temp_basal == TempBasal(0.5, 30)
    assert not low.overridden


def test_rates_and_boluses_are_rounded_down_to_the_pump_grid() -> None:
    """1.2345 U/h → 1.2 (0.05 steps from 1 U/h); 0.33 U → 0.325 (0.025-U strokes)."""
    result, _ = step(controller_input(STEADY), Decision(TempBasal(1.2345, 30), 0.33))
    assert result.decision.temp_basal == TempBasal(1.2, 30)
    assert result.decision.micro_bolus_u == 0.325
    assert rules(result) == {Rule.PUMP_INCREMENT}


def test_a_vanishing_rate_rounded_to_zero_is_recorded() -> None:
    """Regression (found by the explore profile): 3e-239 U/h rounds down to 0 U/h, and that
    change, however small, is recorded."""
    result, _ = step(controller_input(STEADY), Decision(TempBasal(3e-239, 30)))
    assert result.decision.temp_basal == TempBasal(0.0, 30)
    assert rules(result) == {Rule.PUMP_INCREMENT}


# ---------------------------------------------------------------- predicted low


def test_predicted_low_suspends_and_drops_the_bolus() -> None:
    """BG 80 falling 3/5 min → 62 mg/dL predicted in 30 min (< 70): whatever was asked,
    no bolus and a 30-min zero temp."""
    result, _ = step(controller_input(FALLING), Decision(TempBasal(2.0, 30), 0.5))
    assert result.decision == Decision(TempBasal(0.0, 30))
    assert result.predicted_bg_mg_dl == pytest.approx(62.0)
    assert Rule.PREDICTED_LOW in rules(result)


def test_predicted_low_keeps_the_controllers_own_zero_temp() -> None:
    """A controller that already asks for a 90-min zero temp is not overridden."""
    result, _ = step(controller_input(FALLING), Decision(TempBasal(0.0, 90)))
    assert result.decision.temp_basal == TempBasal(0.0, 90)
    assert not result.overridden


def test_predicted_low_with_a_zero_temp_running_needs_no_command() -> None:
    """A zero temp with 20 min left is running and the controller asks nothing: nothing sent."""
    inp = controller_input(FALLING, temp=ActiveTempBasal(0.0, 20))
    result, _ = step(inp, Decision(), SupervisorState(WithholdLedger(
        ((NOW_MS - 10 * MIN, NOW_MS + 20 * MIN),))))
    assert result.decision.is_nothing


def test_current_bg_below_threshold_is_a_low_even_if_rising() -> None:
    """BG 65 rising: the current value is already below 70: zero temp."""
    result, _ = step(controller_input(linear_trace(54, 1, 12)), Decision(TempBasal(1.0, 30)))
    assert result.decision.temp_basal == TempBasal(0.0, 30)


# ---------------------------------------------------------------- CGM fallbacks


def test_stale_cgm_cancels_a_running_temp() -> None:
    """Last reading 20 min old (> 15): the scheduled basal: the running temp is cancelled,
    the controller's high temp is not sent."""
    inp = controller_input(linear_trace(109, 1, 12, end_ms=NOW_MS - 20 * MIN),
                           temp=ActiveTempBasal(2.0, 25))
    result, _ = step(inp, Decision(TempBasal(2.5, 30), 0.4))
    assert result.decision == Decision(TempBasal(0.0, 0))
    assert rules(result) == {Rule.STALE_CGM}


def test_stale_cgm_without_a_temp_sends_nothing() -> None:
    """Scheduled basal is already running: nothing to send."""
    inp = controller_input(linear_trace(109, 1, 12, end_ms=NOW_MS - 16 * MIN))
    result, _ = step(inp, Decision(TempBasal(2.5, 30)))
    assert result.decision.is_nothing
    assert rules(result) == {Rule.STALE_CGM}


def test_no_cgm_at_all_is_stale() -> None:
    """No reading at all: stale."""
    result, _ = step(controller_input(()), Decision(TempBasal(2.5, 30)))
    assert rules(result) == {Rule.STALE_CGM}


def test_noisy_cgm_falls_back() -> None:
    """Readings jumping 100/140/100/...: mean second difference 80 mg/dL > 20: noisy."""
    result, _ = step(controller_input(cgm_trace([100, 140] * 6)), Decision(TempBasal(2.5, 30)))
    assert rules(result) == {Rule.NOISY_CGM}


def test_sensor_error_value_falls_back() -> None:
    """A reading of 38 mg/dL is outside the sensor's range: an error code, not glucose."""
    result, _ = step(controller_input(cgm_trace([120, 121, 38])), Decision(TempBasal(2.5, 30)))
    assert rules(result) == {Rule.NOISY_CGM}


def test_flat_cgm_falls_back() -> None:
    """10 identical readings over 45 min: a stuck sensor."""
    result, _ = step(controller_input(cgm_trace([150] * 10)), Decision(TempBasal(2.5, 30)))
    assert rules(result) == {Rule.FLAT_CGM}


# ---------------------------------------------------------------- controller failures


class _Boom:
    name = "boom"

    def decide(self, inputs: ControllerInput) -> Decision:
        raise ZeroDivisionError("division by zero")


class _Slow:
    name = "slow"

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock

    def decide(self, inputs: ControllerInput) -> Decision:
        self.clock[0] += 9.0  # the fake timer says this call took 9 s
        return Decision(TempBasal(3.0, 30))


def test_a_controller_that_raises_gets_the_scheduled_basal() -> None:
    """The exception is caught, recorded with its type and message; a running temp cancelled."""
    inp = controller_input(STEADY, temp=ActiveTempBasal(2.0, 25))
    outcome = call_controller(_Boom(), inp)
    assert outcome == Raised("ZeroDivisionError: division by zero")
    result, _ = supervise(LIMITS, SupervisorState(), inp, outcome)
    assert result.decision == Decision(TempBasal(0.0, 0))
    assert rules(result) == {Rule.CONTROLLER_RAISED}
    assert "ZeroDivisionError" in result.overrides[0].detail


def test_a_failed_controller_still_gets_a_suspend_on_a_predicted_low() -> None:
    """The controller raised while BG falls towards a low on good CGM data: the fallback is
    the scheduled basal, but the predicted low still wins: a zero temp."""
    outcome = call_controller(_Boom(), controller_input(FALLING))
    result, _ = supervise(LIMITS, SupervisorState(), controller_input(FALLING), outcome)
    assert result.decision == Decision(TempBasal(0.0, 30))
    assert rules(result) == {Rule.CONTROLLER_RAISED, Rule.PREDICTED_LOW}


def test_a_failed_controller_does_not_cancel_a_running_zero_temp_before_a_low() -> None:
    """A zero temp runs with 20 min left; the controller raised; a low is predicted: the
    fallback's cancel is not sent, the zero temp keeps running."""
    inp = controller_input(FALLING, temp=ActiveTempBasal(0.0, 20))
    result, _ = supervise(LIMITS, SupervisorState(), inp, Raised("ValueError: x"))
    assert result.decision.is_nothing
    assert rules(result) == {Rule.CONTROLLER_RAISED, Rule.PREDICTED_LOW}


def test_a_controller_over_its_time_budget_is_discarded() -> None:
    """With a timer passed in, a 9-s call against a 5-s budget is a timeout: its answer is
    not used."""
    clock = [100.0]
    inp = controller_input(STEADY)
    outcome = call_controller(_Slow(clock), inp, timer=lambda: clock[0], budget_s=5.0)
    assert outcome == TimedOut(9.0, 5.0)
    result, _ = supervise(LIMITS, SupervisorState(), inp, outcome)
    assert result.decision.is_nothing
    assert rules(result) == {Rule.CONTROLLER_TIMED_OUT}


@pytest.mark.parametrize("output", [
    None, "1.5 U/h", 42, Decision(TempBasal(float("nan"), 30)), Decision(TempBasal(-1.0, 30)),
    Decision(TempBasal(1.0, 10)), Decision(TempBasal(1.0, 30.5)),  # type: ignore[arg-type]
    Decision(TempBasal(True, 30)), Decision(micro_bolus_u=float("inf")),  # type: ignore[arg-type]
    Decision(micro_bolus_u=-0.1), Decision(TempBasal("2", 30)),  # type: ignore[arg-type]
    Decision(reasons=["list"]),  # type: ignore[arg-type]
])
def test_nonsense_is_caught(output: object) -> None:
    """Not a Decision, a NaN/negative/boolean/string value, 10- or 30.5-min durations:
    the scheduled basal, recorded as nonsense."""
    result, _ = step(controller_input(STEADY), output)
    assert result.decision.is_nothing
    assert rules(result) == {Rule.CONTROLLER_NONSENSE}


# ---------------------------------------------------------------- pump state


def test_a_suspended_pump_is_sent_nothing() -> None:
    """The pump would refuse anything while suspended."""
    result, _ = step(controller_input(STEADY, suspended=True), Decision(TempBasal(1.5, 30)))
    assert result.decision.is_nothing
    assert rules(result) == {Rule.PUMP_SUSPENDED}


def test_a_pump_that_cannot_vouch_for_its_iob_is_sent_nothing() -> None:
    """NaN IOB (the pump could not rebuild its state): no insulin decision can be checked."""
    result, _ = step(controller_input(STEADY, iob_u=float("nan")), Decision(TempBasal(1.5, 30)))
    assert result.decision.is_nothing
    assert rules(result) == {Rule.PUMP_STATE_UNKNOWN}


# ---------------------------------------------------------------- withholding


def _withheld(*spans_min: tuple[int, int]) -> SupervisorState:
    """A state whose ledger holds withholding from now−a to now−b minutes for each (a, b)."""
    return SupervisorState(WithholdLedger(tuple(
        (NOW_MS - a * MIN, NOW_MS - b * MIN) for a, b in spans_min)))


def test_episode_budget_shortens_a_zero_temp() -> None:
    """60 min withheld in this episode (running until now): of 120, 60 remain, so a 120-min
    zero temp is cut to 60 min; no alert without a predicted low."""
    result, _ = step(controller_input(STEADY), Decision(TempBasal(0.0, 120)), _withheld((60, 0)))
    assert result.decision.temp_basal == TempBasal(0.0, 60)
    assert rules(result) == {Rule.WITHHOLD_EPISODE_LIMIT}
    assert result.alerts == ()


def test_episode_used_up_during_a_predicted_low_gives_a_quarter_basal_and_an_alert() -> None:
    """100 of 120 min used: less than 30 min left, so no zero temp is possible.  The pump's
    limit wins: the lowest rate that does not withhold (1/4 of 1 U/h = 0.25 U/h) for 30 min,
    and, since a low is predicted, an alert to treat it."""
    result, state = step(controller_input(FALLING), Decision(TempBasal(0.0, 60)),
                         _withheld((100, 0)))
    assert result.decision.temp_basal == TempBasal(0.25, 30)
    assert Rule.WITHHOLD_EPISODE_LIMIT in rules(result)
    assert [a.kind for a in result.alerts] == [AlertKind.LOW_PREDICTED_WITHHOLD_LIMIT]
    assert state.alerts(AlertKind.LOW_PREDICTED_WITHHOLD_LIMIT) == 1
    assert state.count(Rule.WITHHOLD_EPISODE_LIMIT) == 1


def test_a_gap_under_30_minutes_continues_the_episode() -> None:
    """100 min withheld, ended 20 min ago: a new zero temp continues that episode, gap
    included (120 used): no budget; chaining cannot reset the limit."""
    result, _ = step(controller_input(STEADY), Decision(TempBasal(0.0, 30)), _withheld((120, 20)))
    assert result.decision.temp_basal == TempBasal(0.25, 30)
    assert Rule.WITHHOLD_EPISODE_LIMIT in rules(result)


def test_a_gap_of_30_minutes_starts_a_new_episode() -> None:
    """100 min withheld, ended 40 min ago: a new episode with its full 120 min."""
    result, _ = step(controller_input(STEADY), Decision(TempBasal(0.0, 120)), _withheld((140, 40)))
    assert result.decision.temp_basal == TempBasal(0.0, 120)
    assert not result.overridden


def test_daily_budget_binds_across_episodes() -> None:
    """Three separate 115-min episodes today (345 of 360 min): a new episode has 120 min of
    its own but only 15 of the day: the day limit binds."""
    state = _withheld((900, 785), (600, 485), (300, 185))
    result, _ = step(controller_input(STEADY), Decision(TempBasal(0.0, 30)), state)
    assert result.decision.temp_basal == TempBasal(0.25, 30)
    assert rules(result) == {Rule.WITHHOLD_DAY_LIMIT}
    assert result.withheld_day_min == 345


def test_withholding_older_than_a_day_does_not_count() -> None:
    """Episodes that ended more than 24 h ago leave the whole daily budget."""
    state = _withheld((1700, 1585), (1600, 1485), (1500, 1445))
    result, _ = step(controller_input(STEADY), Decision(TempBasal(0.0, 120)), state)
    assert result.decision.temp_basal == TempBasal(0.0, 120)


def test_pump_reported_counters_win_when_larger() -> None:
    """The pump says 110 min of this episode are used (the supervisor saw none): only 10
    remain, so no zero temp can be sent."""
    inp = controller_input(STEADY, withheld_episode_min=110.0)
    result, _ = step(inp, Decision(TempBasal(0.0, 30)))
    assert result.decision.temp_basal == TempBasal(0.25, 30)
    assert result.withheld_episode_min == 110


def test_a_low_temp_above_a_quarter_of_basal_does_not_withhold() -> None:
    """0.25 U/h against 1 U/h is exactly 1/4: not withholding, so no budget is needed."""
    result, _ = step(controller_input(STEADY), Decision(TempBasal(0.25, 120)), _withheld((115, 0)))
    assert result.decision.temp_basal == TempBasal(0.25, 120)
    assert not result.overridden


def test_ledger_ends_a_planned_temp_the_pump_no_longer_shows() -> None:
    """A zero temp planned until now+20 is not running any more: it ended by now."""
    ledger = WithholdLedger(((NOW_MS - 10 * MIN, NOW_MS + 20 * MIN),))
    assert ledger.observe(NOW_MS, None, None).intervals == ((NOW_MS - 10 * MIN, NOW_MS),)


def test_ledger_keeps_a_planned_temp_still_running_across_a_schedule_change() -> None:
    """The pump judged the temp withholding when it started; it still runs to its planned
    end (within 2 min), so it stays counted even if the schedule now makes it look mild."""
    ledger = WithholdLedger(((NOW_MS - 10 * MIN, NOW_MS + 20 * MIN),))
    kept = ledger.observe(NOW_MS, None, NOW_MS + 21 * MIN)
    assert kept.intervals == ((NOW_MS - 10 * MIN, NOW_MS + 21 * MIN),)


# ---------------------------------------------------------------- state and counters


def test_supervisor_counts_each_rule_per_cycle() -> None:
    """Counters for trial reports: cycles, and per rule the cycles in which it bound."""
    sup = Supervisor(LIMITS)
    sup.step(controller_input(STEADY), Decided(Decision(TempBasal(10.0, 30))))
    sup.step(controller_input(STEADY), Decided(Decision(TempBasal(10.0, 30))))
    sup.step(controller_input(STEADY), Raised("ValueError: x"))
    counters = sup.state.counters()
    assert counters["cycles"] == 3
    assert counters["max_temp_basal"] == 2
    assert counters["controller_raised"] == 1
    assert counters["alert:low_predicted_withhold_limit"] == 0


def test_supervisor_run_calls_and_supervises() -> None:
    """run() = call_controller + step."""
    result = Supervisor(LIMITS).run(_Boom(), controller_input(STEADY))
    assert rules(result) == {Rule.CONTROLLER_RAISED}


@pytest.mark.parametrize(("field", "value"), [
    ("max_iob_u", -1.0), ("max_temp_basal_u_per_h", float("nan")),
    ("max_temp_duration_min", 45), ("suspend_duration_min", 150),
    ("max_withhold_day_min", 60), ("withhold_divisor", 0),
])
def test_bad_limits_are_refused_by_name(field: str, value: float) -> None:
    """Limits come from trial settings: a bad one names the field."""
    kwargs = {"max_iob_u": 5.0, "max_temp_basal_u_per_h": 3.0, field: value}
    with pytest.raises(SettingsError) as info:
        SupervisorLimits(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field

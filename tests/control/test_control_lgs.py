"""Predictive low-glucose suspend (the 640G's rules S1–S3, R1–R2), each decision derived.

Low limit LL = 70 mg/dL: suspend before low when SG ≤ 140 (LL + 70) and the SG
predicted 30 min ahead ≤ 90 (LL + 20); suspend on low when SG ≤ 70; resume after
≥ 30 min when SG ≥ 90 (LL + 20) and predicted > 110 (LL + 40), or at 120 min.
The prediction is the least-squares line of the last 20 min: a linear trace of
``d`` mg/dL per 5 min predicts SG + 6·d.
"""

from __future__ import annotations

import pytest
from control_helpers import NOW_MS, cgm_trace, controller_input, linear_trace

from pumplab.control import (
    MS_PER_MINUTE,
    ActiveTempBasal,
    CarbRecord,
    Decision,
    TempBasal,
)
from pumplab.control.basal_bolus import MealBolusSettings
from pumplab.control.lgs import LgsController, LgsSettings, LgsState, lgs_step
from pumplab.errors import SettingsError

MIN = MS_PER_MINUTE
S = LgsSettings()
MEALS = MealBolusSettings()
SUSPENDED_AT = NOW_MS - 35 * MIN  # a suspension 35 min old (past the 30-min minimum)


FRESH = LgsState()


def step(cgm, state: LgsState = FRESH, **kw):  # type: ignore[no-untyped-def]
    return lgs_step(S, MEALS, state, controller_input(cgm, **kw))


def ending(bg_now: float, per_5min: float):  # type: ignore[no-untyped-def]
    """A linear trace ending at ``bg_now``."""
    return linear_trace(bg_now - 11 * per_5min, per_5min, 12)


def codes(decision: Decision) -> list[str]:
    return [r.code for r in decision.reasons]


def test_no_suspend_while_the_prediction_stays_high() -> None:
    """SG 130 falling 3 per 5 min: predicted 112 > 90: keep delivering."""
    decision, state = step(ending(130, -3))
    assert decision == Decision() and state == LgsState()


def test_suspend_before_low() -> None:
    """SG 110 (≤ 140) falling 5 per 5 min: predicted 80 ≤ 90: a 30-min zero temp."""
    decision, state = step(ending(110, -5))
    assert decision.temp_basal == TempBasal(0.0, 30)
    assert codes(decision) == ["suspend_before_low"]
    assert state == LgsState(NOW_MS, None)


def test_no_suspend_above_the_zone_however_fast_the_fall() -> None:
    """SG 150 (> 140) falling 10 per 5 min: predicted 90, but SG is outside the zone."""
    assert step(ending(150, -10))[0] == Decision()


def test_suspend_on_low() -> None:
    """SG 68 flat (≤ LL): suspend even though nothing is falling."""
    decision, _ = step(cgm_trace([68.0] * 6))
    assert decision.temp_basal == TempBasal(0.0, 30) and codes(decision) == ["suspend_on_low"]


def test_suspend_on_low_can_be_switched_off() -> None:
    """With suspend on low off, a flat 68 (predicted 68 ≤ 90, SG ≤ 140) still suspends —
    as suspend before low."""
    decision, _ = lgs_step(LgsSettings(suspend_on_low=False), MEALS, LgsState(),
                           controller_input(cgm_trace([68.0] * 6)))
    assert codes(decision) == ["suspend_before_low"]


def test_no_resume_before_the_minimum_suspension() -> None:
    """Suspended 20 min, SG 100 rising fast (predicted 160): stays suspended until 30 min."""
    state = LgsState(NOW_MS - 20 * MIN, None)
    decision, new = step(ending(100, 10), state, temp=ActiveTempBasal(0.0, 10))
    assert decision.temp_basal is None and codes(decision) == ["suspended"]
    assert new == state


def test_auto_resume_when_rising_out_of_the_low() -> None:
    """Suspended 35 min, SG 92 (≥ 90) rising 4 per 5 min (predicted 116 > 110): resume —
    the running zero temp is cancelled."""
    state = LgsState(SUSPENDED_AT, None)
    decision, new = step(ending(92, 4), state, temp=ActiveTempBasal(0.0, 25))
    assert decision.temp_basal == TempBasal(0.0, 0) and codes(decision) == ["auto_resume"]
    assert new == LgsState(None, None)


def test_no_resume_if_the_prediction_is_not_high_enough() -> None:
    """Suspended 35 min, SG 92 rising 2 per 5 min: predicted 104 ≤ 110: stays suspended."""
    state = LgsState(SUSPENDED_AT, None)
    decision, new = step(ending(92, 2), state, temp=ActiveTempBasal(0.0, 25))
    assert codes(decision) == ["suspended"] and new == state


def test_the_suspension_is_renewed_before_its_temp_runs_out() -> None:
    """The running zero temp has 4 min left (the next cycle may come after it ends): a new
    30-min zero temp; with 20 min left, nothing is sent."""
    state = LgsState(SUSPENDED_AT, None)
    low = cgm_trace([75.0] * 6)
    assert step(low, state, temp=ActiveTempBasal(0.0, 4))[0].temp_basal == TempBasal(0.0, 30)
    assert step(low, state, temp=ActiveTempBasal(0.0, 20))[0].temp_basal is None


def test_resume_at_the_two_hour_maximum_then_lock_out() -> None:
    """Suspended 120 min, still at 65: resume (the 640G's maximum); for the next 30 min
    no new suspension, even on a low; after that, suspend again."""
    state = LgsState(NOW_MS - 120 * MIN, None)
    decision, state = step(cgm_trace([65.0] * 6), state, temp=ActiveTempBasal(0.0, 5))
    assert decision.temp_basal == TempBasal(0.0, 0) and codes(decision) == ["max_suspend"]
    assert state == LgsState(None, NOW_MS + 30 * MIN)
    later = NOW_MS + 10 * MIN
    decision, state = step(cgm_trace([65.0] * 6, end_ms=later), state, now_ms=later)
    assert decision.temp_basal is None and codes(decision) == ["lockout"]
    later = NOW_MS + 35 * MIN
    decision, state = step(cgm_trace([65.0] * 6, end_ms=later), state, now_ms=later)
    assert codes(decision) == ["suspend_on_low"] and state.lockout_until_ms is None


def test_a_meal_during_a_suspension_resumes_boluses_and_locks_out() -> None:
    """Suspended 10 min at SG 75; the person announces 60 g: delivery resumed (manual resume),
    the wizard bolus given (60 g / 10 g/U = 6 U food, (75 − 100) / 50 = −0.5 U: 5.5 U), and the
    suspend functions off for 30 min (the 640G after a manual resume)."""
    state = LgsState(NOW_MS - 10 * MIN, None)
    meal = CarbRecord(NOW_MS - MIN, 60.0)
    decision, new = step(cgm_trace([75.0] * 6), state, temp=ActiveTempBasal(0.0, 20),
                         carbs=(meal,))
    assert decision.temp_basal == TempBasal(0.0, 0)
    assert decision.meal_bolus is not None and decision.meal_bolus.units == pytest.approx(5.5)
    assert codes(decision) == ["manual_resume", "meal_bolus"]
    assert new == LgsState(None, NOW_MS + 30 * MIN)


def test_meals_are_bolused_when_delivering() -> None:
    """Not suspended: an announced meal gets its wizard bolus, as in basal-bolus."""
    decision, _ = step(cgm_trace([150.0] * 6), carbs=(CarbRecord(NOW_MS, 60.0),))
    assert decision.meal_bolus is not None and decision.meal_bolus.units == pytest.approx(6.8)


def test_without_fresh_cgm_a_suspension_goes_on_and_none_starts() -> None:
    """CGM 20 min old: an ongoing suspension continues (until its maximum); none starts."""
    stale = cgm_trace([60.0] * 6, end_ms=NOW_MS - 20 * MIN)
    state = LgsState(SUSPENDED_AT, None)
    assert codes(step(stale, state, temp=ActiveTempBasal(0.0, 20))[0]) == ["suspended"]
    assert step(stale)[0] == Decision()


def test_the_controller_keeps_its_suspension_between_cycles() -> None:
    """LgsController holds the state: suspend, then (35 min on) resume."""
    c = LgsController()
    c.decide(controller_input(ending(110, -5)))
    assert c.state.suspended_since_ms == NOW_MS
    later = NOW_MS + 35 * MIN
    d = c.decide(controller_input(linear_trace(48, 4, 12, end_ms=later),  # SG 92, +4 per 5 min
                                  now_ms=later, temp=ActiveTempBasal(0.0, 25)))
    assert codes(d) == ["auto_resume"] and c.state == LgsState()
    c.reset()
    assert c.name == "lgs"


@pytest.mark.parametrize(("kw", "field"), [
    ({"low_limit_mg_dl": 40.0}, "low_limit_mg_dl"),
    ({"max_suspend_min": 10.0}, "max_suspend_min"),
    ({"min_suspend_min": 200.0}, "min_suspend_min"),
    ({"suspend_on_low": 1}, "suspend_on_low"),
])
def test_bad_settings_name_the_field(kw: dict[str, object], field: str) -> None:
    """Out of range (the 640G's low limit is 50–90 mg/dL): a SettingsError naming it."""
    with pytest.raises(SettingsError, match=field):
        LgsSettings(**kw)  # type: ignore[arg-type]

"""PID with insulin feedback: the equations (P1–P7, F1–F4 of pumplab.control.pid), checked
on scenarios whose decisions are worked out in each docstring.

TDD 45 U/day and T_D 90 min give K_P = 60 · 45 / (1500 · 90) = 0.02 U/h per mg/dL.
At 14:00 the test profile has run 1.0 U/h for the whole 8-h feedback window, so the
insulin feedback Î is (to 0.02 %) 1.0 U/h and the first cycle's integral is 1.0 U/h.
"""

from __future__ import annotations

import math

import pytest
from control_helpers import NOW_MS, cgm_trace, controller_input, linear_trace

from pumplab.control import (
    MS_PER_MINUTE,
    ActiveTempBasal,
    BasalRecord,
    BolusRecord,
    TempBasal,
)
from pumplab.control.pid import (
    IFB_MODEL,
    PidController,
    PidSettings,
    PidState,
    ifb_estimate_u_per_h,
    pid_step,
)
from pumplab.errors import SettingsError

MIN = MS_PER_MINUTE
S = PidSettings(tdd_u=45.0)
AFTERNOON = 840.0  # 14:00: 1.0 U/h scheduled since 06:00


def at(cgm, minute: float = AFTERNOON, **kw):  # type: ignore[no-untyped-def]
    return controller_input(cgm, minute_of_day=minute, **kw)


FRESH = PidState()


def step(cgm, state: PidState = FRESH, **kw):  # type: ignore[no-untyped-def]
    return pid_step(S, state, at(cgm, **kw))


# ---------------------------------------------------------------- parameters


def test_gain_follows_the_total_daily_dose() -> None:
    """K_P = 60 · TDD / (1500 · T_D): 0.02 for 45 U/day and 90 min; twice the TDD, twice
    the gain."""
    assert S.kp_u_per_h_per_mg_dl == pytest.approx(0.02)
    assert PidSettings(tdd_u=90.0).kp_u_per_h_per_mg_dl == pytest.approx(0.04)


def test_derivative_term_alone_delivers_the_1500_rule_correction() -> None:
    """A rise of ΔG gives ∫K_P·T_D·dG/dt dt = K_P·T_D·ΔG U·min/h, i.e. ΔG·TDD/1500 U."""
    rise = 100.0
    assert S.kp_u_per_h_per_mg_dl * S.td_min * rise / 60 == pytest.approx(rise * 45 / 1500)


def test_integral_time_is_longer_at_night() -> None:
    """T_I 150 min by day, 450 min from 22:00 to 06:00."""
    assert S.ti_min_at(840) == 150 and S.ti_min_at(23 * 60) == 450 and S.ti_min_at(120) == 450
    assert S.ti_min_at(6 * 60) == 150


def test_insulin_feedback_model_constants_hang_together() -> None:
    """α11, α22, α33 are e^(−1/50), e^(−1/70), e^(−1/55); γ1+γ2+γ3 = 1; each compartment's
    steady state is the delivery rate (so Î = rate at steady state)."""
    m = IFB_MODEL
    assert m.a11 == pytest.approx(math.exp(-1 / 50), abs=1e-4)
    assert m.a22 == pytest.approx(math.exp(-1 / 70), abs=1e-4)
    assert m.a33 == pytest.approx(math.exp(-1 / 55), abs=1e-4)
    assert m.g1 + m.g2 + m.g3 == pytest.approx(1.0, abs=1e-4)
    for x in m.steady_state(2.0):
        assert x == pytest.approx(2.0, rel=5e-4)


@pytest.mark.parametrize(("kw", "field"), [
    ({"tdd_u": 0.0}, "tdd_u"),
    ({"tdd_u": 40.0, "target_mg_dl": 60.0}, "target_mg_dl"),
    ({"tdd_u": 40.0, "gamma": -1.0}, "gamma"),
    ({"tdd_u": 40.0, "night_start_min": 1440}, "night_start_min"),
    ({"tdd_u": 40.0, "ifb_window_min": 30}, "ifb_window_min"),
    ({"tdd_u": 40.0, "temp_duration_min": 45}, "temp_duration_min"),
])
def test_bad_settings_name_the_field(kw: dict[str, float], field: str) -> None:
    """Each out-of-range setting is a SettingsError naming it."""
    with pytest.raises(SettingsError, match=field):
        PidSettings(**kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- decisions


def test_at_target_and_flat_the_loop_delivers_the_basal() -> None:
    """e = 0, dSG/dt = 0, I = 1.0 (starts at the basal), Î = 1.0:
    u = 1.5 · 1.0 − 0.5 · 1.0 = 1.0 U/h for 30 min."""
    decision, state, terms = step(cgm_trace([120.0] * 6))
    assert terms is not None and terms.ifb == pytest.approx(1.0, abs=1e-3)
    assert decision.temp_basal is not None
    assert decision.temp_basal.rate_u_per_h == pytest.approx(1.0, abs=1e-3)
    assert decision.temp_basal.duration_min == 30
    assert state == PidState(1.0, NOW_MS)


def test_above_target_the_proportional_term_adds() -> None:
    """SG 170 flat: P = 0.02 · 50 = 1.0, I = 1.0, D = 0, PID = 2.0;
    u = 1.5 · 2.0 − 0.5 · 1.0 = 2.5 U/h."""
    decision, _, terms = step(cgm_trace([170.0] * 6))
    assert terms is not None and (terms.p, terms.i, terms.d) == pytest.approx((1.0, 1.0, 0.0))
    assert decision.temp_basal is not None
    assert decision.temp_basal.rate_u_per_h == pytest.approx(2.5, abs=1e-3)


def test_a_rise_adds_the_derivative_term() -> None:
    """SG 140 rising 2 mg/dL per 5 min (0.4/min): P 0.4, I 1.0, D 0.02 · 90 · 0.4 = 0.72,
    PID 2.12; u = 3.18 − 0.5 = 2.68 U/h."""
    decision, _, terms = step(linear_trace(118, 2, 12))
    assert terms is not None and terms.slope_mg_dl_per_min == pytest.approx(0.4)
    assert terms.d == pytest.approx(0.72)
    assert decision.temp_basal is not None
    assert decision.temp_basal.rate_u_per_h == pytest.approx(2.68, abs=1e-3)


def test_a_fall_below_target_stops_delivery() -> None:
    """SG 80 falling 3 mg/dL per 5 min: P −0.8, I 1.0, D −1.08, PID −0.88; u < 0 → 0."""
    decision, _, _ = step(linear_trace(113, -3, 12))
    assert decision.temp_basal == TempBasal(0.0, 30)


def test_the_rate_is_held_under_the_max_basal() -> None:
    """SG 300 rising: far above what the pump's 3 U/h max basal allows; 3 U/h."""
    decision, _, _ = step(linear_trace(245, 5, 12))
    assert decision.temp_basal == TempBasal(3.0, 30)


def test_the_integral_accumulates_the_error_over_time() -> None:
    """Two cycles 5 min apart at SG 170: I = 1.0 + 0.02 / 150 · 50 · 5 = 1.0333 U/h."""
    _, state, _ = step(cgm_trace([170.0] * 6))
    _, state, _ = step(cgm_trace([170.0] * 6, end_ms=NOW_MS + 5 * MIN), state,
                       now_ms=NOW_MS + 5 * MIN)
    assert state.integral_u_per_h == pytest.approx(1.0 + 0.02 / 150 * 50 * 5)


def test_at_night_the_integral_is_slower() -> None:
    """At 02:00 (scheduled 0.8 U/h, T_I 450): I = 0.8 + 0.02 / 450 · 50 · 5."""
    _, state, _ = step(cgm_trace([170.0] * 6), minute=120.0, scheduled=0.8)
    _, state, _ = step(cgm_trace([170.0] * 6, end_ms=NOW_MS + 5 * MIN), state,
                       now_ms=NOW_MS + 5 * MIN, minute=125.0, scheduled=0.8)
    assert state.integral_u_per_h == pytest.approx(0.8 + 0.02 / 450 * 50 * 5)


def test_a_second_call_at_the_same_time_adds_nothing() -> None:
    """Asked twice for the same moment, the integral moves once."""
    _, once, _ = step(cgm_trace([170.0] * 6))
    _, twice, _ = step(cgm_trace([170.0] * 6), once)
    assert twice == once


def test_a_gap_is_not_integrated() -> None:
    """An hour without a cycle counts as at most 15 min: I = 1 + 0.02/150 · 50 · 15 = 1.1."""
    _, state, _ = step(cgm_trace([170.0] * 6))
    later = NOW_MS + 60 * MIN
    _, state, _ = step(cgm_trace([170.0] * 6, end_ms=later), state, now_ms=later)
    assert state.integral_u_per_h == pytest.approx(1.1)


def test_the_integral_is_held_between_zero_and_the_max_basal() -> None:
    """Hours far above target cannot wind the integral past 3 U/h, nor far below past 0."""
    for bg, bound in ((400.0, 3.0), (60.0, 0.0)):
        state = PidState(1.5, NOW_MS - 5 * MIN)
        for k in range(48):
            t = NOW_MS + k * 5 * MIN
            _, state, _ = step(cgm_trace([bg] * 6, end_ms=t), state, now_ms=t)
        assert state.integral_u_per_h == bound


def _pulse_response(units: float, minutes_ago: int) -> float:
    """Î of a lone bolus ``minutes_ago`` (F1–F4 by hand: the model is linear, so the bolus's
    part of Î is its own response, from a zero state)."""
    m = IFB_MODEL
    isc = m.b1 * units
    ip = m.b2 * units
    ieff = m.b3 * units
    for _ in range(minutes_ago - 1):
        isc, ip, ieff = (m.a11 * isc, m.a21 * isc + m.a22 * ip,
                         m.a31 * isc + m.a32 * ip + m.a33 * ieff)
    return m.g1 * isc + m.g2 * ip + m.g3 * ieff


def test_a_recent_bolus_lowers_delivery_through_insulin_feedback() -> None:
    """5 U bolused 30 min ago raises Î by the model's response to that pulse, and lowers u
    by γ = 0.5 times as much — the feedback that stops a PID stacking on a bolus."""
    cgm = cgm_trace([170.0] * 6)
    _, _, plain = step(cgm)
    _, _, bolused = step(cgm, boluses=(BolusRecord(NOW_MS - 30 * MIN, 5.0),))
    assert plain is not None and bolused is not None
    assert bolused.ifb - plain.ifb == pytest.approx(_pulse_response(5.0, 30), rel=1e-9)
    assert plain.rate_u_per_h - bolused.rate_u_per_h == pytest.approx(
        0.5 * (bolused.ifb - plain.ifb))


def test_insulin_withheld_raises_delivery_through_insulin_feedback() -> None:
    """An hour of zero temp just delivered lowers Î (delivery as it was, not as
    scheduled), so u is higher than after an hour at the schedule."""
    cgm = cgm_trace([170.0] * 6)
    withheld = (BasalRecord(NOW_MS - 60 * MIN, 60, 0.0),)
    _, _, plain = step(cgm)
    _, _, after_zero = step(cgm, basal_history=withheld)
    assert plain is not None and after_zero is not None
    assert after_zero.ifb < plain.ifb - 0.3
    assert after_zero.rate_u_per_h > plain.rate_u_per_h


def test_ifb_estimate_of_a_steady_schedule_is_the_schedule() -> None:
    """Eight hours of 1.0 U/h: Î = 1.0 U/h (to the model's 0.02 %)."""
    assert ifb_estimate_u_per_h(at(cgm_trace([120.0] * 3))) == pytest.approx(1.0, rel=5e-4)


def test_stale_cgm_asks_nothing_and_keeps_the_state() -> None:
    """No reading for 20 min: nothing asked (the supervisor falls back); integral kept."""
    state = PidState(1.3, NOW_MS - 5 * MIN)
    decision, new_state, terms = step(cgm_trace([170.0] * 6, end_ms=NOW_MS - 20 * MIN), state)
    assert decision.is_nothing and decision.reasons[0].code == "no_cgm"
    assert new_state == state and terms is None


def test_a_similar_running_temp_is_left_alone() -> None:
    """2.5 U/h asked while 2.48 U/h runs with 25 min to go: nothing sent."""
    decision, _, _ = step(cgm_trace([170.0] * 6), temp=ActiveTempBasal(2.48, 25))
    assert decision.temp_basal is None and decision.reasons[-1].code == "similar_temp"


def test_the_controller_keeps_its_integral_between_cycles() -> None:
    """PidController carries the state; reset() starts again at the basal."""
    c = PidController(S)
    c.decide(at(cgm_trace([170.0] * 6)))
    c.decide(at(cgm_trace([170.0] * 6, end_ms=NOW_MS + 5 * MIN), now_ms=NOW_MS + 5 * MIN))
    assert c.state.integral_u_per_h == pytest.approx(1.0 + 0.02 / 150 * 50 * 5)
    assert c.last_terms is not None and c.name == "pid"
    c.reset()
    assert c.state == PidState()

"""Insulin on board: boluses, spread doses, temp basals, net vs total (OpenAPS semantics)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from therapy_strategies import FIXED, curves, positive_doses

from pumplab.therapy import (
    RAPID_ACTING_ADULT,
    BasalDelivery,
    BilinearCurve,
    Dose,
    InsulinCurve,
    basal_schedule,
    insulin_activity,
    insulin_on_board,
    iob_and_activity,
    net_basal_doses,
    net_insulin_on_board,
)

BILINEAR_3H = BilinearCurve(dia_min=180.0)


def test_bolus_iob_is_units_times_the_curve_fraction() -> None:
    """2 U given 60 min ago on a 3-h bilinear curve leave 2·0.733333 = 1.466667 U."""
    assert insulin_on_board([Dose(0.0, 2.0)], 60.0, BILINEAR_3H) == pytest.approx(1.4666667)


def test_bolus_counts_fully_at_its_start_minute() -> None:
    """A bolus at t counts in full at t (it has been given)."""
    assert insulin_on_board([Dose(30.0, 1.5)], 30.0, RAPID_ACTING_ADULT) == 1.5


def test_future_doses_count_nothing() -> None:
    """Doses that start after t contribute neither IOB nor activity."""
    doses = [Dose(10.0, 3.0), Dose(5.0, 2.0, duration_min=30.0)]
    result = iob_and_activity(doses, 4.0, RAPID_ACTING_ADULT)
    assert result.iob_u == 0.0
    assert result.activity_u_per_min == 0.0


def test_square_wave_counts_only_what_was_delivered() -> None:
    """1 U over 30 min, 15 min in: (1/30)∫₀¹⁵(1 − u²/13500)du = (15 − 15³/40500)/30 = 0.497222."""
    iob = insulin_on_board([Dose(0.0, 1.0, duration_min=30.0)], 15.0, BILINEAR_3H)
    assert iob == pytest.approx(0.4972222, abs=1e-7)


def test_square_wave_iob_at_its_end_matches_hand_integral() -> None:
    """1 U over 30 min, at 30 min: (30 − 30³/40500)/30 = 1 − 900/40500 = 0.977778."""
    iob = insulin_on_board([Dose(0.0, 1.0, duration_min=30.0)], 30.0, BILINEAR_3H)
    assert iob == pytest.approx(0.9777778, abs=1e-7)


@pytest.mark.parametrize("t", [21.0, 60.0, 150.0, 300.0])  # on 0.15-min piece edges
def test_spread_dose_equals_the_limit_of_many_small_boluses(t: float) -> None:
    """Exact integration agrees with oref0-style splitting into pieces as the pieces shrink."""
    n = 600
    pieces = [Dose(i * 90.0 / n + 45.0 / n, 2.0 / n) for i in range(n)]  # midpoints
    exact = iob_and_activity([Dose(0.0, 2.0, duration_min=90.0)], t, RAPID_ACTING_ADULT)
    split = iob_and_activity(pieces, t, RAPID_ACTING_ADULT)
    assert exact.iob_u == pytest.approx(split.iob_u, abs=2e-4)
    assert exact.activity_u_per_min == pytest.approx(split.activity_u_per_min, abs=1e-5)


def test_nothing_remains_after_delivery_plus_action() -> None:
    """A square wave is gone once its duration plus the curve's action have passed."""
    dose = Dose(0.0, 4.0, duration_min=120.0)
    assert insulin_on_board([dose], 120.0 + 360.0, RAPID_ACTING_ADULT) == 0.0
    assert insulin_on_board([dose], 120.0 + 359.0, RAPID_ACTING_ADULT) > 0.0


def test_activity_of_a_spread_dose_is_minus_the_iob_slope_after_delivery() -> None:
    """Once delivery has ended, d(IOB)/dt = −activity (central difference)."""
    doses = [Dose(0.0, 3.0, duration_min=60.0)]
    h = 1e-3
    for t in (70.0, 120.0, 250.0):
        slope = (
            insulin_on_board(doses, t - h, RAPID_ACTING_ADULT)
            - insulin_on_board(doses, t + h, RAPID_ACTING_ADULT)
        ) / (2 * h)
        assert slope == pytest.approx(insulin_activity(doses, t, RAPID_ACTING_ADULT), abs=1e-7)


def test_temp_basal_net_iob_matches_hand_integral_and_oref0_bounds() -> None:
    """oref0 "should calculate IOB with Temp Basals": 2 U/h for 60 min over a 1 U/h schedule,
    DIA 3 h bilinear, at the end: 0.5 < net IOB < 1.  By hand: the net 1 U spread over 60 min
    leaves (1/60)∫₀⁶⁰(1 − u²/13500)du = (60 − 60³/40500)/60 = 0.911111 U."""
    schedule = basal_schedule([(0, 1.0)])
    deliveries = [BasalDelivery(-60.0, 30.0, 2.0), BasalDelivery(-30.0, 30.0, 2.0)]
    result = net_insulin_on_board([], deliveries, schedule, 0.0, BILINEAR_3H)
    assert 0.5 < result.net_u < 1.0
    assert result.net_u == pytest.approx(0.9111111, abs=1e-7)
    assert result.total_u == pytest.approx(2 * 0.9111111, abs=1e-7)
    assert result.bolus_u == 0.0


def test_temp_basal_over_a_schedule_change_matches_oref0_bounds() -> None:
    """oref0 "... Temp Basals and a basal profile": schedule 2 U/h from 00:00 and 1 U/h from
    01:00, temp 2 U/h 00:30–01:30, at 01:30: 0.4 < net IOB < 0.5.  By hand only 01:00–01:30
    is above schedule: 0.5 U over 30 min → 0.5·(30 − 30³/40500)/30 = 0.488889 U."""
    schedule = basal_schedule([(0, 2.0), (60, 1.0)])
    deliveries = [BasalDelivery(30.0, 30.0, 2.0), BasalDelivery(60.0, 30.0, 2.0)]
    result = net_insulin_on_board([], deliveries, schedule, 90.0, BILINEAR_3H)
    assert 0.4 < result.net_u < 0.5
    assert result.net_u == pytest.approx(0.4888889, abs=1e-7)


def test_suspension_counts_negative_in_net_iob() -> None:
    """A 60-min zero temp over a 1 U/h schedule withholds 1 U: net −0.911111, total basal 0."""
    schedule = basal_schedule([(0, 1.0)])
    result = net_insulin_on_board(
        [Dose(-60.0, 2.0)], [BasalDelivery(-60.0, 60.0, 0.0)], schedule, 0.0, BILINEAR_3H
    )
    bolus = 2.0 * BILINEAR_3H.iob_fraction(60.0)
    assert result.basal_net_u == pytest.approx(-0.9111111, abs=1e-7)
    assert result.net_u == pytest.approx(bolus - 0.9111111, abs=1e-7)
    assert result.total_u == pytest.approx(bolus, abs=1e-12)


def test_net_basal_doses_split_at_schedule_boundaries_across_midnight() -> None:
    """A 2 U/h temp from 23:00 to 01:00 over 1 U/h (from 00:00) and 0.5 U/h (from 22:00)
    gives +1.5 U/h for 60 min then +1 U/h for 60 min."""
    schedule = basal_schedule([(0, 1.0), (1320, 0.5)])
    # Absolute minute 0 is 22:00 of the pump's day.
    doses = net_basal_doses(
        [BasalDelivery(60.0, 120.0, 2.0)], schedule, minute_of_day_at_zero=1320.0
    )
    assert doses == (Dose(60.0, 1.5, 60.0), Dose(120.0, 1.0, 60.0))


def test_delivery_at_the_scheduled_rate_has_no_net_effect() -> None:
    """Basal delivered exactly as scheduled adds no net dose."""
    schedule = basal_schedule([(0, 0.8)])
    assert net_basal_doses([BasalDelivery(0.0, 240.0, 0.8)], schedule) == ()


@pytest.mark.parametrize(
    "bad",
    [
        {"start_min": float("nan"), "units": 1.0},
        {"start_min": 0.0, "units": float("inf")},
        {"start_min": 0.0, "units": 1.0, "duration_min": -5.0},
    ],
)
def test_dose_rejects_non_finite_or_negative_duration(bad: dict[str, float]) -> None:
    """A Dose with a non-finite field or a negative duration is a programming error (ValueError)."""
    with pytest.raises(ValueError):
        Dose(**bad)


def test_basal_delivery_rejects_a_negative_rate() -> None:
    """A negative delivered basal rate is a programming error (ValueError)."""
    with pytest.raises(ValueError):
        BasalDelivery(0.0, 30.0, -0.5)


@FIXED
@given(doses=positive_doses, curve=curves, t=st.floats(0.0, 900.0), dt=st.floats(0.0, 120.0))
def test_iob_never_increases_after_the_last_dose_is_delivered(
    doses: list[Dose], curve: InsulinCurve, t: float, dt: float
) -> None:
    """With only positive doses, IOB is non-increasing once every dose has been delivered."""
    end = max(d.start_min + d.duration_min for d in doses)
    t0 = max(t, end)
    later = insulin_on_board(doses, t0 + dt, curve)
    assert later <= insulin_on_board(doses, t0, curve) + 1e-9
    assert later >= -1e-12


@FIXED
@given(doses=positive_doses, curve=curves, t=st.floats(-100.0, 900.0))
def test_iob_never_exceeds_the_insulin_given(
    doses: list[Dose], curve: InsulinCurve, t: float
) -> None:
    """IOB is between 0 and the sum of the doses."""
    iob = insulin_on_board(doses, t, curve)
    assert -1e-12 <= iob <= sum(d.units for d in doses) + 1e-9

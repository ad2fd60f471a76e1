"""Carbs on board: linear and LoopKit piecewise-linear static absorption."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from therapy_strategies import FIXED

from pumplab.errors import InputError
from pumplab.therapy import (
    CarbEntry,
    LinearAbsorption,
    PiecewiseLinearAbsorption,
    carb_absorption_rate,
    carbs_on_board,
)

PIECEWISE = PiecewiseLinearAbsorption()


def test_linear_cob_falls_linearly() -> None:
    """60 g over 180 min: 60 g at the meal, 30 g at 90 min, 0 g from 180 min."""
    meal = [CarbEntry(0.0, 60.0, 180.0)]
    assert carbs_on_board(meal, 0.0) == 60.0
    assert carbs_on_board(meal, 90.0) == pytest.approx(30.0)
    assert carbs_on_board(meal, 180.0) == 0.0
    assert carbs_on_board(meal, 400.0) == 0.0


def test_future_meal_counts_nothing() -> None:
    """A meal after t is not on board at t."""
    assert carbs_on_board([CarbEntry(100.0, 50.0)], 99.0) == 0.0


def test_linear_absorption_rate_is_carbs_over_time() -> None:
    """60 g over 180 min absorb at 1/3 g/min during the absorption time, 0 after."""
    meal = [CarbEntry(0.0, 60.0, 180.0)]
    assert carb_absorption_rate(meal, 45.0) == pytest.approx(1.0 / 3.0)
    assert carb_absorption_rate(meal, 200.0) == 0.0


def test_piecewise_values_at_breakpoints_match_hand_computation() -> None:
    """scale s = 2/(1 + 0.5 − 0.15) = 1.481481; absorbed(0.15) = s·0.15/2 = 0.111111;
    absorbed(0.5) = s·(0.5 − 0.075) = 0.629630; absorbed(1) = 1."""
    assert PIECEWISE.fraction_absorbed(0.15) == pytest.approx(0.1111111, abs=1e-7)
    assert PIECEWISE.fraction_absorbed(0.5) == pytest.approx(0.6296296, abs=1e-7)
    assert PIECEWISE.fraction_absorbed(1.0) == 1.0
    assert PIECEWISE.fraction_absorbed(-0.1) == 0.0


def test_piecewise_absorbed_fraction_is_continuous_and_ends_at_one() -> None:
    """The absorbed fraction is continuous at 15 %, 50 % and 100 % of the time."""
    for x in (0.15, 0.5, 1.0):
        assert PIECEWISE.fraction_absorbed(x - 1e-9) == pytest.approx(
            PIECEWISE.fraction_absorbed(x + 1e-9), abs=1e-7
        )


def test_piecewise_rate_integrates_to_one_and_matches_the_slope() -> None:
    """The rate integrates to 1 over [0, 1] and equals the absorbed fraction's slope."""
    n = 10000
    assert sum(PIECEWISE.rate((i + 0.5) / n) for i in range(n)) / n == pytest.approx(1.0, abs=1e-6)
    h = 1e-6
    for x in (0.05, 0.3, 0.7, 0.95):
        slope = (PIECEWISE.fraction_absorbed(x + h) - PIECEWISE.fraction_absorbed(x - h)) / (2 * h)
        assert slope == pytest.approx(PIECEWISE.rate(x), abs=1e-5)


def test_piecewise_cob_for_a_meal_at_half_time() -> None:
    """45 g over 120 min (piecewise) leave 45·(1 − 0.629630) = 16.666667 g at 60 min."""
    cob = carbs_on_board([CarbEntry(0.0, 45.0, 120.0)], 60.0, PIECEWISE)
    assert cob == pytest.approx(16.666667, abs=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"time_min": 0.0, "carbs_g": -1.0}, "carbs_g"),
        ({"time_min": 0.0, "carbs_g": float("nan")}, "carbs_g"),
        ({"time_min": 0.0, "carbs_g": 20.0, "absorption_min": 0.0}, "absorption_min"),
        ({"time_min": float("inf"), "carbs_g": 20.0}, "time_min"),
    ],
)
def test_carb_entry_rejects_bad_values_naming_the_field(
    kwargs: dict[str, float], field: str
) -> None:
    """Invalid carb entries raise InputError with the field name."""
    with pytest.raises(InputError) as info:
        CarbEntry(**kwargs)
    assert info.value.field == field


@FIXED
@given(
    meals=st.lists(
        st.builds(
            CarbEntry,
            time_min=st.floats(-300.0, 0.0),
            carbs_g=st.floats(0.0, 150.0),
            absorption_min=st.floats(30.0, 480.0),
        ),
        min_size=1,
        max_size=5,
    ),
    model=st.sampled_from([LinearAbsorption(), PIECEWISE]),
    t=st.floats(0.0, 600.0),
    dt=st.floats(0.0, 60.0),
)
def test_cob_is_bounded_and_never_increases_after_the_last_meal(
    meals: list[CarbEntry], model: LinearAbsorption, t: float, dt: float
) -> None:
    """After the last meal, COB stays within [0, carbs eaten] and never rises."""
    now, later = carbs_on_board(meals, t, model), carbs_on_board(meals, t + dt, model)
    assert 0.0 <= later <= now + 1e-9 <= sum(m.carbs_g for m in meals) + 1e-9

"""Exact increment arithmetic: milliunits, grids, rounding down, strokes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from therapy_strategies import FIXED

from pumplab.therapy import (
    X23_BASAL_INCREMENT,
    X23_BOLUS_INCREMENT,
    IncrementRule,
    is_on_grid,
    round_down,
    round_down_mu,
    strokes_to_u,
    u_to_milliunits,
    u_to_strokes,
)


def test_decimal_amounts_become_exact_milliunits() -> None:
    """0.1 + 0.2 (a float just above 0.3) is 300 mU, not 300.00000000000006."""
    assert u_to_milliunits(0.1 + 0.2) == 300
    assert u_to_milliunits(0.025) == 25


def test_round_down_keeps_an_amount_already_on_the_grid() -> None:
    """0.3 U is 12 strokes of 0.025 U and stays 0.3 (no float drift down to 0.275)."""
    assert round_down(0.3, X23_BOLUS_INCREMENT) == 0.3
    assert round_down(0.1 + 0.2, X23_BOLUS_INCREMENT) == 0.3


@pytest.mark.parametrize(
    ("units", "expected"),
    [(0.31, 0.3), (4.1666, 4.15), (0.024, 0.0), (7.0, 7.0)],
)
def test_bolus_rounds_down_to_0025(units: float, expected: float) -> None:
    """Flat 0.025-U bolus grid: always the next step down."""
    assert round_down(units, X23_BOLUS_INCREMENT) == expected


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(0.999, 0.975), (1.07, 1.05), (9.99, 9.95), (10.19, 10.1), (0.0374, 0.025)],
)
def test_basal_rounds_down_on_the_tiered_x23_grid(rate: float, expected: float) -> None:
    """0.025 below 1 U/h, 0.05 from 1, 0.1 from 10 (oref0 round-basal.js, rounded down here)."""
    assert round_down(rate, X23_BASAL_INCREMENT) == expected


@pytest.mark.parametrize(
    ("rate", "on_grid"),
    [
        (0.975, True),
        (1.025, False),
        (1.05, True),
        (10.05, False),
        (10.1, True),
        (0.0251, False),
        (-0.025, False),
        (float("nan"), False),
    ],
)
def test_grid_membership_is_exact(rate: float, on_grid: bool) -> None:
    """is_on_grid decides in integer milliunits, tier by tier."""
    assert is_on_grid(rate, X23_BASAL_INCREMENT) is on_grid


def test_strokes_round_trip_exactly() -> None:
    """1 U is 40 x23 strokes; 3 strokes are 0.075 U."""
    assert u_to_strokes(1.0) == 40
    assert u_to_strokes(0.1 + 0.2) == 12
    assert strokes_to_u(3) == 0.075


def test_amount_that_is_not_whole_strokes_is_refused() -> None:
    """0.0125 U is half a stroke: ValueError, never a silent rounding."""
    with pytest.raises(ValueError):
        u_to_strokes(0.0125)


def test_negative_amounts_cannot_be_rounded() -> None:
    """Rounding a negative dose is a programming error."""
    with pytest.raises(ValueError):
        round_down(-0.1, X23_BOLUS_INCREMENT)
    with pytest.raises(ValueError):
        round_down_mu(-1, X23_BOLUS_INCREMENT)


@pytest.mark.parametrize(
    "tiers", [(), ((25, 25),), ((0, 25), (0, 50)), ((0, 25), (1010, 50)), ((0, 0),)]
)
def test_malformed_increment_rules_are_refused(tiers: tuple[tuple[int, int], ...]) -> None:
    """Tiers must start at 0, increase, have positive steps and start on the previous grid."""
    with pytest.raises(ValueError):
        IncrementRule(tiers)


@FIXED
@given(
    units=st.floats(0.0, 100.0),
    rule=st.sampled_from(
        [
            X23_BOLUS_INCREMENT,
            X23_BASAL_INCREMENT,
            IncrementRule(((0, 100),)),
            IncrementRule(((0, 50),)),
        ]
    ),
)
def test_round_down_never_rounds_up(units: float, rule: IncrementRule) -> None:
    """The result is on the grid, not above the request, and less than one step below it."""
    out = round_down(units, rule)
    assert is_on_grid(out, rule)
    assert out <= units + 1e-9
    assert units - out < rule.step_mu_at(u_to_milliunits(units)) / 1000.0 + 1e-9

"""JavaScript number semantics the port relies on."""

from __future__ import annotations

import math

import pytest

from pumplab.control.oref0._jsmath import (
    js_div,
    js_mathround,
    js_number,
    js_round,
    js_str,
    js_to_fixed,
    round_basal,
)


@pytest.mark.parametrize(("x", "expected"), [
    (0.5, 1.0), (1.5, 2.0), (2.5, 3.0), (-0.5, 0.0), (-1.5, -1.0), (-2.5, -2.0), (2.4999, 2.0),
])
def test_math_round_takes_halves_toward_plus_infinity(x: float, expected: float) -> None:
    """Math.round(2.5) = 3 and Math.round(−2.5) = −2 (Python's round gives 2 and −2)."""
    assert js_mathround(x) == expected


def test_round_to_digits_is_scale_round_unscale() -> None:
    """oref0 round(−0.125, 2): Math.round(−12.5)/100 = −0.12."""
    assert js_round(-0.125, 2) == -0.12
    assert js_round(0.45, 1) == 0.5


@pytest.mark.parametrize(("x", "digits", "expected"), [
    (0.125, 2, "0.13"), (1.005, 2, "1.00"), (-0.0, 2, "0.00"), (2.0, 2, "2.00"), (-1.25, 1, "-1.3"),
])
def test_to_fixed_rounds_the_exact_binary_value_half_up(x: float, digits: int,
                                                         expected: str) -> None:
    """toFixed: 0.125 is exact → "0.13"; 1.005 is 1.00499… in binary → "1.00"."""
    assert js_to_fixed(x, digits) == expected


def test_division_by_zero_gives_infinities_and_nan() -> None:
    """JavaScript division never raises."""
    assert js_div(1.0, 0.0) == math.inf
    assert js_div(-1.0, 0.0) == -math.inf
    assert math.isnan(js_div(0.0, 0.0))
    assert js_div(1.0, -0.0) == -math.inf


def test_numbers_print_as_javascript_prints_them() -> None:
    """String(3.0) is "3"; whole floats become ints in JSON output."""
    assert js_str(3.0) == "3"
    assert js_str(0.9) == "0.9"
    assert js_str(1e-7) == "1e-7"
    assert js_number(30.0) == 30 and isinstance(js_number(30.0), int)
    assert js_number(0.25) == 0.25


@pytest.mark.parametrize(("rate", "model", "expected"), [
    (0.83, None, 0.85), (0.86, None, 0.85), (1.83, None, 1.85), (1.86, None, 1.85),
    (10.83, None, 10.8), (10.86, None, 10.9), (0.025, None, 0.05), (0.025, "522", 0.05),
    (0.025, "554", 0.025), (0.025, "523", 0.025), (0.025, "HelloThisIsntAPumpModel", 0.05),
    (0.825, "523", 0.825), (0.875, "522", 0.9),
])
def test_round_basal_matches_oref0s_round_basal_tests(rate: float, model: str | None,
                                                      expected: float) -> None:
    """The cases of oref0's tests/determine-basal.test.js "round_basal" block."""
    assert round_basal(rate, model) == expected

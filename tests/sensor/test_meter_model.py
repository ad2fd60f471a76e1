"""The fingerstick meter model: ISO 15197:2013 accuracy, LO/HI, seeding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pumplab.errors import InputError
from pumplab.physiology.meter import (
    CONTOUR_NEXT_LINK,
    ISO_15197_LIMIT,
    GlucoseMeter,
    MeterFlag,
    MeterSpec,
    meter_preset,
    within_iso_15197_2013,
)

SEED = 15197

# Consensus (Parkes) error grid for type 1 diabetes, the grid ISO 15197:2013
# §6.3.4 uses: the outer edges of zone B (points are (reference, measured)
# in mg/dL), from Parkes et al., Diabetes Care 23(8):1143-1148, 2000, with the
# vertex coordinates as tabulated by Pfützner et al., JDST 7(5):1275-1281, 2013.
_B_UPPER_EDGE = ((0.0, 60.0), (30.0, 60.0), (50.0, 80.0), (70.0, 110.0), (260.0, 550.0))
_B_LOWER_EDGE = ((120.0, 30.0), (260.0, 130.0), (550.0, 250.0))


def _in_parkes_a_or_b(reference: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """True where (reference, measured) lies in zone A or B of the type 1 grid (ref <= 550)."""
    ux, uy = zip(*_B_UPPER_EDGE, strict=True)
    lx, ly = zip(*_B_LOWER_EDGE, strict=True)
    # Past the last upper vertex the edge leaves the grid (measured > 550).
    upper = np.where(reference > ux[-1], np.inf, np.interp(reference, ux, uy))
    # Left of reference 120 the lower edge is the vertical line down to 0.
    lower = np.where(reference < lx[0], -np.inf, np.interp(reference, lx, ly))
    return (measured <= upper) & (measured >= lower)


def _references(n: int) -> np.ndarray:
    """Reference glucose spread over the meter range, a third of it below 100 mg/dL."""
    rng = np.random.default_rng(1)
    return np.concatenate([rng.uniform(30, 100, n // 3), rng.uniform(100, 450, n - n // 3)])


def _fraction_within_iso(spec: MeterSpec, n: int = 300_000) -> tuple[float, float, float]:
    ref = _references(n)
    got = GlucoseMeter(spec, rng=np.random.default_rng(SEED)).measure_many(ref).bg_mg_dl
    inside = within_iso_15197_2013(ref, got)
    low = ref < 100
    return float(inside.mean()), float(inside[low].mean()), float(inside[~low].mean())


@pytest.mark.parametrize("spec", [CONTOUR_NEXT_LINK, ISO_15197_LIMIT], ids=lambda s: s.name)
def test_at_least_95_percent_of_results_meet_iso_15197_limits(spec: MeterSpec) -> None:
    """≥ 95 % of results are within ±15 mg/dL below 100 mg/dL and ±15 % from 100 up, per range."""
    overall, low, high = _fraction_within_iso(spec)
    assert overall >= 0.95 and low >= 0.95 and high >= 0.95


def test_the_contour_next_link_model_has_margin_over_iso() -> None:
    """The Contour Next Link model puts about 99 % within the ISO limits (a high-accuracy meter)."""
    overall, _, _ = _fraction_within_iso(CONTOUR_NEXT_LINK)
    assert overall > 0.985


def test_the_iso_limit_meter_is_just_inside_the_standard() -> None:
    """The worst-case preset puts 95.4 % (±2 SD of a normal) within the limits, no more."""
    overall, _, _ = _fraction_within_iso(ISO_15197_LIMIT)
    assert 0.950 < overall < 0.958


def test_a_meter_with_10_percent_sd_fails_the_iso_criterion() -> None:
    """The criterion check rejects a meter that is too noisy (a negative control)."""
    noisy = dataclasses.replace(ISO_15197_LIMIT, name="noisy", abs_sd_mg_dl=10.0, rel_sd=0.10)
    overall, _, _ = _fraction_within_iso(noisy)
    assert overall < 0.95


@pytest.mark.parametrize("spec", [CONTOUR_NEXT_LINK, ISO_15197_LIMIT], ids=lambda s: s.name)
def test_at_least_99_percent_of_results_fall_in_consensus_grid_zones_a_and_b(
    spec: MeterSpec,
) -> None:
    """≥ 99 % of results lie in zones A+B of the consensus (Parkes) error grid."""
    ref = _references(200_000)
    got = GlucoseMeter(spec, rng=np.random.default_rng(SEED)).measure_many(ref).bg_mg_dl
    assert _in_parkes_a_or_b(ref, got).mean() >= 0.99


def test_error_grid_helper_rejects_a_gross_error() -> None:
    """The A+B check used above does flag readings far off (so it can fail)."""
    ref = np.array([100.0, 100.0, 300.0, 300.0, 50.0])
    got = np.array([110.0, 200.0, 310.0, 100.0, 130.0])
    assert list(_in_parkes_a_or_b(ref, got)) == [True, False, True, False, False]


def test_errors_have_the_specified_bias_and_spread_in_each_zone() -> None:
    """Absolute error below the threshold and relative error above it have the preset's mean, SD."""
    spec = CONTOUR_NEXT_LINK
    meter = GlucoseMeter(spec, rng=np.random.default_rng(SEED))
    low = meter.measure_many(np.full(100_000, 80.0)).raw_mg_dl - 80.0
    high = meter.measure_many(np.full(100_000, 250.0)).raw_mg_dl / 250.0 - 1.0
    assert (
        abs(low.mean() - spec.abs_bias_mg_dl) < 0.05 and abs(low.std() - spec.abs_sd_mg_dl) < 0.05
    )
    assert abs(high.mean() - spec.rel_bias) < 0.001 and abs(high.std() - spec.rel_sd) < 0.001


def test_results_below_20_read_lo_and_above_600_read_hi() -> None:
    """Outside the 20-600 mg/dL reporting range the meter shows LO or HI and no number."""
    exact = dataclasses.replace(
        CONTOUR_NEXT_LINK, abs_bias_mg_dl=0, abs_sd_mg_dl=0, rel_bias=0, rel_sd=0
    )
    meter = GlucoseMeter(exact, rng=np.random.default_rng(0))
    results = [meter.measure(bg) for bg in (12.0, 20.0, 350.0, 600.0, 640.0)]
    assert [r.text for r in results] == ["LO", "20", "350", "600", "HI"]
    assert results[0].bg_mg_dl is None and results[0].flag is MeterFlag.LO
    assert results[4].bg_mg_dl is None and results[4].flag is MeterFlag.HI


def test_one_at_a_time_and_batched_measurements_are_identical() -> None:
    """measure() called n times draws the same numbers as one measure_many() of n values."""
    bgs = np.array([55.0, 98.0, 140.0, 260.0, 31.0])
    one = GlucoseMeter(rng=np.random.default_rng(SEED))
    many = GlucoseMeter(rng=np.random.default_rng(SEED)).measure_many(bgs)
    singles = [one.measure(float(bg)).raw_mg_dl for bg in bgs]
    assert singles == list(many.raw_mg_dl)


def test_the_same_seed_gives_the_same_results() -> None:
    """Two meters seeded alike read alike; a different seed reads differently."""
    bgs = np.linspace(40, 400, 50)
    a = GlucoseMeter(rng=np.random.default_rng(3)).measure_many(bgs).raw_mg_dl
    b = GlucoseMeter(rng=np.random.default_rng(3)).measure_many(bgs).raw_mg_dl
    c = GlucoseMeter(rng=np.random.default_rng(4)).measure_many(bgs).raw_mg_dl
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_iso_limits_switch_from_absolute_to_relative_at_100() -> None:
    """±15 mg/dL applies below 100 mg/dL and ±15 % from 100 mg/dL up; LO/HI (NaN) is outside."""
    ref = np.array([99.0, 99.0, 100.0, 100.0, 200.0, 200.0, 200.0])
    got = np.array([114.0, 115.0, 115.0, 116.0, 170.0, 169.0, np.nan])
    assert list(within_iso_15197_2013(ref, got)) == [True, False, True, False, True, False, False]


def test_negative_or_nan_glucose_is_a_programming_error() -> None:
    """Measuring negative, NaN or infinite glucose raises ValueError."""
    meter = GlucoseMeter(rng=np.random.default_rng(0))
    for bad in (-5.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            meter.measure(bad)


def test_zero_glucose_reads_lo() -> None:
    """A model patient at 0 mg/dL (overdose, no counter-regulation) reads LO, not an error."""
    meter = GlucoseMeter(rng=np.random.default_rng(0))
    result = meter.measure(0.0)
    assert result.bg_mg_dl is None and result.text == "LO"


def test_unknown_meter_model_lists_the_presets() -> None:
    """An unknown meter name is an InputError listing the valid names."""
    with pytest.raises(InputError) as err:
        meter_preset("onetouch")
    assert err.value.allowed == "contour-next-link, iso-15197-limit"

"""Tests of pumplab.metrics.glycemic: hand-computed cases, range limits, batching."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pumplab.metrics import (
    CGM_HIGH_MG_DL,
    CGM_LOW_MG_DL,
    METRIC_KEYS,
    glycemic_metrics,
    gmi_pct,
    kovatchev_risk,
    series_metrics,
)

# Kovatchev risk of single values, worked by hand (natural log, mg/dL):
#   BG=100: ln 100 = 4.605170; 4.605170^1.084 = 5.235502;
#           f = 1.509·(5.235502 − 5.381) = −0.219557; r = 10·f² = 0.482051
#   BG=50:  ln 50 = 3.912023; ^1.084 = 4.386954; f = −1.500015; r = 22.500445
#   BG=40:  ln 40 = 3.688879; ^1.084 = 4.116362; f = −1.908338; r = 36.417547
#   BG=300: ln 300 = 5.703782; ^1.084 = 6.602078; f = +1.842607; r = 33.951988
#   BG=400: ln 400 = 5.991465; ^1.084 = 6.963792; f = +2.388433; r = 57.046099
R_100, R_50, R_40, R_300, R_400 = 0.482051, 22.500445, 36.417547, 33.951988, 57.046099


def test_constant_100_is_all_in_range_with_hand_computed_lbgi() -> None:
    """A day at a constant 100 mg/dL: TIR 100 %, SD 0, GMI 5.702 %, LBGI = r(100)."""
    m = series_metrics(np.full(288, 100.0), 5)
    assert m.mean_mg_dl == 100.0
    assert m.sd_mg_dl == 0.0 and m.cv_pct == 0.0
    # GMI = 3.31 + 0.02392 × 100 = 5.702 %.
    assert m.gmi_pct == pytest.approx(5.702, abs=1e-12)
    assert m.tir_70_180_pct == 100.0
    assert m.tbr_70_pct == m.tbr_54_pct == m.tar_180_pct == m.tar_250_pct == 0.0
    # 100 mg/dL is below 112.5, so all its risk is low risk.
    assert m.lbgi == pytest.approx(R_100, abs=1e-6)
    assert m.hbgi == 0.0
    assert m.risk_index == pytest.approx(R_100, abs=1e-6)
    assert m.hypo_events == 0
    assert m.n_samples == 288 and m.data_present_pct == 100.0


def test_mixed_series_with_a_gap_matches_hand_computation() -> None:
    """[50, 100, 300, missing]: every metric over the 3 readings, data present 75 %."""
    m = series_metrics([50.0, 100.0, 300.0, math.nan], 5)
    assert m.n_samples == 3
    assert m.data_present_pct == 75.0
    assert m.mean_mg_dl == 150.0
    # Deviations −100, −50, +150: (10000 + 2500 + 22500) / (3 − 1) = 17500.
    assert m.sd_mg_dl == pytest.approx(math.sqrt(17500.0))
    assert m.cv_pct == pytest.approx(100.0 * math.sqrt(17500.0) / 150.0)
    # 3.31 + 0.02392 × 150 = 6.898.
    assert m.gmi_pct == pytest.approx(6.898)
    # One reading each: in range (100), below 54 (50, hence below 70), above 250 (300).
    third = 100.0 / 3.0
    assert m.tir_70_180_pct == pytest.approx(third)
    assert m.tbr_70_pct == pytest.approx(third)
    assert m.tbr_54_pct == pytest.approx(third)
    assert m.tar_180_pct == pytest.approx(third)
    assert m.tar_250_pct == pytest.approx(third)
    assert m.lbgi == pytest.approx((R_50 + R_100) / 3.0, abs=1e-6)
    assert m.hbgi == pytest.approx(R_300 / 3.0, abs=1e-6)


def test_cgm_flag_substitutes_score_as_low_and_high() -> None:
    """LOW/HIGH substitutes (40, 400) count below 54 and above 250 and carry their risk."""
    m = series_metrics([CGM_LOW_MG_DL, CGM_HIGH_MG_DL], 5)
    assert m.mean_mg_dl == 220.0
    assert m.tbr_54_pct == 50.0 and m.tar_250_pct == 50.0 and m.tir_70_180_pct == 0.0
    assert m.lbgi == pytest.approx(R_40 / 2.0, abs=1e-6)
    assert m.hbgi == pytest.approx(R_400 / 2.0, abs=1e-6)


@pytest.mark.parametrize(
    ("bg", "key"),
    [
        (70.0, "tir_70_180_pct"),
        (180.0, "tir_70_180_pct"),
        (69.99, "tbr_70_pct"),
        (53.99, "tbr_54_pct"),
        (180.01, "tar_180_pct"),
        (250.01, "tar_250_pct"),
    ],
)
def test_range_limits_follow_the_consensus(bg: float, key: str) -> None:
    """70 and 180 are in range; below means strictly below, above strictly above."""
    assert getattr(series_metrics([bg], 5), key) == 100.0


@pytest.mark.parametrize(("bg", "key"), [(54.0, "tbr_54_pct"), (250.0, "tar_250_pct")])
def test_values_on_a_level_2_limit_are_not_beyond_it(bg: float, key: str) -> None:
    """54 is not below 54 and 250 is not above 250."""
    assert getattr(series_metrics([bg], 5), key) == 0.0


def test_kovatchev_risk_is_zero_at_its_centre_and_splits_low_from_high() -> None:
    """f changes sign at ≈112.52 mg/dL: below it all risk is low, above it all high."""
    rl, rh = kovatchev_risk([112.0, 113.0])
    assert rl[0] > 0.0 and rh[0] == 0.0
    assert rl[1] == 0.0 and rh[1] > 0.0


def test_kovatchev_risk_below_one_mg_dl_is_scored_at_one() -> None:
    """Simulated glucose of 0–1 mg/dL (outside the formula's domain) scores as 1 mg/dL."""
    rl, _ = kovatchev_risk([0.0, 0.5, 1.0, 10.0])
    assert np.all(np.isfinite(rl))
    assert rl[0] == rl[1] == rl[2] > rl[3]
    # r(1 mg/dL) = 10·(1.509·(0 − 5.381))² ≈ 659.3: ln 1 = 0.
    assert rl[2] == pytest.approx(10 * (1.509 * 5.381) ** 2)


def test_zero_plasma_glucose_is_accepted_and_counted_below_54() -> None:
    """A simulated overdose at 0 mg/dL is scored, not refused."""
    m = series_metrics([100.0, 0.0, 0.0, 100.0], 5)
    assert m.tbr_54_pct == 50.0 and np.isfinite(m.lbgi)


def test_gmi_formula() -> None:
    """GMI(%) = 3.31 + 0.02392 × mean (Bergenstal 2018), checked at 154 mg/dL → 6.99 %."""
    assert gmi_pct(154.0) == pytest.approx(3.31 + 0.02392 * 154.0)
    assert gmi_pct(154.0) == pytest.approx(6.99368)


def test_no_reading_gives_nan_metrics_and_zero_present() -> None:
    """A row with no reading reports NaN glucose metrics, 0 events and 0 % present."""
    m = series_metrics([math.nan] * 12, 5)
    assert m.n_samples == 0 and m.data_present_pct == 0.0 and m.hypo_events == 0
    for key in METRIC_KEYS:
        if key != "hypo_events":
            assert math.isnan(getattr(m, key)), key
    assert m.as_dict()["mean_mg_dl"] is None


def test_single_reading_has_no_sd() -> None:
    """SD and CV need two readings (sample SD); the rest is defined."""
    m = series_metrics([120.0], 5)
    assert math.isnan(m.sd_mg_dl) and math.isnan(m.cv_pct)
    assert m.mean_mg_dl == 120.0 and m.tir_70_180_pct == 100.0


def test_expected_samples_sets_data_present_of_padded_rows() -> None:
    """Padding a short patient with NaN does not lower its data present if declared."""
    bg = np.array([[100.0, 110.0, 120.0, 130.0], [100.0, 110.0, np.nan, np.nan]])
    m = glycemic_metrics(bg, 5, expected_samples=[4, 2])
    assert m.data_present_pct.tolist() == [100.0, 100.0]
    assert glycemic_metrics(bg, 5).data_present_pct.tolist() == [100.0, 50.0]


def test_expected_samples_below_readings_is_refused() -> None:
    """Declaring fewer expected samples than readings is a programming error."""
    with pytest.raises(ValueError, match="expected_samples"):
        glycemic_metrics(np.full((1, 4), 100.0), 5, expected_samples=3)


@pytest.mark.parametrize("bad", [-0.5, -5.0, math.inf])
def test_negative_or_infinite_glucose_is_refused(bad: float) -> None:
    """The core refuses glucose < 0 or infinite with ValueError (NaN means missing)."""
    with pytest.raises(ValueError, match="glucose"):
        series_metrics([100.0, bad], 5)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_non_positive_interval_is_refused(bad: float) -> None:
    """The sampling interval must be a positive number of minutes."""
    with pytest.raises(ValueError, match="interval_min"):
        glycemic_metrics(np.full((1, 3), 100.0), bad)


def test_result_arrays_are_read_only() -> None:
    """The frozen result cannot be changed through its arrays either."""
    m = glycemic_metrics(np.full((2, 3), 100.0), 5)
    with pytest.raises(ValueError):
        m.mean_mg_dl[0] = 1.0


def test_summary_keys_cover_the_cli_keys() -> None:
    """Every CLI metric key is a field of the per-patient summary."""
    d = series_metrics([100.0, 120.0], 5).as_dict()
    assert set(METRIC_KEYS) <= set(d)


glucose_rows = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 5), st.integers(1, 40)),
    elements=st.one_of(
        st.floats(20.0, 500.0, allow_nan=False),
        st.just(math.nan),
    ),
)


@settings(max_examples=60, deadline=None)
@given(glucose_rows)
def test_batch_rows_equal_single_series(bg: np.ndarray) -> None:
    """Each row of a batch scores exactly as that row on its own."""
    batch = glycemic_metrics(bg, 5)
    for i in range(bg.shape[0]):
        assert batch.patient(i).as_dict() == series_metrics(bg[i], 5).as_dict()


@settings(max_examples=60, deadline=None)
@given(glucose_rows)
def test_below_in_and_above_range_sum_to_100(bg: np.ndarray) -> None:
    """TBR<70 + TIR + TAR>180 = 100 % for every row with a reading."""
    m = glycemic_metrics(bg, 5)
    total = m.tbr_70_pct + m.tir_70_180_pct + m.tar_180_pct
    has = m.n_samples > 0
    np.testing.assert_allclose(total[has], 100.0)
    assert np.all(m.tbr_54_pct[has] <= m.tbr_70_pct[has] + 1e-12)
    assert np.all(m.tar_250_pct[has] <= m.tar_180_pct[has] + 1e-12)


@settings(max_examples=60, deadline=None)
@given(glucose_rows)
def test_missing_samples_do_not_change_glucose_statistics(bg: np.ndarray) -> None:
    """Appending missing samples changes only the data-present percentage."""
    padded = np.concatenate([bg, np.full((bg.shape[0], 7), np.nan)], axis=1)
    a, b = glycemic_metrics(bg, 5), glycemic_metrics(padded, 5)
    for key in METRIC_KEYS:
        # Equal up to summation order (numpy sums longer rows in other blocks).
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-12, atol=1e-9)

"""Tests of MAGE, ADRR and GRI on hand-made traces (iglu cross-checks: test_iglu_crosscheck.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumplab.metrics import adrr, glycemic_metrics, kovatchev_risk, mage_mg_dl, series_metrics
from pumplab.metrics.variability import _crossings

DAY = 1440


def zigzag(low: float, high: float, period_points: int, points: int) -> np.ndarray:
    """A triangle wave between low and high, on a 5-minute grid."""
    phase = np.arange(points) % period_points
    half = period_points / 2
    rising = low + (high - low) * phase / half
    falling = high - (high - low) * (phase - half) / half
    return np.where(phase < half, rising, falling)


def test_mage_of_a_regular_swing_is_its_amplitude() -> None:
    """A 100-to-200 mg/dL triangle wave (12-hour period): every excursion is 100 mg/dL."""
    bg = zigzag(100.0, 200.0, 144, 3 * 288 + 1)  # ends at a nadir
    assert mage_mg_dl(bg, 5.0)[0] == pytest.approx(100.0)


def test_mage_ignores_ripples_smaller_than_one_sd() -> None:
    """A ±3 mg/dL ripple on the same swing does not add excursions: MAGE stays ~100."""
    t = np.arange(3 * 288 + 1)
    bg = zigzag(100.0, 200.0, 144, t.size) + 3.0 * np.sin(2 * np.pi * t / 6)
    assert mage_mg_dl(bg, 5.0)[0] == pytest.approx(100.0, abs=7.0)


def test_mage_is_undefined_for_flat_or_short_traces() -> None:
    """SD below 1 mg/dL, or fewer than 7 grid points: no MAGE (NaN)."""
    assert math.isnan(mage_mg_dl(np.full(288, 120.0), 5.0)[0])
    assert math.isnan(mage_mg_dl([100.0, 180.0, 100.0, 180.0, 100.0, 180.0], 5.0)[0])


def test_mage_reads_one_minute_data_on_the_five_minute_clock() -> None:
    """1-minute samples give the MAGE of their readings at the clock's multiples of 5 minutes."""
    five = zigzag(90.0, 210.0, 96, 2 * 288 + 1)
    one = np.interp(np.arange(five.size * 5 - 4), np.arange(five.size) * 5, five)
    one[1::5] += 7.0  # off-grid samples are not read
    assert mage_mg_dl(one, 1.0)[0] == pytest.approx(mage_mg_dl(five, 5.0)[0])


def test_mage_does_not_interpolate_across_a_gap_longer_than_45_minutes() -> None:
    """A 50-minute gap splits the trace into two segments scored separately."""
    bg = zigzag(100.0, 200.0, 144, 4 * 288 + 1)
    # Nine readings missing around a peak (readings 50 minutes apart): the peak is lost
    # and the trace splits in two segments, each ending or starting part-way up.
    gapped = bg.copy()
    gapped[356:365] = np.nan
    # Eight missing (45 minutes apart): interpolated; the straight line between the
    # readings either side cuts the peak off (194.4 instead of 200), so MAGE is lower.
    short = bg.copy()
    short[356:364] = np.nan
    whole = mage_mg_dl(bg, 5.0)[0]
    assert whole == pytest.approx(100.0)
    assert mage_mg_dl(short, 5.0)[0] < whole
    split = mage_mg_dl(gapped, 5.0)[0]
    first, second = mage_mg_dl(bg[:356], 5.0)[0], mage_mg_dl(bg[365:], 5.0)[0]
    w1, w2 = 355 * 5.0, (bg.size - 366) * 5.0
    assert split == pytest.approx((first * w1 + second * w2) / (w1 + w2))


def test_mage_weights_segments_by_their_duration() -> None:
    """Two segments (a long 100 mg/dL swing, a short 40 mg/dL one): duration-weighted mean."""
    a = zigzag(100.0, 200.0, 72, 577)  # 48 h, ends at a nadir
    b = zigzag(100.0, 140.0, 72, 145)  # 12 h
    bg = np.concatenate([a, np.full(20, np.nan), b])
    wa, wb = (a.size - 1) * 5.0, (b.size - 1) * 5.0
    assert mage_mg_dl(bg, 5.0)[0] == pytest.approx((100.0 * wa + 40.0 * wb) / (wa + wb), rel=1e-6)


@pytest.mark.parametrize(("interval", "start"), [(1.0, 0), (1.0, 3), (5.0, 10)])
def test_complete_rows_take_a_batched_path_with_the_same_numbers(
    interval: float, start: int
) -> None:
    """Rows without gaps are scored in one batch; a trailing missing sample forces the row
    by row path, and the two give the same MAGE bit for bit."""
    rng = np.random.default_rng(5)
    n = int(2 * DAY / interval)
    t = np.arange(n) * interval
    bg = 140 + 60 * np.sin(2 * np.pi * t[None, :] / rng.uniform(200, 500, (6, 1)))
    bg += rng.normal(0, 8, bg.shape)
    padded = np.concatenate([bg, np.full((6, 1), np.nan)], axis=1)
    batched = mage_mg_dl(bg, interval, start_minute=start)
    assert np.all(batched > 0)
    assert np.array_equal(batched, mage_mg_dl(padded, interval, start_minute=start))


def sequential_crossings(delta: np.ndarray) -> tuple[list[int], list[bool]]:
    """The crossing rule of docs/metrics.md, point by point (the reference for _crossings)."""
    idx, peak = [0], [bool(delta[0] > 0)]
    last_sign = 0.0 if delta[0] == 0 else math.copysign(1.0, delta[0])
    for i in range(1, delta.size):
        if delta[i] == 0:
            continue
        previous = math.copysign(1.0, delta[i - 1]) if delta[i - 1] != 0 else last_sign
        if previous != 0 and math.copysign(1.0, delta[i]) != previous:
            idx.append(i)
            peak.append(bool(delta[i] > 0))
            last_sign = math.copysign(1.0, delta[i])
    idx.append(delta.size - 1)
    peak.append(bool(delta[-1] > 0))
    return idx, peak


@given(st.lists(st.sampled_from([-2.0, -1.0, 0.0, 0.0, 1.0, 2.0]), min_size=2, max_size=40))
def test_vectorised_crossings_equal_the_point_by_point_rule(values: list[float]) -> None:
    """Signs with runs of zeros: the numpy crossing finder equals the sequential statement."""
    delta = np.array(values)
    idx, peak = _crossings(delta)
    expected_idx, expected_peak = sequential_crossings(delta)
    assert idx.tolist() == expected_idx and peak.tolist() == expected_peak


def test_adrr_of_one_day_is_its_largest_low_plus_largest_high_risk() -> None:
    """One day with readings 60, 100, 250: ADRR = rl(60) + rh(250)."""
    rl, rh = kovatchev_risk([60.0, 250.0])
    assert adrr([100.0, 60.0, 250.0, 100.0], 5.0)[0] == pytest.approx(rl[0] + rh[1])


def test_adrr_averages_over_calendar_days_with_readings() -> None:
    """Day 1 only low, day 2 only high, day 3 no reading: mean of the two daily ranges."""
    bg = np.full(3 * DAY // 5, np.nan)
    bg[:10] = 60.0
    bg[DAY // 5 : DAY // 5 + 10] = 250.0
    rl, rh = kovatchev_risk([60.0, 250.0])
    assert adrr(bg, 5.0)[0] == pytest.approx((rl[0] + rh[1]) / 2)


def test_adrr_days_follow_the_start_minute() -> None:
    """Starting at 23:00, the first 12 samples are one day and the rest the next."""
    bg = np.array([60.0] * 12 + [250.0] * 12)
    rl, rh = kovatchev_risk([60.0, 250.0])
    assert adrr(bg, 5.0, start_minute=23 * 60)[0] == pytest.approx((rl[0] + rh[1]) / 2)
    assert adrr(bg, 5.0, start_minute=0)[0] == pytest.approx(rl[0] + rh[1])


def test_adrr_of_no_readings_is_nan() -> None:
    """A row without readings has no ADRR."""
    assert math.isnan(adrr(np.full(10, np.nan), 5.0)[0])


@pytest.mark.parametrize(
    ("readings", "gri", "hypo", "hyper"),
    [
        # 10 % < 54, 10 % 54-70, 20 % > 250, 20 % 180-250, 40 % in range:
        # hypo = 10 + 0.8·10 = 18, hyper = 20 + 0.5·20 = 30, GRI = 3·18 + 1.6·30 = 102 -> 100.
        ([50] + [60] + [300] * 2 + [200] * 2 + [100] * 4, 100.0, 18.0, 30.0),
        # 10 % > 250, 10 % 180-250: hyper = 15, GRI = 24.
        ([300] + [200] + [100] * 8, 24.0, 0.0, 15.0),
        # 10 % 54-70: hypo = 8, GRI = 24.
        ([60] + [100] * 9, 24.0, 8.0, 0.0),
    ],
)
def test_gri_and_its_components_by_hand(
    readings: list[float], gri: float, hypo: float, hyper: float
) -> None:
    """GRI = 3.0·VLow + 2.4·Low + 1.6·VHigh + 0.8·High capped at 100 (Klonoff 2023)."""
    m = series_metrics(np.array(readings, dtype=float), 5)
    assert (m.gri, m.gri_hypo, m.gri_hyper) == pytest.approx((gri, hypo, hyper))


def test_new_metrics_are_nan_without_readings() -> None:
    """MAGE, ADRR and GRI of a patient with no reading are undefined."""
    m = glycemic_metrics(np.array([[np.nan] * 20, [120.0] * 20]), 5.0)
    assert math.isnan(m.mage_mg_dl[0]) and math.isnan(m.adrr[0]) and math.isnan(m.gri[0])
    assert m.gri[1] == 0.0

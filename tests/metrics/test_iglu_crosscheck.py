"""Cross-check of pumplab.metrics against iglu-python, an independent implementation.

iglu (GPL-2) is a test-only dependency: it is imported here and never by the
pumplab package.  What is compared, and why the rest is not:

* mean, SD, CV, GMI, % in 70–180, % below 54/70, % above 180/250, LBGI, HBGI:
  the same definitions (iglu also uses the sample SD and drops missing
  values), compared on multi-day traces with dropouts, per patient of a batch.
* level-2 hypoglycaemia events: iglu's episode_calculation follows the same
  start/end rule (≥ 15 min < 54, ended by ≥ 15 min ≥ 54) on an interpolated
  grid.  Its ``inter_gap`` (longest time between two readings it interpolates
  across) corresponds to our ``split_gap_min`` as
  ``inter_gap = split_gap_min`` at 5-minute sampling (a run of k missing
  samples puts the readings (k + 1)·5 min apart).  One definitional
  difference remains: across a short gap between a reading below 54 and one
  at or above, iglu interpolates and assigns part of the gap to each side; we
  count the gap for neither.  The event comparison therefore uses traces
  whose short gaps all sit between readings on the same side (long gaps may
  sit anywhere); the short mixed-side gap is tested on its own in
  test_events.py.
* MAGE (iglu's default: moving averages, direction "avg"), GRI and ADRR:
  MAGE on traces without gaps longer than 45 minutes (iglu-python treats a
  longer gap differently, see docs/metrics.md), GRI on the batch with gaps,
  ADRR with iglu's rounded risk constant divided out.
"""

from __future__ import annotations

import iglu_python as iglu
import numpy as np
import pandas as pd
import pytest

from pumplab.metrics import find_hypo_events, glycemic_metrics

pytestmark = pytest.mark.peer

DT = 5  # minutes: CGM sampling
DAY = 24 * 60 // DT


def simulated_like(rng: np.random.Generator, days: int = 3) -> np.ndarray:
    """A CGM-like day: baseline, three meal peaks, insulin-driven dips, AR(1) sensor noise."""
    t = np.arange(days * DAY) * DT / 60.0  # hours
    bg = np.full(t.shape, rng.uniform(110, 150))
    for day in range(days):
        for meal_h, size in ((7.5, 90), (12.5, 110), (19.0, 120)):
            onset = day * 24 + meal_h + rng.normal(0, 0.5)
            dt_h = t - onset
            peak = size * rng.uniform(0.6, 1.4)
            bg += np.where(dt_h > 0, peak * dt_h * np.exp(1 - dt_h), 0.0)  # peak at 1 h
            # An over-bolus: a dip about 3 h after the meal, sometimes below 54.
            depth = rng.uniform(60, 170)
            bg -= depth * np.exp(-(((dt_h - 3.0) / 0.6) ** 2))
    noise = np.zeros(t.shape)
    for i in range(1, t.size):
        noise[i] = 0.8 * noise[i - 1] + rng.normal(0, 6)
    return np.clip(bg + noise, 40.0, 400.0)  # the sensor's reportable range


def sinusoid(rng: np.random.Generator, days: int = 2) -> np.ndarray:
    """A slow sinusoid 40–220 mg/dL plus white noise."""
    i = np.arange(days * DAY)
    return np.clip(130 + 90 * np.sin(2 * np.pi * i / 70) + rng.normal(0, 8, i.size), 40, 400)


def with_dropouts(
    rng: np.random.Generator, bg: np.ndarray, *, short_same_side_only: bool
) -> np.ndarray:
    """Remove readings in dropouts of 1–12 samples (5–60 min).

    With ``short_same_side_only`` a short dropout (< 15 min: 1–2 samples) is kept
    only where the readings on its two sides are on the same side of 54 mg/dL.
    """
    out = bg.copy()
    for _ in range(bg.size // 40):
        start = int(rng.integers(1, bg.size - 14))
        length = int(rng.choice([1, 2, 3, 4, 8, 12]))
        if np.isnan(out[start - 1 : start + length + 1]).any():
            continue  # keep dropouts apart, so each has two real neighbours
        left, right = bg[start - 1] < 54, bg[start + length] < 54
        if short_same_side_only and length * DT < 15 and left != right:
            continue
        out[start : start + length] = np.nan
    return out


def iglu_frame(batch: np.ndarray) -> pd.DataFrame:
    """The batch as iglu's long table (id, time, gl), missing readings left out."""
    start = pd.Timestamp("2024-01-01 00:05")  # iglu's day grid starts at 00:05
    frames = []
    for p, row in enumerate(batch):
        time = start + pd.to_timedelta(np.arange(row.size) * DT, unit="min")
        keep = ~np.isnan(row)
        frames.append(pd.DataFrame({"id": f"p{p}", "time": time[keep], "gl": row[keep]}))
    return pd.concat(frames, ignore_index=True)


def iglu_lv2_events(frame: pd.DataFrame, inter_gap: int) -> int:
    summary = iglu.episode_calculation(frame, dur_length=15, end_length=15, inter_gap=inter_gap)
    row = summary[(summary["type"] == "hypo") & (summary["level"] == "lv2")]
    return int(row["total_episodes"].iloc[0])


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    """Six patients: three simulated-like, three sinusoids, all with dropouts."""
    rng = np.random.default_rng(20240601)
    rows = [simulated_like(rng) for _ in range(3)] + [sinusoid(rng, days=3) for _ in range(3)]
    return np.vstack([with_dropouts(rng, r, short_same_side_only=False) for r in rows])


def by_id(table: pd.DataFrame, column: str) -> np.ndarray:
    return table.set_index("id").loc[[f"p{i}" for i in range(6)], column].to_numpy(float)


@pytest.mark.parametrize(
    ("ours", "theirs", "column"),
    [
        ("mean_mg_dl", iglu.mean_glu, "mean"),
        ("sd_mg_dl", iglu.sd_glu, "SD"),
        ("cv_pct", iglu.cv_glu, "CV"),
        ("gmi_pct", iglu.gmi, "GMI"),
        ("lbgi", iglu.lbgi, "LBGI"),
        ("hbgi", iglu.hbgi, "HBGI"),
    ],
)
def test_summary_statistic_matches_iglu(
    batch: np.ndarray, ours: str, theirs: object, column: str
) -> None:
    """Mean, SD, CV, GMI, LBGI and HBGI agree with iglu for every patient of a batch."""
    assert callable(theirs)
    expected = by_id(theirs(iglu_frame(batch)), column)
    np.testing.assert_allclose(getattr(glycemic_metrics(batch, DT), ours), expected, rtol=1e-9)


@pytest.mark.parametrize(
    ("ours", "call", "column"),
    [
        ("tir_70_180_pct", lambda f: iglu.in_range_percent(f, [[70, 180]]), "in_range_70_180"),
        ("tbr_70_pct", lambda f: iglu.below_percent(f, [54, 70]), "below_70"),
        ("tbr_54_pct", lambda f: iglu.below_percent(f, [54, 70]), "below_54"),
        ("tar_180_pct", lambda f: iglu.above_percent(f, [180, 250]), "above_180"),
        ("tar_250_pct", lambda f: iglu.above_percent(f, [180, 250]), "above_250"),
    ],
)
def test_time_in_ranges_matches_iglu(
    batch: np.ndarray, ours: str, call: object, column: str
) -> None:
    """In-range, below and above percentages agree with iglu for every patient."""
    assert callable(call)
    expected = by_id(call(iglu_frame(batch)), column)
    np.testing.assert_allclose(getattr(glycemic_metrics(batch, DT), ours), expected, rtol=1e-12)


def test_cross_check_traces_are_not_trivial(batch: np.ndarray) -> None:
    """The batch reaches below 54 and above 250 and has gaps, so the comparisons bite."""
    m = glycemic_metrics(batch, DT)
    assert np.all(m.tbr_54_pct > 0) and np.any(m.tar_250_pct > 0)
    assert np.all(m.data_present_pct < 100)
    assert m.hypo_events.sum() >= 6


@pytest.mark.parametrize("seed", range(6))
def test_event_count_matches_iglu_on_complete_traces(seed: int) -> None:
    """Without gaps, our level-2 event count equals iglu's episode count."""
    rng = np.random.default_rng(seed)
    bg = simulated_like(rng) if seed % 2 else sinusoid(rng)
    ours = len(find_hypo_events(bg, DT))
    assert ours == iglu_lv2_events(iglu_frame(bg[None, :]), inter_gap=45)
    assert ours > 0


@pytest.mark.parametrize("seed", range(6))
def test_event_count_matches_iglu_with_dropouts(seed: int) -> None:
    """With dropouts (short ones between same-side readings) counts agree (split 15 = gap 15)."""
    rng = np.random.default_rng(100 + seed)
    raw = simulated_like(rng) if seed % 2 else sinusoid(rng)
    bg = with_dropouts(rng, raw, short_same_side_only=True)
    assert np.isnan(bg).any()
    ours = len(find_hypo_events(bg, DT, split_gap_min=15))
    assert ours == iglu_lv2_events(iglu_frame(bg[None, :]), inter_gap=15)
    assert ours > 0


def test_short_gap_within_a_hypo_is_bridged_like_iglu() -> None:
    """50, 50, gap, 50 at 5 min: both we and iglu see one 20-minute event."""
    bg = np.array([100.0] * 4 + [50.0, 50.0, np.nan, 50.0] + [100.0] * 6)
    assert len(find_hypo_events(bg, DT)) == 1
    assert iglu_lv2_events(iglu_frame(bg[None, :]), inter_gap=15) == 1


def test_short_gap_between_sides_is_where_we_differ_from_iglu() -> None:
    """50, 50, gap, 56: iglu interpolates 53 into the gap (a 15-min event); we count
    the gap for neither side (10 min below, no event).  The documented difference."""
    bg = np.array([100.0] * 4 + [50.0, 50.0, np.nan, 56.0] + [100.0] * 6)
    assert len(find_hypo_events(bg, DT)) == 0
    assert iglu_lv2_events(iglu_frame(bg[None, :]), inter_gap=15) == 1


# -- MAGE, GRI and ADRR -----------------------------------------------------------------------

#: iglu's ADRR writes 10·1.509² = 22.770081 as 22.77; ours is the published formula, so
#: every daily risk differs by exactly this factor (3.6e-5), which the comparison removes.
IGLU_ADRR_SCALE = 22.77 / (10.0 * 1.509**2)


def short_dropouts(rng: np.random.Generator, bg: np.ndarray) -> np.ndarray:
    """Dropouts of 1-8 readings (readings at most 45 min apart: what MAGE interpolates)."""
    out = bg.copy()
    for _ in range(bg.size // 40):
        start = int(rng.integers(1, bg.size - 10))
        length = int(rng.integers(1, 9))
        if np.isnan(out[start - 1 : start + length + 1]).any():
            continue
        out[start : start + length] = np.nan
    return out


@pytest.fixture(scope="module")
def variability_batch() -> np.ndarray:
    """Six 3-day 5-minute traces with short dropouts (iglu's MAGE interpolates across them)."""
    rng = np.random.default_rng(20240602)
    rows = [simulated_like(rng) for _ in range(3)] + [sinusoid(rng, days=3) for _ in range(3)]
    return np.vstack([short_dropouts(rng, r) for r in rows])


def test_mage_matches_iglu_on_complete_traces(batch: np.ndarray) -> None:
    """MAGE (moving-average algorithm, direction avg) equals iglu's on complete traces."""
    complete = np.vstack([simulated_like(np.random.default_rng(s)) for s in range(4)])
    expected = iglu.mage(iglu_frame(complete)).set_index("id")["MAGE"].to_numpy(float)
    # Our day starts at minute 5 past midnight, as the iglu frame does.
    ours = glycemic_metrics(complete, DT, start_minute=5).mage_mg_dl
    np.testing.assert_allclose(ours, expected, rtol=1e-9)
    assert np.all(ours > 0)


def test_mage_matches_iglu_across_short_dropouts(variability_batch: np.ndarray) -> None:
    """With dropouts of up to 45 minutes (interpolated by both), MAGE still agrees."""
    assert np.isnan(variability_batch).any()
    expected = by_id(iglu.mage(iglu_frame(variability_batch)), "MAGE")
    ours = glycemic_metrics(variability_batch, DT, start_minute=5).mage_mg_dl
    np.testing.assert_allclose(ours, expected, rtol=1e-9)


def test_mage_matches_iglu_on_one_minute_simulated_days() -> None:
    """Simulated 1-minute BG that starts flat at the steady state (zero MA differences)."""
    from pumplab.physiology import load_cohort, simulate

    cohort = load_cohort().select(["adult#001", "child#004", "adolescent#007"])
    carbs = np.zeros(2 * 1440)
    insulin = np.tile(cohort.basal_u_per_min[:, None], (1, carbs.size))
    for day in range(2):
        for minute, grams in ((420, 60.0), (720, 80.0), (1110, 70.0)):
            carbs[day * 1440 + minute] = grams
            insulin[:, day * 1440 + minute] += grams / cohort.carb_ratio_g_per_u
    bg = simulate(cohort, carbs, insulin).bg_mg_dl
    assert bg is not None
    start = pd.Timestamp("2024-01-01 00:00")
    frames = [
        pd.DataFrame({"id": f"p{p}", "time": start + pd.to_timedelta(np.arange(row.size), "min"),
                      "gl": row})
        for p, row in enumerate(bg)
    ]  # fmt: skip
    expected = iglu.mage(pd.concat(frames, ignore_index=True)).set_index("id")["MAGE"]
    ours = glycemic_metrics(bg, 1.0).mage_mg_dl
    np.testing.assert_allclose(ours, expected.to_numpy(float), rtol=1e-9)


def test_gri_matches_iglu(batch: np.ndarray) -> None:
    """GRI (Klonoff 2023, capped at 100) equals iglu's for every patient, gaps and all."""
    expected = by_id(iglu.gri(iglu_frame(batch)), "GRI")
    ours = glycemic_metrics(batch, DT).gri
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    assert np.any(ours == 100.0) and np.any(ours < 100.0)  # the cap is exercised


def test_adrr_matches_iglu_by_calendar_day(batch: np.ndarray) -> None:
    """ADRR over calendar days equals iglu's (to its rounded risk constant)."""
    expected = by_id(iglu.adrr(iglu_frame(batch)), "ADRR")
    ours = glycemic_metrics(batch, DT, start_minute=5).adrr
    np.testing.assert_allclose(ours * IGLU_ADRR_SCALE, expected, rtol=1e-9)


def test_adrr_depends_on_where_midnight_falls(batch: np.ndarray) -> None:
    """Shifting the clock moves samples between days, and iglu sees the same change."""
    shifted = iglu_frame(batch)
    shifted["time"] = shifted["time"] + pd.Timedelta(hours=9)
    expected = by_id(iglu.adrr(shifted), "ADRR")
    ours = glycemic_metrics(batch, DT, start_minute=5 + 9 * 60).adrr
    np.testing.assert_allclose(ours * IGLU_ADRR_SCALE, expected, rtol=1e-9)
    assert not np.allclose(ours, glycemic_metrics(batch, DT, start_minute=5).adrr)

"""Fidelity to simglucose 0.2.11: all 30 subjects, two days, against the golden traces.

The golden traces come from scripts/make_golden_traces.py (simglucose's
T1DPatient stepped minute by minute); test_physiology_peer_live.py re-runs
simglucose for a few subjects to keep the files honest.  Bound: under 1 mg/dL
at every minute, for plasma glucose Gp/Vg and for interstitial glucose Gsub.
"""

from __future__ import annotations

import numpy as np
import pytest
from physiology_helpers import golden_day, golden_metadata

from pumplab.physiology import load_cohort, simulate

BOUND_MG_DL = 1.0


def _ours(day: str) -> tuple[np.ndarray, np.ndarray]:
    golden = golden_day(day)
    cohort = load_cohort().select(list(golden.names))
    result = simulate(cohort, golden.carbs_g, golden.insulin_u, trace_gsub=True)
    assert result.bg_mg_dl is not None and result.gsub_mg_dl is not None
    return result.bg_mg_dl, result.gsub_mg_dl


def test_golden_traces_come_from_the_pinned_simglucose() -> None:
    """The golden file records simglucose 0.2.11, the version pyproject pins."""
    assert golden_metadata()["simglucose_version"] == "0.2.11"


def test_golden_days_cover_all_30_standard_subjects() -> None:
    """Both golden days hold every standard subject, for 1440 minutes."""
    names = set(load_cohort().names)
    for day in ("normal", "overdose"):
        golden = golden_day(day)
        assert set(golden.names) == names
        assert golden.bg_mg_dl.shape == (30, 1441)


@pytest.mark.parametrize("day", ["normal", "overdose"])
def test_plasma_glucose_matches_simglucose_within_1_mg_dl_every_minute(day: str) -> None:
    """Gp/Vg differs from simglucose's by less than 1 mg/dL at every minute of every subject."""
    bg, _ = _ours(day)
    error = np.abs(bg - golden_day(day).bg_mg_dl)
    worst = np.unravel_index(np.argmax(error), error.shape)
    assert error.max() < BOUND_MG_DL, f"{golden_day(day).names[worst[0]]} minute {worst[1]}"


@pytest.mark.parametrize("day", ["normal", "overdose"])
def test_interstitial_glucose_matches_simglucose_within_1_mg_dl_every_minute(day: str) -> None:
    """Gsub differs from simglucose's observation.Gsub by less than 1 mg/dL everywhere."""
    _, gsub = _ours(day)
    error = np.abs(gsub - golden_day(day).gsub_mg_dl)
    worst = np.unravel_index(np.argmax(error), error.shape)
    assert error.max() < BOUND_MG_DL, f"{golden_day(day).names[worst[0]]} minute {worst[1]}"


def test_overdose_day_drives_every_reference_subject_below_40() -> None:
    """In simglucose itself, the overdose day takes all 30 subjects below 40 mg/dL."""
    assert (golden_day("overdose").bg_mg_dl.min(axis=1) < 40.0).all()


def test_overdose_day_reaches_the_zero_glucose_gate_in_the_reference() -> None:
    """Some reference subjects reach Gp <= 0, so the x >= 0 gating is exercised."""
    assert (golden_day("overdose").bg_mg_dl.min(axis=1) <= 0.0).sum() >= 10


def test_severe_hypo_minute_matches_the_reference_crossing() -> None:
    """The recorded first minute below 40 mg/dL is simglucose's, for every subject."""
    golden = golden_day("overdose")
    cohort = load_cohort().select(list(golden.names))
    summary = simulate(cohort, golden.carbs_g, golden.insulin_u, trace_bg=False).summary
    reference = np.argmax(golden.bg_mg_dl < 40.0, axis=1)
    assert np.array_equal(summary.first_severe_hypo_minute, reference)

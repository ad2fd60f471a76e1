"""Cohort summaries, chunked scoring and the per-patient CSV table."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from pumplab.metrics import (
    METRIC_KEYS,
    GlucoseUnit,
    MetricsCollector,
    Quartiles,
    RangeCollector,
    cohort_summary,
    concatenate_metrics,
    glycemic_metrics,
    parse_trace,
    patient_records,
    range_metrics,
    trace_cohort_summary,
    trace_metrics,
    write_metrics_table,
)
from pumplab.units import MG_DL_PER_MMOL_L


def level_traces(levels: list[float], minutes: int = 60) -> np.ndarray:
    """One constant 1-minute trace per level."""
    return np.repeat(np.array(levels, dtype=float)[:, None], minutes + 1, axis=1)


def test_quartiles_are_numpys_linear_percentiles_without_nan() -> None:
    """Median, q1, q3 and IQR as numpy's default percentile; NaN left out and counted."""
    q = Quartiles.of([1.0, 2.0, 3.0, 4.0, np.nan, 10.0])
    assert (q.q1, q.median, q.q3) == (2.0, 3.0, 4.0)
    assert q.iqr == 2.0 and q.n_patients == 5
    empty = Quartiles.of([np.nan])
    assert math.isnan(empty.median) and empty.n_patients == 0
    assert empty.as_dict()["median"] is None


def test_summary_gives_the_quartiles_of_tir_tbr_and_tar() -> None:
    """Five patients: two in range, one low, two high; per-patient TIR 100 or 0."""
    names = ["a", "b", "c", "d", "e"]
    m = glycemic_metrics(level_traces([100.0, 120.0, 60.0, 200.0, 300.0]), 1.0)
    s = cohort_summary(names, m)
    assert s.n_patients == 5 and s.n_without_readings == 0
    assert (s.tir_70_180_pct.median, s.tir_70_180_pct.q1, s.tir_70_180_pct.q3) == (0.0, 0.0, 100.0)
    assert (s.tbr_70_pct.median, s.tbr_70_pct.q3) == (0.0, 0.0)
    assert (s.tar_180_pct.median, s.tar_180_pct.q3) == (0.0, 100.0)
    assert s.outside_validated_range is None


def test_share_of_patients_with_a_level2_event() -> None:
    """Two of four scored patients have ≥ 15 min below 54; one without readings is left out."""
    bg = level_traces([50.0, 45.0, 100.0, 100.0, np.nan], minutes=30)
    bg[2, 10:20] = 50.0  # 10 minutes below 54: not an event
    s = cohort_summary(list("abcde"), glycemic_metrics(bg, 1.0))
    assert s.level2_hypo_patients == 2 and s.level2_hypo_share_pct == 50.0
    assert s.n_without_readings == 1 and s.tir_70_180_pct.n_patients == 4


def test_outside_validated_range_lists_the_flagged_patients_in_order() -> None:
    """The simulation's validity flags pick the names listed."""
    m = glycemic_metrics(level_traces([100.0, 30.0, 700.0]), 1.0)
    s = cohort_summary(["p1", "p2", "p3"], m, outside_validated_range=[False, True, True])
    assert s.outside_validated_range == ("p2", "p3")
    record = s.as_dict()
    assert record["outside_validated_range"] == ["p2", "p3"]
    json.dumps(record)  # JSON-ready


def test_summary_refuses_mismatched_names() -> None:
    """A name per patient, or a ValueError."""
    with pytest.raises(ValueError, match="names"):
        cohort_summary(["a"], glycemic_metrics(level_traces([100.0, 120.0]), 1.0))


def test_scoring_in_chunks_equals_scoring_at_once() -> None:
    """MetricsCollector over three chunks gives the metrics of one batch, bit for bit."""
    rng = np.random.default_rng(3)
    bg = 60.0 + 200.0 * rng.random((7, 300))
    collector = MetricsCollector(interval_min=1.0)
    for a, b in ((0, 2), (2, 5), (5, 7)):
        collector.add([f"p{i}" for i in range(a, b)], bg[a:b])
    whole = glycemic_metrics(bg, 1.0)
    parts = collector.metrics()
    assert collector.names == tuple(f"p{i}" for i in range(7))
    for key in ("n_samples", *METRIC_KEYS):
        np.testing.assert_array_equal(getattr(parts, key), getattr(whole, key))


def test_range_metrics_equal_the_full_metrics_and_give_the_same_summary() -> None:
    """range_metrics: the five figures of glycemic_metrics, bit for bit, at 1 and 5 minutes."""
    rng = np.random.default_rng(7)
    bg = 30.0 + 300.0 * rng.random((9, 400))
    bg[2, :60] = 45.0  # a level-2 event
    bg[4, ::7] = np.nan
    bg[5, :] = np.nan  # no readings
    for interval in (1.0, 5.0):
        full = glycemic_metrics(bg, interval)
        cheap = range_metrics(bg, interval)
        for key in ("n_samples", "tir_70_180_pct", "tbr_70_pct", "tar_180_pct", "hypo_events"):
            np.testing.assert_array_equal(getattr(cheap, key), getattr(full, key))
        names = [f"p{i}" for i in range(9)]
        assert cohort_summary(names, cheap) == cohort_summary(names, full)
    collector = RangeCollector(interval_min=1.0)
    for a, b in ((0, 4), (4, 9)):
        collector.add([f"p{i}" for i in range(a, b)], bg[a:b])
    np.testing.assert_array_equal(collector.metrics().hypo_events,
                                  glycemic_metrics(bg, 1.0).hypo_events)  # fmt: skip
    assert collector.names == tuple(f"p{i}" for i in range(9))


def test_concatenating_batches_of_different_intervals_is_refused() -> None:
    """Metrics at 1 and 5 minutes are not one table."""
    a = glycemic_metrics(level_traces([100.0]), 1.0)
    b = glycemic_metrics(level_traces([100.0]), 5.0)
    with pytest.raises(ValueError, match="intervals"):
        concatenate_metrics([a, b])


def test_table_reads_back_to_the_same_numbers() -> None:
    """The CSV has a header, one row per patient, full-precision floats, empty for undefined."""
    bg = level_traces([100.0, 150.0, np.nan], minutes=30)
    bg[1, ::2] = 200.0
    m = glycemic_metrics(bg, 1.0)
    records = patient_records(["a", "b", "c"], m, outside_validated_range=[False, True, False])
    out = io.StringIO()
    assert write_metrics_table(out, records) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["patient"] for r in rows] == ["a", "b", "c"]
    assert list(rows[0]) == ["patient", "outside_validated_range", "interval_min", "n_samples",
                             "data_present_pct", *METRIC_KEYS]  # fmt: skip
    assert rows[1]["outside_validated_range"] == "1"
    assert float(rows[1]["sd_mg_dl"]) == float(m.sd_mg_dl[1])
    assert rows[2]["mean_mg_dl"] == "" and rows[0]["sd_mg_dl"] == "0.0"


def test_table_in_mmol_l_names_and_converts_the_concentrations() -> None:
    """mean_mmol_l = mean_mg_dl / 18.0156; the other columns are unchanged."""
    m = glycemic_metrics(level_traces([180.156]), 1.0)
    (mg,) = patient_records(["a"], m)
    (mmol,) = patient_records(["a"], m, unit=GlucoseUnit.MMOL_L)
    assert mmol["mean_mmol_l"] == pytest.approx(180.156 / MG_DL_PER_MMOL_L)
    assert mmol["tir_70_180_pct"] == mg["tir_70_180_pct"]


def test_table_refuses_records_with_different_keys() -> None:
    """Every row must have the header's columns."""
    with pytest.raises(ValueError, match="keys"):
        write_metrics_table(io.StringIO(), [{"patient": "a", "x": 1}, {"patient": "b"}])


def test_trace_files_with_several_intervals_are_summarised_together() -> None:
    """A patient at 5 minutes and one at 1 minute: one summary (no common grid needed)."""
    lines = ["patient,minute,bg_mg_dl"]
    lines += [f"a,{m},{50 if m < 30 else 100}" for m in range(0, 61, 5)]
    lines += [f"b,{m},150" for m in range(61)]
    results = trace_metrics(parse_trace(lines, source="t.csv"))
    s = trace_cohort_summary(results)
    assert s.n_patients == 2 and s.level2_hypo_patients == 1
    # a: 7 of 13 readings in range; b: all.  The median of two is their mean.
    assert s.tir_70_180_pct.median == pytest.approx((100.0 * 7 / 13 + 100.0) / 2)

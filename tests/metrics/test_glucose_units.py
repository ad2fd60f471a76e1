"""mmol/L in and out: the unit's name, the consensus's mmol/L limits, refusing the wrong unit."""

from __future__ import annotations

import numpy as np
import pytest

from pumplab.errors import InputError
from pumplab.metrics import (
    METRIC_KEYS,
    GlucoseTrace,
    GlucoseUnit,
    check_glucose_unit,
    glycemic_metrics,
    metric_key,
    metrics_in_unit,
    parse_glucose_unit,
    parse_trace,
    range_limits_mg_dl,
    series_metrics,
    to_mg_dl,
    trace_metrics,
)
from pumplab.units import MG_DL_PER_MMOL_L


def parse(text: str, unit: GlucoseUnit | None = None) -> GlucoseTrace:
    return parse_trace(text.splitlines(keepends=True), source="t.csv", unit=unit)


@pytest.mark.parametrize(
    ("text", "unit"),
    [("mg/dL", GlucoseUnit.MG_DL), ("MG/DL", GlucoseUnit.MG_DL), (" mmol/L ", GlucoseUnit.MMOL_L),
     ("mmol/l", GlucoseUnit.MMOL_L)],
)  # fmt: skip
def test_unit_names_are_read_in_any_case(text: str, unit: GlucoseUnit) -> None:
    """mg/dL and mmol/L, however capitalised."""
    assert parse_glucose_unit(text) is unit


@pytest.mark.parametrize("text", ["mmol", "mg", "mM", "", "mg/dl/"])
def test_other_unit_names_are_refused_naming_the_option(text: str) -> None:
    """Anything else is an InputError naming --units and what is allowed."""
    with pytest.raises(InputError) as err:
        parse_glucose_unit(text)
    assert err.value.source == "--units" and err.value.field == "units"
    assert err.value.allowed == "mg/dL or mmol/L"


def test_mmol_l_limits_are_the_consensus_mmol_l_values_converted() -> None:
    """3.0, 3.9, 10.0 and 13.9 mmol/L, times 18.0156; the mg/dL limits unchanged."""
    mmol = range_limits_mg_dl(GlucoseUnit.MMOL_L)
    assert (mmol.very_low, mmol.low, mmol.high, mmol.very_high) == tuple(
        v * MG_DL_PER_MMOL_L for v in (3.0, 3.9, 10.0, 13.9)
    )
    mg = range_limits_mg_dl()
    assert (mg.very_low, mg.low, mg.high, mg.very_high) == (54.0, 70.0, 180.0, 250.0)


def test_a_reading_of_10_mmol_l_is_in_range_although_it_is_above_180_mg_dl() -> None:
    """The mmol/L limits are the consensus's own: 3.9 and 10.0 in range, 3.0 not below 3.0."""
    mmol = np.array([3.9, 10.0, 13.9, 3.0])
    as_mmol = series_metrics(
        to_mg_dl(mmol, GlucoseUnit.MMOL_L), 5, limits=range_limits_mg_dl(GlucoseUnit.MMOL_L)
    )
    assert as_mmol.tir_70_180_pct == 50.0  # 3.9 and 10.0
    assert (as_mmol.tbr_70_pct, as_mmol.tbr_54_pct) == (25.0, 0.0)  # 3.0 < 3.9, not < 3.0
    assert (as_mmol.tar_180_pct, as_mmol.tar_250_pct) == (25.0, 0.0)  # 13.9 > 10.0, not > 13.9
    # Scored against the mg/dL limits, 10.0 mmol/L (180.16 mg/dL) would be above range.
    as_mg = series_metrics(to_mg_dl(mmol, GlucoseUnit.MMOL_L), 5)
    assert as_mg.tar_180_pct == 50.0


def test_level2_events_use_the_mmol_l_threshold() -> None:
    """Four 5-minute readings of 3.0 mmol/L are no event; of 2.9, one."""
    for value, events in ((3.0, 0), (2.9, 1)):
        mmol = np.array([6.0] * 4 + [value] * 4 + [6.0] * 4)
        m = glycemic_metrics(
            to_mg_dl(mmol, GlucoseUnit.MMOL_L), 5.0, limits=range_limits_mg_dl(GlucoseUnit.MMOL_L)
        )
        assert int(m.hypo_events[0]) == events


def test_readings_all_below_35_are_refused_as_mg_dl_with_a_hint() -> None:
    """A mmol/L trace read as mg/dL is refused, naming the column and the --units option."""
    with pytest.raises(InputError) as err:
        parse("minute,bg_mg_dl\n0,5.5\n5,7.2\n10,12.0\n")
    assert err.value.field == "bg_mg_dl" and err.value.source == "t.csv"
    assert "look like mmol/L" in err.value.reason
    assert "--units mmol/L" in str(err.value.allowed)


def test_one_low_reading_among_mg_dl_ones_is_not_taken_for_mmol_l() -> None:
    """Only a trace whose every reading is below 35 is refused."""
    trace = parse("minute,bg_mg_dl\n0,30\n5,120\n")
    assert trace.unit is GlucoseUnit.MG_DL


def test_readings_all_above_35_are_refused_as_mmol_l() -> None:
    """A mg/dL trace read as mmol/L is refused the other way round."""
    with pytest.raises(InputError) as err:
        parse("minute,bg_mg_dl\n0,120\n5,140\n", unit=GlucoseUnit.MMOL_L)
    assert "look like mg/dL" in err.value.reason and "--units mg/dL" in str(err.value.allowed)


def test_check_names_the_option_the_caller_gives() -> None:
    """The hint names how the caller's user says the unit."""
    with pytest.raises(InputError, match="--glucose-unit mmol/L"):
        check_glucose_unit([5.0, 6.0], GlucoseUnit.MG_DL, option="--glucose-unit")
    check_glucose_unit([np.nan], GlucoseUnit.MG_DL)  # no readings: nothing to judge


def test_a_mmol_l_column_is_read_as_mmol_l_and_scored_against_mmol_l_limits() -> None:
    """bg_mmol_l needs no unit argument; the series hold mg/dL, the trace remembers mmol/L."""
    trace = parse("minute,bg_mmol_l\n0,3.9\n5,10.0\n10,13.9\n15,3.0\n")
    assert trace.unit is GlucoseUnit.MMOL_L
    (series,) = trace.series
    expected = to_mg_dl([3.9, 10.0, 13.9, 3.0], GlucoseUnit.MMOL_L)
    np.testing.assert_array_equal(series.bg_mg_dl, expected)
    (r,) = trace_metrics(trace)
    assert r.metrics.tir_70_180_pct == 50.0 and r.metrics.tbr_54_pct == 0.0


def test_mg_dl_column_read_as_mmol_l_when_the_caller_says_so() -> None:
    """The caller's unit wins over the column's name (the detection's hint relies on it)."""
    trace = parse("minute,bg_mg_dl\n0,5.5\n5,7.0\n", unit=GlucoseUnit.MMOL_L)
    assert trace.unit is GlucoseUnit.MMOL_L


def test_cgm_flags_in_mmol_l_become_40_and_400_mg_dl() -> None:
    """LOW and HIGH mean the sensor's limits whatever the unit of the numbers."""
    trace = parse("minute,cgm_mmol_l\n0,LOW\n5,5.0\n10,HIGH\n")
    (series,) = trace.series
    assert series.bg_mg_dl[0] == 40.0 and series.bg_mg_dl[2] == 400.0
    assert series.bg_mg_dl[1] == pytest.approx(5.0 * MG_DL_PER_MMOL_L)


def test_the_largest_reading_is_the_same_glucose_in_either_unit() -> None:
    """10,000 mg/dL is 555 mmol/L: a larger mmol/L value is refused, naming that limit."""
    with pytest.raises(InputError) as err:
        parse("minute,bg_mmol_l\n0,5\n5,600\n")
    assert err.value.row == 2 and "555 mmol/L" in str(err.value.allowed)


def test_report_in_mmol_l_converts_and_renames_concentrations_only() -> None:
    """mean/SD/MAGE become *_mmol_l (÷ 18.0156); percentages and indices are unchanged."""
    (r,) = trace_metrics(parse("minute,bg_mmol_l\n0,5.0\n5,7.0\n10,9.0\n15,11.0\n"))
    mg = r.as_dict()
    mmol = r.as_dict(GlucoseUnit.MMOL_L)
    assert mmol["mean_mmol_l"] == pytest.approx(8.0) and "mean_mg_dl" not in mmol
    assert mmol["sd_mmol_l"] == pytest.approx(np.std([5.0, 7.0, 9.0, 11.0], ddof=1))
    assert mmol["tir_70_180_pct"] == mg["tir_70_180_pct"] and mmol["gri"] == mg["gri"]
    assert list(mmol) == [metric_key(k, GlucoseUnit.MMOL_L) for k in mg]


def test_metric_keys_in_mmol_l() -> None:
    """Exactly the three concentration keys are renamed."""
    renamed = [k for k in METRIC_KEYS if metric_key(k, GlucoseUnit.MMOL_L) != k]
    assert renamed == ["mean_mg_dl", "sd_mg_dl", "mage_mg_dl"]
    assert metrics_in_unit({"mean_mg_dl": None}, GlucoseUnit.MMOL_L) == {"mean_mmol_l": None}

"""Reading simglucose's own result CSV (Time,BG,CGM,CHO,insulin,LBGI,HBGI,Risk).

The fixture tests/metrics/data/simglucose_adolescent001.csv was written by
simglucose 0.2.11 itself (scripts/make_simglucose_result.py: adolescent#001,
Dexcom sensor with seed 1, basal-bolus controller, 12 h from 2018-01-01
06:00).  A peer test writes a fresh one with the installed simglucose.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from pumplab.errors import InputError
from pumplab.metrics import (
    GlucoseUnit,
    kovatchev_risk,
    parse_trace,
    read_trace,
    trace_metrics,
)

FIXTURE = Path(__file__).parent / "data" / "simglucose_adolescent001.csv"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_simglucose_result.py"


def columns(path: Path) -> dict[str, list[str]]:
    """The file's columns as text, read with the csv module alone."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {key: [row[key] for row in rows] for key in rows[0]}


def test_simglucose_file_is_read_with_its_cgm_column_by_default() -> None:
    """The CGM column is scored, every row a reading, at simglucose's 3-minute sample time."""
    trace = read_trace(FIXTURE)
    assert trace.column == "CGM" and trace.unit is GlucoseUnit.MG_DL
    (series,) = trace.series
    cgm = [float(v) for v in columns(FIXTURE)["CGM"]]
    assert series.patient is None
    assert np.array_equal(series.bg_mg_dl, cgm)
    (result,) = trace_metrics(trace)
    assert result.metrics.interval_min == 3.0
    assert result.metrics.n_samples == len(cgm) and result.metrics.data_present_pct == 100.0


def test_time_becomes_minutes_from_the_first_days_midnight() -> None:
    """06:00 is minute 360, and rows follow every 3 minutes until 18:00 (minute 1080)."""
    (series,) = read_trace(FIXTURE).series
    assert series.minute[0] == 360 and series.minute[-1] == 1080
    assert np.all(np.diff(series.minute) == 3)
    (result,) = trace_metrics(read_trace(FIXTURE))
    assert result.start_minute == 360


def test_bg_column_is_simglucoses_subcutaneous_glucose() -> None:
    """column='BG' reads simglucose's BG (Gsub averaged over each sample), unchanged."""
    (series,) = read_trace(FIXTURE, column="BG").series
    assert np.array_equal(series.bg_mg_dl, [float(v) for v in columns(FIXTURE)["BG"]])


def test_our_risk_of_each_row_equals_simglucoses_lbgi_and_hbgi_columns() -> None:
    """simglucose scores each row's BG with the same Kovatchev function: the columns agree."""
    text = columns(FIXTURE)
    bg = np.array([float(v) for v in text["BG"]])
    rl, rh = kovatchev_risk(bg)
    np.testing.assert_allclose(rl, [float(v) for v in text["LBGI"]], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rh, [float(v) for v in text["HBGI"]], rtol=1e-12, atol=1e-15)
    assert rl.max() > 0 and rh.max() > 0  # both sides of the risk function occur


def test_lbgi_of_the_bg_column_is_the_mean_of_simglucoses_per_row_lbgi() -> None:
    """Scoring the BG column gives LBGI/HBGI equal to the means of simglucose's columns."""
    text = columns(FIXTURE)
    (result,) = trace_metrics(read_trace(FIXTURE, column="BG"))
    assert result.metrics.lbgi == pytest.approx(np.mean([float(v) for v in text["LBGI"]]))
    assert result.metrics.hbgi == pytest.approx(np.mean([float(v) for v in text["HBGI"]]))


def test_empty_cells_in_the_ignored_columns_are_accepted() -> None:
    """simglucose leaves CHO and insulin empty on its last row; they are not read."""
    assert columns(FIXTURE)["CHO"][-1] == ""
    assert len(read_trace(FIXTURE).series[0].minute) == len(columns(FIXTURE)["CHO"])


HEADER = "Time,BG,CGM,CHO,insulin,LBGI,HBGI,Risk\n"


def parse(rows: list[str], column: str | None = None) -> InputError:
    with pytest.raises(InputError) as err:
        parse_trace([HEADER, *(r + "\n" for r in rows)], source="sg.csv", column=column)
    return err.value


@pytest.mark.parametrize(
    ("rows", "row", "reason"),
    [
        (["yesterday,100,100,0,0,0,0,0"], 1, "not a date and time"),
        (["2018-01-01 06:00:00,100,100,0,0,0,0,0", "2018-01-01 06:03:30,100,100,0,0,0,0,0"],
         2, "whole minute"),
        (["2018-01-01 06:00:00,100,100,0,0,0,0,0", "2018-01-01 05:57:00,100,100,0,0,0,0,0"],
         2, "not in order"),
        (["2018-01-02 00:03:00,100,100,0,0,0,0,0", "2018-01-01 23:57:00,100,100,0,0,0,0,0"],
         2, "whole minute within range"),
        (["2018-01-01 06:03:00,100,100,0,0,0,0,0", "2018-01-01 06:00:00+00:00,100,100,0,0,0,0,0"],
         2, "UTC offset"),
        (["2018-01-01 06:00:00,100,100,0,0,0,0,0", "2018-01-01 06:00:00,100,100,0,0,0,0,0"],
         2, "duplicated"),
        (["2018-01-01 06:00:00,100,0,0,0,0,0,0"], 1, "positive"),
    ],
)  # fmt: skip
def test_bad_simglucose_rows_are_refused_naming_row_and_field(
    rows: list[str], row: int, reason: str
) -> None:
    """Each bad row names the file, the row and the field (Time or CGM)."""
    err = parse(rows)
    assert err.source == "sg.csv" and err.row == row and reason in err.reason
    assert err.field in ("Time", "CGM")


def test_times_with_a_utc_offset_are_read_in_their_own_clock() -> None:
    """With offsets, minutes count from the midnight of the first row's local day."""
    rows = [f"2018-01-01 23:{m:02d}:00+02:00,100,100,0,0,0,0,0" for m in (54, 57)]
    rows.append("2018-01-01 22:00:00+00:00,100,100,0,0,0,0,0")  # 00:00 at +02:00
    trace = parse_trace([HEADER, *(r + "\n" for r in rows)], source="sg.csv")
    assert trace.series[0].minute.tolist() == [1434, 1437, 1440]


def test_a_simglucose_file_in_mmol_l_is_refused_with_a_hint() -> None:
    """simglucose writes mg/dL; saying mmol/L makes every reading look like mg/dL."""
    with pytest.raises(InputError) as err:
        read_trace(FIXTURE, unit=GlucoseUnit.MMOL_L)
    assert err.value.field == "CGM" and "look like mg/dL" in err.value.reason


@pytest.mark.peer
def test_a_file_written_now_by_the_installed_simglucose_is_read(tmp_path: Path) -> None:
    """simglucose writes a one-hour result now; every CGM value and time reads back."""
    spec = importlib.util.spec_from_file_location("make_simglucose_result", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    path = script.write_result(tmp_path / "sg.csv", hours=1.0, seed=7)
    text = columns(path)
    trace = read_trace(path)
    (series,) = trace.series
    assert np.array_equal(series.bg_mg_dl, [float(v) for v in text["CGM"]])
    assert series.minute[0] == 360 and len(series.minute) == 21
    (result,) = trace_metrics(trace)
    assert result.metrics.interval_min == 3.0 and not math.isnan(result.metrics.mean_mg_dl)

"""Tests of pumplab.metrics.tracefile: reading, checking and gridding trace CSVs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pumplab.errors import InputError
from pumplab.metrics import CGM_HIGH_MG_DL, CGM_LOW_MG_DL
from pumplab.metrics.tracefile import (
    MAX_GLUCOSE_MG_DL,
    MAX_TRACE_MINUTE,
    GlucoseTrace,
    grid_series,
    infer_interval_min,
    parse_trace,
    read_trace,
    trace_metrics,
)

SRC = "trace.csv"


def parse(text: str, column: str | None = None) -> GlucoseTrace:
    """Parse CSV text as the file trace.csv."""
    return parse_trace(text.splitlines(keepends=True), source=SRC, column=column)


def simulate_like(minutes: int = 60, warmup: int = 0, patients: tuple[str, ...] = ("p1",)) -> str:
    """A trace shaped like `pumplab patient simulate --cgm`: a row per minute, CGM every 5."""
    lines = ["patient,minute,bg_mg_dl,cgm_mg_dl"]
    for p in patients:
        for m in range(minutes + 1):
            cgm = f"{100 + m % 7}" if m % 5 == 0 and m >= warmup else ""
            lines.append(f"{p},{m},{110 + m % 3},{cgm}")
    return "\n".join(lines) + "\n"


# --- reading ---------------------------------------------------------------------


def test_cgm_column_is_preferred_and_its_interval_inferred() -> None:
    """With both columns the CGM is scored, on its 5-minute grid."""
    trace = parse(simulate_like(60))
    assert trace.column == "cgm_mg_dl"
    (r,) = trace_metrics(trace)
    assert r.metrics.interval_min == 5.0
    assert r.metrics.n_samples == 13 and r.metrics.data_present_pct == 100.0


def test_column_option_selects_bg() -> None:
    """column='bg_mg_dl' scores the 1-minute true BG instead."""
    (r,) = trace_metrics(parse(simulate_like(60), column="bg_mg_dl"))
    assert r.column == "bg_mg_dl"
    assert r.metrics.interval_min == 1.0 and r.metrics.n_samples == 61


def test_bg_only_trace_uses_bg() -> None:
    """A trace with only bg_mg_dl is scored on it."""
    trace = parse("minute,bg_mg_dl\n0,100\n1,110\n2,120\n")
    assert trace.column == "bg_mg_dl"
    (r,) = trace_metrics(trace)
    assert r.patient is None and r.metrics.mean_mg_dl == 110.0


def test_sensor_warm_up_shows_as_missing_data() -> None:
    """CGM readings starting at minute 20 of a 0–60 trace: 9 of 13 slots present."""
    (r,) = trace_metrics(parse(simulate_like(60, warmup=20)))
    assert r.start_minute == 0
    assert r.metrics.n_samples == 9
    assert r.metrics.data_present_pct == pytest.approx(100.0 * 9 / 13)


def test_low_and_high_flags_are_substituted_and_counted() -> None:
    """LOW → 40 and HIGH → 400 mg/dL (any case), each counted."""
    trace = parse("minute,cgm_mg_dl\n0,LOW\n5,high\n10,100\n15,Low\n")
    (s,) = trace.series
    assert s.bg_mg_dl.tolist() == [CGM_LOW_MG_DL, CGM_HIGH_MG_DL, 100.0, CGM_LOW_MG_DL]
    assert (s.low_flags, s.high_flags) == (2, 1)
    (r,) = trace_metrics(trace)
    assert r.metrics.tbr_54_pct == 50.0 and r.metrics.tar_250_pct == 25.0


def test_interleaved_patients_keep_first_appearance_order() -> None:
    """Rows of several patients may interleave; results follow first appearance."""
    text = "patient,minute,bg_mg_dl\nb,0,100\na,0,200\nb,1,100\na,1,200\n"
    results = trace_metrics(parse(text))
    assert [r.patient for r in results] == ["b", "a"]
    assert [r.metrics.mean_mg_dl for r in results] == [100.0, 200.0]


def test_patients_with_different_intervals_are_scored_on_their_own() -> None:
    """A 1-minute patient and a 5-minute patient each get their own grid."""
    rows = [f"a,{m},100" for m in range(0, 11)] + [f"b,{m},100" for m in range(0, 11, 5)]
    results = trace_metrics(parse("patient,minute,bg_mg_dl\n" + "\n".join(rows)))
    assert [r.metrics.interval_min for r in results] == [1.0, 5.0]
    assert [r.metrics.data_present_pct for r in results] == [100.0, 100.0]


def test_patient_with_one_reading_takes_the_file_interval() -> None:
    """A patient too short to infer from uses the most common step of the file."""
    text = "patient,minute,cgm_mg_dl\na,0,100\na,5,100\na,10,100\nb,0,90\nb,5,\nb,10,\n"
    results = trace_metrics(parse(text))
    assert results[1].metrics.interval_min == 5.0
    assert results[1].metrics.data_present_pct == pytest.approx(100.0 / 3)


def test_imposed_interval_overrides_inference() -> None:
    """5-minute readings scored at an imposed 1 minute: 3 of 11 slots present."""
    (r,) = trace_metrics(parse("minute,bg_mg_dl\n0,100\n5,100\n10,100\n"), interval_min=1)
    assert r.metrics.interval_min == 1.0
    assert r.metrics.data_present_pct == pytest.approx(100.0 * 3 / 11)


def test_imposed_interval_longer_than_the_steps_is_refused() -> None:
    """1-minute readings at an imposed 5 minutes would share slots: refused."""
    with pytest.raises(InputError, match="same 5-minute slot"):
        trace_metrics(parse("minute,bg_mg_dl\n0,100\n1,100\n2,100\n"), interval_min=5)


def test_infer_interval_takes_the_most_common_step_and_the_smaller_on_a_tie() -> None:
    """Steps 5,5,10 → 5; steps 5,10 → 5 (tie); one reading → None."""
    assert infer_interval_min([0, 5, 10, 20]) == 5
    assert infer_interval_min([0, 10, 15]) == 5
    assert infer_interval_min([3]) is None


def test_off_grid_reading_goes_to_the_nearest_slot() -> None:
    """Minutes 0, 5, 11, 15 at 5 min: 11 lands in the slot of minute 10."""
    (s,) = parse("minute,cgm_mg_dl\n0,100\n5,110\n11,120\n15,130\n").series
    bg, expected, start = grid_series([s], 5)
    assert bg.tolist() == [[100.0, 110.0, 120.0, 130.0]]
    assert expected.tolist() == [4] and start.tolist() == [0]


def test_two_readings_in_one_slot_are_refused_with_their_row() -> None:
    """Minutes 0, 5, 7, 10 at 5 min: 7 would share the slot of 5, refused at its row."""
    text = "minute,cgm_mg_dl\n0,100\n5,110\n7,120\n10,130\n15,1\n20,1\n"
    with pytest.raises(InputError) as err:
        trace_metrics(parse(text))
    assert (err.value.row, err.value.field) == (3, "minute")


def test_read_trace_from_a_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    """A UTF-8 file with a BOM reads like any other."""
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffminute,bg_mg_dl\n0,100\n1,100\n".encode())
    assert read_trace(path).column == "bg_mg_dl"


def test_blank_lines_are_skipped_but_rows_keep_their_numbers() -> None:
    """A blank line is ignored; the row numbers in errors still count it."""
    with pytest.raises(InputError) as err:
        parse("minute,bg_mg_dl\n0,100\n\n2,abc\n")
    assert err.value.row == 3


# --- bad input: each names file, row and field ----------------------------------


def located(text: str, column: str | None = None) -> InputError:
    with pytest.raises(InputError) as err:
        trace_metrics(parse(text, column))
    assert err.value.source == SRC
    return err.value


def test_empty_file_is_refused() -> None:
    """An empty file has no header."""
    assert "empty file" in str(located(""))


def test_header_without_rows_is_refused() -> None:
    """A header and nothing else has no data."""
    assert "no data rows" in str(located("minute,bg_mg_dl\n"))


def test_missing_glucose_column_is_refused() -> None:
    """Without bg_mg_dl or cgm_mg_dl there is nothing to score."""
    err = located("minute,glucose\n0,100\n")
    assert err.field == "bg_mg_dl or cgm_mg_dl" and "no glucose column" in err.reason


def test_requested_column_absent_is_refused() -> None:
    """Asking for cgm_mg_dl in a BG-only trace names the missing column."""
    assert located("minute,bg_mg_dl\n0,100\n", column="cgm_mg_dl").field == "cgm_mg_dl"


def test_missing_minute_column_is_refused() -> None:
    """The minute column is required."""
    assert located("bg_mg_dl\n100\n").field == "minute"


def test_duplicated_header_is_refused() -> None:
    """Two columns of one name are ambiguous."""
    assert located("minute,bg_mg_dl,bg_mg_dl\n0,1,2\n").field == "bg_mg_dl"


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("abc", "not a number"),
        ("-0.5", "non-negative"),
        ("-5", "non-negative"),
        ("nan", "non-negative"),
        ("inf", "non-negative"),
        ("1e200", "out of range"),
        ("10000.5", "out of range"),
        ("1_0", "not a number"),
        ("\u0661\u0660\u0660", "not a number"),
    ],
)
def test_bad_glucose_value_is_refused(cell: str, message: str) -> None:
    """Non-numeric, negative or non-finite plasma glucose names row and column."""
    err = located(f"minute,bg_mg_dl\n0,100\n1,{cell}\n")
    assert (err.row, err.field) == (2, "bg_mg_dl")
    assert message in err.reason and err.allowed is not None


def test_flag_in_bg_column_is_refused() -> None:
    """LOW/HIGH are sensor flags: accepted in cgm_mg_dl only."""
    err = located("minute,bg_mg_dl\n0,LOW\n")
    assert (err.row, err.field) == (1, "bg_mg_dl") and "LOW" not in (err.allowed or "")


def test_bad_cgm_value_is_refused() -> None:
    """A word other than LOW/HIGH in cgm_mg_dl is refused, naming what is allowed."""
    err = located("minute,cgm_mg_dl\n0,100\n5,LO\n")
    assert (err.row, err.field) == (2, "cgm_mg_dl") and "LOW" in (err.allowed or "")


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("", "missing"),
        ("5.5", "not an integer"),
        ("x", "not an integer"),
        ("\u0663", "not an integer"),
        ("1_0", "not an integer"),
        ("-1", "out of range"),
        (str(MAX_TRACE_MINUTE + 1), "out of range"),
        ("99999999999999999999", "out of range"),
    ],
)
def test_bad_minute_is_refused(cell: str, message: str) -> None:
    """A missing or non-integer minute names its row."""
    err = located(f"minute,bg_mg_dl\n0,100\n{cell},100\n")
    assert (err.row, err.field) == (2, "minute") and message in err.reason


def test_duplicated_minute_is_refused() -> None:
    """The same minute twice for one patient is refused at the second row."""
    err = located("patient,minute,bg_mg_dl\na,0,100\nb,0,100\na,0,100\n")
    assert (err.row, err.field) == (3, "minute") and "duplicated" in err.reason


def test_unsorted_minutes_are_refused() -> None:
    """Minutes going back in time within a patient are refused."""
    err = located("minute,bg_mg_dl\n0,100\n5,100\n3,100\n")
    assert (err.row, err.field) == (3, "minute") and "not in order" in err.reason


def test_row_with_wrong_field_count_is_refused() -> None:
    """A row shorter than the header is refused at its row."""
    assert located("minute,bg_mg_dl\n0,100\n1\n").row == 2


def test_empty_patient_id_is_refused() -> None:
    """A patient column with an empty cell is refused."""
    err = located("patient,minute,bg_mg_dl\n,0,100\n")
    assert (err.row, err.field) == (1, "patient")


def test_column_without_any_reading_is_refused() -> None:
    """A CGM column with no reading at all cannot be scored; the error says so."""
    err = located("minute,bg_mg_dl,cgm_mg_dl\n0,100,\n1,100,\n")
    assert err.field == "cgm_mg_dl" and "cannot infer" in err.reason


def test_not_utf8_file_is_refused(tmp_path: Path) -> None:
    """Binary junk is refused as not UTF-8 text."""
    path = tmp_path / "t.csv"
    path.write_bytes(b"minute,bg_mg_dl\n0,\xff\xfe\n")
    with pytest.raises(InputError, match="UTF-8"):
        read_trace(path)


def test_grid_keeps_readings_and_missing_slots() -> None:
    """A gap in the readings is NaN on the grid; the window spans all rows."""
    (s,) = parse("minute,cgm_mg_dl\n0,100\n5,\n10,\n15,130\n20,\n").series
    bg, expected, _ = grid_series([s], 5)
    assert np.isnan(bg[0, 1:3]).all() and math.isnan(bg[0, 4])
    assert expected.tolist() == [5]


def test_zero_cgm_value_is_refused() -> None:
    """A sensor never reads 0 (it reads LOW): 0 in cgm_mg_dl is an error."""
    err = located("minute,cgm_mg_dl\n0,100\n5,0\n")
    assert (err.row, err.field) == (2, "cgm_mg_dl") and "positive" in err.reason


def test_zero_plasma_glucose_is_read() -> None:
    """A simulated plasma glucose of 0 mg/dL (overdose) is a valid trace value."""
    from pumplab.metrics import parse_trace

    trace = parse_trace(["minute,bg_mg_dl", "0,100", "1,0"], source="t.csv")
    assert trace is not None


def test_glucose_at_the_upper_bound_is_read() -> None:
    """10,000 mg/dL is the largest glucose accepted."""
    (s,) = parse(f"minute,bg_mg_dl\n0,100\n1,{MAX_GLUCOSE_MG_DL:g}\n").series
    assert s.bg_mg_dl[-1] == MAX_GLUCOSE_MG_DL


def test_unclosed_quote_is_reported_as_malformed_csv() -> None:
    """An unclosed quote is named as such, at the row where it opens."""
    err = located('minute,bg_mg_dl\n0,100\n1,"100\n2,100\n')
    assert err.row == 2 and "unclosed quote" in err.reason


def test_slot_clash_suggests_an_interval_only_when_none_was_imposed() -> None:
    """The refusal offers --interval when the interval was inferred, not when it was given."""
    text = "minute,cgm_mg_dl\n0,100\n5,110\n7,120\n10,130\n15,1\n20,1\n"
    with pytest.raises(InputError) as inferred:
        trace_metrics(parse(text))
    with pytest.raises(InputError) as imposed:
        trace_metrics(parse(text), interval_min=5)
    assert "--interval" in (inferred.value.allowed or "")
    assert "--interval" not in (imposed.value.allowed or "")


def test_a_grid_far_sparser_than_its_readings_is_refused_before_allocation() -> None:
    """Three patients of 3 readings spread over a year at 1 minute (1.6 M slots) are refused."""
    rows = [f"{p},{m},100" for p in "abc" for m in (0, 1, MAX_TRACE_MINUTE)]
    err = located("patient,minute,bg_mg_dl\n" + "\n".join(rows) + "\n")
    assert err.field == "minute" and "too sparse" in err.reason


def test_a_short_sparse_trace_is_still_scored() -> None:
    """One patient's 3 readings over a year (527,041 slots) fit the minimum budget."""
    text = f"minute,bg_mg_dl\n0,100\n1,100\n{MAX_TRACE_MINUTE},100\n"
    (r,) = trace_metrics(parse(text))
    assert r.metrics.n_samples == 3


def test_scoring_in_blocks_gives_the_same_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """Patients gridded a block at a time (bounded memory) score as in one batch."""
    trace = parse(simulate_like(minutes=300, patients=("a", "b", "c", "d")))
    whole = [r.as_dict() for r in trace_metrics(trace)]
    monkeypatch.setattr("pumplab.metrics.tracefile._GRID_VALUES_PER_BLOCK", 1)
    assert [r.as_dict() for r in trace_metrics(trace)] == whole

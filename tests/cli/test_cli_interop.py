"""Issue 21 on the command line: gsub and time columns, --start, cohort summaries, --out-table,
progress within chunks, and `pumplab metrics` on simglucose's CSV and in mmol/L."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pumplab.cli import _common
from pumplab.cli._cohort import TABLE_MAX_PATIENTS
from pumplab.cli._start import minute_times, parse_start, pump_clock_ms
from pumplab.cli.main import main
from pumplab.metrics import (
    METRIC_KEYS,
    GlucoseUnit,
    cohort_summary,
    glycemic_metrics,
    patient_records,
    read_trace,
    trace_cohort_summary,
    trace_metrics,
)
from pumplab.physiology import load_cohort, simulate
from pumplab.physiology.meals import builtin_meal_plan, realize_meals

HEADER = "minute,carbs_g,insulin_u\n"
SIMGLUCOSE_CSV = Path(__file__).resolve().parents[1] / "metrics" / "data" / \
    "simglucose_adolescent001.csv"


def _inputs(tmp_path: Path, body: str = "0,0,0\n59,0,0\n") -> Path:
    path = tmp_path / "inputs.csv"
    path.write_text(HEADER + body)
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


# -- --start -----------------------------------------------------------------------------


def test_start_adds_a_time_column_in_the_start_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--start 23:58+05:30: row m is 23:58 + m minutes, crossing midnight, offset kept."""
    out = tmp_path / "t.csv"
    code, _, err = _run(["patient", "simulate", "--patients", "adult#001,child#002", "--inputs",
                         str(_inputs(tmp_path)), "--start", "2026-03-31T23:58+05:30",
                         "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    rows = _rows(out)
    assert list(rows[0]) == ["patient", "minute", "time", "bg_mg_dl", "gsub_mg_dl"]
    first = [r["time"] for r in rows if r["patient"] == "child#002"][:3]
    assert first == ["2026-03-31T23:58:00+05:30", "2026-03-31T23:59:00+05:30",
                     "2026-04-01T00:00:00+05:30"]  # fmt: skip
    start = datetime.fromisoformat("2026-03-31T23:58+05:30")
    for r in rows:
        moment = datetime.fromisoformat(r["time"])
        assert moment - start == timedelta(minutes=int(r["minute"]))
        assert moment.utcoffset() == timedelta(hours=5, minutes=30)


def test_start_without_an_offset_is_utc() -> None:
    """No offset means UTC, written +00:00; Z is UTC too; a date alone is its midnight."""
    assert minute_times(parse_start("2026-01-05T07:30"), 2) == [
        "2026-01-05T07:30:00+00:00", "2026-01-05T07:31:00+00:00"]  # fmt: skip
    assert parse_start("2026-01-05T07:30Z") == datetime(2026, 1, 5, 7, 30, tzinfo=UTC)
    assert parse_start("2026-01-05") == datetime(2026, 1, 5, tzinfo=UTC)


def test_pump_clock_shows_the_local_wall_time_of_the_start() -> None:
    """07:30+01:00 is 07:30 on the pump: the local time as ms since 1970, as a scenario's start."""
    from pumplab.sim.scenario import load_scenario, start_clock_ms

    local = datetime(2026, 1, 5, 7, 30, tzinfo=UTC)
    assert pump_clock_ms(parse_start("2026-01-05T07:30+01:00")) == local.timestamp() * 1000
    scenario = load_scenario("seed-508")
    moved = scenario.model_copy(update={"start": "2026-01-05T07:30:00+01:00"})
    assert start_clock_ms(moved) == pump_clock_ms(parse_start("2026-01-05T07:30+01:00"))


def test_meals_follow_the_start_time_of_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--start 06:00 with standard-day: breakfast (07:00) is eaten at minute 60."""
    out = tmp_path / "t.csv"
    inputs = _inputs(tmp_path, "0,,0\n179,0,0\n")
    code, _, err = _run(["patient", "simulate", "--patient", "adult#004", "--inputs", str(inputs),
                         "--meals", "standard-day", "--start", "2026-01-05T06:00",
                         "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    meals = realize_meals(builtin_meal_plan("standard-day"), n_patients=1, n_minutes=180,
                          start_minute_of_day=360)  # fmt: skip
    assert meals.eaten_g[0].sum() == 45.0 and np.flatnonzero(meals.eaten_g[0])[0] == 60
    expected = simulate(load_cohort().select(["adult#004"]), meals.eaten_g[0], np.zeros(180))
    assert expected.bg_mg_dl is not None
    got = [float(r["bg_mg_dl"]) for r in _rows(out)]
    np.testing.assert_allclose(got, expected.bg_mg_dl[0], atol=5e-5)
    # The warning names the meals of the first 24 hours the run ends before, not breakfast.
    assert "ends at minute 180 (09:00), before 2 of its meals" in err
    assert "lunch at 12:00" in err and "dinner at 18:00" in err and "breakfast" not in err


def test_random_plan_warning_follows_the_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """From 20:00 for 10 h: the next day's slots are named, the evening snack is not."""
    inputs = _inputs(tmp_path, "0,,0\n599,0,0\n")
    code, _, err = _run(["patient", "simulate", "--patient", "adult#001", "--inputs",
                         str(inputs), "--meals", "random", "--start", "2026-01-05T20:00",
                         "--out", str(tmp_path / "t.csv")], capsys)  # fmt: skip
    assert code == 0 and err.count("\n") == 1
    assert "the run ends at minute 600 (day 1 06:00)" in err
    assert "breakfast (day 1 05:00-day 1 09:00)" in err and "dinner (day 1 16:00" in err
    assert "evening snack" not in err


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("yesterday", "is not an ISO 8601 date and time"),
        ("2026-13-01T00:00", "is not an ISO 8601 date and time"),
        ("2026-01-05T07:30:30", "is not on a whole minute"),
        ("1999-12-31T23:59", "is outside the pump's clock"),
        ("2100-01-01T00:00+01:00", "is outside the pump's clock"),
        ("\u0662\u0660\u0662\u0666-01-05", "is not an ISO 8601 date and time"),
        ("", "is not an ISO 8601 date and time"),
    ],
)
def test_bad_start_is_one_error_line_naming_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, problem: str
) -> None:
    """A bad --start: one line naming --start and the allowed form; nothing simulated or written."""
    out = tmp_path / "t.csv"
    for argv in (
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(_inputs(tmp_path)),
         "--out", str(out), "--start", value],
        ["run", "--hours", "1", "--out-dir", str(tmp_path / "o"), "--start", value],
    ):  # fmt: skip
        code, stdout, err = _run(argv, capsys)
        assert code == 2 and stdout == "" and err.count("\n") == 1
        assert err.startswith("pumplab: error: --start: ") and problem in err
        assert "ISO 8601" in err and "no offset means UTC" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs.csv"]


def test_start_that_times_nothing_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--start without --out or --meals would change nothing: refused, as --seed is."""
    inputs = _inputs(tmp_path)
    code, _, err = _run(["patient", "simulate", "--patient", "adult#001", "--inputs",
                         str(inputs), "--start", "2026-01-05T07:00"], capsys)  # fmt: skip
    assert code == 2 and "--start" in err and "--out" in err


def test_run_starts_the_pump_clock_meals_and_trace_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run --start 06:30+02:00: trace times from 06:30+02:00, pump at 06:30, breakfast eaten."""
    folder = tmp_path / "o"
    code, out, err = _run(["run", "--hours", "2", "--start", "2026-06-01T06:30+02:00",
                           "--out-dir", str(folder), "--json"], capsys)  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["config"]["start"] == "2026-06-01T06:30:00+02:00"
    assert data["patients"][0]["carbs_g"] == 45.0  # breakfast at 07:00 falls in the run
    rows = _rows(folder / "trace.csv")
    assert list(rows[0])[:4] == ["patient", "minute", "time", "bg_mg_dl"]
    assert rows[0]["time"] == "2026-06-01T06:30:00+02:00"
    assert rows[-1]["time"] == "2026-06-01T08:30:00+02:00" and rows[-1]["minute"] == "120"
    history = data["patients"][0]["history_path"]
    assert main(["history", "show", history, "--json", "--limit", "1"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    local = datetime(2026, 6, 1, 6, 30, tzinfo=UTC).timestamp() * 1000
    assert record["clock_ms"] == local


def test_run_without_start_keeps_the_fixed_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default start is the open-loop day's fixed date, in UTC; no meal in a 1 h night."""
    from pumplab.cli.run import DEFAULT_START
    from pumplab.sim.openloop import RUN_START_CLOCK_MS

    assert pump_clock_ms(parse_start(DEFAULT_START)) == RUN_START_CLOCK_MS
    code, out, err = _run(["run", "--hours", "1", "--meals", "fasting", "--out-dir",
                           str(tmp_path / "o")], capsys)  # fmt: skip
    assert code == 0, err
    assert "from 2026-01-05T00:00:00+00:00" in out
    assert _rows(tmp_path / "o" / "trace.csv")[0]["time"] == "2026-01-05T00:00:00+00:00"


# -- cohort summaries and --out-table ---------------------------------------------------------


def test_standard_cohort_prints_its_table_and_the_summary_of_the_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--patients all: 30 rows, then the summary; --json's summary equals the library's."""
    inputs = _inputs(tmp_path, "0,60,0\n239,0,0\n")
    code, out, _ = _run(["patient", "simulate", "--patients", "all", "--inputs", str(inputs)],
                        capsys)  # fmt: skip
    assert code == 0
    assert "adolescent#001" in out and "child#010" in out  # the per-patient table
    assert "cohort of 30 patients" in out and "time in range (%)" in out
    assert "level-2 hypoglycaemia" in out and "outside the model's validated range" in out
    assert "wrote" not in out
    code, out, _ = _run(["patient", "simulate", "--patients", "all", "--inputs", str(inputs),
                         "--json"], capsys)  # fmt: skip
    document = json.loads(out)
    carbs = np.zeros(240)
    carbs[0] = 60.0
    result = simulate(load_cohort(), carbs, np.zeros(240))
    assert result.bg_mg_dl is not None
    expected = cohort_summary(result.names, glycemic_metrics(result.bg_mg_dl, 1.0),
                              outside_validated_range=result.summary.outside_validated_range)
    assert document["summary"] == json.loads(json.dumps(_common.json_ready(expected.as_dict())))
    assert (document["start"], document["trace_path"], document["table_path"]) == (None,) * 3


def test_population_beyond_the_table_limit_prints_the_summary_and_writes_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--population 40: no per-patient rows on the terminal; --out-table has 40; files named."""
    n = TABLE_MAX_PATIENTS + 10
    inputs = _inputs(tmp_path)
    code, out, _ = _run(["patient", "simulate", "--population", str(n), "--inputs",
                         str(inputs)], capsys)  # fmt: skip
    assert code == 0
    assert "pop00001" not in out.split("outside the model's validated range")[0]
    assert f"cohort of {n} patients" in out
    assert "per-patient table not shown" in out and "--out-table" in out
    table, trace = tmp_path / "table.csv", tmp_path / "trace.csv"
    code, out, _ = _run(["patient", "simulate", "--population", str(n), "--inputs",
                         str(inputs), "--out-table", str(table), "--out", str(trace)],
                        capsys)  # fmt: skip
    assert code == 0
    assert out.splitlines()[-2:] == [f"wrote {trace}", f"wrote {table}"]
    assert "per-patient table not shown" not in out
    rows = _rows(table)
    assert [r["patient"] for r in rows] == [f"pop{i:05d}" for i in range(1, n + 1)]


def test_out_table_holds_the_record_and_every_metric_of_each_patient(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each row: patient, validity, min/max, first minute < 40, then the library's records."""
    table = tmp_path / "table.csv"
    inputs = _inputs(tmp_path, "0,0,0\n30,0,25\n119,0,0\n")  # 25 U: someone goes low
    names = ["adult#001", "child#001", "child#002"]
    code, _, err = _run(["patient", "simulate", "--patients", ",".join(names), "--inputs",
                         str(inputs), "--out-table", str(table)], capsys)  # fmt: skip
    assert code == 0, err
    insulin = np.zeros(120)
    insulin[30] = 25.0
    result = simulate(load_cohort().select(names), np.zeros(120), insulin)
    assert result.bg_mg_dl is not None
    flags = result.summary.outside_validated_range
    expected = patient_records(names, glycemic_metrics(result.bg_mg_dl, 1.0),
                               outside_validated_range=flags)  # fmt: skip
    rows = _rows(table)
    assert list(rows[0]) == [
        "patient", "outside_validated_range", "validity_flags", "min_bg_mg_dl",
        "max_bg_mg_dl", "first_minute_below_40", "interval_min", "n_samples",
        "data_present_pct", *METRIC_KEYS,
    ]  # fmt: skip
    records = result.summary.records()
    assert any(r["first_minute_below_40"] is not None for r in records)
    for row, want, sim in zip(rows, expected, records, strict=True):
        assert row["patient"] == want["patient"] == sim["patient"]
        assert row["outside_validated_range"] == str(want["outside_validated_range"])
        assert row["validity_flags"] == "|".join(sim["validity_flags"])
        assert float(row["min_bg_mg_dl"]) == sim["min_bg_mg_dl"]
        first = sim["first_minute_below_40"]
        assert row["first_minute_below_40"] == ("" if first is None else str(first))
        for key in METRIC_KEYS:
            value = want[key]
            assert row[key] == ("" if value is None else repr(value) if isinstance(value, float)
                                else str(value))  # fmt: skip


def test_out_table_that_is_the_trace_or_unusable_is_refused_before_simulating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out-table equal to --out, or in a missing folder: one line, nothing simulated."""
    simulated: list[int] = []
    monkeypatch.setattr("pumplab.cli.patient.simulate_cohort",
                        lambda *a, **k: simulated.append(1))  # fmt: skip
    inputs = _inputs(tmp_path)
    for extra, needle in (
        (["--out", str(tmp_path / "t.csv"), "--out-table", str(tmp_path / "t.csv")],
         "--out-table: names the same file as --out"),
        (["--out-table", str(tmp_path / "no" / "t.csv")], "does not exist"),
    ):  # fmt: skip
        code, _, err = _run(["patient", "simulate", "--population", "3", "--inputs",
                             str(inputs), *extra], capsys)  # fmt: skip
        assert code == 2 and err.count("\n") == 1 and needle in err
    assert not simulated
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs.csv"]


def test_a_table_that_cannot_be_written_leaves_no_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table is written before the trace is put in place: both, or neither."""

    def broken(stream: Any, records: Any) -> int:
        raise OSError("disk full")

    monkeypatch.setattr("pumplab.metrics.cohort.write_metrics_table", broken)
    trace = tmp_path / "t.csv"
    trace.write_text("old\n")
    code, _, err = _run(["patient", "simulate", "--population", "2", "--inputs",
                         str(_inputs(tmp_path)), "--out", str(trace), "--out-table",
                         str(tmp_path / "table.csv")], capsys)  # fmt: skip
    assert code != 0 and err.count("\n") == 1
    assert trace.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs.csv", "t.csv"]


# -- progress within chunks ---------------------------------------------------------------------


def test_bar_moves_within_a_chunk_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a bar, one chunk of 5 patients is run in slices: fractional progress, same files."""
    inputs = _inputs(tmp_path, "0,40,1\n299,0,0\n")
    argv = ["patient", "simulate", "--population", "5", "--inputs", str(inputs), "--cgm",
            "--meals", "random", "--json"]

    def simulate_to(name: str) -> tuple[bytes, dict[str, Any]]:
        out = tmp_path / name
        assert main([*argv, "--out", str(out)]) == 0
        return out.read_bytes(), json.loads(capsys.readouterr().out)

    inputs.write_text(HEADER + "0,,1\n299,0,0\n")  # --meals supplies the carbs
    quiet_trace, quiet_json = simulate_to("quiet.csv")
    seen: list[float] = []
    real = _common.progress

    def spy(description: str, total: int, **kwargs: Any) -> Any:
        class Recorder:
            def __enter__(self) -> Any:
                self._context = real(description, total, **kwargs)
                update = self._context.__enter__()

                def record(done: float) -> None:
                    seen.append(done)
                    update(done)

                return record

            def __exit__(self, *exc: Any) -> Any:
                return self._context.__exit__(*exc)

        return Recorder()

    monkeypatch.setattr("pumplab.cli.patient.progress", spy)
    monkeypatch.setattr("pumplab.cli.patient._PATIENT_MINUTES_PER_UPDATE", 5 * 70)
    monkeypatch.setattr("sys.stderr", _Terminal())
    bar_trace, bar_json = simulate_to("bar.csv")
    assert bar_trace == quiet_trace and bar_json["patients"] == quiet_json["patients"]
    assert bar_json["summary"] == quiet_json["summary"]
    # 300 minutes in slices of 70: five moves inside the one chunk, the last at 5 patients.
    assert seen == [5 * m / 300 for m in (70, 140, 210, 280, 300)]


# -- pumplab metrics -----------------------------------------------------------------------------


def test_metrics_columns_are_the_readers() -> None:
    """--column accepts exactly the trace reader's glucose columns, in its order."""
    from pumplab.cli.metrics import GLUCOSE_COLUMNS
    from pumplab.metrics.tracefile import GLUCOSE_COLUMNS as READER_COLUMNS

    assert GLUCOSE_COLUMNS == READER_COLUMNS


@pytest.mark.parametrize("column", [None, "BG", "CGM"])
def test_metrics_scores_simglucose_result_csv(
    capsys: pytest.CaptureFixture[str], column: str | None
) -> None:
    """simglucose's own result CSV: CGM by default, BG on request, as the library scores it."""
    argv = ["metrics", str(SIMGLUCOSE_CSV), "--json"] + ([] if column is None else
                                                         ["--column", column])
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    document = json.loads(out)
    trace = read_trace(SIMGLUCOSE_CSV, column=column)
    assert document["column"] == (column or "CGM") == trace.column
    expected = [r.as_dict() for r in trace_metrics(trace)]
    assert document["patients"] == json.loads(json.dumps(_common.json_ready(expected)))
    assert document["patients"][0]["interval_min"] == 3.0
    assert document["patients"][0]["start_minute"] == 360  # 06:00 on the first day


def test_metrics_scores_the_subcutaneous_column_of_a_simulated_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--column gsub_mg_dl scores what simglucose calls BG; the default stays plasma bg."""
    out = tmp_path / "t.csv"
    inputs = _inputs(tmp_path, "0,80,0\n239,0,0\n")
    assert main(["patient", "simulate", "--patient", "adult#002", "--inputs", str(inputs),
                 "--out", str(out)]) == 0  # fmt: skip
    capsys.readouterr()
    means = {}
    for column in ("bg_mg_dl", "gsub_mg_dl"):
        argv = ["metrics", str(out), "--json"] + ([] if column == "bg_mg_dl" else
                                                  ["--column", column])
        assert main(argv) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["column"] == column
        means[column] = document["patients"][0]["mean_mg_dl"]
    result = simulate(load_cohort().select(["adult#002"]), np.r_[80.0, np.zeros(239)],
                      np.zeros(240), trace_gsub=True)  # fmt: skip
    assert result.gsub_mg_dl is not None
    assert means["gsub_mg_dl"] == pytest.approx(result.gsub_mg_dl[0].mean(), abs=1e-4)
    assert means["gsub_mg_dl"] != pytest.approx(means["bg_mg_dl"], abs=0.01)


def _mmol_trace(tmp_path: Path) -> Path:
    path = tmp_path / "mmol.csv"
    lines = ["minute,bg_mg_dl"] + [f"{5 * i},{v}" for i, v in
                                   enumerate([5.5, 6.1, 10.0, 3.9, 2.9, 2.8, 2.7, 2.9, 7.0])]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_mmol_values_read_as_mg_dl_are_refused_with_the_units_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """All readings below 35 in a mg/dL column: one line pointing at --units mmol/L."""
    path = _mmol_trace(tmp_path)
    code, out, err = _run(["metrics", str(path)], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"pumplab: error: {path}, field 'bg_mg_dl': all 9 readings are below")
    assert "look like mmol/L" in err and "--units mmol/L" in err


def test_units_mmol_l_reads_and_reports_in_mmol_l(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--units mmol/L (any case): mmol/L keys and limits, as the library reports them."""
    path = _mmol_trace(tmp_path)
    code, out, err = _run(["metrics", str(path), "--units", "MMOL/l", "--json"], capsys)
    assert code == 0, err
    document = json.loads(out)
    assert document["units"] == "mmol/L"
    trace = read_trace(path, unit=GlucoseUnit.MMOL_L)
    expected = [r.as_dict(GlucoseUnit.MMOL_L) for r in trace_metrics(trace)]
    assert document["patients"] == json.loads(json.dumps(_common.json_ready(expected)))
    record = document["patients"][0]
    assert "mean_mmol_l" in record and "mean_mg_dl" not in record
    assert record["tir_70_180_pct"] == pytest.approx(100 * 5 / 9)  # 10.0 and 3.9 are in range
    code, out, _ = _run(["metrics", str(path), "--units", "mmol/L"], capsys)
    assert code == 0
    assert "mean (mmol/L)" in out and "TIR 3.9-10.0 (%)" in out and "TBR <3.0 (%)" in out
    assert "mean (mg/dL)" not in out


def test_units_mg_dl_refuses_a_mg_dl_trace_in_a_mmol_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--units mmol/L on mg/dL values is refused the other way, naming --units mg/dL."""
    path = tmp_path / "t.csv"
    path.write_text("minute,bg_mg_dl\n0,120\n5,140\n")
    code, _, err = _run(["metrics", str(path), "--units", "mmol/L"], capsys)
    assert code == 2 and "look like mg/dL" in err and "--units mg/dL" in err
    code, _, err = _run(["metrics", str(path), "--units", "g/L"], capsys)
    assert code == 2 and err.startswith("pumplab: error: --units: unknown glucose unit 'g/L'")
    assert "mg/dL, mmol/L" in err


def _many_patients(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "many.csv"
    lines = ["patient,minute,bg_mg_dl"]
    for p in range(n):
        level = 40 + 10 * p
        lines += [f"p{p:02d},{m},{level}" for m in range(0, 60, 5)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_metrics_on_many_patients_prints_the_summary_and_writes_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """31 patients: no per-patient blocks, the summary; --out-table has the JSON's records."""
    path = _many_patients(tmp_path, TABLE_MAX_PATIENTS + 1)
    code, out, _ = _run(["metrics", str(path)], capsys)
    assert code == 0
    assert "sampling interval (min)" not in out and "cohort of 31 patients" in out
    assert "level-2 hypoglycaemia (an event of >= 15 min below 54 mg/dL): 2 of 31" in out
    assert "per-patient table not shown" in out
    assert "outside the model's validated range" not in out  # a trace file does not know
    table = tmp_path / "table.csv"
    code, out, _ = _run(["metrics", str(path), "--out-table", str(table), "--json"], capsys)
    assert code == 0
    document = json.loads(out)
    assert document["table_path"] == str(table)
    expected = trace_cohort_summary(trace_metrics(read_trace(path)))
    assert document["summary"] == json.loads(json.dumps(_common.json_ready(expected.as_dict())))
    rows = _rows(table)
    assert [r["patient"] for r in rows] == [r["patient"] for r in document["patients"]]
    assert list(rows[0]) == list(document["patients"][0])
    assert float(rows[3]["mean_mg_dl"]) == document["patients"][3]["mean_mg_dl"]
    code, out, _ = _run(["metrics", str(path), "--out-table", str(tmp_path / "t2.csv")],
                        capsys)  # fmt: skip
    assert out.splitlines()[-1] == f"wrote {tmp_path / 't2.csv'}"


def test_metrics_on_a_few_patients_prints_blocks_then_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three patients: the per-metric blocks (MAGE, GRI, ADRR included) and the summary."""
    code, out, _ = _run(["metrics", str(_many_patients(tmp_path, 3))], capsys)
    assert code == 0
    for label in ("MAGE (mg/dL)", "GRI", "ADRR", "TIR 70-180 (%)"):
        assert label in out
    assert out.index("TIR 70-180 (%)") < out.index("cohort of 3 patients")


def test_out_table_may_not_replace_the_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out-table naming TRACE.csv itself is refused, and the trace is untouched."""
    path = _many_patients(tmp_path, 2)
    before = path.read_bytes()
    code, _, err = _run(["metrics", str(path), "--out-table", str(path)], capsys)
    assert code == 2 and "--out-table: names the trace being read" in err
    assert path.read_bytes() == before

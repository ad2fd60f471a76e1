"""The ``pumplab patient simulate`` and ``pumplab run`` commands."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pumplab.cli.main import main
from pumplab.cli.patient import MAX_MINUTES, MAX_SENSOR_AGE_MIN, TraceCsvWriter
from pumplab.metrics.tracefile import MAX_TRACE_MINUTE
from pumplab.physiology import Cohort, Param, load_cohort, simulate

HEADER = "minute,carbs_g,insulin_u\n"


def _write(tmp_path: Path, text: str, name: str = "inputs.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_trace_rows_match_the_library_simulation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """TRACE.csv has patient,minute,bg_mg_dl,gsub_mg_dl rows 0..M equal to simulate() (4 dp)."""
    inputs = _write(tmp_path, HEADER + "0,0,0.02\n10,30,3\n59,0,0\n")
    out = tmp_path / "trace.csv"
    code, _, err = _run(
        [
            "patient",
            "simulate",
            "--patient",
            "adult#003",
            "--inputs",
            str(inputs),
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["patient", "minute", "bg_mg_dl", "gsub_mg_dl"]
    assert [int(r["minute"]) for r in rows] == list(range(61))
    carbs = np.zeros(60)
    insulin = np.zeros(60)
    carbs[10], insulin[0], insulin[10] = 30.0, 0.02, 3.0
    result = simulate(load_cohort().select(["adult#003"]), carbs, insulin, trace_gsub=True)
    assert result.bg_mg_dl is not None and result.gsub_mg_dl is not None
    np.testing.assert_allclose([float(r["bg_mg_dl"]) for r in rows], result.bg_mg_dl[0],
                               atol=5e-5)
    np.testing.assert_allclose([float(r["gsub_mg_dl"]) for r in rows], result.gsub_mg_dl[0],
                               atol=5e-5)


def test_json_summary_lists_every_patient_with_its_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--patient all --json prints 30 records with mean/min/max, first minute < 40, flag."""
    inputs = _write(tmp_path, HEADER + "0,0,0\n119,0,0\n")
    code, out, _ = _run(
        ["patient", "simulate", "--patient", "all", "--inputs", str(inputs), "--json"], capsys
    )
    assert code == 0
    data = json.loads(out)
    assert data["minutes"] == 120
    assert len(data["patients"]) == 30
    first = data["patients"][0]
    assert first["patient"] == "adolescent#001"
    assert first["first_minute_below_40"] is None and first["outside_validated_range"] is False
    assert first["min_bg_mg_dl"] <= first["mean_bg_mg_dl"] <= first["max_bg_mg_dl"]


def test_overdose_is_reported_in_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 200 U dose shows a first minute below 40 and the outside-validated-range flag."""
    inputs = _write(tmp_path, HEADER + "0,0,100\n1,0,100\n")
    code, out, _ = _run(
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(inputs),
         "--minutes", "1440", "--json"],
        capsys,
    )  # fmt: skip
    record = json.loads(out)["patients"][0]
    assert code == 0
    assert record["first_minute_below_40"] is not None
    assert record["outside_validated_range"] is True


def test_table_output_has_one_line_per_patient(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --json a readable table: a title, a header and a row per patient."""
    inputs = _write(tmp_path, HEADER + "5,0,0\n")
    code, out, _ = _run(
        ["patient", "simulate", "--patient", "child#001", "--inputs", str(inputs)], capsys
    )
    lines = out.strip().splitlines()
    assert code == 0
    assert len(lines) == 3 and lines[2].startswith("child#001")


def test_population_is_deterministic_for_a_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--population 5 --seed 3 prints the same summary twice, and another seed differs."""
    inputs = _write(tmp_path, HEADER + "0,20,1\n99,0,0\n")
    args = ["patient", "simulate", "--population", "5", "--inputs", str(inputs), "--json"]
    _, first, _ = _run([*args, "--seed", "3"], capsys)
    _, second, _ = _run([*args, "--seed", "3"], capsys)
    _, other, _ = _run([*args, "--seed", "4"], capsys)
    assert first == second and first != other
    assert len(json.loads(first)["patients"]) == 5


def test_minutes_extends_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--minutes 30 with inputs up to minute 9 simulates 30 minutes (31 trace rows per patient)."""
    inputs = _write(tmp_path, HEADER + "9,0,0\n")
    out = tmp_path / "t.csv"
    code, _, _ = _run(
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(inputs),
         "--minutes", "30", "--out", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert len(out.read_text().splitlines()) == 1 + 31


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty file"),
        ("minute,carbs_g\n0,1\n", "field 'insulin_u': missing column"),
        ("minute,carbs_g,insulin_u,extra\n", "field 'extra': unexpected column"),
        (HEADER + "0,1,0\n1,-2,0\n", "row 2, field 'carbs_g': negative"),
        (HEADER + "0,abc,0\n", "row 1, field 'carbs_g': not a number"),
        (HEADER + "0,0,nan\n", "row 1, field 'insulin_u': not finite"),
        (HEADER + "0,0,inf\n", "row 1, field 'insulin_u': not finite"),
        (HEADER + "3,0,0\n2,0,0\n", "row 2, field 'minute': minute 2 not increasing"),
        (HEADER + "3,0,0\n3,0,0\n", "row 2, field 'minute': minute 3 duplicated"),
        (HEADER + "1.5,0,0\n", "row 1, field 'minute': not an integer"),
        (HEADER + "-1,0,0\n", "row 1, field 'minute': out of range"),
        (HEADER + "0,0\n", "row 1: 2 fields"),
        (HEADER, "no data rows"),
        (HEADER + "0,0,100.5\n", "row 1, field 'insulin_u': too large for one minute"),
        (HEADER + "0,0,1e300\n", "row 1, field 'insulin_u': too large for one minute"),
        (HEADER + "0,501,0\n", "row 1, field 'carbs_g': too large for one minute"),
        (HEADER + "99999999999999999999,0,0\n", "row 1, field 'minute': out of range"),
        (HEADER + "\u0663,0,0\n", "row 1, field 'minute': not an integer"),
        (HEADER + "1_000,0,0\n", "row 1, field 'minute': not an integer"),
        (HEADER + "0,1_0,0\n", "row 1, field 'carbs_g': not a number"),
        (HEADER + "0,\u0661,0\n", "row 1, field 'carbs_g': not a number"),
        (HEADER + '0,"5,0\n1,0,0\n', "row 1: malformed CSV: a quoted field is never closed"),
    ],
)
def test_bad_inputs_file_gives_one_line_naming_file_row_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    """Each malformed inputs file fails with exit 2 and a one-line error naming the problem."""
    inputs = _write(tmp_path, text)
    out = tmp_path / "trace.csv"
    code, _, err = _run(
        [
            "patient",
            "simulate",
            "--patient",
            "adult#001",
            "--inputs",
            str(inputs),
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("pumplab: error: ")
    assert str(inputs) in err and expected in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [inputs]  # no temporary file left behind


def test_unknown_patient_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--patient adult#011 exits 2 naming the valid names."""
    inputs = _write(tmp_path, HEADER + "0,0,0\n")
    code, _, err = _run(
        ["patient", "simulate", "--patient", "adult#011", "--inputs", str(inputs)], capsys
    )
    assert code == 2
    assert "unknown patient 'adult#011'" in err and "adult#001-010" in err


def test_minutes_shorter_than_inputs_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--minutes below last minute + 1 is an error, not a silent truncation."""
    inputs = _write(tmp_path, HEADER + "50,0,0\n")
    code, _, err = _run(
        [
            "patient",
            "simulate",
            "--patient",
            "adult#001",
            "--inputs",
            str(inputs),
            "--minutes",
            "20",
        ],
        capsys,
    )
    assert code == 2 and "--minutes" in err and ">= 51" in err


def test_seed_without_population_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--seed with a standard patient and neither --cgm nor --meals seeds nothing: refused."""
    inputs = _write(tmp_path, HEADER + "0,0,0\n")
    code, _, err = _run(
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(inputs), "--seed", "1"],
        capsys,
    )
    assert code == 2 and "--seed" in err


def test_missing_inputs_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A nonexistent --inputs path exits 2 with the path in the message."""
    missing = tmp_path / "nope.csv"
    code, _, err = _run(
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(missing)], capsys
    )
    assert code == 2 and str(missing) in err


def _overflowing_cohort(name: str) -> Cohort:
    """The standard 30 with ``name``'s body weight set to 1e-304 kg.

    A unit of insulin is then ~6e307 pmol/kg for that subject and its state
    overflows within a minute: a simulation failure that inputs within every
    limit still reach.
    """
    cohort = load_cohort()
    params = cohort.parameters.copy()
    params[cohort.index(name), Param.BW] = 1e-304
    return dataclasses.replace(cohort, parameters=params)


def test_existing_trace_is_untouched_when_the_run_fails_mid_simulation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run failing after chunks were written leaves the old --out file and no temporary file.

    One patient per chunk, so adolescent#001..#010 are already written when
    adult#001's state overflows: a writer that wrote to --out directly would
    have replaced the old contents.
    """
    monkeypatch.setattr("pumplab.physiology.load_cohort", lambda: _overflowing_cohort("adult#001"))
    monkeypatch.setattr("pumplab.cli.patient._VALUES_PER_CHUNK", 1)
    written: list[int] = []
    real_write_chunk = TraceCsvWriter.write_chunk

    def counting_write_chunk(self: TraceCsvWriter, *args: Any, **kwargs: Any) -> None:
        written.append(1)
        real_write_chunk(self, *args, **kwargs)

    monkeypatch.setattr(TraceCsvWriter, "write_chunk", counting_write_chunk)
    inputs = _write(tmp_path, HEADER + "0,0,1\n59,0,0\n")
    out = _write(tmp_path, "old contents\n", name="trace.csv")
    code, _, err = _run(
        ["patient", "simulate", "--patient", "all", "--inputs", str(inputs), "--out", str(out)],
        capsys,
    )
    assert code == 3 and "non-finite" in err and "adult#001" in err
    assert len(written) == 10  # the ten adolescents were written before the failure
    assert out.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs.csv", "trace.csv"]


def test_non_finite_state_fails_without_writing_the_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state overflow ends in a one-line non-finite-state error and no --out file."""
    monkeypatch.setattr("pumplab.physiology.load_cohort", lambda: _overflowing_cohort("adult#001"))
    inputs = _write(tmp_path, HEADER + "0,0,1\n3,0,0\n")
    out = tmp_path / "trace.csv"
    code, _, err = _run(
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(inputs),
         "--out", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 3 and "non-finite" in err and "adult#001" in err
    assert err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [inputs]


def test_patient_without_action_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """`pumplab patient` alone prints help and exits 2."""
    code, out, _ = _run(["patient"], capsys)
    assert code == 2 and "simulate" in out


def test_non_utf8_inputs_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes that are not UTF-8 give an InputError naming the file, not a traceback."""
    inputs = tmp_path / "inputs.csv"
    inputs.write_bytes(b"minute,carbs_g,insulin_u\n0,\xff\xfe,0\n")
    code, _, err = _run(
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(inputs)], capsys
    )
    assert code == 2 and "not UTF-8" in err and str(inputs) in err


def test_byte_order_mark_before_the_header_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A UTF-8 byte-order mark (spreadsheet export) does not hide the minute column."""
    inputs = tmp_path / "inputs.csv"
    inputs.write_bytes("\ufeff".encode() + HEADER.encode() + b"4,0,0\n")
    code, out, _ = _run(
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(inputs), "--json"],
        capsys,
    )
    assert code == 0 and json.loads(out)["minutes"] == 5


def test_out_in_a_missing_directory_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out into a directory that does not exist fails cleanly, naming the path."""
    inputs = _write(tmp_path, HEADER + "0,0,0\n")
    out = tmp_path / "missing" / "trace.csv"
    code, _, err = _run(
        [
            "patient",
            "simulate",
            "--patient",
            "adult#001",
            "--inputs",
            str(inputs),
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 2 and "does not exist" in err and str(out) in err


@pytest.mark.parametrize("where", ["directory", "missing parent", "parent is a file"])
def test_unusable_out_path_is_refused_before_simulating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """--out that is a directory, or whose parent is missing or a file, fails up front naming it."""
    simulated: list[int] = []
    monkeypatch.setattr("pumplab.cli.patient.simulate_cohort",
                        lambda *a, **k: simulated.append(1))  # fmt: skip
    inputs = _write(tmp_path, HEADER + "0,0,0\n")
    (tmp_path / "afile").write_text("x")
    out = {
        "directory": tmp_path,
        "missing parent": tmp_path / "nodir" / "t.csv",
        "parent is a file": tmp_path / "afile" / "t.csv",
    }[where]
    code, _, err = _run(
        ["patient", "simulate", "--population", "3", "--inputs", str(inputs), "--out", str(out)],
        capsys,
    )
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"pumplab: error: {out}: ")
    assert ".tmp" not in err and not simulated
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "inputs.csv"]


@pytest.mark.parametrize("age", ["99999999999999999999", "525601", "-1", "1e3", "\u0661"])
def test_sensor_age_outside_a_year_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], age: str
) -> None:
    """--sensor-age must be whole minutes 0..525600; the error names the option and the range."""
    inputs = _write(tmp_path, HEADER + "0,0,0\n")
    code, _, err = _run(
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(inputs), "--cgm",
         "--sensor-age", age, "--out", str(tmp_path / "t.csv")],
        capsys,
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert "--sensor-age" in err and f"0..{MAX_SENSOR_AGE_MIN}" in err
    assert not (tmp_path / "t.csv").exists()


def test_metrics_accept_every_minute_a_simulated_trace_can_have() -> None:
    """The trace reader's minute bound is the last row of the longest simulate run."""
    assert MAX_TRACE_MINUTE == MAX_MINUTES

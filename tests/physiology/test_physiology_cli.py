"""The ``pumplab patient simulate`` and ``pumplab run`` commands."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from pumplab.cli.main import main
from pumplab.physiology import load_cohort, simulate

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
    """TRACE.csv has patient,minute,bg_mg_dl rows 0..M equal to simulate() to 4 decimals."""
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
    assert list(rows[0]) == ["patient", "minute", "bg_mg_dl"]
    assert [int(r["minute"]) for r in rows] == list(range(61))
    carbs = np.zeros(60)
    insulin = np.zeros(60)
    carbs[10], insulin[0], insulin[10] = 30.0, 0.02, 3.0
    bg = simulate(load_cohort().select(["adult#003"]), carbs, insulin).bg_mg_dl
    assert bg is not None
    np.testing.assert_allclose([float(r["bg_mg_dl"]) for r in rows], bg[0], atol=5e-5)


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
    inputs = _write(tmp_path, HEADER + "0,0,200\n")
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
    ],
)
def test_bad_inputs_file_gives_one_line_naming_file_row_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    """Each malformed inputs file fails with exit 1 and a one-line error naming the problem."""
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
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("pumplab: error: ")
    assert str(inputs) in err and expected in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [inputs]  # no temporary file left behind


def test_unknown_patient_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--patient adult#011 exits 1 naming the valid names."""
    inputs = _write(tmp_path, HEADER + "0,0,0\n")
    code, _, err = _run(
        ["patient", "simulate", "--patient", "adult#011", "--inputs", str(inputs)], capsys
    )
    assert code == 1
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
    assert code == 1 and "--minutes" in err and ">= 51" in err


def test_seed_without_population_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--seed only makes sense with --population."""
    inputs = _write(tmp_path, HEADER + "0,0,0\n")
    code, _, err = _run(
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(inputs), "--seed", "1"],
        capsys,
    )
    assert code == 1 and "--seed" in err


def test_missing_inputs_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A nonexistent --inputs path exits 1 with the path in the message."""
    missing = tmp_path / "nope.csv"
    code, _, err = _run(
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(missing)], capsys
    )
    assert code == 1 and str(missing) in err


def test_existing_trace_is_untouched_when_the_run_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing run leaves a previous --out file exactly as it was."""
    inputs = _write(tmp_path, HEADER + "0,-1,0\n")
    out = _write(tmp_path, "old contents\n", name="trace.csv")
    code, _, _ = _run(
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
    assert code == 1 and out.read_text() == "old contents\n"


def test_non_finite_state_fails_without_writing_the_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An overflowing dose ends in a one-line non-finite-state error and no --out file."""
    inputs = _write(tmp_path, HEADER + "0,0,1e308\n3,0,0\n")
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
    assert code == 1 and "non-finite" in err and "adult#001" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [inputs]


def test_patient_without_action_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """`pumplab patient` alone prints help and exits 2."""
    code, _, err = _run(["patient"], capsys)
    assert code == 2 and "simulate" in err


def test_non_utf8_inputs_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes that are not UTF-8 give an InputError naming the file, not a traceback."""
    inputs = tmp_path / "inputs.csv"
    inputs.write_bytes(b"minute,carbs_g,insulin_u\n0,\xff\xfe,0\n")
    code, _, err = _run(
        ["patient", "simulate", "--patient", "adult#001", "--inputs", str(inputs)], capsys
    )
    assert code == 1 and "not UTF-8" in err and str(inputs) in err


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
    assert code == 1 and "does not exist" in err and str(out) in err

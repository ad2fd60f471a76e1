"""Tests of the ``pumplab metrics`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pumplab.cli.main import main
from pumplab.metrics import METRIC_KEYS

EXPECTED_KEYS = [
    "patient",
    "column",
    "start_minute",
    "interval_min",
    "n_samples",
    "data_present_pct",
    "low_flags",
    "high_flags",
    *METRIC_KEYS,
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return path


def two_patient_trace(tmp_path: Path) -> Path:
    """Two patients, 1-minute BG for an hour, CGM every 5 min; p2 has a LOW reading."""
    lines = ["patient,minute,bg_mg_dl,cgm_mg_dl"]
    for p, level in (("p1", 100), ("p2", 200)):
        for m in range(61):
            cgm = "" if m % 5 else ("LOW" if p == "p2" and m == 30 else str(level))
            lines.append(f"{p},{m},{level},{cgm}")
    return write(tmp_path, "\n".join(lines) + "\n")


def test_json_lists_one_object_per_patient_with_the_documented_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints one pumplab.metrics/1 object; its patients have exactly the documented keys."""
    path = two_patient_trace(tmp_path)
    assert main(["metrics", str(path), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert list(document) == ["schema", "source", "column", "patients", "units", "summary",
                              "table_path"]
    assert document["schema"] == "pumplab.metrics/1"
    assert (document["source"], document["column"]) == (str(path), "cgm_mg_dl")
    records = document["patients"]
    assert [r["patient"] for r in records] == ["p1", "p2"]
    for r in records:
        assert list(r) == EXPECTED_KEYS
    assert records[0]["column"] == "cgm_mg_dl" and records[0]["interval_min"] == 5.0
    assert records[0]["tir_70_180_pct"] == 100.0
    assert records[1]["low_flags"] == 1 and records[1]["tbr_54_pct"] == pytest.approx(100 / 13)


def test_json_column_option_scores_bg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--column bg_mg_dl scores the 1-minute BG."""
    assert (
        main(["metrics", str(two_patient_trace(tmp_path)), "--json", "--column", "bg_mg_dl"]) == 0
    )
    records = json.loads(capsys.readouterr().out)["patients"]
    assert records[1]["interval_min"] == 1.0 and records[1]["n_samples"] == 61
    assert records[1]["tar_180_pct"] == 100.0


def test_json_null_for_undefined_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A metric undefined for a patient (SD of one reading) is JSON null, not NaN."""
    text = "patient,minute,bg_mg_dl\na,0,100\na,1,100\nb,0,100\n"
    assert main(["metrics", str(write(tmp_path, text)), "--json"]) == 0
    out = capsys.readouterr().out
    assert "NaN" not in out
    assert json.loads(out)["patients"][1]["sd_mg_dl"] is None


def test_table_shows_every_patient_and_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default output is a table with a column per patient and a row per metric."""
    assert main(["metrics", str(two_patient_trace(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "p1" in out and "p2" in out
    for label in ("TIR 70-180 (%)", "GMI (%)", "LBGI", "risk index", "level-2 hypo events"):
        assert label in out
    # p2 sits at 200 mg/dL except one LOW reading: 12 of 13 readings above 180.
    tar_row = next(line for line in out.splitlines() if line.startswith("TAR >180"))
    assert tar_row.split()[-2:] == ["0.0", "92.3"]


def test_table_without_patient_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trace without a patient column is one series, shown as '-'."""
    assert main(["metrics", str(write(tmp_path, "minute,bg_mg_dl\n0,100\n1,120\n"))]) == 0
    out = capsys.readouterr().out
    assert "mean (mg/dL)" in out and "110.0" in out


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("minute,glucose\n0,100\n", "no glucose column"),
        ("minute,bg_mg_dl\n0,100\n1,abc\n", "row 2, field 'bg_mg_dl'"),
        ("minute,bg_mg_dl\n0,100\n0,100\n", "row 2, field 'minute'"),
        ("", "empty file"),
        ("minute,bg_mg_dl\n0,100\n5,1e200\n", "row 2, field 'bg_mg_dl': glucose out of range"),
        ("minute,bg_mg_dl\n0,100\n1,100\n1000000000000,100\n", "row 3, field 'minute'"),
        ("minute,bg_mg_dl\n99999999999999999999,100\n", "row 1, field 'minute'"),
        ("minute,bg_mg_dl\n0,100\n1,\"100\n2,100\n", "row 2: malformed CSV"),
    ],
)
def test_bad_trace_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, fragment: str
) -> None:
    """Bad input exits 2 with a single 'pumplab: error:' line naming file, row and field."""
    path = write(tmp_path, text)
    assert main(["metrics", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"pumplab: error: {path}") and fragment in lines[0]


def test_missing_file_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trace that does not exist is a one-line usage error naming it, not a traceback."""
    missing = tmp_path / "nope.csv"
    assert main(["metrics", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"pumplab: error: TRACE.csv: file '{missing}' does not exist\n"
    )


def test_interval_must_be_a_positive_whole_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--interval 0 (or a fraction) is a one-line usage error stating the range (exit 2)."""
    for value in ("0", "1.5", "1441"):
        assert main(["metrics", str(two_patient_trace(tmp_path)), "--interval", value]) == 2
        err = capsys.readouterr().err
        assert err.startswith("pumplab: error: --interval: ") and err.count("\n") == 1
        assert "(allowed: an integer 1..1440 min)" in err

"""`pumplab run`: the open-loop day from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pumplab.cli.main import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["run", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_run_plays_a_day_and_verifies_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no arguments: 24 h of adult#001, outcome printed, files in pumplab-out/run-001."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run([], capsys)
    assert code == 0, err
    assert "adult#001, 24 h open loop, secure pump" in out
    assert "hash chain verified" in out and "time in range 70-180" in out
    folder = tmp_path / "pumplab-out" / "run-001"
    for name in ("trace.csv", "events.json", "outcome.json", "history-adult-001.sqlite"):
        assert (folder / name).exists(), name
    code, out, _ = run([], capsys)  # a second run never touches the first one's history
    assert code == 0 and (tmp_path / "pumplab-out" / "run-002").exists()


def test_json_outcome_and_history_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints the outcome (pumplab.run/1); --history keeps the history where asked."""
    history = tmp_path / "h" / "pump.sqlite"
    code, out, err = run(["--json", "--hours", "8", "--out-dir", str(tmp_path / "o"),
                          "--history", str(history), "--mode", "legacy"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["schema"] == "pumplab.run/1"
    assert json.loads((tmp_path / "o" / "outcome.json").read_text()) == data
    patient = data["patients"][0]
    assert data["config"]["mode"] == "legacy" and data["config"]["minutes"] == 480
    assert patient["history_path"] == str(history) and patient["history"]["ok"]
    assert patient["insulin_u"]["basal"] > 0
    assert set(patient["bg_metrics"]) >= {"tir_70_180_pct", "tbr_54_pct", "lbgi", "hypo_events"}
    assert main(["history", "verify", str(history)]) == 0
    assert main(["metrics", str(tmp_path / "o" / "trace.csv")]) == 0


def test_existing_history_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--history at an existing file is a one-line error, and the file is untouched."""
    history = tmp_path / "pump.sqlite"
    history.write_bytes(b"precious")
    code, _, err = run(["--history", str(history), "--out-dir", str(tmp_path / "o")], capsys)
    assert code == 2 and "never overwritten" in err and err.count("\n") == 1
    assert history.read_bytes() == b"precious"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--hours", "0"], "--hours"),
        (["--hours", "1000"], "--hours"),
        (["--patient", "adult#999"], "adult#999"),
        (["--meals", "nosuch"], "nosuch"),
        (["--seed", "-1"], "--seed"),
        (["--hours", "0.01"], "--hours"),
    ],
)
def test_bad_run_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    """Bad options name themselves on one line, exit 2; no traceback, nothing written."""
    code, _, err = run([*args, "--out-dir", str(tmp_path / "o")], capsys)
    assert code == 2 and needle in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_output_paths_that_are_files_or_directories_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out-dir naming a file, or --history naming a directory: one-line errors."""
    a_file = tmp_path / "f"
    a_file.write_text("x")
    code, _, err = run(["--out-dir", str(a_file)], capsys)
    assert code == 2 and "is a file" in err and "Traceback" not in err
    code, _, err = run(["--out-dir", str(tmp_path / "o"), "--history", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in err


def test_hours_that_are_whole_minutes_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """4.1 h is 246 minutes, though 4.1 × 60 is not exact in binary."""
    code, out, err = run(["--hours", "4.1", "--json", "--out-dir", str(tmp_path / "o")], capsys)
    assert code == 0, err
    assert json.loads(out)["config"]["minutes"] == 246


def test_several_patients_each_wear_a_pump_with_its_own_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--patients a,b: one outcome per patient, one verified history file each."""
    code, out, err = run(["--patients", "adult#002,child#003", "--hours", "1", "--meals",
                          "fasting", "--json", "--out-dir", str(tmp_path / "o")], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert [p["patient"] for p in data["patients"]] == ["adult#002", "child#003"]
    for name in ("history-adult-002.sqlite", "history-child-003.sqlite"):
        assert main(["history", "verify", str(tmp_path / "o" / name)]) == 0
    code, _, err = run(["--patients", "adult#002,child#003", "--history",
                        str(tmp_path / "h.sqlite"), "--out-dir", str(tmp_path / "p")], capsys)
    assert code == 2 and err.startswith("pumplab: error: --history: ")

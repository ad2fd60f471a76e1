"""One error style: one line on stderr, exit 2 for usage and input, 1 for a failed check, 3
when the work could not be done, 130 on Ctrl-C; never a traceback (docs/cli.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import pytest

from pumplab.cli.main import main
from pumplab.devices.history import VerifyReport
from pumplab.errors import HistoryError, ScenarioError, SimulationError


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text("minute,bg_mg_dl\n0,100\n5,120\n")
    return path


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["nosuch"], "COMMAND: unknown command 'nosuch' (allowed: run, report, export, "
                     "patients, meals, metrics, sbom, scenarios, patient, control, history, "
                     "radio)"),
        (["scenarios", "show", "nosuch"], "NAME: unknown built-in scenario 'nosuch' (allowed: "
                                          "attack-matrix, open-loop-week, seed-508)"),
        (["scenarios", "check"], "FILE: missing (required)"),
        (["scenarios", "nosuch"], "COMMAND: unknown command 'nosuch' (allowed: show, check)"),
        (["report", "nosuch"], "nosuch: no such file or folder (allowed: a run folder holding "
                               "results.sqlite, or a results store file)"),
        (["report", "h.db"], "h.db: not a pumplab results store (an empty database)"),
        (["export", "h.db"], "--format: missing (required)"),
        (["export", "h.db", "--format", "json"], "--format: unknown value 'json' (allowed: csv, "
                                                 "parquet)"),
        (["sbom", "--json"], "--json: needs --out"),
        (["run", "--nosuch"], "--nosuch: unknown option (allowed: --patients, --patient, "),
        (["run", "--hours"], "--hours: needs a value"),
        (["run", "--json=yes"], "--json: takes no value (it is a flag)"),
        (["run", "extra"], "extra: unexpected argument"),
        (["history", "verify"], "PATH: missing (required)"),
        (["history", "export", "h.db"], "--format: missing (required)"),
        (["patient", "simulate", "--patients", "adult#001"], "--inputs: missing (required)"),
        (["run", "--mode", "insecure"], "--mode: unknown value 'insecure' (allowed: secure, "
                                        "legacy)"),
        (["run", "--hours", "1_0"], "--hours: '1_0' is not a number (allowed: 0 < x <= 336 h,"),
        (["run", "--hours", "\u0663"], "--hours: '\u0663' is not a number"),
        (["run", "--hours", " 5"], "--hours: ' 5' is not a number"),
        (["run", "--hours", "1e400"], "--hours: '1e400' is not a finite number"),
        (["run", "--seed", "1.5"], "--seed: '1.5' is not a whole number (allowed: an integer "
                                   "0..9007199254740991)"),
        (["run", "--patients", "adult#001,,adult#002"], "--patients: empty patient in "),
        (["run", "--patients", "all,adult#001"], "--patients: 'all' cannot be combined"),
        (["run", "--patients", "adult#001,adult#001"], "--patients: patient 'adult#001' given "
                                                       "twice"),
        (["run", "--patients", "adult#011"], "--patients: unknown patient 'adult#011' (allowed: "
         "adolescent#001-010, adult#001-010, child#001-010, or 'all')"),
    ],
)
def test_usage_errors_are_one_line_with_the_field_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: list[str], line: str,
) -> None:
    """Click's multi-line usage block is replaced by `pumplab: error: FIELD: problem`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "h.db").write_bytes(b"")
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"pumplab: error: {line}"), err
    assert not (tmp_path / "pumplab-out").exists()


def test_an_input_error_subclass_from_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ScenarioError (an InputError) names the file and key, exit 2."""
    bad = tmp_path / "meals.toml"
    bad.write_text('name = "x"\n[[meals]]\ntime = "25:00"\ncarbs_g = 10\n')
    code, _, err = run_cli(capsys, "run", "--meals", str(bad), "--out-dir", str(tmp_path / "o"))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"pumplab: error: {bad}") and "time" in err


def test_a_control_character_in_a_value_stays_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A newline typed into a value is escaped: the error is still one line."""
    code, _, err = run_cli(capsys, "run", "--mode", "se\ncure")
    assert code == 2 and err.count("\n") == 1 and "se\\ncure" in err


def _raise(exc: BaseException) -> Any:
    def fail(*args: object, **kwargs: object) -> NoReturn:
        raise exc

    return fail


@pytest.mark.parametrize(
    ("exc", "code", "fragment"),
    [
        (SimulationError("the model went wrong"), 3, "the model went wrong"),
        (HistoryError("cannot open: locked"), 3, "cannot open: locked"),
        (ScenarioError("bad", source="x.toml"), 2, "x.toml: bad"),
        (PermissionError(13, "Permission denied", "t.csv"), 3, "t.csv: Permission denied"),
        (RuntimeError("boom"), 3, "internal error: RuntimeError: boom (a bug; run with "
                                  "PUMPLAB_DEBUG=1 to see the traceback)"),
    ],
)
def test_errors_of_the_work_map_to_their_exit_codes(
    trace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    exc: Exception, code: int, fragment: str,
) -> None:
    """Each kind of failure inside a command: its exit code and one line, no traceback."""
    monkeypatch.delenv("PUMPLAB_DEBUG", raising=False)
    monkeypatch.setattr("pumplab.metrics.tracefile.read_trace", _raise(exc))
    got, out, err = run_cli(capsys, "metrics", str(trace))
    assert (got, out) == (code, "")
    assert err.count("\n") == 1 and err.startswith("pumplab: error: ") and fragment in err


def test_pumplab_debug_shows_the_traceback_of_an_unforeseen_error(
    trace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Developers set PUMPLAB_DEBUG=1 to let an unforeseen exception through."""
    monkeypatch.setenv("PUMPLAB_DEBUG", "1")
    monkeypatch.setattr("pumplab.metrics.tracefile.read_trace", _raise(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        main(["metrics", str(trace)])


def test_ctrl_c_prints_one_line_and_exits_130(
    trace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """KeyboardInterrupt inside a command: `pumplab: interrupted`, exit 130."""
    monkeypatch.setattr("pumplab.metrics.tracefile.read_trace", _raise(KeyboardInterrupt()))
    assert run_cli(capsys, "metrics", str(trace)) == (130, "", "pumplab: interrupted\n")


def test_a_run_whose_history_fails_verification_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed check is the only exit 1: the outcome is still printed and written."""
    report = VerifyReport(False, 2, 3, "record 3: hash mismatch (the record was altered)")
    monkeypatch.setattr("pumplab.sim.outcome.verify_file", lambda *a, **k: report)
    code, out, err = run_cli(capsys, "run", "--hours", "1", "--meals", "fasting",
                             "--out-dir", str(tmp_path / "o"))  # fmt: skip
    assert code == 1 and err == ""
    assert "FAILED at record 3: record 3: hash mismatch" in out
    assert (tmp_path / "o" / "outcome.json").exists()


def test_bare_commands_print_their_help_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`pumplab`, `pumplab history` and `pumplab patient` alone show what they offer."""
    for argv, needle in (([], "history"), (["history"], "verify"), (["patient"], "simulate")):
        code, out, err = run_cli(capsys, *argv)
        assert code == 2 and needle in out and err == ""

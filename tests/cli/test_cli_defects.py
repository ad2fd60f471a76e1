"""Regression tests of the defects issue 19 lists, found by using the CLI as a new user would.

Each test whose docstring quotes a defect fails on the argparse command line
the issue describes (checked when the fix was made) and passes now; a few
companions pin the limits of a fix (a documented kind absent from the file is
still an empty answer, not an error).  The broken-pipe defect needs a real
pipe: tests/cli/test_cli_pipes.py.  Runs are kept short (an hour of simulated
time) so the file stays quick.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pumplab.cli.main import main
from pumplab.cli.run import history_file_name
from pumplab.devices.history import SqliteHistory

HEX64 = "ab" * 32
ROOT = Path(__file__).resolve().parents[2]
INPUTS_HEADER = "minute,carbs_g,insulin_u\n"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_usage_error(code: int, err: str, field: str) -> None:
    """Exit 2 and exactly one line 'pumplab: error: FIELD: ...', no traceback."""
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"pumplab: error: {field}: "), err


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A history of three records: boot, a basal rate, a meter BG."""
    path = tmp_path / "pump.sqlite"
    records: list[tuple[str, dict[str, object]]] = [
        ("boot", {"serial": "123456", "mode": "legacy", "model": "523", "recovered": False}),
        ("basal_rate", {"rate_u_per_h": 0.8, "source": "schedule", "pattern": "standard"}),
        ("meter_bg", {"bg_mg_dl": 140, "meter": "contour"}),
    ]
    with SqliteHistory(path, device_serial="123456") as store:
        for i, (kind, data) in enumerate(records):
            store.append(kind, data, device_time_ms=i * 1000,  # type: ignore[arg-type]
                         clock_ms=1_704_096_000_000 + i * 1000)  # fmt: skip
    return path


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# -- tracebacks on NaN, infinity and huge sequence numbers -------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "infinity"])
def test_run_hours_nan_or_infinite_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """`pumplab run --hours nan|inf` printed a traceback; now one line with the range."""
    code, _, err = run_cli(capsys, "run", "--hours", value, "--out-dir", str(tmp_path / "o"))
    assert_one_usage_error(code, err, "--hours")
    assert "not a finite number" in err and "(allowed: 0 < x <= 336 h)" in err
    assert not (tmp_path / "o").exists()


def test_expect_head_with_a_huge_sequence_number_is_one_line(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`history verify --expect-head 99999999999999999999:<hex>` printed a traceback."""
    code, out, err = run_cli(capsys, "history", "verify", str(history),
                             "--expect-head", f"99999999999999999999:{HEX64}")  # fmt: skip
    assert_one_usage_error(code, err, "--expect-head")
    assert "1..9007199254740991" in err and out == ""


def test_show_since_a_huge_sequence_number_is_one_line(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`history show --since 99999999999999999999` printed a traceback."""
    code, out, err = run_cli(capsys, "history", "show", str(history),
                             "--since", "99999999999999999999")  # fmt: skip
    assert_one_usage_error(code, err, "--since")
    assert "(allowed: an integer 0..9007199254740991)" in err and out == ""


# -- the output folder of a run ----------------------------------------------------------


def test_run_into_a_folder_another_run_used_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run --out-dir D --patient child#001` into adult#001's folder overwrote its files."""
    folder = tmp_path / "d"
    code, _, err = run_cli(capsys, "run", "--hours", "1", "--out-dir", str(folder))
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix != ".sqlite"}
    code, out, err = run_cli(capsys, "run", "--hours", "1", "--out-dir", str(folder),
                             "--patient", "child#001")  # fmt: skip
    assert_one_usage_error(code, err, "--out-dir")
    assert "trace.csv" in err and "outcome.json" in err and out == ""
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix != ".sqlite"}
    assert after == before
    assert not (folder / "history-child-001.sqlite").exists()


def test_run_prints_the_full_head_that_verify_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` printed a shortened head (`2421:6192bca2ff65d8d6...`) that --expect-head refused."""
    code, out, err = run_cli(capsys, "run", "--hours", "1", "--out-dir", str(tmp_path / "o"))
    assert code == 0, err
    found = re.search(r"head (\d+:[0-9a-f]{64})\b", out)
    assert found is not None, out
    history = tmp_path / "o" / "history-adult-001.sqlite"
    code, out, err = run_cli(capsys, "history", "verify", str(history),
                             "--expect-head", found.group(1))  # fmt: skip
    assert code == 0, err
    assert out.startswith("ok: ") and found.group(1) in out


# -- history show ------------------------------------------------------------------------


def test_show_with_an_unknown_kind_is_an_error_listing_the_kinds(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`history show H --kind nosuch` printed an empty table and exited 0."""
    code, out, err = run_cli(capsys, "history", "show", str(history), "--kind", "nosuch")
    assert_one_usage_error(code, err, "--kind")
    assert "unknown record kind 'nosuch'" in err
    assert "boot" in err and "bolus_start" in err and out == ""


def test_show_with_a_documented_kind_absent_from_the_file_is_empty_not_an_error(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real kind the file happens not to hold is a valid question: empty answer, exit 0."""
    code, out, err = run_cli(capsys, "history", "show", str(history), "--kind", "bolus_start",
                             "--json")  # fmt: skip
    assert (code, out, err) == (0, "", "")


def test_show_accepts_a_kind_found_in_the_file_though_not_documented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store takes any well-formed kind; a kind present in the file can be shown."""
    path = tmp_path / "h.sqlite"
    with SqliteHistory(path) as store:
        store.append("vendor_note", {"x": 1}, device_time_ms=0, clock_ms=0)
    code, out, err = run_cli(capsys, "history", "show", str(path), "--kind", "vendor_note",
                             "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["kind"] == "vendor_note"


def test_show_and_verify_of_a_directory_say_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`history show DIRECTORY` said "disk I/O error" where verify said "is a directory"."""
    messages = []
    for action in ("show", "verify"):
        code, _, err = run_cli(capsys, "history", action, str(tmp_path))
        assert_one_usage_error(code, err, "PATH")
        messages.append(err)
    assert messages[0] == messages[1] == f"pumplab: error: PATH: file '{tmp_path}' is a directory\n"


# -- patient simulate --------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value"), [("--cgm-model", "enlite"), ("--sensor-age", "0")])
def test_cgm_options_without_cgm_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    """`--cgm-model` and `--sensor-age` without `--cgm` were silently ignored."""
    inputs = tmp_path / "in.csv"
    inputs.write_text(INPUTS_HEADER + "0,0,0\n")
    code, out, err = run_cli(capsys, "patient", "simulate", "--patient", "adult#001",
                             "--inputs", str(inputs), option, value)  # fmt: skip
    assert_one_usage_error(code, err, option)
    assert "--cgm" in err and out == ""


def test_meals_after_the_end_of_the_inputs_are_named_in_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--meals SCENARIO` with inputs ending before the meals dropped them without a word."""
    inputs = tmp_path / "in.csv"
    inputs.write_text(INPUTS_HEADER + "0,,0\n599,0,0\n")  # ten hours: breakfast only
    code, _, err = run_cli(capsys, "patient", "simulate", "--patient", "adult#001",
                           "--inputs", str(inputs), "--meals", "standard-day",
                           "--json")  # fmt: skip
    assert code == 0
    assert err.count("\n") == 1 and err.startswith("pumplab: warning: --meals standard-day: ")
    assert "lunch at 12:00 (70 g)" in err and "dinner at 18:00 (80 g)" in err
    assert "breakfast" not in err


def test_a_run_long_enough_for_every_meal_warns_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The warning is about meals dropped, not about every short run."""
    inputs = tmp_path / "in.csv"
    inputs.write_text(INPUTS_HEADER + "0,,0\n1439,0,0\n")
    code, _, err = run_cli(capsys, "patient", "simulate", "--patient", "adult#001",
                           "--inputs", str(inputs), "--meals", "standard-day",
                           "--json")  # fmt: skip
    assert (code, err) == (0, "")


# -- one error style for values out of range ---------------------------------------------


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["patient", "simulate", "--population", "0"], "--population"),
        (["patient", "simulate", "--population", "1000001"], "--population"),
        (["patient", "simulate", "--minutes", "0"], "--minutes"),
        (["patient", "simulate", "--minutes", "527041"], "--minutes"),
        (["metrics", "TRACE", "--interval", "0"], "--interval"),
        (["metrics", "TRACE", "--interval", "1441"], "--interval"),
        (["history", "show", "HISTORY", "--limit", "-1"], "--limit"),
        (["history", "show", "HISTORY", "--limit", "99999999999999999999"], "--limit"),
        (["run", "--seed", "-1"], "--seed"),
        (["run", "--seed", "99999999999999999999"], "--seed"),
    ],
)
def test_too_small_and_too_large_values_get_the_same_one_line_error(
    tmp_path: Path, history: Path, capsys: pytest.CaptureFixture[str],
    argv: list[str], field: str,
) -> None:
    """Too-small values got argparse's multi-line usage (exit 2), too-large ones one line
    (exit 1): now both get one line and exit 2."""
    inputs = tmp_path / "in.csv"
    inputs.write_text(INPUTS_HEADER + "0,0,0\n")
    trace = tmp_path / "t.csv"
    trace.write_text("minute,bg_mg_dl\n0,100\n")
    argv = [{"TRACE": str(trace), "HISTORY": str(history)}.get(a, a) for a in argv]
    if argv[0] == "patient":
        argv += ["--inputs", str(inputs)]
    code, out, err = run_cli(capsys, *argv)
    assert_one_usage_error(code, err, field)
    assert "(allowed: " in err and out == ""


# -- file modes --------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_file_a_command_writes_gets_the_same_mode(
    tmp_path: Path, history: Path, capsys: pytest.CaptureFixture[str], umask_022: None
) -> None:
    """trace.csv and --out files were 0600, the JSON files 0644: now all get 0666 minus umask."""
    folder = tmp_path / "run"
    assert run_cli(capsys, "run", "--hours", "1", "--out-dir", str(folder))[0] == 0
    inputs = tmp_path / "in.csv"
    inputs.write_text(INPUTS_HEADER + "0,0,0\n")
    trace = tmp_path / "trace.csv"
    assert run_cli(capsys, "patient", "simulate", "--patient", "adult#001",
                   "--inputs", str(inputs), "--out", str(trace))[0] == 0  # fmt: skip
    export = tmp_path / "ns.json"
    assert run_cli(capsys, "history", "export", str(history), "--format", "nightscout",
                   "--out", str(export))[0] == 0  # fmt: skip
    history_name = history_file_name("adult#001")  # the name the run's checks predict
    written = [folder / n for n in ("trace.csv", "events.json", "outcome.json",
                                    history_name)] + [trace, export]  # fmt: skip
    assert {p.name: oct(_mode(p)) for p in written} == {p.name: "0o644" for p in written}


def test_a_private_umask_makes_every_output_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The mode follows the umask, so `umask 077` keeps health data private."""
    old = os.umask(0o077)
    try:
        inputs = tmp_path / "in.csv"
        inputs.write_text(INPUTS_HEADER + "0,0,0\n")
        trace = tmp_path / "trace.csv"
        assert run_cli(capsys, "patient", "simulate", "--patient", "adult#001",
                       "--inputs", str(inputs), "--out", str(trace))[0] == 0  # fmt: skip
    finally:
        os.umask(old)
    assert _mode(trace) == 0o600


# -- seeds -------------------------------------------------------------------------------


def test_patient_simulate_and_run_share_the_default_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--seed` defaulted to 1 for `run` but 0 for `patient simulate`; now both 1."""
    inputs = tmp_path / "in.csv"
    inputs.write_text(INPUTS_HEADER + "0,0,0\n29,0,0\n")
    args = ["patient", "simulate", "--population", "3", "--inputs", str(inputs), "--json"]
    default = run_cli(capsys, *args)[1]
    assert default == run_cli(capsys, *args, "--seed", "1")[1]
    assert default != run_cli(capsys, *args, "--seed", "0")[1]
    code, out, _ = run_cli(capsys, "run", "--hours", "1", "--json",
                           "--out-dir", str(tmp_path / "o"))  # fmt: skip
    assert code == 0 and json.loads(out)["config"]["seed"] == 1


# -- documentation -----------------------------------------------------------------------


def test_simulation_doc_quotes_no_unmeasured_run_time() -> None:
    """docs/simulation.md said a 24 h run takes 3-4 s; a user measured 10-12 s.

    Docs quote only what a benchmark measures: the page states no duration in
    seconds, and its "Measured" section names a script in benchmarks/ that exists.
    """
    text = (ROOT / "docs" / "simulation.md").read_text(encoding="utf-8")
    seconds = re.findall(r"\b\d+(?:[.,]\d+)?(?:\s*[–-]\s*\d+(?:[.,]\d+)?)?\s*(?:s|sec|seconds)\b",
                         text)  # fmt: skip
    assert seconds == []
    measured = text.split("## Measured", 1)[1].split("\n## ", 1)[0]
    scripts = re.findall(r"benchmarks/(\w+\.py)", measured)
    assert scripts and all((ROOT / "benchmarks" / s).exists() for s in scripts)


def test_damaged_history_in_show_is_a_failed_check_not_a_usage_error(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record that cannot be decoded is what verification reports: exit 1, one line."""
    conn = sqlite3.connect(history)
    conn.execute("UPDATE records SET data = 'garbage' WHERE seq = 2")
    conn.commit()
    conn.close()
    code, _, err = run_cli(capsys, "history", "show", str(history))
    assert code == 1 and err.count("\n") == 1 and "record 2" in err

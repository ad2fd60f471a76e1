"""`pumplab scenarios`, `report` and `export`: the lab from the command line (docs/cli.md).

The store these commands read is written in the test by the lab's own runner
(a short seed-508 run: one patient, a quarter of an hour, the stand-in body),
so the commands are checked against what the library returns for the same
store.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pumplab.cli._common import default_file_mode, error_lines
from pumplab.cli._lab import STORE_NAME
from pumplab.cli.export import TABLES
from pumplab.cli.main import main
from pumplab.errors import InputError
from pumplab.report import render_report
from pumplab.sim.runner import run_scenario
from pumplab.sim.scenario import (
    ScenarioProblems,
    apply_overrides,
    arms_for,
    builtin_scenario_toml,
    builtin_scenarios,
    load_scenario,
    scenario_hash,
)
from pumplab.sim.store import DEFAULT_STORE_NAME, EXPORT_TABLES, PROVENANCE_COLUMNS, ResultsStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_error(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("pumplab: error: "), err
    return err[len("pumplab: error: "):-1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder holding the store of a short seed-508 run, with traces (3 tasks)."""
    folder = tmp_path_factory.mktemp("run")
    scenario = apply_overrides(load_scenario("seed-508"), hours=0.25)
    with ResultsStore(folder / DEFAULT_STORE_NAME) as store:
        run_scenario(scenario, store=store, store_traces=True, out_dir=folder)
    return folder


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store shared by two runs: seed-508 with traces, open-loop-week without."""
    path = tmp_path_factory.mktemp("shared") / "shared.sqlite"
    with ResultsStore(path) as store:
        run_scenario(apply_overrides(load_scenario("seed-508"), hours=0.25), store=store,
                     store_traces=True)
        run_scenario(apply_overrides(load_scenario("open-loop-week"), hours=0.25), store=store)
    return path


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


# ==========================================================================
# pumplab scenarios


def test_scenarios_lists_every_built_in_with_its_arms_and_tasks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The JSON listing holds the library's built-ins with their arms, tasks and hash."""
    code, out, err = run_cli(capsys, "scenarios", "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert list(document) == ["schema", "scenarios"]
    assert document["schema"] == "pumplab.scenarios/1"
    records = {r["name"]: r for r in document["scenarios"]}
    assert list(records) == [b.name for b in builtin_scenarios()]
    assert {"seed-508", "attack-matrix", "open-loop-week"} <= set(records)
    for name, record in records.items():
        scenario = load_scenario(name)
        arms = [a.name for a in arms_for(scenario)]
        assert record["arms"] == arms
        assert record["tasks"] == len(arms) * record["patient_count"] * len(record["seeds"])
        assert record["scenario_hash"] == scenario_hash(scenario)
        assert record["description"] == scenario.description
    seed = records["seed-508"]
    assert seed["arms"] == ["legacy", "secure", "no_attacker"]
    assert (seed["patients"], seed["patient_count"], seed["hours"]) == (["adult#001"], 1, 24.0)
    assert seed["attackers"] == [{"name": "neighbour", "kind": "forged_bolus"}]
    assert records["attack-matrix"]["matrix"] is True


def test_scenarios_table_has_one_row_per_built_in(capsys: pytest.CaptureFixture[str]) -> None:
    """A title, a header, then one row per scenario starting with its name."""
    code, out, _ = run_cli(capsys, "scenarios")
    lines = out.splitlines()
    assert code == 0
    assert lines[1].split()[:4] == ["scenario", "arms", "patients", "hours"]
    assert [line.split()[0] for line in lines[2:]] == [b.name for b in builtin_scenarios()]
    row = next(line for line in lines if line.startswith("seed-508"))
    assert "legacy, secure, no_attacker" in row and "adult#001" in row


@pytest.mark.parametrize("name", ["seed-508", "attack-matrix", "open-loop-week"])
def test_scenarios_show_prints_toml_that_loads_back(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`show NAME` prints exactly builtin_scenario_toml, which loads back to the same scenario."""
    code, out, err = run_cli(capsys, "scenarios", "show", name)
    assert (code, err) == (0, "")
    assert out == builtin_scenario_toml(name)
    copy = tmp_path / "copy.toml"
    copy.write_text(out, encoding="utf-8")
    assert load_scenario(copy) == load_scenario(name)
    assert scenario_hash(load_scenario(copy)) == scenario_hash(load_scenario(name))


def test_an_unknown_built_in_scenario_lists_the_available_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One line naming NAME and every built-in; exit 2."""
    code, out, err = run_cli(capsys, "scenarios", "show", "seed-509")
    names = ", ".join(b.name for b in builtin_scenarios())
    assert (code, out) == (2, "")
    assert _one_error(err) == f"NAME: unknown built-in scenario 'seed-509' (allowed: {names})"


def test_json_before_a_subcommand_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """`scenarios --json show X` would silently ignore --json: it is an error instead."""
    code, out, err = run_cli(capsys, "scenarios", "--json", "show", "seed-508")
    assert (code, out) == (2, "")
    assert _one_error(err).startswith("--json: belongs after the subcommand")


# ==========================================================================
# pumplab scenarios check

BROKEN = """\
name = "Bad Name"
hours = 2.01
link = "wifi"
patients = ["adult#001", "adult#099"]

[pump]
mode = "sideways"

[[attackers]]
name = "n"
kind = "forged_bolus"
params = { repet = 2 }
"""

BROKEN_PATHS = ["attackers[0].params.repet", "hours", "link", "name", "patients[1]",
                "pump.mode"]


def test_check_lists_every_problem_of_a_file_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Six problems, six lines `pumplab: error: FILE: KEY.PATH: problem (allowed: ...)`, exit 2."""
    broken = tmp_path / "broken.toml"
    broken.write_text(BROKEN)
    code, out, err = run_cli(capsys, "scenarios", "check", str(broken))
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == len(BROKEN_PATHS)
    prefix = f"pumplab: error: {broken}: "
    assert all(line.startswith(prefix) for line in lines)
    assert [line[len(prefix):].split(": ", 1)[0] for line in lines] == BROKEN_PATHS
    assert f"{prefix}link: 'wifi' is not allowed (allowed: 'memory' or 'radio')" in lines
    assert (f"{prefix}attackers[0].params.repet: unknown key (allowed: bolus_u, repeat)"
            in lines)


def test_check_json_holds_the_problems_the_library_finds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """pumplab.scenario-check/1: ok false and every problem with path, message, allowed."""
    broken = tmp_path / "broken.toml"
    broken.write_text(BROKEN)
    code, out, err = run_cli(capsys, "scenarios", "check", str(broken), "--json")
    assert (code, err) == (2, "")
    document = json.loads(out)
    with pytest.raises(ScenarioProblems) as caught:
        load_scenario(broken)
    assert document["schema"] == "pumplab.scenario-check/1"
    assert (document["file"], document["ok"], document["scenario"]) == (str(broken), False, None)
    assert document["problems"] == [
        {"path": p.path, "message": p.message, "allowed": p.allowed}
        for p in caught.value.problems]


def test_check_a_valid_file_says_what_it_would_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A copy of seed-508: ok, its arms, tasks, hash, and what the stand-in leaves out."""
    mine = tmp_path / "mine.toml"
    mine.write_text(builtin_scenario_toml("seed-508"), encoding="utf-8")
    code, out, err = run_cli(capsys, "scenarios", "check", str(mine))
    assert (code, err) == (0, "")
    assert out.startswith(f"ok: {mine} is a valid scenario 'seed-508'\n")
    assert "arms: legacy, secure, no_attacker" in out and ": 3 tasks" in out
    assert f"scenario hash {scenario_hash(load_scenario('seed-508'))}" in out
    assert "not simulated by today's task body" in out and "attackers: neighbour" in out
    code, out, _ = run_cli(capsys, "scenarios", "check", str(mine), "--json")
    document = json.loads(out)
    assert code == 0 and document["ok"] is True and document["problems"] == []
    assert document["scenario"]["scenario_hash"] == scenario_hash(load_scenario("seed-508"))
    assert "attackers: neighbour" in document["not_simulated"]


def test_check_reads_a_file_named_like_a_built_in_as_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """A file called `seed-508` is checked, not the built-in of that name."""
    monkeypatch.chdir(tmp_path)
    Path("seed-508").write_text('hours = 0\n')
    code, _, err = run_cli(capsys, "scenarios", "check", "seed-508")
    assert code == 2 and _one_error(err).startswith("seed-508: hours: ")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"x = [", "not valid TOML"),
        (b"name = \"\xff\"", "not UTF-8 text"),
    ],
)
def test_check_a_file_that_is_not_a_scenario_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, fragment: str,
) -> None:
    """Not TOML, not UTF-8: one line naming the file, exit 2."""
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    code, out, err = run_cli(capsys, "scenarios", "check", str(path))
    assert (code, out) == (2, "")
    line = _one_error(err)
    assert line.startswith(f"{path}: ") and fragment in line


def test_check_a_missing_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The argument's own error, as for every file argument."""
    code, _, err = run_cli(capsys, "scenarios", "check", "no-such.toml")
    assert code == 2 and _one_error(err) == "FILE: file 'no-such.toml' does not exist"


def test_problems_in_options_name_the_option_without_a_file() -> None:
    """error_lines, reused by `pumplab run FILE`: problems of command-line overrides."""
    with pytest.raises(ScenarioProblems) as caught:
        apply_overrides(load_scenario("seed-508"), hours=0.001, link="wifi")
    lines = error_lines(caught.value)
    assert lines == [
        "pumplab: error: --hours (hours): 0.001 h is not a whole number of minutes "
        "(allowed: hours that make whole minutes, up to 336 (14 days))",
        "pumplab: error: --link (link): 'wifi' is not allowed (allowed: 'memory' or 'radio')",
    ]
    assert error_lines(InputError("bad", source="x")) == ["pumplab: error: x: bad"]


# ==========================================================================
# pumplab report


def test_report_writes_report_html_beside_the_store(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """RUN_DIR: report.html beside the store, the library's page byte for byte, mode 0666-umask."""
    folder = tmp_path / "run"
    folder.mkdir()
    store = _copy(run_dir / STORE_NAME, folder / STORE_NAME)
    code, out, err = run_cli(capsys, "report", str(folder))
    assert (code, err) == (0, "")
    report = folder / "report.html"
    assert out == f"wrote {report}\n"
    with ResultsStore(store, create=False) as opened:
        expected = render_report(opened.load_run())
    assert report.read_text(encoding="utf-8") == expected
    assert report.stat().st_mode & 0o777 == default_file_mode()
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", STORE_NAME]


def test_report_never_replaces_the_default_report(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """An existing report.html beside the store is refused (naming --out), and left alone."""
    store = _copy(run_dir / STORE_NAME, tmp_path / "results.sqlite")
    (tmp_path / "report.html").write_text("mine")
    code, out, err = run_cli(capsys, "report", str(store))
    assert (code, out) == (2, "")
    assert _one_error(err) == (f"{tmp_path / 'report.html'}: already exists; refusing to "
                               "overwrite it (allowed: --out FILE, which writes elsewhere or "
                               "replaces FILE)")
    assert (tmp_path / "report.html").read_text() == "mine"


def test_report_out_replaces_its_file_and_png_writes_every_figure(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """--out FILE is replaced; --png DIR gets one PNG per figure (one timeline per arm)."""
    out_file = tmp_path / "page.html"
    out_file.write_text("old")
    figs = tmp_path / "figs"
    code, out, err = run_cli(capsys, "report", str(run_dir), "--out", str(out_file),
                             "--png", str(figs))
    assert (code, err) == (0, "")
    pngs = sorted(figs.iterdir())
    assert [p.name for p in pngs] == [f"timeline-{arm}-adult-001-seed1.png"
                                      for arm in ("legacy", "no_attacker", "secure")]
    assert out.splitlines() == [f"wrote {out_file}", *(f"wrote {p}" for p in sorted(
        pngs, key=lambda p: p.name))]
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in pngs)
    assert all(p.stat().st_mode & 0o777 == default_file_mode() for p in pngs)
    assert out_file.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not (run_dir / "report.html").exists()


def test_report_never_replaces_a_png_and_then_writes_nothing(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A --png folder holding one of the figures' names: refused, no file written or changed."""
    figs = tmp_path / "figs"
    figs.mkdir()
    (figs / "timeline-secure-adult-001-seed1.png").write_bytes(b"mine")
    out_file = tmp_path / "page.html"
    code, out, err = run_cli(capsys, "report", str(run_dir), "--out", str(out_file),
                             "--png", str(figs))
    assert (code, out) == (2, "")
    line = _one_error(err)
    assert line.startswith("--png: ") and "timeline-secure-adult-001-seed1.png" in line
    assert [p.name for p in figs.iterdir()] == ["timeline-secure-adult-001-seed1.png"]
    assert (figs / "timeline-secure-adult-001-seed1.png").read_bytes() == b"mine"
    assert not out_file.exists()


def test_report_of_a_store_holding_several_runs_needs_run(
    two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Without --run: one line naming --run and listing the runs; --run HASH picks one."""
    code, _, err = run_cli(capsys, "report", str(two_runs), "--out", str(tmp_path / "r.html"))
    line = _one_error(err)
    assert code == 2 and line.startswith(f"--run: {two_runs} holds 2 runs: name one")
    assert "seed-508 " in line and "open-loop-week " in line
    with ResultsStore(two_runs, create=False) as store:
        runs = {r.scenario: r for r in store.runs()}
        wanted = store.load_run(runs["seed-508"].scenario_hash)
    prefix = runs["seed-508"].scenario_hash.removeprefix("sha256:")[:10]
    code, _, err = run_cli(capsys, "report", str(two_runs), "--run", prefix,
                           "--out", str(tmp_path / "r.html"))
    assert (code, err) == (0, "")
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == render_report(wanted)
    code, _, err = run_cli(capsys, "report", str(two_runs), "--run", "ffffffffff",
                           "--out", str(tmp_path / "x.html"))
    assert code == 2 and _one_error(err).startswith(f"--run: no run of {two_runs} matches")


def test_report_png_of_a_run_without_traces_warns(
    two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """No traces, no timelines: a warning says so, and the page still has every table."""
    with ResultsStore(two_runs, create=False) as store:
        week = next(r for r in store.runs() if r.scenario == "open-loop-week")
    code, out, err = run_cli(capsys, "report", str(two_runs), "--run", week.scenario_hash,
                             "--out", str(tmp_path / "w.html"), "--png", str(tmp_path / "f"))
    assert code == 0 and out == f"wrote {tmp_path / 'w.html'}\n"
    assert err.startswith("pumplab: warning: --png: the store holds no traces")
    assert list((tmp_path / "f").iterdir()) == []
    assert 'id="metrics-arms"' in (tmp_path / "w.html").read_text(encoding="utf-8")


def test_report_of_an_interrupted_run_warns_it_is_incomplete(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A store missing a task, as an interrupted run leaves it: a report, and a warning."""
    store = _copy(run_dir / STORE_NAME, tmp_path / STORE_NAME)
    db = sqlite3.connect(store)
    db.execute("DELETE FROM results WHERE arm = 'no_attacker'")
    db.commit()
    db.close()
    code, out, err = run_cli(capsys, "report", str(tmp_path))
    assert code == 0 and out == f"wrote {tmp_path / 'report.html'}\n"
    assert err == (f"pumplab: warning: {store}: the run is incomplete (interrupted?): the "
                   "report covers the 2 tasks that finished\n")


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "nowhere", "nowhere: no such file or folder (allowed: a run folder "
                                  "holding results.sqlite, or a results store file)"),
        (lambda d: d, "this folder holds no results store (results.sqlite)"),
        (lambda d: _write(d / "notes.txt", b"not a database at all, just words " * 10),
         "notes.txt: not a pumplab results store (file is not a database)"),
        (lambda d: _write(d / "empty.sqlite", b""),
         "empty.sqlite: not a pumplab results store (an empty database)"),
    ],
)
@pytest.mark.parametrize("command", [["report"], ["export", "--format", "csv"]])
def test_a_path_that_is_not_a_store_is_one_line_and_left_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str],
    make: object, fragment: str,
) -> None:
    """Missing path, folder without a store, a text file, an empty file: exit 2, nothing written."""
    given = make(tmp_path)  # type: ignore[operator]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, out, err = run_cli(capsys, command[0], str(given), *command[1:])
    assert (code, out) == (2, "")
    assert fragment in _one_error(err)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_another_sqlite_database_is_refused_without_being_modified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A foreign SQLite file keeps its bytes and its journal mode (never switched to WAL)."""
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE things (x INTEGER)")
    db.commit()
    db.close()
    before = other.read_bytes()
    code, _, err = run_cli(capsys, "report", str(other))
    assert code == 2 and "not a pumplab results store (no meta table)" in _one_error(err)
    assert other.read_bytes() == before
    assert sqlite3.connect(other).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_report_out_may_not_name_the_store(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`--out` naming the store would replace the results with HTML: refused."""
    store = _copy(run_dir / STORE_NAME, tmp_path / STORE_NAME)
    before = store.read_bytes()
    code, _, err = run_cli(capsys, "report", str(store), "--out", str(store))
    assert code == 2 and _one_error(err).startswith("--out: names the results store itself")
    assert store.read_bytes() == before


# ==========================================================================
# pumplab export


def test_export_csv_writes_every_table_beside_the_store(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Default --out-dir: the store's folder; each file listed; provenance on every row."""
    folder = tmp_path / "run"
    folder.mkdir()
    _copy(run_dir / STORE_NAME, folder / STORE_NAME)
    code, out, err = run_cli(capsys, "export", str(folder), "--format", "csv")
    assert (code, err) == (0, "")
    files = [folder / f"{t}.csv" for t in TABLES]
    assert out.splitlines() == [f"wrote {f}" for f in files]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [STORE_NAME, *(f.name for f in files)])
    with (folder / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["arm"] for r in rows) == ["legacy", "no_attacker", "secure"]
    assert set(PROVENANCE_COLUMNS) <= set(rows[0])
    with (folder / "traces.csv").open(newline="") as handle:
        assert sum(1 for _ in handle) == 1 + 3 * 16  # header, 3 tasks × minutes 0..15
    assert all(f.stat().st_mode & 0o777 == default_file_mode() for f in files)


def test_export_parquet_holds_the_same_rows_as_csv(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """--format parquet --out-dir DIR (created): the results table reads back with pyarrow."""
    assert run_cli(capsys, "export", str(run_dir / STORE_NAME), "--format", "parquet",
                   "--out-dir", str(tmp_path / "pq"))[0] == 0
    assert run_cli(capsys, "export", str(run_dir), "--format", "csv",
                   "--out-dir", str(tmp_path / "csv"))[0] == 0
    table = pq.read_table(tmp_path / "pq" / "results.parquet").to_pylist()
    with (tmp_path / "csv" / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["arm"], r["patient"], r["seed"]) for r in table] == [
        (r["arm"], r["patient"], int(r["seed"])) for r in rows]
    assert [r["min_bg_mg_dl"] for r in table] == [float(r["min_bg_mg_dl"]) for r in rows]


def test_export_never_replaces_a_file(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A folder holding one of the tables: refused before any work, nothing changed."""
    (tmp_path / "events.csv").write_text("mine")
    code, out, err = run_cli(capsys, "export", str(run_dir), "--format", "csv",
                             "--out-dir", str(tmp_path))
    assert (code, out) == (2, "")
    assert _one_error(err).startswith(f"--out-dir: {tmp_path} already holds events.csv;")
    assert [p.name for p in tmp_path.iterdir()] == ["events.csv"]
    assert (tmp_path / "events.csv").read_text() == "mine"


def test_parquet_without_pyarrow_names_the_extra_and_writes_nothing(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One line naming --format and `pip install 'pumplab[parquet]'`; no folder created."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    code, out, err = run_cli(capsys, "export", str(run_dir), "--format", "parquet",
                             "--out-dir", str(tmp_path / "new"))
    assert (code, out) == (2, "")
    assert _one_error(err) == ("--format: Parquet export needs pyarrow, which is not installed "
                               "(allowed: csv, or install pyarrow: pip install "
                               "'pumplab[parquet]')")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (["--format", "xml"], "--format: unknown value 'xml' (allowed: csv, parquet)"),
        ([], "--format: missing (required)"),
    ],
)
def test_export_format_is_required_and_checked(
    run_dir: Path, capsys: pytest.CaptureFixture[str], extra: list[str], line: str,
) -> None:
    """--format is csv or parquet, and must be given."""
    code, _, err = run_cli(capsys, "export", str(run_dir), *extra)
    assert code == 2 and _one_error(err) == line


# ==========================================================================
# help and constants


def test_the_cli_constants_are_the_labs() -> None:
    """The names repeated so that --help imports no lab are the library's."""
    assert STORE_NAME == DEFAULT_STORE_NAME
    assert TABLES == EXPORT_TABLES


def test_scenarios_help_says_it_writes_no_file(capsys: pytest.CaptureFixture[str]) -> None:
    """The group runs alone (the listing), so its own help states what it writes."""
    assert main(["scenarios", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Writes no file." in out and "--json" in out


def test_report_help_names_the_files_it_writes(capsys: pytest.CaptureFixture[str]) -> None:
    """report.html beside the store, --out, --png; never modifies the store."""
    assert main(["report", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "report.html" in out and "--png" in out and "never modified" in out


def test_no_file_is_left_behind_by_a_failed_report(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A failure while writing the page removes the PNGs already placed and the new folder."""
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pumplab.cli.report.write_atomically", fail)
    code, _, err = run_cli(capsys, "report", str(run_dir), "--out", str(tmp_path / "r.html"),
                           "--png", str(tmp_path / "figs"))
    assert code == 3 and "No space left on device" in err
    assert sorted(os.listdir(tmp_path)) == []


def _doc_section(schema: str) -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    start = text.index(f"### `{schema}`")
    end = text.index("\n### ", start + 1)
    return text[start:end]


def test_docs_name_every_key_of_the_lab_schemas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/cli.md names each key `scenarios --json` and `scenarios check --json` print."""
    listing = json.loads(run_cli(capsys, "scenarios", "--json")[1])
    section = _doc_section("pumplab.scenarios/1")
    for key in listing["scenarios"][0]:
        assert f"`{key}`" in section, key
    mine = tmp_path / "mine.toml"
    mine.write_text('name = "mine"\n')
    check = json.loads(run_cli(capsys, "scenarios", "check", str(mine), "--json")[1])
    section = _doc_section("pumplab.scenario-check/1")
    for key in [k for k in check if k != "schema"]:
        assert f"`{key}`" in section, key

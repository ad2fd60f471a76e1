"""The results store: provenance on every row, read back into the result model, export."""

from __future__ import annotations

import csv
import sqlite3
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from labkit import short_seed_508

from pumplab.errors import InputError
from pumplab.sim.results import run_json
from pumplab.sim.runner import ProgressEvent, execute, plan_tasks, run_scenario
from pumplab.sim.scenario import scenario_hash
from pumplab.sim.store import (
    EXPORT_TABLES,
    PROVENANCE_COLUMNS,
    ResultsStore,
    export_store,
)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A short seed-508 run written to a store with traces."""
    path = tmp_path_factory.mktemp("store") / "results.sqlite"
    with ResultsStore(path) as store:
        run = run_scenario(short_seed_508(hours=0.5), store=store, store_traces=True)
    return path, run


def test_a_run_reads_back_equal_to_what_ran(stored: tuple[Path, object]) -> None:
    """load_run gives the same RunResult (traces included) and the same pumplab.run/1 JSON."""
    path, run = stored
    with ResultsStore(path) as store:
        loaded = store.load_run()
    assert loaded == run
    assert run_json(loaded) == run_json(run)  # type: ignore[arg-type]


def test_without_traces_the_store_keeps_metrics_and_provenance(tmp_path: Path) -> None:
    """Traces are written only when asked; the numbers always are."""
    with ResultsStore(tmp_path / "r.sqlite") as store:
        run = run_scenario(short_seed_508(hours=0.25), store=store)
        loaded = store.load_run()
    assert all(r.traces is None for r in loaded.results)
    assert run_json(loaded) == run_json(run)


def test_every_row_carries_provenance(stored: tuple[Path, object]) -> None:
    """results and traces rows hold version, commit, seed, scenario hash, arm, patient, start."""
    path, run = stored
    db = sqlite3.connect(path)
    for table in ("results", "traces"):
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        assert set(PROVENANCE_COLUMNS) <= set(columns)
        rows = db.execute(f"SELECT {', '.join(PROVENANCE_COLUMNS)} FROM {table}").fetchall()
        assert len(rows) == 3
        for version, _commit, seed, digest, arm, patient, start in rows:
            assert version == "0.1.0" and seed == 1 and patient == "adult#001"
            assert digest == run.provenance.scenario_hash  # type: ignore[attr-defined]
            assert arm in ("legacy", "secure", "no_attacker")
            assert start == "2026-01-05T00:00:00+00:00"
    db.close()


def test_resume_loads_finished_tasks_instead_of_running_them(
        stored: tuple[Path, object]) -> None:
    """A complete run resumed runs nothing and returns the same results."""
    path, run = stored
    events: list[ProgressEvent] = []
    tasks = plan_tasks(short_seed_508(hours=0.5))
    with ResultsStore(path) as store:
        again = execute(tasks, store=store, resume=True, store_traces=True,
                        progress=events.append)
    assert [(e.done, e.skipped) for e in events] == [(3, 3)]
    assert again == run.results  # type: ignore[attr-defined]


def test_resume_with_traces_reruns_tasks_stored_without_them(tmp_path: Path) -> None:
    """Asking for traces on resume re-runs the tasks whose traces were not kept."""
    tasks = plan_tasks(short_seed_508(hours=0.25))
    with ResultsStore(tmp_path / "r.sqlite") as store:
        execute(tasks, store=store)
        events: list[ProgressEvent] = []
        execute(tasks, store=store, resume=True, store_traces=True, progress=events.append)
    assert events[0].skipped == 0 and events[-1].done == 3


def test_a_store_holds_several_runs_and_names_them(tmp_path: Path) -> None:
    """With two runs, load_run needs the scenario hash (a prefix will do)."""
    a, b = short_seed_508(hours=0.25), short_seed_508(hours=0.25, seed=2)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        run_scenario(a, store=store)
        run_scenario(b, store=store)
        assert len(store.runs()) == 2
        with pytest.raises(InputError, match="several runs"):
            store.load_run()
        assert store.load_run(scenario_hash(b)[:20]).provenance.seed == 2


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    """Garbage, a foreign SQLite file, a folder: one clear error each."""
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputError, match="not a pumplab results store"):
        ResultsStore(junk)
    foreign = tmp_path / "foreign.sqlite"
    sqlite3.connect(foreign).execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(InputError, match="no meta table"):
        ResultsStore(foreign)
    with pytest.raises(InputError, match="is a directory"):
        ResultsStore(tmp_path)


def test_csv_export_writes_every_table_with_provenance(stored: tuple[Path, object],
                                                       tmp_path: Path) -> None:
    """runs, results, events, traces as CSV; provenance columns on every data row."""
    path, run = stored
    files = export_store(path, tmp_path / "csv", "csv")
    assert [f.name for f in files] == [f"{t}.csv" for t in EXPORT_TABLES]
    with (tmp_path / "csv" / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and all(r["scenario_hash"] == run.provenance.scenario_hash  # type: ignore[attr-defined]
                                  for r in rows)
    assert {r["arm"] for r in rows} == {"legacy", "secure", "no_attacker"}
    with (tmp_path / "csv" / "traces.csv").open() as handle:
        traces = list(csv.DictReader(handle))
    assert len(traces) == 3 * 31 and set(PROVENANCE_COLUMNS) <= set(traces[0])
    assert "insulin_attacker_u" in traces[0] and "insulin_basal_u" in traces[0]
    with pytest.raises(InputError, match="would overwrite"):
        export_store(path, tmp_path / "csv", "csv")


def test_parquet_export_matches_the_store(stored: tuple[Path, object], tmp_path: Path) -> None:
    """The Parquet tables hold the same rows, provenance included."""
    path, run = stored
    export_store(path, tmp_path / "pq", "parquet")
    results = pq.read_table(tmp_path / "pq" / "results.parquet").to_pylist()
    assert len(results) == 3
    by_arm = {r["arm"]: r for r in results}
    expected = run_json(run)  # type: ignore[arg-type]
    for arm in ("legacy", "secure", "no_attacker"):
        assert by_arm[arm]["min_bg_mg_dl"] == pytest.approx(expected[arm]["min_bg_mg_dl"],
                                                            abs=1e-4)
        assert by_arm[arm]["pumplab_version"] == "0.1.0"
    assert pq.read_table(tmp_path / "pq" / "traces.parquet").num_rows == 3 * 31


def test_parquet_without_pyarrow_is_a_clear_error(stored: tuple[Path, object], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pyarrow: one error naming the extra to install, and nothing written."""
    path, _ = stored
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InputError, match=r"pumplab\[parquet\]"):
        export_store(path, tmp_path / "none", "parquet")
    assert not (tmp_path / "none").exists()
    with pytest.raises(InputError, match="csv, parquet"):
        export_store(path, tmp_path / "none", "xlsx")  # type: ignore[arg-type]

"""The results store: an embedded SQLite file that runs write as tasks finish.

One file (by default ``<out-dir>/results.sqlite``; a shared path can hold
many runs) with four tables:

- ``runs``: one row per run (scenario hash × task body): the canonical
  scenario, its arms, patients and provenance;
- ``results``: one row per task (arm × patient × seed) with the outcome
  numbers as columns and the whole :class:`~pumplab.sim.results.TaskResult`
  (without traces) as JSON;
- ``traces``: per-minute traces of a task, when the run asked for them;
- ``meta``: the store's format version.

Every row of ``results`` and ``traces`` carries the provenance columns
:data:`PROVENANCE_COLUMNS` (pumplab version, git commit where known, seed,
scenario hash, arm, patient, start time), and so does every row of every
exported table.

Each task's rows are written in one transaction, committed before the next
result is taken, in WAL mode with ``synchronous=NORMAL``: a process killed at
any moment leaves every committed task intact (SQLite's WAL guarantees
durability across a process crash; across power loss the last commits may be
lost, but never corrupt the file).  A task is *finished* when its ``results``
row exists (and, when traces are asked for, its ``traces`` row): that is what
``resume`` skips.

:meth:`ResultsStore.load_run` reads a run back into a
:class:`~pumplab.sim.results.RunResult`, so reports can be made from a store;
:func:`export_store` writes the tables as CSV or Parquet (pyarrow, optional).

Deliberately not here: running tasks (:mod:`pumplab.sim.runner`).
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pumplab.errors import InputError
from pumplab.sim.provenance import git_commit, pumplab_version
from pumplab.sim.results import ARM_KEYS, Provenance, RunResult, TaskResult
from pumplab.sim.scenario import ArmSpec, Scenario, patient_refs, scenario_canonical

if TYPE_CHECKING:
    from pumplab.sim.runner import Task

__all__ = [
    "DEFAULT_STORE_NAME",
    "EXPORT_TABLES",
    "PROVENANCE_COLUMNS",
    "ResultsStore",
    "StoredRun",
    "export_store",
]

#: The store's file name inside an out-dir.
DEFAULT_STORE_NAME: Final = "results.sqlite"
#: Provenance columns on every row (issue 18).
PROVENANCE_COLUMNS: Final = ("pumplab_version", "git_commit", "seed", "scenario_hash", "arm",
                             "patient", "start")
#: Tables :func:`export_store` writes.
EXPORT_TABLES: Final = ("runs", "results", "events", "traces")
_FORMAT_VERSION: Final = "1"
_GLYCEMIC_KEYS: Final = ("mean_mg_dl", "sd_mg_dl", "cv_pct", "gmi_pct", "tir_70_180_pct",
                         "tbr_70_pct", "tbr_54_pct", "tar_180_pct", "tar_250_pct", "lbgi",
                         "hbgi", "risk_index", "hypo_events", "data_present_pct")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    scenario_hash TEXT NOT NULL,
    body TEXT NOT NULL,
    scenario TEXT NOT NULL,
    pumplab_version TEXT NOT NULL,
    git_commit TEXT,
    start TEXT NOT NULL,
    hours REAL NOT NULL,
    seeds_json TEXT NOT NULL,
    stand_in INTEGER NOT NULL,
    arms_json TEXT NOT NULL,
    patients_json TEXT NOT NULL,
    provenance_json TEXT NOT NULL,
    scenario_json TEXT NOT NULL,
    PRIMARY KEY (scenario_hash, body)
);
CREATE TABLE IF NOT EXISTS results (
    pumplab_version TEXT NOT NULL,
    git_commit TEXT,
    seed INTEGER NOT NULL,
    scenario_hash TEXT NOT NULL,
    arm TEXT NOT NULL,
    patient TEXT NOT NULL,
    start TEXT NOT NULL,
    body TEXT NOT NULL,
    mode TEXT NOT NULL,
    attack TEXT,
    minutes INTEGER NOT NULL,
    attacker_insulin_u REAL NOT NULL,
    withheld_insulin_u REAL NOT NULL,
    total_insulin_u REAL NOT NULL,
    min_bg_mg_dl REAL NOT NULL,
    tbr_54_pct REAL,
    tbr_70_pct REAL,
    tir_70_180_pct REAL,
    tar_180_pct REAL,
    attack_succeeded INTEGER NOT NULL,
    alarms TEXT NOT NULL,
    history_verified INTEGER NOT NULL,
    history_path TEXT,
    failure_reason TEXT,
    stand_in INTEGER NOT NULL,
    result_json TEXT NOT NULL,
    PRIMARY KEY (scenario_hash, body, arm, patient, seed)
);
CREATE TABLE IF NOT EXISTS traces (
    pumplab_version TEXT NOT NULL,
    git_commit TEXT,
    seed INTEGER NOT NULL,
    scenario_hash TEXT NOT NULL,
    arm TEXT NOT NULL,
    patient TEXT NOT NULL,
    start TEXT NOT NULL,
    body TEXT NOT NULL,
    minutes INTEGER NOT NULL,
    traces_json TEXT NOT NULL,
    PRIMARY KEY (scenario_hash, body, arm, patient, seed)
);
"""


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run the store holds: its identity and how many tasks are finished."""

    scenario: str
    scenario_hash: str
    body: str
    start: str
    tasks_finished: int


class ResultsStore:
    """An open results store (a context manager; :meth:`close` when done).

    With ``create=False`` (reading: reports, export) the file must already be
    a results store: a missing file, an empty one or another SQLite database
    is an :class:`~pumplab.errors.InputError`, and nothing is written to it.
    The format is checked before the store switches the file to WAL mode, so
    a file that is not a store is never modified.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError("is a directory", source=str(self.path),
                             allowed="a results store file (e.g. results.sqlite)")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.is_file():
            raise InputError("no such results store", source=str(self.path),
                             allowed="a results store file written by a pumplab run")
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(f"cannot open the results store ({exc})",
                             source=str(self.path)) from exc
        try:
            version = self._check_format()
            if version is None and not create:
                raise InputError("not a pumplab results store (an empty database)",
                                 source=str(self.path))
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if version is None:
                self._db.executescript(_SCHEMA)  # idempotent: IF NOT EXISTS
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)",
                                 (_FORMAT_VERSION,))
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise InputError(f"not a pumplab results store ({exc})",
                             source=str(self.path)) from exc
        except BaseException:
            self._db.close()
            raise

    def _check_format(self) -> str | None:
        tables = {row[0] for row in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        if "meta" not in tables:
            raise InputError("not a pumplab results store (no meta table)", source=str(self.path))
        row = self._db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None or row[0] != _FORMAT_VERSION:
            raise InputError(f"results store format {row and row[0]!r} is not supported",
                             source=str(self.path), allowed=f"format {_FORMAT_VERSION}")
        return str(row[0])

    # ------------------------------------------------------------------ life

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self._db = db

        def __enter__(self) -> None:
            self._db.execute("BEGIN IMMEDIATE")

        def __exit__(self, kind: object, *exc: object) -> None:
            self._db.execute("COMMIT" if kind is None else "ROLLBACK")

    def _transaction(self) -> ResultsStore._Tx:
        return ResultsStore._Tx(self._db)

    # ------------------------------------------------------------------ writing

    def record_run(self, scenario: Scenario, provenance: Provenance,
                   arms: Sequence[ArmSpec]) -> None:
        """Record (or refresh) the run's row: written before its first task."""
        patients = [p.name for p in patient_refs(scenario)]
        arms_data = [{"name": a.name, "mode": a.mode, "attackers": list(a.attackers),
                      "attack": a.attack} for a in arms]
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (provenance.scenario_hash, provenance.body, provenance.scenario,
                 provenance.pumplab_version, provenance.git_commit, provenance.start,
                 provenance.hours, json.dumps(list(provenance.seeds)), int(provenance.stand_in),
                 json.dumps(arms_data), json.dumps(patients),
                 json.dumps(provenance.as_dict(), sort_keys=True),
                 json.dumps(scenario_canonical(scenario), sort_keys=True)))

    def write(self, task: Task, result: TaskResult, *, traces: bool = False) -> None:
        """Write one finished task (and its traces when asked), in one transaction."""
        version, commit = pumplab_version(), git_commit()
        key = (result.scenario_hash, result.body, result.arm, result.patient, result.seed)
        payload = json.dumps(result.as_dict(traces=False), sort_keys=True, allow_nan=False,
                             default=_json_default)
        row = (version, commit, result.seed, result.scenario_hash, result.arm, result.patient,
               result.start, result.body, result.mode, result.attack, result.minutes,
               result.attacker_insulin_u, result.withheld_insulin_u, result.total_insulin_u,
               result.min_bg_mg_dl, _nan_none(result.tbr_54_pct), _nan_none(result.tbr_70_pct),
               _nan_none(result.tir_70_180_pct), _nan_none(result.tar_180_pct),
               int(result.attack_succeeded), json.dumps(list(result.alarms)),
               int(result.history_verified), result.history_path, result.failure_reason,
               int(result.stand_in), payload)
        with self._transaction():
            self._db.execute(f"INSERT OR REPLACE INTO results VALUES ({','.join('?' * 26)})",
                             row)
            self._db.execute("DELETE FROM traces WHERE scenario_hash = ? AND body = ? AND "
                             "arm = ? AND patient = ? AND seed = ?", key)
            if traces and result.traces is not None:
                self._db.execute(
                    "INSERT INTO traces VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (version, commit, result.seed, result.scenario_hash, result.arm,
                     result.patient, result.start, result.body, result.minutes,
                     json.dumps(result.traces.as_dict(), allow_nan=False)))

    # ------------------------------------------------------------------ reading

    def load_results(self, tasks: Iterable[Task], *, traces: bool = False) -> list[TaskResult]:
        """The finished results among ``tasks`` (with traces, if ``traces``: then a
        task without stored traces does not count as finished)."""
        wanted = {(t.scenario_hash, t.body_name, t.arm.name, t.patient.name, t.seed)
                  for t in tasks}
        if not wanted:
            return []
        hashes = {w[0] for w in wanted}
        out = []
        for row in self._select_results(hashes, traces=traces):
            key = (row["scenario_hash"], row["body"], row["arm"], row["patient"], row["seed"])
            if key in wanted:
                out.append(_result_from_row(row))
        return out

    def _select_results(self, hashes: Iterable[str], *, traces: bool,
                        body: str | None = None) -> Iterator[dict[str, Any]]:
        self._db.row_factory = sqlite3.Row
        try:
            hash_list = sorted(hashes)
            marks = ",".join("?" * len(hash_list))
            join = "JOIN" if traces else "LEFT JOIN"
            sql = (f"SELECT r.*, t.traces_json FROM results r {join} traces t USING "
                   f"(scenario_hash, body, arm, patient, seed) WHERE r.scenario_hash IN ({marks})")
            params: list[Any] = list(hash_list)
            if body is not None:
                sql += " AND r.body = ?"
                params.append(body)
            for row in self._db.execute(sql, params):
                yield dict(row)
        finally:
            self._db.row_factory = None

    def runs(self) -> list[StoredRun]:
        """The runs in the store, with their count of finished tasks."""
        rows = self._db.execute(
            "SELECT r.scenario, r.scenario_hash, r.body, r.start, "
            "(SELECT COUNT(*) FROM results x WHERE x.scenario_hash = r.scenario_hash "
            " AND x.body = r.body) FROM runs r ORDER BY r.scenario, r.scenario_hash, r.body")
        return [StoredRun(*row) for row in rows]

    def load_run(self, scenario_hash: str | None = None, *, body: str | None = None,
                 traces: bool = True) -> RunResult:
        """A run read back as a :class:`RunResult` (results in plan order).

        With one run in the store, no argument is needed; otherwise name it by
        (a prefix of) its scenario hash and, if needed, its body.
        """
        runs = self.runs()
        chosen = [r for r in runs
                  if (scenario_hash is None or r.scenario_hash.startswith(scenario_hash)
                      or r.scenario_hash == f"sha256:{scenario_hash}")
                  and (body is None or r.body == body)]
        if not chosen:
            raise InputError("no such run in the store" if runs else "the store holds no run",
                             source=str(self.path),
                             allowed=_run_list(runs) or "a store written by pumplab run")
        if len(chosen) > 1:
            raise InputError("the store holds several runs: name one by its scenario hash",
                             source=str(self.path), allowed=_run_list(chosen))
        run = chosen[0]
        row = self._db.execute(
            "SELECT provenance_json, arms_json, patients_json FROM runs "
            "WHERE scenario_hash = ? AND body = ?", (run.scenario_hash, run.body)).fetchone()
        provenance = Provenance.from_dict(json.loads(row[0]))
        arms = tuple(ArmSpec(a["name"], a["mode"], tuple(a["attackers"]), a["attack"])
                     for a in json.loads(row[1]))
        patients = {name: i for i, name in enumerate(json.loads(row[2]))}
        arm_rank = {a.name: i for i, a in enumerate(arms)}
        results = [_result_from_row(r, traces=traces)
                   for r in self._select_results([run.scenario_hash], traces=False,
                                                 body=run.body)]
        results.sort(key=lambda r: (r.seed, patients.get(r.patient, len(patients)),
                                    arm_rank.get(r.arm, len(arm_rank))))
        return RunResult(provenance, arms, tuple(results))

    # ------------------------------------------------------------------ export

    def table_rows(self, table: str) -> tuple[list[str], Iterator[list[Any]]]:
        """Columns and rows of an export table (see :data:`EXPORT_TABLES`)."""
        if table == "runs":
            return self._runs_table()
        if table == "results":
            return self._results_table()
        if table == "events":
            return self._events_table()
        if table == "traces":
            return self._traces_table()
        raise ValueError(f"unknown table {table!r}")

    def _runs_table(self) -> tuple[list[str], Iterator[list[Any]]]:
        columns = ["scenario_hash", "body", "scenario", "pumplab_version", "git_commit", "start",
                   "hours", "seeds", "stand_in", "arms", "patients", "scenario_json"]
        rows = self._db.execute(
            "SELECT scenario_hash, body, scenario, pumplab_version, git_commit, start, hours, "
            "seeds_json, stand_in, arms_json, patients_json, scenario_json FROM runs "
            "ORDER BY scenario_hash, body")
        return columns, (list(r) for r in rows)

    def _results_table(self) -> tuple[list[str], Iterator[list[Any]]]:
        base = [*PROVENANCE_COLUMNS, "body", "mode", "attack", "minutes", *ARM_KEYS,
                "history_path", "failure_reason", "stand_in"]
        columns = [*base, *(f"bg_{k}" for k in _GLYCEMIC_KEYS),
                   *(f"cgm_{k}" for k in _GLYCEMIC_KEYS)]

        def rows() -> Iterator[list[Any]]:
            select = ", ".join(base)
            for row in self._db.execute(
                    f"SELECT {select}, result_json FROM results "
                    "ORDER BY scenario_hash, body, seed, patient, arm"):
                data = json.loads(row[-1])
                values = list(row[:-1])
                values[base.index("attack_succeeded")] = bool(values[base.index(
                    "attack_succeeded")])
                values[base.index("history_verified")] = bool(values[base.index(
                    "history_verified")])
                values[base.index("stand_in")] = bool(values[base.index("stand_in")])
                values += [data["metrics"].get(k) for k in _GLYCEMIC_KEYS]
                values += [data["cgm_metrics"].get(k) for k in _GLYCEMIC_KEYS]
                yield values

        return columns, rows()

    def _events_table(self) -> tuple[list[str], Iterator[list[Any]]]:
        columns = [*PROVENANCE_COLUMNS, "body", "minute", "source", "kind", "code"]

        def rows() -> Iterator[list[Any]]:
            select = ", ".join(PROVENANCE_COLUMNS)
            for row in self._db.execute(
                    f"SELECT {select}, body, result_json FROM results "
                    "ORDER BY scenario_hash, body, seed, patient, arm"):
                for minute, source, kind, code in json.loads(row[-1])["events"]:
                    yield [*row[:-1], minute, source, kind, code]

        return columns, rows()

    def _traces_table(self) -> tuple[list[str], Iterator[list[Any]]]:
        sources: set[str] = set()
        for (text,) in self._db.execute("SELECT traces_json FROM traces"):
            sources.update(json.loads(text)["insulin_u"])
        ordered = sorted(sources)
        columns = [*PROVENANCE_COLUMNS, "body", "minute", "bg_mg_dl", "cgm_mg_dl", "carbs_g",
                   *(f"insulin_{s}_u" for s in ordered)]

        def rows() -> Iterator[list[Any]]:
            select = ", ".join(PROVENANCE_COLUMNS)
            for row in self._db.execute(
                    f"SELECT {select}, body, traces_json FROM traces "
                    "ORDER BY scenario_hash, body, seed, patient, arm"):
                data = json.loads(row[-1])
                insulin = data["insulin_u"]
                for m, bg in enumerate(data["bg_mg_dl"]):
                    yield [*row[:-1], m, bg, data["cgm_mg_dl"][m], data["carbs_g"][m],
                           *(insulin[s][m] if s in insulin else None for s in ordered)]

        return columns, rows()


def _run_list(runs: Sequence[StoredRun]) -> str:
    return "; ".join(f"{r.scenario} {r.scenario_hash[:19]} ({r.body}, {r.tasks_finished} tasks)"
                     for r in runs)


def _nan_none(value: float) -> float | None:
    return None if value != value else value


def _json_default(value: object) -> object:
    raise TypeError(f"not JSON data: {type(value).__name__}")


def _result_from_row(row: dict[str, Any], *, traces: bool = True) -> TaskResult:
    data = json.loads(row["result_json"])
    if traces and row.get("traces_json") is not None:
        data["traces"] = json.loads(row["traces_json"])
    return TaskResult.from_dict(data)


# ==========================================================================
# Export
# ==========================================================================

def export_store(store_path: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                 fmt: Literal["csv", "parquet"] = "csv", *,
                 overwrite: bool = False) -> list[Path]:
    """Write the store's tables (:data:`EXPORT_TABLES`) as ``<out_dir>/<table>.<fmt>``.

    Each file is written whole or not at all (a temporary file, then a
    rename).  Existing files are refused unless ``overwrite``.  Parquet needs
    pyarrow (``pip install 'pumplab[parquet]'``); without it, an
    :class:`~pumplab.errors.InputError` says so before anything is written.
    """
    if fmt not in ("csv", "parquet"):
        raise InputError(f"unknown format {fmt!r}", source="--format", allowed="csv, parquet")
    path = Path(store_path)
    if not path.is_file():
        raise InputError("no such results store", source=str(path))
    pyarrow: Any = None
    if fmt == "parquet":
        try:
            importlib.import_module("pyarrow.parquet")
            pyarrow = importlib.import_module("pyarrow")
        except ImportError as exc:
            raise InputError("Parquet export needs pyarrow, which is not installed",
                             source="--format",
                             allowed="csv, or install pyarrow: pip install 'pumplab[parquet]'"
                             ) from exc
    target = Path(out_dir)
    files = [target / f"{table}.{fmt}" for table in EXPORT_TABLES]
    existing = [str(f) for f in files if f.exists()]
    if existing and not overwrite:
        raise InputError("would overwrite existing files: " + ", ".join(existing),
                         source=str(target), allowed="a new folder, or overwrite")
    target.mkdir(parents=True, exist_ok=True)
    with ResultsStore(path, create=False) as store:
        for table, file in zip(EXPORT_TABLES, files, strict=True):
            columns, rows = store.table_rows(table)
            if fmt == "csv":
                _write_csv(file, columns, rows)
            else:
                _write_parquet(pyarrow, file, columns, rows)
    return files


def _atomic(file: Path) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f".{file.name}.", dir=file.parent)


def _write_csv(file: Path, columns: list[str], rows: Iterable[list[Any]]) -> None:
    fd, tmp = _atomic(file)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                writer.writerow(["" if v is None else v for v in row])
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_parquet(pyarrow: Any, file: Path, columns: list[str],
                   rows: Iterable[list[Any]]) -> None:
    data: dict[str, list[Any]] = {c: [] for c in columns}
    for row in rows:
        for c, v in zip(columns, row, strict=True):
            data[c].append(v)
    table = pyarrow.table(data)
    fd, tmp = _atomic(file)
    os.close(fd)
    try:
        pyarrow.parquet.write_table(table, tmp)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

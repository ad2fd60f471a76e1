"""``pumplab run``: the main job -- a person wears the pump for a day.

Until the seed story (legacy vs secure pump under the same attacker) exists,
the main job is the open-loop day of :mod:`pumplab.sim.openloop`: a virtual
adult (adult#001; ``--patients`` for others) wears a Paradigm x23-class pump
(secure mode) with a CGM, a linked meter and a keychain remote over the
in-memory link for 24 hours, driven by the person model on the built-in
``standard-day`` meals, with the pump's history kept durably in SQLite.  It
prints the glycaemic outcome and the result of verifying each history, with
its full head ``SEQ:HASH`` (what ``history verify --expect-head`` takes).

``--start TIME`` (ISO 8601 with an offset, none meaning UTC;
:mod:`pumplab.cli._start`) puts minute 0 on the calendar: the pump's user
clock starts at its local wall time, the meal plan and the person's day
start at its time of day, and ``trace.csv`` carries each row's time in a
``time`` column (ISO 8601 in the start's offset).  Without it a run starts at
:data:`DEFAULT_START`, the open-loop day's fixed date.

Files go into the output folder (``--out-dir``, default a new numbered folder
``pumplab-out/run-NNN``): ``trace.csv``, ``events.json``, ``outcome.json`` and
one history per patient (``history-<patient>.sqlite``, or ``--history PATH``).
A folder that already holds any of these files is refused before anything
runs: two runs never mix their files, and no file is ever overwritten.  The
trace and events are written by the simulation into a private staging folder
inside the output folder and moved into place only when the run has ended.

Exit code 0 when every history verifies, 1 when one does not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from pumplab.cli._common import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    MAX_SAFE_INT,
    Names,
    choice,
    default_file_mode,
    emit_json,
    finite_float,
    guard,
    int_range,
    json_document,
    name_list,
    place_file,
    progress,
    write_atomically,
)
from pumplab.cli._start import minute_of_day, minute_times, parse_start, pump_clock_ms
from pumplab.cli.meals import MEALS_HELP
from pumplab.cli.patients import PATIENTS_HELP
from pumplab.errors import InputError

if TYPE_CHECKING:
    from pumplab.sim.world import World

__all__ = [
    "DEFAULT_OUT_ROOT",
    "DEFAULT_PATIENTS",
    "DEFAULT_SEED",
    "DEFAULT_START",
    "MAX_RUN_HOURS",
    "history_file_name",
    "register",
]

DEFAULT_OUT_ROOT: Final = Path("pumplab-out")
#: Minute 0 of a run unless --start: the open-loop day's fixed date
#: (pumplab.sim.openloop.RUN_START_CLOCK_MS, a test holds the two equal), in UTC.
DEFAULT_START: Final = "2026-01-05T00:00:00+00:00"
#: The seed of every command that draws random numbers, unless --seed.
DEFAULT_SEED: Final = 1
#: Who wears the pump unless --patients says otherwise.
DEFAULT_PATIENTS: Final = Names(("adult#001",))
#: Longest run: 14 days (the open-loop world's limit).
MAX_RUN_HOURS: Final = 14 * 24

_FILES = ("trace.csv", "events.json", "outcome.json")

_HELP = """\
The main job: a virtual person wears the pump for a day (open loop).

A virtual adult (adult#001 unless --patients) wears a Paradigm x23-class pump
with a CGM, a linked meter and a keychain remote for 24 hours, driven by the
person model on the standard-day meals.  Prints the glycaemic outcome and
verifies each pump's durable history.

Writes, into the output folder (default: a new pumplab-out/run-NNN):
trace.csv (per-minute trace with each row's wall-clock time, for 'pumplab
metrics'), events.json,
outcome.json (the --json output) and history-PATIENT.sqlite per patient (or
--history PATH), for 'pumplab history'.  A folder that already holds any of
these files is refused; nothing is ever overwritten.

Exit 0 when every history verifies, 1 when one does not.
"""


def register(app: typer.Typer) -> None:
    """Add the ``run`` command."""
    app.command("run", help=_HELP, rich_help_panel="Simulate")(guard(run_command))


def run_command(
    patients: Annotated[Names, typer.Option(
        "--patients", "--patient", parser=name_list(what="patient"), metavar="NAMES",
        help=PATIENTS_HELP + "  Each wears a pump of its own.",
    )] = DEFAULT_PATIENTS,
    start: Annotated[datetime | None, typer.Option(
        "--start", parser=parse_start, metavar="TIME",
        help="Wall-clock time of minute 0, ISO 8601 (e.g. 2026-01-05T07:30+01:00; no offset "
        "means UTC): the pump's clock starts at its local time, the meals and the person's "
        f"day follow it, trace.csv's time column counts from it (default {DEFAULT_START}).",
    )] = None,
    hours: Annotated[float, typer.Option(
        "--hours", parser=finite_float(low=0, high=MAX_RUN_HOURS, low_open=True, unit="h"),
        metavar="H", help=f"Length of the run, a whole number of minutes (up to {MAX_RUN_HOURS} "
        "h = 14 days).",
    )] = 24.0,
    seed: Annotated[int, typer.Option(
        "--seed", parser=int_range(low=0, high=MAX_SAFE_INT), metavar="S",
        help="Seed of every random stream (meals, CGM, meter, person).",
    )] = DEFAULT_SEED,
    mode: Annotated[str, typer.Option(
        "--mode", parser=choice(("secure", "legacy")), metavar="secure|legacy",
        help="The pump's protocol mode.",
    )] = "secure",
    meals: Annotated[str, typer.Option("--meals", metavar="SCENARIO", help=MEALS_HELP)]
    = "standard-day",
    out_dir: Annotated[Path | None, typer.Option(
        "--out-dir", metavar="DIR", file_okay=False,
        help="Output folder (created if needed; default a new pumplab-out/run-NNN).  "
        "Must not hold files of another run.",
    )] = None,
    history: Annotated[Path | None, typer.Option(
        "--history", metavar="PATH", dir_okay=False,
        help="Keep the pump's history at PATH (one patient only; must not exist yet).",
    )] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the outcome as one JSON object (schema pumplab.run/1).",
    )] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bar (there is none unless stderr is a terminal).",
    )] = False,
) -> int:
    """Run the open-loop day and print its outcome."""
    from pumplab.cli.meals import load_plan, warn_unreached_meals
    from pumplab.cli.patients import select_patients
    from pumplab.physiology import load_cohort
    from pumplab.sim.openloop import OpenLoopConfig
    from pumplab.sim.outcome import run_open_loop

    # Everything the user gave is checked before anything runs.
    minutes = _minutes(hours)
    names = select_patients("--patients", patients, load_cohort())
    if history is not None and len(names) != 1:
        raise InputError(f"names one file, but {len(names)} patients each need a history",
                         source="--history", allowed="one patient with --history")  # fmt: skip
    plan = load_plan(meals)
    folder = out_dir if out_dir is not None else _next_run_dir(DEFAULT_OUT_ROOT)
    _check_outputs(folder, names, history)
    moment = parse_start(DEFAULT_START) if start is None else start
    warn_unreached_meals(plan, minutes, start_minute_of_day=minute_of_day(moment))

    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".pumplab-run-", dir=folder))
    try:
        config = OpenLoopConfig(patients=names, minutes=minutes, seed=seed, mode=mode,
                                meals=meals, history_dir=folder, history_path=history,
                                start_clock_ms=pump_clock_ms(moment))
        with progress(f"{len(names)} patient(s), {hours:g} h", minutes, quiet=quiet,
                      unit="min") as update:  # fmt: skip

            def prepare(world: World) -> None:
                world.add_minute_hook(update)

            outcome = run_open_loop(config, out_dir=staging, prepare=prepare,
                                    trace_times=minute_times(moment, minutes + 1))
        for name in _FILES[:2]:
            place_file(staging / name, folder / name, overwrite=False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for patient in outcome.patients:
        # SQLite files are created private (0600); give them the mode every
        # other output file gets, as a file made by `open()` would have.
        if patient.history_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(patient.history_path, default_file_mode())

    body = outcome.as_dict()
    body["config"]["start"] = moment.isoformat()
    body["out_dir"] = os.fspath(folder)
    body["trace_path"] = os.fspath(folder / "trace.csv")
    body["events_path"] = os.fspath(folder / "events.json")
    document = json_document("run", body)
    write_atomically(folder / "outcome.json", lambda f: _dump(document, f),
                     option="--out-dir", overwrite=False)  # fmt: skip
    if json_out:
        emit_json("run", body)
    else:
        _print_outcome(document, folder)
    return EXIT_OK if outcome.histories_ok else EXIT_CHECK_FAILED


def _dump(document: dict[str, Any], stream: Any) -> None:
    import json

    json.dump(document, stream, indent=2, allow_nan=False, ensure_ascii=False)
    stream.write("\n")


def _minutes(hours: float) -> int:
    minutes = round(hours * 60)
    # 4.1 h is 246 minutes even though 4.1 * 60 is 245.99999999999997 in binary.
    if minutes < 1 or abs(hours * 60 - minutes) > 1e-6:
        raise InputError(f"{hours:g} h is not a whole number of minutes", source="--hours",
                         allowed=f"whole minutes, 1 min to {MAX_RUN_HOURS} h")  # fmt: skip
    return minutes


def _next_run_dir(root: Path) -> Path:
    number = 1
    while (root / f"run-{number:03d}").exists():
        number += 1
    return root / f"run-{number:03d}"


def history_file_name(patient: str) -> str:
    """The history file of ``patient`` in a run's folder (as the open-loop world names it)."""
    return f"history-{patient.replace('#', '-')}.sqlite"


def _check_outputs(folder: Path, names: Sequence[str], history: Path | None) -> None:
    """Refuse an output folder or history path a run cannot use, before anything runs."""
    if folder.exists() and not folder.is_dir():
        raise InputError("not a directory", source=str(folder),
                         allowed="a directory, or a path that does not exist yet")  # fmt: skip
    histories = [history] if history is not None else [folder / history_file_name(n)
                                                       for n in names]  # fmt: skip
    if history is not None and history.exists():
        raise InputError("a history already exists there; a pump's history is never "
                         "overwritten (choose a new path)", source=str(history))  # fmt: skip
    taken = [p.name for p in (folder / f for f in _FILES) if p.exists() or p.is_symlink()]
    taken += [p.name for p in histories if p.parent == folder and p.exists()]
    if taken:
        raise InputError(
            f"{folder} already holds {', '.join(taken)} of another run (runs never mix "
            "or overwrite files)", source="--out-dir",
            allowed="a new folder, or one without these files",
        )


def _fmt(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _print_outcome(data: dict[str, Any], out_dir: Path) -> None:
    config = data["config"]
    hours = config["minutes"] / 60
    for p in data["patients"]:
        bg, cgm = p["bg_metrics"], p["cgm_metrics"]
        print(f"pumplab run: {p['patient']}, {hours:g} h open loop, {config['mode']} pump, "
              f"meals {config['meals']}, seed {config['seed']}, from {config['start']}")
        print(f"  plasma glucose (every minute): mean {_fmt(bg['mean_mg_dl'])} mg/dL, "
              f"min {_fmt(p['min_bg_mg_dl'])}, time in range 70-180 "
              f"{_fmt(bg['tir_70_180_pct'])} %, below 70 {_fmt(bg['tbr_70_pct'])} %, "
              f"below 54 {_fmt(bg['tbr_54_pct'])} %, above 180 {_fmt(bg['tar_180_pct'])} %")
        print(f"  CGM (every 5 min): mean {_fmt(cgm['mean_mg_dl'])} mg/dL, time in range "
              f"{_fmt(cgm['tir_70_180_pct'])} %, data present {_fmt(cgm['data_present_pct'])} %, "
              f"CV {_fmt(cgm['cv_pct'])} %, GMI {_fmt(cgm['gmi_pct'], 2)} %")
        insulin = p["insulin_u"]
        total = sum(insulin.values())
        parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(insulin.items()))
        print(f"  insulin delivered: {total:.2f} U ({parts})")
        print(f"  carbs eaten: {p['carbs_g']:.0f} g (rescue {p['rescue_carbs_g']:.0f} g); "
              f"severe hypo (<40): {p['first_minute_below_40'] or 'none'}")
        print(f"  alarms: {', '.join(p['alarms']) or 'none'}; unexpected boluses cancelled: "
              f"{p['cancelled_boluses']}")
        h = p["history"]
        verdict = ("verified" if h["ok"]
                   else f"FAILED at record {h['first_bad_seq']}: {h['reason']}")
        print(f"  history: {h['records']} records, hash chain {verdict}")
        # The full head: what `pumplab history verify --expect-head` takes.
        print(f"    head {h['head_seq']}:{h['head_hash']}")
        print(f"    {p['history_path']}")
    print(f"  files: {out_dir}/trace.csv, events.json, outcome.json")

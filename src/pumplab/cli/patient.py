"""``pumplab patient simulate``: run virtual patients on per-minute inputs from a CSV.

::

    pumplab patient simulate (--patients NAMES|all | --population N) [--seed S]
                             --inputs INPUTS.csv [--minutes M] [--start TIME]
                             [--out TRACE.csv] [--out-table TABLE.csv] [--json]
                             [--cgm [--cgm-model NAME] [--sensor-age MIN]] [--meals SCENARIO]
                             [--quiet]

``INPUTS.csv`` has the columns ``minute,carbs_g,insulin_u``: what enters the
body during that minute (carbohydrate announced, eaten at 5 g/min; insulin
delivered over the minute).  Minutes are integers from 0, strictly increasing;
missing minutes mean zero; numbers are ASCII decimals (:mod:`pumplab._asciinum`)
within the simulator's per-minute limits (at most 500 g and 100 U).  The run
lasts ``last minute + 1`` minutes, or ``--minutes M`` (at least that).  The
same inputs are applied to every patient.

``--out TRACE.csv`` writes ``patient,minute[,time],bg_mg_dl,gsub_mg_dl``:
plasma glucose Gp/Vg and subcutaneous (interstitial) glucose Gs/Vg, the
latter what simglucose reports as "BG" (both never negative; row ``minute =
m`` is the state after minutes 0..m-1, row 0 the initial state), via a
temporary file renamed on success, so a failed run leaves no file and an
existing one untouched.  The path is checked before anything is simulated.
Without ``--out`` no trace is kept at all.  ``--start TIME`` (ISO 8601;
:mod:`pumplab.cli._start`) adds the ``time`` column, each row's wall-clock
time in the start's offset, and starts ``--meals`` at that time of day.

Output: per patient, mean/min/max plasma glucose, the first minute below 40
mg/dL and whether the model left its validated range -- a table of at most
:data:`~pumplab.cli._cohort.TABLE_MAX_PATIENTS` rows -- and, for two patients
or more, the cohort summary of :mod:`pumplab.metrics.cohort` (median and
quartiles of TIR/TBR/TAR of plasma glucose, the share with a level-2
hypoglycaemia, the patients outside the validated range).  ``--out-table``
writes the per-patient table with every consensus metric as CSV; ``--json``
prints one ``pumplab.simulation/1`` object with both.  The command names
each file it wrote.

Sensor and meals: ``--cgm`` adds a seeded ``cgm_mg_dl`` column to the trace
(the CGM error model of :mod:`pumplab.physiology.sensor` applied to
interstitial glucose: a reading at the 5-minute sample minutes, ``LOW``/``HIGH``
beyond 40-400 mg/dL, empty elsewhere and during warm-up or dropouts;
``--cgm-model`` picks the sensor, ``--sensor-age`` how long it has been worn at
minute 0, default one day; both are refused without ``--cgm``); ``--meals
SCENARIO`` (a built-in name or a TOML file, docs/meals.md) supplies the
carbohydrate instead of the inputs file's ``carbs_g`` column, which must then
be empty or zero (random plans differ per patient), and a run that ends before
some of the scenario's meals of its first 24 hours says which on stderr.
``--seed`` (default 1, as for ``pumplab run``) seeds the population, the CGM
and the meals, each through its own named stream; each patient's CGM and meal
streams are keyed by its name, so a subject gets the same readings and meals
alone or in a cohort.

Memory is bounded whatever N and M: patients are generated and simulated in
chunks whose per-patient arrays (meal carbs, traces) hold at most
:data:`_VALUES_PER_CHUNK` values, and each chunk's trace is streamed to the
file, scored for the summary and dropped.  With a progress bar (stderr a
terminal, no ``--quiet``) each chunk is simulated in slices of minutes
(:func:`_slice_minutes`), so the bar moves within a chunk; the results are
the same whatever the chunking and slicing (tested).

The module is split so options transform inputs or outputs: :func:`read_inputs`
parses the file, :func:`build_input_arrays` turns it into per-minute arrays,
:func:`simulate_cohort` runs the cohort in patient chunks and hands each
chunk's traces to a :class:`TraceSink` and a :class:`ChunkScorer`, and
:class:`TraceCsvWriter` writes the rows.  Heavy imports (numpy, the
simulator) happen inside the handler.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Protocol

import typer

from pumplab._asciinum import parse_decimal, parse_integer
from pumplab.cli._cohort import (
    OUT_TABLE_HELP,
    print_cohort_summary,
    print_table_hint,
    print_written,
    same_file,
    shows_table,
)
from pumplab.cli._common import (
    EXIT_OK,
    MAX_SAFE_INT,
    Names,
    check_output_path,
    emit_json,
    guard,
    int_range,
    name_list,
    new_group,
    new_table,
    print_table,
    progress,
    progress_enabled,
    write_atomically,
)
from pumplab.cli._start import minute_of_day, minute_times, parse_start
from pumplab.cli.meals import MEALS_HELP
from pumplab.cli.patients import PATIENTS_HELP
from pumplab.cli.run import DEFAULT_SEED
from pumplab.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from pumplab.metrics.cohort import CohortSummary, MetricsCollector, RangeCollector, Record
    from pumplab.physiology import Cohort, PatientBatch, RunSummary
    from pumplab.physiology.population import PopulationSampler

    FloatArray = npt.NDArray[np.float64]

__all__ = [
    "CGM_COLUMN",
    "GSUB_COLUMN",
    "INPUT_COLUMNS",
    "MAX_MINUTES",
    "MAX_POPULATION",
    "MAX_SENSOR_AGE_MIN",
    "TIME_COLUMN",
    "TRACE_COLUMNS",
    "CgmOption",
    "ChunkScorer",
    "MinuteInputs",
    "TraceCsvWriter",
    "TraceSink",
    "build_input_arrays",
    "parse_inputs",
    "read_inputs",
    "register",
    "simulate_cohort",
]

INPUT_COLUMNS = ("minute", "carbs_g", "insulin_u")
#: The trace's columns, without --start's ``time`` (after ``minute``) and --cgm's ``cgm_mg_dl``.
TRACE_COLUMNS = ("patient", "minute", "bg_mg_dl", "gsub_mg_dl")
#: Subcutaneous glucose Gs/Vg: what simglucose's environment reports as "BG".
GSUB_COLUMN = "gsub_mg_dl"
#: Each row's wall-clock time, ISO 8601 with the --start offset (only with --start).
TIME_COLUMN = "time"
CGM_COLUMN = "cgm_mg_dl"
#: Longest run the command accepts: one leap year of minutes.
MAX_MINUTES = 366 * 1440
#: Largest --population the command accepts.
MAX_POPULATION = 1_000_000
#: Largest --sensor-age: a year of minutes (no CGM sensor is worn longer).
MAX_SENSOR_AGE_MIN = 365 * 1440
#: Per-patient values (patients per chunk x minutes) held at once in any
#: per-patient array of a chunk: meal carbs, glucose traces (4 M values = 32 MB each).
_VALUES_PER_CHUNK = 4_000_000
#: Most patients per chunk (bounds the O(chunk) arrays and population generation).
_PATIENTS_PER_CHUNK = 10_000
#: Patient-minutes simulated between two moves of the progress bar (~0.1 s of kernel).
_PATIENT_MINUTES_PER_UPDATE = 500_000


#: Default of --sensor-age: one day into the sensor's session (reads from the first sample).
DEFAULT_SENSOR_AGE_MIN = 1440

_SIMULATE_HELP = """\
Simulate virtual patients on per-minute inputs from INPUTS.csv.

INPUTS.csv has the columns minute,carbs_g,insulin_u (integer minutes from 0,
strictly increasing; missing minutes are zero).  The same inputs go to every
patient.  Prints per patient the mean, min and max plasma glucose, the first
minute below 40 mg/dL and the model's validity (a table of up to 30 patients)
and, for two patients or more, the cohort summary: median and IQR of time in,
below and above range, the share with level-2 hypoglycaemia, the patients
outside the validated range.

Writes only the files asked for, each replaced only when the run succeeds, and
names them: --out TRACE.csv with the columns patient,minute,bg_mg_dl,gsub_mg_dl
(time after minute with --start, cgm_mg_dl with --cgm); --out-table TABLE.csv
with one row per patient.
"""


def register(app: typer.Typer) -> None:
    """Add the ``patient`` group and its ``simulate`` command."""
    group = new_group("Virtual patients: the UVA/Padova type 1 diabetes model "
                      "(docs/physiology.md).")
    group.command("simulate", help=_SIMULATE_HELP)(guard(simulate_command))
    app.add_typer(group, name="patient", rich_help_panel="Simulate")


def simulate_command(
    inputs: Annotated[Path, typer.Option(
        "--inputs", metavar="INPUTS.csv", exists=True, dir_okay=False, readable=True,
        show_default=False, help="Per-minute inputs: columns minute,carbs_g,insulin_u.",
    )],
    patients: Annotated[Names | None, typer.Option(
        "--patients", "--patient", parser=name_list(what="patient"), metavar="NAMES",
        help=PATIENTS_HELP + "  Give this or --population.",
    )] = None,
    population: Annotated[int | None, typer.Option(
        "--population", parser=int_range(low=1, high=MAX_POPULATION), metavar="N",
        help=f"N subjects generated around the standard 30 (1..{MAX_POPULATION}).",
    )] = None,
    minutes: Annotated[int | None, typer.Option(
        "--minutes", parser=int_range(low=1, high=MAX_MINUTES, unit="min"), metavar="M",
        help="Simulate M minutes (default: last input minute + 1; must not be shorter).",
    )] = None,
    start: Annotated[datetime | None, typer.Option(
        "--start", parser=parse_start, metavar="TIME",
        help="Wall-clock time of minute 0, ISO 8601 (e.g. 2026-01-05T07:30+01:00; no "
        "offset means UTC): adds a time column to --out and starts --meals at that time "
        "of day.",
    )] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="TRACE.csv", help="Write the per-minute trace here (replaced "
        "only when the run succeeds).",
    )] = None,
    out_table: Annotated[Path | None, typer.Option(
        "--out-table", metavar="TABLE.csv", help=OUT_TABLE_HELP,
    )] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the records and the cohort summary as one JSON object (schema "
        "pumplab.simulation/1).",
    )] = False,
    cgm: Annotated[bool, typer.Option(
        "--cgm", help="Add a seeded cgm_mg_dl column to --out (CGM error model; LOW/HIGH "
        "flags).",
    )] = False,
    cgm_model: Annotated[str | None, typer.Option(
        "--cgm-model", metavar="NAME", help="CGM error model for --cgm (default enlite; "
        "docs/sensor.md).",
    )] = None,
    sensor_age: Annotated[int | None, typer.Option(
        "--sensor-age", parser=int_range(low=0, high=MAX_SENSOR_AGE_MIN, unit="min"),
        metavar="MIN", help=f"Minutes the CGM sensor has been worn at minute 0, for --cgm "
        f"(0..{MAX_SENSOR_AGE_MIN}; default {DEFAULT_SENSOR_AGE_MIN}; 0 = fresh, in warm-up).",
    )] = None,
    meals: Annotated[str | None, typer.Option(
        "--meals", metavar="SCENARIO", help=MEALS_HELP + "  Replaces the carbs of --inputs "
        "(its carbs_g column must then be empty or zero).",
    )] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", parser=int_range(low=0, high=MAX_SAFE_INT), metavar="S",
        help=f"Seed of the population, the CGM and the meals (default {DEFAULT_SEED}).",
    )] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bar (there is none unless stderr is a terminal).",
    )] = False,
) -> int:
    """Simulate patients on an inputs file."""
    # Everything the user gave is checked before anything is simulated.
    if (patients is None) == (population is None):
        raise InputError("give exactly one of them", source="--patients/--population",
                         allowed="--patients NAMES|all, or --population N")  # fmt: skip
    if out is not None:
        check_output_path(out, option="--out")
    if out_table is not None:
        check_output_path(out_table, option="--out-table")
        if out is not None and same_file(out, out_table):
            raise InputError("names the same file as --out", source="--out-table",
                             allowed="a file other than the trace")  # fmt: skip
    if not cgm:
        for option, value in (("--cgm-model", cgm_model), ("--sensor-age", sensor_age)):
            if value is not None:
                raise InputError("only applies to the CGM column: add --cgm", source=option)
    if cgm and out is None:
        raise InputError("adds a cgm_mg_dl column to the trace: give --out TRACE.csv",
                         source="--cgm")
    if seed is not None and patients is not None and not (cgm or meals is not None):
        raise InputError("seeds nothing here: it applies to --population, --cgm and --meals",
                         source="--seed")
    if start is not None and out is None and meals is None:
        raise InputError("times the trace and the meals: give --out TRACE.csv or --meals",
                         source="--start", allowed="--start with --out or --meals")  # fmt: skip
    data = read_inputs(inputs, carbs_from_file=meals is None)
    n_minutes = data.length
    if minutes is not None:
        if minutes < n_minutes:
            raise InputError(
                f"{minutes} minutes is shorter than the inputs (last minute {n_minutes - 1})",
                source="--minutes",
                allowed=f">= {n_minutes}",
            )
        n_minutes = minutes
    if n_minutes == 0:
        raise InputError(
            "no data rows (give --minutes to simulate without inputs)", source=str(inputs)
        )
    the_seed = DEFAULT_SEED if seed is None else seed
    cohort = _select_cohort(patients, population, the_seed)
    carbs, insulin = build_input_arrays(data, n_minutes)
    carbs_in: FloatArray | CarbsForChunk = carbs
    day_start = 0 if start is None else minute_of_day(start)
    if meals is not None:
        carbs_in = _meal_carbs(meals, cohort.names, n_minutes, the_seed, day_start)
    cgm_option = None
    if cgm:
        age = DEFAULT_SENSOR_AGE_MIN if sensor_age is None else sensor_age
        cgm_option = _cgm_option(cgm_model or "enlite", cohort.names, the_seed, age)
    times = None if start is None or out is None else minute_times(start, n_minutes + 1)
    scorer = _scorer(full=out_table is not None)

    def write_table(summary: RunSummary) -> None:
        # Inside the trace's writing: a table that cannot be written leaves no trace either.
        if out_table is not None:
            records = _table_records(summary, scorer)
            write_atomically(out_table, lambda stream: _write_records(stream, records),
                             option="--out-table")  # fmt: skip

    with progress(f"{len(cohort)} patient(s), {n_minutes} min", len(cohort), quiet=quiet,
                  unit="patients") as update:  # fmt: skip
        bar = update if progress_enabled(quiet) else None
        summary = _simulate(cohort, carbs_in, insulin, out, cgm_option, times, scorer,
                            progress=bar, finish=write_table)  # fmt: skip
    cohort_summary = _cohort_summary(summary, scorer)
    if json_out:
        emit_json("simulation", {
            "inputs": str(inputs), "minutes": n_minutes, "patients": summary.records(),
            "start": None if start is None else start.isoformat(),
            "summary": cohort_summary.as_dict(),
            "trace_path": None if out is None else str(out),
            "table_path": None if out_table is None else str(out_table),
        })  # fmt: skip
        return EXIT_OK
    n = len(summary.names)
    if shows_table(n):
        _print_table(summary, n_minutes)
    if n >= 2:
        if shows_table(n):
            print()
        print_cohort_summary(cohort_summary, what=f"plasma glucose every minute, {n_minutes} "
                             "minutes")  # fmt: skip
        print_table_hint(n, out_table=out_table)
    print_written([out, out_table])
    return EXIT_OK


# -- inputs ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MinuteInputs:
    """The rows of an inputs file: minutes with their carbs (g) and insulin (U)."""

    source: str
    minutes: tuple[int, ...]
    carbs_g: tuple[float, ...]
    insulin_u: tuple[float, ...]

    @property
    def length(self) -> int:
        """Minutes the inputs span: last minute + 1 (0 if there are no rows)."""
        return self.minutes[-1] + 1 if self.minutes else 0


def read_inputs(path: Path, *, carbs_from_file: bool = True) -> MinuteInputs:
    """Parse and check an inputs CSV; any problem raises :class:`InputError` (file, row, field).

    ``carbs_from_file=False`` (``--meals``): the ``carbs_g`` column must be
    empty or zero, since the meal scenario supplies the carbohydrate.
    """
    source = str(path)
    # utf-8-sig: a byte-order mark (spreadsheet exports) is not part of the header.
    with path.open(newline="", encoding="utf-8-sig") as f:
        try:
            return parse_inputs(f, source, carbs_from_file=carbs_from_file)
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text ({exc.reason})", source=source) from exc


def parse_inputs(stream: IO[str], source: str, *, carbs_from_file: bool = True) -> MinuteInputs:
    """:func:`read_inputs` on an open text stream (rows are 1-based, header excluded)."""
    # strict: an unclosed quote is an error, not a field that swallows the rest of the file.
    reader = csv.reader(stream, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("empty file (expected a header: minute,carbs_g,insulin_u)",
                         source=source) from None  # fmt: skip
    except csv.Error as exc:
        raise InputError(f"malformed CSV header: {_csv_reason(exc)}", source=source) from exc
    names = [h.strip() for h in header]
    for column in INPUT_COLUMNS:
        if column not in names:
            raise InputError(
                "missing column", source=source, field=column, allowed=",".join(INPUT_COLUMNS)
            )
    for name in names:
        if name not in INPUT_COLUMNS:
            raise InputError(
                "unexpected column", source=source, field=name, allowed=",".join(INPUT_COLUMNS)
            )
    if len(set(names)) != len(names):
        raise InputError("duplicated column in header", source=source)
    index = {name: names.index(name) for name in INPUT_COLUMNS}
    minutes: list[int] = []
    carbs: list[float] = []
    insulin: list[float] = []
    row = 0
    try:
        for fields in reader:
            row += 1
            if not fields or all(not v.strip() for v in fields):
                continue  # blank line
            if len(fields) != len(names):
                raise InputError(
                    f"{len(fields)} fields, the header has {len(names)}", source=source, row=row
                )
            minute = _parse_minute(fields[index["minute"]], source, row)
            if minutes and minute <= minutes[-1]:
                what = "duplicated" if minute == minutes[-1] else "not increasing"
                raise InputError(
                    f"minute {minute} {what} (previous row: {minutes[-1]})",
                    source=source,
                    row=row,
                    field="minute",
                    allowed="strictly increasing integers",
                )
            minutes.append(minute)
            carbs_text = fields[index["carbs_g"]]
            if carbs_from_file:
                carbs.append(_parse_amount(carbs_text, source, row, "carbs_g"))
            else:
                _check_no_carbs(carbs_text, source, row)
                carbs.append(0.0)
            insulin.append(_parse_amount(fields[index["insulin_u"]], source, row, "insulin_u"))
    except csv.Error as exc:
        raise InputError(
            f"malformed CSV: {_csv_reason(exc)}", source=source, row=row + 1
        ) from exc
    return MinuteInputs(source, tuple(minutes), tuple(carbs), tuple(insulin))


def _csv_reason(exc: csv.Error) -> str:
    """The csv module's complaint in the user's terms."""
    text = str(exc)
    if "unexpected end of data" in text:
        return "a quoted field is never closed (unclosed quote)"
    return text


def _parse_minute(text: str, source: str, row: int) -> int:
    allowed = f"an integer 0..{MAX_MINUTES - 1} (ASCII digits)"
    value = parse_integer(text.strip())
    if value is None:
        raise InputError(
            f"not an integer: {text!r}", source=source, row=row, field="minute", allowed=allowed
        )
    if not 0 <= value < MAX_MINUTES:
        raise InputError(
            f"out of range: {text.strip()}", source=source, row=row, field="minute",
            allowed=allowed,
        )  # fmt: skip
    return value


def _amount_limits() -> dict[str, tuple[float, str]]:
    from pumplab.physiology.simulator import MAX_CARBS_G_PER_MIN, MAX_INSULIN_U_PER_MIN

    return {"carbs_g": (MAX_CARBS_G_PER_MIN, "g"), "insulin_u": (MAX_INSULIN_U_PER_MIN, "U")}


def _parse_amount(text: str, source: str, row: int, field: str) -> float:
    upper, unit = _amount_limits()[field]
    allowed = f"a number from 0 to {upper:g} {unit} (ASCII decimal)"
    value = parse_decimal(text.strip())
    if value is None:
        raise InputError(
            f"not a number: {text!r}", source=source, row=row, field=field, allowed=allowed
        )
    if not math.isfinite(value):
        raise InputError(
            f"not finite: {text.strip()}", source=source, row=row, field=field, allowed=allowed
        )
    if value < 0.0:
        raise InputError(
            f"negative: {text.strip()}", source=source, row=row, field=field, allowed=allowed
        )
    if value > upper:
        # Per minute, the simulator's physiological limit (docs/physiology.md, "Inputs").
        raise InputError(
            f"too large for one minute: {text.strip()}", source=source, row=row, field=field,
            allowed=allowed,
        )  # fmt: skip
    return value


def _check_no_carbs(text: str, source: str, row: int) -> None:
    stripped = text.strip()
    if not stripped:
        return
    value = parse_decimal(stripped)
    if value == 0.0:
        return
    raise InputError(
        f"--meals replaces the carbs of --inputs: its carbs_g column must be empty or zero, "
        f"got {stripped!r}",
        source=source,
        row=row,
        field="carbs_g",
        allowed="empty or 0 with --meals",
    )


def build_input_arrays(inputs: MinuteInputs, minutes: int) -> tuple[FloatArray, FloatArray]:
    """Dense per-minute ``(carbs_g, insulin_u)`` arrays of length ``minutes`` (zeros elsewhere).

    The hook where later options (meal scenarios) add their own per-minute
    inputs; the arrays are shared by every patient.
    """
    import numpy as np

    carbs = np.zeros(minutes)
    insulin = np.zeros(minutes)
    idx = np.asarray(inputs.minutes, dtype=np.intp)
    carbs[idx] = inputs.carbs_g
    insulin[idx] = inputs.insulin_u
    return carbs, insulin


# -- outputs -----------------------------------------------------------------------------
class TraceSink(Protocol):
    """Receives each chunk of patients' glucose traces, in patient order."""

    def write_chunk(
        self,
        names: Sequence[str],
        bg_mg_dl: FloatArray,
        gsub_mg_dl: FloatArray,
        cgm: Sequence[list[str]] | None,
    ) -> None:
        """``bg_mg_dl`` and ``gsub_mg_dl`` are ``(len(names), M + 1)``; column m is minute m.

        ``cgm`` (with ``--cgm``) is one ``cgm_mg_dl`` column per patient.
        """


class ChunkScorer(Protocol):
    """Scores each chunk of plasma-glucose traces for the cohort summary (1-minute samples)."""

    def add(self, names: Sequence[str], bg_mg_dl: npt.ArrayLike) -> None:
        """``bg_mg_dl`` is ``(len(names), M + 1)`` mg/dL."""


class TraceCsvWriter:
    """Writes ``patient,minute[,time],bg_mg_dl,gsub_mg_dl[,cgm_mg_dl]`` rows to a text stream.

    Glucose is written with 4 decimals, as the simulator reports it (never
    negative: docs/physiology.md, "Overdose").  ``times`` (with ``--start``)
    holds the text of each minute's wall-clock time, shared by every patient.
    Rows are formatted one patient at a time, so the text in memory is one
    patient's.
    """

    def __init__(
        self, stream: IO[str], *, cgm: bool = False, times: Sequence[str] | None = None
    ) -> None:
        self._stream = stream
        self._cgm = cgm
        self._times = times
        self._middles: list[str] = []
        columns = list(TRACE_COLUMNS)
        if times is not None:
            columns.insert(2, TIME_COLUMN)
        if cgm:
            columns.append(CGM_COLUMN)
        stream.write(",".join(columns) + "\n")

    def _middle(self, count: int) -> list[str]:
        """``,minute,`` (or ``,minute,time,``) of minutes 0..count-1, made once."""
        if len(self._middles) < count:
            if self._times is None:
                self._middles = [f",{m}," for m in range(count)]
            else:
                if len(self._times) < count:
                    raise ValueError(f"{len(self._times)} times for {count} minutes")
                self._middles = [f",{m},{t},"
                                 for m, t in zip(range(count), self._times[:count], strict=True)]
        return self._middles

    def write_chunk(
        self,
        names: Sequence[str],
        bg_mg_dl: FloatArray,
        gsub_mg_dl: FloatArray,
        cgm: Sequence[list[str]] | None = None,
    ) -> None:
        """Write every patient's rows, minute 0..M."""
        if len(names) != bg_mg_dl.shape[0] or gsub_mg_dl.shape != bg_mg_dl.shape:
            raise ValueError(f"{len(names)} names for traces of shapes {bg_mg_dl.shape} and "
                             f"{gsub_mg_dl.shape}")  # fmt: skip
        if self._cgm and cgm is None:
            raise ValueError("this writer has a cgm_mg_dl column: pass the CGM columns")
        middles = self._middle(bg_mg_dl.shape[1])
        for p, name in enumerate(names):
            bg = bg_mg_dl[p].tolist()
            gsub = gsub_mg_dl[p].tolist()
            if self._cgm:
                assert cgm is not None
                self._stream.write("".join(
                    f"{name}{mid}{v:.4f},{g:.4f},{c}\n"
                    for mid, v, g, c in zip(middles, bg, gsub, cgm[p], strict=False)))
            else:
                self._stream.write("".join(
                    f"{name}{mid}{v:.4f},{g:.4f}\n"
                    for mid, v, g in zip(middles, bg, gsub, strict=False)))


@dataclass(frozen=True, slots=True)
class CgmOption:
    """What ``--cgm`` asks for: the sensor model, its randomness, its age at minute 0."""

    spec: Any  # pumplab.physiology.sensor.CgmSpec
    randomness: Any  # pumplab.physiology.sensor.CgmRandomness, one stream set per patient
    sensor_age_min: int


#: Per-patient carbohydrate for a chunk of patients: ``(rows, names) -> (len(rows), M)``.
CarbsForChunk = Callable[[slice, Sequence[str]], "FloatArray"]


def _chunk_size(n_minutes: int, *, per_patient_arrays: bool) -> int:
    """Patients per chunk: at most :data:`_VALUES_PER_CHUNK` values in any per-patient array.

    Without per-patient arrays (no trace, inputs shared by all) a chunk holds
    only O(patients) state, and the cap is :data:`_PATIENTS_PER_CHUNK`.
    """
    if not per_patient_arrays:
        return _PATIENTS_PER_CHUNK
    return max(1, min(_PATIENTS_PER_CHUNK, _VALUES_PER_CHUNK // (n_minutes + 1)))


def _slice_minutes(n_patients: int, n_minutes: int) -> int:
    """Minutes simulated per call when a bar should move: ~:data:`_PATIENT_MINUTES_PER_UPDATE`."""
    return max(1, min(n_minutes, _PATIENT_MINUTES_PER_UPDATE // max(1, n_patients)))


def simulate_cohort(
    cohort: Cohort | PopulationSampler,
    carbs_g: FloatArray | CarbsForChunk,
    insulin_u: FloatArray,
    sink: TraceSink | None,
    *,
    progress: Callable[[float], None] | None = None,
    cgm: CgmOption | None = None,
    max_chunk: int | None = None,
    scorer: ChunkScorer | None = None,
) -> RunSummary:
    """Simulate ``cohort`` on per-minute inputs, in patient chunks.

    ``cohort`` is a :class:`~pumplab.physiology.Cohort` or a
    :class:`~pumplab.physiology.population.PopulationSampler` (then each chunk
    of subjects is generated just before it is simulated).  ``carbs_g`` is
    shared ``(M,)`` or, for per-patient meal plans, a function giving the
    ``(n, M)`` carbs of a chunk of patients.  Each chunk's traces go to
    ``sink`` (when given) and its plasma glucose to ``scorer`` (when given),
    and are then dropped, so memory stays bounded however large the cohort
    (:func:`_chunk_size`).  With ``cgm``, the chunk's interstitial glucose is
    read by the CGM error model (per-patient streams keyed by name, so
    chunking changes nothing).  ``progress(done)`` is called with the number
    of patients done, a fraction of a chunk included: a chunk is then
    simulated in slices of minutes (:func:`_slice_minutes`; the results are
    the same bit for bit).  ``max_chunk`` caps the chunk size.  Returns the
    summary of all patients (as one :class:`~pumplab.physiology.RunSummary`).
    """
    import numpy as np

    from pumplab.physiology import Cohort, PatientBatch, RunSummary

    m = insulin_u.shape[0]
    want_bg = sink is not None or scorer is not None
    chunk = _chunk_size(m, per_patient_arrays=want_bg or callable(carbs_g))
    if max_chunk is not None:
        chunk = max(1, min(chunk, max_chunk))
    parts: list[RunSummary] = []
    for start in range(0, len(cohort), chunk):
        rows = slice(start, min(start + chunk, len(cohort)))
        if isinstance(cohort, Cohort):
            part = cohort.take(np.arange(rows.start, rows.stop))
        else:
            part = cohort.subjects(rows.start, rows.stop)
        batch = PatientBatch(part)
        carbs = carbs_g(rows, part.names) if callable(carbs_g) else carbs_g
        on_minutes = None if progress is None else _chunk_progress(progress, start, len(part), m)
        bg, gsub = _run_chunk(batch, carbs, insulin_u, trace_bg=want_bg,
                              trace_gsub=sink is not None, on_minutes=on_minutes)  # fmt: skip
        del carbs
        if scorer is not None and bg is not None:
            scorer.add(part.names, bg)
        if sink is not None and bg is not None and gsub is not None:
            columns = None
            if cgm is not None:
                from pumplab.physiology.sensor import simulate_cgm

                readings = simulate_cgm(gsub, spec=cgm.spec,
                                        randomness=cgm.randomness.select(rows),
                                        sensor_age_min=cgm.sensor_age_min)
                columns = [readings.column(i, m + 1) for i in range(len(part))]
            sink.write_chunk(part.names, bg, gsub, columns)
        del bg, gsub
        parts.append(batch.summary())
    return RunSummary(
        names=tuple(n for p in parts for n in p.names),
        minutes=m,
        bg_mean_mg_dl=np.concatenate([p.bg_mean_mg_dl for p in parts]),
        bg_min_mg_dl=np.concatenate([p.bg_min_mg_dl for p in parts]),
        bg_max_mg_dl=np.concatenate([p.bg_max_mg_dl for p in parts]),
        first_severe_hypo_minute=np.concatenate([p.first_severe_hypo_minute for p in parts]),
        validity_flags=np.concatenate([p.validity_flags for p in parts]),
    )


def _chunk_progress(
    progress: Callable[[float], None], done: int, size: int, minutes: int
) -> Callable[[int], None]:
    """``on_minutes(minute)`` for a chunk of ``size`` patients after ``done`` others."""

    def on_minutes(minute: int) -> None:
        progress(done + size * minute / minutes)

    return on_minutes


def _run_chunk(
    batch: PatientBatch,
    carbs: FloatArray,
    insulin: FloatArray,
    *,
    trace_bg: bool,
    trace_gsub: bool,
    on_minutes: Callable[[int], None] | None,
) -> tuple[FloatArray | None, FloatArray | None]:
    """``batch.run`` over all minutes, in slices calling ``on_minutes(done)`` when given.

    The batch carries its state from one call to the next, so slices give
    the same traces and summary as one call (bit for bit: tested).
    """
    import numpy as np

    m = insulin.shape[0]
    step = m if on_minutes is None else _slice_minutes(len(batch), m)
    if step >= m:
        traces = batch.run(carbs, insulin, trace_bg=trace_bg, trace_gsub=trace_gsub)
        if on_minutes is not None:
            on_minutes(m)
        return traces
    n = len(batch)
    bg = np.empty((n, m + 1)) if trace_bg else None
    gsub = np.empty((n, m + 1)) if trace_gsub else None
    for first in range(0, m, step):
        last = min(first + step, m)
        part_bg, part_gsub = batch.run(carbs[..., first:last], insulin[first:last],
                                       trace_bg=trace_bg, trace_gsub=trace_gsub)  # fmt: skip
        # Column 0 of a slice is the state it starts from: the previous slice's last.
        if bg is not None and part_bg is not None:
            bg[:, first:last + 1] = part_bg
        if gsub is not None and part_gsub is not None:
            gsub[:, first:last + 1] = part_gsub
        assert on_minutes is not None
        on_minutes(last)
    return bg, gsub


def _select_cohort(
    patients: Names | None, population: int | None, seed: int
) -> Cohort | PopulationSampler:
    import numpy as np

    from pumplab.cli.patients import select_patients
    from pumplab.physiology import load_cohort
    from pumplab.physiology.population import PopulationSampler

    if population is not None:
        # Generated chunk by chunk as the simulation goes (bounded memory);
        # subject i depends only on the seed and i.
        return PopulationSampler(population, np.random.default_rng(seed))
    assert patients is not None
    cohort = load_cohort()
    names = select_patients("--patients", patients, cohort)
    if names == cohort.names:
        return cohort
    return cohort.select(list(names))


def _meal_carbs(
    scenario: str, names: Sequence[str], minutes: int, seed: int, start_minute_of_day: int = 0
) -> CarbsForChunk:
    """Per-chunk carbs from a meal scenario, each patient on streams keyed by its name.

    The plan's day starts at ``start_minute_of_day`` (``--start``).  Warns,
    naming them, about the meals of the run's first 24 hours it ends before.
    """
    from pumplab.cli.meals import load_plan, warn_unreached_meals
    from pumplab.physiology.meals import MealRandomness, realize_meals
    from pumplab.sim.streams import RandomStreams

    plan = load_plan(scenario)
    warn_unreached_meals(plan, minutes, start_minute_of_day=start_minute_of_day)
    streams = RandomStreams(seed)
    randomness = MealRandomness.from_generators(
        schedule=streams.generator("meals.schedule"),
        counting=streams.generator("meals.counting"),
        names=names,
    )

    def carbs_for(rows: slice, chunk_names: Sequence[str]) -> FloatArray:
        part = randomness.select(rows)
        assert part.keys == tuple(chunk_names)
        meals = realize_meals(plan, n_patients=rows.stop - rows.start, n_minutes=minutes,
                              randomness=part, start_minute_of_day=start_minute_of_day)
        return meals.eaten_g

    return carbs_for


def _cgm_option(model: str, names: Sequence[str], seed: int, sensor_age: int) -> CgmOption:
    from pumplab.physiology.sensor import CgmRandomness, cgm_preset
    from pumplab.sim.streams import RandomStreams

    try:
        spec = cgm_preset(model)
    except InputError as exc:
        raise InputError(exc.reason, source="--cgm-model", allowed=exc.allowed) from None
    streams = RandomStreams(seed)
    randomness = CgmRandomness.from_generators(
        noise=streams.generator("cgm.noise"),
        calibration=streams.generator("cgm.calibration"),
        dropout=streams.generator("cgm.dropout"),
        names=names,
    )
    return CgmOption(spec, randomness, sensor_age)


def _simulate(
    cohort: Cohort | PopulationSampler, carbs: FloatArray | CarbsForChunk, insulin: FloatArray,
    out: Path | None, cgm: CgmOption | None, times: Sequence[str] | None,
    scorer: ChunkScorer, *, progress: Callable[[float], None] | None,
    finish: Callable[[RunSummary], None],
) -> RunSummary:
    """Simulate, writing the trace to ``out`` (if given) through a temporary file.

    ``finish(summary)`` runs after the simulation and before the trace is put
    in place, so an error in it leaves no trace behind.
    """
    if out is None:
        summary = simulate_cohort(cohort, carbs, insulin, None, progress=progress,
                                  scorer=scorer)  # fmt: skip
        finish(summary)
        return summary
    summaries: list[RunSummary] = []

    def produce(stream: IO[str]) -> None:
        writer = TraceCsvWriter(stream, cgm=cgm is not None, times=times)
        summaries.append(simulate_cohort(cohort, carbs, insulin, writer, cgm=cgm,
                                         progress=progress, scorer=scorer))  # fmt: skip
        finish(summaries[0])

    write_atomically(out, produce, option="--out")
    return summaries[0]


# -- the summary and the per-patient table ---------------------------------------------------
def _scorer(*, full: bool) -> MetricsCollector | RangeCollector:
    """The chunk scorer: every metric for ``--out-table``, else only the summary's."""
    from pumplab.metrics.cohort import MetricsCollector, RangeCollector

    return MetricsCollector(interval_min=1.0) if full else RangeCollector(interval_min=1.0)


def _cohort_summary(
    summary: RunSummary, scorer: MetricsCollector | RangeCollector
) -> CohortSummary:
    from pumplab.metrics.cohort import cohort_summary

    return cohort_summary(scorer.names, scorer.metrics(),
                          outside_validated_range=summary.outside_validated_range)  # fmt: skip


def _table_records(summary: RunSummary, scorer: MetricsCollector | RangeCollector) -> list[Record]:
    """One ``--out-table`` row per patient: the simulation's record, then every metric.

    Keys: ``patient``, ``outside_validated_range`` (0/1), ``validity_flags``
    (names joined by ``|``, empty when none), ``min_bg_mg_dl``,
    ``max_bg_mg_dl``, ``first_minute_below_40`` (empty when never), then the
    consensus metrics of the plasma glucose trace (1-minute samples:
    ``interval_min``, ``n_samples``, ``data_present_pct`` and
    :data:`~pumplab.metrics.glycemic.METRIC_KEYS`).
    """
    from pumplab.metrics.cohort import patient_records
    from pumplab.metrics.glycemic import GlycemicMetrics

    metrics = scorer.metrics()
    if not isinstance(metrics, GlycemicMetrics):
        raise TypeError("the per-patient table needs every metric: score with MetricsCollector")
    flags = summary.outside_validated_range
    scored = patient_records(scorer.names, metrics, outside_validated_range=flags)
    records: list[Record] = []
    for sim, scores in zip(summary.records(), scored, strict=True):
        record: Record = {
            "patient": sim["patient"],
            "outside_validated_range": scores.pop("outside_validated_range"),
            "validity_flags": "|".join(sim["validity_flags"]),
            "min_bg_mg_dl": sim["min_bg_mg_dl"],
            "max_bg_mg_dl": sim["max_bg_mg_dl"],
            "first_minute_below_40": sim["first_minute_below_40"],
        }
        del scores["patient"]
        record.update(scores)
        records.append(record)
    return records


def _write_records(stream: IO[str], records: Sequence[Record]) -> None:
    from pumplab.metrics.cohort import write_metrics_table

    write_metrics_table(stream, records)


def _print_table(summary: RunSummary, minutes: int) -> None:
    table = new_table("patient", ("mean", "right"), ("min", "right"), ("max", "right"),
                      ("<40 at", "right"), "validity",
                      title=f"{minutes} minutes, plasma glucose (mg/dL)")  # fmt: skip
    for r in summary.records():
        first = "-" if r["first_minute_below_40"] is None else str(r["first_minute_below_40"])
        validity = ",".join(r["validity_flags"]).lower() if r["validity_flags"] else "ok"
        table.add_row(r["patient"], f"{r['mean_bg_mg_dl']:.1f}", f"{r['min_bg_mg_dl']:.1f}",
                      f"{r['max_bg_mg_dl']:.1f}", first, validity)  # fmt: skip
    print_table(table)

"""Glucose traces from CSV files, checked and put on a regular grid for the metrics.

Two layouts are read:

* **pumplab's** (what ``pumplab patient simulate`` writes): a ``minute``
  column (integer minutes), a glucose column ``bg_mg_dl`` and/or
  ``cgm_mg_dl`` (or ``bg_mmol_l``/``cgm_mmol_l``; ``gsub_mg_dl``, the
  subcutaneous glucose, when named), and optionally a ``patient`` column
  (without it the file is one series); other columns (``time``, ...) are
  ignored.  A row per minute,
  ``bg_mg_dl`` on every row, ``cgm_mg_dl`` only at the minutes the sensor
  reports (empty otherwise) and possibly the sensor flags ``LOW`` (< 40 mg/dL)
  or ``HIGH`` (> 400 mg/dL).
* **simglucose's** result CSV (``SimObj.save_results``, one file per
  patient): ``Time,BG,CGM,CHO,insulin,LBGI,HBGI,Risk``, one row per sensor
  sample.  ``Time`` is an ISO 8601 date and time; it becomes minutes from the
  midnight that starts the first row's day and must fall on whole minutes.
  ``BG`` is simglucose's subcutaneous glucose Gs/Vg averaged over the sample
  (pumplab's ``gsub_mg_dl``, not its plasma ``bg_mg_dl``), ``CGM`` the sensor
  reading (mg/dL); the other columns are ignored (their cells may be empty).

What this module decides (docs/metrics.md says the same):

* **Column**: the CGM column if the file has one (``cgm_mg_dl``,
  ``cgm_mmol_l``, ``CGM``), else the BG column, unless the caller names one.
* **Unit**: the caller's, else the column's (``*_mmol_l`` is mmol/L, the rest
  mg/dL).  Readings that look like the other unit (all below 35 read as
  mg/dL, all at or above 35 read as mmol/L) are refused with a hint
  (:func:`~pumplab.metrics.glucose_units.check_glucose_unit`).  mmol/L readings
  are converted to mg/dL (× 18.0156) and the trace remembers its unit, so
  :func:`trace_metrics` scores them against the consensus's mmol/L limits.
* **Readings**: an empty cell is "no reading"; ``LOW``/``HIGH`` (case-blind,
  ``cgm_mg_dl`` only) become :data:`~pumplab.metrics.glycemic.CGM_LOW_MG_DL`
  and :data:`~pumplab.metrics.glycemic.CGM_HIGH_MG_DL` and are counted.
* **Interval**: per patient, the most common step between consecutive
  readings (the smaller on a tie); a patient with fewer than two readings
  takes the most common step of the whole file.  A caller may impose one.
* **Grid**: anchored at the patient's first reading; each reading goes to the
  nearest grid slot (a reading off the grid moves by less than half an
  interval); two readings in one slot are refused.  The patient's window runs
  from its first to its last *row* (with or without a reading), so a sensor
  warm-up or dropout shows as missing data.

* **Numbers**: ASCII decimals only (:mod:`pumplab._asciinum`: no other
  scripts' digits, no ``1_000``).  Minutes are integers 0 to
  :data:`MAX_TRACE_MINUTE` (the last row of the longest run ``pumplab patient
  simulate`` accepts); glucose is at most :data:`MAX_GLUCOSE_MG_DL`.
* **Size**: the grid of all patients may hold at most
  :data:`MAX_SLOTS_PER_READING` slots per reading (beyond
  :data:`MIN_SLOT_BUDGET` slots): a file of a few readings spread over a year
  at a 1-minute interval is refused rather than allocated; the grid is then
  built and scored in blocks of patients, so memory stays bounded.

Any bad input raises :class:`~pumplab.errors.InputError` naming the file, the
1-based data row (header excluded) and the column.

Deliberately not here: timestamps other than integer minutes or
simglucose's ``Time``, units other than mg/dL and mmol/L, interpolation, and
writing traces (the simulator does that).
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pumplab._asciinum import parse_decimal, parse_integer
from pumplab.errors import InputError
from pumplab.metrics.glucose_units import (
    GlucoseUnit,
    check_glucose_unit,
    metrics_in_unit,
    range_limits_mg_dl,
    to_mg_dl,
)
from pumplab.metrics.glycemic import (
    CGM_HIGH_MG_DL,
    CGM_LOW_MG_DL,
    METRIC_KEYS,
    GlycemicSummary,
    glycemic_metrics,
)

__all__ = [
    "BG_COLUMN",
    "CGM_COLUMN",
    "GLUCOSE_COLUMNS",
    "GSUB_COLUMN",
    "MAX_GLUCOSE_MG_DL",
    "MAX_SLOTS_PER_READING",
    "MAX_TRACE_MINUTE",
    "MIN_SLOT_BUDGET",
    "SIMGLUCOSE_BG_COLUMN",
    "SIMGLUCOSE_CGM_COLUMN",
    "SIMGLUCOSE_TIME_COLUMN",
    "GlucoseSeries",
    "GlucoseTrace",
    "TraceMetrics",
    "grid_series",
    "infer_interval_min",
    "parse_trace",
    "read_trace",
    "trace_metrics",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BG_COLUMN = "bg_mg_dl"
CGM_COLUMN = "cgm_mg_dl"
BG_MMOL_COLUMN = "bg_mmol_l"
CGM_MMOL_COLUMN = "cgm_mmol_l"
MINUTE_COLUMN = "minute"
PATIENT_COLUMN = "patient"
#: simglucose's result CSV (``T1DSimEnv.show_history`` written by ``SimObj.save_results``).
SIMGLUCOSE_TIME_COLUMN = "Time"
SIMGLUCOSE_BG_COLUMN = "BG"
SIMGLUCOSE_CGM_COLUMN = "CGM"
#: Subcutaneous glucose Gs/Vg in a ``pumplab patient simulate`` trace: what
#: simglucose's ``BG`` column holds (scored only when asked for by name).
GSUB_COLUMN = "gsub_mg_dl"
#: Every glucose column the reader knows, CGM columns first (the default choice).
GLUCOSE_COLUMNS = (
    CGM_COLUMN, CGM_MMOL_COLUMN, SIMGLUCOSE_CGM_COLUMN,
    BG_COLUMN, BG_MMOL_COLUMN, SIMGLUCOSE_BG_COLUMN, GSUB_COLUMN,
)  # fmt: skip
_CGM_COLUMNS = frozenset({CGM_COLUMN, CGM_MMOL_COLUMN, SIMGLUCOSE_CGM_COLUMN})
_MMOL_COLUMNS = frozenset({BG_MMOL_COLUMN, CGM_MMOL_COLUMN})

_FLAGS = {"LOW": CGM_LOW_MG_DL, "HIGH": CGM_HIGH_MG_DL}

#: Largest minute a trace row may have: one leap year of minutes, the last row
#: of the longest run ``pumplab patient simulate`` accepts (its ``MAX_MINUTES``;
#: a test holds the two equal).
MAX_TRACE_MINUTE = 366 * 1440

#: Largest glucose accepted (mg/dL).  Several times the highest blood glucose
#: reported in a living person (about 2,650 mg/dL, 147.6 mmol/L) and 25 times
#: a meter's or CGM's top reading: a larger value is a unit or typing error.
#: It also keeps every sum of squares of a metric far from overflow.
MAX_GLUCOSE_MG_DL = 10_000.0

#: A grid may hold at most this many slots per reading (data present >= 1 %)...
MAX_SLOTS_PER_READING = 100
#: ...unless it is this small anyway (8 MB of float64): a short sparse trace is fine.
MIN_SLOT_BUDGET = 1_000_000
#: Grid values scored at once (patients are gridded and scored in blocks).
_GRID_VALUES_PER_BLOCK = 4_000_000


@dataclass(frozen=True, slots=True)
class GlucoseSeries:
    """The readings of one patient, in time order.

    ``minute``, ``bg_mg_dl`` and ``row`` hold one entry per reading (flags
    already substituted); ``first_minute``/``last_minute`` span all of the
    patient's rows, readings or not.
    """

    patient: str | None
    minute: IntArray
    bg_mg_dl: FloatArray
    row: IntArray
    first_minute: int
    last_minute: int
    low_flags: int
    high_flags: int


@dataclass(frozen=True, slots=True)
class GlucoseTrace:
    """A checked trace: its source, the glucose column used, and one series per patient.

    The series hold mg/dL whatever the file's unit; ``unit`` is the unit the
    readings were in (it selects the range limits, and the unit of reports).
    """

    source: str
    column: str
    series: tuple[GlucoseSeries, ...]
    unit: GlucoseUnit = GlucoseUnit.MG_DL


@dataclass(frozen=True, slots=True)
class TraceMetrics:
    """The metrics of one patient of a trace, with what the CLI reports beside them."""

    patient: str | None
    column: str
    start_minute: int
    low_flags: int
    high_flags: int
    metrics: GlycemicSummary

    def as_dict(
        self, unit: GlucoseUnit = GlucoseUnit.MG_DL
    ) -> dict[str, str | float | int | None]:
        """The record ``pumplab metrics --json`` prints (``NaN`` as ``None``).

        In mmol/L the concentrations are converted and their keys renamed
        (:func:`~pumplab.metrics.glucose_units.metrics_in_unit`).
        """
        m = self.metrics.as_dict()
        out: dict[str, str | float | int | None] = {
            "patient": self.patient,
            "column": self.column,
            "start_minute": self.start_minute,
            "interval_min": m["interval_min"],
            "n_samples": m["n_samples"],
            "data_present_pct": m["data_present_pct"],
            "low_flags": self.low_flags,
            "high_flags": self.high_flags,
        }
        for key in METRIC_KEYS:
            out[key] = m[key]
        return metrics_in_unit(out, unit)


class _SeriesBuilder:
    """Accumulates one patient's rows while the file is read."""

    __slots__ = (
        "first_minute",
        "flags",
        "high",
        "last_minute",
        "last_row",
        "low",
        "minutes",
        "rows",
        "values",
    )

    def __init__(self, minute: int, row: int) -> None:
        self.first_minute = minute
        self.last_minute = minute
        self.last_row = row
        self.minutes: list[int] = []
        self.values: list[float] = []
        self.rows: list[int] = []
        self.flags: list[int] = []  # 0: a number, 1: LOW, 2: HIGH
        self.low = 0
        self.high = 0


def read_trace(
    path: str | Path, *, column: str | None = None, unit: GlucoseUnit | None = None
) -> GlucoseTrace:
    """Read and check the trace at ``path``; see :func:`parse_trace`."""
    source = str(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return parse_trace(fh, source=source, column=column, unit=unit)
    except UnicodeDecodeError as exc:
        raise InputError("not a UTF-8 text file", source=source) from exc


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a file keeps its time, glucose and patient, and how its time reads."""

    time_field: str
    i_time: int
    i_glucose: int
    i_patient: int | None
    clock: bool  # simglucose's ISO 8601 Time, not integer minutes


def parse_trace(
    lines: Iterable[str],
    *,
    source: str,
    column: str | None = None,
    unit: GlucoseUnit | None = None,
) -> GlucoseTrace:
    """Parse and check CSV text (an iterable of lines) into a :class:`GlucoseTrace`.

    ``column`` picks the glucose column (one of :data:`GLUCOSE_COLUMNS`); by
    default the CGM column if present, else the BG column.  ``unit`` says what
    the readings are in; by default the column's (``*_mmol_l``: mmol/L, else
    mg/dL).  ``source`` names the data in error messages.
    """
    if column is not None and column not in GLUCOSE_COLUMNS:
        raise ValueError(f"column must be one of {GLUCOSE_COLUMNS}, got {column!r}")
    # strict: an unclosed quote is an error, not a field that swallows the rest of the file.
    reader = csv.reader(lines, strict=True)
    row_no = 0
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise InputError("empty file: no header row", source=source)
        names = [h.strip() for h in header]
        layout, col = _layout(names, column, source)
        if unit is None:
            unit = GlucoseUnit.MMOL_L if col in _MMOL_COLUMNS else GlucoseUnit.MG_DL
        unit = GlucoseUnit(unit)
        top_value = MAX_GLUCOSE_MG_DL / float(to_mg_dl(1.0, unit))  # the limit in the file's unit

        builders: dict[str | None, _SeriesBuilder] = {}
        midnight: datetime | None = None
        n_rows = 0
        for record in reader:
            row_no += 1
            if not record:
                continue  # a blank line, e.g. a trailing newline
            n_rows += 1
            if len(record) != len(names):
                raise InputError(
                    f"row has {len(record)} fields, the header has {len(names)}",
                    source=source,
                    row=row_no,
                )
            patient = _patient(record, layout.i_patient, source, row_no)
            if layout.clock:
                when = _clock(record[layout.i_time], source, row_no)
                if midnight is None:
                    midnight = when.replace(hour=0, minute=0, second=0, microsecond=0)
                minute = _clock_minute(when, midnight, source, row_no)
            else:
                minute = _minute(record[layout.i_time], source, row_no)
            builder = builders.get(patient)
            if builder is None:
                builder = builders[patient] = _SeriesBuilder(minute, row_no)
            else:
                _check_order(builder, minute, patient, layout.time_field, source, row_no)
                builder.last_minute, builder.last_row = minute, row_no
            _glucose(
                record[layout.i_glucose], col, top_value, unit, builder, minute, source, row_no
            )
    except csv.Error as exc:
        reason = str(exc)
        if "unexpected end of data" in reason:
            reason = "a quoted field is never closed (unclosed quote)"
        raise InputError(f"malformed CSV: {reason}", source=source, row=row_no + 1) from exc
    if n_rows == 0:
        raise InputError("no data rows after the header", source=source)
    numbers = [
        v for b in builders.values() for v, f in zip(b.values, b.flags, strict=True) if not f
    ]
    check_glucose_unit(numbers, unit, source=source, field=col)
    series = tuple(
        GlucoseSeries(
            patient=patient,
            minute=np.asarray(b.minutes, dtype=np.int64),
            bg_mg_dl=_in_mg_dl(b, unit),
            row=np.asarray(b.rows, dtype=np.int64),
            first_minute=b.first_minute,
            last_minute=b.last_minute,
            low_flags=b.low,
            high_flags=b.high,
        )
        for patient, b in builders.items()
    )
    return GlucoseTrace(source=source, column=col, series=series, unit=unit)


def _in_mg_dl(b: _SeriesBuilder, unit: GlucoseUnit) -> FloatArray:
    """The builder's readings in mg/dL, flags as their exact substitutes."""
    values = to_mg_dl(b.values, unit)
    flags = np.asarray(b.flags, dtype=np.int8)
    values[flags == 1] = CGM_LOW_MG_DL
    values[flags == 2] = CGM_HIGH_MG_DL
    return values


def infer_interval_min(minutes: npt.ArrayLike) -> int | None:
    """The most common step between consecutive reading minutes (smaller on a tie).

    ``None`` with fewer than two readings.
    """
    steps = np.diff(np.asarray(minutes, dtype=np.int64))
    if steps.size == 0:
        return None
    values, counts = np.unique(steps, return_counts=True)
    # np.unique sorts values ascending, and argmax returns the first maximum.
    return int(values[np.argmax(counts)])


def grid_series(
    series: Sequence[GlucoseSeries],
    interval_min: int,
    *,
    source: str = "<trace>",
    imposed: bool = False,
) -> tuple[FloatArray, IntArray, IntArray]:
    """Put each series on its own grid of ``interval_min`` minutes.

    Returns ``(bg, expected, start_minute)``: ``bg`` of shape ``(N, T)`` padded
    with ``NaN`` past each patient's window, the number of slots in each
    window, and the minute of each row's first slot.  ``imposed`` says the
    caller chose the interval (the error for two readings in one slot then
    does not suggest choosing one).
    """
    if interval_min <= 0:
        raise ValueError(f"interval_min must be positive, got {interval_min}")
    placed: list[tuple[IntArray, FloatArray]] = []
    expected = np.zeros(len(series), dtype=np.int64)
    start = np.zeros(len(series), dtype=np.int64)
    for i, s in enumerate(series):
        anchor = int(s.minute[0]) if s.minute.size else s.first_minute
        # floor(x + 1/2): round half up, the same on every platform.
        k = np.floor((s.minute - anchor) / interval_min + 0.5).astype(np.int64)
        clash = np.flatnonzero(np.diff(k) == 0)
        if clash.size:
            j = int(clash[0]) + 1
            raise InputError(
                f"reading at minute {s.minute[j]} falls in the same {interval_min}-minute slot "
                f"as the reading at minute {s.minute[j - 1]}"
                + (f" (patient {s.patient})" if s.patient is not None else ""),
                source=source,
                row=int(s.row[j]),
                field=MINUTE_COLUMN,
                allowed=(
                    f"readings at least {interval_min} minutes apart (the imposed interval)"
                    if imposed
                    else f"readings at least {interval_min} minutes apart, "
                    "or impose a sampling interval (--interval)"
                ),
            )
        k_lo = math.ceil((s.first_minute - anchor) / interval_min)
        k_hi = math.floor((s.last_minute - anchor) / interval_min)
        if k.size:
            k_lo, k_hi = min(k_lo, int(k[0])), max(k_hi, int(k[-1]))
        expected[i] = k_hi - k_lo + 1
        start[i] = anchor + k_lo * interval_min
        placed.append((k - k_lo, s.bg_mg_dl))
    width = int(expected.max()) if len(series) else 0
    bg = np.full((len(series), width), np.nan)
    for i, (cols, values) in enumerate(placed):
        bg[i, cols] = values
    return bg, expected, start


def trace_metrics(trace: GlucoseTrace, *, interval_min: int | None = None) -> list[TraceMetrics]:
    """The metrics of every patient of ``trace``, in the order patients first appear.

    ``interval_min`` imposes a sampling interval on every patient; by default
    each patient's is inferred (:func:`infer_interval_min`).  Patients sharing
    an interval go through :func:`~pumplab.metrics.glycemic.glycemic_metrics`
    as one batch.
    """
    if interval_min is not None and interval_min <= 0:
        raise InputError(
            "the sampling interval must be positive",
            source=trace.source,
            field="interval",
            allowed="a whole number of minutes ≥ 1",
        )
    intervals = [
        interval_min if interval_min is not None else infer_interval_min(s.minute)
        for s in trace.series
    ]
    if any(dt is None for dt in intervals):
        fallback = _pooled_interval(trace)
        if fallback is None:
            raise InputError(
                f"cannot infer the sampling interval: no patient has two readings in "
                f"'{trace.column}'",
                source=trace.source,
                field=trace.column,
                allowed="a column with readings, or an explicit interval (--interval)",
            )
        intervals = [fallback if dt is None else dt for dt in intervals]

    limits = range_limits_mg_dl(trace.unit)
    slots = [_slot_count(s, dt) for s, dt in zip(trace.series, intervals, strict=True)]
    _check_grid_budget(trace, slots, intervals)
    results: list[TraceMetrics | None] = [None] * len(trace.series)
    for dt in sorted({dt for dt in intervals if dt is not None}):
        idx = [i for i, d in enumerate(intervals) if d == dt]
        # Blocks of patients whose padded grid stays within _GRID_VALUES_PER_BLOCK.
        blocks: list[list[int]] = [[]]
        widest = 0
        for i in idx:
            wider = max(widest, slots[i])
            if blocks[-1] and wider * (len(blocks[-1]) + 1) > _GRID_VALUES_PER_BLOCK:
                blocks.append([])
                wider = slots[i]
            blocks[-1].append(i)
            widest = wider
        for block in blocks:
            group = [trace.series[i] for i in block]
            bg, expected, start = grid_series(
                group, dt, source=trace.source, imposed=interval_min is not None
            )
            batch = glycemic_metrics(
                bg, float(dt), expected_samples=expected, start_minute=start, limits=limits
            )
            for j, i in enumerate(block):
                s = trace.series[i]
                results[i] = TraceMetrics(
                    patient=s.patient,
                    column=trace.column,
                    start_minute=int(start[j]),
                    low_flags=s.low_flags,
                    high_flags=s.high_flags,
                    metrics=batch.patient(j),
                )
    return [r for r in results if r is not None]


def _slot_count(s: GlucoseSeries, interval_min: int | None) -> int:
    """Slots of ``s``'s window on its grid (as :func:`grid_series` counts them)."""
    assert interval_min is not None
    anchor = int(s.minute[0]) if s.minute.size else s.first_minute
    k_lo = math.ceil((s.first_minute - anchor) / interval_min)
    k_hi = math.floor((s.last_minute - anchor) / interval_min)
    if s.minute.size:
        k_lo = min(k_lo, 0)
        k_hi = max(k_hi, math.floor((int(s.minute[-1]) - anchor) / interval_min + 0.5))
    return k_hi - k_lo + 1


def _check_grid_budget(
    trace: GlucoseTrace, slots: Sequence[int], intervals: Sequence[int | None]
) -> None:
    """Refuse a grid far larger than the readings it holds (data present < 1 %)."""
    readings = sum(s.minute.size for s in trace.series)
    total = sum(slots)
    if total <= max(MAX_SLOTS_PER_READING * readings, MIN_SLOT_BUDGET):
        return
    worst = max(
        range(len(slots)), key=lambda i: slots[i] / max(trace.series[i].minute.size, 1)
    )
    s = trace.series[worst]
    who = f" of patient {s.patient}" if s.patient is not None else ""
    raise InputError(
        f"the {s.minute.size} readings{who} span minutes {s.first_minute}..{s.last_minute}, "
        f"{slots[worst]} slots at a {intervals[worst]}-minute interval: the grid of the file "
        f"({total} slots for {readings} readings) is too sparse to score",
        source=trace.source,
        field=MINUTE_COLUMN,
        allowed=f"at least one reading per {MAX_SLOTS_PER_READING} slots "
        f"(or at most {MIN_SLOT_BUDGET} slots in all)",
    )


def _pooled_interval(trace: GlucoseTrace) -> int | None:
    counts: Counter[int] = Counter()
    for s in trace.series:
        counts.update(int(d) for d in np.diff(s.minute))
    if not counts:
        return None
    best = max(counts.values())
    return min(step for step, c in counts.items() if c == best)


def _layout(names: list[str], column: str | None, source: str) -> tuple[_Layout, str]:
    """The file's layout (pumplab's or simglucose's) and the glucose column to score."""
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputError(
            f"duplicated column name(s) in the header: {', '.join(duplicated)}",
            source=source,
            field=duplicated[0],
        )
    simglucose = (
        MINUTE_COLUMN not in names
        and names[0] == SIMGLUCOSE_TIME_COLUMN
        and (SIMGLUCOSE_BG_COLUMN in names or SIMGLUCOSE_CGM_COLUMN in names)
    )
    if not simglucose and MINUTE_COLUMN not in names:
        raise InputError(
            "no 'minute' column in the header",
            source=source,
            field=MINUTE_COLUMN,
            allowed=f"a header with '{MINUTE_COLUMN}' and '{BG_COLUMN}' or '{CGM_COLUMN}', "
            "or simglucose's Time,BG,CGM,...",
        )
    if column is not None:
        if column not in names:
            raise InputError(
                f"no '{column}' column in the header (columns: {', '.join(names)})",
                source=source,
                field=column,
            )
        col = column
    else:
        found = [c for c in GLUCOSE_COLUMNS if c in names]
        if not found:
            raise InputError(
                f"no glucose column in the header (columns: {', '.join(names)})",
                source=source,
                field=f"{BG_COLUMN} or {CGM_COLUMN}",
                allowed=f"a '{BG_COLUMN}' or '{CGM_COLUMN}' column "
                f"(or '{BG_MMOL_COLUMN}', '{CGM_MMOL_COLUMN}')",
            )
        col = found[0]
    time_field = SIMGLUCOSE_TIME_COLUMN if simglucose else MINUTE_COLUMN
    has_patient = not simglucose and PATIENT_COLUMN in names
    layout = _Layout(
        time_field=time_field,
        i_time=names.index(time_field),
        i_glucose=names.index(col),
        i_patient=names.index(PATIENT_COLUMN) if has_patient else None,
        clock=simglucose,
    )
    return layout, col


def _clock(text: str, source: str, row: int) -> datetime:
    """simglucose's Time: an ISO 8601 date and time (pandas writes ``2018-01-01 07:00:00``)."""
    allowed = "an ISO 8601 date and time, e.g. 2018-01-01 07:00:00"
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"not a date and time: {text.strip()!r}",
            source=source,
            row=row,
            field=SIMGLUCOSE_TIME_COLUMN,
            allowed=allowed,
        ) from None


def _clock_minute(when: datetime, midnight: datetime, source: str, row: int) -> int:
    """Minutes from the midnight starting the first row's day; whole minutes only."""
    allowed = (
        f"whole minutes, in order, within {MAX_TRACE_MINUTE} minutes of the first day's "
        "midnight, all with or all without a UTC offset"
    )
    if (when.tzinfo is None) != (midnight.tzinfo is None):
        raise InputError(
            "some times have a UTC offset and others do not",
            source=source,
            row=row,
            field=SIMGLUCOSE_TIME_COLUMN,
            allowed=allowed,
        )
    seconds = (when - midnight).total_seconds()
    if seconds % 60 != 0 or not 0 <= seconds <= MAX_TRACE_MINUTE * 60:
        raise InputError(
            f"time {when.isoformat(sep=' ')} is not a whole minute within range of "
            f"{midnight.isoformat(sep=' ')}",
            source=source,
            row=row,
            field=SIMGLUCOSE_TIME_COLUMN,
            allowed=allowed,
        )
    return int(seconds // 60)


def _patient(record: list[str], index: int | None, source: str, row: int) -> str | None:
    if index is None:
        return None
    patient = record[index].strip()
    if not patient:
        raise InputError(
            "the patient id is empty",
            source=source,
            row=row,
            field=PATIENT_COLUMN,
            allowed="a non-empty patient id",
        )
    return patient


def _minute(text: str, source: str, row: int) -> int:
    text = text.strip()
    allowed = f"an integer number of minutes 0..{MAX_TRACE_MINUTE} (ASCII digits)"
    if not text:
        raise InputError(
            "the minute is missing", source=source, row=row, field=MINUTE_COLUMN, allowed=allowed
        )
    value = parse_integer(text)
    if value is None:
        raise InputError(
            f"the minute is not an integer: {text!r}",
            source=source,
            row=row,
            field=MINUTE_COLUMN,
            allowed=allowed,
        )
    if not 0 <= value <= MAX_TRACE_MINUTE:
        raise InputError(
            f"the minute is out of range: {text}",
            source=source,
            row=row,
            field=MINUTE_COLUMN,
            allowed=allowed,
        )
    return value


def _check_order(
    b: _SeriesBuilder, minute: int, patient: str | None, field: str, source: str, row: int
) -> None:
    who = f" for patient {patient}" if patient is not None else ""
    if minute == b.last_minute:
        raise InputError(
            f"minute {minute} is duplicated{who} (also at row {b.last_row})",
            source=source,
            row=row,
            field=field,
            allowed="strictly increasing minutes within each patient",
        )
    if minute < b.last_minute:
        raise InputError(
            f"minute {minute} comes after minute {b.last_minute}{who} (row {b.last_row}): "
            "times are not in order",
            source=source,
            row=row,
            field=field,
            allowed="strictly increasing minutes within each patient",
        )


def _glucose(
    text: str,
    column: str,
    top_value: float,
    unit: GlucoseUnit,
    b: _SeriesBuilder,
    minute: int,
    source: str,
    row: int,
) -> None:
    """One glucose cell; ``top_value`` is :data:`MAX_GLUCOSE_MG_DL` in the file's ``unit``."""
    text = text.strip()
    if not text:
        return  # no reading at this minute
    is_cgm = column in _CGM_COLUMNS
    # A sensor never reads 0 (it reads LOW); a simulated plasma glucose can be 0
    # in an overdose (the 2008 model has no counter-regulation), never negative.
    top = f"{top_value:,.0f} {unit.value}"
    allowed = (
        f"a glucose value > 0 and <= {top} (ASCII decimal), LOW, HIGH, or empty for no reading"
        if is_cgm
        else f"a glucose value >= 0 and <= {top} (ASCII decimal), or empty for no reading"
    )
    flag = text.upper()
    code = 0
    if is_cgm and flag in _FLAGS:
        value = math.nan  # replaced by the flag's mg/dL substitute once converted
        if flag == "LOW":
            b.low += 1
            code = 1
        else:
            b.high += 1
            code = 2
    else:
        number = parse_decimal(text)
        if number is None:
            raise InputError(
                f"not a number: {text!r}", source=source, row=row, field=column, allowed=allowed
            )
        value = number
        if not math.isfinite(value) or value < 0.0 or (is_cgm and value == 0.0):
            raise InputError(
                f"glucose must be a {'positive' if is_cgm else 'non-negative'} finite number,"
                f" got {text!r}",
                source=source,
                row=row,
                field=column,
                allowed=allowed,
            )
        if value > top_value:
            raise InputError(
                f"glucose out of range: {text!r}",
                source=source,
                row=row,
                field=column,
                allowed=allowed,
            )
    b.minutes.append(minute)
    b.values.append(value)
    b.flags.append(code)
    b.rows.append(row)

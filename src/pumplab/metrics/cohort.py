"""Cohort summaries and the per-patient table, for runs of many patients.

A population run (``pumplab patient simulate --population N``) or ``pumplab
metrics`` on many patients scores each patient with
:func:`~pumplab.metrics.glycemic.glycemic_metrics`; this module reduces the
per-patient metrics to what a reader of 10,000 patients wants on one screen,
and writes the per-patient table to CSV instead of the terminal:

* :func:`cohort_summary` (and :func:`trace_cohort_summary` for scored trace
  files): median and interquartile range (first and third
  quartile) of TIR, TBR and TAR; how many patients had a level-2
  hypoglycaemia event (≥ 15 min < 54 mg/dL, the consensus event) and their
  share; and, when the caller knows it (a simulation does), which patients
  left the model's validated range;
* :class:`MetricsCollector`: scores a population chunk by chunk (the
  simulator hands out traces in chunks to bound memory) and keeps only the
  per-patient metrics;
* :func:`range_metrics` and :class:`RangeCollector`: only what the summary
  needs (readings, TIR, TBR, TAR, level-2 events), the same numbers as
  :func:`~pumplab.metrics.glycemic.glycemic_metrics` gives them at a tenth of
  its cost (no MAGE, ADRR or risk indices): a command that prints the summary
  of 10,000 simulated days without the per-patient table pays ~0.2 s, not
  seconds;
* :func:`patient_records` (or ``TraceMetrics.as_dict`` for trace files) and
  :func:`write_metrics_table`: one CSV row per patient, concentrations in
  mg/dL or mmol/L.

Quartiles are numpy's default (linear interpolation between order
statistics, R's type 7, what iglu and most statistics software report).
Patients without a reading have no metrics and are left out of the
quartiles and of the share's denominator; the summary counts them.

Pure: values in, values out; the writer takes an open text stream (the
caller owns the file and writes it atomically).  Deliberately not here:
printing, progress, choosing file names.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from pumplab.metrics.events import count_per_patient, find_hypo_events, validate_glucose
from pumplab.metrics.glucose_units import (
    GlucoseUnit,
    RangeLimits,
    metrics_in_unit,
    range_limits_mg_dl,
)
from pumplab.metrics.glycemic import METRIC_KEYS, GlycemicMetrics, glycemic_metrics
from pumplab.metrics.tracefile import TraceMetrics

__all__ = [
    "CohortSummary",
    "MetricsCollector",
    "Quartiles",
    "RangeCollector",
    "RangeMetrics",
    "cohort_summary",
    "concatenate_metrics",
    "patient_records",
    "range_metrics",
    "trace_cohort_summary",
    "write_metrics_table",
]

Record = dict[str, str | float | int | None]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Quartiles:
    """Median and quartiles of one metric over the patients that have it (NaN if none)."""

    median: float
    q1: float
    q3: float
    n_patients: int

    @property
    def iqr(self) -> float:
        """The interquartile range q3 - q1."""
        return self.q3 - self.q1

    @classmethod
    def of(cls, values: npt.ArrayLike) -> Quartiles:
        """The quartiles of ``values``, NaN left out."""
        arr = np.asarray(values, dtype=np.float64)
        arr = arr[~np.isnan(arr)]
        if arr.size == 0:
            return cls(math.nan, math.nan, math.nan, 0)
        q1, median, q3 = (float(v) for v in np.percentile(arr, [25.0, 50.0, 75.0]))
        return cls(median, q1, q3, int(arr.size))

    def as_dict(self) -> Record:
        """``median``, ``q1``, ``q3``, ``iqr`` and ``n_patients`` (NaN as None)."""
        return {
            "median": _none(self.median),
            "q1": _none(self.q1),
            "q3": _none(self.q3),
            "iqr": _none(self.iqr),
            "n_patients": self.n_patients,
        }


@dataclass(frozen=True, slots=True)
class CohortSummary:
    """What a run of many patients prints instead of one line per patient.

    ``outside_validated_range`` names the patients whose simulation left the
    model's validated range, in patient order; ``None`` when the caller does
    not know (scored traces carry no such record).
    """

    n_patients: int
    n_without_readings: int
    tir_70_180_pct: Quartiles
    tbr_70_pct: Quartiles
    tar_180_pct: Quartiles
    level2_hypo_patients: int
    level2_hypo_share_pct: float
    outside_validated_range: tuple[str, ...] | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as None)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Quartiles):
                out[f.name] = value.as_dict()
            elif isinstance(value, tuple):
                out[f.name] = list(value)
            else:
                out[f.name] = _none(value) if isinstance(value, float) else value
        return out


def cohort_summary(
    names: Sequence[str],
    metrics: GlycemicMetrics | RangeMetrics,
    *,
    outside_validated_range: npt.ArrayLike | None = None,
) -> CohortSummary:
    """Summarise the per-patient ``metrics`` of the patients ``names`` (same order).

    ``outside_validated_range`` (one bool per patient, e.g.
    ``RunSummary.outside_validated_range`` of a simulation) selects the names
    listed as outside the validated range.
    """
    if len(names) != len(metrics):
        raise ValueError(f"{len(names)} names for the metrics of {len(metrics)} patients")
    return _summary(
        names, metrics.n_samples, metrics.tir_70_180_pct, metrics.tbr_70_pct,
        metrics.tar_180_pct, metrics.hypo_events, outside_validated_range,
    )  # fmt: skip


def trace_cohort_summary(results: Sequence[TraceMetrics]) -> CohortSummary:
    """:func:`cohort_summary` of the patients of scored trace files (any sampling intervals).

    Patients without a ``patient`` column are named by their position (``#1``, ...).
    """
    names = [r.patient if r.patient is not None else f"#{i + 1}" for i, r in enumerate(results)]

    def column(key: str) -> npt.NDArray[np.float64]:
        return np.array([float(getattr(r.metrics, key)) for r in results])

    return _summary(
        names, column("n_samples"), column("tir_70_180_pct"), column("tbr_70_pct"),
        column("tar_180_pct"), column("hypo_events"), None,
    )  # fmt: skip


def _summary(
    names: Sequence[str],
    n_samples: npt.ArrayLike,
    tir: npt.ArrayLike,
    tbr: npt.ArrayLike,
    tar: npt.ArrayLike,
    hypo_events: npt.ArrayLike,
    outside_validated_range: npt.ArrayLike | None,
) -> CohortSummary:
    scored = np.asarray(n_samples) > 0
    n_scored = int(scored.sum())
    with_event = int(((np.asarray(hypo_events) > 0) & scored).sum())
    outside: tuple[str, ...] | None = None
    if outside_validated_range is not None:
        flags = np.asarray(outside_validated_range, dtype=bool)
        if flags.shape != (len(names),):
            raise ValueError(f"outside_validated_range must have shape ({len(names)},)")
        outside = tuple(names[int(i)] for i in np.flatnonzero(flags))
    return CohortSummary(
        n_patients=len(names),
        n_without_readings=len(names) - n_scored,
        tir_70_180_pct=Quartiles.of(tir),
        tbr_70_pct=Quartiles.of(tbr),
        tar_180_pct=Quartiles.of(tar),
        level2_hypo_patients=with_event,
        level2_hypo_share_pct=100.0 * with_event / n_scored if n_scored else math.nan,
        outside_validated_range=outside,
    )


def concatenate_metrics(parts: Sequence[GlycemicMetrics]) -> GlycemicMetrics:
    """The metrics of several batches of patients, in order (all at one interval)."""
    if not parts:
        raise ValueError("nothing to concatenate")
    intervals = {p.interval_min for p in parts}
    if len(intervals) != 1:
        raise ValueError(f"batches at different sampling intervals: {sorted(intervals)}")
    arrays: dict[str, Any] = {}
    for f in fields(GlycemicMetrics):
        if f.name == "interval_min":
            continue
        value = np.concatenate([getattr(p, f.name) for p in parts])
        value.flags.writeable = False
        arrays[f.name] = value
    return GlycemicMetrics(interval_min=parts[0].interval_min, **arrays)


@dataclass(frozen=True, slots=True, eq=False)
class RangeMetrics:
    """What :func:`cohort_summary` needs of each patient, and nothing else (arrays ``(N,)``).

    The fields have the names, and for the same glucose the very values, of
    :class:`~pumplab.metrics.glycemic.GlycemicMetrics` (tested equal).
    """

    interval_min: float
    n_samples: IntArray
    tir_70_180_pct: FloatArray
    tbr_70_pct: FloatArray
    tar_180_pct: FloatArray
    hypo_events: IntArray

    def __len__(self) -> int:
        return int(self.n_samples.shape[0])


def range_metrics(
    bg_mg_dl: npt.ArrayLike, interval_min: float, *, limits: RangeLimits | None = None
) -> RangeMetrics:
    """Readings, TIR 70-180, TBR < 70, TAR > 180 and level-2 events of every row.

    Takes what :func:`~pumplab.metrics.glycemic.glycemic_metrics` takes
    (``(N, T)`` mg/dL, ``NaN`` for no reading) and computes those five by the
    same expressions, so the numbers are equal; it skips the other metrics,
    MAGE's per-patient walk above all.
    """
    bg = validate_glucose(bg_mg_dl)
    if not (np.isfinite(interval_min) and interval_min > 0):
        raise ValueError(f"interval_min must be a positive number of minutes, got {interval_min}")
    lim = range_limits_mg_dl() if limits is None else limits
    n = (bg.shape[1] - np.count_nonzero(np.isnan(bg), axis=1)).astype(np.int64)
    # NaN compares False both ways, so these count readings only; every reading
    # is below, above or in range, so the in-range count is what is left.  The
    # integer counts are glycemic_metrics', and so are the divisions.
    below = np.count_nonzero(bg < lim.low, axis=1)
    above = np.count_nonzero(bg > lim.high, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_f = n.astype(np.float64)
        tir: FloatArray = 100.0 * (n - below - above) / n_f
        tbr: FloatArray = 100.0 * below / n_f
        tar: FloatArray = 100.0 * above / n_f
    # Patients are independent in the event search, and one without a reading
    # below the threshold has no event: only the others are searched.
    low = np.flatnonzero(np.any(bg < lim.very_low, axis=1))
    hypo = np.zeros(bg.shape[0], dtype=np.int64)
    if low.size:
        events = find_hypo_events(bg[low], interval_min, threshold_mg_dl=lim.very_low)
        hypo[low] = count_per_patient(events, low.size)
    for value in (n, tir, tbr, tar, hypo):
        value.flags.writeable = False
    return RangeMetrics(float(interval_min), n, tir, tbr, tar, hypo)


class RangeCollector:
    """:class:`MetricsCollector` for the summary alone: keeps :class:`RangeMetrics`.

    >>> import numpy as np
    >>> collector = RangeCollector(interval_min=1.0)
    >>> collector.add(["a", "b"], np.full((2, 61), 60.0))
    >>> cohort_summary(collector.names, collector.metrics()).tbr_70_pct.median
    100.0
    """

    def __init__(self, interval_min: float) -> None:
        self._interval = interval_min
        self._names: list[str] = []
        self._parts: list[RangeMetrics] = []

    def add(self, names: Sequence[str], bg_mg_dl: npt.ArrayLike) -> None:
        """Score a chunk: ``bg_mg_dl`` is ``(len(names), T)`` mg/dL."""
        part = range_metrics(bg_mg_dl, self._interval)
        if len(part) != len(names):
            raise ValueError(f"{len(names)} names for {len(part)} traces")
        self._names.extend(names)
        self._parts.append(part)

    @property
    def names(self) -> tuple[str, ...]:
        """The patients scored so far, in order."""
        return tuple(self._names)

    def metrics(self) -> RangeMetrics:
        """Every patient's figures so far."""
        if not self._parts:
            raise ValueError("nothing collected")
        arrays: dict[str, Any] = {}
        for f in fields(RangeMetrics):
            if f.name == "interval_min":
                continue
            value = np.concatenate([getattr(p, f.name) for p in self._parts])
            value.flags.writeable = False
            arrays[f.name] = value
        return RangeMetrics(interval_min=self._parts[0].interval_min, **arrays)


class MetricsCollector:
    """Scores a cohort chunk by chunk and keeps only the per-patient metrics.

    >>> import numpy as np
    >>> collector = MetricsCollector(interval_min=1.0)
    >>> collector.add(["a", "b"], np.full((2, 61), 120.0))
    >>> collector.names, float(collector.metrics().tir_70_180_pct[0])
    (('a', 'b'), 100.0)
    """

    def __init__(self, interval_min: float, *, start_minute: int = 0) -> None:
        self._interval = interval_min
        self._start = start_minute
        self._names: list[str] = []
        self._parts: list[GlycemicMetrics] = []

    def add(self, names: Sequence[str], bg_mg_dl: npt.ArrayLike) -> None:
        """Score a chunk: ``bg_mg_dl`` is ``(len(names), T)`` mg/dL (e.g. a simulated trace)."""
        part = glycemic_metrics(bg_mg_dl, self._interval, start_minute=self._start)
        if len(part) != len(names):
            raise ValueError(f"{len(names)} names for {len(part)} traces")
        self._names.extend(names)
        self._parts.append(part)

    @property
    def names(self) -> tuple[str, ...]:
        """The patients scored so far, in order."""
        return tuple(self._names)

    def metrics(self) -> GlycemicMetrics:
        """Every patient's metrics so far."""
        return concatenate_metrics(self._parts)


def patient_records(
    names: Sequence[str],
    metrics: GlycemicMetrics,
    *,
    unit: GlucoseUnit = GlucoseUnit.MG_DL,
    outside_validated_range: npt.ArrayLike | None = None,
) -> list[Record]:
    """One record per patient: ``patient``, the validity flag if given, then the metrics.

    Keys: ``patient``, ``outside_validated_range`` (only when given),
    ``interval_min``, ``n_samples``, ``data_present_pct`` and
    :data:`~pumplab.metrics.glycemic.METRIC_KEYS`, concentrations in ``unit``
    (:func:`~pumplab.metrics.glucose_units.metrics_in_unit`).
    """
    if len(names) != len(metrics):
        raise ValueError(f"{len(names)} names for the metrics of {len(metrics)} patients")
    flags = None if outside_validated_range is None else np.asarray(outside_validated_range)
    records: list[Record] = []
    for i, name in enumerate(names):
        m = metrics.patient(i).as_dict()
        record: Record = {"patient": name}
        if flags is not None:
            record["outside_validated_range"] = int(bool(flags[i]))
        for key in ("interval_min", "n_samples", "data_present_pct", *METRIC_KEYS):
            record[key] = m[key]
        records.append(metrics_in_unit(record, unit))
    return records


def write_metrics_table(stream: IO[str], records: Sequence[Record]) -> int:
    """Write ``records`` (all with the same keys, in order) as CSV; returns the rows written.

    The header is the first record's keys.  ``None`` (an undefined metric) is
    an empty cell; floats are written in full (``repr``), so the file reads
    back to the same numbers.
    """
    if not records:
        raise ValueError("no records to write")
    header = list(records[0])
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    for i, record in enumerate(records):
        if list(record) != header:
            raise ValueError(f"record {i} has keys {list(record)}, the header is {header}")
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v
                         for v in record.values()])  # fmt: skip
    return len(records)


def _none(value: float) -> float | None:
    return None if math.isnan(value) else value

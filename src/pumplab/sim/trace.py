"""The trace recorder: what happened to each patient, minute by minute.

Arrays over patients and minutes, filled by the run loop: plasma glucose
(``bg_mg_dl``), interstitial glucose, CGM readings as the pump received them
(value and LOW/HIGH flag, NaN when no reading), carbohydrate eaten, and the
insulin that reached each patient per minute, split by source (``basal``,
``bolus:buttons``, ``bolus:radio`` ...).  Insulin is recorded at the motor,
independently of the pump's own bookkeeping.  Discrete events (alarms, commands,
cancelled boluses, rescue carbs) go to an event list.

Row ``m`` of a trace is the state after minutes ``m-1 .. m`` (row 0 is the
initial state), as in ``pumplab patient simulate``; the inputs of row ``m`` are
those of the minute ``[m-1, m)`` that led to it.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["TraceEvent", "TraceRecorder", "write_atomic"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """Something that happened at a moment, to one patient."""

    time_ms: int
    patient: int
    source: str  # who: "pump", "person", "cgm", "app", ...
    kind: str
    detail: dict[str, Any]


class TraceRecorder:
    """Per-minute arrays for ``n_patients`` over ``minutes`` minutes."""

    def __init__(self, patient_names: Iterable[str], minutes: int) -> None:
        self.patient_names = tuple(patient_names)
        n = len(self.patient_names)
        if n == 0 or minutes <= 0:
            raise ValueError("a trace needs at least one patient and one minute")
        self.minutes = minutes
        shape = (n, minutes + 1)
        self.bg_mg_dl: FloatArray = np.full(shape, np.nan)
        self.gsub_mg_dl: FloatArray = np.full(shape, np.nan)
        self.cgm_mg_dl: FloatArray = np.full(shape, np.nan)
        self.cgm_flag: npt.NDArray[np.object_] = np.full(shape, "", dtype=object)
        self.carbs_g: FloatArray = np.zeros(shape)
        self._insulin: dict[str, FloatArray] = {}
        self.events: list[TraceEvent] = []

    @property
    def n_patients(self) -> int:
        return len(self.patient_names)

    def insulin(self, source: str) -> FloatArray:
        """The (patients, minutes+1) array of insulin units from ``source``."""
        array = self._insulin.get(source)
        if array is None:
            array = np.zeros_like(self.carbs_g)
            self._insulin[source] = array
        return array

    @property
    def insulin_sources(self) -> tuple[str, ...]:
        return tuple(sorted(self._insulin))

    def total_insulin_u(self) -> FloatArray:
        """Insulin that reached each patient per minute, all sources."""
        total = np.zeros_like(self.carbs_g)
        for array in self._insulin.values():
            total += array
        return total

    def event(self, time_ms: int, patient: int, source: str, kind: str, **detail: Any) -> None:
        self.events.append(TraceEvent(time_ms, patient, source, kind, dict(detail)))

    # ------------------------------------------------------------------ output

    def write_csv(
        self, path: str | os.PathLike[str], *, times: Sequence[str] | None = None
    ) -> None:
        """One row per patient and minute; written atomically.

        ``times`` (one text per row minute 0..M, e.g. ISO 8601 wall-clock
        times) adds a ``time`` column after ``minute``.
        """
        if times is not None and len(times) != self.minutes + 1:
            raise ValueError(f"{len(times)} times for {self.minutes + 1} rows per patient")
        sources = self.insulin_sources
        header = ["patient", "minute", "bg_mg_dl", "cgm_mg_dl", "carbs_g", "insulin_u"]
        if times is not None:
            header.insert(2, "time")
        header += [f"insulin_{s.replace(':', '_')}_u" for s in sources]
        total = self.total_insulin_u()

        def rows() -> Iterable[list[str]]:
            for p, name in enumerate(self.patient_names):
                for m in range(self.minutes + 1):
                    flag = self.cgm_flag[p, m]
                    cgm = self.cgm_mg_dl[p, m]
                    cgm_text = flag if flag in ("LOW", "HIGH") else _num(cgm)
                    row = [name, str(m), _num(self.bg_mg_dl[p, m]), cgm_text,
                           _num(self.carbs_g[p, m]), _num(total[p, m])]
                    if times is not None:
                        row.insert(2, times[m])
                    row += [_num(self._insulin[s][p, m]) for s in sources]
                    yield row

        write_atomic(path, [header, *rows()])


def _num(value: float) -> str:
    if math.isnan(value):
        return ""
    return f"{value:.4f}".rstrip("0").rstrip(".") if value != 0 else "0"


def write_atomic(path: str | os.PathLike[str], rows: Iterable[list[str]]) -> None:
    """Write CSV rows to ``path`` via a temporary file: all or nothing."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            writer = csv.writer(handle)
            for row in rows:
                writer.writerow(row)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

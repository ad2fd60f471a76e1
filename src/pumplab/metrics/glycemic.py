"""Consensus glycaemic metrics, batched over patients.

The core, :func:`glycemic_metrics`, takes glucose as an array of shape
``(N, T)`` in mg/dL -- one row per patient, one column per sample on a regular
grid of ``interval_min`` minutes, ``NaN`` where no reading exists -- and
returns one :class:`GlycemicMetrics` whose fields are arrays of shape ``(N,)``.
All summary statistics are vectorised numpy over the whole batch; the event
count comes from :func:`pumplab.metrics.events.find_hypo_events`, a numpy
run-length pass over the same array.  :func:`series_metrics` is the
convenience for one series.

What is computed, with its source (docs/metrics.md has the full definitions):

* mean, SD (sample SD, ``n - 1``), CV = 100·SD/mean;
* GMI (%) = 3.31 + 0.02392 × mean mg/dL (Bergenstal et al., Diabetes Care
  2018;41:2275);
* time in ranges 70–180 (inclusive), < 70, < 54, > 180, > 250 mg/dL as a
  percentage of the readings present (Battelino et al., Diabetes Care
  2019;42:1593, international consensus on time in range);
* LBGI, HBGI and the risk index LBGI + HBGI from Kovatchev's symmetrised
  risk function f(BG) = 1.509·(ln(BG)^1.084 − 5.381), r = 10·f²
  (Kovatchev et al., Diabetes Care 1997;20:1655 and 2006;29:2433), and the
  average daily risk range ADRR (Kovatchev et al. 2006;
  :mod:`pumplab.metrics.variability`);
* MAGE, the mean amplitude of glycaemic excursions, by the moving-average
  algorithm (Service et al. 1970; Fernandes et al. 2022;
  :mod:`pumplab.metrics.variability`);
* the glycaemia risk index GRI = 3.0·VLow + 2.4·Low + 1.6·VHigh + 0.8·High
  (capped at 100) and its hypo and hyper components (Klonoff et al., J
  Diabetes Sci Technol 2023;17:1226);
* the count of level-2 hypoglycaemia events (≥ 15 consecutive minutes
  < 54 mg/dL, ended by ≥ 15 minutes ≥ 54 mg/dL; Battelino et al. 2019 and
  Lancet Diabetes Endocrinol 2023;11:42);
* the percentage of the expected samples that hold a reading (the consensus
  asks for ≥ 70 % of 14 days before reporting; we report, never refuse).

Because every sample stands for one ``interval_min`` of time, a percentage of
samples is a percentage of time, for 1-minute BG and 5-minute CGM alike.

The range limits are the consensus's in mg/dL unless the caller passes
others (:func:`pumplab.metrics.glucose_units.range_limits_mg_dl` gives the
consensus's mmol/L limits converted to mg/dL, for readings that were mmol/L).

Deliberately not here: reading files (:mod:`pumplab.metrics.tracefile`),
security outcomes of attacks (a later ``metrics/security.py``), day/night
splits, CONGA, MODD and other variability indices, and any interpolation of
missing samples (MAGE's own 5-minute grid aside).  CGM ``LOW``/``HIGH`` flags
are the caller's to substitute (:data:`CGM_LOW_MG_DL`, :data:`CGM_HIGH_MG_DL`)
before calling.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from pumplab.metrics.events import (
    count_per_patient,
    find_hypo_events,
    validate_glucose,
)
from pumplab.metrics.glucose_units import RangeLimits, range_limits_mg_dl
from pumplab.metrics.risk import RISK_FLOOR_MG_DL, kovatchev_risk
from pumplab.metrics.variability import adrr, mage_mg_dl

__all__ = [
    "CGM_HIGH_MG_DL",
    "CGM_LOW_MG_DL",
    "METRIC_KEYS",
    "RISK_FLOOR_MG_DL",
    "GlycemicMetrics",
    "GlycemicSummary",
    "glycemic_metrics",
    "gmi_pct",
    "kovatchev_risk",
    "series_metrics",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Value substituted for a CGM ``LOW`` flag (the sensor reads below 40 mg/dL).
#: The limit of the sensor's reportable range; substituting the limit is the
#: usual convention of CGM analysis tools (docs/metrics.md, "CGM LOW and HIGH").
CGM_LOW_MG_DL = 40.0
#: Value substituted for a CGM ``HIGH`` flag (the sensor reads above 400 mg/dL).
CGM_HIGH_MG_DL = 400.0

# Klonoff et al. 2023: GRI = 3.0·VLow + 2.4·Low + 1.6·VHigh + 0.8·High, capped at
# 100; hypo component VLow + 0.8·Low, hyper component VHigh + 0.5·High, and
# GRI = 3.0·hypo + 1.6·hyper.
_GRI_HYPO_WEIGHT = 3.0
_GRI_HYPER_WEIGHT = 1.6
_GRI_LOW_IN_HYPO = 0.8
_GRI_HIGH_IN_HYPER = 0.5
_GRI_CAP = 100.0

# Bergenstal et al. 2018: GMI(%) = 3.31 + 0.02392 × mean glucose (mg/dL).
_GMI_INTERCEPT_PCT = 3.31
_GMI_SLOPE_PCT_PER_MG_DL = 0.02392

#: The metric keys, in the order the CLI and :meth:`GlycemicSummary.as_dict` use.
METRIC_KEYS: tuple[str, ...] = (
    "mean_mg_dl",
    "sd_mg_dl",
    "cv_pct",
    "mage_mg_dl",
    "gmi_pct",
    "tir_70_180_pct",
    "tbr_70_pct",
    "tbr_54_pct",
    "tar_180_pct",
    "tar_250_pct",
    "gri",
    "gri_hypo",
    "gri_hyper",
    "lbgi",
    "hbgi",
    "risk_index",
    "adrr",
    "hypo_events",
)


@dataclass(frozen=True, slots=True)
class GlycemicSummary:
    """The metrics of one patient.  ``NaN`` where a metric is undefined.

    With no reading at all every glucose metric is ``NaN``; SD and CV also
    need two readings.  ``hypo_events`` and the counts are always defined.
    """

    interval_min: float
    n_samples: int
    data_present_pct: float
    mean_mg_dl: float
    sd_mg_dl: float
    cv_pct: float
    mage_mg_dl: float
    gmi_pct: float
    tir_70_180_pct: float
    tbr_70_pct: float
    tbr_54_pct: float
    tar_180_pct: float
    tar_250_pct: float
    gri: float
    gri_hypo: float
    gri_hyper: float
    lbgi: float
    hbgi: float
    risk_index: float
    adrr: float
    hypo_events: int

    def as_dict(self) -> dict[str, float | int | None]:
        """The fields as a plain dict, ``NaN`` turned into ``None`` (JSON ``null``)."""
        out: dict[str, float | int | None] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = None if isinstance(value, float) and np.isnan(value) else value
        return out


@dataclass(frozen=True, slots=True)
class GlycemicMetrics:
    """Per-patient metrics of a batch: every array field has shape ``(N,)``.

    The arrays are read-only.  ``n_samples`` counts readings present,
    ``data_present_pct`` relates them to the expected number of samples.
    """

    interval_min: float
    n_samples: IntArray
    data_present_pct: FloatArray
    mean_mg_dl: FloatArray
    sd_mg_dl: FloatArray
    cv_pct: FloatArray
    mage_mg_dl: FloatArray
    gmi_pct: FloatArray
    tir_70_180_pct: FloatArray
    tbr_70_pct: FloatArray
    tbr_54_pct: FloatArray
    tar_180_pct: FloatArray
    tar_250_pct: FloatArray
    gri: FloatArray
    gri_hypo: FloatArray
    gri_hyper: FloatArray
    lbgi: FloatArray
    hbgi: FloatArray
    risk_index: FloatArray
    adrr: FloatArray
    hypo_events: IntArray

    def __len__(self) -> int:
        return int(self.n_samples.shape[0])

    def patient(self, index: int) -> GlycemicSummary:
        """The metrics of patient ``index`` as plain Python numbers."""
        values: dict[str, Any] = {"interval_min": self.interval_min}
        for f in fields(GlycemicSummary):
            if f.name == "interval_min":
                continue
            item = getattr(self, f.name)[index]
            values[f.name] = int(item) if f.name in _INT_FIELDS else float(item)
        return GlycemicSummary(**values)

    def summaries(self) -> list[GlycemicSummary]:
        """One :class:`GlycemicSummary` per patient, in row order."""
        return [self.patient(i) for i in range(len(self))]


_INT_FIELDS = frozenset({"n_samples", "hypo_events"})


def gmi_pct(mean_mg_dl: npt.ArrayLike) -> FloatArray:
    """Glucose management indicator, % (Bergenstal et al. 2018)."""
    mean = np.asarray(mean_mg_dl, dtype=np.float64)
    out: FloatArray = _GMI_INTERCEPT_PCT + _GMI_SLOPE_PCT_PER_MG_DL * mean
    return out


def glycemic_metrics(
    bg_mg_dl: npt.ArrayLike,
    interval_min: float,
    *,
    expected_samples: npt.ArrayLike | None = None,
    start_minute: npt.ArrayLike = 0,
    limits: RangeLimits | None = None,
) -> GlycemicMetrics:
    """The consensus metrics of every row of ``bg_mg_dl``.

    ``bg_mg_dl`` has shape ``(N, T)`` (or ``(T,)``, taken as one patient): mg/dL
    on a regular grid of ``interval_min`` minutes, ``NaN`` for no reading.
    Values must be finite and >= 0 (0 is a simulated plasma glucose at the
    model's zero gate; it is scored like :data:`RISK_FLOOR_MG_DL` by the risk
    indices); substitute CGM ``LOW``/``HIGH`` first.

    ``expected_samples`` (shape ``(N,)`` or a scalar, default ``T``) is how many
    samples each patient's window should hold, so that rows padded with ``NaN``
    to a common length still report the right ``data_present_pct``.

    ``start_minute`` (a scalar or one whole number per patient, default 0) is
    the minute of each row's first column counted from a midnight: ADRR's
    days and MAGE's 5-minute grid follow the clock.  ``limits`` are the range
    limits in mg/dL (default: the consensus's, :func:`range_limits_mg_dl`);
    they set the ranges, GRI and the level-2 event threshold.

    Raises ``ValueError`` for a misuse: a negative or infinite value, an
    interval ≤ 0, or more readings than ``expected_samples``.
    """
    bg = validate_glucose(bg_mg_dl)
    if not (np.isfinite(interval_min) and interval_min > 0):
        raise ValueError(f"interval_min must be a positive number of minutes, got {interval_min}")
    n_patients, n_cols = bg.shape
    lim = range_limits_mg_dl() if limits is None else limits

    present = ~np.isnan(bg)
    n = present.sum(axis=1).astype(np.int64)
    expected = _expected(expected_samples, n_patients, n_cols, n)

    # Sums over present samples only; rows without any reading give NaN.
    zeros = np.where(present, bg, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_f = n.astype(np.float64)
        mean = zeros.sum(axis=1) / n_f
        dev = np.where(present, bg - mean[:, None], 0.0)
        # Sample SD (n − 1), as R's sd() and iglu use; undefined below 2 readings.
        sd = np.sqrt((dev * dev).sum(axis=1) / (n_f - 1.0))
        sd[n < 2] = np.nan
        cv = 100.0 * sd / mean

        def pct(mask: npt.NDArray[np.bool_]) -> FloatArray:
            # NaN compares False, so missing samples never count in a range.
            out: FloatArray = 100.0 * (mask & present).sum(axis=1) / n_f
            return out

        tir = pct((bg >= lim.low) & (bg <= lim.high))
        tbr70 = pct(bg < lim.low)
        tbr54 = pct(bg < lim.very_low)
        tar180 = pct(bg > lim.high)
        tar250 = pct(bg > lim.very_high)
        gri_hypo = tbr54 + _GRI_LOW_IN_HYPO * (tbr70 - tbr54)
        gri_hyper = tar250 + _GRI_HIGH_IN_HYPER * (tar180 - tar250)
        gri = np.minimum(_GRI_HYPO_WEIGHT * gri_hypo + _GRI_HYPER_WEIGHT * gri_hyper, _GRI_CAP)

        rl, rh = kovatchev_risk(bg)
        lbgi = np.where(present, rl, 0.0).sum(axis=1) / n_f
        hbgi = np.where(present, rh, 0.0).sum(axis=1) / n_f
        data_present = 100.0 * n_f / expected

    events = find_hypo_events(bg, interval_min, threshold_mg_dl=lim.very_low)
    hypo = count_per_patient(events, n_patients)

    arrays: dict[str, Any] = {
        "n_samples": n,
        "data_present_pct": data_present,
        "mean_mg_dl": mean,
        "sd_mg_dl": sd,
        "cv_pct": cv,
        "mage_mg_dl": mage_mg_dl(bg, interval_min, start_minute=start_minute),
        "gmi_pct": gmi_pct(mean),
        "tir_70_180_pct": tir,
        "tbr_70_pct": tbr70,
        "tbr_54_pct": tbr54,
        "tar_180_pct": tar180,
        "tar_250_pct": tar250,
        "gri": gri,
        "gri_hypo": gri_hypo,
        "gri_hyper": gri_hyper,
        "lbgi": lbgi,
        "hbgi": hbgi,
        "risk_index": lbgi + hbgi,
        "adrr": adrr(bg, interval_min, start_minute=start_minute, risk=(rl, rh)),
        "hypo_events": hypo,
    }
    for value in arrays.values():
        value.flags.writeable = False
    return GlycemicMetrics(interval_min=float(interval_min), **arrays)


def series_metrics(
    bg_mg_dl: npt.ArrayLike,
    interval_min: float,
    *,
    expected_samples: int | None = None,
    start_minute: int = 0,
    limits: RangeLimits | None = None,
) -> GlycemicSummary:
    """The metrics of one series of shape ``(T,)``; see :func:`glycemic_metrics`."""
    bg = np.asarray(bg_mg_dl, dtype=np.float64)
    if bg.ndim != 1:
        raise ValueError(f"series_metrics takes one series of shape (T,), got shape {bg.shape}")
    return glycemic_metrics(
        bg[None, :], interval_min, expected_samples=expected_samples,
        start_minute=start_minute, limits=limits,
    ).patient(0)  # fmt: skip


def _expected(
    expected_samples: npt.ArrayLike | None, n_patients: int, n_cols: int, n: IntArray
) -> FloatArray:
    if expected_samples is None:
        return np.full(n_patients, float(n_cols))
    expected = np.broadcast_to(np.asarray(expected_samples, dtype=np.float64), (n_patients,))
    if np.any(expected < n):
        raise ValueError("expected_samples is smaller than the number of readings present")
    return expected.astype(np.float64)

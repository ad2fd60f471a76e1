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
  (Kovatchev et al., Diabetes Care 1997;20:1655 and 2006;29:2433);
* the count of level-2 hypoglycaemia events (≥ 15 consecutive minutes
  < 54 mg/dL, ended by ≥ 15 minutes ≥ 54 mg/dL; Battelino et al. 2019 and
  Lancet Diabetes Endocrinol 2023;11:42);
* the percentage of the expected samples that hold a reading (the consensus
  asks for ≥ 70 % of 14 days before reporting; we report, never refuse).

Because every sample stands for one ``interval_min`` of time, a percentage of
samples is a percentage of time, for 1-minute BG and 5-minute CGM alike.

Deliberately not here: reading files (:mod:`pumplab.metrics.tracefile`),
security outcomes of attacks (a later ``metrics/security.py``), day/night
splits, MAGE/CONGA and other variability indices, and any interpolation of
missing samples.  CGM ``LOW``/``HIGH`` flags are the caller's to substitute
(:data:`CGM_LOW_MG_DL`, :data:`CGM_HIGH_MG_DL`) before calling.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from pumplab.metrics.events import (
    LEVEL2_HYPO_MG_DL,
    count_per_patient,
    find_hypo_events,
    validate_glucose,
)

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

# Consensus range limits, mg/dL (Battelino et al. 2019, Table 1).
_TIR_LOW_MG_DL = 70.0
_TIR_HIGH_MG_DL = 180.0
_TAR_LEVEL2_MG_DL = 250.0

# Bergenstal et al. 2018: GMI(%) = 3.31 + 0.02392 × mean glucose (mg/dL).
_GMI_INTERCEPT_PCT = 3.31
_GMI_SLOPE_PCT_PER_MG_DL = 0.02392

# Kovatchev et al. 1997 (Diabetes Care 20:1655), with the constants for mg/dL:
# f(BG) = 1.509 · (ln(BG)^1.084 − 5.381), r(BG) = 10 · f(BG)².
_KOV_ALPHA = 1.084
_KOV_BETA = 5.381
_KOV_GAMMA = 1.509
_KOV_SCALE = 10.0

#: The metric keys, in the order the CLI and :meth:`GlycemicSummary.as_dict` use.
METRIC_KEYS: tuple[str, ...] = (
    "mean_mg_dl",
    "sd_mg_dl",
    "cv_pct",
    "gmi_pct",
    "tir_70_180_pct",
    "tbr_70_pct",
    "tbr_54_pct",
    "tar_180_pct",
    "tar_250_pct",
    "lbgi",
    "hbgi",
    "risk_index",
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
    gmi_pct: float
    tir_70_180_pct: float
    tbr_70_pct: float
    tbr_54_pct: float
    tar_180_pct: float
    tar_250_pct: float
    lbgi: float
    hbgi: float
    risk_index: float
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
    gmi_pct: FloatArray
    tir_70_180_pct: FloatArray
    tbr_70_pct: FloatArray
    tbr_54_pct: FloatArray
    tar_180_pct: FloatArray
    tar_250_pct: FloatArray
    lbgi: FloatArray
    hbgi: FloatArray
    risk_index: FloatArray
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


#: Below this, Kovatchev's risk function is undefined (ln BG ≤ 0); simulated
#: plasma glucose under it is scored at it (see :func:`kovatchev_risk`).
RISK_FLOOR_MG_DL = 1.0


def kovatchev_risk(bg_mg_dl: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Kovatchev's low and high risk ``(rl, rh)`` of each glucose value.

    f(BG) = 1.509·(ln(BG)^1.084 − 5.381) is zero at BG ≈ 112.5 mg/dL, negative
    below and positive above; r = 10·f²; rl = r where f < 0 (else 0), rh = r
    where f > 0 (else 0) (Kovatchev et al. 1997; 2006).  ``NaN`` stays ``NaN``.

    The formula is defined for BG > 1 mg/dL (ln BG > 0), which covers every
    meter and sensor reading.  A *simulated* plasma glucose can fall below that,
    to 0, in an overdose (the 2008 model has no counter-regulation); such a
    value is scored at :data:`RISK_FLOOR_MG_DL` = 1 mg/dL, where ln BG = 0 and the
    low risk is 10·(1.509·5.381)² ≈ 659.3, the formula's largest defined low
    risk, rather than ``NaN`` or infinity.
    """
    bg = np.asarray(bg_mg_dl, dtype=np.float64)
    log_bg = np.log(np.maximum(bg, RISK_FLOOR_MG_DL))
    f = _KOV_GAMMA * (log_bg**_KOV_ALPHA - _KOV_BETA)
    r = _KOV_SCALE * f * f
    rl = np.where(f < 0.0, r, 0.0)
    rh = np.where(f > 0.0, r, 0.0)
    nan = np.isnan(bg)
    rl[nan] = np.nan
    rh[nan] = np.nan
    return rl, rh


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

    Raises ``ValueError`` for a misuse: a negative or infinite value, an
    interval ≤ 0, or more readings than ``expected_samples``.
    """
    bg = validate_glucose(bg_mg_dl)
    if not (np.isfinite(interval_min) and interval_min > 0):
        raise ValueError(f"interval_min must be a positive number of minutes, got {interval_min}")
    n_patients, n_cols = bg.shape

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

        tir = pct((bg >= _TIR_LOW_MG_DL) & (bg <= _TIR_HIGH_MG_DL))
        tbr70 = pct(bg < _TIR_LOW_MG_DL)
        tbr54 = pct(bg < LEVEL2_HYPO_MG_DL)
        tar180 = pct(bg > _TIR_HIGH_MG_DL)
        tar250 = pct(bg > _TAR_LEVEL2_MG_DL)

        rl, rh = kovatchev_risk(bg)
        lbgi = np.where(present, rl, 0.0).sum(axis=1) / n_f
        hbgi = np.where(present, rh, 0.0).sum(axis=1) / n_f
        data_present = 100.0 * n_f / expected

    events = find_hypo_events(bg, interval_min)
    hypo = count_per_patient(events, n_patients)

    arrays: dict[str, Any] = {
        "n_samples": n,
        "data_present_pct": data_present,
        "mean_mg_dl": mean,
        "sd_mg_dl": sd,
        "cv_pct": cv,
        "gmi_pct": gmi_pct(mean),
        "tir_70_180_pct": tir,
        "tbr_70_pct": tbr70,
        "tbr_54_pct": tbr54,
        "tar_180_pct": tar180,
        "tar_250_pct": tar250,
        "lbgi": lbgi,
        "hbgi": hbgi,
        "risk_index": lbgi + hbgi,
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
) -> GlycemicSummary:
    """The metrics of one series of shape ``(T,)``; see :func:`glycemic_metrics`."""
    bg = np.asarray(bg_mg_dl, dtype=np.float64)
    if bg.ndim != 1:
        raise ValueError(f"series_metrics takes one series of shape (T,), got shape {bg.shape}")
    return glycemic_metrics(bg[None, :], interval_min, expected_samples=expected_samples).patient(0)


def _expected(
    expected_samples: npt.ArrayLike | None, n_patients: int, n_cols: int, n: IntArray
) -> FloatArray:
    if expected_samples is None:
        return np.full(n_patients, float(n_cols))
    expected = np.broadcast_to(np.asarray(expected_samples, dtype=np.float64), (n_patients,))
    if np.any(expected < n):
        raise ValueError("expected_samples is smaller than the number of readings present")
    return expected.astype(np.float64)

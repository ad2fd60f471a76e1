"""Glycaemic variability beyond SD and CV: MAGE and ADRR, per patient of a batch.

Both take glucose as the rest of :mod:`pumplab.metrics` does: an array
``(N, T)`` of mg/dL on a regular grid of ``interval_min`` minutes, ``NaN`` for
no reading, and return one value per patient (``NaN`` where undefined).
``start_minute`` (a scalar or one value per patient) is the minute of each
row's first column, counted from a midnight: it places the row's samples on
the clock, which ADRR needs for its calendar days and MAGE for its 5-minute
grid.

**MAGE**, the mean amplitude of glycaemic excursions (Service et al.,
Diabetes 1970;19:644), computed by the moving-average algorithm of Fernandes
et al. (J Diabetes Sci Technol 2022;16:576), the default of iglu:

1. The readings are put on a 5-minute grid at the clock's multiples of
   5 minutes, by linear interpolation between consecutive readings at most
   45 minutes apart (a reading on a grid point is taken as it is; nothing is
   interpolated across a longer gap).  This is the only place in
   :mod:`pumplab.metrics` that interpolates: the algorithm's moving averages
   are defined on a regular 5-minute series.
2. Each run of consecutive grid values (a *segment*) is scored on its own;
   a segment of fewer than 7 values, or whose SD is below 1 mg/dL, has no MAGE.
3. In a segment, a short (5-point) and a long (32-point) trailing moving
   average are compared; the points where their difference changes sign, with
   the first and the last point, bound the intervals that hold one peak or
   one nadir each, and the peaks and nadirs are read from the glucose itself.
4. An excursion counts when it exceeds the segment's SD (sample SD).  MAGE+
   is the mean height of the counted rises (nadir to peak), MAGE- of the
   counted falls.
5. The patient's MAGE averages MAGE+ and MAGE- of every segment, weighted by
   segment duration (direction "avg").

**ADRR**, the average daily risk range (Kovatchev et al., Diabetes Care
2006;29:2433): for each calendar day with a reading, the largest low risk plus
the largest high risk of that day (Kovatchev's risk function, as for
LBGI/HBGI); ADRR is the mean over those days.

docs/metrics.md gives the exact rules and where they follow iglu where the
papers leave a detail open.  Deliberately not here: CONGA, MODD and the other
indices, and any interpolation outside MAGE.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from pumplab.metrics.risk import kovatchev_risk

__all__ = [
    "MAGE_GRID_MIN",
    "MAGE_LONG_MA",
    "MAGE_MAX_INTERPOLATED_GAP_MIN",
    "MAGE_MIN_POINTS",
    "MAGE_SHORT_MA",
    "adrr",
    "mage_mg_dl",
]

FloatArray = npt.NDArray[np.float64]

#: MAGE's grid (minutes): the algorithm's windows are counted in 5-minute points.
MAGE_GRID_MIN = 5
#: Points of the short and long moving averages (Fernandes et al. 2022).
MAGE_SHORT_MA = 5
MAGE_LONG_MA = 32
#: Readings at most this far apart are interpolated between for MAGE's grid.
MAGE_MAX_INTERPOLATED_GAP_MIN = 45
#: A segment needs at least this many grid points to have a MAGE.
MAGE_MIN_POINTS = 7
#: A segment whose SD is below this (mg/dL) has no excursions to measure.
_MAGE_MIN_SD_MG_DL = 1.0

_DAY_MIN = 1440


def _starts(start_minute: npt.ArrayLike, n: int) -> npt.NDArray[np.int64]:
    starts = np.broadcast_to(np.asarray(start_minute), (n,))
    if not np.all(np.mod(starts, 1) == 0):
        raise ValueError("start_minute must be a whole number of minutes")
    return starts.astype(np.int64)


def mage_mg_dl(
    bg_mg_dl: npt.ArrayLike, interval_min: float, *, start_minute: npt.ArrayLike = 0
) -> FloatArray:
    """MAGE (mg/dL) of every row of ``bg_mg_dl`` (see the module docstring).

    Rows without a missing sample whose grid points are samples (an interval
    dividing 5 minutes) take a batched path -- the grid is a slice and the
    moving averages one array operation -- with the same numbers as the row
    by row path the other rows take (a test holds the two equal).
    """
    bg = np.asarray(bg_mg_dl, dtype=np.float64)
    if bg.ndim == 1:
        bg = bg[None, :]
    n_rows, n_cols = bg.shape
    starts = _starts(start_minute, n_rows)
    out = np.full(n_rows, np.nan)
    pending = np.ones(n_rows, dtype=bool)
    step = MAGE_GRID_MIN / interval_min
    if n_cols and step >= 1.0 and step.is_integer() and float(interval_min).is_integer():
        complete = ~np.isnan(bg).any(axis=1)
        for offset in np.unique(starts[complete]):
            # The first column on the clock's 5-minute grid, if any column is on it.
            on_grid = [
                c for c in range(int(step)) if (offset + c * interval_min) % MAGE_GRID_MIN == 0
            ]
            if not on_grid:
                continue
            rows = np.flatnonzero(complete & (starts == offset))
            grids = np.ascontiguousarray(bg[rows, on_grid[0] :: int(step)])
            out[rows] = _mage_of_complete_grids(grids)
            pending[rows] = False
    columns = np.arange(n_cols, dtype=np.float64) * interval_min
    for p in np.flatnonzero(pending):
        present = ~np.isnan(bg[p])
        if present.sum() < 2:
            continue
        grid = _five_minute_grid(columns[present] + starts[p], bg[p, present])
        out[p] = _mage_of_grid(grid)
    return out


def _five_minute_grid(t_min: FloatArray, values: FloatArray) -> FloatArray:
    """Values at the multiples of 5 minutes from the first reading to the last (NaN in gaps)."""
    first = math.ceil(t_min[0] / MAGE_GRID_MIN) * MAGE_GRID_MIN
    last = math.floor(t_min[-1] / MAGE_GRID_MIN) * MAGE_GRID_MIN
    if last < first:
        return np.zeros(0)
    grid_t = np.arange(first, last + 1, MAGE_GRID_MIN, dtype=np.float64)
    out = np.interp(grid_t, t_min, values)
    # A grid point strictly inside a gap longer than the limit gets no value.
    right = np.searchsorted(t_min, grid_t, side="left")
    inside = (right > 0) & (right < t_min.size)
    inside[inside] &= t_min[right[inside]] != grid_t[inside]
    gap = np.zeros(grid_t.size, dtype=bool)
    idx = np.flatnonzero(inside)
    gap[idx] = (t_min[right[idx]] - t_min[right[idx] - 1]) > MAGE_MAX_INTERPOLATED_GAP_MIN
    out[gap] = np.nan
    return out


def _mage_of_grid(grid: FloatArray) -> float:
    """The duration-weighted mean of MAGE+ and MAGE- over the segments of a 5-minute grid."""
    present = ~np.isnan(grid)
    edges = np.flatnonzero(np.diff(np.concatenate([[False], present, [False]]).astype(np.int8)))
    scored = []
    for a, b in zip(edges[0::2], edges[1::2], strict=True):
        g = grid[a:b]
        if g.size < max(MAGE_MIN_POINTS, MAGE_SHORT_MA):
            continue
        delta = _moving_average(g, MAGE_SHORT_MA) - _moving_average(g, MAGE_LONG_MA)
        duration = float((b - a - 1) * MAGE_GRID_MIN)
        scored.append((*_excursions(g, delta, float(np.std(g, ddof=1))), duration))
    return _combine(scored)


def _mage_of_complete_grids(grids: FloatArray) -> FloatArray:
    """:func:`_mage_of_grid` of each row of ``grids`` (rows without gaps: one segment each)."""
    out = np.full(grids.shape[0], np.nan)
    if grids.shape[1] < max(MAGE_MIN_POINTS, MAGE_SHORT_MA):
        return out
    deltas = _moving_average(grids, MAGE_SHORT_MA) - _moving_average(grids, MAGE_LONG_MA)
    sds = np.std(grids, ddof=1, axis=1)
    duration = float((grids.shape[1] - 1) * MAGE_GRID_MIN)
    for r in range(grids.shape[0]):
        out[r] = _combine([(*_excursions(grids[r], deltas[r], float(sds[r])), duration)])
    return out


def _combine(segments: list[tuple[float, float, float]]) -> float:
    """Duration-weighted mean of the (MAGE+, MAGE-, duration) of segments, NaN ones left out."""
    total = 0.0
    weight = 0.0
    for plus, minus, duration in segments:
        for value in (plus, minus):
            if not math.isnan(value):
                total += value * duration
                weight += duration
    return total / weight if weight > 0.0 else math.nan


def _moving_average(g: FloatArray, window: int) -> FloatArray:
    """Trailing mean over ``window`` points (fewer at the start) along the last axis, its
    first ``window`` values replaced by the first full window's (the last value if the
    series is shorter)."""
    zero = np.zeros((*g.shape[:-1], 1))
    csum = np.concatenate([zero, np.cumsum(g, axis=-1)], axis=-1)
    i = np.arange(g.shape[-1])
    lo = np.maximum(i + 1 - window, 0)
    ma: FloatArray = (csum[..., i + 1] - csum[..., lo]) / (i + 1 - lo)
    fill = ma[..., window - 1 : window] if g.shape[-1] >= window else ma[..., -1:]
    ma[..., :window] = fill
    return ma


def _crossings(delta: FloatArray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Indices where the moving averages cross, and whether each opens a peak (True) or nadir.

    The first and last points always count.  A zero difference has no sign:
    a crossing is a non-zero difference whose sign differs from the last
    non-zero one before it -- except that when the first difference is zero,
    changes across a run of zeros are not seen until a first change between
    neighbouring points has been (the sign "at the last crossing" is then
    undefined; iglu 0.4.3 behaves so, and a simulated trace that starts at
    its steady state has exactly that start).
    """
    nz = np.flatnonzero(delta != 0.0)
    change = np.zeros(0, dtype=bool)
    if nz.size > 1:
        positive = delta[nz] > 0.0
        change = positive[1:] != positive[:-1]
        if delta[0] == 0.0:
            adjacent = nz[1:] == nz[:-1] + 1
            first = np.flatnonzero(change & adjacent)
            change[: first[0] if first.size else change.size] = False
    inner = nz[1:][change] if change.size else nz[:0]
    idx = np.concatenate([[0], inner, [delta.size - 1]]).astype(np.intp)
    return idx, delta[idx] > 0.0


def _turning_points(
    g: FloatArray, idx: npt.NDArray[np.intp], peak: npt.NDArray[np.bool_]
) -> list[float]:
    """The peak or nadir in each interval between crossings, read from the glucose."""
    values: list[float] = []
    lo = int(idx[0])
    for i in range(len(idx) - 1):
        window = g[lo : int(idx[i + 1]) + 1]
        j = int(np.argmax(window)) if peak[i] else int(np.argmin(window))
        values.append(float(window[j]))
        lo += j
    return values


def _rises(v: list[float], sd: float) -> list[float]:
    """Heights of the rises (nadir to peak) larger than ``sd``, walked left to right.

    From the last excursion's end, the largest rise into the current point is
    sought; once one exceeds ``sd`` its peak is followed upwards until glucose
    has fallen more than ``sd`` below it (or the data end), which ends the
    excursion and starts the next search there.
    """
    n = len(v)
    heights: list[float] = []
    j = start = 0
    while j < n:
        rise = [v[j] - v[a] for a in range(start, j + 1)]
        best = max(rise)
        if best > sd:
            i = start + rise.index(best)
            for k in range(j, n):
                if v[k] >= v[j]:
                    j = k
                if v[k] - v[j] < -sd or k == n - 1:
                    heights.append(v[j] - v[i])
                    start = j = k
                    break
        else:
            j += 1
    return heights


def _falls(v: list[float], sd: float) -> list[float]:
    """Depths of the falls (peak to nadir) larger than ``sd``: :func:`_rises` mirrored.

    One asymmetry, as in iglu 0.4.3 (the paper does not fix this detail): after
    a fall the next search starts at its nadir, not where the rise that ended it
    was seen.
    """
    n = len(v)
    depths: list[float] = []
    j = start = 0
    while j < n:
        fall = [v[j] - v[a] for a in range(start, j + 1)]
        best = min(fall)
        if best < -sd:
            i = start + fall.index(best)
            for k in range(j, n):
                if v[k] <= v[j]:
                    j = k
                if v[k] - v[j] > sd or k == n - 1:
                    depths.append(v[i] - v[j])
                    start = j
                    j = k
                    break
        else:
            j += 1
    return depths


def _excursions(g: FloatArray, delta: FloatArray, sd: float) -> tuple[float, float]:
    """(MAGE+, MAGE-) of one gap-free segment with its MA difference and SD; NaN if none."""
    if sd < _MAGE_MIN_SD_MG_DL:
        return math.nan, math.nan
    idx, peak = _crossings(delta)
    v = _turning_points(g, idx, peak)
    rises = _rises(v, sd)
    falls = _falls(v, sd)
    plus = float(np.mean(rises)) if rises else math.nan
    minus = float(np.mean(falls)) if falls else math.nan
    return plus, minus


def adrr(
    bg_mg_dl: npt.ArrayLike,
    interval_min: float,
    *,
    start_minute: npt.ArrayLike = 0,
    risk: tuple[FloatArray, FloatArray] | None = None,
) -> FloatArray:
    """Average daily risk range of every row (Kovatchev et al. 2006); NaN without readings.

    Day d of a row holds the samples whose minute (``start_minute`` + column ×
    ``interval_min``) lies in [1440·d, 1440·(d + 1)); days without a reading
    do not count.  ``risk`` is :func:`~pumplab.metrics.risk.kovatchev_risk` of
    ``bg_mg_dl`` if the caller has it already.
    """
    bg = np.asarray(bg_mg_dl, dtype=np.float64)
    if bg.ndim == 1:
        bg = bg[None, :]
    n, t = bg.shape
    starts = _starts(start_minute, n)
    out = np.full(n, np.nan)
    if t == 0:
        return out
    rl, rh = kovatchev_risk(bg) if risk is None else risk
    minutes = np.arange(t, dtype=np.float64) * interval_min
    for offset in np.unique(starts):
        rows = np.flatnonzero(starts == offset)
        day = np.floor((offset + minutes) / _DAY_MIN).astype(np.int64)
        bounds = np.flatnonzero(np.concatenate([[True], day[1:] != day[:-1]]))
        with np.errstate(invalid="ignore"):
            # fmax ignores NaN: a day's maximum over its readings, NaN if it has none.
            low = np.fmax.reduceat(rl[rows], bounds, axis=1)
            high = np.fmax.reduceat(rh[rows], bounds, axis=1)
        daily = low + high
        with np.errstate(invalid="ignore"):
            counted = (~np.isnan(daily)).sum(axis=1)
            sums = np.where(np.isnan(daily), 0.0, daily).sum(axis=1)
            out[rows] = np.where(counted > 0, sums / np.maximum(counted, 1), np.nan)
    return out

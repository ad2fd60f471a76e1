"""Pure-numpy integrator: the same numbers as the compiled kernel, patients innermost.

:func:`advance` has exactly the signature and semantics of
:func:`pumplab.physiology._kernel.advance` (same array layouts in and out), so
the simulator can swap one for the other.  Internally the state is held as
``(13, N)`` so that every operation of :func:`pumplab.physiology.model.derivatives`
is one vectorised numpy call over all patients; the Python-level loop runs over
minutes and Runge-Kutta stages only, never over patients.

It is the fallback for platforms without numba (``PUMPLAB_NO_NUMBA=1`` or
``backend="numpy"``) and the readable statement of the integrator.  It is
roughly as fast as the kernel for very large batches and much slower for
small ones (Python overhead per minute).  Deliberately no caching, no
threads, no I/O.

One difference from the kernel, by design: after a patient's state becomes
non-finite the kernel stops integrating that patient, while this backend keeps
computing the (NaN) lane; both record the same first non-finite minute and the
simulator raises on it, so no number of a failed patient is ever returned.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pumplab.physiology.model import (
    GutCoefficients,
    MealQueue,
    Param,
    State,
    advance_meal_queue,
    derivatives,
    gut_coefficients,
)
from pumplab.units import MG_PER_G

__all__ = ["advance", "first_invalid"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Same bit values as the kernel (see simulator.ValidityFlag).
_FLAG_SEVERE_HYPO = 1
_FLAG_ABOVE_RANGE = 2
_FLAG_GATED = 4


def _gut_subset(gut: GutCoefficients, idx: npt.NDArray[np.intp]) -> GutCoefficients:
    return GutCoefficients(
        gut.active[idx], gut.alpha[idx], gut.beta[idx], gut.b_dbar[idx], gut.d_dbar[idx]
    )


def _rk4_minute(
    x: FloatArray,
    n_sub: int,
    params: FloatArray,
    gut: GutCoefficients,
    d_mg: FloatArray,
    u_pmol: FloatArray,
) -> FloatArray:
    """One minute of ``n_sub`` RK4 steps for every column of ``x`` (13, n)."""
    h = 1.0 / n_sub
    h_half = h / 2.0
    h_sixth = h / 6.0
    for _ in range(n_sub):
        k1 = derivatives(x, params, gut, d_mg, u_pmol)
        k2 = derivatives(x + h_half * k1, params, gut, d_mg, u_pmol)
        k3 = derivatives(x + h_half * k2, params, gut, d_mg, u_pmol)
        k4 = derivatives(x + h * k3, params, gut, d_mg, u_pmol)
        x = x + h_sixth * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x


def _rk4_lanes(
    x: FloatArray,
    n_lane: IntArray,
    params: FloatArray,
    gut: GutCoefficients,
    d_mg: FloatArray,
    u_pmol: FloatArray,
) -> FloatArray:
    """RK4 over one minute with a per-patient number of sub-steps (lanes grouped by it)."""
    values = np.unique(n_lane)
    if values.size == 1:
        return _rk4_minute(x, int(values[0]), params, gut, d_mg, u_pmol)
    out = np.empty_like(x)
    for n_sub in values:
        idx = np.flatnonzero(n_lane == n_sub)
        out[:, idx] = _rk4_minute(
            x[:, idx], int(n_sub), params[:, idx], _gut_subset(gut, idx), d_mg[idx], u_pmol[idx]
        )
    return out


def advance(
    x: FloatArray,
    queue: FloatArray,
    prm: FloatArray,
    insulin_factor: FloatArray,
    carbs_g: FloatArray,
    insulin_u: FloatArray,
    steps: IntArray,
    minute0: int,
    trace_bg: FloatArray,
    trace_gsub: FloatArray,
    bg_sum: FloatArray,
    bg_min: FloatArray,
    bg_max: FloatArray,
    first_severe: IntArray,
    flags: IntArray,
    first_nonfinite: IntArray,
    severe_mg_dl: float,
    above_mg_dl: float,
) -> int:
    """Advance N patients by M minutes in place; returns how many became non-finite."""
    m_total = carbs_g.shape[1]
    n = x.shape[0]
    active = first_nonfinite < 0
    params = np.ascontiguousarray(prm.T)  # (N_PARAMS, N)
    xs = np.ascontiguousarray(x.T)  # (13, N)
    meal = MealQueue(queue[:, 0].copy(), queue[:, 1].copy(), queue[:, 2].copy(), queue[:, 3].copy())
    since_eating = queue[:, 4].copy()
    base_sub, meal_sub, meal_window, zero_sub = (int(v) for v in steps)
    vg = params[Param.Vg]
    s_sum = bg_sum.copy()
    s_min = bg_min.copy()
    s_max = bg_max.copy()
    severe = first_severe.copy()
    flag = flags.copy()
    nonfinite = first_nonfinite.copy()
    record_bg = trace_bg.shape[1] > 0
    record_gsub = trace_gsub.shape[1] > 0
    glucose = [State.G_P, State.G_T, State.G_S]
    for m in range(m_total):
        q_sto = xs[State.Q_STO1] + xs[State.Q_STO2]
        to_eat, dbar = advance_meal_queue(meal, np.broadcast_to(carbs_g[:, m], (n,)), q_sto)
        since_eating = np.where(to_eat > 0.0, 0.0, since_eating + 1.0)
        gut = gut_coefficients(params, dbar)
        d_mg = to_eat * MG_PER_G
        u_pmol = insulin_u[:, m] * insulin_factor
        n_lane = np.where(since_eating <= meal_window, meal_sub, base_sub)
        start = xs
        xs = _rk4_lanes(start, n_lane, params, gut, d_mg, u_pmol)
        crossed = (xs[glucose] < 0.0).any(axis=0) & ~(start[glucose] < 0.0).any(axis=0)
        idx = np.flatnonzero(crossed)
        if idx.size and zero_sub > 0:
            xs[:, idx] = _rk4_minute(
                start[:, idx], zero_sub, params[:, idx], _gut_subset(gut, idx), d_mg[idx],
                u_pmol[idx],
            )  # fmt: skip
        # Summed in state order, as the kernel does, so that overflow is detected alike.
        total = xs[0].copy()
        for i in range(1, xs.shape[0]):
            total = total + xs[i]
        bad = active & ~np.isfinite(total) & (nonfinite < 0)
        nonfinite = np.where(bad, minute0 + m + 1, nonfinite)
        live = active & (nonfinite < 0)
        # Reported glucose never negative (see the kernel and simulator.reported_glucose).
        bg = xs[State.G_P] / vg
        bg = np.where(bg > 0.0, bg, 0.0)
        s_sum = np.where(live, s_sum + bg, s_sum)
        s_min = np.where(live, np.minimum(s_min, bg), s_min)
        s_max = np.where(live, np.maximum(s_max, bg), s_max)
        low = live & (bg < severe_mg_dl)
        flag = np.where(low, flag | _FLAG_SEVERE_HYPO, flag)
        severe = np.where(low & (severe < 0), minute0 + m + 1, severe)
        flag = np.where(live & (bg > above_mg_dl), flag | _FLAG_ABOVE_RANGE, flag)
        gated = (xs[State.G_P] < 0.0) | (xs[State.G_T] < 0.0) | (xs[State.G_S] < 0.0)
        flag = np.where(live & gated, flag | _FLAG_GATED, flag)
        if record_bg:
            trace_bg[:, m + 1] = bg
        if record_gsub:
            gs = xs[State.G_S] / vg
            trace_gsub[:, m + 1] = np.where(gs > 0.0, gs, 0.0)
    x[:] = xs.T
    queue[:, 0] = meal.planned_g
    queue[:, 1] = meal.last_to_eat_g
    queue[:, 2] = meal.last_qsto_mg
    queue[:, 3] = meal.last_foodtaken_g
    queue[:, 4] = since_eating
    bg_sum[:] = s_sum
    bg_min[:] = s_min
    bg_max[:] = s_max
    first_severe[:] = severe
    flags[:] = flag
    newly_failed = int(np.count_nonzero((nonfinite >= 0) & (first_nonfinite < 0)))
    first_nonfinite[:] = nonfinite
    return newly_failed


def first_invalid(values: FloatArray, upper: float) -> int:
    """Flat index of the first value that is negative, NaN or above ``upper``; -1 if none."""
    bad = np.flatnonzero(~((values >= 0.0) & (values <= upper)))
    return int(bad[0]) if bad.size else -1

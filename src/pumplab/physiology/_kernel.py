"""Compiled (numba) integrator of the UVA/Padova model: patients outer, minutes inner.

One call advances N patients by M minutes.  For each patient the 13 states
live in local variables (registers or the stack) for the whole run, the
patient's constants are read once, and each minute does simglucose's meal
bookkeeping, classical Runge-Kutta 4 sub-steps of the right-hand side (as many
as the step control asks: more while eating, a fine redo when glucose crosses
zero; see simulator.StepControl), the finiteness check, the
severe-hypoglycaemia / validity bookkeeping and, when asked, writes the
minute's glucose to the trace.

The right-hand side :func:`_rhs` is :func:`pumplab.physiology.model.derivatives`
written for one patient, with the same floating-point operations in the same
order (the numpy backend gives the same numbers; a test holds them to it).

Deliberately not here: input validation beyond :func:`first_invalid`, array
allocation, raising errors (:mod:`pumplab.physiology.simulator` does those;
this module only computes).  No ``parallel=True``: one core per call, so that
benchmarks are per-core and the caller decides how to use the machine.
Compiled with ``error_model="numpy"`` (IEEE division, no ZeroDivisionError
tests: see docs/performance.md) and cached on disk (``cache=True``) so a new
process loads the machine code instead of recompiling.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from pumplab.physiology.model import EAT_RATE_G_PER_MIN, N_STATES, Param
from pumplab.units import MG_PER_G

__all__ = ["advance", "first_invalid"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Validity flags (bit values), see simulator.ValidityFlag; duplicated as plain
# ints because numba reads module-level constants at compile time.
_FLAG_SEVERE_HYPO = 1
_FLAG_ABOVE_RANGE = 2
_FLAG_GATED = 4

# Parameter columns as plain ints (compile-time constants for numba).
_BW = int(Param.BW)
_KABS = int(Param.kabs)
_KMAX = int(Param.kmax)
_KMIN = int(Param.kmin)
_B = int(Param.b)
_D = int(Param.d)
_F = int(Param.f)
_VG = int(Param.Vg)
_VI = int(Param.Vi)
_IB = int(Param.Ib)
_VMX = int(Param.Vmx)
_KM0 = int(Param.Km0)
_VM0 = int(Param.Vm0)
_K1 = int(Param.k1)
_K2 = int(Param.k2)
_P2U = int(Param.p2u)
_KI = int(Param.ki)
_KP1 = int(Param.kp1)
_KP2 = int(Param.kp2)
_KP3 = int(Param.kp3)
_M1 = int(Param.m1)
_M2 = int(Param.m2)
_M4 = int(Param.m4)
_M30 = int(Param.m30)
_KA1 = int(Param.ka1)
_KA2 = int(Param.ka2)
_KD = int(Param.kd)
_KSC = int(Param.ksc)
_KE1 = int(Param.ke1)
_KE2 = int(Param.ke2)
_FSNC = int(Param.Fsnc)

_EAT_RATE = float(EAT_RATE_G_PER_MIN)
_MG_PER_G = float(MG_PER_G)
_NS = int(N_STATES)


@njit(inline="always", cache=True, error_model="numpy")
def _tanh(z: float) -> float:
    """tanh(z) as 1 - 2 / (exp(2z) + 1), exactly as :func:`pumplab.physiology.model._tanh`.

    One exp is about 2.7x cheaper than libm's tanh here.  For |z| >= 20 the
    formula rounds to exactly +-1 (2 / (e^40 + 1) < 1e-17 is below half an ulp
    of 1), so the exp is skipped there: same result, bit for bit.
    """
    if z >= 20.0:
        return 1.0
    if z <= -20.0:
        return -1.0
    return 1.0 - 2.0 / (math.exp(2.0 * z) + 1.0)


@njit(inline="always", cache=True, error_model="numpy")
def _rhs(
    x0: float,
    x1: float,
    x2: float,
    x3: float,
    x4: float,
    x5: float,
    x6: float,
    x7: float,
    x8: float,
    x9: float,
    x10: float,
    x11: float,
    x12: float,
    c: tuple[float, ...],
    gut_on: bool,
    alpha: float,
    beta: float,
    b_dbar: float,
    d_dbar: float,
    d_mg: float,
    u_pmol: float,
) -> tuple[float, ...]:
    # c = per-patient constants, see _constants() for the order.
    (
        kabs,
        kmax,
        kmin,
        half_range,
        ra_c,
        kp1,
        kp2,
        kp3,
        ke1,
        ke2,
        fsnc,
        k1,
        k2,
        vm0,
        vmx,
        km0,
        m2m4,
        m1,
        ka1,
        ka2,
        p2u,
        ib,
        ki,
        m1m30,
        m2,
        ka1kd,
        kd,
        ksc,
        vi,
    ) = c
    # G1-G4: stomach and gut (Dalla Man 2007 eqs. 10-13).
    q_sto = x0 + x1
    if gut_on:
        t1 = _tanh(alpha * (q_sto - b_dbar))
        t2 = _tanh(beta * (q_sto - d_dbar))
        kgut = kmin + half_range * (t1 - t2 + 2.0)
    else:
        kgut = kmax
    d0 = -kmax * x0 + d_mg
    d1 = kmax * x0 - x1 * kgut
    d2 = kgut * x1 - kabs * x2
    # G5-G9: glucose kinetics.
    ra = ra_c * x2
    egp = kp1 - kp2 * x3 - kp3 * x8
    renal = ke1 * (x3 - ke2) if x3 > ke2 else 0.0
    d3 = max(egp, 0.0) + ra - fsnc - renal - k1 * x3 + k2 * x4
    if not x3 >= 0.0:
        d3 = 0.0
    uid = (vm0 + vmx * x6) * x4 / (km0 + x4)
    d4 = -uid + k1 * x3 - k2 * x4
    if not x4 >= 0.0:
        d4 = 0.0
    # I1-I7: insulin.
    d5 = -m2m4 * x5 + m1 * x9 + ka1 * x10 + ka2 * x11
    if not x5 >= 0.0:
        d5 = 0.0
    i_t = x5 / vi
    d6 = -p2u * x6 + p2u * (i_t - ib)
    d7 = -ki * (x7 - i_t)
    d8 = -ki * (x8 - x7)
    d9 = -m1m30 * x9 + m2 * x5
    if not x9 >= 0.0:
        d9 = 0.0
    d10 = u_pmol - ka1kd * x10
    if not x10 >= 0.0:
        d10 = 0.0
    d11 = kd * x10 - ka2 * x11
    if not x11 >= 0.0:
        d11 = 0.0
    # G10: interstitial glucose.
    d12 = -ksc * x12 + ksc * x3
    if not x12 >= 0.0:
        d12 = 0.0
    return (d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12)


@njit(inline="always", cache=True, error_model="numpy")
def _constants(prm: F64, p: int) -> tuple[float, ...]:
    kmax = prm[p, _KMAX]
    kmin = prm[p, _KMIN]
    return (
        prm[p, _KABS],
        kmax,
        kmin,
        (kmax - kmin) / 2.0,
        prm[p, _F] * prm[p, _KABS] / prm[p, _BW],
        prm[p, _KP1],
        prm[p, _KP2],
        prm[p, _KP3],
        prm[p, _KE1],
        prm[p, _KE2],
        prm[p, _FSNC],
        prm[p, _K1],
        prm[p, _K2],
        prm[p, _VM0],
        prm[p, _VMX],
        prm[p, _KM0],
        prm[p, _M2] + prm[p, _M4],
        prm[p, _M1],
        prm[p, _KA1],
        prm[p, _KA2],
        prm[p, _P2U],
        prm[p, _IB],
        prm[p, _KI],
        prm[p, _M1] + prm[p, _M30],
        prm[p, _M2],
        prm[p, _KA1] + prm[p, _KD],
        prm[p, _KD],
        prm[p, _KSC],
        prm[p, _VI],
    )


@njit(inline="always", cache=True, error_model="numpy")
def _axpy(x: tuple[float, ...], a: float, k: tuple[float, ...]) -> tuple[float, ...]:
    """x + a k, state by state (an RK4 stage input)."""
    return (
        x[0] + a * k[0], x[1] + a * k[1], x[2] + a * k[2], x[3] + a * k[3],
        x[4] + a * k[4], x[5] + a * k[5], x[6] + a * k[6], x[7] + a * k[7],
        x[8] + a * k[8], x[9] + a * k[9], x[10] + a * k[10], x[11] + a * k[11],
        x[12] + a * k[12],
    )  # fmt: skip


@njit(inline="always", cache=True, error_model="numpy")
def _f(
    x: tuple[float, ...],
    c: tuple[float, ...],
    gut_on: bool,
    alpha: float,
    beta: float,
    b_dbar: float,
    d_dbar: float,
    d_mg: float,
    u_pmol: float,
) -> tuple[float, ...]:
    return _rhs(
        x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11], x[12],
        c, gut_on, alpha, beta, b_dbar, d_dbar, d_mg, u_pmol,
    )  # fmt: skip


# Deliberately not inline="always": numba's IR-level inlining of this (already
# inlined) body into advance() triples the first compile (7 s -> 21 s here) for
# no measurable speed-up; LLVM still optimises the call.
@njit(cache=True, error_model="numpy")
def _rk4_minute(
    x: tuple[float, ...],
    n_sub: int,
    c: tuple[float, ...],
    gut_on: bool,
    alpha: float,
    beta: float,
    b_dbar: float,
    d_dbar: float,
    d_mg: float,
    u_pmol: float,
) -> tuple[float, ...]:
    """One minute of ``n_sub`` classical RK4 steps with the minute's inputs held constant."""
    h = 1.0 / n_sub
    h_half = h / 2.0
    h_sixth = h / 6.0
    for _ in range(n_sub):
        k1 = _f(x, c, gut_on, alpha, beta, b_dbar, d_dbar, d_mg, u_pmol)
        k2 = _f(_axpy(x, h_half, k1), c, gut_on, alpha, beta, b_dbar, d_dbar, d_mg, u_pmol)
        k3 = _f(_axpy(x, h_half, k2), c, gut_on, alpha, beta, b_dbar, d_dbar, d_mg, u_pmol)
        k4 = _f(_axpy(x, h, k3), c, gut_on, alpha, beta, b_dbar, d_dbar, d_mg, u_pmol)
        x = (
            x[0] + h_sixth * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0]),
            x[1] + h_sixth * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1]),
            x[2] + h_sixth * (k1[2] + 2.0 * k2[2] + 2.0 * k3[2] + k4[2]),
            x[3] + h_sixth * (k1[3] + 2.0 * k2[3] + 2.0 * k3[3] + k4[3]),
            x[4] + h_sixth * (k1[4] + 2.0 * k2[4] + 2.0 * k3[4] + k4[4]),
            x[5] + h_sixth * (k1[5] + 2.0 * k2[5] + 2.0 * k3[5] + k4[5]),
            x[6] + h_sixth * (k1[6] + 2.0 * k2[6] + 2.0 * k3[6] + k4[6]),
            x[7] + h_sixth * (k1[7] + 2.0 * k2[7] + 2.0 * k3[7] + k4[7]),
            x[8] + h_sixth * (k1[8] + 2.0 * k2[8] + 2.0 * k3[8] + k4[8]),
            x[9] + h_sixth * (k1[9] + 2.0 * k2[9] + 2.0 * k3[9] + k4[9]),
            x[10] + h_sixth * (k1[10] + 2.0 * k2[10] + 2.0 * k3[10] + k4[10]),
            x[11] + h_sixth * (k1[11] + 2.0 * k2[11] + 2.0 * k3[11] + k4[11]),
            x[12] + h_sixth * (k1[12] + 2.0 * k2[12] + 2.0 * k3[12] + k4[12]),
        )
    return x


@njit(cache=True, nogil=True, error_model="numpy")
def advance(
    x: F64,  # (N, 13) in/out
    queue: F64,  # (N, 5) in/out, see QUEUE_COLUMNS
    prm: F64,  # (N, N_PARAMS)
    insulin_factor: F64,  # (N,) pmol/kg per U
    carbs_g: F64,  # (1 or N, M)
    insulin_u: F64,  # (1 or N, M)
    steps: I64,  # (4,) int64: base, meal, window, zero-crossing
    minute0: int,
    trace_bg: F64,  # (N, M + 1) or (N, 0)
    trace_gsub: F64,  # (N, M + 1) or (N, 0)
    bg_sum: F64,  # (N,) in/out
    bg_min: F64,  # (N,) in/out
    bg_max: F64,  # (N,) in/out
    first_severe: I64,  # (N,) int64 in/out, -1 = never
    flags: I64,  # (N,) int64 in/out
    first_nonfinite: I64,  # (N,) int64 in/out, -1 = never
    severe_mg_dl: float,
    above_mg_dl: float,
) -> int:
    """Advance every patient by M minutes, in place; returns how many became non-finite."""
    n = x.shape[0]
    m_total = carbs_g.shape[1]
    shared_carbs = carbs_g.shape[0] == 1
    shared_insulin = insulin_u.shape[0] == 1
    record_bg = trace_bg.shape[1] > 0
    record_gsub = trace_gsub.shape[1] > 0
    base_sub = steps[0]
    meal_sub = steps[1]
    meal_window = float(steps[2])
    zero_sub = steps[3]
    failed = 0
    for p in range(n):
        if first_nonfinite[p] >= 0:
            continue
        c = _constants(prm, p)
        vg = prm[p, _VG]
        b = prm[p, _B]
        d = prm[p, _D]
        ins_factor = insulin_factor[p]
        pc = 0 if shared_carbs else p
        pi = 0 if shared_insulin else p
        xt: tuple[float, ...] = (
            x[p, 0], x[p, 1], x[p, 2], x[p, 3], x[p, 4], x[p, 5], x[p, 6],
            x[p, 7], x[p, 8], x[p, 9], x[p, 10], x[p, 11], x[p, 12],
        )  # fmt: skip
        planned = queue[p, 0]
        last_to_eat = queue[p, 1]
        last_qsto = queue[p, 2]
        foodtaken = queue[p, 3]
        since_eating = queue[p, 4]
        s_sum = bg_sum[p]
        s_min = bg_min[p]
        s_max = bg_max[p]
        severe = first_severe[p]
        flag = flags[p]
        for m in range(m_total):
            # Meal announcement and last-meal bookkeeping (quirks Q1-Q2).
            planned = planned + carbs_g[pc, m]
            if planned > 0.0:
                to_eat = min(_EAT_RATE, planned)
                planned = max(planned - to_eat, 0.0)
            else:
                to_eat = 0.0
            if to_eat > 0.0:
                if last_to_eat <= 0.0:
                    last_qsto = xt[0] + xt[1]
                    foodtaken = 0.0
                foodtaken = foodtaken + to_eat
                since_eating = 0.0
            else:
                since_eating = since_eating + 1.0
            last_to_eat = to_eat
            dbar = last_qsto + foodtaken * _MG_PER_G
            gut_on = dbar > 0.0
            if gut_on:
                alpha = 5.0 / (2.0 * dbar * (1.0 - b))
                beta = 5.0 / (2.0 * dbar * d)
            else:
                alpha = 0.0
                beta = 0.0
            b_dbar = b * dbar
            d_dbar = d * dbar
            d_mg = to_eat * _MG_PER_G
            u_pmol = insulin_u[pi, m] * ins_factor
            # Step control (docs/physiology.md, "Integration").
            n_sub = meal_sub if since_eating <= meal_window else base_sub
            start = xt
            xt = _rk4_minute(start, n_sub, c, gut_on, alpha, beta, b_dbar, d_dbar, d_mg, u_pmol)
            if (
                zero_sub > 0
                and (xt[3] < 0.0 or xt[4] < 0.0 or xt[12] < 0.0)
                and not (start[3] < 0.0 or start[4] < 0.0 or start[12] < 0.0)
            ):
                # A glucose mass crossed zero in this minute: the x >= 0 gate will
                # freeze it wherever the step left it, so redo the minute finely.
                xt = _rk4_minute(
                    start, zero_sub, c, gut_on, alpha, beta, b_dbar, d_dbar, d_mg, u_pmol
                )
            total = (
                xt[0] + xt[1] + xt[2] + xt[3] + xt[4] + xt[5] + xt[6]
                + xt[7] + xt[8] + xt[9] + xt[10] + xt[11] + xt[12]
            )  # fmt: skip
            if not math.isfinite(total):
                first_nonfinite[p] = minute0 + m + 1
                failed += 1
                break
            # Reported glucose never negative: the gated equations' exact solution
            # is >= 0, an overshoot below the gate is integration error (reads 0;
            # simulator.reported_glucose).  The state xt keeps the integrated value.
            bg = xt[3] / vg
            if not bg > 0.0:
                bg = 0.0
            s_sum += bg
            s_min = min(s_min, bg)
            s_max = max(s_max, bg)
            if bg < severe_mg_dl:
                flag |= _FLAG_SEVERE_HYPO
                if severe < 0:
                    severe = minute0 + m + 1
            if bg > above_mg_dl:
                flag |= _FLAG_ABOVE_RANGE
            if xt[3] < 0.0 or xt[4] < 0.0 or xt[12] < 0.0:
                flag |= _FLAG_GATED
            if record_bg:
                trace_bg[p, m + 1] = bg
            if record_gsub:
                gs = xt[12] / vg
                trace_gsub[p, m + 1] = gs if gs > 0.0 else 0.0
        for s in range(_NS):
            x[p, s] = xt[s]
        queue[p, 0] = planned
        queue[p, 1] = last_to_eat
        queue[p, 2] = last_qsto
        queue[p, 3] = foodtaken
        queue[p, 4] = since_eating
        bg_sum[p] = s_sum
        bg_min[p] = s_min
        bg_max[p] = s_max
        first_severe[p] = severe
        flags[p] = flag
    return failed


@njit(cache=True, nogil=True, error_model="numpy")
def first_invalid(values: F64, upper: float) -> int:
    """Flat index of the first value that is negative, NaN or above ``upper``; -1 if none."""
    flat = values.ravel()
    for i in range(flat.size):
        v = flat[i]
        if not (v >= 0.0 and v <= upper):
            return i
    return -1

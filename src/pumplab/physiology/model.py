"""The UVA/Padova type 1 diabetes model: state names, parameters, right-hand side.

This module states the model once, in vectorised numpy, exactly as simglucose
0.2.11 ``T1DPatient.model`` implements it (Dalla Man et al., IEEE TBME 54(10)
2007, "Meal simulation model of the glucose-insulin system", with the type 1
extension of Kovatchev et al., JDST 3(1) 2009 / Dalla Man et al., JDST 8(1)
2014): 13 states, the same equations and the same parameter values.  Every
equation below carries the number it has in docs/physiology.md, which gives
its source.

What it holds:

* :class:`State`, the 13 model states by name (never ``x[0]..x[12]``);
* :class:`Param`, the columns of the packed per-patient parameter array the
  integrators read, and :class:`ModelParameters`, the same values as a typed
  record for one subject;
* :func:`gut_coefficients` and :func:`derivatives`, the vectorised right-hand
  side over patients (patients innermost: arrays of shape ``(13, N)``), used by
  the pure-numpy backend and by the reference integrations in the tests;
* :func:`advance_meal_queue`, simglucose's meal announcement and
  last-meal bookkeeping for one minute.

What it deliberately does not do: integrate (see :mod:`pumplab.physiology.simulator`),
read files (see :mod:`pumplab.physiology.cohort`), or keep any state.  The
compiled kernel in :mod:`pumplab.physiology._kernel` repeats these equations in
scalar form; a test holds the two to the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from pumplab.units import MG_PER_G

__all__ = [
    "EAT_RATE_G_PER_MIN",
    "N_PARAMS",
    "N_STATES",
    "GutCoefficients",
    "MealQueue",
    "ModelParameters",
    "Param",
    "State",
    "advance_meal_queue",
    "derivatives",
    "gut_coefficients",
]

FloatArray = npt.NDArray[np.float64]

#: simglucose ``T1DPatient.EAT_RATE``: announced carbohydrate is eaten at most
#: this fast, so a 45 g meal given at minute m is eaten over minutes m..m+8.
EAT_RATE_G_PER_MIN: Final = 5.0


class State(IntEnum):
    """The 13 states of the model, in simglucose's order (x[0]..x[12]).

    Units follow Dalla Man 2007: gut masses in mg, glucose masses in mg/kg,
    insulin masses in pmol/kg, insulin concentrations in pmol/L.
    """

    Q_STO1 = 0  #: solid glucose in the stomach (mg)
    Q_STO2 = 1  #: liquid (triturated) glucose in the stomach (mg)
    Q_GUT = 2  #: glucose in the intestine (mg)
    G_P = 3  #: glucose in plasma and rapidly equilibrating tissues (mg/kg)
    G_T = 4  #: glucose in slowly equilibrating tissues (mg/kg)
    I_P = 5  #: insulin in plasma (pmol/kg)
    X = 6  #: insulin action on glucose utilisation (pmol/L)
    I_1 = 7  #: first delay compartment of insulin action on production (pmol/L)
    I_D = 8  #: delayed insulin action on production (pmol/L)
    I_L = 9  #: insulin in the liver (pmol/kg)
    I_SC1 = 10  #: subcutaneous insulin, non-monomeric (pmol/kg)
    I_SC2 = 11  #: subcutaneous insulin, monomeric (pmol/kg)
    G_S = 12  #: subcutaneous (interstitial) glucose (mg/kg)


N_STATES: Final = len(State)


class Param(IntEnum):
    """Columns of the packed parameter array ``(N, N_PARAMS)`` the integrators read.

    Names are the symbols of Dalla Man 2007 and of simglucose's
    ``vpatient_params.csv``; units are in :class:`ModelParameters`.
    """

    BW = 0
    kabs = 1
    kmax = 2
    kmin = 3
    b = 4
    d = 5
    f = 6
    Vg = 7
    Vi = 8
    Ib = 9
    Vmx = 10
    Km0 = 11
    Vm0 = 12
    k1 = 13
    k2 = 14
    p2u = 15
    ki = 16
    kp1 = 17
    kp2 = 18
    kp3 = 19
    m1 = 20
    m2 = 21
    m4 = 22
    m30 = 23
    ka1 = 24
    ka2 = 25
    kd = 26
    ksc = 27
    ke1 = 28
    ke2 = 29
    Fsnc = 30
    u2ss = 31


N_PARAMS: Final = len(Param)


@dataclass(frozen=True, slots=True)
class ModelParameters:
    """The model parameters of one subject (the fields the right-hand side reads).

    Field order and names match :class:`Param`.  Units: BW kg; rate constants
    1/min; b, d, f dimensionless; Vg dL/kg; Vi L/kg; Ib pmol/L; Vmx
    mg/kg/min per pmol/L; Km0 mg/kg; Vm0 mg/kg/min; kp1 mg/kg/min; kp2 1/min;
    kp3 mg/kg/min per pmol/L; ke1 1/min; ke2 mg/kg; Fsnc mg/kg/min; u2ss
    pmol/kg/min (the basal insulin infusion that holds the steady state).
    """

    BW: float
    kabs: float
    kmax: float
    kmin: float
    b: float
    d: float
    f: float
    Vg: float
    Vi: float
    Ib: float
    Vmx: float
    Km0: float
    Vm0: float
    k1: float
    k2: float
    p2u: float
    ki: float
    kp1: float
    kp2: float
    kp3: float
    m1: float
    m2: float
    m4: float
    m30: float
    ka1: float
    ka2: float
    kd: float
    ksc: float
    ke1: float
    ke2: float
    Fsnc: float
    u2ss: float

    @classmethod
    def from_array(cls, row: npt.ArrayLike) -> ModelParameters:
        """Build from one row of a packed ``(N_PARAMS,)`` array in :class:`Param` order."""
        values = np.asarray(row, dtype=np.float64)
        if values.shape != (N_PARAMS,):
            raise ValueError(f"expected shape ({N_PARAMS},), got {values.shape}")
        return cls(*(float(v) for v in values))

    def to_array(self) -> FloatArray:
        """The packed ``(N_PARAMS,)`` row in :class:`Param` order."""
        return np.array([getattr(self, f.name) for f in fields(self)], dtype=np.float64)


# The field order of the dataclass is the column order of the packed array.
assert tuple(f.name for f in fields(ModelParameters)) == tuple(p.name for p in Param)


@dataclass(slots=True)
class MealQueue:
    """simglucose's per-patient eating bookkeeping, as arrays over patients.

    ``planned_g``: announced carbohydrate not yet eaten (``planned_meal``);
    ``last_to_eat_g``: grams eaten in the previous minute (``_last_action.CHO``);
    ``last_qsto_mg``: stomach content when the current/last eating episode began
    (``_last_Qsto``); ``last_foodtaken_g``: grams eaten since then
    (``_last_foodtaken``).  Mutable on purpose: it is integrator state.
    """

    planned_g: FloatArray
    last_to_eat_g: FloatArray
    last_qsto_mg: FloatArray
    last_foodtaken_g: FloatArray

    @classmethod
    def empty(cls, qsto_mg: FloatArray) -> MealQueue:
        """Nothing announced, nothing eaten; ``_last_Qsto`` from the initial stomach."""
        n = qsto_mg.shape[0]
        return cls(np.zeros(n), np.zeros(n), qsto_mg.astype(np.float64, copy=True), np.zeros(n))


def advance_meal_queue(
    queue: MealQueue, carbs_g: FloatArray, qsto_mg: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """One minute of simglucose's meal announcement; returns (grams eaten, Dbar in mg).

    Follows ``T1DPatient.step`` / ``_announce_meal`` operation for operation
    (docs/physiology.md, quirks Q1-Q2): the announced grams join a queue that
    is eaten at :data:`EAT_RATE_G_PER_MIN`; when eating starts (grams eaten now
    > 0 after a minute of none) the stomach content ``qsto_mg`` is remembered
    and the eaten-grams counter restarts; Dbar = last Qsto + grams eaten since,
    in mg (simglucose issue #41).  Updates ``queue`` in place.
    """
    planned = queue.planned_g + carbs_g
    eating = planned > 0.0
    to_eat = np.where(eating, np.minimum(EAT_RATE_G_PER_MIN, planned), 0.0)
    queue.planned_g = np.where(eating, np.maximum(planned - to_eat, 0.0), planned)
    starts = (to_eat > 0.0) & (queue.last_to_eat_g <= 0.0)
    queue.last_qsto_mg = np.where(starts, qsto_mg, queue.last_qsto_mg)
    foodtaken = np.where(starts, 0.0, queue.last_foodtaken_g)
    queue.last_foodtaken_g = np.where(to_eat > 0.0, foodtaken + to_eat, foodtaken)
    queue.last_to_eat_g = to_eat
    dbar_mg = queue.last_qsto_mg + queue.last_foodtaken_g * MG_PER_G
    return to_eat, dbar_mg


@dataclass(frozen=True, slots=True)
class GutCoefficients:
    """Per-minute constants of the gastric-emptying rate kgut (eq. G4), shape ``(N,)``.

    ``active`` is False where Dbar = 0 (no meal yet): there kgut = kmax.
    """

    active: npt.NDArray[np.bool_]
    alpha: FloatArray  # 5 / (2 Dbar (1 - b))
    beta: FloatArray  # 5 / (2 Dbar d)
    b_dbar: FloatArray  # b Dbar (mg)
    d_dbar: FloatArray  # d Dbar (mg)


def gut_coefficients(params: FloatArray, dbar_mg: FloatArray) -> GutCoefficients:
    """The kgut constants for one minute; ``params`` is ``(N_PARAMS, N)`` (patients innermost)."""
    active = dbar_mg > 0.0
    safe = np.where(active, dbar_mg, 1.0)  # the inactive lanes are never used
    b = params[Param.b]
    d = params[Param.d]
    alpha = np.where(active, 5.0 / (2.0 * safe * (1.0 - b)), 0.0)
    beta = np.where(active, 5.0 / (2.0 * safe * d), 0.0)
    return GutCoefficients(active, alpha, beta, b * dbar_mg, d * dbar_mg)


def _tanh(z: FloatArray) -> FloatArray:
    """tanh(z) as 1 - 2 / (exp(2z) + 1), the form the compiled kernel uses.

    The identity is exact; its rounding differs from libm's tanh by at most
    about 3.3e-16 (1.5 units in the last place of 1), far below anything the
    model resolves, and one exp costs about 40 % of a tanh.  exp(2z)
    overflows to inf for z > 354, where the formula correctly gives 1; for
    |z| >= 19.1 it already rounds to exactly +-1 (the kernel skips the exp for
    |z| >= 20, bit-identically).
    """
    with np.errstate(over="ignore"):
        return 1.0 - 2.0 / (np.exp(2.0 * z) + 1.0)


def derivatives(
    x: FloatArray,
    params: FloatArray,
    gut: GutCoefficients,
    carbs_mg_per_min: FloatArray,
    insulin_pmol_per_kg_min: FloatArray,
) -> FloatArray:
    """dx/dt of the model for N patients; ``x`` is ``(13, N)``, ``params`` ``(N_PARAMS, N)``.

    Inputs are constant over the minute: ``carbs_mg_per_min`` is what is being
    eaten (after the meal queue) and ``insulin_pmol_per_kg_min`` the
    subcutaneous insulin infusion.  Equation numbers refer to docs/physiology.md.
    The order of every floating-point operation matches the compiled kernel.
    """
    p = params
    kmax = p[Param.kmax]
    kmin = p[Param.kmin]
    q_sto1 = x[State.Q_STO1]
    q_sto2 = x[State.Q_STO2]
    q_gut = x[State.Q_GUT]
    g_p = x[State.G_P]
    g_t = x[State.G_T]
    i_p = x[State.I_P]
    x_act = x[State.X]
    i_1 = x[State.I_1]
    i_d = x[State.I_D]
    i_l = x[State.I_L]
    i_sc1 = x[State.I_SC1]
    i_sc2 = x[State.I_SC2]
    g_s = x[State.G_S]
    dx = np.empty_like(x)

    # G1-G4: stomach and gut; kgut has the tanh form of Dalla Man 2007 eq. 13.
    q_sto = q_sto1 + q_sto2
    half_range = (kmax - kmin) / 2.0
    kgut = np.where(
        gut.active,
        kmin
        + half_range
        * (_tanh(gut.alpha * (q_sto - gut.b_dbar)) - _tanh(gut.beta * (q_sto - gut.d_dbar)) + 2.0),
        kmax,
    )
    dx[State.Q_STO1] = -kmax * q_sto1 + carbs_mg_per_min
    dx[State.Q_STO2] = kmax * q_sto1 - q_sto2 * kgut
    dx[State.Q_GUT] = kgut * q_sto2 - p[Param.kabs] * q_gut

    # G5-G9: glucose kinetics; EGP floored at 0, renal excretion above ke2.
    ra = p[Param.f] * p[Param.kabs] / p[Param.BW] * q_gut
    egp = p[Param.kp1] - p[Param.kp2] * g_p - p[Param.kp3] * i_d
    ke2 = p[Param.ke2]
    renal = np.where(g_p > ke2, p[Param.ke1] * (g_p - ke2), 0.0)
    k1 = p[Param.k1]
    k2 = p[Param.k2]
    dgp = np.maximum(egp, 0.0) + ra - p[Param.Fsnc] - renal - k1 * g_p + k2 * g_t
    dx[State.G_P] = np.where(g_p >= 0.0, dgp, 0.0)
    uid = (p[Param.Vm0] + p[Param.Vmx] * x_act) * g_t / (p[Param.Km0] + g_t)
    dgt = -uid + k1 * g_p - k2 * g_t
    dx[State.G_T] = np.where(g_t >= 0.0, dgt, 0.0)

    # I1-I7: insulin kinetics, action, subcutaneous absorption.
    m1 = p[Param.m1]
    m2 = p[Param.m2]
    ka1 = p[Param.ka1]
    ka2 = p[Param.ka2]
    kd = p[Param.kd]
    dip = -(m2 + p[Param.m4]) * i_p + m1 * i_l + ka1 * i_sc1 + ka2 * i_sc2
    dx[State.I_P] = np.where(i_p >= 0.0, dip, 0.0)
    i_t = i_p / p[Param.Vi]
    p2u = p[Param.p2u]
    dx[State.X] = -p2u * x_act + p2u * (i_t - p[Param.Ib])
    ki = p[Param.ki]
    dx[State.I_1] = -ki * (i_1 - i_t)
    dx[State.I_D] = -ki * (i_d - i_1)
    dil = -(m1 + p[Param.m30]) * i_l + m2 * i_p
    dx[State.I_L] = np.where(i_l >= 0.0, dil, 0.0)
    disc1 = insulin_pmol_per_kg_min - (ka1 + kd) * i_sc1
    dx[State.I_SC1] = np.where(i_sc1 >= 0.0, disc1, 0.0)
    disc2 = kd * i_sc1 - ka2 * i_sc2
    dx[State.I_SC2] = np.where(i_sc2 >= 0.0, disc2, 0.0)

    # G10: interstitial glucose follows plasma glucose with rate ksc.
    ksc = p[Param.ksc]
    dgs = -ksc * g_s + ksc * g_p
    dx[State.G_S] = np.where(g_s >= 0.0, dgs, 0.0)
    return dx

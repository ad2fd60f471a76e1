"""Seeded populations of virtual subjects sampled around the standard 30.

Method (docs/physiology.md, "Population generator"), a smoothed bootstrap in
transformed parameter space:

1. Each standard subject's *primary* parameters (the ones the UVA/Padova
   papers identify per subject: BW, EGPb, Gb, Ipb, kabs, kmax, kmin, b, d, Vg,
   Vi, Vmx, Km0, k1, k2, p2u, m1, CL, ki, kp2, kp3, kd, ksc, ka1, ka2) are
   mapped to an unbounded space: log for positive parameters, logit for the
   fractions b and d.  Parameters equal in all 30 subjects (HEb, f, ke1, ke2,
   Fsnc) are copied unchanged.
2. A generated subject picks a parent uniformly among the standard subjects of
   the requested age groups and adds a Gaussian perturbation whose covariance
   is the parent's age group's sample covariance times ``spread**2 / n_group``.
   With ``spread = 1`` the population of an age group then has the group's
   mean and sample covariance (a smoothed bootstrap: the mixture's covariance
   is (n-1)/n S + S/n = S), while every subject stays near a real one.
3. The steady-state parameters are recomputed from the primary ones (Gpb,
   Ib, m2, m4, m30, Ilb, u2ss, Isc1ss, Isc2ss, Gtb, Vm0, kp1; equations S1-S12
   in docs/physiology.md), so the initial state is the subject's basal steady
   state.
4. Therapy: basal from u2ss; TDI scaled from the parent's with the basal rate
   (the parent's basal share of TDI is kept); CR and CF scaled by
   TDI_parent / TDI (the "500 rule" and "1800 rule" make both inversely
   proportional to TDI); age from the parent.
5. Candidates that break :class:`PlausibilityRules` are rejected; each
   subject draws candidates from its own stream until one passes
   (:class:`PopulationSampler`), so subject *i* depends only on the seed and
   *i*: a larger population keeps the earlier subjects, and a population can
   be generated chunk by chunk in bounded memory.

Deterministic for a given ``numpy.random.Generator`` state (and backend); no
other source of randomness.  Deliberately not here: meal or sensor variability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from pumplab.errors import InputError, NonFiniteStateError
from pumplab.physiology.cohort import AGE_GROUPS, Cohort, load_cohort, read_standard_table
from pumplab.physiology.model import N_PARAMS, N_STATES, Param, State
from pumplab.physiology.simulator import DEFAULT_STEPS, Backend, PatientBatch
from pumplab.units import pmol_per_kg_to_u, u_per_min_to_u_per_h

__all__ = [
    "ANALYTIC_MIN_DRIFT_MG_DL",
    "CONSTANT_PARAMETERS",
    "LOGIT_PARAMETERS",
    "LOG_PARAMETERS",
    "POPULATION_CHUNK",
    "STABILITY_MARGIN",
    "PlausibilityRules",
    "PopulationSampler",
    "derive_steady_state",
    "fasting_run_is_stable",
    "generate_population",
    "plausible",
    "standard_primaries",
]

FloatArray = npt.NDArray[np.float64]

#: Primary parameters sampled in log space (positive quantities).
LOG_PARAMETERS: Final = (
    "BW", "EGPb", "Gb", "Ipb", "kabs", "kmax", "kmin", "Vg", "Vi", "Vmx", "Km0",
    "k1", "k2", "p2u", "m1", "CL", "ki", "kp2", "kp3", "kd", "ksc", "ka1", "ka2",
)  # fmt: skip
#: Primary parameters that are fractions in (0, 1), sampled in logit space.
LOGIT_PARAMETERS: Final = ("b", "d")
#: Parameters identical in all 30 standard subjects; generated subjects keep them.
CONSTANT_PARAMETERS: Final = ("HEb", "f", "ke1", "ke2", "Fsnc")

_MAX_ROUNDS = 200


@dataclass(frozen=True, slots=True)
class PlausibilityRules:
    """Rejection rules for generated subjects (all 30 standard subjects pass them).

    * fasting (basal steady-state) plasma glucose Gb within ``fasting_bg_mg_dl``;
    * total daily insulin within ``tdi_u_per_kg_day``: typical type 1 doses are
      0.4-1.0 U/kg/day (ADA Standards of Care, section 9), below 0.5 in partial
      remission and 1.2-2 during puberty (ISPAD 2022, ch. 9, Cengiz et al.);
      the standard 30 span 0.39-1.54;
    * basal insulin within ``basal_u_per_kg_day`` (the standard 30: 0.17-0.63);
    * a ``fasting_check_minutes`` run at basal with no food from the initial
      state stays within ``max_fasting_drift_mg_dl`` of Gb (the steady state is
      a real, stable steady state).  The 2 mg/dL default is not tuned: the
      derived steady state is exact up to rounding (measured drift over 24 h:
      at most 2.5e-9 mg/dL for the standard 30, 0 for 3,000 generated
      candidates), so anything beyond rounding means an equilibrium that is
      not one; 2 mg/dL is twice the 1 mg/dL display resolution of meters and
      CGMs, so what it lets through no device could show;
    * always (preconditions of the steady-state equations, not tunable):
      Gpb < ke2 (no renal excretion at fasting), EGPb > Fsnc (Vm0 > 0), Gtb > 0,
      kmin < kmax and d < b (the shape of the gastric-emptying curve).
    """

    fasting_bg_mg_dl: tuple[float, float] = (70.0, 180.0)
    tdi_u_per_kg_day: tuple[float, float] = (0.3, 2.0)
    basal_u_per_kg_day: tuple[float, float] = (0.1, 1.0)
    #: Rounding-level drift is < 1e-8 mg/dL; 2 mg/dL is twice a device's display
    #: resolution (see the class docstring and docs/physiology.md).
    max_fasting_drift_mg_dl: float = 2.0
    fasting_check_minutes: int = 1440

    def __post_init__(self) -> None:
        for name in ("fasting_bg_mg_dl", "tdi_u_per_kg_day", "basal_u_per_kg_day"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo < hi:
                raise ValueError(f"{name} must be an increasing non-negative range")
        if self.max_fasting_drift_mg_dl <= 0.0 or self.fasting_check_minutes < 0:
            raise ValueError("the fasting check needs a positive drift and minutes >= 0")


def derive_steady_state(primary: dict[str, FloatArray]) -> tuple[FloatArray, FloatArray]:
    """Model parameters ``(N, N_PARAMS)`` and basal steady state ``(N, 13)`` from primaries.

    Equations S1-S12 of docs/physiology.md (the basal steady state of the
    model with no meal and the basal infusion u2ss; Dalla Man 2007 for the
    glucose and insulin subsystems, the subcutaneous steady state of the 2008
    T1DM model).  ``primary`` maps the names in :data:`LOG_PARAMETERS`,
    :data:`LOGIT_PARAMETERS` and :data:`CONSTANT_PARAMETERS` to ``(N,)`` arrays.
    """
    p = primary
    bw, vi, hep = p["BW"], p["Vi"], p["HEb"]
    gpb = p["Gb"] * p["Vg"]  # S1
    ib = p["Ipb"] / vi  # S2
    m2 = 3.0 / 5.0 * p["CL"] / (hep * vi * bw)  # S3
    m4 = 2.0 / 5.0 * p["CL"] / (vi * bw)  # S4
    m30 = p["m1"] * hep / (1.0 - hep)  # S5
    ilb = m2 * p["Ipb"] / (p["m1"] + m30)  # S6
    u2ss = (m2 + m4) * p["Ipb"] - p["m1"] * ilb  # S7
    isc1ss = u2ss / (p["ka1"] + p["kd"])  # S8
    isc2ss = p["kd"] * isc1ss / p["ka2"]  # S9
    gtb = (p["Fsnc"] - p["EGPb"] + p["k1"] * gpb) / p["k2"]  # S10
    vm0 = (p["EGPb"] - p["Fsnc"]) * (p["Km0"] + gtb) / gtb  # S11
    kp1 = p["EGPb"] + p["kp2"] * gpb + p["kp3"] * ib  # S12
    n = bw.shape[0]
    params = np.empty((n, N_PARAMS))
    derived = {
        "Ib": ib, "Vm0": vm0, "kp1": kp1, "m2": m2, "m4": m4, "m30": m30, "u2ss": u2ss,
    }  # fmt: skip
    for col in Param:
        params[:, col] = derived[col.name] if col.name in derived else p[col.name]
    x0 = np.zeros((n, N_STATES))
    x0[:, State.G_P] = gpb
    x0[:, State.G_T] = gtb
    x0[:, State.I_P] = p["Ipb"]
    x0[:, State.I_1] = ib
    x0[:, State.I_D] = ib
    x0[:, State.I_L] = ilb
    x0[:, State.I_SC1] = isc1ss
    x0[:, State.I_SC2] = isc2ss
    x0[:, State.G_S] = gpb
    return params, x0


def standard_primaries() -> dict[str, FloatArray]:
    """The primary parameters of the 30 standard subjects, ``(30,)`` arrays by name.

    CL is the insulin clearance implied by each subject's published m4
    (CL = m4 Vi BW / (2/5), inverting S4) rather than the CL column: they agree
    for 29 subjects, while adult#004's published CL matches a body weight of
    about 66.6 kg instead of its 63 kg (its m2 and m4 do not).  With this
    choice S1-S12 reproduce every published parameter and initial state.
    """
    table = read_standard_table()
    names = (*LOG_PARAMETERS, *LOGIT_PARAMETERS, *CONSTANT_PARAMETERS)
    out = {k: np.array([float(v) for v in table[k]]) for k in names}
    m4 = np.array([float(v) for v in table["m4"]])
    out["CL"] = m4 * out["Vi"] * out["BW"] / (2.0 / 5.0)
    return out


def _to_unbounded(primary: dict[str, FloatArray]) -> FloatArray:
    cols = [np.log(primary[k]) for k in LOG_PARAMETERS]
    cols += [np.log(primary[k] / (1.0 - primary[k])) for k in LOGIT_PARAMETERS]
    return np.column_stack(cols)


def _from_unbounded(theta: FloatArray) -> dict[str, FloatArray]:
    out: dict[str, FloatArray] = {}
    for i, k in enumerate(LOG_PARAMETERS):
        out[k] = np.exp(theta[:, i])
    for j, k in enumerate(LOGIT_PARAMETERS):
        out[k] = 1.0 / (1.0 + np.exp(-theta[:, len(LOG_PARAMETERS) + j]))
    return out


def _static_ok(cohort: Cohort, rules: PlausibilityRules) -> npt.NDArray[np.bool_]:
    """The rules that need no simulation, read from the cohort's arrays alone."""
    prm = cohort.parameters
    x0 = cohort.initial_state
    bw = prm[:, Param.BW]
    gpb = x0[:, State.G_P]
    gb = gpb / prm[:, Param.Vg]
    egpb = prm[:, Param.kp1] - prm[:, Param.kp2] * gpb - prm[:, Param.kp3] * prm[:, Param.Ib]
    tdi_per_kg = cohort.total_daily_insulin_u / bw
    basal_per_kg = cohort.basal_rate_u_per_h * 24.0 / bw
    with np.errstate(invalid="ignore"):
        ok = _within(gb, rules.fasting_bg_mg_dl)
        ok &= _within(tdi_per_kg, rules.tdi_u_per_kg_day)
        ok &= _within(basal_per_kg, rules.basal_u_per_kg_day)
        ok &= gpb < prm[:, Param.ke2]
        ok &= egpb > prm[:, Param.Fsnc]
        ok &= x0[:, State.G_T] > 0.0
        ok &= prm[:, Param.kmin] < prm[:, Param.kmax]
        ok &= prm[:, Param.d] < prm[:, Param.b]
    ok &= np.isfinite(prm).all(axis=1) & np.isfinite(x0).all(axis=1)
    ok &= np.isfinite(cohort.total_daily_insulin_u)
    return ok


def _within(values: FloatArray, bounds: tuple[float, float]) -> npt.NDArray[np.bool_]:
    return (bounds[0] <= values) & (values <= bounds[1])


def plausible(
    cohort: Cohort,
    rules: PlausibilityRules | None = None,
    *,
    backend: Backend | None = None,
    simulate_fasting: bool = False,
) -> npt.NDArray[np.bool_]:
    """Which subjects of ``cohort`` pass ``rules`` (all of them, including the fasting run).

    The fasting run is decided without simulating for every subject whose
    steady state the integrator provably keeps (:func:`fasting_run_is_stable`:
    the fasting run cannot drift from it by more than rounding); the others,
    if any, are simulated as the rule states.  ``simulate_fasting=True``
    simulates the run for every subject (the rule as stated, a simulated day
    per subject): the tests check that both give the same answers
    (docs/physiology.md, "The fasting check without a fasting day").
    """
    rules = PlausibilityRules() if rules is None else rules
    ok = _static_ok(cohort, rules)
    if rules.fasting_check_minutes > 0 and ok.any():
        rows = np.flatnonzero(ok)
        if not simulate_fasting and rules.max_fasting_drift_mg_dl >= ANALYTIC_MIN_DRIFT_MG_DL:
            rows = rows[~fasting_run_is_stable(cohort.take(rows))]
        if rows.size:
            drift = _fasting_drift(cohort.take(rows), rules.fasting_check_minutes, backend)
            ok[rows] = drift <= rules.max_fasting_drift_mg_dl
    return ok


#: A mode counts as decaying if one minute multiplies it by less than
#: 1 - STABILITY_MARGIN.  The slowest mode of 50,000 generated subjects decays
#: by more than 1e-3 per minute (1e-4 at spread 6), so the margin only
#: excludes neutral or growing modes (for which the fasting run is simulated).
STABILITY_MARGIN: Final = 1e-6

#: Below this drift limit the fasting run is always simulated: the analytic
#: decision rests on the drift being rounding-sized (it is 0 or below 1e-8
#: mg/dL), which a smaller limit could resolve.
ANALYTIC_MIN_DRIFT_MG_DL: Final = 1e-3


def _rk4_growth(rate_per_min: FloatArray, substeps: int) -> FloatArray:
    """|R(h·λ)|^n: how much one minute of n classical RK4 steps scales mode e^{λt}.

    R(z) = 1 + z + z²/2 + z³/6 + z⁴/24 is the stability polynomial of the
    classical Runge-Kutta method (Hairer & Wanner, Solving ODEs II, IV.2);
    for real z it is < 1 in magnitude on (-2.785, 0).
    """
    z = rate_per_min / substeps
    r = 1.0 + z * (1.0 + z * (0.5 + z * (1.0 / 6.0 + z / 24.0)))
    out: FloatArray = np.abs(r) ** substeps
    return out


def _metzler_eigenvalues(
    a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """The two eigenvalues of [[a, b], [c, d]] with b·c >= 0 (real: the discriminant is >= 0)."""
    half_trace = (a + d) / 2.0
    root = np.sqrt(((a - d) / 2.0) ** 2 + b * c)
    return half_trace - root, half_trace + root


def fasting_run_is_stable(cohort: Cohort, *, substeps: int | None = None) -> npt.NDArray[np.bool_]:
    """Subjects whose fasting run at basal provably stays at the steady state.

    The fasting run starts at the derived steady state x* (an equilibrium of
    the equations up to rounding).  With no meal the gut states are exactly 0
    and stay exactly 0, and the Jacobian at x* is block lower-triangular --
    subcutaneous and plasma insulin (Isc1, Isc2, Ip, Il), insulin action
    (X, I1, Id), glucose (Gp, Gt), interstitial glucose (Gs) -- because
    nothing downstream feeds back upstream (a type 1 patient secretes no
    insulin).  Its eigenvalues are therefore, in closed form: -(ka1 + kd),
    -ka2, the two of the Ip/Il block, -p2u, -ki (twice), the two of the Gp/Gt
    block and -ksc; every 2×2 block has positive off-diagonal entries, so all
    are real.  One minute of the integrator (``substeps`` classical RK4 steps,
    default: the base step of :data:`~pumplab.physiology.simulator.DEFAULT_STEPS`,
    what a fasting run uses) multiplies a perturbation along each mode by
    :func:`_rk4_growth`.  Where every mode's factor is below
    1 - :data:`STABILITY_MARGIN`, every perturbation -- the rounding of each
    step included -- decays geometrically, so the drift from Gb stays of the
    order of rounding for any number of minutes (measured: exactly 0 mg/dL for
    50,000 generated subjects).  True means "stays"; False means "not shown"
    (a mode at or beyond the integrator's stability limit, or a non-finite
    value), and the subject must be simulated: whether rounding excites a
    growing mode is not predictable, and most such subjects still pass.
    """
    n = DEFAULT_STEPS.base_substeps if substeps is None else substeps
    prm = cohort.parameters
    gt = cohort.initial_state[:, State.G_T]

    def col(p: Param) -> FloatArray:
        return prm[:, p]

    with np.errstate(all="ignore"):
        ins_lo, ins_hi = _metzler_eigenvalues(
            -(col(Param.m2) + col(Param.m4)), col(Param.m1), col(Param.m2),
            -(col(Param.m1) + col(Param.m30)),
        )  # fmt: skip
        # d(Gt')/dGt at X = 0: the Michaelis-Menten uptake's slope plus k2.
        uptake_slope = col(Param.Vm0) * col(Param.Km0) / (col(Param.Km0) + gt) ** 2
        glu_lo, glu_hi = _metzler_eigenvalues(
            -(col(Param.kp2) + col(Param.k1)), col(Param.k2), col(Param.k1),
            -(uptake_slope + col(Param.k2)),
        )  # fmt: skip
        rates = np.vstack([
            -(col(Param.ka1) + col(Param.kd)), -col(Param.ka2), ins_lo, ins_hi,
            -col(Param.p2u), -col(Param.ki), glu_lo, glu_hi, -col(Param.ksc),
        ])  # fmt: skip
        growth = _rk4_growth(rates, n).max(axis=0)
    out: npt.NDArray[np.bool_] = growth < 1.0 - STABILITY_MARGIN
    return out


def _fasting_drift(cohort: Cohort, minutes: int, backend: Backend | None) -> FloatArray:
    """Largest |Gp/Vg - Gb| over a fasting run at basal (mg/dL); inf if the state blew up."""
    rows = np.arange(len(cohort))
    drift = np.full(len(cohort), np.inf)
    while rows.size:
        batch = PatientBatch(cohort.take(rows), backend=backend)
        gb = batch.bg_mg_dl
        basal = batch.basal_u_per_min[:, None]
        chunk = 60  # minutes per call: bounded memory for per-patient inputs
        try:
            for start in range(0, minutes, chunk):
                m = min(chunk, minutes - start)
                batch.run(np.zeros(m), np.repeat(basal, m, axis=1))
        except NonFiniteStateError:
            # Drop the patients whose state blew up (they keep drift = inf), rerun the rest.
            rows = rows[batch.nonfinite_minute < 0]
            continue
        s = batch.summary()
        drift[rows] = np.maximum(np.abs(s.bg_max_mg_dl - gb), np.abs(s.bg_min_mg_dl - gb))
        break
    return drift


class PopulationSampler:
    """The subjects of one seeded population, generated on demand in any chunks.

    Subject *i* (0-based; named ``{name_prefix}{i + 1:05d}``) is drawn from its
    own random stream, ``SeedSequence(root, spawn_key=(i,))`` under a 128-bit
    root drawn once from ``rng``: its candidates come one after another from
    that stream until one passes the :class:`PlausibilityRules`.  Subject *i*
    therefore depends only on the generator's state, the options and *i* -- not
    on ``n``, nor on which chunk it is generated in, so a population of 10 is
    the first 10 subjects of a population of 11, and
    ``subjects(0, n)`` equals the concatenation of ``subjects(a, b)`` chunks.
    Memory is that of one chunk.
    """

    def __init__(
        self,
        n: int,
        rng: np.random.Generator,
        *,
        groups: tuple[str, ...] = AGE_GROUPS,
        spread: float = 1.0,
        rules: PlausibilityRules | None = None,
        name_prefix: str = "pop",
        backend: Backend | None = None,
    ) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                "rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed))"
            )
        if not groups or any(g not in AGE_GROUPS for g in groups):
            raise InputError(
                f"unknown age group in {groups!r}", field="groups", allowed=", ".join(AGE_GROUPS)
            )
        if not spread > 0.0:
            raise ValueError(f"spread must be > 0, got {spread!r}")
        self._n = n
        self._groups = tuple(groups)
        self._spread = float(spread)
        self._rules = PlausibilityRules() if rules is None else rules
        self._prefix = name_prefix
        self._width = max(5, len(str(n)))
        self._backend = backend
        words = rng.integers(0, 2**32, size=4, dtype=np.uint64)
        self._root = np.random.SeedSequence([int(w) for w in words])

        self._standard = load_cohort()
        self._primary = standard_primaries()
        self._theta = _to_unbounded(self._primary)
        self._group_of = np.array(self._standard.age_groups)
        # Per age group: centred data matrix D (n_g x K) so that D.T z / sqrt(n_g - 1)
        # has the group's sample covariance for z ~ N(0, I).
        self._centred: dict[str, FloatArray] = {}
        for g in AGE_GROUPS:
            rows = self._theta[self._group_of == g]
            self._centred[g] = (rows - rows.mean(axis=0)) / np.sqrt(rows.shape[0] - 1)
        self._eligible = np.flatnonzero(np.isin(self._group_of, self._groups))

    def __len__(self) -> int:
        return self._n

    def name(self, i: int) -> str:
        """The name of subject ``i`` (0-based)."""
        return f"{self._prefix}{i + 1:0{self._width}d}"

    @property
    def names(self) -> tuple[str, ...]:
        """Every subject's name, in order (computed, no subject is generated)."""
        return tuple(self.name(i) for i in range(self._n))

    def subjects(self, start: int, stop: int) -> Cohort:
        """Subjects ``start .. stop - 1`` as a cohort (each from its own stream)."""
        if not 0 <= start < stop <= self._n:
            raise ValueError(f"need 0 <= start < stop <= {self._n}, got {start}, {stop}")
        k = stop - start
        gens = [
            np.random.Generator(np.random.PCG64(np.random.SeedSequence(
                self._root.entropy, spawn_key=(i,), pool_size=self._root.pool_size)))
            for i in range(start, stop)
        ]  # fmt: skip
        params = np.empty((k, N_PARAMS))
        x0 = np.empty((k, N_STATES))
        therapy = np.empty((k, 4))  # CR, CF, TDI, age
        age_groups: list[str] = [""] * k
        parents: list[str] = [""] * k
        pending = np.arange(k)
        for _ in range(_MAX_ROUNDS):
            if pending.size == 0:
                break
            candidates, rows = self._draw([gens[j] for j in pending])
            accepted = np.zeros(pending.size, dtype=bool)
            if rows.size:
                keep = np.flatnonzero(plausible(candidates, self._rules, backend=self._backend))
                targets = pending[rows[keep]]
                params[targets] = candidates.parameters[keep]
                x0[targets] = candidates.initial_state[keep]
                therapy[targets, 0] = candidates.carb_ratio_g_per_u[keep]
                therapy[targets, 1] = candidates.correction_factor_mg_dl_per_u[keep]
                therapy[targets, 2] = candidates.total_daily_insulin_u[keep]
                therapy[targets, 3] = candidates.age_years[keep]
                for r, t in zip(keep, targets, strict=True):
                    age_groups[t] = candidates.age_groups[r]
                    parents[t] = candidates.parents[r]
                accepted[rows[keep]] = True
            pending = pending[~accepted]
        if pending.size:
            first = self.name(start + int(pending[0]))
            others = f" (and {pending.size - 1} other subjects)" if pending.size > 1 else ""
            raise InputError(
                f"no candidate for {first}{others} passed the plausibility rules "
                f"in {_MAX_ROUNDS} draws",
                field="rules",
                allowed="rules that the standard subjects' neighbourhood can satisfy",
            )
        return Cohort(
            names=tuple(self.name(i) for i in range(start, stop)),
            age_groups=tuple(age_groups),
            parents=tuple(parents),
            parameters=params,
            initial_state=x0,
            carb_ratio_g_per_u=therapy[:, 0],
            correction_factor_mg_dl_per_u=therapy[:, 1],
            total_daily_insulin_u=therapy[:, 2],
            age_years=therapy[:, 3],
        )

    def _draw(self, gens: list[np.random.Generator]) -> tuple[Cohort, npt.NDArray[np.intp]]:
        """One candidate per generator; returns the finite ones and their positions in ``gens``."""
        size = len(gens)
        parents = np.empty(size, dtype=np.intp)
        cand = np.empty((size, self._theta.shape[1]))
        for j, gen in enumerate(gens):
            # Each candidate takes a parent index and one normal per member of
            # the parent's age group from the subject's own stream.
            parent = int(self._eligible[gen.integers(0, self._eligible.size)])
            d = self._centred[str(self._group_of[parent])]
            z = gen.standard_normal(d.shape[0])
            bandwidth = self._spread / np.sqrt(d.shape[0])
            parents[j] = parent
            cand[j] = self._theta[parent] + bandwidth * (z @ d)
        prim = _from_unbounded(cand)
        for name in CONSTANT_PARAMETERS:
            prim[name] = self._primary[name][parents]
        standard = self._standard
        tdi_std = standard.total_daily_insulin_u
        basal_std = standard.basal_rate_u_per_h
        with np.errstate(all="ignore"):
            params, x0 = derive_steady_state(prim)
            basal = u_per_min_to_u_per_h(pmol_per_kg_to_u(params[:, Param.u2ss], prim["BW"]))
            tdi = tdi_std[parents] * basal / basal_std[parents]
            scale = tdi_std[parents] / tdi
        finite = np.flatnonzero(np.isfinite(params).all(axis=1) & np.isfinite(scale))
        if finite.size == 0:
            return standard, finite
        chosen = parents[finite]
        candidates = Cohort(
            names=tuple(f"candidate{i}" for i in range(finite.size)),
            age_groups=tuple(str(self._group_of[p]) for p in chosen),
            parents=tuple(standard.names[p] for p in chosen),
            parameters=params[finite],
            initial_state=x0[finite],
            carb_ratio_g_per_u=standard.carb_ratio_g_per_u[chosen] * scale[finite],
            correction_factor_mg_dl_per_u=standard.correction_factor_mg_dl_per_u[chosen]
            * scale[finite],
            total_daily_insulin_u=tdi[finite],
            age_years=standard.age_years[chosen],
        )
        return candidates, finite


#: Subjects generated per chunk by :func:`generate_population` (bounds the
#: fasting-check batch and the candidate arrays).
POPULATION_CHUNK: Final = 10_000


def generate_population(
    n: int,
    rng: np.random.Generator,
    *,
    groups: tuple[str, ...] = AGE_GROUPS,
    spread: float = 1.0,
    rules: PlausibilityRules | None = None,
    name_prefix: str = "pop",
    backend: Backend | None = None,
) -> Cohort:
    """``n`` plausible subjects sampled around the standard subjects of ``groups``.

    Names are ``{name_prefix}{i:05d}`` (i from 1; more digits when ``n`` needs
    them); ``Cohort.parents`` names the standard subject each was sampled
    around.  ``spread`` scales the perturbation (1 = the age group's
    covariance, see the module docstring).  Subject *i* depends only on
    ``rng``'s state, the options and *i* (:class:`PopulationSampler`), so a
    larger ``n`` keeps the earlier subjects.  For populations too large to
    hold at once, use :class:`PopulationSampler` chunk by chunk.
    """
    sampler = PopulationSampler(
        n, rng, groups=groups, spread=spread, rules=rules, name_prefix=name_prefix,
        backend=backend,
    )  # fmt: skip
    parts = [
        sampler.subjects(a, min(a + POPULATION_CHUNK, n)) for a in range(0, n, POPULATION_CHUNK)
    ]
    return parts[0] if len(parts) == 1 else Cohort.concatenate(parts)

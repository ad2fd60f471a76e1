"""Measure the integration error of fixed-step schemes against a tight-tolerance reference.

For all 30 standard subjects on the two golden days (tests/golden/, a normal
day and an overdose day that reaches the zero-glucose gate), this integrates
the model minute by minute with

* the reference: scipy ``solve_ivp`` DOP853, rtol = atol = 1e-10, restarted at
  every minute (inputs and the gastric-emptying constants change only there);
* explicit Runge-Kutta schemes with a fixed number of sub-steps per minute:
  midpoint RK2 (1, 2, 4, 8 sub-steps) and classical RK4 with the step rules
  of :data:`STEP_RULES` (uniform 1-4 sub-steps, and rules that refine only
  around meals and zero crossings), the RK4 rows computed by pumplab's own
  simulator (what ships);

and prints, per scheme, the largest |difference| in plasma glucose Gp/Vg and in
interstitial glucose Gs/Vg over every minute, subject and day, separately for
the normal day, for the overdose day before the first minute any glucose state
reaches zero, and after it (where the x >= 0 gate freezes a state at whatever
small negative value the step reached).  It also prints the same statistic for
simglucose itself (the golden traces) against the reference.

scipy is used only here and in tests, never by the package.  Run:

    python scripts/measure_integration_error.py      # ~1-2 minutes on one core
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

from pumplab.physiology import (
    DEFAULT_STEPS,
    Cohort,
    Param,
    State,
    StepControl,
    generate_population,
    load_cohort,
    simulate,
)
from pumplab.physiology.model import (
    MealQueue,
    advance_meal_queue,
    derivatives,
    gut_coefficients,
)
from pumplab.units import MG_PER_G, u_to_pmol_per_kg

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden" / "simglucose_traces.npz"

Rhs = Callable[[np.ndarray], np.ndarray]

#: The RK4 rules compared (pumplab's own integrator, what ships).
STEP_RULES: dict[str, StepControl] = {
    "RK4 x1": StepControl.uniform(1),
    "RK4 x2": StepControl.uniform(2),
    "RK4 x3": StepControl.uniform(3),
    "RK4 x4": StepControl.uniform(4),
    "RK4 x1, x16 at zero crossing": StepControl(1, 1, 0, 16),
    "RK4 x1, x2 eating+30 min, x16 at zero": StepControl(1, 2, 30, 16),
    "RK4 x1, x4 eating+10 min, x16 at zero": StepControl(1, 4, 10, 16),
    "RK4 x1, x4 eating+30 min, x16 at zero (default)": DEFAULT_STEPS,
    "RK4 x1, x8 eating+30 min, x16 at zero": StepControl(1, 8, 30, 16),
}


def integrate(
    carbs_g: np.ndarray,
    insulin_u: np.ndarray,
    step: Callable[[Rhs, np.ndarray], np.ndarray],
    cohort: Cohort | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Minute-by-minute integration of a cohort (default: the 30) with ``step`` per minute."""
    cohort = load_cohort() if cohort is None else cohort
    params = np.ascontiguousarray(cohort.parameters.T)
    vg = params[Param.Vg]
    factor = u_to_pmol_per_kg(np.ones(len(cohort)), params[Param.BW])
    x = np.ascontiguousarray(cohort.initial_state.T)
    queue = MealQueue.empty(x[State.Q_STO1] + x[State.Q_STO2])
    m_total = carbs_g.shape[1]
    bg = np.empty((len(cohort), m_total + 1))
    gs = np.empty_like(bg)
    bg[:, 0] = x[State.G_P] / vg
    gs[:, 0] = x[State.G_S] / vg
    for m in range(m_total):
        to_eat, dbar = advance_meal_queue(queue, carbs_g[:, m], x[State.Q_STO1] + x[State.Q_STO2])
        gut = gut_coefficients(params, dbar)
        d_mg = to_eat * MG_PER_G
        u = insulin_u[:, m] * factor

        def rhs(y: np.ndarray, gut=gut, d_mg=d_mg, u=u) -> np.ndarray:
            return derivatives(y, params, gut, d_mg, u)

        x = step(rhs, x)
        bg[:, m + 1] = x[State.G_P] / vg
        gs[:, m + 1] = x[State.G_S] / vg
    return bg, gs


def reference_step(rhs: Rhs, x: np.ndarray) -> np.ndarray:
    shape = x.shape
    sol = solve_ivp(
        lambda _t, y: rhs(y.reshape(shape)).ravel(),
        (0.0, 1.0),
        x.ravel(),
        method="DOP853",
        rtol=1e-10,
        atol=1e-10,
    )
    if not sol.success:
        raise RuntimeError(sol.message)
    return np.asarray(sol.y[:, -1].reshape(shape))


def midpoint_step(n: int) -> Callable[[Rhs, np.ndarray], np.ndarray]:
    h = 1.0 / n

    def step(rhs: Rhs, x: np.ndarray) -> np.ndarray:
        for _ in range(n):
            k1 = rhs(x)
            x = x + h * rhs(x + (h / 2.0) * k1)
        return x

    return step


def population_check(n: int, seed: int) -> None:
    """The same comparison for n generated subjects on a harder day (bigger, closer meals)."""
    cohort = generate_population(n, np.random.default_rng(seed))
    carbs = np.zeros((n, 1440))
    insulin = np.tile(cohort.basal_u_per_min[:, None], (1, 1440))
    for minute, grams in ((400, 30.0), (430, 60.0), (700, 120.0), (1000, 10.0), (1150, 100.0)):
        carbs[:, minute] += grams
        insulin[:, minute] += grams / cohort.carb_ratio_g_per_u
    insulin[:, 800] += 0.8 * cohort.total_daily_insulin_u
    ref_bg, ref_gs = integrate(carbs, insulin, reference_step, cohort)
    print(f"\n{n} generated subjects (seed {seed}), meals 30+60, 120, 10, 100 g, 0.8 TDI at 13:20:")
    print(f"  {int((ref_bg.min(axis=1) < 40).sum())} of {n} fall below 40 mg/dL in the reference")
    for label in ("RK4 x1", "RK4 x2", "RK4 x1, x4 eating+30 min, x16 at zero (default)"):
        r = simulate(cohort, carbs, insulin, trace_gsub=True, steps=STEP_RULES[label])
        assert r.bg_mg_dl is not None and r.gsub_mg_dl is not None
        print(
            f"  {label}: max |Δ| Gp/Vg {np.abs(r.bg_mg_dl - ref_bg).max():.2e}, "
            f"Gsub {np.abs(r.gsub_mg_dl - ref_gs).max():.2e} mg/dL"
        )


def main() -> int:
    golden = np.load(GOLDEN)
    days = [str(d) for d in golden["days"]]
    cohort = load_cohort()
    rows: dict[str, dict[str, tuple[float, float]]] = {}
    for di, day in enumerate(days):
        carbs = golden["carbs_g"][di]
        insulin = golden["insulin_u"][di]
        ref_bg, ref_gs = integrate(carbs, insulin, reference_step)
        # Minutes at or after the first one where any glucose state is below zero
        # (per patient): there the gate freezes states at step-dependent values.
        gated = np.maximum.accumulate((ref_bg <= 1e-6) | (ref_gs <= 1e-6), axis=1)
        schemes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for n in (1, 2, 4, 8):
            schemes[f"RK2 midpoint x{n}"] = integrate(carbs, insulin, midpoint_step(n))
        for label, steps in STEP_RULES.items():
            r = simulate(cohort, carbs, insulin, trace_gsub=True, steps=steps)
            assert r.bg_mg_dl is not None and r.gsub_mg_dl is not None
            schemes[label] = (r.bg_mg_dl, r.gsub_mg_dl)
        schemes["simglucose (dopri5 rtol 1e-6)"] = (
            golden["bg_mg_dl"][di],
            golden["gsub_mg_dl"][di],
        )
        for label, (bg, gs) in schemes.items():
            dbg = np.abs(bg - ref_bg)
            dgs = np.abs(gs - ref_gs)
            entry = rows.setdefault(label, {})
            if day == "normal":
                entry["normal"] = (float(dbg.max()), float(dgs.max()))
            else:
                entry["overdose, before zero"] = (
                    float(np.where(gated, 0, dbg).max()),
                    float(np.where(gated, 0, dgs).max()),
                )
                entry["overdose, at/after zero"] = (
                    float(np.where(gated, dbg, 0).max()),
                    float(np.where(gated, dgs, 0).max()),
                )
    columns = ["normal", "overdose, before zero", "overdose, at/after zero"]
    print("max |Δ| vs DOP853 rtol=atol=1e-10, mg/dL, (Gp/Vg, Gsub), all 30 subjects")
    print(f"| scheme | {' | '.join(columns)} |")
    print("|---|" + "---|" * len(columns))
    for label, entry in rows.items():
        cells = [f"{entry[c][0]:.2e}, {entry[c][1]:.2e}" for c in columns]
        print(f"| {label} | {' | '.join(cells)} |")
    population_check(60, 7)
    return 0


if __name__ == "__main__":
    sys.exit(main())

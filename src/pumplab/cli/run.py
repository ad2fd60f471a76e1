"""``pumplab run``: the main job (interim): one virtual adult for 24 hours on basal-bolus.

Until the full seed scenario exists (legacy vs secure pump under attack, a
later issue replaces this module), the main job simulates the standard
subject adult#001 from its basal steady state for 24 hours (1440 minutes)
on a built-in day of meals:

=========  ======
time        carbs
=========  ======
07:00       45 g   breakfast
12:00       70 g   lunch
15:30       15 g   snack
18:30       80 g   dinner
=========  ======

with basal-bolus insulin from the subject's therapy settings: the
steady-state basal every minute and, in the minute a meal starts, a bolus of
carbs / CR units.  It prints the plasma-glucose outcome: mean, min, max,
time in range 70-180 mg/dL, below 70 and above 180 (simple fractions of the
1441 minute samples 0..1440; the consensus metrics live in
:mod:`pumplab.metrics`), and the first minute below 40 mg/dL if any.
``--json`` prints the same as a JSON object.  It writes no file.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Final

__all__ = ["MEALS", "PATIENT", "register", "run_day"]

#: The built-in subject.
PATIENT: Final = "adult#001"
#: The built-in day: (minute of day, grams of carbohydrate, label).
MEALS: Final = ((420, 45.0, "breakfast"), (720, 70.0, "lunch"), (930, 15.0, "snack"),
                (1110, 80.0, "dinner"))  # fmt: skip
_MINUTES: Final = 1440


def register(subparsers: Any) -> None:
    """Add the ``run`` command."""
    parser = subparsers.add_parser(
        "run",
        help="the main job: a virtual adult for 24 h on basal-bolus therapy (interim)",
        description=(
            f"Simulate {PATIENT} for 24 h on a built-in day of meals "
            "(07:00 45 g, 12:00 70 g, 15:30 15 g, 18:30 80 g) with basal-bolus "
            "insulin from its therapy settings, and print the glucose outcome."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.set_defaults(func=_run_command)


def run_day() -> dict[str, Any]:
    """Simulate the built-in day; returns the outcome as a plain dict."""
    import numpy as np

    from pumplab.physiology import load_cohort, simulate

    cohort = load_cohort().select([PATIENT])
    therapy = cohort.subject(PATIENT).therapy
    carbs = np.zeros(_MINUTES)
    insulin = np.full(_MINUTES, cohort.basal_u_per_min[0])
    for minute, grams, _label in MEALS:
        carbs[minute] += grams
        insulin[minute] += grams / therapy.carb_ratio_g_per_u
    result = simulate(cohort, carbs, insulin)
    assert result.bg_mg_dl is not None
    bg = result.bg_mg_dl[0]
    severe = int(result.summary.first_severe_hypo_minute[0])
    return {
        "patient": PATIENT,
        "minutes": _MINUTES,
        "meals": [{"minute": m, "carbs_g": g, "label": label} for m, g, label in MEALS],
        "basal_rate_u_per_h": therapy.basal_rate_u_per_h,
        "carb_ratio_g_per_u": therapy.carb_ratio_g_per_u,
        "total_insulin_u": float(insulin.sum()),
        "mean_bg_mg_dl": float(bg.mean()),
        "min_bg_mg_dl": float(bg.min()),
        "max_bg_mg_dl": float(bg.max()),
        "time_in_range_70_180_pct": float(100.0 * np.mean((bg >= 70.0) & (bg <= 180.0))),
        "time_below_70_pct": float(100.0 * np.mean(bg < 70.0)),
        "time_above_180_pct": float(100.0 * np.mean(bg > 180.0)),
        "first_minute_below_40": None if severe < 0 else severe,
    }


def _run_command(args: argparse.Namespace) -> int:
    outcome = run_day()
    if args.json:
        print(json.dumps(outcome, indent=1))
        return 0
    print(f"{outcome['patient']}, 24 h, basal-bolus "
          f"(basal {outcome['basal_rate_u_per_h']:.3f} U/h, CR {outcome['carb_ratio_g_per_u']:g} g/U,"
          f" {outcome['total_insulin_u']:.1f} U in total)")  # fmt: skip
    meals = ", ".join(
        f"{m['minute'] // 60:02d}:{m['minute'] % 60:02d} {m['carbs_g']:g} g" for m in outcome["meals"]
    )
    print(f"meals: {meals}")
    print(
        f"plasma glucose: mean {outcome['mean_bg_mg_dl']:.1f}, min {outcome['min_bg_mg_dl']:.1f}, "
        f"max {outcome['max_bg_mg_dl']:.1f} mg/dL"
    )
    print(
        f"time in range 70-180: {outcome['time_in_range_70_180_pct']:.1f} %, "
        f"below 70: {outcome['time_below_70_pct']:.1f} %, "
        f"above 180: {outcome['time_above_180_pct']:.1f} %"
    )
    if outcome["first_minute_below_40"] is not None:
        print(f"severe hypoglycaemia (< 40 mg/dL) from minute {outcome['first_minute_below_40']}")
    return 0

"""``pumplab meals``: the built-in meal scenarios; meal plans for the other commands.

Lists the built-in scenarios of :mod:`pumplab.physiology.meals` (fixed
schedules with their meals, and the random plans with their meal slots), as a
table or with ``--json`` as one ``pumplab.meals/1`` object.  It writes no file.

:func:`load_plan` is how every ``--meals`` option loads its scenario (a
built-in name or a TOML file; errors name ``--meals``), and
:func:`warn_unreached_meals` says, naming them, which meals of the run's
first 24 hours (from its start's time of day, ``--start``) a run too short
to reach them will not eat.

Deliberately not here: realising plans into per-minute arrays (the
simulation's job).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from pumplab.cli._common import emit_json, guard, new_table, print_table, warn
from pumplab.errors import InputError

if TYPE_CHECKING:
    from pumplab.physiology.meals import Meal, MealPlan

__all__ = ["MEALS_HELP", "load_plan", "plan_record", "register", "warn_unreached_meals"]

#: Help of every ``--meals`` option.
MEALS_HELP = (
    "Meal scenario: a built-in name ('pumplab meals' lists them) or a TOML file "
    "(docs/meals.md)."
)

_MINUTES_PER_DAY = 1440


def register(app: typer.Typer) -> None:
    """Add the ``meals`` command."""
    app.command(
        "meals",
        help="List the built-in meal scenarios (what the virtual patients eat).\n\n"
        "Writes no file.",
        rich_help_panel="Reference",
    )(guard(meals_command))


def meals_command(
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object (schema pumplab.meals/1).",
    )] = False,
) -> int:
    """List the built-in meal scenarios."""
    from pumplab.physiology.meals import BUILTIN_MEAL_PLANS, builtin_meal_plan

    records = [plan_record(builtin_meal_plan(name)) for name in BUILTIN_MEAL_PLANS]
    if json_out:
        emit_json("meals", {"scenarios": records})
        return 0
    table = new_table("scenario", "kind", "description", "meals",
                      title="built-in meal scenarios (--meals NAME; docs/meals.md)")  # fmt: skip
    for r in records:
        if r["kind"] == "fixed":
            meals = "; ".join(_meal_text(m) for m in r["meals"]) or "none"
        else:
            meals = "; ".join(f"{s['label']} {s['earliest']}-{s['latest']} p={s['probability']:g}"
                              for s in r["slots"])  # fmt: skip
        table.add_row(r["name"], r["kind"], r["description"], meals)
    print_table(table)
    return 0


def _clock(minute: int) -> str:
    day, rest = divmod(minute, _MINUTES_PER_DAY)
    text = f"{rest // 60:02d}:{rest % 60:02d}"
    return f"day {day} {text}" if day else text


def _meal_text(m: dict[str, Any]) -> str:
    flags = "" if m["announced"] else ", unannounced"
    return f"{m['time']} {m['carbs_g']:g} g {m['label'] or 'meal'}{flags}".rstrip()


def plan_record(plan: MealPlan) -> dict[str, Any]:
    """A meal plan as one record of the ``pumplab.meals/1`` schema."""
    from pumplab.physiology.meals import MealScenario

    counting = plan.carb_counting
    record: dict[str, Any] = {
        "name": plan.name,
        "kind": "fixed" if isinstance(plan, MealScenario) else "random",
        "description": plan.description,
        "carb_counting": None if counting is None else {
            "mean_rel_error": counting.mean_rel_error, "sd_rel_error": counting.sd_rel_error},
    }
    if isinstance(plan, MealScenario):
        record["repeat_daily"] = plan.repeat_daily
        record["meals"] = [{
            "time": _clock(m.start_min), "start_min": m.start_min, "carbs_g": m.carbs_g,
            "announced": m.announced, "believed_carbs_g": m.believed_carbs_g,
            "label": m.label,
        } for m in plan.meals]
    else:
        record["slots"] = [{
            "label": s.label, "probability": s.probability, "earliest": _clock(s.earliest_min),
            "latest": _clock(s.latest_min), "mean_carbs_g": s.mean_carbs_g,
            "sd_carbs_g": s.sd_carbs_g, "announce_probability": s.announce_probability,
        } for s in plan.params.slots]
    return record


def load_plan(spec: str, *, option: str = "--meals") -> MealPlan:
    """The plan ``--meals SPEC`` names; a bad name or file is an error naming ``option``."""
    from pumplab.physiology.meals import BUILTIN_MEAL_PLANS, load_meal_plan

    try:
        return load_meal_plan(spec)
    except InputError as exc:
        if spec in BUILTIN_MEAL_PLANS or exc.source not in (None, "meals"):
            raise  # a file's own error already names the file, row and key
        raise InputError(exc.reason, source=option, allowed=exc.allowed) from None


def _unreached(
    plan: MealPlan, minutes: int, start_minute_of_day: int = 0
) -> tuple[list[Meal], list[str]]:
    """Meals a run of ``minutes`` from ``start_minute_of_day`` ends before.

    Plan time runs from the midnight of the run's first day, so the run covers
    ``[start, start + minutes)``.  A daily plan's meals of the run's first 24
    hours at or after its end (a daily plan's later days are what a shorter
    run is expected to leave out); all of a plan's meals after its end if it
    does not repeat; for a random plan, the slots whose window in the first
    24 hours reaches past the end.  Meals before the start are not the end's
    doing and are not listed.
    """
    from pumplab.physiology.meals import MealScenario

    start, end = start_minute_of_day, start_minute_of_day + minutes
    if isinstance(plan, MealScenario):
        if plan.repeat_daily:
            meals = plan.meals_between(start, start + _MINUTES_PER_DAY)
        else:
            meals = plan.meals
        return [m for m in meals if m.start_min >= end], []
    slots: list[str] = []
    for s in plan.params.slots:
        for day in (0, 1):
            earliest = s.earliest_min + day * _MINUTES_PER_DAY
            latest = s.latest_min + day * _MINUTES_PER_DAY
            in_first_day = latest >= start and earliest < start + _MINUTES_PER_DAY
            if in_first_day and latest >= end:
                slots.append(f"{s.label} ({_clock(earliest)}-{_clock(latest)})")
                break
    return [], slots


def warn_unreached_meals(
    plan: MealPlan, minutes: int, *, option: str = "--meals", start_minute_of_day: int = 0
) -> bool:
    """Warn, naming them, about meals a run of ``minutes`` ends before; True if any.

    Only the run's first 24 hours are considered (a daily plan's later days
    are what a shorter run is expected to leave out).  ``start_minute_of_day``
    is where the run starts in the plan's day (``--start``); times are the
    plan's, from the midnight of the run's first day.
    """
    meals, slots = _unreached(plan, minutes, start_minute_of_day)
    last = start_minute_of_day + minutes
    end = f"the run ends at minute {minutes} ({_clock(last)})"
    if meals:
        listed = ", ".join(
            f"{m.label or 'meal'} at {_clock(m.start_min)} ({m.carbs_g:g} g)" for m in meals
        )
        warn(f"{option} {plan.name}: {end}, before {len(meals)} of its meals, "
             f"which are not eaten: {listed}")  # fmt: skip
        return True
    if slots:
        warn(f"{option} {plan.name}: {end}; meals this random plan draws after it are "
             f"not eaten: {', '.join(slots)}")  # fmt: skip
        return True
    return False

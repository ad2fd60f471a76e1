"""``pumplab patients``: the standard cohort and its therapy settings; the ``--patients`` rule.

Lists the 30 standard subjects of the UVA/Padova simulator
(:func:`pumplab.physiology.load_cohort`) with age group, age, body weight,
total daily insulin, steady-state basal rate, carb ratio and correction factor
(docs/physiology.md, "Cohort"), as a table or with ``--json`` as one
``pumplab.patients/1`` object.  It writes no file.

:func:`select_patients` is how every command turns a ``--patients`` value
(names separated by commas, or ``all``) into cohort names, with one error
naming the option and the valid names.

Deliberately not here: generated populations (``patient simulate
--population``) and simulating anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pumplab.cli._common import (
    ALL_NAMES,
    Names,
    emit_json,
    guard,
    name_list,
    new_table,
    print_table,
    resolve_names,
)

if TYPE_CHECKING:
    from pumplab.physiology import Cohort

__all__ = ["PATIENTS_HELP", "describe_names", "patient_rows", "register", "select_patients"]

#: Help of every ``--patients`` option.
PATIENTS_HELP = (
    "Standard subjects, separated by commas (adolescent#001-010, adult#001-010, "
    "child#001-010), or 'all'.  'pumplab patients' lists them."
)


def register(app: typer.Typer) -> None:
    """Add the ``patients`` command."""
    app.command(
        "patients",
        help="List the standard virtual patients and their therapy settings.\n\n"
        "Writes no file.",
        rich_help_panel="Reference",
    )(guard(patients_command))


def patients_command(
    patients: Annotated[Names, typer.Option(
        "--patients", "--patient", parser=name_list(what="patient"), metavar="NAMES",
        help=PATIENTS_HELP,
    )] = ALL_NAMES,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object (schema pumplab.patients/1).",
    )] = False,
) -> int:
    """List the standard subjects with their therapy settings."""
    from pumplab.physiology import load_cohort

    cohort = load_cohort()
    names = select_patients("--patients", patients, cohort)
    rows = patient_rows(cohort.select(list(names)))
    if json_out:
        emit_json("patients", {"patients": rows})
        return 0
    table = new_table("patient", "age group", ("age (y)", "right"), ("weight (kg)", "right"),
                      ("TDI (U/day)", "right"), ("basal (U/h)", "right"),
                      ("carb ratio (g/U)", "right"), ("correction (mg/dL/U)", "right"),
                      title=f"{len(rows)} standard patients (UVA/Padova; docs/physiology.md)")
    for r in rows:
        table.add_row(r["patient"], r["age_group"], f"{r['age_years']:.0f}",
                      f"{r['body_weight_kg']:.1f}", f"{r['total_daily_insulin_u']:.1f}",
                      f"{r['basal_rate_u_per_h']:.3f}", f"{r['carb_ratio_g_per_u']:.1f}",
                      f"{r['correction_factor_mg_dl_per_u']:.1f}")  # fmt: skip
    print_table(table)
    return 0


def patient_rows(cohort: Cohort) -> list[dict[str, Any]]:
    """One record per subject: the keys of the ``pumplab.patients/1`` schema."""
    rows: list[dict[str, Any]] = []
    for subject in cohort:
        t = subject.therapy
        rows.append({
            "patient": subject.name,
            "age_group": subject.age_group,
            "age_years": round(t.age_years, 3),
            "body_weight_kg": round(t.body_weight_kg, 3),
            "total_daily_insulin_u": round(t.total_daily_insulin_u, 3),
            "basal_rate_u_per_h": round(t.basal_rate_u_per_h, 4),
            "carb_ratio_g_per_u": round(t.carb_ratio_g_per_u, 3),
            "correction_factor_mg_dl_per_u": round(t.correction_factor_mg_dl_per_u, 3),
        })
    return rows


def describe_names(names: Sequence[str]) -> str:
    """Names as ranges where they run on: ``adult#001-010, child#001-010``."""
    groups: dict[str, list[str]] = {}
    for name in names:
        prefix, sep, number = name.partition("#")
        key = prefix if sep and number.isdigit() else name
        groups.setdefault(key, []).append(number if sep and number.isdigit() else "")
    parts: list[str] = []
    for prefix, numbers in groups.items():
        if len(numbers) > 1 and all(numbers):
            values = [int(n) for n in numbers]
            if values == list(range(values[0], values[0] + len(values))):
                parts.append(f"{prefix}#{numbers[0]}-{numbers[-1]}")
                continue
        parts.extend(f"{prefix}#{n}" if n else prefix for n in numbers)
    return ", ".join(parts)


def select_patients(option: str, given: Names, cohort: Cohort) -> tuple[str, ...]:
    """The cohort names a ``--patients`` value selects (``all``: every subject)."""
    return resolve_names(option, given, cohort.names, what="patient",
                         allowed=describe_names(cohort.names))  # fmt: skip

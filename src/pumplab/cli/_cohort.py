"""What ``patient simulate`` and ``metrics`` print for many patients: the cohort summary.

A run of 10,000 patients is read as a summary, not as 10,000 lines: the
median and quartiles of TIR, TBR and TAR, the share of patients with a
level-2 hypoglycaemia event and the patients outside the model's validated
range (:class:`~pumplab.metrics.cohort.CohortSummary`).  The per-patient
table goes to a CSV file (``--out-table``), and the terminal shows it only
for a cohort of at most :data:`TABLE_MAX_PATIENTS` patients (the standard 30
still fit).  Both commands print the summary when they score two patients or
more, and ``wrote PATH`` for every file they wrote.

Deliberately not here: computing anything (:mod:`pumplab.metrics.cohort`
does), and choosing file names.  numpy is not imported at module level.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pumplab.cli._common import new_table, print_table

if TYPE_CHECKING:
    from pumplab.metrics.cohort import CohortSummary, Quartiles

__all__ = [
    "OUT_TABLE_HELP",
    "TABLE_MAX_PATIENTS",
    "print_cohort_summary",
    "print_table_hint",
    "print_written",
    "same_file",
    "shows_table",
]

#: The terminal shows the per-patient table of at most this many patients;
#: beyond, only the summary (and ``--out-table`` writes the table).
TABLE_MAX_PATIENTS: Final = 30

#: Most names listed on the "outside the validated range" line.
_NAMES_SHOWN: Final = 10

OUT_TABLE_HELP: Final = (
    "Write the per-patient table here as CSV, one row per patient (replaced only when "
    f"the command succeeds).  The terminal shows it only up to {TABLE_MAX_PATIENTS} "
    "patients."
)


def shows_table(n_patients: int) -> bool:
    """Whether the text output includes the per-patient table."""
    return n_patients <= TABLE_MAX_PATIENTS


def print_table_hint(n_patients: int, *, out_table: Path | None) -> None:
    """Say where the per-patient table is when the terminal does not show it."""
    if shows_table(n_patients) or out_table is not None:
        return  # shown, or written (and named by print_written)
    print(f"per-patient table not shown for {n_patients} patients (more than "
          f"{TABLE_MAX_PATIENTS}): --out-table FILE.csv writes it, --json prints it")


def _quartile_cells(q: Quartiles, decimals: int) -> list[str]:
    if q.n_patients == 0:
        return ["n/a"] * 4
    return [f"{v:.{decimals}f}" for v in (q.median, q.q1, q.q3, q.iqr)]


def print_cohort_summary(
    summary: CohortSummary, *, what: str, very_low: str = "54 mg/dL"
) -> None:
    """Print the summary: a quartile table, the level-2 share, the patients out of range.

    ``what`` says what was scored (``plasma glucose every minute``);
    ``very_low`` is the level-2 threshold in the unit of the report.
    """
    print(f"cohort of {summary.n_patients} patients ({what})")
    table = new_table("", ("median", "right"), ("q1", "right"), ("q3", "right"),
                      ("IQR", "right"))  # fmt: skip
    for label, q in (
        ("time in range (%)", summary.tir_70_180_pct),
        ("time below range (%)", summary.tbr_70_pct),
        ("time above range (%)", summary.tar_180_pct),
    ):
        table.add_row(label, *_quartile_cells(q, 1))
    print_table(table)
    scored = summary.n_patients - summary.n_without_readings
    share = "n/a" if scored == 0 else f"{summary.level2_hypo_share_pct:.1f} %"
    print(f"level-2 hypoglycaemia (an event of >= 15 min below {very_low}): "
          f"{summary.level2_hypo_patients} of {scored} patients ({share})")  # fmt: skip
    if summary.n_without_readings:
        print(f"without readings: {summary.n_without_readings} patients (left out above)")
    outside = summary.outside_validated_range
    if outside is not None:
        print(f"outside the model's validated range: {_names(outside)}")


def _names(names: Sequence[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    tail = f" and {more} more (the per-patient table lists all)" if more > 0 else ""
    return f"{len(names)} patient(s): {shown}{tail}"


def print_written(paths: Sequence[Path | None]) -> None:
    """``wrote PATH`` for every file written (``None`` entries skipped)."""
    for path in paths:
        if path is not None:
            sys.stdout.write(f"wrote {path}\n")


def same_file(a: Path, b: Path) -> bool:
    """Whether two output paths name the same file (existing or not)."""
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


"""``pumplab metrics TRACE.csv``: the consensus glycaemic metrics of a trace.

Reads a trace (``minute``, ``bg_mg_dl`` and/or ``cgm_mg_dl``, optional
``patient``), and prints per patient the metrics of
:mod:`pumplab.metrics.glycemic`: a table by default (one row per metric, one
column per patient, six patients per block), or with ``--json`` one
``pumplab.metrics/1`` object whose ``patients`` list holds one record per
patient (keys in docs/metrics.md).  It writes no file.  Bad input ends in one
``pumplab: error: ...`` line naming the file, row and column, exit 2.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from pumplab.cli._common import (
    EXIT_OK,
    choice,
    emit_json,
    guard,
    int_range,
    new_table,
    print_table,
)

__all__ = ["format_table", "register"]

_PATIENTS_PER_BLOCK = 6

# Table rows: (key, label, decimals); None decimals = integer.
_ROWS: tuple[tuple[str, str, int | None], ...] = (
    ("interval_min", "sampling interval (min)", 0),
    ("n_samples", "readings", None),
    ("data_present_pct", "data present (%)", 1),
    ("low_flags", "LOW flags", None),
    ("high_flags", "HIGH flags", None),
    ("mean_mg_dl", "mean (mg/dL)", 1),
    ("sd_mg_dl", "SD (mg/dL)", 1),
    ("cv_pct", "CV (%)", 1),
    ("gmi_pct", "GMI (%)", 2),
    ("tir_70_180_pct", "TIR 70-180 (%)", 1),
    ("tbr_70_pct", "TBR <70 (%)", 1),
    ("tbr_54_pct", "TBR <54 (%)", 1),
    ("tar_180_pct", "TAR >180 (%)", 1),
    ("tar_250_pct", "TAR >250 (%)", 1),
    ("lbgi", "LBGI", 2),
    ("hbgi", "HBGI", 2),
    ("risk_index", "risk index", 2),
    ("hypo_events", "level-2 hypo events", None),
)

#: Longest sampling interval --interval accepts: one reading a day.
MAX_INTERVAL_MIN = 1440


def register(app: typer.Typer) -> None:
    """Add the ``metrics`` command."""
    app.command(
        "metrics",
        help="Consensus glycaemic metrics of a trace (TIR, GMI, LBGI/HBGI, ...).\n\n"
        "TRACE.csv has the columns minute, bg_mg_dl and/or cgm_mg_dl, and optionally "
        "patient: what 'pumplab run' and 'pumplab patient simulate --out' write.  "
        "Definitions: docs/metrics.md.  Writes no file.",
        rich_help_panel="Inspect",
    )(guard(metrics_command))


def metrics_command(
    trace: Annotated[Path, typer.Argument(
        metavar="TRACE.csv", exists=True, dir_okay=False, readable=True,
        help="The trace file to score.",
        show_default=False,
    )],
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object (schema pumplab.metrics/1), a record per patient.",
    )] = False,
    column: Annotated[str | None, typer.Option(
        "--column", parser=choice(("bg_mg_dl", "cgm_mg_dl")), metavar="bg_mg_dl|cgm_mg_dl",
        help="Glucose column to score (default: cgm_mg_dl if present, else bg_mg_dl).",
    )] = None,
    interval: Annotated[int | None, typer.Option(
        "--interval", parser=int_range(low=1, high=MAX_INTERVAL_MIN, unit="min"),
        metavar="MINUTES", help="Sampling interval (default: inferred per patient from the "
        "most common step between readings).",
    )] = None,
) -> int:
    """Score a trace file with the consensus glycaemic metrics."""
    from pumplab.metrics.tracefile import read_trace, trace_metrics

    data = read_trace(trace, column=column)
    records = [r.as_dict() for r in trace_metrics(data, interval_min=interval)]
    if json_out:
        emit_json("metrics", {"source": data.source, "column": data.column,
                              "patients": records})  # fmt: skip
    else:
        format_table(records, source=data.source, column=data.column)
    return EXIT_OK


def format_table(records: list[dict[str, Any]], *, source: str, column: str) -> None:
    """Print the readable tables: one row per metric, one column per patient."""
    print(f"{source}: {column}, {len(records)} patient(s)")
    for first in range(0, len(records), _PATIENTS_PER_BLOCK):
        block = records[first : first + _PATIENTS_PER_BLOCK]
        heads = [str(r["patient"]) if r["patient"] is not None else "-" for r in block]
        table = new_table("patient", *((h, "right") for h in heads))
        for key, label, decimals in _ROWS:
            table.add_row(label, *(_fmt(r[key], decimals) for r in block))
        print()
        print_table(table)


def _fmt(value: Any, decimals: int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if decimals is None:
        return str(int(value))
    return f"{float(value):.{decimals}f}"

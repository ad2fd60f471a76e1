"""``pumplab metrics TRACE.csv``: the consensus glycaemic metrics of a trace.

Reads a trace (``minute``, ``bg_mg_dl`` and/or ``cgm_mg_dl``, optional
``patient``), and prints per patient the metrics of
:mod:`pumplab.metrics.glycemic`: a table by default, or with ``--json`` a JSON
list with one object per patient (keys in docs/metrics.md).  It writes no
file.  Bad input ends in one ``pumplab: error: ...`` line naming the file,
row and column (see :mod:`pumplab.cli.main`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

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


def register(subparsers: Any) -> None:
    """Add the ``metrics`` subcommand."""
    parser = subparsers.add_parser(
        "metrics",
        help="consensus glycaemic metrics of a trace (TIR, GMI, LBGI/HBGI, ...)",
        description=(
            "Print the consensus glycaemic metrics of each patient of a trace CSV "
            "(columns: minute, bg_mg_dl and/or cgm_mg_dl, optional patient). "
            "Definitions: docs/metrics.md."
        ),
    )
    parser.add_argument("trace", metavar="TRACE.csv", help="trace file to score")
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list, one object per patient"
    )
    parser.add_argument(
        "--column",
        choices=("bg_mg_dl", "cgm_mg_dl"),
        default=None,
        help="glucose column to score (default: cgm_mg_dl if present, else bg_mg_dl)",
    )
    parser.add_argument(
        "--interval",
        type=_positive_int,
        default=None,
        metavar="MINUTES",
        help="sampling interval (default: inferred per patient from the most common step "
        "between readings)",
    )
    parser.set_defaults(func=_run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of minutes: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 minute, got {value}")
    return value


def _run(args: argparse.Namespace) -> int:
    from pumplab.metrics.tracefile import read_trace, trace_metrics

    trace = read_trace(args.trace, column=args.column)
    records = [r.as_dict() for r in trace_metrics(trace, interval_min=args.interval)]
    if args.json:
        sys.stdout.write(json.dumps(records, indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(format_table(records, source=trace.source, column=trace.column))
    return 0


def format_table(records: list[dict[str, Any]], *, source: str, column: str) -> str:
    """The readable table: one row per metric, one column per patient."""
    lines = [f"{source}: {column}, {len(records)} patient(s)"]
    label_width = max(len(label) for _, label, _ in _ROWS)
    for first in range(0, len(records), _PATIENTS_PER_BLOCK):
        block = records[first : first + _PATIENTS_PER_BLOCK]
        heads = [str(r["patient"]) if r["patient"] is not None else "-" for r in block]
        cells = [[_fmt(r[key], dec) for r in block] for key, _, dec in _ROWS]
        widths = [max(len(heads[j]), *(len(row[j]) for row in cells)) for j in range(len(block))]
        lines.append("")
        lines.append(
            "patient".ljust(label_width)
            + "".join(f"  {h:>{w}}" for h, w in zip(heads, widths, strict=True))
        )
        for (_, label, _), row in zip(_ROWS, cells, strict=True):
            lines.append(
                label.ljust(label_width)
                + "".join(f"  {c:>{w}}" for c, w in zip(row, widths, strict=True))
            )
    return "\n".join(lines) + "\n"


def _fmt(value: Any, decimals: int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if decimals is None:
        return str(int(value))
    return f"{float(value):.{decimals}f}"

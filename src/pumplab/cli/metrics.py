"""``pumplab metrics TRACE.csv``: the consensus glycaemic metrics of a trace.

Reads a trace (:mod:`pumplab.metrics.tracefile`): pumplab's (``minute``,
``bg_mg_dl``/``gsub_mg_dl``/``cgm_mg_dl`` or their ``*_mmol_l`` forms,
optional ``patient``) or simglucose's result CSV
(``Time,BG,CGM,CHO,insulin,LBGI,HBGI,Risk``), and prints per patient the
metrics of :mod:`pumplab.metrics.glycemic`: a table (one row per metric, one
column per patient, six patients per block) for up to
:data:`~pumplab.cli._cohort.TABLE_MAX_PATIENTS` patients, and for two
patients or more the cohort summary (:mod:`pumplab.metrics.cohort`); or with
``--json`` one ``pumplab.metrics/1`` object whose ``patients`` list holds one
record per patient (keys in docs/metrics.md) and whose ``summary`` holds the
cohort summary.

``--units mg/dL|mmol/L`` says what the readings are in and reports in the
same unit (the default: the column's, ``*_mmol_l`` being mmol/L).  Readings
that look like the other unit are refused by the reader, with a hint naming
``--units``.  ``--out-table FILE`` writes the per-patient records as CSV (the
only file the command writes, replaced only on success, and named on
stdout).  Bad input ends in one ``pumplab: error: ...`` line naming the
file, row and column, exit 2.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Final

import typer

from pumplab.cli._cohort import (
    OUT_TABLE_HELP,
    print_cohort_summary,
    print_table_hint,
    print_written,
    same_file,
    shows_table,
)
from pumplab.cli._common import (
    EXIT_OK,
    check_output_path,
    choice,
    emit_json,
    guard,
    int_range,
    new_table,
    one_line,
    print_table,
    write_atomically,
)
from pumplab.errors import InputError

if TYPE_CHECKING:
    from pumplab.metrics.glucose_units import GlucoseUnit

__all__ = ["GLUCOSE_COLUMNS", "UNITS", "format_table", "register"]

_PATIENTS_PER_BLOCK = 6

#: The glucose columns --column accepts: those of the trace reader
#: (pumplab.metrics.tracefile.GLUCOSE_COLUMNS; a test holds the two equal),
#: spelled out here so that ``pumplab --help`` does not load numpy.
GLUCOSE_COLUMNS: Final = ("cgm_mg_dl", "cgm_mmol_l", "CGM", "bg_mg_dl", "bg_mmol_l", "BG",
                          "gsub_mg_dl")  # fmt: skip

#: The units --units accepts (any case), as pumplab.metrics.glucose_units.GlucoseUnit.
UNITS: Final = ("mg/dL", "mmol/L")

# Table rows: (key in mg/dL, label with {unit} for concentrations, decimals in mg/dL,
# decimals in mmol/L); None decimals = integer.
_ROWS: tuple[tuple[str, str, int | None, int | None], ...] = (
    ("interval_min", "sampling interval (min)", 0, 0),
    ("n_samples", "readings", None, None),
    ("data_present_pct", "data present (%)", 1, 1),
    ("low_flags", "LOW flags", None, None),
    ("high_flags", "HIGH flags", None, None),
    ("mean_mg_dl", "mean ({unit})", 1, 2),
    ("sd_mg_dl", "SD ({unit})", 1, 2),
    ("cv_pct", "CV (%)", 1, 1),
    ("mage_mg_dl", "MAGE ({unit})", 1, 2),
    ("gmi_pct", "GMI (%)", 2, 2),
    ("tir_70_180_pct", "TIR {in_range} (%)", 1, 1),
    ("tbr_70_pct", "TBR <{low} (%)", 1, 1),
    ("tbr_54_pct", "TBR <{very_low} (%)", 1, 1),
    ("tar_180_pct", "TAR >{high} (%)", 1, 1),
    ("tar_250_pct", "TAR >{very_high} (%)", 1, 1),
    ("gri", "GRI", 1, 1),
    ("lbgi", "LBGI", 2, 2),
    ("hbgi", "HBGI", 2, 2),
    ("risk_index", "risk index", 2, 2),
    ("adrr", "ADRR", 1, 1),
    ("hypo_events", "level-2 hypo events", None, None),
)

#: The consensus limits as each unit states them (Battelino et al. 2019), for labels.
_LIMIT_TEXT: Final = {
    "mg/dL": {"very_low": "54", "low": "70", "in_range": "70-180", "high": "180",
              "very_high": "250"},
    "mmol/L": {"very_low": "3.0", "low": "3.9", "in_range": "3.9-10.0", "high": "10.0",
               "very_high": "13.9"},
}  # fmt: skip

#: Longest sampling interval --interval accepts: one reading a day.
MAX_INTERVAL_MIN = 1440


def _unit_parser(value: object) -> str:
    """``--units``: ``mg/dL`` or ``mmol/L``, any case (numpy is not loaded to parse it)."""
    text = str(value).strip()
    for unit in UNITS:
        if text.lower() == unit.lower():
            return unit
    raise typer.BadParameter(one_line(f"unknown glucose unit {text!r} (allowed: "
                                      f"{', '.join(UNITS)})"))  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the ``metrics`` command."""
    app.command(
        "metrics",
        help="Consensus glycaemic metrics of a trace (TIR, GMI, MAGE, GRI, LBGI/HBGI, "
        "ADRR, ...), and the cohort summary of many patients.\n\n"
        "TRACE.csv is what 'pumplab run' and 'pumplab patient simulate --out' write "
        "(columns minute, bg_mg_dl, gsub_mg_dl and/or cgm_mg_dl, optional patient) or "
        "simglucose's result CSV (Time,BG,CGM,...).  Definitions: docs/metrics.md.  "
        "Writes only the --out-table file, if given.",
        rich_help_panel="Inspect",
    )(guard(metrics_command))


def metrics_command(
    trace: Annotated[Path, typer.Argument(
        metavar="TRACE.csv", exists=True, dir_okay=False, readable=True,
        help="The trace file to score (pumplab's or simglucose's).",
        show_default=False,
    )],
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object (schema pumplab.metrics/1): a record per "
        "patient and the cohort summary.",
    )] = False,
    column: Annotated[str | None, typer.Option(
        "--column", parser=choice(GLUCOSE_COLUMNS), metavar="COLUMN",
        help="Glucose column to score: " + ", ".join(GLUCOSE_COLUMNS) + " (default: the "
        "first of these the file has; simglucose's BG is gsub_mg_dl, not bg_mg_dl).",
    )] = None,
    units: Annotated[str | None, typer.Option(
        "--units", parser=_unit_parser, metavar="mg/dL|mmol/L",
        help="Unit of the readings, and of the report (default: the column's; *_mmol_l "
        "columns are mmol/L).",
    )] = None,
    interval: Annotated[int | None, typer.Option(
        "--interval", parser=int_range(low=1, high=MAX_INTERVAL_MIN, unit="min"),
        metavar="MINUTES", help="Sampling interval (default: inferred per patient from the "
        "most common step between readings).",
    )] = None,
    out_table: Annotated[Path | None, typer.Option(
        "--out-table", metavar="TABLE.csv", help=OUT_TABLE_HELP,
    )] = None,
) -> int:
    """Score a trace file with the consensus glycaemic metrics."""
    if out_table is not None:
        check_output_path(out_table, option="--out-table")
        if same_file(out_table, trace):
            raise InputError("names the trace being read", source="--out-table",
                             allowed="a file other than TRACE.csv")  # fmt: skip
    from pumplab.metrics.cohort import trace_cohort_summary, write_metrics_table
    from pumplab.metrics.glucose_units import GlucoseUnit
    from pumplab.metrics.tracefile import read_trace, trace_metrics

    data = read_trace(trace, column=column, unit=None if units is None else GlucoseUnit(units))
    results = trace_metrics(data, interval_min=interval)
    records = [r.as_dict(data.unit) for r in results]
    summary = trace_cohort_summary(results)
    if out_table is not None:

        def produce(stream: IO[str]) -> None:
            write_metrics_table(stream, records)

        write_atomically(out_table, produce, option="--out-table")
    if json_out:
        table_path = None if out_table is None else str(out_table)
        emit_json("metrics", {"source": data.source, "column": data.column,
                              "patients": records, "units": data.unit.value,
                              "summary": summary.as_dict(), "table_path": table_path})  # fmt: skip
        return EXIT_OK
    n = len(records)
    if shows_table(n):
        format_table(records, source=data.source, column=data.column, unit=data.unit)
    else:
        print(f"{data.source}: {data.column} ({data.unit.value}), {n} patients")
    if n >= 2:
        print()
        limits = _LIMIT_TEXT[data.unit.value]
        print_cohort_summary(summary, what=f"{data.column}, consensus ranges in "
                             f"{data.unit.value}",
                             very_low=f"{limits['very_low']} {data.unit.value}")  # fmt: skip
        print_table_hint(n, out_table=out_table)
    print_written([out_table])
    return EXIT_OK


def format_table(
    records: list[dict[str, Any]], *, source: str, column: str, unit: GlucoseUnit | None = None
) -> None:
    """Print the readable tables: one row per metric, one column per patient.

    ``records`` are in ``unit`` (default mg/dL; their concentration keys
    renamed, as ``TraceMetrics.as_dict(unit)`` gives them).
    """
    from pumplab.metrics.glucose_units import metric_key

    unit_text = "mg/dL" if unit is None else unit.value
    mmol = unit_text == "mmol/L"
    limits = _LIMIT_TEXT[unit_text]
    print(f"{source}: {column} ({unit_text}), {len(records)} patient(s)")
    for first in range(0, len(records), _PATIENTS_PER_BLOCK):
        block = records[first : first + _PATIENTS_PER_BLOCK]
        heads = [str(r["patient"]) if r["patient"] is not None else "-" for r in block]
        table = new_table("patient", *((h, "right") for h in heads))
        for key, label, dec_mg, dec_mmol in _ROWS:
            name = metric_key(key, unit) if unit is not None else key
            text = label.format(unit=unit_text, **limits)
            decimals = dec_mmol if mmol else dec_mg
            table.add_row(text, *(_fmt(r.get(name), decimals) for r in block))
        print()
        print_table(table)


def _fmt(value: Any, decimals: int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if decimals is None:
        return str(int(value))
    return f"{float(value):.{decimals}f}"

"""``pumplab control``: run a closed-loop controller's decision on given inputs.

``pumplab control oref0 --inputs CASE.json [--json]`` runs pumplab's
oref0-compatible determine-basal (:mod:`pumplab.control.oref0`) on one CASE:
the inputs exactly as oref0's determine-basal takes them (``glucose_status``,
``currenttemp``, ``iob_data``, ``profile``, ``autosens``, ``meal_data``,
``microBolusAllowed``, ``reservoir_data`` (optional) and ``currentTime``).
The output carries oref0's own keys (``rate``, ``duration``, ``units``,
``eventualBG``, ``reason``, ``predBGs``, ...); with ``--json`` they sit in one
``pumplab.control-oref0/1`` object beside the ``schema`` key.  A missing or
mistyped field is one error naming its key path.  It writes no file.

Deliberately not here: the decision itself (pure, in :mod:`pumplab.control`)
and running a loop (``pumplab trial``, a later command).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pumplab.cli._common import emit_json, guard, new_group, new_table, print_table
from pumplab.errors import InputError

__all__ = ["read_case", "register"]

_CONTROL_HELP = "Closed-loop controllers: one decision on given inputs (docs/controllers.md)."

_OREF0_HELP = """\
Run pumplab's oref0-compatible determine-basal on one CASE.json.

CASE.json holds oref0's determine-basal inputs under the keys glucose_status,
currenttemp, iob_data, profile, autosens, meal_data, microBolusAllowed,
reservoir_data (optional) and currentTime.  Prints the decision (temp basal
rate and duration, micro-bolus units, eventual BG, reason); --json prints
oref0's whole output object.  Writes no file.
"""


def register(app: typer.Typer) -> None:
    """Add the ``control`` group and its ``oref0`` command."""
    group = new_group(_CONTROL_HELP)
    group.command("oref0", help=_OREF0_HELP)(guard(oref0_command))
    app.add_typer(group, name="control", rich_help_panel="Simulate")


def oref0_command(
    inputs: Annotated[Path, typer.Option(
        "--inputs", metavar="CASE.json", exists=True, dir_okay=False, readable=True,
        show_default=False, help="oref0's determine-basal inputs as one JSON object.",
    )],
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print oref0's output as one JSON object (schema pumplab.control-oref0/1).",
    )] = False,
) -> int:
    """One oref0 determine-basal decision."""
    from pumplab.control.oref0 import determine_basal_case

    result = determine_basal_case(read_case(inputs))
    if json_out:
        emit_json("control-oref0", result)
        return 0
    table = new_table("key", "value", title=f"oref0 determine-basal on {inputs.name}")
    for key in ("rate", "duration", "units", "eventualBG", "insulinReq", "COB", "IOB"):
        if key in result:
            table.add_row(key, _text(result[key]))
    table.add_row("reason", str(result.get("reason", "")))
    print_table(table)
    return 0


def read_case(path: Path) -> dict[str, Any]:
    """The CASE object in ``path``; a file that is not one JSON object is an error naming it."""
    text = path.read_text(encoding="utf-8")
    try:
        case = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                         source=str(path)) from None
    if not isinstance(case, dict):
        raise InputError(f"a CASE is a JSON object, not {type(case).__name__}",
                         source=str(path), allowed="an object with oref0's input keys")
    return case


def _text(value: object) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

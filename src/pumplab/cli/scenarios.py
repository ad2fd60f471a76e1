"""``pumplab scenarios``: the lab's built-in scenarios, one as TOML, and checking a file.

* ``pumplab scenarios [--json]`` lists the built-in scenarios of
  :mod:`pumplab.sim.scenario` (name, description, arms, patients, length,
  start, meals, seed, link, attackers, tasks and scenario hash), as a table or
  as one ``pumplab.scenarios/1`` object.
* ``pumplab scenarios show NAME`` prints one as complete TOML to copy and
  edit: exactly :func:`~pumplab.sim.scenario.builtin_scenario_toml`, which
  loads back to the same scenario.
* ``pumplab scenarios check FILE [--json]`` validates a scenario file the way
  a run will, and lists **every** problem at once: one error line per problem
  with its key path and the allowed values (printed by
  :func:`pumplab.cli._common.error_lines`, as for any command that loads a
  scenario), exit 2; or says what the file would run, exit 0.  With
  ``--json`` the verdict is one ``pumplab.scenario-check/1`` object.

None of them writes a file.  Deliberately not here: running a scenario
(``pumplab run``), and editing one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pumplab.cli._common import (
    CONTEXT_SETTINGS,
    EXIT_OK,
    EXIT_USAGE,
    emit_json,
    guard,
    new_table,
    print_table,
)
from pumplab.errors import InputError, ScenarioError

if TYPE_CHECKING:
    from pumplab.sim.scenario import Scenario

__all__ = ["register", "scenario_record"]

_HELP = """\
List the lab's built-in scenarios; show one as TOML; check a scenario file.

Alone: a table of the built-in scenarios (name, arms, patients, hours, tasks,
description), or with --json one pumplab.scenarios/1 object.  'pumplab
scenarios show NAME' prints one as TOML to copy; 'pumplab scenarios check
FILE' lists every problem of a scenario file at once.  docs/lab.md describes
the keys.

Writes no file.
"""


def register(app: typer.Typer) -> None:
    """Add ``scenarios`` (which lists when called alone), ``scenarios show`` and ``check``."""
    group = typer.Typer(help=_HELP, context_settings=dict(CONTEXT_SETTINGS),
                        rich_markup_mode="rich", invoke_without_command=True)  # fmt: skip
    group.callback()(guard(list_command))
    group.command("show", help=(
        "Print a built-in scenario as TOML to copy: every key with its value, defaults "
        "included.\n\nSave it (pumplab scenarios show seed-508 > my.toml), edit it, and "
        "check it with 'pumplab scenarios check my.toml'.  Writes no file."
    ))(guard(show_command))
    group.command("check", help=(
        "Validate a scenario file and list every problem at once.\n\n"
        "Each problem is one error line on stderr, 'pumplab: error: FILE: KEY.PATH: "
        "problem (allowed: ...)', exit 2; a valid file prints what it would run (arms, "
        "patients, tasks, scenario hash), exit 0.  Nothing runs.  Writes no file."
    ))(guard(check_command))
    app.add_typer(group, name="scenarios", rich_help_panel="Lab")


# --------------------------------------------------------------------------
# the listing


def list_command(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the list as one JSON object (schema pumplab.scenarios/1).",
    )] = False,
) -> int:
    """List the built-in scenarios (when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        if json_out:
            raise InputError(
                f"belongs after the subcommand ('pumplab scenarios "
                f"{ctx.invoked_subcommand} ... --json'), or to the listing alone",
                source="--json", allowed="pumplab scenarios --json, "
                "pumplab scenarios check FILE --json")  # fmt: skip
        return EXIT_OK
    from pumplab.sim.scenario import builtin_scenarios, load_scenario

    records = [scenario_record(load_scenario(b.name)) for b in builtin_scenarios()]
    if json_out:
        emit_json("scenarios", {"scenarios": records})
        return EXIT_OK
    title = "built-in scenarios (pumplab scenarios show NAME; docs/lab.md)"
    table = new_table("scenario", "arms", "patients", ("hours", "right"), ("tasks", "right"),
                      "description", title=title)  # fmt: skip
    for r in records:
        table.add_row(r["name"], _arms_text(r), _patients_text(r), f"{r['hours']:g}",
                      str(r["tasks"]), r["description"])  # fmt: skip
    print_table(table)
    return EXIT_OK


def scenario_record(scenario: Scenario) -> dict[str, Any]:
    """A validated scenario as one object of ``pumplab.scenarios/1`` (docs/cli.md)."""
    from pumplab.sim.scenario import arms_for, patient_refs, scenario_hash, seeds_of

    arms = arms_for(scenario)
    patients = patient_refs(scenario)
    seeds = seeds_of(scenario)
    return {
        "name": scenario.name,
        "description": scenario.description,
        "arms": [a.name for a in arms],
        "patients": scenario.model_dump(mode="json")["patients"],
        "patient_count": len(patients),
        "hours": scenario.hours,
        "start": scenario.start,
        "meals": scenario.meals,
        "seeds": list(seeds),
        "mode": scenario.pump.mode,
        "link": scenario.link,
        "matrix": scenario.matrix,
        "controller": scenario.controller.name,
        "attackers": [{"name": a.name, "kind": a.kind} for a in scenario.attackers],
        "tasks": len(arms) * len(patients) * len(seeds),
        "scenario_hash": scenario_hash(scenario),
    }


def _arms_text(record: dict[str, Any]) -> str:
    arms: list[str] = record["arms"]
    if record["matrix"] and record["attackers"]:
        modes = sorted({a.rsplit("@", 1)[1] for a in arms if "@" in a})
        return (f"{len(record['attackers'])} attackers alone × ({', '.join(modes)}) "
                "+ no_attacker")
    return ", ".join(arms)


def _patients_text(record: dict[str, Any]) -> str:
    selection = record["patients"]
    if selection == "all":
        return f"all ({record['patient_count']})"
    if isinstance(selection, dict):
        return f"population of {record['patient_count']}"
    return ", ".join(selection)


# --------------------------------------------------------------------------
# show


def show_command(
    name: Annotated[str, typer.Argument(
        metavar="NAME", help="A built-in scenario ('pumplab scenarios' lists them).",
        show_default=False,
    )],
) -> int:
    """Print built-in scenario NAME as TOML."""
    from pumplab.sim.scenario import builtin_scenario_toml

    try:
        text = builtin_scenario_toml(name)
    except ScenarioError as exc:
        if exc.field != "scenario":
            raise  # a problem inside a shipped file: a bug, reported as it is
        raise InputError(exc.reason, source="NAME", allowed=exc.allowed) from None
    sys.stdout.write(text)
    return EXIT_OK


# --------------------------------------------------------------------------
# check


def check_command(
    file: Annotated[Path, typer.Argument(
        metavar="FILE", exists=True, dir_okay=False, readable=True, show_default=False,
        help="The scenario file (TOML) to validate; meal and frames files it names are "
        "looked up beside it.",
    )],
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the verdict as one JSON object (schema "
        "pumplab.scenario-check/1): the problems, or what the file would run.",
    )] = False,
) -> int:
    """Validate a scenario file, listing every problem."""
    from pumplab.sim.scenario import ScenarioProblems

    try:
        scenario = _load_file(file)
    except ScenarioProblems as exc:
        if not json_out:
            raise  # main prints one line per problem (error_lines), exit 2
        emit_json("scenario-check", {
            "file": str(file), "ok": False,
            "problems": [{"path": p.path, "message": p.message, "allowed": p.allowed}
                         for p in exc.problems],
            "scenario": None, "not_simulated": [],
        })  # fmt: skip
        return EXIT_USAGE
    record = scenario_record(scenario)
    left = _not_simulated(scenario)
    if json_out:
        emit_json("scenario-check", {"file": str(file), "ok": True, "problems": [],
                                     "scenario": record, "not_simulated": left})  # fmt: skip
        return EXIT_OK
    n = record["patient_count"]
    print(f"ok: {file} is a valid scenario {record['name']!r}")
    print(f"  arms: {', '.join(record['arms'])}")
    print(f"  {n} patient{'s' if n != 1 else ''}, {record['hours']:g} h from "
          f"{record['start']}, meals {record['meals']}, "
          f"seed{'s' if len(record['seeds']) > 1 else ''} "
          f"{', '.join(str(s) for s in record['seeds'])}: {record['tasks']} tasks")
    print(f"  scenario hash {record['scenario_hash']}")
    if left:
        print(f"  not simulated by today's task body (the stand-in; docs/lab.md): "
              f"{'; '.join(left)}")
    return EXIT_OK


def _load_file(file: Path) -> Scenario:
    """The scenario in ``file``, always read as a file (never as a built-in's name)."""
    from pumplab.sim.scenario import parse_scenario

    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError("not UTF-8 text", source=str(file),
                            allowed="a scenario TOML file") from None  # fmt: skip
    return parse_scenario(text, source=str(file), base_dir=file.resolve().parent)


def _not_simulated(scenario: Scenario) -> list[str]:
    """What the default task body leaves out of ``scenario`` (empty for a whole-world body)."""
    from pumplab.sim.runner import default_body
    from pumplab.sim.standin import STAND_IN_BODY, not_simulated

    if default_body() != STAND_IN_BODY:
        return []
    return list(not_simulated(scenario, tuple(a.name for a in scenario.attackers)))

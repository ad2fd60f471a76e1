"""Controllers by name: every name builds, and every bad parameter names its key path."""

from __future__ import annotations

import pytest

from pumplab.control import Controller
from pumplab.control.basal_bolus import BasalBolusController, NoController, WithMealBoluses
from pumplab.control.external import ExternalController, oref0_shim_path
from pumplab.control.lgs import LgsController
from pumplab.control.oref0 import Oref0Controller
from pumplab.control.pid import PidController
from pumplab.control.registry import (
    CONTROLLER_NAMES,
    REQUIRED,
    ControllerSpec,
    build_controller,
    close_controller,
    parameters,
    spec_from_mapping,
)
from pumplab.errors import SettingsError

MINIMAL = {"none": {}, "basal_bolus": {}, "lgs": {}, "pid": {"tdd_u": 40},
           "oref0": {"max_iob_u": 3}, "external": {"command": ["prog", "--x"], "max_iob_u": 3}}


def test_the_names_are_those_of_issue_20() -> None:
    """none, oref0, pid, basal_bolus, lgs, external."""
    assert set(CONTROLLER_NAMES) == {"none", "oref0", "pid", "basal_bolus", "lgs", "external"}


@pytest.mark.parametrize("name", CONTROLLER_NAMES)
def test_every_name_builds_a_controller_with_that_name(name: str) -> None:
    """With only its required parameters, each name gives a Controller reporting that name."""
    c = build_controller(name, MINIMAL[name])
    assert isinstance(c, Controller) and c.name == name
    if isinstance(c, ExternalController):
        assert c.starts == 0  # building starts no process


def test_what_each_name_builds() -> None:
    """Meal-bolusing closed loops are hybrids by default; meal_bolus=false turns that off."""
    assert isinstance(build_controller("none"), NoController)
    assert isinstance(build_controller("basal_bolus"), BasalBolusController)
    assert isinstance(build_controller("lgs"), LgsController)
    pid = build_controller("pid", {"tdd_u": 40})
    assert isinstance(pid, WithMealBoluses) and isinstance(pid.inner, PidController)
    assert isinstance(build_controller("pid", {"tdd_u": 40, "meal_bolus": False}), PidController)
    oref0 = build_controller("oref0", {"max_iob_u": 3, "meal_bolus": False})
    assert isinstance(oref0, Oref0Controller) and oref0.settings.max_iob_u == 3.0


def test_parameters_reach_the_settings() -> None:
    """Values land in the right settings object, ints taken as floats where floats are due."""
    lgs = build_controller("lgs", {"low_limit_mg_dl": 80, "max_bolus_u": 8.5})
    assert isinstance(lgs, LgsController)
    assert lgs.settings.low_limit_mg_dl == 80.0 and lgs.meals.max_bolus_u == 8.5
    pid = build_controller("pid", {"tdd_u": 40, "gamma": 0, "night_start_min": 1380})
    assert isinstance(pid, WithMealBoluses) and isinstance(pid.inner, PidController)
    assert pid.inner.settings.gamma == 0.0 and pid.inner.settings.night_start_min == 1380


def test_external_runs_the_shim_on_an_oref0_directory() -> None:
    """oref0_dir instead of a command: node runs the shipped shim on that oref0."""
    ext = build_controller("external", {"oref0_dir": "/opt/oref0", "max_iob_u": 2,
                                        "meal_bolus": False, "timeout_s": 2})
    assert isinstance(ext, ExternalController)
    assert ext.settings.command == ("node", str(oref0_shim_path()), "--oref0", "/opt/oref0")
    assert ext.settings.timeout_s == 2.0 and ext.settings.case.max_iob_u == 2.0


def test_a_command_string_is_split_on_spaces() -> None:
    """command = "python my_loop.py" is the list ["python", "my_loop.py"]."""
    ext = build_controller("external", {"command": "python my_loop.py", "max_iob_u": 2,
                                        "meal_bolus": False})
    assert isinstance(ext, ExternalController)
    assert ext.settings.command == ("python", "my_loop.py")


def test_defaults_fill_per_person_values() -> None:
    """The trial's per-patient defaults fill what the caller left out; given values win;
    defaults no controller takes are ignored."""
    pid = build_controller("pid", {"meal_bolus": False}, defaults={"tdd_u": 55, "weight": 1})
    assert isinstance(pid, PidController) and pid.settings.tdd_u == 55.0
    pid = build_controller("pid", {"tdd_u": 30, "meal_bolus": False}, defaults={"tdd_u": 55})
    assert isinstance(pid, PidController) and pid.settings.tdd_u == 30.0


def test_required_parameters_are_marked() -> None:
    """parameters() lists each with its default; the per-person ones are REQUIRED."""
    required = {n: [p.name for p in parameters(n) if p.default is REQUIRED]
                for n in CONTROLLER_NAMES}
    assert required == {"none": [], "basal_bolus": [], "lgs": [], "pid": ["tdd_u"],
                        "oref0": ["max_iob_u"], "external": ["max_iob_u"]}


@pytest.mark.parametrize(("name", "params", "field", "allowed"), [
    ("magic", {}, "controller", "none, oref0"),
    ("pid", {}, "controller.params.tdd_u", "a number"),
    ("pid", {"tdd_u": "40"}, "controller.params.tdd_u", "a number"),
    ("pid", {"tdd_u": True}, "controller.params.tdd_u", "a number"),
    ("pid", {"tdd_u": float("nan")}, "controller.params.tdd_u", "a finite number"),
    ("pid", {"tdd_u": 0}, "controller.params.tdd_u", "1–500"),
    ("pid", {"tdd_u": 40, "kp": 1}, "controller.params.kp", "tdd_u"),
    ("pid", {"tdd_u": 40, "night_start_min": 1.5}, "controller.params.night_start_min",
     "a whole number"),
    ("lgs", {"low_limit_mg_dl": 30}, "controller.params.low_limit_mg_dl", "50–90"),
    ("lgs", {"meal_bolus": False}, "controller.params.meal_bolus", None),
    ("oref0", {"max_iob_u": 3, "meal_bolus": "yes"}, "controller.params.meal_bolus",
     "true or false"),
    ("basal_bolus", {"max_bolus_u": 40}, "controller.params.max_bolus_u", "0–25 U"),
    ("none", {"tdd_u": 3}, "controller.params.tdd_u", "no parameters"),
    ("external", {"max_iob_u": 3}, "controller.params.command", "oref0_dir"),
    ("external", {"command": [1, 2], "max_iob_u": 3}, "controller.params.command",
     "a list of strings"),
    ("external", {"command": ["x"], "max_iob_u": 3, "timeout_s": 0},
     "controller.params.timeout_s", None),
])
def test_bad_input_names_the_key_path(name: str, params: dict[str, object], field: str,
                                      allowed: str | None) -> None:
    """One SettingsError whose field is the key path and whose text says what is allowed."""
    with pytest.raises(SettingsError) as info:
        build_controller(name, params)
    assert info.value.field == field
    if allowed is not None:
        assert allowed in (info.value.allowed or "")


def test_a_scenario_table_flat_or_nested() -> None:
    """{"name": "pid", "tdd_u": 40} and {"name": "pid", "params": {"tdd_u": 40}} are the
    same spec, which builds a fresh controller each time."""
    flat = spec_from_mapping({"name": "pid", "tdd_u": 40})
    nested = spec_from_mapping({"name": "pid", "params": {"tdd_u": 40}})
    assert flat == nested == ControllerSpec("pid", (("tdd_u", 40),))
    assert flat.build() is not flat.build()


def test_a_scenario_may_leave_per_person_values_to_the_trial() -> None:
    """A spec without tdd_u is accepted (names and types checked); building it needs the
    trial's defaults."""
    spec = spec_from_mapping({"name": "pid", "gamma": 0.4})
    with pytest.raises(SettingsError, match="tdd_u"):
        spec.build()
    assert spec.build(defaults={"tdd_u": 40}).name == "pid"


@pytest.mark.parametrize(("table", "field"), [
    ({"tdd_u": 40}, "controller.name"),
    ({"name": "pidd"}, "controller.name"),
    ({"name": "pid", "params": 3}, "controller.params"),
    ({"name": "pid", "params": {"tdd_u": 40}, "gamma": 1}, "controller.gamma"),
    ({"name": "pid", "tdd": 40}, "controller.params.tdd"),
    ({"name": "pid", "gamma": "x"}, "controller.params.gamma"),
    ({"name": "pid", "tdd_u": -4}, "controller.params.tdd_u"),
])
def test_bad_scenario_tables_name_the_key_path(table: dict[str, object], field: str) -> None:
    """A bad controller table is refused when the scenario is read, naming the field."""
    with pytest.raises(SettingsError) as info:
        spec_from_mapping(table)
    assert info.value.field == field


def test_close_controller_stops_an_external_process_and_ignores_the_others() -> None:
    """close_controller reaches the external process inside the meal-bolus wrapper."""
    import sys
    from pathlib import Path

    from control_helpers import controller_input, linear_trace

    child = str(Path(__file__).parent / "external_child.py")
    c = build_controller("external", {"command": [sys.executable, child, "echo"],
                                      "max_iob_u": 3, "timeout_s": 60, "startup_timeout_s": 60})
    assert isinstance(c, WithMealBoluses) and isinstance(c.inner, ExternalController)
    c.decide(controller_input(linear_trace(120, 1.0, 12)))
    process = c.inner._process
    assert process is not None and process.alive
    close_controller(c)
    assert not process.alive
    for name in ("none", "pid", "lgs"):
        close_controller(build_controller(name, MINIMAL[name]))

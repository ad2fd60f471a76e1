"""Controllers by name, with parameters: what scenario files and ``--controller NAME`` use.

==============  ===========================================================
name            controller
==============  ===========================================================
``none``        nothing asked, ever (the pump runs its schedule)
``basal_bolus`` open loop: the schedule, wizard boluses on announced meals
``lgs``         basal-bolus plus the 640G's predictive low-glucose suspend
``pid``         PID with insulin feedback (Steil et al.); hybrid by default
``oref0``       pumplab's oref0 determine-basal; wizard meal boluses by default
``external``    a command speaking ``pumplab.external/1`` (e.g. real oref0)
==============  ===========================================================

:func:`build_controller` takes the name and a flat mapping of parameters (a
TOML table, JSON object or ``key=value`` pairs): the fields of the
controller's settings (:func:`parameters` lists them with their defaults),
plus, for controllers that bolus for meals, the
:class:`~pumplab.control.basal_bolus.MealBolusSettings` fields and
``meal_bolus`` (true/false).  ``external`` takes ``command`` (a list of
strings, or one string split on spaces) or ``oref0_dir`` (the installed oref0
package: the shipped node shim is run on it, with ``node``), and the
:class:`~pumplab.control.oref0.Oref0Settings` fields its CASE is built with.

``defaults`` supplies per-person values for parameters the caller did not
give (the trial runner passes each virtual patient's ``tdd_u`` and
``max_iob_u``); it is not user input, so keys no controller takes are ignored.

Bad input — an unknown name, an unknown or missing parameter, a value of the
wrong type or out of range — is one :class:`~pumplab.errors.SettingsError`
whose ``field`` is the key path (``controller.params.tdd_u``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pumplab.control.basal_bolus import (
    BasalBolusController,
    MealBolusSettings,
    NoController,
    WithMealBoluses,
)
from pumplab.control.interface import Controller
from pumplab.control.lgs import LgsController, LgsSettings
from pumplab.control.oref0 import Oref0Controller, Oref0Settings
from pumplab.control.pid import PidController, PidSettings
from pumplab.errors import SettingsError

__all__ = [
    "CONTROLLER_NAMES",
    "REQUIRED",
    "ControllerSpec",
    "Parameter",
    "build_controller",
    "close_controller",
    "parameters",
    "spec_from_mapping",
]

CONTROLLER_NAMES = ("none", "oref0", "pid", "basal_bolus", "lgs", "external")

_MEAL_SWITCH = "meal_bolus"
#: ExternalSettings fields a scenario may set (the CASE settings come flat, as oref0's).
_EXTERNAL_KEYS: dict[str, tuple[type, object]] = {
    "command": (tuple, None), "oref0_dir": (str, None), "node": (str, "node"),
    "timeout_s": (float, 5.0), "startup_timeout_s": (float, 30.0),
    "glucose_window_min": (float, 360.0), "max_restarts": (int, 10), "cwd": (str, None),
}


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter a controller takes: its ``name``, ``kind`` (``float``, ``int``,
    ``bool``, ``str``, ``list``), ``default`` (:data:`REQUIRED` if none) and the settings
    it goes to."""

    name: str
    kind: str
    default: object
    group: str


#: The default of a parameter that must be given (or come from ``defaults``).
REQUIRED = object()
_KIND_TEXT = {"float": "a number", "int": "a whole number", "bool": "true or false",
              "str": "a string", "list": "a list of strings"}


def _kind(tp: Any) -> tuple[str, bool]:
    """(kind, optional) of a settings field's annotation."""
    optional = False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        tp = args[0]
        origin = typing.get_origin(tp)
    if origin is tuple:
        return "list", optional
    if tp is bool:
        return "bool", optional
    if tp is int:
        return "int", optional
    if tp is float:
        return "float", optional
    if tp is str:
        return "str", optional
    return "other", optional


def _fields(cls: type, group: str) -> list[Parameter]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind, _ = _kind(hints[f.name])
        if kind == "other":
            continue  # not settable from a flat table
        default: object = REQUIRED
        if f.default is not dataclasses.MISSING:
            default = f.default
        out.append(Parameter(f.name, kind, default, group))
    return out


def parameters(name: str) -> tuple[Parameter, ...]:
    """The parameters controller ``name`` takes (for docs, help and checking)."""
    meal = [Parameter(_MEAL_SWITCH, "bool", True, "meal_bolus"),
            *_fields(MealBolusSettings, "meal_bolus")]
    if name == "none":
        return ()
    if name == "basal_bolus":
        return tuple(_fields(MealBolusSettings, "meal_bolus"))
    if name == "lgs":
        return (*_fields(LgsSettings, "lgs"), *_fields(MealBolusSettings, "meal_bolus"))
    if name == "pid":
        return (*_fields(PidSettings, "pid"), *meal)
    if name == "oref0":
        return (*_fields(Oref0Settings, "oref0"), *meal)
    if name == "external":
        ext = [Parameter(k, "list" if tp is tuple else tp.__name__, d, "external")
               for k, (tp, d) in _EXTERNAL_KEYS.items()]
        return (*ext, *_fields(Oref0Settings, "case"), *meal)
    raise SettingsError(f"{name!r} is not a controller", field="controller",
                        allowed=", ".join(CONTROLLER_NAMES))


def _convert(value: object, kind: str, optional: bool, field: str) -> object:
    if value is None and optional:
        return None
    ok = True
    if kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        allowed = "a number"
        if ok:
            assert isinstance(value, int | float)
            value = float(value)
            ok = math.isfinite(value)
            allowed = "a finite number"
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        allowed = "a whole number"
    elif kind == "bool":
        ok = isinstance(value, bool)
        allowed = "true or false"
    elif kind == "str":
        ok = isinstance(value, str)
        allowed = "a string"
    else:  # list
        if isinstance(value, str):
            value = tuple(value.split())
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        allowed = "a list of strings"
        if ok:
            assert isinstance(value, list | tuple)
            value = tuple(value)
    if not ok:
        raise SettingsError(f"{value!r} is not allowed", field=field, allowed=allowed)
    return value


def _settings(cls: type, values: Mapping[str, object], where: str) -> Any:
    """``cls(**values)`` with a settings error naming the key path."""
    try:
        return cls(**values)
    except SettingsError as exc:
        raise SettingsError(exc.reason, field=f"{where}.{exc.field}", allowed=exc.allowed) \
            from None


def build_controller(name: str, params: Mapping[str, object] | None = None, *,
                     defaults: Mapping[str, object] | None = None,
                     where: str = "controller") -> Controller:
    """A new controller ``name`` with ``params`` (see the module docstring)."""
    if name not in CONTROLLER_NAMES:
        raise SettingsError(f"{name!r} is not a controller", field=where,
                            allowed=", ".join(CONTROLLER_NAMES))
    given = dict(params or {})
    known = {p.name: p for p in parameters(name)}
    ppath = f"{where}.params"
    for key in given:
        if key not in known:
            raise SettingsError(f"{name} takes no parameter {key!r}", field=f"{ppath}.{key}",
                                allowed=", ".join(known) or "no parameters")
    groups: dict[str, dict[str, object]] = {}
    for p in known.values():
        if p.name in given:
            raw = given[p.name]
        elif defaults is not None and p.name in defaults:
            raw = defaults[p.name]
        elif p.default is REQUIRED:
            raise SettingsError(f"{name} needs {p.name!r}", field=f"{ppath}.{p.name}",
                                allowed=_KIND_TEXT[p.kind])
        else:
            continue
        optional = p.default is None
        groups.setdefault(p.group, {})[p.name] = _convert(raw, p.kind, optional,
                                                          f"{ppath}.{p.name}")
    meal_values = dict(groups.get("meal_bolus", {}))
    with_meals = bool(meal_values.pop(_MEAL_SWITCH, True))
    meals = _settings(MealBolusSettings, meal_values, ppath)
    controller: Controller
    if name == "none":
        return NoController()
    if name == "basal_bolus":
        return BasalBolusController(meals)
    if name == "lgs":
        return LgsController(_settings(LgsSettings, groups.get("lgs", {}), ppath), meals)
    if name == "pid":
        controller = PidController(_settings(PidSettings, groups.get("pid", {}), ppath))
    elif name == "oref0":
        controller = Oref0Controller(_settings(Oref0Settings, groups.get("oref0", {}), ppath))
    else:
        controller = _external(groups, ppath)
    return WithMealBoluses(controller, meals) if with_meals else controller


def _external(groups: dict[str, dict[str, object]], ppath: str) -> Controller:
    from pumplab.control.external import (
        ExternalController,
        ExternalSettings,
        oref0_shim_command,
    )

    ext = dict(groups.get("external", {}))
    command = ext.pop("command", None)
    oref0_dir = ext.pop("oref0_dir", None)
    node = ext.pop("node", "node")
    if (command is None) == (oref0_dir is None):
        raise SettingsError("external needs exactly one of 'command' and 'oref0_dir'",
                            field=f"{ppath}.command",
                            allowed="a command (list of strings) or oref0_dir (a directory)")
    if command is None:
        assert isinstance(oref0_dir, str) and isinstance(node, str)
        command = oref0_shim_command(oref0_dir, node=node)
    case = _settings(Oref0Settings, groups.get("case", {}), ppath)
    settings = _settings(ExternalSettings, {"command": command, "case": case, **ext}, ppath)
    return ExternalController(settings)


def close_controller(controller: Controller) -> None:
    """Release what a controller holds (an external process); a no-op for the others.
    Call it at the end of a run for every controller built."""
    close = getattr(controller, "close", None)
    if callable(close):
        close()


@dataclass(frozen=True, slots=True)
class ControllerSpec:
    """A controller named in a scenario: ``name`` and its parameters (key, value) pairs."""

    name: str
    params: tuple[tuple[str, object], ...] = ()

    def build(self, *, defaults: Mapping[str, object] | None = None,
              where: str = "controller") -> Controller:
        """A new controller (one per pump: controllers may keep state)."""
        return build_controller(self.name, dict(self.params), defaults=defaults, where=where)


def spec_from_mapping(table: Mapping[str, object], *, where: str = "controller") -> ControllerSpec:
    """A scenario's controller table — ``{"name": "pid", "params": {"tdd_u": 40}}`` or the
    same flat, ``{"name": "pid", "tdd_u": 40}`` — checked (the controller is built once to
    check it, then thrown away; an ``external`` one starts no process until it decides)."""
    if not isinstance(table, Mapping):
        raise SettingsError(f"{type(table).__name__} is not a table", field=where,
                            allowed='a table with "name" and parameters')
    name = table.get("name")
    if not isinstance(name, str):
        raise SettingsError(f"{name!r} is not a controller name", field=f"{where}.name",
                            allowed=", ".join(CONTROLLER_NAMES))
    nested = table.get("params")
    flat = {k: v for k, v in table.items() if k not in ("name", "params")}
    if nested is not None:
        if not isinstance(nested, Mapping):
            raise SettingsError(f"{type(nested).__name__} is not a table",
                                field=f"{where}.params", allowed="a table of parameters")
        if flat:
            raise SettingsError("parameters both in 'params' and beside 'name'",
                                field=f"{where}.{next(iter(flat))}",
                                allowed="all parameters in one place")
        flat = dict(nested)
    if name not in CONTROLLER_NAMES:
        raise SettingsError(f"{name!r} is not a controller", field=f"{where}.name",
                            allowed=", ".join(CONTROLLER_NAMES))
    if _complete(name, flat):
        build_controller(name, flat, where=where)
    else:
        _check_keys(name, flat, where)
    return ControllerSpec(name, tuple(sorted(flat.items())))


def _complete(name: str, params: Mapping[str, object]) -> bool:
    return all(p.default is not REQUIRED or p.name in params for p in parameters(name))


def _check_keys(name: str, params: Mapping[str, object], where: str) -> None:
    """Check names and types only (required per-person values may come later as defaults)."""
    known = {p.name: p for p in parameters(name)}
    for key, value in params.items():
        if key not in known:
            raise SettingsError(f"{name} takes no parameter {key!r}",
                                field=f"{where}.params.{key}",
                                allowed=", ".join(known) or "no parameters")
        p = known[key]
        _convert(value, p.kind, p.default is None, f"{where}.params.{key}")

"""Scenario files: what a lab run is, validated before anything runs.

A scenario is a TOML file (read with :mod:`tomllib`) validated with pydantic
into a frozen :class:`Scenario`.  It says who the patients are, how long and
from when the run lasts, which meals they eat, the run's seed, how the pump is
set up (mode, settings, limits, serial), the link, the controller, the
peripherals and their positions, the attackers (kind, position, power,
schedule, starting knowledge, parameters) and where to capture the air.
docs/lab.md documents every key.

Validation lists **every** problem at once, each with its key path and what
would have been accepted, in one :class:`ScenarioProblems` (a
:class:`~pumplab.errors.ScenarioError`); unknown keys are problems too, so a
typo never passes silently.  Controller names and attack kinds are checked
against :mod:`pumplab.sim.registry`, which the modules implementing them fill.

Also here: the built-in scenarios shipped with the package
(:func:`builtin_scenarios`, :func:`builtin_scenario_toml`), the arms rule
(:func:`arms_for`), command-line overrides (:func:`apply_overrides`) and the
scenario hash (:func:`scenario_hash`).

Deliberately not here: building a world from a scenario or running it
(:mod:`pumplab.sim.runner`).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pumplab.errors import ScenarioError
from pumplab.sim.registry import attack_kinds, controller_kinds

__all__ = [
    "DEFAULT_SCENARIO",
    "DEFAULT_START",
    "MAX_HOURS",
    "NO_ATTACKER",
    "ArmSpec",
    "AttackerSpec",
    "BuiltinScenario",
    "ControllerSpec",
    "PatientRef",
    "Population",
    "Problem",
    "PumpSpec",
    "Scenario",
    "ScenarioProblems",
    "apply_overrides",
    "arms_for",
    "builtin_scenario_toml",
    "builtin_scenarios",
    "load_scenario",
    "parse_scenario",
    "patient_refs",
    "scenario_canonical",
    "scenario_hash",
    "scenario_toml",
    "seeds_of",
    "start_clock_ms",
    "validate_scenario",
]

#: The scenario ``pumplab run`` plays with no argument.
DEFAULT_SCENARIO: Final = "seed-508"
#: Start of a run when the scenario names none: Monday 2026-01-05 00:00 UTC
#: (the open-loop day's fixed start, so histories and exports reproduce).
DEFAULT_START: Final = "2026-01-05T00:00:00+00:00"
#: Longest run a scenario may ask for (the open-loop day's limit, 14 days).
MAX_HOURS: Final = 14 * 24
#: Largest generated population (a cohort beyond this belongs to a trial).
MAX_POPULATION: Final = 100_000
#: The pump's user clock range (devices.pump: 2000-01-01 to 2100-01-01).
_EARLIEST = datetime(2000, 1, 1)
_LATEST = datetime(2100, 1, 1)

_STANDARD_NAMES_TEXT = "adolescent#001-010, adult#001-010, child#001-010"
_AGE_GROUPS = ("adolescent", "adult", "child")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


# ==========================================================================
# Problems
# ==========================================================================

@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a scenario: where, what, and what would do."""

    path: str
    message: str
    allowed: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return text if self.allowed is None else f"{text} (allowed: {self.allowed})"


class ScenarioProblems(ScenarioError):
    """A scenario with one or more problems; ``problems`` lists them all.

    The message has one line per problem, so a command line can print it as is.
    """

    def __init__(self, problems: Sequence[Problem], *, source: str | None = None) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the scenario"
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{head}:\n{lines}", source=source)


def _fail(message: str, allowed: str | None = None) -> PydanticCustomError:
    return PydanticCustomError("pumplab", "{message}", {"message": message, "allowed": allowed})


# ==========================================================================
# Field types
# ==========================================================================

def _position(value: Any) -> Any:
    # TOML has arrays, not tuples; strict mode would refuse a list for a tuple.
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise _fail(f"{len(value)} coordinates", "[x, y] in metres")
        return tuple(value)
    return value


#: A position in metres, ``[x, y]`` (the radio medium's plane).
Position = Annotated[
    tuple[Annotated[float, Field(ge=-100_000.0, le=100_000.0)],
          Annotated[float, Field(ge=-100_000.0, le=100_000.0)]],
    BeforeValidator(_position),
]

Serial = Annotated[str, Field(pattern=r"^[0-9]{6}$")]


def _check_identifier(value: str) -> str:
    if not _NAME_RE.match(value):
        raise _fail(f"{value!r} is not a plain name",
                    "lower-case letters, digits, '-' and '_', starting with a letter or digit")
    return value


Identifier = Annotated[str, AfterValidator(_check_identifier)]


class _Model(BaseModel):
    # strict: no silent coercion ("1" is not 1, 1 is not true); frozen: a
    # validated scenario is a value; forbid: a typo is an error.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


# ----------------------------------------------------------------- patients

@lru_cache(maxsize=1)
def _standard_names() -> tuple[str, ...]:
    from pumplab.physiology import load_cohort

    return tuple(load_cohort().names)


def _check_patient_name(value: str) -> str:
    if value not in _standard_names():
        raise _fail(f"unknown patient {value!r}", _STANDARD_NAMES_TEXT)
    return value


def _check_all(value: str) -> str:
    if value != "all":
        raise _fail(f"{value!r} is not a patient selection",
                    'a list of names, "all", or a table {population = N}')
    return value


def _unique_names(value: list[str]) -> list[str]:
    if not value:
        raise _fail("no patient named", "at least one name")
    seen: set[str] = set()
    for name in value:
        if name in seen:
            raise _fail(f"{name!r} is named twice", "each patient once")
        seen.add(name)
    return value


AgeGroup = Literal["adolescent", "adult", "child"]


def _list_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class Population(_Model):
    """A generated population (pumplab.physiology.PopulationSampler).

    ``seed`` seeds the population itself, separately from the run's seed, so
    that replicates and seed sweeps keep the same patients.
    """

    population: int = Field(ge=1, le=MAX_POPULATION)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    groups: Annotated[tuple[AgeGroup, ...], BeforeValidator(_list_tuple)] = Field(
        default=("adolescent", "adult", "child"), min_length=1)


def _patients_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "<all>"
    if isinstance(value, list | tuple):
        return "<names>"
    if isinstance(value, dict | Population):
        return "<population>"
    return None


PatientSelection = Annotated[
    Annotated[str, AfterValidator(_check_all), Tag("<all>")]
    | Annotated[list[Annotated[str, AfterValidator(_check_patient_name)]],
                AfterValidator(_unique_names), Tag("<names>")]
    | Annotated[Population, Tag("<population>")],
    Discriminator(
        _patients_tag,
        custom_error_type="pumplab",
        custom_error_message="not a patient selection",
        custom_error_context={"message": "not a patient selection",
                              "allowed": 'a list of names, "all", or a table {population = N}'},
    ),
]


# ----------------------------------------------------------------- start time

def _normalise_start(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0, 0))
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _fail(f"{value!r} is not an ISO 8601 date and time",
                        "e.g. 2026-01-05T07:30:00+01:00; no offset means UTC") from None
    else:
        raise _fail(f"{value!r} is not a date and time",
                    "an ISO 8601 string or a TOML date-time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.replace(tzinfo=None)
    if not _EARLIEST <= local < _LATEST:
        raise _fail(f"{moment.isoformat()} is outside the pump's clock",
                    "2000-01-01 to 2099-12-31")
    return moment.isoformat()


StartTime = Annotated[str, BeforeValidator(_normalise_start)]


# ----------------------------------------------------------------- pump

class PumpSettingsSpec(_Model):
    """Settings that override what is derived from the subject (unset: derived)."""

    active_insulin_time_h: int | None = Field(default=None, ge=2, le=8)
    wizard_enabled: bool | None = None
    easy_bolus_enabled: bool | None = None
    # x23 easy bolus step 0.1–2.0 U (docs/pump.md).
    easy_bolus_step_u: float | None = Field(default=None, ge=0.1, le=2.0)
    remote_enabled: bool | None = None
    auto_off_h: int | None = Field(default=None, ge=0, le=24)


class PumpLimits(_Model):
    """Delivery and withholding limits (unset: derived from the subject).

    Ranges are the pump's (docs/pump.md); the x23 limits apply in both modes,
    the others only to the secure pump's gate.
    """

    max_bolus_u: float | None = Field(default=None, ge=0.0, le=25.0)
    max_basal_u_per_h: float | None = Field(default=None, ge=0.0, le=35.0)
    max_hourly_u: float | None = Field(default=None, ge=0.5, le=60.0)
    max_daily_u: float | None = Field(default=None, ge=1.0, le=300.0)
    max_iob_u: float | None = Field(default=None, ge=0.0, le=60.0)
    max_radio_withhold_min: int | None = Field(default=None, ge=30, le=720, multiple_of=30)
    max_radio_withhold_per_day_min: int | None = Field(default=None, ge=30, le=1440,
                                                       multiple_of=30)


class PumpSpec(_Model):
    """The pump: which arms run (``mode``), its serial, position, settings and limits.

    ``mode`` is ``legacy``, ``secure`` or ``both`` and chooses the arms
    (:func:`arms_for`).  ``serial`` is the first pump's serial; patient *i* of
    a cohort gets ``serial + i``.  Unset, each pump's serial is derived.
    """

    mode: Literal["legacy", "secure", "both"] = "both"
    serial: Serial | None = None
    position_m: Position = (0.0, 0.0)
    settings: PumpSettingsSpec = PumpSettingsSpec()
    limits: PumpLimits = PumpLimits()


# ----------------------------------------------------------------- controller, peripherals

def _check_controller_name(value: str) -> str:
    kinds = controller_kinds()
    if value not in kinds:
        raise _fail(f"unknown controller {value!r}", ", ".join(sorted(kinds)))
    return value


class ControllerSpec(_Model):
    """The controller by its registered name; ``params`` checked by its registry model."""

    name: Annotated[str, AfterValidator(_check_controller_name)] = "none"
    params: dict[str, Any] = Field(default_factory=dict)


class PeripheralSpec(_Model):
    """A companion device: on or off, and where it is (metres, pump at ``pump.position_m``)."""

    enabled: bool = True
    position_m: Position = (0.3, 0.0)


class ControllerAppSpec(PeripheralSpec):
    """The controller app (a phone with a RileyLink-class bridge on legacy pumps).

    It reads the pump's status every ``read_every_min`` minutes even with no
    controller (a DIY loop's or an uploader's reads), which is the traffic
    that reveals a legacy pump's serial.
    """

    enabled: bool = False
    position_m: Position = (1.0, 0.0)
    read_every_min: int = Field(default=5, ge=1, le=60)


class Peripherals(_Model):
    """The CGM transmitter, the meter, the remote and the controller app."""

    cgm: PeripheralSpec = PeripheralSpec(position_m=(0.25, 0.1))
    meter: PeripheralSpec = PeripheralSpec(position_m=(0.5, 0.3))
    remote: PeripheralSpec = PeripheralSpec(position_m=(0.6, 0.0))
    controller_app: ControllerAppSpec = ControllerAppSpec()


# ----------------------------------------------------------------- attackers

def _check_attack_kind(value: str) -> str:
    kinds = attack_kinds()
    if value not in kinds:
        raise _fail(f"unknown attack kind {value!r}", ", ".join(sorted(kinds)))
    return value


class ScheduleSpec(_Model):
    """When an attacker acts, in minutes from the start of the run.

    Either ``at_min`` (a list of minutes) or ``start_min`` with ``every_min``
    and ``count``.  Firings after the end of the run do not happen (a shorter
    ``--hours`` keeps the scenario valid).  Listening attackers listen from
    minute 0 whatever their schedule.
    """

    at_min: list[Annotated[int, Field(ge=0, le=MAX_HOURS * 60)]] | None = None
    start_min: int | None = Field(default=None, ge=0, le=MAX_HOURS * 60)
    every_min: int | None = Field(default=None, ge=1, le=MAX_HOURS * 60)
    count: int | None = Field(default=None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _one_form(self) -> ScheduleSpec:
        repeating = (self.start_min, self.every_min, self.count)
        if self.at_min is not None and any(v is not None for v in repeating):
            raise _fail("give either at_min or start_min/every_min/count, not both",
                        "at_min = [...] or start_min, every_min, count")
        if self.count is not None and self.count > 1 and self.every_min is None:
            raise _fail("count > 1 needs every_min", "every_min = minutes between firings")
        return self

    def minutes(self, run_minutes: int) -> tuple[int, ...]:
        """The firing minutes inside a run of ``run_minutes``, ascending."""
        if self.at_min is not None:
            times = sorted(set(self.at_min))
        else:
            start = self.start_min or 0
            count = self.count or 1
            step = self.every_min or 0
            times = [start + k * step for k in range(count)]
        return tuple(t for t in times if t < run_minutes)


class KnowledgeSpec(_Model):
    """What an attacker knows at the start, and whether it may learn the rest from the air."""

    pump_serial: Serial | None = None
    remote_id: Serial | None = None
    meter_id: Serial | None = None
    learn_from_air: bool = True


class AttackerSpec(_Model):
    """One attacker: kind (registered), position, EIRP, schedule, knowledge, params."""

    name: Identifier
    kind: Annotated[str, AfterValidator(_check_attack_kind)]
    position_m: Position = (5.0, 0.0)
    power_dbm: float = Field(default=10.0, ge=-30.0, le=60.0)
    target: Literal["pump", "cgm", "meter", "remote", "controller_app"] = "pump"
    schedule: ScheduleSpec = ScheduleSpec()
    knowledge: KnowledgeSpec = KnowledgeSpec()
    params: dict[str, Any] = Field(default_factory=dict)


# ----------------------------------------------------------------- scenario

class Scenario(_Model):
    """A validated scenario.  Build with :func:`validate_scenario` or the loaders.

    ``meals`` is a built-in meal scenario's name or (after validation) the
    absolute path of a meal TOML file; so are attackers' ``inject`` frames
    files.  ``capture`` is the air's capture file (an output).
    """

    name: Identifier = "custom"
    description: str = ""
    patients: PatientSelection = Field(default_factory=lambda: ["adult#001"])
    hours: float = Field(default=24.0, gt=0.0, le=float(MAX_HOURS))
    start: StartTime = DEFAULT_START
    meals: str = "standard-day"
    seed: int = Field(default=1, ge=0, le=2**63 - 1)
    replicates: int = Field(default=1, ge=1, le=10_000)
    matrix: bool = False
    pump: PumpSpec = PumpSpec()
    link: Literal["memory", "radio"] = "memory"
    controller: ControllerSpec = ControllerSpec()
    peripherals: Peripherals = Peripherals()
    attackers: list[AttackerSpec] = Field(default_factory=list)
    capture: str | None = Field(default=None, min_length=1)

    @field_validator("hours")
    @classmethod
    def _whole_minutes(cls, value: float) -> float:
        minutes = value * 60.0
        # 4.1 h is 246 minutes although 4.1 * 60 is 245.99999999999997 in binary.
        if abs(minutes - round(minutes)) > 1e-6:
            raise _fail(f"{value} h is not a whole number of minutes",
                        f"hours that make whole minutes, up to {MAX_HOURS} (14 days)")
        return value

    @field_validator("meals")
    @classmethod
    def _meal_plan(cls, value: str, info: ValidationInfo) -> str:
        from pumplab.physiology.meals import BUILTIN_MEAL_PLANS, load_meal_plan

        if value in BUILTIN_MEAL_PLANS:
            return value
        path = _resolve(value, info)
        if not path.is_file():
            raise _fail(f"{value!r} is neither a built-in meal scenario nor a file",
                        "a meal TOML file or one of " + ", ".join(BUILTIN_MEAL_PLANS))
        try:
            load_meal_plan(path)
        except ScenarioError as exc:
            raise _fail(f"the meal file does not validate: {exc}") from None
        return str(path)

    @property
    def minutes(self) -> int:
        """The run's length in whole minutes."""
        return round(self.hours * 60.0)


def _resolve(value: str, info: ValidationInfo) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute():
        base = (info.context or {}).get("base_dir")
        path = (Path(base) if base is not None else Path.cwd()) / path
    return path.resolve()


# ==========================================================================
# Validation
# ==========================================================================

_TYPE_NAMES: Final = {
    "int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
    "string_type": "a string", "list_type": "a list", "tuple_type": "a list",
    "model_type": "a table", "dict_type": "a table", "model_attributes_type": "a table",
    "finite_number": "a finite number", "int_from_float": "an integer",
}


def _path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("<") and part.endswith(">"):
            continue  # a tag of the patients union, not a key
        elif part.startswith("function-"):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class whose keys live at ``loc`` (for "allowed keys")."""
    import types
    import typing

    model: type[BaseModel] | None = Scenario
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int) or part.startswith("<"):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = None
        stack: list[Any] = [field.annotation]
        while stack:
            ann = stack.pop()
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                model = ann
                break
            origin = typing.get_origin(ann)
            if origin is typing.Annotated:
                stack.append(typing.get_args(ann)[0])
            elif origin in (list, typing.Union, types.UnionType):
                stack.extend(typing.get_args(ann))
    return model


def _problem_from_pydantic(error: Mapping[str, Any]) -> Problem:
    loc = tuple(error.get("loc", ()))
    path = _path(loc)
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    given = error.get("input")
    if kind == "pumplab":
        return Problem(path, str(ctx.get("message", error.get("msg"))), ctx.get("allowed"))
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = ", ".join(sorted(model.model_fields)) if model is not None else None
        return Problem(path, "unknown key", allowed)
    if kind == "missing":
        return Problem(path, "required key is missing")
    if kind == "literal_error":
        return Problem(path, f"{given!r} is not allowed", str(ctx.get("expected", "")))
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bounds = {"greater_than": "> {gt}", "greater_than_equal": "≥ {ge}",
                  "less_than": "< {lt}", "less_than_equal": "≤ {le}"}[kind].format(**ctx)
        return Problem(path, f"{given!r} is out of range", bounds)
    if kind == "multiple_of":
        return Problem(path, f"{given!r} is not a multiple of {ctx.get('multiple_of')}",
                       f"multiples of {ctx.get('multiple_of')}")
    if kind in ("too_short", "too_long"):
        lo, hi = ctx.get("min_length"), ctx.get("max_length")
        want = f"exactly {lo}" if lo == hi and lo is not None else (
            f"at least {lo}" if kind == "too_short" else f"at most {hi}")
        return Problem(path, f"wrong length ({ctx.get('actual_length')})", f"{want} items")
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        allowed = "6 decimal digits" if pattern == r"^[0-9]{6}$" else f"text matching {pattern}"
        return Problem(path, f"{given!r} is not allowed", allowed)
    if kind == "string_too_short":
        return Problem(path, "empty text", "non-empty text")
    if kind in _TYPE_NAMES:
        return Problem(path, f"{given!r} is not {_TYPE_NAMES[kind]}", _TYPE_NAMES[kind])
    return Problem(path, str(error.get("msg", kind)))


def _params_problems(raw: Mapping[str, Any]) -> tuple[list[Problem], dict[tuple[str, int], Any]]:
    """Check controller and attacker ``params`` against their registered models,
    attackers' knowledge against their kind's needs, and attacker names.

    Runs on the raw data beside pydantic, so these problems are listed with
    the others.  Returns the problems and the validated params by location.
    """
    problems: list[Problem] = []
    checked: dict[tuple[str, int], Any] = {}

    def check(model: type[BaseModel], params: Any, prefix: str, key: tuple[str, int]) -> None:
        if not isinstance(params, dict):
            return  # pydantic reports the wrong type
        try:
            checked[key] = model.model_validate(params, strict=True).model_dump(mode="json")
        except ValidationError as exc:
            for err in exc.errors():
                p = _problem_from_pydantic(err)
                if err["type"] == "extra_forbidden":
                    p = Problem(p.path, p.message, ", ".join(sorted(model.model_fields)) or
                                "no parameters")
                problems.append(Problem(f"{prefix}.{p.path}" if p.path else prefix,
                                        p.message, p.allowed))

    controller = raw.get("controller")
    if isinstance(controller, dict):
        kind = controller_kinds().get(str(controller.get("name", "none")))
        if kind is not None:
            check(kind.params, controller.get("params", {}), "controller.params", ("c", 0))
    attackers = raw.get("attackers")
    if isinstance(attackers, list):
        # Checked on the raw list, so a problem inside one attacker does not hide it.
        names = [a.get("name") for a in attackers if isinstance(a, dict)]
        doubles = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
        if doubles:
            problems.append(Problem("attackers", f"attacker names used twice: "
                                    f"{', '.join(doubles)}", "a different name per attacker"))
        for i, attacker in enumerate(attackers):
            if not isinstance(attacker, dict):
                continue
            kind_name = attacker.get("kind")
            akind = attack_kinds().get(kind_name) if isinstance(kind_name, str) else None
            if akind is None:
                continue
            check(akind.params, attacker.get("params", {}), f"attackers[{i}].params", ("a", i))
            knowledge = attacker.get("knowledge", {})
            if isinstance(knowledge, dict) and knowledge.get("learn_from_air", True) is False:
                for need in akind.needs:
                    if knowledge.get(need) is None:
                        problems.append(Problem(
                            f"attackers[{i}].knowledge",
                            f"{kind_name} needs {need}, which it neither knows nor may learn",
                            f"{need} = \"NNNNNN\" or learn_from_air = true"))
    return problems, checked


def _file_problems(raw: Mapping[str, Any], base_dir: Path | None) -> list[Problem]:
    """``inject`` frames files must exist (resolved against the scenario's folder)."""
    problems: list[Problem] = []
    attackers = raw.get("attackers")
    if not isinstance(attackers, list):
        return problems
    for i, attacker in enumerate(attackers):
        if not isinstance(attacker, dict) or attacker.get("kind") != "inject":
            continue
        params = attacker.get("params")
        frames = params.get("frames") if isinstance(params, dict) else None
        if isinstance(frames, str) and frames:
            path = _resolve_raw(frames, base_dir)
            if not path.is_file():
                problems.append(Problem(f"attackers[{i}].params.frames",
                                        f"no such file: {frames}",
                                        "a capture-format JSON Lines file"))
    return problems


def _resolve_raw(value: str, base_dir: Path | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    return path.resolve()


def validate_scenario(data: Mapping[str, Any], *, source: str | None = None,
                      base_dir: Path | None = None) -> Scenario:
    """A :class:`Scenario` from plain data (a parsed TOML document).

    Raises :class:`ScenarioProblems` listing every problem, sorted by key path.
    Relative file names are resolved against ``base_dir`` (default: the
    current folder).
    """
    if not isinstance(data, Mapping):
        raise ScenarioProblems([Problem("", "a scenario is a table of keys")], source=source)
    raw = dict(data)
    problems: list[Problem] = []
    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems.extend(_problem_from_pydantic(e) for e in exc.errors())
    param_problems, checked = _params_problems(raw)
    problems.extend(param_problems)
    problems.extend(_file_problems(raw, base_dir))
    if problems or scenario is None:
        unique = list(dict.fromkeys(problems))
        raise ScenarioProblems(sorted(unique, key=lambda p: _sort_key(p.path)), source=source)
    # Store parameters as their models filled them (defaults included), and
    # inject frames as absolute paths, so the scenario is complete as a value.
    attackers = []
    for i, attacker in enumerate(scenario.attackers):
        params = dict(checked.get(("a", i), attacker.params))
        if attacker.kind == "inject" and isinstance(params.get("frames"), str):
            params["frames"] = str(_resolve_raw(params["frames"], base_dir))
        attackers.append(attacker.model_copy(update={"params": params}))
    controller = scenario.controller.model_copy(
        update={"params": checked.get(("c", 0), scenario.controller.params)})
    return scenario.model_copy(update={"attackers": attackers, "controller": controller})


def _sort_key(path: str) -> list[tuple[int, str | int]]:
    parts: list[tuple[int, str | int]] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if token.startswith("["):
            parts.append((0, int(token[1:-1])))
        else:
            parts.append((1, token))
    return parts


def parse_scenario(text: str, *, source: str | None = None,
                   base_dir: Path | None = None) -> Scenario:
    """Parse and validate scenario TOML ``text``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioProblems([Problem("", f"not valid TOML: {exc}")], source=source) from None
    return validate_scenario(data, source=source, base_dir=base_dir)


def load_scenario(spec: str | Path) -> Scenario:
    """A built-in scenario by name, or a scenario file by path.

    A name that is neither a built-in nor an existing file raises a
    :class:`ScenarioError` listing the built-in scenarios.
    """
    text = str(spec)
    path = Path(text)
    if text in _builtin_files():
        return parse_scenario(_builtin_text(text), source=f"built-in scenario {text}")
    if path.is_file():
        try:
            raw = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ScenarioError("not UTF-8 text", source=text) from None
        return parse_scenario(raw, source=text, base_dir=path.resolve().parent)
    if path.exists():
        raise ScenarioError("is not a file", source=text,
                            allowed="a scenario TOML file or a built-in name")
    raise ScenarioError(f"unknown scenario {text!r}: not a built-in name and no such file",
                        field="scenario",
                        allowed="a TOML file or one of " + ", ".join(sorted(_builtin_files())))


# ==========================================================================
# Built-in scenarios
# ==========================================================================

@dataclass(frozen=True, slots=True)
class BuiltinScenario:
    """A scenario shipped with pumplab: its name and one-line description."""

    name: str
    description: str


def _builtin_files() -> dict[str, str]:
    folder = resources.files("pumplab.sim").joinpath("scenarios")
    return {entry.name[:-5]: entry.name for entry in folder.iterdir()
            if entry.name.endswith(".toml")}


def _builtin_text(name: str) -> str:
    folder = resources.files("pumplab.sim").joinpath("scenarios")
    return folder.joinpath(_builtin_files()[name]).read_text(encoding="utf-8")


def builtin_scenarios() -> tuple[BuiltinScenario, ...]:
    """The built-in scenarios, sorted by name (``pumplab scenarios``)."""
    out = []
    for name in sorted(_builtin_files()):
        scenario = load_scenario(name)
        out.append(BuiltinScenario(name, scenario.description))
    return tuple(out)


def builtin_scenario_toml(name: str) -> str:
    """A built-in scenario as complete TOML to copy (``pumplab scenarios show NAME``)."""
    if name not in _builtin_files():
        raise ScenarioError(f"unknown built-in scenario {name!r}", field="scenario",
                            allowed=", ".join(sorted(_builtin_files())))
    return scenario_toml(load_scenario(name))


def scenario_toml(scenario: Scenario) -> str:
    """``scenario`` as TOML, every key explicit (defaults included); re-loads equal."""
    import tomli_w

    data = scenario.model_dump(mode="json", exclude_none=True)
    header = (f"# pumplab scenario {scenario.name!r}: every key with its value, defaults "
              "included (docs/lab.md).\n")
    return header + _SHORT_ARRAY.sub(_one_line, tomli_w.dumps(data))


# An array of numbers or plain strings that tomli-w wrote one item per line.
_SHORT_ARRAY = re.compile(r'\[\n((?:    (?:-?[0-9][0-9.e+-]*|"[A-Za-z0-9#_.@ -]*"),\n)+)\]')


def _one_line(match: re.Match[str]) -> str:
    items = [line.strip().rstrip(",") for line in match.group(1).splitlines()]
    return "[" + ", ".join(items) + "]"


# ==========================================================================
# Hash, patients, seeds, start
# ==========================================================================

def _file_digest(path: str) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def scenario_canonical(scenario: Scenario) -> dict[str, Any]:
    """The scenario as the plain data its hash covers.

    Everything that can change a result, with defaults filled in: all keys
    except ``name``, ``description`` (labels) and ``capture`` (an output).
    Input files (a meal file, inject frames) appear as the SHA-256 of their
    contents, not their paths, so the same scenario hashes the same on any
    machine and a changed file changes the hash.
    """
    data = scenario.model_dump(mode="json", exclude={"name", "description", "capture"})
    from pumplab.physiology.meals import BUILTIN_MEAL_PLANS

    if scenario.meals not in BUILTIN_MEAL_PLANS:
        data["meals"] = {"file": _file_digest(scenario.meals)}
    for attacker in data["attackers"]:
        frames = attacker["params"].get("frames") if attacker["kind"] == "inject" else None
        if isinstance(frames, str):
            attacker["params"]["frames"] = {"file": _file_digest(frames)}
    return data


def scenario_hash(scenario: Scenario) -> str:
    """``sha256:<hex>`` of the canonical scenario as sorted, compact JSON.

    The canonical form is :func:`scenario_canonical`; JSON with sorted keys,
    ``(",", ":")`` separators and ASCII escapes makes the bytes unique.
    """
    text = json.dumps(scenario_canonical(scenario), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class PatientRef:
    """One patient of a run: a standard subject, or subject ``index`` of a population."""

    name: str
    population: Population | None = None
    index: int = 0

    @property
    def slug(self) -> str:
        """The name as a folder name (``adult#001`` → ``adult-001``)."""
        return self.name.replace("#", "-")


def patient_refs(scenario: Scenario) -> tuple[PatientRef, ...]:
    """The run's patients, in order."""
    selection = scenario.patients
    if isinstance(selection, Population):
        # Names only (computed without generating anyone): the sampler's own rule.
        import numpy as np

        from pumplab.physiology.population import PopulationSampler

        sampler = PopulationSampler(selection.population, np.random.default_rng(selection.seed),
                                    groups=tuple(selection.groups))
        return tuple(PatientRef(name, selection, i) for i, name in enumerate(sampler.names))
    names = _standard_names() if selection == "all" else tuple(selection)
    return tuple(PatientRef(name) for name in names)


def seeds_of(scenario: Scenario) -> tuple[int, ...]:
    """The run seeds: ``seed``, ``seed + 1`` ... for ``replicates`` replicates."""
    return tuple(scenario.seed + k for k in range(scenario.replicates))


def start_clock_ms(scenario: Scenario) -> int:
    """The pump's user clock at minute 0: local wall time as ms since 1970.

    A pump has no time zone; it shows the wall time it was set to.  So the
    start's offset is applied: 07:30+01:00 is 07:30 on the pump.
    """
    moment = datetime.fromisoformat(scenario.start)
    local = moment.replace(tzinfo=UTC) if moment.tzinfo is None else (
        moment.replace(tzinfo=None).replace(tzinfo=UTC))
    return int(local.timestamp() * 1000)


# ==========================================================================
# Arms
# ==========================================================================

@dataclass(frozen=True, slots=True)
class ArmSpec:
    """One arm of a run: the pump's mode and which attackers are on the air.

    ``attack`` is the attack kind of a matrix arm (``None`` otherwise).
    """

    name: str
    mode: Literal["legacy", "secure"]
    attackers: tuple[str, ...] = ()
    attack: str | None = None


NO_ATTACKER: Final = "no_attacker"


def arms_for(scenario: Scenario) -> tuple[ArmSpec, ...]:
    """The arms a scenario runs, all on the same seeds.

    - ``legacy``: legacy pump, the scenario's attackers;
    - ``secure``: secure pump, the same attackers;
    - ``no_attacker``: secure pump, no attacker.

    ``pump.mode = X`` runs arm X plus ``no_attacker``; ``both`` runs all three.
    With no attackers, ``secure`` is the same run as ``no_attacker``, so it
    runs once, as ``no_attacker``.  With ``matrix = true``, each attacker runs
    alone: arms ``<attacker>@legacy`` and ``<attacker>@secure`` (as the mode
    allows), plus ``no_attacker``.
    """
    mode = scenario.pump.mode
    modes: tuple[Literal["legacy", "secure"], ...] = (
        ("legacy", "secure") if mode == "both" else ((mode,)))
    attackers = tuple(a.name for a in scenario.attackers)
    arms: list[ArmSpec] = []
    if scenario.matrix and attackers:
        for attacker in scenario.attackers:
            for m in modes:
                arms.append(ArmSpec(f"{attacker.name}@{m}", m, (attacker.name,), attacker.kind))
    else:
        for m in modes:
            if m == "secure" and not attackers:
                continue
            arms.append(ArmSpec(m, m, attackers))
    arms.append(ArmSpec(NO_ATTACKER, "secure", ()))
    return tuple(arms)


# ==========================================================================
# Command-line overrides
# ==========================================================================

def _patients_option(value: str) -> Any:
    text = value.strip()
    if text == "all":
        return "all"
    if text.isascii() and text.isdigit():
        return {"population": int(text)}
    return [part.strip() for part in text.split(",") if part.strip()] or [text]


def apply_overrides(
    scenario: Scenario,
    *,
    patients: str | None = None,
    hours: float | None = None,
    start: str | None = None,
    seed: int | None = None,
    mode: str | None = None,
    link: str | None = None,
    meals: str | None = None,
    capture: str | None = None,
) -> Scenario:
    """``scenario`` with command-line options applied, validated again.

    ``patients`` is the option's text: comma-separated names, ``all``, or a
    number N (a generated population of N, its seed kept from the scenario if
    it had one).  Relative ``meals`` and ``capture`` paths are taken from the
    current folder.  Every problem names the option (``--hours``) as well as
    the key; all are listed at once.
    """
    data = scenario.model_dump(mode="json", exclude_none=True)
    origin: dict[str, str] = {}
    if patients is not None:
        value = _patients_option(patients)
        if isinstance(value, dict) and isinstance(scenario.patients, Population):
            value = {**data["patients"], **value}
        data["patients"] = value
        origin["patients"] = "--patients"
    for key, option, given in (("hours", "--hours", hours), ("start", "--start", start),
                               ("seed", "--seed", seed), ("link", "--link", link)):
        if given is not None:
            data[key] = given
            origin[key] = option
    if mode is not None:
        data["pump"]["mode"] = mode
        origin["pump.mode"] = "--mode"
    if meals is not None:
        data["meals"] = meals
        origin["meals"] = "--meals"
    if capture is not None:
        data["capture"] = capture
        origin["capture"] = "--capture"
    try:
        return validate_scenario(data, source="options", base_dir=Path.cwd())
    except ScenarioProblems as exc:
        problems = []
        for p in exc.problems:
            label = next((opt for key, opt in origin.items()
                          if p.path == key or p.path.startswith((key + ".", key + "["))), None)
            path = f"{label} ({p.path})" if label else p.path
            problems.append(Problem(path, p.message, p.allowed))
        raise ScenarioProblems(problems, source="options") from None

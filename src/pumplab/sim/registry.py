"""Registries the scenario schema validates names against: controllers and attacks.

Controllers (``pumplab.control``) and attacks (``pumplab.attacks``) are built
in other modules, some of them after this one.  A scenario names them, and a
scenario must be validated before anything runs, so the schema cannot import
them.  Instead each kind is *registered* here with a pydantic model of its
parameters; the module that implements it registers its own model on import
(``register_controller("oref0", Oref0Params, replace=True)``), and the schema
checks names and parameters against whatever is registered at validation time.

The defaults registered below are today's known set (issue 13's attacks, issues
14 and 20's controllers) with the parameters those issues name.  They let a
scenario be written and checked now; the implementing module replaces the
parameter model with its own when it lands.  Every model forbids unknown keys,
so a typo in a parameter is an error, never silently ignored.

Deliberately not here: building or running a controller or an attacker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AttackKind",
    "ControllerKind",
    "NoParams",
    "attack_kinds",
    "controller_kinds",
    "register_attack",
    "register_controller",
]


class NoParams(BaseModel):
    """A kind that takes no parameters: any key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class ControllerKind:
    """A controller name and the model its ``params`` table must satisfy."""

    name: str
    params: type[BaseModel]
    description: str = ""


@dataclass(frozen=True, slots=True)
class AttackKind:
    """An attack kind, the model of its ``params``, and what it needs to start.

    ``needs`` lists the identifiers the attack must know before it can act
    (``pump_serial``, ``remote_id``, ``meter_id``); an attacker that does not
    know one at the start must be allowed to learn it from the air.
    """

    name: str
    params: type[BaseModel]
    needs: tuple[str, ...] = ()
    description: str = ""


_CONTROLLERS: dict[str, ControllerKind] = {}
_ATTACKS: dict[str, AttackKind] = {}

#: Identifiers an attacker can know (scenario key ``knowledge``).
KNOWLEDGE_KEYS: tuple[str, ...] = ("pump_serial", "remote_id", "meter_id")


def register_controller(name: str, params: type[BaseModel] = NoParams, *,
                        description: str = "", replace: bool = False) -> None:
    """Make ``name`` a valid ``controller.name``, its ``params`` checked by ``params``.

    Registering a name twice is refused unless ``replace`` (the implementing
    module replacing a default).
    """
    _register(_CONTROLLERS, ControllerKind(name, params, description), replace)


def register_attack(name: str, params: type[BaseModel] = NoParams, *,
                    needs: tuple[str, ...] = (), description: str = "",
                    replace: bool = False) -> None:
    """Make ``name`` a valid ``attackers[].kind``, its ``params`` checked by ``params``."""
    unknown = set(needs) - set(KNOWLEDGE_KEYS)
    if unknown:
        raise ValueError(f"unknown identifiers in needs: {sorted(unknown)}")
    _register(_ATTACKS, AttackKind(name, params, tuple(needs), description), replace)


def _register(table: dict[str, ControllerKind] | dict[str, AttackKind],
              entry: ControllerKind | AttackKind, replace: bool) -> None:
    if not entry.name or entry.name != entry.name.strip() or "," in entry.name:
        raise ValueError(f"a kind needs a plain name, got {entry.name!r}")
    if not (isinstance(entry.params, type) and issubclass(entry.params, BaseModel)):
        raise TypeError("params must be a pydantic BaseModel subclass")
    if entry.params.model_config.get("extra") != "forbid":
        raise ValueError(f"the params model of {entry.name!r} must forbid unknown keys "
                         "(model_config = ConfigDict(extra='forbid'))")
    if entry.name in table and not replace:
        raise ValueError(f"{entry.name!r} is already registered (pass replace=True)")
    table[entry.name] = entry  # type: ignore[assignment]


def controller_kinds() -> Mapping[str, ControllerKind]:
    """Every registered controller, by name (read-only view)."""
    return MappingProxyType(_CONTROLLERS)


def attack_kinds() -> Mapping[str, AttackKind]:
    """Every registered attack kind, by name (read-only view)."""
    return MappingProxyType(_ATTACKS)


# --------------------------------------------------------------------------
# Today's known set.  Parameter names follow the issues that define each kind;
# the implementing module replaces these models with its own.
# --------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExternalControllerParams(_Strict):
    """Issue 20: a long-lived process spoken to in JSON lines."""

    command: list[str] = Field(min_length=1)
    timeout_s: float = Field(default=5.0, gt=0.0, le=600.0)


class ForgedBolusParams(_Strict):
    """Issue 13, attack 2: a forged bolus, chained ``repeat`` times per firing."""

    bolus_u: float = Field(default=10.0, gt=0.0, le=25.0)
    repeat: int = Field(default=1, ge=1, le=100)


class ForgedTempBasalParams(_Strict):
    """Issue 13, attack 2: a forged temp basal (0 U/h withholds insulin)."""

    rate_u_per_h: float = Field(default=0.0, ge=0.0, le=35.0)
    duration_min: int = Field(default=240, ge=30, le=1440)


class RemoteReplayParams(_Strict):
    """Issue 13, attack 3: replay a remote's buttons, or forge a remote from a sniffed id."""

    variant: Literal["bolus", "suspend", "forged_remote"] = "bolus"
    presses: int = Field(default=1, ge=1, le=20)


class AddRemoteParams(_Strict):
    """Issue 13, attack 4: write the attacker's remote id into the pump, then bolus."""

    remote_id: str = Field(default="999999", pattern=r"^[0-9]{6}$")
    presses: int = Field(default=1, ge=1, le=20)


class SettingsChangeParams(_Strict):
    """Issue 13, attack 5: raise the maximum bolus, then bolus."""

    max_bolus_u: float = Field(default=25.0, gt=0.0, le=25.0)
    bolus_u: float = Field(default=25.0, gt=0.0, le=25.0)


class ForgedMeterParams(_Strict):
    """Issue 13, attack 6: a forged high meter reading."""

    bg_mg_dl: int = Field(default=400, ge=20, le=600)


class SerialBruteforceParams(_Strict):
    """Issue 13, attack 7: try ``candidates`` serials (the true one among them)."""

    candidates: int = Field(default=1000, ge=1, le=1_000_000)


class JamParams(_Strict):
    """Issue 13, attack 8: jam the CGM's readings or the controller's commands."""

    target: Literal["cgm", "controller"] = "cgm"
    duration_min: int = Field(default=60, ge=1, le=14 * 24 * 60)


class InjectParams(_Strict):
    """Issue 13, attack 9: transmit the frames of a capture-format file.

    ``frames`` is resolved against the scenario file's folder and must exist.
    """

    frames: str = Field(min_length=1)


def _register_defaults() -> None:
    controllers: tuple[tuple[str, type[BaseModel], str], ...] = (
        ("none", NoParams, "open loop: no controller"),
        ("oref0", NoParams, "OpenAPS determine-basal (issue 14)"),
        ("pid", NoParams, "PID with insulin feedback (issue 20)"),
        ("basal_bolus", NoParams, "open-loop basal-bolus with the wizard (issue 20)"),
        ("lgs", NoParams, "predictive low-glucose suspend (issue 20)"),
        ("external", ExternalControllerParams, "your own algorithm as a process (issue 20)"),
    )
    for name, params, text in controllers:
        register_controller(name, params, description=text)
    serial = ("pump_serial",)
    attacks: tuple[tuple[str, type[BaseModel], tuple[str, ...], str], ...] = (
        ("eavesdrop", NoParams, (), "listen and learn identifiers and therapy data"),
        ("forged_bolus", ForgedBolusParams, serial, "forged bolus with a known serial"),
        ("forged_temp_basal", ForgedTempBasalParams, serial, "forged temp basal"),
        ("forged_suspend", NoParams, serial, "forged suspend"),
        ("remote_replay", RemoteReplayParams, ("remote_id",), "replayed remote buttons"),
        ("add_remote", AddRemoteParams, serial, "add the attacker's remote, then bolus"),
        ("settings_change", SettingsChangeParams, serial, "raise the max bolus, then bolus"),
        ("forged_meter", ForgedMeterParams, ("meter_id",), "forged high meter reading"),
        ("serial_bruteforce", SerialBruteforceParams, (), "search the pump's serial"),
        ("jam", JamParams, (), "jam CGM readings or controller commands"),
        ("inject", InjectParams, (), "transmit frames from a capture-format file"),
    )
    for kind, aparams, needs, text in attacks:
        register_attack(kind, aparams, needs=needs, description=text)


_register_defaults()

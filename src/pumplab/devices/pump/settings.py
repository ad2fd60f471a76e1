"""The pump's settings: one validated, frozen snapshot, and changes by name.

:class:`PumpSettings` holds everything a user, a clinician or (legacy mode) a
radio command may set.  Construction validates every field and raises
:class:`~pumplab.errors.SettingsError` naming the field (``max_bolus_u``,
``pattern_a[3].rate_u_per_h``, ``remote_ids``...) and the allowed range; no
value is ever clamped.  Ranges follow the Paradigm x23 where it is known
(sources in docs/pump.md, "Settings"); the secure-mode limits (per hour, per
day, active insulin, withholding) are pumplab's and marked so.

Settings are changed one at a time by name (:func:`with_setting`), the same
path for the pump's keys, for a legacy ``ChangeSettingCommand`` and for a
confirmed secure-mode proposal; :func:`settings_to_json` /
:func:`settings_from_json` give the snapshot written in every ``boot`` record
(docs/pump.md, "Restart").  This module does not decide *who* may change what
(see :mod:`pumplab.devices.pump.access`) and keeps no state.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pumplab.devices.history import JSONValue
from pumplab.devices.pump.access import Role
from pumplab.devices.pump.sanitize import safe_text
from pumplab.devices.pump.sanitize import show as _show
from pumplab.errors import SettingsError
from pumplab.therapy import (
    X23_MAX_BASAL_LIMIT_U_PER_H,
    X23_MAX_BOLUS_LIMIT_U,
    X23_MAX_BOLUS_STEP,
    BgTarget,
    Schedule,
    WizardSettings,
    basal_schedule,
    bg_target_schedule,
    carb_ratio_schedule,
    is_on_grid,
    isf_schedule,
    x23_active_insulin_curve,
)
from pumplab.therapy.curves import BilinearCurve
from pumplab.therapy.schedules import X23_BASAL_RATE

__all__ = [
    "MAX_PAIRINGS",
    "MODELS",
    "PATTERN_NAMES",
    "RADIO_SETTING_NAMES",
    "SETTING_ALIASES",
    "PumpSettings",
    "canonical_setting_name",
    "reservoir_capacity_u",
    "setting_value",
    "settings_from_json",
    "settings_to_json",
    "with_pairings",
    "with_setting",
]

#: x23 models and their reservoir capacity in U: 5xx takes a 1.8-mL (176 U)
#: reservoir, 7xx a 3.0-mL (300 U) one (LoopKit MinimedKit ``PumpModel.reservoirCapacity``).
MODELS: Final[dict[str, int]] = {"523": 176, "723": 300}

#: The x23's three basal patterns (user guide: Standard, Pattern A, Pattern B).
PATTERN_NAMES: Final = ("standard", "A", "B")

#: x23: up to three remotes (MMT-503) may be registered; pumplab assumes the
#: same for linked meters (not confirmed, docs/pump.md).
MAX_REMOTE_IDS: Final = 3
MAX_METER_IDS: Final = 3
#: Secure mode: size of the pairing table (pumplab's choice).
MAX_PAIRINGS: Final = 8

#: Numbers beyond ±2^53 are refused before any float conversion (a huge int would
#: overflow it): no setting is anywhere near, and a double holds every int below.
_SAFE_INT: Final = 2**53
#: A setting value is at most a list of segments of numbers: deeper is not a setting.
_MAX_VALUE_DEPTH: Final = 3
_MAX_VALUE_ITEMS: Final = 64

_ID_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_ADDRESS_RE: Final = re.compile(r"[a-z]{1,16}:[A-Za-z0-9_.-]{1,32}")

Pairs = tuple[tuple[int, float], ...]
Targets = tuple[tuple[int, float, float], ...]


def reservoir_capacity_u(model: str) -> int:
    """Reservoir capacity (U) of an x23 model."""
    return MODELS[model]


# --------------------------------------------------------------------------
# Field checks.  Each returns the normalised value or raises SettingsError.


def _check_plain(name: str, value: object, depth: int) -> None:
    """Refuse what no setting can be, before any check converts it: huge numbers, deep
    nesting, long lists, invalid text, objects that are not data."""
    allowed = ("numbers within ±2^53, text, true/false, or lists of them "
               f"(at most {_MAX_VALUE_ITEMS} items, nested at most {_MAX_VALUE_DEPTH} deep)")
    if value is None or isinstance(value, bool | float):
        return
    if isinstance(value, int):
        # A setting's own check names its range; inside a list no check may see it first.
        if depth and not -_SAFE_INT < value < _SAFE_INT:
            raise SettingsError(f"{_show(value)} is out of range", field=name, allowed=allowed)
        return
    if isinstance(value, str):
        if len(value) > 256 or not _encodable(value):
            raise SettingsError(f"{_show(value)} is not valid text of at most 256 characters",
                                field=name, allowed=allowed)
        return
    if isinstance(value, list | tuple):
        if depth >= _MAX_VALUE_DEPTH or len(value) > _MAX_VALUE_ITEMS:
            raise SettingsError(f"{_show(value)} is nested too deep or too long", field=name,
                                allowed=allowed)
        for i, item in enumerate(value):
            _check_plain(f"{name}[{i}]", item, depth + 1)
        return
    raise SettingsError(f"{_show(value)} is not a setting value", field=name, allowed=allowed)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _number(name: str, value: object, low: float, high: float, *, unit: str,
            step: str = "", grid: Any = None) -> float:
    allowed = f"{low:g}–{high:g} {unit}" + (f", {step}" if step else "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(f"{_show(value)} is not a number", field=name, allowed=allowed)
    # A huge int is compared before any float conversion (float(10**400) overflows).
    in_range = (-_SAFE_INT < value < _SAFE_INT if isinstance(value, int) else math.isfinite(value))
    if not (in_range and low <= value <= high):
        raise SettingsError(f"{_show(value)} {unit} is out of range", field=name,
                            allowed=allowed)
    if grid is not None and not is_on_grid(float(value), grid):
        raise SettingsError(f"{_show(value)} {unit} is not on the setting's grid", field=name,
                            allowed=allowed)
    return float(value)


def _whole(name: str, value: object, low: int, high: int, *, unit: str, step: int = 1,
           zero_ok: bool = False) -> int:
    allowed = f"{low}–{high} {unit}" + (f" in {step}-{unit} steps" if step != 1 else "")
    if zero_ok:
        allowed = "0 (off) or " + allowed
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{_show(value)} is not a whole number", field=name, allowed=allowed)
    if zero_ok and value == 0:
        return 0
    if not (low <= value <= high) or (value - low) % step:
        raise SettingsError(f"{_show(value)} {unit} is not allowed", field=name, allowed=allowed)
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(f"{_show(value)} is not true/false", field=name,
                            allowed="true or false")
    return value


def _ident(name: str, value: object) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise SettingsError(f"{_show(value)} is not a device id", field=name,
                            allowed="1–32 characters A–Z a–z 0–9 _ . -")
    return value


def _idents(name: str, value: object, most: int) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise SettingsError(f"{_show(value)} is not a list of ids", field=name,
                            allowed=f"a list of up to {most} device ids")
    ids = tuple(_ident(f"{name}[{i}]", v) for i, v in enumerate(value))
    if len(ids) > most:
        raise SettingsError(f"{len(ids)} ids is too many", field=name,
                            allowed=f"up to {most} device ids")
    if len(set(ids)) != len(ids):
        raise SettingsError("an id is listed twice", field=name, allowed="distinct ids")
    return ids


def _pairs(name: str, value: object, width: int) -> tuple[tuple[Any, ...], ...]:
    shape = "[start_min, value]" if width == 2 else "[start_min, low, high]"
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise SettingsError(f"{_show(value)} is not a list of segments", field=name,
                            allowed=f"a list of {shape} segments")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str) or not isinstance(item, list | tuple) or len(item) != width:
            raise SettingsError(f"{_show(item)} is not a segment", field=f"{name}[{i}]",
                                allowed=shape)
        start = item[0]
        if isinstance(start, float) and start.is_integer():
            start = int(start)
        out.append((start, *item[1:]))
    return tuple(out)


def _pattern(name: str, value: object, max_basal: float | None) -> Pairs:
    pairs = _pairs(name, value, 2)
    sched = basal_schedule(pairs, field=name, max_basal_u_per_h=max_basal)
    return tuple((s.start_min, s.value) for s in sched.segments)


# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PumpSettings:
    """Every user setting of the pump, validated on construction.

    Units live in the names.  ``pattern_a``/``pattern_b`` are ``None`` until
    programmed.  The fields from ``max_hourly_u`` to ``remote_max_u_per_h``
    are secure-mode limits (pumplab's design); a legacy pump stores them but
    its gate ignores them.  ``pairings`` is the secure-mode pairing table,
    ``(address, role)`` pairs, managed only from the pump's keys.
    """

    model: str = "723"
    max_bolus_u: float = 10.0
    max_basal_u_per_h: float = 2.0
    pattern_standard: Pairs = ((0, 1.0),)
    pattern_a: Pairs | None = None
    pattern_b: Pairs | None = None
    active_pattern: str = "standard"
    carb_ratios: Pairs = ((0, 10.0),)
    isf: Pairs = ((0, 50.0),)
    bg_targets: Targets = ((0, 100.0, 120.0),)
    active_insulin_time_h: int = 6
    wizard_enabled: bool = True
    easy_bolus_enabled: bool = False
    easy_bolus_step_u: float = 0.1
    remote_enabled: bool = False
    remote_ids: tuple[str, ...] = ()
    meter_ids: tuple[str, ...] = ()
    sensor_enabled: bool = False
    sensor_id: str = ""
    auto_off_h: int = 0
    low_reservoir_u: float = 20.0
    max_hourly_u: float = 15.0
    max_daily_u: float = 100.0
    max_iob_u: float = 15.0
    no_delivery_alarm_min: int = 240
    max_radio_withhold_min: int = 120
    max_radio_withhold_per_day_min: int = 360
    remote_max_u_per_h: float = 5.0
    pairings: tuple[tuple[str, str], ...] = ()
    # Derived, built once on construction.
    _schedules: dict[str, Schedule[float]] = field(init=False, repr=False, compare=False)
    _wizard: WizardSettings = field(init=False, repr=False, compare=False)
    _curve: BilinearCurve = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.init:
                _check_plain(f.name, getattr(self, f.name), 0)
        try:
            self._validate()
        except SettingsError:
            raise
        except (ArithmeticError, TypeError, ValueError, RecursionError) as exc:
            # Every check above names its field; this is the last line of defence,
            # so that a value no check foresaw is still a SettingsError, not a crash.
            raise SettingsError(f"the settings do not validate ({type(exc).__name__}: "
                                f"{safe_text(str(exc), 120)})") from exc

    def _validate(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        if not isinstance(self.model, str) or self.model not in MODELS:
            raise SettingsError(f"unknown model {_show(self.model)}", field="model",
                                allowed=" or ".join(MODELS))
        put("max_bolus_u", _number("max_bolus_u", self.max_bolus_u, 0.0, X23_MAX_BOLUS_LIMIT_U,
                                   unit="U", step="0.1-U steps", grid=X23_MAX_BOLUS_STEP))
        put("max_basal_u_per_h", _number(
            "max_basal_u_per_h", self.max_basal_u_per_h, 0.0, X23_MAX_BASAL_LIMIT_U_PER_H,
            unit="U/h", step=X23_BASAL_RATE.grid_text, grid=X23_BASAL_RATE.grid))
        schedules: dict[str, Schedule[float]] = {}
        for pname, fname in zip(PATTERN_NAMES, _PATTERN_FIELDS, strict=True):
            raw = getattr(self, fname)
            if raw is None:
                if pname == "standard":
                    raise SettingsError("the standard pattern is required", field=fname,
                                        allowed="1–48 segments")
                continue
            pairs = _pattern(fname, raw, self.max_basal_u_per_h)
            put(fname, pairs)
            schedules[pname] = basal_schedule(pairs, field=fname)
        if self.active_pattern not in PATTERN_NAMES:
            raise SettingsError(f"unknown pattern {_show(self.active_pattern)}",
                                field="active_pattern", allowed=", ".join(PATTERN_NAMES))
        if self.active_pattern not in schedules:
            raise SettingsError(f"pattern {_show(self.active_pattern)} is not programmed",
                                field="active_pattern",
                                allowed=", ".join(p for p in PATTERN_NAMES if p in schedules))
        carb = _pairs("carb_ratios", self.carb_ratios, 2)
        isf = _pairs("isf", self.isf, 2)
        targets = _pairs("bg_targets", self.bg_targets, 3)
        carb_sched = carb_ratio_schedule(carb, field="carb_ratios")
        isf_sched = isf_schedule(isf, field="isf")
        for i, (_, low, high) in enumerate(targets):
            for part, v in (("low_mg_dl", low), ("high_mg_dl", high)):
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise SettingsError(f"{_show(v)} is not a number",
                                        field=f"bg_targets[{i}].{part}", allowed="60–250 mg/dL")
        target_sched = bg_target_schedule(
            ((s, BgTarget(float(lo), float(hi))) for s, lo, hi in targets), field="bg_targets")
        put("carb_ratios", tuple((s.start_min, s.value) for s in carb_sched.segments))
        put("isf", tuple((s.start_min, s.value) for s in isf_sched.segments))
        put("bg_targets", tuple((s.start_min, s.value.low_mg_dl, s.value.high_mg_dl)
                                for s in target_sched.segments))
        curve = x23_active_insulin_curve(self.active_insulin_time_h)
        put("wizard_enabled", _flag("wizard_enabled", self.wizard_enabled))
        put("easy_bolus_enabled", _flag("easy_bolus_enabled", self.easy_bolus_enabled))
        # x23 easy bolus step 0.1–2.0 U in 0.1-U steps (user guide; assumed, docs/pump.md).
        put("easy_bolus_step_u", _number("easy_bolus_step_u", self.easy_bolus_step_u, 0.1, 2.0,
                                         unit="U", step="0.1-U steps", grid=X23_MAX_BOLUS_STEP))
        put("remote_enabled", _flag("remote_enabled", self.remote_enabled))
        put("remote_ids", _idents("remote_ids", self.remote_ids, MAX_REMOTE_IDS))
        put("meter_ids", _idents("meter_ids", self.meter_ids, MAX_METER_IDS))
        put("sensor_enabled", _flag("sensor_enabled", self.sensor_enabled))
        if self.sensor_id != "":
            _ident("sensor_id", self.sensor_id)
        if self.sensor_enabled and self.sensor_id == "":
            raise SettingsError("the sensor is on but has no id", field="sensor_id",
                                allowed="a device id when sensor_enabled is true")
        put("auto_off_h", _whole("auto_off_h", self.auto_off_h, 1, 24, unit="h", zero_ok=True))
        put("low_reservoir_u", _number("low_reservoir_u", self.low_reservoir_u, 5.0, 50.0,
                                       unit="U", step="whole units", grid=_WHOLE))
        put("max_hourly_u", _number("max_hourly_u", self.max_hourly_u, 0.5, 60.0, unit="U",
                                    step="0.1-U steps", grid=X23_MAX_BOLUS_STEP))
        put("max_daily_u", _number("max_daily_u", self.max_daily_u, 1.0, 300.0, unit="U",
                                   step="0.1-U steps", grid=X23_MAX_BOLUS_STEP))
        put("max_iob_u", _number("max_iob_u", self.max_iob_u, 0.0, 60.0, unit="U",
                                 step="0.1-U steps", grid=X23_MAX_BOLUS_STEP))
        put("no_delivery_alarm_min", _whole("no_delivery_alarm_min", self.no_delivery_alarm_min,
                                            30, 720, unit="min", step=30))
        put("max_radio_withhold_min", _whole("max_radio_withhold_min", self.max_radio_withhold_min,
                                             30, 720, unit="min", step=30))
        put("max_radio_withhold_per_day_min", _whole(
            "max_radio_withhold_per_day_min", self.max_radio_withhold_per_day_min, 30, 1440,
            unit="min", step=30))
        if self.max_radio_withhold_per_day_min < self.max_radio_withhold_min:
            raise SettingsError("the daily radio-withholding budget is below one episode's limit",
                                field="max_radio_withhold_per_day_min",
                                allowed=f"≥ max_radio_withhold_min ({self.max_radio_withhold_min})")
        put("remote_max_u_per_h", _number("remote_max_u_per_h", self.remote_max_u_per_h, 0.1,
                                          25.0, unit="U", step="0.1-U steps",
                                          grid=X23_MAX_BOLUS_STEP))
        put("pairings", _pairings(self.pairings))
        put("_schedules", schedules)
        put("_curve", curve)
        put("_wizard", WizardSettings(carb_sched, isf_sched, target_sched,
                                      max_bolus_u=self.max_bolus_u))

    # ---------------------------------------------------------------- derived

    def pattern(self, name: str) -> Schedule[float] | None:
        """The basal schedule of pattern ``name`` (``None`` if not programmed)."""
        return self._schedules.get(name)

    @property
    def active_schedule(self) -> Schedule[float]:
        """The basal schedule in force."""
        return self._schedules[self.active_pattern]

    @property
    def wizard(self) -> WizardSettings:
        """The bolus wizard's settings (therapy's :class:`WizardSettings`)."""
        return self._wizard

    @property
    def active_insulin_curve(self) -> BilinearCurve:
        """The curve the pump computes active insulin with (therapy's x23 curve)."""
        return self._curve

    @property
    def reservoir_capacity_u(self) -> int:
        return MODELS[self.model]

    def role_of(self, address: str) -> Role | None:
        """The role ``address`` is paired with, or ``None``."""
        for peer, role in self.pairings:
            if peer == address:
                return Role(role)
        return None


_PATTERN_FIELDS: Final = ("pattern_standard", "pattern_a", "pattern_b")
_WHOLE: Final = X23_MAX_BOLUS_STEP.__class__(((0, 1000),))


def _pairings(value: object) -> tuple[tuple[str, str], ...]:
    name = "pairings"
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise SettingsError(f"{_show(value)} is not a pairing table", field=name,
                            allowed="a list of [address, role] pairs")
    out: list[tuple[str, str]] = []
    roles = ", ".join(r.value for r in Role)
    for i, item in enumerate(value):
        if isinstance(item, str) or not isinstance(item, list | tuple) or len(item) != 2:
            raise SettingsError(f"{_show(item)} is not a pairing", field=f"{name}[{i}]",
                                allowed="[address, role]")
        address, role = item
        if not isinstance(address, str) or not _ADDRESS_RE.fullmatch(address):
            raise SettingsError(f"{_show(address)} is not an address", field=f"{name}[{i}]",
                                allowed="kind:id, e.g. app:phone")
        if not isinstance(role, str) or role not in {r.value for r in Role}:
            raise SettingsError(f"unknown role {_show(role)}", field=f"{name}[{i}]",
                                allowed=roles)
        out.append((address, role))
    if len(out) > MAX_PAIRINGS:
        raise SettingsError(f"{len(out)} pairings is too many", field=name,
                            allowed=f"up to {MAX_PAIRINGS}")
    if len({a for a, _ in out}) != len(out):
        raise SettingsError("an address is paired twice", field=name,
                            allowed="one role per address")
    return tuple(out)


# --------------------------------------------------------------------------
# Change by name, and the JSON snapshot


#: Names accepted by :func:`with_setting` from the air or from the keys (the
#: pairing table is changed only by the pairing menu, never by name).
RADIO_SETTING_NAMES: Final = tuple(
    f.name for f in dataclasses.fields(PumpSettings)
    if f.init and f.name not in {"model", "pairings"}
)

#: Dotted aliases (the names ``ChangeSettingCommand``'s docstring uses).
SETTING_ALIASES: Final[dict[str, str]] = {
    "remote.enabled": "remote_enabled",
    "remote.ids": "remote_ids",
    "meter.ids": "meter_ids",
    "sensor.enabled": "sensor_enabled",
    "sensor.id": "sensor_id",
    "easy_bolus.enabled": "easy_bolus_enabled",
    "easy_bolus.step_u": "easy_bolus_step_u",
    "wizard.enabled": "wizard_enabled",
    "basal_pattern.standard": "pattern_standard",
    "basal_pattern.A": "pattern_a",
    "basal_pattern.B": "pattern_b",
}


def canonical_setting_name(name: object) -> str | None:
    """The field a setting name refers to, or ``None`` if there is no such setting."""
    if not isinstance(name, str):
        return None
    name = SETTING_ALIASES.get(name, name)
    return name if name in RADIO_SETTING_NAMES else None


def _to_json(value: object) -> JSONValue:
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"setting value {value!r} has no JSON form")


def setting_value(settings: PumpSettings, name: str) -> JSONValue:
    """The JSON form of one setting (``name`` canonical or alias)."""
    canonical = canonical_setting_name(name)
    if canonical is None and name != "pairings" and name != "model":
        raise KeyError(name)
    return _to_json(getattr(settings, canonical or name))


def with_setting(settings: PumpSettings, name: str, value: object) -> PumpSettings:
    """A copy of ``settings`` with one setting changed; validates everything.

    Raises :class:`SettingsError` naming the setting for an unknown name or a
    value that is not allowed (also when the change makes another setting
    invalid, e.g. a max basal below a programmed rate).
    """
    canonical = canonical_setting_name(name)
    if canonical is None:
        raise SettingsError(f"unknown setting {_show(name)}",
                            field=safe_text(name, 64) if isinstance(name, str) else _show(name),
                            allowed=", ".join(RADIO_SETTING_NAMES))
    _check_plain(canonical, value, 0)  # before _deep_tuple recurses into it
    if isinstance(value, list):
        value = _deep_tuple(value)
    changes: dict[str, Any] = {canonical: value}
    return dataclasses.replace(settings, **changes)


def with_pairings(settings: PumpSettings, pairings: tuple[tuple[str, str], ...]) -> PumpSettings:
    """A copy with a new pairing table (the pairing menu's path)."""
    return dataclasses.replace(settings, pairings=pairings)


def _deep_tuple(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_deep_tuple(v) for v in value)
    return value


def settings_to_json(settings: PumpSettings) -> dict[str, JSONValue]:
    """The full snapshot (every init field) as JSON, for the ``boot`` record."""
    return {f.name: _to_json(getattr(settings, f.name))
            for f in dataclasses.fields(settings) if f.init}


def settings_from_json(data: Mapping[str, object]) -> PumpSettings:
    """Rebuild settings from :func:`settings_to_json`'s output (validated again)."""
    names = {f.name for f in dataclasses.fields(PumpSettings) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SettingsError(f"unknown settings {unknown}", field=unknown[0],
                            allowed=", ".join(sorted(names)))
    return PumpSettings(**{k: _deep_tuple(v) for k, v in data.items()})

"""oref0's determine-basal inputs (a CASE), parsed into typed values — or refused.

A CASE is one JSON object holding what oref0's ``determine_basal`` takes
(``lib/determine-basal/determine-basal.js``, oref0 0.7.1), under the names
oref0's own files use:

==================  =====================================================
key                 what (oref0 file that produces it)
==================  =====================================================
glucose_status      delta, short/long average deltas (``glucose-get-last``)
currenttemp         the running temp basal (``temp_basal.json``)
iob_data            48 IOB ticks, 5 min apart (``oref0-calculate-iob``)
profile             the profile (``oref0-get-profile``)
autosens            ``{"ratio": r}`` or null (``oref0-detect-sensitivity``)
meal_data           carbs, COB, deviation slopes (``oref0-meal``)
microBolusAllowed   SMB permitted (the ``--microbolus`` flag)
reservoir_data      optional; echoed back as ``reservoir``
currentTime         the decision's time (the ``--currentTime`` flag)
==================  =====================================================

**No guessing.**  Every top-level key but ``reservoir_data`` is required
(``currentTime`` too: oref0 falls back to the wall clock, a pure port cannot).
A missing field, a wrong type (a string for a number, a number for a boolean,
NaN), or an impossible value (a non-positive ISF, COB without carbs) raises
:class:`~pumplab.errors.InputError` whose ``field`` is the key path, e.g.
``profile.sens`` or ``iob_data[3].iobWithZeroTemp.activity``.

Optional profile settings keep oref0's meaning when absent (an SMB switch is
off, ``maxSMBBasalMinutes`` is 30, ...); docs/controllers.md lists each one
with its default.  A few settings are needed only on some paths (the noisy-CGM
target multiplier when ``noise`` is 2, ``autosens_max`` when a temp target
sets the sensitivity ratio); a CASE that reaches such a path without them is
refused then, naming the field, rather than producing oref0's NaN.

Unknown keys are ignored: real profile files carry dozens that determine-basal
never reads.  :func:`case_to_json` is the way back: a parsed CASE as the JSON
object oref0 takes (what the ``external`` controller sends a process).  This
module does no I/O (the caller reads the file).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pumplab.errors import InputError

__all__ = [
    "CASE_KEYS",
    "CurrentTemp",
    "GlucoseStatus",
    "IobData",
    "IobTick",
    "LastTemp",
    "MealData",
    "Oref0Case",
    "Oref0Profile",
    "case_to_json",
    "parse_case",
    "parse_time_ms",
]

#: Top-level keys of a CASE (``reservoir_data`` is the only optional one).
CASE_KEYS = (
    "glucose_status",
    "currenttemp",
    "iob_data",
    "profile",
    "autosens",
    "meal_data",
    "microBolusAllowed",
    "reservoir_data",
    "currentTime",
)

_MMOL = "mmol/L"
_MGDL = "mg/dL"


@dataclass(frozen=True, slots=True)
class GlucoseStatus:
    """oref0 ``glucose_status``: the latest BG and its deltas (mg/dL per 5 min)."""

    glucose: float
    delta: float
    short_avgdelta: float
    long_avgdelta: float
    date_ms: float
    noise: float | None = None
    device: str | None = None
    last_cal: float | None = None


@dataclass(frozen=True, slots=True)
class CurrentTemp:
    """oref0 ``currenttemp``: the running absolute temp basal (duration 0: none)."""

    rate: float
    duration: float


@dataclass(frozen=True, slots=True)
class IobTick:
    """One 5-minute step of oref0's IOB projection: net IOB (U), activity (U/min), and
    the same assuming a zero temp from now on (``iobWithZeroTemp``)."""

    iob: float
    activity: float
    zt_iob: float
    zt_activity: float


@dataclass(frozen=True, slots=True)
class LastTemp:
    """oref0 ``iob_data[0].lastTemp``: the last temp basal in the pump history."""

    date_ms: float
    rate: float | None = None
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class IobData:
    """oref0 ``iob_data``: IOB now and (``ticks``) every 5 min for 4 h ahead.

    ``ticks`` is empty when the CASE gave a single IOB object rather than
    oref0-calculate-iob's array: oref0 then skips its predictions (its unit
    tests do this), and so does the port.
    """

    iob: float
    activity: float
    ticks: tuple[IobTick, ...]
    last_bolus_time_ms: float | None
    last_temp: LastTemp | None


@dataclass(frozen=True, slots=True)
class Oref0Profile:
    """The profile settings determine-basal reads (oref0 names in comments)."""

    current_basal: float
    min_bg: float
    max_bg: float
    sens: float
    carb_ratio: float
    max_iob: float
    max_basal: float
    max_daily_basal: float
    model: str | None = None
    out_units: str = _MGDL
    temptarget_set: bool = False  # temptargetSet
    autosens_max: float | None = None
    exercise_mode: bool = False
    high_temptarget_raises_sensitivity: bool = False
    low_temptarget_lowers_sensitivity: bool = False
    sensitivity_raises_target: bool = False
    resistance_lowers_target: bool = False
    half_basal_exercise_target: float | None = None
    noisy_cgm_target_multiplier: float | None = None  # noisyCGMTargetMultiplier
    enable_uam: bool = False  # enableUAM
    enable_smb_always: bool = False
    enable_smb_with_cob: bool = False
    enable_smb_after_carbs: bool = False
    enable_smb_with_temptarget: bool = False
    enable_smb_high_bg: bool = False
    enable_smb_high_bg_target: float | None = None
    allow_smb_with_high_temptarget: bool = False
    a52_risk_enable: bool | None = None  # A52_risk_enable
    max_smb_basal_minutes: float | None = None  # maxSMBBasalMinutes
    max_uam_smb_basal_minutes: float | None = None  # maxUAMSMBBasalMinutes
    bolus_increment: float | None = None
    smb_interval: float | None = None  # SMBInterval
    remaining_carbs_cap: float | None = None  # remainingCarbsCap
    remaining_carbs_fraction: float | None = None  # remainingCarbsFraction
    max_delta_bg_threshold: float | None = None  # maxDelta_bg_threshold
    skip_neutral_temps: bool = False
    carbs_req_threshold: float | None = None  # carbsReqThreshold
    max_daily_safety_multiplier: float | None = None
    current_basal_safety_multiplier: float | None = None


@dataclass(frozen=True, slots=True)
class MealData:
    """oref0 ``meal_data``: carbs in the last 6 h, COB, and deviation slopes."""

    carbs: float
    meal_cob: float
    slope_from_max_deviation: float
    slope_from_min_deviation: float
    last_carb_time_ms: float | None = None
    bw_found: bool = False
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Oref0Case:
    """A parsed CASE.  ``minute_of_hour`` is ``currentTime``'s minute in its own UTC
    offset (UTC for a number), used by ``skip_neutral_temps``."""

    glucose_status: GlucoseStatus
    currenttemp: CurrentTemp
    iob_data: IobData
    profile: Oref0Profile
    autosens_ratio: float | None
    meal_data: MealData
    micro_bolus_allowed: bool
    reservoir_data: Any
    current_time_ms: float
    minute_of_hour: int


# ----------------------------------------------------------------- readers


class _Obj:
    """A JSON object at key path ``path``, read field by field with clear errors."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            raise InputError(f"{_kind(value)} is not an object", field=path,
                             allowed="a JSON object")
        self.data: Mapping[str, Any] = value
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise InputError("is missing", field=self.at(key))
        return self.data[key]

    def number(self, key: str, *, low: float | None = None, low_open: bool = False,
               default: float | None = None, optional: bool = False) -> float | None:
        if key not in self.data:
            if optional:
                return default
            raise InputError("is missing", field=self.at(key), allowed="a number")
        return _number(self.data[key], self.at(key), low=low, low_open=low_open)

    def req_number(self, key: str, *, low: float | None = None, low_open: bool = False) -> float:
        value = self.number(key, low=low, low_open=low_open)
        assert value is not None
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            raise InputError(f"{_kind(value)} is not a boolean", field=self.at(key),
                             allowed="true or false")
        return value

    def opt_flag(self, key: str) -> bool | None:
        return self.flag(key) if key in self.data else None

    def text(self, key: str, *, choices: Sequence[str] | None = None) -> str | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, str):
            raise InputError(f"{_kind(value)} is not a string", field=self.at(key),
                             allowed=" or ".join(map(repr, choices)) if choices else "a string")
        if choices is not None and value not in choices:
            raise InputError(f"{value!r} is not allowed", field=self.at(key),
                             allowed=" or ".join(map(repr, choices)))
        return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return repr(value)


def _number(value: object, path: str, *, low: float | None = None,
            low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{_kind(value)} is not a number", field=path, allowed="a finite number")
    x = float(value)
    if not math.isfinite(x):
        raise InputError(f"{value!r} is not a finite number", field=path,
                         allowed="a finite number")
    if low is not None and (x <= low if low_open else x < low):
        raise InputError(f"{value!r} is out of range", field=path,
                         allowed=f"{'more than' if low_open else 'at least'} {low:g}")
    return x


def parse_time_ms(value: object, path: str) -> tuple[float, int]:
    """A time as oref0 accepts it: epoch milliseconds, or an ISO-8601 date-time with a UTC
    offset (``Z`` or ``±hh:mm``).  Returns (epoch ms, minute of the hour in that offset)."""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InputError(f"{value[:40]!r} is not an ISO-8601 date-time", field=path,
                             allowed="epoch milliseconds or an ISO-8601 date-time with "
                                     "a UTC offset") from exc
        if when.tzinfo is None:
            raise InputError(f"{value[:40]!r} has no UTC offset", field=path,
                             allowed="an ISO-8601 date-time ending in Z or ±hh:mm")
        return when.timestamp() * 1000.0, when.minute
    ms = _number(value, path)
    return ms, int((ms // 60_000) % 60)


# ----------------------------------------------------------------- sections


def _glucose_status(value: object) -> GlucoseStatus:
    g = _Obj(value, "glucose_status")
    date_ms, _ = parse_time_ms(g.raw("date"), g.at("date"))
    device = g.text("device")
    return GlucoseStatus(
        glucose=g.req_number("glucose", low=0.0),
        delta=g.req_number("delta"),
        short_avgdelta=g.req_number("short_avgdelta"),
        long_avgdelta=g.req_number("long_avgdelta"),
        date_ms=date_ms,
        noise=g.number("noise", optional=True) if g.has("noise") else None,
        device=device,
        last_cal=g.number("last_cal", optional=True) if g.has("last_cal") else None,
    )


def _currenttemp(value: object) -> CurrentTemp:
    t = _Obj(value, "currenttemp")
    t.text("temp", choices=("absolute",))
    return CurrentTemp(rate=t.req_number("rate", low=0.0),
                       duration=t.req_number("duration", low=0.0))


def _last_temp(value: object, path: str) -> LastTemp:
    t = _Obj(value, path)
    return LastTemp(
        date_ms=t.req_number("date"),
        rate=t.number("rate", optional=True) if t.has("rate") else None,
        duration=t.number("duration", optional=True) if t.has("duration") else None,
    )


def _iob_data(value: object, micro_bolus_allowed: bool) -> IobData:
    if isinstance(value, list):
        if len(value) < 2:
            # oref0 reads a one-element array as an object without "iob" and errors out.
            raise InputError(f"an array of {len(value)} tick(s)", field="iob_data",
                             allowed="oref0-calculate-iob's array (48 ticks; at least 2), "
                                     "or one IOB object")
        first = _Obj(value[0], "iob_data[0]")
        ticks = []
        for i, item in enumerate(value):
            tick = _Obj(item, f"iob_data[{i}]")
            zt = _Obj(tick.raw("iobWithZeroTemp"), tick.at("iobWithZeroTemp"))
            ticks.append(IobTick(
                iob=tick.req_number("iob"), activity=tick.req_number("activity"),
                zt_iob=zt.req_number("iob"), zt_activity=zt.req_number("activity"),
            ))
        head = first
    else:
        head = _Obj(value, "iob_data")
        ticks = []
    last_bolus = None
    if micro_bolus_allowed or head.has("lastBolusTime"):
        # Needed for the SMB interval; oref0 computes NaN and silently never boluses.
        last_bolus = head.req_number("lastBolusTime")
    last_temp = _last_temp(head.raw("lastTemp"), head.at("lastTemp")) \
        if head.has("lastTemp") else None
    return IobData(
        iob=head.req_number("iob"), activity=head.req_number("activity"), ticks=tuple(ticks),
        last_bolus_time_ms=last_bolus, last_temp=last_temp,
    )


def _profile(value: object) -> Oref0Profile:
    p = _Obj(value, "profile")

    def opt(key: str, *, low: float | None = None, low_open: bool = False) -> float | None:
        return p.number(key, low=low, low_open=low_open, optional=True)

    def multiplier(key: str) -> float | None:
        # oref0 (lib/basal-set-temp.js) takes null like a missing value: the default.
        return None if p.data.get(key, None) is None else opt(key, low=0.0)

    return Oref0Profile(
        current_basal=p.req_number("current_basal", low=0.0, low_open=True),
        min_bg=p.req_number("min_bg", low=0.0, low_open=True),
        max_bg=p.req_number("max_bg", low=0.0, low_open=True),
        sens=p.req_number("sens", low=0.0, low_open=True),
        carb_ratio=p.req_number("carb_ratio", low=0.0, low_open=True),
        max_iob=p.req_number("max_iob", low=0.0),
        max_basal=p.req_number("max_basal", low=0.0),
        max_daily_basal=p.req_number("max_daily_basal", low=0.0, low_open=True),
        model=p.text("model"),
        out_units=p.text("out_units", choices=(_MGDL, _MMOL)) or _MGDL,
        temptarget_set=p.flag("temptargetSet"),
        autosens_max=opt("autosens_max", low=0.0, low_open=True),
        exercise_mode=p.flag("exercise_mode"),
        high_temptarget_raises_sensitivity=p.flag("high_temptarget_raises_sensitivity"),
        low_temptarget_lowers_sensitivity=p.flag("low_temptarget_lowers_sensitivity"),
        sensitivity_raises_target=p.flag("sensitivity_raises_target"),
        resistance_lowers_target=p.flag("resistance_lowers_target"),
        half_basal_exercise_target=opt("half_basal_exercise_target"),
        noisy_cgm_target_multiplier=opt("noisyCGMTargetMultiplier", low=0.0),
        enable_uam=p.flag("enableUAM"),
        enable_smb_always=p.flag("enableSMB_always"),
        enable_smb_with_cob=p.flag("enableSMB_with_COB"),
        enable_smb_after_carbs=p.flag("enableSMB_after_carbs"),
        enable_smb_with_temptarget=p.flag("enableSMB_with_temptarget"),
        enable_smb_high_bg=p.flag("enableSMB_high_bg"),
        enable_smb_high_bg_target=opt("enableSMB_high_bg_target"),
        allow_smb_with_high_temptarget=p.flag("allowSMB_with_high_temptarget"),
        a52_risk_enable=p.opt_flag("A52_risk_enable"),
        max_smb_basal_minutes=opt("maxSMBBasalMinutes", low=0.0),
        max_uam_smb_basal_minutes=opt("maxUAMSMBBasalMinutes", low=0.0),
        bolus_increment=opt("bolus_increment", low=0.0),
        smb_interval=opt("SMBInterval"),
        remaining_carbs_cap=opt("remainingCarbsCap", low=0.0),
        remaining_carbs_fraction=opt("remainingCarbsFraction", low=0.0),
        max_delta_bg_threshold=opt("maxDelta_bg_threshold", low=0.0),
        skip_neutral_temps=p.flag("skip_neutral_temps"),
        carbs_req_threshold=opt("carbsReqThreshold"),
        max_daily_safety_multiplier=multiplier("max_daily_safety_multiplier"),
        current_basal_safety_multiplier=multiplier("current_basal_safety_multiplier"),
    )


def _autosens(value: object) -> float | None:
    if value is None:
        return None
    a = _Obj(value, "autosens")
    return a.req_number("ratio", low=0.0, low_open=True)


def _meal_data(value: object) -> MealData:
    m = _Obj(value, "meal_data")
    carbs = m.req_number("carbs", low=0.0)
    cob = m.req_number("mealCOB", low=0.0)
    if cob > 0.0 and carbs == 0.0:
        raise InputError(f"COB of {cob:g} g without any carbs", field="meal_data.mealCOB",
                         allowed="0 when meal_data.carbs is 0")
    last_carb = m.req_number("lastCarbTime") if carbs > 0.0 else (
        m.number("lastCarbTime", optional=True) if m.has("lastCarbTime") else None)
    return MealData(
        carbs=carbs,
        meal_cob=cob,
        slope_from_max_deviation=m.req_number("slopeFromMaxDeviation"),
        slope_from_min_deviation=m.req_number("slopeFromMinDeviation"),
        last_carb_time_ms=last_carb,
        bw_found=m.flag("bwFound"),
        reason=m.text("reason"),
    )


def parse_case(case: Mapping[str, Any]) -> Oref0Case:
    """Parse a CASE object; :class:`~pumplab.errors.InputError` names any bad field."""
    root = _Obj(case, "")
    for key in CASE_KEYS:
        if key != "reservoir_data" and key not in root.data:
            raise InputError("is missing", field=key,
                             allowed="a CASE holds " + ", ".join(CASE_KEYS[:-2])
                                     + ", currentTime (reservoir_data optional)")
    micro = root.flag("microBolusAllowed")
    now_ms, minute = parse_time_ms(root.raw("currentTime"), "currentTime")
    return Oref0Case(
        glucose_status=_glucose_status(root.raw("glucose_status")),
        currenttemp=_currenttemp(root.raw("currenttemp")),
        iob_data=_iob_data(root.raw("iob_data"), micro),
        profile=_profile(root.raw("profile")),
        autosens_ratio=_autosens(root.raw("autosens")),
        meal_data=_meal_data(root.raw("meal_data")),
        micro_bolus_allowed=micro,
        reservoir_data=root.data.get("reservoir_data"),
        current_time_ms=now_ms,
        minute_of_hour=minute,
    )


# ----------------------------------------------------------------- back to JSON

#: Oref0Profile attributes and the profile keys oref0 reads them from, where they differ.
_PROFILE_KEYS = {
    "temptarget_set": "temptargetSet",
    "noisy_cgm_target_multiplier": "noisyCGMTargetMultiplier",
    "enable_uam": "enableUAM",
    "enable_smb_always": "enableSMB_always",
    "enable_smb_with_cob": "enableSMB_with_COB",
    "enable_smb_after_carbs": "enableSMB_after_carbs",
    "enable_smb_with_temptarget": "enableSMB_with_temptarget",
    "enable_smb_high_bg": "enableSMB_high_bg",
    "enable_smb_high_bg_target": "enableSMB_high_bg_target",
    "allow_smb_with_high_temptarget": "allowSMB_with_high_temptarget",
    "a52_risk_enable": "A52_risk_enable",
    "max_smb_basal_minutes": "maxSMBBasalMinutes",
    "max_uam_smb_basal_minutes": "maxUAMSMBBasalMinutes",
    "smb_interval": "SMBInterval",
    "remaining_carbs_cap": "remainingCarbsCap",
    "remaining_carbs_fraction": "remainingCarbsFraction",
    "max_delta_bg_threshold": "maxDelta_bg_threshold",
    "carbs_req_threshold": "carbsReqThreshold",
}


def _profile_json(profile: Oref0Profile) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in Oref0Profile.__dataclass_fields__:
        value = getattr(profile, name)
        if value is None:
            continue  # absent: oref0's default
        out[_PROFILE_KEYS.get(name, name)] = value
    return out


def case_to_json(case: Oref0Case) -> dict[str, Any]:
    """``case`` as the CASE object oref0's determine-basal takes (``parse_case`` of it
    gives ``case`` back, ``currentTime`` as epoch milliseconds)."""
    g = case.glucose_status
    status: dict[str, Any] = {"glucose": g.glucose, "delta": g.delta,
                              "short_avgdelta": g.short_avgdelta,
                              "long_avgdelta": g.long_avgdelta, "date": g.date_ms}
    for key, value in (("noise", g.noise), ("device", g.device), ("last_cal", g.last_cal)):
        if value is not None:
            status[key] = value
    iob = case.iob_data
    head: dict[str, Any] = {}
    if iob.last_bolus_time_ms is not None:
        head["lastBolusTime"] = iob.last_bolus_time_ms
    if iob.last_temp is not None:
        last: dict[str, Any] = {"date": iob.last_temp.date_ms}
        if iob.last_temp.rate is not None:
            last["rate"] = iob.last_temp.rate
        if iob.last_temp.duration is not None:
            last["duration"] = iob.last_temp.duration
        head["lastTemp"] = last
    iob_json: Any
    if iob.ticks:
        iob_json = [{"iob": t.iob, "activity": t.activity,
                     "iobWithZeroTemp": {"iob": t.zt_iob, "activity": t.zt_activity}}
                    for t in iob.ticks]
        iob_json[0].update(head)
    else:
        iob_json = {"iob": iob.iob, "activity": iob.activity, **head}
    m = case.meal_data
    meal: dict[str, Any] = {"carbs": m.carbs, "mealCOB": m.meal_cob,
                            "slopeFromMaxDeviation": m.slope_from_max_deviation,
                            "slopeFromMinDeviation": m.slope_from_min_deviation,
                            "bwFound": m.bw_found}
    if m.last_carb_time_ms is not None:
        meal["lastCarbTime"] = m.last_carb_time_ms
    if m.reason is not None:
        meal["reason"] = m.reason
    out: dict[str, Any] = {
        "glucose_status": status,
        "currenttemp": {"rate": case.currenttemp.rate, "duration": case.currenttemp.duration,
                        "temp": "absolute"},
        "iob_data": iob_json,
        "profile": _profile_json(case.profile),
        "autosens": None if case.autosens_ratio is None else {"ratio": case.autosens_ratio},
        "meal_data": meal,
        "microBolusAllowed": case.micro_bolus_allowed,
        "currentTime": case.current_time_ms,
    }
    if case.reservoir_data is not None:
        out["reservoir_data"] = case.reservoir_data
    return out

"""oref0 determine-basal (OpenAPS reference design, oref0 0.7.1), ported stage by stage.

:func:`determine_basal` takes a parsed :class:`~.case.Oref0Case` and returns an
:class:`Oref0Result` with oref0's outputs (``rate``, ``duration``, ``units``,
``eventualBG``, ``predBGs``, ...) and the reasoning as structured
:class:`~pumplab.control.interface.Reason` s.  The stages follow
``lib/determine-basal/determine-basal.js`` in order; each function below names
the part of that file it implements:

1. :func:`_cgm_unusable` — calibrating, noisy (noise ≥ 3), stale (> 12 min or
   > 5 min in the future) or flat CGM data: cancel a high temp, shorten a long
   zero temp, otherwise do nothing;
2. :func:`_targets` — the BG target, the sensitivity ratio (temp target or
   autosens), the adjusted basal and ISF, the noisy-CGM target raise and the
   low-glucose suspend ``threshold`` (min_bg − ½(min_bg − 40));
3. :func:`_temp_history_mismatch` — cancel a temp the pump history does not
   explain;
4. :func:`_glucose_effects` — BG impact of insulin, deviation, naive and
   eventual BG, expected delta;
5. :func:`_carb_model` — carb impact, remaining carb absorption time and peak;
6. :mod:`.predict` — the four prediction curves;
7. :func:`_blend` — average, guard and minimum predicted BGs;
8. :func:`_carbs_required` — carbs needed to avoid a low; SMB disabled near a
   low or on a sudden rise;
9. :func:`_dose` — the decision: low-glucose suspend, low temp, neutral temp,
   SMB with its low temp, or high temp up to the max-safe-basal multipliers;
10. :func:`_set_temp_basal` — oref0's ``setTempBasal``: the max-safe-basal
    clamp, basal rounding, and "a similar temp is running: leave it".

Faithfulness: every number is computed in oref0's order of operations with
JavaScript rounding (:mod:`._jsmath`), so the outputs agree with real oref0
(see tests/control/test_control_oref0_peer.py and docs/controllers.md for the
agreement measured).  Where pumplab differs it is at the input boundary, never
in the maths: a missing or mistyped field is refused instead of turning into
NaN (:mod:`.case`), and ``skip_neutral_temps`` reads the minute of the hour in
``currentTime``'s own UTC offset rather than the host's time zone.

No I/O, no clock: the time is ``currentTime``.  oref0 logs to stderr; the
port's log is its reasons.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pumplab.control.interface import Reason
from pumplab.control.oref0._jsmath import (
    js_div,
    js_mathround,
    js_number,
    js_round,
    js_str,
    js_to_fixed,
    round_basal,
)
from pumplab.control.oref0.case import Oref0Case, Oref0Profile, parse_case
from pumplab.control.oref0.predict import NO_MIN, CarbModel, Predictions, finish, predict
from pumplab.errors import InputError

__all__ = [
    "Oref0Result",
    "Step",
    "determine_basal",
    "determine_basal_case",
    "max_safe_basal",
]

# ---------------------------------------------------------------- constants (oref0 0.7.1)

#: CGM values at or below 10 mg/dL, and 38 (an xDrip error code), are sensor states.
CGM_ERROR_MAX_MG_DL = 10.0
CGM_ERROR_CODE_MG_DL = 38.0
#: noise ≥ 3 is "high": no decision.  noise ≥ 2 raises the targets.
NOISE_HIGH = 3.0
NOISE_MEDIUM = 2.0
#: BG older than 12 min, or more than 5 min in the future, is not used.
STALE_AFTER_MIN = 12.0
FUTURE_LIMIT_MIN = -5.0
#: Flat-CGM test applies above 60 mg/dL, with average deltas inside ±1 mg/dL/5 min.
FLAT_MIN_BG_MG_DL = 60.0
FLAT_AVG_DELTA = 1.0
FAKE_CGM_DEVICE = "fakecgm"
#: Temp targets are judged against 100 mg/dL; a temp target of 160 halves the basal.
NORMAL_TARGET_MG_DL = 100.0
DEFAULT_HALF_BASAL_TARGET_MG_DL = 160.0
#: Autosens moves targets about 60 mg/dL; never below 80.
AUTOSENS_TARGET_PIVOT_MG_DL = 60.0
MIN_AUTOSENS_TARGET_MG_DL = 80.0
#: Noisy CGM raises targets by at least 10 %, to at most 200 mg/dL.
MIN_NOISY_TARGET_MULTIPLIER = 1.1
MAX_NOISY_TARGET_MG_DL = 200.0
#: Threshold = min_bg − ½ (min_bg − 40): 90 → 65, 100 → 70, 110 → 75.
THRESHOLD_FLOOR_MG_DL = 40.0
#: Deviations are projected 30 min (6 five-minute steps); eventual BG is reached in 2 h.
DEVIATION_STEPS = 6.0
EXPECTED_DELTA_BLOCKS = 24.0
#: Carb absorption assumptions (g/h) and the minimum remaining absorption time (h).
MAX_CARB_ABSORPTION_G_PER_H = 30.0
ASSUMED_CARB_ABSORPTION_G_PER_H = 20.0
MIN_REMAINING_CA_TIME_H = 3.0
DEFAULT_REMAINING_CARBS_CAP_G = 90.0
#: A zero temp for a predicted low lasts 30–120 min in 30-min steps.
LGS_MIN_DURATION_MIN = 30.0
MAX_ZERO_TEMP_MIN = 120.0
TEMP_STEP_MIN = 30.0
#: SMB defaults: 30 basal-minutes per SMB, 0.1 U steps, 3 min apart (1–10 allowed),
#: zero temps with an SMB at most 60 min; disabled if BG rose > 20 % (max 30 %) in 5 min.
DEFAULT_SMB_BASAL_MINUTES = 30.0
DEFAULT_BOLUS_INCREMENT_U = 0.1
DEFAULT_SMB_INTERVAL_MIN = 3.0
SMB_INTERVAL_RANGE_MIN = (1.0, 10.0)
MAX_SMB_ZERO_TEMP_MIN = 60.0
DEFAULT_MAX_DELTA_BG_THRESHOLD = 0.2
MAX_MAX_DELTA_BG_THRESHOLD = 0.3
#: Max-safe-basal multipliers: 3 × the highest scheduled basal, 4 × the current one.
DEFAULT_MAX_DAILY_SAFETY_MULTIPLIER = 3.0
DEFAULT_CURRENT_BASAL_SAFETY_MULTIPLIER = 4.0
#: Neutral-temp cancel before the top of the hour (skip_neutral_temps).
CANCEL_BEFORE_HOUR_MINUTE = 55
#: A running temp within 80–120 % of the request, ending no sooner than 10 min before
#: the new one would, and at most 120 min long, is left alone.
SIMILAR_TEMP_LOW = 0.8
SIMILAR_TEMP_HIGH = 1.2
SIMILAR_TEMP_SLACK_MIN = 10.0
SIMILAR_TEMP_MAX_MIN = 120.0
MMOL_PER_MG = 18.0


class Step(enum.StrEnum):
    """Reason codes: which branch of determine-basal spoke."""

    CGM_CALIBRATING = "cgm_calibrating_or_noisy"
    CGM_STALE = "cgm_stale"
    CGM_FLAT = "cgm_flat"
    CGM_JUST_CALIBRATED = "cgm_just_calibrated"
    REPLACE_HIGH_TEMP = "replace_high_temp"
    SHORTEN_ZERO_TEMP = "shorten_zero_temp"
    NOTHING_ON_BAD_CGM = "nothing_on_bad_cgm"
    TEMP_MISMATCH = "temp_mismatch_cancel"
    TEMP_ENDED = "temp_ended_cancel"
    SUMMARY = "summary"
    SMB_OFF_MAX_DELTA = "smb_disabled_max_delta"
    CARBS_REQUIRED = "carbs_required"
    NEGATIVE_IOB_RISING = "negative_iob_rising"
    LOW_GLUCOSE_SUSPEND = "low_glucose_suspend"
    CANCEL_BEFORE_HOUR = "cancel_before_hour"
    EVENTUAL_BELOW_MIN = "eventual_below_min"
    NAIVE_BELOW_40 = "naive_eventual_below_40"
    RISING_FASTER = "rising_faster_than_expected"
    TEMP_MATCHES_BASAL = "temp_matches_basal"
    SET_BASAL_AS_TEMP = "set_basal_as_temp"
    TEMP_FAR_BELOW_NEED = "temp_far_below_need"
    LOW_TEMP_RUNNING = "low_temp_running"
    ZERO_TEMP = "zero_temp"
    LOW_TEMP = "low_temp"
    FALLING_FASTER = "falling_faster_than_expected"
    IN_RANGE = "in_range"
    EVENTUAL_ABOVE_MAX = "eventual_above_max"
    IOB_ABOVE_MAX = "iob_above_max"
    MAX_IOB_LIMITS = "max_iob_limits_insulin_req"
    SMB_INSULIN_REQ = "smb_insulin_req"
    MICROBOLUS = "microbolus"
    SMB_WAIT = "smb_wait"
    MAX_SAFE_BASAL = "max_safe_basal"
    TEMP_TOO_HIGH = "temp_too_high"
    NO_TEMP_SET_HIGH = "no_temp_set_high"
    TEMP_HIGH_ENOUGH = "temp_high_enough"
    TEMP_TOO_LOW = "temp_too_low"
    SIMILAR_TEMP_RUNNING = "similar_temp_running"
    NEUTRAL_TEMP = "neutral_temp"
    NEUTRAL_SKIPPED = "neutral_skipped"


# ---------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class Oref0Result:
    """determine-basal's answer.  ``None`` fields are absent from oref0's output.

    ``rate``/``duration`` is the temp basal to set (duration 0 with rate 0
    cancels the running temp; both None: leave the pump as it is); ``units`` a
    super micro-bolus.  BGI, deviation, ISF and target are in ``out_units``
    (numbers for mg/dL, strings for mmol/L, as oref0 prints them).
    """

    reasons: tuple[Reason, ...]
    rate: float | None = None
    duration: float | None = None
    units: float | None = None
    eventual_bg: float | None = None
    deliver_at_ms: float | None = None
    temp: str | None = None
    bg: float | None = None
    tick: str | float | None = None
    insulin_req: float | None = None
    reservoir: Any = None
    has_reservoir: bool = False
    sensitivity_ratio: float | None = None
    pred_bgs: Mapping[str, tuple[float, ...]] | None = None
    cob: float | None = None
    iob: float | None = None
    bgi: float | str | None = None
    deviation: float | str | None = None
    isf: float | str | None = None
    cr: float | None = None
    target_bg: float | str | None = None
    carbs_req: float | None = None

    @property
    def reason(self) -> str:
        """The reasons joined as oref0 prints its ``reason`` string."""
        return "".join(r.text for r in self.reasons)

    def to_json(self) -> dict[str, Any]:
        """The output as oref0 prints it (``suggested.json``), keys in oref0's order."""
        out: dict[str, Any] = {}

        def put(key: str, value: Any) -> None:
            if value is not None:
                out[key] = js_number(value) if isinstance(value, float) else value

        put("temp", self.temp)
        put("bg", self.bg)
        put("tick", self.tick)
        put("eventualBG", self.eventual_bg)
        put("insulinReq", self.insulin_req)
        if self.has_reservoir:
            out["reservoir"] = self.reservoir
        if self.deliver_at_ms is not None:
            out["deliverAt"] = _iso(self.deliver_at_ms)
        put("sensitivityRatio", self.sensitivity_ratio)
        if self.pred_bgs is not None:
            out["predBGs"] = {k: [js_number(v) for v in vs] for k, vs in self.pred_bgs.items()}
        put("COB", self.cob)
        put("IOB", self.iob)
        put("BGI", self.bgi)
        put("deviation", self.deviation)
        put("ISF", self.isf)
        put("CR", self.cr)
        put("target_bg", self.target_bg)
        put("carbsReq", self.carbs_req)
        if self.reasons:
            out["reason"] = self.reason
        put("units", self.units)
        put("rate", self.rate)
        put("duration", self.duration)
        return out


def _iso(ms: float) -> str:
    # JavaScript Date#toJSON: UTC, millisecond precision, "Z".
    whole = math.floor(ms)
    when = datetime.fromtimestamp(whole // 1000, tz=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{whole % 1000:03d}Z"


class _Draft:
    """oref0's ``rT`` under construction: fields and reasons (private, mutable)."""

    def __init__(self, case: Oref0Case) -> None:
        self.case = case
        self.reasons: list[Reason] = []
        self.fields: dict[str, Any] = {}

    def say(self, step: Step, text: str, **values: float) -> None:
        self.reasons.append(Reason(str(step), text, tuple(values.items())))

    def reason_text(self) -> str:
        return "".join(r.text for r in self.reasons)

    def result(self) -> Oref0Result:
        return Oref0Result(reasons=tuple(self.reasons), **self.fields)


# ---------------------------------------------------------------- helpers


def max_safe_basal(profile: Oref0Profile) -> float:
    """oref0 ``getMaxSafeBasal``: min(max_basal, 3 × max daily basal, 4 × current basal)."""
    daily = profile.max_daily_safety_multiplier
    current = profile.current_basal_safety_multiplier
    return min(
        profile.max_basal,
        (DEFAULT_MAX_DAILY_SAFETY_MULTIPLIER if daily is None else daily)
        * profile.max_daily_basal,
        (DEFAULT_CURRENT_BASAL_SAFETY_MULTIPLIER if current is None else current)
        * profile.current_basal,
    )


def _convert_bg(value: float, profile: Oref0Profile) -> float | str:
    """oref0 ``convert_bg``: mg/dL rounded, or mmol/L to one decimal as a string."""
    if profile.out_units == "mmol/L":
        return js_to_fixed(js_round(value / MMOL_PER_MG, 1), 1)
    return js_mathround(value)


def _bg_text(value: float, profile: Oref0Profile) -> str:
    shown = _convert_bg(value, profile)
    return shown if isinstance(shown, str) else js_str(shown)


def _rb(rate: float, profile: Oref0Profile) -> float:
    return round_basal(rate, profile.model)


def _set_temp_basal(rate: float, duration: float, draft: _Draft) -> Oref0Result:
    """oref0 ``tempBasalFunctions.setTempBasal`` (``lib/basal-set-temp.js``)."""
    profile, current = draft.case.profile, draft.case.currenttemp
    safe = max_safe_basal(profile)
    if rate < 0:
        rate = 0.0
    elif rate > safe:
        rate = safe
    suggested = _rb(rate, profile)
    if (current.duration > duration - SIMILAR_TEMP_SLACK_MIN
            and current.duration <= SIMILAR_TEMP_MAX_MIN
            and suggested <= current.rate * SIMILAR_TEMP_HIGH
            and suggested >= current.rate * SIMILAR_TEMP_LOW
            and duration > 0):
        draft.say(Step.SIMILAR_TEMP_RUNNING,
                  f" {js_str(current.duration)}m left and {js_str(current.rate)} ~ req "
                  f"{js_str(suggested)}U/hr: no temp required",
                  requested_u_per_h=suggested)
        return draft.result()

    def note(step: Step, msg: str) -> None:
        # oref0's reason(): ". " between the existing reason and msg.
        draft.say(step, (". " if draft.reason_text() else "") + msg)

    if suggested == profile.current_basal:
        if profile.skip_neutral_temps:
            if current.duration > 0:
                note(Step.NEUTRAL_SKIPPED, "Suggested rate is same as profile rate, a temp basal "
                                           "is active, canceling current temp")
                draft.fields.update(duration=0.0, rate=0.0)
            else:
                note(Step.NEUTRAL_SKIPPED, "Suggested rate is same as profile rate, no temp "
                                           "basal is active, doing nothing")
            return draft.result()
        note(Step.NEUTRAL_TEMP,
             f"Setting neutral temp basal of {js_str(profile.current_basal)}U/hr")
    draft.fields.update(duration=duration, rate=suggested)
    return draft.result()


# ---------------------------------------------------------------- stage 1: CGM data


def _cgm_unusable(draft: _Draft, basal: float) -> Oref0Result | None:
    """Stop on unusable CGM data (determine-basal.js, "error conditions")."""
    case = draft.case
    gs, temp = case.glucose_status, case.currenttemp
    min_ago = js_round((case.current_time_ms - gs.date_ms) / 60 / 1000, 1)
    bg = gs.glucose
    noise_high = gs.noise is not None and gs.noise >= NOISE_HIGH
    calibrating = bg <= CGM_ERROR_MAX_MG_DL or bg == CGM_ERROR_CODE_MG_DL or noise_high
    too_flat = (bg > FLAT_MIN_BG_MG_DL and gs.delta == 0
                and -FLAT_AVG_DELTA < gs.short_avgdelta < FLAT_AVG_DELTA
                and -FLAT_AVG_DELTA < gs.long_avgdelta < FLAT_AVG_DELTA
                and gs.device != FAKE_CGM_DEVICE)
    stale = min_ago > STALE_AFTER_MIN or min_ago < FUTURE_LIMIT_MIN
    if not (calibrating or stale or too_flat):
        return None
    # The last matching explanation wins, as in oref0 (each assignment overwrites).
    if stale:
        step, text = Step.CGM_STALE, (
            f"If current system time {_iso(case.current_time_ms)} is correct, then BG data is "
            f"too old. The last BG data was read {js_str(min_ago)}m ago at "
            f"{_iso(gs.date_ms)}")
    elif too_flat:
        if gs.last_cal is not None and gs.last_cal and gs.last_cal < 3:
            step, text = Step.CGM_JUST_CALIBRATED, "CGM was just calibrated"
        else:
            step, text = Step.CGM_FLAT, (
                f"CGM data is unchanged ({js_str(bg)}+{js_str(gs.delta)}) for 5m w/ "
                f"{js_str(gs.short_avgdelta)} mg/dL ~15m change & {js_str(gs.long_avgdelta)} "
                f"mg/dL ~45m change")
    else:
        step, text = Step.CGM_CALIBRATING, "CGM is calibrating, in ??? state, or noise is high"
    draft.say(step, text, bg_mg_dl=bg, minutes_ago=min_ago)
    if temp.rate > basal:
        draft.say(Step.REPLACE_HIGH_TEMP, f". Replacing high temp basal of {js_str(temp.rate)} "
                                          f"with neutral temp of {js_str(basal)}")
        draft.fields.update(deliver_at_ms=case.current_time_ms, temp="absolute", duration=30.0,
                            rate=basal)
    elif temp.rate == 0 and temp.duration > 30:
        draft.say(Step.SHORTEN_ZERO_TEMP,
                  f". Shortening {js_str(temp.duration)}m long zero temp to 30m. ")
        draft.fields.update(deliver_at_ms=case.current_time_ms, temp="absolute", duration=30.0,
                            rate=0.0)
    else:
        draft.say(Step.NOTHING_ON_BAD_CGM, f". Temp {js_str(temp.rate)} <= current basal "
                                           f"{js_str(basal)}U/hr; doing nothing. ")
    return draft.result()


# ---------------------------------------------------------------- stage 2: targets


@dataclass(frozen=True, slots=True)
class _Targets:
    min_bg: float
    max_bg: float
    target_bg: float
    high_bg: float | None
    sensitivity_ratio: float | None
    basal: float
    sens: float
    threshold: float


def _targets(case: Oref0Case) -> _Targets:
    """Targets, sensitivity ratio, adjusted basal and ISF (determine-basal.js, after the
    CGM checks up to the ISF adjustment)."""
    profile, autosens = case.profile, case.autosens_ratio
    min_bg, max_bg = profile.min_bg, profile.max_bg
    target_bg = (min_bg + max_bg) / 2
    high_raises = profile.exercise_mode or profile.high_temptarget_raises_sensitivity
    half_basal = profile.half_basal_exercise_target or DEFAULT_HALF_BASAL_TARGET_MG_DL
    ratio: float | None = None
    if ((high_raises and profile.temptarget_set and target_bg > NORMAL_TARGET_MG_DL)
            or (profile.low_temptarget_lowers_sensitivity and profile.temptarget_set
                and target_bg < NORMAL_TARGET_MG_DL)):
        if profile.autosens_max is None:
            raise InputError("is missing; a temp target sets the sensitivity ratio",
                             field="profile.autosens_max", allowed="a number above 0")
        c = half_basal - NORMAL_TARGET_MG_DL
        # c·(c + target − 100) ≤ 0: a very low target with a low half-basal target.
        if c * (c + target_bg - NORMAL_TARGET_MG_DL) <= 0.0:
            ratio = profile.autosens_max
        else:
            ratio = c / (c + target_bg - NORMAL_TARGET_MG_DL)
        ratio = js_round(min(ratio, profile.autosens_max), 2)
    elif autosens is not None:
        ratio = autosens
    basal = _rb(profile.current_basal, profile)
    if ratio:
        basal = _rb(profile.current_basal * ratio, profile)
    if not profile.temptarget_set and autosens is not None and (
            (profile.sensitivity_raises_target and autosens < 1)
            or (profile.resistance_lowers_target and autosens > 1)):
        pivot = AUTOSENS_TARGET_PIVOT_MG_DL
        min_bg = js_round((min_bg - pivot) / autosens) + pivot
        max_bg = js_round((max_bg - pivot) / autosens) + pivot
        target_bg = max(MIN_AUTOSENS_TARGET_MG_DL, js_round((target_bg - pivot) / autosens) + pivot)
    noise = case.glucose_status.noise
    if noise is not None and noise >= NOISE_MEDIUM:
        if profile.noisy_cgm_target_multiplier is None:
            raise InputError("is missing; noise 2 raises the targets by it",
                             field="profile.noisyCGMTargetMultiplier", allowed="a number")
        mult = max(MIN_NOISY_TARGET_MULTIPLIER, profile.noisy_cgm_target_multiplier)
        min_bg = js_round(min(MAX_NOISY_TARGET_MG_DL, min_bg * mult))
        target_bg = js_round(min(MAX_NOISY_TARGET_MG_DL, target_bg * mult))
        max_bg = js_round(min(MAX_NOISY_TARGET_MG_DL, max_bg * mult))
    threshold = min_bg - 0.5 * (min_bg - THRESHOLD_FLOOR_MG_DL)
    sens = profile.sens
    if autosens is not None:
        assert ratio is not None
        sens = js_round(profile.sens / ratio, 1)
    return _Targets(min_bg, max_bg, target_bg, profile.enable_smb_high_bg_target, ratio, basal,
                    sens, threshold)


# ---------------------------------------------------------------- stage 3: temp history


def _temp_history_mismatch(draft: _Draft) -> Oref0Result | None:
    """Cancel a running temp the pump history does not explain (determine-basal.js,
    "Compare currenttemp to iob_data.lastTemp")."""
    case = draft.case
    temp, last = case.currenttemp, case.iob_data.last_temp
    if last is None:
        return None
    last_age = js_round((case.current_time_ms - last.date_ms) / 60000)
    if (case.micro_bolus_allowed and temp.rate != last.rate and last_age > 10
            and temp.duration):
        draft.say(Step.TEMP_MISMATCH,
                  f"Warning: currenttemp rate {js_str(temp.rate)} != lastTemp rate "
                  f"{'undefined' if last.rate is None else js_str(last.rate)} from pumphistory; "
                  f"canceling temp")
        return _set_temp_basal(0.0, 0.0, draft)
    if temp.duration > 0 and last.duration is not None:
        ended = last_age - last.duration
        if ended > 5 and last_age > 10:
            draft.say(Step.TEMP_ENDED, f"Warning: currenttemp running but lastTemp from "
                                       f"pumphistory ended {js_str(ended)}m ago; canceling temp")
            return _set_temp_basal(0.0, 0.0, draft)
    return None


# ---------------------------------------------------------------- stage 4: glucose effects


@dataclass(frozen=True, slots=True)
class _Effects:
    min_delta: float
    min_avg_delta: float
    max_delta: float
    bgi: float
    deviation: float
    naive_eventual_bg: float
    eventual_bg: float
    expected_delta: float


def _glucose_effects(case: Oref0Case, t: _Targets) -> _Effects:
    """BGI, deviation, naive and eventual BG, expected delta (determine-basal.js)."""
    gs, iob = case.glucose_status, case.iob_data
    min_delta = min(gs.delta, gs.short_avgdelta)
    min_avg_delta = min(gs.short_avgdelta, gs.long_avgdelta)
    max_delta = max(gs.delta, gs.short_avgdelta, gs.long_avgdelta)
    bgi = js_round(-iob.activity * t.sens * 5, 2)
    # Project the deviation 30 min; on a drop, trust the averages rather than one delta.
    deviation = js_round(30 / 5 * (min_delta - bgi))
    if deviation < 0:
        deviation = js_round((30 / 5) * (min_avg_delta - bgi))
        if deviation < 0:
            deviation = js_round((30 / 5) * (gs.long_avgdelta - bgi))
    if iob.iob > 0:
        naive = js_round(gs.glucose - (iob.iob * t.sens))
    else:  # negative IOB: the lower of the adjusted and profile ISF, to be conservative
        naive = js_round(gs.glucose - (iob.iob * min(t.sens, case.profile.sens)))
    eventual = naive + deviation
    expected = js_round(bgi + ((t.target_bg - eventual) / EXPECTED_DELTA_BLOCKS), 1)
    return _Effects(min_delta, min_avg_delta, max_delta, bgi, deviation, naive, eventual,
                    expected)


# ---------------------------------------------------------------- stage 5: carbs


def _carb_model(case: Oref0Case, t: _Targets, e: _Effects) -> tuple[CarbModel, float]:
    """Carb impact now and the absorption still expected (determine-basal.js, "carb
    impact"); returns the model and the carb sensitivity factor (mg/dL per g)."""
    profile, meal = case.profile, case.meal_data
    ci = js_round(e.min_delta - e.bgi, 1)
    uci = js_round(e.min_delta - e.bgi, 1)
    # Autosens-adjusted ISF over CR keeps the autotuned CR in effect (oref0's comment).
    csf = t.sens / profile.carb_ratio
    max_ci = js_round(MAX_CARB_ABSORPTION_G_PER_H * csf * 5 / 60, 1)
    if ci > max_ci:
        ci = max_ci
    remaining_min_h = MIN_REMAINING_CA_TIME_H
    if t.sensitivity_ratio:
        remaining_min_h = remaining_min_h / t.sensitivity_ratio
    remaining_h = remaining_min_h
    if meal.carbs:
        remaining_min_h = max(remaining_min_h, meal.meal_cob / ASSUMED_CARB_ABSORPTION_G_PER_H)
        assert meal.last_carb_time_ms is not None
        last_carb_age = js_round((case.current_time_ms - meal.last_carb_time_ms) / 60000)
        # A meal an hour old gets 1.5 h more absorption time.
        remaining_h = js_round(remaining_min_h + 1.5 * last_carb_age / 60, 1)
    total_ci = max(0.0, ci / 5 * 60 * remaining_h / 2)
    total_ca = total_ci / csf
    cap = DEFAULT_REMAINING_CARBS_CAP_G
    fraction = 1.0
    if profile.remaining_carbs_cap:
        cap = min(DEFAULT_REMAINING_CARBS_CAP_G, profile.remaining_carbs_cap)
    if profile.remaining_carbs_fraction:
        fraction = min(1.0, profile.remaining_carbs_fraction)
    ignore = 1 - fraction
    remaining = max(0.0, meal.meal_cob - total_ca - meal.carbs * ignore)
    remaining = min(cap, remaining)
    # Unabsorbed carbs arrive as a triangle over remainingCATime peaking at its middle.
    remaining_peak = js_div(remaining * csf * 5 / 60, remaining_h / 2)
    slope_max = js_round(meal.slope_from_max_deviation, 2)
    slope_min = js_round(meal.slope_from_min_deviation, 2)
    slope = min(slope_max, -slope_min / 3)
    cid = 0.0 if ci == 0 else min(remaining_h * 60 / 5 / 2,
                                  max(0.0, js_div(meal.meal_cob * csf, ci)))
    return CarbModel(ci, uci, cid, remaining_h, remaining_peak, slope), csf


# ---------------------------------------------------------------- stage 7: blending


@dataclass(frozen=True, slots=True)
class _Blend:
    eventual_bg: float
    min_pred_bg: float
    min_guard_bg: float
    avg_pred_bg: float
    pred_bgs: dict[str, tuple[float, ...]]
    last_iob: float
    last_cob: float | None
    last_uam: float | None
    cob_curve_used: bool


def _enable_smb(case: Oref0Case, t: _Targets, bg: float) -> bool:
    """oref0 ``enable_smb``: SMB permitted and one of its enabling conditions holds."""
    p, meal = case.profile, case.meal_data
    if not case.micro_bolus_allowed:
        return False
    if not p.allow_smb_with_high_temptarget and p.temptarget_set and t.target_bg > 100:
        return False
    if meal.bw_found and p.a52_risk_enable is False:
        return False
    return bool(
        p.enable_smb_always
        or (p.enable_smb_with_cob and meal.meal_cob)
        or (p.enable_smb_after_carbs and meal.carbs)
        or (p.enable_smb_with_temptarget and p.temptarget_set and t.target_bg < 100)
        or (p.enable_smb_high_bg and t.high_bg is not None and bg >= t.high_bg))


def _blend(case: Oref0Case, t: _Targets, e: _Effects, carbs: CarbModel,
           pred: Predictions) -> _Blend:
    """Printed curves, eventual BG with carbs, avg/guard/min predicted BG (determine-basal.js,
    after the prediction loop)."""
    profile, meal = case.profile, case.meal_data
    enable_uam = profile.enable_uam
    eventual = e.eventual_bg
    pred_bgs: dict[str, tuple[float, ...]] = {}
    pred_bgs["IOB"] = finish(pred.iob, "iob", t.target_bg)
    last_iob = js_mathround(pred_bgs["IOB"][-1])
    pred_bgs["ZT"] = finish(pred.zt, "zt", t.target_bg)
    carbs_seen = carbs.ci > 0 or carbs.remaining_ci_peak > 0
    cob_curve_used = meal.meal_cob > 0 and carbs_seen
    last_cob = last_uam = None
    if cob_curve_used:
        pred_bgs["COB"] = finish(pred.cob, "cob", t.target_bg)
        last_cob = js_mathround(pred_bgs["COB"][-1])
        eventual = max(eventual, js_mathround(pred_bgs["COB"][-1]))
    if carbs_seen and enable_uam:
        pred_bgs["UAM"] = finish(pred.uam, "uam", t.target_bg)
        last_uam = js_mathround(pred_bgs["UAM"][-1])
        if pred_bgs["UAM"][-1]:
            eventual = max(eventual, js_mathround(pred_bgs["UAM"][-1]))

    min_iob = max(39.0, pred.min_iob_pred)
    min_cob = max(39.0, pred.min_cob_pred)
    min_uam = max(39.0, pred.min_uam_pred)
    min_pred = js_mathround(min_iob)
    # Fraction of the carbs still on board weights COB against UAM (carbs 0: unused).
    left = js_div(meal.meal_cob, meal.carbs)
    last_cob_raw = pred.last_cob if pred.last_cob is not None else math.nan
    last_uam_raw = pred.last_uam if pred.last_uam is not None else math.nan
    if min_uam < NO_MIN and min_cob < NO_MIN:
        avg = js_mathround((1 - left) * last_uam_raw + left * last_cob_raw)
    elif min_cob < NO_MIN:
        avg = js_mathround((pred.last_iob + last_cob_raw) / 2)
    elif min_uam < NO_MIN:
        avg = js_mathround((pred.last_iob + last_uam_raw) / 2)
    else:
        avg = js_mathround(pred.last_iob)
    if pred.min_zt_guard > avg:
        avg = pred.min_zt_guard

    if carbs.cid or carbs.remaining_ci_peak > 0:
        if enable_uam:
            guard = left * pred.min_cob_guard + (1 - left) * pred.min_uam_guard
        else:
            guard = pred.min_cob_guard
    elif enable_uam:
        guard = pred.min_uam_guard
    else:
        guard = pred.min_iob_guard
    guard = js_mathround(guard)

    # Temper UAM by the zero-temp floor: averaging pulls a high UAM minimum down when a
    # low is possible, and a low one up when the zero-temp curve stays high.
    zt = pred.min_zt_guard
    zt_uam = min_uam
    if zt < t.threshold:
        zt_uam = (min_uam + zt) / 2
    elif zt < t.target_bg:
        blend_pct = js_div(zt - t.threshold, t.target_bg - t.threshold)
        blended = min_uam * blend_pct + zt * (1 - blend_pct)
        zt_uam = (min_uam + blended) / 2
    elif zt > min_uam:
        zt_uam = (min_uam + zt) / 2
    zt_uam = js_mathround(zt_uam)

    if meal.carbs:
        if not enable_uam and min_cob < NO_MIN:
            min_pred = js_mathround(max(min_iob, min_cob))
        elif min_cob < NO_MIN:
            blended_min = left * min_cob + (1 - left) * zt_uam
            min_pred = js_mathround(max(min_iob, min_cob, blended_min))
        elif enable_uam:
            min_pred = zt_uam
        else:
            min_pred = guard
    elif enable_uam:
        min_pred = js_mathround(max(min_iob, zt_uam))
    min_pred = min(min_pred, avg)
    # If the COB curve falls off a cliff, do not trust UAM too much.
    if pred.max_cob_pred > case.glucose_status.glucose:
        min_pred = min(min_pred, pred.max_cob_pred)
    return _Blend(eventual, min_pred, guard, avg, pred_bgs, last_iob, last_cob, last_uam,
                  cob_curve_used)


# ---------------------------------------------------------------- stage 9: dosing


@dataclass(frozen=True, slots=True)
class _State:
    """What the dosing branches need, gathered (private)."""

    t: _Targets
    e: _Effects
    b: _Blend
    pred: Predictions
    carbs: CarbModel
    csf: float
    enable_smb: bool
    carbs_req: float
    min_iob_pred: float = field(default=0.0)


def _keep_or_basal(draft: _Draft, s: _State) -> Oref0Result:
    """oref0's recurring "temp ~ req: keep it, else set the basal as a 30-min temp"."""
    temp, profile = draft.case.currenttemp, draft.case.profile
    if temp.duration > 15 and _rb(s.t.basal, profile) == _rb(temp.rate, profile):
        draft.say(Step.TEMP_MATCHES_BASAL,
                  f", temp {js_str(temp.rate)} ~ req {js_str(s.t.basal)}U/hr. ")
        return draft.result()
    draft.say(Step.SET_BASAL_AS_TEMP, f"; setting current basal of {js_str(s.t.basal)} as temp. ")
    return _set_temp_basal(s.t.basal, 30.0, draft)


def _low_temp(draft: _Draft, s: _State) -> Oref0Result:
    """Eventual BG below min_bg (determine-basal.js, "if eventual BG is below target")."""
    case, t, e = draft.case, s.t, s.e
    profile, temp, gs = case.profile, case.currenttemp, case.glucose_status
    draft.say(Step.EVENTUAL_BELOW_MIN, f"Eventual BG {_bg_text(s.b.eventual_bg, profile)} < "
                                       f"{_bg_text(t.min_bg, profile)}",
              eventual_bg_mg_dl=s.b.eventual_bg, min_bg_mg_dl=t.min_bg)
    if e.min_delta > e.expected_delta and e.min_delta > 0 and not s.carbs_req:
        if e.naive_eventual_bg < 40:
            draft.say(Step.NAIVE_BELOW_40, ", naive_eventualBG < 40. ")
            return _set_temp_basal(0.0, 30.0, draft)
        if gs.delta > e.min_delta:
            draft.say(Step.RISING_FASTER, f", but Delta {_tick_text(gs.delta, profile)} > "
                                          f"expectedDelta {_bg_text(e.expected_delta, profile)}")
        else:
            draft.say(Step.RISING_FASTER, f", but Min. Delta {js_to_fixed(e.min_delta, 2)} > "
                                          f"Exp. Delta {_bg_text(e.expected_delta, profile)}")
        return _keep_or_basal(draft, s)
    # A 30-min low temp bringing eventual BG to target, doubled for hypo safety.
    insulin_req = js_round(2 * min(0.0, (s.b.eventual_bg - t.target_bg) / t.sens), 2)
    naive_req = js_round(min(0.0, (e.naive_eventual_bg - t.target_bg) / t.sens), 2)
    if e.min_delta < 0 and e.min_delta > e.expected_delta:
        # Barely falling: barely negative.
        insulin_req = js_round(insulin_req * (e.min_delta / e.expected_delta), 2)
    rate = _rb(t.basal + (2 * insulin_req), profile)
    scheduled = temp.duration * (temp.rate - t.basal) / 60
    if scheduled < min(insulin_req, naive_req) - t.basal * 0.3:
        draft.say(Step.TEMP_FAR_BELOW_NEED, f", {js_str(temp.duration)}m@"
                                            f"{js_to_fixed(temp.rate, 2)} is a lot less than "
                                            f"needed. ")
        return _set_temp_basal(rate, 30.0, draft)
    if temp.duration > 5 and rate >= temp.rate * 0.8:
        draft.say(Step.LOW_TEMP_RUNNING, f", temp {js_str(temp.rate)} ~< req {js_str(rate)}U/hr. ")
        return draft.result()
    if rate <= 0:
        # A zero temp long enough to bring BG back up to target.
        undershoot = t.target_bg - e.naive_eventual_bg
        duration = js_round(60 * (undershoot / t.sens) / profile.current_basal)
        if duration < 0:
            duration = 0.0
        else:
            duration = min(MAX_ZERO_TEMP_MIN,
                           max(0.0, js_round(duration / TEMP_STEP_MIN) * TEMP_STEP_MIN))
        if duration > 0:
            draft.say(Step.ZERO_TEMP, f", setting {js_str(duration)}m zero temp. ")
            return _set_temp_basal(rate, duration, draft)
    else:
        draft.say(Step.LOW_TEMP, f", setting {js_str(rate)}U/hr. ")
    return _set_temp_basal(rate, 30.0, draft)


def _tick_text(delta: float, profile: Oref0Profile) -> str:
    # oref0 prints convert_bg(tick); tick is the string "+3" above −0.5 but convert_bg's
    # Math.round turns it back into the number 3, so the sign is lost either way.
    return _bg_text(js_round(delta, 0), profile)


def _smb(draft: _Draft, s: _State, insulin_req: float) -> Oref0Result | None:
    """Super micro-bolus and its low temp (determine-basal.js, "only allow microboluses")."""
    case, t = draft.case, s.t
    profile, meal, iob = case.profile, case.meal_data, case.iob_data
    meal_insulin_req = js_round(meal.meal_cob / profile.carb_ratio, 3)
    basal = profile.current_basal
    if profile.max_smb_basal_minutes is None:
        max_bolus = js_round(basal * DEFAULT_SMB_BASAL_MINUTES / 60, 1)
    elif iob.iob > meal_insulin_req and iob.iob > 0:
        minutes = profile.max_uam_smb_basal_minutes or DEFAULT_SMB_BASAL_MINUTES
        max_bolus = js_round(basal * minutes / 60, 1)
    else:
        max_bolus = js_round(basal * profile.max_smb_basal_minutes / 60, 1)
    increment = profile.bolus_increment or DEFAULT_BOLUS_INCREMENT_U
    per_u = 1 / increment
    micro = math.floor(min(insulin_req / 2, max_bolus) * per_u) / per_u
    worst = (t.target_bg - (s.e.naive_eventual_bg + s.min_iob_pred) / 2) / t.sens
    duration = js_round(60 * worst / basal)
    if insulin_req > 0 and micro < increment:
        duration = 0.0
    low_temp = 0.0
    if duration <= 0:
        duration = 0.0
    elif duration >= TEMP_STEP_MIN:
        duration = min(MAX_SMB_ZERO_TEMP_MIN,
                       max(0.0, js_round(duration / TEMP_STEP_MIN) * TEMP_STEP_MIN))
    else:  # under 30 min of zero temp needed: a proportionally low temp for 30 min
        low_temp = js_round(t.basal * duration / TEMP_STEP_MIN, 2)
        duration = TEMP_STEP_MIN
    text = f" insulinReq {js_str(insulin_req)}"
    if micro >= max_bolus:
        text += f"; maxBolus {js_str(max_bolus)}"
    if duration > 0:
        text += f"; setting {js_str(duration)}m low temp of {js_str(low_temp)}U/h"
    draft.say(Step.SMB_INSULIN_REQ, text + ". ", insulin_req_u=insulin_req, max_bolus_u=max_bolus)
    interval = DEFAULT_SMB_INTERVAL_MIN
    if profile.smb_interval:
        interval = min(SMB_INTERVAL_RANGE_MIN[1], max(SMB_INTERVAL_RANGE_MIN[0],
                                                      profile.smb_interval))
    assert iob.last_bolus_time_ms is not None  # required by the parser with SMB allowed
    last_bolus_age = js_round((case.current_time_ms - iob.last_bolus_time_ms) / 60000, 1)
    if last_bolus_age > interval:
        if micro > 0:
            draft.fields["units"] = micro
            draft.say(Step.MICROBOLUS, f"Microbolusing {js_str(micro)}U. ", units=micro)
    else:
        wait_min = js_round(interval - last_bolus_age, 0)
        wait_s = math.fmod(js_round((interval - last_bolus_age) * 60, 0), 60)
        draft.say(Step.SMB_WAIT, f"Waiting {js_str(wait_min)}m {js_str(wait_s)}s to "
                                 f"microbolus again. ")
    if duration > 0:
        draft.fields.update(rate=low_temp, duration=duration)
        return draft.result()
    return None


def _high_temp(draft: _Draft, s: _State) -> Oref0Result:
    """At or above target: high temp and SMB (determine-basal.js, "eventual BG is at/above
    target")."""
    case, t, b = draft.case, s.t, s.b
    profile, temp, iob = case.profile, case.currenttemp, case.iob_data
    if b.eventual_bg >= t.max_bg:
        draft.say(Step.EVENTUAL_ABOVE_MAX, f"Eventual BG {_bg_text(b.eventual_bg, profile)} >= "
                                           f"{_bg_text(t.max_bg, profile)}, ")
    if iob.iob > profile.max_iob:
        draft.say(Step.IOB_ABOVE_MAX, f"IOB {js_str(js_round(iob.iob, 2))} > max_iob "
                                      f"{js_str(profile.max_iob)}")
        return _keep_or_basal(draft, s)
    insulin_req = js_round((min(b.min_pred_bg, b.eventual_bg) - t.target_bg) / t.sens, 2)
    if insulin_req > profile.max_iob - iob.iob:
        draft.say(Step.MAX_IOB_LIMITS, f"max_iob {js_str(profile.max_iob)}, ")
        insulin_req = profile.max_iob - iob.iob
    rate = _rb(t.basal + (2 * insulin_req), profile)
    insulin_req = js_round(insulin_req, 3)
    draft.fields["insulin_req"] = insulin_req
    if case.micro_bolus_allowed and s.enable_smb and case.glucose_status.glucose > t.threshold:
        done = _smb(draft, s, insulin_req)
        if done is not None:
            return done
    safe = max_safe_basal(profile)
    if rate > safe:
        draft.say(Step.MAX_SAFE_BASAL, f"adj. req. rate: {js_str(rate)} to maxSafeBasal: "
                                       f"{js_str(safe)}, ")
        rate = _rb(safe, profile)
    scheduled = temp.duration * (temp.rate - t.basal) / 60
    if scheduled >= insulin_req * 2:
        draft.say(Step.TEMP_TOO_HIGH, f"{js_str(temp.duration)}m@{js_to_fixed(temp.rate, 2)} > 2 "
                                      f"* insulinReq. Setting temp basal of {js_str(rate)}U/hr. ")
        return _set_temp_basal(rate, 30.0, draft)
    if temp.duration == 0:
        draft.say(Step.NO_TEMP_SET_HIGH, f"no temp, setting {js_str(rate)}U/hr. ")
        return _set_temp_basal(rate, 30.0, draft)
    if temp.duration > 5 and _rb(rate, profile) <= _rb(temp.rate, profile):
        draft.say(Step.TEMP_HIGH_ENOUGH, f"temp {js_str(temp.rate)} >~ req {js_str(rate)}U/hr. ")
        return draft.result()
    draft.say(Step.TEMP_TOO_LOW, f"temp {js_str(temp.rate)}<{js_str(rate)}U/hr. ")
    return _set_temp_basal(rate, 30.0, draft)


def _dose(draft: _Draft, s: _State) -> Oref0Result:
    """The core dosing logic: the first matching situation decides (determine-basal.js,
    "Begin core dosing logic")."""
    case, t, e, b = draft.case, s.t, s.e, s.b
    profile, gs, iob = case.profile, case.glucose_status, case.iob_data
    bg = gs.glucose
    if (bg < t.threshold and iob.iob < -profile.current_basal * 20 / 60 and e.min_delta > 0
            and e.min_delta > e.expected_delta):
        # Super-negative IOB and BG rising faster than predicted: no suspend.
        draft.say(Step.NEGATIVE_IOB_RISING,
                  f"IOB {js_str(iob.iob)} < {js_str(js_round(-profile.current_basal * 20 / 60, 2))}"
                  f" and minDelta {_bg_text(e.min_delta, profile)} > expectedDelta "
                  f"{_bg_text(e.expected_delta, profile)}; ")
    elif bg < t.threshold or b.min_guard_bg < t.threshold:
        # Predictive low-glucose suspend: a 30–120 min zero temp.
        draft.say(Step.LOW_GLUCOSE_SUSPEND, f"minGuardBG {_bg_text(b.min_guard_bg, profile)}<"
                                            f"{_bg_text(t.threshold, profile)}",
                  min_guard_bg_mg_dl=b.min_guard_bg, threshold_mg_dl=t.threshold)
        undershoot = t.target_bg - b.min_guard_bg
        duration = js_round(60 * (undershoot / t.sens) / profile.current_basal)
        duration = js_round(duration / TEMP_STEP_MIN) * TEMP_STEP_MIN
        duration = min(MAX_ZERO_TEMP_MIN, max(LGS_MIN_DURATION_MIN, duration))
        return _set_temp_basal(0.0, duration, draft)
    if profile.skip_neutral_temps and case.minute_of_hour >= CANCEL_BEFORE_HOUR_MINUTE:
        draft.say(Step.CANCEL_BEFORE_HOUR,
                  f"; Canceling temp at {case.minute_of_hour}m past the hour. ")
        return _set_temp_basal(0.0, 0.0, draft)
    if b.eventual_bg < t.min_bg:
        return _low_temp(draft, s)
    smb_on = case.micro_bolus_allowed and s.enable_smb
    if e.min_delta < e.expected_delta and not smb_on:
        # Above min_bg but falling faster than expected: back to basal.
        what = (f"Delta {_tick_text(gs.delta, profile)}" if gs.delta < e.min_delta
                else f"Min. Delta {js_to_fixed(e.min_delta, 2)}")
        draft.say(Step.FALLING_FASTER, f"Eventual BG {_bg_text(b.eventual_bg, profile)} > "
                                       f"{_bg_text(t.min_bg, profile)} but {what} < Exp. Delta "
                                       f"{_bg_text(e.expected_delta, profile)}")
        return _keep_or_basal(draft, s)
    if min(b.eventual_bg, b.min_pred_bg) < t.max_bg and not smb_on:
        draft.say(Step.IN_RANGE, f"{_bg_text(b.eventual_bg, profile)}-"
                                 f"{_bg_text(b.min_pred_bg, profile)} in range: no temp required")
        return _keep_or_basal(draft, s)
    return _high_temp(draft, s)


# ---------------------------------------------------------------- stage 8: carbs required


def _carbs_required(draft: _Draft, t: _Targets, e: _Effects, b: _Blend, csf: float,
                    enable_smb: bool) -> tuple[float, bool]:
    """carbsReq and the SMB switch-offs (determine-basal.js, "Use minGuardBG ... Calculate
    carbsReq"); returns (carbsReq, SMB still enabled)."""
    case = draft.case
    profile, meal, gs = case.profile, case.meal_data, case.glucose_status
    carbs_req_bg = e.naive_eventual_bg
    if carbs_req_bg < 40:
        carbs_req_bg = min(b.min_guard_bg, carbs_req_bg)
    undershoot = t.threshold - carbs_req_bg
    curve = b.pred_bgs["COB"] if b.cob_curve_used else b.pred_bgs["IOB"]
    minutes_above_threshold = next(
        (5 * i for i, v in enumerate(curve) if v < t.threshold), 240)
    if enable_smb and b.min_guard_bg < t.threshold:
        enable_smb = False
    limit = (DEFAULT_MAX_DELTA_BG_THRESHOLD if profile.max_delta_bg_threshold is None
             else min(profile.max_delta_bg_threshold, MAX_MAX_DELTA_BG_THRESHOLD))
    if e.max_delta > limit * gs.glucose:
        # A sudden rise (a calibration, a filter switching) is not trusted for SMB.
        draft.say(Step.SMB_OFF_MAX_DELTA, f"maxDelta {_bg_text(e.max_delta, profile)} > "
                                          f"{js_str(100 * limit)}% of BG "
                                          f"{_bg_text(gs.glucose, profile)}: SMB disabled; ")
        enable_smb = False
    zero_temp_effect = profile.current_basal * t.sens * minutes_above_threshold / 60
    cob_for_req = max(0.0, meal.meal_cob - 0.25 * meal.carbs)
    carbs_req = js_round((undershoot - zero_temp_effect) / csf - cob_for_req)
    if meal.reason == "Could not parse clock data":
        pass
    elif (profile.carbs_req_threshold is not None and carbs_req >= profile.carbs_req_threshold
          and minutes_above_threshold <= 45):
        draft.fields["carbs_req"] = carbs_req
        draft.say(Step.CARBS_REQUIRED, f"{js_str(carbs_req)} add'l carbs req w/in "
                                       f"{minutes_above_threshold}m; ", carbs_req_g=carbs_req)
    return carbs_req, enable_smb


# ---------------------------------------------------------------- entry points


def determine_basal(case: Oref0Case) -> Oref0Result:
    """oref0 0.7.1 ``determine_basal`` on a parsed CASE (pure)."""
    draft = _Draft(case)
    profile = case.profile
    stopped = _cgm_unusable(draft, _rb(profile.current_basal, profile))
    if stopped is not None:
        return stopped
    t = _targets(case)
    draft.fields.update(temp="absolute", deliver_at_ms=case.current_time_ms)
    stopped = _temp_history_mismatch(draft)
    if stopped is not None:
        return stopped
    e = _glucose_effects(case, t)
    gs = case.glucose_status
    bg = gs.glucose
    tick: str | float = (f"+{js_str(js_round(gs.delta, 0))}" if gs.delta > -0.5
                         else js_round(gs.delta, 0))
    # A fresh rT, as oref0 makes once eventualBG is known (earlier reasons are dropped).
    draft.reasons.clear()
    draft.fields = {
        "temp": "absolute", "bg": bg, "tick": tick, "eventual_bg": e.eventual_bg,
        "insulin_req": 0.0, "reservoir": case.reservoir_data, "has_reservoir": True,
        "deliver_at_ms": case.current_time_ms, "sensitivity_ratio": t.sensitivity_ratio,
    }
    enable_smb = _enable_smb(case, t, bg)
    carbs, csf = _carb_model(case, t, e)
    pred = predict(bg, e.eventual_bg, case.iob_data.ticks, t.sens, carbs,
                   enable_uam=profile.enable_uam)
    b = _blend(case, t, e, carbs, pred)
    if carbs.ci > 0 or carbs.remaining_ci_peak > 0:
        draft.fields["eventual_bg"] = b.eventual_bg
    draft.fields.update(
        pred_bgs=b.pred_bgs, cob=case.meal_data.meal_cob, iob=case.iob_data.iob,
        bgi=_convert_bg(e.bgi, profile), deviation=_convert_bg(e.deviation, profile),
        isf=_convert_bg(t.sens, profile), cr=js_round(profile.carb_ratio, 2),
        target_bg=_convert_bg(t.target_bg, profile),
    )
    summary = (f"COB: {js_str(case.meal_data.meal_cob)}, Dev: {_bg_text(e.deviation, profile)}, "
               f"BGI: {_bg_text(e.bgi, profile)}, ISF: {_bg_text(t.sens, profile)}, CR: "
               f"{js_str(js_round(profile.carb_ratio, 2))}, minPredBG "
               f"{_bg_text(b.min_pred_bg, profile)}, minGuardBG {_bg_text(b.min_guard_bg, profile)}"
               f", IOBpredBG {_bg_text(b.last_iob, profile)}")
    if b.last_cob is not None and b.last_cob > 0:
        summary += f", COBpredBG {_bg_text(b.last_cob, profile)}"
    if b.last_uam is not None and b.last_uam > 0:
        summary += f", UAMpredBG {_bg_text(b.last_uam, profile)}"
    draft.say(Step.SUMMARY, summary + "; ", eventual_bg_mg_dl=b.eventual_bg,
              min_pred_bg_mg_dl=b.min_pred_bg, min_guard_bg_mg_dl=b.min_guard_bg)
    carbs_req, enable_smb = _carbs_required(draft, t, e, b, csf, enable_smb)
    state = _State(t, e, b, pred, carbs, csf, enable_smb, carbs_req,
                   min_iob_pred=max(39.0, pred.min_iob_pred))
    return _dose(draft, state)


def determine_basal_case(case: Mapping[str, Any]) -> dict[str, Any]:
    """The CLI's entry: a CASE object in, oref0's output object out (pure).

    Raises :class:`~pumplab.errors.InputError` naming the field for a bad CASE.
    """
    return determine_basal(parse_case(case)).to_json()

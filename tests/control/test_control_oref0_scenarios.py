"""oref0 behaviour, scenario by scenario (oref0's own test style: one baseline CASE, each
test overrides a little and says why the decision follows).

Baseline (``control_helpers.base_case``, after oref0's tests/determine-basal.test.js):
BG 115 mg/dL, delta 0, short average 0, long average 1.1; no IOB (48 zero ticks);
no temp running; basal 0.9 U/h; target 110–120 (so target_bg 115); ISF 40 mg/dL/U;
CR 10 g/U; max IOB 2.5 U; max basal 3.5 U/h, max daily basal 1.3 U/h; UAM on;
no carbs; autosens 1.0.  The low-glucose-suspend threshold is
min_bg − ½(min_bg − 40) = 110 − 35 = 75 mg/dL.  Max safe basal is
min(3.5, 3 × 1.3, 4 × 0.9) = 3.5 U/h.

The differential test checks the same code against real oref0 on 400 CASEs; these
tests pin the behaviour a reader can follow by hand.
"""

from __future__ import annotations

from typing import Any

import pytest
from control_helpers import base_case, decaying_ticks

from pumplab.control.oref0 import Step, determine_basal, parse_case
from pumplab.control.oref0.determine import Oref0Result
from pumplab.errors import InputError

MS_PER_MIN = 60_000


def run(case: dict[str, Any]) -> Oref0Result:
    return determine_basal(parse_case(case))


def steps(result: Oref0Result) -> set[str]:
    return {r.code for r in result.reasons}


def glucose(case: dict[str, Any], bg: float, delta: float, short: float | None = None,
            long: float | None = None) -> None:
    gs = case["glucose_status"]
    gs.update(glucose=bg, delta=delta, short_avgdelta=delta if short is None else short,
              long_avgdelta=delta if long is None else long)


# ---------------------------------------------------------------- in range


def test_in_range_without_temp_sets_the_neutral_basal() -> None:
    """BG 115 steady, no insulin: eventual BG 115 = target, every prediction 115 → "in range:
    no temp required", and with no temp running oref0 sets the scheduled 0.9 U/h as a
    30-min neutral temp."""
    r = run(base_case())
    assert (r.rate, r.duration, r.units) == (0.9, 30, None)
    assert r.eventual_bg == 115
    assert {Step.IN_RANGE, Step.NEUTRAL_TEMP} <= steps(r)


def test_in_range_with_a_high_temp_running_cancels_it_to_neutral() -> None:
    """A 1.5 U/h temp with 30 min left is more than 120 % of the 0.9 U/h wanted, so it is
    replaced by the neutral 0.9 U/h for 30 min (oref0: "should cancel high temp")."""
    case = base_case()
    case["currenttemp"] = {"duration": 30, "rate": 1.5, "temp": "absolute"}
    r = run(case)
    assert (r.rate, r.duration) == (0.9, 30)


def test_in_range_with_the_neutral_temp_running_does_nothing() -> None:
    """0.9 U/h already running with 25 min left (> 15) matches the request: no command."""
    case = base_case()
    case["currenttemp"] = {"duration": 25, "rate": 0.9, "temp": "absolute"}
    r = run(case)
    assert (r.rate, r.duration) == (None, None)
    assert Step.TEMP_MATCHES_BASAL in steps(r)


# ---------------------------------------------------------------- low


def test_low_and_falling_suspends_for_two_hours() -> None:
    """BG 75 falling 5/5 min: the UAM curve falls by 5·(1 − k/12) a step for an hour, to
    75 − 27.5 = 47.5 → minGuardBG 48 < threshold 75: low-glucose suspend.  Zero temp long
    enough to lift 48 to target 115: (115 − 48)/40 = 1.675 U of withheld basal = 112 min of
    0.9 U/h → rounded to 30-min steps: 120 min (the maximum)."""
    case = base_case()
    glucose(case, 75, -5)
    r = run(case)
    assert (r.rate, r.duration) == (0, 120)
    assert Step.LOW_GLUCOSE_SUSPEND in steps(r)
    assert "minGuardBG 48<75" in r.reason


def test_very_low_with_insulin_on_board_suspends() -> None:
    """BG 39 (the sensor's floor) is below the threshold whatever is predicted: zero temp,
    at least 30 min (oref0: "should temp to 0 when LOW w/ positive IOB")."""
    case = base_case()
    glucose(case, 39, 0, 0, -1.1)
    case["iob_data"] = decaying_ticks(1.0, 0.01)
    r = run(case)
    assert r.rate == 0
    assert r.duration is not None and 30 <= r.duration <= 120
    assert Step.LOW_GLUCOSE_SUSPEND in steps(r)


def test_low_but_rising_fast_with_very_negative_iob_does_not_suspend() -> None:
    """BG 70 (< 75) but IOB −1 U (below −20 min of basal, −0.3 U) and rising 5/5 min, faster
    than insulin alone explains: oref0 skips the suspend (its "IOB < …" branch) and goes on
    to dose; eventual BG is above target, so no zero temp is set."""
    case = base_case()
    glucose(case, 70, 5)
    case["iob_data"] = decaying_ticks(-1.0, -0.01)
    r = run(case)
    assert Step.NEGATIVE_IOB_RISING in steps(r)
    assert Step.LOW_GLUCOSE_SUSPEND not in steps(r)
    assert r.rate != 0


# ---------------------------------------------------------------- falling / eventual below target


def test_eventual_bg_below_min_bg_sets_a_zero_temp() -> None:
    """BG 110 falling 3 (averages −1): deviation uses the averages, 6·(−1) = −6, so eventual
    BG 104 < min_bg 110.  InsulinReq 2·(104 − 115)/40 = −0.55 U → rate 0.9 − 1.1 < 0 →
    zero; the naive undershoot (115 − 110)/40 is under 15 min of basal, so the zero temp is
    the plain 30 min (oref0: "should low-temp when eventualBG < min_bg")."""
    case = base_case()
    glucose(case, 110, -3, -1, -1)
    r = run(case)
    assert (r.rate, r.duration) == (0, 30)
    assert r.eventual_bg == 104
    assert Step.EVENTUAL_BELOW_MIN in steps(r)


def test_barely_falling_with_insulin_scales_the_low_temp_down() -> None:
    """oref0's unit-test form: iob_data as one object (2 U, activity 0.05 U/min), so the
    predictions are skipped.  BG 115 falling 1/5 min: BGI = −0.05·40·5 = −10, deviation
    6·(−1 + 10) = 54, naive eventual 115 − 2·40 = 35, eventual 89 < 110.  Expected delta
    −10 + (115 − 89)/24 = −8.9; BG falls slower than that, so insulinReq 2·(89 − 115)/40 =
    −1.3 U is scaled by −1/−8.9 → −0.15 U: rate 0.9 − 0.3 = 0.6 U/h for 30 min (oref0: "should
    low-temp much less when eventualBG < min_bg with delta barely negative").  UAM is off, as
    in oref0's test profile: with it, the positive carb impact (−1 + 10 = 9) would lift
    eventual BG to the one-point UAM curve's 115."""
    case = base_case()
    glucose(case, 115, -1)
    case["iob_data"] = {"iob": 2, "activity": 0.05}
    case["profile"]["enableUAM"] = False
    r = run(case)
    assert (r.rate, r.duration) == (0.6, 30)
    assert r.eventual_bg == 89
    assert r.pred_bgs == {"IOB": (115,), "ZT": (115,)}


def test_high_but_falling_faster_than_expected_returns_to_basal() -> None:
    """BG 175 falling 5/5 min with 1 U on board: eventual BG is above min_bg, but BG falls
    faster than insulin explains, so a 2 U/h high temp is replaced by the 0.9 U/h basal
    (oref0: "should cancel high-temp when high and avg. delta falling faster than BGI")."""
    case = base_case()
    glucose(case, 175, -5)
    case["iob_data"] = decaying_ticks(1.0, 0.01)
    case["currenttemp"] = {"duration": 20, "rate": 2, "temp": "absolute"}
    r = run(case)
    assert (r.rate, r.duration) == (0.9, 30)
    assert Step.FALLING_FASTER in steps(r)


# ---------------------------------------------------------------- high / rising


def test_high_and_rising_high_temps_up_to_max_safe_basal() -> None:
    """BG 185 rising 5/5 min: the IOB curve levels at 185 + 5·6.5 = 217.5 → minPredBG 218;
    insulinReq (218 − 115)/40 = 2.575 U is cut to max_iob 2.5 U; 0.9 + 2·2.5 = 5.9 U/h is
    above max safe basal 3.5 U/h → 3.5 U/h for 30 min."""
    case = base_case()
    glucose(case, 185, 5)
    r = run(case)
    assert (r.rate, r.duration) == (3.5, 30)
    assert {Step.MAX_IOB_LIMITS, Step.MAX_SAFE_BASAL, Step.NO_TEMP_SET_HIGH} <= steps(r)
    assert r.insulin_req == 2.5


def test_current_basal_safety_multiplier_of_one_caps_the_temp_at_basal() -> None:
    """With current_basal_safety_multiplier 1, max safe basal is 1 × 0.9: the same high
    situation can only get the 0.9 U/h basal (oref0's multiplier test)."""
    case = base_case()
    glucose(case, 185, 5)
    case["profile"]["current_basal_safety_multiplier"] = 1
    r = run(case)
    assert (r.rate, r.duration) == (0.9, 30)


def test_max_daily_safety_multiplier_of_one_caps_the_temp_at_max_daily_basal() -> None:
    """With max_daily_safety_multiplier 1, max safe basal is 1 × 1.3 U/h (oref0's test)."""
    case = base_case()
    glucose(case, 185, 5)
    case["profile"]["max_daily_safety_multiplier"] = 1
    assert run(case).rate == 1.3


def test_iob_above_max_iob_stops_high_temping() -> None:
    """BG 485 rising but 3.5 U on board > max_iob 2.5: no more insulin, the 0.9 U/h basal
    (oref0: "should stop high-temp when iob is near max_iob")."""
    case = base_case()
    glucose(case, 485, 5)
    case["iob_data"] = decaying_ticks(3.5, 0.05)
    r = run(case)
    assert (r.rate, r.duration) == (0.9, 30)
    assert Step.IOB_ABOVE_MAX in steps(r)


def test_running_high_temp_close_to_request_is_kept() -> None:
    """BG 145 rising 5: the request is max safe basal 3.5 U/h and 3.5 U/h is already
    running with 30 min left: "temp 3.5 >~ req": no command (oref0's test)."""
    case = base_case()
    glucose(case, 145, 5)
    case["currenttemp"] = {"duration": 30, "rate": 3.5, "temp": "absolute"}
    r = run(case)
    assert (r.rate, r.duration) == (None, None)
    assert Step.TEMP_HIGH_ENOUGH in steps(r)


# ---------------------------------------------------------------- SMB


def smb_case() -> dict[str, Any]:
    case = base_case()
    glucose(case, 180, 4, 4, 3)
    case["microBolusAllowed"] = True
    case["profile"]["enableSMB_with_COB"] = True
    now = case["currentTime"]
    case["meal_data"] = {"carbs": 60, "mealCOB": 40, "slopeFromMaxDeviation": 0,
                         "slopeFromMinDeviation": 0, "bwFound": False,
                         "lastCarbTime": now - 30 * MS_PER_MIN}
    case["iob_data"][0]["lastBolusTime"] = now - 30 * MS_PER_MIN
    return case


def test_smb_with_cob_microboluses_30_minutes_of_basal() -> None:
    """BG 180 rising with 40 g COB and SMB with COB on: insulinReq is capped at max_iob
    2.5 U; an SMB is half of it, at most maxBolus = 30 min of basal = 0.45 → rounded to
    0.5 U (Math.round(4.5) = 5), in 0.1-U steps: 0.5 U.  No zero temp is needed (naive
    eventual BG 180 is above target), so the high temp (max safe 3.5 U/h) follows."""
    r = run(smb_case())
    assert r.units == 0.5
    assert (r.rate, r.duration) == (3.5, 30)
    assert Step.MICROBOLUS in steps(r)


def test_smb_waits_for_the_smb_interval() -> None:
    """The last bolus 2 min ago is within the 3-min SMB interval: no SMB yet."""
    case = smb_case()
    case["iob_data"][0]["lastBolusTime"] = case["currentTime"] - 2 * MS_PER_MIN
    r = run(case)
    assert r.units is None
    assert Step.SMB_WAIT in steps(r)


def test_smb_off_when_microbolus_not_allowed() -> None:
    """Without microBolusAllowed the same situation gets only the high temp."""
    case = smb_case()
    case["microBolusAllowed"] = False
    r = run(case)
    assert r.units is None
    assert r.rate == 3.5


def test_sudden_rise_disables_smb() -> None:
    """A 40 mg/dL jump in 5 min is more than 20 % of BG 180: oref0 distrusts it (a
    calibration, a filter switching) and gives no SMB."""
    case = smb_case()
    case["glucose_status"]["delta"] = 40
    r = run(case)
    assert r.units is None
    assert Step.SMB_OFF_MAX_DELTA in steps(r)


# ---------------------------------------------------------------- targets and sensitivity


def test_medium_noise_raises_targets_by_30_percent() -> None:
    """noise 2: targets × 1.3 → min_bg 143, target 150 (115 × 1.3 = 149.5 → 150).  BG 115
    is now 35 below target: (150 − 115)/40 = 0.875 U of withheld basal = 58 min at 0.9
    U/h → a 60-min zero temp."""
    case = base_case()
    case["glucose_status"]["noise"] = 2
    r = run(case)
    assert (r.rate, r.duration) == (0, 60)
    assert r.target_bg == 150


def test_autosens_resistance_raises_basal() -> None:
    """autosens 1.2 (resistant): basal 0.9 × 1.2 = 1.08 → 1.1 U/h (0.05 steps above 1 U/h);
    in range, so the adjusted basal becomes the temp."""
    case = base_case()
    case["autosens"] = {"ratio": 1.2}
    r = run(case)
    assert (r.rate, r.duration) == (1.1, 30)
    assert r.sensitivity_ratio == 1.2


def test_high_temp_target_with_exercise_mode_halves_basal() -> None:
    """A 160 mg/dL temp target with exercise mode: ratio = 60/(60 + 160 − 100) = 0.5 → basal
    0.45 U/h; BG 115 is well below the 160 target → a zero temp."""
    case = base_case()
    case["profile"].update(temptargetSet=True, min_bg=160, max_bg=160, exercise_mode=True)
    r = run(case)
    assert r.sensitivity_ratio == 0.5
    assert r.rate == 0


# ---------------------------------------------------------------- stale / bad CGM data


@pytest.mark.parametrize("age_min", [13, 60, -6])
def test_stale_cgm_replaces_a_high_temp_with_neutral(age_min: int) -> None:
    """BG more than 12 min old (or 5 min in the future): no decision on it; a running high
    temp is replaced by the neutral 0.9 U/h for 30 min."""
    case = base_case()
    case["glucose_status"]["date"] -= age_min * MS_PER_MIN
    case["currenttemp"] = {"duration": 30, "rate": 2.0, "temp": "absolute"}
    r = run(case)
    assert (r.rate, r.duration) == (0.9, 30)
    assert {Step.CGM_STALE, Step.REPLACE_HIGH_TEMP} <= steps(r)


def test_stale_cgm_shortens_a_long_zero_temp_to_30_minutes() -> None:
    """A 90-min zero temp running on stale data is cut to 30 min (it is not extended)."""
    case = base_case()
    case["glucose_status"]["date"] -= 20 * MS_PER_MIN
    case["currenttemp"] = {"duration": 90, "rate": 0, "temp": "absolute"}
    r = run(case)
    assert (r.rate, r.duration) == (0, 30)
    assert Step.SHORTEN_ZERO_TEMP in steps(r)


def test_stale_cgm_without_a_high_temp_does_nothing() -> None:
    """Stale data, no temp running: nothing to undo, no command; only a reason."""
    case = base_case()
    case["glucose_status"]["date"] -= 20 * MS_PER_MIN
    r = run(case)
    assert (r.rate, r.duration, r.eventual_bg) == (None, None, None)
    assert r.to_json() == {"reason": r.reason}


def test_flat_cgm_is_not_trusted() -> None:
    """BG unchanged (delta 0, averages within ±1 mg/dL) above 60: a stuck sensor; nothing."""
    case = base_case()
    glucose(case, 150, 0, 0.2, -0.3)
    r = run(case)
    assert r.rate is None
    assert Step.CGM_FLAT in steps(r)


@pytest.mark.parametrize("bg", [5, 10, 38])
def test_sensor_error_values_cancel_a_high_temp(bg: float) -> None:
    """BG ≤ 10 or 38 (xDrip error codes) are sensor states: a high temp is replaced."""
    case = base_case()
    case["glucose_status"]["glucose"] = bg
    case["currenttemp"] = {"duration": 30, "rate": 2.0, "temp": "absolute"}
    r = run(case)
    assert (r.rate, r.duration) == (0.9, 30)
    assert Step.CGM_CALIBRATING in steps(r)


def test_high_noise_is_not_trusted() -> None:
    """noise 3 (high): no decision; a zero temp running 20 min more is left alone."""
    case = base_case()
    case["glucose_status"]["noise"] = 3
    case["currenttemp"] = {"duration": 20, "rate": 0, "temp": "absolute"}
    r = run(case)
    assert r.rate is None
    assert Step.NOTHING_ON_BAD_CGM in steps(r)


# ---------------------------------------------------------------- pump history


def test_temp_not_in_pump_history_is_cancelled_with_smb() -> None:
    """With SMB allowed, a running 1.5 U/h temp whose rate differs from the last temp in the
    pump history (set 20 min ago at 1.2 U/h) is cancelled: rate 0 for 0 min."""
    case = base_case()
    case["microBolusAllowed"] = True
    case["currenttemp"] = {"duration": 20, "rate": 1.5, "temp": "absolute"}
    case["iob_data"][0]["lastTemp"] = {"date": case["currentTime"] - 20 * MS_PER_MIN,
                                       "rate": 1.2, "duration": 30}
    r = run(case)
    assert (r.rate, r.duration) == (0, 0)
    assert Step.TEMP_MISMATCH in steps(r)


# ---------------------------------------------------------------- output


def test_predictions_start_at_bg_and_are_printed_in_range() -> None:
    """Every printed curve starts at the current BG and stays within 39–401 mg/dL."""
    case = base_case()
    glucose(case, 250, 8)
    r = run(case)
    assert r.pred_bgs is not None
    for curve in r.pred_bgs.values():
        assert curve[0] == 250
        assert all(39 <= v <= 401 for v in curve)


def test_mmol_profile_prints_bgi_and_target_in_mmol() -> None:
    """out_units mmol/L: target 115 mg/dL is printed "6.4" (a string, as oref0 does)."""
    case = base_case()
    case["profile"]["out_units"] = "mmol/L"
    out = run(case).to_json()
    assert out["target_bg"] == "6.4"
    assert out["eventualBG"] == 115  # eventual BG stays in mg/dL


# ---------------------------------------------------------------- missing profile fields


@pytest.mark.parametrize(("key", "oref0_does"), [
    ("current_basal", "returns {error: 'could not get current basal rate'}"),
    ("min_bg", "returns {error: 'could not determine target_bg'}"),
    ("sens", "returns {error: 'could not calculate eventualBG'} (it is NaN)"),
    ("max_daily_basal", "gets a NaN max safe basal: no high temp is ever capped"),
])
def test_missing_profile_field_is_refused_by_name(key: str, oref0_does: str) -> None:
    """Without the field oref0 errors or computes on NaN (``oref0_does``); pumplab refuses
    the CASE, naming the field."""
    case = base_case()
    del case["profile"][key]
    with pytest.raises(InputError) as info:
        run(case)
    assert info.value.field == f"profile.{key}"


def test_optional_profile_field_absent_keeps_oref0_default() -> None:
    """maxSMBBasalMinutes absent: oref0 defaults to 30 min of basal per SMB (not an error):
    the SMB scenario gives the same 0.5 U with the setting removed or set to 30."""
    case = smb_case()
    case["profile"].pop("maxSMBBasalMinutes", None)
    absent = run(case).units
    case["profile"]["maxSMBBasalMinutes"] = 30
    assert absent == run(case).units == 0.5

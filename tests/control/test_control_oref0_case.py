"""CASE parsing: every missing or mistyped field is refused with its key path, never guessed."""

from __future__ import annotations

import math
from typing import Any

import pytest
from control_helpers import base_case

from pumplab.control.oref0 import CASE_KEYS, determine_basal_case, parse_case
from pumplab.errors import InputError


def refused(case: Any) -> InputError:
    with pytest.raises(InputError) as info:
        determine_basal_case(case)
    return info.value


@pytest.mark.parametrize("key", [k for k in CASE_KEYS if k != "reservoir_data"])
def test_each_required_top_level_key_is_named_when_missing(key: str) -> None:
    """Every CASE key but reservoir_data is required; the error names it."""
    case = base_case()
    del case[key]
    err = refused(case)
    assert err.field == key
    assert "missing" in str(err)


def test_reservoir_data_is_optional_and_echoed() -> None:
    """reservoir_data may be absent (reservoir: null, as the oref0 CLI) or echoed back."""
    case = base_case()
    assert determine_basal_case(case)["reservoir"] is None
    case["reservoir_data"] = 87.5
    assert determine_basal_case(case)["reservoir"] == 87.5


@pytest.mark.parametrize(("path", "value"), [
    ("glucose_status.glucose", "115"),
    ("glucose_status.delta", None),
    ("glucose_status.short_avgdelta", True),
    ("glucose_status.long_avgdelta", [1]),
    ("currenttemp.rate", "0"),
    ("currenttemp.duration", -5),
    ("profile.current_basal", 0),
    ("profile.sens", -40),
    ("profile.carb_ratio", "10"),
    ("profile.max_iob", None),
    ("profile.min_bg", False),
    ("profile.max_daily_basal", 0),
    ("profile.enableUAM", 1),
    ("profile.out_units", "mmol"),
    ("profile.maxSMBBasalMinutes", None),
    ("autosens.ratio", 0),
    ("meal_data.carbs", -1),
    ("meal_data.slopeFromMaxDeviation", "x"),
    ("meal_data.bwFound", "no"),
    ("microBolusAllowed", "true"),
    ("currenttemp.temp", "percent"),
])
def test_mistyped_or_impossible_fields_are_named(path: str, value: Any) -> None:
    """A wrong type, NaN, null or impossible value is refused with the field's key path."""
    case = base_case()
    *parents, last = path.split(".")
    node = case
    for p in parents:
        node = node[p]
    node[last] = value
    assert refused(case).field == path


@pytest.mark.parametrize("path", [
    "glucose_status.glucose", "glucose_status.date", "currenttemp.rate", "profile.sens",
    "profile.max_basal", "meal_data.mealCOB", "meal_data.slopeFromMinDeviation",
])
def test_missing_nested_fields_are_named(path: str) -> None:
    """A missing nested field is refused with its key path (oref0 would compute NaN)."""
    case = base_case()
    parent, last = path.split(".")
    del case[parent][last]
    assert refused(case).field == path


def test_nan_is_refused_even_though_json_parsers_accept_it() -> None:
    """Python's json module reads NaN; the CASE parser does not take it as a number."""
    case = base_case()
    case["glucose_status"]["glucose"] = math.nan
    assert refused(case).field == "glucose_status.glucose"


def test_a_bad_iob_tick_is_named_by_index() -> None:
    """iob_data[3] without iobWithZeroTemp activity: the path includes the index."""
    case = base_case()
    del case["iob_data"][3]["iobWithZeroTemp"]["activity"]
    assert refused(case).field == "iob_data[3].iobWithZeroTemp.activity"


def test_a_one_tick_iob_array_is_refused() -> None:
    """oref0 reads a one-element array as an object without iob and errors; so does pumplab."""
    case = base_case()
    case["iob_data"] = case["iob_data"][:1]
    assert refused(case).field == "iob_data"


def test_last_bolus_time_is_required_when_smb_is_allowed() -> None:
    """Without lastBolusTime oref0 computes NaN and silently never SMBs: refused instead."""
    case = base_case()
    case["microBolusAllowed"] = True
    del case["iob_data"][0]["lastBolusTime"]
    assert refused(case).field == "iob_data[0].lastBolusTime"


def test_cob_without_carbs_is_refused() -> None:
    """mealCOB > 0 with carbs 0 is impossible (oref0 would divide by zero)."""
    case = base_case()
    case["meal_data"]["mealCOB"] = 20
    assert refused(case).field == "meal_data.mealCOB"


def test_carbs_need_last_carb_time() -> None:
    """Carbs in the last 6 h need lastCarbTime (the carb absorption time depends on it)."""
    case = base_case()
    case["meal_data"]["carbs"] = 30
    assert refused(case).field == "meal_data.lastCarbTime"


@pytest.mark.parametrize("value", ["2018-06-02T07:25:00", "yesterday", True, None])
def test_current_time_needs_a_utc_offset_or_epoch_ms(value: Any) -> None:
    """currentTime: epoch ms, or ISO 8601 with Z/±hh:mm; a local time would depend on the host."""
    case = base_case()
    case["currentTime"] = value
    assert refused(case).field == "currentTime"


def test_current_time_as_iso_string_equals_epoch_ms() -> None:
    """The same instant as a number or as an ISO string with an offset gives the same output."""
    case = base_case()
    by_number = determine_basal_case(case)
    case["currentTime"] = "2018-06-02T00:25:00-07:00"
    assert determine_basal_case(case) == by_number


def test_noise_two_needs_the_noisy_target_multiplier() -> None:
    """noise 2 raises targets by profile.noisyCGMTargetMultiplier; without it oref0 gets NaN
    targets: refused, naming the field."""
    case = base_case()
    case["glucose_status"]["noise"] = 2
    del case["profile"]["noisyCGMTargetMultiplier"]
    assert refused(case).field == "profile.noisyCGMTargetMultiplier"


def test_temp_target_sensitivity_needs_autosens_max() -> None:
    """A temp target that sets the sensitivity ratio is capped by autosens_max: required then."""
    case = base_case()
    case["profile"].update(temptargetSet=True, min_bg=80, max_bg=80,
                           low_temptarget_lowers_sensitivity=True)
    del case["profile"]["autosens_max"]
    assert refused(case).field == "profile.autosens_max"


def test_unknown_keys_are_ignored() -> None:
    """Real profile files carry many keys determine-basal never reads."""
    case = base_case()
    case["profile"]["isfProfile"] = {"sensitivities": []}
    case["extra"] = 1
    assert determine_basal_case(case)["rate"] == 0.9


def test_a_case_that_is_not_an_object_is_refused() -> None:
    """A JSON array or string at the top is refused."""
    with pytest.raises(InputError):
        parse_case([])  # type: ignore[arg-type]


def test_null_safety_multipliers_mean_the_defaults() -> None:
    """oref0 treats a null safety multiplier as absent (default 3 and 4), so does the port."""
    case = base_case()
    case["glucose_status"].update(glucose=185, delta=5, short_avgdelta=5, long_avgdelta=5)
    case["profile"].update(max_daily_safety_multiplier=None, current_basal_safety_multiplier=None)
    assert determine_basal_case(case)["rate"] == 3.5


def test_case_to_json_is_the_way_back() -> None:
    """The generated CASEs (200 of the differential test's draws) parsed, turned
    back into JSON and parsed again is the same CASE; and oref0's decision on it is the
    same (the external controller sends exactly what pumplab's port decides on)."""
    from dataclasses import replace

    from oref0_cases import generate_cases

    from pumplab.control.oref0 import case_to_json

    for case in generate_cases(200, 20240301):
        parsed = parse_case(case)
        again = parse_case(case_to_json(parsed))
        # currentTime goes back as epoch ms: its minute is then read in UTC.
        assert replace(again, minute_of_hour=parsed.minute_of_hour) == parsed
        if not parsed.profile.skip_neutral_temps:
            ours = determine_basal_case(case)
            back = determine_basal_case(case_to_json(parsed))
            assert {k: v for k, v in back.items() if k != "reason"} == {
                k: v for k, v in ours.items() if k != "reason"}

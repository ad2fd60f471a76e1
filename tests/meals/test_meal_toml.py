"""TOML meal scenario files: the schema, and each refusal naming its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pumplab.errors import ScenarioError
from pumplab.physiology.meals import (
    Absorption,
    CarbCountingError,
    MealScenario,
    load_meal_plan,
    parse_meal_scenario,
    read_meal_scenario,
)

EXAMPLE = """
name = "weekend"
description = "a late breakfast on day 0, a pizza on day 1"
repeat_daily = false

[carb_counting]
mean_rel_error = -0.15
sd_rel_error = 0.25

[[meals]]
time = "09:45"
carbs_g = 60
label = "brunch"

[[meals]]
day = 1
time = 19:30:00
carbs_g = 110.5
believed_carbs_g = 80
absorption = "slow"
announced = true
label = "pizza"

[[meals]]
day = 1
time = "22:00"
carbs_g = 15
announced = false
"""


def _refusal(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as err:
        parse_meal_scenario(text, source="test.toml")
    return err.value


def _one_meal(**fields: str) -> str:
    body = {"time": '"07:00"', "carbs_g": "40", **fields}
    return "[[meals]]\n" + "\n".join(f"{k} = {v}" for k, v in body.items()) + "\n"


def test_a_full_example_parses_to_the_meals_it_describes() -> None:
    """Every key of the schema is read into the scenario."""
    scenario = parse_meal_scenario(EXAMPLE, source="test.toml")
    assert scenario.name == "weekend" and not scenario.repeat_daily
    assert scenario.carb_counting == CarbCountingError(mean_rel_error=-0.15, sd_rel_error=0.25)
    brunch, pizza, snack = scenario.meals
    assert (brunch.start_min, brunch.carbs_g, brunch.announced) == (585, 60.0, True)
    assert pizza.start_min == 1440 + 19 * 60 + 30
    assert pizza.believed_carbs_g == 80.0 and pizza.absorption is Absorption.SLOW
    assert snack.day == 1 and snack.minute_of_day == 1320 and not snack.announced


def test_a_file_is_read_and_named_after_its_stem(tmp_path: Path) -> None:
    """A scenario file without a name takes the file's stem; load_meal_plan accepts the path."""
    path = tmp_path / "my-day.toml"
    path.write_text(_one_meal(), encoding="utf-8")
    scenario = read_meal_scenario(path)
    assert scenario.name == "my-day" and scenario.repeat_daily
    assert load_meal_plan(str(path)) == scenario


def test_an_empty_meal_list_is_a_valid_fasting_scenario() -> None:
    """meals = [] is accepted: a day with no meals."""
    scenario = parse_meal_scenario("meals = []", source="test.toml")
    assert isinstance(scenario, MealScenario) and scenario.meals == ()


def test_an_unknown_top_level_key_is_refused_with_its_name() -> None:
    """A misspelt top-level key is named, with the allowed keys."""
    err = _refusal("repeat = true\n" + _one_meal())
    assert err.field == "repeat" and err.source == "test.toml"
    assert err.allowed is not None and "repeat_daily" in err.allowed


def test_an_unknown_meal_key_is_refused_with_its_path() -> None:
    """A misspelt key inside the second meal is reported as meals[1].<key>."""
    err = _refusal(_one_meal() + _one_meal(grams="40"))
    assert err.field == "meals[1].grams"
    assert "unknown key" in str(err)


def test_negative_grams_are_refused_with_the_key_path() -> None:
    """carbs_g = -20 in the third meal is refused at meals[2].carbs_g with the allowed range."""
    err = _refusal(_one_meal() + _one_meal() + _one_meal(carbs_g="-20"))
    assert err.field == "meals[2].carbs_g"
    assert err.allowed == "a number > 0 and <= 500"
    assert str(err).startswith("test.toml, field 'meals[2].carbs_g': out of range")


def test_zero_grams_are_refused() -> None:
    """A meal of 0 g is not a meal."""
    assert _refusal(_one_meal(carbs_g="0")).field == "meals[0].carbs_g"


def test_non_numeric_grams_are_refused() -> None:
    """A string, a boolean or NaN where grams belong is refused as not a number / out of range."""
    for bad in ('"lots"', "true", "nan", "inf"):
        err = _refusal(_one_meal(carbs_g=bad))
        assert err.field == "meals[0].carbs_g", bad


def test_implausibly_large_meals_are_refused() -> None:
    """More than 500 g in one meal is refused (almost surely a typo)."""
    assert _refusal(_one_meal(carbs_g="5000")).field == "meals[0].carbs_g"


def test_a_time_outside_the_day_is_refused() -> None:
    """24:00 and 07:60 lie outside the day and are refused at meals[0].time."""
    for bad in ('"24:00"', '"07:60"'):
        err = _refusal(_one_meal(time=bad))
        assert err.field == "meals[0].time"
        assert "outside the day" in err.reason


def test_a_malformed_time_is_refused() -> None:
    """Times not written HH:MM (or as a TOML time) are refused."""
    for bad in ('"7.30"', '"noon"', "730", '"07:30:15"', "07:30:15"):
        assert _refusal(_one_meal(time=bad)).field == "meals[0].time", bad


def test_a_missing_required_key_is_refused() -> None:
    """A meal without carbs_g, or a file without meals, names what is missing."""
    assert _refusal('[[meals]]\ntime = "07:00"\n').field == "meals[0].carbs_g"
    assert _refusal('name = "x"\n').field == "meals"


def test_a_day_in_a_daily_schedule_is_refused() -> None:
    """day is meaningless when the schedule repeats daily, so it is refused."""
    err = _refusal(_one_meal(day="2"))
    assert err.field == "meals[0].day"


def test_a_negative_day_is_refused() -> None:
    """Days count from 0."""
    err = _refusal("repeat_daily = false\n" + _one_meal(day="-1"))
    assert err.field == "meals[0].day"


def test_an_unknown_absorption_is_refused_with_the_choices() -> None:
    """absorption must be fast, medium or slow."""
    err = _refusal(_one_meal(absorption='"instant"'))
    assert err.field == "meals[0].absorption" and err.allowed == "fast, medium, slow"


def test_carb_counting_values_are_checked() -> None:
    """An out-of-range or unknown carb_counting key is refused with its path."""
    err = _refusal("[carb_counting]\nsd_rel_error = 3\n" + _one_meal())
    assert err.field == "carb_counting.sd_rel_error"
    err = _refusal("[carb_counting]\nbias = 0.1\n" + _one_meal())
    assert err.field == "carb_counting.bias"


def test_a_wrongly_typed_flag_is_refused() -> None:
    """announced must be a boolean, repeat_daily too."""
    assert _refusal(_one_meal(announced='"yes"')).field == "meals[0].announced"
    assert _refusal("repeat_daily = 1\n" + _one_meal()).field == "repeat_daily"


def test_invalid_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    """A syntax error is a ScenarioError naming the file, not a traceback."""
    path = tmp_path / "broken.toml"
    path.write_text("[[meals]\ntime = 07:00", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid TOML") as err:
        read_meal_scenario(path)
    assert err.value.source == str(path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are a ScenarioError naming the file."""
    path = tmp_path / "latin1.toml"
    path.write_bytes('label = "café"\n'.encode("latin-1"))
    with pytest.raises(ScenarioError, match="UTF-8"):
        read_meal_scenario(path)


def test_a_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark before the first key is accepted, as in the CSV readers."""
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff".encode() + EXAMPLE.encode())
    assert read_meal_scenario(path).name == "weekend"


@pytest.mark.parametrize("time", ['"\u0660\u0667:\u0663\u0660"', '"07:\u0663\u0660"'])
def test_a_time_written_with_non_ascii_digits_is_refused(time: str) -> None:
    """Only ASCII digits make a time: Arabic-Indic '٠٧:٣٠' is refused with the key path."""
    err = _refusal(_one_meal(time=time))
    assert err.field == "meals[0].time" and "not a time" in err.reason


@pytest.mark.parametrize("day", ["366", "9223372036854775807"])
def test_a_day_beyond_a_year_is_refused(day: str) -> None:
    """A meal on a day no run reaches is refused with the key path and the range 0..365."""
    err = _refusal("repeat_daily = false\n" + _one_meal(day=day))
    assert err.field == "meals[0].day" and err.allowed == "an integer from 0 to 365"


def test_the_last_day_of_a_year_is_accepted() -> None:
    """day = 365 is inside the range."""
    scenario = parse_meal_scenario("repeat_daily = false\n" + _one_meal(day="365"), source="t")
    assert scenario.meals[0].day == 365


def test_meals_starting_in_one_minute_must_fit_the_minute_limit() -> None:
    """Two 300 g meals at 07:00 add up beyond 500 g in one minute: refused at the second."""
    err = _refusal(_one_meal(carbs_g="300") + _one_meal(carbs_g="300"))
    assert err.field == "meals[1].carbs_g" and "add up to 600 g" in err.reason

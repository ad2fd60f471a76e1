"""Meal plans: built-ins, realization into per-minute arrays, random days, carb counting."""

from __future__ import annotations

import dataclasses
from importlib import resources

import numpy as np
import pytest

from pumplab.errors import ScenarioError
from pumplab.physiology.meals import (
    BUILTIN_MEAL_PLANS,
    SIMGLUCOSE_RANDOM_DAY,
    CarbCountingError,
    Meal,
    MealArrays,
    MealPlan,
    MealRandomness,
    MealScenario,
    MealSlot,
    RandomDayParams,
    RandomMealPlan,
    builtin_meal_plan,
    load_meal_plan,
    random_day,
    realize_meals,
)

SEED = 424242
DAY = 1440


# --- built-in plans -------------------------------------------------------------


def test_every_builtin_plan_loads() -> None:
    """Each listed built-in name loads to a plan carrying that name."""
    for name in BUILTIN_MEAL_PLANS:
        assert builtin_meal_plan(name).name == name


def test_builtin_files_are_exactly_the_fixed_builtin_plans() -> None:
    """Every shipped meals_*.toml is a listed built-in, and every fixed built-in has its file."""
    data = resources.files("pumplab.physiology").joinpath("data")
    shipped = {
        p.name[len("meals_") : -len(".toml")] for p in data.iterdir() if p.name.startswith("meals_")
    }
    fixed = {n for n in BUILTIN_MEAL_PLANS if not isinstance(builtin_meal_plan(n), RandomMealPlan)}
    assert shipped == fixed


def test_unknown_builtin_name_lists_the_valid_names() -> None:
    """An unknown built-in name is a ScenarioError whose allowed list names every built-in."""
    with pytest.raises(ScenarioError) as err:
        builtin_meal_plan("brunch")
    assert err.value.allowed == ", ".join(BUILTIN_MEAL_PLANS)


def test_a_spec_that_is_neither_builtin_nor_file_is_refused_with_the_names() -> None:
    """An unknown --meals word is neither a built-in nor a file; the error lists built-ins."""
    with pytest.raises(ScenarioError, match="not a built-in name and no such file") as err:
        load_meal_plan("standard_day")
    assert err.value.allowed is not None and "standard-day" in err.value.allowed


def test_the_standard_day_is_three_announced_meals() -> None:
    """standard-day holds 45/70/80 g at 07:00/12:00/18:00, all announced."""
    plan = builtin_meal_plan("standard-day")
    assert isinstance(plan, MealScenario)
    assert [(m.minute_of_day, m.carbs_g, m.announced) for m in plan.meals] == [
        (420, 45.0, True),
        (720, 70.0, True),
        (1080, 80.0, True),
    ]


# --- realization into arrays ----------------------------------------------------------


def test_a_daily_schedule_repeats_every_day_of_the_run() -> None:
    """standard-day over two days puts 45/70/80 g at the start minute of each meal, each day."""
    arrays = realize_meals(builtin_meal_plan("standard-day"), n_patients=2, n_minutes=2 * DAY)
    assert arrays.eaten_g.shape == (2, 2 * DAY)
    nonzero = {int(m): float(arrays.eaten_g[0, m]) for m in np.flatnonzero(arrays.eaten_g[0])}
    assert nonzero == {420: 45, 720: 70, 1080: 80, 1860: 45, 2160: 70, 2520: 80}
    assert np.array_equal(arrays.eaten_g[0], arrays.eaten_g[1])


def test_a_run_starting_mid_morning_shifts_the_columns() -> None:
    """A run starting at 10:00 has lunch (12:00) in column 120 and breakfast the next day."""
    arrays = realize_meals(
        builtin_meal_plan("standard-day"), n_patients=1, n_minutes=DAY, start_minute_of_day=600
    )
    assert list(np.flatnonzero(arrays.eaten_g[0])) == [120, 480, 1260]
    assert [m.start_min for m in arrays.meals[0]] == [720, 1080, 1860]


def test_unannounced_meals_are_eaten_but_not_entered() -> None:
    """missed-bolus: lunch is in the eaten array and absent from the announced array."""
    arrays = realize_meals(builtin_meal_plan("missed-bolus"), n_patients=1, n_minutes=DAY)
    assert arrays.eaten_g[0, 720] == 70.0
    assert arrays.announced_g[0, 720] == 0.0
    assert arrays.announced_g[0, 420] == 45.0


def test_two_meals_in_the_same_minute_add_up() -> None:
    """Meals sharing a start minute sum in the per-minute array."""
    plan = MealScenario("twice", (Meal(60, 20.0), Meal(60, 15.0, announced=False)))
    arrays = realize_meals(plan, n_patients=1, n_minutes=120)
    assert arrays.eaten_g[0, 60] == 35.0 and arrays.announced_g[0, 60] == 20.0


def test_a_random_plan_needs_randomness() -> None:
    """Realizing a random plan without MealRandomness is a programming error."""
    with pytest.raises(ValueError, match="MealRandomness"):
        realize_meals(RandomMealPlan(), n_patients=1, n_minutes=DAY)


# --- random days -------------------------------------------------------------------------


def _random(n_patients: int, n_minutes: int, plan: MealPlan | None = None) -> MealArrays:
    return realize_meals(
        plan or RandomMealPlan(),
        n_patients=n_patients,
        n_minutes=n_minutes,
        randomness=MealRandomness.from_seed(SEED, n_patients),
    )


def test_random_days_repeat_for_the_same_seed_and_differ_between_patients() -> None:
    """Same seed, same meals; two patients of one run get different days."""
    a, b = _random(3, 3 * DAY), _random(3, 3 * DAY)
    assert np.array_equal(a.eaten_g, b.eaten_g)
    assert not np.array_equal(a.eaten_g[0], a.eaten_g[1])


def test_a_patients_random_days_do_not_depend_on_cohort_size_or_run_length() -> None:
    """Patient 0 alone over 2 days eats what patient 0 of five eats in the first 2 of 4 days."""
    alone = _random(1, 2 * DAY)
    cohort = _random(5, 4 * DAY)
    assert np.array_equal(alone.eaten_g[0], cohort.eaten_g[0, : 2 * DAY])


def test_realizing_a_cohort_in_chunks_gives_the_same_meals() -> None:
    """Selecting patients' streams for a chunk reproduces their rows of the whole cohort."""
    plan = builtin_meal_plan("random-carb-error")
    rnd = MealRandomness.from_seed(SEED, 4)
    whole = realize_meals(plan, n_patients=4, n_minutes=2 * DAY, randomness=rnd)
    part = realize_meals(plan, n_patients=2, n_minutes=2 * DAY, randomness=rnd.select([1, 3]))
    assert np.array_equal(part.announced_g, whole.announced_g[[1, 3]])
    assert part.meals == (whole.meals[1], whole.meals[3])


def test_random_day_frequencies_times_and_sizes_follow_the_slot_distributions() -> None:
    """Over 5000 days, meal probability, time window, mean time and size match the slots."""
    rng = np.random.default_rng(SEED)
    days = [random_day(SIMGLUCOSE_RANDOM_DAY, rng, d) for d in range(5000)]
    for slot in SIMGLUCOSE_RANDOM_DAY.slots:
        meals = [m for day in days for m in day if m.label == slot.label]
        occurrence = len(meals) / len(days)
        minutes = np.array([m.minute_of_day for m in meals])
        sizes = np.array([m.carbs_g for m in meals])
        # Snacks (10 ± 5 g) lose the draws that round to 0 g: about 2.3 %.
        assert abs(occurrence - slot.probability) < 0.03
        assert minutes.min() >= slot.earliest_min and minutes.max() <= slot.latest_min
        if slot.mean_carbs_g >= 40:  # main meals: the mean is well inside the window
            assert abs(minutes.mean() - slot.mean_min) < 3.0
            assert abs(sizes.mean() - slot.mean_carbs_g) < 0.5
            assert abs(sizes.std() - slot.sd_carbs_g) < 0.5


def test_changing_snack_probability_does_not_move_the_main_meals() -> None:
    """Each slot draws a fixed number of values, so snack settings leave the main meals alone."""
    no_snacks = RandomDayParams(
        tuple(
            dataclasses.replace(s, probability=0.0) if "snack" in s.label else s
            for s in SIMGLUCOSE_RANDOM_DAY.slots
        )
    )
    a = _random(2, 3 * DAY)
    b = _random(2, 3 * DAY, RandomMealPlan(params=no_snacks))
    snacks = 0
    for meals_a, meals_b in zip(a.meals, b.meals, strict=True):
        main_a = [m for m in meals_a if "snack" not in m.label]
        assert main_a == list(meals_b)
        snacks += len(meals_a) - len(main_a)
    assert snacks > 0


# --- carb counting --------------------------------------------------------------------------


def test_carb_counting_error_has_the_configured_mean_and_spread() -> None:
    """Believed/true for 100 g meals has mean 0.9 and SD 0.2, never negative, MAE about 19 %."""
    error = CarbCountingError()
    z = np.random.default_rng(SEED).standard_normal(100_000)
    ratio = np.array([error.believed(100.0, float(v)) for v in z]) / 100.0
    assert abs(ratio.mean() - 0.9) < 0.005
    assert abs(ratio.std() - 0.2) < 0.005
    assert ratio.min() >= 0.0
    assert 0.17 < np.abs(ratio - 1.0).mean() < 0.21


def test_carb_counting_error_changes_what_is_entered_not_what_is_eaten() -> None:
    """With the counting error on, the eaten array is unchanged and the entered one differs."""
    plain = _random(3, 2 * DAY)
    counted = _random(3, 2 * DAY, builtin_meal_plan("random-carb-error"))
    assert np.array_equal(plain.eaten_g, counted.eaten_g)
    assert not np.array_equal(plain.announced_g, counted.announced_g)
    assert all(m.believed_carbs_g is not None for meals in counted.meals for m in meals)


def test_an_explicit_believed_amount_is_kept_under_a_counting_error() -> None:
    """A meal whose believed grams are given keeps them; the others get drawn beliefs."""
    plan = MealScenario(
        "mixed",
        (Meal(100, 60.0, believed_carbs_g=30.0), Meal(400, 60.0)),
        carb_counting=CarbCountingError(),
    )
    arrays = realize_meals(
        plan, n_patients=1, n_minutes=DAY, randomness=MealRandomness.from_seed(SEED, 1)
    )
    first, second = arrays.meals[0]
    assert first.believed_carbs_g == 30.0 and arrays.announced_g[0, 100] == 30.0
    assert second.believed_carbs_g is not None


def test_random_meals_adding_up_beyond_the_minute_limit_are_refused() -> None:
    """Two custom slots that both put 300 g at 07:00 exceed 500 g in a minute: ScenarioError."""
    slot = MealSlot("big", 1.0, 420, 421, 420.0, 0.001, 300.0, 0.0)
    plan = RandomMealPlan(name="two-big", params=RandomDayParams(slots=(slot, slot)))
    with pytest.raises(ScenarioError, match=r"two-big.*add up to 600 g"):
        realize_meals(plan, n_patients=1, n_minutes=DAY, randomness=MealRandomness.from_seed(1, 1))

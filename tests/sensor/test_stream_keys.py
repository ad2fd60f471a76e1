"""How CGM and meal streams are keyed: by component name and by patient name."""

from __future__ import annotations

import numpy as np
import pytest

from pumplab.physiology._seeding import name_key
from pumplab.physiology.meals import MEAL_STREAMS, MealRandomness, RandomMealPlan, realize_meals
from pumplab.physiology.sensor import CGM_STREAMS, CgmRandomness, simulate_cgm
from pumplab.sim.streams import RandomStreams, stream_key

SEED = 7
NAMES = ["adolescent#004", "adult#001", "child#010"]


def _state(seq: np.random.SeedSequence) -> list[int]:
    return [int(v) for v in seq.generate_state(4)]


def _cgm_from_streams(seed: int, names: list[str]) -> CgmRandomness:
    streams = RandomStreams(seed)
    return CgmRandomness.from_generators(
        noise=streams.generator(CGM_STREAMS[0]),
        calibration=streams.generator(CGM_STREAMS[1]),
        dropout=streams.generator(CGM_STREAMS[2]),
        names=names,
    )


def _meals_from_streams(seed: int, names: list[str]) -> MealRandomness:
    streams = RandomStreams(seed)
    return MealRandomness.from_generators(
        schedule=streams.generator(MEAL_STREAMS[0]),
        counting=streams.generator(MEAL_STREAMS[1]),
        names=names,
    )


def test_physiology_name_key_equals_the_simulation_stream_key() -> None:
    """The physiology's copy of the stable name hash is the sim core's stream_key."""
    for name in ("cgm.noise", "meals.schedule", "adult#001", "pop000001", "é"):
        assert name_key(name) == stream_key(name)


def test_cgm_and_meal_streams_of_one_seed_are_different() -> None:
    """from_seed(s) of the CGM and of the meals never hand out the same numbers."""
    cgm = CgmRandomness.from_seed(SEED, 3)
    meals = MealRandomness.from_seed(SEED, 3)
    states = [
        _state(seqs[i])
        for seqs in (cgm.noise, cgm.calibration, cgm.dropout, meals.schedule, meals.counting)
        for i in range(3)
    ]
    assert len({tuple(s) for s in states}) == len(states)


def test_from_seed_equals_the_run_streams_used_by_the_command_line() -> None:
    """from_seed(s, names=...) equals from_generators on RandomStreams(s)'s named generators."""
    cgm_a, cgm_b = CgmRandomness.from_seed(SEED, names=NAMES), _cgm_from_streams(SEED, NAMES)
    meal_a, meal_b = MealRandomness.from_seed(SEED, names=NAMES), _meals_from_streams(SEED, NAMES)
    for i in range(len(NAMES)):
        for a, b in (
            (cgm_a.noise, cgm_b.noise),
            (cgm_a.calibration, cgm_b.calibration),
            (cgm_a.dropout, cgm_b.dropout),
            (meal_a.schedule, meal_b.schedule),
            (meal_a.counting, meal_b.counting),
        ):
            assert _state(a[i]) == _state(b[i])


def test_a_named_patient_gets_its_streams_whatever_its_position_or_company() -> None:
    """adult#001's seeds are the same alone, second of three, or last in another order."""
    alone_cgm = CgmRandomness.from_seed(SEED, names=["adult#001"])
    alone_meals = MealRandomness.from_seed(SEED, names=["adult#001"])
    for names in (NAMES, ["child#010", "adolescent#004", "adult#001"]):
        i = names.index("adult#001")
        cgm = CgmRandomness.from_seed(SEED, names=names)
        meals = MealRandomness.from_seed(SEED, names=names)
        assert _state(cgm.noise[i]) == _state(alone_cgm.noise[0])
        assert _state(cgm.dropout[i]) == _state(alone_cgm.dropout[0])
        assert _state(meals.schedule[i]) == _state(alone_meals.schedule[0])


def test_for_names_and_select_pick_the_same_streams() -> None:
    """A chunk by position (select) and by name (for_names) have identical seeds."""
    cgm = CgmRandomness.from_seed(SEED, names=NAMES)
    by_position = cgm.select(slice(1, 3))
    by_name = cgm.for_names(NAMES[1:])
    assert by_position.keys == by_name.keys == tuple(NAMES[1:])
    for j in range(2):
        assert _state(by_position.noise[j]) == _state(by_name.noise[j])


def test_named_readings_and_meals_do_not_depend_on_the_cohort() -> None:
    """End to end: the same readings and days for adult#001 alone and in a cohort."""
    gsub = np.full((3, 1440), 140.0)
    alone = simulate_cgm(gsub[:1], randomness=CgmRandomness.from_seed(SEED, names=["adult#001"]))
    cohort = simulate_cgm(gsub, randomness=CgmRandomness.from_seed(SEED, names=NAMES))
    assert np.array_equal(alone.raw_mg_dl[0], cohort.raw_mg_dl[1], equal_nan=True)
    meals_alone = realize_meals(RandomMealPlan(), n_patients=1, n_minutes=2880,
                                randomness=MealRandomness.from_seed(SEED, names=["adult#001"]))
    meals_cohort = realize_meals(RandomMealPlan(), n_patients=3, n_minutes=2880,
                                 randomness=MealRandomness.from_seed(SEED, names=NAMES))
    assert np.array_equal(meals_alone.eaten_g[0], meals_cohort.eaten_g[1])


def test_positional_and_named_keys_differ() -> None:
    """Anonymous patient 0 (n_patients=) is not the patient named '0'."""
    by_position = CgmRandomness.from_seed(SEED, 1)
    by_name = CgmRandomness.from_seed(SEED, names=["0"])
    assert _state(by_position.noise[0]) != _state(by_name.noise[0])


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"n_patients": 2, "names": ["a", "b"]}, {"names": ["a", "a"]}, {"names": [""]}],
)
def test_patients_must_be_given_once_with_unique_names(kwargs: dict[str, object]) -> None:
    """Exactly one of n_patients and names; names unique and non-empty."""
    with pytest.raises(ValueError):
        CgmRandomness.from_seed(SEED, **kwargs)  # type: ignore[arg-type]

"""The seeded population generator and its plausibility rules."""

from __future__ import annotations

import numpy as np
import pytest

from pumplab.errors import InputError
from pumplab.physiology import (
    Cohort,
    Param,
    PlausibilityRules,
    PopulationSampler,
    State,
    generate_population,
    load_cohort,
)
from pumplab.physiology.model import derivatives, gut_coefficients
from pumplab.physiology.population import plausible


@pytest.fixture(scope="module")
def population() -> Cohort:
    return generate_population(300, np.random.default_rng(11))


def test_same_seed_gives_the_same_population() -> None:
    """Two generators seeded alike give identical subjects, names and parents."""
    a = generate_population(50, np.random.default_rng(5))
    b = generate_population(50, np.random.default_rng(5))
    assert a.names == b.names and a.parents == b.parents
    assert np.array_equal(a.parameters, b.parameters)
    assert np.array_equal(a.initial_state, b.initial_state)
    assert np.array_equal(a.carb_ratio_g_per_u, b.carb_ratio_g_per_u)


def test_different_seeds_give_different_populations() -> None:
    """Seeds 5 and 6 give different parameters."""
    a = generate_population(20, np.random.default_rng(5))
    b = generate_population(20, np.random.default_rng(6))
    assert not np.array_equal(a.parameters, b.parameters)


def test_population_has_the_requested_size_and_names(population: Cohort) -> None:
    """n subjects named pop00001..., each with a standard parent of its age group."""
    assert len(population) == 300
    assert population.names[0] == "pop00001" and population.names[-1] == "pop00300"
    standard = set(load_cohort().names)
    for group, parent in zip(population.age_groups, population.parents, strict=True):
        assert parent in standard and parent.startswith(group + "#")


def test_generated_initial_state_is_a_basal_steady_state(population: Cohort) -> None:
    """dx/dt at each generated subject's x0 with its u2ss infusion is ~0."""
    params = population.parameters.T.copy()
    x0 = population.initial_state.T.copy()
    gut = gut_coefficients(params, np.zeros(len(population)))
    dx = derivatives(x0, params, gut, np.zeros(len(population)), params[Param.u2ss])
    assert np.abs(dx / np.maximum(np.abs(x0), 1.0)).max() < 1e-9


def test_generated_subjects_satisfy_the_plausibility_rules(population: Cohort) -> None:
    """Fasting BG, TDI and basal per kg lie inside the default rule ranges."""
    rules = PlausibilityRules()
    bw = population.body_weight_kg
    gb = population.initial_state[:, State.G_P] / population.parameters[:, Param.Vg]
    tdi = population.total_daily_insulin_u / bw
    basal = population.basal_rate_u_per_h * 24.0 / bw
    for values, (lo, hi) in (
        (gb, rules.fasting_bg_mg_dl),
        (tdi, rules.tdi_u_per_kg_day),
        (basal, rules.basal_u_per_kg_day),
    ):
        assert (values >= lo).all() and (values <= hi).all()
    assert plausible(population, rules).all()


def test_the_30_standard_subjects_pass_the_default_rules() -> None:
    """The rules were set so that every published subject is plausible."""
    assert plausible(load_cohort()).all()


def test_tight_rules_reject_subjects_outside_them() -> None:
    """With fasting BG limited to 140-145 mg/dL, every accepted subject lies in that band."""
    rules = PlausibilityRules(fasting_bg_mg_dl=(140.0, 145.0))
    pop = generate_population(40, np.random.default_rng(1), rules=rules)
    gb = pop.initial_state[:, State.G_P] / pop.parameters[:, Param.Vg]
    assert ((gb >= 140.0) & (gb <= 145.0)).all()


def test_plausibility_flags_a_subject_outside_the_rules() -> None:
    """A standard subject is implausible under a fasting range that excludes its Gb."""
    cohort = load_cohort().select(["adolescent#001"])  # Gb 149.02
    assert not plausible(cohort, PlausibilityRules(fasting_bg_mg_dl=(70.0, 140.0)))[0]


def test_therapy_keeps_the_parent_basal_share_and_scales_ratios_with_tdi(
    population: Cohort,
) -> None:
    """TDI/basal, CR x TDI and CF x TDI equal the parent's."""
    standard = load_cohort()
    rows = np.array([standard.index(p) for p in population.parents])
    np.testing.assert_allclose(
        population.total_daily_insulin_u / population.basal_rate_u_per_h,
        standard.total_daily_insulin_u[rows] / standard.basal_rate_u_per_h[rows],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        population.carb_ratio_g_per_u * population.total_daily_insulin_u,
        standard.carb_ratio_g_per_u[rows] * standard.total_daily_insulin_u[rows],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        population.correction_factor_mg_dl_per_u * population.total_daily_insulin_u,
        standard.correction_factor_mg_dl_per_u[rows] * standard.total_daily_insulin_u[rows],
        rtol=1e-12,
    )


def test_generated_subjects_differ_from_their_parents(population: Cohort) -> None:
    """Sampling perturbs the parameters: no generated subject is a copy of its parent."""
    standard = load_cohort()
    rows = np.array([standard.index(p) for p in population.parents])
    bw_ratio = population.body_weight_kg / standard.body_weight_kg[rows]
    assert (np.abs(np.log(bw_ratio)) > 1e-6).all()


def test_population_log_mean_is_close_to_the_group_mean() -> None:
    """Adults' mean log body weight is within 0.05 of the standard adults' mean log BW."""
    pop = generate_population(1000, np.random.default_rng(4), groups=("adult",))
    standard = load_cohort()
    adults = np.array([g == "adult" for g in standard.age_groups])
    assert set(pop.age_groups) == {"adult"}
    target = np.log(standard.body_weight_kg[adults]).mean()
    assert abs(np.log(pop.body_weight_kg).mean() - target) < 0.05


def test_generated_constants_are_those_of_all_standard_subjects(population: Cohort) -> None:
    """ke1, ke2, Fsnc and f are copied unchanged."""
    standard = load_cohort()
    for p in (Param.ke1, Param.ke2, Param.Fsnc, Param.f):
        assert (population.parameters[:, p] == standard.parameters[0, p]).all()


def test_impossible_rules_raise_input_error() -> None:
    """Rules no candidate can meet end in an InputError, not an endless loop."""
    rules = PlausibilityRules(fasting_bg_mg_dl=(300.0, 301.0), fasting_check_minutes=0)
    with pytest.raises(InputError, match="plausibility"):
        generate_population(5, np.random.default_rng(0), rules=rules)


def test_population_needs_a_generator_not_a_seed() -> None:
    """Randomness is injected: passing an int seed is a TypeError."""
    with pytest.raises(TypeError):
        generate_population(5, 3)  # type: ignore[arg-type]


def test_unknown_age_group_raises_input_error() -> None:
    """groups must name adolescent, adult or child."""
    with pytest.raises(InputError, match="age group"):
        generate_population(5, np.random.default_rng(0), groups=("elderly",))


def test_a_larger_population_keeps_the_earlier_subjects() -> None:
    """With the same seed, the first 10 subjects of N=11 are the subjects of N=10."""
    ten = generate_population(10, np.random.default_rng(0))
    eleven = generate_population(11, np.random.default_rng(0))
    assert eleven.names[:10] == ten.names and eleven.parents[:10] == ten.parents
    assert np.array_equal(eleven.parameters[:10], ten.parameters)
    assert np.array_equal(eleven.initial_state[:10], ten.initial_state)
    assert np.array_equal(eleven.total_daily_insulin_u[:10], ten.total_daily_insulin_u)


def test_a_population_generated_in_chunks_equals_one_generated_at_once() -> None:
    """PopulationSampler.subjects(a, b) chunks concatenate to subjects(0, n)."""
    whole = PopulationSampler(9, np.random.default_rng(3)).subjects(0, 9)
    sampler = PopulationSampler(9, np.random.default_rng(3))
    parts = [sampler.subjects(a, b) for a, b in ((0, 2), (2, 7), (7, 9))]
    joined = Cohort.concatenate(parts)
    assert joined.names == whole.names and joined.parents == whole.parents
    assert np.array_equal(joined.parameters, whole.parameters)
    assert np.array_equal(joined.carb_ratio_g_per_u, whole.carb_ratio_g_per_u)


def test_a_rejected_candidate_is_replaced_from_the_subjects_own_stream() -> None:
    """Under tight rules (many rejections) subject i still does not depend on n."""
    rules = PlausibilityRules(fasting_bg_mg_dl=(140.0, 145.0))
    small = generate_population(4, np.random.default_rng(8), rules=rules)
    large = generate_population(12, np.random.default_rng(8), rules=rules)
    assert np.array_equal(large.parameters[:4], small.parameters)


def test_sampler_names_are_computed_without_generating() -> None:
    """Names are pop00001...; a million subjects get six digits."""
    assert PopulationSampler(3, np.random.default_rng(0)).names == (
        "pop00001", "pop00002", "pop00003",
    )  # fmt: skip
    assert PopulationSampler(1_000_000, np.random.default_rng(0)).name(0) == "pop0000001"

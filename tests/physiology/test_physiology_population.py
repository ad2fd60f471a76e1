"""The seeded population generator and its plausibility rules."""

from __future__ import annotations

import dataclasses
from typing import Any

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
from pumplab.physiology import population as population_module
from pumplab.physiology.model import derivatives, gut_coefficients
from pumplab.physiology.population import (
    ANALYTIC_MIN_DRIFT_MG_DL,
    fasting_run_is_stable,
    plausible,
)


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


# -- the fasting check without a fasting day ------------------------------------------------


def _simulated_rules_sampler(
    monkeypatch: pytest.MonkeyPatch, rejected: list[int] | None = None
) -> None:
    """Make the population generator simulate the 24 h fasting run for every candidate.

    That is the rule as stated (and as it was applied before the analytic
    shortcut).  ``rejected`` collects how many candidates the fasting run itself
    rejected, so a test can check that its comparison bites.
    """
    original = population_module.plausible

    def simulated(
        cohort: Cohort, rules: PlausibilityRules | None = None, *, backend: Any = None
    ) -> np.ndarray:
        ok = original(cohort, rules, backend=backend, simulate_fasting=True)
        if rejected is not None:
            without_run = dataclasses.replace(rules or PlausibilityRules(), fasting_check_minutes=0)
            rejected.append(int((original(cohort, without_run) & ~ok).sum()))
        return ok

    monkeypatch.setattr(population_module, "plausible", simulated)


def _assert_same_population(a: Cohort, b: Cohort) -> None:
    assert a.names == b.names and a.parents == b.parents and a.age_groups == b.age_groups
    assert np.array_equal(a.parameters, b.parameters)
    assert np.array_equal(a.initial_state, b.initial_state)
    assert np.array_equal(a.carb_ratio_g_per_u, b.carb_ratio_g_per_u)
    assert np.array_equal(a.total_daily_insulin_u, b.total_daily_insulin_u)


@pytest.mark.parametrize(
    ("seed", "n", "spread"),
    [(0, 500, 1.0), (1, 300, 3.0), (6, 600, 6.0), (8, 600, 6.0)],
)
def test_analytic_fasting_check_accepts_exactly_the_subjects_a_simulated_day_accepts(
    monkeypatch: pytest.MonkeyPatch, seed: int, n: int, spread: float
) -> None:
    """Same seed, same options: the population equals the one a simulated fasting day gives."""
    fast = generate_population(n, np.random.default_rng(seed), spread=spread)
    rejected: list[int] = []
    _simulated_rules_sampler(monkeypatch, rejected)
    simulated = generate_population(n, np.random.default_rng(seed), spread=spread)
    _assert_same_population(fast, simulated)
    if spread == 6.0:
        # At this spread some candidates really fail the fasting run, so the
        # comparison covers rejections as well as acceptances.
        assert sum(rejected) >= 1


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "spread"), [(0, 1.0), (1, 1.0), (2, 1.0), (3, 6.0)])
def test_analytic_fasting_check_matches_a_simulated_day_at_10000_subjects(
    monkeypatch: pytest.MonkeyPatch, seed: int, spread: float
) -> None:
    """The population benchmark's size: 10,000 subjects identical to the simulated rule's."""
    fast = generate_population(10_000, np.random.default_rng(seed), spread=spread)
    _simulated_rules_sampler(monkeypatch)
    _assert_same_population(
        fast, generate_population(10_000, np.random.default_rng(seed), spread=spread)
    )


def test_the_30_standard_subjects_keep_their_steady_state_provably() -> None:
    """Every published subject is decided without a simulated fasting day."""
    assert fasting_run_is_stable(load_cohort()).all()


def _stiffened(name: str, param: Param, factor: float) -> Cohort:
    """A standard subject with one rate constant scaled (its steady state unchanged)."""
    cohort = load_cohort().select([name])
    params = cohort.parameters.copy()
    params[:, param] *= factor
    return dataclasses.replace(cohort, parameters=params)


@pytest.mark.parametrize(
    ("param", "factor"),
    [(Param.ksc, 40.0), (Param.ka2, 500.0), (Param.p2u, 200.0)],
)
def test_a_mode_beyond_the_integrators_stability_limit_is_not_shown_stable(
    param: Param, factor: float
) -> None:
    """ksc, ka2 or p2u scaled until one RK4 minute amplifies its mode: simulate, do not assume."""
    assert not fasting_run_is_stable(_stiffened("adult#001", param, factor))[0]
    assert fasting_run_is_stable(_stiffened("adult#001", param, 1.5))[0]


@pytest.mark.parametrize(
    ("param", "factor"), [(Param.ksc, 40.0), (Param.ka2, 500.0), (Param.p2u, 200.0)]
)
def test_subjects_not_shown_stable_are_decided_by_the_simulated_run(
    param: Param, factor: float
) -> None:
    """For a stiffened subject plausible() answers as the simulated run does."""
    cohort = _stiffened("adult#003", param, factor)
    assert np.array_equal(plausible(cohort), plausible(cohort, simulate_fasting=True))


def test_a_tiny_drift_limit_always_simulates() -> None:
    """Below ANALYTIC_MIN_DRIFT_MG_DL the rule is simulated for every subject."""
    rules = PlausibilityRules(max_fasting_drift_mg_dl=ANALYTIC_MIN_DRIFT_MG_DL / 10)
    cohort = load_cohort()
    assert np.array_equal(plausible(cohort, rules), plausible(cohort, rules, simulate_fasting=True))

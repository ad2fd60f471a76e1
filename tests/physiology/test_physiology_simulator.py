"""The batched simulator: backends, stepping API, records, errors and input checks."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from pumplab.errors import InputError, NonFiniteStateError
from pumplab.physiology import (
    DEFAULT_STEPS,
    MAX_CARBS_G_PER_MIN,
    MAX_INSULIN_U_PER_MIN,
    Cohort,
    Param,
    PatientBatch,
    State,
    StepControl,
    ValidityFlag,
    load_cohort,
    simulate,
)

M = 360  # minutes in the short scenarios below


def _inputs(
    cohort: Cohort, minutes: int = M, overdose_u: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Basal for every patient, a 60 g meal at minute 30 with a 6 U bolus, optional overdose."""
    n = len(cohort)
    carbs = np.zeros((n, minutes))
    insulin = np.tile(cohort.basal_u_per_min[:, None], (1, minutes))
    carbs[:, 30] = 60.0
    insulin[:, 30] += 6.0
    # The overdose is delivered 50 U a minute from minute 40 (the per-minute limit is 100 U).
    per_minute = 50.0
    whole = int(overdose_u // per_minute)
    insulin[:, 40 : 40 + whole] += per_minute
    insulin[:, 40 + whole] += overdose_u - whole * per_minute
    return carbs, insulin


def _overflowing_cohort(name: str = "adult#002") -> Cohort:
    """The standard 30 with ``name``'s body weight set to 1e-304 kg.

    One unit of insulin is then about 6e307 pmol/kg for that subject, and the
    RK4 stage sum overflows: a non-finite state reached with valid inputs.
    """
    cohort = load_cohort()
    params = cohort.parameters.copy()
    params[cohort.index(name), Param.BW] = 1e-304
    return dataclasses.replace(cohort, parameters=params)


def _staggered_day(overdose_u: float) -> tuple[np.ndarray, np.ndarray]:
    """A day whose meals (and overdose) start at a different minute for each patient.

    Patients are then in different phases (eating or not, crossing zero or not)
    in the same minute, so the numpy backend's per-patient step grouping is used.
    """
    carbs, insulin = _inputs(load_cohort(), minutes=1440, overdose_u=overdose_u)
    for i in range(30):
        carbs[i] = np.roll(carbs[i], 7 * i)
        insulin[i] = np.roll(insulin[i], 7 * i)
    return carbs, insulin


def _numpy_exp_is_libm_exp() -> bool:
    x = np.linspace(-40.0, 40.0, 100_001)
    return bool(np.array_equal(np.exp(x), np.array([math.exp(v) for v in x])))


def test_numba_and_numpy_backends_agree_on_all_30_subjects() -> None:
    """Both backends give the same traces: bit for bit where numpy's exp is the C library's.

    The only operation whose rounding can differ is exp (numpy may use its own
    SIMD exp on some CPUs); then they agree to 1e-9 relative.
    """
    cohort = load_cohort()
    carbs, insulin = _staggered_day(overdose_u=60.0)
    a = simulate(cohort, carbs, insulin, trace_gsub=True, backend="numba")
    b = simulate(cohort, carbs, insulin, trace_gsub=True, backend="numpy")
    assert a.bg_mg_dl is not None and b.bg_mg_dl is not None
    assert a.gsub_mg_dl is not None and b.gsub_mg_dl is not None
    if _numpy_exp_is_libm_exp():
        assert np.array_equal(a.bg_mg_dl, b.bg_mg_dl)
        assert np.array_equal(a.gsub_mg_dl, b.gsub_mg_dl)
        assert np.array_equal(a.final_state, b.final_state)
    else:
        np.testing.assert_allclose(a.bg_mg_dl, b.bg_mg_dl, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(a.gsub_mg_dl, b.gsub_mg_dl, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(a.final_state, b.final_state, rtol=1e-9, atol=1e-9)


def test_numba_and_numpy_backends_keep_the_same_record() -> None:
    """Severe-hypo minutes and validity flags are identical across backends."""
    cohort = load_cohort()
    carbs, insulin = _staggered_day(overdose_u=60.0)
    a = simulate(cohort, carbs, insulin, trace_bg=False, backend="numba").summary
    b = simulate(cohort, carbs, insulin, trace_bg=False, backend="numpy").summary
    assert np.array_equal(a.first_severe_hypo_minute, b.first_severe_hypo_minute)
    assert np.array_equal(a.validity_flags, b.validity_flags)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_stepping_minute_by_minute_equals_one_whole_run(backend: str) -> None:
    """PatientBatch.step over M minutes gives bit-identical glucose and state to simulate()."""
    cohort = load_cohort().select(["adult#002", "child#004", "adolescent#007"])
    carbs, insulin = _inputs(cohort)
    whole = simulate(cohort, carbs, insulin, trace_gsub=True, backend=backend)  # type: ignore[arg-type]
    batch = PatientBatch(cohort, backend=backend)  # type: ignore[arg-type]
    bg = [batch.bg_mg_dl]
    gsub = [batch.gsub_mg_dl]
    for m in range(M):
        batch.step(carbs[:, m], insulin[:, m])
        bg.append(batch.bg_mg_dl)
        gsub.append(batch.gsub_mg_dl)
    assert np.array_equal(np.array(bg).T, whole.bg_mg_dl)
    assert np.array_equal(np.array(gsub).T, whole.gsub_mg_dl)
    assert np.array_equal(batch.state, whole.final_state)
    assert np.array_equal(batch.summary().bg_mean_mg_dl, whole.summary.bg_mean_mg_dl)


def test_shared_inputs_broadcast_like_per_patient_copies() -> None:
    """(M,) inputs give the same result as the same row repeated for every patient."""
    cohort = load_cohort().select(["adult#001", "adult#005"])
    carbs = np.zeros(M)
    carbs[10] = 50.0
    insulin = np.full(M, 0.02)
    shared = simulate(cohort, carbs, insulin)
    tiled = simulate(cohort, np.tile(carbs, (2, 1)), np.tile(insulin, (2, 1)))
    assert np.array_equal(shared.bg_mg_dl, tiled.bg_mg_dl)  # type: ignore[arg-type]


def test_patients_are_independent_of_their_batch() -> None:
    """A patient simulated alone gets exactly the numbers it gets inside the cohort."""
    cohort = load_cohort()
    carbs, insulin = _inputs(cohort)
    together = simulate(cohort, carbs, insulin)
    i = cohort.index("child#009")
    alone = simulate(cohort.select(["child#009"]), carbs[i : i + 1], insulin[i : i + 1])
    assert np.array_equal(together.bg_mg_dl[i], alone.bg_mg_dl[0])  # type: ignore[index]


def test_basal_only_run_stays_at_the_fasting_steady_state() -> None:
    """24 h of basal and no food keeps every standard subject within 0.01 mg/dL of Gb."""
    cohort = load_cohort()
    insulin = np.tile(cohort.basal_u_per_min[:, None], (1, 1440))
    result = simulate(cohort, np.zeros(1440), insulin)
    bg = result.bg_mg_dl
    assert bg is not None
    assert np.abs(bg - bg[:, :1]).max() < 0.01


def test_trace_starts_with_the_initial_state() -> None:
    """Column 0 of the trace is Gp/Vg of the published initial state (Gb)."""
    cohort = load_cohort()
    result = simulate(cohort, np.zeros(5), np.zeros(5), trace_gsub=True)
    gb = cohort.initial_state[:, State.G_P] / cohort.parameters[:, 7]
    assert np.array_equal(result.bg_mg_dl[:, 0], gb)  # type: ignore[index]
    assert result.bg_mg_dl.shape == (30, 6)  # type: ignore[union-attr]


def test_summary_mean_min_max_cover_every_trace_row() -> None:
    """RunSummary mean/min/max equal those of the full trace, minute 0 included."""
    cohort = load_cohort()
    carbs, insulin = _inputs(cohort)
    result = simulate(cohort, carbs, insulin)
    bg = result.bg_mg_dl
    assert bg is not None
    np.testing.assert_allclose(result.summary.bg_mean_mg_dl, bg.mean(axis=1), rtol=1e-12)
    assert np.array_equal(result.summary.bg_min_mg_dl, bg.min(axis=1))
    assert np.array_equal(result.summary.bg_max_mg_dl, bg.max(axis=1))


def test_massive_overdose_stays_finite_and_records_severe_hypo() -> None:
    """300 U drives BG to the zero gate without NaN; the first minute < 40 is recorded."""
    cohort = load_cohort().select(["adult#001", "child#001"])
    carbs, insulin = _inputs(cohort, minutes=1440, overdose_u=300.0)
    result = simulate(cohort, carbs, insulin, trace_gsub=True)
    bg = result.bg_mg_dl
    assert bg is not None
    assert np.isfinite(bg).all() and np.isfinite(result.final_state).all()
    first = np.argmax(bg < 40.0, axis=1)
    assert np.array_equal(result.summary.first_severe_hypo_minute, first)
    assert (bg.min(axis=1) < 1.0).all()


def test_overdose_sets_validity_flags() -> None:
    """A run reaching Gp <= 0 is flagged SEVERE_HYPOGLYCAEMIA and STATE_AT_ZERO."""
    cohort = load_cohort().select(["adult#001"])
    carbs, insulin = _inputs(cohort, minutes=1440, overdose_u=300.0)
    summary = simulate(cohort, carbs, insulin, trace_bg=False).summary
    flags = ValidityFlag(int(summary.validity_flags[0]))
    assert ValidityFlag.SEVERE_HYPOGLYCAEMIA in flags and ValidityFlag.STATE_AT_ZERO in flags
    assert summary.outside_validated_range[0]


def test_normal_day_stays_inside_the_validated_range() -> None:
    """A meal with a matched bolus leaves adult#001 unflagged, with no severe-hypo minute."""
    cohort = load_cohort().select(["adult#001"])
    carbs, insulin = _inputs(cohort)
    summary = simulate(cohort, carbs, insulin, trace_bg=False).summary
    assert summary.validity_flags[0] == 0
    assert summary.first_severe_hypo_minute[0] == -1


def test_very_high_glucose_sets_the_above_range_flag() -> None:
    """Eating 1000 g with no insulin takes plasma glucose above 600 mg/dL and flags it."""
    cohort = load_cohort().select(["adolescent#003"])
    carbs = np.zeros(1440)
    carbs[0:2] = 500.0  # the per-minute limit, twice: 1000 g queued
    summary = simulate(cohort, carbs, np.zeros(1440), trace_bg=False).summary
    assert summary.bg_max_mg_dl[0] > 600.0
    assert ValidityFlag.ABOVE_RANGE in ValidityFlag(int(summary.validity_flags[0]))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_non_finite_state_raises_naming_patient_and_minute(backend: str) -> None:
    """An overflowing state raises NonFiniteStateError naming the patient and minute."""
    cohort = _overflowing_cohort().select(["adult#001", "adult#002"])
    batch = PatientBatch(cohort, backend=backend)  # type: ignore[arg-type]
    batch.step([0.0, 0.0], [0.0, 0.0])
    with (
        np.errstate(all="ignore"),
        pytest.raises(NonFiniteStateError, match=r"adult#002.*minute 2"),
    ):
        batch.step([0.0, 0.0], [0.0, 1.0])


def test_batch_refuses_to_continue_after_a_non_finite_state() -> None:
    """After a NonFiniteStateError every further step raises too."""
    batch = PatientBatch(_overflowing_cohort().select(["adult#002"]))
    with pytest.raises(NonFiniteStateError):
        batch.step([0.0], [1.0])
    with pytest.raises(NonFiniteStateError):
        batch.step([0.0], [0.0])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_reported_glucose_is_never_negative_under_a_huge_overdose(backend: str) -> None:
    """1,000 U (100 U a minute) overshoots the zero gate, but no reported glucose is below 0."""
    cohort = load_cohort()
    insulin = np.zeros(600)
    insulin[10:20] = MAX_INSULIN_U_PER_MIN
    batch = PatientBatch(cohort, backend=backend)  # type: ignore[arg-type]
    bg, gsub = batch.run(np.zeros(600), insulin, trace_bg=True, trace_gsub=True)
    assert bg is not None and gsub is not None
    state = batch.state
    # The integrated state does go below zero (what the clamp is for) ...
    assert (state[:, State.G_P] < 0.0).any()
    # ... but every reported value reads it as 0.
    assert bg.min() == 0.0 and gsub.min() >= 0.0
    assert (batch.bg_mg_dl >= 0.0).all() and (batch.gsub_mg_dl >= 0.0).all()
    summary = batch.summary()
    assert (summary.bg_min_mg_dl >= 0.0).all() and (summary.bg_mean_mg_dl >= 0.0).all()
    assert not np.signbit(bg).any()  # not even -0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("insulin_u", MAX_INSULIN_U_PER_MIN * 1.0001), ("insulin_u", 1e300),
     ("carbs_g", MAX_CARBS_G_PER_MIN + 1.0)],
)  # fmt: skip
def test_input_above_the_per_minute_limit_is_refused(field: str, value: float) -> None:
    """More than 100 U or 500 g in one minute raises InputError naming field, limit and minute."""
    batch = PatientBatch(load_cohort().select(["adult#001"]))
    inputs = {"carbs_g": 0.0, "insulin_u": 0.0, field: value}
    with pytest.raises(InputError, match=rf"{field}.*adult#001 at minute 0.*<= "):
        batch.step(inputs["carbs_g"], inputs["insulin_u"])
    assert batch.minute == 0


def test_input_at_the_per_minute_limit_is_accepted() -> None:
    """Exactly 100 U and 500 g in one minute are accepted."""
    batch = PatientBatch(load_cohort().select(["adult#001"]))
    batch.step(MAX_CARBS_G_PER_MIN, MAX_INSULIN_U_PER_MIN)
    assert batch.minute == 1


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_bad_input_value_raises_input_error_naming_patient_and_minute(bad: float) -> None:
    """Negative, NaN or infinite inputs raise InputError naming field, patient and minute."""
    batch = PatientBatch(load_cohort().select(["adult#001", "child#002"]))
    batch.step([0.0, 0.0], [0.0, 0.0])
    with pytest.raises(InputError, match=r"insulin_u.*child#002 at minute 1"):
        batch.step([0.0, 0.0], [0.0, bad])
    assert batch.minute == 1


def test_bad_input_in_a_whole_run_names_the_minute() -> None:
    """simulate() rejects a negative carb value and names its minute."""
    carbs = np.zeros(10)
    carbs[7] = -5.0
    with pytest.raises(InputError, match=r"carbs_g.*minute 7"):
        simulate(load_cohort().select(["adult#001"]), carbs, np.zeros(10))


def test_wrong_input_shape_raises_value_error() -> None:
    """Inputs whose shape fits neither (N,) nor a scalar are a programming error."""
    batch = PatientBatch(load_cohort().select(["adult#001", "adult#002"]))
    with pytest.raises(ValueError, match="shape"):
        batch.step(np.zeros(3), np.zeros(2))


def test_mismatched_run_lengths_raise_value_error() -> None:
    """carbs_g and insulin_u covering different numbers of minutes are refused."""
    with pytest.raises(ValueError, match="minutes"):
        simulate(load_cohort().select(["adult#001"]), np.zeros(10), np.zeros(11))


def test_unknown_backend_raises_value_error() -> None:
    """Only 'numba' and 'numpy' are backends."""
    with pytest.raises(ValueError, match="backend"):
        PatientBatch(load_cohort(), backend="fortran")  # type: ignore[arg-type]


def test_environment_variable_selects_the_numpy_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """PUMPLAB_NO_NUMBA=1 makes numpy the default backend."""
    monkeypatch.setenv("PUMPLAB_NO_NUMBA", "1")
    assert PatientBatch(load_cohort()).backend == "numpy"
    monkeypatch.delenv("PUMPLAB_NO_NUMBA")
    assert PatientBatch(load_cohort()).backend == "numba"


def test_minute_counter_advances_per_step_and_per_run() -> None:
    """minute counts the minutes simulated by step() and run() together."""
    batch = PatientBatch(load_cohort().select(["adult#001"]))
    batch.step(0.0, 0.0)
    batch.run(np.zeros(9), np.zeros(9))
    assert batch.minute == 10


def test_meal_raises_glucose_and_bolus_brings_it_back() -> None:
    """A 60 g meal raises adult#001's BG by > 30 mg/dL; with a bolus the peak is lower."""
    cohort = load_cohort().select(["adult#001"])
    carbs = np.zeros(M)
    carbs[30] = 60.0
    basal = np.full(M, cohort.basal_u_per_min[0])
    bolus = basal.copy()
    bolus[30] += 6.0
    no_bolus = simulate(cohort, carbs, basal).bg_mg_dl
    with_bolus = simulate(cohort, carbs, bolus).bg_mg_dl
    assert no_bolus is not None and with_bolus is not None
    assert no_bolus.max() > no_bolus[0, 0] + 30.0
    assert with_bolus.max() < no_bolus.max()


def test_step_control_refines_eating_minutes() -> None:
    """Refining eating minutes changes the result (the rule is applied), uniform x4 agrees."""
    cohort = load_cohort().select(["adult#006"])
    carbs, insulin = _inputs(cohort)
    coarse = simulate(cohort, carbs, insulin, steps=StepControl.uniform(1)).bg_mg_dl
    default = simulate(cohort, carbs, insulin).bg_mg_dl
    fine = simulate(cohort, carbs, insulin, steps=StepControl.uniform(16)).bg_mg_dl
    assert coarse is not None and default is not None and fine is not None
    assert np.abs(default - fine).max() < np.abs(coarse - fine).max()
    assert np.abs(default - fine).max() < 0.05


def test_zero_crossing_minute_is_recomputed_finely() -> None:
    """With the zero-crossing refinement the frozen plasma glucose state is closer to 0."""
    cohort = load_cohort().select(["adult#005"])
    carbs, insulin = _inputs(cohort, minutes=1440, overdose_u=300.0)
    without = simulate(cohort, carbs, insulin, steps=StepControl(1, 4, 30, 0)).final_state
    with_refine = simulate(cohort, carbs, insulin, steps=StepControl(1, 4, 30, 16)).final_state
    # The gate freezes Gp where the step left it: the raw state keeps the overshoot.
    gp_without, gp_with = without[0, State.G_P], with_refine[0, State.G_P]
    assert gp_without < 0.0 and gp_with < 0.0
    assert abs(gp_with) < abs(gp_without)


def test_default_step_control_is_the_documented_rule() -> None:
    """The default: 1 sub-step, 4 while eating and 30 min after, 16 at a zero crossing."""
    assert StepControl(1, 4, 30, 16) == DEFAULT_STEPS


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_substeps": 0},
        {"meal_substeps": 2000},
        {"meal_window_min": -1},
        {"zero_crossing_substeps": 1.5},
        {"base_substeps": True},
    ],
)
def test_step_control_rejects_bad_values(kwargs: dict[str, object]) -> None:
    """Sub-step counts outside their ranges (or not ints) are a ValueError."""
    with pytest.raises(ValueError):
        StepControl(**kwargs)  # type: ignore[arg-type]

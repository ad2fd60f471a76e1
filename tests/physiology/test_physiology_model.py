"""The right-hand side, state names, parameters and meal bookkeeping of the model."""

from __future__ import annotations

import numpy as np
import pytest

from pumplab.physiology import ModelParameters, Param, State, load_cohort
from pumplab.physiology.model import (
    EAT_RATE_G_PER_MIN,
    MealQueue,
    advance_meal_queue,
    derivatives,
    gut_coefficients,
)
from pumplab.units import MG_PER_G, u_to_pmol_per_kg


def _rhs_at(
    x: np.ndarray,
    dbar: float,
    carbs_g: float,
    insulin_u: float,
    i: int,
    params_row: np.ndarray | None = None,
) -> np.ndarray:
    row = load_cohort().parameters[i] if params_row is None else params_row
    params = row.reshape(-1, 1).copy()
    gut = gut_coefficients(params, np.array([dbar]))
    u = u_to_pmol_per_kg(np.array([insulin_u]), params[Param.BW])
    return derivatives(x.reshape(13, 1), params, gut, np.array([carbs_g * MG_PER_G]), u)[:, 0]


def test_states_are_named_in_simglucose_order() -> None:
    """State has 13 members whose values are simglucose's x[0]..x[12] indices."""
    assert [s.value for s in State] == list(range(13))
    assert State.G_P == 3 and State.G_S == 12 and State.I_SC1 == 10


def test_model_parameters_round_trip_through_the_packed_row() -> None:
    """ModelParameters.from_array(row).to_array() returns the row unchanged."""
    row = load_cohort().parameters[7]
    assert np.array_equal(ModelParameters.from_array(row).to_array(), row)


def test_published_initial_state_is_a_steady_state_at_basal() -> None:
    """With the basal infusion u2ss and no meal, dx/dt at x0 is ~0 for all 30 subjects."""
    cohort = load_cohort()
    params = cohort.parameters.T.copy()
    x0 = cohort.initial_state.T.copy()
    gut = gut_coefficients(params, np.zeros(len(cohort)))
    dx = derivatives(x0, params, gut, np.zeros(len(cohort)), params[Param.u2ss])
    scale = np.maximum(np.abs(x0), 1.0)
    assert np.abs(dx / scale).max() < 1e-7


@pytest.mark.peer
def test_derivatives_equal_simglucose_model_at_random_states() -> None:
    """derivatives() equals simglucose's T1DPatient.model at random states, meals and doses."""
    # Peers are test extras: imported plainly, so a missing one fails rather than skips.
    import pandas as pd
    from simglucose.patient.t1dpatient import PATIENT_PARA_FILE, Action, T1DPatient

    table = pd.read_csv(PATIENT_PARA_FILE)
    cohort = load_cohort()
    rng = np.random.default_rng(2)
    for i in rng.choice(30, size=10, replace=False):
        row = table.iloc[int(i)]
        x0 = cohort.initial_state[i]
        for _ in range(20):
            x = x0 * rng.uniform(0.2, 3.0, 13)
            x[[0, 1, 2]] = rng.uniform(0.0, 60_000.0, 3)
            x[6] = rng.uniform(-5.0, 50.0)
            if rng.random() < 0.2:
                x[3] = -1.0  # gated
            if rng.random() < 0.2:
                x[3] = 400.0  # renal excretion active
            carbs = float(rng.choice([0.0, 5.0, 2.5]))
            insulin = float(rng.uniform(0.0, 3.0))
            last_qsto = float(rng.choice([0.0, rng.uniform(0, 30_000)]))
            foodtaken = float(rng.choice([0.0, rng.uniform(0, 80)]))
            theirs = T1DPatient.model(
                0.0, x, Action(CHO=carbs, insulin=insulin), row, last_qsto, foodtaken
            )
            ours = _rhs_at(x, last_qsto + foodtaken * 1000.0, carbs, insulin, int(i))
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_gated_glucose_state_has_zero_derivative() -> None:
    """A negative plasma glucose mass gets dGp/dt = 0 (simglucose's (x >= 0) * dx)."""
    x = load_cohort().initial_state[0].copy()
    x[State.G_P] = -1e-3
    assert _rhs_at(x, 0.0, 5.0, 1.0, 0)[State.G_P] == 0.0


def test_renal_excretion_lowers_glucose_above_threshold() -> None:
    """Above ke2, dGp/dt is lower by exactly ke1 (Gp - ke2) than with renal excretion off."""
    cohort = load_cohort()
    x = cohort.initial_state[0].copy()
    ke1, ke2 = cohort.parameters[0, Param.ke1], cohort.parameters[0, Param.ke2]
    x[State.G_P] = ke2 + 100.0
    no_renal = cohort.parameters[0].copy()
    no_renal[Param.ke1] = 0.0
    with_renal = _rhs_at(x, 0.0, 0.0, 0.0, 0)[State.G_P]
    without = _rhs_at(x, 0.0, 0.0, 0.0, 0, params_row=no_renal)[State.G_P]
    assert with_renal == pytest.approx(without - ke1 * 100.0, rel=1e-12)


def test_no_renal_excretion_below_threshold() -> None:
    """Below ke2 the renal parameters do not affect dGp/dt."""
    cohort = load_cohort()
    x = cohort.initial_state[0].copy()
    no_renal = cohort.parameters[0].copy()
    no_renal[Param.ke1] = 0.0
    assert (
        _rhs_at(x, 0.0, 0.0, 0.0, 0)[State.G_P]
        == _rhs_at(x, 0.0, 0.0, 0.0, 0, params_row=no_renal)[State.G_P]
    )


def test_meal_is_eaten_at_five_grams_per_minute() -> None:
    """12 g announced in one minute are eaten as 5, 5 and 2 g over three minutes."""
    queue = MealQueue.empty(np.zeros(1))
    eaten = [advance_meal_queue(queue, np.array([c]), np.zeros(1))[0][0] for c in (12, 0, 0, 0)]
    assert eaten == [EAT_RATE_G_PER_MIN, EAT_RATE_G_PER_MIN, 2.0, 0.0]


def test_meal_announced_while_eating_joins_the_queue() -> None:
    """Grams announced during a meal are eaten after the ones already queued, at 5 g/min."""
    queue = MealQueue.empty(np.zeros(1))
    eaten = [advance_meal_queue(queue, np.array([c]), np.zeros(1))[0][0] for c in (7, 4, 0, 0)]
    assert eaten == [5.0, 5.0, 1.0, 0.0]


def test_dbar_counts_stomach_at_eating_start_plus_grams_eaten_in_mg() -> None:
    """Dbar = Qsto when eating began + grams eaten since, x 1000 (simglucose issue #41)."""
    queue = MealQueue.empty(np.zeros(1))
    advance_meal_queue(queue, np.array([0.0]), np.array([999.0]))
    _, dbar1 = advance_meal_queue(queue, np.array([8.0]), np.array([1500.0]))
    _, dbar2 = advance_meal_queue(queue, np.array([0.0]), np.array([4000.0]))
    _, dbar3 = advance_meal_queue(queue, np.array([0.0]), np.array([7000.0]))
    assert dbar1[0] == 1500.0 + 5000.0
    assert dbar2[0] == 1500.0 + 8000.0
    assert dbar3[0] == dbar2[0]  # unchanged after eating stops


def test_new_eating_episode_restarts_the_last_meal_record() -> None:
    """A meal after a pause re-reads the stomach content and restarts the eaten-grams count."""
    queue = MealQueue.empty(np.zeros(1))
    for c in (5.0, 0.0, 0.0):
        advance_meal_queue(queue, np.array([c]), np.array([100.0]))
    _, dbar = advance_meal_queue(queue, np.array([3.0]), np.array([2500.0]))
    assert dbar[0] == 2500.0 + 3000.0


def test_gastric_emptying_is_kmax_before_any_meal() -> None:
    """With Dbar = 0 (no meal yet) the gut coefficients are inactive, so kgut = kmax."""
    cohort = load_cohort()
    x = cohort.initial_state[0].copy()
    x[State.Q_STO2] = 1000.0
    dx = _rhs_at(x, 0.0, 0.0, 0.0, 0)
    assert dx[State.Q_STO2] == -cohort.parameters[0, Param.kmax] * 1000.0


def test_tanh_formula_matches_tanh_to_rounding() -> None:
    """model._tanh (1 - 2/(e^2z + 1)) is within 5e-16 of numpy's tanh over [-25, 25]."""
    from pumplab.physiology.model import _tanh

    z = np.linspace(-25.0, 25.0, 200_001)
    assert np.abs(_tanh(z) - np.tanh(z)).max() < 5e-16


def test_tanh_formula_is_exactly_plus_minus_one_beyond_20() -> None:
    """For |z| >= 20 the formula rounds to exactly +-1, so the kernel's shortcut is exact."""
    from pumplab.physiology.model import _tanh

    z = np.concatenate([np.linspace(20.0, 800.0, 100_001), -np.linspace(20.0, 800.0, 100_001)])
    assert np.array_equal(_tanh(z), np.sign(z))

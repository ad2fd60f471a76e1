"""The standard cohort: shipped data, therapy settings, lookup by name."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from pumplab.errors import InputError
from pumplab.physiology import Param, load_cohort
from pumplab.physiology.population import derive_steady_state, standard_primaries


def test_standard_cohort_has_the_30_named_subjects_in_order() -> None:
    """adolescent#001-010, adult#001-010, child#001-010, in simglucose's order."""
    expected = [f"{g}#{i:03d}" for g in ("adolescent", "adult", "child") for i in range(1, 11)]
    assert list(load_cohort().names) == expected


@pytest.mark.peer
def test_shipped_values_equal_simglucose_parameter_files() -> None:
    """Every parameter, initial state and Quest value equals simglucose 0.2.11's CSV files."""
    import simglucose

    root = Path(simglucose.__file__).resolve().parent / "params"
    with (root / "vpatient_params.csv").open() as f:
        rows = list(csv.DictReader(f))
    with (root / "Quest.csv").open() as f:
        quest = {r["Name"]: r for r in csv.DictReader(f)}
    cohort = load_cohort()
    for i, row in enumerate(rows):
        assert cohort.names[i] == row["Name"]
        for p in Param:
            assert cohort.parameters[i, p] == float(row[p.name]), (row["Name"], p.name)
        for k in range(13):
            assert cohort.initial_state[i, k] == float(row[f"x0_{k + 1:2d}"])
        q = quest[row["Name"]]
        assert cohort.carb_ratio_g_per_u[i] == float(q["CR"])
        assert cohort.correction_factor_mg_dl_per_u[i] == float(q["CF"])
        assert cohort.total_daily_insulin_u[i] == float(q["TDI"])
        assert cohort.age_years[i] == float(q["Age"])


def test_basal_rate_is_the_steady_state_infusion_in_units_per_hour() -> None:
    """basal = u2ss x BW / 6000 U/min x 60, e.g. adolescent#001 = 0.8361 U/h."""
    cohort = load_cohort()
    expected = cohort.parameters[:, Param.u2ss] * cohort.parameters[:, Param.BW] / 6000.0 * 60.0
    np.testing.assert_allclose(cohort.basal_rate_u_per_h, expected, rtol=1e-15)
    assert cohort.subject("adolescent#001").therapy.basal_rate_u_per_h == pytest.approx(
        0.836135, abs=1e-6
    )


def test_subject_record_carries_quest_therapy_settings() -> None:
    """adult#001 has CR 10 g/U, CF 8.773 mg/dL/U, TDI 50.42 U, age 61, BW 102.32 kg."""
    therapy = load_cohort().subject("adult#001").therapy
    assert therapy.carb_ratio_g_per_u == 10.0
    assert therapy.correction_factor_mg_dl_per_u == pytest.approx(8.77310657487)
    assert therapy.total_daily_insulin_u == pytest.approx(50.416652)
    assert therapy.age_years == 61.0
    assert therapy.body_weight_kg == 102.32


def test_fasting_bg_of_a_subject_is_its_initial_plasma_glucose() -> None:
    """Subject.fasting_bg_mg_dl = x0[Gp] / Vg, adolescent#001: 149.02 mg/dL (its Gb)."""
    assert load_cohort().subject("adolescent#001").fasting_bg_mg_dl == pytest.approx(149.02)


def test_unknown_subject_name_raises_input_error_listing_valid_names() -> None:
    """An unknown name raises InputError naming the pattern of valid names."""
    with pytest.raises(InputError, match=r"adult#011.*adolescent#001-010, adult#001-010"):
        load_cohort().subject("adult#011")


def test_select_returns_the_named_subjects_in_the_given_order() -> None:
    """select() keeps the caller's order and the rows' data."""
    cohort = load_cohort()
    part = cohort.select(["child#003", "adult#001"])
    assert part.names == ("child#003", "adult#001")
    assert np.array_equal(part.parameters[0], cohort.parameters[cohort.index("child#003")])


def test_cohort_arrays_are_read_only() -> None:
    """The cohort's arrays cannot be modified in place."""
    with pytest.raises(ValueError):
        load_cohort().parameters[0, 0] = 1.0


def test_steady_state_equations_reproduce_every_published_subject() -> None:
    """S1-S12 applied to the primary parameters give the shipped parameters and x0."""
    cohort = load_cohort()
    params, x0 = derive_steady_state(standard_primaries())
    np.testing.assert_allclose(params, cohort.parameters, rtol=1e-9)
    np.testing.assert_allclose(x0, cohort.initial_state, rtol=1e-9, atol=1e-9)

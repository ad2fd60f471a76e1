"""Bolus wizard with Paradigm x23 semantics: hand-computed cases, notes, validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from therapy_strategies import FIXED

from pumplab.errors import InputError, SettingsError
from pumplab.therapy import (
    X23_BASAL_INCREMENT,
    BgTarget,
    BilinearCurve,
    Dose,
    WizardNote,
    WizardSettings,
    bg_target_schedule,
    bolus_wizard,
    carb_ratio_schedule,
    insulin_on_board,
    is_on_grid,
    isf_schedule,
    x23_active_insulin_curve,
)


def settings(
    *,
    carb_ratio: float = 10.0,
    isf: float = 40.0,
    low: float = 90.0,
    high: float = 120.0,
    max_bolus_u: float = 10.0,
) -> WizardSettings:
    """One-segment wizard settings; each test overrides what it is about."""
    return WizardSettings(
        carb_ratio_g_per_u=carb_ratio_schedule([(0, carb_ratio)]),
        isf_mg_dl_per_u=isf_schedule([(0, isf)]),
        bg_target=bg_target_schedule([(0, BgTarget(low, high))]),
        max_bolus_u=max_bolus_u,
    )


def test_issue_example_food_plus_correction_minus_active_insulin() -> None:
    """60 g at 10 g/U → food 6.0; BG 200 above high 120 at ISF 40 → (200 − 120)/40 = 2.0;
    minus 1.0 U active insulin → 1.0; total 6.0 + 1.0 = 7.0 U."""
    rec = bolus_wizard(
        carbs_g=60, bg_mg_dl=200, active_insulin_u=1.0, minute_of_day=720, settings=settings()
    )
    assert (rec.food_u, rec.correction_u, rec.iob_u, rec.total_u) == (6.0, 2.0, 1.0, 7.0)
    assert rec.notes == (WizardNote.BG_ABOVE_TARGET, WizardNote.ACTIVE_INSULIN_REDUCES_CORRECTION)


def test_active_insulin_is_never_subtracted_from_food() -> None:
    """45 g at 15 g/U → 3.0; BG 160 → (160 − 120)/40 = 1.0; 3 U active covers it: 1.0 used,
    total = food only = 3.0 U."""
    rec = bolus_wizard(
        carbs_g=45,
        bg_mg_dl=160,
        active_insulin_u=3.0,
        minute_of_day=0,
        settings=settings(carb_ratio=15.0),
    )
    assert (rec.food_u, rec.correction_u, rec.iob_u, rec.total_u) == (3.0, 1.0, 1.0, 3.0)
    assert WizardNote.ACTIVE_INSULIN_COVERS_CORRECTION in rec.notes


def test_bg_below_target_reduces_the_food_bolus_and_ignores_active_insulin() -> None:
    """45 g at 15 g/U → 3.0; BG 70 below low 90 at ISF 50 → (70 − 90)/50 = −0.4; active insulin
    not used below target; total 2.6 U."""
    rec = bolus_wizard(
        carbs_g=45,
        bg_mg_dl=70,
        active_insulin_u=2.0,
        minute_of_day=0,
        settings=settings(carb_ratio=15.0, isf=50.0),
    )
    assert rec.correction_u == pytest.approx(-0.4)
    assert rec.iob_u == 0.0
    assert rec.total_u == 2.6
    assert WizardNote.BG_BELOW_TARGET in rec.notes


@pytest.mark.parametrize("bg", [90.0, 105.0, 120.0])
def test_bg_within_the_target_range_gets_no_correction(bg: float) -> None:
    """Between or equal to the targets: food only (30 g / 10 = 3.0), active insulin not used."""
    rec = bolus_wizard(
        carbs_g=30, bg_mg_dl=bg, active_insulin_u=1.0, minute_of_day=0, settings=settings()
    )
    assert (rec.correction_u, rec.iob_u, rec.total_u) == (0.0, 0.0, 3.0)
    assert rec.notes == (WizardNote.BG_IN_RANGE,)


def test_no_bg_means_food_only() -> None:
    """Without a BG the estimate is the food estimate alone (x15/x54 guides' fourth formula)."""
    rec = bolus_wizard(
        carbs_g=30, bg_mg_dl=None, active_insulin_u=4.0, minute_of_day=0, settings=settings()
    )
    assert (rec.correction_u, rec.iob_u, rec.total_u) == (0.0, 0.0, 3.0)
    assert rec.notes == (WizardNote.NO_BG,)


def test_negative_total_is_shown_as_zero() -> None:
    """0 g and BG 60 (low 90, ISF 40) → −0.75 U: the recommendation is 0 U with a note."""
    rec = bolus_wizard(
        carbs_g=0, bg_mg_dl=60, active_insulin_u=0.0, minute_of_day=0, settings=settings()
    )
    assert rec.correction_u == pytest.approx(-0.75)
    assert rec.total_u == 0.0
    assert WizardNote.TOTAL_CLAMPED_AT_ZERO in rec.notes


def test_total_is_rounded_down_to_the_bolus_increment() -> None:
    """50 g at 12 g/U = 4.1667 U → 4.15 U on the 0.025-U grid (down, never up)."""
    rec = bolus_wizard(
        carbs_g=50,
        bg_mg_dl=None,
        active_insulin_u=0.0,
        minute_of_day=0,
        settings=settings(carb_ratio=12.0),
    )
    assert rec.unrounded_u == pytest.approx(4.1666667)
    assert rec.total_u == 4.15
    assert WizardNote.ROUNDED_DOWN in rec.notes


def test_increment_rule_is_a_parameter() -> None:
    """With the tiered x23 grid as increment, 50 g at 4.5 g/U = 11.11 U rounds down to 11.1 U."""
    base = settings(carb_ratio=4.5, max_bolus_u=25.0)
    tiered = WizardSettings(
        base.carb_ratio_g_per_u, base.isf_mg_dl_per_u, base.bg_target, 25.0, X23_BASAL_INCREMENT
    )
    rec = bolus_wizard(
        carbs_g=50, bg_mg_dl=None, active_insulin_u=0.0, minute_of_day=0, settings=tiered
    )
    assert rec.total_u == 11.1


def test_above_max_bolus_is_flagged_not_capped() -> None:
    """300 g at 10 g/U = 30 U with max bolus 10 U: 30 U is returned with EXCEEDS_MAX_BOLUS."""
    rec = bolus_wizard(
        carbs_g=300, bg_mg_dl=None, active_insulin_u=0.0, minute_of_day=0, settings=settings()
    )
    assert rec.total_u == 30.0
    assert rec.exceeds_max_bolus
    assert WizardNote.EXCEEDS_MAX_BOLUS in rec.notes


def test_exactly_max_bolus_is_not_flagged() -> None:
    """A recommendation equal to the max bolus is allowed."""
    rec = bolus_wizard(
        carbs_g=100, bg_mg_dl=None, active_insulin_u=0.0, minute_of_day=0, settings=settings()
    )
    assert rec.total_u == 10.0
    assert not rec.exceeds_max_bolus


def test_ratios_follow_the_time_of_day() -> None:
    """Carb ratio 10 g/U from 00:00 and 5 g/U from 07:00: 60 g is 6 U at 06:59, 12 U at 08:00."""
    s = WizardSettings(
        carb_ratio_g_per_u=carb_ratio_schedule([(0, 10.0), (420, 5.0)]),
        isf_mg_dl_per_u=isf_schedule([(0, 40.0)]),
        bg_target=bg_target_schedule([(0, BgTarget(100.0, 100.0))]),
        max_bolus_u=20.0,
    )
    early = bolus_wizard(
        carbs_g=60, bg_mg_dl=None, active_insulin_u=0, minute_of_day=419, settings=s
    )
    late = bolus_wizard(
        carbs_g=60, bg_mg_dl=None, active_insulin_u=0, minute_of_day=480, settings=s
    )
    assert (early.total_u, late.total_u) == (6.0, 12.0)


def test_active_insulin_from_the_x23_curve_feeds_the_wizard() -> None:
    """AIT 3 h → bilinear 180 min; 2 U given 120 min ago leave 2·60²/(180·105) = 0.380952 U.
    BG 200, high 120, ISF 40 → 2.0 − 0.380952 = 1.619048 → rounded down to 1.6 U."""
    curve = x23_active_insulin_curve(3)
    active = insulin_on_board([Dose(-120.0, 2.0)], 0.0, curve)
    assert active == pytest.approx(0.3809524, abs=1e-7)
    rec = bolus_wizard(
        carbs_g=0, bg_mg_dl=200, active_insulin_u=active, minute_of_day=0, settings=settings()
    )
    assert rec.total_u == 1.6


def test_x23_active_insulin_curve_maps_hours_to_a_bilinear_dia() -> None:
    """Active insulin time 6 h (factory default) is a 360-min bilinear curve."""
    assert x23_active_insulin_curve(6) == BilinearCurve(dia_min=360.0)


@pytest.mark.parametrize("hours", [1, 9, 0, True])
def test_active_insulin_time_outside_2_to_8_hours_is_refused(hours: int) -> None:
    """The x23 accepts 2–8 whole hours; anything else names active_insulin_time_h."""
    with pytest.raises(SettingsError) as info:
        x23_active_insulin_curve(hours)
    assert info.value.field == "active_insulin_time_h"


@pytest.mark.parametrize(
    ("carbs", "bg", "field"),
    [
        (301.0, 150.0, "carbs_g"),
        (-1.0, 150.0, "carbs_g"),
        (math.nan, 150.0, "carbs_g"),
        (30.0, 19.0, "bg_mg_dl"),
        (30.0, 601.0, "bg_mg_dl"),
        (30.0, math.inf, "bg_mg_dl"),
    ],
)
def test_out_of_range_user_input_names_the_field(carbs: float, bg: float, field: str) -> None:
    """Carbs 0–300 g and BG 20–600 mg/dL; outside raises InputError naming the field."""
    with pytest.raises(InputError) as info:
        bolus_wizard(
            carbs_g=carbs, bg_mg_dl=bg, active_insulin_u=0.0, minute_of_day=0, settings=settings()
        )
    assert info.value.field == field


def test_negative_active_insulin_is_a_programming_error() -> None:
    """Active insulin below zero cannot come from bolus history: ValueError."""
    with pytest.raises(ValueError):
        bolus_wizard(
            carbs_g=10, bg_mg_dl=100, active_insulin_u=-1.0, minute_of_day=0, settings=settings()
        )


@pytest.mark.parametrize("max_bolus", [25.1, 10.05, -1.0])
def test_max_bolus_setting_outside_0_to_25_in_tenths_is_refused(max_bolus: float) -> None:
    """The x23 max bolus is 0–25 U in 0.1-U steps."""
    with pytest.raises(SettingsError) as info:
        settings(max_bolus_u=max_bolus)
    assert info.value.field == "max_bolus_u"


@FIXED
@given(
    carbs=st.floats(0.0, 300.0),
    bg=st.one_of(st.none(), st.floats(20.0, 600.0)),
    active=st.floats(0.0, 30.0),
    minute=st.floats(0.0, 1439.0),
    cr=st.integers(10, 2000).map(lambda x: x / 10),
    isf=st.integers(5, 400).map(float),
)
def test_wizard_never_recommends_a_negative_or_rounded_up_dose(
    carbs: float, bg: float | None, active: float, minute: float, cr: float, isf: float
) -> None:
    """For any valid input the total is ≥ 0, on the grid, and not above the unrounded estimate."""
    rec = bolus_wizard(
        carbs_g=carbs,
        bg_mg_dl=bg,
        active_insulin_u=active,
        minute_of_day=minute,
        settings=settings(carb_ratio=cr, isf=isf),
    )
    assert rec.total_u >= 0.0
    assert rec.total_u <= rec.unrounded_u + 1e-9
    assert is_on_grid(rec.total_u, settings().increment)
    assert 0.0 <= rec.iob_u <= max(rec.correction_u, 0.0) + 1e-12


def test_hand_built_schedule_with_a_zero_ratio_is_refused() -> None:
    """A carb ratio of 0 in a schedule built without the validating builder is refused."""
    from pumplab.therapy import Schedule, Segment

    with pytest.raises(SettingsError) as info:
        WizardSettings(
            carb_ratio_g_per_u=Schedule((Segment(0, 0.0),)),
            isf_mg_dl_per_u=isf_schedule([(0, 40.0)]),
            bg_target=bg_target_schedule([(0, BgTarget(90.0, 120.0))]),
        )
    assert info.value.field == "carb_ratio_g_per_u[0]"

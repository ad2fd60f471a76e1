"""Time-of-day schedules: lookup at boundaries, x23 validation with field names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from therapy_strategies import FIXED

from pumplab.errors import SettingsError
from pumplab.therapy import (
    BgTarget,
    Schedule,
    Segment,
    basal_schedule,
    bg_target_schedule,
    carb_ratio_schedule,
    isf_schedule,
    scheduled_basal_u,
)

BASAL = basal_schedule([(0, 0.8), (360, 1.2), (1320, 0.6)])  # 00:00, 06:00, 22:00


def test_value_at_a_segment_start_is_that_segments_value() -> None:
    """A segment applies from its start minute inclusive."""
    assert BASAL.value_at(360) == 1.2
    assert BASAL.value_at(1320) == 0.6
    assert BASAL.value_at(0) == 0.8


def test_value_just_before_a_segment_start_is_the_previous_value() -> None:
    """One moment before a start the earlier segment still applies."""
    assert BASAL.value_at(359.999) == 0.8
    assert BASAL.value_at(1319.5) == 1.2


def test_last_segment_runs_to_midnight_and_the_day_wraps() -> None:
    """The last segment lasts until 24:00; minute 1440 is 00:00 again, and so is −60 → 23:00."""
    assert BASAL.value_at(1439.99) == 0.6
    assert BASAL.value_at(1440) == 0.8
    assert BASAL.value_at(-60) == 0.6
    assert BASAL.end_min(2) == 1440
    assert BASAL.end_min(0) == 360


def test_scheduled_basal_over_midnight_matches_hand_sum() -> None:
    """From 21:00 to 07:00: 1 h·1.2 + 2 h·0.6 + 6 h·0.8 + 1 h·1.2 = 8.4 U."""
    u = scheduled_basal_u(BASAL, 0.0, 600.0, minute_of_day_at_zero=1260.0)
    assert u == pytest.approx(8.4)


def test_scheduled_basal_over_a_whole_day_is_the_daily_total() -> None:
    """24 h: 6·0.8 + 16·1.2 + 2·0.6 = 25.2 U, whatever minute the day starts at."""
    assert scheduled_basal_u(BASAL, 0.0, 1440.0) == pytest.approx(25.2)
    assert scheduled_basal_u(BASAL, 0.0, 1440.0, minute_of_day_at_zero=437.0) == pytest.approx(25.2)


def test_x23_basal_grid_accepts_rates_on_each_tier() -> None:
    """0.025 below 1 U/h, 0.05 from 1, 0.1 from 10 U/h, up to 35 U/h are accepted."""
    s = basal_schedule([(0, 0.975), (30, 1.05), (60, 9.95), (90, 10.1), (120, 35.0), (150, 0.0)])
    assert [seg.value for seg in s.segments] == [0.975, 1.05, 9.95, 10.1, 35.0, 0.0]


@pytest.mark.parametrize("rate", [1.025, 10.05, 0.0125, 35.1, -0.025])
def test_x23_basal_rejects_rates_off_the_grid_or_range(rate: float) -> None:
    """A rate off its tier's grid or outside 0–35 U/h names the segment's rate field."""
    with pytest.raises(SettingsError) as info:
        basal_schedule([(0, 0.5), (60, 0.5), (120, 0.5), (180, rate)])
    assert info.value.field == "basal_pattern.std[3].rate_u_per_h"
    assert "0–35 U/h" in str(info.value)


def test_error_message_names_field_and_allowed_range() -> None:
    """The message reads like the issue's example, naming the field and the allowed range."""
    with pytest.raises(SettingsError) as info:
        basal_schedule([(0, 40.0)], field="basal_pattern.a")
    text = str(info.value)
    assert "field 'basal_pattern.a[0].rate_u_per_h'" in text
    assert "allowed: 0–35 U/h, 0.025 U/h steps below 1 U/h" in text


def test_basal_above_max_basal_is_refused() -> None:
    """With a max basal of 2 U/h, a 2.5 U/h segment is refused naming it."""
    with pytest.raises(SettingsError) as info:
        basal_schedule([(0, 1.0), (120, 2.5)], max_basal_u_per_h=2.0)
    assert info.value.field == "basal_pattern.std[1].rate_u_per_h"


@pytest.mark.parametrize(
    ("starts", "bad_index"),
    [
        ([30, 60], 0),  # first not at 00:00
        ([0, 120, 60], 2),  # unsorted / overlapping
        ([0, 60, 60], 2),  # duplicate
        ([0, 45], 1),  # not on a 30-min boundary
        ([0, 1440], 1),  # outside the day
    ],
)
def test_bad_start_times_name_the_segment(starts: list[int], bad_index: int) -> None:
    """Start times must be 30-min aligned, first at 0, strictly increasing, within the day."""
    with pytest.raises(SettingsError) as info:
        basal_schedule([(s, 1.0) for s in starts])
    assert info.value.field == f"basal_pattern.std[{bad_index}].start_min"


def test_more_than_48_basal_segments_is_refused() -> None:
    """The x23 holds at most 48 rates per pattern; 49 names the pattern."""
    with pytest.raises(SettingsError) as info:
        basal_schedule([(30 * i, 1.0) for i in range(48)] + [(1439, 1.0)])
    assert info.value.field == "basal_pattern.std"
    assert basal_schedule([(30 * i, 1.0) for i in range(48)]).value_at(1439) == 1.0


def test_empty_schedule_is_refused() -> None:
    """A schedule needs at least its 00:00 segment."""
    with pytest.raises(SettingsError):
        carb_ratio_schedule([])


def test_wizard_schedules_hold_at_most_8_segments() -> None:
    """Carb ratios, sensitivities and targets: up to 8 a day on the x23."""
    with pytest.raises(SettingsError) as info:
        isf_schedule([(60 * i, 50.0) for i in range(9)])
    assert info.value.field == "insulin_sensitivities"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: carb_ratio_schedule([(0, 0.5)]), "carb_ratios[0].g_per_u"),
        (lambda: carb_ratio_schedule([(0, 12.05)]), "carb_ratios[0].g_per_u"),
        (lambda: isf_schedule([(0, 401.0)]), "insulin_sensitivities[0].mg_dl_per_u"),
        (lambda: isf_schedule([(0, 4.0)]), "insulin_sensitivities[0].mg_dl_per_u"),
        (lambda: bg_target_schedule([(0, BgTarget(59.0, 120.0))]), "bg_targets[0].low_mg_dl"),
        (lambda: bg_target_schedule([(0, BgTarget(90.0, 251.0))]), "bg_targets[0].high_mg_dl"),
        (lambda: bg_target_schedule([(0, BgTarget(140.0, 100.0))]), "bg_targets[0].low_mg_dl"),
    ],
)
def test_wizard_settings_out_of_range_name_the_field(build: object, field: str) -> None:
    """Carb ratio 1–200 g/U, ISF 5–400 mg/dL/U, targets 60–250 mg/dL with low ≤ high."""
    with pytest.raises(SettingsError) as info:
        build()  # type: ignore[operator]
    assert info.value.field == field


def test_non_numeric_value_is_refused() -> None:
    """A value that is not a number is refused, not coerced."""
    with pytest.raises(SettingsError):
        carb_ratio_schedule([(0, "10")])  # type: ignore[list-item]


def test_schedule_constructed_directly_checks_its_shape() -> None:
    """Building a Schedule by hand with a bad start is a programming error (ValueError)."""
    with pytest.raises(ValueError):
        Schedule((Segment(15, 1.0),))


@FIXED
@given(
    starts=st.sets(st.integers(1, 47), max_size=20).map(lambda s: [0, *sorted(30 * i for i in s)]),
    minute=st.floats(0.0, 1439.999),
)
def test_value_at_agrees_with_a_linear_scan(starts: list[int], minute: float) -> None:
    """Binary-search lookup equals the last segment whose start is ≤ the minute."""
    s = basal_schedule([(start, i * 0.025) for i, start in enumerate(starts)])
    expected = [seg.value for seg in s.segments if seg.start_min <= minute][-1]
    assert s.value_at(minute) == expected

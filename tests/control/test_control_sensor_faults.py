"""Sensor-fault stress options: seeded, span-independent, shaped as documented."""

from __future__ import annotations

import pytest

from pumplab.control import MS_PER_MINUTE, CgmReading
from pumplab.control.sensor_faults import (
    DEFAULT_COMPRESSION,
    PRESETS,
    CompressionLows,
    FaultEpisode,
    FaultKind,
    FaultPlan,
    SensorFaults,
    SignalDropouts,
    apply_faults,
    plan_faults,
)
from pumplab.errors import SettingsError

MIN = MS_PER_MINUTE
DAY = 1440 * MIN


def flat(days: int, bg: float = 120.0) -> list[CgmReading]:
    """A reading every 5 min for ``days`` days, from loop time 0 (the pump's midnight)."""
    return [CgmReading(k * 5 * MIN, bg) for k in range(days * 288)]


def is_night(t_ms: int, start: int = 23 * 60, end: int = 7 * 60) -> bool:
    m = (t_ms // MIN) % 1440
    return m >= start or m < end


def test_same_seed_same_faults_other_seed_other_faults() -> None:
    """The plan is a function of the seed (and the options) alone."""
    a = plan_faults(PRESETS["both"], seed=11, start_ms=0, end_ms=14 * DAY)
    b = plan_faults(PRESETS["both"], seed=11, start_ms=0, end_ms=14 * DAY)
    c = plan_faults(PRESETS["both"], seed=12, start_ms=0, end_ms=14 * DAY)
    assert a == b and a != c and a.episodes


def test_a_shorter_span_sees_the_same_episodes() -> None:
    """Nights and days have their own streams: days 3–5 planned alone are days 3–5 of a
    14-day plan."""
    whole = plan_faults(PRESETS["both"], seed=5, start_ms=0, end_ms=14 * DAY)
    part = plan_faults(PRESETS["both"], seed=5, start_ms=3 * DAY, end_ms=5 * DAY)
    assert part.episodes == tuple(e for e in whole.episodes
                                  if e.end_ms > 3 * DAY and e.start_ms < 5 * DAY)


def test_changing_one_fault_does_not_move_the_other() -> None:
    """More dropouts leave the compression lows where they were."""
    base = plan_faults(PRESETS["both"], seed=5, start_ms=0, end_ms=7 * DAY)
    more = plan_faults(SensorFaults(DEFAULT_COMPRESSION, SignalDropouts(per_day=12)), seed=5,
                       start_ms=0, end_ms=7 * DAY)

    def lows(plan: FaultPlan) -> list[FaultEpisode]:
        return [e for e in plan.episodes if e.kind is FaultKind.COMPRESSION_LOW]

    assert lows(base) == lows(more)


def test_compression_lows_come_at_night_and_only_push_readings_down() -> None:
    """100 nights: every changed reading is at night, lower than the truth, at least 40,
    and at most 60 mg/dL lower; about 3 % of night readings (Baysal et al. 2014; 0.5
    episodes of 30 min on average a night of 8 h is 3.1 %)."""
    truth = flat(100)
    shown = apply_faults(truth, PRESETS["compression"], seed=7)
    assert len(shown) == len(truth)
    changed = [(t, s) for t, s in zip(truth, shown, strict=True) if s != t]
    assert changed and all(is_night(t.t_ms) for t, _ in changed)
    assert all(40 <= s.bg_mg_dl < t.bg_mg_dl <= s.bg_mg_dl + 60 for t, s in changed)
    night = sum(is_night(r.t_ms) for r in truth)
    assert 0.02 < len(changed) / night < 0.045


def test_a_compression_low_is_a_trapezoid() -> None:
    """Down to the depth over the ramp, held, back over the ramp."""
    e = FaultEpisode(FaultKind.COMPRESSION_LOW, 0, 40 * MIN, 50.0, 10 * MIN)
    assert [e.depression_mg_dl(m * MIN) for m in (0, 5, 10, 20, 30, 35, 40)] == [
        0.0, 25.0, 50.0, 50.0, 50.0, 25.0, 0.0]


def test_a_deep_compression_reads_the_sensors_low() -> None:
    """60 mg/dL under a true 70: the sensor shows its floor, 40 ("LOW")."""
    plan = FaultPlan((FaultEpisode(FaultKind.COMPRESSION_LOW, 0, 60 * MIN, 60.0, 0),))
    assert plan.reading(CgmReading(10 * MIN, 70.0)) == CgmReading(10 * MIN, 40.0)


def test_dropouts_remove_readings() -> None:
    """Four 30-min losses a day on average: about 8 % of readings gone (overlaps merge),
    none changed."""
    truth = flat(60)
    shown = apply_faults(truth, PRESETS["dropouts"], seed=3)
    lost = 1 - len(shown) / len(truth)
    assert 0.05 < lost < 0.11
    assert set(shown) <= set(truth)


def test_reading_by_reading_equals_the_whole_series() -> None:
    """A closed loop applies the plan as readings come; the result is the series'."""
    truth = flat(5, 150.0)
    plan = plan_faults(PRESETS["both"], seed=9, start_ms=0, end_ms=5 * DAY)
    online = [s for s in (plan.reading(r) for r in truth) if s is not None]
    assert tuple(online) == apply_faults(truth, PRESETS["both"], seed=9) == plan.apply(truth)


def test_the_night_follows_the_pumps_clock() -> None:
    """With the pump's day starting 6 h before loop time 0, the nights move 6 h earlier."""
    plan = plan_faults(PRESETS["compression"], seed=7, start_ms=0, end_ms=30 * DAY,
                       minute_of_day_at_zero=360.0)
    for e in plan.episodes:
        start_min = (e.start_ms // MIN + 360) % 1440
        assert start_min >= 23 * 60 or start_min < 7 * 60


def test_no_faults_change_nothing() -> None:
    """The "none" preset leaves every reading as it was."""
    truth = flat(3)
    assert apply_faults(truth, PRESETS["none"], seed=1) == tuple(truth)


@pytest.mark.parametrize(("make", "field"), [
    (lambda: CompressionLows(per_night=-1), "per_night"),
    (lambda: CompressionLows(depth_mg_dl=(60.0, 20.0)), "depth_mg_dl"),
    (lambda: CompressionLows(night_start_min=7 * 60), "night_end_min"),
    (lambda: CompressionLows(duration_min=(15.0, 600.0)), "duration_min"),
    (lambda: SignalDropouts(mean_duration_min=0), "mean_duration_min"),
])
def test_bad_options_name_the_field(make, field: str) -> None:  # type: ignore[no-untyped-def]
    """Out-of-range options are a SettingsError naming the field."""
    with pytest.raises(SettingsError, match=field):
        make()


def test_a_bad_seed_is_refused() -> None:
    """The seed is a non-negative integer."""
    with pytest.raises(ValueError):
        plan_faults(PRESETS["both"], seed=-1, start_ms=0, end_ms=DAY)

"""oref0's inputs from the controller interface: glucose status, IOB ticks, meal data."""

from __future__ import annotations

import pytest
from control_helpers import NOW_MS, PROFILE, controller_input, linear_trace

from pumplab.control import (
    MS_PER_MINUTE,
    ActiveTempBasal,
    BasalRecord,
    BolusRecord,
    CarbRecord,
    CgmReading,
)
from pumplab.control.oref0 import glucose_status, iob_data, meal_data
from pumplab.therapy import RAPID_ACTING_ADULT


def test_glucose_status_of_a_steady_rise() -> None:
    """+5 mg/dL every 5 min: delta, short and long averages are all 5; now is the last."""
    gs = glucose_status(linear_trace(100, 5, 12))
    assert gs is not None
    assert (gs.glucose, gs.delta, gs.short_avgdelta, gs.long_avgdelta) == (155, 5, 5, 5)
    assert gs.date_ms == NOW_MS


def test_glucose_status_averages_readings_within_two_and_a_half_minutes() -> None:
    """Readings of 120 and 110 one minute apart are one "now": 115 at their mean time; the
    reading 4.5 min before that (100) gives delta (115 − 100)/5 × 5 = 15."""
    trace = (CgmReading(NOW_MS - 5 * MS_PER_MINUTE, 100.0),
             CgmReading(NOW_MS - MS_PER_MINUTE, 120.0), CgmReading(NOW_MS, 110.0))
    gs = glucose_status(trace)
    assert gs is not None
    assert (gs.glucose, gs.date_ms, gs.delta) == (115, NOW_MS - MS_PER_MINUTE / 2, 15)


def test_glucose_status_without_readings_is_none() -> None:
    """No reading: no status (the controller then does nothing)."""
    assert glucose_status(()) is None


def test_no_doses_mean_zero_net_iob_and_a_negative_zero_temp_projection() -> None:
    """Scheduled basal is the baseline: without boluses or temps net IOB is 0; a zero temp
    from now withholds basal, so its IOB projection goes negative."""
    data = iob_data(controller_input(linear_trace(120, 0)))
    assert len(data.ticks) == 48
    assert all(t.iob == 0 and t.activity == 0 for t in data.ticks)
    assert data.ticks[0].zt_iob == 0
    assert data.ticks[12].zt_iob < 0 and data.ticks[47].zt_iob < data.ticks[12].zt_iob


def test_a_bolus_counts_on_the_exponential_curve() -> None:
    """2 U an hour ago: IOB now = 2 × the curve's on-board fraction at 60 min (3 decimals),
    falling over the ticks; activity positive."""
    bolus = BolusRecord(NOW_MS - 60 * MS_PER_MINUTE, 2.0)
    data = iob_data(controller_input(linear_trace(120, 0), boluses=(bolus,)))
    assert data.iob == round(2 * RAPID_ACTING_ADULT.iob_fraction(60.0), 3)
    assert data.activity > 0
    assert data.ticks[24].iob < data.ticks[0].iob
    assert data.last_bolus_time_ms == bolus.t_ms


def test_a_running_high_temp_adds_future_iob_but_not_in_the_zero_temp_projection() -> None:
    """A 3 U/h temp with 30 min left (basal 1 U/h): its future insulin raises the 30-min tick;
    the zero-temp projection replaces it with nothing."""
    data = iob_data(controller_input(linear_trace(120, 0), temp=ActiveTempBasal(3.0, 30)))
    assert data.ticks[6].iob > 0.5
    assert data.ticks[6].zt_iob < 0


def test_last_temp_is_the_last_basal_record() -> None:
    """lastTemp comes from the newest basal record (start, rate, minutes delivered)."""
    rec = BasalRecord(NOW_MS - 20 * MS_PER_MINUTE, 20.0, 0.0)
    data = iob_data(controller_input(linear_trace(120, 0), basal_history=(rec,)))
    assert data.last_temp is not None
    assert (data.last_temp.date_ms, data.last_temp.rate, data.last_temp.duration) == (
        rec.start_ms, 0.0, 20.0)
    assert data.iob < 0  # 20 min of withheld basal


def test_no_carbs_no_cob() -> None:
    """Without carb entries meal data is all zero."""
    m = meal_data(controller_input(linear_trace(120, 0, 30)), min_5m_carbimpact=8,
                  max_cob_g=120)
    assert (m.carbs, m.meal_cob) == (0, 0)


def test_carbs_absorb_at_least_min_5m_carbimpact() -> None:
    """60 g eaten 30 min ago with flat BG and no insulin: no deviation, so each of the 6
    five-minute steps since counts the minimum impact 8 mg/dL → 8 × CR 10 / ISF 50 = 1.6 g:
    9.6 g absorbed, COB 50.4 → 50 g."""
    inp = controller_input(linear_trace(120, 0, 30), iob_u=0.0,
                           carbs=(CarbRecord(NOW_MS - 30 * MS_PER_MINUTE, 60.0),))
    m = meal_data(inp, min_5m_carbimpact=8, max_cob_g=120)
    assert m.carbs == 60
    assert m.meal_cob == 50
    assert m.last_carb_time_ms == NOW_MS - 30 * MS_PER_MINUTE


def test_rising_bg_absorbs_carbs_faster() -> None:
    """The same meal with BG rising 10 mg/dL per 5 min: deviations of 10 exceed the minimum,
    so more carbs are absorbed and COB is lower than with flat BG."""
    carbs = (CarbRecord(NOW_MS - 30 * MS_PER_MINUTE, 60.0),)
    flat = meal_data(controller_input(linear_trace(120, 0, 30), carbs=carbs),
                     min_5m_carbimpact=8, max_cob_g=120)
    rising = meal_data(controller_input(linear_trace(60, 10, 30), carbs=carbs),
                       min_5m_carbimpact=8, max_cob_g=120)
    assert rising.meal_cob < flat.meal_cob


@pytest.mark.parametrize("age_min", [361, 600])
def test_carbs_older_than_six_hours_do_not_count(age_min: int) -> None:
    """oref0 considers carbs from the last 6 h only."""
    inp = controller_input(linear_trace(120, 0, 30),
                           carbs=(CarbRecord(NOW_MS - age_min * MS_PER_MINUTE, 50.0),))
    assert meal_data(inp, min_5m_carbimpact=8, max_cob_g=120).carbs == 0


def test_cob_is_capped_at_max_cob() -> None:
    """200 g just eaten count at most maxCOB (120 g) as COB."""
    inp = controller_input(linear_trace(120, 0, 30),
                           carbs=(CarbRecord(NOW_MS - MS_PER_MINUTE, 200.0),))
    assert meal_data(inp, min_5m_carbimpact=8, max_cob_g=120).meal_cob == 120


def test_profile_is_read_at_the_minute_of_day() -> None:
    """The test profile's basal is 0.8 U/h before 06:00 and 1.0 after (used by the adapter)."""
    assert PROFILE.basal.value_at(300) == 0.8
    assert PROFILE.basal.value_at(480) == 1.0

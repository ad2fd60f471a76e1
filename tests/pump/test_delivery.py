"""Delivery features: basal patterns, boluses stroke by stroke, temp basal, suspend, reservoir,
battery, occlusion, auto-off and the clock.  Insulin is always read from the motor record."""

from __future__ import annotations

import itertools

import pytest
from pumpkit import Bench, bench, motor_u

from pumplab.clock import MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND
from pumplab.devices.pump import AlarmCode, PumpSettings, ui
from pumplab.devices.pump.delivery import normal_bolus_duration_ms


def bolus_times(b: Bench) -> list[int]:
    return [s.at_ms for s in b.motor.strokes if s.source.what == "bolus"]


def test_scheduled_basal_is_delivered_in_0_025_u_strokes_at_the_pattern_rate() -> None:
    """1 U/h means one 0.025-U stroke every 90 s; 2 U/h from 06:00 one every 45 s."""
    b = bench(settings=PumpSettings(max_basal_u_per_h=2.0,
                                    pattern_standard=((0, 1.0), (360, 2.0))))
    b.run_min(24 * 60)
    times = [s.at_ms for s in b.motor.strokes]
    assert all(s.amount_u == 0.025 for s in b.motor.strokes)
    assert times[0] == 90 * MS_PER_SECOND and times[1] - times[0] == 90 * MS_PER_SECOND
    late = [t for t in times if t > 7 * MS_PER_HOUR][:3]
    assert late[1] - late[0] == 45 * MS_PER_SECOND
    assert motor_u(b) == pytest.approx(6 * 1.0 + 18 * 2.0)


def test_selected_pattern_drives_basal() -> None:
    """Selecting pattern A on the keys switches the basal rate to A's."""
    b = bench(settings=PumpSettings(pattern_a=((0, 0.5),)))
    assert ui.select_pattern(b.pump, "A").done
    b.run_min(60)
    assert motor_u(b) == pytest.approx(0.5)
    assert b.kinds("setting_change")[-1]["new"] == "A"


def test_normal_bolus_goes_out_stroke_by_stroke_at_1_5_u_per_min() -> None:
    """A 2.5-U bolus is 100 strokes one second apart (x23: 1.5 U/min from 1 to 7.5 U)."""
    b = bench()
    assert ui.manual_bolus(b.pump, 2.5).done
    b.run_min(5)
    times = bolus_times(b)
    assert len(times) == 100
    assert times[0] == 1 * MS_PER_SECOND and times[-1] == 100 * MS_PER_SECOND
    assert b.kinds("bolus_end")[-1]["reason"] == "completed"


def test_bolus_speed_follows_the_x23_variable_rate() -> None:
    """Below 1 U the pump delivers at 0.75 U/min; above 7.5 U the bolus takes 5 minutes."""
    assert normal_bolus_duration_ms(500) == 40 * MS_PER_SECOND
    assert normal_bolus_duration_ms(10_000) == 5 * MS_PER_MINUTE
    b = bench()
    assert ui.manual_bolus(b.pump, 10.0).done
    b.run_min(10)
    times = bolus_times(b)
    assert len(times) == 400 and times[-1] == 5 * MS_PER_MINUTE


def test_square_bolus_is_spread_evenly_over_its_duration() -> None:
    """3 U square over 60 min: 120 strokes every 30 s."""
    b = bench()
    assert ui.square_bolus(b.pump, 3.0, 60).done
    b.run_min(90)
    times = bolus_times(b)
    assert len(times) == 120
    assert {t2 - t1 for t1, t2 in itertools.pairwise(times)} == {30 * MS_PER_SECOND}
    assert times[-1] == 60 * MS_PER_MINUTE


def test_dual_bolus_delivers_the_normal_part_then_the_square_part() -> None:
    """1 U now (40 s at 1.5 U/min) then 2 U over 30 min (every 22.5 s)."""
    b = bench()
    assert ui.dual_bolus(b.pump, 1.0, 2.0, 30).done
    b.run_min(60)
    times = bolus_times(b)
    assert len(times) == 120
    assert times[39] == 40 * MS_PER_SECOND
    assert times[-1] == 40 * MS_PER_SECOND + 30 * MS_PER_MINUTE
    assert b.kinds("bolus_start")[-1]["kind"] == "dual"


def test_cancel_bolus_stops_the_remaining_strokes() -> None:
    """Stopping a 2.5-U bolus after 30 s leaves 0.75 U delivered and records why."""
    b = bench()
    ui.manual_bolus(b.pump, 2.5)
    b.run_min(0.5)
    assert ui.cancel_bolus(b.pump).done
    b.run_min(10)
    assert motor_u(b, what="bolus") == pytest.approx(0.75)
    end = b.kinds("bolus_end")[-1]
    assert end["reason"] == "cancelled" and end["delivered_u"] == pytest.approx(0.75)


def test_temp_basal_by_rate_replaces_the_schedule_for_its_duration() -> None:
    """A 2 U/h temp for 30 min delivers 1 U, then the 1 U/h schedule resumes."""
    b = bench()
    assert ui.set_temp_basal(b.pump, rate_u_per_h=2.0, duration_min=30).done
    b.run_min(30)
    assert motor_u(b) == pytest.approx(1.0)
    b.run_min(60)
    assert motor_u(b) == pytest.approx(2.0)
    assert b.kinds("temp_basal_end")[-1]["reason"] == "completed"


def test_temp_basal_by_percent_scales_the_schedule() -> None:
    """50 % of 1 U/h for an hour delivers 0.5 U."""
    b = bench()
    assert ui.set_temp_basal(b.pump, percent=50, duration_min=60).done
    b.run_min(60)
    assert motor_u(b) == pytest.approx(0.5)


def test_temp_basal_duration_comes_in_30_minute_steps_up_to_24_hours() -> None:
    """The keys offer 30 min to 24 h in 30-min steps; 45 min cannot be entered."""
    b = bench()
    assert not ui.set_temp_basal(b.pump, rate_u_per_h=0.5, duration_min=45).done
    assert not ui.set_temp_basal(b.pump, rate_u_per_h=0.5, duration_min=1470).done
    assert ui.set_temp_basal(b.pump, rate_u_per_h=0.5, duration_min=1440).done


def test_suspend_stops_all_delivery_and_resume_restarts_basal() -> None:
    """While suspended no stroke goes out; a running bolus ends 'suspended' and is not resumed."""
    b = bench()
    ui.manual_bolus(b.pump, 2.0)
    b.run_min(0.25)
    assert ui.suspend(b.pump).done
    delivered = motor_u(b)
    b.run_min(60)
    assert motor_u(b) == delivered
    assert b.kinds("bolus_end")[-1]["reason"] == "suspended"
    assert ui.resume(b.pump).done
    b.run_min(60)
    assert motor_u(b) == pytest.approx(delivered + 1.0)
    assert motor_u(b, what="bolus") == pytest.approx(0.375)


def test_empty_reservoir_stops_delivery_with_an_alarm() -> None:
    """With 0.5 U left, basal stops after 0.5 U and the empty-reservoir alarm shows."""
    b = bench(reservoir_u=0.5)
    b.run_min(120)
    assert motor_u(b) == pytest.approx(0.5)
    assert AlarmCode.EMPTY_RESERVOIR in {a.code for a in b.pump.alarms}
    b.pump.load_reservoir(100)
    b.run_min(60)
    assert motor_u(b) == pytest.approx(1.5)


def test_low_reservoir_alert_sounds_at_the_threshold() -> None:
    """At the configured 20 U left the pump raises a low-reservoir alert (delivery goes on)."""
    b = bench(reservoir_u=21.0)
    b.run_min(61)
    assert AlarmCode.LOW_RESERVOIR in {a.code for a in b.pump.alarms}
    b.run_min(60)
    assert motor_u(b) == pytest.approx(2.0, abs=0.03)


def test_occlusion_raises_no_delivery_and_stops_the_bolus() -> None:
    """A motor fault mid-bolus: NO DELIVERY alarm, bolus ended 'occlusion', basal stopped."""
    b = bench()
    ui.manual_bolus(b.pump, 2.0)
    b.run_min(0.5)
    b.motor.occlude()
    b.run_min(60)
    assert b.pump.screen.value == AlarmCode.NO_DELIVERY.value
    assert b.kinds("bolus_end")[-1]["reason"] == "occlusion"
    assert b.kinds("stroke_failed")
    delivered = motor_u(b)
    b.run_min(60)
    assert motor_u(b) == delivered
    b.motor.clear_occlusion()
    assert ui.clear_alarm(b.pump).done
    b.run_min(60)
    assert motor_u(b) == pytest.approx(delivered + 1.0, abs=0.03)


def test_battery_drains_and_a_dead_battery_stops_delivery() -> None:
    """A nearly empty cell raises low battery, then battery-out, after which nothing goes out."""
    b = bench(battery_pct=10.2)
    b.run_min(120)
    codes = {a.code for a in b.pump.alarms}
    assert AlarmCode.LOW_BATTERY in codes
    b.run_min(70 * 60)
    assert b.pump.screen.value in (AlarmCode.LOW_BATTERY.value, AlarmCode.BATTERY_OUT.value)
    assert AlarmCode.BATTERY_OUT in {a.code for a in b.pump.alarms}
    delivered = motor_u(b)
    b.run_min(120)
    assert motor_u(b) == delivered
    b.pump.replace_battery()
    b.run_min(60)
    assert motor_u(b) > delivered


def test_auto_off_suspends_and_alarms_after_hours_without_a_key_press() -> None:
    """Auto-off 1 h: no key for an hour suspends delivery and raises the alarm."""
    b = bench(settings=PumpSettings(auto_off_h=1))
    b.run_min(59)
    assert not b.pump.status().suspended
    b.run_min(2)
    assert b.pump.status().suspended
    assert b.pump.screen.value == AlarmCode.AUTO_OFF.value
    assert b.kinds("suspend")[-1]["source"] == "auto_off"


def test_key_presses_keep_auto_off_from_firing() -> None:
    """Pressing a key every 40 minutes keeps the pump delivering."""
    b = bench(settings=PumpSettings(auto_off_h=1))
    for _ in range(6):
        b.run_min(40)
        ui.read_home(b.pump)
        b.pump.press("ESC")
    assert not b.pump.status().suspended


def test_clock_set_on_the_keys_moves_the_schedule_with_confirmation() -> None:
    """Setting the time to 12:30 on the keys (confirmed with ACT) switches to the 12:00 rate."""
    b = bench(settings=PumpSettings(pattern_standard=((0, 1.0), (720, 2.0))))
    result = ui.set_time(b.pump, 12, 30)
    assert result.done
    assert b.kinds("clock_set")[-1]["source"] == "keys"
    b.run_min(60)
    assert motor_u(b) == pytest.approx(2.0, abs=0.03)


def test_clock_change_does_not_reset_the_hourly_window() -> None:
    """Limits run on device time: moving the clock 5 h ahead does not free the hourly limit."""
    b = bench(settings=PumpSettings(max_hourly_u=4.0))
    assert ui.manual_bolus(b.pump, 3.0).done
    b.run_min(3)
    assert ui.set_time(b.pump, 5, 0).done
    result = ui.manual_bolus(b.pump, 1.0)
    assert not result.done and "max_hourly" in result.message

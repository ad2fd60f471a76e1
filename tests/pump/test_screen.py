"""The display and keys: alarm screens, number entry limits, the wizard with the linked
meter's BG, easy bolus, annunciations, and the CGM/meter acknowledgements the screen relies on."""

from __future__ import annotations

import pytest
from pumpkit import CGM, CLINIC, METER, bench, motor_u

from pumplab.devices.pump import AlarmCode, AnnunciationReason, Key, PumpSettings, ScreenKind, ui
from pumplab.link.messages import (
    Ack,
    ChangeSettingCommand,
    MeterReading,
    SensorBackfill,
    SensorReading,
)


def test_alarm_screen_must_be_cleared_with_esc_then_act() -> None:
    """ACT alone does not clear an alarm; ESC then ACT does, and the clearing is recorded."""
    b = bench(reservoir_u=0.1)
    b.run_min(30)
    assert b.pump.screen.kind is ScreenKind.ALARM
    b.pump.press(Key.ACT)
    assert b.pump.screen.kind is ScreenKind.ALARM
    b.pump.press(Key.ESC)
    b.pump.press(Key.ACT)
    assert b.kinds("alarm_cleared")[0]["how"] == "keys"


def test_helpers_refuse_to_work_under_an_alarm() -> None:
    """With an alarm showing, a bolus helper does nothing until the alarm is cleared."""
    b = bench()
    b.motor.occlude()
    b.run_min(5)
    result = ui.manual_bolus(b.pump, 1.0)
    assert not result.done and "alarm showing" in result.message
    b.motor.clear_occlusion()
    assert ui.clear_all_alarms(b.pump) == [AlarmCode.NO_DELIVERY.value]
    assert ui.manual_bolus(b.pump, 1.0).done


def test_bolus_entry_cannot_be_scrolled_above_max_bolus() -> None:
    """As on the x23, the amount stops at max bolus: 12 U cannot be entered with max 10 U."""
    b = bench()
    result = ui.manual_bolus(b.pump, 12.0)
    assert not result.done and "stops at 10" in result.message
    assert b.pump.screen.kind is ScreenKind.HOME


def test_wizard_uses_the_linked_meters_bg() -> None:
    """A meter BG received 5 min ago is offered; the estimate includes its correction."""
    b = bench(settings=PumpSettings(carb_ratios=((0, 10.0),), isf=((0, 40.0),),
                                    bg_targets=((0, 100.0, 120.0),)))
    assert isinstance(b.send(METER, MeterReading(200.0, 0)), Ack)
    b.run_min(5)
    result = ui.wizard_bolus(b.pump, 30)  # BG taken from the screen (the meter's)
    assert result.done and result.amount_u == pytest.approx(3.0 + 2.0)
    wizard = b.kinds("bolus_start")[-1]["wizard"]
    assert isinstance(wizard, dict) and wizard["bg_mg_dl"] == 200.0
    assert b.kinds("bolus_start")[-1]["source"] == "wizard"


def test_meter_bg_older_than_twelve_minutes_is_not_offered() -> None:
    """After 12 minutes the wizard starts with no BG ('---')."""
    b = bench()
    b.send(METER, MeterReading(200.0, 0))
    b.run_min(13)
    assert ui.wizard_bolus(b.pump, 30).amount_u == pytest.approx(3.0)


def test_wizard_subtracts_active_insulin_from_the_correction() -> None:
    """Bolus insulin still active reduces a later correction (x23 semantics, via therapy)."""
    b = bench(settings=PumpSettings(isf=((0, 50.0),)))
    ui.manual_bolus(b.pump, 2.0)
    b.run_min(30)
    result = ui.wizard_bolus(b.pump, 0, 220)  # correction 2 U, active insulin > 1.5 U
    assert result.done and result.amount_u is not None and result.amount_u < 0.5


def test_easy_bolus_counts_steps_with_beeps() -> None:
    """B opens easy bolus; each B adds a 0.5-U step and beeps; ACT, ACT delivers."""
    b = bench(settings=PumpSettings(easy_bolus_enabled=True, easy_bolus_step_u=0.5))
    heard = []
    b.pump.add_annunciation_listener(heard.append)
    assert ui.easy_bolus(b.pump, 4).done
    b.run_min(3)
    assert motor_u(b, what="bolus") == pytest.approx(2.0)
    steps = [a for a in heard if a.reason is AnnunciationReason.EASY_BOLUS_STEP]
    assert len(steps) == 4
    assert b.kinds("bolus_start")[-1]["source"] == "easy"


def test_easy_bolus_is_off_by_default() -> None:
    """With the factory settings B on the home screen only beeps a refusal."""
    b = bench()
    assert not ui.easy_bolus(b.pump, 1).done


def test_every_alarm_is_annunciated() -> None:
    """An occlusion alarm reaches the listener with its code."""
    b = bench()
    heard = []
    b.pump.add_annunciation_listener(heard.append)
    b.motor.occlude()
    b.run_min(3)
    assert [a.alarm for a in heard if a.reason is AnnunciationReason.ALARM] == [
        AlarmCode.NO_DELIVERY]


def test_sensor_readings_are_acknowledged_with_their_seq_and_shown() -> None:
    """The pump acks a reading with command_id=seq, a backfill with its highest seq."""
    b = bench()
    ack = b.send(CGM, SensorReading(3, 0, 150.0))
    assert isinstance(ack, Ack) and ack.command_id == 3
    back = b.send(CGM, SensorBackfill((SensorReading(1, 0, 140.0), SensorReading(2, 0, 145.0))))
    assert isinstance(back, Ack) and back.command_id == 2
    assert "SG 150 mg/dL" in ui.read_home(b.pump)
    assert [r["seq"] for r in b.kinds("sensor_glucose")] == [3, 1, 2]


def test_pump_settings_can_be_entered_on_the_keys() -> None:
    """Remote option, a remote id, a meter id and the sensor id are all set by keys."""
    b = bench("legacy")
    assert ui.set_remote_option(b.pump, True).done
    assert ui.add_remote_id(b.pump, "123456").done
    assert ui.add_meter_id(b.pump, "C0FFEE").done
    assert ui.set_sensor(b.pump, "SN1234").done
    assert ui.set_max_bolus(b.pump, 7.5).done
    assert ui.set_max_basal(b.pump, 3.55).done
    assert ui.set_auto_off(b.pump, 12).done
    s = b.pump.settings
    assert (s.remote_enabled, s.remote_ids, s.meter_ids, s.sensor_id, s.sensor_enabled) == (
        True, ("123456",), ("C0FFEE",), "SN1234", True)
    assert (s.max_bolus_u, s.max_basal_u_per_h, s.auto_off_h) == (7.5, 3.55, 12)
    assert {r["source"] for r in b.kinds("setting_change")} == {"keys"}


def test_basal_pattern_is_programmed_segment_by_segment_on_the_keys() -> None:
    """Edit Pattern: rates and start times entered in turn, then saved."""
    b = bench()
    assert ui.set_basal_pattern(b.pump, "B", [(0, 0.4), (240, 0.925), (1380, 0.6)]).done
    assert b.pump.settings.pattern_b == ((0, 0.4), (240, 0.925), (1380, 0.6))


def test_wizard_estimate_above_max_bolus_is_shown_in_full_and_refused() -> None:
    """12 U estimated with max bolus 5 U: offered as 12 U, refused on ACT, never shrunk."""
    b = bench(settings=PumpSettings(max_bolus_u=5.0))
    result = ui.wizard_bolus(b.pump, 120, 100)
    assert not result.done and "max_bolus" in result.message and "12.000" in result.message
    assert b.kinds("delivery_refused")[-1]["request"] == {"kind": "normal", "requested_u": 12.0}
    b.run_min(10)
    assert motor_u(b, what="bolus") == 0.0


def test_wizard_estimate_above_max_bolus_can_be_lowered_explicitly() -> None:
    """The person who asks for 4 U (below max bolus) on the wizard's screen gets 4 U."""
    b = bench(settings=PumpSettings(max_bolus_u=5.0))
    result = ui.wizard_bolus(b.pump, 120, 100, amount_u=4.0)
    assert result.done and result.amount_u == 4.0
    b.run_min(10)
    assert motor_u(b, what="bolus") == pytest.approx(4.0)


def test_a_confirmed_proposal_that_no_longer_validates_is_recorded() -> None:
    """Accepted on the keys but invalid by then: not applied, and a record says why."""
    b = bench()
    assert isinstance(b.send(CLINIC, ChangeSettingCommand(setting="pattern_standard",
                                                          value=[[0, 1.8]])), Ack)
    assert ui.set_max_basal(b.pump, 1.5).done  # now a 1.8 U/h pattern is above max basal
    result = ui.answer_pending_change(b.pump, True)
    assert "not applied" in result.message
    rejected = b.kinds("change_rejected")[-1]
    assert rejected["reason"] == "invalid" and "pattern_standard" in str(rejected["detail"])
    assert b.pump.settings.pattern_standard == ((0, 1.0),)

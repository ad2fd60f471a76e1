"""The safety gate: limits on delivery and on withholding, refused on arrival or stopped
mid-delivery, the same gate on every path; legacy mode enforces only the x23's own limits."""

from __future__ import annotations

import dataclasses

import pytest
from pumpkit import APP, ATTACKER, REMOTE, Bench, bench, motor_u

from pumplab.clock import MS_PER_HOUR, MS_PER_MINUTE
from pumplab.devices.pump import AlarmCode, PumpSettings, Rule, SafetyGate, ui
from pumplab.devices.pump.access import ProtocolMode
from pumplab.devices.pump.delivery import Origin
from pumplab.devices.pump.safety import (
    LEGACY_RULES,
    BolusRequest,
    Decision,
    GateView,
    TempBasalRequest,
)
from pumplab.link.messages import (
    Ack,
    BolusCommand,
    Nak,
    NakReason,
    RemoteBolusCommand,
    ResumeCommand,
    SuspendCommand,
    TempBasalCommand,
    WakeupCommand,
)


def last_command(b: object) -> dict[str, object]:
    return b.kinds("command")[-1]  # type: ignore[attr-defined, no-any-return]


def _gate_with_strokes(mode: ProtocolMode, strokes: int, origin: Origin) -> SafetyGate:
    gate = SafetyGate(mode)
    for i in range(strokes):  # one stroke a second, ending at 30 min
        gate.strokes.add(30 * MS_PER_MINUTE - (strokes - i) * 1000, 25, origin)
    return gate


def _acts(rule: Rule, mode: ProtocolMode) -> bool:
    """Does ``rule`` stop the request of its own scenario on a pump in ``mode``?  Each
    scenario is within every other limit, so only ``rule`` can refuse it."""
    now = 30 * MS_PER_MINUTE
    settings = PumpSettings(max_hourly_u=5.0, max_daily_u=20.0, max_iob_u=5.0,
                            remote_max_u_per_h=2.0)
    view = GateView(now, False, False, None, 300_000, 1000)
    one_u = BolusRequest(1000, 0, 0, Origin.BUTTONS)
    decision: Decision
    if rule is Rule.MAX_BOLUS:
        decision = SafetyGate(mode).check_bolus(BolusRequest(11_000, 0, 0, Origin.BUTTONS),
                                                view, PumpSettings(max_daily_u=300.0))
    elif rule is Rule.MAX_BASAL:
        decision = SafetyGate(mode).check_temp_basal(
            TempBasalRequest(3000, None, 30 * MS_PER_MINUTE, Origin.BUTTONS), view, settings)
    elif rule is Rule.MAX_HOURLY:  # 4.5 U in the last 30 min + 1 U > 5 U
        decision = _gate_with_strokes(mode, 180, Origin.BUTTONS).check_bolus(
            one_u, view, dataclasses.replace(settings, max_iob_u=60.0))
    elif rule is Rule.MAX_DAILY:  # 19.5 U over the last day + 1 U > 20 U, 0.8 U an hour
        gate = SafetyGate(mode)
        for i in range(780):
            gate.strokes.add(now - 23 * MS_PER_HOUR + i * 106_000, 25, Origin.SCHEDULE)
        decision = gate.check_bolus(one_u, dataclasses.replace(view),
                                    dataclasses.replace(settings, max_iob_u=60.0))
    elif rule is Rule.MAX_IOB:  # 4.5 U just delivered + a 1-U controller bolus > 5 U
        decision = _gate_with_strokes(mode, 180, Origin.APP).check_bolus(
            BolusRequest(1000, 0, 0, Origin.APP), view,
            dataclasses.replace(settings, max_hourly_u=60.0))
    elif rule is Rule.REMOTE_HOURLY_CAP:  # 1.5 U from the remote + 1 U > 2 U
        decision = _gate_with_strokes(mode, 60, Origin.REMOTE).check_bolus(
            BolusRequest(1000, 0, 0, Origin.REMOTE), view, settings)
    elif rule is Rule.RADIO_WITHHOLD:  # suspended from the air for the whole episode limit
        gate = SafetyGate(mode)
        gate.withholding.open(0)
        gate.withholding.close(now)
        decision, _ = gate.check_radio_suspend(
            view, dataclasses.replace(settings, max_radio_withhold_min=30))
    elif rule is Rule.PERSON_RESUMES:
        decision = SafetyGate(mode).check_radio_resume(
            dataclasses.replace(view, suspended=True, suspended_by_person=True))
    elif rule is Rule.NO_DELIVERY_ALARM:  # a key suspend as long as the alarm period
        b = bench(mode, settings=PumpSettings(no_delivery_alarm_min=60))
        ui.suspend(b.pump)
        b.run_min(61)
        return AlarmCode.NO_INSULIN in {a.code for a in b.pump.alarms}
    else:  # a rule added without a scenario here
        raise AssertionError(f"no scenario for {rule}")
    if decision.allowed:
        return False
    assert decision.rule is rule, decision
    return True


@pytest.mark.parametrize("rule", list(Rule), ids=[r.value for r in Rule])
def test_each_rule_acts_in_secure_mode_and_in_legacy_only_if_the_x23_has_it(rule: Rule) -> None:
    """Every rule of the gate has a scenario that only it stops: a secure pump stops it, a
    legacy-faithful one only for the x23's own limits (max bolus and max basal)."""
    assert _acts(rule, ProtocolMode.SECURE)
    assert _acts(rule, ProtocolMode.LEGACY) == (rule in {Rule.MAX_BOLUS, Rule.MAX_BASAL})
    assert (rule in LEGACY_RULES) == (rule in {Rule.MAX_BOLUS, Rule.MAX_BASAL})


def test_bolus_above_max_bolus_is_rejected_on_arrival_never_shrunk() -> None:
    """A 12-U bolus with max bolus 10 U is refused with MAX_BOLUS and recorded; nothing goes out."""
    b = bench()
    reply = b.send(APP, BolusCommand(12.0, command_id=1))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MAX_BOLUS
    rec = last_command(b)
    assert rec["outcome"] == "rejected" and rec["reason"] == "max_bolus"
    b.run_min(10)
    assert motor_u(b, what="bolus") == 0.0


def test_temp_basal_above_max_basal_is_rejected() -> None:
    """A 3 U/h temp with max basal 2 U/h is refused with MAX_BASAL."""
    b = bench()
    reply = b.send(APP, TempBasalCommand(rate_u_per_h=3.0, duration_min=30, command_id=1))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MAX_BASAL


def test_percent_temp_is_checked_against_the_highest_scheduled_rate() -> None:
    """200 % of a pattern peaking at 1.5 U/h would be 3 U/h: above max basal 2, refused."""
    b = bench(settings=PumpSettings(pattern_standard=((0, 0.5), (600, 1.5))))
    reply = b.send(APP, TempBasalCommand(percent=200, duration_min=30, command_id=1))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MAX_BASAL


def test_hourly_limit_rejects_a_bolus_on_arrival() -> None:
    """With 4 U delivered this hour and a 5-U hourly max, a 2-U bolus is refused."""
    b = bench(settings=PumpSettings(max_hourly_u=5.0))
    assert isinstance(b.send(APP, BolusCommand(4.0, command_id=1)), Ack)
    b.run_min(5)
    reply = b.send(APP, BolusCommand(2.0, command_id=2))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MAX_HOURLY


def test_hourly_limit_reached_during_a_square_wave_stops_it_with_an_alarm() -> None:
    """A square wave accepted under the limit is stopped when basal + square reach it."""
    b = bench(settings=PumpSettings(max_hourly_u=3.0))
    assert ui.manual_bolus(b.pump, 1.5).done
    b.run_min(2)
    assert ui.square_bolus(b.pump, 2.9, 120).done  # 1.45 U in its first hour: accepted
    b.run_min(180)
    end = b.kinds("bolus_end")[-1]
    assert end["reason"] == "limit"
    assert AlarmCode.LIMIT_REACHED in {a.code for a in b.pump.alarms}
    times = [s.at_ms for s in b.motor.strokes]
    for t in times:  # the motor record never shows more than 3 U in any rolling hour
        assert sum(25 for u in times if t - 3_600_000 < u <= t) <= 3000


def test_daily_limit_rejects_a_bolus_beyond_it() -> None:
    """With a 20-U daily max, boluses are refused once the last 24 h would exceed it."""
    b = bench(settings=PumpSettings(max_daily_u=20.0, max_hourly_u=60.0, max_bolus_u=10.0))
    assert ui.manual_bolus(b.pump, 10.0).done
    b.run_min(60)
    assert ui.manual_bolus(b.pump, 8.0).done
    b.run_min(60)
    result = ui.manual_bolus(b.pump, 2.0)
    assert not result.done and "max_daily" in result.message


def test_daily_limit_reached_by_basal_withholds_strokes_with_an_alarm() -> None:
    """Once 24 h hold the daily max, further basal strokes are withheld (and alarmed)."""
    b = bench(settings=PumpSettings(max_daily_u=5.0, max_hourly_u=5.0, max_bolus_u=4.0))
    assert ui.manual_bolus(b.pump, 4.0).done
    b.run_min(6 * 60)
    assert motor_u(b) == pytest.approx(5.0)
    assert AlarmCode.LIMIT_REACHED in {a.code for a in b.pump.alarms}
    assert "basal stroke withheld" in next(
        a.detail for a in b.pump.alarms if a.code is AlarmCode.LIMIT_REACHED)
    b.run_min(20 * 60)  # the bolus leaves the 24-h window: basal flows again
    assert motor_u(b) > 5.0


def test_max_iob_limits_controller_boluses_but_not_the_users() -> None:
    """Active insulin + a controller bolus above max IOB is refused; the same by keys is not."""
    b = bench(settings=PumpSettings(max_iob_u=3.0, pattern_standard=((0, 0.5),)))
    reply = b.send(APP, BolusCommand(3.5, command_id=1))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MAX_IOB
    assert ui.manual_bolus(b.pump, 3.5).done


def test_max_iob_stops_a_controller_temp_basal_mid_delivery() -> None:
    """A controller high temp accepted under max IOB is stopped when IOB reaches it."""
    b = bench(settings=PumpSettings(max_iob_u=2.0, max_basal_u_per_h=2.0,
                                    pattern_standard=((0, 0.5),)))
    reply = b.send(APP, TempBasalCommand(rate_u_per_h=2.0, duration_min=60, command_id=1))
    assert isinstance(reply, Ack)
    assert ui.manual_bolus(b.pump, 1.5).done  # the user raises active insulin
    b.run_min(60)
    assert b.kinds("temp_basal_end")[-1]["reason"] == "limit"


def test_remote_boluses_are_capped_per_hour_in_secure_mode() -> None:
    """With a 2-U remote cap, a second 1.5-U remote bolus within the hour is refused."""
    b = bench(settings=PumpSettings(remote_max_u_per_h=2.0))
    assert isinstance(b.send(REMOTE, RemoteBolusCommand(1.5, command_id=1)), Ack)
    b.run_min(5)
    reply = b.send(REMOTE, RemoteBolusCommand(1.5, command_id=2))
    assert isinstance(reply, Nak) and reply.reason is NakReason.REMOTE_HOURLY_CAP


def test_legacy_gate_enforces_only_max_bolus_and_max_basal() -> None:
    """Legacy: boluses beyond the (secure) hourly max go through; above max bolus do not."""
    b = bench("legacy", settings=PumpSettings(max_hourly_u=2.0))
    b.send(ATTACKER, WakeupCommand(30))
    assert isinstance(b.send(ATTACKER, BolusCommand(10.0)), Ack)
    b.run_min(6)
    assert isinstance(b.send(ATTACKER, BolusCommand(10.0)), Ack)
    b.run_min(6)
    assert motor_u(b, what="bolus") == pytest.approx(20.0)
    reply = b.send(ATTACKER, BolusCommand(10.5))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MAX_BOLUS


def test_radio_zero_temp_longer_than_the_withholding_limit_is_rejected() -> None:
    """A 0 U/h temp for 3 h from the air (limit 2 h) is refused with WITHHOLD_LIMIT."""
    b = bench()
    reply = b.send(APP, TempBasalCommand(rate_u_per_h=0.0, duration_min=180, command_id=1))
    assert isinstance(reply, Nak) and reply.reason is NakReason.WITHHOLD_LIMIT
    assert isinstance(b.send(APP, TempBasalCommand(rate_u_per_h=0.0, duration_min=120,
                                                   command_id=2)), Ack)


def test_a_zero_temp_on_the_keys_is_not_limited() -> None:
    """The user may stop basal for longer than the radio limit from the pump itself."""
    b = bench()
    assert ui.set_temp_basal(b.pump, rate_u_per_h=0.0, duration_min=240).done


def test_chained_radio_zero_temps_cannot_extend_an_episode_past_the_limit() -> None:
    """Replacing a running radio zero temp counts from the episode's start."""
    b = bench()
    assert isinstance(b.send(APP, TempBasalCommand(rate_u_per_h=0.0, duration_min=90,
                                                   command_id=1)), Ack)
    b.run_min(80)
    reply = b.send(APP, TempBasalCommand(rate_u_per_h=0.0, duration_min=60, command_id=2))
    assert isinstance(reply, Nak) and reply.reason is NakReason.WITHHOLD_LIMIT


def test_radio_withholding_has_a_daily_budget() -> None:
    """Separate radio zero temps add up: beyond 6 h in 24 h they are refused."""
    b = bench()
    for i in range(3):
        assert isinstance(b.send(APP, TempBasalCommand(rate_u_per_h=0.0, duration_min=120,
                                                       command_id=i + 1)), Ack)
        b.run_min(150)
    reply = b.send(APP, TempBasalCommand(rate_u_per_h=0.0, duration_min=30, command_id=9))
    assert isinstance(reply, Nak) and reply.reason is NakReason.WITHHOLD_LIMIT


def test_radio_suspend_resumes_by_itself_at_the_limit_with_an_alarm() -> None:
    """A controller suspend ends after the 2-h radio limit; an alert says so; basal restarts."""
    b = bench()
    assert isinstance(b.send(APP, SuspendCommand(command_id=1)), Ack)
    b.run_min(119)
    assert b.pump.status().suspended and motor_u(b) == 0.0
    b.run_min(2)
    assert not b.pump.status().suspended
    assert b.kinds("resume")[-1]["reason"] == "withhold_limit"
    assert AlarmCode.WITHHOLD_LIMIT in {a.code for a in b.pump.alarms}
    b.run_min(60)
    assert motor_u(b) == pytest.approx(1.0, abs=0.03)


def test_no_delivery_alarm_fires_and_escalates_when_insulin_stops() -> None:
    """Suspended on the keys: after 4 h the no-insulin alert, after 8 h it escalates."""
    b = bench()
    assert ui.suspend(b.pump).done
    b.run_min(239)
    assert AlarmCode.NO_INSULIN not in {a.code for a in b.pump.alarms}
    b.run_min(2)
    alarm = next(a for a in b.pump.alarms if a.code is AlarmCode.NO_INSULIN)
    assert alarm.level == 1
    b.run_min(240)
    alarm = next(a for a in b.pump.alarms if a.code is AlarmCode.NO_INSULIN)
    assert alarm.level == 2 and alarm.severity.value == "alarm"
    assert [r["level"] for r in b.kinds("alarm") if r["code"] == "no_insulin"] == [1, 2]


def test_legacy_pump_has_no_withholding_limits() -> None:
    """Legacy: a radio suspend lasts until resumed and no no-insulin alarm sounds."""
    b = bench("legacy")
    b.send(ATTACKER, WakeupCommand(10))
    assert isinstance(b.send(ATTACKER, SuspendCommand()), Ack)
    b.run_min(12 * 60)
    assert b.pump.status().suspended and motor_u(b) == 0.0
    assert not b.pump.alarms


def test_every_key_path_goes_through_the_gate() -> None:
    """Manual, wizard, easy, square and dual boluses from the keys are refused by the gate."""
    b = bench(settings=PumpSettings(max_hourly_u=1.0, easy_bolus_enabled=True))
    for result in (ui.manual_bolus(b.pump, 1.5), ui.wizard_bolus(b.pump, 30, 100),
                   ui.easy_bolus(b.pump, 15), ui.square_bolus(b.pump, 2.0, 30),
                   ui.dual_bolus(b.pump, 1.0, 1.0, 30)):
        assert not result.done and "max_hourly" in result.message
    assert motor_u(b, what="bolus") == 0.0
    refused = b.kinds("delivery_refused")
    assert [r["source"] for r in refused] == ["buttons", "wizard", "easy", "buttons", "buttons"]
    assert {r["reason"] for r in refused} == {"max_hourly"}


def test_gate_origin_flags_name_radio_and_automated_sources() -> None:
    """Radio, remote and app are 'from the air'; only the app is automated delivery."""
    assert {o for o in Origin if o.from_air} == {Origin.RADIO, Origin.REMOTE, Origin.APP}
    assert {o for o in Origin if o.automated} == {Origin.APP}


# ---------------------------------------------------------------------- review regressions


def test_a_near_zero_radio_temp_counts_as_withholding() -> None:
    """0.025 U/h against a 1 U/h schedule for 24 h is refused like a zero temp."""
    b = bench()
    reply = b.send(APP, TempBasalCommand(rate_u_per_h=0.025, duration_min=1440, command_id=1))
    assert isinstance(reply, Nak) and reply.reason is NakReason.WITHHOLD_LIMIT
    assert isinstance(b.send(APP, TempBasalCommand(rate_u_per_h=0.025, duration_min=120,
                                                   command_id=2)), Ack)
    assert b.kinds("temp_basal_start")[-1]["withholds"] is True


def test_a_radio_temp_at_a_quarter_of_the_schedule_is_not_withholding() -> None:
    """0.25 U/h against 1 U/h (exactly 1/4) may run a whole day from the air."""
    b = bench()
    reply = b.send(APP, TempBasalCommand(rate_u_per_h=0.25, duration_min=1440, command_id=1))
    assert isinstance(reply, Ack)
    assert b.kinds("temp_basal_start")[-1]["withholds"] is False


def test_a_radio_temp_is_judged_against_every_rate_it_runs_over() -> None:
    """0.3 U/h is 60 % of a 0.5 U/h night but 20 % of the 1.5 U/h day it runs into."""
    b = bench(settings=PumpSettings(pattern_standard=((0, 0.5), (360, 1.5))))
    b.run_min(300)  # 05:00: the temp would run into the 06:00 segment
    assert isinstance(b.send(APP, TempBasalCommand(rate_u_per_h=0.3, duration_min=120,
                                                   command_id=1)), Ack)
    assert b.kinds("temp_basal_start")[-1]["withholds"] is True


def test_radio_zero_temps_a_few_minutes_apart_are_one_episode() -> None:
    """A second 2-h zero temp 5 min after the first ended continues the same episode."""
    b = bench()
    b.run_min(60)
    assert isinstance(b.send(APP, TempBasalCommand(rate_u_per_h=0.0, duration_min=120,
                                                   command_id=1)), Ack)
    b.run_min(125)
    reply = b.send(APP, TempBasalCommand(rate_u_per_h=0.0, duration_min=120, command_id=2))
    assert isinstance(reply, Nak) and reply.reason is NakReason.WITHHOLD_LIMIT
    b.run_min(30)  # more than the 30-min merge gap since the first ended
    assert isinstance(b.send(APP, TempBasalCommand(rate_u_per_h=0.0, duration_min=120,
                                                   command_id=3)), Ack)


def test_suspending_again_right_after_the_automatic_resume_is_refused() -> None:
    """A radio suspend resumed at its 2-h limit cannot be renewed within the merge gap."""
    b = bench()
    assert isinstance(b.send(APP, SuspendCommand(command_id=1)), Ack)
    b.run_min(121)
    assert not b.pump.status().suspended
    reply = b.send(APP, SuspendCommand(command_id=2))
    assert isinstance(reply, Nak) and reply.reason is NakReason.WITHHOLD_LIMIT
    b.run_min(25)
    reply = b.send(APP, SuspendCommand(command_id=3))
    assert isinstance(reply, Nak) and reply.reason is NakReason.WITHHOLD_LIMIT


def test_low_delivery_alarm_sounds_when_insulin_is_only_a_trickle() -> None:
    """A 0.1 U/h temp on the keys (10 % of 1 U/h): strokes still come, the alarm still does."""
    b = bench()
    b.run_min(60)
    assert ui.set_temp_basal(b.pump, rate_u_per_h=0.1, duration_min=600).done
    b.run_min(150)  # the 4-h window still holds an hour of full basal: not low yet
    assert AlarmCode.NO_INSULIN not in {a.code for a in b.pump.alarms}
    assert len(b.motor.strokes) > 40  # strokes keep coming: this is not a zero-stroke gap
    b.run_min(90)  # the window holds under 1/4 of the 4 U scheduled
    alarm = next(a for a in b.pump.alarms if a.code is AlarmCode.NO_INSULIN)
    assert alarm.level == 1 and "% of the" in alarm.detail


def test_a_battery_dying_mid_bolus_pushes_no_further_stroke() -> None:
    """When a stroke's drain empties the cell, that stroke does not go out; the bolus
    record says exactly what the motor delivered."""
    b = bench()
    b.run_min(1)
    b.pump._battery_pct = 0.0006  # test-only: a cell with about one stroke left
    assert ui.manual_bolus(b.pump, 1.0).done
    b.run_min(5)
    assert AlarmCode.BATTERY_OUT in {a.code for a in b.pump.alarms}
    end = b.kinds("bolus_end")[-1]
    assert end["reason"] == "battery_out"
    assert end["delivered_u"] == pytest.approx(motor_u(b, what="bolus"))


def test_a_key_suspend_takes_over_a_radio_suspend() -> None:
    """Suspending on the keys while a controller suspend runs cancels its automatic resume."""
    b = bench()
    assert isinstance(b.send(APP, SuspendCommand(command_id=1)), Ack)
    b.run_min(30)
    assert ui.suspend(b.pump).done
    b.run_min(180)
    assert b.pump.status().suspended and motor_u(b) == 0.0
    assert b.kinds("suspend")[-1]["source"] == "buttons"
    b.restart()
    b.run_min(120)
    assert b.pump.status().suspended


# ---------------------------------------------------------------------- issue 9, defect 2
# Only the person resumes a suspend the person made (or one made for a person who is not
# responding: auto-off).  A paired controller's ResumeCommand once restarted basal after all
# three; secure mode refuses it with suspended_by_user, legacy keeps the x23's radio resume.


def _controller_resume_is_refused(b: Bench, cid: int) -> None:
    reply = b.send(APP, ResumeCommand(command_id=cid))
    assert isinstance(reply, Nak) and reply.reason.value == "suspended_by_user", reply
    assert "keys" in reply.detail
    before = motor_u(b)
    b.run_min(120)
    assert b.pump.status().suspended and motor_u(b) == before
    record = b.kinds("command")[-1]
    assert record["reason"] == "suspended_by_user" and record["outcome"] == "rejected"


def test_a_controller_cannot_resume_a_suspend_made_on_the_keys() -> None:
    """Key suspend, then ResumeCommand from the paired controller: suspended_by_user;
    delivery stays stopped until the person resumes on the keys."""
    b = bench()
    assert ui.suspend(b.pump).done
    _controller_resume_is_refused(b, 1)
    assert ui.resume(b.pump).done
    b.run_min(60)
    assert motor_u(b) == pytest.approx(1.0)


def test_a_controller_cannot_resume_a_radio_suspend_the_person_took_over() -> None:
    """A controller suspend taken over on the keys is the person's: the controller's own
    resume is refused suspended_by_user, before and after a restart."""
    b = bench()
    assert isinstance(b.send(APP, SuspendCommand(command_id=1)), Ack)
    b.run_min(10)
    assert ui.suspend(b.pump).done  # takes it over
    _controller_resume_is_refused(b, 2)
    b.restart()
    _controller_resume_is_refused(b, 3)


def test_a_controller_cannot_resume_an_auto_off_suspend() -> None:
    """Auto-off suspends a person who stopped pressing keys; a controller may not undo it."""
    b = bench(settings=PumpSettings(auto_off_h=1))
    b.run_min(61)
    assert b.kinds("suspend")[-1]["source"] == "auto_off"
    _controller_resume_is_refused(b, 1)


def test_a_controller_may_still_resume_its_own_suspend() -> None:
    """A suspend from the air that nobody took over is resumed by the controller's command."""
    b = bench()
    assert isinstance(b.send(APP, SuspendCommand(command_id=1)), Ack)
    b.run_min(10)
    assert isinstance(b.send(APP, ResumeCommand(command_id=2)), Ack)
    assert not b.pump.status().suspended


@pytest.mark.parametrize("how", ["keys", "auto_off"])
def test_legacy_radio_resume_still_undoes_any_suspend(how: str) -> None:
    """Legacy-faithful: the x23 obeys a radio resume whoever suspended (the attack lab's
    point), so the new refusal is secure-only."""
    b = bench("legacy", settings=PumpSettings(auto_off_h=1 if how == "auto_off" else 0))
    if how == "keys":
        assert ui.suspend(b.pump).done
    else:
        b.run_min(61)
    assert b.pump.status().suspended
    b.send(ATTACKER, WakeupCommand(10))
    assert isinstance(b.send(ATTACKER, ResumeCommand()), Ack)
    assert not b.pump.status().suspended


# ---------------------------------------------------------------------- issue 9, defect 5
# Episodes less than 30 min apart are one episode and the gap between them counts as
# withheld, for the daily budget too.  The daily check once left the gap of the merge it
# was about to make out, so the pump's own ledger passed its daily budget.


def test_the_daily_withholding_budget_counts_the_gap_of_a_merge_for_a_suspend() -> None:
    """Budget 180 min/day: 120 withheld, a 30-min zero temp 40 min later, a suspend 20 min
    after it: the gap joins the episode, so only 10 min remain and the suspend lasts 10."""
    b = bench(settings=PumpSettings(max_radio_withhold_min=120,
                                    max_radio_withhold_per_day_min=180))
    assert isinstance(b.send(APP, SuspendCommand(command_id=1)), Ack)
    b.run_min(160)  # resumed by itself at 120
    assert isinstance(b.send(APP, TempBasalCommand(percent=0, duration_min=30,
                                                   command_id=2)), Ack)
    b.run_min(50)  # temp over at 190; now 210
    assert isinstance(b.send(APP, SuspendCommand(command_id=3)), Ack)
    suspend = b.kinds("suspend")[-1]
    assert suspend["resume_at_device_ms"] == 220 * MS_PER_MINUTE
    b.run_min(11)
    assert not b.pump.status().suspended
    ledger = b.pump._gate.withholding
    assert ledger.withheld_ms(b.clock.now_ms) <= 180 * MS_PER_MINUTE


def test_the_daily_withholding_budget_counts_the_gap_of_a_merge_for_a_temp_basal() -> None:
    """Budget 180: 120 withheld, a zero temp 40 min later (30 min, 150 used), a second one
    20 min after it would make 150 + 20 + 30 = 200: refused withhold_limit."""
    b = bench(settings=PumpSettings(max_radio_withhold_min=120,
                                    max_radio_withhold_per_day_min=180))
    assert isinstance(b.send(APP, SuspendCommand(command_id=1)), Ack)
    b.run_min(160)
    assert isinstance(b.send(APP, TempBasalCommand(percent=0, duration_min=30,
                                                   command_id=2)), Ack)
    b.run_min(50)
    reply = b.send(APP, TempBasalCommand(percent=0, duration_min=30, command_id=3))
    assert isinstance(reply, Nak) and reply.reason is NakReason.WITHHOLD_LIMIT
    assert "daily" in reply.detail


def test_auto_off_takes_over_a_radio_suspend_so_it_does_not_resume_by_itself() -> None:
    """Auto-off firing during a controller suspend makes it the person's suspend: the radio
    suspend's automatic resume is cancelled, and the controller cannot resume it either."""
    b = bench(settings=PumpSettings(auto_off_h=1))
    b.run_min(50)
    assert isinstance(b.send(APP, SuspendCommand(command_id=1)), Ack)  # would resume at 170
    b.run_min(15)  # auto-off at 60
    assert b.kinds("suspend")[-1]["source"] == "auto_off"
    _controller_resume_is_refused(b, 2)  # to 185 min: still suspended
    b.run_min(60)
    assert b.pump.status().suspended

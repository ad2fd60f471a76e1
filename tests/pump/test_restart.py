"""Durable state: the pump rebuilds itself from its history at start (issue 5)."""

from __future__ import annotations

import itertools
import math
import sqlite3
from pathlib import Path

import pytest
from pumpkit import APP, ATTACKER, SERIAL, Bench, FailingHistory, bench, motor_u

from pumplab.clock import MS_PER_MINUTE, EventClock
from pumplab.devices.history import MemoryHistory, SqliteHistory
from pumplab.devices.pump import (
    AlarmCode,
    Pump,
    PumpPhase,
    PumpSettings,
    RecordingMotor,
    ScreenKind,
    ui,
)
from pumplab.devices.pump.pump import USER_CLOCK_MAX_MS
from pumplab.errors import HistoryError
from pumplab.link.memory import InMemoryLink
from pumplab.link.messages import (
    Ack,
    BolusCommand,
    Nak,
    NakReason,
    ReadStatusCommand,
    StatusReport,
    SuspendCommand,
    TempBasalCommand,
    WakeupCommand,
)


def test_boot_record_holds_the_full_settings_and_changes_are_replayed() -> None:
    """Settings changed on the keys and a pairing survive a restart exactly."""
    b = bench(pair=False)
    assert ui.set_max_bolus(b.pump, 6.5).done
    assert ui.pair(b.pump, APP, "controller").done
    before = b.pump.settings
    boot = b.kinds("boot")[0]
    assert isinstance(boot["settings"], dict) and boot["settings"]["max_bolus_u"] == 10.0
    b.restart()
    assert b.pump.settings == before
    assert b.kinds("boot")[-1]["recovered"] is True


def test_interrupted_bolus_is_never_redelivered_and_the_remainder_is_alarmed() -> None:
    """A bolus cut by a restart is ended 'interrupted', reported in a recovery record, alarmed."""
    b = bench()
    ui.manual_bolus(b.pump, 5.0)
    b.run_min(0.5)
    b.restart()
    assert b.pump.boot_report is not None
    assert b.pump.boot_report.interrupted_bolus_id == 1
    assert b.pump.boot_report.undelivered_u == pytest.approx(4.25)
    recovery = b.kinds("recovery")[-1]
    assert recovery == {"interrupted_bolus_id": 1, "requested_u": 5.0, "delivered_u": 0.75,
                        "undelivered_u": 4.25}
    assert b.kinds("bolus_end")[-1]["reason"] == "interrupted"
    assert b.pump.screen.value == AlarmCode.BOLUS_INTERRUPTED.value
    b.run_min(30)
    assert motor_u(b, what="bolus") == pytest.approx(0.75)


def test_temp_basal_running_at_restart_is_cancelled_with_an_alert() -> None:
    """Decision: a temp basal is not resumed after a restart; scheduled basal takes over."""
    b = bench()
    assert ui.set_temp_basal(b.pump, rate_u_per_h=2.0, duration_min=120).done
    b.run_min(30)
    b.restart()
    assert b.kinds("temp_basal_end")[-1]["reason"] == "interrupted"
    assert AlarmCode.TEMP_BASAL_CANCELLED in {a.code for a in b.pump.alarms}
    b.run_min(60)
    assert motor_u(b) == pytest.approx(1.0 + 1.0, abs=0.03)


def test_suspend_survives_a_restart() -> None:
    """A pump suspended on the keys is still suspended after a restart."""
    b = bench()
    ui.suspend(b.pump)
    b.restart()
    b.run_min(60)
    assert b.pump.status().suspended and motor_u(b) == 0.0


def test_radio_suspend_limit_survives_a_restart() -> None:
    """The auto-resume time of a radio suspend is kept across a restart."""
    b = bench()
    b.send(APP, SuspendCommand(command_id=1))
    b.run_min(60)
    b.restart()
    b.run_min(59)
    assert b.pump.status().suspended
    b.run_min(2)
    assert not b.pump.status().suspended


def test_limit_windows_survive_a_restart() -> None:
    """Insulin delivered before a restart still counts toward the hourly max after it."""
    b = bench(settings=PumpSettings(max_hourly_u=4.0))
    assert isinstance(b.send(APP, BolusCommand(3.5, command_id=1)), Ack)
    b.run_min(5)
    b.restart()
    reply = b.send(APP, BolusCommand(1.0, command_id=2))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MAX_HOURLY


def test_clock_and_reservoir_survive_a_restart() -> None:
    """The user clock offset and the reservoir level come back from the log."""
    b = bench(reservoir_u=100.0)
    ui.set_time(b.pump, 8, 15)
    b.run_min(60)
    clock, reservoir = b.pump.user_clock_ms, b.pump.status().reservoir_u
    b.restart()
    assert b.pump.user_clock_ms == clock and b.pump.status().reservoir_u == reservoir


def _tamper(path: Path, seq: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE records SET data = ? WHERE seq = ?", ('{"units":999.0}', seq))


def test_pump_refuses_delivery_on_a_history_that_fails_verification(tmp_path: Path) -> None:
    """A tampered log: no delivery, dose commands NAKed HISTORY_UNVERIFIED, an alarm screen."""
    path = tmp_path / "pump.sqlite"
    b = bench(history=SqliteHistory(path, device_serial=SERIAL))
    b.run_min(30)
    b.pump.stop()
    b.history.close()
    _tamper(path, 2)
    b.history = SqliteHistory(path, device_serial=SERIAL)
    b.restart(settings=b.settings)  # the log's pairings are not trusted: the settings given
    report = b.pump.boot_report
    assert report is not None and not report.verified and "record 2" in report.reason
    assert b.pump.phase is PumpPhase.UNVERIFIED
    assert b.pump.screen.kind is ScreenKind.ALARM
    assert "pumplab history verify" in " ".join(b.pump.screen.lines)
    count = len(b.history.records())
    reply = b.send(APP, BolusCommand(1.0, command_id=1))
    assert isinstance(reply, Nak) and reply.reason is NakReason.HISTORY_UNVERIFIED
    assert isinstance(b.send(APP, ReadStatusCommand()), StatusReport)
    delivered = motor_u(b)
    b.run_min(120)
    assert motor_u(b) == delivered and len(b.history.records()) == count
    assert not ui.clear_alarm(b.pump).done


def test_a_failed_append_stops_delivery() -> None:
    """When the history cannot be written the pump stops delivering and alarms."""
    b = bench(history=FailingHistory(ok=20))
    b.run_min(24 * 60)
    assert b.pump.phase is PumpPhase.HALTED
    assert b.pump.screen.value == AlarmCode.HISTORY_FAILURE.value
    recorded = sum(1 for r in b.history.records() if r.kind == "stroke")
    assert len(b.motor.strokes) == recorded < 20
    assert isinstance(b.send(APP, TempBasalCommand(rate_u_per_h=1.0, duration_min=30,
                                                   command_id=1)), Nak)


def test_device_time_must_not_go_back_across_a_restart() -> None:
    """Starting a pump whose clock is behind its log is a programming error."""
    from pumplab.clock import EventClock
    from pumplab.devices.pump import Pump, RecordingMotor
    from pumplab.link.memory import InMemoryLink

    b = bench()
    b.run_min(10)
    clock = EventClock(5 * MS_PER_MINUTE)
    pump = Pump(serial=SERIAL, clock=clock, link=InMemoryLink(clock), history=b.history,
                motor=RecordingMotor(clock))
    with pytest.raises(ValueError, match="never go back"):
        pump.start()


# ---------------------------------------------------------------------- review regressions


def _fresh_pump(history: MemoryHistory, mode: str = "legacy", serial: str = SERIAL,
                settings: PumpSettings | None = None) -> tuple[Pump, InMemoryLink, RecordingMotor,
                                                                list[object]]:
    clock = EventClock((history.head.device_time_ms if history.head else 0) + 1000)
    link = InMemoryLink(clock, delay_ms=0)
    motor = RecordingMotor(clock)
    pump = Pump(serial=serial, clock=clock, link=link, history=history, motor=motor, mode=mode,
                settings=settings)
    replies: list[object] = []
    link.attach(ATTACKER, lambda env: replies.append(env.message))
    link.attach(APP, lambda env: replies.append(env.message))
    pump.start()
    return pump, link, motor, replies


def test_a_log_that_verifies_but_cannot_be_replayed_leaves_the_pump_unverified() -> None:
    """An alarm record with a bogus severity: no delivery, not even to a legacy attacker."""
    h = MemoryHistory()
    h.append("alarm", {"code": "low_battery", "severity": "bogus", "message": "x", "level": 1},
             device_time_ms=0, clock_ms=0)
    pump, link, motor, replies = _fresh_pump(h)
    assert pump.phase is PumpPhase.UNVERIFIED
    assert pump.boot_report is not None and "record 1" in pump.boot_report.reason
    assert pump.screen.value == AlarmCode.HISTORY_UNVERIFIED.value
    assert "pumplab history verify" in " ".join(pump.screen.lines)
    link.send(ATTACKER, pump.address, WakeupCommand(10))
    link.send(ATTACKER, pump.address, BolusCommand(5.0))
    pump._clock.run_until(pump._clock.now_ms + 60 * MS_PER_MINUTE)  # type: ignore[attr-defined]
    assert motor.strokes == [] and len(h.records()) == 1
    assert isinstance(replies[-1], Nak) and replies[-1].reason is NakReason.HISTORY_UNVERIFIED


def test_a_settings_snapshot_that_does_not_validate_leaves_the_pump_unverified() -> None:
    """A boot record whose settings are out of range: UNVERIFIED, with the reason."""
    h = MemoryHistory()
    h.append("boot", {"serial": SERIAL, "mode": "secure", "settings": {"max_bolus_u": 99.0}},
             device_time_ms=0, clock_ms=0)
    pump, _, motor, _ = _fresh_pump(h, "secure")
    assert pump.phase is PumpPhase.UNVERIFIED
    assert pump.boot_report is not None and "max_bolus_u" in pump.boot_report.reason
    pump._clock.run_until(pump._clock.now_ms + 60 * MS_PER_MINUTE)  # type: ignore[attr-defined]
    assert motor.strokes == []


@pytest.mark.parametrize(("mode", "serial", "named"),
                         [("legacy", SERIAL, "'secure' mode"), ("secure", "123456", "665455")])
def test_a_history_of_another_pump_or_mode_is_refused(mode: str, serial: str,
                                                      named: str) -> None:
    """A secure pump 665455's log restarted as legacy, or as pump 123456: UNVERIFIED."""
    b = bench()
    b.run_min(10)
    b.pump.stop()
    assert isinstance(b.history, MemoryHistory)
    pump, _, motor, _ = _fresh_pump(b.history, mode, serial)
    assert pump.phase is PumpPhase.UNVERIFIED
    assert pump.boot_report is not None and named in pump.boot_report.reason
    pump._clock.run_until(pump._clock.now_ms + 60 * MS_PER_MINUTE)  # type: ignore[attr-defined]
    assert motor.strokes == []


def test_a_dose_accepted_but_cut_off_before_its_effect_is_reported_not_executed() -> None:
    """Command recorded, bolus_start never: after a restart the pump records and alarms it,
    status does not report it, and a resend is answered NOT_EXECUTED (nothing delivered)."""
    h = FailingHistory(error=HistoryError("power lost"))
    b = bench(history=h)
    h.fail_on = "bolus_start"
    assert b.send(APP, BolusCommand(2.0, command_id=77)) is None  # halted: no answer
    b.restart()
    recovery = b.kinds("recovery")[-1]
    assert recovery["not_executed_command_seq"] is not None and recovery["command_id"] == 77
    assert recovery["undelivered_u"] == 2.0
    assert AlarmCode.COMMAND_NOT_EXECUTED in {a.code for a in b.pump.alarms}
    status = b.send(APP, ReadStatusCommand())
    assert isinstance(status, StatusReport) and status.last_command_id is None
    again = b.send(APP, BolusCommand(2.0, command_id=77))
    assert isinstance(again, Nak) and again.replayed
    assert again.reason is NakReason.NOT_EXECUTED
    b.run_min(10)
    assert motor_u(b, what="bolus") == 0.0
    b.restart()  # reported once, not again
    assert len([r for r in b.kinds("recovery") if r.get("not_executed_command_seq")]) == 1


def test_a_halted_pump_does_not_report_a_command_whose_effect_failed() -> None:
    """The effect's append fails: the command is not the sender's last accepted one."""
    h = FailingHistory(error=HistoryError("power lost"))
    b = bench(history=h)
    assert isinstance(b.send(APP, BolusCommand(1.0, command_id=1)), Ack)
    h.fail_on = "bolus_start"
    b.run_min(5)
    b.send(APP, BolusCommand(2.0, command_id=2))
    assert b.pump.phase is PumpPhase.HALTED
    status = b.pump.status(APP)
    assert status.last_command_id == 1 and status.suspended


def test_restart_keeps_the_low_delivery_alarm_level_without_recording_it_again() -> None:
    """Suspended 12 h (levels 1, 2, 3 recorded), restarted: level 3 stays, no new records."""
    b = bench()
    ui.suspend(b.pump)
    b.run_min(3 * 240 + 5)
    b.restart()
    b.run_min(1)
    levels = [r["level"] for r in b.kinds("alarm") if r["code"] == "no_insulin"]
    assert levels == [1, 2, 3]
    assert next(a for a in b.pump.alarms if a.code is AlarmCode.NO_INSULIN).level == 3
    b.run_min(240)
    assert [r["level"] for r in b.kinds("alarm") if r["code"] == "no_insulin"] == [1, 2, 3, 4]


def test_an_unverified_secure_pump_answers_status_only_to_paired_readers() -> None:
    """Unpaired senders get NOT_AUTHORIZED and no status; a paired controller gets a status
    that says the state is unknown (NaN amounts, delivery stopped)."""
    h = MemoryHistory()
    h.append("alarm", {"code": "nonsense"}, device_time_ms=0, clock_ms=0)
    settings = PumpSettings(pairings=((APP, "controller"),))
    pump, link, _, replies = _fresh_pump(h, "secure", settings=settings)
    link.send(ATTACKER, pump.address, ReadStatusCommand())
    link.send(APP, pump.address, ReadStatusCommand())
    pump._clock.run_until(pump._clock.now_ms)  # type: ignore[attr-defined]
    refused, status = replies
    assert isinstance(refused, Nak) and refused.reason is NakReason.NOT_AUTHORIZED
    assert isinstance(status, StatusReport) and not status.state_known and status.suspended
    assert math.isnan(status.reservoir_u) and math.isnan(status.iob_u)


def test_an_unverified_legacy_pump_hears_nothing_while_its_radio_sleeps() -> None:
    """Without a wake-up, a status request to an unverified legacy pump gets no answer."""
    h = MemoryHistory()
    h.append("alarm", {"code": "nonsense"}, device_time_ms=0, clock_ms=0)
    pump, link, _, replies = _fresh_pump(h, "legacy")
    link.send(ATTACKER, pump.address, ReadStatusCommand())
    pump._clock.run_until(pump._clock.now_ms)  # type: ignore[attr-defined]
    assert replies == []
    link.send(ATTACKER, pump.address, WakeupCommand(10))
    link.send(ATTACKER, pump.address, ReadStatusCommand())
    pump._clock.run_until(pump._clock.now_ms)  # type: ignore[attr-defined]
    assert isinstance(replies[-1], StatusReport) and not replies[-1].state_known


def test_a_log_whose_user_clock_no_pump_could_have_set_leaves_the_pump_unverified() -> None:
    """A log whose clock reads year ~33 000 (set by old code or forged): refused, not run."""
    b = bench()
    b.run_min(10)
    b.pump.stop()
    assert isinstance(b.history, MemoryHistory)
    b.history.append("basal_rate", {"rate_u_per_h": 1.0, "source": "schedule",
                                    "pattern": "standard"},
                     device_time_ms=b.clock.now_ms, clock_ms=10**15)
    pump, _, motor, _ = _fresh_pump(b.history, "secure")
    assert pump.phase is PumpPhase.UNVERIFIED
    assert pump.boot_report is not None and "user clock" in pump.boot_report.reason
    pump._clock.run_until(pump._clock.now_ms + 60 * MS_PER_MINUTE)  # type: ignore[attr-defined]
    assert motor.strokes == []


def test_a_clock_that_ran_past_2100_survives_a_restart() -> None:
    """Set to a minute before 2100 and run on for a day: the restart accepts it."""
    b = bench(clock_ms=USER_CLOCK_MAX_MS - MS_PER_MINUTE)
    b.run_min(24 * 60)
    b.restart()
    assert b.pump.phase is PumpPhase.RUNNING
    assert b.pump.user_clock_ms == USER_CLOCK_MAX_MS - MS_PER_MINUTE + 24 * 60 * MS_PER_MINUTE


# ---------------------------------------------------------------------- issue 9, defect 3
# A radio suspend that replaced a zero temp basal wrote `suspend` before `temp_basal_end`;
# replaying that order closed the withholding episode while the suspend still ran, so a
# restart forgot it and the per-episode and daily limits were lost.


def _withheld_min(b: Bench, t0_ms: int, t1_ms: int, longer_than_min: float = 5.0) -> float:
    """Minutes in [t0, t1] of stroke-free stretches longer than ``longer_than_min`` on the
    motor record (basal 1 U/h strokes every 1.5 min: longer stretches are withheld)."""
    times = [t0_ms] + [s.at_ms for s in b.motor.strokes if t0_ms < s.at_ms < t1_ms] + [t1_ms]
    return sum(z - a for a, z in itertools.pairwise(times)
               if z - a > longer_than_min * MS_PER_MINUTE) / MS_PER_MINUTE


def test_a_radio_suspend_over_a_zero_temp_keeps_its_episode_across_a_restart() -> None:
    """Zero temp, radio suspend 10 min later, restart: the pump still knows the episode,
    so renewing the suspend 5 min after it resumed by itself is refused withhold_limit."""
    b = bench()
    assert isinstance(b.send(APP, TempBasalCommand(percent=0, duration_min=60,
                                                   command_id=1)), Ack)
    b.run_min(10)
    assert isinstance(b.send(APP, SuspendCommand(command_id=2)), Ack)
    b.run_min(10)
    b.restart()
    b.run_min(105)  # 125 min in: resumed by itself at 120
    assert not b.pump.status().suspended
    reply = b.send(APP, SuspendCommand(command_id=3))
    assert isinstance(reply, Nak) and reply.reason is NakReason.WITHHOLD_LIMIT
    b.run_min(115)  # to 240 min
    assert _withheld_min(b, 0, 240 * MS_PER_MINUTE) <= 120 + 2
    assert motor_u(b) >= 1.9


def test_daily_withholding_budget_holds_on_the_motor_record_across_restarts() -> None:
    """Episodes of zero temps and radio suspends with a restart inside each: the motor
    record shows no more withheld in 24 h than the daily budget (+ a stroke spacing at
    each edge), and what would exceed it is refused."""
    b = bench(settings=PumpSettings(max_radio_withhold_min=120,
                                    max_radio_withhold_per_day_min=180))
    assert isinstance(b.send(APP, TempBasalCommand(percent=0, duration_min=60,
                                                   command_id=1)), Ack)
    b.run_min(30)
    assert isinstance(b.send(APP, SuspendCommand(command_id=2)), Ack)  # same episode
    b.run_min(20)
    b.restart()
    b.run_min(110)  # resumed at 120; now 160
    assert isinstance(b.send(APP, SuspendCommand(command_id=3)), Ack)  # 60 min left today
    b.run_min(30)
    b.restart()
    b.run_min(70)  # resumed at 220; now 260
    for cid, command in ((4, TempBasalCommand(percent=0, duration_min=30, command_id=4)),
                         (5, SuspendCommand(command_id=5))):
        reply = b.send(APP, command)
        assert isinstance(reply, Nak) and reply.reason is NakReason.WITHHOLD_LIMIT, (cid, reply)
    b.run_min(24 * 60 - 260)
    assert _withheld_min(b, 0, 24 * 60 * MS_PER_MINUTE) <= 180 + 2 * 2 * 1.5


@pytest.mark.parametrize("order", ["suspend_first", "temp_end_first"])
def test_replay_rebuilds_the_same_withholding_whatever_the_order_of_one_effects_records(
        order: str) -> None:
    """The records one action writes at one instant (a radio suspend ending a zero temp)
    replay to the same withholding ledger in either order."""
    from pumplab.devices.pump.recovery import replay
    from pumplab.devices.pump.safety import WithholdLedger

    b = bench()
    b.send(APP, TempBasalCommand(percent=0, duration_min=60, command_id=1))
    b.run_min(10)
    b.send(APP, SuspendCommand(command_id=2))
    b.run_min(10)
    records = b.history.records()
    at = next(r.device_time_ms for r in records if r.kind == "suspend")
    group = [r for r in records if r.device_time_ms == at and r.kind in
             ("suspend", "temp_basal_end")]
    assert len(group) == 2
    want = ["suspend", "temp_basal_end"] if order == "suspend_first" else [
        "temp_basal_end", "suspend"]
    group.sort(key=lambda r: want.index(r.kind))
    others = [r for r in records if r not in group]
    where = min(records.index(r) for r in group)
    reordered = others[:where] + group + others[where:]
    ledger = WithholdLedger()
    for action, t in replay(reordered, now_ms=b.clock.now_ms).withhold:
        (ledger.open if action == "open" else ledger.close)(t)
    assert ledger.open_since == 0  # one episode, from the zero temp, still running
    assert ledger.withheld_ms(b.clock.now_ms) == 20 * MS_PER_MINUTE

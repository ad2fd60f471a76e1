"""The controller app resolves lost acknowledgements by reading status, never by guessing."""

import numpy as np
import pytest

from pumplab.clock import MS_PER_MINUTE, EventClock
from pumplab.devices.controller_app import ControllerApp, DoseOutcome
from pumplab.devices.history import MemoryHistory
from pumplab.devices.pump import ProtocolMode, Pump, RecordingMotor, Role, ui
from pumplab.errors import HistoryError
from pumplab.link.base import Envelope
from pumplab.link.memory import InMemoryLink
from pumplab.link.messages import (
    Ack,
    BolusCommand,
    Nak,
    NakReason,
    StatusReport,
    TempBasalCommand,
)

APP = "app:phone"


def rig(mode: ProtocolMode = ProtocolMode.SECURE):  # type: ignore[no-untyped-def]
    clock = EventClock()
    link = InMemoryLink(clock)
    motor = RecordingMotor(clock)
    pump = Pump(serial="123456", clock=clock, link=link, history=MemoryHistory(), motor=motor,
                mode=mode)
    pump.start()
    if mode is ProtocolMode.SECURE:
        assert ui.pair(pump, APP, Role.CONTROLLER).done
    app = ControllerApp(APP, pump.address, clock, link,
                        use_command_ids=mode is ProtocolMode.SECURE)
    app.start()
    return clock, link, pump, motor, app


def executed_commands(pump: Pump) -> list[dict]:  # type: ignore[type-arg]
    """The pump's own record of commands it carried out (first arrivals, accepted)."""
    return [r.data for r in pump.history.records()
            if r.kind == "command" and r.data["src"] == APP and r.data["outcome"] == "accepted"
            and r.data.get("replay_of") is None
            and r.data["type"] in ("BolusCommand", "TempBasalCommand")]


def bolus_motor_u(motor: RecordingMotor) -> float:
    return sum(s.amount_u for s in motor.strokes if s.source.what == "bolus")


def test_answer_arrives_and_is_reported() -> None:
    """Without loss, an accepted bolus is resolved by its Ack."""
    clock, _, _pump, motor, app = rig()
    got: list[DoseOutcome] = []
    app.bolus(1.0, got.append)
    clock.run_until(5 * MS_PER_MINUTE)
    assert got[0].status == "accepted" and got[0].resolved_by == "ack"
    assert bolus_motor_u(motor) == pytest.approx(1.0)


def test_lost_ack_is_resolved_by_status_without_a_second_dose() -> None:
    """The Ack is lost; the app reads status, sees its id accepted, sends nothing more."""
    clock, link, _pump, motor, app = rig()
    link.add_drop_filter(lambda env: env.dst == APP and isinstance(env.message, Ack)
                         and env.message.in_reply_to == "BolusCommand")
    got: list[DoseOutcome] = []
    app.bolus(2.0, got.append)
    clock.run_until(10 * MS_PER_MINUTE)
    assert got[0].status == "accepted" and got[0].resolved_by == "status"
    assert got[0].attempts == 1
    assert bolus_motor_u(motor) == pytest.approx(2.0)


def test_lost_command_is_sent_again_after_status_shows_it_never_arrived() -> None:
    """The command itself is lost once; status shows another id, so it is resent once."""
    clock, link, _pump, motor, app = rig()
    lost = {"n": 0}

    def drop_first_bolus(env: Envelope) -> bool:
        if isinstance(env.message, BolusCommand) and lost["n"] == 0:
            lost["n"] += 1
            return True
        return False

    link.add_drop_filter(drop_first_bolus)
    got: list[DoseOutcome] = []
    app.bolus(1.5, got.append)
    clock.run_until(10 * MS_PER_MINUTE)
    assert got[0].status == "accepted" and got[0].attempts == 2
    assert bolus_motor_u(motor) == pytest.approx(1.5)


def test_lost_refusal_is_recovered_from_the_pumps_idempotency_record() -> None:
    """A refused bolus whose Nak is lost: the resend is answered with the stored refusal."""
    clock, link, pump, motor, app = rig()
    link.add_drop_filter(lambda env: env.dst == APP and isinstance(env.message, Nak)
                         and not env.message.replayed)
    got: list[DoseOutcome] = []
    app.bolus(pump.settings.max_bolus_u + 1.0, got.append)
    clock.run_until(10 * MS_PER_MINUTE)
    assert got[0].status == "rejected" and got[0].reason is NakReason.MAX_BOLUS
    assert got[0].replayed is True
    assert bolus_motor_u(motor) == 0.0


def test_unreachable_pump_gives_an_unknown_outcome_not_a_guess() -> None:
    """Every answer after the first status lost: after its attempts the app says
    'unknown' and stops."""
    clock, link, pump, motor, app = rig()
    link.add_drop_filter(lambda env: env.dst == APP and (
        app.last_status is not None or not isinstance(env.message, StatusReport)))
    got: list[DoseOutcome] = []
    app.bolus(1.0, got.append)
    clock.run_until(30 * MS_PER_MINUTE)
    assert got[0].status == "unknown" and got[0].resolved_by == "gave_up"
    assert len(executed_commands(pump)) == 1  # it did arrive, exactly once
    assert bolus_motor_u(motor) == pytest.approx(1.0)


def test_legacy_lost_answer_is_not_confused_with_an_earlier_identical_command() -> None:
    """Two identical legacy boluses; the second is lost every time: never reported accepted."""
    clock, link, _pump, motor, app = rig(ProtocolMode.LEGACY)
    got: list[DoseOutcome] = []
    app.bolus(0.5, got.append)
    clock.run_until(5 * MS_PER_MINUTE)
    link.add_drop_filter(lambda env: isinstance(env.message, BolusCommand))
    app.bolus(0.5, got.append)
    clock.run_until(60 * MS_PER_MINUTE)
    assert got[0].status == "accepted"
    assert got[1].status == "unknown" and got[1].resolved_by == "gave_up"
    assert bolus_motor_u(motor) == pytest.approx(0.5)


def test_legacy_pump_out_of_reach_means_not_sent() -> None:
    """If the pump never answers the head request, the legacy command is never sent."""
    clock, link, _pump, motor, app = rig(ProtocolMode.LEGACY)
    link.add_drop_filter(lambda env: env.dst == APP)
    got: list[DoseOutcome] = []
    app.bolus(1.0, got.append)
    clock.run_until(30 * MS_PER_MINUTE)
    assert got[0].status == "not_sent" and got[0].attempts == 0
    assert bolus_motor_u(motor) == 0.0


def _lossy(rng: np.random.Generator):  # type: ignore[no-untyped-def]
    def drop(env: Envelope) -> bool:
        p = 0.4 if env.dst == APP else 0.2 if env.src == APP else 0.0
        return bool(rng.random() < p)

    return drop


@pytest.mark.parametrize("mode", [ProtocolMode.SECURE, ProtocolMode.LEGACY])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_loss_never_doubles_or_hides_a_bolus(mode: ProtocolMode, seed: int) -> None:
    """40 % of answers and 20 % of commands lost: the motor delivers exactly what the app
    believes accepted, plus at most what it honestly calls unknown."""
    clock, link, _pump, motor, app = rig(mode)
    link.add_drop_filter(_lossy(np.random.default_rng(seed)))
    outcomes: list[DoseOutcome] = []
    for k in range(10):
        clock.schedule_at(k * 20 * MS_PER_MINUTE, lambda: app.bolus(0.5, outcomes.append))
    clock.run_until(5 * 60 * MS_PER_MINUTE)
    assert len(outcomes) == 10
    accepted = sum(o.status == "accepted" for o in outcomes)
    unknown = sum(o.status == "unknown" for o in outcomes)
    delivered = bolus_motor_u(motor)  # the independent record, not the pump's log
    assert 0.5 * accepted - 1e-9 <= delivered <= 0.5 * (accepted + unknown) + 1e-9
    assert accepted >= 5  # the loss was survivable, so the test is not vacuous


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_answer_loss_never_doubles_or_hides_a_dose(seed: int) -> None:
    """With 40 % of answers and 20 % of commands lost, app and pump agree on every dose."""
    clock, link, pump, motor, app = rig()
    rng = np.random.default_rng(seed)

    def lossy(env: Envelope) -> bool:
        p = 0.4 if env.dst == APP else 0.2 if env.src == APP else 0.0
        return bool(rng.random() < p)

    link.add_drop_filter(lossy)
    outcomes: list[DoseOutcome] = []
    for k in range(12):
        at = k * 20 * MS_PER_MINUTE
        if k % 3 == 2:
            clock.schedule_at(at, lambda: app.temp_basal(rate_u_per_h=0.5, duration_min=30,
                                                         on_done=outcomes.append))
        else:
            clock.schedule_at(at, lambda: app.bolus(0.5, outcomes.append))
    clock.run_until(6 * 60 * MS_PER_MINUTE)
    assert len(outcomes) == 12
    executed = executed_commands(pump)
    executed_ids = [d["command_id"] for d in executed]
    assert len(executed_ids) == len(set(executed_ids)), "a command was carried out twice"
    accepted_ids = {o.command.command_id for o in outcomes if o.status == "accepted"}
    unknown_ids = {o.command.command_id for o in outcomes if o.status == "unknown"}
    # Every dose the app believes accepted was carried out, and every dose carried
    # out is either known accepted or honestly reported unknown.
    assert accepted_ids <= set(executed_ids)
    assert set(executed_ids) <= accepted_ids | unknown_ids
    bolus_ids = {d["command_id"] for d in executed if d["type"] == "BolusCommand"}
    assert bolus_motor_u(motor) == pytest.approx(0.5 * len(bolus_ids))


def test_legacy_pump_outcome_is_found_in_its_history() -> None:
    """Without command ids, a lost Ack is resolved by the pump's command record."""
    clock, link, _pump, _motor, app = rig(ProtocolMode.LEGACY)
    link.add_drop_filter(lambda env: env.dst == APP and isinstance(env.message, Ack)
                         and env.message.in_reply_to == "TempBasalCommand")
    got: list[DoseOutcome] = []
    app.temp_basal(rate_u_per_h=0.8, duration_min=60, on_done=got.append)
    clock.run_until(5 * MS_PER_MINUTE)
    assert got[0].status == "accepted" and got[0].resolved_by == "history"
    assert got[0].command == TempBasalCommand(0.8, None, 60)


def test_legacy_app_wakes_the_pump_before_commanding_it() -> None:
    """The legacy pump's radio sleeps; the app wakes it, reads its head, then sends the dose."""
    clock, link, _pump, motor, app = rig(ProtocolMode.LEGACY)
    sent: list[str] = []
    link.add_tap(lambda env, _: sent.append(env.message.type_name) if env.src == APP else None)
    got: list[DoseOutcome] = []
    app.bolus(1.0, got.append)
    clock.run_until(5 * MS_PER_MINUTE)
    assert sent[:3] == ["WakeupCommand", "ReadStatusCommand", "BolusCommand"]
    assert got[0].status == "accepted" and bolus_motor_u(motor) == pytest.approx(1.0)


def test_secure_pump_out_of_reach_means_not_sent() -> None:
    """The app reads the id high-water mark first: with no answer, nothing is ever sent."""
    clock, link, _pump, motor, app = rig()
    link.add_drop_filter(lambda env: env.dst == APP)
    got: list[DoseOutcome] = []
    app.bolus(1.0, got.append)
    clock.run_until(30 * MS_PER_MINUTE)
    assert got[0].status == "not_sent" and got[0].attempts == 0
    assert got[0].command.command_id is None
    assert bolus_motor_u(motor) == 0.0


def test_a_restarted_app_continues_above_the_pumps_high_water_mark() -> None:
    """A second app instance (a restarted phone) that starts counting at 1 again
    learns the pump's high-water mark first, so its commands are not refused as stale."""
    clock, link, pump, motor, app = rig()
    got: list[DoseOutcome] = []
    for k in range(3):
        clock.schedule_at(k * 5 * MS_PER_MINUTE, lambda: app.bolus(0.5, got.append))
    clock.run_until(14 * MS_PER_MINUTE)
    assert [(o.status, o.command.command_id) for o in got] == [("accepted", 1), ("accepted", 2),
                                                                ("accepted", 3)]
    app.stop()
    fresh = ControllerApp(APP, pump.address, clock, link, first_command_id=1)
    fresh.start()
    fresh.bolus(0.5, got.append)
    clock.run_until(25 * MS_PER_MINUTE)
    assert got[3].status == "accepted" and got[3].command.command_id == 4
    assert bolus_motor_u(motor) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("other_first_id", "refusal", "final_id"),
    [(1, NakReason.DUPLICATE_ID_MISMATCH, 4), (100, NakReason.STALE_COMMAND_ID, 102)],
)
def test_an_id_taken_behind_the_apps_back_is_refused_and_sent_again_with_a_new_id(
    other_first_id: int, refusal: NakReason, final_id: int
) -> None:
    """Another client with the same address took ids behind this app's back: the pump
    refuses the reused id without acting (the id is remembered for another command, or
    is below the high-water mark); the app resyncs and the dose is delivered once."""
    clock, link, pump, motor, app = rig()
    got: list[DoseOutcome] = []
    app.bolus(0.5, got.append)
    clock.run_until(5 * MS_PER_MINUTE)
    assert got[0].command.command_id == 1
    app.stop()
    other = ControllerApp(APP, pump.address, clock, link, first_command_id=other_first_id)
    other.start()
    other.bolus(0.5)
    clock.schedule_at(10 * MS_PER_MINUTE, lambda: other.bolus(0.5))
    clock.run_until(15 * MS_PER_MINUTE)
    other.stop()
    assert [o.status for o in other.outcomes] == ["accepted", "accepted"]
    app.start()  # the phone app regains the address, its counter at 2
    refusals: list[Nak] = []
    link.add_tap(lambda env, _: refusals.append(env.message)
                 if env.dst == APP and isinstance(env.message, Nak) else None)
    app.bolus(1.0, got.append)
    clock.run_until(25 * MS_PER_MINUTE)
    assert [n.reason for n in refusals] == [refusal]
    assert got[1].status == "accepted" and got[1].command.command_id == final_id
    assert got[1].attempts == 1
    assert bolus_motor_u(motor) == pytest.approx(0.5 + 0.5 + 0.5 + 1.0)


def test_legacy_command_cut_off_before_its_effect_is_reported_not_executed() -> None:
    """The pump records the command, then dies before the bolus starts; after its restart
    the app's history search finds the recovery record and says NOT_EXECUTED: no resend."""
    history = _CutBeforeBolus()
    clock = EventClock()
    link = InMemoryLink(clock)
    motor = RecordingMotor(clock)

    def new_pump() -> Pump:
        pump = Pump(serial="123456", clock=clock, link=link, history=history, motor=motor,
                    mode=ProtocolMode.LEGACY)
        pump.start()
        return pump

    pump = new_pump()
    app = ControllerApp(APP, pump.address, clock, link, use_command_ids=False)
    app.start()
    history.armed = True
    got: list[DoseOutcome] = []
    sent: list[str] = []
    link.add_tap(lambda env, _: sent.append(env.message.type_name) if env.src == APP else None)
    app.bolus(2.0, got.append)
    clock.run_until(5_000)
    assert not got  # the halted pump does not answer
    pump.stop()
    pump = new_pump()
    clock.run_until(10 * MS_PER_MINUTE)
    assert got[0].status == "rejected" and got[0].reason is NakReason.NOT_EXECUTED
    assert got[0].resolved_by == "history" and got[0].attempts == 1
    assert sent.count("BolusCommand") == 1
    assert bolus_motor_u(motor) == 0.0


class _CutBeforeBolus(MemoryHistory):
    """A history whose next ``bolus_start`` append fails once armed: power lost mid-command."""

    armed = False

    def append(self, kind, data, *, device_time_ms, clock_ms):  # type: ignore[no-untyped-def]
        if self.armed and kind == "bolus_start":
            self.armed = False
            raise HistoryError("power lost")
        return super().append(kind, data, device_time_ms=device_time_ms, clock_ms=clock_ms)


# ---------------------------------------------------------------------- issue 9, defect 8
# docs/history.md says the controller app would notice a history that went backwards; it
# kept no hash and took the maximum of every history_seq it saw.  It now keeps the head it
# has seen (seq, and hash once it read that record) and warns when the pump's history is
# shorter at a later device time (rolled back) or holds another record at a known seq
# (rewritten).


def _copy_of(history: MemoryHistory, upto: int) -> MemoryHistory:
    """An older copy of the log: its first ``upto`` records (identical hashes)."""
    old = MemoryHistory()
    for r in history.records()[:upto]:
        old.append(r.kind, r.data, device_time_ms=r.device_time_ms, clock_ms=r.clock_ms)
    return old


def _forged(history: MemoryHistory, seq: int) -> MemoryHistory:
    """The same log with record ``seq`` changed and every later hash recomputed."""
    forged = MemoryHistory()
    for r in history.records():
        data = {**r.data, "note": "forged"} if r.seq == seq else r.data
        forged.append(r.kind, data, device_time_ms=r.device_time_ms, clock_ms=r.clock_ms)
    return forged


def _restart_on(pump: Pump, history: MemoryHistory, clock: EventClock, link: InMemoryLink,
                motor: RecordingMotor, mode: ProtocolMode) -> Pump:
    pump.stop()
    new = Pump(serial="123456", clock=clock, link=link, history=history, motor=motor, mode=mode)
    assert new.start().verified
    return new


def test_the_app_notices_a_history_restored_from_an_older_copy() -> None:
    """The pump is restarted on an older copy of its own log (a valid chain, only shorter):
    the app's next status read warns, naming the head it had seen."""
    clock, link, pump, motor, app = rig()
    app.bolus(1.0)
    clock.run_until(10 * MS_PER_MINUTE)
    app.read_status(lambda s: None)
    clock.run_until(11 * MS_PER_MINUTE)
    seen = app.known_head
    assert app.last_status is not None and seen[0] == app.last_status.history_seq > 20
    assert app.history_warnings == []
    older = _copy_of(pump.history, 20)  # type: ignore[arg-type]
    pump = _restart_on(pump, older, clock, link, motor, ProtocolMode.SECURE)
    app.read_status(lambda s: None)
    clock.run_until(12 * MS_PER_MINUTE)
    [warning] = app.history_warnings
    assert warning.kind == "rolled_back" and warning.known_seq == seen[0]
    assert warning.seen_seq < seen[0]


def test_the_app_notices_a_rewritten_history_by_the_hash_it_kept() -> None:
    """A legacy app that read the history keeps the head's hash; after the log is rewritten
    with every hash recomputed (a valid chain of the same length), checking the head warns."""
    clock, link, pump, motor, app = rig(ProtocolMode.LEGACY)
    app.bolus(1.0)
    clock.run_until(10 * MS_PER_MINUTE)
    assert app.check_history()
    clock.run_until(11 * MS_PER_MINUTE)
    seq, digest = app.known_head
    assert digest is not None and app.history_warnings == []
    forged = _forged(pump.history, 5)  # type: ignore[arg-type]
    pump = _restart_on(pump, forged, clock, link, motor, ProtocolMode.LEGACY)
    assert app.check_history()
    clock.run_until(12 * MS_PER_MINUTE)
    [warning] = app.history_warnings
    assert warning.kind == "rewritten" and (warning.known_seq, warning.known_hash) == (seq, digest)


def test_a_late_status_from_before_is_not_taken_for_a_rollback() -> None:
    """Answers can arrive out of order: a status the pump sent earlier (older device time,
    fewer records) is not a history that went backwards."""
    clock, link, pump, _motor, app = rig()
    now = clock.now_ms

    def status(at_ms: int, seq: int) -> None:
        link.send(pump.address, APP, StatusReport(
            "ReadStatusCommand", None, device_time_ms=at_ms, clock_ms=0, suspended=False,
            bolus_in_progress=False, bolus_requested_u=0.0, bolus_delivered_u=0.0,
            scheduled_basal_u_per_h=1.0, reservoir_u=100.0, battery_pct=90.0, iob_u=0.0,
            history_seq=seq))
        clock.run_until(clock.now_ms + 100)

    status(now + 1000, 50)
    status(now + 900, 45)  # sent before the first, delivered after it
    assert app.history_warnings == []
    status(now + 2000, 40)
    assert [w.kind for w in app.history_warnings] == ["rolled_back"]

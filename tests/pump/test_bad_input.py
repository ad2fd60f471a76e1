"""Malformed commands get a NAK with a reason and a history record; the pump keeps running."""

from __future__ import annotations

import pytest
from pumpkit import (
    APP,
    ATTACKER,
    CGM,
    CLINIC,
    METER,
    PUMP,
    REMOTE,
    SERIAL,
    Bench,
    FailingHistory,
    bench,
    motor_u,
)

from pumplab.clock import EventClock
from pumplab.devices.history import MemoryHistory
from pumplab.devices.pump import (
    AlarmCode,
    Pump,
    PumpPhase,
    PumpSettings,
    RecordingMotor,
    StrokeSource,
)
from pumplab.errors import SettingsError
from pumplab.link.base import Envelope, Receiver
from pumplab.link.messages import (
    Ack,
    BolusCommand,
    ChangeSettingCommand,
    Message,
    MeterReading,
    Nak,
    NakReason,
    ReadHistoryCommand,
    RemoteBolusCommand,
    SensorBackfill,
    SensorReading,
    SetClockCommand,
    TempBasalCommand,
    WakeupCommand,
)


class MysteryCommand(Message):
    """A message type the pump has never heard of."""


@pytest.mark.parametrize(
    "amount", [float("nan"), float("inf"), -1.0, 0.0, "2", None, True, 1.01, 1e300])
def test_malformed_bolus_amount_gets_nak_malformed_and_a_record(amount: object) -> None:
    """NaN, infinity, negative, zero, wrong type, off-grid, absurd: MALFORMED, recorded."""
    b = bench()
    reply = b.send(APP, BolusCommand(amount, command_id=1))  # type: ignore[arg-type]
    assert isinstance(reply, Nak) and reply.reason is NakReason.MALFORMED
    record = b.kinds("command")[-1]
    assert record["outcome"] == "rejected" and record["reason"] == "malformed"
    b.run_min(60)
    assert motor_u(b) == pytest.approx(1.0)  # basal carried on


@pytest.mark.parametrize(
    "command",
    [TempBasalCommand(rate_u_per_h=1.0, percent=50, duration_min=30, command_id=1),
     TempBasalCommand(duration_min=30, command_id=1),
     TempBasalCommand(rate_u_per_h=1.01, duration_min=30, command_id=1),
     TempBasalCommand(percent=250, duration_min=30, command_id=1),
     TempBasalCommand(rate_u_per_h=1.0, duration_min=20, command_id=1),
     TempBasalCommand(rate_u_per_h=float("nan"), duration_min=30, command_id=1)])
def test_malformed_temp_basal_gets_nak_malformed(command: TempBasalCommand) -> None:
    """Both or neither of rate/percent, off-grid, out-of-range, bad duration, NaN."""
    b = bench()
    reply = b.send(APP, command)
    assert isinstance(reply, Nak) and reply.reason is NakReason.MALFORMED


def test_unknown_message_type_gets_nak_unknown_message() -> None:
    """A message class the pump does not know is refused and recorded with its type name."""
    b = bench("legacy")
    b.send(ATTACKER, WakeupCommand(10))
    reply = b.send(ATTACKER, MysteryCommand())
    assert isinstance(reply, Nak) and reply.reason is NakReason.UNKNOWN_MESSAGE
    assert b.kinds("command")[-1]["type"] == "MysteryCommand"


def test_unknown_setting_gets_nak_unknown_setting() -> None:
    """ChangeSettingCommand for a setting that does not exist names it in the NAK."""
    b = bench()
    reply = b.send(CLINIC, ChangeSettingCommand(setting="max_bolus", value=5.0))
    assert isinstance(reply, Nak) and reply.reason is NakReason.UNKNOWN_SETTING


def test_invalid_setting_value_gets_nak_naming_field_and_range() -> None:
    """A max basal of 99 U/h is refused with the field and the allowed range in the detail."""
    b = bench("legacy")
    b.send(ATTACKER, WakeupCommand(10))
    reply = b.send(ATTACKER, ChangeSettingCommand(setting="max_basal_u_per_h", value=99.0))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MALFORMED
    assert "max_basal_u_per_h" in reply.detail and "35" in reply.detail
    assert b.pump.settings.max_basal_u_per_h == 2.0


def test_malformed_peripheral_data_is_refused() -> None:
    """A NaN sensor reading and an impossible meter BG are refused MALFORMED."""
    b = bench()
    reply = b.send(CGM, SensorReading(1, 0, float("nan")))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MALFORMED
    reply = b.send(METER, MeterReading(-5.0, 0))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MALFORMED
    assert isinstance(b.send(METER, MeterReading(105.0, 0)), Ack)


def test_pump_keeps_running_after_a_burst_of_garbage() -> None:
    """Fifty malformed commands later the pump still delivers basal and accepts a good bolus."""
    b = bench()
    for i in range(50):
        b.send(APP, BolusCommand(-float(i), command_id=i))
    assert isinstance(b.send(APP, BolusCommand(1.0, command_id=1000)), Ack)
    b.run_min(60)
    assert motor_u(b) == pytest.approx(2.0)


# ---------------------------------------------------------------------- review regressions


def _deep(n: int) -> list[object]:
    value: list[object] = []
    for _ in range(n):
        value = [value]
    return value


class _Unreadable(tuple):  # type: ignore[type-arg]
    """A tuple whose iteration fails: a value no check foresaw."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("cannot iterate")


@pytest.mark.parametrize(
    ("src", "message"),
    [(APP, BolusCommand(2**60, command_id=1)),  # type: ignore[arg-type]
     (APP, BolusCommand(10**400, command_id=1)),  # type: ignore[arg-type]
     (APP, TempBasalCommand(rate_u_per_h=1.0, duration_min=2**60, command_id=1)),
     (APP, ReadHistoryCommand(since_seq=2**60)),
     (CLINIC, SetClockCommand(clock_ms=2**60)),
     (CLINIC, SetClockCommand(clock_ms=2**53 - 1)),
     (CLINIC, ChangeSettingCommand(setting="max_bolus_u", value=10**400)),
     (CLINIC, ChangeSettingCommand(setting="max_bolus_u", value={"secret_key": 1})),
     (CLINIC, ChangeSettingCommand(setting="\ud800", value=1)),
     (CLINIC, ChangeSettingCommand(setting="pattern_standard", value=_deep(3000))),
     (CGM, SensorReading(2**60, 0, 100.0)),
     (CGM, SensorReading(1, 2**60, 100.0)),
     (CGM, SensorBackfill(_Unreadable((SensorReading(1, 0, 100.0),)))),
     (METER, MeterReading(10**400, 0))],  # type: ignore[arg-type]
    ids=["amount-2^60", "amount-10^400", "duration-2^60", "since-2^60", "clock-2^60",
         "clock-2^53", "setting-10^400", "setting-key-name", "surrogate-name", "deep-value",
         "sensor-seq", "sensor-time", "unreadable-backfill", "meter-10^400"])
def test_absurd_field_values_are_refused_recorded_and_the_pump_keeps_running(
        src: str, message: Message) -> None:
    """Huge ints, key-like names, lone surrogates, deep nesting: a NAK, a record, basal on."""
    b = bench()
    reply = b.send(src, message)
    assert isinstance(reply, Nak)
    assert reply.reason in (NakReason.MALFORMED, NakReason.UNKNOWN_SETTING)
    record = b.kinds("command")[-1]
    assert record["outcome"] == "rejected" and record["reason"] == reply.reason.value
    b.run_min(60)
    assert b.pump.phase is PumpPhase.RUNNING and motor_u(b) == pytest.approx(1.0)


def test_a_sleeping_legacy_radio_refuses_an_absurd_wakeup_and_keeps_delivering() -> None:
    """WakeupCommand(duration_min=2**60) is refused MALFORMED and recorded; basal goes on."""
    b = bench("legacy")
    reply = b.send(ATTACKER, WakeupCommand(duration_min=2**60))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MALFORMED
    assert b.kinds("command")[-1]["payload"] == {"duration_min": "<int of 61 bits>"}
    b.run_min(60)
    assert motor_u(b) == pytest.approx(1.0)


def test_key_like_field_names_are_recorded_renamed_and_their_values_not_at_all() -> None:
    """A value under 'secret_key' never reaches the history or the NAK detail."""
    b = bench()
    reply = b.send(CLINIC, ChangeSettingCommand(setting="max_bolus_u",
                                                value={"secret_key": "hunter2"}))
    assert isinstance(reply, Nak) and "hunter2" not in reply.detail
    record = b.kinds("command")[-1]
    assert "hunter2" not in str(record)
    value = record["payload"]["value"]  # type: ignore[index]
    assert list(value) == ["redacted_0"]  # type: ignore[arg-type]


def test_radio_clock_outside_2000_to_2100_is_refused_and_delivery_goes_on() -> None:
    """SetClockCommand(2**53 - 1) by legacy radio: NAK naming clock_ms and its range."""
    b = bench("legacy")
    b.send(ATTACKER, WakeupCommand(10))
    reply = b.send(ATTACKER, SetClockCommand(clock_ms=2**53 - 1))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MALFORMED
    assert "clock_ms" in reply.detail and "2100-01-01" in reply.detail
    b.run_min(48 * 60)
    assert b.pump.phase is PumpPhase.RUNNING
    assert motor_u(b) == pytest.approx(48.0, abs=0.03)


def test_constructor_clock_outside_the_window_is_a_settings_error() -> None:
    """Pump(clock_ms=...) outside 2000–2100 is refused naming clock_ms and the range."""
    with pytest.raises(SettingsError) as err:
        bench(clock_ms=2**53 - 1)
    assert err.value.field == "clock_ms" and "2100" in (err.value.allowed or "")


def test_any_failed_append_halts_delivery_with_an_alarm() -> None:
    """An append failing with any exception stops delivery loudly; nothing escapes the clock."""
    b = bench(history=FailingHistory(ok=10, error=ValueError("value refused by the store")))
    b.run_min(24 * 60)
    assert b.pump.phase is PumpPhase.HALTED
    assert b.pump.screen.value == AlarmCode.HISTORY_FAILURE.value
    assert len(b.motor.strokes) == sum(1 for r in b.history.records() if r.kind == "stroke")


class _BrokenMotor(RecordingMotor):
    """A motor driver that raises after a few strokes (an unforeseen fault)."""

    def push(self, amount_u: float, *, source: StrokeSource) -> bool:
        if len(self.strokes) >= 3:
            raise RuntimeError("driver fault")
        return super().push(amount_u, source=source)


def test_an_unforeseen_error_in_a_timer_halts_delivery_with_an_alarm() -> None:
    """A timer handler that raises halts the pump (INTERNAL_ERROR) instead of escaping."""
    b = bench()
    broken = _BrokenMotor(b.clock)
    b.motor = broken
    b.restart()  # the same history, now on the broken motor
    b.run_min(120)
    assert b.pump.phase is PumpPhase.HALTED
    assert b.pump.screen.value == AlarmCode.INTERNAL_ERROR.value
    assert len(broken.strokes) == 3


class _CapturingLink:
    """A fake link that hands the test the pump's receiver (to deliver any object)."""

    def __init__(self) -> None:
        self.receivers: dict[str, Receiver] = {}
        self.sent: list[tuple[str, str, object]] = []

    def attach(self, address: str, receiver: Receiver) -> None:
        self.receivers[address] = receiver

    def detach(self, address: str) -> None:
        self.receivers.pop(address, None)

    def send(self, src: str, dst: str, message: Message) -> None:
        self.sent.append((src, dst, message))


@pytest.mark.parametrize("mode", ["legacy", "secure"])
def test_an_object_that_is_not_a_message_is_refused_and_recorded(mode: str) -> None:
    """An envelope holding object() gets a NAK and a command record; the pump runs on."""
    clock = EventClock(0)
    link = _CapturingLink()
    history = MemoryHistory()
    pump = Pump(serial=SERIAL, clock=clock, link=link, history=history,  # type: ignore[arg-type]
                motor=RecordingMotor(clock), mode=mode,
                settings=PumpSettings(pairings=((APP, "controller"),)))
    pump.start()
    receive = link.receivers[PUMP]
    if mode == "legacy":
        receive(Envelope(APP, PUMP, WakeupCommand(10), 0, 0))
    receive(Envelope(APP, PUMP, object(), 0, 0))  # type: ignore[arg-type]
    answer = link.sent[-1][2]
    assert isinstance(answer, Nak) and answer.in_reply_to == "object"
    assert [r.data["type"] for r in history.records() if r.kind == "command"][-1] == "object"
    assert pump.phase is PumpPhase.RUNNING


# ---------------------------------------------------------------------- issue 9, defect 1
# An amount that passes "> 0" but rounds to zero strokes once halted the pump (the stroke
# timing divided by zero) and stopped basal until a power cycle.  It must be refused with a
# reason, never started; every path (controller, remote, legacy radio, the gate itself).

TINY_AMOUNTS = [5e-324, 1e-300, 1e-10, 1e-9, 4e-7, 1e-6, 0.0125, 0.024]


def _running_and_basal_goes_on(b: Bench) -> None:
    b.run_min(60)
    assert b.pump.phase is PumpPhase.RUNNING, [a.code.value for a in b.pump.alarms]
    assert motor_u(b, what="bolus") == 0.0
    assert motor_u(b, what="basal") == pytest.approx(1.0)


@pytest.mark.parametrize("amount", TINY_AMOUNTS)
def test_a_controller_bolus_below_one_stroke_is_refused_and_basal_goes_on(amount: float) -> None:
    """BolusCommand(amount in (0, 0.025)) from a paired controller: refused
    below_minimum_dose, recorded, no bolus_start, and basal carries on."""
    b = bench()
    reply = b.send(APP, BolusCommand(amount, command_id=1))
    assert isinstance(reply, Nak) and reply.reason.value == "below_minimum_dose"
    assert "0.025" in reply.detail and "amount_u" in reply.detail
    assert b.kinds("command")[-1]["reason"] == "below_minimum_dose"
    assert b.kinds("bolus_start") == []
    _running_and_basal_goes_on(b)


@pytest.mark.parametrize("amount", TINY_AMOUNTS)
def test_a_remote_bolus_below_one_stroke_is_refused_and_basal_goes_on(amount: float) -> None:
    """RemoteBolusCommand(amount in (0, 0.025)) from a paired remote: refused, basal on."""
    b = bench()
    reply = b.send(REMOTE, RemoteBolusCommand(amount, command_id=1))
    assert isinstance(reply, Nak) and reply.reason.value == "below_minimum_dose"
    assert b.kinds("bolus_start") == []
    _running_and_basal_goes_on(b)


@pytest.mark.parametrize("amount", [5e-324, 1e-10, 1e-6])
def test_a_legacy_radio_or_remote_bolus_below_one_stroke_is_refused(amount: float) -> None:
    """Anyone on the air in legacy mode: a tiny radio bolus and a tiny remote bolus are
    refused (the remote unanswered, as the MMT-503 link is one-way) and basal goes on."""
    b = bench("legacy", settings=PumpSettings(remote_enabled=True, remote_ids=("123456",)))
    b.send(ATTACKER, WakeupCommand(10))
    reply = b.send(ATTACKER, BolusCommand(amount))
    assert isinstance(reply, Nak) and reply.reason.value == "below_minimum_dose"
    assert b.send(REMOTE, RemoteBolusCommand(amount)) is None
    assert [c["reason"] for c in b.kinds("command")][-2:] == ["below_minimum_dose"] * 2
    _running_and_basal_goes_on(b)


@pytest.mark.parametrize("rate", [5e-324, 1e-10, 1e-7, 0.01])
def test_a_temp_basal_rate_below_one_stroke_per_hour_is_refused(rate: float) -> None:
    """A positive temp rate below the smallest rate (0.025 U/h) is refused, never taken as a
    zero temp in disguise; 0 U/h itself stays a valid (withholding) temp."""
    b = bench()
    reply = b.send(APP, TempBasalCommand(rate_u_per_h=rate, duration_min=30, command_id=1))
    assert isinstance(reply, Nak) and reply.reason.value == "below_minimum_dose"
    assert isinstance(b.send(APP, TempBasalCommand(rate_u_per_h=0.0, duration_min=30,
                                                   command_id=2)), Ack)


@pytest.mark.parametrize(
    ("normal_mu", "square_mu", "square_ms"),
    [(0, 0, 0), (10, 0, 0), (0, 10, 1_800_000), (1000, 10, 1_800_000), (0, 100, 0),
     (30, 0, 0)],
    ids=["nothing", "normal-below-a-stroke", "square-below-a-stroke",
         "dual-square-below-a-stroke", "square-without-duration", "not-whole-strokes"])
def test_the_gate_refuses_a_bolus_that_is_not_whole_strokes(
        normal_mu: int, square_mu: int, square_ms: int) -> None:
    """Whatever path builds it (keys, wizard, radio), a bolus part that is not a positive
    whole number of strokes, or a square part with no duration, is refused by the one gate."""
    from pumplab.devices.pump import Origin, SafetyGate
    from pumplab.devices.pump.access import ProtocolMode
    from pumplab.devices.pump.safety import BolusRequest, GateView

    view = GateView(0, False, False, None, 300_000, 1000)
    for mode in ProtocolMode:
        decision = SafetyGate(mode).check_bolus(
            BolusRequest(normal_mu, square_mu, square_ms, Origin.BUTTONS), view, PumpSettings())
        assert not decision.allowed
        assert decision.reason is not None and decision.reason.value in (
            "below_minimum_dose", "malformed")

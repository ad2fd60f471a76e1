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
    SERIAL,
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

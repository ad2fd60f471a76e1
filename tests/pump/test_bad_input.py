"""Malformed commands get a NAK with a reason and a history record; the pump keeps running."""

from __future__ import annotations

import pytest
from pumpkit import APP, ATTACKER, CGM, CLINIC, METER, bench, motor_u

from pumplab.link.messages import (
    Ack,
    BolusCommand,
    ChangeSettingCommand,
    Message,
    MeterReading,
    Nak,
    NakReason,
    SensorReading,
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

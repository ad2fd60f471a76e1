"""pumplab messages on the legacy wire and back; refusal reasons as NAK codes."""

from __future__ import annotations

import pytest

from pumplab.link.legacy.mapping import (
    NAK_CODE_FOR_REASON,
    command_for_wire,
    nak_code_for,
    nak_reason_for,
    wire_requests_for,
)
from pumplab.link.legacy.messages import (
    BolusBody,
    MessageType,
    NakCode,
    PowerOnBody,
    ReadRequest,
    SetRemoteIdBody,
    TempBasalAbsoluteBody,
)
from pumplab.link.messages import (
    BolusCommand,
    ButtonPressCommand,
    CancelBolusCommand,
    CancelTempBasalCommand,
    ChangeSettingCommand,
    Command,
    NakReason,
    ReadHistoryCommand,
    ReadSettingsCommand,
    ReadStatusCommand,
    RemoteBolusCommand,
    ResumeCommand,
    SetClockCommand,
    SuspendCommand,
    TempBasalCommand,
    WakeupCommand,
)


def test_every_refusal_reason_has_a_documented_code() -> None:
    """The mapping covers NakReason exactly."""
    assert set(NAK_CODE_FOR_REASON) == set(NakReason)


@pytest.mark.parametrize(("reason", "code"), [
    (NakReason.SUSPENDED, NakCode.REFUSED),
    (NakReason.MAX_BOLUS, NakCode.MAX_EXCEEDED),
    (NakReason.MAX_BASAL, NakCode.MAX_EXCEEDED),
    (NakReason.BOLUS_IN_PROGRESS, NakCode.BOLUS_IN_PROGRESS),
    (NakReason.MALFORMED, NakCode.MAX_EXCEEDED),
    (NakReason.REMOTE_DISABLED, None),
    (NakReason.NOT_EXECUTED, None),
])
def test_key_refusals(reason: NakReason, code: NakCode | None) -> None:
    """MinimedKit's PumpErrorCode meanings: 08 refused, 09 max exceeded, 0C bolus running."""
    assert nak_code_for(reason) is code


@pytest.mark.parametrize(("code", "mtype", "reason"), [
    (0x08, MessageType.BOLUS, NakReason.NOT_IN_MODE),
    (0x09, MessageType.BOLUS, NakReason.MAX_BOLUS),
    (0x09, MessageType.TEMP_BASAL_ABSOLUTE, NakReason.MAX_BASAL),
    (0x09, MessageType.SET_CLOCK, NakReason.MALFORMED),
    (0x0C, MessageType.BOLUS, NakReason.BOLUS_IN_PROGRESS),
    (0x0D, MessageType.READ_HISTORY_PAGE, NakReason.MALFORMED),
    (0x77, MessageType.BOLUS, NakReason.MALFORMED),
])
def test_nak_reason_for_a_driver(code: int, mtype: MessageType, reason: NakReason) -> None:
    """How the bridge reads a NAK back."""
    assert nak_reason_for(code, mtype) is reason


ROUND_TRIPS: list[Command] = [
    WakeupCommand(duration_min=10),
    BolusCommand(amount_u=2.675),
    TempBasalCommand(rate_u_per_h=0.0, duration_min=120),
    TempBasalCommand(percent=150, duration_min=30),
    CancelTempBasalCommand(),
    SuspendCommand(),
    ResumeCommand(),
    ButtonPressCommand(button="B"),
    SetClockCommand(clock_ms=1_561_636_800_000),
    ReadStatusCommand(),
    ReadSettingsCommand(),
    ChangeSettingCommand(setting="max_bolus_u", value=25.0),
    ChangeSettingCommand(setting="max_basal_u_per_h", value=35.0),
    ChangeSettingCommand(setting="remote.enabled", value=True),
]


@pytest.mark.parametrize("command", ROUND_TRIPS, ids=lambda c: type(c).__name__)
def test_command_round_trip(command: Command) -> None:
    """wire_requests_for then command_for_wire gives the same command back."""
    (request,) = wire_requests_for(command)
    assert command_for_wire(request) == command


def test_remote_ids_need_three_slot_writes() -> None:
    """Setting the list writes the three slots; empty slots are deleted."""
    requests = wire_requests_for(ChangeSettingCommand(setting="remote.ids", value=("123456",)))
    assert requests == (SetRemoteIdBody(0, "123456"), SetRemoteIdBody(1, None),
                        SetRemoteIdBody(2, None))
    assert command_for_wire(requests[0]) is None  # the intake applies it to the list


@pytest.mark.parametrize("command", [
    BolusCommand(amount_u=0.01), BolusCommand(amount_u=float("nan")),
    TempBasalCommand(rate_u_per_h=1.0, duration_min=45),
    TempBasalCommand(rate_u_per_h=1.0, percent=50),
    ReadHistoryCommand(), CancelBolusCommand(), RemoteBolusCommand(amount_u=1.0),
    ButtonPressCommand(button="MENU"),
    ChangeSettingCommand(setting="max_iob_u", value=5.0),
], ids=lambda c: type(c).__name__)
def test_commands_the_wire_cannot_carry(command: Command) -> None:
    """No rounding, no invention: ValueError names what cannot be sent."""
    with pytest.raises(ValueError):
        wire_requests_for(command)


def test_wire_requests_without_a_core_command() -> None:
    """Reads the intake answers from its own state map to None."""
    assert command_for_wire(ReadRequest(MessageType.READ_CLOCK)) is None
    assert command_for_wire(TempBasalAbsoluteBody(0, 0)) == CancelTempBasalCommand()
    assert command_for_wire(PowerOnBody(3)) == WakeupCommand(duration_min=3)
    assert command_for_wire(BolusBody(41)) == BolusCommand(amount_u=1.025)

"""Who may ask the pump for what: protocol modes, roles and the mode table.

The pump has two protocol modes (docs/pump.md, "Mode table"):

* ``legacy`` — *legacy-faithful*: behaves as a Medtronic Paradigm x23 does on
  the air.  Commands are accepted on the serial number alone (the pump cannot
  tell who sent them), the radio sleeps until a wake-up burst, key presses and
  settings can be sent by radio, there are no command ids, and the safety gate
  enforces only the x23's own limits (max bolus, max basal rate).
* ``secure`` — pumplab's design: only paired senders, each with a role, and
  each role may send only what it needs; no key presses from the air; setting
  changes from the air wait for confirmation on the pump's keys; dose commands
  carry idempotent command ids; the gate adds per-hour, per-day, active-insulin
  and withholding limits.

This module holds the tables only (pure data and lookups).  It does not
authenticate anything: in this issue a paired address is trusted as the
in-memory link reports it; the secure link (a later issue) will bind roles to
keys.
"""

from __future__ import annotations

import enum

from pumplab.link.messages import (
    BolusCommand,
    ButtonPressCommand,
    CancelBolusCommand,
    CancelTempBasalCommand,
    ChangeSettingCommand,
    Message,
    MeterReading,
    ReadHistoryCommand,
    ReadSettingsCommand,
    ReadStatusCommand,
    RemoteBolusCommand,
    RemoteSuspendCommand,
    ResumeCommand,
    SensorBackfill,
    SensorReading,
    SetClockCommand,
    SuspendCommand,
    TempBasalCommand,
    WakeupCommand,
)

__all__ = [
    "DOSE_COMMANDS",
    "PERIPHERAL_MESSAGES",
    "ROLE_PERMISSIONS",
    "SECURE_NEVER",
    "ProtocolMode",
    "Role",
    "role_may_send",
]


class ProtocolMode(enum.Enum):
    """The pump's protocol mode (fixed for a pump's life; written in every boot record)."""

    LEGACY = "legacy"
    SECURE = "secure"


class Role(enum.Enum):
    """What a paired sender is to the pump (secure mode)."""

    CGM = "cgm"
    METER = "meter"
    REMOTE = "remote"
    CONTROLLER = "controller"
    CLINICIAN = "clinician"


#: Commands that change delivery: in secure mode they must carry a command id
#: and are answered idempotently (docs/pump.md, "Idempotent dose commands").
DOSE_COMMANDS: frozenset[type[Message]] = frozenset(
    {
        BolusCommand,
        TempBasalCommand,
        CancelTempBasalCommand,
        SuspendCommand,
        ResumeCommand,
        CancelBolusCommand,
        RemoteBolusCommand,
        RemoteSuspendCommand,
    }
)

#: Traffic from the pump's linked peripherals.  A sleeping legacy radio still
#: hears these: the x23 listens on a duty cycle for its linked sensor, meters
#: and remotes, whose packets repeat long enough to be caught, while the
#: "PC link" command set (everything else) needs the wake-up burst first
#: (decocare ``commands.PowerControl``, opcode 0x5D; assumption documented in
#: docs/pump.md).
PERIPHERAL_MESSAGES: frozenset[type[Message]] = frozenset(
    {SensorReading, SensorBackfill, MeterReading, RemoteBolusCommand, RemoteSuspendCommand}
)

#: Secure mode: what each role may send.  Nobody may send key presses or
#: wake-ups (meaningless in secure mode); only the clinician may propose
#: setting or clock changes, and those wait for ACT on the pump.
ROLE_PERMISSIONS: dict[Role, frozenset[type[Message]]] = {
    Role.CGM: frozenset({SensorReading, SensorBackfill}),
    Role.METER: frozenset({MeterReading}),
    Role.REMOTE: frozenset({RemoteBolusCommand, RemoteSuspendCommand}),
    Role.CONTROLLER: frozenset(
        {
            BolusCommand,
            TempBasalCommand,
            CancelTempBasalCommand,
            SuspendCommand,
            ResumeCommand,
            CancelBolusCommand,
            ReadStatusCommand,
            ReadSettingsCommand,
            ReadHistoryCommand,
        }
    ),
    Role.CLINICIAN: frozenset(
        {
            ReadStatusCommand,
            ReadSettingsCommand,
            ReadHistoryCommand,
            ChangeSettingCommand,
            SetClockCommand,
        }
    ),
}

#: Messages no role may send in secure mode (answered NOT_IN_MODE, not NOT_AUTHORIZED).
SECURE_NEVER: frozenset[type[Message]] = frozenset({ButtonPressCommand, WakeupCommand})


def role_may_send(role: Role, message_type: type[Message]) -> bool:
    """True if a sender paired with ``role`` may send ``message_type`` (secure mode)."""
    return message_type in ROLE_PERMISSIONS[role]

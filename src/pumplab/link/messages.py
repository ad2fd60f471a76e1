"""The typed messages devices exchange, whatever carries them.

Every message is a frozen, slotted dataclass.  They are protocol-agnostic: the
in-memory link passes the objects themselves, the legacy MiniMed codec (a later
issue) maps each to and from radio frames, and the secure link will carry them
inside authenticated, encrypted payloads.  Device code depends on this module
and on :mod:`pumplab.link.base`, never on a concrete link.

Field values are *claims* until the receiving device validates them: a pump
must range-check every number here (``amount_u`` may be negative, NaN or huge
when it comes off the air), and answer :class:`Nak` with a reason.  The
dataclasses deliberately do not validate in ``__post_init__``: a forged or
garbled message must reach the pump's checks so it can be rejected *and
recorded*, not die as an exception inside the link.

Units live in the names: ``amount_u`` (insulin units), ``rate_u_per_h``,
``bg_mg_dl``, ``*_ms`` (simulation milliseconds), ``*_min`` (minutes).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Ack",
    "BolusCommand",
    "ButtonPressCommand",
    "CancelBolusCommand",
    "CancelTempBasalCommand",
    "ChangeSettingCommand",
    "Command",
    "HistoryPage",
    "Message",
    "MeterReading",
    "Nak",
    "NakReason",
    "ReadHistoryCommand",
    "ReadSettingsCommand",
    "ReadStatusCommand",
    "RemoteBolusCommand",
    "RemoteSuspendCommand",
    "Response",
    "ResumeCommand",
    "SensorBackfill",
    "SensorFlag",
    "SensorReading",
    "SetClockCommand",
    "SettingsReport",
    "StatusReport",
    "SuspendCommand",
    "TempBasalCommand",
    "WakeupCommand",
]


@dataclass(frozen=True, slots=True)
class Message:
    """Base of every message."""

    @property
    def type_name(self) -> str:
        return type(self).__name__


# --------------------------------------------------------------------------
# Commands to the pump.  ``command_id`` makes a dose command idempotent in
# secure mode (ids are scoped per sender); the legacy MiniMed protocol has no
# such field, so legacy senders leave it None.


@dataclass(frozen=True, slots=True)
class Command(Message):
    """A request that the pump answers with :class:`Ack`, :class:`Nak` or a report."""

    command_id: int | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class WakeupCommand(Command):
    """Legacy power-control (MiniMed opcode 0x5D): keep the radio listening.

    A Paradigm pump's radio sleeps until a wake-up burst; afterwards it listens
    for ``duration_min`` minutes.  Secure mode ignores it (its radio model is
    the secure link's business).
    """

    duration_min: int = 10


@dataclass(frozen=True, slots=True)
class BolusCommand(Command):
    """Deliver a normal bolus now (MiniMed opcode 0x42)."""

    amount_u: float = 0.0


@dataclass(frozen=True, slots=True)
class TempBasalCommand(Command):
    """Start a temporary basal by absolute rate or by percent of the schedule.

    Exactly one of ``rate_u_per_h`` and ``percent`` must be given (MiniMed
    opcodes 0x4C absolute, 0x69 percent); 30 min to 24 h in 30-min steps.
    """

    rate_u_per_h: float | None = None
    percent: int | None = None
    duration_min: int = 30


@dataclass(frozen=True, slots=True)
class CancelTempBasalCommand(Command):
    """End a running temporary basal (MiniMed: temp basal of 0 min)."""


@dataclass(frozen=True, slots=True)
class SuspendCommand(Command):
    """Stop all delivery until resumed (MiniMed opcode 0x4D, argument 1)."""


@dataclass(frozen=True, slots=True)
class ResumeCommand(Command):
    """Resume delivery after a suspend (MiniMed opcode 0x4D, argument 0)."""


@dataclass(frozen=True, slots=True)
class CancelBolusCommand(Command):
    """Stop a bolus in progress; the undelivered remainder is reported."""


@dataclass(frozen=True, slots=True)
class ButtonPressCommand(Command):
    """Simulate a key press by radio (MiniMed opcode 0x5B), legacy only.

    ``button`` is one of ``"ACT"``, ``"ESC"``, ``"UP"``, ``"DOWN"``, ``"B"``
    (easy bolus).  A secure pump never takes key presses from the air:
    confirmations must come from its own keys.
    """

    button: str = "ACT"


@dataclass(frozen=True, slots=True)
class ReadStatusCommand(Command):
    """Ask for a :class:`StatusReport`."""


@dataclass(frozen=True, slots=True)
class ReadSettingsCommand(Command):
    """Ask for a :class:`SettingsReport`."""


@dataclass(frozen=True, slots=True)
class ReadHistoryCommand(Command):
    """Ask for history records with sequence number > ``since_seq``."""

    since_seq: int = 0
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ChangeSettingCommand(Command):
    """Change one pump setting by radio (MiniMed: SetMaxBolus 0x41, SetMaxBasal 0x6E, ...).

    ``setting`` is a dotted settings name (``"max_bolus_u"``,
    ``"max_basal_u_per_h"``, ``"remote.enabled"``, ``"remote.ids"``, ...);
    ``value`` is a JSON-like value the pump validates.
    """

    setting: str = ""
    value: Any = None


@dataclass(frozen=True, slots=True)
class SetClockCommand(Command):
    """Set the pump's user-visible clock (MiniMed opcode 0x40).

    The user clock is what the screen shows and what schedules follow; limits
    and windows run on monotonic device time, so this never resets them.
    """

    clock_ms: int = 0


# --------------------------------------------------------------------------
# From the peripherals.


@dataclass(frozen=True, slots=True)
class RemoteBolusCommand(Command):
    """A bolus from the MMT-503 keychain remote (B presses then ACT)."""

    amount_u: float = 0.0


@dataclass(frozen=True, slots=True)
class RemoteSuspendCommand(Command):
    """Suspend from the MMT-503 keychain remote (the S key)."""


class SensorFlag(enum.Enum):
    """How a CGM reading reads on the screen."""

    OK = "ok"
    LOW = "LOW"  # below 40 mg/dL, as real CGMs report it
    HIGH = "HIGH"  # above 400 mg/dL


@dataclass(frozen=True, slots=True)
class SensorReading(Message):
    """One CGM reading (every 5 min), numbered so gaps can be backfilled."""

    seq: int
    sampled_at_ms: int
    glucose_mg_dl: float | None
    flag: SensorFlag = SensorFlag.OK


@dataclass(frozen=True, slots=True)
class SensorBackfill(Message):
    """Readings the transmitter sends again after a gap in acknowledgements."""

    readings: tuple[SensorReading, ...] = ()


@dataclass(frozen=True, slots=True)
class MeterReading(Message):
    """A fingerstick result sent by a linked meter (MiniMed meter packet 0xA5)."""

    bg_mg_dl: float
    measured_at_ms: int


# --------------------------------------------------------------------------
# Answers from the pump.


class NakReason(enum.Enum):
    """Why the pump refused a request: the machine-readable NAK code."""

    MALFORMED = "malformed"  # a field is missing, mistyped or out of range
    UNKNOWN_MESSAGE = "unknown_message"
    NOT_AUTHORIZED = "not_authorized"  # sender not linked/paired or role lacks the right
    NOT_IN_MODE = "not_in_mode"  # this protocol mode does not accept the request
    REMOTE_DISABLED = "remote_disabled"
    SUSPENDED = "suspended"
    BOLUS_IN_PROGRESS = "bolus_in_progress"
    NO_BOLUS_IN_PROGRESS = "no_bolus_in_progress"
    NO_TEMP_BASAL = "no_temp_basal"
    NOT_SUSPENDED = "not_suspended"
    MAX_BOLUS = "max_bolus"
    MAX_BASAL = "max_basal"
    MAX_HOURLY = "max_hourly"
    MAX_DAILY = "max_daily"
    MAX_IOB = "max_iob"
    REMOTE_HOURLY_CAP = "remote_hourly_cap"
    WITHHOLD_LIMIT = "withhold_limit"
    RESERVOIR_LOW = "reservoir_low"
    ALARM_ACTIVE = "alarm_active"
    DUPLICATE_ID_MISMATCH = "duplicate_id_mismatch"
    HISTORY_UNVERIFIED = "history_unverified"
    UNKNOWN_SETTING = "unknown_setting"  # ChangeSettingCommand names no such setting
    CONFIRMATION_PENDING = "confirmation_pending"  # secure: another change awaits ACT
    STALE_COMMAND_ID = "stale_command_id"  # secure: id not above the sender's high-water mark
    NOT_EXECUTED = "not_executed"  # accepted, but the pump stopped before it took effect
    BELOW_MINIMUM_DOSE = "below_minimum_dose"  # a positive amount or rate below one stroke
    SUSPENDED_BY_USER = "suspended_by_user"  # secure: only the person resumes this suspend


@dataclass(frozen=True, slots=True)
class Response(Message):
    """Base of the pump's answers; names the request and its command id."""

    in_reply_to: str
    command_id: int | None = None


@dataclass(frozen=True, slots=True)
class Ack(Response):
    """The request was accepted.  ``outcome`` says what happened.

    ``replayed`` is True when this is the stored outcome of an earlier command
    with the same id (secure mode idempotency): nothing was done again.
    """

    outcome: str = "accepted"
    replayed: bool = False
    history_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Nak(Response):
    """The request was refused, with a reason code and a human detail."""

    reason: NakReason = NakReason.MALFORMED
    detail: str = ""
    replayed: bool = False
    history_seq: int | None = None


@dataclass(frozen=True, slots=True)
class StatusReport(Response):
    """A snapshot of the pump for a controller or a person.

    ``last_command_id`` / ``last_command_outcome`` are those of the *asking*
    sender's last dose command that was accepted *and took effect*: that is how
    a controller resolves a lost acknowledgement (a command found not executed
    at a restart is never reported here; its id is answered
    ``Nak(NOT_EXECUTED)``).

    ``command_id_high_water`` is the asking sender's highest dose-command id the
    pump has decided on (secure): its next id must be greater, or the command is
    refused ``STALE_COMMAND_ID`` (a controller that lost its counter reads it here).

    ``state_known`` is False when the pump could not rebuild its state from its
    history (an unverified history, a failed boot): then every quantity it
    cannot vouch for is NaN (``bolus_requested_u``, ``bolus_delivered_u``,
    ``scheduled_basal_u_per_h``, ``reservoir_u``, ``iob_u``), the last command
    is ``None``, and ``suspended`` is True (such a pump delivers nothing).  A
    pump that stopped delivering because its history can no longer be written
    (halted) keeps ``state_known`` True and also reports ``suspended``.
    """

    device_time_ms: int = 0
    clock_ms: int = 0
    suspended: bool = False
    bolus_in_progress: bool = False
    bolus_requested_u: float = 0.0
    bolus_delivered_u: float = 0.0
    scheduled_basal_u_per_h: float = 0.0
    temp_basal_u_per_h: float | None = None
    temp_basal_remaining_min: int = 0
    reservoir_u: float = 0.0
    battery_pct: float = 100.0
    iob_u: float = 0.0
    active_alarms: tuple[str, ...] = ()
    last_command_id: int | None = None
    last_command_outcome: str | None = None
    history_seq: int = 0
    state_known: bool = True
    command_id_high_water: int | None = None


@dataclass(frozen=True, slots=True)
class SettingsReport(Response):
    """The pump's settings, as a flat mapping of dotted names to values."""

    settings: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class HistoryPage(Response):
    """A page of history records (as plain dicts: seq, kind, data, hash ...)."""

    records: tuple[dict[str, Any], ...] = ()
    more: bool = False

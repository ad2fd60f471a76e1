"""pumplab's typed messages on the legacy wire, and back; refusal reasons as NAK codes.

Two callers use this module, both pure:

- the **pump's legacy intake** turns an argument packet or a read
  (:class:`~pumplab.link.legacy.pumpside.CommandReceived`) into a pumplab
  :class:`~pumplab.link.messages.Command` with :func:`command_for_wire`, lets
  the pump core decide, and answers a refusal with :func:`nak_code_for`;
- the **controller app's RileyLink-class bridge** turns a pumplab command into
  the wire requests a :class:`~pumplab.link.legacy.driver.PumpDriver` runs
  (:func:`wire_requests_for`) and a NAK back into a reason
  (:func:`nak_reason_for`).

The refusal mapping (docs/legacy-protocol.md, "NAK codes") follows
MinimedKit ``PumpErrorMessageBody.swift``: 0x08 "command refused" (the pump is
suspended, priming, or the temp-basal type is wrong), 0x09 "max setting
exceeded", 0x0C "bolus in progress", 0x0D "history page does not exist".
Reasons that only arise on one-way links (the remote) or that the legacy wire
cannot express (command ids) map to ``None``: the pump says nothing on the
air.

What is deliberately not here: the decision itself (the pump core's), and
anything with state (a remote-id slot change needs the current list, so
:func:`command_for_wire` returns ``None`` for it and the intake applies it).
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Final

from pumplab.link.legacy.messages import (
    BolusBody,
    ButtonPressBody,
    CommandBody,
    MessageType,
    NakCode,
    PowerOnBody,
    PumpButton,
    ReadRequest,
    SetClockBody,
    SetMaxBasalBody,
    SetMaxBolusBody,
    SetRemoteEnabledBody,
    SetRemoteIdBody,
    SuspendResumeBody,
    TempBasalAbsoluteBody,
    TempBasalPercentBody,
    x23_bolus_strokes,
)
from pumplab.link.legacy.pumptime import PumpTime
from pumplab.link.messages import (
    BolusCommand,
    ButtonPressCommand,
    CancelTempBasalCommand,
    ChangeSettingCommand,
    Command,
    NakReason,
    ReadSettingsCommand,
    ReadStatusCommand,
    ResumeCommand,
    SetClockCommand,
    SuspendCommand,
    TempBasalCommand,
    WakeupCommand,
)

__all__ = [
    "NAK_CODE_FOR_REASON",
    "command_for_wire",
    "nak_code_for",
    "nak_reason_for",
    "wire_requests_for",
]

_R = NakReason
_C = NakCode

#: Every :class:`~pumplab.link.messages.NakReason` and its NAK code (None: no answer on the air).
NAK_CODE_FOR_REASON: Final = MappingProxyType({
    _R.MALFORMED: _C.MAX_EXCEEDED,  # a value the pump cannot take (LoopKit/Loop#842: 0x09)
    _R.UNKNOWN_MESSAGE: None,  # an unknown message type gets no answer
    _R.NOT_AUTHORIZED: None,  # nothing is authorised on this wire; a foreign remote is ignored
    _R.NOT_IN_MODE: _C.REFUSED,
    _R.REMOTE_DISABLED: None,  # remote frames are one-way
    _R.SUSPENDED: _C.REFUSED,
    _R.BOLUS_IN_PROGRESS: _C.BOLUS_IN_PROGRESS,
    _R.NO_BOLUS_IN_PROGRESS: _C.REFUSED,
    _R.NO_TEMP_BASAL: _C.REFUSED,
    _R.NOT_SUSPENDED: _C.REFUSED,
    _R.MAX_BOLUS: _C.MAX_EXCEEDED,
    _R.MAX_BASAL: _C.MAX_EXCEEDED,
    _R.MAX_HOURLY: _C.MAX_EXCEEDED,  # secure-mode limits: listed for completeness
    _R.MAX_DAILY: _C.MAX_EXCEEDED,
    _R.MAX_IOB: _C.MAX_EXCEEDED,
    _R.REMOTE_HOURLY_CAP: None,  # remote: one-way
    _R.WITHHOLD_LIMIT: _C.MAX_EXCEEDED,
    _R.RESERVOIR_LOW: _C.REFUSED,
    _R.ALARM_ACTIVE: _C.REFUSED,
    _R.DUPLICATE_ID_MISMATCH: _C.REFUSED,  # secure only: the wire has no command ids
    _R.HISTORY_UNVERIFIED: _C.REFUSED,
    _R.UNKNOWN_SETTING: _C.REFUSED,
    _R.CONFIRMATION_PENDING: _C.REFUSED,
    _R.STALE_COMMAND_ID: _C.REFUSED,
    _R.BELOW_MINIMUM_DOSE: _C.MAX_EXCEEDED,  # an amount below one stroke, as off-grid (#842)
    _R.SUSPENDED_BY_USER: _C.REFUSED,  # secure only: legacy keeps the x23's radio resume
    _R.NOT_EXECUTED: None,  # no command ids on the wire: a driver learns it from history
})


def nak_code_for(reason: NakReason) -> NakCode | None:
    """The NAK code a legacy pump sends for ``reason`` (None: it stays silent)."""
    return NAK_CODE_FOR_REASON[reason]


def nak_reason_for(code: int, message_type: int) -> NakReason:
    """The reason a driver reports for NAK ``code`` to ``message_type``.

    The wire is coarser than pumplab's reasons: 0x08 does not say *why* the
    pump refused, so it reads as ``NOT_IN_MODE`` ("refused in its current
    state"); 0x09 is ``MAX_BOLUS`` for a bolus, ``MAX_BASAL`` for a temp basal
    or max-basal change, ``MALFORMED`` otherwise; 0x0D (no such page) and
    unknown codes read as ``MALFORMED``.
    """
    if code == NakCode.REFUSED:
        return NakReason.NOT_IN_MODE
    if code == NakCode.BOLUS_IN_PROGRESS:
        return NakReason.BOLUS_IN_PROGRESS
    if code == NakCode.MAX_EXCEEDED:
        if message_type == MessageType.BOLUS:
            return NakReason.MAX_BOLUS
        if message_type in (MessageType.TEMP_BASAL_ABSOLUTE, MessageType.TEMP_BASAL_PERCENT,
                            MessageType.SET_MAX_BASAL):
            return NakReason.MAX_BASAL
    return NakReason.MALFORMED


_BUTTONS: Final = {"ACT": PumpButton.ACT, "ESC": PumpButton.ESC, "UP": PumpButton.UP,
                   "DOWN": PumpButton.DOWN, "B": PumpButton.EASY}
_BUTTON_NAMES: Final = {v: k for k, v in _BUTTONS.items()}


def _segments(duration_min: int) -> int:
    if not isinstance(duration_min, int) or duration_min % 30 or not 0 <= duration_min <= 7650:
        raise ValueError(f"duration_min must be a multiple of 30 in 0..7650, got {duration_min!r}")
    return duration_min // 30


def _strokes(value: float, per_unit: int, name: str) -> int:
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is not a finite number")
    strokes = round(value * per_unit)
    if not (abs(strokes - value * per_unit) < 1e-6 and 0 <= strokes <= 0xFFFF):
        raise ValueError(f"{name}={value!r} is not a whole number of 1/{per_unit} steps")
    return strokes


def wire_requests_for(command: Command) -> tuple[CommandBody | ReadRequest, ...]:
    """The wire request(s) that carry ``command``; ValueError if the wire cannot.

    Amounts must be exact in the wire's units (bolus and basal in 0.025 U, max
    bolus in 0.1 U): nothing is rounded here.  Not representable on this wire
    (ValueError): reading history by sequence number (the wire reads pages),
    cancelling a bolus, and the remote's own messages (the remote sends A6 key
    frames, not commands).
    """
    if isinstance(command, WakeupCommand):
        return (PowerOnBody(command.duration_min),)
    if isinstance(command, BolusCommand):
        return (BolusBody(x23_bolus_strokes(command.amount_u)),)
    if isinstance(command, CancelTempBasalCommand):
        return (TempBasalAbsoluteBody(0, 0),)
    if isinstance(command, TempBasalCommand):
        segments = _segments(command.duration_min)
        if command.percent is not None and command.rate_u_per_h is None:
            return (TempBasalPercentBody(command.percent, segments),)
        if command.rate_u_per_h is not None and command.percent is None:
            return (TempBasalAbsoluteBody(_strokes(command.rate_u_per_h, 40, "rate_u_per_h"),
                                          segments),)
        raise ValueError("a temp basal has exactly one of rate_u_per_h and percent")
    if isinstance(command, SuspendCommand):
        return (SuspendResumeBody(True),)
    if isinstance(command, ResumeCommand):
        return (SuspendResumeBody(False),)
    if isinstance(command, ButtonPressCommand):
        if command.button not in _BUTTONS:
            raise ValueError(f"button {command.button!r} is not one of {sorted(_BUTTONS)}")
        return (ButtonPressBody(_BUTTONS[command.button]),)
    if isinstance(command, SetClockCommand):
        return (SetClockBody(PumpTime.from_clock_ms(command.clock_ms)),)
    if isinstance(command, ReadStatusCommand):
        return (ReadRequest(MessageType.READ_STATUS),)
    if isinstance(command, ReadSettingsCommand):
        return (ReadRequest(MessageType.READ_SETTINGS),)
    if isinstance(command, ChangeSettingCommand):
        return _setting_requests(command.setting, command.value)
    raise ValueError(f"{type(command).__name__} has no legacy wire request")


def _setting_requests(setting: str, value: object) -> tuple[CommandBody, ...]:
    if setting == "max_bolus_u" and isinstance(value, int | float):
        return (SetMaxBolusBody(_strokes(float(value), 10, setting)),)
    if setting == "max_basal_u_per_h" and isinstance(value, int | float):
        return (SetMaxBasalBody(_strokes(float(value), 40, setting)),)
    if setting == "remote.enabled" and isinstance(value, bool):
        return (SetRemoteEnabledBody(value),)
    if setting == "remote.ids" and isinstance(value, list | tuple) and len(value) <= 3:
        ids: list[str | None] = [str(v) for v in value]
        ids += [None] * (3 - len(ids))
        return tuple(SetRemoteIdBody(i, remote_id) for i, remote_id in enumerate(ids))
    raise ValueError(f"setting {setting!r} = {value!r} has no legacy wire request")


def command_for_wire(request: CommandBody | ReadRequest) -> Command | None:
    """The pumplab command a wire request asks for (None: nothing to hand the core).

    ``None`` for: a remote-id slot change (needs the current list), a history
    page (the intake serves pages itself), and reads the intake answers from
    the pump's state (clock, battery, reservoir, model, remote ids, temp
    basal, basal profiles).  Amounts come through unrounded: an x23 pump
    checks a bolus against its scroll grid with
    :func:`~pumplab.link.legacy.messages.x23_bolus_on_grid`.
    """
    if isinstance(request, PowerOnBody):
        return WakeupCommand(duration_min=request.minutes)
    if isinstance(request, BolusBody):
        return BolusCommand(amount_u=request.amount_u)
    if isinstance(request, TempBasalAbsoluteBody):
        if request.rate_strokes == 0 and request.segments == 0:
            return CancelTempBasalCommand()
        return TempBasalCommand(rate_u_per_h=request.rate_u_per_h,
                                duration_min=request.duration_min)
    if isinstance(request, TempBasalPercentBody):
        return TempBasalCommand(percent=request.percent, duration_min=request.duration_min)
    if isinstance(request, SuspendResumeBody):
        return SuspendCommand() if request.suspend else ResumeCommand()
    if isinstance(request, ButtonPressBody):
        return ButtonPressCommand(button=_BUTTON_NAMES[request.button])
    if isinstance(request, SetClockBody):
        return SetClockCommand(clock_ms=request.time.to_clock_ms())
    if isinstance(request, SetMaxBolusBody):
        return ChangeSettingCommand(setting="max_bolus_u", value=request.max_bolus_u)
    if isinstance(request, SetMaxBasalBody):
        return ChangeSettingCommand(setting="max_basal_u_per_h",
                                    value=request.max_basal_u_per_h)
    if isinstance(request, SetRemoteEnabledBody):
        return ChangeSettingCommand(setting="remote.enabled", value=request.enabled)
    if isinstance(request, ReadRequest):
        if request.message_type == MessageType.READ_STATUS:
            return ReadStatusCommand()
        if request.message_type == MessageType.READ_SETTINGS:
            return ReadSettingsCommand()
    return None

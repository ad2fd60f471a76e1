"""Pump message bodies of the Paradigm x23 (523/723): typed values, pure encode/decode.

A7 frames carry a *message type* (the "opcode") and a body
(:mod:`pumplab.link.legacy.frames`).  The protocol has three shapes of
exchange (docs/legacy-protocol.md, "The exchange"):

- **commands with arguments** (:data:`ARGUMENT_COMMANDS`): the driver sends the
  short packet ``<type> 00``, the pump ACKs, the driver sends the long packet
  ``<type> <65-byte body>``, the pump ACKs (or NAKs);
- **reads** (:data:`READ_COMMANDS`): the driver sends ``<type> 00``; the pump
  answers with the same message type and a 65-byte body;
- **multi-frame answers** (:data:`MULTI_FRAME_ANSWERS`): a history page (after
  its page argument) or a basal profile comes back as numbered data frames,
  the driver ACKing each one.

A long body is ``[count][count bytes of payload][zero padding to 65]``.  The
decoders here are strict: the count byte must be the one the message type
uses, the padding must be zero, and every field must be in range, otherwise
:class:`~pumplab.errors.DecodeError`.  Bytes whose meaning is not published
are kept as raw fields so that a body decodes and re-encodes to itself.

Sources for each layout (cited again at each class): decocare
``decocare/commands.py``; rileylink_ios MinimedKit ``MinimedKit/Messages/*``
and its tests ``MinimedKitTests/Messages/*``; minimed_rf
``lib/minimed_rf/messages/*``.  Units: ``strokes`` are 1/40 U (x23 bolus and
basal resolution), ``tenths`` are 0.1 U, ``segments`` are 30-minute steps.

This module does not decide what a pump does with a request; the pump core
does, and :mod:`pumplab.link.legacy.mapping` maps pumplab's messages and
refusal reasons onto these bodies and codes.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import ClassVar, Final

from pumplab.errors import DecodeError, InputError
from pumplab.link.legacy.frames import LONG_BODY_LEN, PumpFrame
from pumplab.link.legacy.pumptime import PumpTime

__all__ = [
    "ARGUMENT_COMMANDS",
    "BASAL_PROFILE_BYTES",
    "DATA_FRAME_BYTES",
    "MULTI_FRAME_ANSWERS",
    "READ_COMMANDS",
    "X23_MAX_BOLUS_STROKES",
    "X23_STROKES_PER_UNIT",
    "BatteryBody",
    "BolusBody",
    "ButtonPressBody",
    "ClockBody",
    "CommandBody",
    "DataFrameBody",
    "MessageType",
    "ModelBody",
    "NakCode",
    "PowerOnBody",
    "PumpButton",
    "PumpStatusBody",
    "ReadHistoryPageBody",
    "ReadRequest",
    "RemoteIdsBody",
    "ReservoirBody",
    "ResponseBody",
    "SetClockBody",
    "SetMaxBasalBody",
    "SetMaxBolusBody",
    "SetRemoteEnabledBody",
    "SetRemoteIdBody",
    "SettingsBody",
    "SuspendResumeBody",
    "TempBasalAbsoluteBody",
    "TempBasalPercentBody",
    "TempBasalStatusBody",
    "ack_frame",
    "args_frame",
    "command_frame",
    "decode_command_body",
    "decode_response_body",
    "nak_frame",
    "x23_bolus_grid_step",
    "x23_bolus_on_grid",
    "x23_bolus_strokes",
]


class MessageType(enum.IntEnum):
    """A7 message types pumplab models (MinimedKit ``MessageType.swift``; decocare codes)."""

    ACK = 0x06
    NAK = 0x15  # MinimedKit "errorResponse": one code byte
    SET_CLOCK = 0x40
    SET_MAX_BOLUS = 0x41
    BOLUS = 0x42
    TEMP_BASAL_ABSOLUTE = 0x4C
    SUSPEND_RESUME = 0x4D
    SET_REMOTE_ID = 0x51
    SET_REMOTE_ENABLED = 0x57
    BUTTON_PRESS = 0x5B
    POWER_ON = 0x5D  # the wake-up ("RF power on", decocare PowerControl)
    TEMP_BASAL_PERCENT = 0x69
    SET_MAX_BASAL = 0x6E
    READ_CLOCK = 0x70
    READ_BATTERY = 0x72
    READ_RESERVOIR = 0x73
    READ_REMOTE_IDS = 0x76
    READ_HISTORY_PAGE = 0x80
    READ_MODEL = 0x8D
    READ_BASAL_STANDARD = 0x92
    READ_BASAL_A = 0x93
    READ_BASAL_B = 0x94
    READ_TEMP_BASAL = 0x98
    READ_SETTINGS = 0xC0
    READ_STATUS = 0xCE


class NakCode(enum.IntEnum):
    """The code byte of a NAK (0x15) (MinimedKit ``PumpErrorMessageBody.swift``)."""

    REFUSED = 0x08  # suspended, wrong temp-basal type, priming
    MAX_EXCEEDED = 0x09  # a value beyond a max setting, or one the pump cannot deliver
    BOLUS_IN_PROGRESS = 0x0C
    NO_SUCH_PAGE = 0x0D


class PumpButton(enum.IntEnum):
    """Keys a button-press (0x5B) presses (decocare ``KeypadPush``; MinimedKit)."""

    EASY = 0x00  # the easy-bolus key
    ESC = 0x01
    ACT = 0x02
    UP = 0x03
    DOWN = 0x04


ARGUMENT_COMMANDS: Final = frozenset({
    MessageType.SET_CLOCK, MessageType.SET_MAX_BOLUS, MessageType.BOLUS,
    MessageType.TEMP_BASAL_ABSOLUTE, MessageType.SUSPEND_RESUME, MessageType.SET_REMOTE_ID,
    MessageType.SET_REMOTE_ENABLED, MessageType.BUTTON_PRESS, MessageType.POWER_ON,
    MessageType.TEMP_BASAL_PERCENT, MessageType.SET_MAX_BASAL, MessageType.READ_HISTORY_PAGE,
})
READ_COMMANDS: Final = frozenset({
    MessageType.READ_CLOCK, MessageType.READ_BATTERY, MessageType.READ_RESERVOIR,
    MessageType.READ_REMOTE_IDS, MessageType.READ_MODEL, MessageType.READ_BASAL_STANDARD,
    MessageType.READ_BASAL_A, MessageType.READ_BASAL_B, MessageType.READ_TEMP_BASAL,
    MessageType.READ_SETTINGS, MessageType.READ_STATUS,
})
#: Answered by numbered data frames, each ACKed by the driver.
MULTI_FRAME_ANSWERS: Final = frozenset({
    MessageType.READ_HISTORY_PAGE, MessageType.READ_BASAL_STANDARD, MessageType.READ_BASAL_A,
    MessageType.READ_BASAL_B,
})
#: Payload of one data frame (history page and basal profile frames).
DATA_FRAME_BYTES: Final = 64
#: A basal profile: 48 entries of 3 bytes, in 3 frames (MinimedKit ``BasalSchedule``).
BASAL_PROFILE_BYTES: Final = 192

#: x23 bolus and basal resolution (MinimedKit ``insulinBitPackingScale`` 40).
X23_STROKES_PER_UNIT: Final = 40
#: 25 U, the x23's largest max-bolus setting, in strokes.
X23_MAX_BOLUS_STROKES: Final = 25 * X23_STROKES_PER_UNIT


# ---------------------------------------------------------------------------
# Long-body helpers.


def _long(payload: bytes) -> bytes:
    """``[count][payload][zeros]`` to 65 bytes."""
    if len(payload) > LONG_BODY_LEN - 1:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a long body")
    return bytes([len(payload)]) + payload + bytes(LONG_BODY_LEN - 1 - len(payload))


def _payload(body: bytes, what: str, counts: tuple[int, ...]) -> bytes:
    """The payload of a long body, checking length, count byte and zero padding."""
    if len(body) != LONG_BODY_LEN:
        raise DecodeError(f"{what}: a long body is {LONG_BODY_LEN} bytes, got {len(body)}")
    count = body[0]
    if count not in counts:
        allowed = " or ".join(str(c) for c in counts)
        raise DecodeError(f"{what}: count byte is {count}, expected {allowed}")
    if any(body[1 + count:]):
        raise DecodeError(f"{what}: non-zero padding after the {count}-byte payload")
    return body[1:1 + count]


def _flag(value: int, what: str) -> bool:
    if value not in (0, 1):
        raise DecodeError(f"{what} must be 0 or 1, got {value}")
    return value == 1


def _check_int(name: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in {lo}..{hi}, got {value!r}")


def _check_bool(name: str, value: bool) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, got {value!r}")


# ---------------------------------------------------------------------------
# The x23 bolus scroll grid.


def x23_bolus_grid_step(strokes: int) -> int:
    """The x23 bolus scroll step, in strokes, for an amount of ``strokes``.

    0.025 U (1 stroke) up to 1 U, 0.05 U (2) above 1 U, 0.1 U (4) above 10 U
    (MinimedKit ``BolusCarelinkMessageBody``: ``scrollRate`` 1, 2, 4).
    """
    if strokes > 10 * X23_STROKES_PER_UNIT:
        return 4
    if strokes > X23_STROKES_PER_UNIT:
        return 2
    return 1


def x23_bolus_on_grid(strokes: int) -> bool:
    """Whether an x23 pump's scroll could show this amount: > 0 and a multiple of its step.

    pumplab's legacy-faithful pump refuses an amount off the grid (and 0) with
    NAK 0x09 rather than rounding it; see docs/legacy-protocol.md, "Bolus
    amounts off the scroll grid".
    """
    return strokes > 0 and strokes % x23_bolus_grid_step(strokes) == 0


def x23_bolus_strokes(amount_u: float, *, field: str = "amount_u") -> int:
    """Strokes (1/40 U) of an x23 bolus of exactly ``amount_u``; InputError if not exact."""
    if (not isinstance(amount_u, int | float) or isinstance(amount_u, bool)
            or not math.isfinite(amount_u)):
        raise InputError(f"{amount_u!r} is not a finite number", field=field)
    strokes = round(amount_u * X23_STROKES_PER_UNIT)
    if not (abs(strokes - amount_u * X23_STROKES_PER_UNIT) < 1e-6 and 0 < strokes <= 0xFFFF):
        raise InputError(f"{amount_u!r} U is not a whole number of 0.025 U strokes",
                         field=field, allowed="0.025..1638.375 U in 0.025 U steps")
    return strokes


# ---------------------------------------------------------------------------
# Commands the driver sends as the long argument packet.


@dataclass(frozen=True, slots=True)
class PowerOnBody:
    """0x5D arguments ``02 <on> <minutes>``: keep the radio on (decocare ``PowerControl``).

    decocare sends 10 minutes (``params = [0x01, 0x0A]``), MinimedKit 1
    (``PowerOnCarelinkMessageBody``); ``on=False`` (``00 00``, decocare
    ``PowerControlOff``) switches the radio off.
    """

    message_type: ClassVar[MessageType] = MessageType.POWER_ON
    minutes: int
    on: bool = True

    def __post_init__(self) -> None:
        _check_int("minutes", self.minutes, 0, 0xFF)
        _check_bool("on", self.on)

    def encode(self) -> bytes:
        return _long(bytes([int(self.on), self.minutes]))

    @classmethod
    def decode(cls, body: bytes) -> PowerOnBody:
        p = _payload(body, "power-on", (2,))
        return cls(minutes=p[1], on=_flag(p[0], "power-on 'on' byte"))


@dataclass(frozen=True, slots=True)
class BolusBody:
    """0x42 arguments: x22 and older ``01 <units×10>``, x23 ``02 <units×40, big-endian>``.

    ``count`` is the amount in 1/``strokes_per_unit`` U (MinimedKit
    ``BolusCarelinkMessageBody``; decocare ``Bolus``).
    """

    message_type: ClassVar[MessageType] = MessageType.BOLUS
    count: int
    strokes_per_unit: int = X23_STROKES_PER_UNIT

    def __post_init__(self) -> None:
        if self.strokes_per_unit == 10:
            _check_int("count", self.count, 0, 0xFF)
        elif self.strokes_per_unit == X23_STROKES_PER_UNIT:
            _check_int("count", self.count, 0, 0xFFFF)
        else:
            raise ValueError(f"strokes_per_unit is 10 (x22) or 40 (x23), "
                             f"got {self.strokes_per_unit!r}")

    @classmethod
    def x23(cls, amount_u: float) -> BolusBody:
        """An x23 bolus of exactly ``amount_u`` (InputError if not a whole stroke count)."""
        return cls(x23_bolus_strokes(amount_u))

    @property
    def amount_u(self) -> float:
        return self.count / self.strokes_per_unit

    def encode(self) -> bytes:
        if self.strokes_per_unit == 10:
            return _long(bytes([self.count]))
        return _long(self.count.to_bytes(2, "big"))

    @classmethod
    def decode(cls, body: bytes) -> BolusBody:
        p = _payload(body, "bolus", (1, 2))
        if len(p) == 1:
            return cls(p[0], 10)
        return cls(int.from_bytes(p, "big"), X23_STROKES_PER_UNIT)


@dataclass(frozen=True, slots=True)
class TempBasalAbsoluteBody:
    """0x4C arguments ``03 <rate×40, big-endian> <30-min segments>`` (decocare ``TempBasal``).

    A rate of 0 for 0 segments cancels a running temp basal.
    """

    message_type: ClassVar[MessageType] = MessageType.TEMP_BASAL_ABSOLUTE
    rate_strokes: int
    segments: int

    def __post_init__(self) -> None:
        _check_int("rate_strokes", self.rate_strokes, 0, 0xFFFF)
        _check_int("segments", self.segments, 0, 0xFF)

    @property
    def rate_u_per_h(self) -> float:
        return self.rate_strokes / X23_STROKES_PER_UNIT

    @property
    def duration_min(self) -> int:
        return 30 * self.segments

    def encode(self) -> bytes:
        return _long(self.rate_strokes.to_bytes(2, "big") + bytes([self.segments]))

    @classmethod
    def decode(cls, body: bytes) -> TempBasalAbsoluteBody:
        p = _payload(body, "temp basal", (3,))
        return cls(int.from_bytes(p[0:2], "big"), p[2])


@dataclass(frozen=True, slots=True)
class TempBasalPercentBody:
    """0x69 arguments ``02 <percent> <30-min segments>`` (decocare ``TempBasalPercent``)."""

    message_type: ClassVar[MessageType] = MessageType.TEMP_BASAL_PERCENT
    percent: int
    segments: int

    def __post_init__(self) -> None:
        _check_int("percent", self.percent, 0, 0xFF)
        _check_int("segments", self.segments, 0, 0xFF)

    @property
    def duration_min(self) -> int:
        return 30 * self.segments

    def encode(self) -> bytes:
        return _long(bytes([self.percent, self.segments]))

    @classmethod
    def decode(cls, body: bytes) -> TempBasalPercentBody:
        p = _payload(body, "percent temp basal", (2,))
        return cls(p[0], p[1])


@dataclass(frozen=True, slots=True)
class SuspendResumeBody:
    """0x4D arguments ``01 01`` (suspend) / ``01 00`` (resume) (MinimedKit, decocare)."""

    message_type: ClassVar[MessageType] = MessageType.SUSPEND_RESUME
    suspend: bool

    def __post_init__(self) -> None:
        _check_bool("suspend", self.suspend)

    def encode(self) -> bytes:
        return _long(bytes([int(self.suspend)]))

    @classmethod
    def decode(cls, body: bytes) -> SuspendResumeBody:
        p = _payload(body, "suspend/resume", (1,))
        return cls(_flag(p[0], "suspend/resume state"))


@dataclass(frozen=True, slots=True)
class ButtonPressBody:
    """0x5B arguments ``01 <key>`` (decocare ``KeypadPush``; MinimedKit ``ButtonPress``)."""

    message_type: ClassVar[MessageType] = MessageType.BUTTON_PRESS
    button: PumpButton

    def __post_init__(self) -> None:
        if not isinstance(self.button, PumpButton):
            raise ValueError(f"button must be a PumpButton, got {self.button!r}")

    def encode(self) -> bytes:
        return _long(bytes([self.button]))

    @classmethod
    def decode(cls, body: bytes) -> ButtonPressBody:
        p = _payload(body, "button press", (1,))
        try:
            return cls(PumpButton(p[0]))
        except ValueError:
            raise DecodeError(f"button press: unknown key 0x{p[0]:02x}") from None


def _time_payload(time: PumpTime) -> bytes:
    return bytes([time.hour, time.minute, time.second, *time.year.to_bytes(2, "big"),
                  time.month, time.day])


def _time_from(p: bytes) -> PumpTime:
    return PumpTime.checked(int.from_bytes(p[3:5], "big"), p[5], p[6], p[0], p[1], p[2])


@dataclass(frozen=True, slots=True)
class SetClockBody:
    """0x40 arguments ``07 <h> <m> <s> <year, 2 bytes> <month> <day>`` (decocare ``SetRTC``)."""

    message_type: ClassVar[MessageType] = MessageType.SET_CLOCK
    time: PumpTime

    def encode(self) -> bytes:
        return _long(_time_payload(self.time))

    @classmethod
    def decode(cls, body: bytes) -> SetClockBody:
        return cls(_time_from(_payload(body, "set clock", (7,))))


_REMOTE_EMPTY: Final = 0x2D  # '-': an empty remote slot (MinimedKit)


def _remote_digits(remote_id: str | None) -> bytes:
    if remote_id is None:
        return bytes([_REMOTE_EMPTY] * 6)
    return bytes(0x30 + int(d) for d in remote_id)


def _remote_from(raw: bytes, what: str) -> str | None:
    if raw == bytes([_REMOTE_EMPTY] * 6):
        return None
    if all(0x30 <= b <= 0x39 for b in raw):
        return raw.decode("ascii")
    raise DecodeError(f"{what}: remote id bytes {raw.hex()} are neither 6 digits nor empty")


def _check_remote_id(remote_id: str | None) -> None:
    if remote_id is not None and not (isinstance(remote_id, str) and len(remote_id) == 6
                                      and remote_id.isascii() and remote_id.isdigit()):
        raise ValueError(f"remote_id must be 6 ASCII digits or None, got {remote_id!r}")


@dataclass(frozen=True, slots=True)
class SetRemoteIdBody:
    """0x51 arguments ``07 <slot 0-2> <6 digits as 0x30+d, or six 0x2D to delete>``.

    (MinimedKit ``ChangeRemoteControlIDMessageBody`` and its tests.)
    """

    message_type: ClassVar[MessageType] = MessageType.SET_REMOTE_ID
    index: int
    remote_id: str | None

    def __post_init__(self) -> None:
        _check_int("index", self.index, 0, 2)
        _check_remote_id(self.remote_id)

    def encode(self) -> bytes:
        return _long(bytes([self.index]) + _remote_digits(self.remote_id))

    @classmethod
    def decode(cls, body: bytes) -> SetRemoteIdBody:
        p = _payload(body, "set remote id", (7,))
        if p[0] > 2:
            raise DecodeError(f"set remote id: slot {p[0]} (the pump keeps 3, 0..2)")
        return cls(p[0], _remote_from(p[1:7], "set remote id"))


@dataclass(frozen=True, slots=True)
class SetRemoteEnabledBody:
    """0x57 arguments ``01 <0|1>``: the remote option (MinimedKit ``SetRemoteControlEnabled``)."""

    message_type: ClassVar[MessageType] = MessageType.SET_REMOTE_ENABLED
    enabled: bool

    def __post_init__(self) -> None:
        _check_bool("enabled", self.enabled)

    def encode(self) -> bytes:
        return _long(bytes([int(self.enabled)]))

    @classmethod
    def decode(cls, body: bytes) -> SetRemoteEnabledBody:
        return cls(_flag(_payload(body, "remote option", (1,))[0], "remote option"))


@dataclass(frozen=True, slots=True)
class SetMaxBolusBody:
    """0x41 arguments on the x23: ``02 <max bolus×10, big-endian>`` (MinimedKit tests)."""

    message_type: ClassVar[MessageType] = MessageType.SET_MAX_BOLUS
    tenths: int

    def __post_init__(self) -> None:
        _check_int("tenths", self.tenths, 0, 0xFFFF)

    @property
    def max_bolus_u(self) -> float:
        return self.tenths / 10

    def encode(self) -> bytes:
        return _long(self.tenths.to_bytes(2, "big"))

    @classmethod
    def decode(cls, body: bytes) -> SetMaxBolusBody:
        return cls(int.from_bytes(_payload(body, "set max bolus", (2,)), "big"))


@dataclass(frozen=True, slots=True)
class SetMaxBasalBody:
    """0x6E arguments ``02 <max basal×40, big-endian>`` (MinimedKit ``ChangeMaxBasalRate``)."""

    message_type: ClassVar[MessageType] = MessageType.SET_MAX_BASAL
    strokes: int

    def __post_init__(self) -> None:
        _check_int("strokes", self.strokes, 0, 0xFFFF)

    @property
    def max_basal_u_per_h(self) -> float:
        return self.strokes / X23_STROKES_PER_UNIT

    def encode(self) -> bytes:
        return _long(self.strokes.to_bytes(2, "big"))

    @classmethod
    def decode(cls, body: bytes) -> SetMaxBasalBody:
        return cls(int.from_bytes(_payload(body, "set max basal", (2,)), "big"))


@dataclass(frozen=True, slots=True)
class ReadHistoryPageBody:
    """0x80 arguments ``01 <page>``; page 0 is the newest (decocare ``ReadHistoryData``)."""

    message_type: ClassVar[MessageType] = MessageType.READ_HISTORY_PAGE
    page: int

    def __post_init__(self) -> None:
        _check_int("page", self.page, 0, 0xFF)

    def encode(self) -> bytes:
        return _long(bytes([self.page]))

    @classmethod
    def decode(cls, body: bytes) -> ReadHistoryPageBody:
        return cls(_payload(body, "read history page", (1,))[0])


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """A read: the short packet ``<message type> 00``, answered by a long body."""

    message_type: MessageType

    def __post_init__(self) -> None:
        if self.message_type not in READ_COMMANDS:
            raise ValueError(f"{self.message_type!r} is not a read")


CommandBody = (
    PowerOnBody | BolusBody | TempBasalAbsoluteBody | TempBasalPercentBody | SuspendResumeBody
    | ButtonPressBody | SetClockBody | SetRemoteIdBody | SetRemoteEnabledBody | SetMaxBolusBody
    | SetMaxBasalBody | ReadHistoryPageBody
)

_COMMANDS: Final[dict[int, type[CommandBody]]] = {
    cls.message_type: cls
    for cls in (PowerOnBody, BolusBody, TempBasalAbsoluteBody, TempBasalPercentBody,
                SuspendResumeBody, ButtonPressBody, SetClockBody, SetRemoteIdBody,
                SetRemoteEnabledBody, SetMaxBolusBody, SetMaxBasalBody, ReadHistoryPageBody)
}


def decode_command_body(message_type: int, body: bytes) -> CommandBody:
    """The typed arguments of a long command packet; DecodeError if they do not parse."""
    cls = _COMMANDS.get(message_type)
    if cls is None:
        raise DecodeError(f"message type 0x{message_type:02x} takes no arguments")
    return cls.decode(body)


# ---------------------------------------------------------------------------
# Answers the pump sends as a long body.


@dataclass(frozen=True, slots=True)
class ModelBody:
    """0x8D answer ``09 <n> <n ASCII digits>`` (MinimedKit test: ``09 03 '523'``)."""

    message_type: ClassVar[MessageType] = MessageType.READ_MODEL
    model: str

    def __post_init__(self) -> None:
        if not (isinstance(self.model, str) and 1 <= len(self.model) <= 8
                and self.model.isascii() and self.model.isalnum()):
            raise ValueError(f"model must be 1..8 ASCII letters/digits, got {self.model!r}")

    def encode(self) -> bytes:
        text = self.model.encode("ascii")
        return _long(bytes([len(text)]) + text + bytes(8 - len(text)))

    @classmethod
    def decode(cls, body: bytes) -> ModelBody:
        p = _payload(body, "model", (9,))
        n = p[0]
        if not 1 <= n <= 8 or any(p[1 + n:]):
            raise DecodeError(f"model: bad length {n} or trailing bytes")
        text = p[1:1 + n]
        if not all(0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A for b in text):
            raise DecodeError("model: not ASCII letters and digits")
        return cls(text.decode("ascii"))


@dataclass(frozen=True, slots=True)
class PumpStatusBody:
    """0xCE answer ``03 <status: 03 normal> <bolusing> <suspended>`` (decocare ``ReadPumpStatus``).

    MinimedKit ``ReadPumpStatusMessageBody`` reads bolusing and suspended from
    body bytes 2 and 3.
    """

    message_type: ClassVar[MessageType] = MessageType.READ_STATUS
    bolusing: bool
    suspended: bool
    status: int = 0x03

    def __post_init__(self) -> None:
        _check_bool("bolusing", self.bolusing)
        _check_bool("suspended", self.suspended)
        _check_int("status", self.status, 0, 0xFF)

    def encode(self) -> bytes:
        return _long(bytes([self.status, int(self.bolusing), int(self.suspended)]))

    @classmethod
    def decode(cls, body: bytes) -> PumpStatusBody:
        p = _payload(body, "status", (3,))
        return cls(_flag(p[1], "status 'bolusing'"), _flag(p[2], "status 'suspended'"), p[0])


@dataclass(frozen=True, slots=True)
class SettingsBody:
    """0xC0 answer of an x23: 21 bytes of settings (decocare ``ReadSettings``/``ReadSettings523``).

    Offsets in the payload (body byte = offset + 1), checked against MinimedKit's
    523 vector (``ReadSettingsCarelinkMessageBodyTests.testValidSettings523``):
    0 auto-off hours, 1 alarm mode, 2 easy (audio) bolus on, 3 its step ×0.1 U,
    4 variable (square/dual) bolus on, 5 max bolus ×0.1 U, 6-7 max basal ×0.025
    U/h, 8 time format, 9 insulin concentration, 10 patterns on, 11 selected
    pattern, 12 remote option on (decocare ``rf_enable``), 13 block on, 14 temp
    basal type (1 percent), 15 temp basal percent, 16 Paradigm Link, 17 insulin
    action hours, 18 low-reservoir warning type, 19 its point, 20 keypad lock.
    """

    message_type: ClassVar[MessageType] = MessageType.READ_SETTINGS
    max_bolus_tenths: int
    max_basal_strokes: int
    remote_enabled: bool = False
    easy_bolus_enabled: bool = False
    easy_bolus_step_tenths: int = 1
    temp_basal_percent: bool = False
    temp_basal_percent_value: int = 100
    variable_bolus_enabled: bool = False
    patterns_enabled: bool = False
    selected_pattern: int = 0
    block_enabled: bool = False
    insulin_action_h: int = 4
    auto_off_h: int = 0
    alarm_mode: int = 0
    time_format: int = 0
    insulin_concentration: int = 0
    paradigm_link: int = 0
    low_reservoir_warn_type: int = 0
    low_reservoir_warn_point: int = 0
    keypad_lock: int = 0

    _BOOLS: ClassVar[tuple[str, ...]] = (
        "remote_enabled", "easy_bolus_enabled", "temp_basal_percent", "variable_bolus_enabled",
        "patterns_enabled", "block_enabled")
    _BYTES: ClassVar[tuple[str, ...]] = (
        "max_bolus_tenths", "easy_bolus_step_tenths", "temp_basal_percent_value",
        "selected_pattern", "insulin_action_h", "auto_off_h", "alarm_mode", "time_format",
        "insulin_concentration", "paradigm_link", "low_reservoir_warn_type",
        "low_reservoir_warn_point", "keypad_lock")

    def __post_init__(self) -> None:
        for name in self._BOOLS:
            _check_bool(name, getattr(self, name))
        for name in self._BYTES:
            _check_int(name, getattr(self, name), 0, 0xFF)
        _check_int("max_basal_strokes", self.max_basal_strokes, 0, 0xFFFF)

    @property
    def max_bolus_u(self) -> float:
        return self.max_bolus_tenths / 10

    @property
    def max_basal_u_per_h(self) -> float:
        return self.max_basal_strokes / X23_STROKES_PER_UNIT

    @property
    def easy_bolus_step_u(self) -> float:
        return self.easy_bolus_step_tenths / 10

    def encode(self) -> bytes:
        return _long(bytes([
            self.auto_off_h, self.alarm_mode, int(self.easy_bolus_enabled),
            self.easy_bolus_step_tenths, int(self.variable_bolus_enabled),
            self.max_bolus_tenths, *self.max_basal_strokes.to_bytes(2, "big"),
            self.time_format, self.insulin_concentration, int(self.patterns_enabled),
            self.selected_pattern, int(self.remote_enabled), int(self.block_enabled),
            int(self.temp_basal_percent), self.temp_basal_percent_value, self.paradigm_link,
            self.insulin_action_h, self.low_reservoir_warn_type, self.low_reservoir_warn_point,
            self.keypad_lock,
        ]))

    @classmethod
    def decode(cls, body: bytes) -> SettingsBody:
        p = _payload(body, "x23 settings", (21,))
        return cls(
            max_bolus_tenths=p[5], max_basal_strokes=int.from_bytes(p[6:8], "big"),
            remote_enabled=_flag(p[12], "settings remote option"),
            easy_bolus_enabled=_flag(p[2], "settings easy bolus"),
            easy_bolus_step_tenths=p[3],
            temp_basal_percent=_flag(p[14], "settings temp basal type"),
            temp_basal_percent_value=p[15],
            variable_bolus_enabled=_flag(p[4], "settings variable bolus"),
            patterns_enabled=_flag(p[10], "settings patterns"), selected_pattern=p[11],
            block_enabled=_flag(p[13], "settings block"), insulin_action_h=p[17],
            auto_off_h=p[0], alarm_mode=p[1], time_format=p[8], insulin_concentration=p[9],
            paradigm_link=p[16], low_reservoir_warn_type=p[18], low_reservoir_warn_point=p[19],
            keypad_lock=p[20],
        )


@dataclass(frozen=True, slots=True)
class ClockBody:
    """0x70 answer ``07 <h> <m> <s> <year, 2 bytes> <month> <day>`` (decocare ``ReadRTC``)."""

    message_type: ClassVar[MessageType] = MessageType.READ_CLOCK
    time: PumpTime

    def encode(self) -> bytes:
        return _long(_time_payload(self.time))

    @classmethod
    def decode(cls, body: bytes) -> ClockBody:
        return cls(_time_from(_payload(body, "clock", (7,))))


@dataclass(frozen=True, slots=True)
class BatteryBody:
    """0x72 answer ``03 <0 normal | 1 low> <volts×100, big-endian>`` (MinimedKit ``GetBattery``)."""

    message_type: ClassVar[MessageType] = MessageType.READ_BATTERY
    low: bool
    centivolts: int

    def __post_init__(self) -> None:
        _check_bool("low", self.low)
        _check_int("centivolts", self.centivolts, 0, 0xFFFF)

    @property
    def voltage_v(self) -> float:
        return self.centivolts / 100

    def encode(self) -> bytes:
        return _long(bytes([int(self.low)]) + self.centivolts.to_bytes(2, "big"))

    @classmethod
    def decode(cls, body: bytes) -> BatteryBody:
        p = _payload(body, "battery", (3,))
        return cls(_flag(p[0], "battery status"), int.from_bytes(p[1:3], "big"))


@dataclass(frozen=True, slots=True)
class ReservoirBody:
    """0x73 answer on the x23: ``04 <2 bytes> <strokes×40, big-endian>``.

    decocare ``ReadRemainingInsulin523`` and MinimedKit read the x23 amount from
    payload bytes 2-3; bytes 0-1 (the x22's tenths) are zero in the published
    723 frame and kept raw as ``x22_tenths``.
    """

    message_type: ClassVar[MessageType] = MessageType.READ_RESERVOIR
    strokes: int
    x22_tenths: int = 0

    def __post_init__(self) -> None:
        _check_int("strokes", self.strokes, 0, 0xFFFF)
        _check_int("x22_tenths", self.x22_tenths, 0, 0xFFFF)

    @property
    def reservoir_u(self) -> float:
        return self.strokes / X23_STROKES_PER_UNIT

    def encode(self) -> bytes:
        return _long(self.x22_tenths.to_bytes(2, "big") + self.strokes.to_bytes(2, "big"))

    @classmethod
    def decode(cls, body: bytes) -> ReservoirBody:
        p = _payload(body, "reservoir", (4,))
        return cls(int.from_bytes(p[2:4], "big"), int.from_bytes(p[0:2], "big"))


@dataclass(frozen=True, slots=True)
class RemoteIdsBody:
    """0x76 answer ``12 <3 slots × 6 bytes>``, digits as 0x30+d, empty as 0x2D (MinimedKit)."""

    message_type: ClassVar[MessageType] = MessageType.READ_REMOTE_IDS
    ids: tuple[str | None, str | None, str | None]

    def __post_init__(self) -> None:
        if len(self.ids) != 3:
            raise ValueError("ids holds exactly 3 slots")
        for remote_id in self.ids:
            _check_remote_id(remote_id)

    def encode(self) -> bytes:
        return _long(b"".join(_remote_digits(r) for r in self.ids))

    @classmethod
    def decode(cls, body: bytes) -> RemoteIdsBody:
        p = _payload(body, "remote ids", (18,))
        slots = tuple(_remote_from(p[i:i + 6], "remote ids") for i in (0, 6, 12))
        return cls((slots[0], slots[1], slots[2]))


@dataclass(frozen=True, slots=True)
class TempBasalStatusBody:
    """0x98 answer ``06 <0 abs | 1 pct> <pct> <rate×40, 2 bytes> <minutes left, 2 bytes>``.

    (MinimedKit ``ReadTempBasalCarelinkMessageBody`` and its tests.)
    """

    message_type: ClassVar[MessageType] = MessageType.READ_TEMP_BASAL
    percent_type: bool
    percent: int
    rate_strokes: int
    remaining_min: int

    def __post_init__(self) -> None:
        _check_bool("percent_type", self.percent_type)
        _check_int("percent", self.percent, 0, 0xFF)
        _check_int("rate_strokes", self.rate_strokes, 0, 0xFFFF)
        _check_int("remaining_min", self.remaining_min, 0, 0xFFFF)

    @property
    def rate_u_per_h(self) -> float:
        return self.rate_strokes / X23_STROKES_PER_UNIT

    def encode(self) -> bytes:
        return _long(bytes([int(self.percent_type), self.percent])
                     + self.rate_strokes.to_bytes(2, "big")
                     + self.remaining_min.to_bytes(2, "big"))

    @classmethod
    def decode(cls, body: bytes) -> TempBasalStatusBody:
        p = _payload(body, "temp basal status", (6,))
        return cls(_flag(p[0], "temp basal type"), p[1], int.from_bytes(p[2:4], "big"),
                   int.from_bytes(p[4:6], "big"))


@dataclass(frozen=True, slots=True)
class DataFrameBody:
    """One frame of a multi-frame answer: ``[number | 0x80 on the last] + 64 bytes``.

    Frames are numbered from 1 (MinimedKit ``GetHistoryPageCarelinkMessageBody``,
    ``DataFrameMessageBody``; minimed_rf ``dump_history_page.rb``).
    """

    frame_number: int
    last: bool
    data: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_int("frame_number", self.frame_number, 1, 0x7F)
        _check_bool("last", self.last)
        if not isinstance(self.data, bytes) or len(self.data) != DATA_FRAME_BYTES:
            raise ValueError(f"data must be {DATA_FRAME_BYTES} bytes")

    def encode(self) -> bytes:
        return bytes([self.frame_number | (0x80 if self.last else 0)]) + self.data

    @classmethod
    def decode(cls, body: bytes) -> DataFrameBody:
        if len(body) != LONG_BODY_LEN:
            raise DecodeError(f"data frame: a long body is {LONG_BODY_LEN} bytes, "
                              f"got {len(body)}")
        number = body[0] & 0x7F
        if number == 0:
            raise DecodeError("data frame: frame number 0 (frames count from 1)")
        return cls(number, bool(body[0] & 0x80), bytes(body[1:]))

    @staticmethod
    def split(content: bytes) -> tuple[DataFrameBody, ...]:
        """Cut ``content`` (a whole number of 64-byte frames) into numbered frames."""
        if not content or len(content) % DATA_FRAME_BYTES or len(content) > 0x7F * 64:
            raise ValueError("content must be 1..127 whole 64-byte frames")
        count = len(content) // DATA_FRAME_BYTES
        return tuple(DataFrameBody(i + 1, i + 1 == count, content[64 * i:64 * (i + 1)])
                     for i in range(count))

    @staticmethod
    def join(frames: tuple[DataFrameBody, ...] | list[DataFrameBody]) -> bytes:
        """The content of frames numbered 1..n, only the last flagged; DecodeError otherwise."""
        if not frames:
            raise DecodeError("no data frames")
        for i, frame in enumerate(frames):
            if frame.frame_number != i + 1:
                raise DecodeError(f"data frame {i + 1} is numbered {frame.frame_number}")
            if frame.last != (i + 1 == len(frames)):
                raise DecodeError(f"data frame {i + 1}: last-frame flag out of place")
        return b"".join(f.data for f in frames)


ResponseBody = (
    ModelBody | PumpStatusBody | SettingsBody | ClockBody | BatteryBody | ReservoirBody
    | RemoteIdsBody | TempBasalStatusBody | DataFrameBody
)

_RESPONSES: Final[dict[int, type[ResponseBody]]] = {
    MessageType.READ_MODEL: ModelBody, MessageType.READ_STATUS: PumpStatusBody,
    MessageType.READ_SETTINGS: SettingsBody, MessageType.READ_CLOCK: ClockBody,
    MessageType.READ_BATTERY: BatteryBody, MessageType.READ_RESERVOIR: ReservoirBody,
    MessageType.READ_REMOTE_IDS: RemoteIdsBody, MessageType.READ_TEMP_BASAL: TempBasalStatusBody,
    MessageType.READ_HISTORY_PAGE: DataFrameBody, MessageType.READ_BASAL_STANDARD: DataFrameBody,
    MessageType.READ_BASAL_A: DataFrameBody, MessageType.READ_BASAL_B: DataFrameBody,
}


def decode_response_body(message_type: int, body: bytes) -> ResponseBody:
    """The typed answer in a long pump packet of ``message_type``; DecodeError otherwise."""
    cls = _RESPONSES.get(message_type)
    if cls is None:
        raise DecodeError(f"message type 0x{message_type:02x} has no long answer")
    return cls.decode(body)


# ---------------------------------------------------------------------------
# Frames of the exchange.


def command_frame(pump_id: bytes, message_type: int) -> PumpFrame:
    """The short packet ``A7 <id> <type> 00`` that opens a command or a read."""
    return PumpFrame(pump_id, message_type, b"\x00")


def args_frame(pump_id: bytes, body: CommandBody) -> PumpFrame:
    """The long argument packet ``A7 <id> <type> <65-byte body>``."""
    return PumpFrame(pump_id, body.message_type, body.encode())


def ack_frame(pump_id: bytes) -> PumpFrame:
    """``A7 <id> 06 00``: the pump's ACK, and the driver's ACK of a data frame."""
    return PumpFrame(pump_id, MessageType.ACK, b"\x00")


def nak_frame(pump_id: bytes, code: NakCode) -> PumpFrame:
    """``A7 <id> 15 <code>``: the pump refuses."""
    return PumpFrame(pump_id, MessageType.NAK, bytes([code]))

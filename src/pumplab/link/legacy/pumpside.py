"""The pump side of the legacy exchange, sans I/O: a Paradigm x23's radio.

The machine owns the pump's **listening window** (the pump core does not):

- **Asleep**, the receiver is on for ``listen_window_ms`` every
  ``sleep_period_ms`` (:class:`~pumplab.link.legacy.exchange.PumpLinkConfig`).
  A frame is heard only if it starts inside such a window, and a sleeping pump
  answers only the short power-on ``A7 <own id> 5D 00``: it ACKs and wakes.
  Everything else addressed to it is dropped.
- **Awake**, it listens continuously until ``awake_until_ms``: at least
  ``linger_ms`` after the last exchange, or the minutes the power-on arguments
  (``02 01 <minutes>``) asked for.  When the window closes it sleeps again.

Awake, it ACKs a short command packet by itself, then hands the **argument
packet** (decoded to a typed body) or a **read** to its caller, the pump's
legacy intake, as :class:`CommandReceived`; the intake decides and answers
with exactly one of :meth:`PumpLink.ack`, :meth:`~PumpLink.nak`,
:meth:`~PumpLink.answer`, :meth:`~PumpLink.answer_frames` or
:meth:`~PumpLink.decline` (stay silent).  Multi-frame answers (a history page,
a basal profile) go out one frame at a time, each after the driver's ACK.

Frames from the pump's peripherals (meter A5, remote A6, sensor A8/AA/AB) are
handed over as :class:`PeripheralReceived` whatever the window: those links
are one-way and the real pump receives them without any wake-up (whether the
radio hears them at all is the medium's business).  MySentry (A2) frames and
A7 frames for other ids are ignored.

Assumptions, stated in docs/legacy-protocol.md: a repeated argument packet
after the pump already acted is not answered (its ACK was lost; the driver
reports the outcome as uncertain); a driver ACK during a multi-frame answer
always sends the next frame (as MinimedKit expects); while the intake has not
answered, new frames are dropped (``BUSY``).

Transition table (remote inputs; anything not listed is
:class:`~pumplab.link.legacy.exchange.Ignored` with a reason, never an
exception)::

    ASLEEP            short 5D heard in a listen window -> ARGS(5D)     (Woke, ACK)
    AWAKE/ARGS/FRAMES short 5D                          -> ARGS(5D)     (ACK)
    AWAKE/ARGS/FRAMES short command                     -> ARGS(type)   (ACK)
    AWAKE/ARGS/FRAMES short read                        -> ANSWER       CommandReceived
    ARGS(5D)          long 5D                           -> AWAKE        (ACK, window set)
    ARGS(type)        long type                         -> ANSWER       CommandReceived
    FRAMES            ACK                               -> FRAMES / AWAKE (next frame)
    awake states      window over (tick)                -> ASLEEP       FellAsleep

Local calls (the intake's answers) are legal only in ANSWER (``AWAITING_ANSWER``)
and only as :data:`ANSWER_TABLE` allows for what is pending; otherwise
:class:`~pumplab.link.legacy.exchange.IllegalTransition`::

    pending                      ack  nak  answer  answer_frames  decline   -> next
    command / malformed args      x    x                            x       AWAKE
    one-frame read                     x     x                      x       AWAKE
    history page / basal read          x            x               x       FRAMES (or AWAKE)
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final

from pumplab.errors import DecodeError
from pumplab.link.legacy.airtime import airtime_ms
from pumplab.link.legacy.exchange import (
    Ignored,
    IgnoreReason,
    IllegalTransition,
    PeripheralFrame,
    PumpLinkConfig,
    Transmit,
)
from pumplab.link.legacy.frames import PacketType, PumpFrame, decode_air
from pumplab.link.legacy.messages import (
    ARGUMENT_COMMANDS,
    MULTI_FRAME_ANSWERS,
    READ_COMMANDS,
    CommandBody,
    DataFrameBody,
    MessageType,
    NakCode,
    PowerOnBody,
    ReadHistoryPageBody,
    ReadRequest,
    ResponseBody,
    ack_frame,
    decode_command_body,
    nak_frame,
)

__all__ = [
    "ANSWER_TABLE",
    "CommandReceived",
    "FellAsleep",
    "MalformedArguments",
    "PendingKind",
    "PeripheralReceived",
    "PoweredOn",
    "PumpEvent",
    "PumpLink",
    "PumpLinkState",
    "Woke",
]

_MS_PER_MIN: Final = 60_000


class PumpLinkState(enum.Enum):
    """Where the pump's radio is."""

    ASLEEP = "asleep"
    AWAKE = "awake"
    AWAITING_ARGS = "awaiting_args"  # a command packet was ACKed; its arguments are due
    AWAITING_ANSWER = "awaiting_answer"  # the intake must answer the request it was given
    SENDING_FRAMES = "sending_frames"  # a multi-frame answer, frame by frame


@dataclass(frozen=True, slots=True)
class MalformedArguments:
    """An argument packet whose body does not decode; the intake decides (usually NAK 0x09)."""

    message_type: int
    body: bytes
    detail: str


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """A request for the pump's intake, which must answer it (see :class:`PumpLink`).

    ``tag`` is whatever the caller passed with the frame that completed the
    request (the radio medium's transmission id): the machine never reads it.
    """

    t_ms: int
    message_type: int
    request: CommandBody | ReadRequest | MalformedArguments
    tag: object = None


@dataclass(frozen=True, slots=True)
class PeripheralReceived:
    """A meter, remote or sensor frame heard by the pump."""

    t_ms: int
    frame: PeripheralFrame
    tag: object = None


@dataclass(frozen=True, slots=True)
class Woke:
    """The sleeping pump heard a wake-up and opened its listening window."""

    t_ms: int
    awake_until_ms: int


@dataclass(frozen=True, slots=True)
class PoweredOn:
    """Power-on arguments set the window (``minutes`` 0 with ``on`` False: radio off)."""

    t_ms: int
    minutes: int
    on: bool
    awake_until_ms: int


@dataclass(frozen=True, slots=True)
class FellAsleep:
    """The listening window closed; the radio is back on its sleep cycle."""

    t_ms: int


PumpEvent = (Transmit | CommandReceived | PeripheralReceived | Woke | PoweredOn | FellAsleep
             | Ignored)

_AWAKE_STATES: Final = frozenset({PumpLinkState.AWAKE, PumpLinkState.AWAITING_ARGS,
                                  PumpLinkState.SENDING_FRAMES})
_KNOWN_TYPES: Final = frozenset(int(t) for t in MessageType)


class PendingKind(enum.Enum):
    """What the intake has been handed, which decides how it may answer."""

    COMMAND = "command"  # decoded arguments of a command
    MALFORMED = "malformed"  # arguments that did not decode
    READ = "read"  # a one-frame read
    FRAMES = "multi-frame read"  # a history page or a basal profile


#: The intake's legal answers to each kind of pending request; any other call
#: (or any call with nothing pending) raises IllegalTransition.
ANSWER_TABLE: Final = {
    PendingKind.COMMAND: frozenset({"ack", "nak", "decline"}),
    PendingKind.MALFORMED: frozenset({"ack", "nak", "decline"}),
    PendingKind.READ: frozenset({"answer", "nak", "decline"}),
    PendingKind.FRAMES: frozenset({"answer_frames", "nak", "decline"}),
}


def _pending_kind(request: CommandBody | ReadRequest | MalformedArguments) -> PendingKind:
    if isinstance(request, MalformedArguments):
        return PendingKind.MALFORMED
    if isinstance(request, ReadHistoryPageBody):
        return PendingKind.FRAMES
    if isinstance(request, ReadRequest):
        return (PendingKind.FRAMES if request.message_type in MULTI_FRAME_ANSWERS
                else PendingKind.READ)
    return PendingKind.COMMAND


class PumpLink:
    """The radio side of one pump, addressed by its 3-byte id."""

    def __init__(self, pump_id: bytes, config: PumpLinkConfig | None = None, *,
                 awake_until_ms: int | None = None) -> None:
        if not isinstance(pump_id, bytes) or len(pump_id) != 3:
            raise ValueError(f"pump_id must be 3 bytes, got {pump_id!r}")
        self.pump_id = pump_id
        self.config = config or PumpLinkConfig()
        self.state = PumpLinkState.ASLEEP
        #: End of the listening window (meaningful while awake).
        self.awake_until_ms = 0
        if awake_until_ms is not None:
            self.state = PumpLinkState.AWAKE
            self.awake_until_ms = awake_until_ms
        self._args_for: int | None = None
        self._pending: CommandBody | ReadRequest | MalformedArguments | None = None
        self._frames: tuple[DataFrameBody, ...] = ()
        self._next_frame = 0
        self._frames_type = 0

    # -- public surface ---------------------------------------------------

    @property
    def pending(self) -> CommandBody | ReadRequest | MalformedArguments | None:
        """The request the intake has to answer, if any."""
        return self._pending

    @property
    def deadline_ms(self) -> int | None:
        """When :meth:`tick` will close the window, or None (asleep, or awaiting an answer)."""
        return self.awake_until_ms if self.state in _AWAKE_STATES else None

    def listening_at(self, t_ms: int) -> bool:
        """Whether the receiver is on at ``t_ms`` (awake, or inside a sleep-cycle window)."""
        if self.state is not PumpLinkState.ASLEEP:
            return True
        cfg = self.config
        return (t_ms - cfg.sleep_phase_ms) % cfg.sleep_period_ms < cfg.listen_window_ms

    def tick(self, t_ms: int) -> list[PumpEvent]:
        """Let time pass to ``t_ms``: close the window if it is over."""
        if self.state in _AWAKE_STATES and t_ms >= self.awake_until_ms:
            self._sleep()
            return [FellAsleep(t_ms)]
        return []

    def receive(self, air: bytes, t_ms: int, *, burst_end_ms: int | None = None,
                tag: object = None) -> list[PumpEvent]:
        """A frame whose reception ended at ``t_ms``.  Never raises on bad input.

        ``burst_end_ms``: when the frame is one copy of a repeated burst, when
        the last copy ends; the pump's ACK to a wake-up then goes after it (a
        half-duplex driver hears nothing while it still transmits).
        """
        events = self.tick(t_ms)
        try:
            frame = decode_air(air)
        except DecodeError as exc:
            return [*events, Ignored(t_ms, IgnoreReason.UNDECODABLE, str(exc))]
        if not isinstance(frame, PumpFrame):
            return [*events, PeripheralReceived(t_ms, frame, tag)]
        if frame.packet_type is not PacketType.PUMP:
            return [*events, Ignored(t_ms, IgnoreReason.NOT_FOR_PUMP, "MySentry frame")]
        if frame.device_id != self.pump_id:
            return [*events, Ignored(t_ms, IgnoreReason.OTHER_DEVICE, frame.device_id.hex())]
        if self.state is PumpLinkState.ASLEEP:
            return events + self._while_asleep(frame, air, t_ms, burst_end_ms)
        if self.state is PumpLinkState.AWAITING_ANSWER:
            return [*events, Ignored(t_ms, IgnoreReason.BUSY)]
        return events + self._while_awake(frame, t_ms, burst_end_ms, tag)

    def ack(self, t_ms: int) -> list[PumpEvent]:
        """Accept the pending command (with arguments)."""
        self._require_pending("ack")
        return [self._answer_with(ack_frame(self.pump_id), t_ms)]

    def nak(self, code: NakCode, t_ms: int) -> list[PumpEvent]:
        """Refuse the pending request with ``code``."""
        self._require_pending("nak")
        if not isinstance(code, NakCode):
            raise TypeError(f"code must be a NakCode, got {code!r}")
        return [self._answer_with(nak_frame(self.pump_id, code), t_ms)]

    def answer(self, body: ResponseBody, t_ms: int) -> list[PumpEvent]:
        """Answer the pending one-frame read with ``body``."""
        pending = self._require_pending("answer")
        assert isinstance(pending, ReadRequest)  # the answer table allows nothing else
        body_type = getattr(body, "message_type", None)
        if body_type != pending.message_type:
            raise IllegalTransition(f"answer body {type(body).__name__} does not answer "
                                    f"message type 0x{pending.message_type:02x}")
        frame = PumpFrame(self.pump_id, pending.message_type, body.encode())
        return [self._answer_with(frame, t_ms)]

    def answer_frames(self, content: bytes, t_ms: int) -> list[PumpEvent]:
        """Answer the pending history-page or basal read with ``content`` (64-byte frames)."""
        pending = self._require_pending("answer_frames")
        assert isinstance(pending, ReadRequest | ReadHistoryPageBody)  # per the answer table
        message_type = int(pending.message_type)
        frames = DataFrameBody.split(content)
        self._frames, self._next_frame, self._frames_type = frames, 1, message_type
        tx = self._answer_with(PumpFrame(self.pump_id, message_type, frames[0].encode()), t_ms)
        self.state = PumpLinkState.SENDING_FRAMES
        return [tx]

    def decline(self, t_ms: int) -> list[PumpEvent]:
        """Give no answer at all to the pending request (nothing goes on the air)."""
        self._require_pending("decline")
        self._clear_pending()
        self.state = PumpLinkState.AWAKE
        self._extend(t_ms)
        return []

    # -- internals ------------------------------------------------------

    def _require_pending(self, what: str) -> CommandBody | ReadRequest | MalformedArguments:
        """The pending request, if ``what`` is a legal answer to it (:data:`ANSWER_TABLE`)."""
        if self.state is not PumpLinkState.AWAITING_ANSWER or self._pending is None:
            raise IllegalTransition(f"{what}() with no request pending (state {self.state.value})")
        kind = _pending_kind(self._pending)
        allowed = ANSWER_TABLE[kind]
        if what not in allowed:
            raise IllegalTransition(f"{what}() does not answer a pending {kind.value} "
                                    f"(allowed: {', '.join(sorted(allowed))})")
        return self._pending

    def _clear_pending(self) -> None:
        self._pending = None

    def _extend(self, t_ms: int) -> None:
        self.awake_until_ms = max(self.awake_until_ms, t_ms + self.config.linger_ms)

    def _sleep(self) -> None:
        self.state = PumpLinkState.ASLEEP
        self._args_for = None
        self._clear_pending()
        self._frames = ()

    def _transmit(self, frame: PumpFrame, t_ms: int) -> Transmit:
        return Transmit.of(frame, t_ms + self.config.response_delay_ms)

    def _answer_with(self, frame: PumpFrame, t_ms: int) -> Transmit:
        self._clear_pending()
        self.state = PumpLinkState.AWAKE
        self._extend(t_ms)
        return self._transmit(frame, t_ms)

    def _while_asleep(self, frame: PumpFrame, air: bytes, t_ms: int,
                      burst_end_ms: int | None) -> list[PumpEvent]:
        start_ms = math.floor(t_ms - airtime_ms(len(air)))
        if not self.listening_at(start_ms):
            return [Ignored(t_ms, IgnoreReason.NOT_LISTENING)]
        if not (frame.message_type == MessageType.POWER_ON and frame.is_short):
            return [Ignored(t_ms, IgnoreReason.ASLEEP,
                            f"message type 0x{frame.message_type:02x}")]
        answer_at = max(t_ms, burst_end_ms) if burst_end_ms is not None else t_ms
        self.state = PumpLinkState.AWAITING_ARGS
        self._args_for = int(MessageType.POWER_ON)
        self.awake_until_ms = answer_at + self.config.linger_ms
        return [Woke(t_ms, self.awake_until_ms),
                self._transmit(ack_frame(self.pump_id), answer_at)]

    def _while_awake(self, frame: PumpFrame, t_ms: int, burst_end_ms: int | None,
                     tag: object) -> list[PumpEvent]:
        mtype = frame.message_type
        self._extend(t_ms)
        if frame.is_short:
            if mtype == MessageType.ACK:
                return self._on_driver_ack(t_ms)
            if mtype in ARGUMENT_COMMANDS:
                self._frames = ()
                self.state = PumpLinkState.AWAITING_ARGS
                self._args_for = mtype
                answer_at = max(t_ms, burst_end_ms) if burst_end_ms is not None else t_ms
                self._extend(answer_at)
                return [self._transmit(ack_frame(self.pump_id), answer_at)]
            if mtype in READ_COMMANDS:
                self._frames = ()
                self._args_for = None
                read = ReadRequest(MessageType(mtype))
                self.state = PumpLinkState.AWAITING_ANSWER
                self._pending = read
                return [CommandReceived(t_ms, mtype, read, tag)]
        elif self.state is PumpLinkState.AWAITING_ARGS and mtype == self._args_for:
            self._args_for = None
            if mtype == MessageType.POWER_ON:
                return self._on_power_on(frame, t_ms)
            try:
                request: CommandBody | MalformedArguments = decode_command_body(mtype, frame.body)
            except DecodeError as exc:
                request = MalformedArguments(mtype, frame.body, str(exc))
            self.state = PumpLinkState.AWAITING_ANSWER
            self._pending = request
            return [CommandReceived(t_ms, mtype, request, tag)]
        reason = (IgnoreReason.UNEXPECTED if mtype in _KNOWN_TYPES
                  else IgnoreReason.UNKNOWN_MESSAGE)
        shape = "short" if frame.is_short else "long"
        return [Ignored(t_ms, reason,
                        f"{shape} 0x{mtype:02x} in state {self.state.value}")]

    def _on_power_on(self, frame: PumpFrame, t_ms: int) -> list[PumpEvent]:
        try:
            body = PowerOnBody.decode(frame.body)
        except DecodeError as exc:
            self.state = PumpLinkState.AWAKE
            return [Ignored(t_ms, IgnoreReason.UNDECODABLE, str(exc))]
        ack = self._transmit(ack_frame(self.pump_id), t_ms)
        if body.on:
            self.state = PumpLinkState.AWAKE
            self.awake_until_ms = t_ms + max(body.minutes * _MS_PER_MIN, self.config.linger_ms)
            return [PoweredOn(t_ms, body.minutes, True, self.awake_until_ms), ack]
        self._sleep()  # radio off right after the ACK
        self.awake_until_ms = t_ms
        return [PoweredOn(t_ms, body.minutes, False, t_ms), ack, FellAsleep(t_ms)]

    def _on_driver_ack(self, t_ms: int) -> list[PumpEvent]:
        if self.state is not PumpLinkState.SENDING_FRAMES:
            return [Ignored(t_ms, IgnoreReason.UNEXPECTED, f"ACK in state {self.state.value}")]
        if self._next_frame >= len(self._frames):
            # The driver's ACK of the last frame: the answer is complete.
            self.state = PumpLinkState.AWAKE
            self._frames = ()
            return []
        frame = self._frames[self._next_frame]
        self._next_frame += 1
        return [self._transmit(PumpFrame(self.pump_id, self._frames_type, frame.encode()), t_ms)]

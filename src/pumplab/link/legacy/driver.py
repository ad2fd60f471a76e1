"""The driver side of the legacy exchange, sans I/O: what a RileyLink-driven loop does.

One request at a time (a command with arguments, a read, a history page):

1. **Wake-up** (unless the driver believes the pump awake, or ``wake=False``):
   probe with a read model (0x8D, short); if the pump answers it is awake.
   Otherwise send the short power-on ``A7 <id> 5D 00`` as a burst
   (:data:`~pumplab.link.legacy.airtime.RILEYLINK_BURST`), listen up to 12 s
   after it for the ACK, then send the power-on arguments ``02 01 <minutes>``
   and wait for the ACK (MinimedKit ``PumpOpsSession.wakeup`` and
   ``sendWakeUpBurst``).
2. **Command**: the short packet ``<type> 00``, ACK; then the long argument
   packet, ACK (MinimedKit ``runCommandWithArguments``).  A read sends only
   the short packet and takes the long answer.
3. **Multi-frame answers** (history page, basal profile): frame 1 answers the
   argument (or read) packet; the driver ACKs each frame and expects the next
   number; after the last frame it ACKs and is done (MinimedKit
   ``getHistoryPage``).

Every packet is retried on silence (a window of ``response_window_ms`` after
it leaves the antenna) as many times as :class:`DriverConfig` says.  A NAK
ends the request.  The outcome says whether the pump may have acted: a
missing ACK to the **argument** packet of a command is *uncertain* (the pump
may have executed it and lost its ACK; a re-sent argument packet is not
answered by a pump that already acted: see docs/legacy-protocol.md); every
other failure is *certain* (nothing was executed).

Transition table (``state`` × input → next state; anything else is ignored
with a reason, never an exception)::

    IDLE         request(wake, asleep)       -> PROBING   (probe_first) / BURSTING
    IDLE         request(awake or wake=False)-> COMMANDING / READING
    PROBING      model answer                -> COMMANDING / READING (or power-on command)
    PROBING      silence after retries       -> BURSTING
    BURSTING     ACK                         -> POWERING_ON
    BURSTING     silence                     -> IDLE  Failed(NO_WAKEUP_ACK)
    POWERING_ON  ACK                         -> COMMANDING / READING, or IDLE Completed
    COMMANDING   ACK                         -> SENDING_ARGS
    SENDING_ARGS ACK                         -> IDLE  Completed
    SENDING_ARGS data frame 1 (history page) -> RECEIVING_FRAMES
    READING      answer                      -> IDLE  Completed
    READING      data frame 1 (basal)        -> RECEIVING_FRAMES
    RECEIVING_FRAMES  next frame             -> RECEIVING_FRAMES, or IDLE Completed on the last
    any active   NAK                         -> IDLE  Failed(NAK)
    any active   silence after retries       -> IDLE  Failed(...)

Calling :meth:`PumpDriver.request` while a request runs raises
:class:`~pumplab.link.legacy.exchange.IllegalTransition`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final

from pumplab.errors import DecodeError
from pumplab.link.legacy.airtime import airtime_ms
from pumplab.link.legacy.coding import air_length
from pumplab.link.legacy.exchange import (
    DriverConfig,
    Ignored,
    IgnoreReason,
    IllegalTransition,
    Transmit,
)
from pumplab.link.legacy.frames import PacketType, PumpFrame, decode_air
from pumplab.link.legacy.history import HISTORY_PAGE_BYTES
from pumplab.link.legacy.messages import (
    MULTI_FRAME_ANSWERS,
    CommandBody,
    DataFrameBody,
    MessageType,
    ModelBody,
    PowerOnBody,
    ReadHistoryPageBody,
    ReadRequest,
    ResponseBody,
    ack_frame,
    args_frame,
    command_frame,
    decode_response_body,
)

__all__ = [
    "Completed",
    "DriverEvent",
    "DriverState",
    "FailReason",
    "Failed",
    "PumpDriver",
    "Request",
    "failed_wakeup_ms",
]

Request = CommandBody | ReadRequest
_MS_PER_MIN: Final = 60_000


class DriverState(enum.Enum):
    """Where a driver is in its current request."""

    IDLE = "idle"
    PROBING = "probing"
    BURSTING = "bursting"
    POWERING_ON = "powering_on"
    COMMANDING = "commanding"
    SENDING_ARGS = "sending_args"
    READING = "reading"
    RECEIVING_FRAMES = "receiving_frames"


class FailReason(enum.Enum):
    """Why a request failed."""

    NO_WAKEUP_ACK = "no_wakeup_ack"  # the burst was not answered: asleep, out of range, wrong id
    NO_POWER_ON_ACK = "no_power_on_ack"
    NO_COMMAND_ACK = "no_command_ack"
    NO_ARGS_ACK = "no_args_ack"  # uncertain: the pump may have acted
    NO_ANSWER = "no_answer"  # a read (or a data frame) never came
    NAK = "nak"
    FRAME_SEQUENCE = "frame_sequence"  # a data frame out of order, or a short page


@dataclass(frozen=True, slots=True)
class Completed:
    """The request succeeded: ``response`` is None (ACKed command), a body, or frame content."""

    t_ms: int
    request: Request
    response: ResponseBody | bytes | None


@dataclass(frozen=True, slots=True)
class Failed:
    """The request failed; ``uncertain`` is True when the pump may nevertheless have acted."""

    t_ms: int
    request: Request
    reason: FailReason
    uncertain: bool = False
    nak_code: int | None = None
    detail: str = ""


DriverEvent = Transmit | Completed | Failed | Ignored


def failed_wakeup_ms(config: DriverConfig | None = None) -> int:
    """Time from :meth:`PumpDriver.request` to ``Failed(NO_WAKEUP_ACK)`` when nothing answers.

    The probe and its retries (each a short frame and a response window), the
    burst, and the listening after it, with the driver's rounding of each
    transmission's end up to a whole millisecond.  It is what one wrong serial
    costs a driver with this configuration (the serial sweep of issue 13).
    """
    cfg = config or DriverConfig()
    short_ms = math.ceil(airtime_ms(air_length(7)))
    t = 0
    if cfg.probe_first:
        t += (cfg.probe_retries + 1) * (short_ms + cfg.response_window_ms)
    burst_ms = math.ceil((cfg.burst.count - 1) * cfg.burst.interval_ms
                         + airtime_ms(air_length(7)))
    return t + burst_ms + cfg.burst_listen_ms


class PumpDriver:
    """Drives one pump (by its 3-byte id) through requests, one at a time."""

    def __init__(self, pump_id: bytes, config: DriverConfig | None = None, *,
                 awake_until_ms: int | None = None) -> None:
        if not isinstance(pump_id, bytes) or len(pump_id) != 3:
            raise ValueError(f"pump_id must be 3 bytes, got {pump_id!r}")
        self.pump_id = pump_id
        self.config = config or DriverConfig()
        #: Until when the driver believes the pump's radio is on (None: unknown).
        self.awake_until_ms = awake_until_ms
        self.state = DriverState.IDLE
        self._request: Request | None = None
        self._deadline_ms: int | None = None
        self._retries_left = 0
        self._last: Transmit | None = None
        self._listen_ms = 0
        self._power_on: PowerOnBody | None = None
        self._frames: list[DataFrameBody] = []

    # -- public surface ---------------------------------------------------

    @property
    def deadline_ms(self) -> int | None:
        """When :meth:`tick` has something to do (a retry or a failure), or None."""
        return self._deadline_ms

    def believes_awake(self, t_ms: int) -> bool:
        """Whether the driver thinks the pump's radio is on at ``t_ms``."""
        return self.awake_until_ms is not None and t_ms < self.awake_until_ms

    def request(self, request: Request, t_ms: int, *, wake: bool = True) -> list[DriverEvent]:
        """Start ``request`` at ``t_ms``; ``wake=False`` skips the wake-up entirely."""
        if self.state is not DriverState.IDLE:
            raise IllegalTransition(f"a request is already running (state {self.state.value})")
        if not isinstance(request, ReadRequest | CommandBody):
            raise TypeError(f"not a request: {request!r}")
        self._request = request
        self._frames = []
        if wake and not self.believes_awake(t_ms):
            if self.config.probe_first:
                self.state = DriverState.PROBING
                return [self._send(command_frame(self.pump_id, MessageType.READ_MODEL), t_ms,
                                   self.config.probe_retries)]
            return [self._start_burst(t_ms)]
        return self._start_main(t_ms)

    def tick(self, t_ms: int) -> list[DriverEvent]:
        """Let time pass to ``t_ms``: retry or give up if the answer is overdue."""
        if self._deadline_ms is None or t_ms < self._deadline_ms:
            return []
        return self._on_silence(t_ms)

    def receive(self, air: bytes, t_ms: int) -> list[DriverEvent]:
        """A frame heard at ``t_ms`` (end of reception).  Never raises on bad input."""
        events: list[DriverEvent] = []
        if self._deadline_ms is not None and t_ms > self._deadline_ms:
            events += self._on_silence(t_ms)
        try:
            frame = decode_air(air)
        except DecodeError as exc:
            return [*events, Ignored(t_ms, IgnoreReason.UNDECODABLE, str(exc))]
        if not isinstance(frame, PumpFrame) or frame.packet_type is not PacketType.PUMP:
            return [*events, Ignored(t_ms, IgnoreReason.OTHER_DEVICE, "not an A7 frame")]
        if frame.device_id != self.pump_id:
            return [*events, Ignored(t_ms, IgnoreReason.OTHER_DEVICE, frame.device_id.hex())]
        if self.state is DriverState.IDLE:
            return [*events, Ignored(t_ms, IgnoreReason.IDLE)]
        return events + self._on_frame(frame, t_ms)

    # -- steps ------------------------------------------------------------

    def _send(self, frame: PumpFrame, t_ms: int, retries: int, *, burst: bool = False
              ) -> Transmit:
        tx = Transmit.of(frame, t_ms, burst=self.config.burst if burst else None)
        self._last = tx
        self._retries_left = retries
        self._listen_ms = self.config.burst_listen_ms if burst else self.config.response_window_ms
        self._deadline_ms = tx.end_ms_ceil + self._listen_ms
        return tx

    def _resend(self, t_ms: int) -> Transmit:
        assert self._last is not None
        last = self._last
        tx = Transmit(t_ms, last.packet, last.air, last.repeat, last.interval_ms)
        self._last = tx
        self._deadline_ms = tx.end_ms_ceil + self._listen_ms
        return tx

    def _start_burst(self, t_ms: int) -> Transmit:
        self.state = DriverState.BURSTING
        # MinimedKit sends the burst with retryCount 0: one burst, then give up.
        return self._send(command_frame(self.pump_id, MessageType.POWER_ON), t_ms, 0, burst=True)

    def _start_main(self, t_ms: int) -> list[DriverEvent]:
        request = self._request
        assert request is not None
        if isinstance(request, ReadRequest):
            self.state = DriverState.READING
        else:
            self.state = DriverState.COMMANDING
        return [self._send(command_frame(self.pump_id, request.message_type), t_ms,
                           self.config.command_retries)]

    def _finish(self, event: Completed | Failed) -> list[DriverEvent]:
        self.state = DriverState.IDLE
        self._request = None
        self._deadline_ms = None
        self._last = None
        self._power_on = None
        self._frames = []
        return [event]

    def _fail(self, t_ms: int, reason: FailReason, *, uncertain: bool = False,
              nak_code: int | None = None, detail: str = "") -> list[DriverEvent]:
        assert self._request is not None
        return self._finish(Failed(t_ms, self._request, reason, uncertain, nak_code, detail))

    def _on_silence(self, t_ms: int) -> list[DriverEvent]:
        if self._retries_left > 0:
            self._retries_left -= 1
            return [self._resend(t_ms)]
        request = self._request
        state = self.state
        if state is DriverState.PROBING:
            return [self._start_burst(t_ms)]
        if state is DriverState.BURSTING:
            return self._fail(t_ms, FailReason.NO_WAKEUP_ACK)
        if state is DriverState.POWERING_ON:
            return self._fail(t_ms, FailReason.NO_POWER_ON_ACK)
        if state is DriverState.COMMANDING:
            return self._fail(t_ms, FailReason.NO_COMMAND_ACK)
        if state is DriverState.SENDING_ARGS:
            # A read (history page) changes nothing; a command may have been executed.
            if isinstance(request, ReadHistoryPageBody):
                return self._fail(t_ms, FailReason.NO_ANSWER)
            return self._fail(t_ms, FailReason.NO_ARGS_ACK, uncertain=True)
        return self._fail(t_ms, FailReason.NO_ANSWER)

    def _on_frame(self, frame: PumpFrame, t_ms: int) -> list[DriverEvent]:
        state = self.state
        request = self._request
        assert request is not None
        if frame.message_type == MessageType.NAK and frame.is_short:
            if state is DriverState.PROBING:
                return [Ignored(t_ms, IgnoreReason.UNEXPECTED, "NAK to the probe")]
            return self._fail(t_ms, FailReason.NAK, nak_code=frame.body[0],
                              detail=f"NAK 0x{frame.body[0]:02x}")
        is_ack = frame.message_type == MessageType.ACK and frame.is_short
        if state is DriverState.PROBING:
            if frame.message_type == MessageType.READ_MODEL and not frame.is_short:
                try:
                    ModelBody.decode(frame.body)
                except DecodeError as exc:
                    return [Ignored(t_ms, IgnoreReason.UNDECODABLE, str(exc))]
                self.awake_until_ms = max(self.awake_until_ms or t_ms,
                                          t_ms + self.config.probe_awake_ms)
                # Awake: the request (a power-on one too) runs as a normal command.
                return self._start_main(t_ms)
        elif state is DriverState.BURSTING:
            if is_ack:
                self.state = DriverState.POWERING_ON
                power_on = (request if isinstance(request, PowerOnBody)
                            else PowerOnBody(self.config.wake_minutes))
                self._power_on = power_on
                return [self._send(args_frame(self.pump_id, power_on), t_ms,
                                   self.config.args_retries)]
        elif state is DriverState.POWERING_ON:
            if is_ack:
                sent = self._power_on
                assert sent is not None
                self.awake_until_ms = t_ms + sent.minutes * _MS_PER_MIN if sent.on else t_ms
                if isinstance(request, PowerOnBody):
                    return self._finish(Completed(t_ms, request, None))
                return self._start_main(t_ms)
        elif state is DriverState.COMMANDING:
            if is_ack:
                assert not isinstance(request, ReadRequest)
                self.state = DriverState.SENDING_ARGS
                return [self._send(args_frame(self.pump_id, request), t_ms,
                                   self.config.args_retries)]
        elif state is DriverState.SENDING_ARGS:
            if isinstance(request, ReadHistoryPageBody):
                if frame.message_type == request.message_type and not frame.is_short:
                    return self._on_data_frame(frame, t_ms)
            elif is_ack:
                if isinstance(request, PowerOnBody):
                    self.awake_until_ms = (t_ms + request.minutes * _MS_PER_MIN
                                           if request.on else t_ms)
                return self._finish(Completed(t_ms, request, None))
        elif state is DriverState.READING:
            if frame.message_type == request.message_type and not frame.is_short:
                if request.message_type in MULTI_FRAME_ANSWERS:
                    return self._on_data_frame(frame, t_ms)
                try:
                    answer = decode_response_body(frame.message_type, frame.body)
                except DecodeError as exc:
                    return [Ignored(t_ms, IgnoreReason.UNDECODABLE, str(exc))]
                return self._finish(Completed(t_ms, request, answer))
        elif (state is DriverState.RECEIVING_FRAMES
              and frame.message_type == request.message_type and not frame.is_short):
            return self._on_data_frame(frame, t_ms)
        return [Ignored(t_ms, IgnoreReason.UNEXPECTED,
                        f"message type 0x{frame.message_type:02x} in state {state.value}")]

    def _on_data_frame(self, frame: PumpFrame, t_ms: int) -> list[DriverEvent]:
        request = self._request
        assert request is not None
        try:
            data = DataFrameBody.decode(frame.body)
        except DecodeError as exc:
            return [Ignored(t_ms, IgnoreReason.UNDECODABLE, str(exc))]
        expected = len(self._frames) + 1
        if data.frame_number != expected:
            return self._fail(t_ms, FailReason.FRAME_SEQUENCE,
                              detail=f"frame {data.frame_number}, expected {expected}")
        self._frames.append(data)
        ack = ack_frame(self.pump_id)
        if not data.last:
            self.state = DriverState.RECEIVING_FRAMES
            return [self._send(ack, t_ms, self.config.frame_retries)]
        content = b"".join(f.data for f in self._frames)
        tx = Transmit.of(ack, t_ms)  # the final ACK: sent, not waited on
        if isinstance(request, ReadHistoryPageBody) and len(content) != HISTORY_PAGE_BYTES:
            return [tx, *self._fail(t_ms, FailReason.FRAME_SEQUENCE,
                                    detail=f"short page: {len(content)} bytes")]
        return [tx, *self._finish(Completed(t_ms, request, content))]

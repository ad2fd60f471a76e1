"""What the two sans-I/O exchange machines hand their caller, and their timing parameters.

The legacy exchange is implemented twice, once per side, in the style of h11
(``h11/_connection.py``): bytes and calls go in, events come out, and the
machine never touches a radio, a clock or a socket.  Time is an argument
(``t_ms``, integer milliseconds of the simulation).

- :class:`pumplab.link.legacy.driver.PumpDriver`: the side of a CareLink
  stick, a RileyLink-driven DIY loop, the controller app's bridge or an
  attacker (probe, wake-up burst, command, arguments, retries, history page
  download with per-frame ACKs).
- :class:`pumplab.link.legacy.pumpside.PumpLink`: the pump's radio: the
  duty-cycled listening while asleep, the listening window after a wake-up
  (extended by each exchange), and the ACKs and answers.

Both return lists of the events below.  :class:`Transmit` is the only one that
puts bytes on the air; the caller (the radio medium) sends it at ``t_ms``.  A
malformed, forged or foreign frame never raises out of ``receive``: it comes
back as :class:`Ignored` with a reason.  Calling a machine out of turn (an
answer when nothing was asked, a request while one is running) raises
:class:`IllegalTransition`: that is a bug in the caller, not data.

Timing parameters and their sources are on :class:`DriverConfig` and
:class:`PumpLinkConfig`; docs/legacy-protocol.md, "The exchange", draws both
machines and their transition tables.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from pumplab.link.legacy.airtime import RILEYLINK_BURST, BurstProfile, airtime_ms
from pumplab.link.legacy.frames import (
    Frame,
    MeterFrame,
    RemoteFrame,
    SensorFrame,
    encode_packet,
    to_air,
)

__all__ = [
    "DriverConfig",
    "IgnoreReason",
    "Ignored",
    "IllegalTransition",
    "PeripheralFrame",
    "PumpLinkConfig",
    "Transmit",
]


class IllegalTransition(RuntimeError):
    """A machine was called out of turn by its (local) caller: a programming error."""


@dataclass(frozen=True, slots=True)
class Transmit:
    """Put ``packet`` on the air at ``t_ms``, ``repeat`` times, one every ``interval_ms``."""

    t_ms: int
    packet: bytes = field(repr=False)
    air: bytes = field(repr=False)
    repeat: int = 1
    interval_ms: int = 0

    @classmethod
    def of(cls, frame: Frame | bytes, t_ms: int, *, burst: BurstProfile | None = None
           ) -> Transmit:
        """A transmission of a frame (or a sealed packet), once or as a burst."""
        packet = frame if isinstance(frame, bytes) else encode_packet(frame)
        if burst is None:
            return cls(t_ms, packet, to_air(packet))
        return cls(t_ms, packet, to_air(packet), burst.count, burst.interval_ms)

    @property
    def end_ms(self) -> float:
        """When the last copy has left the antenna."""
        return self.t_ms + (self.repeat - 1) * self.interval_ms + airtime_ms(len(self.air))

    @property
    def end_ms_ceil(self) -> int:
        """:attr:`end_ms` rounded up to a whole millisecond."""
        return math.ceil(self.end_ms)


class IgnoreReason(enum.Enum):
    """Why a machine did nothing with a frame it was given."""

    UNDECODABLE = "undecodable"  # 4b6b, CRC or structure: a DecodeError
    NOT_LISTENING = "not_listening"  # the sleeping pump's receiver was off
    ASLEEP = "asleep"  # heard, but a sleeping pump only answers the wake-up
    OTHER_DEVICE = "other_device"  # an A7 frame for another id
    NOT_FOR_PUMP = "not_for_pump"  # a MySentry (A2) frame
    UNKNOWN_MESSAGE = "unknown_message"  # a message type pumplab does not model
    UNEXPECTED = "unexpected"  # valid, but not what this state waits for
    BUSY = "busy"  # the pump's core has not answered the previous request yet
    IDLE = "idle"  # a driver with no request running


@dataclass(frozen=True, slots=True)
class Ignored:
    """A frame the machine dropped, with why (observability for tests and the lab)."""

    t_ms: int
    reason: IgnoreReason
    detail: str = ""


PeripheralFrame = MeterFrame | RemoteFrame | SensorFrame


@dataclass(frozen=True, slots=True)
class DriverConfig:
    """Timing and retry parameters of a driver (defaults: rileylink_ios MinimedKit).

    - ``response_window_ms`` 200: MinimedKit ``standardPumpResponseWindow``.
    - ``probe_retries`` 1, ``command_retries`` 3, ``args_retries`` 3,
      ``frame_retries`` 3: the ``retryCount`` MinimedKit passes for the probe
      (``isPumpResponding``), the command and argument packets
      (``runCommandWithArguments``) and history frames (``getHistoryPage``).
    - ``burst`` 256 copies every 18 ms and ``burst_listen_ms`` 12,000:
      ``sendWakeUpBurst`` (``repeatCount: 255``, ``timeout: .seconds(12)``).
    - ``wake_minutes`` 1: MinimedKit ``wakeup(_ duration: = 1 minute)``;
      decocare uses 10.
    - ``probe_awake_ms`` 60,000: MinimedKit believes a pump that answered the
      probe awake for one more minute.
    """

    response_window_ms: int = 200
    probe_first: bool = True
    probe_retries: int = 1
    command_retries: int = 3
    args_retries: int = 3
    frame_retries: int = 3
    burst: BurstProfile = RILEYLINK_BURST
    burst_listen_ms: int = 12_000
    wake_minutes: int = 1
    probe_awake_ms: int = 60_000

    def __post_init__(self) -> None:
        for name in ("response_window_ms", "probe_retries", "command_retries", "args_retries",
                     "frame_retries", "burst_listen_ms", "probe_awake_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if not isinstance(self.wake_minutes, int) or not 1 <= self.wake_minutes <= 255:
            raise ValueError(f"wake_minutes must be in 1..255, got {self.wake_minutes!r}")


@dataclass(frozen=True, slots=True)
class PumpLinkConfig:
    """Timing of a pump's radio.  The sleep cycle is pumplab's estimate, stated as such.

    - ``sleep_period_ms`` 4,000 and ``listen_window_ms`` 25: while asleep the
      receiver is on for 25 ms every 4 s.  Nothing publishes the real cycle;
      these values are the tightest that let every published wake-up burst
      through (the shortest, MinimedKit's ≈4.6 s, is longer than one period
      plus a window, and the slowest repetition, mmeowlink's 24 ms, is shorter
      than a window, so some copy starts inside a window).  A frame is heard
      if its first bit falls inside a window.
    - ``sleep_phase_ms``: where the windows sit (a scenario can randomise it).
    - ``linger_ms`` 60,000: after any exchange the pump stays awake at least
      this long (MinimedKit ``wakeup``: "the pump stays awake > 1 minute past
      last comms").
    - ``response_delay_ms`` 5: the pump's turnaround before it answers
      (estimate; well inside the drivers' 200 ms window).
    """

    sleep_period_ms: int = 4_000
    listen_window_ms: int = 25
    sleep_phase_ms: int = 0
    linger_ms: int = 60_000
    response_delay_ms: int = 5

    def __post_init__(self) -> None:
        if not isinstance(self.sleep_period_ms, int) or self.sleep_period_ms < 1:
            raise ValueError(f"sleep_period_ms must be an int >= 1, got {self.sleep_period_ms!r}")
        if not (isinstance(self.listen_window_ms, int)
                and 0 <= self.listen_window_ms <= self.sleep_period_ms):
            raise ValueError("listen_window_ms must be an int in 0..sleep_period_ms")
        for name in ("sleep_phase_ms", "linger_ms", "response_delay_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")

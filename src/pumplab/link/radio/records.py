"""The value types of the medium: participants, receptions, ground truth, records.

Three audiences, kept apart:

* **Devices** see a :class:`Reception`: the bytes, the channel, the RSSI and
  the timing, as a radio chip reports them.  It also carries a
  :class:`Provenance` token, which is simulation bookkeeping: an opaque object a
  device may *pass along* (a pump intake copies it into the delivery records it
  makes from the frame) but must never inspect or branch on.  A real radio
  adapter has no such token; code that behaves differently with and without
  one is a bug.
* **The lab** turns a token into the truth with
  :meth:`pumplab.link.radio.medium.Medium.resolve`, which returns a
  :class:`TransmissionTruth`: the transmission's id and its true transmitter.
  That is how insulin is attributed to attacker frames.
* **Observers** (the capture writer, the lab's radio log) get a
  :class:`FrameRecord` per transmission when its fate is known, with every
  receiver's RSSI and outcome, and a :class:`JamRecord` per jamming burst.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "FrameRecord",
    "FrameStart",
    "JamRecord",
    "Participant",
    "Provenance",
    "Reception",
    "ReceptionHandler",
    "RxOutcome",
    "RxStatus",
    "TransmissionTruth",
    "TransmitReport",
]


@dataclass(frozen=True, slots=True)
class Participant:
    """A radio on the medium: a device, an attacker, a guardian.

    ``position_m`` is (x, y) in metres.  ``eirp_dbm`` is the power it radiates
    (antenna gain included).  ``worn_on`` names the body it is worn on (None for
    an off-body radio: a handheld, a bridge on a table, an attacker); each
    distinct body a link touches adds body shadowing.  ``sensitivity_dbm``
    overrides the PHY's default receiver sensitivity; ``rx_gain_dbi`` is the
    receive antenna gain (an attacker's Yagi).
    """

    name: str
    position_m: tuple[float, float]
    eirp_dbm: float
    worn_on: str | None = None
    sensitivity_dbm: float | None = None
    rx_gain_dbi: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a participant needs a non-empty name")
        position = tuple(self.position_m)
        if len(position) != 2 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in position
        ):
            raise ValueError(f"position_m must be two finite numbers, got {self.position_m!r}")
        # Stored as a tuple of floats whatever sequence was given (frozen, hashable).
        object.__setattr__(self, "position_m", (float(position[0]), float(position[1])))
        for name in ("eirp_dbm", "rx_gain_dbi"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if self.sensitivity_dbm is not None and not math.isfinite(self.sensitivity_dbm):
            raise ValueError(f"sensitivity_dbm must be finite, got {self.sensitivity_dbm!r}")
        if self.worn_on is not None and not self.worn_on:
            raise ValueError("worn_on is a body name or None")

    @property
    def on_body(self) -> bool:
        return self.worn_on is not None


@dataclass(frozen=True, slots=True)
class TransmissionTruth:
    """Ground truth of one transmission: who really sent it, and when.

    ``tx_id`` is ``"<transmitter>#<n>"`` with n counting that transmitter's
    transmissions from 1, so the same frame has the same id in two runs that
    differ only by other participants.
    """

    tx_id: str
    transmitter: str
    channel: str
    t_ms: int


@dataclass(frozen=True, slots=True)
class Provenance:
    """Opaque simulation bookkeeping attached to a reception.

    Devices may store and pass it along; they must not read it or branch on it.
    The lab resolves it with :meth:`Medium.resolve
    <pumplab.link.radio.medium.Medium.resolve>`.
    """

    _medium_serial: int = field(repr=False)
    _truth: TransmissionTruth = field(repr=False)


@dataclass(frozen=True, slots=True)
class Reception:
    """A frame a radio received, as a radio chip would report it.

    ``start_us``/``end_us``: the repetition's time on the air (simulation µs).
    ``rssi_dbm``: received signal strength, to 0.1 dB.
    """

    channel: str
    air: bytes
    rssi_dbm: float
    start_us: int
    end_us: int
    provenance: Provenance = field(repr=False, compare=False)


ReceptionHandler = Callable[[Reception], None]


@dataclass(frozen=True, slots=True)
class TransmitReport:
    """What a radio knows about its own transmission once it has started it.

    ``end_ms`` is the first millisecond after the last repetition left the air
    (a driver starts its reply timeout from there).
    """

    start_ms: int
    end_ms: int
    airtime_us: int
    repeat: int
    interval_ms: int


@dataclass(frozen=True, slots=True)
class FrameStart:
    """What a reactive jammer's trigger sees of a frame: its start and the bytes so far.

    ``air_prefix`` holds the air bytes received completely by the jammer's
    reaction time; the rest of the frame is not yet on the air.
    """

    channel: str
    start_us: int
    rssi_dbm: float
    air_prefix: bytes


class RxStatus(enum.Enum):
    """What became of a transmission at one receiver (ground truth)."""

    DELIVERED = "delivered"
    NOT_LISTENING = "not_listening"   # asleep, or on a window that missed every preamble
    TRANSMITTING = "transmitting"     # half-duplex: the receiver was on the air itself
    COLLISION = "collision"           # overlapping frames, not strong enough to capture
    JAMMED = "jammed"                 # bit errors with jamming noise present
    BIT_ERRORS = "bit_errors"         # bit errors from noise alone (weak signal)


@dataclass(frozen=True, slots=True)
class RxOutcome:
    """One receiver's view of a transmission: its RSSI and whether it got the frame.

    ``rssi_dbm`` is the signal power at the receiver (0.1 dB), whether or not it
    was listening.  ``deliveries`` counts the receptions handed to the radio
    (a burst can deliver its first caught and its last repetition).
    """

    rssi_dbm: float
    ok: bool
    status: RxStatus
    deliveries: int = 0


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """Ground truth of one transmission once its fate is known (capture, lab)."""

    truth: TransmissionTruth
    tx_pos_m: tuple[float, float]
    power_dbm: float
    air: bytes
    repeat: int
    interval_ms: int
    rx: Mapping[str, RxOutcome]


@dataclass(frozen=True, slots=True)
class JamRecord:
    """Ground truth of a jamming transmission.

    ``reactive_to`` is the id of the transmission a reactive jammer answered
    (None for continuous jamming).  A reactive jam covers each repetition of
    that transmission from ``start_ms`` on.
    """

    jammer: str
    channel: str
    start_us: int
    duration_us: int
    power_dbm: float
    position_m: tuple[float, float]
    reactive_to: str | None = None

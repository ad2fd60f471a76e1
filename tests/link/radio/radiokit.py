"""Shared helpers for the radio-medium tests: quiet channels, participants, inboxes."""

from __future__ import annotations

from dataclasses import dataclass, field

from pumplab.clock import EventClock
from pumplab.link.radio import (
    LEGACY_OOK,
    Channel,
    FrameRecord,
    Medium,
    Participant,
    Propagation,
    Reception,
)
from pumplab.link.radio.defaults import LEGACY_DEVICE_EIRP_DBM

# The legacy PHY on a channel without shadowing: received powers are exactly the
# link budget, so physics tests (capture ratio, half-duplex) are deterministic.
QUIET = Channel("quiet-916.5", LEGACY_OOK, 916.5e6, Propagation(shadowing_sigma_db=0.0))
OTHER = Channel("other-916.5", LEGACY_OOK, 916.5e6, Propagation(shadowing_sigma_db=0.0))

SHORT_AIR = bytes([0xA7, 0x12, 0x34, 0x56, 0x5D, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00])
LONG_AIR = bytes(range(1, 108)) + b"\x00"


def quiet_medium(seed: int = 1, *channels: Channel) -> tuple[EventClock, Medium]:
    clock = EventClock()
    return clock, Medium(clock, seed=seed, channels=channels or (QUIET, OTHER))


def device(name: str, x: float, y: float = 0.0, *, eirp_dbm: float = LEGACY_DEVICE_EIRP_DBM,
           worn_on: str | None = None, rx_gain_dbi: float = 0.0) -> Participant:
    return Participant(name, (x, y), eirp_dbm, worn_on=worn_on, rx_gain_dbi=rx_gain_dbi)


@dataclass
class Inbox:
    """Collects what a radio receives."""

    got: list[Reception] = field(default_factory=list)

    def __call__(self, reception: Reception) -> None:
        self.got.append(reception)


@dataclass
class Records:
    """Collects the medium's frame records."""

    frames: list[FrameRecord] = field(default_factory=list)

    def __call__(self, record: FrameRecord) -> None:
        self.frames.append(record)

    def by_id(self) -> dict[str, FrameRecord]:
        return {f.truth.tx_id: f for f in self.frames}

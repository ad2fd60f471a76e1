"""The `Radio` interface: what a protocol layer needs from a half-duplex radio.

The legacy MiniMed link, the secure link, attackers and guardians talk to the
air only through this interface.  :class:`~pumplab.link.radio.medium.MediumRadio`
implements it on the simulated medium; a real adapter (a RileyLink-class
serial-attached CC1110, docs/radio.md "A real adapter") could implement it
later without any change to the layers above.

The interface is deliberately small: tune, listen/sleep, transmit (with a
repeat count and interval for wake-up bursts), stop, and a handler that
receives :class:`~pumplab.link.radio.records.Reception` objects with RSSI.
Time is not part of it: the caller schedules on its :class:`~pumplab.clock.Clock`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pumplab.link.radio.records import ReceptionHandler, TransmitReport
from pumplab.link.radio.schedule import ListenSchedule

__all__ = ["Radio"]


@runtime_checkable
class Radio(Protocol):
    """A half-duplex packet radio."""

    @property
    def name(self) -> str:
        """The radio's name on the air (ground truth only; never sent)."""
        ...

    def tune(self, channel: str) -> None:
        """Listen on ``channel`` (a real adapter programs its frequency registers)."""
        ...

    def listen(self, schedule: ListenSchedule) -> None:
        """Receive according to ``schedule`` (:data:`ALWAYS`, :data:`NEVER`, a duty cycle)."""
        ...

    def sleep(self) -> None:
        """Stop receiving (same as ``listen(NEVER)``)."""
        ...

    def set_handler(self, handler: ReceptionHandler | None) -> None:
        """Call ``handler`` with every frame received; None drops them."""
        ...

    def transmit(
        self,
        air: bytes,
        *,
        channel: str | None = None,
        repeat: int = 1,
        interval_ms: int = 0,
        power_dbm: float | None = None,
    ) -> TransmitReport:
        """Send ``air`` now, ``repeat`` times, one start every ``interval_ms``.

        The radio cannot receive while a repetition is on the air, and cannot
        start a transmission while another one (or a burst) is under way.
        """
        ...

    def stop(self) -> None:
        """End the current burst after the repetition on the air (and any jamming)."""
        ...

    def airtime_us(self, air_bytes: int, channel: str | None = None) -> int:
        """Time on air of one frame of ``air_bytes`` bytes on ``channel``."""
        ...

"""The linked blood-glucose meter (a Contour Next Link / BD Paradigm Link kind).

When the person checks their BG, the meter shows the result and, if it is in
its reporting range, sends it to the pump as a :class:`MeterReading` (MiniMed
meter packet 0xA5) so the bolus wizard can use it.  Results outside the range
read ``LO``/``HI`` and are not sent, as real linked meters do.

What the meter reads is given by ``measure()`` (the world wires it to the
ISO 15197 meter error model of :mod:`pumplab.physiology.meter` applied to the
patient's plasma glucose); this module is the device around it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pumplab.clock import Clock
from pumplab.devices.peripheral import Peripheral
from pumplab.link.base import Link
from pumplab.link.messages import MeterReading

__all__ = ["Meter", "MeterDisplay"]


@dataclass(frozen=True, slots=True)
class MeterDisplay:
    """What the meter's screen shows after a check."""

    bg_mg_dl: float | None  # None when the screen reads LO or HI
    text: str  # "123", "LO" or "HI"
    sent_to_pump: bool


class Meter(Peripheral):
    """A fingerstick meter that sends its results to one linked pump."""

    def __init__(
        self,
        address: str,
        pump_address: str,
        clock: Clock,
        link: Link,
        measure: Callable[[], tuple[float | None, str]],
        *,
        send_to_pump: bool = True,
    ) -> None:
        super().__init__(address, pump_address, clock, link)
        self._measure = measure
        self.send_to_pump = send_to_pump
        self.checks = 0

    def check_bg(self) -> MeterDisplay:
        """A fingerstick: show the result and send it to the pump when in range."""
        self.checks += 1
        value, text = self._measure()
        sent = False
        if value is not None and self.send_to_pump:
            self._send(MeterReading(bg_mg_dl=value, measured_at_ms=self._clock.now_ms))
            sent = True
        return MeterDisplay(value, text, sent)

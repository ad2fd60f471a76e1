"""What every companion device of the pump shares: an address, its pump, a link.

A peripheral (CGM transmitter, meter, remote, controller app) knows its own
address and its pump's, sends only through its :class:`~pumplab.link.base.Link`
and reads time only from its :class:`~pumplab.clock.Clock`.  By default it
keeps the pump's last reply and ignores everything else; devices that act on
replies override :meth:`Peripheral._on_envelope`.
"""

from __future__ import annotations

from pumplab.clock import Clock
from pumplab.link.base import Envelope, Link
from pumplab.link.messages import Message

__all__ = ["Peripheral"]


class Peripheral:
    """A device that talks to one pump over a link."""

    def __init__(self, address: str, pump_address: str, clock: Clock, link: Link) -> None:
        self.address = address
        self.pump_address = pump_address
        self._clock = clock
        self._link = link
        self.last_reply: Message | None = None
        self._attached = False

    def start(self) -> None:
        """Attach to the link so the pump's replies reach this device."""
        if self._attached:
            raise RuntimeError(f"{self.address} already started")
        self._attached = True
        self._link.attach(self.address, self._on_envelope)

    def stop(self) -> None:
        """Detach from the link (a phone app closed, a device switched off)."""
        if self._attached:
            self._link.detach(self.address)
            self._attached = False

    def _send(self, message: Message) -> None:
        self._link.send(self.address, self.pump_address, message)

    def _on_envelope(self, envelope: Envelope) -> None:
        if envelope.src == self.pump_address:
            self.last_reply = envelope.message

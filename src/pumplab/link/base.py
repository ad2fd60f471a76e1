"""The link interface: how devices send typed messages to each other.

A device knows its own address, the addresses of its peers and a
:class:`Link`; it never calls another device directly.  A link takes a message
from a sender and, later (on the simulation clock) or never (loss), hands an
:class:`Envelope` to the receiver attached at the destination address.

Addresses are strings ``"<kind>:<id>"``, e.g. ``"pump:665455"`` (kind and
serial number), ``"cgm:SN1234"``, ``"meter:C0FFEE"``, ``"remote:123456"``,
``"app:phone"``.  What the ``src`` of an envelope is worth depends on the link:
the in-memory link and the legacy radio carry whatever the sender claims (the
legacy MiniMed protocol authenticates nothing); the secure link sets it from
the authenticated session.  ``authenticated`` says which.

Implementations: :class:`pumplab.link.memory.InMemoryLink` (this issue); the
legacy MiniMed radio and the secure link plug in behind the same interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pumplab.link.messages import Message

__all__ = ["Envelope", "Link", "Receiver", "address_kind"]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message in transit, as the receiver sees it."""

    src: str
    dst: str
    message: Message
    sent_at_ms: int
    received_at_ms: int
    # True only when the link proved ``src`` (the secure link); the in-memory
    # link and the legacy radio carry the sender's claim.
    authenticated: bool = False


Receiver = Callable[[Envelope], None]


@runtime_checkable
class Link(Protocol):
    """Carries messages between attached devices."""

    def attach(self, address: str, receiver: Receiver) -> None:
        """Deliver envelopes addressed to ``address`` to ``receiver``."""
        ...

    def detach(self, address: str) -> None:
        """Stop delivering to ``address`` (a device switched off or removed)."""
        ...

    def send(self, src: str, dst: str, message: Message) -> None:
        """Send ``message``; delivery happens later, or never if it is lost."""
        ...


def address_kind(address: str) -> str:
    """The kind part of an address: ``"pump:665455"`` -> ``"pump"``."""
    kind, _, _ = address.partition(":")
    return kind

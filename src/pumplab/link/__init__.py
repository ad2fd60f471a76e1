"""How devices talk: typed messages, the link interface, and its implementations.

- :mod:`pumplab.link.messages` — the frozen message dataclasses.
- :mod:`pumplab.link.base` — :class:`Envelope` and the :class:`Link` protocol.
- :mod:`pumplab.link.memory` — the in-memory link (loss and delay).

The legacy MiniMed radio codec and the secure link (later issues) live here
too and plug in behind :class:`Link` without changes to device code.
"""

from pumplab.link.base import Envelope, Link, Receiver, address_kind

__all__ = ["Envelope", "Link", "Receiver", "address_kind"]

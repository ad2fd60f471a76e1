"""An in-memory link with configurable loss and delay.

It stands in for the air until the radio medium exists: every message sent is
either lost (with probability ``loss``, drawn from the link's own random
stream) or delivered after ``delay_ms`` (plus up to ``jitter_ms``) on the
simulation clock.  Taps see every message sent, delivered or not: tests and,
later, passive attackers use them to watch the traffic.

Sending to an address nobody is attached to is not an error at the sender (a
radio cannot know whether anyone listens): the message is counted as
undeliverable and dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pumplab.clock import Clock
from pumplab.link.base import Envelope, Receiver
from pumplab.link.messages import Message

__all__ = ["InMemoryLink", "LinkStats"]

Tap = Callable[[Envelope, bool], None]


@dataclass(slots=True)
class LinkStats:
    """Counters of what the link did."""

    sent: int = 0
    delivered: int = 0
    lost: int = 0
    undeliverable: int = 0


class InMemoryLink:
    """A :class:`~pumplab.link.base.Link` that passes message objects through the clock."""

    def __init__(
        self,
        clock: Clock,
        *,
        rng: np.random.Generator | None = None,
        loss: float = 0.0,
        delay_ms: int = 5,
        jitter_ms: int = 0,
    ) -> None:
        if not 0.0 <= loss <= 1.0:
            raise ValueError(f"loss must be within 0..1, got {loss}")
        if delay_ms < 0 or jitter_ms < 0:
            raise ValueError("delay_ms and jitter_ms must be >= 0")
        if (loss > 0.0 or jitter_ms > 0) and rng is None:
            raise ValueError("a lossy or jittery link needs its own random generator (rng)")
        self._clock = clock
        self._rng = rng
        self._loss = loss
        self._delay_ms = delay_ms
        self._jitter_ms = jitter_ms
        self._receivers: dict[str, Receiver] = {}
        self._taps: list[Tap] = []
        # Per-destination drop filters (tests: "lose every Ack to the app").
        self._filters: list[Callable[[Envelope], bool]] = []
        self.stats = LinkStats()

    def attach(self, address: str, receiver: Receiver) -> None:
        if address in self._receivers:
            raise ValueError(f"address {address!r} is already attached")
        self._receivers[address] = receiver

    def detach(self, address: str) -> None:
        self._receivers.pop(address, None)

    def add_tap(self, tap: Tap) -> None:
        """Call ``tap(envelope, will_be_delivered)`` for every message sent."""
        self._taps.append(tap)

    def add_drop_filter(self, drop: Callable[[Envelope], bool]) -> None:
        """Drop every envelope for which ``drop(envelope)`` is True (fault injection)."""
        self._filters.append(drop)

    def send(self, src: str, dst: str, message: Message) -> None:
        now = self._clock.now_ms
        delay = self._delay_ms
        if self._jitter_ms and self._rng is not None:
            delay += int(self._rng.integers(0, self._jitter_ms + 1))
        envelope = Envelope(src, dst, message, sent_at_ms=now, received_at_ms=now + delay)
        self.stats.sent += 1
        lost = bool(self._loss and self._rng is not None and self._rng.random() < self._loss)
        lost = lost or any(drop(envelope) for drop in self._filters)
        for tap in self._taps:
            tap(envelope, not lost)
        if lost:
            self.stats.lost += 1
            return
        self._clock.schedule_at(
            envelope.received_at_ms,
            lambda: self._deliver(envelope),
            # type(...).__name__, not message.type_name: a forged or garbled
            # object need not be a Message, and the receiver must get to refuse it.
            label=f"link {src}->{dst} {type(message).__name__}",
        )

    def _deliver(self, envelope: Envelope) -> None:
        receiver = self._receivers.get(envelope.dst)
        if receiver is None:
            self.stats.undeliverable += 1
            return
        self.stats.delivered += 1
        receiver(envelope)

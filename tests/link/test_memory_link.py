"""The in-memory link: delay, loss, taps, unknown addresses."""

import numpy as np
import pytest

from pumplab.clock import EventClock
from pumplab.link import Envelope, Link
from pumplab.link.memory import InMemoryLink
from pumplab.link.messages import BolusCommand, ReadStatusCommand


def test_message_arrives_after_the_delay() -> None:
    """Delivery happens on the clock, delay_ms after sending."""
    clock = EventClock()
    link = InMemoryLink(clock, delay_ms=7)
    got: list[Envelope] = []
    link.attach("pump:1", got.append)
    link.send("app:x", "pump:1", BolusCommand(1.0, command_id=3))
    clock.run_until(6)
    assert got == []
    clock.run_until(7)
    assert got[0].message == BolusCommand(1.0, command_id=3)
    assert (got[0].src, got[0].sent_at_ms, got[0].received_at_ms) == ("app:x", 0, 7)
    assert got[0].authenticated is False


def test_loss_rate_matches_configuration() -> None:
    """About `loss` of the messages vanish, drawn from the link's own stream."""
    clock = EventClock()
    link = InMemoryLink(clock, rng=np.random.default_rng(1), loss=0.3)
    got: list[Envelope] = []
    link.attach("pump:1", got.append)
    for _ in range(2000):
        link.send("a:1", "pump:1", ReadStatusCommand())
    clock.run_until(1000)
    assert 0.27 < link.stats.lost / 2000 < 0.33
    assert len(got) == link.stats.delivered == 2000 - link.stats.lost


def test_taps_see_lost_and_delivered_messages() -> None:
    """A tap (a sniffer) sees everything sent, with whether it was delivered."""
    clock = EventClock()
    link = InMemoryLink(clock)
    link.add_drop_filter(lambda env: isinstance(env.message, BolusCommand))
    seen: list[tuple[str, bool]] = []
    link.add_tap(lambda env, delivered: seen.append((env.message.type_name, delivered)))
    link.send("a:1", "pump:1", BolusCommand(1.0))
    link.send("a:1", "pump:1", ReadStatusCommand())
    assert seen == [("BolusCommand", False), ("ReadStatusCommand", True)]


def test_sending_to_nobody_is_counted_not_raised() -> None:
    """A radio cannot know whether anyone listens."""
    clock = EventClock()
    link = InMemoryLink(clock)
    link.send("a:1", "pump:404", ReadStatusCommand())
    clock.run_until(100)
    assert link.stats.undeliverable == 1


def test_lossy_link_requires_its_own_generator() -> None:
    """Randomness must come from an injected stream."""
    with pytest.raises(ValueError, match="random generator"):
        InMemoryLink(EventClock(), loss=0.1)
    with pytest.raises(ValueError, match="loss"):
        InMemoryLink(EventClock(), rng=np.random.default_rng(0), loss=1.5)


def test_double_attach_is_refused() -> None:
    """One receiver per address."""
    link = InMemoryLink(EventClock())
    link.attach("pump:1", lambda env: None)
    with pytest.raises(ValueError, match="already attached"):
        link.attach("pump:1", lambda env: None)


def test_in_memory_link_satisfies_the_link_protocol() -> None:
    """Devices can take an InMemoryLink wherever they take a Link."""
    assert isinstance(InMemoryLink(EventClock()), Link)

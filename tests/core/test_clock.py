"""The event clock: ordering, cancellation, no time travel."""

import pytest

from pumplab.clock import Clock, EventClock


def test_events_run_in_time_then_scheduling_order() -> None:
    """Events run by time; ties run in the order they were scheduled."""
    clock = EventClock()
    seen: list[str] = []
    clock.schedule_at(20, lambda: seen.append("b"))
    clock.schedule_at(10, lambda: seen.append("a"))
    clock.schedule_at(20, lambda: seen.append("c"))
    clock.run_until(100)
    assert seen == ["a", "b", "c"]
    assert clock.now_ms == 100


def test_now_is_the_event_time_inside_a_callback() -> None:
    """A callback sees the clock at its own scheduled time."""
    clock = EventClock()
    times: list[int] = []
    clock.schedule_at(42, lambda: times.append(clock.now_ms))
    clock.run_until(1000)
    assert times == [42]


def test_event_scheduled_for_now_by_a_callback_runs_in_the_same_call() -> None:
    """Zero-delay follow-ups run before run_until returns, after queued peers."""
    clock = EventClock()
    seen: list[str] = []
    clock.schedule_at(5, lambda: clock.schedule_in(0, lambda: seen.append("follow-up")))
    clock.schedule_at(5, lambda: seen.append("peer"))
    clock.run_until(5)
    assert seen == ["peer", "follow-up"]


def test_events_after_the_horizon_wait() -> None:
    """run_until leaves later events queued."""
    clock = EventClock()
    seen: list[int] = []
    clock.schedule_at(11, lambda: seen.append(11))
    clock.run_until(10)
    assert seen == [] and clock.pending() == 1
    clock.run_until(11)
    assert seen == [11]


def test_cancelled_event_does_not_run() -> None:
    """A cancelled handle never fires."""
    clock = EventClock()
    seen: list[int] = []
    handle = clock.schedule_in(10, lambda: seen.append(1))
    clock.cancel(handle)
    clock.run_until(100)
    assert seen == [] and handle.cancelled and clock.next_event_ms() is None


def test_scheduling_in_the_past_is_refused() -> None:
    """The clock never runs backwards, and neither can events."""
    clock = EventClock(start_ms=100)
    with pytest.raises(ValueError, match="past"):
        clock.schedule_at(99, lambda: None)
    with pytest.raises(ValueError, match="backwards"):
        clock.run_until(50)


def test_event_clock_satisfies_the_clock_protocol() -> None:
    """Devices can take an EventClock wherever they take a Clock."""
    assert isinstance(EventClock(), Clock)

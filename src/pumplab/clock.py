"""Simulation time: the discrete-event clock every device reads.

Device code never reads the wall clock (see docs/architecture.md): it is given
a :class:`Clock` and asks it for the time and for wake-ups.  The same pump can
then run under the simulator, in a unit test, or later behind a real radio
adapter with a real-time clock.

:class:`EventClock` is the simulator's implementation: time is an integer
number of milliseconds since the start of the run; events scheduled for the
same millisecond run in the order they were scheduled, so a run is exactly
reproducible.  This module does no I/O and knows nothing about patients or
devices; the run loop (:mod:`pumplab.sim`) interleaves it with physiology.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["MS_PER_HOUR", "MS_PER_MINUTE", "MS_PER_SECOND", "Clock", "EventClock", "EventHandle"]

MS_PER_SECOND = 1_000
MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000

Callback = Callable[[], None]


@dataclass(eq=False, slots=True)
class EventHandle:
    """A scheduled event; pass it to :meth:`Clock.cancel` to call it off."""

    at_ms: int
    label: str
    callback: Callback | None = field(repr=False)

    @property
    def cancelled(self) -> bool:
        return self.callback is None


@runtime_checkable
class Clock(Protocol):
    """What a device may know about time: now, and wake me up later."""

    @property
    def now_ms(self) -> int: ...

    def schedule_at(self, at_ms: int, callback: Callback, *, label: str = "") -> EventHandle: ...

    def schedule_in(self, delay_ms: int, callback: Callback, *, label: str = "") -> EventHandle: ...

    def cancel(self, handle: EventHandle) -> None: ...


class EventClock:
    """A deterministic discrete-event clock in integer milliseconds.

    ``run_until(t)`` runs every event due at or before ``t`` in (time, order of
    scheduling) order, then leaves the clock at ``t``.  Callbacks may schedule
    further events, including at the current millisecond (they run in the same
    ``run_until`` call, after those already queued for that millisecond).
    """

    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = int(start_ms)
        self._queue: list[tuple[int, int, EventHandle]] = []
        self._order = itertools.count()

    @property
    def now_ms(self) -> int:
        return self._now_ms

    def schedule_at(self, at_ms: int, callback: Callback, *, label: str = "") -> EventHandle:
        at_ms = int(at_ms)
        if at_ms < self._now_ms:
            raise ValueError(f"cannot schedule {label or 'an event'} in the past: "
                             f"{at_ms} ms < now {self._now_ms} ms")
        handle = EventHandle(at_ms, label, callback)
        heapq.heappush(self._queue, (at_ms, next(self._order), handle))
        return handle

    def schedule_in(self, delay_ms: int, callback: Callback, *, label: str = "") -> EventHandle:
        if delay_ms < 0:
            raise ValueError(f"delay must be >= 0 ms, got {delay_ms}")
        return self.schedule_at(self._now_ms + int(delay_ms), callback, label=label)

    def cancel(self, handle: EventHandle) -> None:
        # Lazy deletion: the entry stays in the heap and is skipped when due.
        handle.callback = None

    def next_event_ms(self) -> int | None:
        """Time of the earliest pending (not cancelled) event, or None."""
        while self._queue and self._queue[0][2].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    def run_until(self, t_ms: int) -> int:
        """Run all events due at or before ``t_ms``; returns how many ran."""
        t_ms = int(t_ms)
        if t_ms < self._now_ms:
            raise ValueError(f"cannot run backwards: {t_ms} ms < now {self._now_ms} ms")
        ran = 0
        queue = self._queue
        while queue and queue[0][0] <= t_ms:
            at_ms, _, handle = heapq.heappop(queue)
            callback = handle.callback
            if callback is None:
                continue
            handle.callback = None
            self._now_ms = at_ms
            callback()
            ran += 1
        self._now_ms = t_ms
        return ran

    def pending(self) -> int:
        """Number of events still queued (cancelled ones excluded)."""
        return sum(1 for _, _, h in self._queue if not h.cancelled)

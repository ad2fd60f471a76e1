"""Bounded refusals: what a flood of messages the pump will not serve may cost it.

A pump must refuse what it does not serve (an unpaired sender, in later issues an
unbound or unauthenticated one), but a refusal that is recorded and answered one by one
costs a history record, a transmission and battery each time: an attacker with a
radio could then empty the battery and fill the history for free (issue 9: 100,000
refused status reads at 100 a minute gave BATTERY_OUT and 100,654 records).
:class:`RefusalLimiter` bounds that cost, per *sender class* (a name the caller
chooses: ``"unpaired"``, ``"unlinked"``, ``"unauthenticated"``...):

* **answers**: at most ``answers_per_window`` refusals per class per window are
  answered (:attr:`Admission.answer`); the rest are dropped silently.  A device that
  is merely not paired still learns why within the window; a flood gets no echo.
* **records**: nothing is recorded per refusal; each window with refusals yields one
  :class:`RefusalSummary` per class (counts, the busiest senders, message types and
  reasons, whether a flood was on), which the caller writes as one record.
* **alerts**: a class whose refusals in one window exceed ``flood_threshold`` starts a
  *flood episode*; :attr:`Admission.flood_started` is True for exactly the refusal that
  starts it, so the caller raises one alert per episode.  The episode ends after
  ``quiet_windows`` whole windows without exceeding the threshold.

Windows are aligned to multiples of ``window_ms`` of the time the caller passes in
(the pump's monotonic device time).  Memory is bounded whatever the senders do: per
class and window at most ``max_keys`` distinct senders, message types and reasons are
counted by name, the rest together.

Pure: time comes in as an argument, nothing is read, written or sent here, and
nothing depends on the message classes (callers pass a type *name* and a reason
*text*), so the same component serves the pump today and the secure link's unbound or
unauthenticated senders later.  It deliberately does not decide *who* is refused: the
caller classifies senders; it does not charge battery either (the pump's cost model
does, from :attr:`Admission.answer` and the summaries it writes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pumplab.clock import MS_PER_MINUTE
from pumplab.devices.history import JSONValue

__all__ = ["Admission", "RefusalLimiter", "RefusalSummary"]

#: Label under which counts beyond ``max_keys`` distinct names are gathered.
OTHERS = "(others)"


@dataclass(frozen=True, slots=True)
class Admission:
    """What to do with one refused message."""

    answer: bool  # send the refusal to its sender (within the window's answer budget)
    flood_started: bool  # this refusal started a flood episode of its class: alert once


@dataclass(frozen=True, slots=True)
class RefusalSummary:
    """The refusals of one sender class in one window, for one history record.

    ``top_senders``, ``types`` and ``reasons`` are ``(name, count)`` pairs, most
    frequent first (names are the caller's, as given: sanitise them before).  Pairs
    rather than a mapping because the names come from the senders: a mapping key of
    an attacker's choosing could trip a store's rules on field names.
    """

    sender_class: str
    from_ms: int
    to_ms: int
    refused: int
    answered: int
    senders: int  # distinct senders counted (at most max_keys; see more_senders)
    more_senders: bool  # more distinct senders than were counted by name
    top_senders: tuple[tuple[str, int], ...]
    types: tuple[tuple[str, int], ...]
    reasons: tuple[tuple[str, int], ...]
    flood: bool  # a flood episode of this class was on during the window

    def as_record(self) -> dict[str, JSONValue]:
        """The ``refusal_summary`` record's data (docs/pump.md, "Refusals")."""
        def pairs(items: tuple[tuple[str, int], ...]) -> JSONValue:
            return [[name, count] for name, count in items]

        return {
            "sender_class": self.sender_class, "from_device_ms": self.from_ms,
            "to_device_ms": self.to_ms, "refused": self.refused, "answered": self.answered,
            "senders": self.senders, "more_senders": self.more_senders,
            "top_senders": pairs(self.top_senders), "types": pairs(self.types),
            "reasons": pairs(self.reasons), "flood": self.flood,
        }


@dataclass(slots=True)
class _Window:
    start_ms: int
    refused: int = 0
    answered: int = 0
    senders: Counter[str] = field(default_factory=Counter)
    types: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    more_senders: bool = False
    flood: bool = False


@dataclass(slots=True)
class _Class:
    window: _Window | None = None
    last_over_ms: int | None = None  # start of the last window above the flood threshold


class RefusalLimiter:
    """Counts refusals per sender class and window; decides answers and flood alerts.

    Defaults: one-minute windows, 2 answers per class and minute, a flood is more than
    10 refusals of one class in a minute, and it ends after 10 quiet minutes
    (pumplab's choices, docs/pump.md "Refusals").
    """

    def __init__(self, *, answers_per_window: int = 2, flood_threshold: int = 10,
                 window_ms: int = MS_PER_MINUTE, quiet_windows: int = 10,
                 max_keys: int = 16, top: int = 4) -> None:
        if answers_per_window < 0 or flood_threshold < 0:
            raise ValueError("answers_per_window and flood_threshold must be >= 0")
        if window_ms <= 0 or quiet_windows < 1 or max_keys < 1 or top < 1:
            raise ValueError("window_ms, quiet_windows, max_keys and top must be positive")
        self.answers_per_window = answers_per_window
        self.flood_threshold = flood_threshold
        self.window_ms = window_ms
        self.quiet_windows = quiet_windows
        self._max_keys = max_keys
        self._top = top
        self._classes: dict[str, _Class] = {}
        self._ready: list[RefusalSummary] = []

    # ------------------------------------------------------------------ queries

    def in_flood(self, sender_class: str, now_ms: int) -> bool:
        """Is a flood episode of ``sender_class`` on at ``now_ms``?"""
        state = self._classes.get(sender_class)
        return state is not None and self._flooding(state, self._start(now_ms))

    def next_due_ms(self) -> int | None:
        """When the earliest window with refusals ends (a summary is then due)."""
        ends = [s.to_ms for s in self._ready]
        ends += [c.window.start_ms + self.window_ms for c in self._classes.values()
                 if c.window is not None]
        return min(ends) if ends else None

    # ------------------------------------------------------------------ updates

    def admit(self, sender_class: str, sender: str, *, kind: str, reason: str,
              now_ms: int) -> Admission:
        """Count one refused message of ``sender_class`` from ``sender`` at ``now_ms``."""
        state = self._classes.setdefault(sender_class, _Class())
        start = self._start(now_ms)
        window = state.window
        if window is None or window.start_ms != start:
            if window is not None:
                self._close(sender_class, state)
            window = state.window = _Window(start, flood=self._flooding(state, start))
        window.refused += 1
        _count(window.senders, sender, self._max_keys)
        if sender not in window.senders:
            window.more_senders = True
        _count(window.types, kind, self._max_keys)
        _count(window.reasons, reason, self._max_keys)
        answer = window.answered < self.answers_per_window
        if answer:
            window.answered += 1
        started = False
        if window.refused > self.flood_threshold:
            started = not self._flooding(state, start)
            state.last_over_ms = start
            window.flood = True
        return Admission(answer, started)

    def due(self, now_ms: int) -> list[RefusalSummary]:
        """The summaries of every window that ended at or before ``now_ms``, oldest first
        (each is returned once)."""
        for name, state in self._classes.items():
            w = state.window
            if w is not None and w.start_ms + self.window_ms <= now_ms:
                self._close(name, state)
        out = sorted((s for s in self._ready if s.to_ms <= now_ms),
                     key=lambda s: (s.from_ms, s.sender_class))
        self._ready = [s for s in self._ready if s.to_ms > now_ms]
        return out

    # ------------------------------------------------------------------ internals

    def _start(self, now_ms: int) -> int:
        return now_ms - now_ms % self.window_ms

    def _flooding(self, state: _Class, window_start: int) -> bool:
        """On if a window within the last ``quiet_windows`` (this one included) was over."""
        last = state.last_over_ms
        return last is not None and window_start - last <= self.quiet_windows * self.window_ms

    def _close(self, name: str, state: _Class) -> None:
        w = state.window
        assert w is not None
        state.window = None
        self._ready.append(RefusalSummary(
            name, w.start_ms, w.start_ms + self.window_ms, w.refused, w.answered,
            sum(1 for s in w.senders if s != OTHERS), w.more_senders,
            tuple(w.senders.most_common(self._top)), tuple(w.types.most_common(self._top)),
            tuple(w.reasons.most_common(self._top)), w.flood))


def _count(counter: Counter[str], name: str, max_keys: int) -> None:
    """Count ``name``; beyond ``max_keys`` distinct names, count it under :data:`OTHERS`."""
    if name in counter or len(counter) < max_keys:
        counter[name] += 1
    else:
        counter[OTHERS] += 1

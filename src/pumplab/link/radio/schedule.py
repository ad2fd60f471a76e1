"""When a receiver listens: always, never, or on a duty cycle.

A radio's listen schedule is the receiver-side hook the medium asks "is this
radio listening, and when next?".  The medium only ever asks for the *next
listening window* from a time on, which lets it work out in closed form which
repetition of a long burst a duty-cycled receiver catches, without an event per
repetition (docs/radio.md, "Duty-cycled receivers and bursts").

The medium does not decide when a device sleeps: the protocol layer does (the
legacy link's state machine puts a sleeping Paradigm pump on
:data:`~pumplab.link.radio.defaults.PARADIGM_SLEEP_LISTEN` and an awake one on
:data:`ALWAYS`), by calling ``radio.listen(schedule)``.

Times are integer microseconds of simulation time (the clock's milliseconds ×
1000).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "ALWAYS",
    "FOREVER_US",
    "NEVER",
    "AlwaysListening",
    "DutyCycle",
    "ListenSchedule",
    "NeverListening",
    "listening_at",
]

# Far enough to stand for "no end" and small enough to stay exact in int arithmetic.
FOREVER_US = 1 << 62


@runtime_checkable
class ListenSchedule(Protocol):
    """Receiver-side hook: the listening windows of a radio."""

    def next_window_us(self, t_us: int) -> tuple[int, int] | None:
        """The first listening window ``[start, end)`` with ``end > t_us``, or None.

        ``start`` may be before ``t_us`` (the radio is listening at ``t_us``).
        """
        ...


@dataclass(frozen=True, slots=True)
class AlwaysListening:
    """The receiver is on (an awake pump, a RileyLink waiting for a reply, a sniffer)."""

    def next_window_us(self, t_us: int) -> tuple[int, int] | None:
        return (-FOREVER_US, FOREVER_US)


@dataclass(frozen=True, slots=True)
class NeverListening:
    """The receiver is off."""

    def next_window_us(self, t_us: int) -> tuple[int, int] | None:
        return None


@dataclass(frozen=True, slots=True)
class DutyCycle:
    """On for ``window_ms`` every ``period_ms``, the first window starting at ``phase_ms``.

    Windows are ``[phase + m·period, phase + m·period + window)`` for every
    integer m.  A receiver on a duty cycle also wakes on carrier: if a window
    opens while a frame is on the air after its preamble, the receiver stays on
    and can catch the next repetition of that frame (low-power listening as in
    CC1110 wake-on-radio with carrier sense; docs/radio.md).
    """

    period_ms: int
    window_ms: int
    phase_ms: int = 0

    def __post_init__(self) -> None:
        for name in ("period_ms", "window_ms", "phase_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"DutyCycle.{name} must be an integer, got {value!r}")
        if self.period_ms <= 0 or not 0 < self.window_ms <= self.period_ms:
            raise ValueError(
                f"DutyCycle needs period_ms > 0 and 0 < window_ms <= period_ms, "
                f"got {self.period_ms} and {self.window_ms}")

    def next_window_us(self, t_us: int) -> tuple[int, int] | None:
        period = self.period_ms * 1000
        window = self.window_ms * 1000
        phase = self.phase_ms * 1000
        m = (t_us - phase - window) // period + 1
        start = phase + m * period
        return (start, start + window)


ALWAYS = AlwaysListening()
NEVER = NeverListening()


def listening_at(schedule: ListenSchedule, t_us: int) -> bool:
    """Whether ``schedule`` is listening at ``t_us``."""
    window = schedule.next_window_us(t_us)
    return window is not None and window[0] <= t_us < window[1]

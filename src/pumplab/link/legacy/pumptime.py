"""The pump's wall-clock time as the MiniMed protocol carries it.

A Paradigm pump keeps a calendar clock with whole seconds and no time zone.
Two encodings carry it:

- in message bodies (read clock 0x70, set clock 0x40): hour, minute, second,
  the year as a big-endian 16-bit number, month, day (decocare ``commands.py``
  ``ReadRTC`` / ``SetRTC``; MinimedKit ``ReadTimeCarelinkMessageBody``,
  ``ChangeTimeCarelinkMessageBody``);
- in history records, five bytes with the month split over two bytes; that
  encoding lives with the records (:mod:`pumplab.link.legacy.history`).

pumplab's pump keeps its user clock as ``clock_ms``, milliseconds since the
Unix epoch (UTC), within 2000..2099; :meth:`PumpTime.from_clock_ms` and
:meth:`PumpTime.to_clock_ms` convert, dropping milliseconds as the pump does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from pumplab.errors import DecodeError

__all__ = ["PumpTime"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, order=True)
class PumpTime:
    """A calendar date and time to the second, as the pump shows it."""

    year: int
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0

    def __post_init__(self) -> None:
        try:
            datetime(self.year, self.month, self.day, self.hour, self.minute, self.second)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a valid date and time: {self!r} ({exc})") from None

    @classmethod
    def checked(cls, year: int, month: int, day: int, hour: int, minute: int,
                second: int) -> PumpTime:
        """Build from bytes off the air: DecodeError (not ValueError) if impossible."""
        try:
            return cls(year, month, day, hour, minute, second)
        except ValueError as exc:
            raise DecodeError(str(exc)) from None

    @classmethod
    def from_clock_ms(cls, clock_ms: int) -> PumpTime:
        """The pump time of ``clock_ms`` (ms since the Unix epoch, UTC)."""
        t = _EPOCH + timedelta(milliseconds=clock_ms)
        return cls(t.year, t.month, t.day, t.hour, t.minute, t.second)

    def to_clock_ms(self) -> int:
        """Milliseconds since the Unix epoch (UTC) of this time."""
        t = datetime(self.year, self.month, self.day, self.hour, self.minute, self.second,
                     tzinfo=UTC)
        return (t - _EPOCH) // timedelta(milliseconds=1)

    def isoformat(self) -> str:
        """``YYYY-MM-DDTHH:MM:SS``."""
        return (f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
                f"T{self.hour:02d}:{self.minute:02d}:{self.second:02d}")

"""``--start``: when a simulated run begins on the calendar, for ``run`` and ``patient simulate``.

A start is an ISO 8601 date and time with a UTC offset (``2026-01-05T07:30+01:00``;
``Z`` is UTC, and no offset means UTC), on a whole minute, between 2000-01-01
and 2099-12-31 in its own local time (the pump's clock range, as a
scenario's ``start`` in docs/lab.md).  A date alone is its midnight.  The
offset is fixed for the whole run: a daylight-saving change inside a run is
not modelled.

What a start gives:

* :func:`pump_clock_ms` -- the pump's user clock at minute 0, local wall time
  as ms since 1970 (a pump has no time zone; it shows the wall time it was set
  to), as :func:`pumplab.sim.scenario.start_clock_ms` computes it;
* :func:`minute_of_day` -- where in its day the run starts (meal plans and
  the person's day follow it);
* :func:`minute_times` -- the ISO 8601 text of each trace row's time, in the
  start's offset (``2026-01-05T07:30:00+01:00``), computed once per run and
  shared by every patient's rows.

Pure and light (standard library only), so ``pumplab --help`` stays fast.
Deliberately not here: time-zone names and their daylight-saving rules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import typer

from pumplab.cli._common import one_line

__all__ = [
    "EARLIEST_START",
    "LATEST_START",
    "START_ALLOWED",
    "minute_of_day",
    "minute_times",
    "parse_start",
    "pump_clock_ms",
]

#: First local wall time a start may have (the pump's clock range; docs/lab.md).
EARLIEST_START: Final = datetime(2000, 1, 1)
#: A start must lie before this local wall time.
LATEST_START: Final = datetime(2100, 1, 1)

START_ALLOWED: Final = (
    "an ISO 8601 date and time on a whole minute, e.g. 2026-01-05T07:30+01:00 "
    "(Z = UTC; no offset means UTC), 2000-01-01 to 2099-12-31"
)


def parse_start(value: object) -> datetime:
    """``--start`` as an aware :class:`datetime` (for ``typer.Option(parser=...)``).

    Raises ``typer.BadParameter`` (printed as ``--start: ... (allowed: ...)``)
    for text that is not such a time.
    """
    if isinstance(value, datetime):
        moment = value
        text = value.isoformat()
    else:
        text = str(value).strip()
        # fromisoformat would also take digits of other scripts; a time is ASCII.
        if not text.isascii():
            raise _bad(f"{text!r} is not an ISO 8601 date and time")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise _bad(f"{text!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.second or moment.microsecond:
        raise _bad(f"{text!r} is not on a whole minute (runs go minute by minute)")
    local = moment.replace(tzinfo=None)
    if not EARLIEST_START <= local < LATEST_START:
        raise _bad(f"{text!r} is outside the pump's clock")
    return moment


def _bad(message: str) -> Exception:
    return typer.BadParameter(one_line(f"{message} (allowed: {START_ALLOWED})"))


def pump_clock_ms(start: datetime) -> int:
    """The pump's user clock at ``start``: its local wall time as ms since 1970.

    07:30+01:00 is 07:30 on the pump (the same rule as a scenario's start).
    """
    local = start.replace(tzinfo=None).replace(tzinfo=UTC)
    return int(local.timestamp()) * 1000


def minute_of_day(start: datetime) -> int:
    """Minutes from local midnight to ``start`` (0..1439)."""
    return start.hour * 60 + start.minute


def minute_times(start: datetime, count: int) -> list[str]:
    """ISO 8601 times (seconds, the start's offset) of minutes ``0..count-1`` from ``start``.

    ``+00:00`` for UTC, as :meth:`datetime.isoformat` writes it.
    """
    step = timedelta(minutes=1)
    return [(start + m * step).isoformat(timespec="seconds") for m in range(count)]

"""Time-of-day schedules: basal patterns, carb ratios, sensitivities, BG targets.

A :class:`Schedule` is a tuple of :class:`Segment` s, each starting on a
30-minute boundary of the day (the Paradigm's granularity), the first at
00:00, strictly increasing, each lasting until the next one starts (the last
until midnight).  ``value_at(minute_of_day)`` looks the value up.

The builders (:func:`basal_schedule`, :func:`carb_ratio_schedule`,
:func:`isf_schedule`, :func:`bg_target_schedule`) validate *user settings*
and raise :class:`~pumplab.errors.SettingsError` naming the field — e.g.
``basal_pattern.std[3].rate_u_per_h`` — and the allowed range.  Their default
ranges are the Paradigm x23's (the ``X23_*`` constants; sources and what could
not be confirmed are in docs/therapy.md); pass ``value_range`` /
``max_segments`` to model another pump.

This module does not know which pattern is active or what the clock says: the
caller passes the minute of its user-visible day.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pumplab.errors import SettingsError
from pumplab.therapy.rounding import X23_BASAL_INCREMENT, IncrementRule, is_on_grid

__all__ = [
    "MINUTES_PER_DAY",
    "SEGMENT_GRANULARITY_MIN",
    "X23_BASAL_RATE",
    "X23_BG_TARGET",
    "X23_CARB_RATIO",
    "X23_ISF",
    "X23_MAX_BASAL_DEFAULT_U_PER_H",
    "X23_MAX_BASAL_LIMIT_U_PER_H",
    "X23_MAX_BASAL_SEGMENTS",
    "X23_MAX_WIZARD_SEGMENTS",
    "BgTarget",
    "Schedule",
    "Segment",
    "ValueRange",
    "basal_schedule",
    "bg_target_schedule",
    "carb_ratio_schedule",
    "isf_schedule",
    "schedule_pieces",
    "scheduled_basal_u",
]

MINUTES_PER_DAY = 1440
SEGMENT_GRANULARITY_MIN = 30

#: x23 max basal rate: settable 0–35 U/h, factory default 2.0 U/h (default assumed).
X23_MAX_BASAL_DEFAULT_U_PER_H = 2.0
X23_MAX_BASAL_LIMIT_U_PER_H = 35.0
#: x23: up to 48 basal rates per pattern (one per half hour).
X23_MAX_BASAL_SEGMENTS = 48
#: x23 Bolus Wizard: up to 8 carb ratios, 8 sensitivities and 8 BG targets a day.
X23_MAX_WIZARD_SEGMENTS = 8

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class ValueRange:
    """Allowed values of one kind of setting: ``low``–``high`` ``unit`` on ``grid``.

    ``grid`` counts thousandths of ``unit`` (see :class:`IncrementRule`);
    ``grid_text`` describes it for error messages.
    """

    low: float
    high: float
    unit: str
    grid: IncrementRule | None = None
    grid_text: str = ""

    @property
    def allowed(self) -> str:
        """Human description used in :class:`SettingsError` messages."""
        text = f"{self.low:g}–{self.high:g} {self.unit}"
        return f"{text}, {self.grid_text}" if self.grid_text else text

    def check(self, value: float, field_name: str) -> None:
        """Raise :class:`SettingsError` naming ``field_name`` if ``value`` is not allowed."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(
                f"{value!r} is not a number", field=field_name, allowed=self.allowed
            )
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise SettingsError(
                f"{value!r} {self.unit} is out of range", field=field_name, allowed=self.allowed
            )
        if self.grid is not None and not is_on_grid(float(value), self.grid):
            raise SettingsError(
                f"{value!r} {self.unit} is not on the setting's grid",
                field=field_name,
                allowed=self.allowed,
            )


#: x23 basal rate: 0–35 U/h; 0.025 U/h steps below 1 U/h, 0.05 to 9.95, 0.1 from 10.
X23_BASAL_RATE = ValueRange(
    0.0,
    35.0,
    "U/h",
    X23_BASAL_INCREMENT,
    "0.025 U/h steps below 1 U/h, 0.05 U/h from 1 U/h, 0.1 U/h from 10 U/h",
)
#: x23 carb ratio: 1–200 g/U in 0.1 g/U steps (decocare reads x23 ratios in tenths of a
#: gram; the range is assumed, see docs/therapy.md).
X23_CARB_RATIO = ValueRange(1.0, 200.0, "g/U", IncrementRule(((0, 100),)), "0.1 g/U steps")
#: x23 insulin sensitivity: 5–400 mg/dL/U in 1 mg/dL/U steps.
X23_ISF = ValueRange(5.0, 400.0, "mg/dL/U", IncrementRule(((0, 1000),)), "whole mg/dL/U")
#: x23 BG target (low and high): 60–250 mg/dL in 1 mg/dL steps.
X23_BG_TARGET = ValueRange(60.0, 250.0, "mg/dL", IncrementRule(((0, 1000),)), "whole mg/dL")


@dataclass(frozen=True, slots=True)
class BgTarget:
    """A BG target range, mg/dL (``low_mg_dl`` ≤ ``high_mg_dl``; equal for a single target)."""

    low_mg_dl: float
    high_mg_dl: float


@dataclass(frozen=True, slots=True)
class Segment(Generic[V]):
    """One schedule entry: ``value`` from ``start_min`` (minute of day) until the next start."""

    start_min: int
    value: V


@dataclass(frozen=True, slots=True)
class Schedule(Generic[V]):
    """A time-of-day schedule; build it with the ``*_schedule`` functions.

    Constructing one directly checks only the shape (starts on 30-min
    boundaries, first at 0, strictly increasing, below 1440; at least one
    segment) and raises ``ValueError``; the builders check user values.
    """

    segments: tuple[Segment[V], ...]
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = tuple(s.start_min for s in self.segments)
        problem = _shape_problem(starts)
        if problem is not None:
            raise ValueError(f"bad schedule: {problem[1]}")
        object.__setattr__(self, "_starts", starts)

    def value_at(self, minute_of_day: float) -> V:
        """The value in force at ``minute_of_day`` (taken modulo 1440, so 1440 is 00:00)."""
        m = minute_of_day % MINUTES_PER_DAY
        return self.segments[bisect.bisect_right(self._starts, m) - 1].value

    def end_min(self, index: int) -> int:
        """Minute of day at which segment ``index`` ends (1440 for the last)."""
        nxt = index + 1
        return self._starts[nxt] if nxt < len(self._starts) else MINUTES_PER_DAY


def _shape_problem(starts: tuple[int, ...]) -> tuple[int, str] | None:
    """(segment index, what is wrong) with the start times, or None if they are fine."""
    if not starts:
        return 0, "a schedule needs at least one segment"
    for i, start in enumerate(starts):
        if isinstance(start, bool) or not isinstance(start, int):
            return i, f"start {start!r} is not a whole minute"
        if i == 0 and start != 0:
            return i, f"the first segment starts at minute {start}, not at 00:00"
        if not 0 <= start < MINUTES_PER_DAY:
            return i, f"start minute {start} is outside the day"
        if start % SEGMENT_GRANULARITY_MIN:
            return i, f"start minute {start} is not on a 30-minute boundary"
        if i and start <= starts[i - 1]:
            what = "duplicates" if start == starts[i - 1] else "is before"
            return i, f"start minute {start} {what} the previous segment's ({starts[i - 1]})"
    return None


def _build(
    pairs: Iterable[tuple[int, V]],
    *,
    field_name: str,
    value_name: str,
    max_segments: int,
    check_value: ValueRange | None,
) -> tuple[Segment[V], ...]:
    items = list(pairs)
    if len(items) > max_segments:
        raise SettingsError(
            f"{len(items)} segments is too many",
            field=field_name,
            allowed=f"1–{max_segments} segments",
        )
    allowed_starts = (
        "start minutes on 30-minute boundaries, the first at 0 (00:00), strictly increasing, "
        "below 1440"
    )
    problem = _shape_problem(tuple(start for start, _ in items))
    if problem is not None:
        index, text = problem
        where = f"{field_name}[{index}].start_min" if items else field_name
        raise SettingsError(text, field=where, allowed=allowed_starts)
    if check_value is not None:
        for i, (_, value) in enumerate(items):
            check_value.check(value, f"{field_name}[{i}].{value_name}")  # type: ignore[arg-type]
    return tuple(Segment(start, value) for start, value in items)


def basal_schedule(
    rates_u_per_h: Iterable[tuple[int, float]],
    *,
    field: str = "basal_pattern.std",
    value_range: ValueRange = X23_BASAL_RATE,
    max_segments: int = X23_MAX_BASAL_SEGMENTS,
    max_basal_u_per_h: float | None = None,
) -> Schedule[float]:
    """A basal pattern from ``(start_min, rate_u_per_h)`` pairs (x23: ≤ 48, 0–35 U/h, grid).

    With ``max_basal_u_per_h``, a rate above the pump's max basal setting is
    refused too (the x23 will not store one).
    """
    segs = _build(
        rates_u_per_h,
        field_name=field,
        value_name="rate_u_per_h",
        max_segments=max_segments,
        check_value=value_range,
    )
    if max_basal_u_per_h is not None:
        for i, seg in enumerate(segs):
            if seg.value > max_basal_u_per_h:
                raise SettingsError(
                    f"{seg.value:g} U/h is above the max basal rate {max_basal_u_per_h:g} U/h",
                    field=f"{field}[{i}].rate_u_per_h",
                    allowed=f"0–{max_basal_u_per_h:g} U/h (max basal)",
                )
    return Schedule(tuple(Segment(s.start_min, float(s.value)) for s in segs))


def carb_ratio_schedule(
    ratios_g_per_u: Iterable[tuple[int, float]],
    *,
    field: str = "carb_ratios",
    value_range: ValueRange = X23_CARB_RATIO,
    max_segments: int = X23_MAX_WIZARD_SEGMENTS,
) -> Schedule[float]:
    """Carb ratios from ``(start_min, g_per_u)`` pairs (x23: ≤ 8, 1–200 g/U)."""
    segs = _build(
        ratios_g_per_u,
        field_name=field,
        value_name="g_per_u",
        max_segments=max_segments,
        check_value=value_range,
    )
    return Schedule(tuple(Segment(s.start_min, float(s.value)) for s in segs))


def isf_schedule(
    isf_mg_dl_per_u: Iterable[tuple[int, float]],
    *,
    field: str = "insulin_sensitivities",
    value_range: ValueRange = X23_ISF,
    max_segments: int = X23_MAX_WIZARD_SEGMENTS,
) -> Schedule[float]:
    """Insulin sensitivity factors from ``(start_min, mg_dl_per_u)`` pairs (x23: ≤ 8, 5–400)."""
    segs = _build(
        isf_mg_dl_per_u,
        field_name=field,
        value_name="mg_dl_per_u",
        max_segments=max_segments,
        check_value=value_range,
    )
    return Schedule(tuple(Segment(s.start_min, float(s.value)) for s in segs))


def bg_target_schedule(
    targets: Iterable[tuple[int, BgTarget]],
    *,
    field: str = "bg_targets",
    value_range: ValueRange = X23_BG_TARGET,
    max_segments: int = X23_MAX_WIZARD_SEGMENTS,
) -> Schedule[BgTarget]:
    """BG target ranges from ``(start_min, BgTarget)`` pairs (x23: ≤ 8, 60–250 mg/dL)."""
    segs = _build(
        targets, field_name=field, value_name="target", max_segments=max_segments, check_value=None
    )
    for i, seg in enumerate(segs):
        target = seg.value
        if not isinstance(target, BgTarget):
            raise SettingsError(
                f"{target!r} is not a BG target", field=f"{field}[{i}]", allowed="a BgTarget"
            )
        value_range.check(target.low_mg_dl, f"{field}[{i}].low_mg_dl")
        value_range.check(target.high_mg_dl, f"{field}[{i}].high_mg_dl")
        if target.low_mg_dl > target.high_mg_dl:
            raise SettingsError(
                f"low target {target.low_mg_dl:g} mg/dL is above high target "
                f"{target.high_mg_dl:g} mg/dL",
                field=f"{field}[{i}].low_mg_dl",
                allowed="low ≤ high",
            )
    return Schedule(segs)


def scheduled_basal_u(
    schedule: Schedule[float],
    start_min: float,
    end_min: float,
    *,
    minute_of_day_at_zero: float = 0.0,
) -> float:
    """Insulin (U) the schedule delivers between absolute minutes ``start_min`` and ``end_min``.

    Absolute minute ``t`` is minute ``(t + minute_of_day_at_zero) mod 1440`` of
    the pump's day; the interval may span midnight and several days.
    """
    if end_min < start_min:
        raise ValueError(f"interval ends ({end_min}) before it starts ({start_min})")
    total_u_min = 0.0  # rate × minutes, converted to U at the end
    for a, b, rate in schedule_pieces(schedule, start_min, end_min, minute_of_day_at_zero):
        total_u_min += rate * (b - a)
    return total_u_min / 60.0


def schedule_pieces(
    schedule: Schedule[V], start_min: float, end_min: float, minute_of_day_at_zero: float = 0.0
) -> list[tuple[float, float, V]]:
    """Split ``[start_min, end_min)`` (absolute minutes) at segment boundaries.

    Returns ``(piece_start, piece_end, value)`` triples in absolute minutes.
    """
    pieces: list[tuple[float, float, V]] = []
    t = start_min
    while t < end_min:
        m = (t + minute_of_day_at_zero) % MINUTES_PER_DAY
        i = bisect.bisect_right(schedule._starts, m) - 1
        seg_end = t + (schedule.end_min(i) - m)
        b = min(seg_end, end_min)
        if b <= t:  # float residue at a boundary: step past it
            b = min(end_min, math.nextafter(t, math.inf))
        pieces.append((t, b, schedule.segments[i].value))
        t = b
    return pieces

"""Sensor-fault stress options for controller trials: compression lows and signal dropouts.

Pure functions over a CGM series (:class:`~pumplab.control.interface.CgmReading`
s), seeded, for ``pumplab trial`` to switch on as stress tests of a controller:

* **Compression lows** (pressure-induced sensor attenuation, PISA): lying on the
  sensor at night makes it read falsely low, with a sudden drop and a recovery
  when the pressure goes (Baysal et al., J Diabetes Sci Technol
  2014;8:1091–1096, who marked about 3 % of overnight readings of a
  1,125-night predictive low-glucose suspend trial as PISA; Mensh et al.,
  J Diabetes Sci Technol 2013;7:863–870).  A controller that suspends on the
  false low withholds insulin the person needs.  Each episode subtracts a
  trapezoid from the true reading: down to ``depth`` over ``ramp_min``, held,
  back over ``ramp_min``; the value shown is rounded and never below the
  sensor's 40 mg/dL (its "LOW").
* **Dropouts**: no reading at all for a while (transmitter out of range).  A
  controller must fall back (the supervisor's stale-data rule).

When episodes happen is drawn from the seed alone, never from the glucose, so
the same plan applies to any run — open or closed loop — and can be applied
one reading at a time as the run goes (:meth:`FaultPlan.reading`) or to a
whole series (:meth:`FaultPlan.apply`).  Each night (compression) and each day
(dropouts) has its own stream derived from ``(seed, component, index)``: the
episodes of a night do not depend on the span asked for, and changing one
component's settings does not move the other's episodes.  Only
``random.Random.random()`` is used (the one output Python guarantees across
versions for an integer seed); the distributions are drawn by inverse
transform here.

Defaults (``DEFAULT_COMPRESSION``, ``DEFAULT_DROPOUTS``, :data:`PRESETS`):
0.5 compression episodes a night, 15–45 min long — 15 min a night on average,
3.1 % of the readings of an 8-hour night, as Baysal et al. found — 20–60 mg/dL
deep with 10-min ramps, between 23:00 and 07:00 of the pump's day (depth,
ramps and the night are our assumptions); dropouts 4 a day, 30 min on average
(a stress: four times the sensor model's own default in docs/sensor.md).

Deliberately not here: sensor noise, calibration error and the sensor's own
dropouts (:mod:`pumplab.physiology.sensor`), and compression that depends on
what the person does (it is drawn, not caused).
"""

from __future__ import annotations

import bisect
import enum
import hashlib
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from pumplab.control.interface import MS_PER_MINUTE, CgmReading
from pumplab.errors import SettingsError

__all__ = [
    "DEFAULT_COMPRESSION",
    "DEFAULT_DROPOUTS",
    "PRESETS",
    "CompressionLows",
    "FaultEpisode",
    "FaultKind",
    "FaultPlan",
    "SensorFaults",
    "SignalDropouts",
    "apply_faults",
    "plan_faults",
]

MS_PER_DAY = 1440 * MS_PER_MINUTE
#: The sensor's lowest reading ("LOW" below it): docs/sensor.md.
SENSOR_FLOOR_MG_DL = 40.0


def _check(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value)
                                       and low <= value <= high):
        raise SettingsError(f"{value!r} is out of range", field=name, allowed=f"{low:g}–{high:g}")


def _check_range(name: str, value: tuple[float, float], low: float, high: float) -> None:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise SettingsError(f"{value!r} is not a range", field=name, allowed="(low, high)")
    _check(f"{name}[0]", value[0], low, high)
    _check(f"{name}[1]", value[1], low, high)
    if value[0] > value[1]:
        raise SettingsError(f"{value!r} is reversed", field=name, allowed="low ≤ high")


@dataclass(frozen=True, slots=True)
class CompressionLows:
    """Compression lows at night (see the module docstring)."""

    per_night: float = 0.5
    night_start_min: int = 23 * 60
    night_end_min: int = 7 * 60
    depth_mg_dl: tuple[float, float] = (20.0, 60.0)
    duration_min: tuple[float, float] = (15.0, 45.0)
    ramp_min: float = 10.0

    def __post_init__(self) -> None:
        _check("per_night", self.per_night, 0.0, 20.0)
        for name in ("night_start_min", "night_end_min"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1440):
                raise SettingsError(f"{value!r} is out of range", field=name,
                                    allowed="a whole minute of the day, 0–1439")
        if self.night_start_min == self.night_end_min:
            raise SettingsError("the night is empty", field="night_end_min",
                                allowed="a minute other than night_start_min")
        _check_range("depth_mg_dl", self.depth_mg_dl, 0.0, 400.0)
        _check_range("duration_min", self.duration_min, 5.0, self.night_length_min)
        _check("ramp_min", self.ramp_min, 0.0, 120.0)

    @property
    def night_length_min(self) -> int:
        """Minutes from ``night_start_min`` to ``night_end_min`` (across midnight)."""
        return (self.night_end_min - self.night_start_min) % 1440


@dataclass(frozen=True, slots=True)
class SignalDropouts:
    """Dropouts: starts a Poisson process of ``per_day``, exponential durations."""

    per_day: float = 4.0
    mean_duration_min: float = 30.0

    def __post_init__(self) -> None:
        _check("per_day", self.per_day, 0.0, 288.0)
        _check("mean_duration_min", self.mean_duration_min, 1.0, 1440.0)


@dataclass(frozen=True, slots=True)
class SensorFaults:
    """Which faults to inject (None: that fault is off)."""

    compression: CompressionLows | None = None
    dropouts: SignalDropouts | None = None


DEFAULT_COMPRESSION = CompressionLows()
DEFAULT_DROPOUTS = SignalDropouts()
#: Named options for ``pumplab trial``.
PRESETS: dict[str, SensorFaults] = {
    "none": SensorFaults(),
    "compression": SensorFaults(compression=DEFAULT_COMPRESSION),
    "dropouts": SensorFaults(dropouts=DEFAULT_DROPOUTS),
    "both": SensorFaults(compression=DEFAULT_COMPRESSION, dropouts=DEFAULT_DROPOUTS),
}


class FaultKind(enum.StrEnum):
    """What a fault episode does to the readings."""

    COMPRESSION_LOW = "compression_low"
    DROPOUT = "dropout"


@dataclass(frozen=True, slots=True)
class FaultEpisode:
    """One episode from ``start_ms`` to ``end_ms`` (loop time); ``depth_mg_dl`` and
    ``ramp_ms`` shape a compression low (0 for a dropout)."""

    kind: FaultKind
    start_ms: int
    end_ms: int
    depth_mg_dl: float = 0.0
    ramp_ms: int = 0

    def depression_mg_dl(self, t_ms: int) -> float:
        """How far below the truth a reading at ``t_ms`` is pushed (0 outside)."""
        if self.kind is not FaultKind.COMPRESSION_LOW or not self.start_ms <= t_ms < self.end_ms:
            return 0.0
        ramp = min(self.ramp_ms, (self.end_ms - self.start_ms) // 2)
        if ramp <= 0:
            return self.depth_mg_dl
        edge = min(t_ms - self.start_ms, self.end_ms - t_ms)
        return self.depth_mg_dl * min(1.0, edge / ramp)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The episodes of a run, in time order; applies them to readings."""

    episodes: tuple[FaultEpisode, ...]
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _longest_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.episodes, key=lambda e: (e.start_ms, e.kind)))
        object.__setattr__(self, "episodes", ordered)
        object.__setattr__(self, "_starts", tuple(e.start_ms for e in ordered))
        object.__setattr__(self, "_longest_ms",
                           max((e.end_ms - e.start_ms for e in ordered), default=0))

    def active(self, t_ms: int) -> list[FaultEpisode]:
        """The episodes under way at ``t_ms``."""
        lo = bisect.bisect_right(self._starts, t_ms - self._longest_ms - 1)
        hi = bisect.bisect_right(self._starts, t_ms)
        return [e for e in self.episodes[lo:hi] if e.start_ms <= t_ms < e.end_ms]

    def dropped(self, t_ms: int) -> bool:
        """True if a reading at ``t_ms`` is lost."""
        return any(e.kind is FaultKind.DROPOUT for e in self.active(t_ms))

    def reading(self, reading: CgmReading) -> CgmReading | None:
        """What the sensor shows instead of ``reading`` (None: nothing at all)."""
        active = self.active(reading.t_ms)
        if any(e.kind is FaultKind.DROPOUT for e in active):
            return None
        depression = max((e.depression_mg_dl(reading.t_ms) for e in active), default=0.0)
        if depression <= 0.0:
            return reading
        shown = max(SENSOR_FLOOR_MG_DL, float(round(reading.bg_mg_dl - depression)))
        return CgmReading(reading.t_ms, min(shown, reading.bg_mg_dl))

    def apply(self, readings: Iterable[CgmReading]) -> tuple[CgmReading, ...]:
        """:meth:`reading` over a series; lost readings are left out."""
        out = []
        for r in readings:
            shown = self.reading(r)
            if shown is not None:
                out.append(shown)
        return tuple(out)


def _rng(seed: int, component: str, index: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}/{component}/{index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw by inverse transform (one uniform)."""
    u = rng.random()
    k, p = 0, math.exp(-mean)
    cdf = p
    while u > cdf and k < 1000:
        k += 1
        p *= mean / k
        cdf += p
    return k


def _uniform(rng: random.Random, lo: float, hi: float) -> float:
    return lo + (hi - lo) * rng.random()


def _compression(spec: CompressionLows, seed: int, start_ms: int, end_ms: int,
                 minute_of_day_at_zero: float) -> list[FaultEpisode]:
    # Night k starts at loop time k days + night_start after the pump's midnight.
    midnight0 = -minute_of_day_at_zero * MS_PER_MINUTE
    night_ms = spec.night_length_min * MS_PER_MINUTE
    first = math.floor((start_ms - midnight0 - spec.night_start_min * MS_PER_MINUTE
                        - night_ms) / MS_PER_DAY)
    out = []
    k = first
    while True:
        night_start = int(midnight0 + k * MS_PER_DAY + spec.night_start_min * MS_PER_MINUTE)
        if night_start >= end_ms:
            break
        rng = _rng(seed, "compression", k)
        for _ in range(_poisson(rng, spec.per_night)):
            duration_ms = int(_uniform(rng, *spec.duration_min) * MS_PER_MINUTE)
            begin = night_start + int(rng.random() * max(0, night_ms - duration_ms))
            depth = _uniform(rng, *spec.depth_mg_dl)
            episode = FaultEpisode(FaultKind.COMPRESSION_LOW, begin, begin + duration_ms, depth,
                                   int(spec.ramp_min * MS_PER_MINUTE))
            if episode.end_ms > start_ms and episode.start_ms < end_ms:
                out.append(episode)
        k += 1
    return out


def _dropouts(spec: SignalDropouts, seed: int, start_ms: int, end_ms: int) -> list[FaultEpisode]:
    # Day k is loop time [k days, k+1 days); an episode may run on into the next day.
    longest_ms = int(-math.log(1e-12) * spec.mean_duration_min * MS_PER_MINUTE)
    out = []
    for k in range(math.floor((start_ms - longest_ms) / MS_PER_DAY),
                   math.floor((end_ms - 1) / MS_PER_DAY) + 1):
        rng = _rng(seed, "dropout", k)
        for _ in range(_poisson(rng, spec.per_day)):
            begin = k * MS_PER_DAY + int(rng.random() * MS_PER_DAY)
            duration_ms = int(-math.log(1.0 - rng.random()) * spec.mean_duration_min
                              * MS_PER_MINUTE)
            episode = FaultEpisode(FaultKind.DROPOUT, begin, begin + max(1, duration_ms))
            if episode.end_ms > start_ms and episode.start_ms < end_ms:
                out.append(episode)
    return out


def plan_faults(faults: SensorFaults, *, seed: int, start_ms: int, end_ms: int,
                minute_of_day_at_zero: float = 0.0) -> FaultPlan:
    """The episodes touching loop time ``[start_ms, end_ms)``.

    ``minute_of_day_at_zero`` is the pump's minute of day at loop time 0 (it
    places the nights).  ``seed`` is a non-negative integer (a trial derives one
    per patient, e.g. ``RandomStreams(S).seed_for("cgm.faults/<patient>")``).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if end_ms < start_ms:
        raise ValueError("end_ms is before start_ms")
    episodes: list[FaultEpisode] = []
    if faults.compression is not None:
        episodes += _compression(faults.compression, seed, start_ms, end_ms,
                                 minute_of_day_at_zero)
    if faults.dropouts is not None:
        episodes += _dropouts(faults.dropouts, seed, start_ms, end_ms)
    return FaultPlan(tuple(episodes))


def apply_faults(readings: Iterable[CgmReading], faults: SensorFaults, *, seed: int,
                 minute_of_day_at_zero: float = 0.0) -> tuple[CgmReading, ...]:
    """``readings`` as the faulty sensor shows them (a plan over their span, applied)."""
    series = tuple(readings)
    if not series:
        return ()
    plan = plan_faults(faults, seed=seed, start_ms=series[0].t_ms, end_ms=series[-1].t_ms + 1,
                       minute_of_day_at_zero=minute_of_day_at_zero)
    return plan.apply(series)

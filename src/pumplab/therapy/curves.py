"""Insulin action curves: how much of a dose is still on board, and how fast it acts.

Two families, both as used by the open-source closed loops:

* :class:`ExponentialCurve` — the closed form derived by Dragan Maksimovic
  (LoopKit/Loop issue #388, "Exponential insulin curves"), used by OpenAPS
  (oref0 ``lib/iob/calculate.js``, ``iobCalcExponential``) and Loop
  (LoopKit ``ExponentialInsulinModel``), parameterised by the time of peak
  activity and the duration of insulin action (DIA).
* :class:`BilinearCurve` — oref0's legacy triangle (``iobCalcBilinear``):
  activity rises linearly to a peak at 75 min and falls linearly to zero at
  180 min for a 3-h DIA, the whole shape stretched in time for other DIAs.

Every curve answers, ``t`` minutes after an instantaneous dose:

* ``iob_fraction(t)`` — the fraction still on board: 1 at t ≤ 0, 0 at
  t ≥ ``effect_duration_min``, non-increasing in between;
* ``activity(t)`` — the fraction of the dose acting per minute, = −d/dt of the
  above, so it integrates to 1 over the whole action;
* ``iob_fraction_integral(t0, t1)`` — the exact ∫ iob_fraction, which lets
  :mod:`pumplab.therapy.iob` spread a dose over a delivery interval in closed
  form instead of splitting it into pieces.

Parameters are validated on construction; they usually come from a user (a
pump's active-insulin time, a controller profile), so a bad one raises
:class:`~pumplab.errors.SettingsError` naming the field and the allowed range.

Deliberately not here: insulin-type databases, per-patient curve fitting, and
oref0's silent clamping of short DIAs (oref0 raises DIA < 3 h to 3 h, and to
5 h for exponential curves, in ``lib/iob/total.js``; pumplab refuses instead —
an oref0-compatible controller must apply oref0's clamp at its own boundary).
Nothing here reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pumplab.errors import SettingsError

__all__ = [
    "MAX_DIA_MIN",
    "MIN_DIA_MIN",
    "RAPID_ACTING_ADULT",
    "RAPID_ACTING_CHILD",
    "ULTRA_RAPID",
    "BilinearCurve",
    "ExponentialCurve",
    "InsulinCurve",
]

#: Duration of insulin action accepted by every curve: 2–8 h, the range of the
#: Paradigm x23's active-insulin-time setting (see docs/therapy.md).
MIN_DIA_MIN = 120.0
MAX_DIA_MIN = 480.0

#: oref0 ``iobCalcBilinear``: peak and end of the triangle for its 3-h reference DIA.
_BILINEAR_REF_DIA_MIN = 180.0
_BILINEAR_REF_PEAK_MIN = 75.0


@runtime_checkable
class InsulinCurve(Protocol):
    """What IOB and the wizard need from an insulin action curve."""

    @property
    def effect_duration_min(self) -> float:
        """Minutes after a dose at which nothing of it remains (delay + DIA)."""
        ...

    def iob_fraction(self, t_min: float) -> float:
        """Fraction of a dose still on board ``t_min`` minutes after it."""
        ...

    def activity(self, t_min: float) -> float:
        """Fraction of a dose acting per minute ``t_min`` minutes after it."""
        ...

    def iob_fraction_integral(self, t0_min: float, t1_min: float) -> float:
        """Exact ∫ iob_fraction(u) du from ``t0_min`` to ``t1_min`` (minutes)."""
        ...


def _check_dia(dia_min: float) -> None:
    if not (math.isfinite(dia_min) and MIN_DIA_MIN <= dia_min <= MAX_DIA_MIN):
        raise SettingsError(
            f"duration of insulin action {dia_min!r} min is out of range",
            field="dia_min",
            allowed=f"{MIN_DIA_MIN:g}–{MAX_DIA_MIN:g} min (2–8 h)",
        )


@dataclass(frozen=True, slots=True)
class ExponentialCurve:
    """Exponential insulin action (Maksimovic closed form; oref0 and Loop).

    With ``E`` = ``dia_min`` and peak time ``p`` (Loop issue #388)::

        τ = p (1 − p/E) / (1 − 2p/E)      time constant
        a = 2τ / E                         rise-time factor
        S = 1 / (1 − a + (1 + a) e^(−E/τ)) normalisation (activity integrates to 1)
        activity(t) = (S/τ²) · t · (1 − t/E) · e^(−t/τ)
        iob(t)      = 1 − S (1 − a) [ (t²/(τ E (1 − a)) − t/τ − 1) e^(−t/τ) + 1 ]

    for 0 < t < E (t measured after ``delay_min``); iob is 1 before and 0 after.
    ``delay_min`` is a dead time before action starts: Loop's models use 10 min,
    oref0 none (the default here).  Requires 0 < p < E/2 — the formula's τ
    has ``1 − 2p/E`` in its denominator, so a later peak has no such curve —
    and E within 2–8 h; otherwise :class:`~pumplab.errors.SettingsError`.
    """

    peak_min: float
    dia_min: float
    delay_min: float = 0.0
    _tau: float = field(init=False, repr=False, compare=False)
    _a: float = field(init=False, repr=False, compare=False)
    _s: float = field(init=False, repr=False, compare=False)
    # Coefficients of p(u) = S u²/(τE) − S(1−a) u/τ − S(1−a), where
    # iob(u) = 1 − S(1−a) − p(u) e^(−u/τ); kept to make the integral cheap.
    _c0: float = field(init=False, repr=False, compare=False)
    _h0: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_dia(self.dia_min)
        if not (math.isfinite(self.peak_min) and 0.0 < self.peak_min < self.dia_min / 2.0):
            raise SettingsError(
                f"peak time {self.peak_min!r} min is impossible for a DIA of {self.dia_min:g} min",
                field="peak_min",
                allowed=f"more than 0 and less than half the DIA ({self.dia_min / 2.0:g} min)",
            )
        if not (math.isfinite(self.delay_min) and 0.0 <= self.delay_min <= 60.0):
            raise SettingsError(
                f"insulin action delay {self.delay_min!r} min is out of range",
                field="delay_min",
                allowed="0–60 min",
            )
        p, e = float(self.peak_min), float(self.dia_min)
        tau = p * (1.0 - p / e) / (1.0 - 2.0 * p / e)
        a = 2.0 * tau / e
        s = 1.0 / (1.0 - a + (1.0 + a) * math.exp(-e / tau))
        object.__setattr__(self, "_tau", tau)
        object.__setattr__(self, "_a", a)
        object.__setattr__(self, "_s", s)
        object.__setattr__(self, "_c0", 1.0 - s * (1.0 - a))
        object.__setattr__(self, "_h0", 0.0)
        object.__setattr__(self, "_h0", self._inner_antiderivative(0.0))

    @property
    def effect_duration_min(self) -> float:
        """Delay plus DIA: the time after which nothing of a dose remains."""
        return self.delay_min + self.dia_min

    def iob_fraction(self, t_min: float) -> float:
        """Fraction of a dose still on board ``t_min`` minutes after it."""
        u = t_min - self.delay_min
        if u <= 0.0:
            return 1.0
        if u >= self.dia_min:
            return 0.0
        tau, a, s, e = self._tau, self._a, self._s, self.dia_min
        return 1.0 - s * (1.0 - a) * (
            (u * u / (tau * e * (1.0 - a)) - u / tau - 1.0) * math.exp(-u / tau) + 1.0
        )

    def activity(self, t_min: float) -> float:
        """Fraction of a dose acting per minute ``t_min`` minutes after it."""
        u = t_min - self.delay_min
        if u <= 0.0 or u >= self.dia_min:
            return 0.0
        tau = self._tau
        return (self._s / (tau * tau)) * u * (1.0 - u / self.dia_min) * math.exp(-u / tau)

    def _inner_antiderivative(self, u: float) -> float:
        # ∫ iob(u) du on (0, E): c0·u − ∫ p(u) e^(−u/τ) du, and
        # ∫ p e^(−u/τ) du = −τ e^(−u/τ) (p + τ p' + τ² p'')   (integration by parts).
        tau, a, s, e = self._tau, self._a, self._s, self.dia_min
        k = s * (1.0 - a)
        p = s * u * u / (tau * e) - k * u / tau - k
        dp = 2.0 * s * u / (tau * e) - k / tau
        ddp = 2.0 * s / (tau * e)
        return self._c0 * u + tau * math.exp(-u / tau) * (p + tau * dp + tau * tau * ddp)

    def _antiderivative(self, t_min: float) -> float:
        # G(t) = ∫_0^t iob, continuous over all t (iob = 1 before the action,
        # so G(t) = t for t ≤ delay; constant after the action ends).
        d = self.delay_min
        if t_min <= d:
            return t_min
        u = min(t_min - d, self.dia_min)
        return d + self._inner_antiderivative(u) - self._h0

    def iob_fraction_integral(self, t0_min: float, t1_min: float) -> float:
        """Exact ∫ iob_fraction(u) du from ``t0_min`` to ``t1_min``."""
        return self._antiderivative(t1_min) - self._antiderivative(t0_min)


@dataclass(frozen=True, slots=True)
class BilinearCurve:
    """oref0's legacy bilinear (triangle) activity curve, stretched to ``dia_min``.

    oref0 ``iobCalcBilinear`` defines, for a 3-h DIA, activity rising linearly
    from 0 to a peak at 75 min and falling linearly to 0 at 180 min, with peak
    height 2/DIA (so the triangle's area is 1), and scales time by 3 h / DIA.
    In real minutes, with ``D`` = ``dia_min`` and ``P`` = 75·D/180::

        activity(t) = (2/D) · t / P               0 ≤ t < P
                    = (2/D) · (D − t) / (D − P)   P ≤ t < D
        iob(t)      = 1 − t² / (D P)              0 ≤ t < P
                    = (D − t)² / (D (D − P))      P ≤ t < D

    The on-board fraction here is the *exact* integral of that triangle.  oref0
    itself uses a quadratic fit on 5-minute steps whose values lie up to about
    0.028 (one 5-min step of activity) below it; see docs/therapy.md.
    """

    dia_min: float

    def __post_init__(self) -> None:
        _check_dia(self.dia_min)

    @property
    def peak_min(self) -> float:
        """Time of peak activity: 75 min scaled by DIA / 3 h."""
        return _BILINEAR_REF_PEAK_MIN * self.dia_min / _BILINEAR_REF_DIA_MIN

    @property
    def effect_duration_min(self) -> float:
        """The DIA: nothing of a dose remains after it."""
        return self.dia_min

    def iob_fraction(self, t_min: float) -> float:
        """Fraction of a dose still on board ``t_min`` minutes after it."""
        d = self.dia_min
        if t_min <= 0.0:
            return 1.0
        if t_min >= d:
            return 0.0
        p = self.peak_min
        if t_min < p:
            return 1.0 - t_min * t_min / (d * p)
        r = d - t_min
        return r * r / (d * (d - p))

    def activity(self, t_min: float) -> float:
        """Fraction of a dose acting per minute ``t_min`` minutes after it."""
        d = self.dia_min
        if t_min <= 0.0 or t_min >= d:
            return 0.0
        p = self.peak_min
        if t_min < p:
            return 2.0 * t_min / (d * p)
        return 2.0 * (d - t_min) / (d * (d - p))

    def _antiderivative(self, t_min: float) -> float:
        d, p = self.dia_min, self.peak_min
        if t_min <= 0.0:
            return t_min
        t = min(t_min, d)
        if t < p:
            return t - t**3 / (3.0 * d * p)
        at_peak = p - p * p / (3.0 * d)
        return at_peak + ((d - p) ** 3 - (d - t) ** 3) / (3.0 * d * (d - p))

    def iob_fraction_integral(self, t0_min: float, t1_min: float) -> float:
        """Exact ∫ iob_fraction(u) du from ``t0_min`` to ``t1_min``."""
        return self._antiderivative(t1_min) - self._antiderivative(t0_min)


#: Rapid-acting adult (Novolog/Humalog/Apidra): peak 75 min, DIA 6 h — oref0
#: "rapid-acting" default peak and LoopKit ``ExponentialInsulinModelPreset
#: .rapidActingAdult`` (Loop adds a 10-min delay; this preset, like oref0, has none).
RAPID_ACTING_ADULT = ExponentialCurve(peak_min=75.0, dia_min=360.0)
#: Rapid-acting child: peak 65 min, DIA 6 h (LoopKit ``.rapidActingChild``).
RAPID_ACTING_CHILD = ExponentialCurve(peak_min=65.0, dia_min=360.0)
#: Ultra-rapid (Fiasp, Lyumjev): peak 55 min, DIA 6 h (oref0 "ultra-rapid",
#: LoopKit ``.fiasp``).
ULTRA_RAPID = ExponentialCurve(peak_min=55.0, dia_min=360.0)

"""PID with insulin feedback (PID-IFB): Medtronic's closed-loop algorithm (Steil et al.).

The "external physiologic insulin delivery" controller Medtronic tested from 2004
on (Steil et al., Diabetes 2006;55:3344–3350), with the insulin feedback added
later (Steil et al., J Clin Endocrinol Metab 2011;96:1402–1408; Ruiz et al.,
J Diabetes Sci Technol 2012;6:1123–1130) — the algorithm at the core of the
MiniMed 670G's Auto Mode (reviewed in Steil, J Diabetes Sci Technol
2013;7:1621–1631).  Every CGM cycle ``n``, ``Δt`` minutes after the last:

======  ==============================================================  =====
(P1)    e(n) = SG(n) − G_T                                              mg/dL
(P2)    P(n) = K_P · e(n)                                               U/h
(P3)    I(n) = I(n−1) + (K_P / T_I) · e(n) · Δt, kept in [0, max basal] U/h
(P4)    D(n) = K_P · T_D · dSG/dt(n)                                    U/h
(P5)    PID(n) = P(n) + I(n) + D(n)                                     U/h
(P6)    u(n) = (1 + γ) · PID(n) − γ · Î(n), kept in [0, max basal]      U/h
(P7)    K_P = 60 · TDD / (1500 · T_D)                                   U/h per mg/dL
======  ==============================================================  =====

* (P7) is the gain rule of the Medtronic PID from the total daily dose: the
  derivative term alone then delivers, for a glucose rise ΔG, exactly the
  "1500 rule" correction ΔG · TDD / 1500 (∫ K_P·T_D·dSG/dt dt / 60 min/h).
* ``I`` starts at the scheduled basal (the loop starts where open loop was)
  and is kept between 0 and the pump's max basal (anti-windup: our choice).
* ``dSG/dt`` is the least-squares slope of the readings of the last 15 min.
* Î(n) is the insulin feedback: delivered insulin (basal as delivered, and
  every bolus) through Ruiz et al.'s three-compartment model of
  subcutaneous, plasma and effect-site insulin, one step per minute, each
  compartment scaled to the delivery rate it would have at steady state (U/h):

  ======  ===========================================================
  (F1)    Isc(k)  = α11·Isc(k−1) + β1·ID(k−1)
  (F2)    Ip(k)   = α21·Isc(k−1) + α22·Ip(k−1) + β2·ID(k−1)
  (F3)    Ieff(k) = α31·Isc(k−1) + α32·Ip(k−1) + α33·Ieff(k−1) + β3·ID(k−1)
  (F4)    Î(k)    = γ1·Isc(k) + γ2·Ip(k) + γ3·Ieff(k)
  ======  ===========================================================

  with ID the insulin delivered in minute k (U).  At steady state Î equals the
  delivery rate, so (P6) leaves a steady basal unchanged (u = PID); after a
  bolus Î is high and u is lowered — the feedback that makes a closed loop
  act as if insulin acted faster (Steil 2011).

Parameters, defaults and sources: :class:`PidSettings`; docs/controllers.md
lists each with its source.  The controller keeps one number between cycles
(the integral) in :class:`PidState`; :func:`pid_step` is the pure step and
:class:`PidController` holds the state for a loop.  Meal boluses (the 670G is
a *hybrid* loop: the person boluses for meals with the wizard) are added by
:class:`~pumplab.control.basal_bolus.WithMealBoluses`.

Deliberately not here: the 670G's proprietary safeguards (its adaptive
maximum delivery "Umax", the limits on time at minimum or maximum delivery,
"Safe Basal"), its daily re-estimation of the gain from the last days' total
daily dose (TDD is a setting), and the 670G's higher Auto Mode correction
target; pumplab's supervisor supplies independent limits instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pumplab.control.interface import (
    MS_PER_MINUTE,
    ControllerInput,
    Decision,
    Reason,
    TempBasal,
)
from pumplab.errors import SettingsError

__all__ = [
    "IFB_MODEL",
    "IfbModel",
    "PidController",
    "PidSettings",
    "PidState",
    "PidTerms",
    "ifb_estimate_u_per_h",
    "pid_step",
]


@dataclass(frozen=True, slots=True)
class IfbModel:
    """The insulin-feedback model (F1–F4): one step per minute, input in U per minute,
    compartments in U/h of steady-state delivery."""

    a11: float
    a21: float
    a22: float
    a31: float
    a32: float
    a33: float
    b1: float
    b2: float
    b3: float
    g1: float
    g2: float
    g3: float

    def steady_state(self, rate_u_per_h: float) -> tuple[float, float, float]:
        """(Isc, Ip, Ieff) after delivering ``rate_u_per_h`` for ever."""
        u = rate_u_per_h / 60.0
        isc = self.b1 * u / (1.0 - self.a11)
        ip = (self.a21 * isc + self.b2 * u) / (1.0 - self.a22)
        ieff = (self.a31 * isc + self.a32 * ip + self.b3 * u) / (1.0 - self.a33)
        return isc, ip, ieff

    def estimate(self, state: tuple[float, float, float]) -> float:
        """Î (F4)."""
        isc, ip, ieff = state
        return self.g1 * isc + self.g2 * ip + self.g3 * ieff


#: Ruiz et al. 2012 (Medtronic ePID with insulin feedback): α11 = e^(−1/50),
#: α22 = e^(−1/70), α33 = e^(−1/55) (time constants 50, 70 and 55 min at a 1-min step);
#: γ1 + γ2 + γ3 = 1 and each compartment has a steady-state gain of 60 (U/min → U/h),
#: which tests/control/test_control_pid.py checks.
IFB_MODEL = IfbModel(
    a11=0.9802, a21=0.014043, a22=0.98582, a31=0.000127, a32=0.017889, a33=0.98198,
    b1=1.1881, b2=0.0084741, b3=0.00005,
    g1=0.64935, g2=0.34128, g3=0.0093667,
)

#: The "1500 rule": a unit of insulin lowers glucose by about 1500 / TDD mg/dL.
CORRECTION_RULE_MG_DL_U = 1500.0


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value)
                                       and low <= value <= high):
        raise SettingsError(f"{value!r} is out of range", field=name, allowed=f"{low:g}–{high:g}")
    return float(value)


@dataclass(frozen=True, slots=True)
class PidSettings:
    """PID-IFB parameters (sources in docs/controllers.md).

    ``tdd_u`` — the person's total daily dose (U/day), from which the gain is
    computed (P7); required, per person.  ``target_mg_dl`` G_T (120 mg/dL:
    the 670G's Auto Mode set point and Ruiz et al.'s target).  ``td_min`` T_D
    (90 min) and ``ti_day_min`` / ``ti_night_min`` T_I (150 / 450 min) as
    Steil et al. 2006 set them; night is ``night_start_min`` to
    ``night_end_min`` of the pump's day (22:00–06:00, our choice).
    ``gamma`` γ (0.5: Steil 2011, Ruiz 2012).  ``derivative_window_min``
    (15) for dSG/dt; ``ifb_window_min`` (480) of delivery history for Î;
    ``temp_duration_min`` (30) of each temp basal, re-set every cycle.
    """

    tdd_u: float
    target_mg_dl: float = 120.0
    td_min: float = 90.0
    ti_day_min: float = 150.0
    ti_night_min: float = 450.0
    night_start_min: int = 22 * 60
    night_end_min: int = 6 * 60
    gamma: float = 0.5
    derivative_window_min: float = 15.0
    ifb_window_min: int = 480
    stale_after_min: float = 15.0
    temp_duration_min: int = 30

    def __post_init__(self) -> None:
        _number("tdd_u", self.tdd_u, 1.0, 500.0)
        _number("target_mg_dl", self.target_mg_dl, 70.0, 250.0)
        for name in ("td_min", "ti_day_min", "ti_night_min"):
            _number(name, getattr(self, name), 1.0, 10_000.0)
        _number("gamma", self.gamma, 0.0, 10.0)
        _number("derivative_window_min", self.derivative_window_min, 5.0, 60.0)
        _number("stale_after_min", self.stale_after_min, 5.0, 60.0)
        for name in ("night_start_min", "night_end_min"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1440):
                raise SettingsError(f"{value!r} is out of range", field=name,
                                    allowed="a whole minute of the day, 0–1439")
        if not (isinstance(self.ifb_window_min, int) and 60 <= self.ifb_window_min <= 1440):
            raise SettingsError(f"{self.ifb_window_min!r} is out of range", field="ifb_window_min",
                                allowed="a whole number of minutes, 60–1440")
        if self.temp_duration_min not in (30, 60):
            raise SettingsError(f"{self.temp_duration_min!r} is out of range",
                                field="temp_duration_min", allowed="30 or 60 min")

    @property
    def kp_u_per_h_per_mg_dl(self) -> float:
        """K_P (P7)."""
        return 60.0 * self.tdd_u / (CORRECTION_RULE_MG_DL_U * self.td_min)

    def ti_min_at(self, minute_of_day: float) -> float:
        """T_I in force at ``minute_of_day``."""
        start, end = self.night_start_min, self.night_end_min
        m = minute_of_day % 1440
        night = (start <= m < end) if start <= end else (m >= start or m < end)
        return self.ti_night_min if night else self.ti_day_min


@dataclass(frozen=True, slots=True)
class PidState:
    """Between cycles: the integral (U/h; None before the first cycle) and when it was
    last updated."""

    integral_u_per_h: float | None = None
    last_ms: int | None = None


@dataclass(frozen=True, slots=True)
class PidTerms:
    """One cycle's working (U/h): P, I, D, their sum, Î, and the rate asked for."""

    sg_mg_dl: float
    slope_mg_dl_per_min: float
    p: float
    i: float
    d: float
    pid: float
    ifb: float
    rate_u_per_h: float


def _slope(inp: ControllerInput, window_min: float) -> float:
    """Least-squares dSG/dt (mg/dL/min) over the readings of the last ``window_min``."""
    latest = inp.latest_cgm()
    assert latest is not None
    since = latest.t_ms - window_min * MS_PER_MINUTE
    pts = [r for r in inp.cgm if since <= r.t_ms <= latest.t_ms]
    if len(pts) < 2 or pts[-1].t_ms - pts[0].t_ms < 5 * MS_PER_MINUTE:
        return 0.0
    ts = [(r.t_ms - latest.t_ms) / MS_PER_MINUTE for r in pts]
    t_mean = sum(ts) / len(ts)
    g_mean = sum(r.bg_mg_dl for r in pts) / len(pts)
    var = sum((t - t_mean) ** 2 for t in ts)
    return sum((t - t_mean) * (r.bg_mg_dl - g_mean) for t, r in zip(ts, pts, strict=True)) / var


def _delivered_u_per_min(inp: ControllerInput, window_min: int) -> tuple[list[float], float]:
    """Insulin delivered in each minute of the last ``window_min`` (oldest first): the
    basal as delivered (records; uncovered time at the scheduled rate) plus boluses; and
    the basal rate (U/h) of the first minute."""
    start_ms = inp.now_ms - window_min * MS_PER_MINUTE
    sched = inp.profile.basal
    units = [sched.value_at(inp.minute_of_day_at(start_ms + k * MS_PER_MINUTE)) / 60.0
             for k in range(window_min)]
    for rec in inp.basal_history:
        rec_end = rec.start_ms + rec.duration_min * MS_PER_MINUTE
        first = max(0, math.ceil((rec.start_ms - start_ms) / MS_PER_MINUTE))
        last = min(window_min, math.ceil((rec_end - start_ms) / MS_PER_MINUTE))
        if first < last and math.isfinite(rec.rate_u_per_h):
            rate = max(0.0, rec.rate_u_per_h) / 60.0
            for k in range(first, last):
                units[k] = rate
    first_basal_u_per_h = units[0] * 60.0
    for bolus in inp.boluses:
        k = (bolus.t_ms - start_ms) // MS_PER_MINUTE
        if 0 <= k < window_min and math.isfinite(bolus.units) and bolus.units > 0:
            units[int(k)] += bolus.units
    return units, first_basal_u_per_h


def ifb_estimate_u_per_h(inp: ControllerInput, window_min: int = 480,
                         model: IfbModel = IFB_MODEL) -> float:
    """Î at ``inp.now_ms`` (F1–F4) from the last ``window_min`` of delivery, the model
    started at steady state for the first minute's basal rate (after 480 min its memory
    of the start is below 0.1 %)."""
    delivered, first_basal = _delivered_u_per_min(inp, window_min)
    isc, ip, ieff = model.steady_state(first_basal)
    m = model
    for u in delivered:
        isc, ip, ieff = (m.a11 * isc + m.b1 * u,
                         m.a21 * isc + m.a22 * ip + m.b2 * u,
                         m.a31 * isc + m.a32 * ip + m.a33 * ieff + m.b3 * u)
    return m.estimate((isc, ip, ieff))


def pid_step(settings: PidSettings, state: PidState, inputs: ControllerInput) -> tuple[
        Decision, PidState, PidTerms | None]:
    """One PID-IFB cycle (pure): the decision, the new state, and the working.

    Without a CGM reading at most ``stale_after_min`` old it asks for nothing and
    leaves the integral alone (the supervisor falls back to the scheduled basal).
    Δt is the time since the last update, at most 15 min: a gap in the data is
    not integrated, and a second call at the same time adds nothing.
    """
    s, inp = settings, inputs
    latest = inp.latest_cgm()
    if latest is None or inp.now_ms - latest.t_ms > s.stale_after_min * MS_PER_MINUTE:
        return (Decision(reasons=(Reason("no_cgm", "no fresh CGM reading: nothing asked"),)),
                state, None)
    max_rate = inp.profile.max_basal_u_per_h
    kp = s.kp_u_per_h_per_mg_dl
    error = latest.bg_mg_dl - s.target_mg_dl
    if state.integral_u_per_h is None or state.last_ms is None:
        integral, dt_min = inp.pump.scheduled_basal_u_per_h, 0.0
    else:
        integral = state.integral_u_per_h
        dt_min = min(15.0, max(0.0, (inp.now_ms - state.last_ms) / MS_PER_MINUTE))
    integral += kp / s.ti_min_at(inp.minute_of_day) * error * dt_min
    integral = min(max(integral, 0.0), max_rate)
    slope = _slope(inp, s.derivative_window_min)
    p = kp * error
    d = kp * s.td_min * slope
    pid = p + integral + d
    ifb = ifb_estimate_u_per_h(inp, s.ifb_window_min)
    rate = min(max((1.0 + s.gamma) * pid - s.gamma * ifb, 0.0), max_rate)
    terms = PidTerms(latest.bg_mg_dl, slope, p, integral, d, pid, ifb, rate)
    new_state = replace(state, integral_u_per_h=integral, last_ms=inp.now_ms)
    reason = Reason(
        "pid_ifb",
        f"SG {latest.bg_mg_dl:g} mg/dL (target {s.target_mg_dl:g}), {slope:+.2f} mg/dL/min: "
        f"P {p:+.3f} + I {integral:.3f} + D {d:+.3f} = {pid:.3f} U/h; insulin feedback "
        f"{ifb:.3f} U/h → {rate:.3f} U/h",
        (("p", p), ("i", integral), ("d", d), ("pid", pid), ("ifb", ifb), ("rate", rate)))
    running = inp.pump.temp_basal
    if running is not None and running.remaining_min >= 15 \
            and abs(running.rate_u_per_h - rate) < 0.05:
        return Decision(reasons=(reason, Reason("similar_temp", "a similar temp is running"))), \
            new_state, terms
    return Decision(TempBasal(rate, s.temp_duration_min), reasons=(reason,)), new_state, terms


class PidController:
    """PID-IFB behind the :class:`~pumplab.control.interface.Controller` interface.

    Holds the integral between cycles (one controller per pump); :meth:`reset`
    forgets it.
    """

    def __init__(self, settings: PidSettings) -> None:
        self.settings = settings
        self.state = PidState()
        self.last_terms: PidTerms | None = None

    @property
    def name(self) -> str:
        """``pid``."""
        return "pid"

    def reset(self) -> None:
        """Forget the integral (the next cycle starts again at the scheduled basal)."""
        self.state = PidState()

    def decide(self, inputs: ControllerInput) -> Decision:
        """One cycle of :func:`pid_step`, keeping the new state."""
        decision, self.state, self.last_terms = pid_step(self.settings, self.state, inputs)
        return decision

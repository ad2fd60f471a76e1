"""The safety supervisor: an independent check between any controller and the pump.

Every cycle, :func:`supervise` takes the controller's outcome (a decision, an
exception, a timeout — see :func:`call_controller`) and the same
:class:`~pumplab.control.interface.ControllerInput` the controller saw, and
returns the decision to send with every change it made recorded as an
:class:`Override` (the :class:`Rule` that bound and why).  It uses none of
the controller's maths: its glucose trend, its insulin-on-board figure (the
pump's own) and its limits are its own.

In order:

1. **Pump state** — a suspended pump, or one that cannot vouch for its
   state (NaN IOB or basal), is sent nothing.
2. **CGM data** — no reading for more than 15 min (``stale``), a noisy trace
   (mean absolute second difference over 30 min above 20 mg/dL, or a reading
   outside the sensor's 39–401 mg/dL), or a flat one (no change at all over
   45 min): **fall back to the scheduled basal** (cancel a running temp).
3. **Controller** — it raised, timed out, or returned nonsense (not a
   ``Decision``; a NaN, infinite, negative or non-numeric rate, duration or
   bolus; a duration that is not 0 or ≥ 30 min; a malformed meal bolus): fall
   back likewise — but the CGM data are good, so steps 5 and 6 still apply to
   the fallback (a predicted low still suspends).
4. **Limits** on a sane decision: a meal bolus (below) first; temp
   durations on the pump's 30-min grid and at most ``max_temp_duration_min``;
   rate at most ``max_temp_basal_u_per_h``; micro-bolus at most
   ``max_micro_bolus_u``; the insulin it adds above the schedule (temp excess
   over its duration, plus the micro-bolus) within ``max_iob_u`` of the pump's
   IOB plus the meal bolus being sent (micro-bolus cut first); rates and
   boluses rounded *down* to the pump's increments.
5. **Predicted low** — from the CGM trend alone (least squares over 20 min,
   projected 30 min): if the current or projected BG is below 70 mg/dL, no
   micro-bolus and a **zero temp** (30 min) unless the controller already
   asked for a zero temp or one is running.
6. **Withholding limits** — see below.

Meal boluses
------------
A :class:`~pumplab.control.interface.MealBolus` (a Bolus Wizard bolus for an
announced meal) is the person's bolus, not an automatic one: it is not held
to the micro-bolus or IOB limits and a predicted low does not drop it (the
meal's carbs are coming, and the wizard already reduces the bolus below
target).  Instead the supervisor sends it only for a meal announced in the
input (a carb record at ``announced_ms`` with those carbs) at most
``meal_window_min`` ago and not bolused before (by a non-automatic bolus at or
after it, or by a meal bolus this supervisor sent), and never more than its
*own* Bolus Wizard figure for that meal (``pumplab.therapy.bolus_wizard`` on
the profile, the latest CGM reading if fresh, bolus insulin on board) nor the
pump's max bolus (``max_meal_bolus_u``); rounded down to the bolus increment.
It is checked on stale or noisy CGM data too (the wizard then has no BG: food
only), but not when the pump is suspended or the controller failed.

Withholding and the secure pump
-------------------------------
The secure pump limits *withholding from the air* (docs/pump.md,
``devices/pump/safety.py``): a temp below 1/4 of the scheduled basal counts;
at most 120 min an episode (episodes less than 30 min apart are one, the gap
included) and 360 min in 24 h; a withholding temp that would exceed either
is refused.  The supervisor keeps its own ledger of withholding (temps it
sent, and any it sees running in pump status), counted as an upper bound
(a temp is assumed to have run until the status that no longer shows it),
and takes the larger of its count and the pump's if the pump reports one.

**When a limit binds** — the decision (the controller's, or the supervisor's
own suspend) is a withholding temp longer than what remains of the episode
or daily budget: **the pump's limit wins.**  The supervisor shortens the
temp to the remaining budget in 30-min steps; when less than 30 min remain it
sends instead the lowest rate that does *not* withhold (1/4 of the highest
scheduled rate over the next 30 min, rounded up to the basal grid), so the
pump never has to refuse and delivery never reverts to the full schedule
because a zero temp was refused.  It never tries to get round the limit
(chaining temps does not reset an episode: the gap counts).  If a low is
predicted at that moment it raises the alert
:attr:`AlertKind.LOW_PREDICTED_WITHHOLD_LIMIT`: the person must treat the
low (carbohydrate), because insulin can no longer be withheld.  Each binding
is counted per limit (:attr:`Rule.WITHHOLD_EPISODE_LIMIT`,
:attr:`Rule.WITHHOLD_DAY_LIMIT`) for trial reports.

Counters of every rule and alert live in :class:`SupervisorState`;
:class:`Supervisor` is a small holder of that state for a loop.

No I/O and no clock: time is the input's ``now_ms``.  :func:`call_controller`
measures a controller's run time only with a timer the caller passes in; it
cannot interrupt a controller that never returns (an in-process call cannot
be pre-empted); an out-of-process controller reports its own timeout as
:class:`TimedOut`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeGuard

from pumplab.control.interface import (
    MS_PER_MINUTE,
    CgmReading,
    Controller,
    ControllerInput,
    Decision,
    MealBolus,
    Reason,
    TempBasal,
)
from pumplab.errors import ControllerTimeoutError, InputError, SettingsError
from pumplab.therapy import (
    MILLIUNITS_PER_U,
    X23_BASAL_INCREMENT,
    X23_BOLUS_INCREMENT,
    X23_MAX_BOLUS_DEFAULT_U,
    X23_MAX_BOLUS_LIMIT_U,
    Dose,
    IncrementRule,
    WizardSettings,
    bolus_wizard,
    insulin_on_board,
    round_down,
)

__all__ = [
    "Alert",
    "AlertKind",
    "ControllerOutcome",
    "Decided",
    "Override",
    "Raised",
    "Rule",
    "SupervisedDecision",
    "Supervisor",
    "SupervisorLimits",
    "SupervisorState",
    "TimedOut",
    "WithholdLedger",
    "call_controller",
    "predicted_bg",
    "supervise",
]

#: The pump accepts temp basal durations in 30-min steps (MiniMed temp basal).
TEMP_STEP_MIN = 30
#: The CGM's reporting range: values outside are sensor states, not glucose.
CGM_MIN_MG_DL = 39.0
CGM_MAX_MG_DL = 401.0
MS_PER_DAY = 24 * 60 * MS_PER_MINUTE
#: A running temp ending within 2 min of a planned withholding interval is taken to be the
#: temp that was sent (the pump starts it a moment after it was sent; remaining minutes
#: are whole).
SAME_TEMP_SLACK_MS = 2 * MS_PER_MINUTE


class Rule(enum.StrEnum):
    """Why the supervisor changed or replaced a decision."""

    PUMP_SUSPENDED = "pump_suspended"
    PUMP_STATE_UNKNOWN = "pump_state_unknown"
    STALE_CGM = "stale_cgm"
    NOISY_CGM = "noisy_cgm"
    FLAT_CGM = "flat_cgm"
    CONTROLLER_RAISED = "controller_raised"
    CONTROLLER_TIMED_OUT = "controller_timed_out"
    CONTROLLER_NONSENSE = "controller_nonsense"
    MAX_TEMP_DURATION = "max_temp_duration"
    MAX_TEMP_BASAL = "max_temp_basal"
    MAX_MICRO_BOLUS = "max_micro_bolus"
    MAX_IOB = "max_iob"
    PREDICTED_LOW = "predicted_low"
    WITHHOLD_EPISODE_LIMIT = "withhold_episode_limit"
    WITHHOLD_DAY_LIMIT = "withhold_day_limit"
    PUMP_INCREMENT = "pump_increment"
    MEAL_BOLUS_REFUSED = "meal_bolus_refused"
    MEAL_BOLUS_LIMIT = "meal_bolus_limit"


class AlertKind(enum.StrEnum):
    """Alerts for the person (the wiring shows or sounds them)."""

    #: A low is predicted and insulin can no longer be withheld: treat the low.
    LOW_PREDICTED_WITHHOLD_LIMIT = "low_predicted_withhold_limit"


@dataclass(frozen=True, slots=True)
class Override:
    """One change the supervisor made: the ``rule`` that bound and a human ``detail``."""

    rule: Rule
    detail: str


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert raised to the person."""

    kind: AlertKind
    detail: str


# ---------------------------------------------------------------- controller outcome


@dataclass(frozen=True, slots=True)
class Decided:
    """The controller returned ``output`` (whatever it is: the supervisor checks it)."""

    output: object


@dataclass(frozen=True, slots=True)
class Raised:
    """The controller raised; ``error`` is the exception's type and message."""

    error: str


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The controller took ``elapsed_s`` against a budget of ``budget_s``."""

    elapsed_s: float
    budget_s: float


ControllerOutcome = Decided | Raised | TimedOut


def call_controller(controller: Controller, inputs: ControllerInput, *,
                    timer: Callable[[], float] | None = None,
                    budget_s: float = 5.0) -> ControllerOutcome:
    """Run ``controller.decide(inputs)``, catching any exception.

    With ``timer`` (a monotonic clock in seconds, e.g. ``time.perf_counter``,
    passed in by the loop's edge), a call that took longer than ``budget_s``
    is :class:`TimedOut` and its answer discarded.  A controller that enforces
    its own deadline (the ``external`` one) raises
    :class:`~pumplab.errors.ControllerTimeoutError`, which is :class:`TimedOut`
    with the controller's own figures.
    """
    start = timer() if timer is not None else 0.0
    try:
        output = controller.decide(inputs)
    except ControllerTimeoutError as exc:
        return TimedOut(exc.elapsed_s, exc.budget_s)
    except Exception as exc:  # any controller failure becomes a recorded fallback
        return Raised(f"{type(exc).__name__}: {exc}")
    if timer is not None:
        elapsed = timer() - start
        if elapsed > budget_s:
            return TimedOut(elapsed, budget_s)
    return Decided(output)


# ---------------------------------------------------------------- limits


@dataclass(frozen=True, slots=True)
class SupervisorLimits:
    """The supervisor's limits.  Defaults: see the module docstring and docs/controllers.md.

    ``max_iob_u`` is on the pump's *total* active insulin (as the secure
    pump's own max-active-insulin limit): set it above the basal's own steady
    active insulin.  The withholding figures must be the pump's settings
    (``max_radio_withhold_min``, ``max_radio_withhold_per_day_min``; the
    divisor and merge gap are the pump's constants).
    """

    max_iob_u: float
    max_temp_basal_u_per_h: float
    max_micro_bolus_u: float = 1.0
    max_meal_bolus_u: float = X23_MAX_BOLUS_DEFAULT_U
    meal_window_min: float = 30.0
    max_temp_duration_min: int = 120
    low_suspend_mg_dl: float = 70.0
    low_horizon_min: float = 30.0
    trend_window_min: float = 20.0
    suspend_duration_min: int = 30
    stale_after_min: float = 15.0
    noise_window_min: float = 30.0
    noise_limit_mg_dl: float = 20.0
    flat_window_min: float = 45.0
    flat_min_readings: int = 7
    max_withhold_episode_min: int = 120
    max_withhold_day_min: int = 360
    withhold_merge_gap_min: int = 30
    withhold_divisor: int = 4
    basal_increment: IncrementRule = X23_BASAL_INCREMENT
    bolus_increment: IncrementRule = X23_BOLUS_INCREMENT

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> SettingsError:
            return SettingsError(f"{getattr(self, name)!r} is out of range", field=name,
                                 allowed=allowed)

        for name in ("max_iob_u", "max_temp_basal_u_per_h", "max_micro_bolus_u",
                     "max_meal_bolus_u", "meal_window_min", "low_suspend_mg_dl",
                     "low_horizon_min", "trend_window_min", "stale_after_min",
                     "noise_window_min", "noise_limit_mg_dl", "flat_window_min"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, int | float)
                                               and math.isfinite(value) and value >= 0):
                raise bad(name, "a finite number ≥ 0")
        for name in ("max_temp_duration_min", "suspend_duration_min"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= TEMP_STEP_MIN
                    and value % TEMP_STEP_MIN == 0):
                raise bad(name, "a whole number of minutes, ≥ 30, in 30-min steps")
        if self.max_meal_bolus_u > X23_MAX_BOLUS_LIMIT_U:
            raise bad("max_meal_bolus_u", f"at most {X23_MAX_BOLUS_LIMIT_U:g} U (the pump's "
                                          f"max bolus limit)")
        if self.suspend_duration_min > self.max_temp_duration_min:
            raise bad("suspend_duration_min", "at most max_temp_duration_min")
        for name in ("flat_min_readings", "max_withhold_episode_min", "max_withhold_day_min",
                     "withhold_merge_gap_min", "withhold_divisor"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise bad(name, "a whole number ≥ 1")
        if self.max_withhold_day_min < self.max_withhold_episode_min:
            raise bad("max_withhold_day_min", "at least max_withhold_episode_min")


# ---------------------------------------------------------------- withholding ledger


@dataclass(frozen=True, slots=True)
class WithholdLedger:
    """Withholding intervals ``(start_ms, end_ms)`` in time order; an end may be in the
    future (a temp planned to run until then).  Upper bounds of what the pump counts."""

    intervals: tuple[tuple[int, int], ...] = ()

    def _set_last_end(self, end_ms: int) -> WithholdLedger:
        start, _ = self.intervals[-1]
        return WithholdLedger((*self.intervals[:-1], (start, end_ms)))

    def _open(self, now_ms: int, end_ms: int) -> WithholdLedger:
        if self.intervals and self.intervals[-1][1] >= now_ms:
            return self._set_last_end(end_ms)
        return WithholdLedger((*self.intervals, (now_ms, end_ms)))

    def observe(self, now_ms: int, withholding_until_ms: int | None,
                running_until_ms: int | None = None) -> WithholdLedger:
        """Update from pump status at ``now_ms``.

        ``running_until_ms`` is when the running temp (any rate) ends, None if none;
        ``withholding_until_ms`` the same if that temp withholds at the scheduled rates
        ahead (or ``now_ms`` for a suspend), None otherwise.  A planned interval whose temp
        still runs to its planned end is kept (the pump judged it withholding when it
        started, whatever the schedule says now); one the pump no longer shows ended by
        ``now_ms``.
        """
        ledger = self
        planned = ledger.intervals[-1][1] if ledger.intervals else None
        if (planned is not None and planned > now_ms and running_until_ms is not None
                and abs(running_until_ms - planned) <= SAME_TEMP_SLACK_MS):
            ledger = ledger._set_last_end(max(planned, running_until_ms))
        elif withholding_until_ms is not None:
            ledger = ledger._open(now_ms, max(withholding_until_ms, now_ms))
        elif planned is not None and planned > now_ms:
            ledger = ledger._set_last_end(now_ms)
        return ledger.pruned(now_ms)

    def commit(self, now_ms: int, withholding_min: int | None,
               changes_basal: bool) -> WithholdLedger:
        """Record what was sent: a withholding temp of ``withholding_min`` (or None), or, if
        ``changes_basal``, a non-withholding temp or cancel that ends any withholding now."""
        if withholding_min is not None:
            return self._open(now_ms, now_ms + withholding_min * MS_PER_MINUTE)
        if changes_basal and self.intervals and self.intervals[-1][1] > now_ms:
            return self._set_last_end(now_ms)
        return self

    def pruned(self, now_ms: int) -> WithholdLedger:
        """Drop intervals that ended more than 25 h ago (they count for nothing any more)."""
        oldest = now_ms - MS_PER_DAY - 60 * MS_PER_MINUTE
        keep = tuple(iv for iv in self.intervals if iv[1] > oldest)
        return self if len(keep) == len(self.intervals) else WithholdLedger(keep)

    def episodes(self, now_ms: int, merge_gap_min: int) -> list[tuple[int, int]]:
        """Withholding up to ``now_ms`` merged into episodes (gaps under the merge gap join
        and count), as the pump counts them."""
        gap_ms = merge_gap_min * MS_PER_MINUTE
        merged: list[tuple[int, int]] = []
        for start, end in self.intervals:
            if start >= now_ms:
                continue
            end = min(end, now_ms)
            if merged and start - merged[-1][1] < gap_ms:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def usage_min(self, now_ms: int, merge_gap_min: int) -> tuple[float, float]:
        """(episode so far, last 24 h) in minutes, for a withholding temp starting at ``now_ms``.

        The episode is the one in progress, or the last one if it ended less than
        the merge gap ago (a new withholding would continue it, the gap included).
        """
        episodes = self.episodes(now_ms, merge_gap_min)
        episode_ms = 0
        if episodes:
            start, end = episodes[-1]
            if now_ms - end < merge_gap_min * MS_PER_MINUTE:
                episode_ms = now_ms - start
        since = now_ms - MS_PER_DAY
        day_ms = sum(max(0, min(end, now_ms) - max(start, since)) for start, end in episodes)
        if episodes and 0 < now_ms - episodes[-1][1] < merge_gap_min * MS_PER_MINUTE:
            day_ms += now_ms - episodes[-1][1]  # the gap a continuation would count
        return episode_ms / MS_PER_MINUTE, day_ms / MS_PER_MINUTE


# ---------------------------------------------------------------- state


def _zero_counts(kinds: Sequence[enum.Enum]) -> tuple[int, ...]:
    return tuple(0 for _ in kinds)


@dataclass(frozen=True, slots=True)
class SupervisorState:
    """The ledger, the announced meals already bolused (their ``announced_ms``, last
    24 h) and, per rule and alert, how many cycles it bound or was raised."""

    ledger: WithholdLedger = WithholdLedger()
    meal_boluses: tuple[int, ...] = ()
    rule_counts: tuple[int, ...] = field(default_factory=lambda: _zero_counts(list(Rule)))
    alert_counts: tuple[int, ...] = field(default_factory=lambda: _zero_counts(list(AlertKind)))
    cycles: int = 0

    def count(self, rule: Rule) -> int:
        """Cycles in which ``rule`` bound."""
        return self.rule_counts[list(Rule).index(rule)]

    def alerts(self, kind: AlertKind) -> int:
        """Cycles in which alert ``kind`` was raised."""
        return self.alert_counts[list(AlertKind).index(kind)]

    def counters(self) -> dict[str, int]:
        """All counters by name (``cycles``, every rule, every alert), for trial reports."""
        out = {"cycles": self.cycles}
        out.update({str(r): n for r, n in zip(Rule, self.rule_counts, strict=True)})
        out.update({f"alert:{k}": n for k, n in zip(AlertKind, self.alert_counts, strict=True)})
        return out


@dataclass(frozen=True, slots=True)
class SupervisedDecision:
    """What to send the pump this cycle, and why it differs from what was asked."""

    t_ms: int
    decision: Decision
    requested: ControllerOutcome
    overrides: tuple[Override, ...]
    alerts: tuple[Alert, ...]
    predicted_bg_mg_dl: float | None
    withheld_episode_min: float
    withheld_day_min: float

    @property
    def overridden(self) -> bool:
        """True if any rule changed the controller's decision."""
        return bool(self.overrides)


# ---------------------------------------------------------------- CGM checks


def _recent(cgm: Sequence[CgmReading], now_ms: int, window_min: float) -> list[CgmReading]:
    since = now_ms - window_min * MS_PER_MINUTE
    return [r for r in cgm if since <= r.t_ms <= now_ms]


def _cgm_problem(inp: ControllerInput, lim: SupervisorLimits) -> Override | None:
    latest = inp.latest_cgm()
    if latest is None:
        return Override(Rule.STALE_CGM, "no CGM reading")
    age_min = (inp.now_ms - latest.t_ms) / MS_PER_MINUTE
    if age_min > lim.stale_after_min:
        return Override(Rule.STALE_CGM, f"last CGM reading {age_min:.1f} min old "
                                        f"(limit {lim.stale_after_min:g} min)")
    if not CGM_MIN_MG_DL <= latest.bg_mg_dl <= CGM_MAX_MG_DL:
        return Override(Rule.NOISY_CGM, f"CGM reading {latest.bg_mg_dl:g} mg/dL is outside "
                                        f"the sensor's {CGM_MIN_MG_DL:g}–{CGM_MAX_MG_DL:g}")
    window = _recent(inp.cgm, inp.now_ms, lim.noise_window_min)
    if len(window) >= 3:
        jerks = [abs(c.bg_mg_dl - 2 * b.bg_mg_dl + a.bg_mg_dl)
                 for a, b, c in zip(window, window[1:], window[2:], strict=False)]
        jerk = sum(jerks) / len(jerks)
        if jerk > lim.noise_limit_mg_dl:
            return Override(Rule.NOISY_CGM, f"CGM noise: mean second difference {jerk:.1f} "
                                            f"mg/dL over {lim.noise_window_min:g} min (limit "
                                            f"{lim.noise_limit_mg_dl:g})")
    flat = _recent(inp.cgm, inp.now_ms, lim.flat_window_min)
    if len(flat) >= lim.flat_min_readings and len({r.bg_mg_dl for r in flat}) == 1:
        return Override(Rule.FLAT_CGM, f"CGM unchanged at {latest.bg_mg_dl:g} mg/dL for "
                                       f"{len(flat)} readings over {lim.flat_window_min:g} min")
    return None


def predicted_bg(inp: ControllerInput, lim: SupervisorLimits) -> float | None:
    """The latest BG projected ``low_horizon_min`` ahead on the least-squares trend of the
    last ``trend_window_min`` (no trend from fewer than 2 readings over less than 5 min)."""
    latest = inp.latest_cgm()
    if latest is None:
        return None
    window = _recent(inp.cgm, latest.t_ms, lim.trend_window_min)
    slope = 0.0
    if len(window) >= 2 and window[-1].t_ms - window[0].t_ms >= 5 * MS_PER_MINUTE:
        ts = [(r.t_ms - latest.t_ms) / MS_PER_MINUTE for r in window]
        bgs = [r.bg_mg_dl for r in window]
        t_mean, bg_mean = sum(ts) / len(ts), sum(bgs) / len(bgs)
        var = sum((t - t_mean) ** 2 for t in ts)
        slope = sum((t - t_mean) * (b - bg_mean) for t, b in zip(ts, bgs, strict=True)) / var
    return latest.bg_mg_dl + slope * lim.low_horizon_min


# ---------------------------------------------------------------- decision checks


def _is_number(x: object) -> TypeGuard[int | float]:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _nonsense(output: object) -> str | None:
    """Why ``output`` is not a usable decision, or None if it is."""
    if not isinstance(output, Decision):
        return f"returned {type(output).__name__}, not a Decision"
    # Typed fields, but a controller can put anything in them: check as objects.
    reasons: object = output.reasons
    if not isinstance(reasons, tuple) or not all(isinstance(r, Reason) for r in reasons):
        return "reasons are not a tuple of Reason"
    meal: object = output.meal_bolus
    if meal is not None:
        why = _meal_nonsense(meal)
        if why is not None:
            return why
    temp: object = output.temp_basal
    if temp is not None:
        if not isinstance(temp, TempBasal):
            return f"temp_basal is {type(temp).__name__}, not a TempBasal"
        rate, duration = temp.rate_u_per_h, temp.duration_min
        if not (_is_number(rate) and math.isfinite(rate) and rate >= 0):
            return f"temp basal rate {rate!r} is not a finite number ≥ 0"
        if not (_is_number(duration) and math.isfinite(duration)
                and duration == math.floor(duration)):
            return f"temp basal duration {duration!r} is not a whole number of minutes"
        if not (duration == 0 or duration >= TEMP_STEP_MIN):
            return f"temp basal duration {duration!r} min is neither 0 (cancel) nor ≥ 30"
    bolus: object = output.micro_bolus_u
    if bolus is not None and not (_is_number(bolus) and math.isfinite(bolus) and bolus >= 0):
        return f"micro-bolus {bolus!r} is not a finite number ≥ 0"
    return None


def _meal_nonsense(meal: object) -> str | None:
    if not isinstance(meal, MealBolus):
        return f"meal_bolus is {type(meal).__name__}, not a MealBolus"
    if not (isinstance(meal.announced_ms, int) and not isinstance(meal.announced_ms, bool)):
        return f"meal bolus announced_ms {meal.announced_ms!r} is not an integer time"
    carbs: object = meal.carbs_g
    if not (_is_number(carbs) and math.isfinite(carbs) and carbs > 0):
        return f"meal bolus carbs {carbs!r} g are not a finite number > 0"
    bg: object = meal.bg_mg_dl
    if bg is not None and not (_is_number(bg) and math.isfinite(bg)):
        return f"meal bolus BG {bg!r} is neither None nor a finite number"
    units: object = meal.units
    if not (_is_number(units) and math.isfinite(units) and units >= 0):
        return f"meal bolus {units!r} U is not a finite number ≥ 0"
    return None


def _scheduled_rates(inp: ControllerInput, duration_min: float) -> list[float]:
    """Scheduled basal rates in force from now for ``duration_min`` (pump's user clock)."""
    sched = inp.profile.basal
    minute = inp.minute_of_day
    rates = {inp.pump.scheduled_basal_u_per_h, sched.value_at(minute)}
    for seg in sched.segments:
        ahead = (seg.start_min - minute) % 1440
        if 0 < ahead < duration_min:
            rates.add(seg.value)
    if duration_min >= 1440:
        rates.update(seg.value for seg in sched.segments)
    return sorted(rates)


def _withholds(rate: float, rates: Sequence[float], divisor: int) -> bool:
    return any(rate * divisor < r for r in rates if r > 0)


def _round_up(units: float, rule: IncrementRule) -> float:
    down = round_down(units, rule)
    if down >= units - 1e-9:
        return down
    mu = round(down * MILLIUNITS_PER_U)
    return (mu + rule.step_mu_at(mu)) / MILLIUNITS_PER_U


@dataclass
class _Work:
    """A decision being made safe (private, mutable)."""

    temp: TempBasal | None
    bolus: float
    overrides: list[Override]
    meal_u: float = 0.0


def _wizard_limit_u(meal: MealBolus, inp: ControllerInput, lim: SupervisorLimits) -> float | None:
    """The supervisor's own Bolus Wizard figure for ``meal`` (None: the wizard refuses it)."""
    profile = inp.profile
    latest = inp.latest_cgm()
    bg = None
    if (latest is not None and inp.now_ms - latest.t_ms <= lim.stale_after_min * MS_PER_MINUTE
            and CGM_MIN_MG_DL <= latest.bg_mg_dl <= CGM_MAX_MG_DL):
        bg = latest.bg_mg_dl
    now_min = inp.now_ms / MS_PER_MINUTE
    iob = insulin_on_board([Dose(b.t_ms / MS_PER_MINUTE, b.units) for b in inp.boluses
                            if math.isfinite(b.units) and b.units > 0],
                           now_min, profile.insulin_curve)
    try:
        wizard = WizardSettings(carb_ratio_g_per_u=profile.carb_ratio,
                                isf_mg_dl_per_u=profile.isf, bg_target=profile.target,
                                max_bolus_u=X23_MAX_BOLUS_LIMIT_U)
        return bolus_wizard(carbs_g=meal.carbs_g, bg_mg_dl=bg, active_insulin_u=max(0.0, iob),
                            minute_of_day=inp.minute_of_day, settings=wizard).total_u
    except InputError:
        return None


def _meal(meal: MealBolus, inp: ControllerInput, lim: SupervisorLimits, state: SupervisorState,
          overrides: list[Override]) -> float:
    """Step 4, meal bolus: the units to send (0: none), every refusal or cut recorded."""
    what = f"meal bolus {meal.units:g} U for {meal.carbs_g:g} g announced at {meal.announced_ms}"
    announced = any(c.t_ms == meal.announced_ms and abs(c.carbs_g - meal.carbs_g) < 1e-9
                    for c in inp.carbs)
    age_min = (inp.now_ms - meal.announced_ms) / MS_PER_MINUTE
    refusal = None
    if not announced:
        refusal = "no such meal announced"
    elif not 0 <= age_min <= lim.meal_window_min:
        refusal = f"announced {age_min:.0f} min ago (window {lim.meal_window_min:g} min)"
    elif meal.announced_ms in state.meal_boluses or any(
            not b.automatic and meal.announced_ms <= b.t_ms <= inp.now_ms for b in inp.boluses):
        refusal = "that meal was bolused already"
    if refusal is not None:
        if meal.units > 0:
            overrides.append(Override(Rule.MEAL_BOLUS_REFUSED, f"{what} refused: {refusal}"))
        return 0.0
    units = float(meal.units)
    wizard = _wizard_limit_u(meal, inp, lim)
    if wizard is None:
        overrides.append(Override(Rule.MEAL_BOLUS_REFUSED, f"{what} refused: the Bolus Wizard "
                                                           f"does not take {meal.carbs_g:g} g"))
        return 0.0
    cap = min(wizard, lim.max_meal_bolus_u)
    if units > cap + 1e-9:
        overrides.append(Override(Rule.MEAL_BOLUS_LIMIT,
                                  f"{what} cut to {cap:g} U (wizard {wizard:g} U, max bolus "
                                  f"{lim.max_meal_bolus_u:g} U)"))
        units = cap
    rounded = round_down(units, lim.bolus_increment)
    if rounded != units:
        overrides.append(Override(Rule.PUMP_INCREMENT, f"meal bolus {units:.4g} U rounded down "
                                                       f"to {rounded:g} U"))
    return rounded


def _limit(work: _Work, inp: ControllerInput, lim: SupervisorLimits) -> None:
    """Step 4: durations, rate, bolus, IOB, pump increments."""
    temp = work.temp
    if temp is not None and not temp.cancels:
        duration = int(temp.duration_min) // TEMP_STEP_MIN * TEMP_STEP_MIN
        if duration != temp.duration_min:
            work.overrides.append(Override(Rule.PUMP_INCREMENT,
                                           f"temp duration {temp.duration_min} min rounded down "
                                           f"to {duration} min (30-min steps)"))
        if duration > lim.max_temp_duration_min:
            work.overrides.append(Override(Rule.MAX_TEMP_DURATION,
                                           f"temp duration {duration} min cut to "
                                           f"{lim.max_temp_duration_min} min"))
            duration = lim.max_temp_duration_min
        rate = float(temp.rate_u_per_h)
        if rate > lim.max_temp_basal_u_per_h:
            work.overrides.append(Override(Rule.MAX_TEMP_BASAL,
                                           f"temp rate {rate:g} U/h cut to "
                                           f"{lim.max_temp_basal_u_per_h:g} U/h"))
            rate = lim.max_temp_basal_u_per_h
        temp = TempBasal(rate, duration)
    elif temp is not None:
        temp = TempBasal(0.0, 0)
    if work.bolus > lim.max_micro_bolus_u:
        work.overrides.append(Override(Rule.MAX_MICRO_BOLUS,
                                       f"micro-bolus {work.bolus:g} U cut to "
                                       f"{lim.max_micro_bolus_u:g} U"))
        work.bolus = lim.max_micro_bolus_u
    # IOB: the insulin the decision adds above the schedule must fit under max_iob_u.
    scheduled = inp.pump.scheduled_basal_u_per_h
    iob = (inp.pump.iob_u + work.meal_u) if math.isfinite(inp.pump.iob_u) else math.inf
    excess = 0.0
    if temp is not None and not temp.cancels and temp.rate_u_per_h > scheduled:
        excess = (temp.rate_u_per_h - scheduled) * temp.duration_min / 60
    headroom = lim.max_iob_u - iob
    if excess + work.bolus > max(0.0, headroom) + 1e-9:
        # The temp keeps what fits first; the micro-bolus is cut first.
        room = max(0.0, headroom)
        temp_room = min(excess, room)
        bolus = min(work.bolus, room - temp_room)
        detail = f"IOB {iob:.2f} U + {excess + work.bolus:.2f} U asked > max {lim.max_iob_u:g} U"
        if temp is not None and excess > temp_room:
            temp = TempBasal(scheduled + temp_room * 60 / temp.duration_min, temp.duration_min)
            detail += f"; temp cut to {temp.rate_u_per_h:.3f} U/h"
        if bolus < work.bolus:
            detail += f"; micro-bolus cut to {bolus:.3f} U"
        work.overrides.append(Override(Rule.MAX_IOB, detail))
        work.bolus = bolus
    # The pump's increments, always down.
    if temp is not None and not temp.cancels:
        rounded = round_down(temp.rate_u_per_h, lim.basal_increment)
        if rounded != temp.rate_u_per_h:
            work.overrides.append(Override(Rule.PUMP_INCREMENT,
                                           f"temp rate {temp.rate_u_per_h:.4g} U/h rounded down "
                                           f"to {rounded:g} U/h"))
        temp = TempBasal(rounded, temp.duration_min)
    if work.bolus > 0:
        rounded = round_down(work.bolus, lim.bolus_increment)
        if rounded != work.bolus:
            work.overrides.append(Override(Rule.PUMP_INCREMENT, f"micro-bolus {work.bolus:.4g} U "
                                                                f"rounded down to {rounded:g} U"))
        work.bolus = rounded
    work.temp = temp


def _suspend_for_low(work: _Work, inp: ControllerInput, lim: SupervisorLimits,
                     predicted: float) -> None:
    """Step 5: no bolus, and a zero temp unless one is asked for or running."""
    latest = inp.latest_cgm()
    assert latest is not None
    why = (f"BG {latest.bg_mg_dl:g} mg/dL, {predicted:.0f} mg/dL predicted in "
           f"{lim.low_horizon_min:g} min (limit {lim.low_suspend_mg_dl:g})")
    if work.bolus > 0:
        work.overrides.append(Override(Rule.PREDICTED_LOW, f"micro-bolus dropped: {why}"))
        work.bolus = 0.0
    temp = work.temp
    if temp is not None and not temp.cancels and temp.rate_u_per_h == 0:
        return
    running = inp.pump.temp_basal
    if (temp is None or temp.cancels) and running is not None \
            and running.rate_u_per_h == 0 and running.remaining_min > 0:
        if temp is not None:  # a cancel (or a fallback) would end the running zero temp
            work.temp = None
            work.overrides.append(Override(Rule.PREDICTED_LOW,
                                           f"running zero temp kept, not cancelled: {why}"))
        return
    work.temp = TempBasal(0.0, lim.suspend_duration_min)
    work.overrides.append(Override(Rule.PREDICTED_LOW,
                                   f"zero temp for {lim.suspend_duration_min} min: {why}"))


def _fit_withholding(work: _Work, inp: ControllerInput, lim: SupervisorLimits,
                     episode_min: float, day_min: float, low: bool) -> list[Alert]:
    """Step 6: keep a withholding temp inside the pump's episode and daily budgets."""
    temp = work.temp
    if temp is None or temp.cancels:
        return []
    rates = _scheduled_rates(inp, temp.duration_min)
    if not _withholds(temp.rate_u_per_h, rates, lim.withhold_divisor):
        return []
    episode_left = lim.max_withhold_episode_min - episode_min
    day_left = lim.max_withhold_day_min - day_min
    left = min(episode_left, day_left)
    if temp.duration_min <= left:
        return []
    rule = Rule.WITHHOLD_EPISODE_LIMIT if episode_left <= day_left else Rule.WITHHOLD_DAY_LIMIT
    allowed = int(max(0.0, left) // TEMP_STEP_MIN * TEMP_STEP_MIN)
    if allowed >= TEMP_STEP_MIN:
        work.temp = TempBasal(temp.rate_u_per_h, allowed)
        what = f"withholding temp cut to {allowed} min"
    else:
        floor_rates = _scheduled_rates(inp, TEMP_STEP_MIN)
        floor = _round_up(max(floor_rates) / lim.withhold_divisor, lim.basal_increment)
        work.temp = TempBasal(floor, TEMP_STEP_MIN)
        what = f"no withholding left: {floor:g} U/h (1/{lim.withhold_divisor} of the schedule)"
    work.overrides.append(Override(rule, f"{what} (episode {episode_min:.0f}/"
                                         f"{lim.max_withhold_episode_min} min, day "
                                         f"{day_min:.0f}/{lim.max_withhold_day_min} min)"))
    if not low:
        return []
    return [Alert(AlertKind.LOW_PREDICTED_WITHHOLD_LIMIT,
                  f"low predicted and the pump's withholding limit is reached ({what}): "
                  f"treat the low with carbohydrate")]


# ---------------------------------------------------------------- the supervisor


def _fallback(inp: ControllerInput) -> TempBasal | None:
    """Back to the scheduled basal: cancel a running temp, else leave the pump alone."""
    running = inp.pump.temp_basal
    return TempBasal(0.0, 0) if running is not None and running.remaining_min > 0 else None


def _controller_failure(outcome: ControllerOutcome) -> Override | None:
    """Why the controller's outcome cannot be used, or None if it is a sane Decision."""
    if isinstance(outcome, Raised):
        return Override(Rule.CONTROLLER_RAISED, f"controller raised {outcome.error}")
    if isinstance(outcome, TimedOut):
        return Override(Rule.CONTROLLER_TIMED_OUT, f"controller took {outcome.elapsed_s:.2f} s "
                                                   f"(budget {outcome.budget_s:g} s)")
    why = (_nonsense(outcome.output) if isinstance(outcome, Decided)
           else f"outcome {type(outcome).__name__} is not Decided/Raised/TimedOut")
    return None if why is None else Override(Rule.CONTROLLER_NONSENSE, f"controller {why}")


def _pump_withholding(inp: ControllerInput, lim: SupervisorLimits) -> tuple[int | None,
                                                                            int | None]:
    """(withholding until, running temp until) from pump status (see WithholdLedger.observe)."""
    pump = inp.pump
    if pump.suspended:
        return inp.now_ms, None  # a suspend counts as withholding; its end is unknown
    temp = pump.temp_basal
    if temp is None or not (math.isfinite(temp.remaining_min) and temp.remaining_min > 0):
        return None, None
    until = inp.now_ms + int(temp.remaining_min * MS_PER_MINUTE)
    rates = _scheduled_rates(inp, temp.remaining_min)
    return (until if _withholds(temp.rate_u_per_h, rates, lim.withhold_divisor) else None), until


def supervise(limits: SupervisorLimits, state: SupervisorState, inputs: ControllerInput,
              outcome: ControllerOutcome) -> tuple[SupervisedDecision, SupervisorState]:
    """One cycle: the safe decision for ``outcome`` and the new state (pure)."""
    lim, inp, pump = limits, inputs, inputs.pump
    ledger = state.ledger.observe(inp.now_ms, *_pump_withholding(inp, lim))
    episode_min, day_min = ledger.usage_min(inp.now_ms, lim.withhold_merge_gap_min)
    if pump.withheld_episode_min is not None and math.isfinite(pump.withheld_episode_min):
        episode_min = max(episode_min, pump.withheld_episode_min)
    if pump.withheld_day_min is not None and math.isfinite(pump.withheld_day_min):
        day_min = max(day_min, pump.withheld_day_min)
    overrides: list[Override] = []
    alerts: list[Alert] = []
    predicted: float | None = None
    reasons: tuple[Reason, ...] = ()
    final: Decision
    pump_ok = not pump.suspended and math.isfinite(pump.iob_u) \
        and math.isfinite(pump.scheduled_basal_u_per_h)
    failure = _controller_failure(outcome)
    # A meal bolus (the person's wizard bolus) is checked whatever the CGM says.
    meal: MealBolus | None = None
    meal_u = 0.0
    if pump_ok and failure is None:
        assert isinstance(outcome, Decided) and isinstance(outcome.output, Decision)
        asked_meal = outcome.output.meal_bolus
        if asked_meal is not None:
            meal_u = _meal(asked_meal, inp, lim, state, overrides)
            if meal_u > 0:
                meal = replace(asked_meal, units=meal_u)
    if not pump_ok:
        rule = Rule.PUMP_SUSPENDED if pump.suspended else Rule.PUMP_STATE_UNKNOWN
        overrides.append(Override(rule, "the pump is suspended" if pump.suspended
                                  else "the pump cannot vouch for its state: nothing sent"))
        final = Decision()
    elif (problem := _cgm_problem(inp, lim)) is not None:
        # Without usable CGM data nothing can be predicted: the scheduled basal.
        overrides.append(Override(problem.rule, problem.detail + ": scheduled basal"))
        if isinstance(outcome, Decided) and isinstance(outcome.output, Decision):
            reasons = outcome.output.reasons if failure is None else ()
        final = Decision(temp_basal=_fallback(inp), reasons=reasons, meal_bolus=meal)
    else:
        if failure is not None:
            overrides.append(Override(failure.rule, failure.detail + ": scheduled basal"))
            work = _Work(_fallback(inp), 0.0, overrides)
        else:
            assert isinstance(outcome, Decided) and isinstance(outcome.output, Decision)
            asked = outcome.output
            reasons = asked.reasons
            work = _Work(asked.temp_basal, float(asked.micro_bolus_u or 0.0), overrides, meal_u)
            _limit(work, inp, lim)
        # A predicted low is acted on whatever the controller did, even if it failed.
        predicted = predicted_bg(inp, lim)
        latest = inp.latest_cgm()
        assert predicted is not None and latest is not None
        low = min(latest.bg_mg_dl, predicted) < lim.low_suspend_mg_dl
        if low:
            _suspend_for_low(work, inp, lim, predicted)
        alerts = _fit_withholding(work, inp, lim, episode_min, day_min, low)
        final = Decision(temp_basal=work.temp,
                         micro_bolus_u=work.bolus if work.bolus > 0 else None,
                         reasons=reasons, meal_bolus=meal)
    temp = final.temp_basal
    withholding_min = None
    if temp is not None and not temp.cancels and _withholds(
            temp.rate_u_per_h, _scheduled_rates(inp, temp.duration_min), lim.withhold_divisor):
        withholding_min = int(temp.duration_min)
    ledger = ledger.commit(inp.now_ms, withholding_min, temp is not None)
    rule_counts = list(state.rule_counts)
    for rule in {o.rule for o in overrides}:
        rule_counts[list(Rule).index(rule)] += 1
    alert_counts = list(state.alert_counts)
    for kind in {a.kind for a in alerts}:
        alert_counts[list(AlertKind).index(kind)] += 1
    meals = state.meal_boluses
    if final.meal_bolus is not None:
        meals = (*meals, final.meal_bolus.announced_ms)
    meals = tuple(t for t in meals if t > inp.now_ms - MS_PER_DAY)
    new_state = replace(state, ledger=ledger, meal_boluses=meals,
                        rule_counts=tuple(rule_counts), alert_counts=tuple(alert_counts),
                        cycles=state.cycles + 1)
    return SupervisedDecision(inp.now_ms, final, outcome, tuple(overrides), tuple(alerts),
                              predicted, episode_min, day_min), new_state


class Supervisor:
    """Holds a :class:`SupervisorState` across cycles of a loop (one per pump)."""

    def __init__(self, limits: SupervisorLimits) -> None:
        self.limits = limits
        self.state = SupervisorState()

    def step(self, inputs: ControllerInput, outcome: ControllerOutcome) -> SupervisedDecision:
        """Supervise one cycle and keep the new state."""
        result, self.state = supervise(self.limits, self.state, inputs, outcome)
        return result

    def run(self, controller: Controller, inputs: ControllerInput, *,
            timer: Callable[[], float] | None = None,
            budget_s: float = 5.0) -> SupervisedDecision:
        """Call ``controller`` (see :func:`call_controller`) and supervise its outcome."""
        return self.step(inputs, call_controller(controller, inputs, timer=timer,
                                                 budget_s=budget_s))

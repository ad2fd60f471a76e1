"""The pump's one safety gate: every delivery passes here, whoever asked.

:class:`SafetyGate` decides, with a structured :class:`Decision` (a
:class:`Rule`, a :class:`~pumplab.link.messages.NakReason` and a detail line),

* whether a bolus, a temporary basal or a suspend may *start*
  (:meth:`~SafetyGate.check_bolus`, :meth:`~SafetyGate.check_temp_basal`,
  :meth:`~SafetyGate.check_radio_suspend`) — a request beyond a limit is
  refused on arrival, never shrunk;
* whether each *stroke* may go out (:meth:`~SafetyGate.check_stroke`) — a
  limit reached during delivery stops it (the pump then ends the bolus or temp
  basal with reason ``limit`` and alarms).

Every path calls it: the keys (manual, wizard, easy, square/dual, temp basal),
legacy radio commands, the remote and the controller app.  What differs
between protocol modes is only which :class:`Rule` s are on
(:data:`LEGACY_RULES` — the x23's own max bolus and max basal — or
:data:`SECURE_RULES`, all of them); the code is the same.

The gate keeps the windows it needs, on monotonic device time (a user-clock
change never resets them): every stroke of the last 24 h (rolling hour and
day sums, and the insulin delivered over the low-delivery alarm's period),
the strokes bucketed in 5-minute bins for active insulin, and the intervals
of radio-initiated withholding.

*Withholding* from the air is defined by insulin, not by zero: a suspend
from the air, or a temp basal from the air that delivers less than 1/4 of
the scheduled basal at any time during it (:data:`WITHHOLD_DIVISOR`), opens
an episode; episodes less than :data:`WITHHOLD_MERGE_GAP_MS` apart are one
episode (the gap counts), so chaining short ones does not reset the clock.

It does no I/O, reads no clock (the pump passes ``now_ms``) and writes no
history (the pump does, before acting).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from pumplab.clock import MS_PER_HOUR, MS_PER_MINUTE
from pumplab.devices.pump.access import ProtocolMode
from pumplab.devices.pump.delivery import STROKE_MU, Origin
from pumplab.devices.pump.settings import PumpSettings
from pumplab.link.messages import NakReason
from pumplab.therapy import Dose, insulin_on_board, round_down_mu
from pumplab.therapy.rounding import X23_BASAL_INCREMENT

__all__ = [
    "ALLOW",
    "LEGACY_RULES",
    "SECURE_RULES",
    "WITHHOLD_DIVISOR",
    "WITHHOLD_MERGE_GAP_MS",
    "BolusRequest",
    "Decision",
    "GateView",
    "Rule",
    "SafetyGate",
    "StrokeLedger",
    "TempBasalRequest",
    "WithholdLedger",
    "pattern_rates_mu",
    "scheduled_mu_between",
    "scheduled_rates_mu_between",
]

MS_PER_DAY = 24 * MS_PER_HOUR
#: Active-insulin bins: strokes are summed per 5 minutes of device time and
#: counted as if given at the *end* of their bin (or now, if that is later than
#: now).  Later placement can only overstate active insulin (the on-board
#: fraction never grows with age), so the limit errs on the safe side.
IOB_BIN_MS = 5 * MS_PER_MINUTE
#: Longest active-insulin time the x23 allows (8 h): older bins are dropped.
IOB_HORIZON_MS = 8 * MS_PER_HOUR
#: A temp basal from the air whose rate is below 1/4 of the scheduled rate at any
#: time during it counts as withholding (pumplab's rule; docs/pump.md "Withholding").
#: Below that a "temp basal" is a suspend in all but name: 0.025 U/h against a 1 U/h
#: schedule delivers 2.5 % of the insulin.
WITHHOLD_DIVISOR = 4
#: Withholding episodes separated by less than this are one episode (the gap counts
#: toward it): a controller cannot reset the per-episode limit by pausing briefly.
WITHHOLD_MERGE_GAP_MS = 30 * MS_PER_MINUTE


class Rule(enum.Enum):
    """A limit the gate can enforce."""

    MAX_BOLUS = "max_bolus"
    MAX_BASAL = "max_basal"
    MAX_HOURLY = "max_hourly"
    MAX_DAILY = "max_daily"
    MAX_IOB = "max_iob"
    REMOTE_HOURLY_CAP = "remote_hourly_cap"
    RADIO_WITHHOLD = "radio_withhold"
    NO_DELIVERY_ALARM = "no_delivery_alarm"
    #: Only the person resumes a suspend the person made (keys, a radio suspend taken
    #: over on the keys) or one made for a person who stopped responding (auto-off).
    PERSON_RESUMES = "person_resumes"


#: Legacy-faithful: only what a real Paradigm x23 enforces.
LEGACY_RULES: frozenset[Rule] = frozenset({Rule.MAX_BOLUS, Rule.MAX_BASAL})
#: Secure: every rule.
SECURE_RULES: frozenset[Rule] = frozenset(Rule)


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's answer: allowed, or refused by ``rule`` with a NAK ``reason``."""

    allowed: bool
    reason: NakReason | None = None
    rule: Rule | None = None
    detail: str = ""


ALLOW = Decision(True)


def _refuse(reason: NakReason, detail: str, rule: Rule | None = None) -> Decision:
    return Decision(False, reason, rule, detail)


@dataclass(frozen=True, slots=True)
class BolusRequest:
    """A bolus to start: ``normal_mu`` now, then ``square_mu`` over ``square_duration_ms``."""

    normal_mu: int
    square_mu: int
    square_duration_ms: int
    origin: Origin

    @property
    def total_mu(self) -> int:
        return self.normal_mu + self.square_mu


@dataclass(frozen=True, slots=True)
class TempBasalRequest:
    """A temporary basal: ``rate_mu_per_h`` or ``percent`` (exactly one), for ``duration_ms``."""

    rate_mu_per_h: int | None
    percent: int | None
    duration_ms: int
    origin: Origin

    def rate_mu_at(self, scheduled_mu_per_h: int) -> int:
        """The rate it delivers while the schedule says ``scheduled_mu_per_h``."""
        if self.rate_mu_per_h is not None:
            return self.rate_mu_per_h
        assert self.percent is not None
        return round_down_mu(scheduled_mu_per_h * self.percent // 100, X23_BASAL_INCREMENT)

    def withholds(self, scheduled_rates_mu: tuple[int, ...]) -> bool:
        """True if, at any of the scheduled rates it runs against, it delivers less
        than 1/:data:`WITHHOLD_DIVISOR` of that rate (a zero rate withholds nothing)."""
        return any(self.rate_mu_at(r) * WITHHOLD_DIVISOR < r for r in scheduled_rates_mu
                   if r > 0)


@dataclass(frozen=True, slots=True)
class GateView:
    """The pump state a start decision depends on (a snapshot the pump builds)."""

    now_ms: int
    suspended: bool
    bolus_active: bool
    stop_alarm: str | None  # code of an active alarm that stops delivery
    reservoir_mu: int
    scheduled_rate_mu_per_h: int
    minute_of_day: float = 0.0  # the user clock's, for the schedule ahead
    #: The suspend in force is the person's (keys, a takeover on the keys, auto-off),
    #: not one from the air.
    suspended_by_person: bool = False


class StrokeLedger:
    """Strokes of the last 24 h of device time: rolling sums and active-insulin bins."""

    def __init__(self) -> None:
        self._day: deque[tuple[int, int]] = deque()
        self._hour: deque[tuple[int, int]] = deque()
        self._remote_hour: deque[tuple[int, int]] = deque()
        self._day_mu = 0
        self._hour_mu = 0
        self._remote_hour_mu = 0
        self._bins: dict[int, int] = {}
        # Cached active insulin: exact (binned) value at ``_iob_at`` plus every mU added
        # since, counted as fully on board.  Active insulin of given doses never grows
        # with time, so this is an upper bound: the limit can only err on the safe side.
        self._iob_at: int | None = None
        self._iob_value = 0.0
        self._iob_added_mu = 0
        self._iob_curve: object = None

    def add(self, at_ms: int, mu: int, origin: Origin) -> None:
        """Count a stroke that went out (or may have: a stroke in flight at a crash)."""
        self._day.append((at_ms, mu))
        self._hour.append((at_ms, mu))
        self._day_mu += mu
        self._hour_mu += mu
        if origin is Origin.REMOTE:
            self._remote_hour.append((at_ms, mu))
            self._remote_hour_mu += mu
        b = at_ms // IOB_BIN_MS
        self._bins[b] = self._bins.get(b, 0) + mu
        self._iob_added_mu += mu

    def delivered_mu_since(self, since_ms: int, now_ms: int) -> int:
        """Insulin of the strokes in (since_ms, now_ms] (at most 24 h back)."""
        self._evict(now_ms)
        total = 0
        for t, mu in reversed(self._day):
            if t <= since_ms:
                break
            total += mu
        return total

    def _evict(self, now_ms: int) -> None:
        # Windows are (now − length, now]: a stroke exactly one hour old has left.
        while self._hour and self._hour[0][0] <= now_ms - MS_PER_HOUR:
            self._hour_mu -= self._hour.popleft()[1]
        while self._remote_hour and self._remote_hour[0][0] <= now_ms - MS_PER_HOUR:
            self._remote_hour_mu -= self._remote_hour.popleft()[1]
        while self._day and self._day[0][0] <= now_ms - MS_PER_DAY:
            self._day_mu -= self._day.popleft()[1]

    def hour_mu(self, now_ms: int) -> int:
        self._evict(now_ms)
        return self._hour_mu

    def day_mu(self, now_ms: int) -> int:
        self._evict(now_ms)
        return self._day_mu

    def remote_hour_mu(self, now_ms: int) -> int:
        self._evict(now_ms)
        return self._remote_hour_mu

    def iob_upper_u(self, now_ms: int, settings: PumpSettings) -> float:
        """A cheap upper bound of :meth:`iob_u`: recomputed at most every 5 minutes."""
        at = self._iob_at
        if (at is None or not (at <= now_ms < at + IOB_BIN_MS)
                or self._iob_curve != settings.active_insulin_curve):
            return self.iob_u(now_ms, settings)
        return self._iob_value + self._iob_added_mu / 1000

    def iob_u(self, now_ms: int, settings: PumpSettings) -> float:
        """Active insulin (U) of every stroke, conservatively binned (see IOB_BIN_MS)."""
        value = self._iob_exact(now_ms, settings)
        self._iob_at, self._iob_value, self._iob_added_mu = now_ms, value, 0
        self._iob_curve = settings.active_insulin_curve
        return value

    def _iob_exact(self, now_ms: int, settings: PumpSettings) -> float:
        oldest = (now_ms - IOB_HORIZON_MS) // IOB_BIN_MS
        for b in [b for b in self._bins if b < oldest]:
            del self._bins[b]
        now_min = now_ms / MS_PER_MINUTE
        doses = [
            Dose(min((b + 1) * IOB_BIN_MS, now_ms) / MS_PER_MINUTE, mu / 1000)
            for b, mu in self._bins.items()
        ]
        return insulin_on_board(doses, now_min, settings.active_insulin_curve)


class WithholdLedger:
    """Intervals of withholding started from the air (radio suspend, zero temp basal)."""

    def __init__(self) -> None:
        self._closed: deque[tuple[int, int]] = deque()
        self._open_since: int | None = None

    @property
    def open_since(self) -> int | None:
        """Start of the episode in progress, if one is."""
        return self._open_since

    def open(self, now_ms: int) -> None:
        if self._open_since is not None:
            return
        # An episode that starts less than the merge gap after another ended
        # continues it, the gap included (chaining does not reset the clock).
        if self._closed and now_ms - self._closed[-1][1] < WITHHOLD_MERGE_GAP_MS:
            self._open_since = self._closed.pop()[0]
        else:
            self._open_since = now_ms

    def close(self, now_ms: int) -> None:
        if self._open_since is None:
            return
        self._closed.append((self._open_since, now_ms))
        self._open_since = None

    def withheld_ms(self, now_ms: int) -> int:
        """Radio-withheld time within the last 24 h, the open episode included."""
        since = now_ms - MS_PER_DAY
        while self._closed and self._closed[0][1] <= since:
            self._closed.popleft()
        total = sum(min(e, now_ms) - max(s, since) for s, e in self._closed if e > since)
        if self._open_since is not None:
            total += now_ms - max(self._open_since, since)
        return total

    def merge_gap_ms(self, now_ms: int) -> int:
        """With no episode in progress: the time since the last one ended if an episode
        opening now would continue it (that gap then counts as withheld), else 0."""
        if self._open_since is None and self._closed:
            gap = now_ms - self._closed[-1][1]
            if gap < WITHHOLD_MERGE_GAP_MS:
                return gap
        return 0

    def withheld_if_opened_ms(self, now_ms: int) -> int:
        """Radio-withheld time in the last 24 h as it stands once an episode is in
        progress now: :meth:`withheld_ms` plus the gap a merge would add (issue 9: the
        daily budget must count the gap of the merge it is about to make)."""
        return self.withheld_ms(now_ms) + self.merge_gap_ms(now_ms)

    def episode_ms(self, now_ms: int) -> int:
        """How long the episode in progress has lasted (0 if none), or, with none in
        progress, how long the last one lasted if one opening now would continue it."""
        if self._open_since is not None:
            return now_ms - self._open_since
        if self._closed and now_ms - self._closed[-1][1] < WITHHOLD_MERGE_GAP_MS:
            return now_ms - self._closed[-1][0]
        return 0


def pattern_rates_mu(s: PumpSettings) -> tuple[int, ...]:
    """The active pattern's rates in mU/h."""
    return tuple(round(seg.value * 1000) for seg in s.active_schedule.segments)


def scheduled_rates_mu_between(s: PumpSettings, minute_of_day: float,
                               duration_ms: int) -> tuple[int, ...]:
    """The active pattern's rates (mU/h) in force at any time from ``minute_of_day``
    (user clock) for ``duration_ms``."""
    sched = s.active_schedule
    rates = {round(sched.value_at(minute_of_day % 1440) * 1000)}
    span = duration_ms / MS_PER_MINUTE
    for seg in sched.segments:
        ahead = (seg.start_min - minute_of_day) % 1440
        if 0 < ahead < span:
            rates.add(round(seg.value * 1000))
    if span >= 1440:
        rates.update(pattern_rates_mu(s))
    return tuple(sorted(rates))


def scheduled_mu_between(s: PumpSettings, start_user_ms: int, end_user_ms: int) -> int:
    """Basal insulin (mU) the active pattern schedules between two user-clock times."""
    sched = s.active_schedule
    starts = [seg.start_min * MS_PER_MINUTE for seg in sched.segments]
    rates = [round(seg.value * 1000) for seg in sched.segments]
    total = 0  # mU·ms/h
    t = start_user_ms
    while t < end_user_ms:
        day0 = t - t % MS_PER_DAY
        into = t - day0
        i = max(k for k, st in enumerate(starts) if st <= into)
        seg_end = day0 + (starts[i + 1] if i + 1 < len(starts) else MS_PER_DAY)
        upto = min(seg_end, end_user_ms)
        total += rates[i] * (upto - t)
        t = upto
    return total // MS_PER_HOUR


def _u(mu: int) -> str:
    return f"{mu / 1000:.3f} U"


def _bolus_shape(req: BolusRequest) -> Decision | None:
    """Refuse a bolus the delivery engine cannot deliver as asked, whoever built it.

    Each part must be a whole number of strokes, the total at least one stroke, and a
    square part needs a duration.  A part in (0, 1 stroke) is ``BELOW_MINIMUM_DOSE``
    (issue 9: an amount that rounded to zero strokes once reached the stroke timing and
    halted the pump); other misshapen parts are ``MALFORMED``.  The radio and key paths
    check their inputs before this; the gate keeps the rule for every path."""
    parts = (("normal part", req.normal_mu), ("square part", req.square_mu))
    for name, mu in parts:
        if 0 < mu < STROKE_MU:
            return _refuse(NakReason.BELOW_MINIMUM_DOSE,
                           f"the {name} {_u(mu)} is below the smallest dose, one "
                           f"{_u(STROKE_MU)} stroke")
        if mu < 0 or mu % STROKE_MU:
            return _refuse(NakReason.MALFORMED,
                           f"the {name} {_u(mu)} is not a whole number of {_u(STROKE_MU)} "
                           "strokes")
    if req.total_mu < STROKE_MU:
        return _refuse(NakReason.BELOW_MINIMUM_DOSE,
                       f"a bolus of {_u(req.total_mu)} is below the smallest dose, one "
                       f"{_u(STROKE_MU)} stroke")
    if req.square_duration_ms < 0 or (req.square_mu and req.square_duration_ms <= 0):
        return _refuse(NakReason.MALFORMED,
                       f"a square part needs a positive duration, not "
                       f"{req.square_duration_ms} ms")
    return None


class SafetyGate:
    """Decides every delivery; one instance per pump."""

    def __init__(self, mode: ProtocolMode) -> None:
        self.mode = mode
        self.rules = SECURE_RULES if mode is ProtocolMode.SECURE else LEGACY_RULES
        self.strokes = StrokeLedger()
        self.withholding = WithholdLedger()

    def on(self, rule: Rule) -> bool:
        return rule in self.rules

    # ------------------------------------------------------------ preconditions

    def _state(self, view: GateView, *, bolus: bool) -> Decision:
        if view.stop_alarm is not None:
            return _refuse(NakReason.ALARM_ACTIVE,
                           f"delivery is stopped by the {view.stop_alarm} alarm")
        if view.suspended:
            return _refuse(NakReason.SUSPENDED, "the pump is suspended")
        if bolus and view.bolus_active:
            return _refuse(NakReason.BOLUS_IN_PROGRESS, "a bolus is being delivered")
        return ALLOW

    # ------------------------------------------------------------------- bolus

    def check_bolus(self, req: BolusRequest, view: GateView, s: PumpSettings) -> Decision:
        """May this bolus start?  Checked in a fixed order; the first refusal wins."""
        shape = _bolus_shape(req)
        if shape is not None:
            return shape
        state = self._state(view, bolus=True)
        if not state.allowed:
            return state
        now = view.now_ms
        total = req.total_mu
        max_bolus_mu = round(s.max_bolus_u * 1000)
        if self.on(Rule.MAX_BOLUS) and total > max_bolus_mu:
            return _refuse(NakReason.MAX_BOLUS,
                           f"{_u(total)} is above the max bolus {_u(max_bolus_mu)}",
                           Rule.MAX_BOLUS)
        if total > view.reservoir_mu:
            return _refuse(NakReason.RESERVOIR_LOW,
                           f"{_u(total)} is more than the reservoir holds "
                           f"({_u(view.reservoir_mu)})")
        if self.on(Rule.MAX_HOURLY):
            # What this bolus adds within its first hour: the normal part and the
            # share of the square part delivered in that hour.
            sq_first_hour = (req.square_mu if req.square_duration_ms <= MS_PER_HOUR
                             else req.square_mu * MS_PER_HOUR // req.square_duration_ms)
            have = self.strokes.hour_mu(now)
            limit = round(s.max_hourly_u * 1000)
            if have + req.normal_mu + sq_first_hour > limit:
                return _refuse(NakReason.MAX_HOURLY,
                               f"{_u(have)} in the last hour + {_u(req.normal_mu + sq_first_hour)}"
                               f" is above the hourly max {_u(limit)}", Rule.MAX_HOURLY)
        if self.on(Rule.MAX_DAILY):
            have = self.strokes.day_mu(now)
            limit = round(s.max_daily_u * 1000)
            if have + total > limit:
                return _refuse(NakReason.MAX_DAILY,
                               f"{_u(have)} in the last 24 h + {_u(total)} is above the daily max "
                               f"{_u(limit)}", Rule.MAX_DAILY)
        if self.on(Rule.REMOTE_HOURLY_CAP) and req.origin is Origin.REMOTE:
            have = self.strokes.remote_hour_mu(now)
            limit = round(s.remote_max_u_per_h * 1000)
            if have + total > limit:
                return _refuse(NakReason.REMOTE_HOURLY_CAP,
                               f"remote boluses {_u(have)} in the last hour + {_u(total)} is above"
                               f" the remote cap {_u(limit)}", Rule.REMOTE_HOURLY_CAP)
        if self.on(Rule.MAX_IOB) and req.origin.automated:
            iob = self.strokes.iob_u(now, s)
            if iob + total / 1000 > s.max_iob_u + 1e-9:
                return _refuse(NakReason.MAX_IOB,
                               f"active insulin {iob:.3f} U + {_u(total)} is above the max "
                               f"{s.max_iob_u:.3f} U", Rule.MAX_IOB)
        return ALLOW

    # -------------------------------------------------------------- temp basal

    def temp_rate_mu(self, req: TempBasalRequest, scheduled_mu_per_h: int) -> int:
        """The rate a temp basal delivers now (a percent of the schedule, rounded down)."""
        return req.rate_mu_at(scheduled_mu_per_h)

    def check_temp_basal(self, req: TempBasalRequest, view: GateView,
                         s: PumpSettings) -> Decision:
        """May this temp basal start?"""
        state = self._state(view, bolus=False)
        if not state.allowed:
            return state
        now = view.now_ms
        max_basal_mu = round(s.max_basal_u_per_h * 1000)
        if req.rate_mu_per_h is not None:
            peak = req.rate_mu_per_h
        else:
            # A percent temp follows the schedule: its highest rate is the
            # percent of the pattern's highest rate.
            assert req.percent is not None
            top = max(pattern_rates_mu(s))
            peak = round_down_mu(top * req.percent // 100, X23_BASAL_INCREMENT)
        if self.on(Rule.MAX_BASAL) and peak > max_basal_mu:
            return _refuse(NakReason.MAX_BASAL,
                           f"{peak / 1000:.3f} U/h is above the max basal "
                           f"{max_basal_mu / 1000:.3f} U/h", Rule.MAX_BASAL)
        if self.on(Rule.MAX_HOURLY) and peak > round(s.max_hourly_u * 1000):
            return _refuse(NakReason.MAX_HOURLY,
                           f"{peak / 1000:.3f} U/h alone is above the hourly max "
                           f"{s.max_hourly_u:.3f} U", Rule.MAX_HOURLY)
        if (req.origin.from_air and self.on(Rule.RADIO_WITHHOLD)
                and req.withholds(scheduled_rates_mu_between(s, view.minute_of_day,
                                                             req.duration_ms))):
            refusal = self._withhold_refusal(now, req.duration_ms, s)
            if refusal is not None:
                return refusal
        if self.on(Rule.MAX_IOB) and req.origin.automated:
            excess_mu_per_h = max(0, peak - view.scheduled_rate_mu_per_h)
            if excess_mu_per_h:
                iob = self.strokes.iob_u(now, s)
                extra_u = excess_mu_per_h / 1000 * req.duration_ms / MS_PER_HOUR
                if iob + extra_u > s.max_iob_u + 1e-9:
                    return _refuse(NakReason.MAX_IOB,
                                   f"active insulin {iob:.3f} U + {extra_u:.3f} U above the "
                                   f"schedule is above the max {s.max_iob_u:.3f} U", Rule.MAX_IOB)
        return ALLOW

    # ------------------------------------------------------------ withholding

    def _withhold_refusal(self, now: int, duration_ms: int, s: PumpSettings) -> Decision | None:
        limit_ms = s.max_radio_withhold_min * MS_PER_MINUTE
        episode = self.withholding.episode_ms(now)
        if episode + duration_ms > limit_ms:
            return _refuse(NakReason.WITHHOLD_LIMIT,
                           f"withholding {(episode + duration_ms) // MS_PER_MINUTE} min from the "
                           f"air is above the limit {s.max_radio_withhold_min} min",
                           Rule.RADIO_WITHHOLD)
        day_ms = s.max_radio_withhold_per_day_min * MS_PER_MINUTE
        used = self.withholding.withheld_if_opened_ms(now)
        if used + duration_ms > day_ms:
            return _refuse(NakReason.WITHHOLD_LIMIT,
                           f"{used // MS_PER_MINUTE} min withheld from the air in 24 h + "
                           f"{duration_ms // MS_PER_MINUTE} min is above the daily limit "
                           f"{s.max_radio_withhold_per_day_min} min", Rule.RADIO_WITHHOLD)
        return None

    def check_radio_suspend(self, view: GateView, s: PumpSettings) -> tuple[Decision, int | None]:
        """May a suspend from the air start, and until when (device ms) may it last?

        Returns the decision and, when the withholding rule is on, the device
        time at which the pump must resume by itself (``None``: no limit).
        """
        if view.suspended:
            return _refuse(NakReason.SUSPENDED, "the pump is already suspended"), None
        if not self.on(Rule.RADIO_WITHHOLD):
            return ALLOW, None
        now = view.now_ms
        limit_ms = s.max_radio_withhold_min * MS_PER_MINUTE
        day_ms = s.max_radio_withhold_per_day_min * MS_PER_MINUTE
        allowed_ms = min(limit_ms - self.withholding.episode_ms(now),
                         day_ms - self.withholding.withheld_if_opened_ms(now))
        if allowed_ms <= 0:
            return _refuse(NakReason.WITHHOLD_LIMIT,
                           "the withholding allowed from the air is used up (per episode "
                           f"{s.max_radio_withhold_min} min, per day "
                           f"{s.max_radio_withhold_per_day_min} min)", Rule.RADIO_WITHHOLD), None
        return ALLOW, now + allowed_ms

    def check_radio_resume(self, view: GateView) -> Decision:
        """May a resume from the air end the suspend in force?

        With :attr:`Rule.PERSON_RESUMES` on (secure), not a suspend the person made
        or took over on the keys, nor the auto-off suspend: only the person resumes
        those, on the keys (docs/pump.md, "Suspend and resume").  Legacy-faithful
        pumps obey any radio resume, as the x23 does."""
        if not view.suspended:
            return _refuse(NakReason.NOT_SUSPENDED, "the pump is not suspended")
        if self.on(Rule.PERSON_RESUMES) and view.suspended_by_person:
            return _refuse(NakReason.SUSPENDED_BY_USER,
                           "delivery was suspended on the pump (keys or auto-off): only the "
                           "person resumes it, on the pump's keys", Rule.PERSON_RESUMES)
        return ALLOW

    # ----------------------------------------------------------------- strokes

    def check_stroke(self, now_ms: int, origin: Origin, s: PumpSettings) -> Decision:
        """May one more stroke go out now?  (Limits reached during delivery.)"""
        mu = STROKE_MU
        if self.on(Rule.MAX_HOURLY):
            have = self.strokes.hour_mu(now_ms)
            if have + mu > round(s.max_hourly_u * 1000):
                return _refuse(NakReason.MAX_HOURLY,
                               f"hourly max {s.max_hourly_u:.3f} U reached", Rule.MAX_HOURLY)
        if self.on(Rule.MAX_DAILY):
            have = self.strokes.day_mu(now_ms)
            if have + mu > round(s.max_daily_u * 1000):
                return _refuse(NakReason.MAX_DAILY,
                               f"daily max {s.max_daily_u:.3f} U reached", Rule.MAX_DAILY)
        if self.on(Rule.REMOTE_HOURLY_CAP) and origin is Origin.REMOTE:
            have = self.strokes.remote_hour_mu(now_ms)
            if have + mu > round(s.remote_max_u_per_h * 1000):
                return _refuse(NakReason.REMOTE_HOURLY_CAP,
                               f"remote cap {s.remote_max_u_per_h:.3f} U/h reached",
                               Rule.REMOTE_HOURLY_CAP)
        if self.on(Rule.MAX_IOB) and origin.automated:
            iob = self.strokes.iob_upper_u(now_ms, s)
            if iob + mu / 1000 > s.max_iob_u + 1e-9:
                iob = self.strokes.iob_u(now_ms, s)  # near the limit: the exact bound
            if iob + mu / 1000 > s.max_iob_u + 1e-9:
                return _refuse(NakReason.MAX_IOB,
                               f"active insulin max {s.max_iob_u:.3f} U reached", Rule.MAX_IOB)
        return ALLOW

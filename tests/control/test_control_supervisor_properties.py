"""Properties: the supervisor's limits hold for any controller output.

Whatever a controller returns — NaN, negative, huge, a wrong type, an exception,
a timeout — and whatever the CGM, the pump and the withholding history look like,
what the supervisor sends is something the pump can take and no limit is broken.
A multi-cycle property drives a model of the secure pump's withholding rule
(docs/pump.md, "Withholding from the air", written here independently of both
the pump and the supervisor) and checks that the pump never has to refuse a
withholding temp the supervisor sends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from control_helpers import NOW_MS, PROFILE
from hypothesis import given, settings
from hypothesis import strategies as st

from pumplab.control import (
    MS_PER_MINUTE,
    ActiveTempBasal,
    CgmReading,
    ControllerInput,
    ControllerOutcome,
    Decided,
    Decision,
    PumpStatus,
    Raised,
    Reason,
    Rule,
    SupervisedDecision,
    SupervisorLimits,
    SupervisorState,
    TempBasal,
    TimedOut,
    WithholdLedger,
    predicted_bg,
    supervise,
)
from pumplab.therapy import X23_BASAL_INCREMENT, X23_BOLUS_INCREMENT, is_on_grid

MIN = MS_PER_MINUTE
LIMIT_SETS = (
    SupervisorLimits(max_iob_u=5.0, max_temp_basal_u_per_h=3.0),
    SupervisorLimits(max_iob_u=0.0, max_temp_basal_u_per_h=0.5, max_micro_bolus_u=0.1),
    SupervisorLimits(max_iob_u=20.0, max_temp_basal_u_per_h=35.0, max_micro_bolus_u=5.0,
                     max_temp_duration_min=240, max_withhold_episode_min=60,
                     max_withhold_day_min=90),
)

# ---------------------------------------------------------------- strategies

weird = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9), st.booleans(),
    st.text(max_size=3), st.none(), st.sampled_from([1e308, -0.0, 29.999, 30, 0, 1440, 0.025]),
)
sane_temp = st.builds(TempBasal, st.floats(0, 50), st.sampled_from([0, 30, 45, 60, 120, 240]))
temps = st.one_of(st.none(), sane_temp, st.builds(TempBasal, weird, weird), st.text(max_size=2))
boluses = st.one_of(st.none(), st.floats(0, 10), weird)
reasons = st.one_of(st.just(()), st.just((Reason("x", "y"),)), st.lists(st.integers(),
                                                                        max_size=1))
outputs = st.one_of(
    st.builds(Decision, temps, boluses, reasons),
    st.builds(Decision, sane_temp, st.one_of(st.none(), st.floats(0, 3))),
    weird, st.lists(st.integers(), max_size=2),
)
outcomes: st.SearchStrategy[ControllerOutcome] = st.one_of(
    outputs.map(Decided), st.text(max_size=10).map(Raised),
    st.builds(TimedOut, st.floats(5.01, 100), st.just(5.0)),
)


@st.composite
def cgm_traces(draw: st.DrawFn) -> tuple[CgmReading, ...]:
    n = draw(st.integers(0, 14))
    end = NOW_MS - draw(st.sampled_from([0, 1, 5, 10, 14, 16, 30])) * MIN
    bg = draw(st.floats(40, 400))
    out = []
    for i in range(n):
        out.append(CgmReading(end - (n - 1 - i) * 5 * MIN, round(bg)))
        bg = min(450.0, max(20.0, bg + draw(st.floats(-25, 25))))
    return tuple(out)


@st.composite
def ledgers(draw: st.DrawFn) -> WithholdLedger:
    spans = []
    t = NOW_MS - draw(st.integers(0, 30 * 60)) * MIN
    for _ in range(draw(st.integers(0, 4))):
        length = draw(st.integers(5, 150)) * MIN
        spans.append((t, t + length))
        t += length + draw(st.integers(0, 400)) * MIN
    return WithholdLedger(tuple(spans))


@st.composite
def inputs(draw: st.DrawFn) -> ControllerInput:
    minute = draw(st.floats(0, 1439.9))
    temp = draw(st.one_of(st.none(), st.builds(ActiveTempBasal, st.floats(0, 5),
                                               st.integers(1, 120))))
    return ControllerInput(
        now_ms=NOW_MS, minute_of_day=minute, cgm=draw(cgm_traces()),
        pump=PumpStatus(
            NOW_MS, draw(st.booleans().map(lambda b: b and draw(st.booleans()))),
            PROFILE.basal.value_at(minute), temp,
            draw(st.one_of(st.floats(-3, 25), st.just(math.nan))),
            withheld_episode_min=draw(st.one_of(st.none(), st.floats(0, 200))),
            withheld_day_min=draw(st.one_of(st.none(), st.floats(0, 500)))),
        boluses=(), basal_history=(), carbs=(), profile=PROFILE,
    )


# ---------------------------------------------------------------- helpers


def scheduled_rates(inp: ControllerInput, duration_min: float) -> list[float]:
    """The profile's rates in force from now for duration_min (independent of the code)."""
    rates = {PROFILE.basal.value_at((inp.minute_of_day + m) % 1440)
             for m in range(0, max(1, int(duration_min)), 1)}
    return sorted(rates | {inp.pump.scheduled_basal_u_per_h})


def withholds(temp: TempBasal, inp: ControllerInput) -> bool:
    return any(temp.rate_u_per_h * 4 < r for r in scheduled_rates(inp, temp.duration_min) if r)


def check_sendable(result: SupervisedDecision, lim: SupervisorLimits) -> None:
    """What is sent is something the pump takes, within the supervisor's own limits."""
    decision = result.decision
    assert isinstance(decision, Decision)
    temp = decision.temp_basal
    if temp is not None:
        assert isinstance(temp, TempBasal)
        assert isinstance(temp.rate_u_per_h, float) and math.isfinite(temp.rate_u_per_h)
        assert isinstance(temp.duration_min, int)
        if temp.duration_min == 0:
            assert temp.rate_u_per_h == 0
        else:
            assert 30 <= temp.duration_min <= lim.max_temp_duration_min
            assert temp.duration_min % 30 == 0
            assert 0 <= temp.rate_u_per_h <= lim.max_temp_basal_u_per_h
            assert is_on_grid(temp.rate_u_per_h, X23_BASAL_INCREMENT)
    bolus = decision.micro_bolus_u
    if bolus is not None:
        assert isinstance(bolus, float) and 0 < bolus <= lim.max_micro_bolus_u
        assert is_on_grid(bolus, X23_BOLUS_INCREMENT)


def added_insulin_u(decision: Decision, scheduled: float) -> float:
    temp = decision.temp_basal
    excess = 0.0
    if temp is not None and temp.duration_min and temp.rate_u_per_h > scheduled:
        excess = (temp.rate_u_per_h - scheduled) * temp.duration_min / 60
    return excess + (decision.micro_bolus_u or 0.0)


def cgm_usable(inp: ControllerInput) -> bool:
    latest = inp.latest_cgm()
    return latest is not None and NOW_MS - latest.t_ms <= 15 * MIN


# ---------------------------------------------------------------- one cycle


@settings(max_examples=150)
@given(inputs(), outcomes, ledgers(), st.sampled_from(LIMIT_SETS))
def test_any_output_becomes_something_the_pump_can_take(
        inp: ControllerInput, outcome: ControllerOutcome, ledger: WithholdLedger,
        lim: SupervisorLimits) -> None:
    """Types, grids, max rate, max duration, max bolus: always."""
    result, state = supervise(lim, SupervisorState(ledger), inp, outcome)
    check_sendable(result, lim)
    assert state.cycles == 1


@settings(max_examples=150)
@given(inputs(), outcomes, ledgers(), st.sampled_from(LIMIT_SETS))
def test_max_iob_holds(inp: ControllerInput, outcome: ControllerOutcome,
                       ledger: WithholdLedger, lim: SupervisorLimits) -> None:
    """Insulin added above the schedule never takes the pump's IOB above max_iob_u (and none
    is added when the pump's IOB is unknown or already above it)."""
    result, _ = supervise(lim, SupervisorState(ledger), inp, outcome)
    added = added_insulin_u(result.decision, inp.pump.scheduled_basal_u_per_h)
    if not math.isfinite(inp.pump.iob_u):
        assert result.decision.is_nothing
    elif added > 0:
        assert inp.pump.iob_u + added <= lim.max_iob_u + 1e-6


@settings(max_examples=150)
@given(inputs(), outcomes, ledgers(), st.sampled_from(LIMIT_SETS))
def test_bad_cgm_or_a_failed_controller_means_scheduled_basal(
        inp: ControllerInput, outcome: ControllerOutcome, ledger: WithholdLedger,
        lim: SupervisorLimits) -> None:
    """Stale CGM: nothing but a cancel (the scheduled basal).  An exception or a timeout:
    the same, unless a low is predicted on good CGM data (then a zero temp, or the 1/4
    floor); never a bolus, and always recorded."""
    result, _ = supervise(lim, SupervisorState(ledger), inp, outcome)
    pump_ok = not inp.pump.suspended and math.isfinite(inp.pump.iob_u)
    failed = isinstance(outcome, Raised | TimedOut)
    if not cgm_usable(inp) or failed:
        assert result.decision.micro_bolus_u is None
        temp = result.decision.temp_basal
        low_suspend = (failed and cgm_usable(inp) and temp is not None and temp.duration_min
                       and temp.rate_u_per_h <= max(scheduled_rates(inp, 30)) / 4 + 0.025)
        assert temp in (None, TempBasal(0.0, 0)) or low_suspend
        if pump_ok:
            assert result.overrides


@settings(max_examples=150)
@given(inputs(), outcomes, ledgers(), st.sampled_from(LIMIT_SETS))
def test_predicted_low_means_no_bolus_and_no_more_than_a_quarter_basal(
        inp: ControllerInput, outcome: ControllerOutcome, ledger: WithholdLedger,
        lim: SupervisorLimits) -> None:
    """When the supervisor acts on a sane decision and sees a low coming: no micro-bolus, and
    the basal is withheld, or held at the 1/4 floor when the pump's budget is spent."""
    result, _ = supervise(lim, SupervisorState(ledger), inp, outcome)
    predicted = result.predicted_bg_mg_dl
    latest = inp.latest_cgm()
    if predicted is None or latest is None:
        return
    assert predicted == predicted_bg(inp, lim)
    if min(predicted, latest.bg_mg_dl) < lim.low_suspend_mg_dl:
        assert result.decision.micro_bolus_u is None
        temp = result.decision.temp_basal
        running = inp.pump.temp_basal
        if temp is None:
            assert running is not None and running.rate_u_per_h == 0
        else:
            floor = max(scheduled_rates(inp, 30)) / 4
            assert temp.rate_u_per_h <= floor + 0.025 + 1e-9


@settings(max_examples=150)
@given(inputs(), outcomes, ledgers(), st.sampled_from(LIMIT_SETS))
def test_withholding_fits_the_budget_and_every_change_is_recorded(
        inp: ControllerInput, outcome: ControllerOutcome, ledger: WithholdLedger,
        lim: SupervisorLimits) -> None:
    """A withholding temp fits in what is left of the episode and the day; a decision that
    differs from a sane request carries at least one override."""
    result, _ = supervise(lim, SupervisorState(ledger), inp, outcome)
    temp = result.decision.temp_basal
    if temp is not None and temp.duration_min and withholds(temp, inp):
        assert result.withheld_episode_min + temp.duration_min <= lim.max_withhold_episode_min
        assert result.withheld_day_min + temp.duration_min <= lim.max_withhold_day_min
    if isinstance(outcome, Decided) and isinstance(outcome.output, Decision):
        asked = outcome.output
        sent, wanted = result.decision.temp_basal, asked.temp_basal
        # TempBasal(r, 0) is a cancel whatever r: the supervisor sends it as TempBasal(0, 0).
        same_temp = sent == wanted or (
            isinstance(sent, TempBasal) and isinstance(wanted, TempBasal)
            and sent.cancels and wanted.cancels)
        same = same_temp and (result.decision.micro_bolus_u or 0) == (asked.micro_bolus_u or 0)
        if not same:
            assert result.overrides, (asked, result.decision)


# ---------------------------------------------------------------- many cycles against the pump


@dataclass
class PumpWithholdModel:
    """The secure pump's rule for withholding from the air (docs/pump.md): a temp below 1/4
    of the scheduled rate at any time during it withholds; episodes less than 30 min apart
    are one (the gap counts); refused if episode so far + duration > 120 min or withheld
    in 24 h + duration > 360 min."""

    episode_max_min: int
    day_max_min: int
    closed: list[tuple[int, int]] = field(default_factory=list)
    open_since: int | None = None
    temp: tuple[float, int, bool] | None = None  # rate, end ms, withholds
    refusals: int = 0

    def _open(self, now: int) -> None:
        if self.open_since is None:
            if self.closed and now - self.closed[-1][1] < 30 * MIN:
                self.open_since = self.closed.pop()[0]
            else:
                self.open_since = now

    def _close(self, now: int) -> None:
        if self.open_since is not None:
            self.closed.append((self.open_since, now))
            self.open_since = None

    def advance(self, now: int) -> None:
        if self.temp is not None and self.temp[1] <= now:
            if self.temp[2]:
                self._close(self.temp[1])
            self.temp = None

    def episode_ms(self, now: int) -> int:
        if self.open_since is not None:
            return now - self.open_since
        if self.closed and now - self.closed[-1][1] < 30 * MIN:
            return now - self.closed[-1][0]
        return 0

    def withheld_ms(self, now: int) -> int:
        since = now - 24 * 60 * MIN
        total = sum(min(e, now) - max(s, since) for s, e in self.closed if e > since)
        if self.open_since is not None:
            total += now - max(self.open_since, since)
        return total

    def command(self, now: int, temp: TempBasal, withholding: bool) -> None:
        if temp.duration_min == 0:
            if self.temp is not None and self.temp[2]:
                self._close(now)
            self.temp = None
            return
        if withholding and (
                self.episode_ms(now) + temp.duration_min * MIN > self.episode_max_min * MIN
                or self.withheld_ms(now) + temp.duration_min * MIN > self.day_max_min * MIN):
            self.refusals += 1
            return
        if self.temp is not None and self.temp[2] and not withholding:
            self._close(now)
        if withholding:
            self._open(now)
        self.temp = (temp.rate_u_per_h, now + temp.duration_min * MIN, withholding)

    def status_temp(self, now: int) -> ActiveTempBasal | None:
        if self.temp is None:
            return None
        return ActiveTempBasal(self.temp[0], (self.temp[1] - now) // MIN)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(outputs, min_size=1, max_size=12),
    st.floats(30, 90), st.floats(60, 400), st.floats(0, 1439),
    st.sampled_from(LIMIT_SETS),
)
def test_the_pump_never_has_to_refuse_a_withholding_temp(
        outputs_cycle: list[object], amplitude: float, period_min: float, start_minute: float,
        lim: SupervisorLimits) -> None:
    """A day of 5-min cycles, glucose swinging through lows, the controller's outputs drawn
    at random (zero temps among them): every withholding temp the supervisor sends fits the
    pump's episode and daily limits, so the pump refuses none."""
    pump = PumpWithholdModel(lim.max_withhold_episode_min, lim.max_withhold_day_min)
    state = SupervisorState()
    readings: list[CgmReading] = []
    zero = Decision(TempBasal(0.0, 120))
    for k in range(288):
        now = NOW_MS + k * 5 * MIN
        minute = (start_minute + k * 5) % 1440
        bg = 110 + amplitude * math.sin(2 * math.pi * k * 5 / period_min)
        readings = [*readings[-11:], CgmReading(now, round(bg))]
        pump.advance(now)
        inp = ControllerInput(
            now_ms=now, minute_of_day=minute, cgm=tuple(readings),
            pump=PumpStatus(now, False, PROFILE.basal.value_at(minute), pump.status_temp(now),
                            1.0),
            boluses=(), basal_history=(), carbs=(), profile=PROFILE)
        # Every other cycle the controller asks for a long zero temp: withholding pressure.
        asked = zero if k % 2 else outputs_cycle[k % len(outputs_cycle)]
        result, state = supervise(lim, state, inp, Decided(asked))
        temp = result.decision.temp_basal
        if temp is not None:
            pump.command(now, temp, bool(temp.duration_min) and withholds(temp, inp))
    assert pump.refusals == 0
    assert state.cycles == 288
    assert state.count(Rule.WITHHOLD_EPISODE_LIMIT) + state.count(Rule.WITHHOLD_DAY_LIMIT) > 0

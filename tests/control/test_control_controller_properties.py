"""Properties: every built-in controller, on any input, decides sanely and stays inside the
supervisor's limits.

For ``none``, ``basal_bolus``, ``lgs``, ``pid`` and ``oref0`` (from the registry, with
random prior state for the stateful ones), on random loop inputs — CGM of any shape
and age, temps running, boluses, delivered basal, announced meals, unknown pump IOB:

* the controller never raises and never returns nonsense (its outcome is a Decision
  the supervisor accepts as such);
* what the supervisor sends is something the pump takes, within every limit,
  including max IOB with the meal bolus counted, and a meal bolus only for an
  announced, recent, not yet bolused meal, within the wizard and the max bolus;
* over a day of cycles against a model of the secure pump's withholding rule, the
  pump never has to refuse a withholding temp, and each meal is bolused at most once.
"""

from __future__ import annotations

import math

import pytest
from control_helpers import NOW_MS, PROFILE
from hypothesis import given, settings
from hypothesis import strategies as st
from test_control_supervisor_properties import (
    LIMIT_SETS,
    PumpWithholdModel,
    added_insulin_u,
    cgm_traces,
    check_sendable,
    ledgers,
    withholds,
)

from pumplab.control import (
    MS_PER_MINUTE,
    ActiveTempBasal,
    BasalRecord,
    BolusRecord,
    CarbRecord,
    CgmReading,
    Controller,
    ControllerInput,
    Decided,
    Decision,
    PumpStatus,
    Rule,
    SupervisorLimits,
    SupervisorState,
    WithholdLedger,
    call_controller,
    supervise,
)
from pumplab.control.basal_bolus import WithMealBoluses
from pumplab.control.lgs import LgsController, LgsState
from pumplab.control.pid import PidController, PidState
from pumplab.control.registry import build_controller
from pumplab.therapy import X23_BOLUS_INCREMENT, is_on_grid

MIN = MS_PER_MINUTE
NAMES = ("none", "basal_bolus", "lgs", "pid", "oref0")
PARAMS: dict[str, dict[str, object]] = {
    "none": {}, "basal_bolus": {}, "lgs": {}, "pid": {"tdd_u": 40},
    "oref0": {"max_iob_u": 3, "micro_bolus_allowed": True, "enable_smb_always": True},
}
FAILED = {Rule.CONTROLLER_RAISED, Rule.CONTROLLER_NONSENSE, Rule.CONTROLLER_TIMED_OUT}


def make(name: str) -> Controller:
    return build_controller(name, PARAMS[name])


@st.composite
def loop_inputs(draw: st.DrawFn) -> ControllerInput:
    """A loop input of any shape the wiring could build."""
    minute = draw(st.floats(0, 1439.9))
    temp = draw(st.one_of(st.none(), st.builds(ActiveTempBasal, st.sampled_from([0.0, 0.5, 2.0]),
                                               st.integers(1, 120))))
    carbs = tuple(sorted(draw(st.lists(st.builds(
        CarbRecord, st.integers(NOW_MS - 45 * MIN, NOW_MS), st.sampled_from([5.0, 45.0, 120.0,
                                                                             350.0])),
        max_size=2)), key=lambda c: c.t_ms))
    boluses = tuple(sorted(draw(st.lists(st.builds(
        BolusRecord, st.integers(NOW_MS - 300 * MIN, NOW_MS), st.floats(0.05, 8.0),
        st.booleans()), max_size=3)), key=lambda b: b.t_ms))
    basal = ()
    if draw(st.booleans()):
        start = NOW_MS - draw(st.integers(0, 180)) * MIN
        basal = (BasalRecord(start, draw(st.sampled_from([30, 60])),
                             draw(st.sampled_from([0.0, 0.4, 2.5]))),)
    return ControllerInput(
        now_ms=NOW_MS, minute_of_day=minute, cgm=draw(cgm_traces()),
        pump=PumpStatus(NOW_MS, draw(st.booleans().map(lambda b: b and draw(st.booleans()))),
                        PROFILE.basal.value_at(minute), temp,
                        draw(st.one_of(st.floats(0, 12), st.just(math.nan)))),
        boluses=boluses, basal_history=basal, carbs=carbs, profile=PROFILE,
    )


@st.composite
def controllers(draw: st.DrawFn, name: str) -> Controller:
    """A fresh controller, with a random prior state if it keeps one."""
    c = make(name)
    inner = c.inner if isinstance(c, WithMealBoluses) else c
    if isinstance(inner, PidController):
        inner.state = draw(st.one_of(st.just(PidState()), st.builds(
            PidState, st.floats(0, 3), st.integers(NOW_MS - 30 * MIN, NOW_MS))))
    if isinstance(inner, LgsController):
        inner.state = draw(st.builds(
            LgsState, st.one_of(st.none(), st.integers(NOW_MS - 150 * MIN, NOW_MS)),
            st.one_of(st.none(), st.integers(NOW_MS - 10 * MIN, NOW_MS + 30 * MIN))))
    return c


def check_meal(result_decision: Decision, inp: ControllerInput, lim: SupervisorLimits) -> None:
    meal = result_decision.meal_bolus
    if meal is None:
        return
    assert isinstance(meal.units, float) and 0 < meal.units <= lim.max_meal_bolus_u
    assert is_on_grid(meal.units, X23_BOLUS_INCREMENT)
    assert any(c.t_ms == meal.announced_ms and c.carbs_g == meal.carbs_g for c in inp.carbs)
    assert 0 <= inp.now_ms - meal.announced_ms <= lim.meal_window_min * MIN
    assert not any(not b.automatic and meal.announced_ms <= b.t_ms for b in inp.boluses)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data(), ledger=ledgers(), lim=st.sampled_from(LIMIT_SETS))
def test_each_controller_decides_sanely_within_the_limits(
        name: str, data: st.DataObject, ledger: WithholdLedger, lim: SupervisorLimits) -> None:
    """Never raises, never nonsense; what is sent fits the pump and every limit."""
    controller = data.draw(controllers(name))
    inp = data.draw(loop_inputs())
    outcome = call_controller(controller, inp)
    assert isinstance(outcome, Decided) and isinstance(outcome.output, Decision), outcome
    result, _ = supervise(lim, SupervisorState(ledger), inp, outcome)
    assert not FAILED & {o.rule for o in result.overrides}, result.overrides
    check_sendable(result, lim)
    check_meal(result.decision, inp, lim)
    added = added_insulin_u(result.decision, inp.pump.scheduled_basal_u_per_h)
    meal_u = result.decision.meal_bolus.units if result.decision.meal_bolus else 0.0
    if added > 0:
        assert inp.pump.iob_u + meal_u + added <= lim.max_iob_u + 1e-6


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=4, deadline=None)
@given(amplitude=st.floats(30, 120), period_min=st.floats(90, 400),
       start_minute=st.floats(0, 1439), lim=st.sampled_from(LIMIT_SETS),
       meal_cycles=st.sets(st.integers(0, 287), max_size=4))
def test_a_day_with_each_controller_never_makes_the_pump_refuse(
        name: str, amplitude: float, period_min: float, start_minute: float,
        lim: SupervisorLimits, meal_cycles: set[int]) -> None:
    """288 cycles, glucose swinging through lows and highs, meals announced: the pump's
    withholding rule never refuses a temp the supervisor sends, and no meal is bolused
    twice."""
    controller = make(name)
    pump = PumpWithholdModel(lim.max_withhold_episode_min, lim.max_withhold_day_min)
    state = SupervisorState()
    readings: list[CgmReading] = []
    carbs: list[CarbRecord] = []
    boluses: list[BolusRecord] = []
    bolused: list[int] = []
    for k in range(288):
        now = NOW_MS + k * 5 * MIN
        minute = (start_minute + k * 5) % 1440
        bg = 130 + amplitude * math.sin(2 * math.pi * k * 5 / period_min)
        readings = [*readings[-35:], CgmReading(now, round(bg))]
        if k in meal_cycles:
            carbs.append(CarbRecord(now, 50.0))
        pump.advance(now)
        inp = ControllerInput(
            now_ms=now, minute_of_day=minute, cgm=tuple(readings),
            pump=PumpStatus(now, False, PROFILE.basal.value_at(minute), pump.status_temp(now),
                            2.0),
            boluses=tuple(b for b in boluses if b.t_ms > now - 360 * MIN),
            basal_history=(), carbs=tuple(c for c in carbs if c.t_ms > now - 360 * MIN),
            profile=PROFILE)
        result, state = supervise(lim, state, inp, call_controller(controller, inp))
        assert not FAILED & {o.rule for o in result.overrides}
        temp = result.decision.temp_basal
        if temp is not None:
            pump.command(now, temp, bool(temp.duration_min) and withholds(temp, inp))
        for units, automatic in ((result.decision.micro_bolus_u, True),
                                 (result.decision.meal_bolus.units
                                  if result.decision.meal_bolus else None, False)):
            if units:
                boluses.append(BolusRecord(now, units, automatic))
        if result.decision.meal_bolus is not None:
            bolused.append(result.decision.meal_bolus.announced_ms)
    assert pump.refusals == 0 and state.cycles == 288
    assert len(bolused) == len(set(bolused))
    if name != "none":
        assert len(bolused) == len(meal_cycles)  # every meal bolused (none older than 30 min)


weird = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                  st.booleans(), st.none(), st.text(max_size=2))


@settings(max_examples=150, deadline=None)
@given(inp=loop_inputs(), lim=st.sampled_from(LIMIT_SETS), data=st.data())
def test_any_meal_bolus_asked_for_is_sent_only_within_the_rules(
        inp: ControllerInput, lim: SupervisorLimits, data: st.DataObject) -> None:
    """A meal bolus of any shape — for an announced meal or not, any carbs, BG and units,
    wrong types — is sent only for an announced, recent, not yet bolused meal, within the
    wizard and the max bolus; a malformed one makes the decision nonsense; every change is
    recorded."""
    from pumplab.control import MealBolus

    announced = [c.t_ms for c in inp.carbs] or [NOW_MS]
    meal = MealBolus(
        data.draw(st.one_of(st.sampled_from(announced), st.integers(NOW_MS - 90 * MIN, NOW_MS),
                            weird)),
        data.draw(st.one_of(st.sampled_from([c.carbs_g for c in inp.carbs] or [45.0]), weird)),
        data.draw(st.one_of(st.none(), st.floats(20, 600), weird)),
        data.draw(st.one_of(st.floats(0, 40), weird)))
    result, _ = supervise(lim, SupervisorState(), inp, Decided(Decision(meal_bolus=meal)))
    check_sendable(result, lim)
    check_meal(result.decision, inp, lim)
    sent = result.decision.meal_bolus
    asked_units = meal.units if isinstance(meal.units, int | float) else math.nan
    if sent != meal and not (sent is None and asked_units == 0):
        assert result.overrides, (meal, sent)  # every change to a real request is recorded

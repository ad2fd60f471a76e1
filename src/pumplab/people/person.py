"""The person who wears the pump: an explicit, seeded model of behaviour.

What an attack does to a patient depends on what the patient does about it:
whether they notice the pump beep for a bolus they did not start, how fast they
answer an alarm at 3 a.m., whether they treat a low.  So the person is a model
with named parameters (:class:`PersonProfile`, defaults and their sources in
docs/people.md), drawing every random decision from its own generator.

The person acts on the pump **only through its keys** (the operator helpers of
:mod:`pumplab.devices.pump.ui`), reads it only through what it shows and
sounds, checks BG with the meter device, and eats through the world.  Their
own physical acts (changing an infusion set, a reservoir, a battery) go
through hooks the world provides.

Behaviours:

* **Meals** (from the meal plan): a fingerstick first (with probability
  ``check_bg_before_meal_p``; the linked meter sends the result to the pump),
  then a wizard bolus for the carbs as counted (``Meal.counted_carbs_g``, the
  plan's carb-counting error), unless the meal is unannounced or the bolus is
  forgotten (``forget_bolus_p``); small snacks may be bolused with the remote.
  Then they eat the true amount.
* **A bolus they did not start**: when the pump announces a bolus whose
  origin is not theirs (radio, remote or app while they used none of them),
  they notice it with ``notice_bolus_awake_p`` (``notice_bolus_asleep_p``
  asleep), and after a reaction delay cancel it from the keys, as Medtronic's
  2019 advisory told patients to; then they check their BG.
* **A suspend they did not ask for**: announced by the pump (a secure pump
  beeps for any radio suspend) it is noticed like a bolus; a legacy pump
  suspended by radio says nothing, and the person finds it at their next
  glance at the pump.  Either way they resume from the keys.
* **Alarms and alerts**: heard at once awake; asleep, an alarm wakes them with
  ``alarm_wakes_p``, an alert with ``alert_wakes_p`` (else it is heard on
  waking or at the next repeat).  After a log-normal reaction delay (median
  ``reaction_awake_median_min`` awake, ``reaction_asleep_median_min``
  asleep) they clear it and fix its cause: new infusion set for an occlusion,
  new reservoir when empty, new battery, resume after auto-off.
* **Lows**: awake, they glance at the CGM on the pump every
  ``glance_interval_min`` and feel symptoms below ``symptom_threshold_mg_dl``
  (with ``symptom_notice_p``); asleep, a night-time low wakes them with
  ``night_wake_p`` per ``night_check_interval_min`` below
  ``night_wake_threshold_mg_dl``.  A suspected low is checked with the meter
  and treated with ``rescue_carbs_g``, rechecked after ``recheck_min``
  (the "rule of 15").
* **Highs**: awake, a CGM above ``correct_above_mg_dl`` with no bolus for
  ``correction_gap_min`` gets a meter check and a wizard correction.

What the person deliberately does not do: change pump settings, use a
closed-loop app, exercise, or get ill.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumplab.clock import MS_PER_MINUTE, Clock
from pumplab.devices.meter import Meter
from pumplab.devices.pump import AlarmCode, Annunciation, AnnunciationReason, Pump, ui
from pumplab.devices.remote import Remote
from pumplab.link.messages import SensorFlag
from pumplab.physiology.meals import Meal

__all__ = ["Person", "PersonEnvironment", "PersonProfile"]

_MINUTES_PER_DAY = 1440
#: Origins of deliveries the person starts at the pump's own keys.
_KEY_ORIGINS = frozenset({"buttons", "wizard", "easy"})


@dataclass(frozen=True, slots=True)
class PersonProfile:
    """Every behaviour parameter; docs/people.md gives each one's rationale."""

    sleep_start_min: int = 23 * 60
    sleep_end_min: int = 7 * 60
    reaction_awake_median_min: float = 2.0
    reaction_asleep_median_min: float = 20.0
    reaction_log_sd: float = 0.5
    alarm_wakes_p: float = 0.95
    alert_wakes_p: float = 0.3
    notice_bolus_awake_p: float = 0.9
    notice_bolus_asleep_p: float = 0.1
    cancel_unexpected_boluses: bool = True
    check_bg_before_meal_p: float = 0.9
    forget_bolus_p: float = 0.05
    remote_snack_max_g: float = 20.0
    glance_interval_min: float = 90.0
    symptom_threshold_mg_dl: float = 60.0
    symptom_notice_p: float = 0.7
    treat_below_mg_dl: float = 70.0
    rescue_carbs_g: float = 15.0
    recheck_min: float = 15.0
    max_rescue_rounds: int = 4
    night_wake_threshold_mg_dl: float = 50.0
    night_wake_p: float = 0.3
    night_check_interval_min: float = 30.0
    correct_above_mg_dl: float = 250.0
    correction_gap_min: float = 180.0

    def __post_init__(self) -> None:
        for name in ("sleep_start_min", "sleep_end_min"):
            value = getattr(self, name)
            if not 0 <= value < _MINUTES_PER_DAY:
                raise ValueError(f"{name} must be within 0..1439, got {value}")
        for name in ("alarm_wakes_p", "alert_wakes_p", "notice_bolus_awake_p",
                     "notice_bolus_asleep_p", "check_bg_before_meal_p", "forget_bolus_p",
                     "symptom_notice_p", "night_wake_p"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability within 0..1, got {value}")
        for name in ("reaction_awake_median_min", "reaction_asleep_median_min",
                     "glance_interval_min", "recheck_min", "night_check_interval_min",
                     "correction_gap_min"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")


@dataclass(frozen=True, slots=True)
class PersonEnvironment:
    """What the world lets the person touch."""

    clock: Clock
    pump: Pump
    meter: Meter
    eat: Callable[[float], None]  # carbs eaten now, grams (the true amount)
    true_bg_mg_dl: Callable[[], float]  # for symptoms only: the person cannot read it
    replace_infusion_set: Callable[[], None]  # physical act: clears an occlusion
    record: Callable[[str, dict[str, Any]], None]  # event for the trace
    remote: Remote | None = None
    start_minute_of_day: int = 0


class Person:
    """One person wearing one pump."""

    def __init__(
        self,
        env: PersonEnvironment,
        profile: PersonProfile,
        rng: np.random.Generator,
        meals: Sequence[Meal],
    ) -> None:
        self.env = env
        self.profile = profile
        # Every decision draws from its own generator keyed by (kind of decision,
        # the moment or meal it is about): what the person does in one situation
        # never depends on how many other decisions came before.  An attack then
        # changes only the decisions about what the attack caused, and a run with
        # and one without an attacker see the same meals, checks and bedtimes.
        self._root = int(rng.integers(0, 2**63))
        self._meals = tuple(meals)
        self._at_keys = False  # True while the person is pressing keys
        self._expect_remote_until_ms = -1
        self._last_bolus_ms: int | None = None
        self._pending_alarm_response = False
        self._rescue_round = 0
        self._rescue_pending = False
        self.cancelled_boluses = 0
        self.rescue_carbs_g = 0.0
        self.alarms_answered = 0
        self._started = False

    # ------------------------------------------------------------------ set-up

    def start(self) -> None:
        """Listen to the pump and schedule the day's behaviour."""
        if self._started:
            raise RuntimeError("person already started")
        self._started = True
        clock = self.env.clock
        self.env.pump.add_annunciation_listener(self._on_annunciation)
        run_start_min = self.env.start_minute_of_day
        for meal in self._meals:
            at_min = meal.start_min - run_start_min
            if at_min < 0:
                continue
            clock.schedule_at(at_min * MS_PER_MINUTE, self._meal_action(meal),
                              label=f"meal {meal.label or meal.start_min}")
        clock.schedule_in(int(self.profile.glance_interval_min * MS_PER_MINUTE), self._glance,
                          label="person glance")
        clock.schedule_in(int(self.profile.night_check_interval_min * MS_PER_MINUTE),
                          self._night_check, label="person night check")

    # ------------------------------------------------------------------ state

    def minute_of_day(self) -> int:
        return (self.env.start_minute_of_day + self.env.clock.now_ms // MS_PER_MINUTE) % (
            _MINUTES_PER_DAY
        )

    def asleep(self) -> bool:
        """Inside the sleep window (which may wrap midnight)."""
        m = self.minute_of_day()
        start, end = self.profile.sleep_start_min, self.profile.sleep_end_min
        return (start <= m or m < end) if start > end else (start <= m < end)

    def _rng(self, kind: str, key: int | None = None) -> np.random.Generator:
        """The generator of one decision: ``kind`` of decision at ``key`` (default: now)."""
        when = self.env.clock.now_ms if key is None else key
        digest = hashlib.sha256(kind.encode()).digest()
        seq = np.random.SeedSequence(self._root, spawn_key=(int.from_bytes(digest[:8], "little"),
                                                            when))
        return np.random.Generator(np.random.PCG64(seq))

    def _chance(self, p: float, kind: str, key: int | None = None) -> bool:
        return bool(self._rng(kind, key).random() < p)

    def _reaction_ms(self, kind: str) -> int:
        median = (self.profile.reaction_asleep_median_min if self.asleep()
                  else self.profile.reaction_awake_median_min)
        z = self._rng(f"reaction.{kind}").standard_normal()
        minutes = median * math.exp(self.profile.reaction_log_sd * z)
        return max(1_000, int(minutes * MS_PER_MINUTE))

    def _later(self, delay_ms: int, action: Callable[[], None], label: str) -> None:
        self.env.clock.schedule_in(delay_ms, action, label=label)

    def _record(self, kind: str, **detail: Any) -> None:
        self.env.record(kind, detail)

    def _keys(self, task: Callable[[], ui.UiResult]) -> ui.UiResult:
        """Do a task at the keys; deal with a showing alarm first (once)."""
        self._at_keys = True
        try:
            result = task()
            if not result.done and self.env.pump.alarms:
                self._clear_alarms()
                result = task()
            return result
        finally:
            self._at_keys = False

    # ------------------------------------------------------------------ meals

    def _meal_action(self, meal: Meal) -> Callable[[], None]:
        return lambda: self._meal(meal)

    def _meal(self, meal: Meal) -> None:
        bg_checked = False
        if meal.announced and self._chance(self.profile.check_bg_before_meal_p, "meal.check",
                                           meal.start_min):
            display = self.env.meter.check_bg()
            bg_checked = display.bg_mg_dl is not None
            self._record("bg_check", bg_mg_dl=display.bg_mg_dl, text=display.text,
                         why="meal")
        counted = meal.counted_carbs_g
        if not meal.announced:
            self._record("meal", carbs_g=meal.carbs_g, counted_g=0.0, bolus="unannounced")
            self.env.eat(meal.carbs_g)
            return
        if self._chance(self.profile.forget_bolus_p, "meal.forget", meal.start_min):
            self._record("meal", carbs_g=meal.carbs_g, counted_g=counted, bolus="forgotten")
            self.env.eat(meal.carbs_g)
            return
        # The linked meter's result reaches the pump over the radio: the wizard is
        # used a minute later, the time a fingerstick really takes.
        delay = MS_PER_MINUTE if bg_checked else 0
        self._later(delay, lambda: self._bolus_and_eat(meal, counted), "meal bolus")

    def _bolus_and_eat(self, meal: Meal, counted_g: float) -> None:
        remote = self.env.remote
        how = "wizard"
        if remote is not None and counted_g <= self.profile.remote_snack_max_g:
            preset = self._remote_preset_for(counted_g, remote)
            if preset is not None:
                self._expect_remote_until_ms = self.env.clock.now_ms + 2 * MS_PER_MINUTE
                sent = remote.bolus(preset)
                how = "remote" if sent else "remote-refused"
                if sent:
                    self._last_bolus_ms = self.env.clock.now_ms
        if how != "remote":
            result = self._keys(lambda: ui.wizard_bolus(self.env.pump, round(counted_g)))
            how = "wizard" if result.done else f"wizard-failed: {result.message}"
            if result.done:
                self._last_bolus_ms = self.env.clock.now_ms
        self._record("meal", carbs_g=meal.carbs_g, counted_g=counted_g, bolus=how)
        self.env.eat(meal.carbs_g)

    def _remote_preset_for(self, counted_g: float, remote: Remote) -> int | None:
        """The largest remote preset not above the snack's dose (by the first carb ratio)."""
        ratio = float(self.env.pump.settings.carb_ratios[0][1])
        dose = counted_g / ratio
        best = None
        for i, preset in enumerate(remote.presets_u):
            if preset <= dose + 1e-9 and (best is None or preset > remote.presets_u[best]):
                best = i
        return best

    # ------------------------------------------------------------------ annunciations

    def _on_annunciation(self, event: Annunciation) -> None:
        reason = event.reason
        if reason is AnnunciationReason.BOLUS_STARTED:
            self._on_bolus_started(event)
        elif reason is AnnunciationReason.RADIO_SUSPEND:
            if self._at_keys:
                return
            if self._chance(self._notice_p(), "notice.suspend"):
                self._later(self._reaction_ms("suspend"), self._resume_unexpected_suspend,
                            "person resumes")
        elif reason in (AnnunciationReason.ALARM, AnnunciationReason.ALERT):
            self._on_alarm(event)
        elif reason is AnnunciationReason.CONFIRMATION_NEEDED and not self._at_keys:
            # A change the person did not ask for waits for their keys: refuse it.
            self._later(self._reaction_ms("change"), self._refuse_pending_change,
                        "person refuses")

    def _notice_p(self) -> float:
        return (self.profile.notice_bolus_asleep_p if self.asleep()
                else self.profile.notice_bolus_awake_p)

    def _on_bolus_started(self, event: Annunciation) -> None:
        origin = event.origin or ""
        if origin in _KEY_ORIGINS and self._at_keys:
            return  # their own bolus
        if origin == "remote" and self.env.clock.now_ms <= self._expect_remote_until_ms:
            return  # the remote bolus they just sent
        self._record("unexpected_bolus_announced", origin=origin, amount_u=event.amount_u,
                     bolus_id=event.bolus_id)
        if not self.profile.cancel_unexpected_boluses:
            return
        if self._chance(self._notice_p(), "notice.bolus"):
            bolus_id = event.bolus_id
            self._later(self._reaction_ms("bolus"), lambda: self._cancel_unexpected(bolus_id),
                        "person cancels bolus")

    def _cancel_unexpected(self, bolus_id: int | None) -> None:
        status = self.env.pump.status()
        if not status.bolus_in_progress:
            self._record("unexpected_bolus_finished_before_cancel", bolus_id=bolus_id,
                         delivered_u=status.bolus_delivered_u)
            return
        result = self._keys(lambda: ui.cancel_bolus(self.env.pump))
        if result.done:
            self.cancelled_boluses += 1
        self._record("cancel_unexpected_bolus", bolus_id=bolus_id, done=result.done,
                     message=result.message)
        self._later(15 * MS_PER_MINUTE, lambda: self._suspect_low("after unexpected bolus"),
                    "person checks after bolus")

    def _resume_unexpected_suspend(self) -> None:
        if not self.env.pump.status().suspended:
            return
        result = self._keys(lambda: ui.resume(self.env.pump))
        self._record("resume_unexpected_suspend", done=result.done, message=result.message)

    def _refuse_pending_change(self) -> None:
        if self.env.pump.pending_change is None:
            return
        result = self._keys(lambda: ui.answer_pending_change(self.env.pump, accept=False))
        self._record("refuse_pending_change", done=result.done, message=result.message)

    # ------------------------------------------------------------------ alarms

    def _on_alarm(self, event: Annunciation) -> None:
        if self._pending_alarm_response:
            return  # already on the way to the pump
        if self.asleep():
            wakes_p = (self.profile.alarm_wakes_p if event.reason is AnnunciationReason.ALARM
                       else self.profile.alert_wakes_p)
            if not self._chance(wakes_p, "wake.alarm"):
                self._record("alarm_slept_through", alarm=_code(event.alarm))
                return
        self._pending_alarm_response = True
        self._later(self._reaction_ms("alarm"), self._answer_alarms, "person answers alarm")

    def _answer_alarms(self) -> None:
        self._pending_alarm_response = False
        self._clear_alarms()

    def _clear_alarms(self) -> None:
        pump = self.env.pump
        codes = [alarm.code for alarm in pump.alarms]
        if not codes:
            return
        self.alarms_answered += 1
        self._at_keys = True
        try:
            for code in codes:
                self._fix(code)
            cleared = ui.clear_all_alarms(pump)
            if pump.status().suspended and any(c in _RESUME_AFTER for c in codes):
                ui.resume(pump)
        finally:
            self._at_keys = False
        self._record("alarms_answered", alarms=[c.value for c in codes], cleared=cleared)

    def _fix(self, code: AlarmCode) -> None:
        pump = self.env.pump
        if code is AlarmCode.NO_DELIVERY:
            self.env.replace_infusion_set()
        elif code in (AlarmCode.EMPTY_RESERVOIR, AlarmCode.LOW_RESERVOIR):
            if code is AlarmCode.EMPTY_RESERVOIR or pump.status().reservoir_u < 10:
                pump.load_reservoir(float(pump.settings.reservoir_capacity_u))
        elif code in (AlarmCode.LOW_BATTERY, AlarmCode.BATTERY_OUT):
            pump.replace_battery()

    # ------------------------------------------------------------------ glucose

    def _glance(self) -> None:
        self.env.clock.schedule_in(int(self.profile.glance_interval_min * MS_PER_MINUTE),
                                   self._glance, label="person glance")
        if self.asleep():
            return
        if self.env.pump.status().suspended:
            # A legacy pump suspended by radio says nothing: the person finds out
            # when they look at it.
            self._resume_unexpected_suspend()
        reading = self.env.pump.last_sensor_reading
        cgm = None
        if reading is not None and self.env.clock.now_ms - reading.sampled_at_ms <= (
            15 * MS_PER_MINUTE
        ):
            if reading.flag is SensorFlag.LOW:
                cgm = 39.0
            elif reading.flag is SensorFlag.HIGH:
                cgm = 401.0
            else:
                cgm = reading.glucose_mg_dl
        symptoms = (self.env.true_bg_mg_dl() < self.profile.symptom_threshold_mg_dl
                    and self._chance(self.profile.symptom_notice_p, "symptoms"))
        if symptoms or (cgm is not None and cgm < self.profile.treat_below_mg_dl):
            self._suspect_low("symptoms" if symptoms else "cgm")
        elif cgm is not None and cgm > self.profile.correct_above_mg_dl:
            self._consider_correction(cgm)

    def _night_check(self) -> None:
        self.env.clock.schedule_in(int(self.profile.night_check_interval_min * MS_PER_MINUTE),
                                   self._night_check, label="person night check")
        if not self.asleep():
            return
        if self.env.true_bg_mg_dl() < self.profile.night_wake_threshold_mg_dl and self._chance(
            self.profile.night_wake_p, "wake.night"
        ):
            self._record("woke_with_low_symptoms")
            self._suspect_low("night symptoms")

    def _suspect_low(self, why: str) -> None:
        if self._rescue_pending:
            return
        display = self.env.meter.check_bg()
        self._record("bg_check", bg_mg_dl=display.bg_mg_dl, text=display.text, why=why)
        value = display.bg_mg_dl
        low = display.text == "LO" or (value is not None and value < self.profile.treat_below_mg_dl)
        if not low:
            self._rescue_round = 0
            return
        if self._rescue_round >= self.profile.max_rescue_rounds:
            self._record("rescue_gave_up", rounds=self._rescue_round)
            self._rescue_round = 0
            return
        self._rescue_round += 1
        self.rescue_carbs_g += self.profile.rescue_carbs_g
        self.env.eat(self.profile.rescue_carbs_g)
        self._record("rescue_carbs", carbs_g=self.profile.rescue_carbs_g,
                     round=self._rescue_round)
        self._rescue_pending = True
        self._later(int(self.profile.recheck_min * MS_PER_MINUTE), self._recheck, "recheck")

    def _recheck(self) -> None:
        self._rescue_pending = False
        self._suspect_low("recheck")

    def _consider_correction(self, cgm: float) -> None:
        now = self.env.clock.now_ms
        gap_ms = self.profile.correction_gap_min * MS_PER_MINUTE
        if self._last_bolus_ms is not None and now - self._last_bolus_ms < gap_ms:
            return
        display = self.env.meter.check_bg()
        self._record("bg_check", bg_mg_dl=display.bg_mg_dl, text=display.text, why="high")
        if display.bg_mg_dl is None or display.bg_mg_dl <= self.profile.correct_above_mg_dl:
            return
        self._later(MS_PER_MINUTE, self._correct, "correction bolus")

    def _correct(self) -> None:
        result = self._keys(lambda: ui.wizard_bolus(self.env.pump, 0))
        if result.done:
            self._last_bolus_ms = self.env.clock.now_ms
        self._record("correction_bolus", done=result.done, amount_u=result.amount_u,
                     message=result.message)


#: Alarms after which a suspended pump should be resumed once fixed.
_RESUME_AFTER = frozenset({AlarmCode.NO_DELIVERY, AlarmCode.EMPTY_RESERVOIR, AlarmCode.AUTO_OFF,
                           AlarmCode.NO_INSULIN, AlarmCode.WITHHOLD_LIMIT})


def _code(code: AlarmCode | None) -> str | None:
    return None if code is None else code.value

"""Predictive low-glucose suspend: the MiniMed 640G's SmartGuard "Suspend before low".

Sensor-augmented pump therapy (the scheduled basal and wizard boluses on
announced meals, as :mod:`~pumplab.control.basal_bolus`) plus the 640G's
automatic suspension, with the rules of the MiniMed 640G user guide
(SmartGuard chapter: "Suspend before low", "Suspend on low", "Automatically
resuming basal delivery after a SmartGuard suspend by sensor event"), for a low
limit ``LL`` (640G setting 50–90 mg/dL):

**Suspend before low** — when, not suspended,

* (S1) SG ≤ LL + 70 mg/dL ("at or within 70 mg/dL above your low limit"), and
* (S2) SG predicted 30 min ahead ≤ LL + 20 mg/dL;

**Suspend on low** — (S3) SG ≤ LL.

**Resume** — automatically when either

* (R1) the suspension has lasted at least 30 min, SG ≥ LL + 20 mg/dL and SG
  predicted 30 min ahead > LL + 40 mg/dL; or
* (R2) it has lasted the maximum of 2 h.

**Manual resume** — the 640G lets the person resume at any time, after which
the suspend functions are unavailable for 30 min.  In a trial the person
resumes to bolus for an announced meal (the 640G suspends all delivery; a
meal bolus needs delivery resumed): a meal during a suspension resumes, is
bolused with the wizard, and starts the 30-min lockout.

Choices where the user guide gives no number (docs/controllers.md):

* the prediction: Medtronic does not publish its predictor; we project the
  least-squares trend of the readings of the last 20 min (as the supervisor
  does; Tandem describes its Basal-IQ prediction likewise as a 30-min linear
  projection);
* the low limit defaults to 70 mg/dL (level-1 hypoglycaemia, Battelino 2019),
  settable 50–90;
* after the 2-hour maximum we also apply the 30-min lockout: the person did
  not respond, and the secure pump's withholding episodes (120 min, merged
  across gaps under 30 min) would refuse an immediate second suspension
  anyway;
* while the sensor gives no fresh reading a suspension continues to the
  2-hour maximum and none starts.

A suspension is a 30-min zero temp basal (the x23 has no "suspend" command
over the air), renewed while it lasts and cancelled on resume.
:func:`lgs_step` is the pure step; :class:`LgsController` holds
:class:`LgsState` for a loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pumplab.control.basal_bolus import MealBolusSettings, pending_meal, wizard_meal_bolus
from pumplab.control.interface import (
    MS_PER_MINUTE,
    ControllerInput,
    Decision,
    Reason,
    TempBasal,
)
from pumplab.errors import SettingsError

__all__ = ["LgsController", "LgsSettings", "LgsState", "lgs_step", "trend_prediction_mg_dl"]

#: A zero temp with this little left is renewed (the next cycle may come after it ends).
RENEW_WITHIN_MIN = 5.0
SUSPEND_TEMP_MIN = 30


@dataclass(frozen=True, slots=True)
class LgsSettings:
    """Suspend-before-low parameters (640G user guide; see the module docstring).

    ``low_limit_mg_dl`` LL (640G: 50–90 mg/dL; default 70, our choice);
    ``suspend_zone_mg_dl`` 70, ``suspend_predicted_mg_dl`` 20,
    ``resume_sg_mg_dl`` 20, ``resume_predicted_mg_dl`` 40 (mg/dL above LL);
    ``horizon_min`` 30; ``min_suspend_min`` 30, ``max_suspend_min`` 120;
    ``lockout_min`` 30; ``trend_window_min`` 20 (our predictor);
    ``stale_after_min`` 15.
    """

    low_limit_mg_dl: float = 70.0
    suspend_zone_mg_dl: float = 70.0
    suspend_predicted_mg_dl: float = 20.0
    resume_sg_mg_dl: float = 20.0
    resume_predicted_mg_dl: float = 40.0
    horizon_min: float = 30.0
    min_suspend_min: float = 30.0
    max_suspend_min: float = 120.0
    lockout_min: float = 30.0
    trend_window_min: float = 20.0
    stale_after_min: float = 15.0
    suspend_on_low: bool = True

    def __post_init__(self) -> None:
        def check(name: str, low: float, high: float) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, int | float)
                                               and math.isfinite(value) and low <= value <= high):
                raise SettingsError(f"{value!r} is out of range", field=name,
                                    allowed=f"{low:g}–{high:g}")

        check("low_limit_mg_dl", 50.0, 90.0)
        for name in ("suspend_zone_mg_dl", "suspend_predicted_mg_dl", "resume_sg_mg_dl",
                     "resume_predicted_mg_dl"):
            check(name, 0.0, 200.0)
        check("horizon_min", 5.0, 120.0)
        check("min_suspend_min", 0.0, 240.0)
        check("max_suspend_min", 30.0, 240.0)
        check("lockout_min", 0.0, 240.0)
        check("trend_window_min", 5.0, 60.0)
        check("stale_after_min", 5.0, 60.0)
        if self.min_suspend_min > self.max_suspend_min:
            raise SettingsError(f"{self.min_suspend_min!r} is out of range",
                                field="min_suspend_min", allowed="at most max_suspend_min")
        if not isinstance(self.suspend_on_low, bool):
            raise SettingsError(f"{self.suspend_on_low!r} is not a boolean",
                                field="suspend_on_low", allowed="true or false")


@dataclass(frozen=True, slots=True)
class LgsState:
    """Between cycles: when the suspension began (None: delivering) and until when the
    suspend functions are locked out (None: they are not)."""

    suspended_since_ms: int | None = None
    lockout_until_ms: int | None = None


def trend_prediction_mg_dl(inputs: ControllerInput, window_min: float,
                           horizon_min: float) -> float | None:
    """The latest SG projected ``horizon_min`` ahead on the least-squares line through the
    readings of the last ``window_min`` (flat if fewer than 2 readings over ≥ 5 min)."""
    latest = inputs.latest_cgm()
    if latest is None:
        return None
    since = latest.t_ms - window_min * MS_PER_MINUTE
    pts = [r for r in inputs.cgm if since <= r.t_ms <= latest.t_ms]
    slope = 0.0
    if len(pts) >= 2 and pts[-1].t_ms - pts[0].t_ms >= 5 * MS_PER_MINUTE:
        ts = [(r.t_ms - latest.t_ms) / MS_PER_MINUTE for r in pts]
        t_mean = sum(ts) / len(ts)
        g_mean = sum(r.bg_mg_dl for r in pts) / len(pts)
        var = sum((t - t_mean) ** 2 for t in ts)
        slope = sum((t - t_mean) * (r.bg_mg_dl - g_mean)
                    for t, r in zip(ts, pts, strict=True)) / var
    return latest.bg_mg_dl + slope * horizon_min


def _zero_temp(inputs: ControllerInput) -> TempBasal | None:
    """A 30-min zero temp, unless one is running with more than a cycle left."""
    running = inputs.pump.temp_basal
    if running is not None and running.rate_u_per_h == 0 \
            and running.remaining_min > RENEW_WITHIN_MIN:
        return None
    return TempBasal(0.0, SUSPEND_TEMP_MIN)


def _cancel(inputs: ControllerInput) -> TempBasal | None:
    running = inputs.pump.temp_basal
    return TempBasal(0.0, 0) if running is not None and running.remaining_min > 0 else None


def lgs_step(settings: LgsSettings, meals: MealBolusSettings, state: LgsState,
             inputs: ControllerInput) -> tuple[Decision, LgsState]:
    """One cycle (pure): the decision and the new state (rules S1–S3, R1–R2 above)."""
    s, inp, now = settings, inputs, inputs.now_ms
    ll = s.low_limit_mg_dl
    latest = inp.latest_cgm()
    fresh = latest is not None and now - latest.t_ms <= s.stale_after_min * MS_PER_MINUTE
    sg = latest.bg_mg_dl if (fresh and latest is not None) else None
    predicted = trend_prediction_mg_dl(inp, s.trend_window_min, s.horizon_min) if fresh else None
    values: tuple[tuple[str, float], ...] = ()
    if sg is not None and predicted is not None:
        values = (("sg", sg), ("predicted", predicted), ("low_limit", ll))
    what = (f"SG {sg:g} mg/dL, {predicted:.0f} predicted in {s.horizon_min:g} min "
            f"(low limit {ll:g})" if sg is not None and predicted is not None
            else "no fresh SG")

    if state.suspended_since_ms is not None:
        elapsed_min = (now - state.suspended_since_ms) / MS_PER_MINUTE
        meal = pending_meal(inp, meals.meal_window_min)
        if meal is not None:
            # The person resumes delivery to bolus for the meal (640G manual resume).
            bolus, meal_reasons = wizard_meal_bolus(inp, meals)
            lockout = now + int(s.lockout_min * MS_PER_MINUTE)
            return Decision(_cancel(inp), reasons=(Reason(
                "manual_resume", f"resumed after {elapsed_min:.0f} min to bolus for "
                                 f"{meal.carbs_g:g} g; suspend functions off for "
                                 f"{s.lockout_min:g} min", values), *meal_reasons),
                meal_bolus=bolus), LgsState(None, lockout)
        if elapsed_min >= s.max_suspend_min:
            lockout = now + int(s.lockout_min * MS_PER_MINUTE)
            return Decision(_cancel(inp), reasons=(Reason(
                "max_suspend", f"resumed: suspended for the {s.max_suspend_min:g}-min maximum "
                               f"({what}); suspend functions off for {s.lockout_min:g} min",
                values),)), LgsState(None, lockout)
        if (elapsed_min >= s.min_suspend_min and sg is not None and predicted is not None
                and sg >= ll + s.resume_sg_mg_dl and predicted > ll + s.resume_predicted_mg_dl):
            return Decision(_cancel(inp), reasons=(Reason(
                "auto_resume", f"resumed after {elapsed_min:.0f} min: {what}", values),)), \
                LgsState(None, state.lockout_until_ms)
        return Decision(_zero_temp(inp), reasons=(Reason(
            "suspended", f"suspended for {elapsed_min:.0f} min: {what}", values),)), state

    decision_reasons: list[Reason] = []
    locked = state.lockout_until_ms is not None and now < state.lockout_until_ms
    if sg is not None and predicted is not None and not locked:
        rule = None
        if s.suspend_on_low and sg <= ll:
            rule = "suspend_on_low"
        elif sg <= ll + s.suspend_zone_mg_dl and predicted <= ll + s.suspend_predicted_mg_dl:
            rule = "suspend_before_low"
        if rule is not None:
            return Decision(TempBasal(0.0, SUSPEND_TEMP_MIN), reasons=(Reason(
                rule, f"suspended: {what}", values),)), LgsState(now, None)
    if locked:
        decision_reasons.append(Reason("lockout", f"suspend functions off until "
                                                  f"{state.lockout_until_ms} ({what})", values))
    bolus, meal_reasons = wizard_meal_bolus(inp, meals)
    new_state = state if locked else replace(state, lockout_until_ms=None)
    return Decision(reasons=(*decision_reasons, *meal_reasons), meal_bolus=bolus), new_state


class LgsController:
    """Predictive low-glucose suspend behind the controller interface (state per pump)."""

    def __init__(self, settings: LgsSettings | None = None,
                 meals: MealBolusSettings | None = None) -> None:
        self.settings = settings if settings is not None else LgsSettings()
        self.meals = meals if meals is not None else MealBolusSettings()
        self.state = LgsState()

    @property
    def name(self) -> str:
        """``lgs``."""
        return "lgs"

    def reset(self) -> None:
        """Forget any suspension or lockout."""
        self.state = LgsState()

    def decide(self, inputs: ControllerInput) -> Decision:
        """One cycle of :func:`lgs_step`, keeping the new state."""
        decision, self.state = lgs_step(self.settings, self.meals, self.state, inputs)
        return decision

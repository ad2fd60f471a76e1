"""Builders shared by the control tests: a therapy profile, controller inputs, an oref0 CASE."""

from __future__ import annotations

import copy
from typing import Any

from pumplab.control import (
    MS_PER_MINUTE,
    ActiveTempBasal,
    BasalRecord,
    BolusRecord,
    CarbRecord,
    CgmReading,
    ControllerInput,
    PumpStatus,
    TherapyProfile,
)
from pumplab.therapy import (
    RAPID_ACTING_ADULT,
    BgTarget,
    basal_schedule,
    bg_target_schedule,
    carb_ratio_schedule,
    isf_schedule,
)

#: Fixed loop time for every test: one day and 8 hours into the run.
NOW_MS = 32 * 60 * MS_PER_MINUTE

PROFILE = TherapyProfile(
    basal=basal_schedule([(0, 0.8), (360, 1.0), (1320, 0.8)]),
    isf=isf_schedule([(0, 50.0)]),
    carb_ratio=carb_ratio_schedule([(0, 10.0)]),
    target=bg_target_schedule([(0, BgTarget(100.0, 110.0))]),
    insulin_curve=RAPID_ACTING_ADULT,
    max_basal_u_per_h=3.0,
)


def cgm_trace(bgs: list[float], *, end_ms: int = NOW_MS, step_min: float = 5.0) -> tuple[
        CgmReading, ...]:
    """Readings ``step_min`` apart, the last at ``end_ms`` (oldest first)."""
    n = len(bgs)
    return tuple(CgmReading(int(end_ms - (n - 1 - i) * step_min * MS_PER_MINUTE), float(bg))
                 for i, bg in enumerate(bgs))


def linear_trace(start: float, per_5min: float, n: int = 12, *, end_ms: int = NOW_MS) -> tuple[
        CgmReading, ...]:
    """``n`` readings 5 min apart changing by ``per_5min`` each, ending at ``end_ms``."""
    return cgm_trace([start + per_5min * i for i in range(n)], end_ms=end_ms)


def controller_input(
    cgm: tuple[CgmReading, ...],
    *,
    now_ms: int = NOW_MS,
    minute_of_day: float = 480.0,
    iob_u: float = 1.0,
    scheduled: float = 1.0,
    temp: ActiveTempBasal | None = None,
    suspended: bool = False,
    boluses: tuple[BolusRecord, ...] = (),
    basal_history: tuple[BasalRecord, ...] = (),
    carbs: tuple[CarbRecord, ...] = (),
    withheld_episode_min: float | None = None,
    withheld_day_min: float | None = None,
) -> ControllerInput:
    """A ControllerInput at 08:00 on the test profile (scheduled basal 1.0 U/h)."""
    return ControllerInput(
        now_ms=now_ms, minute_of_day=minute_of_day, cgm=cgm,
        pump=PumpStatus(now_ms, suspended, scheduled, temp, iob_u,
                        withheld_episode_min=withheld_episode_min,
                        withheld_day_min=withheld_day_min),
        boluses=boluses, basal_history=basal_history, carbs=carbs, profile=PROFILE,
    )


#: oref0's own test baseline (tests/determine-basal.test.js), as a full CASE: 48 IOB
#: ticks of zero insulin, a 1-U/h-ish profile, no carbs.  Tests override a little.
_BASE_TIME_MS = 1_527_924_300_000  # 2018-06-02T07:25:00Z, oref0's example clock


def base_case() -> dict[str, Any]:
    """A fresh copy of the baseline CASE (BG 115 flat-ish, no IOB, no temp, no carbs)."""
    ticks = [{"iob": 0, "activity": 0, "iobWithZeroTemp": {"iob": 0, "activity": 0}}
             for _ in range(48)]
    ticks[0]["lastBolusTime"] = _BASE_TIME_MS - 6 * 60 * MS_PER_MINUTE
    return copy.deepcopy({
        "glucose_status": {"delta": 0, "glucose": 115, "long_avgdelta": 1.1,
                           "short_avgdelta": 0, "date": _BASE_TIME_MS},
        "currenttemp": {"duration": 0, "rate": 0, "temp": "absolute"},
        "iob_data": ticks,
        "profile": {"max_iob": 2.5, "dia": 3, "type": "current", "current_basal": 0.9,
                    "max_daily_basal": 1.3, "max_basal": 3.5, "max_bg": 120, "min_bg": 110,
                    "sens": 40, "carb_ratio": 10, "enableUAM": True,
                    "noisyCGMTargetMultiplier": 1.3, "autosens_max": 1.2},
        "autosens": {"ratio": 1.0},
        "meal_data": {"carbs": 0, "mealCOB": 0, "slopeFromMaxDeviation": 0,
                      "slopeFromMinDeviation": 0, "bwFound": False},
        "microBolusAllowed": False,
        "currentTime": _BASE_TIME_MS,
    })


def decaying_ticks(iob_u: float, activity: float, *, zt_drop: float = 0.0) -> list[dict[str, Any]]:
    """48 IOB ticks: IOB and activity decaying over 4 h; zero-temp IOB lower by ``zt_drop``/tick."""
    ticks = []
    for i in range(48):
        f = max(0.0, 1 - i / 48)
        ticks.append({"iob": round(iob_u * f, 3), "activity": round(activity * f, 4),
                      "iobWithZeroTemp": {"iob": round(iob_u * f - zt_drop * i, 3),
                                          "activity": round(activity * f - zt_drop / 60, 4)}})
    ticks[0]["lastBolusTime"] = _BASE_TIME_MS - 6 * 60 * MS_PER_MINUTE
    return ticks

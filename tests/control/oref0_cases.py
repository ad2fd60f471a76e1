"""Seeded CASE generator for the differential test against real oref0.

Each CASE is a JSON object as oref0's determine-basal takes it.  The
generator draws a situation (glucose: rising, falling, low, high, in range,
stale, flat, noisy, sensor error; carbs or none; SMB on or off; an ordinary or
an extreme profile; a running temp or none) from one ``random.Random(seed)``,
and builds the IOB ticks from a random dose history with pumplab's own
``pumplab.control.oref0.inputs.iob_data`` (so every tick carries
``iobWithZeroTemp`` as oref0-calculate-iob's output does).  A few CASEs use a
single IOB object, as oref0's own unit tests do.

The draw is deterministic: the same seed gives the same CASEs on every run.
"""

from __future__ import annotations

import random
from typing import Any

from pumplab.control.interface import (
    ActiveTempBasal,
    BasalRecord,
    BolusRecord,
    ControllerInput,
    PumpStatus,
    TherapyProfile,
)
from pumplab.control.oref0.inputs import iob_data
from pumplab.therapy import (
    BgTarget,
    ExponentialCurve,
    basal_schedule,
    bg_target_schedule,
    carb_ratio_schedule,
    isf_schedule,
)

__all__ = ["GLUCOSE_KINDS", "generate_cases"]

#: 2024-03-01T08:00:00Z in epoch ms: the time of every CASE (offsets are drawn).
T0_MS = 1_709_280_000_000
MS_PER_MIN = 60_000

GLUCOSE_KINDS = ("rising", "falling", "low", "high", "in_range", "stale", "flat", "noisy",
                 "sensor_error")
BASALS = (0.025, 0.05, 0.1, 0.35, 0.6, 0.825, 0.9, 1.0, 1.35, 1.8, 2.5, 4.0, 7.5, 12.0)
ISFS = (15.0, 25.0, 40.0, 50.0, 75.0, 100.0, 180.0, 300.0, 400.0)
CRS = (3.0, 5.0, 8.0, 10.0, 15.0, 25.0, 40.0)


def _grid(rate: float) -> float:
    step = 0.025 if rate < 1 else (0.05 if rate < 10 else 0.1)
    return round(round(rate / step) * step, 3)


def _profile(rng: random.Random, extreme: bool) -> dict[str, Any]:
    if extreme:
        basal = rng.choice(BASALS)
        sens = rng.choice(ISFS)
        cr = rng.choice(CRS)
        min_bg = rng.choice((70, 80, 90, 100, 110, 120, 140, 160))
        max_bg = min_bg + rng.choice((0, 0, 10, 20, 40, 80))
        max_iob = rng.choice((0.0, 0.5, 1.0, 3.0, 6.0, 12.0, 20.0))
    else:
        basal = _grid(rng.uniform(0.4, 2.0))
        sens = float(rng.randrange(30, 120))
        cr = float(rng.randrange(6, 20))
        min_bg = rng.choice((90, 100, 105, 110))
        max_bg = min_bg + rng.choice((0, 10, 20))
        max_iob = rng.choice((2.0, 3.0, 4.0, 6.0))
    max_daily = _grid(basal * rng.choice((1.0, 1.0, 1.2, 1.5, 2.0)))
    profile: dict[str, Any] = {
        "current_basal": basal,
        "max_daily_basal": max_daily,
        "max_basal": rng.choice((basal, max_daily * 2, 3.5, 4.0, 6.0, 10.0, 35.0)),
        "max_iob": max_iob,
        "min_bg": min_bg,
        "max_bg": max_bg,
        "sens": sens,
        "carb_ratio": cr,
        "dia": 6,
        "curve": "rapid-acting",
        "type": "current",
        "out_units": rng.choice(("mg/dL",) * 5 + ("mmol/L",)),
        "enableUAM": rng.random() < 0.75,
        "maxCOB": 120,
        "min_5m_carbimpact": 8,
        "remainingCarbsCap": rng.choice((90, 90, 50)),
        "noisyCGMTargetMultiplier": 1.3,
        "autosens_max": 1.2,
        "autosens_min": 0.7,
        "sensitivity_raises_target": rng.random() < 0.7,
        "resistance_lowers_target": rng.random() < 0.3,
        "carbsReqThreshold": 1,
    }
    model = rng.choice(("523", "554", "522", None))
    if model is not None:
        profile["model"] = model
    if rng.random() < 0.15:
        profile["temptargetSet"] = True
        tt = rng.choice((80, 90, 120, 140, 160))
        profile["min_bg"] = profile["max_bg"] = tt
        profile["exercise_mode"] = rng.random() < 0.5
        profile["low_temptarget_lowers_sensitivity"] = rng.random() < 0.5
        profile["half_basal_exercise_target"] = rng.choice((120, 160))
    if rng.random() < 0.3:
        profile["max_daily_safety_multiplier"] = rng.choice((1, 2, 3, 4, None))
        profile["current_basal_safety_multiplier"] = rng.choice((1, 4, 5, 10, None))
    if rng.random() < 0.15:
        profile["skip_neutral_temps"] = True
    return profile


def _smb_prefs(rng: random.Random, profile: dict[str, Any]) -> None:
    profile["enableSMB_always"] = rng.random() < 0.4
    profile["enableSMB_with_COB"] = rng.random() < 0.6
    profile["enableSMB_after_carbs"] = rng.random() < 0.4
    profile["enableSMB_with_temptarget"] = rng.random() < 0.3
    profile["enableSMB_high_bg"] = rng.random() < 0.3
    profile["enableSMB_high_bg_target"] = rng.choice((110, 140, 180))
    profile["allowSMB_with_high_temptarget"] = rng.random() < 0.2
    profile["A52_risk_enable"] = rng.random() < 0.3
    profile["maxSMBBasalMinutes"] = rng.choice((30, 45, 75, 90, 120))
    profile["maxUAMSMBBasalMinutes"] = rng.choice((30, 45, 90))
    profile["SMBInterval"] = rng.choice((1, 3, 5))
    profile["bolus_increment"] = rng.choice((0.1, 0.05, 0.025))
    if rng.random() < 0.3:
        profile["maxDelta_bg_threshold"] = rng.choice((0.1, 0.2, 0.3, 0.5))


def _glucose(rng: random.Random, kind: str, now_ms: int) -> dict[str, Any]:
    age_min = rng.choice((0, 0, 1, 2, 3, 4.5, 5))
    noise = rng.choice((None, None, None, 1))
    if kind == "rising":
        bg = rng.uniform(70, 320)
        d = rng.uniform(1, 15)
        short, long = d * rng.uniform(0.6, 1.1), d * rng.uniform(0.3, 1.0)
    elif kind == "falling":
        bg = rng.uniform(70, 320)
        d = -rng.uniform(1, 12)
        short, long = d * rng.uniform(0.6, 1.1), d * rng.uniform(0.3, 1.0)
    elif kind == "low":
        bg = rng.uniform(39, 85)
        d = rng.uniform(-6, 6)
        short, long = d + rng.uniform(-2, 2), d + rng.uniform(-3, 3)
    elif kind == "high":
        bg = rng.uniform(180, 400)
        d = rng.uniform(-5, 8)
        short, long = d + rng.uniform(-2, 2), d + rng.uniform(-3, 3)
    elif kind == "in_range":
        bg = rng.uniform(90, 150)
        d = rng.uniform(-2, 2)
        short, long = d + rng.uniform(-1, 1), d + rng.uniform(-1.5, 1.5)
    elif kind == "stale":
        bg = rng.uniform(60, 300)
        d = rng.uniform(-5, 5)
        short, long = d, d
        age_min = rng.choice((12.1, 13, 20, 45, 180, -5.1, -10))
    elif kind == "flat":
        bg = float(rng.randrange(61, 250))
        d, short, long = 0.0, rng.uniform(-0.9, 0.9), rng.uniform(-0.9, 0.9)
    elif kind == "noisy":
        bg = rng.uniform(60, 300)
        d = rng.uniform(-5, 5)
        short, long = d, d
        noise = rng.choice((2, 3, 4))
    else:  # sensor_error
        bg = rng.choice((5.0, 10.0, 38.0))
        d, short, long = 0.0, 0.0, 0.0
    status: dict[str, Any] = {
        "glucose": round(bg, rng.choice((0, 0, 2))),
        "delta": round(d, 2),
        "short_avgdelta": round(short, 2),
        "long_avgdelta": round(long, 2),
        "date": now_ms - int(age_min * MS_PER_MIN),
    }
    if noise is not None:
        status["noise"] = noise
    if rng.random() < 0.05:
        status["device"] = "fakecgm"
    return status


def _iob(rng: random.Random, profile: dict[str, Any], now_ms: int,
         temp: dict[str, Any]) -> Any:
    basal = profile["current_basal"]
    therapy = TherapyProfile(
        basal=basal_schedule([(0, basal)]),
        isf=isf_schedule([(0, profile["sens"])]),
        carb_ratio=carb_ratio_schedule([(0, profile["carb_ratio"])]),
        target=bg_target_schedule([(0, BgTarget(100.0, 100.0))]),
        insulin_curve=ExponentialCurve(rng.choice((75.0, 55.0)), rng.choice((300.0, 360.0))),
        max_basal_u_per_h=35.0,
    )
    boluses = []
    t = now_ms - rng.randrange(30, 400) * MS_PER_MIN
    for _ in range(rng.choice((0, 0, 1, 2, 4))):
        boluses.append(BolusRecord(t, round(rng.choice((0.1, 0.3, 1.0, 2.5, 6.0, 12.0)), 2)))
        t += rng.randrange(5, 90) * MS_PER_MIN
        if t > now_ms:
            break
    boluses = [b for b in boluses if b.t_ms <= now_ms]
    history = []
    t = now_ms - rng.randrange(60, 360) * MS_PER_MIN
    while t < now_ms - 30 * MS_PER_MIN:
        dur = rng.choice((30, 30, 60, 120))
        rate = rng.choice((0.0, basal * 0.5, basal * 2, basal * 3, basal * 4))
        history.append(BasalRecord(t, float(min(dur, (now_ms - t) / MS_PER_MIN)), rate))
        t += (dur + rng.choice((0, 0, 15, 60))) * MS_PER_MIN
    running = None
    if temp["duration"] > 0:
        elapsed = rng.choice((5, 10, 20, 25))
        history.append(BasalRecord(now_ms - elapsed * MS_PER_MIN, float(elapsed), temp["rate"]))
        running = ActiveTempBasal(temp["rate"], temp["duration"])
    inp = ControllerInput(
        now_ms=now_ms, minute_of_day=480.0, cgm=(),
        pump=PumpStatus(now_ms, False, basal, running, 0.0),
        boluses=tuple(boluses), basal_history=tuple(history), carbs=(), profile=therapy,
    )
    data = iob_data(inp)
    ticks = [
        {"iob": tk.iob, "activity": tk.activity,
         "iobWithZeroTemp": {"iob": tk.zt_iob, "activity": tk.zt_activity}}
        for tk in data.ticks
    ]
    ticks[0]["lastBolusTime"] = int(data.last_bolus_time_ms or 0)
    if data.last_temp is not None and rng.random() < 0.9:
        last = {"date": int(data.last_temp.date_ms), "rate": data.last_temp.rate,
                "duration": data.last_temp.duration}
        if rng.random() < 0.1:  # a history that does not explain the running temp
            last["rate"] = round(last["rate"] + 0.5, 3)
        ticks[0]["lastTemp"] = last
    if rng.random() < 0.05:
        single = {"iob": ticks[0]["iob"], "activity": ticks[0]["activity"]}
        single.update({k: v for k, v in ticks[0].items() if k in ("lastBolusTime", "lastTemp")})
        return single
    return ticks


def _meal(rng: random.Random, now_ms: int) -> dict[str, Any]:
    if rng.random() < 0.45:
        return {"carbs": 0, "mealCOB": 0, "slopeFromMaxDeviation": 0,
                "slopeFromMinDeviation": rng.choice((0, 999)), "bwFound": False,
                "currentDeviation": 0, "maxDeviation": 0, "minDeviation": 999}
    carbs = float(rng.choice((5, 15, 30, 45, 60, 90, 120, 200)))
    cob = round(carbs * rng.choice((0.0, 0.2, 0.5, 0.8, 1.0)))
    return {
        "carbs": carbs,
        "mealCOB": min(cob, 120),
        "slopeFromMaxDeviation": round(rng.uniform(-4, 0), 3) if rng.random() < 0.6 else 0,
        "slopeFromMinDeviation": round(rng.uniform(0, 4), 3) if rng.random() < 0.6 else 0,
        "lastCarbTime": now_ms - rng.randrange(0, 360) * MS_PER_MIN,
        "bwFound": rng.random() < 0.1,
        "bwCarbs": 0,
    }


def _temp(rng: random.Random, profile: dict[str, Any]) -> dict[str, Any]:
    basal = profile["current_basal"]
    kind = rng.choice(("none", "none", "zero", "low", "high", "same", "long_zero"))
    if kind == "none":
        return {"duration": 0, "rate": 0, "temp": "absolute"}
    rate = {"zero": 0.0, "long_zero": 0.0, "low": _grid(basal * 0.5), "high": _grid(basal * 2.5),
            "same": basal}[kind]
    duration = rng.choice((120, 90, 60)) if kind == "long_zero" else rng.choice(
        (3, 10, 16, 20, 25, 29, 30))
    return {"duration": duration, "rate": rate, "temp": "absolute"}


def generate_cases(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` CASEs drawn from ``random.Random(seed)``, cycling through the glucose kinds."""
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        kind = GLUCOSE_KINDS[i % len(GLUCOSE_KINDS)]
        now_ms = T0_MS + rng.randrange(0, 24 * 60) * MS_PER_MIN + rng.choice((0, 0, 30_000))
        extreme = rng.random() < 0.35
        profile = _profile(rng, extreme)
        smb = rng.random() < 0.5
        if smb:
            _smb_prefs(rng, profile)
        temp = _temp(rng, profile)
        autosens = rng.choice((None, {"ratio": 1.0}, {"ratio": 1.0},
                               {"ratio": round(rng.uniform(0.6, 1.4), 2)}))
        case = {
            "glucose_status": _glucose(rng, kind, now_ms),
            "currenttemp": temp,
            "iob_data": _iob(rng, profile, now_ms, temp),
            "profile": profile,
            "autosens": autosens,
            "meal_data": _meal(rng, now_ms),
            "microBolusAllowed": smb,
            "currentTime": now_ms if rng.random() < 0.5 else _iso(now_ms),
        }
        if rng.random() < 0.2:
            case["reservoir_data"] = rng.choice((None, 123.4))
        case["_label"] = {"glucose": kind, "extreme_profile": extreme, "smb": smb,
                          "carbs": case["meal_data"]["carbs"] > 0}
        cases.append(case)
    return cases


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

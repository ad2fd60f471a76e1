"""oref0's inputs built from the controller interface: glucose status, IOB ticks, meal data.

On a rig, oref0 computes determine-basal's inputs with separate tools; the
:class:`~pumplab.control.oref0.controller.Oref0Controller` computes the same
from a :class:`~pumplab.control.interface.ControllerInput`:

* :func:`glucose_status` — oref0 ``lib/glucose-get-last.js``, ported line by
  line: readings within 2.5 min are averaged into "now"; ``delta`` is the mean
  change (per 5 min) from readings 2.5–7.5 min old, ``short_avgdelta`` from
  2.5–17.5 min, ``long_avgdelta`` from 17.5–42.5 min;
* :func:`iob_data` — oref0 ``lib/iob`` (``generate``/``iobTotal``): net IOB
  and activity every 5 min for 4 h, with the running temp basal continuing to
  its end, and again with a zero temp from now for 4 h (``iobWithZeroTemp``).
  The insulin maths is :mod:`pumplab.therapy` (exact integrals of the
  exponential curve over each temp basal, where oref0 splits temps into
  0.05-U pieces: the values differ by less than one piece's IOB);
* :func:`meal_data` — modelled on oref0 ``lib/meal/total.js`` and
  ``lib/determine-basal/cob.js``: BG resampled on a 5-min grid, deviations
  (observed delta minus insulin's BG impact), carbs absorbed since each meal
  at least ``min_5m_carbimpact`` per 5 min, COB, and the deviation slopes the
  UAM curve uses.  Not a line port: oref0's resampling has quirks (an
  interpolated gap drops the reading that ends it) this does not reproduce,
  and it is not part of the differential test (docs/controllers.md).

Deliberately not here: autosens (the sensitivity ratio is a setting) and
autotune.  Pure functions of their arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pumplab.control.interface import (
    MS_PER_MINUTE,
    CarbRecord,
    CgmReading,
    ControllerInput,
)
from pumplab.control.oref0._jsmath import js_mathround, js_round, js_to_fixed
from pumplab.control.oref0.case import GlucoseStatus, IobData, IobTick, LastTemp, MealData
from pumplab.therapy import BasalDelivery, Dose, iob_and_activity, net_basal_doses

__all__ = [
    "CGM_BUCKET_MIN",
    "IOB_HORIZON_MIN",
    "glucose_status",
    "iob_data",
    "meal_data",
]

#: oref0 predicts IOB out to 4 h, every 5 min, whatever the DIA.
IOB_HORIZON_MIN = 240
IOB_STEP_MIN = 5
#: CGM data are bucketed in 5-min steps; gaps over 8 min are interpolated.
CGM_BUCKET_MIN = 5.0
GAP_INTERPOLATE_MIN = 8.0
SAME_READING_MIN = 2.0
#: Carbs count for 6 h; deviations for the UAM slope come from the last 45 min.
CARB_WINDOW_MIN = 360.0
DEVIATION_WINDOW_MIN = 45.0
#: Buckets computed before the oldest deviation needed (each uses the 3 buckets before it).
DEVIATION_MARGIN_MIN = 20.0
MIN_CARBS_G = 1.0
#: Valid sensor glucose starts at 39 mg/dL (lower values are error codes).
MIN_VALID_BG_MG_DL = 39.0


def glucose_status(readings: Sequence[CgmReading]) -> GlucoseStatus | None:
    """oref0 glucose-get-last on ``readings`` (oldest first); None if there is none valid."""
    data = [r for r in reversed(readings) if r.bg_mg_dl]
    if not data:
        return None
    now_bg = data[0].bg_mg_dl
    now_ms = float(data[0].t_ms)
    last: list[float] = []
    short: list[float] = []
    long: list[float] = []
    for then in data[1:]:
        if not then.bg_mg_dl > 38:
            continue
        minutes_ago = js_mathround((now_ms - then.t_ms) / MS_PER_MINUTE)
        change = now_bg - then.bg_mg_dl
        if -2 < minutes_ago < 2.5:
            now_bg = (now_bg + then.bg_mg_dl) / 2
            now_ms = (now_ms + then.t_ms) / 2
            continue
        avg_delta = change / minutes_ago * 5
        if 2.5 < minutes_ago < 17.5:
            short.append(avg_delta)
            if minutes_ago < 7.5:
                last.append(avg_delta)
        elif 17.5 < minutes_ago < 42.5:
            long.append(avg_delta)

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    return GlucoseStatus(
        glucose=js_mathround(now_bg * 100) / 100,
        delta=js_mathround(mean(last) * 100) / 100,
        short_avgdelta=js_mathround(mean(short) * 100) / 100,
        long_avgdelta=js_mathround(mean(long) * 100) / 100,
        date_ms=now_ms,
    )


@dataclass(frozen=True, slots=True)
class _History:
    """Boluses and net basal (delivered minus scheduled) as doses, in minutes relative to
    ``now_ms`` (therapy's time base); doses whose action ended before the window are dropped."""

    doses: tuple[Dose, ...]


def _net_doses(inp: ControllerInput, deliveries: Sequence[BasalDelivery]) -> tuple[Dose, ...]:
    return net_basal_doses(deliveries, inp.profile.basal, minute_of_day_at_zero=inp.minute_of_day)


def _history(inp: ControllerInput, *, since_min: float = 0.0) -> _History:
    """Doses that still act at ``since_min`` (minutes relative to now, ≤ 0) or later."""
    def rel(t_ms: int) -> float:
        return (t_ms - inp.now_ms) / MS_PER_MINUTE

    boluses = [Dose(rel(b.t_ms), b.units) for b in inp.boluses if b.units > 0]
    basal = [BasalDelivery(rel(r.start_ms), min(r.duration_min, -rel(r.start_ms)),
                           r.rate_u_per_h)
             for r in inp.basal_history if r.start_ms < inp.now_ms]
    horizon = inp.profile.insulin_curve.effect_duration_min
    doses = [d for d in (*boluses, *_net_doses(inp, basal))
             if d.start_min + d.duration_min + horizon > since_min]
    return _History(tuple(doses))


def _tick(inp: ControllerInput, doses: tuple[Dose, ...], t_min: float) -> tuple[float, float]:
    net = iob_and_activity(doses, t_min, inp.profile.insulin_curve)
    # oref0 iobTotal rounds IOB to 3 decimals and activity to 4.
    return js_round(net.iob_u, 3), js_round(net.activity_u_per_min, 4)


def iob_data(inp: ControllerInput) -> IobData:
    """oref0's 48 IOB ticks (now, +5, ..., +235 min) for ``inp``, with and without a zero temp."""
    hist = _history(inp)
    temp = inp.pump.temp_basal
    running: tuple[Dose, ...] = ()
    if temp is not None and temp.remaining_min > 0:
        running = _net_doses(inp, [BasalDelivery(0.0, float(temp.remaining_min),
                                                 temp.rate_u_per_h)])
    zero = _net_doses(inp, [BasalDelivery(0.0, float(IOB_HORIZON_MIN), 0.0)])
    with_temp, with_zero = hist.doses + running, hist.doses + zero
    ticks = []
    for step in range(0, IOB_HORIZON_MIN, IOB_STEP_MIN):
        iob, act = _tick(inp, with_temp, float(step))
        zt_iob, zt_act = _tick(inp, with_zero, float(step))
        ticks.append(IobTick(iob, act, zt_iob, zt_act))
    last_bolus = max((b.t_ms for b in inp.boluses), default=None)
    last_temp = None
    if inp.basal_history:
        rec = inp.basal_history[-1]
        last_temp = LastTemp(float(rec.start_ms), rec.rate_u_per_h,
                             js_round(rec.duration_min, 2))
    return IobData(
        iob=ticks[0].iob, activity=ticks[0].activity, ticks=tuple(ticks),
        last_bolus_time_ms=float(last_bolus) if last_bolus is not None else 0.0,
        last_temp=last_temp,
    )


# ---------------------------------------------------------------- meal data


@dataclass(frozen=True, slots=True)
class _Bucket:
    t_ms: float
    bg: float


def _buckets(readings: Sequence[CgmReading], since_ms: float) -> list[_Bucket]:
    """Valid readings newest first on a ~5-min grid: near-duplicates averaged, gaps filled."""
    out: list[_Bucket] = []
    for r in reversed(readings):
        if r.bg_mg_dl < MIN_VALID_BG_MG_DL:
            continue
        if out:
            prev = out[-1]
            gap = (prev.t_ms - r.t_ms) / MS_PER_MINUTE
            if gap <= SAME_READING_MIN:
                out[-1] = _Bucket(prev.t_ms, (prev.bg + r.bg_mg_dl) / 2)
                continue
            if gap > GAP_INTERPOLATE_MIN:
                steps = int(gap // CGM_BUCKET_MIN)
                for k in range(1, steps):
                    frac = k * CGM_BUCKET_MIN / gap
                    out.append(_Bucket(prev.t_ms - k * CGM_BUCKET_MIN * MS_PER_MINUTE,
                                       js_mathround(prev.bg + frac * (r.bg_mg_dl - prev.bg))))
        out.append(_Bucket(float(r.t_ms), r.bg_mg_dl))
        if r.t_ms < since_ms:
            break  # one reading before the window, as oref0's "pre-meal BG"
    return out


@dataclass(frozen=True, slots=True)
class _Deviation:
    t_ms: float
    deviation: float  # this step's delta minus BGI
    avg_deviation: float  # the 15-min average delta minus BGI


def _deviations(inp: ControllerInput, hist: _History, buckets: list[_Bucket]) -> list[_Deviation]:
    out = []
    for i in range(len(buckets) - 3):
        b = buckets[i]
        t_min = (b.t_ms - inp.now_ms) / MS_PER_MINUTE
        sens = inp.profile.isf.value_at(inp.minute_of_day_at(int(b.t_ms)))
        activity = iob_and_activity(hist.doses, t_min, inp.profile.insulin_curve)
        bgi = float(js_to_fixed(js_round(-js_round(activity.activity_u_per_min, 4) * sens * 5,
                                         2), 2))
        avg_delta = float(js_to_fixed((b.bg - buckets[i + 3].bg) / 3, 2))
        delta = b.bg - buckets[i + 1].bg
        out.append(_Deviation(b.t_ms, float(js_to_fixed(delta - bgi, 2)),
                              js_round(avg_delta - bgi, 3)))
    return out


def _absorbed_since(inp: ControllerInput, devs: list[_Deviation], meal_ms: float,
                    min_5m_carbimpact: float) -> float:
    """Carbs (g) absorbed since ``meal_ms``: each 5 min at least min_5m_carbimpact."""
    if not devs:
        return 0.0
    current = devs[0].avg_deviation
    total = 0.0
    for d in devs:
        if d.t_ms > meal_ms:
            minute = inp.minute_of_day_at(int(d.t_ms))
            ci = max(d.deviation, current / 2, min_5m_carbimpact)
            total += ci * inp.profile.carb_ratio.value_at(minute) / inp.profile.isf.value_at(
                minute)
    return total


def meal_data(inp: ControllerInput, *, min_5m_carbimpact: float, max_cob_g: float) -> MealData:
    """Carbs of the last 6 h, COB and deviation slopes for ``inp`` (see the module docstring)."""
    hist = _history(inp, since_min=-CARB_WINDOW_MIN - CGM_BUCKET_MIN)
    window_ms = inp.now_ms - CARB_WINDOW_MIN * MS_PER_MINUTE
    entries: list[CarbRecord] = [c for c in reversed(inp.carbs)
                                 if window_ms < c.t_ms <= inp.now_ms and c.carbs_g >= MIN_CARBS_G]
    # Only deviations after the oldest meal (absorption) and of the last 45 min (slopes) are
    # used; each needs the 3 buckets before it.  Computing them back to 20 min before the
    # earliest of those, and not over all 6 h, gives the same values for a fraction of the
    # insulin-activity evaluations.
    needed_ms = min([float(c.t_ms) for c in entries]
                    + [inp.now_ms - DEVIATION_WINDOW_MIN * MS_PER_MINUTE])
    since_ms = max(float(window_ms), needed_ms - DEVIATION_MARGIN_MIN * MS_PER_MINUTE)
    devs_all = _deviations(inp, hist, _buckets(inp.cgm, since_ms))
    carbs = 0.0
    to_remove = 0.0
    cob = 0.0
    last_carb = 0.0
    for entry in entries:  # newest first
        carbs += entry.carbs_g
        last_carb = max(last_carb, float(entry.t_ms))
        my_cob = max(0.0, carbs - _absorbed_since(inp, devs_all, entry.t_ms, min_5m_carbimpact))
        cob = max(cob, my_cob)
        # Older entries that do not raise COB are not counted as carbs (oref0 meal/total.js).
        to_remove = to_remove + entry.carbs_g if my_cob < cob else 0.0
    carbs -= to_remove
    cob = min(max_cob_g, cob)
    recent = [d for d in devs_all
              if d.t_ms >= inp.now_ms - DEVIATION_WINDOW_MIN * MS_PER_MINUTE]
    slope_max, slope_min = 0.0, 999.0
    if recent:
        current = recent[0].avg_deviation
        max_dev, min_dev = 0.0, 999.0
        for d in recent[1:]:
            slope = (d.avg_deviation - current) / (d.t_ms - inp.now_ms) * MS_PER_MINUTE * 5
            if d.avg_deviation > max_dev:
                slope_max, max_dev = min(0.0, slope), d.avg_deviation
            if d.avg_deviation < min_dev:
                slope_min, min_dev = max(0.0, slope), d.avg_deviation
    else:
        cob = 0.0  # no current deviation: zombie-carb safety, as oref0
    return MealData(
        carbs=js_round(carbs, 3), meal_cob=js_mathround(cob),
        slope_from_max_deviation=js_round(slope_max, 3),
        slope_from_min_deviation=js_round(slope_min, 3),
        last_carb_time_ms=last_carb if carbs > 0 else None,
    )

"""oref0's four glucose prediction curves, 5 minutes a step for up to 4 hours.

From the current BG, each curve adds per step the BG impact of insulin
(``predBGI`` = −activity · ISF · 5) and a guess at what else moves BG
(oref0 0.7.1 ``determine-basal.js``, the ``iobArray.forEach`` loop):

* **IOB** — insulin, plus the current deviation (``ci``: observed delta minus
  insulin impact) fading linearly to zero over 60 min;
* **COB** — insulin, negative deviations only, plus the observed carb impact
  fading to zero over ``cid`` steps, plus not-yet-absorbed carbs arriving as a
  triangle peaking at ``remainingCATime/2`` and ending at ``remainingCATime``;
* **UAM** (unannounced meal) — insulin, negative deviations, plus the
  deviation ``uci`` falling at the slope observed in recent deviations
  (``slopeFromDeviations``) or to zero over 3 h, whichever is lower;
* **ZT** (zero temp) — insulin only, as if a zero temp ran from now on
  (``iobWithZeroTemp``): the floor a low temp can reach.

Alongside, the minimum of each curve ("guard" BGs, from the first step) and of
each curve after the insulin peak (``min*PredBG``; oref0 waits 90 min for IOB
and COB, 60 min for UAM).  Curves are kept unrounded here; :func:`finish`
clips them to 39–401 mg/dL, rounds them and trims their flat tails as oref0
prints them.

Pure arithmetic in oref0's order of operations (see :mod:`._jsmath`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pumplab.control.oref0._jsmath import js_div, js_mathround, js_round
from pumplab.control.oref0.case import IobTick

__all__ = [
    "CarbModel",
    "Predictions",
    "finish",
    "predict",
]

#: Curves are printed for at most 4 h of 5-min steps (oref0 truncates at 48 points).
MAX_POINTS = 48
#: oref0 waits 90 min (60 min to the insulin peak + 30 min for delivery) before
#: taking a minimum of the IOB and COB curves: 90/60 · 12 steps.
INSULIN_PEAK_STEPS = 18
#: ...and 12 steps (60 min) before taking the UAM curve's minimum.
UAM_MIN_WAIT_STEPS = 12
#: The IOB curve's deviation fades to zero over 60 min = 12 steps.
DEVIATION_FADE_STEPS = 12.0
#: UAM impact fades to zero over at most 3 h = 36 steps.
UAM_FADE_STEPS = 36.0
#: Sentinel oref0 uses for "no minimum found".
NO_MIN = 999.0
#: Printed predictions are clipped to the CGM's range.
PRINT_LOW_MG_DL = 39.0
PRINT_HIGH_MG_DL = 401.0


@dataclass(frozen=True, slots=True)
class CarbModel:
    """Carb and deviation impact inputs of the COB and UAM curves (mg/dL per 5 min)."""

    ci: float  # carb impact now (limited to maxCI)
    uci: float  # unannounced-meal impact now (not limited)
    cid: float  # steps over which ci fades (0: no carb absorption observed)
    remaining_ca_time_h: float
    remaining_ci_peak: float
    slope_from_deviations: float


@dataclass(frozen=True, slots=True)
class Predictions:
    """The four curves (unrounded, each starting at BG) and their extremes."""

    iob: tuple[float, ...]
    cob: tuple[float, ...]
    uam: tuple[float, ...]
    zt: tuple[float, ...]
    last_iob: float  # the last value computed, even past the 48th printed point
    last_cob: float | None
    last_uam: float | None
    min_iob_pred: float
    min_cob_pred: float
    min_uam_pred: float
    min_iob_guard: float
    min_cob_guard: float
    min_uam_guard: float
    min_zt_guard: float
    max_iob_pred: float
    max_cob_pred: float
    max_uam_pred: float
    uam_duration_h: float


def predict(
    bg: float,
    eventual_bg: float,
    ticks: Sequence[IobTick],
    sens: float,
    carbs: CarbModel,
    *,
    enable_uam: bool,
) -> Predictions:
    """Run oref0's prediction loop over the IOB ``ticks`` (none: curves are just ``[bg]``)."""
    iob_p, cob_p, uam_p, zt_p = [bg], [bg], [bg], [bg]
    mins = {"iob": NO_MIN, "cob": NO_MIN, "uam": NO_MIN}
    guards = {"iob": NO_MIN, "cob": NO_MIN, "uam": NO_MIN, "zt": NO_MIN}
    max_iob = max_cob = max_uam = bg
    last_iob: float = eventual_bg
    last_cob: float | None = None
    last_uam: float | None = None
    uam_duration = 0.0
    ci, uci = carbs.ci, carbs.uci
    rct = carbs.remaining_ca_time_h
    carbs_active = bool(carbs.cid) or carbs.remaining_ci_peak > 0
    for tick in ticks:
        pred_bgi = js_round(-tick.activity * sens * 5, 2)
        pred_zt_bgi = js_round(-tick.zt_activity * sens * 5, 2)
        pred_dev = ci * (1 - min(1.0, len(iob_p) / DEVIATION_FADE_STEPS))
        iob_bg = iob_p[-1] + pred_bgi + pred_dev
        zt_bg = zt_p[-1] + pred_zt_bgi
        pred_ci = max(0.0, max(0.0, ci) * (1 - js_div(len(cob_p), max(carbs.cid * 2, 1.0))))
        intervals = min(float(len(cob_p)), (rct * 12) - len(cob_p))
        remaining_ci = max(0.0, js_div(intervals, rct / 2 * 12) * carbs.remaining_ci_peak)
        cob_bg = cob_p[-1] + pred_bgi + min(0.0, pred_dev) + pred_ci + remaining_ci
        uci_slope = max(0.0, uci + (len(uam_p) * carbs.slope_from_deviations))
        uci_max = max(0.0, uci * (1 - len(uam_p) / UAM_FADE_STEPS))
        pred_uci = min(uci_slope, uci_max)
        if pred_uci > 0:
            uam_duration = js_round((len(uam_p) + 1) * 5 / 60, 1)
        uam_bg = uam_p[-1] + pred_bgi + min(0.0, pred_dev) + pred_uci
        last_iob, last_cob, last_uam = iob_bg, cob_bg, uam_bg
        for curve, value in ((iob_p, iob_bg), (cob_p, cob_bg), (uam_p, uam_bg), (zt_p, zt_bg)):
            if len(curve) < MAX_POINTS:
                curve.append(value)
        # Guard BGs: minima from the first step (compared unrounded, stored rounded, as oref0).
        for name, value in (("cob", cob_bg), ("uam", uam_bg), ("iob", iob_bg), ("zt", zt_bg)):
            if value < guards[name]:
                guards[name] = js_mathround(value)
        if len(iob_p) > INSULIN_PEAK_STEPS and iob_bg < mins["iob"]:
            mins["iob"] = js_mathround(iob_bg)
        if iob_bg > max_iob:
            max_iob = iob_bg
        if carbs_active and len(cob_p) > INSULIN_PEAK_STEPS and cob_bg < mins["cob"]:
            mins["cob"] = js_mathround(cob_bg)
        # oref0 compares the COB and UAM maxima against maxIOBPredBG (sic); kept.
        if carbs_active and cob_bg > max_iob:
            max_cob = cob_bg
        if enable_uam and len(uam_p) > UAM_MIN_WAIT_STEPS and uam_bg < mins["uam"]:
            mins["uam"] = js_mathround(uam_bg)
        if enable_uam and uam_bg > max_iob:
            max_uam = uam_bg
    return Predictions(
        iob=tuple(iob_p), cob=tuple(cob_p), uam=tuple(uam_p), zt=tuple(zt_p),
        last_iob=last_iob, last_cob=last_cob, last_uam=last_uam,
        min_iob_pred=mins["iob"], min_cob_pred=mins["cob"], min_uam_pred=mins["uam"],
        min_iob_guard=guards["iob"], min_cob_guard=guards["cob"], min_uam_guard=guards["uam"],
        min_zt_guard=guards["zt"],
        max_iob_pred=max_iob, max_cob_pred=max_cob, max_uam_pred=max_uam,
        uam_duration_h=uam_duration,
    )


def _clip_round(curve: Sequence[float]) -> list[float]:
    return [js_mathround(min(PRINT_HIGH_MG_DL, max(PRINT_LOW_MG_DL, v))) for v in curve]


def finish(curve: Sequence[float], kind: str, target_bg: float) -> tuple[float, ...]:
    """A curve as oref0 prints it: clipped to 39–401, rounded, its tail trimmed.

    IOB, COB and UAM drop trailing repeats after the first hour (index > 12);
    ZT drops its tail while it is rising above target, after 30 min (index > 6).
    """
    out = _clip_round(curve)
    if kind == "zt":
        i = len(out) - 1
        while i > 6:
            if out[i - 1] >= out[i] or out[i] <= target_bg:
                break
            out.pop()
            i -= 1
    else:
        i = len(out) - 1
        while i > 12:
            if out[i - 1] != out[i]:
                break
            out.pop()
            i -= 1
    return tuple(out)

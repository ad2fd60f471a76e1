"""The ``external`` controller's line protocol (``pumplab.external/1``), as pure functions.

Each cycle pumplab writes **one JSON line** to the process's standard input and
reads **one JSON line** back.

Request (an object; keys in this order, no newline inside):

* ``schema`` — ``"pumplab.external/1"``; ``cycle`` — 1, 2, 3, ... (per process);
* the CASE keys of oref0's determine-basal, exactly as
  ``pumplab control oref0`` reads them (docs/controllers.md): ``glucose_status``,
  ``currenttemp``, ``iob_data``, ``profile``, ``autosens``, ``meal_data``,
  ``microBolusAllowed``, ``currentTime`` (epoch ms on the loop's clock);
* ``glucose`` — the raw recent CGM entries, newest first, in the form oref0
  and Nightscout use: ``{"date": ms, "glucose": mg/dL, "sgv": mg/dL,
  "type": "sgv", "device": "pumplab"}``, at most ``glucose_window_min`` old;
* ``pumplab`` — what the controller interface gives beyond oref0's inputs:
  ``now_ms``, ``minute_of_day``, ``scheduled_basal_u_per_h``, ``pump_iob_u``
  (null if unknown), ``suspended``, ``max_basal_u_per_h``, ``boluses``
  (``[{"t_ms", "units", "automatic"}]``), ``carbs`` (``[{"t_ms", "carbs_g"}]``),
  both oldest first, at most ``glucose_window_min`` old.

Reply (an object), oref0's determine-basal output or any subset of it:

* ``rate`` (U/h) and ``duration`` (min) — a temp basal; ``duration`` 0
  cancels; both or neither;
* ``units`` — a micro-bolus (U);
* ``reason`` — text, kept as the decision's reason;
* ``meal_bolus`` — optional, pumplab's: ``{"announced_ms", "carbs_g",
  "bg_mg_dl", "units"}``;
* ``error`` — the process could not decide: a failure, with this text;
* ``cycle`` — optional; if present it must be the request's.

Other keys are ignored (oref0 prints ``predBGs``, ``eventualBG``, ...).  The
*values* are not judged here: a rate of -1 or "abc" becomes a decision the
supervisor rejects as nonsense, and records.  What is not a reply at all —
not UTF-8, not JSON, not an object, ``rate`` without ``duration``, a wrong
``cycle`` — raises :class:`~pumplab.errors.ControllerError`.

Deliberately not here: the process (:mod:`.process`) and the clock.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pumplab.control.interface import (
    MS_PER_MINUTE,
    ControllerInput,
    Decision,
    MealBolus,
    Reason,
    TempBasal,
)
from pumplab.control.oref0 import Oref0Controller, Oref0Settings, case_to_json
from pumplab.errors import ControllerError

__all__ = ["SCHEMA", "decision_from_reply", "encode_request", "parse_reply", "request"]

SCHEMA = "pumplab.external/1"


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def request(inputs: ControllerInput, case_settings: Oref0Settings, cycle: int,
            glucose_window_min: float) -> dict[str, Any] | None:
    """The request object for ``inputs``; None if there is no valid CGM reading (oref0
    cannot be asked anything then)."""
    case = Oref0Controller(case_settings).case(inputs)
    if case is None:
        return None
    since = inputs.now_ms - glucose_window_min * MS_PER_MINUTE
    glucose = [{"date": r.t_ms, "glucose": r.bg_mg_dl, "sgv": r.bg_mg_dl, "type": "sgv",
                "device": "pumplab"}
               for r in reversed(inputs.cgm) if r.t_ms >= since and math.isfinite(r.bg_mg_dl)]
    pump = inputs.pump
    extra = {
        "now_ms": inputs.now_ms,
        "minute_of_day": inputs.minute_of_day,
        "scheduled_basal_u_per_h": _finite(pump.scheduled_basal_u_per_h),
        "pump_iob_u": _finite(pump.iob_u),
        "suspended": pump.suspended,
        "max_basal_u_per_h": inputs.profile.max_basal_u_per_h,
        "boluses": [{"t_ms": b.t_ms, "units": _finite(b.units), "automatic": b.automatic}
                    for b in inputs.boluses if b.t_ms >= since],
        "carbs": [{"t_ms": c.t_ms, "carbs_g": _finite(c.carbs_g)}
                  for c in inputs.carbs if c.t_ms >= since],
    }
    return {"schema": SCHEMA, "cycle": cycle, **case_to_json(case), "glucose": glucose,
            "pumplab": extra}


def encode_request(obj: dict[str, Any]) -> bytes:
    """One line: compact JSON (no NaN or infinity: they are not JSON) and a newline."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"


def _garbage(why: str, line: bytes) -> ControllerError:
    shown = line[:120].decode("utf-8", errors="replace")
    return ControllerError(f"external controller wrote garbage ({why}): {shown!r}")


def parse_reply(line: bytes, cycle: int) -> dict[str, Any]:
    """The reply object in ``line`` (without its newline), checked for shape only."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise _garbage("not UTF-8", line) from None
    try:
        reply = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _garbage(f"not JSON: {exc.msg}", line) from None
    if not isinstance(reply, dict):
        raise _garbage(f"a JSON {type(reply).__name__}, not an object", line)
    if "cycle" in reply and reply["cycle"] != cycle:
        raise _garbage(f"answer to cycle {reply['cycle']!r}, expected {cycle}", line)
    if "error" in reply:
        raise ControllerError(f"external controller reported an error: {reply['error']!s:.200}")
    if ("rate" in reply) != ("duration" in reply):
        raise _garbage("a temp basal needs both rate and duration", line)
    meal = reply.get("meal_bolus")
    if meal is not None and not (isinstance(meal, dict) and {"announced_ms", "carbs_g",
                                                             "units"} <= meal.keys()):
        raise _garbage("meal_bolus needs announced_ms, carbs_g and units", line)
    return reply


def decision_from_reply(reply: dict[str, Any]) -> Decision:
    """The decision a reply asks for (values passed on as they are, for the supervisor)."""
    temp = None
    if "rate" in reply and reply["rate"] is not None and reply["duration"] is not None:
        temp = TempBasal(reply["rate"], reply["duration"])
    units = reply.get("units")
    reasons: tuple[Reason, ...] = ()
    if "reason" in reply:
        reasons = (Reason("external", str(reply["reason"])),)
    meal = reply.get("meal_bolus")
    meal_bolus = None
    if meal is not None:
        meal_bolus = MealBolus(meal["announced_ms"], meal["carbs_g"], meal.get("bg_mg_dl"),
                               meal["units"])
    return Decision(temp_basal=temp, micro_bolus_u=units, reasons=reasons,
                    meal_bolus=meal_bolus)

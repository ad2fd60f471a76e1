"""An oref0-compatible determine-basal (OpenAPS reference design, oref0 0.7.1).

* :func:`determine_basal_case` — a CASE object (oref0's inputs, see :mod:`.case`)
  in, oref0's output object out: the entry for ``pumplab control oref0``;
* :func:`parse_case` / :func:`determine_basal` — the same in two typed steps;
* :class:`Oref0Controller` — the same decision behind the
  :class:`~pumplab.control.interface.Controller` interface, building oref0's
  inputs (glucose status, IOB ticks, meal data) from CGM readings and dose
  history (:mod:`.inputs`).

Pure: no I/O, no clock.  docs/controllers.md documents the port, its
agreement with real oref0, and where it differs.
"""

from pumplab.control.oref0.case import (
    CASE_KEYS,
    CurrentTemp,
    GlucoseStatus,
    IobData,
    IobTick,
    LastTemp,
    MealData,
    Oref0Case,
    Oref0Profile,
    case_to_json,
    parse_case,
    parse_time_ms,
)
from pumplab.control.oref0.controller import Oref0Controller, Oref0Settings, decision_from_result
from pumplab.control.oref0.determine import (
    Oref0Result,
    Step,
    determine_basal,
    determine_basal_case,
    max_safe_basal,
)
from pumplab.control.oref0.inputs import glucose_status, iob_data, meal_data
from pumplab.control.oref0.predict import CarbModel, Predictions, predict

__all__ = [
    "CASE_KEYS",
    "CarbModel",
    "CurrentTemp",
    "GlucoseStatus",
    "IobData",
    "IobTick",
    "LastTemp",
    "MealData",
    "Oref0Case",
    "Oref0Controller",
    "Oref0Profile",
    "Oref0Result",
    "Oref0Settings",
    "Predictions",
    "Step",
    "case_to_json",
    "decision_from_result",
    "determine_basal",
    "determine_basal_case",
    "glucose_status",
    "iob_data",
    "max_safe_basal",
    "meal_data",
    "parse_case",
    "parse_time_ms",
    "predict",
]

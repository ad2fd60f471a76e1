"""Closed-loop control: the controller interface, an independent safety supervisor, oref0.

* :mod:`~pumplab.control.interface` — what a controller sees
  (:class:`ControllerInput`) and answers (:class:`Decision`): a pure decision
  every CGM cycle, no I/O, no clock;
* :mod:`~pumplab.control.supervisor` — the supervisor between any controller
  and the pump: max IOB, max temp basal, suspend on a predicted low, fallback
  to the scheduled basal on bad CGM data or a failing controller, the secure
  pump's withholding limits; every override recorded and counted;
* :mod:`~pumplab.control.oref0` — an oref0 0.7.1-compatible determine-basal
  (:func:`~pumplab.control.oref0.determine_basal_case` for CASE files,
  :class:`~pumplab.control.oref0.Oref0Controller` for the loop).

Deliberately not here: the loop that runs a controller against a pump over a
link (the closed-loop wiring), the ``pumplab control`` command, and the
controllers of part 2.  docs/controllers.md documents all of it.
"""

from pumplab.control.interface import (
    MS_PER_MINUTE,
    ActiveTempBasal,
    BasalRecord,
    BolusRecord,
    CarbRecord,
    CgmReading,
    Controller,
    ControllerInput,
    Decision,
    MealBolus,
    PumpStatus,
    Reason,
    TempBasal,
    TherapyProfile,
)
from pumplab.control.supervisor import (
    Alert,
    AlertKind,
    ControllerOutcome,
    Decided,
    Override,
    Raised,
    Rule,
    SupervisedDecision,
    Supervisor,
    SupervisorLimits,
    SupervisorState,
    TimedOut,
    WithholdLedger,
    call_controller,
    predicted_bg,
    supervise,
)

__all__ = [
    "MS_PER_MINUTE",
    "ActiveTempBasal",
    "Alert",
    "AlertKind",
    "BasalRecord",
    "BolusRecord",
    "CarbRecord",
    "CgmReading",
    "Controller",
    "ControllerInput",
    "ControllerOutcome",
    "Decided",
    "Decision",
    "MealBolus",
    "Override",
    "PumpStatus",
    "Raised",
    "Reason",
    "Rule",
    "SupervisedDecision",
    "Supervisor",
    "SupervisorLimits",
    "SupervisorState",
    "TempBasal",
    "TherapyProfile",
    "TimedOut",
    "WithholdLedger",
    "call_controller",
    "predicted_bg",
    "supervise",
]

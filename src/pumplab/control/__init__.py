"""Closed-loop control: the controller interface, an independent safety supervisor, controllers.

* :mod:`~pumplab.control.interface` — what a controller sees
  (:class:`ControllerInput`) and answers (:class:`Decision`: a temp basal, a
  micro-bolus, a wizard :class:`MealBolus` for an announced meal): a pure
  decision every CGM cycle, no I/O, no clock;
* :mod:`~pumplab.control.supervisor` — the supervisor between any controller
  and the pump: max IOB, max temp basal, suspend on a predicted low, fallback
  to the scheduled basal on bad CGM data or a failing controller, the secure
  pump's withholding limits, meal boluses held to its own wizard figure;
  every override recorded and counted;
* controllers — :mod:`~pumplab.control.oref0` (an oref0 0.7.1-compatible
  determine-basal), :mod:`~pumplab.control.pid` (PID with insulin feedback,
  Steil et al.), :mod:`~pumplab.control.basal_bolus` (the open-loop
  baseline), :mod:`~pumplab.control.lgs` (the 640G's predictive low-glucose
  suspend) and :mod:`~pumplab.control.external` (any program, real oref0
  among them, as one long-lived process), built by name by
  :mod:`~pumplab.control.registry`;
* :mod:`~pumplab.control.sensor_faults` — compression lows and dropouts to
  stress a controller.

Only :mod:`~pumplab.control.external.process` does I/O (it runs the external
process, with a deadline).  Deliberately not here: the loop that runs a
controller against a pump over a link (the closed-loop wiring), ``pumplab
trial`` and the Gymnasium environment.  docs/controllers.md documents all of it.
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

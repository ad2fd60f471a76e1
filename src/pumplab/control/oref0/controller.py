"""oref0 behind the controller interface.

:class:`Oref0Controller` turns a :class:`~pumplab.control.interface.ControllerInput`
into oref0's inputs (:mod:`.inputs`), runs :func:`~.determine.determine_basal`
and returns a :class:`~pumplab.control.interface.Decision`:

* ``rate``/``duration`` → :class:`~pumplab.control.interface.TempBasal`
  (duration 0 cancels); no rate → leave the pump as it is;
* ``units`` → the micro-bolus;
* oref0's reasons → the decision's reasons.

The profile oref0 sees is the therapy profile at the current minute of day
(basal, ISF, carb ratio, target range; ``max_daily_basal`` is the highest
scheduled basal) plus the oref0 preferences in :class:`Oref0Settings`, whose
defaults are oref0's own (``lib/profile/index.js``), except ``max_iob``, which
oref0 defaults to 0 (no insulin beyond basal) and must be set per person.

The controller keeps no state: the same input gives the same decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pumplab.control.interface import ControllerInput, Decision, Reason, TempBasal
from pumplab.control.oref0.case import CurrentTemp, Oref0Case, Oref0Profile
from pumplab.control.oref0.determine import Oref0Result, determine_basal
from pumplab.control.oref0.inputs import glucose_status, iob_data, meal_data
from pumplab.errors import SettingsError

__all__ = ["Oref0Controller", "Oref0Settings", "decision_from_result"]


@dataclass(frozen=True, slots=True)
class Oref0Settings:
    """oref0 preferences (oref0 names in comments; defaults from ``lib/profile/index.js``)."""

    max_iob_u: float  # max_iob: net IOB oref0 will not exceed with temps and SMBs
    autosens_ratio: float = 1.0  # autosens is not computed: a fixed ratio
    micro_bolus_allowed: bool = False  # the --microbolus flag
    enable_uam: bool = True  # enableUAM
    enable_smb_always: bool = False
    enable_smb_with_cob: bool = False
    enable_smb_after_carbs: bool = False
    max_smb_basal_minutes: float = 30.0  # maxSMBBasalMinutes
    max_uam_smb_basal_minutes: float = 30.0  # maxUAMSMBBasalMinutes
    smb_interval_min: float = 3.0  # SMBInterval
    bolus_increment_u: float = 0.1  # bolus_increment
    max_daily_safety_multiplier: float = 3.0
    current_basal_safety_multiplier: float = 4.0
    min_5m_carbimpact: float = 8.0  # mg/dL per 5 min
    max_cob_g: float = 120.0  # maxCOB
    remaining_carbs_cap_g: float = 90.0  # remainingCarbsCap
    sensitivity_raises_target: bool = True
    pump_model: str = "523"  # a x23: 0.025 U/h basal steps below 1 U/h

    def __post_init__(self) -> None:
        for name in ("max_iob_u", "max_smb_basal_minutes", "max_uam_smb_basal_minutes",
                     "min_5m_carbimpact", "max_cob_g", "remaining_carbs_cap_g"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise SettingsError(f"{value!r} is out of range", field=name,
                                    allowed="a finite number ≥ 0")
        for name in ("autosens_ratio", "bolus_increment_u", "max_daily_safety_multiplier",
                     "current_basal_safety_multiplier"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise SettingsError(f"{value!r} is out of range", field=name,
                                    allowed="a finite number > 0")
        if not (math.isfinite(self.smb_interval_min) and 1 <= self.smb_interval_min <= 10):
            raise SettingsError(f"{self.smb_interval_min!r} min is out of range",
                                field="smb_interval_min", allowed="1–10 min")


def _highest_basal(inp: ControllerInput) -> float:
    # oref0's max_daily_basal: the highest rate of the basal schedule.
    return max(seg.value for seg in inp.profile.basal.segments)


@dataclass(frozen=True, slots=True)
class Oref0Controller:
    """pumplab's oref0 determine-basal as a :class:`~pumplab.control.interface.Controller`."""

    settings: Oref0Settings

    @property
    def name(self) -> str:
        """``oref0``."""
        return "oref0"

    def profile(self, inp: ControllerInput) -> Oref0Profile:
        """The oref0 profile in force at ``inp``'s minute of day."""
        s, therapy, minute = self.settings, inp.profile, inp.minute_of_day
        target = therapy.target.value_at(minute)
        return Oref0Profile(
            current_basal=therapy.basal.value_at(minute),
            min_bg=target.low_mg_dl, max_bg=target.high_mg_dl,
            sens=therapy.isf.value_at(minute), carb_ratio=therapy.carb_ratio.value_at(minute),
            max_iob=s.max_iob_u, max_basal=therapy.max_basal_u_per_h,
            max_daily_basal=_highest_basal(inp), model=s.pump_model,
            sensitivity_raises_target=s.sensitivity_raises_target,
            enable_uam=s.enable_uam, enable_smb_always=s.enable_smb_always,
            enable_smb_with_cob=s.enable_smb_with_cob,
            enable_smb_after_carbs=s.enable_smb_after_carbs,
            max_smb_basal_minutes=s.max_smb_basal_minutes,
            max_uam_smb_basal_minutes=s.max_uam_smb_basal_minutes,
            bolus_increment=s.bolus_increment_u, smb_interval=s.smb_interval_min,
            remaining_carbs_cap=s.remaining_carbs_cap_g,
            max_daily_safety_multiplier=s.max_daily_safety_multiplier,
            current_basal_safety_multiplier=s.current_basal_safety_multiplier,
        )

    def case(self, inp: ControllerInput) -> Oref0Case | None:
        """oref0's inputs for ``inp``; None without a valid CGM reading."""
        status = glucose_status(inp.cgm)
        if status is None:
            return None
        temp = inp.pump.temp_basal
        current = (CurrentTemp(temp.rate_u_per_h, float(temp.remaining_min))
                   if temp is not None and temp.remaining_min > 0 else CurrentTemp(0.0, 0.0))
        return Oref0Case(
            glucose_status=status, currenttemp=current, iob_data=iob_data(inp),
            profile=self.profile(inp), autosens_ratio=self.settings.autosens_ratio,
            meal_data=meal_data(inp, min_5m_carbimpact=self.settings.min_5m_carbimpact,
                                max_cob_g=self.settings.max_cob_g),
            micro_bolus_allowed=self.settings.micro_bolus_allowed, reservoir_data=None,
            current_time_ms=float(inp.now_ms), minute_of_hour=int(inp.minute_of_day) % 60,
        )

    def decide(self, inputs: ControllerInput) -> Decision:
        """oref0's decision for ``inputs``."""
        case = self.case(inputs)
        if case is None:
            return Decision(reasons=(Reason("no_cgm", "no valid CGM reading: doing nothing"),))
        return decision_from_result(determine_basal(case))


def decision_from_result(result: Oref0Result) -> Decision:
    """An oref0 output as a controller :class:`~pumplab.control.interface.Decision`."""
    temp = None
    if result.rate is not None and result.duration is not None:
        temp = TempBasal(result.rate, int(result.duration))
    return Decision(temp_basal=temp, micro_bolus_u=result.units, reasons=result.reasons)


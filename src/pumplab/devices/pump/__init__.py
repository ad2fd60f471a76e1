"""The pump: a Medtronic Paradigm x23-class insulin pump (``pumplab.devices.pump``).

Build one with :class:`Pump`, give it a clock, a link, a history and a motor,
and call :meth:`Pump.start`.  Users act on it through its keys
(:meth:`Pump.press`, or the operator helpers in :mod:`pumplab.devices.pump.ui`);
other devices talk to it through the link at ``"pump:<serial>"``.  See
docs/pump.md for the features, the settings table, the limits and the mode
table.
"""

from pumplab.devices.pump.access import DOSE_COMMANDS, ROLE_PERMISSIONS, ProtocolMode, Role
from pumplab.devices.pump.alarms import (
    ALARM_INFO,
    Alarm,
    AlarmCode,
    Annunciation,
    AnnunciationListener,
    AnnunciationReason,
    Severity,
    Sound,
)
from pumplab.devices.pump.delivery import (
    STROKE_U,
    BolusKind,
    Motor,
    MotorStroke,
    Origin,
    RecordingMotor,
    StrokeSource,
    normal_bolus_duration_ms,
)
from pumplab.devices.pump.pump import BootReport, Pump, PumpPhase
from pumplab.devices.pump.refusal_limiter import Admission, RefusalLimiter, RefusalSummary
from pumplab.devices.pump.safety import (
    LEGACY_RULES,
    SECURE_RULES,
    BolusRequest,
    Decision,
    Rule,
    SafetyGate,
    TempBasalRequest,
)
from pumplab.devices.pump.screen import Key, Screen, ScreenKind
from pumplab.devices.pump.settings import (
    PATTERN_NAMES,
    RADIO_SETTING_NAMES,
    PumpSettings,
    settings_from_json,
    settings_to_json,
    with_setting,
)

__all__ = [
    "ALARM_INFO",
    "DOSE_COMMANDS",
    "LEGACY_RULES",
    "PATTERN_NAMES",
    "RADIO_SETTING_NAMES",
    "ROLE_PERMISSIONS",
    "SECURE_RULES",
    "STROKE_U",
    "Admission",
    "Alarm",
    "AlarmCode",
    "Annunciation",
    "AnnunciationListener",
    "AnnunciationReason",
    "BolusKind",
    "BolusRequest",
    "BootReport",
    "Decision",
    "Key",
    "Motor",
    "MotorStroke",
    "Origin",
    "ProtocolMode",
    "Pump",
    "PumpPhase",
    "PumpSettings",
    "RecordingMotor",
    "RefusalLimiter",
    "RefusalSummary",
    "Role",
    "Rule",
    "SafetyGate",
    "Screen",
    "ScreenKind",
    "Severity",
    "Sound",
    "StrokeSource",
    "TempBasalRequest",
    "normal_bolus_duration_ms",
    "settings_from_json",
    "settings_to_json",
    "with_setting",
]

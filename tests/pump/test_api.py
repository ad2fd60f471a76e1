"""The pump package's public surface is declared in __all__ and stays importable."""

from __future__ import annotations

import importlib

import pumplab.devices.pump as pump_pkg
from pumplab.devices.pump import ui

EXPECTED = {
    "ALARM_INFO", "DOSE_COMMANDS", "LEGACY_RULES", "PATTERN_NAMES", "RADIO_SETTING_NAMES",
    "ROLE_PERMISSIONS", "SECURE_RULES", "STROKE_U", "Alarm", "AlarmCode", "Annunciation",
    "AnnunciationListener", "AnnunciationReason", "BolusKind", "BolusRequest", "BootReport",
    "Decision", "Key", "Motor", "MotorStroke", "Origin", "ProtocolMode", "Pump", "PumpPhase",
    "PumpSettings", "RecordingMotor", "Role", "Rule", "SafetyGate", "Screen", "ScreenKind",
    "Severity", "Sound", "StrokeSource", "TempBasalRequest", "normal_bolus_duration_ms",
    "settings_from_json", "settings_to_json", "with_setting",
    "Admission", "RefusalLimiter", "RefusalSummary",
}


def test_public_names_are_exactly_the_declared_ones() -> None:
    """__all__ lists the public API; every name in it resolves."""
    assert set(pump_pkg.__all__) == EXPECTED
    for name in pump_pkg.__all__:
        assert getattr(pump_pkg, name) is not None


def test_every_module_declares_its_public_names() -> None:
    """Each module of the package has an __all__ whose names exist."""
    for mod in ("access", "alarms", "delivery", "menus", "pump", "recovery", "refusal_limiter",
                "safety", "sanitize", "screen", "settings", "ui"):
        module = importlib.import_module(f"pumplab.devices.pump.{mod}")
        for name in module.__all__:
            assert hasattr(module, name), f"{mod}.{name}"


def test_ui_helpers_are_public() -> None:
    """The operator helpers the person model uses are exported by pumplab.devices.pump.ui."""
    for name in ("manual_bolus", "wizard_bolus", "easy_bolus", "suspend", "resume",
                 "cancel_bolus", "set_temp_basal", "clear_alarm", "pair"):
        assert name in ui.__all__

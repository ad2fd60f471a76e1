"""Pump settings: validation names the field and the allowed range; snapshots round-trip."""

from __future__ import annotations

import pytest

from pumplab.devices.pump import PumpSettings, settings_from_json, settings_to_json, with_setting
from pumplab.errors import SettingsError


def test_default_settings_are_valid() -> None:
    """The factory defaults construct and describe an x23 723 with a standard pattern."""
    s = PumpSettings()
    assert s.model == "723" and s.reservoir_capacity_u == 300
    assert s.active_schedule.value_at(0) == 1.0


def test_overlapping_segments_are_refused_naming_the_field() -> None:
    """Two segments starting at the same time are refused with the segment's field name."""
    with pytest.raises(SettingsError) as err:
        PumpSettings(pattern_standard=((0, 1.0), (360, 1.2), (360, 0.8)))
    assert err.value.field == "pattern_standard[2].start_min"
    assert "30-minute" in (err.value.allowed or "")


def test_basal_rate_above_max_basal_is_refused() -> None:
    """A pattern rate above max basal is refused naming the rate field and the max."""
    with pytest.raises(SettingsError) as err:
        PumpSettings(max_basal_u_per_h=1.0, pattern_standard=((0, 1.5),))
    assert err.value.field == "pattern_standard[0].rate_u_per_h"
    assert "1 U/h" in (err.value.allowed or "")


def test_unknown_or_unprogrammed_pattern_is_refused() -> None:
    """Selecting a pattern that does not exist, or is not programmed, names active_pattern."""
    with pytest.raises(SettingsError) as err:
        PumpSettings(active_pattern="C")
    assert err.value.field == "active_pattern"
    with pytest.raises(SettingsError) as err:
        PumpSettings(active_pattern="A")
    assert err.value.field == "active_pattern"


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_bolus_u", "10"), ("max_bolus_u", 25.05), ("max_bolus_u", float("nan")),
     ("max_basal_u_per_h", 36.0), ("max_basal_u_per_h", 1.01), ("auto_off_h", 25),
     ("auto_off_h", True), ("easy_bolus_step_u", 0.05), ("remote_ids", ("1", "2", "3", "4")),
     ("remote_ids", "123456"), ("no_delivery_alarm_min", 45), ("remote_enabled", 1)],
)
def test_bad_setting_values_are_refused_naming_the_field(field: str, value: object) -> None:
    """Wrong types, off-grid and out-of-range values raise SettingsError naming the field."""
    with pytest.raises(SettingsError) as err:
        PumpSettings(**{field: value})  # type: ignore[arg-type]
    assert err.value.field is not None and err.value.field.startswith(field)
    assert err.value.allowed


def test_settings_snapshot_round_trips_through_json() -> None:
    """settings_to_json / settings_from_json give back equal settings."""
    s = PumpSettings(pattern_a=((0, 0.5), (420, 0.9)), remote_ids=("123456",),
                     pairings=(("app:phone", "controller"),))
    assert settings_from_json(settings_to_json(s)) == s


def test_with_setting_refuses_unknown_names() -> None:
    """Changing a setting that does not exist names it and lists the real ones."""
    with pytest.raises(SettingsError) as err:
        with_setting(PumpSettings(), "max_bolus", 5.0)
    assert err.value.field == "max_bolus"
    assert "max_bolus_u" in (err.value.allowed or "")


def test_with_setting_accepts_dotted_aliases() -> None:
    """The dotted names of ChangeSettingCommand map to the settings fields."""
    s = with_setting(PumpSettings(), "remote.ids", ["123456"])
    assert s.remote_ids == ("123456",)


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_bolus_u", 10**400), ("no_delivery_alarm_min", 10**400), ("model", []),
     ("model", ["723"]), ("pairings", [["app:x", ["controller"]]]),
     ("pattern_standard", [[0, 10**400]])],
    ids=["max-bolus-10^400", "no-delivery-10^400", "model-empty-list", "model-list",
         "role-list", "pattern-rate-10^400"])
def test_absurd_setting_values_are_settings_errors_naming_the_field(field: str,
                                                                    value: object) -> None:
    """Huge ints and lists where a name belongs raise SettingsError, not Overflow/TypeError."""
    with pytest.raises(SettingsError) as err:
        PumpSettings(**{field: value})  # type: ignore[arg-type]
    assert err.value.field is not None and err.value.field.startswith(field)
    assert err.value.allowed

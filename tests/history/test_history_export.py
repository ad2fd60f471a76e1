"""Export of a history to Nightscout treatments and Tidepool basal/bolus objects."""

from __future__ import annotations

from typing import Any

import pytest
from history_strategies import T0_CLOCK_MS

from pumplab.devices.export import iso_utc, nightscout_treatments, tidepool_data
from pumplab.devices.history import HistoryRecord, MemoryHistory, verify_records
from pumplab.errors import InputError

MIN = 60_000
HOUR = 3_600_000


class Pump:
    """Writes records the way the pump does, with a device clock and a user clock."""

    def __init__(self, serial: str = "123456") -> None:
        self.store = MemoryHistory()
        self.device_ms = 0
        self.clock_offset_ms = T0_CLOCK_MS
        self.write("boot", serial=serial, mode="legacy", model="523", recovered=False)

    def at(self, device_ms: int) -> Pump:
        self.device_ms = device_ms
        return self

    def write(self, record_kind: str, /, **data: Any) -> HistoryRecord:
        return self.store.append(
            record_kind,
            data,
            device_time_ms=self.device_ms,
            clock_ms=self.device_ms + self.clock_offset_ms,
        )

    def bolus(
        self,
        bolus_id: int,
        *,
        kind: str = "normal",
        requested_u: float,
        normal_u: float | None = None,
        square_u: float = 0.0,
        minutes: float = 0.0,
        wizard: dict[str, Any] | None = None,
        source: str = "buttons",
    ) -> HistoryRecord:
        return self.write(
            "bolus_start",
            bolus_id=bolus_id,
            kind=kind,
            source=source,
            requested_u=requested_u,
            normal_u=requested_u - square_u if normal_u is None else normal_u,
            square_u=square_u,
            square_duration_min=minutes,
            wizard=wizard,
        )

    def strokes(self, bolus_id: int, count: int, amount_u: float = 0.1) -> None:
        for i in range(count):
            self.write(
                "stroke",
                what="bolus",
                bolus_id=bolus_id,
                amount_u=amount_u,
                bolus_delivered_u=round((i + 1) * amount_u, 4),
            )

    def end(
        self, bolus_id: int, requested_u: float, delivered_u: float, reason: str = "completed"
    ) -> HistoryRecord:
        return self.write(
            "bolus_end",
            bolus_id=bolus_id,
            requested_u=requested_u,
            delivered_u=delivered_u,
            reason=reason,
        )

    def basal(self, rate: float, source: str = "schedule", pattern: str = "standard") -> None:
        self.write("basal_rate", rate_u_per_h=rate, source=source, pattern=pattern)

    @property
    def records(self) -> list[HistoryRecord]:
        return self.store.records()


def _ns(pump: Pump, event: str | None = None) -> list[dict[str, Any]]:
    docs = nightscout_treatments(pump.records, head_note=False)
    return [d for d in docs if event is None or d["eventType"] == event]


def _tp(pump: Pump, kind: str | None = None) -> list[dict[str, Any]]:
    return [d for d in tidepool_data(pump.records) if kind is None or d["type"] == kind]


# --------------------------------------------------------------------------
# Time


@pytest.mark.parametrize(
    ("clock_ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (T0_CLOCK_MS + 123, "2024-01-01T08:00:00.123Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ],
)
def test_clock_is_written_as_iso_utc_with_milliseconds(clock_ms: int, text: str) -> None:
    """clock_ms maps to ISO 8601 UTC with a Z and three fraction digits."""
    assert iso_utc(clock_ms) == text


def test_a_clock_outside_the_calendar_is_an_input_error() -> None:
    """A clock beyond year 9999 is a located InputError, not an OverflowError."""
    with pytest.raises(InputError, match="clock_ms"):
        iso_utc(2**53 - 1)


# --------------------------------------------------------------------------
# Nightscout


def test_every_treatment_has_created_at_and_entered_by() -> None:
    """Each document carries created_at from the record's clock and enteredBy 'pumplab'."""
    pump = Pump()
    pump.at(10 * MIN).write("meter_bg", bg_mg_dl=120, meter="contour")
    (doc,) = _ns(pump)
    assert doc["created_at"] == "2024-01-01T08:10:00.000Z"
    assert doc["enteredBy"] == "pumplab"


def test_meter_bg_is_a_finger_bg_check() -> None:
    """A meter reading is a 'BG Check' with glucose in mg/dl from a finger stick."""
    pump = Pump()
    pump.write("meter_bg", bg_mg_dl=182, meter="contour")
    (doc,) = _ns(pump)
    assert doc | {"created_at": None} == {
        "created_at": None,
        "enteredBy": "pumplab",
        "eventType": "BG Check",
        "glucose": 182,
        "glucoseType": "Finger",
        "units": "mg/dl",
    }


def test_wizard_bolus_with_carbs_is_a_meal_bolus() -> None:
    """A wizard bolus for carbs is a 'Meal Bolus' with insulin delivered and carbs."""
    pump = Pump()
    pump.bolus(1, requested_u=0.3, wizard={"carbs_g": 45, "bg_mg_dl": 150}, source="wizard")
    pump.strokes(1, 3)
    pump.end(1, 0.3, 0.3)
    (doc,) = _ns(pump)
    assert (doc["eventType"], doc["insulin"], doc["carbs"], doc["glucose"]) == (
        "Meal Bolus",
        0.3,
        45,
        150,
    )
    assert "notes" not in doc


def test_wizard_bolus_without_carbs_is_a_correction_bolus() -> None:
    """A wizard bolus for BG alone is a 'Correction Bolus'."""
    pump = Pump()
    pump.bolus(1, requested_u=1.0, wizard={"carbs_g": 0, "bg_mg_dl": 250})
    pump.end(1, 1.0, 1.0)
    assert _ns(pump)[0]["eventType"] == "Correction Bolus"


def test_manual_bolus_is_a_bolus() -> None:
    """A bolus without the wizard is a plain 'Bolus'."""
    pump = Pump()
    pump.bolus(1, requested_u=2.0)
    pump.end(1, 2.0, 2.0)
    (doc,) = _ns(pump)
    assert (doc["eventType"], doc["insulin"]) == ("Bolus", 2.0)


def test_a_cancelled_bolus_exports_what_was_delivered() -> None:
    """insulin is the delivered amount; a note says what was requested."""
    pump = Pump()
    pump.bolus(1, requested_u=2.0)
    pump.strokes(1, 7)
    pump.end(1, 2.0, 0.7, reason="cancelled")
    (doc,) = _ns(pump)
    assert doc["insulin"] == 0.7
    assert doc["notes"] == "requested 2.0 U, delivered 0.7 U (stopped)"


def test_a_running_bolus_counts_its_strokes() -> None:
    """A bolus with no end yet exports the sum of its strokes so far."""
    pump = Pump()
    pump.bolus(1, requested_u=1.0)
    pump.strokes(1, 3)
    (doc,) = _ns(pump)
    assert doc["insulin"] == 0.3
    assert "still running" in doc["notes"]


def test_an_interrupted_bolus_uses_the_recovery_record() -> None:
    """After a restart the recovery record's delivered amount is exported."""
    pump = Pump()
    pump.bolus(7, requested_u=3.0)
    pump.strokes(7, 5)
    pump.write("boot", serial="123456", mode="legacy", model="523", recovered=True)
    pump.write(
        "recovery", interrupted_bolus_id=7, requested_u=3.0, delivered_u=0.5, undelivered_u=2.5
    )
    assert _ns(pump, "Bolus")[0]["insulin"] == 0.5


def test_a_reused_bolus_id_pairs_with_the_latest_start() -> None:
    """Two boluses with the same id (ids restarted) each get their own outcome."""
    pump = Pump()
    pump.bolus(1, requested_u=1.0)
    pump.end(1, 1.0, 1.0)
    pump.at(HOUR).bolus(1, requested_u=2.0)
    pump.strokes(1, 4)
    pump.end(1, 2.0, 0.4, reason="cancelled")
    assert [d["insulin"] for d in _ns(pump, "Bolus")] == [1.0, 0.4]


def test_dual_wave_is_a_combo_bolus() -> None:
    """A dual wave is a 'Combo Bolus': insulin now, split, extended rate and duration."""
    pump = Pump()
    pump.bolus(2, kind="dual", requested_u=3.0, normal_u=1.0, square_u=2.0, minutes=120)
    pump.end(2, 3.0, 3.0)
    (doc,) = _ns(pump)
    assert {
        k: doc[k]
        for k in (
            "eventType",
            "insulin",
            "enteredinsulin",
            "splitNow",
            "splitExt",
            "relative",
            "duration",
        )
    } == {
        "eventType": "Combo Bolus",
        "insulin": 1.0,
        "enteredinsulin": 3.0,
        "splitNow": 33,
        "splitExt": 67,
        "relative": 1.0,
        "duration": 120.0,
    }


def test_a_cut_short_square_bolus_has_a_shorter_combo_duration() -> None:
    """relative × duration equals the extended insulin actually delivered."""
    pump = Pump()
    pump.bolus(3, kind="square", requested_u=2.0, square_u=2.0, minutes=60)
    pump.end(3, 2.0, 0.5, reason="cancelled")
    (doc,) = _ns(pump)
    assert doc["relative"] * doc["duration"] / 60 == pytest.approx(0.5)
    assert doc["insulin"] == 0.0


def test_absolute_temp_basal_has_absolute_and_duration() -> None:
    """A temp basal in U/h is a 'Temp Basal' with absolute (and rate) and duration in minutes."""
    pump = Pump()
    pump.write("temp_basal_start", rate_u_per_h=1.5, percent=None, duration_min=30, source="app")
    (doc,) = _ns(pump)
    assert (doc["eventType"], doc["absolute"], doc["rate"], doc["duration"]) == (
        "Temp Basal",
        1.5,
        1.5,
        30,
    )


def test_percent_temp_basal_is_a_change_from_the_scheduled_rate() -> None:
    """A 50 % temp basal is Nightscout percent -50 (basal × (100 + percent) / 100)."""
    pump = Pump()
    pump.write("temp_basal_start", rate_u_per_h=None, percent=50, duration_min=60, source="app")
    (doc,) = _ns(pump)
    assert doc["percent"] == -50
    assert "absolute" not in doc


def test_a_cancelled_temp_basal_is_ended_by_a_zero_duration_temp_basal() -> None:
    """Cancelling writes a 'Temp Basal' with duration 0 at the cancel time."""
    pump = Pump()
    pump.write("temp_basal_start", rate_u_per_h=0.0, percent=None, duration_min=60, source="app")
    pump.at(20 * MIN).write("temp_basal_end", reason="cancelled")
    _start, end = _ns(pump, "Temp Basal")
    assert end["duration"] == 0
    assert end["created_at"] == iso_utc(T0_CLOCK_MS + 20 * MIN)


def test_a_completed_temp_basal_writes_no_end() -> None:
    """A temp basal that ran its course needs no end document."""
    pump = Pump()
    pump.write("temp_basal_start", rate_u_per_h=0.5, percent=None, duration_min=30, source="app")
    pump.at(30 * MIN).write("temp_basal_end", reason="completed")
    assert len(_ns(pump, "Temp Basal")) == 1


def test_suspend_and_resume_are_pump_events() -> None:
    """Suspend and resume are 'Suspend Pump' and 'Resume Pump'."""
    pump = Pump()
    pump.write("suspend", source="buttons", reason="user")
    pump.at(HOUR).write("resume", source="buttons", reason="user")
    assert [d["eventType"] for d in _ns(pump)] == ["Suspend Pump", "Resume Pump"]


def test_other_kinds_are_not_exported() -> None:
    """Alarms, strokes, settings and sensor readings produce no treatments."""
    pump = Pump()
    pump.write("alarm", code="x", severity="alert", message="m")
    pump.write("stroke", what="basal", bolus_id=None, amount_u=0.05, bolus_delivered_u=None)
    pump.write("setting_change", setting="max_bolus_u", old=10, new=5, source="buttons")
    pump.write("sensor_glucose", seq=1, glucose_mg_dl=100, flag="ok")
    assert _ns(pump) == []


def test_head_note_carries_a_head_that_verifies() -> None:
    """The final Note's 'SEQ:HASH' verifies the history as expected_head."""
    pump = Pump()
    pump.write("meter_bg", bg_mg_dl=100, meter="m")
    note = nightscout_treatments(pump.records)[-1]
    assert note["eventType"] == "Note"
    seq, digest = note["notes"].removeprefix("pumplab history head ").split(":")
    assert verify_records(pump.records, expected_head=(int(seq), digest)).ok
    assert verify_records(pump.records[:1], expected_head=(int(seq), digest)).ok is False


def test_a_malformed_payload_is_a_located_input_error() -> None:
    """A bolus_start without requested_u names the record and the field."""
    pump = Pump()
    pump.write("bolus_start", bolus_id=1, kind="normal", source="buttons")
    with pytest.raises(InputError, match=r"row 2, field 'data.requested_u'"):
        nightscout_treatments(pump.records, source="pump.db")


# --------------------------------------------------------------------------
# Tidepool


def test_scheduled_basal_lasts_until_the_next_basal_rate() -> None:
    """A scheduled segment's duration is the device time to the next basal_rate record."""
    pump = Pump()
    pump.basal(0.8)
    pump.at(3 * HOUR).basal(1.0)
    pump.at(4 * HOUR).write("alarm", code="x", severity="alert", message="m")
    first, second = _tp(pump, "basal")
    assert first | {"deviceId": None} == {
        "type": "basal",
        "deliveryType": "scheduled",
        "rate": 0.8,
        "scheduleName": "standard",
        "duration": 3 * HOUR,
        "time": "2024-01-01T08:00:00.000Z",
        "deviceTime": "2024-01-01T08:00:00",
        "timezoneOffset": 0,
        "conversionOffset": 0,
        "deviceId": None,
    }
    assert second["duration"] == HOUR  # the last one runs to the last record


def test_basal_durations_follow_device_time_across_clock_changes() -> None:
    """Setting the user clock does not stretch or shrink basal segments."""
    pump = Pump()
    pump.basal(0.8)
    pump.clock_offset_ms -= 5 * HOUR  # the user sets the clock back 5 h
    pump.at(HOUR).write("clock_set", old_clock_ms=0, new_clock_ms=0, source="buttons")
    pump.at(2 * HOUR).basal(1.0)
    assert _tp(pump, "basal")[0]["duration"] == 2 * HOUR


def test_temp_basal_segment_has_percent_and_suppressed() -> None:
    """A percent temp segment carries Tidepool's fraction and the suppressed schedule."""
    pump = Pump()
    pump.basal(0.8)
    pump.at(HOUR).write(
        "temp_basal_start", rate_u_per_h=None, percent=50, duration_min=60, source="app"
    )
    pump.basal(0.4, source="temp")
    pump.at(2 * HOUR).write("temp_basal_end", reason="completed")
    pump.basal(0.8)
    pump.at(3 * HOUR).write("alarm", code="x", severity="alert", message="m")
    temp = _tp(pump, "basal")[1]
    assert {k: temp[k] for k in ("deliveryType", "rate", "percent", "duration", "suppressed")} == {
        "deliveryType": "temp",
        "rate": 0.4,
        "percent": 0.5,
        "duration": HOUR,
        "suppressed": {
            "type": "basal",
            "deliveryType": "scheduled",
            "rate": 0.8,
            "scheduleName": "standard",
        },
    }


def test_suspend_segment_has_no_rate() -> None:
    """A suspended segment is deliveryType 'suspend' without a rate."""
    pump = Pump()
    pump.basal(0.8)
    pump.at(HOUR).basal(0.0, source="suspended")
    pump.at(90 * MIN).basal(0.8)
    suspend = _tp(pump, "basal")[1]
    assert suspend["deliveryType"] == "suspend"
    assert "rate" not in suspend
    assert suspend["duration"] == 30 * MIN


def test_segments_over_a_day_are_split() -> None:
    """A 30 h segment becomes a 24 h and a 6 h segment, the second starting 24 h later."""
    pump = Pump()
    pump.basal(0.8)
    pump.at(30 * HOUR).write("alarm", code="x", severity="alert", message="m")
    first, second = _tp(pump, "basal")
    assert (first["duration"], second["duration"]) == (24 * HOUR, 6 * HOUR)
    assert second["time"] == iso_utc(T0_CLOCK_MS + 24 * HOUR)


def test_empty_segments_are_dropped() -> None:
    """Two basal_rate records at the same device time leave no zero-length segment."""
    pump = Pump()
    pump.basal(0.8)
    pump.basal(1.0)
    pump.at(HOUR).write("alarm", code="x", severity="alert", message="m")
    assert [d["rate"] for d in _tp(pump, "basal")] == [1.0]


def test_complete_normal_bolus() -> None:
    """A delivered normal bolus is subType normal with the amount and no expectation."""
    pump = Pump()
    pump.bolus(1, requested_u=2.5)
    pump.end(1, 2.5, 2.5)
    (bolus,) = _tp(pump, "bolus")
    assert (bolus["subType"], bolus["normal"], "expectedNormal" in bolus) == ("normal", 2.5, False)


def test_interrupted_normal_bolus_has_expected_normal() -> None:
    """A cut-short normal bolus has normal delivered and expectedNormal programmed."""
    pump = Pump()
    pump.bolus(1, requested_u=2.5)
    pump.end(1, 2.5, 1.2, reason="occlusion")
    (bolus,) = _tp(pump, "bolus")
    assert (bolus["normal"], bolus["expectedNormal"]) == (1.2, 2.5)


def test_a_bolus_cancelled_before_any_stroke_has_zero_normal_and_an_expectation() -> None:
    """normal 0 is allowed only with expectedNormal (platform normal.go)."""
    pump = Pump()
    pump.bolus(1, requested_u=1.0)
    pump.end(1, 1.0, 0.0, reason="cancelled")
    (bolus,) = _tp(pump, "bolus")
    assert (bolus["normal"], bolus["expectedNormal"]) == (0.0, 1.0)


def test_cut_short_square_bolus() -> None:
    """A square bolus stopped at a quarter has extended, duration and their expectations."""
    pump = Pump()
    pump.bolus(1, kind="square", requested_u=2.0, square_u=2.0, minutes=120)
    pump.end(1, 2.0, 0.5, reason="cancelled")
    (bolus,) = _tp(pump, "bolus")
    assert {
        k: bolus[k]
        for k in ("subType", "extended", "duration", "expectedExtended", "expectedDuration")
    } == {
        "subType": "square",
        "extended": 0.5,
        "duration": 30 * MIN,
        "expectedExtended": 2.0,
        "expectedDuration": 120 * MIN,
    }


def test_dual_wave_stopped_in_its_normal_part() -> None:
    """Stopped during the normal part: extended and duration 0, all three expectations."""
    pump = Pump()
    pump.bolus(1, kind="dual", requested_u=3.0, normal_u=1.0, square_u=2.0, minutes=60)
    pump.end(1, 3.0, 0.4, reason="cancelled")
    (bolus,) = _tp(pump, "bolus")
    assert {
        k: bolus.get(k)
        for k in (
            "subType",
            "normal",
            "expectedNormal",
            "extended",
            "duration",
            "expectedExtended",
            "expectedDuration",
        )
    } == {
        "subType": "dual/square",
        "normal": 0.4,
        "expectedNormal": 1.0,
        "extended": 0.0,
        "duration": 0,
        "expectedExtended": 2.0,
        "expectedDuration": 60 * MIN,
    }


def test_complete_dual_wave() -> None:
    """A delivered dual wave has normal, extended and the programmed duration only."""
    pump = Pump()
    pump.bolus(1, kind="dual", requested_u=3.0, normal_u=1.0, square_u=2.0, minutes=60)
    pump.end(1, 3.0, 3.0)
    (bolus,) = _tp(pump, "bolus")
    assert {k: v for k, v in bolus.items() if k in ("normal", "extended", "duration")} == {
        "normal": 1.0,
        "extended": 2.0,
        "duration": 60 * MIN,
    }
    assert not any(k.startswith("expected") for k in bolus)


def test_device_id_comes_from_the_boot_serial() -> None:
    """deviceId is pumplab-<serial> unless given."""
    pump = Pump(serial="987654")
    pump.bolus(1, requested_u=1.0)
    assert tidepool_data(pump.records)[0]["deviceId"] == "pumplab-987654"
    assert tidepool_data(pump.records, device_id="x")[0]["deviceId"] == "x"


def test_tidepool_objects_are_in_time_order() -> None:
    """Basal segments and boluses come out sorted by time."""
    pump = Pump()
    pump.basal(0.8)
    pump.at(HOUR).bolus(1, requested_u=1.0)
    pump.end(1, 1.0, 1.0)
    pump.at(2 * HOUR).basal(1.0)
    pump.at(3 * HOUR).bolus(2, requested_u=1.0)
    pump.end(2, 1.0, 1.0)
    times = [d["time"] for d in tidepool_data(pump.records)]
    assert times == sorted(times)
    assert [d["type"] for d in tidepool_data(pump.records)] == ["basal", "bolus", "basal", "bolus"]


def test_an_empty_history_exports_nothing() -> None:
    """No records, no documents (and no head note)."""
    assert nightscout_treatments([]) == []
    assert tidepool_data([]) == []

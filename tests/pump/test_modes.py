"""Protocol modes: legacy-faithful (the x23's real flaws) and secure (pumplab's design)."""

from __future__ import annotations

import dataclasses

import pytest
from pumpkit import APP, ATTACKER, CGM, CLINIC, METER, PUMP, REMOTE, bench, motor_u

from pumplab.clock import MS_PER_MINUTE
from pumplab.devices.pump import AnnunciationReason, PumpSettings, Role, ui
from pumplab.devices.pump.pump import DEFAULT_USER_CLOCK_MS
from pumplab.link.messages import (
    Ack,
    BolusCommand,
    ButtonPressCommand,
    ChangeSettingCommand,
    MeterReading,
    Nak,
    NakReason,
    ReadStatusCommand,
    RemoteBolusCommand,
    SensorReading,
    SetClockCommand,
    StatusReport,
    WakeupCommand,
)

LINKED = PumpSettings(remote_enabled=True, remote_ids=("123456",), meter_ids=("C0FFEE",),
                      sensor_enabled=True, sensor_id="SN1234")


# ---------------------------------------------------------------------- legacy


def test_legacy_radio_sleeps_until_a_wakeup_burst() -> None:
    """Before a wake-up a legacy pump hears no command: no answer, no record, no insulin."""
    b = bench("legacy")
    assert b.send(ATTACKER, BolusCommand(5.0)) is None
    assert not b.kinds("command")
    assert isinstance(b.send(ATTACKER, WakeupCommand(10)), Ack)
    assert isinstance(b.send(ATTACKER, BolusCommand(5.0)), Ack)


def test_legacy_listening_window_closes_after_its_duration() -> None:
    """After the wake-up's 10 minutes the radio sleeps again."""
    b = bench("legacy")
    b.send(ATTACKER, WakeupCommand(10))
    b.run_min(11)
    assert b.send(ATTACKER, ReadStatusCommand()) is None


def test_legacy_accepts_commands_from_any_sender_that_knows_the_serial() -> None:
    """No authentication: any address that sends to pump:<serial> may bolus."""
    b = bench("legacy")
    b.link.attach("radio:anyone", b.replies.append)
    b.send("radio:anyone", WakeupCommand(10))
    reply = b.send("radio:anyone", BolusCommand(2.0))
    assert isinstance(reply, Ack) and reply.command_id is None
    b.run_min(5)
    assert motor_u(b, what="bolus") == pytest.approx(2.0)
    assert b.kinds("bolus_start")[-1]["source"] == "radio"


def test_legacy_remote_option_is_off_by_default() -> None:
    """With the factory settings a remote bolus is ignored (counted in the minute's
    refusal_summary), never answered."""
    b = bench("legacy")
    assert b.send(REMOTE, RemoteBolusCommand(1.0)) is None
    b.run_min(5)
    assert b.kinds("refusal_summary")[-1]["reasons"] == [["remote_disabled", 1]]
    assert motor_u(b, what="bolus") == 0.0


def test_legacy_linked_peripherals_are_heard_without_a_wakeup() -> None:
    """Listed sensor, meter and remote ids are heard by a sleeping radio."""
    b = bench("legacy", settings=LINKED)
    assert isinstance(b.send(CGM, SensorReading(1, 0, 120.0)), Ack)
    assert isinstance(b.send(METER, MeterReading(140.0, 0)), Ack)
    assert b.send(REMOTE, RemoteBolusCommand(1.0)) is None  # one-way: no answer
    b.run_min(5)
    assert motor_u(b, what="bolus") == pytest.approx(1.0)
    assert b.kinds("bolus_start")[-1]["source"] == "remote"
    assert b.kinds("meter_bg")[-1]["bg_mg_dl"] == 140.0


def test_legacy_traffic_from_unlisted_ids_is_ignored_and_recorded() -> None:
    """A meter or remote whose id is not listed is ignored; the pump counts the refusals in
    the minute's refusal_summary (no record of their own: a flood must not fill the log)."""
    b = bench("legacy", settings=LINKED)
    assert b.send("meter:BADBAD", MeterReading(40.0, 0)) is None
    assert b.send("remote:999999", RemoteBolusCommand(5.0)) is None
    b.run_min(1)
    assert b.kinds("command") == []
    [summary] = b.kinds("refusal_summary")
    assert summary["sender_class"] == "unlinked" and summary["refused"] == 2
    assert summary["reasons"] == [["not_authorized", 2]]
    assert sorted(summary["top_senders"]) == [["meter:BADBAD", 1], ["remote:999999", 1]]  # type: ignore[type-var]
    assert b.pump.recent_meter_bg() is None


def test_legacy_settings_can_be_changed_by_radio() -> None:
    """The flaw: raise max bolus by radio, then bolus 25 U by radio."""
    b = bench("legacy")
    b.send(ATTACKER, WakeupCommand(10))
    assert isinstance(b.send(ATTACKER, ChangeSettingCommand(setting="max_bolus_u", value=25.0)),
                      Ack)
    assert b.pump.settings.max_bolus_u == 25.0
    assert b.kinds("setting_change")[-1]["source"] == "radio"
    assert isinstance(b.send(ATTACKER, BolusCommand(25.0)), Ack)


def test_legacy_key_presses_by_radio_drive_the_menus() -> None:
    """ButtonPressCommand presses the pump's keys: a bolus can be set up from the air."""
    b = bench("legacy")
    b.send(ATTACKER, WakeupCommand(10))
    for button in ["ACT", "ACT"]:  # main menu > Bolus
        b.send(ATTACKER, ButtonPressCommand(button))
    assert b.pump.screen.title == "BOLUS"
    b.send(ATTACKER, ButtonPressCommand("DOWN"))
    b.send(ATTACKER, ButtonPressCommand("ACT"))  # Manual Bolus
    for _ in range(40):
        b.send(ATTACKER, ButtonPressCommand("UP"))
    b.send(ATTACKER, ButtonPressCommand("ACT"))
    b.run_min(3)
    assert motor_u(b, what="bolus") == pytest.approx(1.0)


def test_legacy_clock_can_be_set_by_radio() -> None:
    """SetClockCommand sets the user clock at once (recorded with source radio)."""
    b = bench("legacy")
    b.send(ATTACKER, WakeupCommand(10))
    new_clock = DEFAULT_USER_CLOCK_MS + 600 * MS_PER_MINUTE
    assert isinstance(b.send(ATTACKER, SetClockCommand(clock_ms=new_clock)), Ack)
    assert b.pump.user_clock_ms == new_clock
    assert b.kinds("clock_set")[-1]["source"] == "radio"


# ---------------------------------------------------------------------- secure


def test_secure_refuses_unpaired_senders() -> None:
    """An address not in the pairing table is refused NOT_AUTHORIZED, and counted in the
    minute's refusal_summary (tests/pump/test_flood.py for floods)."""
    b = bench()
    reply = b.send(ATTACKER, BolusCommand(1.0, command_id=1))
    assert isinstance(reply, Nak) and reply.reason is NakReason.NOT_AUTHORIZED
    b.run_min(1)
    assert b.kinds("refusal_summary")[-1]["top_senders"] == [[ATTACKER, 1]]


def test_secure_roles_may_send_only_what_they_need() -> None:
    """A CGM may not bolus; a remote may not change settings; a clinician may not bolus."""
    b = bench()
    for src, msg in ((CGM, BolusCommand(1.0, command_id=1)),
                     (REMOTE, ChangeSettingCommand(setting="max_bolus_u", value=5.0)),
                     (CLINIC, BolusCommand(1.0, command_id=1))):
        reply = b.send(src, msg)
        assert isinstance(reply, Nak) and reply.reason is NakReason.NOT_AUTHORIZED


def test_secure_refuses_key_presses_and_wakeups_from_the_air() -> None:
    """ButtonPressCommand and WakeupCommand are NOT_IN_MODE even from a paired controller."""
    b = bench()
    for msg in (ButtonPressCommand("ACT"), WakeupCommand(10)):
        reply = b.send(APP, msg)
        assert isinstance(reply, Nak) and reply.reason is NakReason.NOT_IN_MODE


def test_secure_setting_change_from_the_air_waits_for_act_on_the_pump() -> None:
    """A clinician's max-bolus change is pending until the user accepts it on the keys."""
    b = bench()
    reply = b.send(CLINIC, ChangeSettingCommand(setting="max_bolus_u", value=15.0))
    assert isinstance(reply, Ack) and reply.outcome == "pending_confirmation"
    assert b.pump.settings.max_bolus_u == 10.0
    assert ui.answer_pending_change(b.pump, accept=True).done
    assert b.pump.settings.max_bolus_u == 15.0
    change = b.kinds("setting_change")[-1]
    assert change["confirmed_by"] == "keys" and change["requested_by"] == CLINIC


def test_secure_rejected_proposal_changes_nothing() -> None:
    """Rejecting a pending change on the keys leaves the setting and records the rejection."""
    b = bench()
    b.send(CLINIC, ChangeSettingCommand(setting="max_basal_u_per_h", value=5.0))
    assert ui.answer_pending_change(b.pump, accept=False).done
    assert b.pump.settings.max_basal_u_per_h == 2.0
    assert b.kinds("change_rejected")


def test_pairing_from_the_keys_shows_a_code_and_records_the_pairing() -> None:
    """Pair Device: choose the role, enter the address, read the code, ACT."""
    b = bench(pair=False)
    assert isinstance(b.send(APP, ReadStatusCommand()), Nak)
    result = ui.pair(b.pump, APP, Role.CONTROLLER)
    assert result.done and result.code is not None and len(result.code) == 6
    assert b.kinds("pairing")[-1] == {"peer": APP, "role": "controller"}
    assert isinstance(b.send(APP, ReadStatusCommand()), StatusReport)
    assert ui.unpair(b.pump, APP).done
    assert isinstance(b.send(APP, ReadStatusCommand()), Nak)


def test_legacy_and_secure_deliver_identically_without_an_attacker() -> None:
    """Same user actions, same times: the two modes' motor records are identical."""
    records = []
    for mode in ("legacy", "secure"):
        b = bench(mode, settings=PumpSettings(pattern_standard=((0, 0.8), (360, 1.1))))
        b.run_min(300)
        ui.wizard_bolus(b.pump, 60, 150)
        b.run_min(90)
        ui.set_temp_basal(b.pump, percent=70, duration_min=120)
        b.run_min(200)
        ui.square_bolus(b.pump, 2.0, 90)
        b.run_min(30)
        ui.suspend(b.pump)
        b.run_min(40)
        ui.resume(b.pump)
        b.run_min(600)
        records.append([(s.at_ms, s.amount_u, s.source) for s in b.motor.strokes])
    assert records[0] == records[1]
    assert len(records[0]) > 500


def test_secure_radio_bolus_is_annunciated_louder_than_a_key_bolus() -> None:
    """Secure: every bolus start beeps; one from the air also vibrates (pumplab's design)."""
    b = bench()
    heard = []
    b.pump.add_annunciation_listener(heard.append)
    ui.manual_bolus(b.pump, 0.5)
    b.run_min(2)
    b.send(APP, BolusCommand(0.5, command_id=1))
    starts = [a for a in heard if a.reason is AnnunciationReason.BOLUS_STARTED]
    assert [(a.origin, a.sound.value) for a in starts] == [
        ("buttons", "beep"), ("app", "beep_and_vibrate")]


def test_legacy_radio_bolus_sounds_like_a_key_bolus() -> None:
    """The x23 has no special radio alert: a radio bolus beeps like one from the keys."""
    b = bench("legacy")
    heard = []
    b.pump.add_annunciation_listener(heard.append)
    ui.manual_bolus(b.pump, 0.5)
    b.run_min(2)
    b.send(ATTACKER, WakeupCommand(10))
    b.send(ATTACKER, BolusCommand(0.5))
    starts = [a for a in heard if a.reason is AnnunciationReason.BOLUS_STARTED]
    assert [(a.origin, a.sound.value) for a in starts] == [("buttons", "beep"),
                                                           ("radio", "beep")]


def test_the_pump_address_is_pump_colon_serial() -> None:
    """The pump attaches to the link at pump:<serial>."""
    b = bench()
    assert b.pump.address == PUMP
    assert dataclasses.is_dataclass(b.pump.status())

"""The simulation core: world wiring, the run loop, same-seed comparisons."""

import numpy as np
import pytest

from pumplab.errors import InputError
from pumplab.sim.openloop import OpenLoopConfig, build_open_loop_world


def run(**overrides):  # type: ignore[no-untyped-def]
    config = OpenLoopConfig(durable_history=False, **overrides)
    world = build_open_loop_world(config)
    world.run()
    return world


def test_legacy_and_secure_pumps_give_identical_days_without_an_attacker() -> None:
    """Same seed, nobody attacking: the protocol mode changes nothing that reaches the patient."""
    legacy = run(mode="legacy", meals="random", minutes=24 * 60)
    secure = run(mode="secure", meals="random", minutes=24 * 60)
    np.testing.assert_array_equal(legacy.trace.bg_mg_dl, secure.trace.bg_mg_dl)
    np.testing.assert_array_equal(legacy.trace.total_insulin_u(), secure.trace.total_insulin_u())
    np.testing.assert_array_equal(legacy.trace.carbs_g, secure.trace.carbs_g)
    np.testing.assert_array_equal(legacy.trace.cgm_mg_dl, secure.trace.cgm_mg_dl)


def test_different_seeds_give_different_days() -> None:
    """The seed reaches the meals and the sensor: the comparison above is not vacuous."""
    a = run(meals="random", seed=1, minutes=12 * 60)
    b = run(meals="random", seed=2, minutes=12 * 60)
    assert not np.array_equal(a.trace.carbs_g, b.trace.carbs_g)
    assert not np.array_equal(a.trace.cgm_mg_dl, b.trace.cgm_mg_dl)


def test_insulin_reaching_the_patient_is_what_the_motor_pushed() -> None:
    """The trace's insulin equals the motor's own count, stroke for stroke."""
    world = run(minutes=12 * 60)
    rig = world.rigs[0]
    assert world.trace.total_insulin_u().sum() == pytest.approx(rig.motor.delivered_u, abs=1e-9)
    assert rig.motor.strokes > 0


def test_basal_alone_holds_a_fasting_patient_near_steady_state() -> None:
    """On the fasting plan the pump's basal keeps the subject near its basal glucose."""
    world = run(meals="fasting", minutes=8 * 60)
    bg = world.trace.bg_mg_dl[0]
    assert abs(bg[-1] - bg[0]) < 10.0
    assert world.trace.insulin("basal").sum() > 0


def test_pump_receives_cgm_readings_every_five_minutes() -> None:
    """The CGM transmitter's readings reach the pump through the link."""
    world = run(minutes=60)
    reading = world.rigs[0].pump.last_sensor_reading
    assert reading is not None
    assert reading.sampled_at_ms == 55 * 60_000
    assert world.rigs[0].cgm is not None and world.rigs[0].cgm.unacknowledged == 0


def test_several_patients_run_in_one_world() -> None:
    """Each patient has its own rig; physiology is stepped for all at once."""
    world = run(patients=("adult#001", "child#002"), minutes=6 * 60)
    assert world.trace.bg_mg_dl.shape == (2, 6 * 60 + 1)
    assert not np.array_equal(world.trace.bg_mg_dl[0], world.trace.bg_mg_dl[1])
    assert {rig.pump.serial for rig in world.rigs} == {"100000", "100001"}


def test_bad_configuration_names_the_field() -> None:
    """An unknown mode or an impossible duration is refused with the field's name."""
    with pytest.raises(InputError, match="mode"):
        OpenLoopConfig(mode="bluetooth", durable_history=False)
    with pytest.raises(InputError, match="minutes"):
        OpenLoopConfig(minutes=0, durable_history=False)
    with pytest.raises(InputError, match="history"):
        OpenLoopConfig()  # durable history with nowhere to put it


def test_lossy_link_is_caught_up_by_cgm_backfill() -> None:
    """With 30 % of messages lost, backfill still brings nearly every CGM reading to the pump."""
    world = run(minutes=6 * 60, link_loss=0.3)
    rig = world.rigs[0]
    assert rig.link.stats.lost > 0
    assert rig.cgm is not None and rig.cgm.backfilled > 0
    seqs = {r.data["seq"] for r in rig.history.records() if r.kind == "sensor_glucose"}
    sent = rig.cgm.readings_sent
    # Every reading but (at most) the last few, whose retries are still to come.
    assert len(seqs) >= sent - 2


def test_a_real_pump_day_exports_to_nightscout_and_tidepool() -> None:
    """The history of a day with meals and an occlusion exports; boluses match the motor."""
    from pumplab.clock import MS_PER_HOUR
    from pumplab.devices.export import nightscout_treatments, tidepool_data

    config = OpenLoopConfig(durable_history=False, minutes=24 * 60)
    world = build_open_loop_world(config)
    rig = world.rigs[0]
    world.clock.schedule_at(15 * MS_PER_HOUR, rig.motor.occlude)
    world.run()
    records = rig.history.records()
    treatments = nightscout_treatments(records)
    tidepool = tidepool_data(records)
    boluses = [d for d in tidepool if d["type"] == "bolus"]
    delivered = sum(float(d.get("normal", 0.0)) + float(d.get("extended", 0.0)) for d in boluses)
    motor_bolus = sum(world.trace.insulin(s).sum() for s in world.trace.insulin_sources
                      if s.startswith("bolus"))
    assert delivered == pytest.approx(motor_bolus, abs=1e-6)
    assert any(t["eventType"] == "Meal Bolus" for t in treatments)
    assert any(d["type"] == "basal" and d["deliveryType"] == "suspend" for d in tidepool)


def test_an_overdose_day_is_scored_to_the_end() -> None:
    """A forged night-time overdose on a legacy pump: BG falls to the floor, the day is still
    scored (severe hypo recorded, model flagged outside its validated range)."""
    from pumplab.clock import MS_PER_HOUR
    from pumplab.link.messages import BolusCommand, ChangeSettingCommand, WakeupCommand
    from pumplab.people.person import PersonProfile
    from pumplab.sim.outcome import run_open_loop

    def forge(world) -> None:  # type: ignore[no-untyped-def]
        rig = world.rigs[0]

        def send(*messages) -> None:  # type: ignore[no-untyped-def]
            for message in messages:
                rig.link.send("carelink:x", rig.pump.address, message)

        # The legacy pump takes its max bolus from the air, then the boluses.
        world.clock.schedule_at(MS_PER_HOUR, lambda: send(
            WakeupCommand(duration_min=60), ChangeSettingCommand("max_bolus_u", 25.0)))
        for k in range(3):
            world.clock.schedule_at(MS_PER_HOUR + (k + 1) * 20 * 60_000,
                                    lambda: send(WakeupCommand(), BolusCommand(25.0)))

    asleep_and_unaware = PersonProfile(notice_bolus_asleep_p=0.0, night_wake_p=0.0,
                                       alarm_wakes_p=0.0)
    config = OpenLoopConfig(patients=("child#001",), mode="legacy", durable_history=False,
                            minutes=12 * 60, person=asleep_and_unaware)
    outcome = run_open_loop(config, prepare=forge)
    patient = outcome.patients[0]
    assert patient.first_minute_below_40 is not None and patient.outside_validated_range
    assert patient.bg["tbr_54_pct"] > 0 and patient.bg["hypo_events"] >= 1
    assert patient.min_bg_mg_dl >= 0.0
    assert patient.insulin_u["bolus_radio"] == pytest.approx(75.0)

"""The person model: what someone wearing the pump does about what happens to it."""

from dataclasses import replace

from pumplab.clock import MS_PER_HOUR, MS_PER_MINUTE
from pumplab.link.messages import BolusCommand, SuspendCommand, WakeupCommand
from pumplab.people.person import PersonProfile
from pumplab.sim.openloop import OpenLoopConfig, build_open_loop_world
from pumplab.sim.world import World

ATTACKER = "carelink:evil"


def world_with(profile: PersonProfile | None = None, **overrides):  # type: ignore[no-untyped-def]
    settings = {"durable_history": False, "mode": "legacy", "meals": "fasting", **overrides}
    config = OpenLoopConfig(person=profile or PersonProfile(), **settings)
    return build_open_loop_world(config)


def forge(world: World, at_ms: int, *messages) -> None:  # type: ignore[no-untyped-def]
    """An unauthenticated sender talks to the legacy pump at ``at_ms``."""
    rig = world.rigs[0]

    def send() -> None:
        for message in messages:
            rig.link.send(ATTACKER, rig.pump.address, message)

    world.clock.schedule_at(at_ms, send)


def events(world: World, kind: str) -> list:  # type: ignore[type-arg]
    return [e for e in world.trace.events if e.kind == kind]


# Fixed reaction times (no spread) keep these tests about behaviour, not about luck.
ALWAYS_NOTICE = PersonProfile(notice_bolus_awake_p=1.0, notice_bolus_asleep_p=1.0,
                              reaction_log_sd=0.0)


def test_awake_person_cancels_a_bolus_they_did_not_start() -> None:
    """A forged 10 U bolus at 10:00 is noticed and stopped well short of 10 U."""
    world = world_with(ALWAYS_NOTICE, minutes=12 * 60)
    forge(world, 10 * MS_PER_HOUR, WakeupCommand(), BolusCommand(10.0))
    world.run()
    radio = world.trace.insulin("bolus_radio").sum()
    assert 0 < radio < 9.0
    assert world.rigs[0].person is not None and world.rigs[0].person.cancelled_boluses == 1
    assert events(world, "cancel_unexpected_bolus")[0].detail["done"] is True


def test_person_who_does_not_notice_lets_the_forged_bolus_run() -> None:
    """With no chance of noticing, the forged bolus is delivered in full."""
    profile = replace(ALWAYS_NOTICE, notice_bolus_awake_p=0.0)
    world = world_with(profile, minutes=12 * 60)
    forge(world, 10 * MS_PER_HOUR, WakeupCommand(), BolusCommand(5.0))
    world.run()
    assert abs(world.trace.insulin("bolus_radio").sum() - 5.0) < 1e-9
    assert events(world, "cancel_unexpected_bolus") == []


def test_person_answers_later_when_asleep() -> None:
    """The same unexpected bolus is cancelled later at 03:00 than at 15:00."""
    delays = []
    for hour in (15, 3):
        world = world_with(ALWAYS_NOTICE, minutes=(hour + 2) * 60)
        t0 = hour * MS_PER_HOUR
        forge(world, t0, WakeupCommand(), BolusCommand(10.0))
        world.run()
        cancel = events(world, "cancel_unexpected_bolus")
        done_at = cancel[0].time_ms if cancel else None
        delays.append(None if done_at is None else done_at - t0)
    awake, asleep = delays
    assert awake is not None and awake < 10 * MS_PER_MINUTE
    assert asleep is None or asleep > awake


def test_person_resumes_a_suspend_they_did_not_ask_for() -> None:
    """A forged radio suspend is noticed and resumed from the keys."""
    world = world_with(ALWAYS_NOTICE, minutes=12 * 60)
    forge(world, 10 * MS_PER_HOUR, WakeupCommand(), SuspendCommand())
    world.run()
    assert events(world, "resume_unexpected_suspend")[0].detail["done"] is True
    assert not world.rigs[0].pump.status().suspended
    after = world.trace.insulin("basal")[0, 11 * 60:].sum()
    assert after > 0


def test_person_replaces_the_infusion_set_after_an_occlusion() -> None:
    """A blocked set raises NO DELIVERY; the person fixes it and basal flows again."""
    world = world_with(minutes=14 * 60)
    rig = world.rigs[0]
    world.clock.schedule_at(9 * MS_PER_HOUR, rig.motor.occlude)
    world.run()
    answered = events(world, "alarms_answered")
    assert answered and "no_delivery" in answered[0].detail["alarms"]
    assert not rig.motor.occluded
    assert world.trace.insulin("basal")[0, 13 * 60:].sum() > 0


def test_person_treats_a_low_with_rescue_carbs() -> None:
    """After an overdose they do not cancel, lows are found and treated (rule of 15)."""
    profile = replace(PersonProfile(), cancel_unexpected_boluses=False, glance_interval_min=20)
    world = world_with(profile, minutes=16 * 60)
    forge(world, 9 * MS_PER_HOUR, WakeupCommand(), BolusCommand(20.0))
    world.run()
    person = world.rigs[0].person
    assert person is not None and person.rescue_carbs_g >= 15.0
    assert events(world, "rescue_carbs")
    assert world.trace.carbs_g.sum() >= 15.0


def test_person_boluses_meals_through_the_wizard() -> None:
    """On a standard day every announced meal gets a wizard bolus from the keys."""
    world = world_with(PersonProfile(forget_bolus_p=0.0), meals="standard-day", minutes=24 * 60)
    world.run()
    meals = events(world, "meal")
    assert meals and all(e.detail["bolus"] in ("wizard", "remote") for e in meals)
    assert world.trace.insulin("bolus_wizard").sum() > 0


def test_profile_rejects_impossible_parameters() -> None:
    """Probabilities outside 0..1 and negative delays are refused with the field's name."""
    import pytest

    with pytest.raises(ValueError, match="forget_bolus_p"):
        PersonProfile(forget_bolus_p=1.5)
    with pytest.raises(ValueError, match="sleep_start_min"):
        PersonProfile(sleep_start_min=1440)



def test_an_unrelated_alarm_does_not_change_later_decisions() -> None:
    """Decisions are keyed by situation: an occlusion at 01:00 leaves every meal decision as is."""
    profile = PersonProfile(forget_bolus_p=0.3, check_bg_before_meal_p=0.5)

    def meal_decisions(occlude: bool) -> list[tuple[int, object]]:
        world = world_with(profile, meals="random", minutes=2 * 24 * 60)
        if occlude:
            world.clock.schedule_at(MS_PER_HOUR, world.rigs[0].motor.occlude)
        world.run()
        return [(e.time_ms, e.detail["bolus"]) for e in events(world, "meal")]

    plain, disturbed = meal_decisions(False), meal_decisions(True)
    assert len(plain) >= 4 and plain == disturbed

"""Scenario files: validation with every problem listed, built-ins, arms, overrides, hash."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from pumplab.errors import ScenarioError
from pumplab.sim import registry
from pumplab.sim.scenario import (
    DEFAULT_SCENARIO,
    NO_ATTACKER,
    Population,
    ScenarioProblems,
    apply_overrides,
    arms_for,
    builtin_scenario_toml,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
    patient_refs,
    scenario_hash,
    scenario_toml,
    seeds_of,
    start_clock_ms,
)

BROKEN = """
name = "Bad Name"
hourz = 3
hours = 2.01
patients = ["adult#001", "adult#099"]
start = "yesterday"
seed = -1
link = "wifi"
[pump]
serial = "12345"
[pump.limits]
max_bolus_u = 30
[controller]
name = "orf0"
[[attackers]]
name = "a"
kind = "forged_bolus"
power_dbm = 100
params = { bolus_u = 50, repet = 2 }
[[attackers]]
name = "a"
kind = "forge"
"""


def problems_of(text: str, **kwargs: object) -> dict[str, str]:
    with pytest.raises(ScenarioProblems) as caught:
        parse_scenario(text, **kwargs)  # type: ignore[arg-type]
    return {p.path: str(p) for p in caught.value.problems}


def test_every_problem_is_listed_at_once_with_its_key_path() -> None:
    """A broken file gets all its problems in one error, one line each, keyed by path."""
    with pytest.raises(ScenarioProblems) as caught:
        parse_scenario(BROKEN, source="broken.toml")
    paths = {p.path for p in caught.value.problems}
    assert paths >= {
        "name", "hourz", "hours", "patients[1]", "start", "seed", "link", "pump.serial",
        "pump.limits.max_bolus_u", "controller.name", "attackers[0].power_dbm",
        "attackers[0].params.bolus_u", "attackers[0].params.repet", "attackers[1].kind",
        "attackers",
    }
    message = str(caught.value)
    assert message.startswith("broken.toml: ")
    assert len(message.splitlines()) == len(caught.value.problems) + 1
    assert isinstance(caught.value, ScenarioError)


def test_problems_name_the_allowed_values() -> None:
    """Each problem says what would have been accepted."""
    found = problems_of(BROKEN)
    assert "(allowed: 'memory' or 'radio')" in found["link"]
    assert "adolescent#001-010, adult#001-010, child#001-010" in found["patients[1]"]
    assert "6 decimal digits" in found["pump.serial"]
    assert "≤ 25.0" in found["pump.limits.max_bolus_u"]
    assert "oref0" in found["controller.name"] and "external" in found["controller.name"]
    assert "forged_bolus" in found["attackers[1].kind"] and "inject" in found["attackers[1].kind"]
    assert "bolus_u, repeat" in found["attackers[0].params.repet"]
    assert "used twice" in found["attackers"]


def test_unknown_keys_are_errors_at_every_level() -> None:
    """A typo never passes silently: top level, nested tables, attackers, params."""
    found = problems_of("""
        hour = 24
        [pump]
        mod = "legacy"
        [pump.settings]
        easy_bolus = true
        [peripherals.cgm]
        positon_m = [0.1, 0.1]
        [[attackers]]
        name = "x"
        kind = "jam"
        sheduled = 5
        params = { targt = "cgm" }
    """)
    assert set(found) == {"hour", "pump.mod", "pump.settings.easy_bolus",
                          "peripherals.cgm.positon_m", "attackers[0].sheduled",
                          "attackers[0].params.targt"}
    assert "hours" in found["hour"] and "mode" in found["pump.mod"]
    assert "easy_bolus_enabled" in found["pump.settings.easy_bolus"]


def test_no_silent_type_coercion() -> None:
    """Strings are not numbers and numbers are not booleans."""
    found = problems_of('seed = "3"\nmatrix = 1\nhours = true')
    assert set(found) == {"seed", "matrix", "hours"}


def test_toml_syntax_error_is_one_problem() -> None:
    """A file that is not TOML says so, with tomllib's location."""
    found = problems_of("hours = = 3")
    assert list(found) == [""] and "line 1" in found[""]


def test_patient_selection_forms() -> None:
    """Names, "all", or a generated population; anything else is one clear problem."""
    assert [p.name for p in patient_refs(parse_scenario('patients = "all"'))][:2] == [
        "adolescent#001", "adolescent#002"]
    assert len(patient_refs(parse_scenario('patients = "all"'))) == 30
    pop = parse_scenario("patients = { population = 3, seed = 7 }")
    assert isinstance(pop.patients, Population)
    assert [p.name for p in patient_refs(pop)] == ["pop00001", "pop00002", "pop00003"]
    assert [p.index for p in patient_refs(pop)] == [0, 1, 2]
    assert "not a patient selection" in problems_of("patients = 3")["patients"]
    assert "not a patient selection" in problems_of('patients = "some"')["patients"]
    assert "named twice" in problems_of('patients = ["adult#001", "adult#001"]')["patients"]
    assert "population.population" not in problems_of("patients = { population = 0 }")
    assert "patients.population" in problems_of("patients = { population = 0 }")


def test_start_time_offsets_and_utc_default() -> None:
    """ISO 8601 with an offset is kept; no offset means UTC; the pump shows local wall time."""
    local = parse_scenario('start = "2026-03-02T07:30:00+01:00"')
    assert local.start == "2026-03-02T07:30:00+01:00"
    naive = parse_scenario("start = 2026-03-02T07:30:00")
    assert naive.start == "2026-03-02T07:30:00+00:00"
    # Same wall time on the pump: 07:30 in both cases.
    assert start_clock_ms(local) == start_clock_ms(naive)
    assert start_clock_ms(naive) % 86_400_000 == (7 * 60 + 30) * 60_000
    assert "outside the pump's clock" in problems_of('start = "1999-12-31T23:00:00Z"')["start"]


def test_hours_must_make_whole_minutes() -> None:
    """4.1 h is 246 minutes (binary rounding tolerated); 2.01 h is not whole minutes."""
    assert parse_scenario("hours = 4.1").minutes == 246
    assert "whole number of minutes" in problems_of("hours = 2.01")["hours"]
    assert "out of range" in problems_of("hours = 400")["hours"]


def test_meal_file_is_resolved_against_the_scenario_folder(tmp_path: Path) -> None:
    """A meal TOML next to the scenario is found, validated, and stored as an absolute path."""
    (tmp_path / "my-meals.toml").write_text('[[meals]]\ntime = "08:00"\ncarbs_g = 40\n')
    (tmp_path / "s.toml").write_text('meals = "my-meals.toml"\n')
    scenario = load_scenario(tmp_path / "s.toml")
    assert scenario.meals == str((tmp_path / "my-meals.toml").resolve())
    (tmp_path / "bad-meals.toml").write_text("[[meals]]\ncarbs_g = -1\n")
    (tmp_path / "t.toml").write_text('meals = "bad-meals.toml"\n')
    with pytest.raises(ScenarioProblems, match="meals: the meal file does not validate"):
        load_scenario(tmp_path / "t.toml")


def test_inject_frames_file_must_exist(tmp_path: Path) -> None:
    """The inject attacker's frames file is checked before anything runs."""
    text = ('[[attackers]]\nname = "i"\nkind = "inject"\nparams = { frames = "air.jsonl" }\n')
    found = problems_of(text, base_dir=tmp_path)
    assert "no such file" in found["attackers[0].params.frames"]
    (tmp_path / "air.jsonl").write_text("")
    scenario = parse_scenario(text, base_dir=tmp_path)
    assert scenario.attackers[0].params["frames"] == str((tmp_path / "air.jsonl").resolve())


def test_attack_needs_knowledge_it_cannot_learn() -> None:
    """An attacker forbidden to learn from the air must be given what its attack needs."""
    text = ('[[attackers]]\nname = "f"\nkind = "forged_bolus"\n'
            'knowledge = { learn_from_air = false }\n')
    assert "needs pump_serial" in problems_of(text)["attackers[0].knowledge"]
    parse_scenario(text.replace("learn_from_air = false",
                                'learn_from_air = false, pump_serial = "665455"'))


def test_schedule_forms_and_firing_minutes() -> None:
    """Either a list of minutes or start/every/count; firings after the run's end drop out."""
    scenario = parse_scenario(
        'hours = 1\n[[attackers]]\nname = "f"\nkind = "forged_bolus"\n'
        "schedule = { start_min = 30, every_min = 20, count = 3 }\n")
    assert scenario.attackers[0].schedule.minutes(scenario.minutes) == (30, 50)
    found = problems_of('[[attackers]]\nname = "f"\nkind = "forged_bolus"\n'
                        "schedule = { at_min = [1], count = 2 }\n")
    assert "not both" in found["attackers[0].schedule"]


def test_registries_accept_kinds_registered_later() -> None:
    """A controller registered by another module becomes valid, with its own params model."""

    class MyParams(BaseModel):
        model_config = ConfigDict(extra="forbid")
        gain: float = 1.0

    text = '[controller]\nname = "my-loop"\nparams = { gain = 2.0 }\n'
    assert "unknown controller" in problems_of(text)["controller.name"]
    registry.register_controller("my-loop", MyParams)
    try:
        assert parse_scenario(text).controller.params == {"gain": 2.0}
        assert "gian" in problems_of(text.replace("gain", "gian"))["controller.params.gian"]
        with pytest.raises(ValueError, match="already registered"):
            registry.register_controller("my-loop", MyParams)
    finally:
        registry._CONTROLLERS.pop("my-loop")


def test_registry_refuses_params_models_that_allow_unknown_keys() -> None:
    """A params model that would let typos through cannot be registered."""

    class Loose(BaseModel):
        x: int = 0

    with pytest.raises(ValueError, match="forbid unknown keys"):
        registry.register_attack("loose", Loose)


def test_controller_and_attack_params_are_filled_with_defaults() -> None:
    """Validated params hold every parameter, defaults included (the hash covers them)."""
    scenario = load_scenario(DEFAULT_SCENARIO)
    assert scenario.attackers[0].params == {"bolus_u": 10.0, "repeat": 1}
    ext = parse_scenario('[controller]\nname = "external"\nparams = { command = ["x"] }\n')
    assert ext.controller.params == {"command": ["x"], "timeout_s": 5.0}


# ----------------------------------------------------------------- built-ins

def test_builtin_scenarios_are_listed_with_descriptions() -> None:
    """At least seed-508, attack-matrix and open-loop-week ship with pumplab."""
    listed = {b.name: b.description for b in builtin_scenarios()}
    assert {"seed-508", "attack-matrix", "open-loop-week"} <= set(listed)
    assert all(listed.values())


@pytest.mark.parametrize("name", ["seed-508", "attack-matrix", "open-loop-week"])
def test_shown_builtin_toml_loads_back_to_the_same_scenario(name: str, tmp_path: Path) -> None:
    """`scenarios show NAME` prints TOML that, saved to a file, is the same scenario."""
    text = builtin_scenario_toml(name)
    tomllib.loads(text)
    (tmp_path / "copy.toml").write_text(text)
    copy = load_scenario(tmp_path / "copy.toml")
    assert copy == load_scenario(name)
    assert scenario_hash(copy) == scenario_hash(load_scenario(name))


def test_unknown_scenario_lists_the_builtins() -> None:
    """A name that is neither built in nor a file lists the available scenarios."""
    with pytest.raises(ScenarioError, match="attack-matrix, open-loop-week, seed-508"):
        load_scenario("seed-509")
    with pytest.raises(ScenarioError, match="seed-508"):
        builtin_scenario_toml("nosuch")


def test_seed_508_is_the_main_job() -> None:
    """One adult, 24 h, open loop on the radio, a DIY loop's reads, an attacker who sniffs
    the serial and forges boluses; all three arms."""
    s = load_scenario("seed-508")
    assert [p.name for p in patient_refs(s)] == ["adult#001"]
    assert s.hours == 24 and s.link == "radio" and s.controller.name == "none"
    assert s.peripherals.controller_app.enabled
    assert all(getattr(s.peripherals, p).enabled for p in ("cgm", "meter", "remote"))
    (attacker,) = s.attackers
    assert attacker.kind == "forged_bolus" and attacker.knowledge.pump_serial is None
    assert attacker.knowledge.learn_from_air
    assert [a.name for a in arms_for(s)] == ["legacy", "secure", NO_ATTACKER]


# ----------------------------------------------------------------- arms

def test_arms_rule() -> None:
    """--mode X runs X plus no_attacker; both runs all three; no_attacker is a secure pump."""
    s = load_scenario("seed-508")
    names = {m: [a.name for a in arms_for(apply_overrides(s, mode=m))]
             for m in ("legacy", "secure", "both")}
    assert names == {"legacy": ["legacy", NO_ATTACKER], "secure": ["secure", NO_ATTACKER],
                     "both": ["legacy", "secure", NO_ATTACKER]}
    arms = {a.name: a for a in arms_for(s)}
    assert arms[NO_ATTACKER].mode == "secure" and arms[NO_ATTACKER].attackers == ()
    assert arms["legacy"].attackers == arms["secure"].attackers == ("neighbour",)


def test_without_attackers_secure_runs_once_as_no_attacker() -> None:
    """With nobody attacking, the secure arm would repeat no_attacker; it runs once."""
    assert [a.name for a in arms_for(load_scenario("open-loop-week"))] == [NO_ATTACKER]
    both = parse_scenario('[pump]\nmode = "both"')
    assert [a.name for a in arms_for(both)] == ["legacy", NO_ATTACKER]


def test_matrix_runs_each_attacker_alone_in_each_mode() -> None:
    """attack-matrix: <attacker>@legacy and <attacker>@secure for every attacker, then
    no_attacker."""
    s = load_scenario("attack-matrix")
    arms = arms_for(s)
    assert arms[-1].name == NO_ATTACKER
    assert len(arms) == 2 * len(s.attackers) + 1
    assert arms[0].name == f"{s.attackers[0].name}@legacy" and arms[0].attack == "eavesdrop"
    assert all(len(a.attackers) == 1 for a in arms[:-1])


# ----------------------------------------------------------------- overrides

def test_overrides_replace_scenario_values() -> None:
    """Options override the file: patients, hours, start, seed, mode, link, meals, capture."""
    s = apply_overrides(load_scenario("seed-508"), patients="adult#002,child#003", hours=2,
                        start="2026-02-01T06:00:00-05:00", seed=9, mode="legacy",
                        link="memory", meals="fasting", capture="air.jsonl")
    assert [p.name for p in patient_refs(s)] == ["adult#002", "child#003"]
    assert (s.hours, s.seed, s.pump.mode, s.link, s.meals) == (2, 9, "legacy", "memory",
                                                              "fasting")
    assert s.start == "2026-02-01T06:00:00-05:00" and s.capture == "air.jsonl"
    assert apply_overrides(s, patients="all").patients == "all"
    pop = apply_overrides(s, patients="12")
    assert isinstance(pop.patients, Population) and pop.patients.population == 12


def test_bad_overrides_name_the_option_and_list_every_problem() -> None:
    """Every bad option is reported at once, naming the option and the key."""
    with pytest.raises(ScenarioProblems) as caught:
        apply_overrides(load_scenario("seed-508"), hours=0.001, mode="sideways",
                        patients="adult#001,nobody")
    paths = sorted(p.path for p in caught.value.problems)
    assert paths == ["--hours (hours)", "--mode (pump.mode)", "--patients (patients[1])"]


def test_overrides_change_the_hash_and_replicates_give_seeds() -> None:
    """The hash follows the validated scenario; seeds are seed, seed+1, ..."""
    s = load_scenario("seed-508")
    assert scenario_hash(apply_overrides(s, seed=2)) != scenario_hash(s)
    assert scenario_hash(apply_overrides(s, seed=1)) == scenario_hash(s)
    assert seeds_of(parse_scenario("seed = 5\nreplicates = 3")) == (5, 6, 7)


# ----------------------------------------------------------------- hash

def test_hash_ignores_labels_layout_and_outputs_but_not_content(tmp_path: Path) -> None:
    """Name, description, capture, key order and explicit defaults do not change the hash;
    a value or a meal file's contents do."""
    a = parse_scenario('name = "a"\nhours = 2\nseed = 3\n')
    b = parse_scenario('seed = 3\nhours = 2.0\nname = "b"\ndescription = "x"\n'
                       'capture = "air.jsonl"\nlink = "memory"\n')
    assert scenario_hash(a) == scenario_hash(b)
    assert scenario_hash(a).startswith("sha256:") and len(scenario_hash(a)) == 71
    assert scenario_hash(parse_scenario("hours = 3\nseed = 3")) != scenario_hash(a)
    meals = tmp_path / "m.toml"
    meals.write_text('[[meals]]\ntime = "08:00"\ncarbs_g = 40\n')
    first = scenario_hash(parse_scenario('meals = "m.toml"', base_dir=tmp_path))
    meals.write_text('[[meals]]\ntime = "08:00"\ncarbs_g = 50\n')
    assert scenario_hash(parse_scenario('meals = "m.toml"', base_dir=tmp_path)) != first


def test_rendered_toml_of_a_custom_scenario_round_trips(tmp_path: Path) -> None:
    """scenario_toml writes every key; the file loads to an equal scenario."""
    s = parse_scenario('patients = { population = 4, seed = 2, groups = ["adult"] }\n'
                       'start = "2026-01-05T07:00:00+02:00"\n[pump.limits]\nmax_bolus_u = 12.5\n')
    (tmp_path / "x.toml").write_text(scenario_toml(s))
    assert load_scenario(tmp_path / "x.toml") == s

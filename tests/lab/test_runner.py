"""The runner: pure task plans, the stand-in body, local processes, failures, interruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from labkit import short_seed_508

from pumplab.devices.history import SqliteHistory
from pumplab.sim.openloop import OpenLoopConfig, build_open_loop_world
from pumplab.sim.results import ATTACKER_SOURCE
from pumplab.sim.runner import (
    DEFAULT_BODY,
    ProgressEvent,
    RunInterrupted,
    TaskFailed,
    execute,
    plan_tasks,
    provenance_for,
    register_task_body,
    run_scenario,
)
from pumplab.sim.scenario import NO_ATTACKER, apply_overrides, load_scenario, parse_scenario
from pumplab.sim.store import ResultsStore


def test_plan_is_one_task_per_patient_arm_and_seed_in_plan_order() -> None:
    """seed, then patient, then arm; nothing runs while planning."""
    scenario = apply_overrides(load_scenario("seed-508"), patients="adult#001,child#002")
    scenario = scenario.model_copy(update={"replicates": 2})
    tasks = plan_tasks(scenario, out_dir="/nonexistent/out")
    assert [t.key for t in tasks] == [
        (arm, patient, seed) for seed in (1, 2) for patient in ("adult#001", "child#002")
        for arm in ("legacy", "secure", NO_ATTACKER)]
    assert not Path("/nonexistent").exists()
    assert all(t.body_name == DEFAULT_BODY for t in tasks)
    assert tasks[0].history_path() == Path("/nonexistent/out/legacy/adult-001/seed-1/"
                                           "history.sqlite")
    single = plan_tasks(load_scenario("seed-508"), out_dir="out")
    assert single[2].history_path() == Path("out/no_attacker/adult-001/history.sqlite")


def test_unknown_task_body_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown task body"):
        plan_tasks(load_scenario("seed-508"), body="nosuch")
    with pytest.raises(ValueError, match="module:function"):
        register_task_body("x", "no-colon")


def test_stand_in_runs_each_arm_with_its_pump_mode(tmp_path: Path) -> None:
    """Histories go to <out>/<arm>/<patient>/history.sqlite, each from a pump in the arm's mode,
    and every one verifies."""
    run = run_scenario(short_seed_508(hours=0.5), out_dir=tmp_path)
    for r in run.results:
        path = tmp_path / r.arm / "adult-001" / "history.sqlite"
        assert r.history_path == str(path) and r.history_verified
        history = SqliteHistory(path, read_only=True)
        boot = history.records(limit=1)[0]
        history.close()
        assert boot.kind == "boot" and boot.data["mode"] == r.mode
    assert [r.mode for r in run.results] == ["legacy", "secure", "secure"]


def test_stand_in_says_what_it_did_not_simulate() -> None:
    """Stand-in results are marked, list the radio and the attacker, and the attacker's
    insulin is the sum of a series no attack wrote to."""
    run = run_scenario(short_seed_508())
    assert run.provenance.stand_in and run.provenance.body == DEFAULT_BODY
    legacy = run.arm("legacy")[0]
    assert legacy.stand_in
    assert any("link = radio" in item for item in legacy.not_simulated)
    assert "attackers: neighbour" in legacy.not_simulated
    assert legacy.failure_reason == "not simulated (stand-in body)"
    assert legacy.traces is not None
    assert legacy.attacker_insulin_u == float(legacy.traces.insulin_u[ATTACKER_SOURCE].sum())
    assert run.arm(NO_ATTACKER)[0].failure_reason is None


def test_integrity_attack_arms_share_random_numbers() -> None:
    """Issue 17's common-random-numbers check: the secure arm's glucose equals the no-attacker
    arm's, minute by minute (same seed, same meals, noise and behaviour)."""
    run = run_scenario(short_seed_508(hours=6))
    secure, baseline = run.arm("secure")[0].traces, run.arm(NO_ATTACKER)[0].traces
    assert secure is not None and baseline is not None
    np.testing.assert_array_equal(secure.bg_mg_dl, baseline.bg_mg_dl)
    np.testing.assert_array_equal(secure.cgm_mg_dl, baseline.cgm_mg_dl)
    other_seed = run_scenario(short_seed_508(hours=6, seed=2)).arm(NO_ATTACKER)[0].traces
    assert other_seed is not None
    assert not np.array_equal(other_seed.cgm_mg_dl, baseline.cgm_mg_dl)


def test_start_time_moves_the_day() -> None:
    """A run starting at 06:00 meets breakfast six hours earlier than one starting at 00:00."""
    midnight = run_scenario(parse_scenario("hours = 10\n[pump]\nmode = \"secure\""))
    six = run_scenario(parse_scenario('hours = 10\nstart = "2026-01-05T06:00:00+01:00"\n'
                                      '[pump]\nmode = "secure"'))
    first = [int(np.flatnonzero(r.traces.carbs_g > 0)[0])
             for r in (midnight.results[0], six.results[0]) if r.traces is not None]
    assert first[0] - first[1] == 360
    assert six.results[0].start == "2026-01-05T06:00:00+01:00"


def test_generated_population_patients_run() -> None:
    """Patients of a generated population are built from their own sampler stream."""
    scenario = parse_scenario('hours = 1\npatients = { population = 2, seed = 3 }\n'
                              '[pump]\nmode = "secure"')
    run = run_scenario(scenario)
    assert [r.patient for r in run.results] == ["pop00001", "pop00002"]
    a, b = (r.traces for r in run.results)
    assert a is not None and b is not None
    assert np.all(np.isfinite(a.bg_mg_dl)) and not np.array_equal(a.bg_mg_dl, b.bg_mg_dl)


def test_a_patient_sees_the_same_day_alone_or_in_a_batch() -> None:
    """Per-patient streams are keyed by name, so one lab task per patient reproduces the
    patient's day in a multi-patient world."""
    def world(patients: tuple[str, ...]):  # type: ignore[no-untyped-def]
        w = build_open_loop_world(OpenLoopConfig(patients=patients, minutes=8 * 60,
                                                 durable_history=False, meals="random"))
        w.run()
        return w
    batch = world(("adult#001", "adult#002"))
    alone = world(("adult#002",))
    np.testing.assert_array_equal(batch.trace.bg_mg_dl[1], alone.trace.bg_mg_dl[0])
    np.testing.assert_array_equal(batch.trace.total_insulin_u()[1],
                                  alone.trace.total_insulin_u()[0])


def test_progress_reports_every_task() -> None:
    """One event before the first task, then one per finished task, ending at total."""
    events: list[ProgressEvent] = []
    run_scenario(short_seed_508(hours=0.25), progress=events.append)
    assert [(e.done, e.total) for e in events] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert events[0].task is None and events[1].task == "legacy/adult#001/seed 1"


def test_provenance_names_the_scenario_seed_and_start() -> None:
    scenario = short_seed_508(seed=4)
    prov = provenance_for(scenario)
    assert (prov.scenario, prov.seed, prov.seeds, prov.start) == (
        "seed-508", 4, (4,), "2026-01-05T00:00:00+00:00")
    assert prov.pumplab_version == "0.1.0"
    assert prov.git_commit is None or len(prov.git_commit.split("+")[0]) == 40


@pytest.mark.slow
def test_local_processes_give_the_single_process_results() -> None:
    """jobs=2 (spawned worker processes) returns exactly what jobs=1 does, in plan order."""
    scenario = short_seed_508(hours=1, patients="adult#001,adolescent#002")
    tasks = plan_tasks(scenario)
    one = execute(tasks, jobs=1)
    two = execute(tasks, jobs=2)
    assert [r.key for r in two] == [t.key for t in tasks]
    assert two == one


def test_a_failing_task_is_named_and_finished_tasks_are_kept(tmp_path: Path) -> None:
    """A task that raises stops the run with its name; what finished is in the store."""
    scenario = short_seed_508(hours=0.25)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(TaskFailed, match="secure/adult#001/seed 1 failed: RuntimeError"):
            execute(plan_tasks(scenario, body="test-failing"), store=store)
        assert [r.arm for r in store.load_results(plan_tasks(scenario, body="test-failing"))
                ] == ["legacy"]


def test_ctrl_c_in_process_keeps_finished_tasks(tmp_path: Path) -> None:
    """Ctrl-C during a task: RunInterrupted (a KeyboardInterrupt) with the count, and the
    finished tasks are in the store (resume is tested with real signals in test_resume)."""
    scenario = short_seed_508(hours=0.25)
    interrupted = plan_tasks(scenario, body="test-interrupt")
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(RunInterrupted) as caught:
            execute(interrupted, store=store)
        assert isinstance(caught.value, KeyboardInterrupt)
        assert (caught.value.done, caught.value.total) == (2, 3)
        assert len(store.load_results(interrupted)) == 2

"""The Dask path: a small matrix on a LocalCluster on loopback equals the local run."""

from __future__ import annotations

from pathlib import Path

import pytest
from labkit import child_env

from pumplab.sim.results import attacks_json, run_json
from pumplab.sim.runner import ProgressEvent, execute, plan_tasks, run_scenario
from pumplab.sim.scenario import apply_overrides, load_scenario
from pumplab.sim.store import ResultsStore


def small_matrix():  # type: ignore[no-untyped-def]
    """attack-matrix cut to two attackers, two patients, a quarter of an hour."""
    scenario = apply_overrides(load_scenario("attack-matrix"), hours=0.25,
                               patients="adult#001,child#001")
    return scenario.model_copy(update={"attackers": scenario.attackers[1:3]})


@pytest.mark.slow
def test_dask_cluster_results_equal_the_local_run(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks submitted to a LocalCluster scheduler by address come back equal to a
    single-process run, in plan order, written to the store as they finish."""
    from distributed import LocalCluster

    # Workers are new processes: they must import this worktree's pumplab.
    monkeypatch.setenv("PYTHONPATH", child_env()["PYTHONPATH"])
    scenario = small_matrix()
    tasks = plan_tasks(scenario)
    assert len(tasks) == 2 * (2 * 2 + 1)
    local = execute(tasks)
    events: list[ProgressEvent] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        with ResultsStore(tmp_path / "r.sqlite") as store:
            run = run_scenario(scenario, dask=cluster.scheduler_address, store=store,
                               progress=events.append)
            stored = store.load_run()
    assert run.results == local
    assert [e.done for e in events] == list(range(len(tasks) + 1))
    assert run_json(stored) == run_json(run)
    assert attacks_json(run)["rows"] == attacks_json(stored)["rows"]


@pytest.mark.slow
def test_dask_local_starts_and_stops_its_own_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """--dask local: a LocalCluster on loopback for the run, closed afterwards."""
    monkeypatch.setenv("PYTHONPATH", child_env()["PYTHONPATH"])
    scenario = apply_overrides(load_scenario("seed-508"), hours=0.25, mode="secure")
    tasks = plan_tasks(scenario)
    assert execute(tasks, dask="local", jobs=1) == execute(tasks)

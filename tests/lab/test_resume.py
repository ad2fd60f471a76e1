"""Interrupted runs keep what finished, and resume runs the rest: with real signals.

The run goes on in a child process.  Its ``no_attacker`` tasks wait at a gate
(labkit.gated_body), so "killed in the middle of a task, after others
finished" is a state the test waits for, never a race with the machine's
speed.  Then the child is killed (SIGKILL) or interrupted (SIGINT, as Ctrl-C),
and the run is resumed from the store.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labkit import GATE_ENV, child_env, short_seed_508

from pumplab.sim.results import TaskResult
from pumplab.sim.runner import ProgressEvent, execute, plan_tasks
from pumplab.sim.store import ResultsStore

BODY = "test-gated"
#: Generous: the child imports numpy and numba and simulates; only a hang reaches it.
WAIT_S = 300.0

CHILD = """
import json, sys
import labkit
from pumplab.sim.runner import RunInterrupted, run_scenario
from pumplab.sim.store import ResultsStore

store = ResultsStore(sys.argv[1])
scenario = labkit.short_seed_508(hours=0.5, patients="adult#001,adult#002")
try:
    run_scenario(scenario, body="test-gated", store=store, jobs=int(sys.argv[2]))
except RunInterrupted as stopped:
    print(json.dumps({"done": stopped.done, "total": stopped.total}))
    sys.exit(130)
"""


def scenario():  # type: ignore[no-untyped-def]
    return short_seed_508(hours=0.5, patients="adult#001,adult#002")


@pytest.fixture(scope="module")
def reference() -> tuple[TaskResult, ...]:
    """The same tasks run without interruption (no gate in this process)."""
    assert GATE_ENV not in os.environ
    # Compared without traces: the store keeps them only when asked, and these runs don't.
    return tuple(r.without_traces() for r in execute(plan_tasks(scenario(), body=BODY)))


def finished_rows(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        db = sqlite3.connect(store, timeout=5)
        try:
            return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        finally:
            db.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def wait_for(child: subprocess.Popen[str], condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if child.poll() is not None:
            out, err = child.communicate()
            pytest.fail(f"the run ended before {what}: exit {child.returncode}\n{out}\n{err}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def assert_gone(pid: int) -> None:
    """The process ``pid`` has ended (within a generous time: it was terminated)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"worker process {pid} is still running")
        time.sleep(0.05)


def start_child(tmp_path: Path, jobs: int) -> tuple[subprocess.Popen[str], Path, Path]:
    gate = tmp_path / "gate"
    gate.mkdir()
    store = tmp_path / "results.sqlite"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(store), str(jobs)],
                             env=child_env(**{GATE_ENV: str(gate)}), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return child, store, gate


def resume(store: Path) -> tuple[tuple[TaskResult, ...], list[ProgressEvent]]:
    events: list[ProgressEvent] = []
    with ResultsStore(store) as opened:
        results = execute(plan_tasks(scenario(), body=BODY), store=opened, resume=True,
                          progress=events.append)
    return tuple(r.without_traces() for r in results), events


def test_killed_run_keeps_finished_tasks_and_resume_skips_them(
        tmp_path: Path, reference: tuple[TaskResult, ...]) -> None:
    """SIGKILL in the middle of the third task: two tasks are in the store, intact; resume
    runs only the four others; the results equal an uninterrupted run's."""
    child, store, gate = start_child(tmp_path, jobs=1)
    wait_for(child, lambda: (gate / "waiting-adult-001-1").exists(),
             "the third task to start")
    assert finished_rows(store) == 2
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert finished_rows(store) == 2

    results, events = resume(store)
    assert (events[0].done, events[0].skipped, events[0].total) == (2, 2, 6)
    assert [e.task for e in events[1:]] == ["no_attacker/adult#001/seed 1",
                                           "legacy/adult#002/seed 1",
                                           "secure/adult#002/seed 1",
                                           "no_attacker/adult#002/seed 1"]
    assert results == reference
    assert finished_rows(store) == 6


@pytest.mark.slow
def test_ctrl_c_stops_worker_processes_keeps_finished_tasks_and_resumes(
        tmp_path: Path, reference: tuple[TaskResult, ...]) -> None:
    """SIGINT (Ctrl-C) to a run on two worker processes while both wait at the gate: it exits
    130 naming 4 of 6 tasks done, its workers end, and resume runs the remaining two."""
    child, store, gate = start_child(tmp_path, jobs=2)
    wait_for(child, lambda: (gate / "waiting-adult-002-1").exists()
             and (gate / "waiting-adult-001-1").exists() and finished_rows(store) == 4,
             "both workers to wait at the gate")
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert json.loads(out) == {"done": 4, "total": 6}
    assert "Traceback" not in err
    assert finished_rows(store) == 4
    workers = {int(f.read_text()) for f in gate.glob("waiting-*")}
    assert len(workers) == 2 and child.pid not in workers
    for pid in workers:
        assert_gone(pid)

    results, events = resume(store)
    assert (events[0].skipped, len(events)) == (4, 3)
    assert results == reference

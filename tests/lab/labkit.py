"""Shared helpers for the lab tests: short scenarios and test task bodies.

Test bodies are registered with the runner by import path (``labkit:...``),
so worker processes and child processes find them when this folder is on
their ``PYTHONPATH`` (:func:`child_env`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pumplab.sim.results import TaskResult
from pumplab.sim.runner import Task, register_task_body
from pumplab.sim.scenario import Scenario, apply_overrides, load_scenario
from pumplab.sim.standin import open_loop_stand_in

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"

#: Environment variable naming a folder: when set, :func:`gated_body` blocks the
#: ``no_attacker`` tasks until a file ``go`` appears there (after writing a ``waiting-*``
#: file holding the waiting process's id).
GATE_ENV = "PUMPLAB_TEST_GATE"

register_task_body("test-gated", "labkit:gated_body", stand_in=True)
register_task_body("test-failing", "labkit:failing_body", stand_in=True)
register_task_body("test-interrupt", "labkit:interrupting_body", stand_in=True)


def short_seed_508(hours: float = 1.0, **overrides: object) -> Scenario:
    """The main job's scenario, shortened (tests stay fast)."""
    return apply_overrides(load_scenario("seed-508"), hours=hours, **overrides)  # type: ignore[arg-type]


def gated_body(task: Task) -> TaskResult:
    """The stand-in body; ``no_attacker`` tasks wait at a gate when :data:`GATE_ENV` is set.

    Makes "killed in the middle of a task" a state the test can wait for,
    rather than a race against the machine's speed.
    """
    gate = os.environ.get(GATE_ENV)
    if gate and task.arm.name == "no_attacker":
        folder = Path(gate)
        (folder / f"waiting-{task.patient.slug}-{task.seed}").write_text(str(os.getpid()))
        while not (folder / "go").exists():
            time.sleep(0.05)
    return open_loop_stand_in(task)


def failing_body(task: Task) -> TaskResult:
    """Fails on the ``secure`` arm, runs the stand-in otherwise."""
    if task.arm.name == "secure":
        raise RuntimeError("simulated failure")
    return open_loop_stand_in(task)


def interrupting_body(task: Task) -> TaskResult:
    """As if Ctrl-C arrived during the ``no_attacker`` task."""
    if task.arm.name == "no_attacker":
        raise KeyboardInterrupt
    return open_loop_stand_in(task)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child Python that imports this worktree's pumplab and labkit."""
    env = dict(os.environ)
    paths = [str(SRC), str(HERE)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra)
    return env

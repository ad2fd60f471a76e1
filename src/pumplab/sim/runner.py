"""The lab's runner: one task per patient × arm × seed, on local processes or Dask.

A run is first a **pure description**: :func:`plan_tasks` turns a validated
scenario into a tuple of :class:`Task` values (no I/O, nothing started).  Each
task is self-contained and picklable: it carries the scenario, the arm, the
patient, the seed and the import path of its **task body**, the function that
runs it and returns a :class:`~pumplab.sim.results.TaskResult`.

Bodies are the seam where the real arms plug in.  Today the default body is
the open-loop stand-in (:mod:`pumplab.sim.standin`); the world built from the
whole scenario (radio, attackers, secure link, controllers) registers itself
with :func:`register_task_body` and becomes the default with
``default=True``, or is chosen per run with ``plan_tasks(body=NAME)``.

:func:`execute` runs tasks:

- ``jobs=1``: one after the other in this process;
- ``jobs=N``: on N local worker processes (``spawn``: a worker shares no
  state with the parent, so its results equal an in-process run's);
- ``dask=ADDRESS`` or ``dask="local"``: on a Dask distributed cluster (an
  existing scheduler, or a :class:`~distributed.LocalCluster` of ``jobs``
  single-threaded worker processes on loopback).  Never a home-made scheduler.

Results come back in plan order, whatever the order of completion.  With a
:class:`~pumplab.sim.store.ResultsStore`, each result is written in the parent
as soon as its task finishes; with ``resume=True``, tasks the store already
holds are loaded instead of run.  Ctrl-C (or a worker killed) stops the run:
finished tasks are kept in the store, pending ones are cancelled, and
:class:`RunInterrupted` (a :class:`KeyboardInterrupt`) says how far it got.

Deliberately not here: progress bars (a ``progress`` callback receives
:class:`ProgressEvent` values; the command line draws them) and the world
wiring itself (the bodies).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pumplab.sim.provenance import git_commit, pumplab_version
from pumplab.sim.results import Provenance, RunResult, TaskResult, sort_results
from pumplab.sim.scenario import (
    ArmSpec,
    PatientRef,
    Scenario,
    arms_for,
    patient_refs,
    scenario_hash,
    seeds_of,
)

if TYPE_CHECKING:
    from pumplab.sim.store import ResultsStore

__all__ = [
    "DEFAULT_BODY",
    "ProgressEvent",
    "RunInterrupted",
    "Task",
    "TaskFailed",
    "default_body",
    "execute",
    "plan_tasks",
    "provenance_for",
    "register_task_body",
    "run_scenario",
    "run_task",
    "task_bodies",
]

TaskBody = Callable[["Task"], TaskResult]

#: The stand-in body's name (the default until the world body registers).
DEFAULT_BODY: Final = "open-loop-stand-in"

_BODIES: dict[str, str] = {DEFAULT_BODY: "pumplab.sim.standin:open_loop_stand_in"}
_STAND_IN_BODIES: set[str] = {DEFAULT_BODY}
_default_body = DEFAULT_BODY


def register_task_body(name: str, target: str, *, default: bool = False,
                       stand_in: bool = False, replace: bool = False) -> None:
    """Register a task body by import path ``"package.module:function"``.

    The function takes a :class:`Task` and returns a ``TaskResult``.  Workers
    import it by that path, so it must be importable in a fresh process.
    ``default=True`` makes it the body :func:`plan_tasks` uses when none is
    named; ``stand_in=True`` marks a body that does not simulate whole
    scenarios (its runs say so in their provenance).
    """
    global _default_body
    module, sep, attr = target.partition(":")
    if not name or not module or not sep or not attr:
        raise ValueError(f"a task body needs a name and a 'module:function' path, got "
                         f"{name!r}, {target!r}")
    if name in _BODIES and not replace and _BODIES[name] != target:
        raise ValueError(f"task body {name!r} is already registered (pass replace=True)")
    _BODIES[name] = target
    if stand_in:
        _STAND_IN_BODIES.add(name)
    else:
        _STAND_IN_BODIES.discard(name)
    if default:
        _default_body = name


def task_bodies() -> dict[str, str]:
    """Registered task bodies: name → import path."""
    return dict(_BODIES)


def default_body() -> str:
    """The body :func:`plan_tasks` uses when none is named."""
    return _default_body


# ==========================================================================
# Tasks
# ==========================================================================

@dataclass(frozen=True, slots=True)
class Task:
    """One patient × arm × seed of a run, with everything needed to run it anywhere.

    ``out_dir`` is the run's output folder (histories go to
    :meth:`history_path`), or ``None`` for in-memory histories.
    ``keep_traces`` asks the body for per-minute traces in its result.
    """

    scenario: Scenario
    scenario_hash: str
    arm: ArmSpec
    patient: PatientRef
    seed: int
    body_name: str
    body_target: str
    out_dir: str | None = None
    keep_traces: bool = True
    several_seeds: bool = False

    @property
    def key(self) -> tuple[str, str, int]:
        """``(arm, patient, seed)``: the task's identity within its run."""
        return (self.arm.name, self.patient.name, self.seed)

    @property
    def label(self) -> str:
        return f"{self.arm.name}/{self.patient.name}/seed {self.seed}"

    def folder(self) -> Path:
        """``<out-dir>/<arm>/<patient>`` (``/seed-<S>`` when the run has several seeds)."""
        if self.out_dir is None:
            raise ValueError("this task has no out_dir")
        folder = Path(self.out_dir) / self.arm.name / self.patient.slug
        return folder / f"seed-{self.seed}" if self.several_seeds else folder

    def history_path(self) -> Path:
        """Where this task's pump history is written: ``<folder>/history.sqlite``."""
        return self.folder() / "history.sqlite"


def plan_tasks(scenario: Scenario, *, body: str | None = None, out_dir: str | Path | None = None,
               keep_traces: bool = True) -> tuple[Task, ...]:
    """The run's tasks, in plan order: seed, then patient, then arm.

    Pure: nothing runs and nothing is written.  ``body`` names a registered
    task body (default: :func:`default_body`).
    """
    name = default_body() if body is None else body
    if name not in _BODIES:
        raise ValueError(f"unknown task body {name!r}; registered: {', '.join(sorted(_BODIES))}")
    digest = scenario_hash(scenario)
    arms = arms_for(scenario)
    seeds = seeds_of(scenario)
    folder = None if out_dir is None else os.fspath(out_dir)
    return tuple(
        Task(scenario, digest, arm, patient, seed, name, _BODIES[name], folder, keep_traces,
             len(seeds) > 1)
        for seed in seeds for patient in patient_refs(scenario) for arm in arms
    )


def provenance_for(scenario: Scenario, *, body: str | None = None) -> Provenance:
    """The provenance of a run of ``scenario`` with ``body``."""
    name = default_body() if body is None else body
    seeds = seeds_of(scenario)
    return Provenance(
        pumplab_version=pumplab_version(), git_commit=git_commit(), scenario=scenario.name,
        scenario_hash=scenario_hash(scenario), seed=seeds[0], seeds=seeds,
        start=scenario.start, hours=scenario.hours, body=name,
        stand_in=name in _STAND_IN_BODIES)


def _resolve(target: str) -> TaskBody:
    module, _, attr = target.partition(":")
    func = importlib.import_module(module)
    for part in attr.split("."):
        func = getattr(func, part)
    return func  # type: ignore[return-value]


def run_task(task: Task) -> TaskResult:
    """Run one task with its body (in whichever process calls this)."""
    result = _resolve(task.body_target)(task)
    if result.key != task.key:
        raise RuntimeError(f"task body {task.body_name} returned {result.key} for {task.key}")
    return result


# ==========================================================================
# Execution
# ==========================================================================

@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """How far a run is: ``done`` of ``total`` tasks (``skipped`` of them resumed).

    ``task`` is the label of the task that just finished (``None`` for the
    first event, sent before any task runs).
    """

    done: int
    total: int
    skipped: int
    task: str | None


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped (Ctrl-C); finished tasks are kept in the store.

    A :class:`KeyboardInterrupt`, so the command line's Ctrl-C path handles it.
    """

    def __init__(self, done: int, total: int) -> None:
        self.done = done
        self.total = total
        super().__init__(f"interrupted after {done} of {total} tasks; finished tasks are kept")


class TaskFailed(RuntimeError):
    """A task raised; ``task`` names it.  Finished tasks are kept in the store."""

    def __init__(self, task: Task, cause: BaseException) -> None:
        self.task = task
        super().__init__(f"task {task.label} failed: {type(cause).__name__}: {cause}")


Progress = Callable[[ProgressEvent], None]


def execute(tasks: Sequence[Task], *, jobs: int = 1, dask: str | None = None,
            store: ResultsStore | None = None, resume: bool = False,
            store_traces: bool = False,
            progress: Progress | None = None) -> tuple[TaskResult, ...]:
    """Run ``tasks`` and return their results in the order of ``tasks``.

    ``store`` receives each result as its task finishes (traces too when
    ``store_traces``); ``resume`` loads the tasks the store already holds
    instead of running them.  ``progress`` is called before the first task
    and after each one.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if resume and store is None:
        raise ValueError("resume needs a store")
    if store_traces and not all(t.keep_traces for t in tasks):
        raise ValueError("store_traces needs tasks planned with keep_traces=True")
    order = [t.key for t in tasks]
    if len(set(order)) != len(order):
        raise ValueError("two tasks share an (arm, patient, seed) key")
    results: list[TaskResult] = []
    pending = list(tasks)
    if resume and store is not None:
        finished = {(r.arm, r.patient, r.seed): r
                    for r in store.load_results(tasks, traces=store_traces)}
        results = [finished[t.key] for t in tasks if t.key in finished]
        pending = [t for t in tasks if t.key not in finished]
    total, skipped = len(tasks), len(results)
    if progress is not None:
        progress(ProgressEvent(skipped, total, skipped, None))

    def finished_one(task: Task, result: TaskResult) -> None:
        if store is not None:
            store.write(task, result, traces=store_traces)
        results.append(result)
        if progress is not None:
            progress(ProgressEvent(len(results), total, skipped, task.label))

    if dask is not None:
        _run_dask(pending, dask, jobs, finished_one, lambda: len(results), total)
    elif jobs == 1 or len(pending) <= 1:
        _run_here(pending, finished_one, lambda: len(results), total)
    else:
        _run_pool(pending, jobs, finished_one, lambda: len(results), total)
    return sort_results(results, order)


def _run_here(tasks: Sequence[Task], finished: Callable[[Task, TaskResult], None],
              done: Callable[[], int], total: int) -> None:
    try:
        for task in tasks:
            try:
                result = run_task(task)
            except Exception as exc:
                raise TaskFailed(task, exc) from exc
            finished(task, result)
    except KeyboardInterrupt:
        # During a task or while its result is written (the store's transaction
        # rolls back): either way the finished tasks are committed.
        raise RunInterrupted(done(), total) from None


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group; the parent alone decides what
    # stops, so workers ignore it and are terminated by the parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_pool(tasks: Sequence[Task], jobs: int, finished: Callable[[Task, TaskResult], None],
              done: Callable[[], int], total: int) -> None:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx,
                                   initializer=_worker_init)
    futures = {executor.submit(run_task, task): task for task in tasks}
    rank = {task.key: i for i, task in enumerate(tasks)}
    remaining = set(futures)
    try:
        while remaining:
            ready, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            # Record in plan order among those that finished together.
            for future in sorted(ready, key=lambda f: rank[futures[f].key]):
                task = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # a task raised, or its worker died
                    raise TaskFailed(task, exc) from exc
                finished(task, result)
    except KeyboardInterrupt:
        _stop(executor, futures)
        raise RunInterrupted(done(), total) from None
    except BaseException:
        _stop(executor, futures)
        raise
    executor.shutdown(wait=True)


def _stop(executor: Any, futures: Iterable[Any]) -> None:
    """Cancel what has not started and end the workers now (not after their task)."""
    for future in futures:
        future.cancel()
    terminate = getattr(executor, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
    else:
        # Before 3.14 the executor has no public way to stop running workers;
        # its process table is the only handle on them.
        for process in list(getattr(executor, "_processes", {}).values()):
            process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)


def _run_dask(tasks: Sequence[Task], address: str, jobs: int,
              finished: Callable[[Task, TaskResult], None],
              done: Callable[[], int], total: int) -> None:
    if not tasks:
        return
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        from pumplab.errors import InputError

        raise InputError("Dask is not installed", source="--dask",
                         allowed="install pumplab[dask] (dask[distributed])") from exc
    with _dask_client(address, jobs, Client, LocalCluster) as client:
        futures = {}
        for index, task in enumerate(tasks):
            # Unique keys per run and task; pure=False: never reuse a cached result.
            key = f"pumplab-{task.scenario_hash[7:19]}-{task.body_name}-{index}-" \
                  f"{task.arm.name}-{task.patient.slug}-{task.seed}"
            futures[client.submit(run_task, task, key=key, pure=False)] = task
        try:
            for future in as_completed(list(futures)):  # type: ignore[no-untyped-call]
                task = futures[future]
                try:
                    result = future.result()
                except Exception as exc:
                    raise TaskFailed(task, exc) from exc
                finished(task, result)
        except KeyboardInterrupt:
            client.cancel(list(futures))
            raise RunInterrupted(done(), total) from None
        except BaseException:
            client.cancel(list(futures))
            raise


class _dask_client:
    """A client on ``address``, or on a LocalCluster for ``"local"``; closed on exit."""

    def __init__(self, address: str, jobs: int, client_type: Any, cluster_type: Any) -> None:
        self._address = address
        self._jobs = jobs
        self._client_type = client_type
        self._cluster_type = cluster_type
        self._cluster: Any = None
        self._client: Any = None

    def __enter__(self) -> Any:
        if self._address == "local":
            self._cluster = self._cluster_type(
                n_workers=self._jobs, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None)
            self._client = self._client_type(self._cluster)
        else:
            self._client = self._client_type(self._address)
        return self._client

    def __exit__(self, *exc: object) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def run_scenario(scenario: Scenario, *, body: str | None = None, jobs: int = 1,
                 dask: str | None = None, store: ResultsStore | None = None,
                 resume: bool = False, store_traces: bool = False,
                 out_dir: str | Path | None = None, keep_traces: bool = True,
                 progress: Progress | None = None) -> RunResult:
    """Plan, record and execute a run of ``scenario``: the one call for ``pumplab run``.

    The run's provenance is written to the store (if any) before the first
    task; the result holds every task's result in plan order.
    """
    tasks = plan_tasks(scenario, body=body, out_dir=out_dir, keep_traces=keep_traces)
    provenance = provenance_for(scenario, body=body)
    arms = arms_for(scenario)
    if store is not None:
        store.record_run(scenario, provenance, arms)
    results = execute(tasks, jobs=jobs, dask=dask, store=store, resume=resume,
                      store_traces=store_traces, progress=progress)
    return RunResult(provenance, arms, results)


"""The stand-in task body: the open-loop day, until the radio and attacks are wired.

What exists today is the open-loop day (:mod:`pumplab.sim.openloop`,
:func:`pumplab.sim.outcome.run_open_loop`): a person, a pump, a CGM, a meter
and a remote over the in-memory link.  This body runs it for one task (one
patient, one arm, one seed) with the **arm's pump mode**, and nothing else of
the scenario's threat model: no radio, no attacker, no controller, no capture.
Every result it returns says so: ``stand_in=True`` and ``not_simulated``
lists the scenario's parts it left out.  The attacker's insulin is therefore
zero and no attack succeeds, because no attack ran.

It honours: the patient (standard or generated), the duration, the start time
(the pump's clock and the time of day the meals and the person's day start
from), the seed, the meal scenario, the arm's pump mode, whether the remote is
worn, and the out-dir for the pump's durable history.

The real body (the world built from the whole scenario, on the radio, with
attackers and controllers) registers itself with
:func:`pumplab.sim.runner.register_task_body` and becomes the default; this
module then stays as the open-loop reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from pumplab.sim.results import ATTACKER_SOURCE, RunEvent, TaskResult, Traces
from pumplab.sim.scenario import Scenario, start_clock_ms

if TYPE_CHECKING:
    from pumplab.sim.runner import Task
    from pumplab.sim.world import World

__all__ = ["STAND_IN_BODY", "not_simulated", "open_loop_stand_in"]

#: The registry name of this body.
STAND_IN_BODY: Final = "open-loop-stand-in"

# Pump annunciations and person actions worth a mark on the time axis (the
# routine ones, bolus started/completed and meter checks, are in the insulin
# and carbs panels already).
_PUMP_KINDS: Final = frozenset({"alarm", "alert", "radio_suspend", "confirmation_needed"})
_PERSON_KINDS: Final = frozenset({
    "rescue_carbs", "rescue_gave_up", "cancel_unexpected_bolus", "resume_unexpected_suspend",
    "alarm_slept_through", "woke_with_low_symptoms", "unexpected_bolus_announced",
})


def not_simulated(scenario: Scenario, attackers: tuple[str, ...]) -> tuple[str, ...]:
    """The parts of ``scenario`` this body does not simulate, as key paths."""
    left: list[str] = []
    if scenario.link == "radio":
        left.append("link = radio (ran on the in-memory link)")
    if attackers:
        left.append("attackers: " + ", ".join(attackers))
    if scenario.controller.name != "none":
        left.append(f"controller = {scenario.controller.name}")
    if scenario.peripherals.controller_app.enabled:
        left.append("peripherals.controller_app")
    for name in ("cgm", "meter"):
        if not getattr(scenario.peripherals, name).enabled:
            left.append(f"peripherals.{name}.enabled = false (it was worn)")
    if scenario.pump.serial is not None:
        left.append("pump.serial")
    if scenario.pump.settings.model_dump(exclude_none=True):
        left.append("pump.settings")
    if scenario.pump.limits.model_dump(exclude_none=True):
        left.append("pump.limits")
    if scenario.capture is not None:
        left.append("capture")
    return tuple(left)


def _cohort_for(task: Task) -> object | None:
    ref = task.patient
    if ref.population is None:
        return None
    from pumplab.physiology.population import PopulationSampler

    pop = ref.population
    sampler = PopulationSampler(pop.population, np.random.default_rng(pop.seed),
                                groups=tuple(pop.groups))
    return sampler.subjects(ref.index, ref.index + 1)


def open_loop_stand_in(task: Task) -> TaskResult:
    """Run ``task`` as the open-loop day (see the module docstring for what it leaves out)."""
    from pumplab.metrics import CGM_HIGH_MG_DL, CGM_LOW_MG_DL
    from pumplab.physiology import Cohort
    from pumplab.sim.openloop import OpenLoopConfig
    from pumplab.sim.outcome import run_open_loop

    scenario = task.scenario
    history_path = None if task.out_dir is None else task.history_path()
    if history_path is not None:
        _set_aside(history_path)
    cohort = _cohort_for(task)
    assert cohort is None or isinstance(cohort, Cohort)
    config = OpenLoopConfig(
        patients=(task.patient.name,),
        minutes=scenario.minutes,
        seed=task.seed,
        mode=task.arm.mode,
        meals=scenario.meals,
        durable_history=history_path is not None,
        history_path=history_path,
        use_remote=scenario.peripherals.remote.enabled,
        cohort=cohort,
        start_clock_ms=start_clock_ms(scenario),
    )
    worlds: list[World] = []
    outcome = run_open_loop(config, prepare=worlds.append)
    world = worlds[0]
    patient = outcome.patients[0]
    trace = world.trace

    cgm = trace.cgm_mg_dl[0].copy()
    cgm[trace.cgm_flag[0] == "LOW"] = CGM_LOW_MG_DL
    cgm[trace.cgm_flag[0] == "HIGH"] = CGM_HIGH_MG_DL
    insulin = {source: trace.insulin(source)[0].copy() for source in trace.insulin_sources}
    insulin[ATTACKER_SOURCE] = np.zeros(trace.minutes + 1)
    events = []
    for e in trace.events:
        if e.source == "pump" and e.kind in _PUMP_KINDS:
            alarm = e.detail.get("alarm")
            code = f"{e.kind}:{alarm}" if alarm else e.kind
        elif e.source == "person" and e.kind in _PERSON_KINDS:
            code = e.kind
        else:
            continue
        events.append(RunEvent(e.time_ms / 60_000.0, e.source, e.kind, code))
    by_source = {k: round(float(v.sum()), 6) for k, v in sorted(insulin.items())}
    bg = patient.bg
    return TaskResult(
        arm=task.arm.name,
        mode=task.arm.mode,
        attack=task.arm.attack,
        patient=task.patient.name,
        seed=task.seed,
        scenario_hash=task.scenario_hash,
        body=task.body_name,
        start=scenario.start,
        minutes=scenario.minutes,
        attacker_insulin_u=0.0,
        withheld_insulin_u=0.0,
        total_insulin_u=round(float(trace.total_insulin_u()[0].sum()), 6),
        min_bg_mg_dl=float(patient.min_bg_mg_dl),
        tbr_54_pct=float(bg["tbr_54_pct"]),
        tbr_70_pct=float(bg["tbr_70_pct"]),
        tir_70_180_pct=float(bg["tir_70_180_pct"]),
        tar_180_pct=float(bg["tar_180_pct"]),
        attack_succeeded=False,
        alarms=tuple(dict.fromkeys(patient.alarms)),
        history_verified=bool(patient.history.get("ok", False)),
        history_path=patient.history_path,
        failure_reason="not simulated (stand-in body)" if task.arm.attackers else None,
        insulin_by_source_u=by_source,
        carbs_total_g=float(patient.carbs_g),
        metrics=dict(patient.bg),
        cgm_metrics=dict(patient.cgm),
        events=tuple(events),
        stand_in=True,
        not_simulated=not_simulated(scenario, task.arm.attackers),
        traces=Traces(trace.bg_mg_dl[0].copy(), cgm, trace.carbs_g[0].copy(), insulin)
        if task.keep_traces else None,
    )


def _set_aside(path: Path) -> None:
    """Move an unfinished task's history out of the way (never delete a history).

    A history at a task's path belongs to an attempt that did not finish
    (a finished task is skipped on resume); it is kept beside the new one as
    ``history.interrupted-N.sqlite``.
    """
    if not path.exists():
        return
    n = 1
    while (aside := path.with_name(f"{path.stem}.interrupted-{n}{path.suffix}")).exists():
        n += 1
    path.rename(aside)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.rename(aside.with_name(aside.name + suffix))

"""Run an open-loop day and read its outcome.

:func:`run_open_loop` builds the world (:mod:`pumplab.sim.openloop`), runs
it, closes and verifies every pump's history, and scores the trace with the
consensus metrics (on plasma glucose every minute and on the CGM every five).
The result is plain data (:class:`OpenLoopOutcome`), printable as text or JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pumplab.devices.history import VerifyReport, verify_file
from pumplab.metrics import CGM_HIGH_MG_DL, CGM_LOW_MG_DL, glycemic_metrics
from pumplab.sim.openloop import OpenLoopConfig, build_open_loop_world
from pumplab.sim.world import World

__all__ = ["OpenLoopOutcome", "PatientOutcome", "run_open_loop"]

@dataclass(frozen=True, slots=True)
class PatientOutcome:
    """One patient's day."""

    patient: str
    bg: dict[str, Any]
    cgm: dict[str, Any]
    insulin_u: dict[str, float]
    carbs_g: float
    rescue_carbs_g: float
    min_bg_mg_dl: float
    first_minute_below_40: int | None
    outside_validated_range: bool
    alarms: list[str]
    cancelled_boluses: int
    history_path: str | None
    history: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OpenLoopOutcome:
    """Every patient's outcome and where the files are."""

    config: dict[str, Any]
    patients: list[PatientOutcome]
    trace_path: str | None = None
    events_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def histories_ok(self) -> bool:
        return all(p.history.get("ok", False) for p in self.patients)

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "trace_path": self.trace_path,
            "events_path": self.events_path,
            "histories_ok": self.histories_ok,
            "patients": [_patient_dict(p) for p in self.patients],
        }


def _patient_dict(p: PatientOutcome) -> dict[str, Any]:
    return {
        "patient": p.patient,
        "bg_metrics": p.bg,
        "cgm_metrics": p.cgm,
        "insulin_u": p.insulin_u,
        "carbs_g": p.carbs_g,
        "rescue_carbs_g": p.rescue_carbs_g,
        "min_bg_mg_dl": p.min_bg_mg_dl,
        "first_minute_below_40": p.first_minute_below_40,
        "outside_validated_range": p.outside_validated_range,
        "alarms": p.alarms,
        "cancelled_boluses": p.cancelled_boluses,
        "history_path": p.history_path,
        "history": p.history,
    }


def _cgm_matrix(world: World) -> np.ndarray:
    trace = world.trace
    values = trace.cgm_mg_dl.copy()
    values[trace.cgm_flag == "LOW"] = CGM_LOW_MG_DL
    values[trace.cgm_flag == "HIGH"] = CGM_HIGH_MG_DL
    # The CGM samples every 5 minutes from minute 0; score on that grid.
    return values[:, ::5]


def run_open_loop(
    config: OpenLoopConfig,
    *,
    out_dir: Path | None = None,
    prepare: Callable[[World], None] | None = None,
    trace_times: Sequence[str] | None = None,
) -> OpenLoopOutcome:
    """Build, run and score an open-loop day; write the trace into ``out_dir``.

    ``prepare(world)`` runs after wiring and before the clock starts: the place
    to schedule extra events (a fault, a forged message) into the day.
    ``trace_times`` (the wall-clock text of minutes 0..M, from the caller who
    knows the start's UTC offset) adds the trace's ``time`` column.
    """
    world = build_open_loop_world(config)
    if prepare is not None:
        prepare(world)
    world.run()
    history_paths: list[str | None] = []
    reports: list[VerifyReport] = []
    for rig in world.rigs:
        rig.pump.stop()
        path = getattr(rig.history, "path", None)
        if path is None:
            reports.append(rig.history.verify())
        rig.history.close()
        if path is not None:
            # Verify the file as a fresh reader would, not the writer's view.
            reports.append(verify_file(path))
        history_paths.append(None if path is None else os.fspath(path))

    # Plasma glucose can reach 0 mg/dL in an overdose (no counter-regulation in
    # the 2008 model); the metrics accept it and score the risk indices there at
    # 1 mg/dL (docs/metrics.md).  The outcome also carries the severe-hypo record.
    bg_metrics = glycemic_metrics(world.trace.bg_mg_dl, 1.0)
    cgm_metrics = glycemic_metrics(_cgm_matrix(world), 5.0)
    summary = world.batch.summary()
    trace_path = events_path = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        trace_path = os.fspath(out_dir / "trace.csv")
        world.trace.write_csv(trace_path, times=trace_times)
        events_path = os.fspath(out_dir / "events.json")
        _write_events(world, Path(events_path))

    patients = []
    for i, rig in enumerate(world.rigs):
        report = reports[i]
        alarms = [e.kind + (f":{e.detail.get('alarm')}" if e.detail.get("alarm") else "")
                  for e in world.trace.events
                  if e.patient == i and e.source == "pump" and e.kind in ("alarm", "alert")]
        severe = int(summary.first_severe_hypo_minute[i])
        person = rig.person
        patients.append(PatientOutcome(
            patient=rig.name,
            bg=bg_metrics.patient(i).as_dict(),
            cgm=cgm_metrics.patient(i).as_dict(),
            insulin_u={s: round(float(world.trace.insulin(s)[i].sum()), 4)
                       for s in world.trace.insulin_sources},
            carbs_g=round(float(world.trace.carbs_g[i].sum()), 3),
            rescue_carbs_g=0.0 if person is None else person.rescue_carbs_g,
            min_bg_mg_dl=round(float(summary.bg_min_mg_dl[i]), 3),
            first_minute_below_40=None if severe < 0 else severe,
            outside_validated_range=bool(summary.outside_validated_range[i]),
            alarms=alarms,
            cancelled_boluses=0 if person is None else person.cancelled_boluses,
            history_path=history_paths[i],
            history={"ok": report.ok, "records": report.records,
                     "first_bad_seq": report.first_bad_seq, "reason": report.reason,
                     "head_seq": report.head_seq, "head_hash": report.head_hash},
        ))
    config_dict = {
        "patients": list(config.patients), "minutes": config.minutes, "seed": config.seed,
        "mode": config.mode, "meals": config.meals, "cgm_model": config.cgm_model,
        "durable_history": config.durable_history,
    }
    return OpenLoopOutcome(config_dict, patients, trace_path, events_path)


def _write_events(world: World, path: Path) -> None:
    rows = [{"time_ms": e.time_ms, "minute": e.time_ms / 60000.0,
             "patient": world.trace.patient_names[e.patient], "source": e.source,
             "kind": e.kind, "detail": e.detail} for e in world.trace.events]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(rows, indent=1, default=str))
    os.replace(tmp, path)


"""What a lab run produced: typed results and the ``pumplab.run/1`` JSON.

One :class:`TaskResult` per patient × arm × seed (one task of the runner):
the glucose trace, the CGM readings, insulin by source (with the series the
attacker caused), carbs, alarms and radio events, and the outcome numbers.
A :class:`RunResult` holds every task's result with the run's
:class:`Provenance` and its arms.

:func:`run_json` builds the ``pumplab.run/1`` document of issue 17::

    {"schema": "pumplab.run/1", "provenance": {...},
     "legacy": {...}, "secure": {...}, "no_attacker": {...}}

Each arm holds the cohort summary (:data:`ARM_KEYS`: sums of insulin, the
minimum of the minimum BG, means of the percentages, any success, the union
of alarm codes, all histories verified) and ``patients``, one object per
patient and seed with the same keys.  :func:`attacks_json` builds the
``pumplab.attacks/1`` rows of a matrix run, with 95 % intervals
(:mod:`pumplab.sim.stats`).

Pure data and pure functions: nothing here runs a simulation or touches a file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pumplab.sim.scenario import NO_ATTACKER, ArmSpec
from pumplab.sim.stats import bootstrap_mean_interval, wilson_interval

__all__ = [
    "ARM_KEYS",
    "ATTACKER_SOURCE",
    "ATTACKS_SCHEMA",
    "RUN_SCHEMA",
    "Provenance",
    "RunEvent",
    "RunResult",
    "TaskResult",
    "Traces",
    "attacks_json",
    "run_json",
    "sort_results",
    "summarize_arm",
]

FloatArray = npt.NDArray[np.float64]

RUN_SCHEMA: Final = "pumplab.run/1"
ATTACKS_SCHEMA: Final = "pumplab.attacks/1"
#: The insulin series of doses the attacker caused (ground truth, never seen by devices).
ATTACKER_SOURCE: Final = "attacker"
#: Digits kept in the JSON (0.1 mU, 0.0001 mg/dL, 0.0001 %).
_DIGITS: Final = 4

#: The keys every arm and every patient object carries, in order.
ARM_KEYS: Final = (
    "attacker_insulin_u",
    "withheld_insulin_u",
    "total_insulin_u",
    "min_bg_mg_dl",
    "tbr_54_pct",
    "tbr_70_pct",
    "tir_70_180_pct",
    "tar_180_pct",
    "attack_succeeded",
    "alarms",
    "history_verified",
)
_SUMMED: Final = ("attacker_insulin_u", "withheld_insulin_u", "total_insulin_u")
_MEANED: Final = ("tbr_54_pct", "tbr_70_pct", "tir_70_180_pct", "tar_180_pct")


@dataclass(frozen=True, slots=True)
class RunEvent:
    """Something shown on the time axis: an alarm, a person's action, a radio event.

    ``minute`` counts from the start of the run; ``source`` is who (``pump``,
    ``person``, ``radio``, ``attacker``); ``code`` is what, e.g.
    ``alarm:max_delivery`` or ``frame:forged_bolus``.
    """

    minute: float
    source: str
    kind: str
    code: str


@dataclass(frozen=True, slots=True, eq=False)
class Traces:
    """Per-minute series of one task, rows 0..minutes (row m = state after minute m-1).

    ``cgm_mg_dl`` is NaN where the sensor gave no reading (LOW/HIGH already
    replaced by 40/400 mg/dL); ``insulin_u`` maps each source (``basal``,
    ``bolus_<origin>``, :data:`ATTACKER_SOURCE`) to the units that reached the
    patient in each minute.
    """

    bg_mg_dl: FloatArray
    cgm_mg_dl: FloatArray
    carbs_g: FloatArray
    insulin_u: Mapping[str, FloatArray]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Traces):
            return NotImplemented
        return (_same(self.bg_mg_dl, other.bg_mg_dl) and _same(self.cgm_mg_dl, other.cgm_mg_dl)
                and _same(self.carbs_g, other.carbs_g)
                and sorted(self.insulin_u) == sorted(other.insulin_u)
                and all(_same(self.insulin_u[k], other.insulin_u[k]) for k in self.insulin_u))

    __hash__ = None  # type: ignore[assignment]

    def as_dict(self) -> dict[str, Any]:
        """Plain lists, NaN as ``None`` (JSON ``null``)."""
        return {"bg_mg_dl": _list(self.bg_mg_dl), "cgm_mg_dl": _list(self.cgm_mg_dl),
                "carbs_g": _list(self.carbs_g),
                "insulin_u": {k: _list(v) for k, v in sorted(self.insulin_u.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Traces:
        return cls(_array(data["bg_mg_dl"]), _array(data["cgm_mg_dl"]), _array(data["carbs_g"]),
                   {k: _array(v) for k, v in data["insulin_u"].items()})


def _same(a: FloatArray, b: FloatArray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


def _list(values: FloatArray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values.tolist()]


def _array(values: Sequence[float | None]) -> FloatArray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class TaskResult:
    """One patient × arm × seed: the outcome, and its traces when kept.

    ``metrics`` and ``cgm_metrics`` are the consensus metrics
    (:meth:`pumplab.metrics.GlycemicSummary.as_dict`) of plasma glucose every
    minute and of the CGM every five; the percentages above are plasma
    glucose's.  ``stand_in`` says the task body did not simulate the whole
    scenario; ``not_simulated`` lists what it left out.
    """

    arm: str
    mode: str
    attack: str | None
    patient: str
    seed: int
    scenario_hash: str
    body: str
    start: str
    minutes: int
    attacker_insulin_u: float
    withheld_insulin_u: float
    total_insulin_u: float
    min_bg_mg_dl: float
    tbr_54_pct: float
    tbr_70_pct: float
    tir_70_180_pct: float
    tar_180_pct: float
    attack_succeeded: bool
    alarms: tuple[str, ...]
    history_verified: bool
    history_path: str | None = None
    failure_reason: str | None = None
    insulin_by_source_u: Mapping[str, float] = field(default_factory=dict)
    carbs_total_g: float = 0.0
    metrics: Mapping[str, float | int | None] = field(default_factory=dict)
    cgm_metrics: Mapping[str, float | int | None] = field(default_factory=dict)
    events: tuple[RunEvent, ...] = ()
    stand_in: bool = False
    not_simulated: tuple[str, ...] = ()
    traces: Traces | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """``(arm, patient, seed)``: the task's identity within a run."""
        return (self.arm, self.patient, self.seed)

    def without_traces(self) -> TaskResult:
        return _replace(self, traces=None)

    def as_dict(self, *, traces: bool = False) -> dict[str, Any]:
        """Every field as plain JSON data (traces only when asked)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "traces":
                if traces and value is not None:
                    out["traces"] = value.as_dict()
                continue
            if f.name == "events":
                value = [[e.minute, e.source, e.kind, e.code] for e in value]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskResult:
        values = dict(data)
        values["alarms"] = tuple(values.get("alarms", ()))
        values["not_simulated"] = tuple(values.get("not_simulated", ()))
        values["events"] = tuple(RunEvent(float(m), s, k, c)
                                 for m, s, k, c in values.get("events", ()))
        raw_traces = values.pop("traces", None)
        values["traces"] = None if raw_traces is None else Traces.from_dict(raw_traces)
        return cls(**values)


def _replace(result: TaskResult, **changes: Any) -> TaskResult:
    import dataclasses

    return dataclasses.replace(result, **changes)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a run's numbers come from.

    ``scenario_hash`` is :func:`pumplab.sim.scenario.scenario_hash`; ``seed``
    the first of ``seeds``; ``start`` the run's start (ISO 8601 with offset);
    ``body`` the task body that produced the results (``stand_in`` when it
    does not simulate the whole scenario).
    """

    pumplab_version: str
    git_commit: str | None
    scenario: str
    scenario_hash: str
    seed: int
    seeds: tuple[int, ...]
    start: str
    hours: float
    body: str
    stand_in: bool

    def as_dict(self) -> dict[str, Any]:
        return {"pumplab_version": self.pumplab_version, "git_commit": self.git_commit,
                "scenario": self.scenario, "scenario_hash": self.scenario_hash,
                "seed": self.seed, "seeds": list(self.seeds), "start": self.start,
                "hours": self.hours, "body": self.body, "stand_in": self.stand_in}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        values = dict(data)
        values["seeds"] = tuple(values["seeds"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class RunResult:
    """A run: its provenance, its arms, and every task's result (in plan order)."""

    provenance: Provenance
    arms: tuple[ArmSpec, ...]
    results: tuple[TaskResult, ...]

    def arm(self, name: str) -> tuple[TaskResult, ...]:
        """The results of arm ``name``, in plan order."""
        return tuple(r for r in self.results if r.arm == name)

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    @property
    def is_matrix(self) -> bool:
        """True when arms run attacks one at a time (an attack matrix)."""
        return any(a.attack is not None for a in self.arms)

    @property
    def complete(self) -> bool:
        """True when every arm has a result for every patient and seed of the run."""
        patients = {r.patient for r in self.results}
        expected = len(self.arms) * len(patients) * len(self.provenance.seeds)
        return len({r.key for r in self.results}) == expected


# ==========================================================================
# pumplab.run/1
# ==========================================================================

def _round(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), _DIGITS)


def _patient_object(r: TaskResult) -> dict[str, Any]:
    out: dict[str, Any] = {"patient": r.patient, "seed": r.seed}
    for key in ARM_KEYS:
        value = getattr(r, key)
        if key == "alarms":
            out[key] = list(dict.fromkeys(value))
        elif isinstance(value, bool):
            out[key] = value
        else:
            out[key] = _round(value)
    out["history_path"] = r.history_path
    return out


def summarize_arm(results: Sequence[TaskResult], *, ci_seed: int = 0) -> dict[str, Any]:
    """The cohort summary of one arm, then ``patients``.

    Sums of insulin, the minimum of the minimum BG, means of the percentages
    (NaN-free: a patient's percentage is always defined on plasma glucose),
    ``attack_succeeded`` if any run succeeded, the sorted union of alarm codes,
    ``history_verified`` if every history verified.  With two or more runs,
    ``ci95`` holds the 95 % intervals: Wilson for the success rate, seeded
    percentile bootstrap for the means (and for mean insulin per run).
    """
    if not results:
        raise ValueError("an arm needs at least one result")
    out: dict[str, Any] = {}
    for key in _SUMMED:
        out[key] = _round(math.fsum(getattr(r, key) for r in results))
    out["min_bg_mg_dl"] = _round(min(r.min_bg_mg_dl for r in results))
    for key in _MEANED:
        out[key] = _round(math.fsum(getattr(r, key) for r in results) / len(results))
    successes = sum(1 for r in results if r.attack_succeeded)
    out["attack_succeeded"] = successes > 0
    out["alarms"] = sorted({code for r in results for code in r.alarms})
    out["history_verified"] = all(r.history_verified for r in results)
    out["runs"] = len(results)
    out["successes"] = successes
    if len(results) >= 2:
        ci: dict[str, list[float | None]] = {
            "attack_success_rate": [_round(v) for v in wilson_interval(successes, len(results))]}
        for key in (*_MEANED, "attacker_insulin_u", "withheld_insulin_u", "total_insulin_u"):
            interval = bootstrap_mean_interval([getattr(r, key) for r in results], seed=ci_seed)
            assert interval is not None
            ci[key if key in _MEANED else f"mean_{key}"] = [_round(v) for v in interval]
        out["ci95"] = ci
    out["patients"] = [_patient_object(r) for r in results]
    return out


def run_json(result: RunResult) -> dict[str, Any]:
    """The ``pumplab.run/1`` document: schema, provenance, then one object per arm run."""
    doc: dict[str, Any] = {"schema": RUN_SCHEMA, "provenance": result.provenance.as_dict()}
    for arm in result.arms:
        rows = result.arm(arm.name)
        if rows:
            doc[arm.name] = summarize_arm(rows)
    return doc


# ==========================================================================
# pumplab.attacks/1
# ==========================================================================

def _baseline_alarms(result: RunResult) -> dict[tuple[str, int], set[str]]:
    return {(r.patient, r.seed): set(r.alarms) for r in result.arm(NO_ATTACKER)}


def attacks_json(result: RunResult) -> dict[str, Any]:
    """The ``pumplab.attacks/1`` rows of a matrix run, one per attack arm.

    Each row: ``attack`` (the attacker's name), ``kind``, ``mode``, ``runs``,
    ``successes``, ``success_rate`` with its Wilson interval, the means of
    ``attacker_insulin_u`` and ``withheld_insulin_u`` and ``tbr_54_pct`` with
    bootstrap intervals, ``min_bg_mg_dl`` (the minimum over runs), ``detected``
    (some run raised an alarm code that the same patient and seed without the
    attacker did not), and ``failure_reasons`` (counts of the unsuccessful
    runs' reasons).
    """
    baseline = _baseline_alarms(result)
    rows: list[dict[str, Any]] = []
    for arm in result.arms:
        if arm.attack is None:
            continue
        runs = result.arm(arm.name)
        if not runs:
            continue
        rows.append(_attack_row(arm, runs, baseline))
    return {"schema": ATTACKS_SCHEMA, "provenance": result.provenance.as_dict(), "rows": rows}


def _attack_row(arm: ArmSpec, runs: Sequence[TaskResult],
                baseline: Mapping[tuple[str, int], set[str]]) -> dict[str, Any]:
    n = len(runs)
    successes = sum(1 for r in runs if r.attack_succeeded)
    reasons: dict[str, int] = {}
    for r in runs:
        if not r.attack_succeeded:
            reason = r.failure_reason or "unknown"
            reasons[reason] = reasons.get(reason, 0) + 1
    detected = any(set(r.alarms) - baseline.get((r.patient, r.seed), set()) for r in runs)

    def mean(key: str) -> float | None:
        return _round(math.fsum(getattr(r, key) for r in runs) / n)

    def interval(key: str) -> list[float | None] | None:
        found = bootstrap_mean_interval([getattr(r, key) for r in runs])
        return None if found is None else [_round(v) for v in found]

    return {
        "attack": arm.attackers[0] if arm.attackers else arm.name,
        "kind": arm.attack,
        "mode": arm.mode,
        "arm": arm.name,
        "runs": n,
        "successes": successes,
        "success_rate": _round(successes / n),
        "success_rate_ci95": [_round(v) for v in wilson_interval(successes, n)],
        "attacker_insulin_u": mean("attacker_insulin_u"),
        "attacker_insulin_u_ci95": interval("attacker_insulin_u"),
        "withheld_insulin_u": mean("withheld_insulin_u"),
        "withheld_insulin_u_ci95": interval("withheld_insulin_u"),
        "min_bg_mg_dl": _round(min(r.min_bg_mg_dl for r in runs)),
        "tbr_54_pct": mean("tbr_54_pct"),
        "tbr_54_pct_ci95": interval("tbr_54_pct"),
        "detected": detected,
        "failure_reasons": dict(sorted(reasons.items())),
    }


def sort_results(results: Iterable[TaskResult], order: Sequence[tuple[str, str, int]]
                 ) -> tuple[TaskResult, ...]:
    """``results`` in the order of task keys ``order`` (unknown keys last, stable)."""
    rank = {key: i for i, key in enumerate(order)}
    return tuple(sorted(results, key=lambda r: rank.get(r.key, len(rank))))

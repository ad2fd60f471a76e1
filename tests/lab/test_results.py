"""The result model, the pumplab.run/1 and pumplab.attacks/1 documents, and the intervals."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from pumplab.sim.results import (
    ARM_KEYS,
    RUN_SCHEMA,
    Provenance,
    RunEvent,
    RunResult,
    TaskResult,
    Traces,
    attacks_json,
    run_json,
    summarize_arm,
)
from pumplab.sim.scenario import ArmSpec
from pumplab.sim.stats import bootstrap_mean_interval, wilson_interval


def result(arm: str = "legacy", patient: str = "adult#001", seed: int = 1,
           **values: object) -> TaskResult:
    base: dict[str, object] = dict(
        arm=arm, mode="secure" if arm == "no_attacker" else "legacy", attack=None,
        patient=patient, seed=seed, scenario_hash="sha256:" + "0" * 64, body="test",
        start="2026-01-05T00:00:00+00:00", minutes=60, attacker_insulin_u=0.0,
        withheld_insulin_u=0.0, total_insulin_u=1.0, min_bg_mg_dl=100.0, tbr_54_pct=0.0,
        tbr_70_pct=0.0, tir_70_180_pct=100.0, tar_180_pct=0.0, attack_succeeded=False,
        alarms=(), history_verified=True)
    base.update(values)
    return TaskResult(**base)  # type: ignore[arg-type]


def provenance(seeds: tuple[int, ...] = (1,)) -> Provenance:
    return Provenance("0.1.0", None, "test", "sha256:" + "0" * 64, seeds[0], seeds,
                      "2026-01-05T00:00:00+00:00", 1.0, "test", False)


def test_arm_summary_sums_insulin_takes_min_bg_and_averages_percentages() -> None:
    """The cohort rule of issue 17, on numbers worked by hand."""
    rows = [result(patient="a", attacker_insulin_u=10.0, withheld_insulin_u=1.0,
                   total_insulin_u=30.0, min_bg_mg_dl=45.0, tbr_54_pct=10.0, tbr_70_pct=20.0,
                   tir_70_180_pct=60.0, tar_180_pct=20.0, attack_succeeded=True,
                   alarms=("alarm:a",), history_verified=True),
            result(patient="b", attacker_insulin_u=0.0, withheld_insulin_u=2.0,
                   total_insulin_u=20.0, min_bg_mg_dl=80.0, tbr_54_pct=0.0, tbr_70_pct=0.0,
                   tir_70_180_pct=90.0, tar_180_pct=10.0, attack_succeeded=False,
                   alarms=("alert:b", "alarm:a"), history_verified=False)]
    s = summarize_arm(rows)
    assert (s["attacker_insulin_u"], s["withheld_insulin_u"], s["total_insulin_u"]) == (
        10.0, 3.0, 50.0)
    assert s["min_bg_mg_dl"] == 45.0
    assert (s["tbr_54_pct"], s["tbr_70_pct"], s["tir_70_180_pct"], s["tar_180_pct"]) == (
        5.0, 10.0, 75.0, 15.0)
    assert s["attack_succeeded"] is True and s["history_verified"] is False
    assert s["alarms"] == ["alarm:a", "alert:b"]
    assert [p["patient"] for p in s["patients"]] == ["a", "b"]
    for p in s["patients"]:
        assert set(ARM_KEYS) <= set(p)
    assert s["ci95"]["attack_success_rate"] == [pytest.approx(v, abs=1e-4)
                                                for v in wilson_interval(1, 2)]


def test_run_json_has_the_schema_provenance_and_one_object_per_arm() -> None:
    """{"schema": "pumplab.run/1", "provenance": ..., "legacy": ..., ...}; JSON-serialisable."""
    arms = (ArmSpec("legacy", "legacy", ("x",)), ArmSpec("secure", "secure", ("x",)),
            ArmSpec("no_attacker", "secure"))
    run = RunResult(provenance(), arms, tuple(result(arm=a.name) for a in arms))
    doc = run_json(run)
    assert list(doc) == ["schema", "provenance", "legacy", "secure", "no_attacker"]
    assert doc["schema"] == RUN_SCHEMA
    assert set(doc["provenance"]) >= {"pumplab_version", "git_commit", "seed", "scenario_hash",
                                      "start"}
    for arm in ("legacy", "secure", "no_attacker"):
        assert list(doc[arm])[: len(ARM_KEYS)] == list(ARM_KEYS)
        assert isinstance(doc[arm]["attack_succeeded"], bool)
        assert isinstance(doc[arm]["alarms"], list)
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc


def test_run_json_leaves_out_arms_that_did_not_run() -> None:
    """--mode legacy: the document holds legacy and no_attacker only."""
    arms = (ArmSpec("legacy", "legacy", ("x",)), ArmSpec("no_attacker", "secure"))
    doc = run_json(RunResult(provenance(), arms, tuple(result(arm=a.name) for a in arms)))
    assert "secure" not in doc and {"legacy", "no_attacker"} <= set(doc)


def test_task_result_round_trips_through_plain_data() -> None:
    """as_dict/from_dict keep every field, traces included (NaN as null)."""
    traces = Traces(np.array([100.0, 99.5]), np.array([np.nan, 101.0]), np.zeros(2),
                    {"basal": np.array([0.0, 0.025]), "attacker": np.zeros(2)})
    r = result(events=(RunEvent(12.5, "pump", "alarm", "alarm:x"),), traces=traces,
               metrics={"mean_mg_dl": 99.75, "cv_pct": None}, not_simulated=("capture",))
    data = json.loads(json.dumps(r.as_dict(traces=True), allow_nan=False))
    assert TaskResult.from_dict(data) == r
    assert TaskResult.from_dict(r.as_dict()) == dataclasses.replace(r, traces=None)


def test_attack_rows_count_successes_and_detect_new_alarms() -> None:
    """One row per attack arm: runs, successes with a Wilson interval, means, detection
    against the same patient and seed with no attacker, failure reasons."""
    arms = (ArmSpec("fb@legacy", "legacy", ("fb",), "forged_bolus"),
            ArmSpec("fb@secure", "secure", ("fb",), "forged_bolus"),
            ArmSpec("no_attacker", "secure"))
    rows = []
    for p in ("a", "b", "c"):
        rows.append(result(arm="fb@legacy", patient=p, attack_succeeded=p != "c",
                           attacker_insulin_u=10.0 if p != "c" else 0.0,
                           failure_reason=None if p != "c" else "out of range"))
        rows.append(result(arm="fb@secure", patient=p, attack_succeeded=False,
                           alarms=("alert:unpaired",) if p == "a" else ("alarm:old",),
                           failure_reason="authentication"))
        rows.append(result(arm="no_attacker", patient=p, alarms=("alarm:old",)))
    doc = attacks_json(RunResult(provenance(), arms, tuple(rows)))
    legacy, secure = doc["rows"]
    assert doc["schema"] == "pumplab.attacks/1"
    assert (legacy["attack"], legacy["kind"], legacy["mode"]) == ("fb", "forged_bolus",
                                                                  "legacy")
    assert (legacy["runs"], legacy["successes"]) == (3, 2)
    assert legacy["success_rate_ci95"] == [pytest.approx(v, abs=1e-4)
                                           for v in wilson_interval(2, 3)]
    assert legacy["attacker_insulin_u"] == pytest.approx(20.0 / 3, abs=1e-4)
    assert legacy["failure_reasons"] == {"out of range": 1}
    assert legacy["detected"] is False
    assert secure["detected"] is True and secure["failure_reasons"] == {"authentication": 3}


# ----------------------------------------------------------------- intervals

@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 20), (1, 29), (15, 148), (81, 263),
                                      (20, 20), (7, 7)])
def test_wilson_interval_matches_scipy(k: int, n: int) -> None:
    """Wilson score interval equals scipy's binomtest(...).proportion_ci('wilson')."""
    ref = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(ref.low, abs=1e-12)
    assert high == pytest.approx(ref.high, abs=1e-12)


def test_wilson_interval_published_example() -> None:
    """Newcombe (1998), Table I: 81/263 gives 0.2553 to 0.3662."""
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


def test_wilson_interval_refuses_impossible_counts() -> None:
    for k, n in ((1, 0), (-1, 3), (4, 3)):
        with pytest.raises(ValueError):
            wilson_interval(k, n)


def test_bootstrap_interval_is_seeded_and_brackets_the_mean() -> None:
    """Same values and seed, same interval; it contains the sample mean; None below 2."""
    rng = np.random.default_rng(3)
    values = rng.normal(10.0, 2.0, size=40).tolist()
    a = bootstrap_mean_interval(values, seed=0)
    assert a == bootstrap_mean_interval(values, seed=0)
    assert a is not None and a[0] < float(np.mean(values)) < a[1]
    assert bootstrap_mean_interval(values, seed=1) != a
    assert bootstrap_mean_interval([1.0]) is None
    assert bootstrap_mean_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_bootstrap_interval_width_agrees_with_the_t_interval_on_normal_data() -> None:
    """On normal data the percentile bootstrap and the t interval nearly agree."""
    values = np.random.default_rng(5).normal(50.0, 5.0, size=200)
    boot = bootstrap_mean_interval(values.tolist())
    assert boot is not None
    t = scipy_stats.t.interval(0.95, df=values.size - 1, loc=values.mean(),
                               scale=scipy_stats.sem(values))
    assert boot[0] == pytest.approx(t[0], abs=0.15) and boot[1] == pytest.approx(t[1], abs=0.15)


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_the_observed_rate_within_0_and_1(kn: tuple[int, int]) -> None:
    """For any k of n: 0 <= low <= k/n <= high <= 1."""
    k, n = kn
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


@given(st.lists(st.tuples(st.floats(0, 50), st.floats(1, 400), st.floats(0, 100),
                          st.booleans()), min_size=1, max_size=8))
def test_arm_summary_bounds_hold_for_any_cohort(
        rows: list[tuple[float, float, float, bool]]) -> None:
    """Sum of insulin, min of minimum BG, mean of percentages within the patients' range."""
    results = [result(patient=f"p{i}", attacker_insulin_u=u, min_bg_mg_dl=bg,
                      tir_70_180_pct=tir, attack_succeeded=ok)
               for i, (u, bg, tir, ok) in enumerate(rows)]
    s = summarize_arm(results)
    assert s["attacker_insulin_u"] == pytest.approx(sum(r[0] for r in rows), abs=1e-3)
    assert s["min_bg_mg_dl"] == pytest.approx(min(r[1] for r in rows), abs=1e-4)
    tirs = [r[2] for r in rows]
    assert min(tirs) - 1e-4 <= s["tir_70_180_pct"] <= max(tirs) + 1e-4
    assert s["attack_succeeded"] == any(r[3] for r in rows)
    assert s["successes"] == sum(r[3] for r in rows) and len(s["patients"]) == len(rows)

"""The lab runner on 1 and 2 local processes: the attack matrix, speed-up measured in one run.

    python -m benchmarks.lab_runner [--patients NAMES|all|N] [--hours H] [--jobs 1,2] [--json]

Runs the built-in ``attack-matrix`` scenario (every attack alone, legacy and
secure, plus no attacker; one task per patient × arm × seed) with each
``--jobs`` value in turn, checks that every run returns the same results, and
prints wall time, tasks per second and the speed-up over the first value.
Issue 18's configuration is ``--patients all --hours 24`` (30 patients × 11
attacks × 2 modes + no attacker = 690 patient-days); the defaults are a small
version for a quick check.

Until the radio and attacks are wired, the task body is the open-loop
stand-in (docs/lab.md), so the figures measure the runner's scaling on the
open-loop day, not the cost of the attacks.  Each ``jobs`` value starts its
own worker processes (spawn), so process start-up is included: that is what a
user waits for.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from pumplab.sim.runner import execute, plan_tasks
from pumplab.sim.scenario import apply_overrides, load_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", default="adult#001,adolescent#001,child#001")
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--jobs", default="1,2", help="comma-separated process counts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    scenario = apply_overrides(load_scenario("attack-matrix"), patients=args.patients,
                               hours=args.hours)
    tasks = plan_tasks(scenario, keep_traces=False)
    jobs_list = [int(j) for j in args.jobs.split(",")]
    execute(tasks[:1])  # load the compiled kernel in this process before timing
    rows = []
    reference = None
    for jobs in jobs_list:
        start = time.perf_counter()
        results = execute(tasks, jobs=jobs)
        seconds = time.perf_counter() - start
        if reference is None:
            reference = results
        elif results != reference:
            raise SystemExit(f"jobs={jobs} returned different results")
        rows.append({"jobs": jobs, "seconds": round(seconds, 2),
                     "tasks_per_s": round(len(tasks) / seconds, 2)})
    base = rows[0]["seconds"]
    for row in rows:
        row["speed_up"] = round(base / row["seconds"], 2)
    report = {"tasks": len(tasks), "patients": args.patients, "hours": args.hours,
              "cpus": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
              "rows": rows}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"attack-matrix, {len(tasks)} tasks ({args.patients}, {args.hours:g} h), "
          f"{os.cpu_count()} CPUs, load {report['load_avg_1min']}")
    for row in rows:
        print(f"  jobs={row['jobs']}: {row['seconds']:.1f} s, {row['tasks_per_s']:.2f} "
              f"tasks/s, speed-up {row['speed_up']:.2f}x")


if __name__ == "__main__":
    main()

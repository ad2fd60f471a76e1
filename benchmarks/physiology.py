"""Benchmark of the batched UVA/Padova simulator against simglucose, on one core.

``python -m benchmarks.physiology [--sizes 1,30,1000,10000] [--simglucose-days 1]
[--repeat 3] [--replaybg-patients 1000] [--skip-memory] [--json]`` measures, in one run:

* simulated patient-days per second of :func:`pumplab.physiology.simulate`
  (default backend, no trace) for batches of 1, 30, 1,000 and 10,000
  patients, in steady state (compiled code already loaded; best of
  ``--repeat`` runs), and the same for simglucose 0.2.11's ``T1DPatient`` on
  the same inputs (``--simglucose-days`` patient-days of adult#001), and the
  ratios;
* start-up: importing the package, the first simulation in a fresh process
  with an empty numba cache (compile) and with a warm cache (load);
* py-replay-bg 1.4's numba kernel (ReplayBG's 9-state single-meal model,
  one backward-Euler step a minute) over the same day, ns per patient-minute
  beside pumplab's (a benchmark-only peer: ``pip install 'pumplab[bench]'``;
  ``--replaybg-patients 0`` skips it);
* the per-call cost of :meth:`PatientBatch.step` (one minute) for 1, 30 and
  1,000 patients;
* peak memory (max resident set size from ``getrusage`` of a child process)
  of a 10,000-patient day without a trace through the library, and through
  the command line (``pumplab patient simulate --population 10000``) without
  a trace, with ``--meals random``, with ``--cgm --out`` and with both.

The day is the same for every patient: 1 U/h basal, meals 07:00 45 g, 12:00
70 g and 18:30 80 g each with a bolus of carbs / 10 U (so the step control's
meal refinement is exercised as in normal use).  Batches of 1,000 and 10,000
are generated subjects (seed 0), 30 the standard cohort, 1 adult#001.

Threads: ``NUMBA_NUM_THREADS=1`` and single-threaded BLAS are forced before
numba/numpy load; the kernel has no ``parallel=True``.  The machine may be
shared: the benchmark reports the load average at start and end; rerun when
it is quiet if the figures look noisy.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

MINUTES = 1440
MEALS = ((420, 45.0), (720, 70.0), (1110, 80.0))
BASAL_U_PER_MIN = 1.0 / 60.0
CARB_RATIO = 10.0


def day_inputs() -> tuple[np.ndarray, np.ndarray]:
    """The benchmark day, shared by every patient: (carbs_g, insulin_u), each (1440,)."""
    carbs = np.zeros(MINUTES)
    insulin = np.full(MINUTES, BASAL_U_PER_MIN)
    for minute, grams in MEALS:
        carbs[minute] = grams
        insulin[minute] += grams / CARB_RATIO
    return carbs, insulin


def _cohort(n: int) -> Any:
    from pumplab.physiology import generate_population, load_cohort

    if n == 1:
        return load_cohort().select(["adult#001"])
    if n == 30:
        return load_cohort()
    return generate_population(n, np.random.default_rng(0))


def bench_pumplab(sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    """Steady-state patient-days per second of simulate() for each batch size."""
    from pumplab.physiology import simulate

    carbs, insulin = day_inputs()
    simulate(_cohort(1), carbs[:10], insulin[:10], trace_bg=False)  # load compiled code
    rows = []
    for n in sizes:
        cohort = _cohort(n)
        # Small batches are repeated within one timing so each timing lasts ~0.5 s.
        inner = max(1, 1000 // n)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(inner):
                simulate(cohort, carbs, insulin, trace_bg=False)
            best = min(best, (time.perf_counter() - t0) / inner)
        rows.append(
            {
                "patients": n,
                "seconds_per_day": best,
                "patient_days_per_s": n / best,
                "ns_per_patient_minute": best / (n * MINUTES) * 1e9,
            }
        )
    return rows


def bench_simglucose(days: int) -> dict[str, Any]:
    """simglucose's T1DPatient stepped minute by minute on the same day (adult#001)."""
    from simglucose.patient.t1dpatient import Action, T1DPatient

    carbs, insulin = day_inputs()
    t0 = time.perf_counter()
    for _ in range(days):
        patient = T1DPatient.withName("adult#001")
        for m in range(MINUTES):
            patient.step(Action(CHO=float(carbs[m]), insulin=float(insulin[m])))
    elapsed = time.perf_counter() - t0
    import importlib.metadata

    return {
        "version": importlib.metadata.version("simglucose"),
        "patient_days": days,
        "seconds_per_day": elapsed / days,
        "patient_days_per_s": days / elapsed,
    }


def bench_replaybg(patients: int, repeat: int) -> dict[str, Any]:
    """py-replay-bg 1.4's numba kernel over the same day, one patient-day per call.

    The peer is ReplayBG's single-meal T1D model (Cappon et al., IEEE TBME 2023):
    9 states, one backward-Euler step a minute, compiled with numba
    (``model_step_equations_t1d.twin_single_meal``, the loop its twinning
    uses).  A different model from UVA/Padova's 13 states: this compares the
    cost of a patient-minute, not the physiology.  Its default parameters
    (``ModelParametersT1DSingleMeal``) for a 70 kg patient; the day's inputs in
    its units (mU/kg/min of insulin with its 8-minute delay, mg/kg/min of
    carbohydrate).  Never imported by the package (a benchmark-only extra).
    """
    import importlib.metadata

    import pandas as pd
    from py_replay_bg.model.model_parameters_t1d import ModelParametersT1DSingleMeal
    from py_replay_bg.model.model_step_equations_t1d import twin_single_meal

    carbs, insulin = day_inputs()
    body_weight_kg = 70.0
    per_kg = 1000.0 / body_weight_kg  # U -> mU/kg, g -> mg/kg
    basal = np.full(MINUTES, BASAL_U_PER_MIN)
    u2ss = BASAL_U_PER_MIN * per_kg
    mp = ModelParametersT1DSingleMeal(pd.DataFrame({"basal": basal}), body_weight_kg, u2ss)
    n = MINUTES + 1  # x[:, 0] is the initial state, as in its simulate()
    delay = int(mp.tau)
    bolus_delayed = np.concatenate([np.zeros(delay), (insulin - basal) * per_kg])[:n]
    basal_delayed = np.concatenate([np.full(delay, u2ss), basal * per_kg, [u2ss]])[:n]
    meal_delayed = np.concatenate([carbs * per_kg, [0.0]])
    t_hour = np.arange(n) / 60.0
    # The constants its simulate() derives before calling the kernel.
    ki1 = u2ss / mp.kd
    ki2 = mp.kd / mp.ka2 * ki1
    ipb = mp.ka2 / mp.ke * ki2
    constants = (
        np.log(mp.Gb) ** mp.r2, np.log(60.0) ** mp.r2, 10.0 * mp.r1,
        1.0 / (1.0 + mp.kgri), 1.0 / (1.0 + mp.kempt), 1.0 / (1.0 + mp.kd),
        mp.r2, mp.kempt, mp.kd, mp.ka2, mp.ke, mp.p2, mp.SI, mp.VI, mp.VG, ipb,
        mp.SG, mp.Gb, mp.f, mp.kabs, mp.alpha, np.zeros(n),
    )  # fmt: skip
    x = np.zeros((9, n))
    x0 = [mp.G0, mp.Xpb, 0.0, 0.0, mp.Qgutb, ki1, ki2, ipb, mp.G0]

    def day() -> np.ndarray:
        x[:, 0] = x0
        out: np.ndarray = twin_single_meal(
            n, x, bolus_delayed, basal_delayed, meal_delayed, t_hour, *constants
        )
        return out

    trace = day()  # compile (numba, not cached by the peer) and check the day is sane
    if not np.isfinite(trace).all():
        raise RuntimeError("py-replay-bg's day did not stay finite")
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(patients):
            day()
        best = min(best, time.perf_counter() - t0)
    glucose = trace[0]
    return {
        "version": importlib.metadata.version("py-replay-bg"),
        "patient_days": patients,
        "seconds_per_day": best / patients,
        "patient_days_per_s": patients / best,
        "ns_per_patient_minute": best / (patients * MINUTES) * 1e9,
        "glucose_mg_dl_min_mean_max": [float(glucose.min()), float(glucose.mean()),
                                       float(glucose.max())],
    }


def bench_step(sizes: list[int], minutes: int = 2000) -> list[dict[str, Any]]:
    """Wall time per PatientBatch.step() call (one minute) in steady state."""
    from pumplab.physiology import PatientBatch

    carbs, insulin = day_inputs()
    rows = []
    for n in sizes:
        batch = PatientBatch(_cohort(n))
        zero = np.zeros(n)
        ins = np.full(n, BASAL_U_PER_MIN)
        batch.step(zero, ins)
        t0 = time.perf_counter()
        for _ in range(minutes):
            batch.step(zero, ins)
        per_call = (time.perf_counter() - t0) / minutes
        rows.append({"patients": n, "us_per_step": per_call * 1e6})
    del carbs, insulin
    return rows


_STARTUP_CHILD = textwrap.dedent(
    """
    import time, sys
    t0 = time.perf_counter()
    import numpy as np
    from pumplab.physiology import load_cohort, simulate
    t1 = time.perf_counter()
    simulate(load_cohort().select(["adult#001"]), np.zeros(10), np.zeros(10), trace_bg=False)
    t2 = time.perf_counter()
    simulate(load_cohort().select(["adult#001"]), np.zeros(10), np.zeros(10), trace_bg=False)
    t3 = time.perf_counter()
    print(t1 - t0, t2 - t1, t3 - t2)
    """
)


def bench_startup() -> dict[str, float]:
    """Import time, first call with an empty numba cache (compile), first call with a warm one."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(2):  # first: empty cache -> compile and write; second: load
            out = subprocess.run(
                [sys.executable, "-c", _STARTUP_CHILD], env=env, capture_output=True, text=True,
                check=True,
            )  # fmt: skip
            runs.append([float(v) for v in out.stdout.split()])
    return {
        "import_s": runs[1][0],
        "first_call_compile_s": runs[0][1],
        "first_call_cached_s": runs[1][1],
        "second_call_s": runs[1][2],
    }


_MEMORY_CHILD = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from benchmarks.physiology import day_inputs
    from pumplab.physiology import generate_population, simulate
    cohort = generate_population(10000, np.random.default_rng(0))
    carbs, insulin = day_inputs()
    result = simulate(cohort, carbs, insulin, trace_bg=False)
    assert result.bg_mg_dl is None
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)

_CLI_CHILD = textwrap.dedent(
    """
    import resource, subprocess, sys, time
    t0 = time.perf_counter()
    done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    print(done.returncode, elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    """
)


#: The command-line runs whose peak memory is measured (10,000 patients x 1 day each).
CLI_MEMORY_RUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("no trace", ()),
    ("--meals random", ("--meals", "random")),
    ("--cgm --out", ("--cgm", "--out", "{tmp}/trace.csv")),
    ("--meals random --cgm --out", ("--meals", "random", "--cgm", "--out", "{tmp}/trace.csv")),
)


def bench_memory() -> dict[str, Any]:
    """Peak RSS (MiB) of 10,000-patient days: the library, and each command line of the table."""
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    lib = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD], env=env, capture_output=True, text=True, check=True
    )
    carbs, insulin = day_inputs()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.csv"
        lines = ["minute,carbs_g,insulin_u"]
        lines += [f"{m},{float(carbs[m])!r},{float(insulin[m])!r}" for m in range(MINUTES)]
        inputs.write_text("\n".join(lines) + "\n")
        no_carbs = Path(tmp) / "insulin-only.csv"  # --meals supplies the carbohydrate
        lines = ["minute,carbs_g,insulin_u"]
        lines += [f"{m},0,{float(insulin[m])!r}" for m in range(MINUTES)]
        no_carbs.write_text("\n".join(lines) + "\n")
        for label, extra in CLI_MEMORY_RUNS:
            source = no_carbs if "--meals" in extra else inputs
            options = [a.format(tmp=tmp) for a in extra]
            command = [sys.executable, "-m", "pumplab.cli.main", "patient", "simulate",
                       "--population", "10000", "--inputs", str(source), *options,
                       "--json"]  # fmt: skip
            cli = subprocess.run(
                [sys.executable, "-c", _CLI_CHILD, *command],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            code, elapsed, rss_kib = cli.stdout.split()
            if int(code) != 0:
                raise RuntimeError(f"{label}: the command line failed (exit {code})")
            runs.append({
                "options": label,
                "command": "pumplab patient simulate --population 10000 --inputs DAY.csv "
                + " ".join(extra).replace("{tmp}/", "") + " --json",
                "peak_rss_mib": int(rss_kib) / 1024,
                "wall_s": float(elapsed),
            })  # fmt: skip
            (Path(tmp) / "trace.csv").unlink(missing_ok=True)
    return {"library_peak_rss_mib": int(lib.stdout.split()[-1]) / 1024, "cli": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark pumplab.physiology vs simglucose.")
    parser.add_argument("--sizes", default="1,30,1000,10000")
    parser.add_argument("--simglucose-days", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--replaybg-patients", type=int, default=1000,
        help="patient-days of py-replay-bg per timing (0: skip the peer)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    from pumplab.physiology import DEFAULT_STEPS, default_backend

    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_start": os.getloadavg(),
            "numba_num_threads": os.environ["NUMBA_NUM_THREADS"],
        },
        "backend": default_backend(),
        "steps": repr(DEFAULT_STEPS),
        "day": {"minutes": MINUTES, "meals": MEALS, "basal_u_per_h": 1.0},
    }
    report["startup"] = bench_startup()
    report["pumplab"] = bench_pumplab(sizes, args.repeat)
    report["simglucose"] = bench_simglucose(args.simglucose_days)
    ref = report["simglucose"]["patient_days_per_s"]
    for row in report["pumplab"]:
        row["ratio_vs_simglucose"] = row["patient_days_per_s"] / ref
    if args.replaybg_patients > 0:
        try:
            report["replaybg"] = bench_replaybg(args.replaybg_patients, args.repeat)
        except ImportError as exc:
            report["replaybg"] = {"error": f"py-replay-bg not installed ({exc}); "
                                  "pip install 'pumplab[bench]'"}  # fmt: skip
        else:
            peer = report["replaybg"]["ns_per_patient_minute"]
            for row in report["pumplab"]:
                row["ratio_vs_replaybg"] = peer / row["ns_per_patient_minute"]
    # The per-call cost of stepping, always for these three sizes (the docstring's).
    report["step"] = bench_step([1, 30, 1000])
    if not args.skip_memory:
        report["memory"] = bench_memory()
    report["machine"]["load_average_end"] = os.getloadavg()

    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    m = report["machine"]
    print(f"pumplab.physiology benchmark — backend {report['backend']}, {report['steps']}")
    load = f"{m['load_average_start'][0]:.2f} -> {m['load_average_end'][0]:.2f}"
    print(f"python {m['python']}, {m['cpus']} cpus, NUMBA_NUM_THREADS=1, load average {load}")
    s = report["startup"]
    print(f"start-up: import {s['import_s']:.2f} s; first simulation: compile "
          f"{s['first_call_compile_s']:.2f} s, from cache {s['first_call_cached_s']:.2f} s "
          f"(then {s['second_call_s'] * 1e3:.2f} ms)")  # fmt: skip
    sg = report["simglucose"]
    print(f"simglucose {sg['version']} T1DPatient: {sg['seconds_per_day']:.2f} s per patient-day "
          f"({sg['patient_days']} patient-day(s) of adult#001)")  # fmt: skip
    print(f"{'patients':>9}  {'s/day':>9}  {'patient-days/s':>15}  {'ns/patient-min':>15}  "
          f"{'x simglucose':>13}")  # fmt: skip
    for row in report["pumplab"]:
        print(f"{row['patients']:>9}  {row['seconds_per_day']:>9.4f}  "
              f"{row['patient_days_per_s']:>15.1f}  {row['ns_per_patient_minute']:>15.1f}  "
              f"{row['ratio_vs_simglucose']:>13.0f}")  # fmt: skip
    rb = report.get("replaybg")
    if rb is not None and "error" in rb:
        print(rb["error"])
    elif rb is not None:
        best = max(report["pumplab"], key=lambda r: r["patient_days_per_s"])
        print(f"py-replay-bg {rb['version']} (9-state model, 1 backward-Euler step/min): "
              f"{rb['ns_per_patient_minute']:.1f} ns per patient-minute; pumplab's best "
              f"{best['ns_per_patient_minute']:.1f} ns ({best['patients']} patients) = "
              f"{best['ratio_vs_replaybg']:.2f}x its speed")  # fmt: skip
    print(
        "PatientBatch.step (one minute): "
        + ", ".join(f"{r['patients']} patients {r['us_per_step']:.1f} µs" for r in report["step"])
    )
    if "memory" in report:
        mem = report["memory"]
        print(f"peak RSS, 10,000 patients x 1 day: library, no trace "
              f"{mem['library_peak_rss_mib']:.0f} MiB; command line (incl. population "
              "generation):")  # fmt: skip
        for run in mem["cli"]:
            print(f"  {run['options']:<28} {run['peak_rss_mib']:6.0f} MiB  {run['wall_s']:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

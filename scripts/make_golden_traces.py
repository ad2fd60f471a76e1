"""Regenerate the simglucose golden traces the physiology fidelity tests compare against.

Runs the reference implementation, simglucose 0.2.11's ``T1DPatient``, for all
30 standard subjects on two days and writes ``tests/golden/simglucose_traces.npz``:

* ``normal``: basal every minute (u2ss x BW / 6000 U/min, what holds the
  steady state), meals 07:00 45 g, 12:00 70 g, 12:05 20 g (announced while the
  70 g are still being eaten: exercises the meal queue), 15:30 17.5 g (not a
  multiple of the 5 g/min eating rate) and 18:30 80 g, each with a bolus of
  carbs / CR units in the same minute;
* ``overdose``: the same day plus, at 08:00, an extra bolus of one total daily
  insulin (TDI from Quest.csv), which drives every subject below 40 mg/dL and
  most of them to the model's zero-glucose gate.

Each patient is stepped minute by minute with
``step(Action(CHO=grams_this_minute, insulin=units_this_minute))`` (simglucose's
action is a per-minute rate held for one minute, so the values are the grams and
units that enter in that minute).  Recorded per minute, including the initial
state: plasma glucose Gp/Vg (``state[3] / Vg``) and interstitial glucose
``observation.Gsub`` (``state[12] / Vg``).  The inputs are stored with the
traces, so the tests replay exactly what simglucose saw.

Usage (about 6 minutes on 2 cores; simglucose needs ~11 s per patient-day)::

    python scripts/make_golden_traces.py [--processes 2] [--out tests/golden/simglucose_traces.npz]

This script is the only place the golden file comes from; it refuses to run
with any simglucose version other than the pinned one.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import os
import sys
import tempfile
from multiprocessing import Pool
from pathlib import Path

import numpy as np

PINNED_SIMGLUCOSE = "0.2.11"
MINUTES = 1440
DAYS = ("normal", "overdose")
#: (minute of day, grams) — see the module docstring.
MEALS = ((420, 45.0), (720, 70.0), (725, 20.0), (930, 17.5), (1110, 80.0))
OVERDOSE_MINUTE = 480
OVERDOSE_TDI_FRACTION = 1.0

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "golden" / "simglucose_traces.npz"


def _simglucose_params_dir() -> Path:
    import simglucose

    return Path(simglucose.__file__).resolve().parent / "params"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def day_inputs(day: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, carbs_g (30, M), insulin_u (30, M)) for ``day``, from simglucose's own files."""
    params = _read_csv(_simglucose_params_dir() / "vpatient_params.csv")
    quest = {row["Name"]: row for row in _read_csv(_simglucose_params_dir() / "Quest.csv")}
    names = [row["Name"] for row in params]
    carbs = np.zeros((len(names), MINUTES))
    insulin = np.zeros((len(names), MINUTES))
    for i, row in enumerate(params):
        # simglucose's own basal expression (t1dpatient.py: params.u2ss * params.BW / 6000).
        basal = float(row["u2ss"]) * float(row["BW"]) / 6000
        cr = float(quest[row["Name"]]["CR"])
        insulin[i, :] = basal
        for minute, grams in MEALS:
            carbs[i, minute] += grams
            insulin[i, minute] += grams / cr
        if day == "overdose":
            insulin[i, OVERDOSE_MINUTE] += OVERDOSE_TDI_FRACTION * float(quest[row["Name"]]["TDI"])
    return names, carbs, insulin


def run_simglucose(
    name: str, carbs_g: np.ndarray, insulin_u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Step simglucose's T1DPatient minute by minute; returns (Gp/Vg, Gsub), length M + 1."""
    from simglucose.patient.t1dpatient import Action, T1DPatient

    patient = T1DPatient.withName(name)
    vg = float(patient._params.Vg)
    m = carbs_g.shape[0]
    bg = np.empty(m + 1)
    gsub = np.empty(m + 1)
    bg[0] = patient.state[3] / vg
    gsub[0] = patient.observation.Gsub
    for t in range(m):
        patient.step(Action(CHO=float(carbs_g[t]), insulin=float(insulin_u[t])))
        bg[t + 1] = patient.state[3] / vg
        gsub[t + 1] = patient.observation.Gsub
    return bg, gsub


def _task(args: tuple[str, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return run_simglucose(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    version = importlib.metadata.version("simglucose")
    if version != PINNED_SIMGLUCOSE:
        print(
            f"make_golden_traces: simglucose {version} installed, {PINNED_SIMGLUCOSE} required",
            file=sys.stderr,
        )
        return 1

    names: list[str] = []
    carbs_all = []
    insulin_all = []
    tasks = []
    for day in DAYS:
        names, carbs, insulin = day_inputs(day)
        carbs_all.append(carbs)
        insulin_all.append(insulin)
        tasks.extend((name, carbs[i], insulin[i]) for i, name in enumerate(names))
    with Pool(args.processes) as pool:
        results = pool.map(_task, tasks, chunksize=1)
    n = len(names)
    bg = np.array([r[0] for r in results]).reshape(len(DAYS), n, MINUTES + 1)
    gsub = np.array([r[1] for r in results]).reshape(len(DAYS), n, MINUTES + 1)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".npz.tmp")
    os.close(fd)
    with open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            names=np.array(names),
            days=np.array(DAYS),
            carbs_g=np.array(carbs_all),
            insulin_u=np.array(insulin_all),
            bg_mg_dl=bg,
            gsub_mg_dl=gsub,
            simglucose_version=np.array(version),
            scipy_version=np.array(importlib.metadata.version("scipy")),
            numpy_version=np.array(np.__version__),
        )
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

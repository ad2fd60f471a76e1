"""Per-decision cost of each controller, against peers measured in the same run.

    python -m benchmarks.controllers [--days N] [--oref0-dir DIR] [--json]

Every controller decides on the same day of loop inputs (288 cycles, 5 min apart:
a CGM trace swinging 70–250 mg/dL, three announced meals, six hours of history), one
controller object across the day as the loop would keep it.  Printed per controller:

* CPU time per decision in this process (``time.process_time``) and wall time;
* for ``external``: also the child's CPU per decision (``RUSAGE_CHILDREN`` around a
  run whose process is closed at the end) and the round-trip wall time — reported
  separately, as issue 20 asks.  ``external (echo)`` is a small Python child that
  answers at once (the protocol's own cost); ``external (oref0)`` is real oref0 0.7.1
  through the shipped node shim, if ``--oref0-dir`` (the installed ``oref0`` package)
  is given or the differential test's npm cache has one;
* the supervisor's own cost per cycle.

Peers, same run: pumplab's in-process ``oref0`` (ratio ``× oref0``) and one open-loop
pump-day of ``benchmarks.pump_day`` (a secure pump, in-memory link and history): a
closed loop adds 288 decisions and 288 supervisor cycles to each patient-day, so
``day share`` = (288 × (decision + supervisor)) / pump-day says how much a controller
adds to the pump's own cost.  Machine speed cancels in the ratios, not in the
absolute figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pumplab.control import (
    MS_PER_MINUTE,
    BolusRecord,
    CarbRecord,
    CgmReading,
    Controller,
    ControllerInput,
    PumpStatus,
    SupervisorLimits,
    SupervisorState,
    TherapyProfile,
    call_controller,
    supervise,
)
from pumplab.control.external import ExternalController, ExternalSettings, oref0_shim_command
from pumplab.control.oref0 import Oref0Settings
from pumplab.control.registry import build_controller
from pumplab.therapy import (
    RAPID_ACTING_ADULT,
    BgTarget,
    basal_schedule,
    bg_target_schedule,
    carb_ratio_schedule,
    isf_schedule,
)

MIN = MS_PER_MINUTE
PROFILE = TherapyProfile(
    basal=basal_schedule([(0, 0.8), (360, 1.0), (1320, 0.8)]),
    isf=isf_schedule([(0, 50.0)]),
    carb_ratio=carb_ratio_schedule([(0, 10.0)]),
    target=bg_target_schedule([(0, BgTarget(100.0, 110.0))]),
    insulin_curve=RAPID_ACTING_ADULT,
    max_basal_u_per_h=3.0,
)
LIMITS = SupervisorLimits(max_iob_u=6.0, max_temp_basal_u_per_h=3.0)
CASE = Oref0Settings(max_iob_u=4.0)
MEALS_AT_MIN = (7 * 60, 12 * 60, 19 * 60)
HISTORY_MIN = 360

ECHO_CHILD = """
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    sys.stdout.write(json.dumps({"rate": req["profile"]["current_basal"], "duration": 30,
                                 "cycle": req["cycle"]}) + "\\n")
    sys.stdout.flush()
"""


def day_inputs(days: int) -> list[ControllerInput]:
    """The loop inputs of ``days`` days (open loop: glucose does not react to decisions)."""
    start = 24 * 60 * MIN  # a day of history before the first cycle
    readings = [CgmReading(start + k * 5 * MIN - HISTORY_MIN * MIN,
                           round(160 + 90 * math.sin(2 * math.pi * k / 77)))
                for k in range(days * 288 + HISTORY_MIN // 5)]
    carbs = [CarbRecord(start + (d * 1440 + m) * MIN, 60.0) for d in range(days)
             for m in MEALS_AT_MIN]
    boluses = [BolusRecord(c.t_ms + 5 * MIN, 6.0) for c in carbs]
    out = []
    for k in range(days * 288):
        now = start + k * 5 * MIN
        since = now - HISTORY_MIN * MIN
        minute = (k * 5) % 1440
        out.append(ControllerInput(
            now_ms=now, minute_of_day=float(minute),
            cgm=tuple(r for r in readings if since <= r.t_ms <= now),
            pump=PumpStatus(now, False, PROFILE.basal.value_at(minute), None, 1.5),
            boluses=tuple(b for b in boluses if since <= b.t_ms <= now),
            basal_history=(), carbs=tuple(c for c in carbs if since <= c.t_ms <= now),
            profile=PROFILE))
    return out


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(make: Callable[[], Controller], inputs: list[ControllerInput]) -> dict[str, float]:
    """Run a fresh controller over ``inputs``: per-decision CPU (this process, children)
    and wall time; the first decision (process start-up) is excluded for external ones."""
    controller = make()
    external = isinstance(controller, ExternalController)
    if external:
        controller.decide(inputs[0])  # start the process outside the timing
    child0 = children_cpu_s()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for inp in inputs:
        controller.decide(inp)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if external:
        assert isinstance(controller, ExternalController)
        controller.close()
    child = children_cpu_s() - child0
    n = len(inputs)
    return {"cpu_us": cpu / n * 1e6, "wall_us": wall / n * 1e6, "child_cpu_us": child / n * 1e6}


def supervisor_cost_us(inputs: list[ControllerInput]) -> float:
    controller = build_controller("basal_bolus")
    outcomes = [call_controller(controller, inp) for inp in inputs]
    state = SupervisorState()
    cpu0 = time.process_time()
    for inp, outcome in zip(inputs, outcomes, strict=True):
        _, state = supervise(LIMITS, state, inp, outcome)
    return (time.process_time() - cpu0) / len(inputs) * 1e6


def pump_day_ms() -> float:
    from benchmarks.pump_day import pump_day
    from pumplab.devices.history import MemoryHistory

    best = math.inf
    for _ in range(3):
        seconds, _, _ = pump_day(MemoryHistory(), 1)
        best = min(best, seconds)
    return best * 1000


def find_oref0(given: Path | None) -> Path | None:
    if given is not None:
        return given
    base = Path(os.environ.get("PUMPLAB_OREF0_CACHE")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pumplab")
    found = sorted(base.glob("oref0-0.7.1-*/node_modules/oref0"))
    return found[0] if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--oref0-dir", type=Path, default=None,
                        help="the installed oref0 package for the external (oref0) run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    inputs = day_inputs(args.days)
    makers: dict[str, Callable[[], Controller]] = {
        "none": lambda: build_controller("none"),
        "basal_bolus": lambda: build_controller("basal_bolus"),
        "lgs": lambda: build_controller("lgs"),
        "pid": lambda: build_controller("pid", {"tdd_u": 40}),
        "oref0": lambda: build_controller("oref0", {"max_iob_u": 4}),
        "external (echo)": lambda: ExternalController(ExternalSettings(
            command=(sys.executable, "-c", ECHO_CHILD), case=CASE)),
    }
    oref0_dir = find_oref0(args.oref0_dir)
    if oref0_dir is not None:
        makers["external (oref0)"] = lambda: ExternalController(ExternalSettings(
            command=oref0_shim_command(oref0_dir), case=CASE))
    results = {name: measure(make, inputs) for name, make in makers.items()}
    sup_us = supervisor_cost_us(inputs)
    day_ms = pump_day_ms()
    ref = results["oref0"]["cpu_us"]
    rows = []
    for name, r in results.items():
        total_us = r["cpu_us"] + r["child_cpu_us"]
        rows.append({"controller": name, **{k: round(v, 1) for k, v in r.items()},
                     "x_oref0": round(total_us / ref, 3),
                     "day_share": round(288 * (total_us + sup_us) / 1000 / day_ms, 3)})
    out = {"decisions": len(inputs), "supervisor_us": round(sup_us, 1),
           "pump_day_ms": round(day_ms, 1), "oref0_dir": str(oref0_dir) if oref0_dir else None,
           "controllers": rows}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{len(inputs)} decisions per controller; supervisor {sup_us:.0f} µs per cycle; "
          f"open-loop pump-day (peer) {day_ms:.1f} ms")
    print(f"{'controller':18} {'CPU µs':>9} {'child µs':>9} {'wall µs':>9} "
          f"{'× oref0':>8} {'day share':>9}")
    for row in rows:
        print(f"{row['controller']:18} {row['cpu_us']:9.0f} {row['child_cpu_us']:9.0f} "
              f"{row['wall_us']:9.0f} {row['x_oref0']:8.2f} {row['day_share']:9.2f}")


if __name__ == "__main__":
    main()

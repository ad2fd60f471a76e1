"""Write a result CSV with simglucose itself, for the trace reader's tests.

simglucose's ``SimObj.save_results`` writes ``Time,BG,CGM,CHO,insulin,LBGI,
HBGI,Risk`` (one row per sensor sample; ``BG`` is the subcutaneous glucose
averaged over the sample, ``CGM`` the sensor reading).  This script runs the
pinned simglucose (0.2.11) with a fixed seed and writes such a file, so that
``pumplab.metrics.tracefile`` is tested against what simglucose really writes::

    python scripts/make_simglucose_result.py tests/metrics/data/simglucose_adolescent001.csv

The run: adolescent#001, a Dexcom sensor (3-minute samples, seed 1), the
Insulet pump, simglucose's basal-bolus controller, 12 hours from 2018-01-01
06:00 with meals of 45 g at 07:00 and 70 g at 12:00 (both announced to the
controller through the scenario).  About 10 s on one core.  simglucose is a
test/benchmark dependency only; the package never imports it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

START = datetime(2018, 1, 1, 6, 0)
MEALS_G = ((START + timedelta(hours=1), 45), (START + timedelta(hours=6), 70))
HOURS = 12


def write_result(out: Path, *, hours: float = HOURS, seed: int = 1) -> Path:
    """Run simglucose and copy its result CSV to ``out``; returns ``out``."""
    from simglucose.actuator.pump import InsulinPump
    from simglucose.controller.basal_bolus_ctrller import BBController
    from simglucose.patient.t1dpatient import T1DPatient
    from simglucose.sensor.cgm import CGMSensor
    from simglucose.simulation.env import T1DSimEnv
    from simglucose.simulation.scenario import CustomScenario
    from simglucose.simulation.sim_engine import SimObj

    patient = T1DPatient.withName("adolescent#001")
    sensor = CGMSensor.withName("Dexcom", seed=seed)
    pump = InsulinPump.withName("Insulet")
    scenario = CustomScenario(start_time=START, scenario=list(MEALS_G))
    env = T1DSimEnv(patient, sensor, pump, scenario)
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimObj(env, BBController(), timedelta(hours=hours), animate=False, path=tmp)
        sim.simulate()
        sim.save_results()
        written = Path(tmp) / f"{patient.name}.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(written, out)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(write_result(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

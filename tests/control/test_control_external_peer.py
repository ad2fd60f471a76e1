"""Real oref0 0.7.1 in the loop through the shipped node shim, against pumplab's own port.

Uses the oref0 the differential test installs from the project's lock file
(tests/control/test_control_oref0_peer.py, ``install_oref0``).  If node or npm is
missing, or the registry unreachable, the test FAILS with the reason: it never
skips.

1. The shim, driven line by line as the ``external`` controller drives it, gives
   exactly what oref0's determine-basal gives when called directly (the batch
   runner of the differential test), on the 400 generated CASEs.
2. ``ExternalController`` running the shim (oref0 computing its own glucose
   status from the raw entries) decides as ``Oref0Controller`` on 120 random
   loop inputs: rate within 0.05 U/h, units within 0.05 U, duration exactly.

Run it and print the agreement::

    PYTHONPATH=src python -m pytest tests/control/test_control_external_peer.py -s
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from control_helpers import NOW_MS, PROFILE
from oref0_cases import generate_cases
from test_control_oref0_peer import CASE_COUNT, CASE_SEED, install_oref0, run_node

from pumplab.control import (
    MS_PER_MINUTE,
    ActiveTempBasal,
    BasalRecord,
    BolusRecord,
    CarbRecord,
    CgmReading,
    ControllerInput,
    PumpStatus,
)
from pumplab.control.external import (
    ExternalController,
    ExternalSettings,
    LineProcess,
    oref0_shim_command,
)
from pumplab.control.oref0 import Oref0Controller, Oref0Settings

pytestmark = pytest.mark.peer

MIN = MS_PER_MINUTE
RATE_TOL_U_PER_H = 0.05
UNITS_TOL_U = 0.05
INPUT_COUNT = 120
INPUT_SEED = 20240601


@pytest.fixture(scope="module")
def oref0_modules() -> Path:
    return install_oref0()


def test_shim_gives_what_oref0_gives_on_the_generated_cases(oref0_modules: Path) -> None:
    """Line by line through the shim = oref0's determine-basal called directly, key for key
    (the shim adds only ``cycle``)."""
    cases = generate_cases(CASE_COUNT, CASE_SEED)
    direct = run_node("run_determine_basal.js", oref0_modules, cases)
    command = (*oref0_shim_command(oref0_modules / "oref0"), "--case-glucose-status")
    process = LineProcess(command, env={"TZ": "UTC"})
    try:
        for k, (case, expected) in enumerate(zip(cases, direct, strict=True), start=1):
            line = json.dumps({**case, "cycle": k}).encode() + b"\n"
            got = json.loads(process.exchange(line, 60.0))
            assert got.pop("cycle") == k
            if "error" in expected:
                assert "error" in got, case["_label"]
            else:
                assert got == expected, case["_label"]
    finally:
        process.close()


def _inputs(seed: int, count: int) -> list[tuple[ControllerInput, bool]]:
    """Random loop inputs: 3 h of CGM (rising, falling, flat, wobbly), temps running or not,
    boluses, carbs, delivered temp basals; half with SMB allowed."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        bg = rng.uniform(60, 300)
        trend = rng.choice((-4.0, -2.0, 0.0, 1.0, 3.0, 6.0))
        cgm = []
        for k in range(36):
            t = NOW_MS - (35 - k) * 5 * MIN
            cgm.append(CgmReading(t, float(round(bg + trend * (k - 35) + rng.uniform(-3, 3)))))
        cgm = [c for c in cgm if c.bg_mg_dl >= 40]
        boluses = tuple(sorted((BolusRecord(NOW_MS - rng.randrange(10, 300) * MIN,
                                            round(rng.uniform(0.5, 6), 2))
                                for _ in range(rng.randrange(0, 3))), key=lambda b: b.t_ms))
        carbs = tuple(sorted((CarbRecord(NOW_MS - rng.randrange(5, 240) * MIN,
                                         float(rng.randrange(10, 90)))
                              for _ in range(rng.randrange(0, 3))), key=lambda c: c.t_ms))
        basal = ()
        temp = None
        if rng.random() < 0.5:
            start = NOW_MS - rng.randrange(5, 25) * MIN
            rate = rng.choice((0.0, 0.5, 1.5, 2.5))
            basal = (BasalRecord(start, 30, rate),)
            temp = ActiveTempBasal(rate, 30 - (NOW_MS - start) // MIN)
        minute = rng.uniform(0, 1439)
        inp = ControllerInput(
            now_ms=NOW_MS, minute_of_day=minute, cgm=tuple(cgm),
            pump=PumpStatus(NOW_MS, False, PROFILE.basal.value_at(minute), temp, 1.0),
            boluses=boluses, basal_history=basal, carbs=carbs, profile=PROFILE)
        out.append((inp, rng.random() < 0.5))
    return out


def _settings(smb: bool) -> Oref0Settings:
    return Oref0Settings(max_iob_u=4.0, micro_bolus_allowed=smb, enable_smb_always=smb)


def test_external_oref0_decides_as_pumplabs_oref0(oref0_modules: Path) -> None:
    """Real oref0 in the loop (one node process per setting) = pumplab's port, on every
    input: same temp (rate ±0.05 U/h, same duration), same SMB (±0.05 U)."""
    inputs = _inputs(INPUT_SEED, INPUT_COUNT)
    controllers = {smb: ExternalController(ExternalSettings(
        command=oref0_shim_command(oref0_modules / "oref0"), case=_settings(smb)))
        for smb in (False, True)}
    mismatches: list[Any] = []
    kinds = {"temp": 0, "zero": 0, "smb": 0, "nothing": 0}
    try:
        for inp, smb in inputs:
            theirs = controllers[smb].decide(inp)
            ours = Oref0Controller(_settings(smb)).decide(inp)
            a, b = ours.temp_basal, theirs.temp_basal
            same_temp = (a is None and b is None) or (
                a is not None and b is not None and a.duration_min == b.duration_min
                and abs(a.rate_u_per_h - b.rate_u_per_h) <= RATE_TOL_U_PER_H + 1e-9)
            same_smb = abs((ours.micro_bolus_u or 0) - (theirs.micro_bolus_u or 0)) \
                <= UNITS_TOL_U + 1e-9
            if not (same_temp and same_smb):
                mismatches.append((ours, theirs))
            kinds["smb"] += bool(theirs.micro_bolus_u)
            kinds["nothing"] += b is None
            kinds["zero"] += b is not None and b.rate_u_per_h == 0 and b.duration_min > 0
            kinds["temp"] += b is not None and b.rate_u_per_h > 0
        assert all(c.starts == 1 for c in controllers.values())  # one process each, all along
    finally:
        for c in controllers.values():
            c.close()
    print(f"\nexternal oref0 (node shim) vs pumplab oref0: {len(inputs)} loop inputs, "
          f"{len(inputs) - len(mismatches)} agree; oref0's decisions: {kinds}")
    assert not mismatches, mismatches[:2]
    # The inputs exercise the branches that matter.
    assert kinds["smb"] >= 5 and kinds["zero"] >= 10 and kinds["temp"] >= 10

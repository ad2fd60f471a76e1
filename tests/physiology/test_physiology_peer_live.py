"""simglucose run live for one subject per age group, so the golden traces cannot drift.

simglucose costs ~11 s per patient-day, so this runs the first 10 hours of the
overdose day (breakfast, the overdose at 08:00 and the fall that follows) for
three subjects: ~15 s.  It checks that simglucose still produces the golden
traces and that pumplab agrees with simglucose directly.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from physiology_helpers import golden_day

from pumplab.physiology import load_cohort, simulate

pytestmark = pytest.mark.peer

SUBJECTS = ("adolescent#004", "adult#007", "child#010")
MINUTES = 600


def _simglucose(name: str, carbs: np.ndarray, insulin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """simglucose's T1DPatient stepped minute by minute: (Gp/Vg, Gsub), length M + 1."""
    from simglucose.patient.t1dpatient import Action, T1DPatient

    patient = T1DPatient.withName(name)
    vg = float(patient._params.Vg)
    bg = [patient.state[3] / vg]
    gsub = [patient.observation.Gsub]
    for t in range(carbs.shape[0]):
        patient.step(Action(CHO=float(carbs[t]), insulin=float(insulin[t])))
        bg.append(patient.state[3] / vg)
        gsub.append(patient.observation.Gsub)
    return np.array(bg), np.array(gsub)


@pytest.fixture(scope="module")
def live() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    golden = golden_day("overdose")
    out = {}
    for name in SUBJECTS:
        i = golden.names.index(name)
        out[name] = _simglucose(name, golden.carbs_g[i, :MINUTES], golden.insulin_u[i, :MINUTES])
    return out


def test_installed_simglucose_is_the_pinned_version() -> None:
    """The peer installed is simglucose 0.2.11, the version the golden traces came from."""
    assert importlib.metadata.version("simglucose") == "0.2.11"


def test_live_simglucose_reproduces_the_golden_traces(
    live: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    """simglucose run now gives the stored golden traces to 1e-6 mg/dL."""
    golden = golden_day("overdose")
    for name, (bg, gsub) in live.items():
        i = golden.names.index(name)
        np.testing.assert_allclose(bg, golden.bg_mg_dl[i, : MINUTES + 1], atol=1e-6, rtol=0)
        np.testing.assert_allclose(gsub, golden.gsub_mg_dl[i, : MINUTES + 1], atol=1e-6, rtol=0)


def test_pumplab_matches_live_simglucose_within_1_mg_dl(
    live: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    """pumplab's Gp/Vg and Gsub stay within 1 mg/dL of simglucose's at every minute."""
    golden = golden_day("overdose")
    cohort = load_cohort().select(list(SUBJECTS))
    rows = [golden.names.index(n) for n in SUBJECTS]
    result = simulate(
        cohort,
        golden.carbs_g[rows, :MINUTES],
        golden.insulin_u[rows, :MINUTES],
        trace_gsub=True,
    )
    assert result.bg_mg_dl is not None and result.gsub_mg_dl is not None
    for k, name in enumerate(SUBJECTS):
        bg, gsub = live[name]
        assert np.abs(result.bg_mg_dl[k] - bg).max() < 1.0
        assert np.abs(result.gsub_mg_dl[k] - gsub).max() < 1.0

"""The public surface of pumplab.physiology."""

from __future__ import annotations

import subprocess
import sys

import pumplab.physiology


def test_public_names_are_declared_in_all() -> None:
    """Every name in __all__ exists, and the classes/functions exported are listed."""
    for name in pumplab.physiology.__all__:
        assert hasattr(pumplab.physiology, name), name
    assert {"PatientBatch", "simulate", "load_cohort", "generate_population", "State"} <= set(
        pumplab.physiology.__all__
    )


def test_importing_physiology_does_not_import_numba_or_scipy() -> None:
    """numba loads with the first compiled simulation; scipy and pandas are never imported."""
    code = (
        "import sys, pumplab.physiology, pumplab.cli.patient, pumplab.cli.run; "
        "bad = [m for m in ('numba', 'scipy', 'pandas', 'simglucose') if m in sys.modules]; "
        "print(*bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"imported: {result.stdout}"

"""Tests of the public surface of pumplab.metrics and what it imports."""

from __future__ import annotations

import subprocess
import sys

import pumplab.metrics


def test_public_names_are_exactly_the_declared_ones() -> None:
    """__all__ lists the public API, and every listed name exists."""
    public = {n for n in dir(pumplab.metrics) if not n.startswith("_")}
    # the submodules themselves
    public -= {"cohort", "events", "glucose_units", "glycemic", "risk", "tracefile", "variability"}
    assert public == set(pumplab.metrics.__all__)


def test_package_and_command_import_neither_iglu_nor_pandas() -> None:
    """iglu (GPL) and pandas are test-only: importing the package never loads them."""
    code = (
        "import sys, pumplab.metrics, pumplab.cli.metrics; "
        "bad = [m for m in ('iglu_python', 'pandas') if m in sys.modules]; "
        "print(*bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"imported: {result.stdout}"

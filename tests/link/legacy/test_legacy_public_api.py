"""The public surface of pumplab.link.legacy, and what importing it pulls in."""

from __future__ import annotations

import subprocess
import sys

import pumplab.link.legacy as legacy

SUBMODULES = {"airtime", "coding", "crc", "describe", "driver", "exchange", "frames", "history",
              "ids", "mapping", "messages", "pumpside", "pumptime", "sensor"}


def test_public_names_are_exactly_the_declared_ones() -> None:
    """__all__ lists the package's public API, and every listed name exists."""
    public = {n for n in dir(legacy) if not n.startswith("_")} - SUBMODULES
    assert public == set(legacy.__all__)
    assert all(hasattr(legacy, name) for name in legacy.__all__)


def test_every_submodule_declares_all() -> None:
    """Each submodule says what it exports."""
    for name in SUBMODULES:
        module = __import__(f"pumplab.link.legacy.{name}", fromlist=["__all__"])
        assert module.__all__, name
        assert all(hasattr(module, n) for n in module.__all__), name


def test_the_package_is_pure() -> None:
    """No device, simulation, CLI or radio-medium code, and no numpy, behind the codec."""
    code = (
        "import sys, pumplab.link.legacy; "
        "bad = [m for m in sys.modules if m.startswith(('pumplab.devices', 'pumplab.sim', "
        "'pumplab.cli', 'pumplab.link.radio', 'numpy', 'socket'))]; "
        "print(*bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"imported: {result.stdout} {result.stderr}"

"""The public surface of pumplab.control is declared, importable and light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pumplab.control as control
import pumplab.control.oref0 as oref0

#: The control modules of part 2 (issue 20), each with its own public surface.
PART2 = ("basal_bolus", "pid", "lgs", "registry", "sensor_faults", "external",
         "external.protocol", "external.process", "external.controller")


def test_every_declared_name_exists() -> None:
    """Each name in __all__ of the package, of pumplab.control.oref0 and of every part-2
    module is an attribute."""
    modules = [control, oref0, *(importlib.import_module(f"pumplab.control.{m}") for m in PART2)]
    for module in modules:
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_package_exports_the_interface_and_supervisor() -> None:
    """pumplab.control re-exports exactly the interface and supervisor modules' names."""
    union: set[str] = set()
    for sub in ("interface", "supervisor"):
        union |= set(importlib.import_module(f"pumplab.control.{sub}").__all__)
    assert set(control.__all__) == union


def test_control_imports_no_heavy_dependency_and_no_device_code() -> None:
    """Controllers are pure: importing them pulls in neither numpy nor the pump, sim or CLI."""
    code = ("import sys, pumplab.control.oref0, pumplab.control.registry, "
            "pumplab.control.sensor_faults, pumplab.control.external; "
            "print(sorted(m for m in ('numpy', 'pumplab.devices', 'pumplab.sim', 'pumplab.cli') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

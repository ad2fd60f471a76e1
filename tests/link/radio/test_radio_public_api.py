"""The radio package's public surface is what __all__ says, and it is documented."""

from __future__ import annotations

import importlib
import inspect

import pumplab.link.radio as radio_pkg

MODULES = ("calibration", "capture", "crn", "defaults", "interface", "medium", "phy",
           "propagation", "records", "schedule")


def test_package_exports_resolve_and_are_documented() -> None:
    for name in radio_pkg.__all__:
        obj = getattr(radio_pkg, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"


def test_every_module_lists_its_public_definitions() -> None:
    """Each module has a docstring and an __all__ covering what it defines publicly."""
    for short in MODULES:
        module = importlib.import_module(f"pumplab.link.radio.{short}")
        assert module.__doc__, short
        for name in module.__all__:
            assert hasattr(module, name), f"{short}.{name}"
        defined = {
            name for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
            and getattr(obj, "__module__", None) == module.__name__
        }
        assert defined <= set(module.__all__), f"{short}: {defined - set(module.__all__)}"


def test_importing_pumplab_does_not_import_the_radio() -> None:
    """Optional parts load only when used (style rule 9)."""
    import subprocess
    import sys

    code = "import pumplab, sys; print('pumplab.link.radio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"

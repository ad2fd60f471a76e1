"""The public surface of pumplab.therapy is declared and importable."""

from __future__ import annotations

import importlib

import pumplab.therapy as therapy

SUBMODULES = ("carbs", "curves", "iob", "rounding", "schedules", "wizard")


def test_every_declared_name_exists() -> None:
    """Each name in __all__ is an attribute of the package."""
    for name in therapy.__all__:
        assert hasattr(therapy, name), name


def test_package_exports_exactly_the_submodules_public_names() -> None:
    """The package's __all__ is the union of its submodules' __all__ (no drift either way)."""
    union: set[str] = set()
    for sub in SUBMODULES:
        module = importlib.import_module(f"pumplab.therapy.{sub}")
        union |= set(module.__all__)
        for name in module.__all__:
            assert hasattr(module, name), f"{sub}.{name}"
    assert set(therapy.__all__) == union


def test_therapy_imports_no_heavy_dependency() -> None:
    """The dosing maths depends on the standard library only (no numpy at import)."""
    import subprocess
    import sys

    code = (
        "import sys; import pumplab.therapy; print('numpy' in sys.modules, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]

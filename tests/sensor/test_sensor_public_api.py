"""The public surface of the sensor, meter and meal modules is what __all__ says."""

from __future__ import annotations

import importlib

import pytest

MODULES = ("pumplab.physiology.sensor", "pumplab.physiology.meter", "pumplab.physiology.meals")


@pytest.mark.parametrize("name", MODULES)
def test_every_exported_name_exists_and_is_documented(name: str) -> None:
    """Each name in __all__ is defined, and every exported class or function has a docstring."""
    module = importlib.import_module(name)
    assert module.__doc__
    for export in module.__all__:
        obj = getattr(module, export)
        if callable(obj):
            assert getattr(obj, "__doc__", None), f"{name}.{export} has no docstring"


@pytest.mark.parametrize("name", MODULES)
def test_no_public_name_is_left_out_of_all(name: str) -> None:
    """Every public class and function defined in the module is listed in __all__."""
    module = importlib.import_module(name)
    defined = {
        attr
        for attr, obj in vars(module).items()
        if not attr.startswith("_")
        and callable(obj)
        and getattr(obj, "__module__", None) == name
    }
    assert defined <= set(module.__all__)

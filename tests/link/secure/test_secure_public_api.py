"""The public surface of pumplab.link.secure, and what importing it pulls in."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import pumplab.link.secure

MODULES = [
    "addresses",
    "connection",
    "crypto",
    "frames",
    "keystore",
    "pairing",
    "randomness",
    "roles",
    "session",
    "smp",
    "window",
]


def test_the_package_exports_exactly_its_declared_names() -> None:
    public = {n for n in dir(pumplab.link.secure) if not n.startswith("_")}
    public -= set(MODULES)
    assert public == set(pumplab.link.secure.__all__)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_names_that_exist(name: str) -> None:
    module = importlib.import_module(f"pumplab.link.secure.{name}")
    assert module.__doc__ and len(module.__doc__) > 200
    for exported in module.__all__:
        assert hasattr(module, exported), f"{name}.{exported}"


def test_importing_the_secure_link_does_not_import_bumble_or_devices() -> None:
    """bumble is test-only; the protocol core depends on no device, sim or cli code."""
    code = (
        "import sys, pumplab.link.secure; "
        "bad = [m for m in sys.modules if m.split('.')[0] == 'bumble' "
        "or m.startswith(('pumplab.devices', 'pumplab.sim', 'pumplab.cli'))]; "
        "print(*bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"imported: {result.stdout}"

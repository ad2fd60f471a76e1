"""The SBOM: walking installed metadata, licences, Package URLs, and the CycloneDX document."""

from __future__ import annotations

import copy
import json
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from cyclonedx_shape import problems
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pumplab.errors import PumpLabError
from pumplab.sbom import Inventory, License, cyclonedx, inventory, licenses_of, purl

ROOT = Path(__file__).resolve().parents[2]
SERIAL = uuid.UUID("12345678-1234-4678-9234-567812345678")
MOMENT = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class FakeDist:
    """An installed distribution as importlib.metadata shows it, made up for a test."""

    name: str
    version: str
    requires: list[str] | None = None
    headers: dict[str, str | list[str]] = field(default_factory=dict)

    @property
    def metadata(self) -> Message:
        message = Message()
        message["Name"] = self.name
        message["Version"] = self.version
        for key, value in self.headers.items():
            for item in value if isinstance(value, list) else [value]:
                message[key] = item
        return message


def finder(*dists: FakeDist) -> Callable[[str], FakeDist]:
    index = {canonicalize_name(d.name): d for d in dists}

    def find(name: str) -> FakeDist:
        try:
            return index[canonicalize_name(name)]
        except KeyError:
            raise metadata.PackageNotFoundError(name) from None

    return find


WORLD = finder(
    FakeDist("app", "1.0", ["Lib_A>=1", "dask[distributed]>=2", "colorama; sys_platform == 'win32'",
                            "pytest>=8; extra == 'test'", "ghost>=1", "old<1"]),
    FakeDist("lib_a", "1.2", ["lib-b"], {"License-Expression": "MIT"}),
    FakeDist("lib-b", "2.0+local.1", ["lib_a"]),  # a cycle back to lib_a
    FakeDist("dask", "2.5", ["toolz", "distributed==2.5; extra == 'distributed'"]),
    FakeDist("distributed", "2.5", ["dask==2.5"]),
    FakeDist("toolz", "0.12"),
    FakeDist("old", "1.5"),
    FakeDist("colorama", "0.4"),
    FakeDist("pytest", "8.0"),
)


def test_the_walk_follows_requirements_markers_and_the_extras_they_ask_for() -> None:
    """Transitive requirements and `dask[distributed]`'s extra come in; Windows-only and the
    root's test extra stay out."""
    inv = inventory("app", find=WORLD, environment={"sys_platform": "linux"})
    assert [p.key for p in inv.packages] == ["dask", "distributed", "lib-a", "lib-b", "old",
                                             "toolz"]
    by_key = {p.key: p for p in inv.packages}
    assert inv.root.requires == ("dask", "lib-a", "old")
    assert by_key["dask"].requires == ("distributed", "toolz")
    assert by_key["lib-a"].requires == ("lib-b",) and by_key["lib-b"].requires == ("lib-a",)
    assert by_key["lib-b"].version == "2.0+local.1" and by_key["lib-a"].name == "lib_a"


def test_markers_are_evaluated_for_the_given_environment_and_root_extras() -> None:
    """On Windows colorama is needed; asking for the root's `test` extra adds pytest."""
    windows = inventory("app", find=WORLD, environment={"sys_platform": "win32"})
    assert "colorama" in {p.key for p in windows.packages}
    tested = inventory("app", extras=["Test"], find=WORLD, environment={"sys_platform": "linux"})
    assert "pytest" in {p.key for p in tested.packages}


def test_a_requirement_not_installed_or_not_satisfied_is_reported_not_dropped() -> None:
    """`ghost` is not installed; `old<1` finds 1.5; both are named with who asked."""
    inv = inventory("app", find=WORLD, environment={"sys_platform": "linux"})
    assert [(u.requirement, u.required_by, u.reason) for u in inv.unmet] == [
        ("ghost>=1", "app", "not installed"),
        ("old<1", "app", "installed 1.5 does not satisfy <1"),
    ]
    assert "ghost" not in {p.key for p in inv.packages}
    assert "old" in {p.key for p in inv.packages}  # listed as installed, with its version


def test_a_root_that_is_not_installed_is_one_clear_error() -> None:
    """A bill of materials describes an installed environment, not a source tree."""
    with pytest.raises(PumpLabError, match="not installed"):
        inventory("absent", find=WORLD)


def test_licences_come_from_the_best_declared_source() -> None:
    """SPDX expression first, then a short License field, then the classifiers by name."""
    def meta(**headers: str | list[str]) -> Message:
        return FakeDist("x", "1", headers={k.replace("_", "-"): v for k, v in headers.items()},
                        ).metadata

    classifiers = ["License :: OSI Approved :: BSD License", "License :: OSI Approved",
                   "Programming Language :: Python", "License :: OSI Approved :: BSD License"]
    assert licenses_of(meta(License_Expression="MIT OR Apache-2.0", License="MIT")) == (
        License("expression", "MIT OR Apache-2.0"),)
    assert licenses_of(meta(License="ISC License")) == (License("name", "ISC License"),)
    assert licenses_of(meta(License="BSD 3-Clause License\n\nCopyright ...",
                            Classifier=classifiers)) == (License("name", "BSD License"),)
    assert licenses_of(meta(License="UNKNOWN")) == ()
    assert licenses_of(meta()) == ()


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("numpy", "2.4.6", "pkg:pypi/numpy@2.4.6"),
        ("typing_extensions", "4.16.0", "pkg:pypi/typing-extensions@4.16.0"),
        ("Pygments", "2.21.0", "pkg:pypi/pygments@2.21.0"),
        ("lib-b", "2.0+local.1", "pkg:pypi/lib-b@2.0%2Blocal.1"),
        ("epochal", "1!2.0", "pkg:pypi/epochal@1%212.0"),
    ],
)
def test_package_urls_follow_the_purl_pypi_rules(name: str, version: str, expected: str) -> None:
    """Lower case, `_` as `-`, and percent-encoding (purl-spec, type pypi)."""
    assert purl(name, version) == expected


def _document(inv: Inventory) -> dict[str, Any]:
    return cyclonedx(inv, serial_number=SERIAL, timestamp=MOMENT)


def test_the_document_has_the_cyclonedx_structure_and_the_dependency_graph() -> None:
    """Required keys, urn:uuid serial, root as metadata.component, one purl per component."""
    doc = _document(inventory("app", find=WORLD, environment={"sys_platform": "linux"}))
    assert problems(doc) == []
    assert doc["serialNumber"] == "urn:uuid:12345678-1234-4678-9234-567812345678"
    assert doc["metadata"]["timestamp"] == "2024-01-01T12:00:00Z"
    assert doc["metadata"]["component"]["purl"] == "pkg:pypi/app@1.0"
    assert doc["metadata"]["component"]["type"] == "application"
    assert {c["type"] for c in doc["components"]} == {"library"}
    graph = {d["ref"]: d["dependsOn"] for d in doc["dependencies"]}
    assert graph["pkg:pypi/app@1.0"] == ["pkg:pypi/dask@2.5", "pkg:pypi/lib-a@1.2",
                                         "pkg:pypi/old@1.5"]
    lib_a = next(c for c in doc["components"] if c["name"] == "lib_a")
    assert lib_a["licenses"] == [{"expression": "MIT"}]


def test_the_same_inventory_serial_and_time_give_the_same_bytes() -> None:
    """The document is a pure function of its inputs (components in name order)."""
    inv = inventory("app", find=WORLD, environment={"sys_platform": "linux"})
    later = MOMENT.astimezone(timezone(timedelta(hours=2)))  # the same instant elsewhere
    one = json.dumps(_document(inv))
    assert one == json.dumps(cyclonedx(inv, serial_number=SERIAL, timestamp=later))
    assert one != json.dumps(cyclonedx(inv, serial_number=uuid.uuid5(SERIAL, "x"),
                                       timestamp=MOMENT))  # fmt: skip


def test_a_naive_timestamp_is_refused() -> None:
    """A BOM's time must say which zone it is in."""
    inv = inventory("app", find=WORLD, environment={"sys_platform": "linux"})
    with pytest.raises(ValueError, match="timezone"):
        cyclonedx(inv, serial_number=SERIAL, timestamp=datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("damage", "found"),
    [
        (lambda d: d.pop("bomFormat"), "missing required bomFormat"),
        (lambda d: d.update(specVersion="1.4"), "specVersion is not '1.5'"),
        (lambda d: d.update(serialNumber="urn:uuid:NOT-A-UUID"), "serialNumber"),
        (lambda d: d.update(version=0), "version is not an integer"),
        (lambda d: d["metadata"].pop("component"), "metadata.component is missing"),
        (lambda d: d["components"][0].pop("purl"), "purl is not a pkg:pypi purl"),
        (lambda d: d["components"][0].update(type="gizmo"), "not a CycloneDX component type"),
        (lambda d: d["components"][1].update({"bom-ref": d["components"][0]["bom-ref"]}),
         "a bom-ref is not unique"),
        (lambda d: d["components"][0].update(licenses=[{"license": {"id": "MIT", "name": "MIT"}}]),
         "exactly one of id, name"),
        (lambda d: d["dependencies"][0]["dependsOn"].append("pkg:pypi/nobody@1"),
         "depends on unknown"),
        (lambda d: d.update(extra=1), "unknown top-level key extra"),
    ],
)
def test_the_structure_check_catches_each_kind_of_broken_document(
    damage: Callable[[dict[str, Any]], object], found: str
) -> None:
    """The checks the SBOM tests rely on can fail: each damage is named."""
    doc = copy.deepcopy(_document(inventory("app", find=WORLD,
                                            environment={"sys_platform": "linux"})))
    damage(doc)
    assert any(found in problem for problem in problems(doc)), problems(doc)


# --------------------------------------------------------------------------
# The real installed environment


@pytest.fixture(scope="module")
def installed() -> Inventory:
    return inventory()


def test_every_runtime_dependency_in_pyproject_appears_with_its_installed_version(
    installed: Inventory,
) -> None:
    """Each `project.dependencies` entry of pyproject.toml is a component at the version
    importlib.metadata reports installed."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    components = {p.key: p.version for p in installed.packages}
    assert declared, "pyproject.toml declares no run-time dependency"
    for text in declared:
        name = Requirement(text).name
        assert components.get(canonicalize_name(name)) == metadata.version(name), text


def test_the_installed_sbom_is_well_formed_and_closed_under_its_requirements(
    installed: Inventory,
) -> None:
    """Every component's own installed requirements (markers holding here) are components."""
    doc = _document(installed)
    assert problems(doc) == []
    assert doc["metadata"]["component"]["name"] == "pumplab"
    assert doc["metadata"]["component"]["version"] == metadata.version("pumplab")
    keys = {p.key for p in installed.packages}
    for p in (installed.root, *installed.packages):
        assert canonicalize_name(p.name) == p.key
        for text in metadata.requires(p.name) or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                metadata.version(req.name)
            except metadata.PackageNotFoundError:
                continue  # reported as unmet, checked with fake metadata above
            assert canonicalize_name(req.name) in keys, f"{p.name} needs {text}"
    # Test-only tools are not run-time dependencies.
    assert not keys & {"pytest", "hypothesis", "bumble", "ruff", "mypy"}

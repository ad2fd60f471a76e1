"""A software bill of materials of the installed pumplab, as CycloneDX 1.5 JSON.

:func:`inventory` walks the *installed* distribution of pumplab and its
runtime requirements recursively through :mod:`importlib.metadata`: every
requirement whose environment marker holds here (PEP 508; the extras a
requirement asks for, ``dask[distributed]``, are followed too) becomes a
:class:`Package` with its installed name and version, the licences its
metadata declares, its author, and the packages it depends on.  A requirement
that is not installed, or whose installed version does not satisfy it, is
reported as :class:`Unmet` rather than silently dropped.

:func:`cyclonedx` turns an :class:`Inventory` into a CycloneDX 1.5 document
(https://cyclonedx.org/docs/1.5/json/): ``bomFormat``, ``specVersion``,
``serialNumber`` (a ``urn:uuid``), ``version``, ``metadata`` (timestamp, the
tool, and pumplab itself as ``metadata.component``), ``components`` (one
``library`` per package, each with a Package URL, ``pkg:pypi/NAME@VERSION``,
as ``purl`` and ``bom-ref``) and ``dependencies`` (the graph).  It is pure:
the serial number and the timestamp are passed in, so the same inventory,
serial and time give the same document byte for byte.

Only :func:`inventory` reads anything (package metadata on ``sys.path``), and
it takes the lookup as a parameter so that tests can hand it fake metadata.

Deliberately not here: hashes of the installed files, native libraries that
wheels bundle (OpenSSL inside ``cryptography``, LLVM inside ``llvmlite``, a
BLAS inside ``numpy``), the Python interpreter, optional extras of pumplab
itself (``test``, ``parquet``, ``dask``), vulnerability data and support or
end-of-support dates; docs/regulatory.md says why each matters and what is
missing.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses
from importlib import metadata
from typing import Any, Final, Literal, Protocol

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion

from pumplab.errors import PumpLabError

__all__ = [
    "BOM_FORMAT",
    "SPEC_VERSION",
    "Distribution",
    "Inventory",
    "License",
    "Package",
    "Unmet",
    "cyclonedx",
    "inventory",
    "licenses_of",
    "purl",
]

#: The CycloneDX specification version the documents follow.
SPEC_VERSION: Final = "1.5"
#: The value of ``bomFormat`` (CycloneDX 1.5 schema: the only allowed value).
BOM_FORMAT: Final = "CycloneDX"

#: A ``License`` metadata field longer than this, or on several lines, is the
#: licence's full text rather than its name; the classifiers name it better.
_MAX_LICENSE_NAME = 100


class Distribution(Protocol):
    """What this module reads of an installed distribution (``importlib.metadata``'s)."""

    @property
    def metadata(self) -> metadata.PackageMetadata: ...

    @property
    def version(self) -> str: ...

    @property
    def requires(self) -> list[str] | None: ...


@dataclass(frozen=True, slots=True)
class License:
    """A declared licence: an SPDX ``expression`` (PEP 639), or a free-text ``name``."""

    kind: Literal["expression", "name"]
    value: str


@dataclass(frozen=True, slots=True)
class Package:
    """One installed distribution.

    ``name`` is spelled as its metadata spells it, ``key`` is the normalised
    name (PEP 503) it is found and referred to by; ``requires`` are the keys of
    the packages of the inventory it depends on here, sorted.
    """

    name: str
    key: str
    version: str
    summary: str
    author: str
    licenses: tuple[License, ...]
    requires: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unmet:
    """A requirement the installed environment does not meet.

    ``requirement`` is the PEP 508 string as ``required_by`` declares it;
    ``reason`` says what is wrong (not installed, or the installed version).
    """

    requirement: str
    required_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Inventory:
    """The root distribution and everything it needs at run time, as installed.

    ``packages`` excludes the root and is sorted by ``key``.
    """

    root: Package
    packages: tuple[Package, ...]
    unmet: tuple[Unmet, ...]


# --------------------------------------------------------------------------
# Reading the installed metadata


def inventory(
    root: str = "pumplab",
    *,
    extras: Iterable[str] = (),
    find: Callable[[str], Distribution] = metadata.distribution,
    environment: Mapping[str, str] | None = None,
) -> Inventory:
    """Walk ``root``'s installed requirements recursively.

    ``extras`` are the root's own extras to include (none: the run-time
    dependencies only).  ``find`` looks a distribution up by name and raises
    :class:`importlib.metadata.PackageNotFoundError` when it is not installed;
    ``environment`` overrides PEP 508 marker variables (``sys_platform``, ...)
    of the running interpreter.  Raises :class:`~pumplab.errors.PumpLabError`
    if ``root`` itself is not installed: a bill of materials describes an
    installed environment, not a source tree.
    """
    env = {name: str(value) for name, value in default_environment().items()}
    env.update(environment or {})
    try:
        root_dist = find(root)
    except metadata.PackageNotFoundError:
        raise PumpLabError(
            f"the {root} distribution is not installed, so there is no bill of materials "
            f"to make (install it with 'python -m pip install .')"
        ) from None
    root_key = canonicalize_name(root)
    found: dict[str, Distribution] = {root_key: root_dist}
    # The extras each package was reached with; walking again with more extras
    # can activate more of its requirements.
    reached: dict[str, frozenset[str]] = {root_key: frozenset(_norm_extra(e) for e in extras)}
    edges: dict[str, set[str]] = {}
    unmet: dict[tuple[str, str], Unmet] = {}
    queue = [root_key]
    while queue:
        key = queue.pop()
        dist = found[key]
        owner = _name_of(dist, key)
        for text in dist.requires or ():
            try:
                req = Requirement(text)
            except InvalidRequirement:
                unmet[(owner, text)] = Unmet(text, owner, "not a valid PEP 508 requirement")
                continue
            if not _active(req, reached[key], env):
                continue
            dep_key = canonicalize_name(req.name)
            edges.setdefault(key, set()).add(dep_key)
            dep = found.get(dep_key)
            if dep is None:
                try:
                    dep = find(req.name)
                except metadata.PackageNotFoundError:
                    unmet[(owner, text)] = Unmet(text, owner, "not installed")
                    edges[key].discard(dep_key)
                    continue
                found[dep_key] = dep
            problem = _version_problem(req, dep.version)
            if problem:
                unmet[(owner, text)] = Unmet(text, owner, problem)
            wanted = reached.get(dep_key, frozenset()) | {_norm_extra(e) for e in req.extras}
            if dep_key not in reached or wanted != reached[dep_key]:
                reached[dep_key] = wanted
                queue.append(dep_key)
    packages = {key: _package(found[key], key, edges.get(key, set())) for key in found}
    root_package = packages.pop(root_key)
    return Inventory(
        root=root_package,
        packages=tuple(packages[key] for key in sorted(packages)),
        unmet=tuple(unmet[k] for k in sorted(unmet)),
    )


def _norm_extra(extra: str) -> str:
    # PEP 685: extras compare normalised.
    return str(canonicalize_name(extra))


def _active(req: Requirement, extras: frozenset[str], env: Mapping[str, str]) -> bool:
    """Whether ``req`` applies here, for the package reached with ``extras``."""
    if req.marker is None:
        return True
    # A requirement without an extra marker holds for the empty extra; one
    # with ``extra == "x"`` only when x was asked for.
    return any(req.marker.evaluate({**env, "extra": extra}) for extra in ("", *sorted(extras)))


def _version_problem(req: Requirement, version: str) -> str:
    """Empty if ``version`` satisfies ``req``, else why not."""
    if not req.specifier:
        return ""
    try:
        if req.specifier.contains(version, prereleases=True):
            return ""
    except InvalidVersion:
        return f"installed version {version!r} is not a PEP 440 version"
    return f"installed {version} does not satisfy {req.specifier}"


def _field(meta: metadata.PackageMetadata, name: str) -> str:
    """The first value of a core-metadata field, or ``""``."""
    values = meta.get_all(name) or []
    return str(values[0]) if values else ""


def _name_of(dist: Distribution, key: str) -> str:
    return (_field(dist.metadata, "Name") or key).strip()


def _package(dist: Distribution, key: str, requires: Iterable[str]) -> Package:
    meta = dist.metadata
    return Package(
        name=_name_of(dist, key),
        key=key,
        version=dist.version,
        summary=_field(meta, "Summary").strip(),
        author=_author(meta),
        licenses=licenses_of(meta),
        requires=tuple(sorted(set(requires) - {key})),
    )


def _author(meta: metadata.PackageMetadata) -> str:
    """The ``Author`` field, or the names (else addresses) of ``Author-email``."""
    author = _field(meta, "Author").strip()
    if author and author.upper() != "UNKNOWN":
        return author
    emails = _field(meta, "Author-email").strip()
    if not emails:
        return ""
    parsed = getaddresses([emails])
    names = [name or address for name, address in parsed if name or address]
    return ", ".join(names)


def licenses_of(meta: metadata.PackageMetadata) -> tuple[License, ...]:
    """The licences a distribution's metadata declares, best source first.

    1. ``License-Expression`` (core metadata 2.4, PEP 639): an SPDX expression.
    2. ``License``, when it is a name (one short line) rather than a full text.
    3. The ``License :: ...`` trove classifiers, by their last part
       (``License :: OSI Approved :: MIT License`` -> ``MIT License``).

    Names are never turned into SPDX identifiers here: ``BSD License`` names
    no single SPDX licence, and a wrong identifier is worse than a name.
    Empty when the metadata declares nothing usable.
    """
    expression = _field(meta, "License-Expression").strip()
    if expression:
        return (License("expression", expression),)
    text = _field(meta, "License").strip()
    if text and text.upper() != "UNKNOWN" and "\n" not in text and len(text) <= _MAX_LICENSE_NAME:
        return (License("name", text),)
    names: list[str] = []
    for classifier in meta.get_all("Classifier") or []:
        parts = [part.strip() for part in classifier.split("::")]
        # "License :: OSI Approved" alone says only that it is OSI approved.
        usable = parts[0] == "License" and len(parts) >= 2 and parts[-1] != "OSI Approved"
        if usable and parts[-1] not in names:
            names.append(parts[-1])
    return tuple(License("name", name) for name in names)


# --------------------------------------------------------------------------
# The CycloneDX document

#: Characters a purl component keeps unescaped (purl spec: RFC 3986 unreserved).
_PURL_SAFE = "-._~"


def purl(name: str, version: str) -> str:
    """The Package URL of a PyPI distribution: ``pkg:pypi/NAME@VERSION``.

    The purl specification's PyPI rule: the name lower-cased with ``_``
    replaced by ``-``; every component percent-encoded (a local version's
    ``+`` is ``%2B``, an epoch's ``!`` is ``%21``).
    https://github.com/package-url/purl-spec (PURL-TYPES.rst, "pypi").
    """
    if not name or not version:
        raise ValueError("a purl needs a name and a version")
    quoted_name = urllib.parse.quote(name.lower().replace("_", "-"), safe=_PURL_SAFE)
    quoted_version = urllib.parse.quote(version, safe=_PURL_SAFE)
    return f"pkg:pypi/{quoted_name}@{quoted_version}"


def cyclonedx(inv: Inventory, *, serial_number: uuid.UUID, timestamp: datetime) -> dict[str, Any]:
    """The CycloneDX 1.5 JSON document (as a dict, ready for :func:`json.dumps`) of ``inv``.

    ``serial_number`` must be a fresh UUID per document (CycloneDX: "every BOM
    generated SHOULD have a unique serial number"); ``timestamp`` is when it
    was made, timezone-aware (written in UTC).
    """
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("the timestamp must be timezone-aware")
    refs = {p.key: purl(p.name, p.version) for p in (inv.root, *inv.packages)}
    tool = {"type": "application", "name": inv.root.name, "version": inv.root.version,
            "purl": refs[inv.root.key]}  # fmt: skip
    document: dict[str, Any] = {
        "bomFormat": BOM_FORMAT,
        "specVersion": SPEC_VERSION,
        "serialNumber": serial_number.urn,
        "version": 1,
        "metadata": {
            "timestamp": _iso_utc(timestamp),
            "tools": {"components": [tool]},
            "component": _component(inv.root, "application", refs),
        },
        "components": [_component(p, "library", refs) for p in inv.packages],
        "dependencies": [
            {"ref": refs[p.key], "dependsOn": [refs[k] for k in p.requires if k in refs]}
            for p in (inv.root, *inv.packages)
        ],
    }
    return document


def _component(p: Package, kind: str, refs: Mapping[str, str]) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": kind,
        "bom-ref": refs[p.key],
        "name": p.name,
        "version": p.version,
        "purl": refs[p.key],
    }
    if p.author:
        component["author"] = p.author
    if p.summary:
        component["description"] = _one_line(p.summary)
    if p.licenses:
        component["licenses"] = _licenses(p.licenses)
    return component


def _licenses(licenses: tuple[License, ...]) -> list[dict[str, Any]]:
    # CycloneDX 1.5 "licenseChoice": either one SPDX expression, or license
    # objects (``id`` must be an SPDX identifier, so free text goes in ``name``).
    expressions = [lic for lic in licenses if lic.kind == "expression"]
    if expressions:
        return [{"expression": expressions[0].value}]
    return [{"license": {"name": lic.value}} for lic in licenses]


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()

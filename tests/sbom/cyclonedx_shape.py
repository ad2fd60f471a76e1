"""The CycloneDX 1.5 JSON schema's structure, as the checks the SBOM tests need.

Written here from the schema (https://cyclonedx.org/schema/bom-1.5.schema.json,
CycloneDX/specification) rather than vendored: the required keys, the patterns
and enumerations a pumplab document uses, and ``additionalProperties: false``
on the objects it writes.  :func:`problems` returns every violation found,
so a test can show both that a good document has none and that each kind of
bad document is caught.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

__all__ = ["problems"]

# bom-1.5.schema.json, "serialNumber".pattern
SERIAL = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# definitions.component.properties.type.enum
COMPONENT_TYPES = {
    "application", "framework", "library", "container", "platform", "operating-system",
    "device", "device-driver", "firmware", "file", "machine-learning-model", "data",
}  # fmt: skip
# The properties of the objects pumplab writes (the schema allows more; none
# other may appear, as every object there has additionalProperties: false).
TOP_KEYS = {"bomFormat", "specVersion", "serialNumber", "version", "metadata", "components",
            "dependencies", "$schema", "services", "externalReferences", "compositions",
            "vulnerabilities", "annotations", "properties", "signature"}  # fmt: skip
METADATA_KEYS = {"timestamp", "tools", "authors", "component", "manufacture", "supplier",
                 "licenses", "properties"}  # fmt: skip
COMPONENT_KEYS = {"type", "mime-type", "bom-ref", "supplier", "author", "publisher", "group",
                  "name", "version", "description", "scope", "hashes", "licenses", "copyright",
                  "cpe", "purl", "swid", "modified", "pedigree", "externalReferences",
                  "components", "evidence", "releaseNotes", "modelCard", "data", "properties",
                  "signature"}  # fmt: skip
# A purl: scheme, type, optional namespace, name, @version (purl-spec).
PURL = re.compile(r"^pkg:pypi/[a-z0-9.~%-]+@[A-Za-z0-9.~%_-]+$")


def problems(doc: Any) -> list[str]:
    """Every way ``doc`` breaks the CycloneDX 1.5 structure pumplab relies on."""
    found: list[str] = []
    if not isinstance(doc, dict):
        return ["the document is not a JSON object"]
    for key in ("bomFormat", "specVersion", "version"):  # schema "required"
        if key not in doc:
            found.append(f"missing required {key}")
    found += [f"unknown top-level key {k}" for k in sorted(set(doc) - TOP_KEYS)]
    if doc.get("bomFormat") != "CycloneDX":
        found.append("bomFormat is not 'CycloneDX'")
    if doc.get("specVersion") != "1.5":
        found.append("specVersion is not '1.5'")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        found.append("version is not an integer >= 1")
    if not isinstance(doc.get("serialNumber"), str) or not SERIAL.match(doc["serialNumber"]):
        found.append("serialNumber is not a lower-case urn:uuid")
    refs: list[str] = []
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        found.append("metadata is missing")
    else:
        found += [f"unknown metadata key {k}" for k in sorted(set(metadata) - METADATA_KEYS)]
        try:
            datetime.fromisoformat(str(metadata.get("timestamp")).replace("Z", "+00:00"))
        except ValueError:
            found.append("metadata.timestamp is not a date-time")
        if "component" not in metadata:
            found.append("metadata.component is missing")
        else:
            found += _component(metadata["component"], "metadata.component", refs)
        tools = metadata.get("tools", {"components": []})
        if not isinstance(tools, dict) or not isinstance(tools.get("components", []), list):
            found.append("metadata.tools is not {components: [...]}")
    components = doc.get("components")
    if not isinstance(components, list) or not components:
        found.append("components is missing or empty")
    else:
        for i, component in enumerate(components):
            found += _component(component, f"components[{i}]", refs)
    if len(refs) != len(set(refs)):
        found.append("a bom-ref is not unique")
    known = set(refs)
    for i, dep in enumerate(doc.get("dependencies", [])):
        if not isinstance(dep, dict) or "ref" not in dep:
            found.append(f"dependencies[{i}] has no ref")
            continue
        if dep["ref"] not in known:
            found.append(f"dependencies[{i}].ref names no component")
        depends = dep.get("dependsOn", [])
        if len(depends) != len(set(depends)):  # uniqueItems
            found.append(f"dependencies[{i}].dependsOn repeats a ref")
        found += [f"dependencies[{i}] depends on unknown {r}" for r in depends if r not in known]
    return found


def _component(c: Any, where: str, refs: list[str]) -> list[str]:
    if not isinstance(c, dict):
        return [f"{where} is not an object"]
    found = [f"{where} has unknown key {k}" for k in sorted(set(c) - COMPONENT_KEYS)]
    for key in ("type", "name"):  # definitions.component.required
        if not isinstance(c.get(key), str) or not c[key]:
            found.append(f"{where}.{key} is missing")
    if c.get("type") not in COMPONENT_TYPES:
        found.append(f"{where}.type is not a CycloneDX component type")
    if not isinstance(c.get("purl"), str) or not PURL.match(c["purl"]):
        found.append(f"{where}.purl is not a pkg:pypi purl with a version")
    if "bom-ref" in c:
        refs.append(c["bom-ref"])
    licenses = c.get("licenses", [])
    if not isinstance(licenses, list):
        found.append(f"{where}.licenses is not a list")
        return found
    expressions = [choice for choice in licenses if "expression" in choice]
    if expressions and len(licenses) != 1:
        found.append(f"{where}.licenses mixes an expression with other entries")
    for choice in licenses:
        # definitions.licenseChoice: exactly one of license / expression;
        # definitions.license: exactly one of id / name.
        if len(set(choice) & {"license", "expression"}) != 1 or set(choice) - {"license",
                                                                              "expression"}:
            found.append(f"{where}.licenses has an entry that is not a licenseChoice")
        elif "license" in choice and len(set(choice["license"]) & {"id", "name"}) != 1:
            found.append(f"{where}.licenses has a license without exactly one of id, name")
    return found

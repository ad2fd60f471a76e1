"""``pumplab sbom``: the software bill of materials of the installed pumplab, as CycloneDX.

``pumplab sbom`` prints a CycloneDX 1.5 JSON document (:mod:`pumplab.sbom`)
describing the installed pumplab and every distribution it needs at run time,
with versions, Package URLs, declared licences and the dependency graph.
That document is the CycloneDX format itself, so it carries no
``pumplab.<kind>/1`` schema key (like ``history export``, it is exempt from
that convention: docs/cli.md).  ``--out FILE`` writes it to FILE instead
(through a temporary file, replaced only on success) and prints a table of the
components, or with ``--json`` a ``pumplab.sbom/1`` summary.  A requirement
the environment does not meet (not installed, or another version) is one
warning line each on stderr; the bill still lists what is installed.

Deliberately not here: making the inventory (pure, in :mod:`pumplab.sbom`),
optional extras, vulnerability data, and hashes of installed files.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from pumplab.cli._common import (
    EXIT_OK,
    check_output_path,
    emit_json,
    guard,
    new_table,
    print_table,
    warn,
    write_atomically,
)
from pumplab.errors import InputError

if TYPE_CHECKING:
    from pumplab.sbom import Inventory, Package

__all__ = ["register", "sbom_command", "summary"]

_HELP = """\
Print the software bill of materials (SBOM) of the installed pumplab.

A CycloneDX 1.5 JSON document: pumplab and every distribution it needs at run
time, with versions, Package URLs (pkg:pypi/NAME@VERSION), declared licences
and the dependency graph, read from the installed package metadata.  Without
--out the document goes to stdout; it is the CycloneDX format itself, with no
pumplab schema key.  Writes the --out file (replacing it only on success), or
no file.
"""


def register(app: typer.Typer) -> None:
    """Add the ``sbom`` command."""
    app.command("sbom", help=_HELP, rich_help_panel="Reference")(guard(sbom_command))


def sbom_command(
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE",
        help="Write the CycloneDX document to FILE and print a table of its components.",
    )] = None,
    json_out: Annotated[bool, typer.Option(
        "--json",
        help="With --out: print a summary as one JSON object (schema pumplab.sbom/1).",
    )] = False,
) -> int:
    """The CycloneDX SBOM of the installed pumplab."""
    from pumplab.sbom import SPEC_VERSION, cyclonedx, inventory

    if json_out and out is None:
        raise InputError("needs --out: without --out the output is already the CycloneDX "
                         "JSON document", source="--json", allowed="--json with --out FILE")
    if out is not None:
        check_output_path(out, option="--out")
    inv = inventory()
    for unmet in inv.unmet:
        warn(f"{unmet.required_by} requires {unmet.requirement!r}: {unmet.reason}")
    document = cyclonedx(inv, serial_number=uuid.uuid4(), timestamp=datetime.now(UTC))
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return EXIT_OK

    def produce(stream: IO[str]) -> None:
        stream.write(text)

    write_atomically(out, produce, option="--out")
    if json_out:
        emit_json("sbom", summary(inv, document, out))
        return EXIT_OK
    # The path on a line of its own: a table title would wrap a long one.
    sys.stdout.write(f"wrote {out}\n")
    table = new_table("component", "version", "licences", "purl",
                      title=f"CycloneDX {SPEC_VERSION} SBOM of {inv.root.name} "
                            f"{inv.root.version}: {len(inv.packages)} components")  # fmt: skip
    for p, component in zip(inv.packages, document["components"], strict=True):
        table.add_row(p.name, p.version, _licences(p) or "(none declared)", component["purl"])
    print_table(table)
    return EXIT_OK


def summary(inv: Inventory, document: dict[str, Any], out: Path) -> dict[str, Any]:
    """The body of ``pumplab.sbom/1`` for a document written to ``out``."""
    root = {
        "name": inv.root.name,
        "version": inv.root.version,
        "purl": document["metadata"]["component"]["purl"],
    }
    components = [
        {
            "name": p.name,
            "version": p.version,
            "purl": c["purl"],
            "licenses": [lic.value for lic in p.licenses],
            "depends_on": list(p.requires),
        }
        for p, c in zip(inv.packages, document["components"], strict=True)
    ]
    unmet = [
        {"requirement": u.requirement, "required_by": u.required_by, "reason": u.reason}
        for u in inv.unmet
    ]
    return {
        "path": str(out),
        "bom_format": document["bomFormat"],
        "spec_version": document["specVersion"],
        "serial_number": document["serialNumber"],
        "timestamp": document["metadata"]["timestamp"],
        "component": root,
        "components": components,
        "unmet": unmet,
    }


def _licences(p: Package) -> str:
    return "; ".join(lic.value for lic in p.licenses)

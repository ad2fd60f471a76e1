"""`pumplab sbom`: CycloneDX on stdout, or written with a table or a pumplab.sbom/1 summary."""

from __future__ import annotations

import json
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from cyclonedx_shape import problems
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pumplab.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stdout_is_the_cyclonedx_document_itself(capsys: pytest.CaptureFixture[str]) -> None:
    """No schema key, no table: the document a CycloneDX tool reads, with every declared
    run-time dependency at its installed version."""
    code, out, err = run_cli(capsys, "sbom")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert problems(doc) == [] and "schema" not in doc
    versions = {canonicalize_name(c["name"]): c["version"] for c in doc["components"]}
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for text in declared:
        name = Requirement(text).name
        assert versions.get(canonicalize_name(name)) == metadata.version(name), text


def test_every_bom_gets_its_own_serial_number(capsys: pytest.CaptureFixture[str]) -> None:
    """CycloneDX: a unique serial per generated BOM, even with unchanged contents."""
    serials = set()
    for _ in range(2):
        assert main(["sbom"]) == 0
        serials.add(json.loads(capsys.readouterr().out)["serialNumber"])
    assert len(serials) == 2


def test_out_writes_the_document_and_prints_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out FILE: the document in FILE, a component table (one row per line) on stdout."""
    target = tmp_path / "bom.json"
    code, out, err = run_cli(capsys, "sbom", "--out", str(target))
    assert (code, err) == (0, "")
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert problems(doc) == []
    lines = out.splitlines()
    assert lines[0] == f"wrote {target}"
    assert lines[1].startswith("CycloneDX 1.5 SBOM of pumplab ")
    assert lines[2].split() == ["component", "version", "licences", "purl"]
    assert len(lines) == 3 + len(doc["components"])
    assert all(c["purl"] in out for c in doc["components"])


def test_out_with_json_prints_the_summary_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out FILE --json: pumplab.sbom/1, agreeing with the file it describes."""
    target = tmp_path / "bom.json"
    code, out, _ = run_cli(capsys, "sbom", "--out", str(target), "--json")
    summary = json.loads(out)
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert code == 0 and next(iter(summary)) == "schema"
    assert summary["schema"] == "pumplab.sbom/1"
    assert summary["serial_number"] == doc["serialNumber"]
    assert summary["path"] == str(target) and summary["spec_version"] == "1.5"
    assert [c["purl"] for c in summary["components"]] == [c["purl"] for c in doc["components"]]
    assert summary["component"]["name"] == "pumplab" and summary["unmet"] == []


def test_json_without_out_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --out the output already is JSON (CycloneDX): --json alone is one error."""
    code, out, err = run_cli(capsys, "sbom", "--json")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("pumplab: error: --json: needs --out")


def test_an_unusable_out_path_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory or a missing parent: one line naming the path; nothing written."""
    for bad in (tmp_path, tmp_path / "missing" / "bom.json"):
        code, out, err = run_cli(capsys, "sbom", "--out", str(bad))
        assert (code, out) == (2, "") and err.count("\n") == 1 and str(bad) in err
    assert list(tmp_path.iterdir()) == []


def test_an_unmet_requirement_is_a_warning_and_the_bill_is_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dependency that is missing from the environment is named on stderr, one line."""
    from pumplab import sbom

    real = sbom.inventory

    def with_a_ghost() -> sbom.Inventory:
        inv = real()
        ghost = sbom.Unmet("ghost>=1", "pumplab", "not installed")
        return sbom.Inventory(inv.root, inv.packages, (ghost,))

    monkeypatch.setattr(sbom, "inventory", with_a_ghost)
    code, out, err = run_cli(capsys, "sbom", "--out", str(tmp_path / "b.json"), "--json")
    assert code == 0
    assert err == "pumplab: warning: pumplab requires 'ghost>=1': not installed\n"
    assert json.loads(out)["unmet"] == [
        {"requirement": "ghost>=1", "required_by": "pumplab", "reason": "not installed"}]


def test_an_environment_without_the_installed_distribution_is_one_error_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run from a source tree that was never installed: no bill, one line, exit 3."""
    from pumplab import sbom

    real = sbom.inventory
    monkeypatch.setattr(sbom, "inventory", lambda: real("pumplab-never-installed"))
    code, out, err = run_cli(capsys, "sbom")
    assert (code, out) == (3, "")
    assert err.count("\n") == 1 and "pumplab-never-installed distribution is not installed" in err

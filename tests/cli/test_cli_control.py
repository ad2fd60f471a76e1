"""`pumplab control oref0`: a determine-basal decision from a CASE.json; errors name fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from control_helpers import base_case

from pumplab.cli.main import main
from pumplab.control.oref0 import determine_basal_case


def _write(tmp_path: Path, case: Any) -> Path:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case))
    return path


def test_json_output_is_oref0s_object_with_the_schema_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the library's decision unchanged, plus the schema key."""
    case = base_case()
    case["glucose_status"]["glucose"] = 180
    assert main(["control", "oref0", "--inputs", str(_write(tmp_path, case)), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out.pop("schema") == "pumplab.control-oref0/1"
    assert out == json.loads(json.dumps(determine_basal_case(case)))
    assert out["rate"] > case["profile"]["current_basal"]  # high BG: more insulin


def test_text_output_names_the_decision(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["control", "oref0", "--inputs", str(_write(tmp_path, base_case()))]) == 0
    out = capsys.readouterr().out
    assert "rate" in out and "eventualBG" in out and "reason" in out


def test_a_missing_field_is_one_line_naming_its_key_path(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = base_case()
    del case["profile"]["max_basal"]
    assert main(["control", "oref0", "--inputs", str(_write(tmp_path, case))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "profile.max_basal" in err


@pytest.mark.parametrize(("text", "needle"), [("[1]", "JSON object"), ("{", "not valid JSON")])
def test_a_file_that_is_not_a_case_is_refused(tmp_path: Path, text: str, needle: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "case.json"
    path.write_text(text)
    assert main(["control", "oref0", "--inputs", str(path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and str(path) in err

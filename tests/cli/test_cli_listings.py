"""`pumplab patients`, `pumplab meals`, and the JSON every command prints (docs/cli.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from control_helpers import base_case

from pumplab.cli.main import main
from pumplab.devices.history import SqliteHistory
from pumplab.physiology import load_cohort
from pumplab.physiology.meals import BUILTIN_MEAL_PLANS

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_patients_json_lists_the_cohort_with_its_therapy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """All 30 subjects with age group, weight, TDI, basal, carb ratio and correction factor."""
    code, out, err = run_cli(capsys, "patients", "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["schema"] == "pumplab.patients/1"
    rows = document["patients"]
    cohort = load_cohort()
    assert [r["patient"] for r in rows] == list(cohort.names)
    adult = rows[cohort.names.index("adult#001")]
    therapy = cohort.subject("adult#001").therapy
    assert adult["age_group"] == "adult"
    assert adult["body_weight_kg"] == pytest.approx(therapy.body_weight_kg, abs=1e-3)
    assert adult["total_daily_insulin_u"] == pytest.approx(therapy.total_daily_insulin_u, abs=1e-3)
    assert adult["basal_rate_u_per_h"] == pytest.approx(therapy.basal_rate_u_per_h, abs=1e-4)
    assert adult["carb_ratio_g_per_u"] == pytest.approx(therapy.carb_ratio_g_per_u, abs=1e-3)
    assert adult["correction_factor_mg_dl_per_u"] == pytest.approx(
        therapy.correction_factor_mg_dl_per_u, abs=1e-3)


def test_patients_table_and_selection(capsys: pytest.CaptureFixture[str]) -> None:
    """A title, a header and a row per selected subject, in the order given."""
    code, out, _ = run_cli(capsys, "patients", "--patients", "child#002,adult#010")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4
    assert "weight (kg)" in lines[1] and "carb ratio (g/U)" in lines[1]
    assert lines[2].split()[:2] == ["child#002", "child"]
    assert lines[3].split()[:2] == ["adult#010", "adult"]


def test_meals_lists_every_built_in_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """Fixed scenarios with their meals, random plans with their slots."""
    code, out, _ = run_cli(capsys, "meals", "--json")
    document = json.loads(out)
    assert code == 0 and document["schema"] == "pumplab.meals/1"
    scenarios = {s["name"]: s for s in document["scenarios"]}
    assert list(scenarios) == list(BUILTIN_MEAL_PLANS)
    standard = scenarios["standard-day"]
    assert [(m["time"], m["carbs_g"], m["label"]) for m in standard["meals"]] == [
        ("07:00", 45.0, "breakfast"), ("12:00", 70.0, "lunch"), ("18:00", 80.0, "dinner")]
    assert scenarios["random"]["kind"] == "random" and scenarios["random"]["slots"]
    assert scenarios["random-carb-error"]["carb_counting"] is not None
    code, out, _ = run_cli(capsys, "meals")
    assert code == 0 and all(name in out for name in BUILTIN_MEAL_PLANS)
    assert "07:00 45 g breakfast" in out


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "pump.sqlite"
    with SqliteHistory(path) as store:
        store.append("meter_bg", {"bg_mg_dl": 140, "meter": "contour"}, device_time_ms=0,
                     clock_ms=1_704_096_000_000)  # fmt: skip
    return path


def _documents(tmp_path: Path, history: Path) -> dict[str, list[str]]:
    """argv of every --json output, by the schema it must carry."""
    inputs = tmp_path / "in.csv"
    inputs.write_text("minute,carbs_g,insulin_u\n0,0,0\n9,0,0\n")
    trace = tmp_path / "trace.csv"
    trace.write_text("minute,bg_mg_dl\n0,100\n5,120\n")
    case = tmp_path / "case.json"
    case.write_text(json.dumps(base_case()))
    scenario = tmp_path / "scenario.toml"
    scenario.write_text('name = "mine"\nhours = 1\n')
    capture = tmp_path / "air.jsonl"
    capture.write_text('{"t_ms": 0, "channel": "legacy-916.5", "tx": "bridge", "tx_pos_m": [1, 0], '
                       '"power_dbm": 10.0, "air": "a968e55658e594d555d1a000", "packet": null, '
                       '"repeat": 1, "interval_ms": 0, "rx": {}}\n')
    return {
        "pumplab.control-oref0/1": ["control", "oref0", "--inputs", str(case), "--json"],
        "pumplab.run/1": ["run", "--hours", "1", "--meals", "fasting", "--json",
                          "--out-dir", str(tmp_path / "o")],
        "pumplab.simulation/1": ["patient", "simulate", "--patients", "adult#001",
                                 "--inputs", str(inputs), "--json"],
        "pumplab.patients/1": ["patients", "--json"],
        "pumplab.meals/1": ["meals", "--json"],
        "pumplab.metrics/1": ["metrics", str(trace), "--json"],
        "pumplab.history-verify/1": ["history", "verify", str(history), "--json"],
        "pumplab.history-record/1": ["history", "show", str(history), "--json"],
        "pumplab.radio-decode/1": ["radio", "decode", "--protocol", "legacy",
                                   "a968e55658e594d555d1a000", "--json"],
        "pumplab.radio-encode/1": ["radio", "encode", "--protocol", "legacy", "a73505355d00",
                                   "--json"],
        "pumplab.radio-capture/1": ["radio", "decode", "--capture", str(capture), "--json"],
        "pumplab.sbom/1": ["sbom", "--out", str(tmp_path / "bom.json"), "--json"],
        "pumplab.scenarios/1": ["scenarios", "--json"],
        "pumplab.scenario-check/1": ["scenarios", "check", str(scenario), "--json"],
    }  # fmt: skip


def test_every_json_output_carries_its_schema_and_lists_under_a_key(
    tmp_path: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One object per --json output (JSON Lines: per line), `schema` first, no bare lists."""
    for schema, argv in _documents(tmp_path, history).items():
        code, out, _ = run_cli(capsys, *argv)
        assert code == 0, argv
        if schema == "pumplab.history-record/1":
            documents = [json.loads(line) for line in out.splitlines()]
        else:
            documents = [json.loads(out)]
        for document in documents:
            assert isinstance(document, dict) and next(iter(document)) == "schema"
            assert document["schema"] == schema


def test_docs_describe_every_json_schema(tmp_path: Path, history: Path) -> None:
    """docs/cli.md has a section for each schema a command prints."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `(pumplab\.[a-z0-9-]+/\d+)`", text, flags=re.MULTILINE))
    assert documented == set(_documents(tmp_path, history))

"""`pumplab patient simulate --cgm / --meals`, and the trace read back by `pumplab metrics`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from pumplab.cli.main import main
from pumplab.physiology import load_cohort, simulate
from pumplab.physiology.meals import builtin_meal_plan, realize_meals

HEADER = "minute,carbs_g,insulin_u\n"


def inputs(tmp_path: Path, body: str = "0,0,0\n1439,0,0\n") -> Path:
    path = tmp_path / "inputs.csv"
    path.write_text(HEADER + body)
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def sim(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["patient", "simulate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cgm_column_has_readings_at_five_minute_samples_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--cgm adds cgm_mg_dl: a number every 5 minutes (but for dropouts), empty between."""
    out = tmp_path / "t.csv"
    code, _, err = sim(["--patient", "adult#001", "--inputs", str(inputs(tmp_path)),
                        "--cgm", "--out", str(out)], capsys)
    assert code == 0, err
    table = rows(out)
    assert list(table[0]) == ["patient", "minute", "bg_mg_dl", "gsub_mg_dl", "cgm_mg_dl"]
    filled = [int(r["minute"]) for r in table if r["cgm_mg_dl"]]
    assert all(m % 5 == 0 for m in filled)
    assert len(filled) > 0.9 * (1441 // 5)


def test_cgm_is_seeded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Same seed, same readings; another seed, other readings; true BG unchanged."""
    files = []
    for seed in (1, 1, 2):
        out = tmp_path / f"t{len(files)}.csv"
        assert sim(["--patient", "adult#001", "--inputs", str(inputs(tmp_path)), "--cgm",
                    "--seed", str(seed), "--out", str(out)], capsys)[0] == 0
        files.append(rows(out))
    cgm = [[r["cgm_mg_dl"] for r in f] for f in files]
    assert cgm[0] == cgm[1] and cgm[0] != cgm[2]
    assert [r["bg_mg_dl"] for r in files[0]] == [r["bg_mg_dl"] for r in files[2]]


def test_fresh_sensor_reads_nothing_during_warm_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--sensor-age 0 starts a new sensor: no reading in its 2-hour warm-up."""
    out = tmp_path / "t.csv"
    assert sim(["--patient", "adult#001", "--inputs", str(inputs(tmp_path)), "--cgm",
                "--sensor-age", "0", "--out", str(out)], capsys)[0] == 0
    filled = [int(r["minute"]) for r in rows(out) if r["cgm_mg_dl"]]
    assert min(filled) >= 120


def test_overdose_reads_low_and_the_trace_is_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 40 U overdose drives a child to 0 mg/dL: the CGM reads LOW, metrics still score it."""
    out = tmp_path / "t.csv"
    code, _, err = sim(["--patient", "child#001", "--inputs",
                        str(inputs(tmp_path, "60,0,40\n1439,0,0\n")), "--cgm",
                        "--out", str(out)], capsys)
    assert code == 0, err
    table = rows(out)
    assert "LOW" in {r["cgm_mg_dl"] for r in table}
    assert min(float(r["bg_mg_dl"]) for r in table) == 0.0  # never written negative
    for column in ("cgm_mg_dl", "bg_mg_dl"):
        assert main(["metrics", str(out), "--json", "--column", column]) == 0
        result = json.loads(capsys.readouterr().out)["patients"][0]
        assert result["tbr_54_pct"] > 0 and result["hypo_events"] >= 1


def test_meals_replace_the_carbs_of_the_inputs_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--meals standard-day gives exactly the trace of its meals fed as inputs."""
    out = tmp_path / "t.csv"
    path = inputs(tmp_path, "0,,0\n1439,0,0\n")  # carbs_g empty or zero with --meals
    assert sim(["--patient", "adult#004", "--inputs", str(path), "--meals", "standard-day",
                "--out", str(out)], capsys)[0] == 0
    meals = realize_meals(builtin_meal_plan("standard-day"), n_patients=1, n_minutes=1440)
    expected = simulate(load_cohort().select(["adult#004"]), meals.eaten_g[0],
                        np.zeros(1440)).bg_mg_dl
    assert expected is not None
    got = [float(r["bg_mg_dl"]) for r in rows(out)]
    np.testing.assert_allclose(got, expected[0], atol=5e-5)


def test_meals_with_carbs_in_the_inputs_file_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--meals would silently drop the file's carbs: a non-zero carbs_g is refused with its row."""
    path = inputs(tmp_path, "0,0,0\n30,50,0\n1439,0,0\n")
    out = tmp_path / "t.csv"
    code, _, err = sim(["--patient", "adult#004", "--inputs", str(path), "--meals",
                        "standard-day", "--out", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"{path}, row 2, field 'carbs_g': --meals replaces the carbs of --inputs" in err
    assert "must be empty or zero" in err and not out.exists()


def test_random_meals_differ_between_patients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A random plan draws each patient's own day."""
    out = tmp_path / "t.csv"
    assert sim(["--population", "3", "--inputs", str(inputs(tmp_path)), "--meals", "random",
                "--seed", "5", "--out", str(out)], capsys)[0] == 0
    table = rows(out)
    by_patient: dict[str, list[float]] = {}
    for r in table:
        by_patient.setdefault(r["patient"], []).append(float(r["bg_mg_dl"]))
    traces = list(by_patient.values())
    assert len(traces) == 3 and traces[0] != traces[1]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--cgm"], "--cgm"),  # no --out
        (["--cgm", "--cgm-model", "nosuch", "--out", "t.csv"], "--cgm-model: unknown CGM model"),
        (["--meals", "nosuch"], "nosuch"),
        (["--cgm", "--sensor-age", "-5", "--out", "t.csv"], "--sensor-age"),
    ],
)
def test_bad_cgm_or_meal_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    """Each bad option is refused on one line naming it; no trace is left behind."""
    args = ["--patient", "adult#001", "--inputs", str(inputs(tmp_path))]
    extra = [str(tmp_path / a) if a == "t.csv" else a for a in extra]
    code, _, err = sim(args + extra, capsys)
    assert code == 2
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert not (tmp_path / "t.csv").exists()


def _column(path: Path, patient: str, column: str) -> list[str]:
    return [r[column] for r in rows(path) if r["patient"] == patient]


def test_a_patient_gets_the_same_cgm_and_meals_alone_or_in_the_cohort(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """adult#001's CGM readings and random meals are keyed by its name, not its row."""
    path = inputs(tmp_path, "0,,0\n719,0,0\n")
    traces = {}
    for who in ("adult#001", "all"):
        out = tmp_path / f"{who.replace('#', '')}.csv"
        code, _, err = sim(["--patient", who, "--inputs", str(path), "--cgm", "--meals",
                            "random", "--seed", "9", "--out", str(out)], capsys)
        assert code == 0, err
        traces[who] = out
    for column in ("bg_mg_dl", "cgm_mg_dl"):  # bg carries the meals, cgm the sensor streams
        alone = _column(traces["adult#001"], "adult#001", column)
        assert alone == _column(traces["all"], "adult#001", column)
    assert _column(traces["all"], "adult#001", "cgm_mg_dl") != _column(
        traces["all"], "adult#002", "cgm_mg_dl"
    )


def test_cli_cgm_and_meals_equal_the_documented_library_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--seed S gives what MealRandomness/CgmRandomness.from_seed(S, names=...) give (docs)."""
    from pumplab.physiology.meals import MealRandomness, RandomMealPlan
    from pumplab.physiology.sensor import ENLITE, CgmRandomness, simulate_cgm

    names = ["child#003", "adult#007"]
    out = tmp_path / "t.csv"
    path = inputs(tmp_path, "0,,0\n599,0,0\n")
    for name in names:
        code, _, err = sim(["--patient", name, "--inputs", str(path), "--cgm", "--meals",
                            "random", "--seed", "4", "--out", str(out)], capsys)
        assert code == 0, err
        meals = realize_meals(RandomMealPlan(), n_patients=1, n_minutes=600,
                              randomness=MealRandomness.from_seed(4, names=[name]))
        result = simulate(load_cohort().select([name]), meals.eaten_g, np.zeros(600),
                          trace_gsub=True)
        assert result.bg_mg_dl is not None and result.gsub_mg_dl is not None
        got_bg = [float(v) for v in _column(out, name, "bg_mg_dl")]
        np.testing.assert_allclose(got_bg, result.bg_mg_dl[0], atol=5e-5)
        cgm = simulate_cgm(result.gsub_mg_dl, spec=ENLITE, sensor_age_min=1440,
                           randomness=CgmRandomness.from_seed(4, names=[name]))
        assert _column(out, name, "cgm_mg_dl") == cgm.column(0, 601)


def test_population_chunks_give_the_same_cgm_and_meals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A population simulated one patient per chunk writes the same trace as in one chunk."""
    path = inputs(tmp_path, "0,,0\n359,0,0\n")
    args = ["--population", "4", "--inputs", str(path), "--cgm", "--meals", "random",
            "--seed", "2"]
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    assert sim([*args, "--out", str(whole)], capsys)[0] == 0
    monkeypatch.setattr("pumplab.cli.patient._VALUES_PER_CHUNK", 1)
    assert sim([*args, "--out", str(chunked)], capsys)[0] == 0
    assert whole.read_text() == chunked.read_text()

"""Output into a pipe closed early (`pumplab ... | head -1`): quiet, exit 0.

The old command line printed ``pumplab: error: Broken pipe`` and exited 1,
because its ``OSError`` handler ran before the ``BrokenPipeError`` one.  These
tests run the real console entry point in a subprocess, its stdout a real pipe
into ``head -1``.  Each command writes far more than a pipe buffer holds
(64 KiB on Linux), so the write that fails is certain, not a race: the writer
blocks on the full pipe until ``head`` has read its line and exits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pumplab
from pumplab.devices.history import JSONValue, SqliteHistory

#: The source tree of the pumplab this test process imported (the subprocess runs the same).
SRC = Path(pumplab.__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("head") is None, reason="needs head(1)")


def pipe_into_head(*argv: str) -> tuple[int, str, str]:
    """Run ``pumplab ARGV | head -1``; returns pumplab's exit code and stderr, and head's output."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    code = "from pumplab.cli.main import run_cli; run_cli()"
    producer = subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)  # fmt: skip
    head = subprocess.run(["head", "-1"], stdin=producer.stdout, capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert producer.stdout is not None and producer.stderr is not None
    producer.stdout.close()
    err = producer.stderr.read().decode()
    producer.stderr.close()
    return producer.wait(timeout=120), err, head.stdout


@pytest.fixture(scope="module")
def big_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A history whose table and JSON Lines are several times a pipe's buffer."""
    path = tmp_path_factory.mktemp("pipes") / "big.sqlite"
    with SqliteHistory(path) as store:
        for i in range(1500):
            data: dict[str, JSONValue] = {"bg_mg_dl": 100 + i % 50, "meter": "contour" * 10}
            store.append("meter_bg", data, device_time_ms=i * 1000,
                         clock_ms=1_704_096_000_000 + i * 1000)  # fmt: skip
    return path


@pytest.mark.parametrize("json_out", [[], ["--json"]])
def test_history_show_into_head_is_quiet_and_exits_zero(
    big_history: Path, json_out: list[str]
) -> None:
    """`pumplab history show H | head -1`: the first line, nothing on stderr, exit 0."""
    code, err, out = pipe_into_head("history", "show", str(big_history), *json_out)
    assert (code, err) == (0, "")
    assert out.count("\n") == 1


def test_patient_simulate_json_into_head_is_quiet_and_exits_zero(tmp_path: Path) -> None:
    """`pumplab patient simulate ... --json | head -1`: '{', nothing on stderr, exit 0."""
    inputs = tmp_path / "in.csv"
    inputs.write_text("minute,carbs_g,insulin_u\n0,0,0\n")
    code, err, out = pipe_into_head("patient", "simulate", "--population", "2000",
                                    "--inputs", str(inputs), "--json")  # fmt: skip
    assert (code, err, out) == (0, "", "{\n")

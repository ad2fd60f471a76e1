"""Optional extras stay optional: the lab's core never imports matplotlib, Dask or pyarrow."""

from __future__ import annotations

import subprocess
import sys

from labkit import child_env


def loaded_after(statement: str) -> set[str]:
    code = (f"import sys; {statement}; print(','.join(m for m in ('matplotlib', 'distributed', "
            "'dask', 'pyarrow', 'playwright') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=child_env())
    return {m for m in out.stdout.strip().split(",") if m}


def test_scenarios_runner_results_and_store_import_no_optional_extra() -> None:
    """Planning, running locally, storing and building the JSON need none of the extras."""
    assert loaded_after("import pumplab.sim.scenario, pumplab.sim.runner, "
                        "pumplab.sim.results, pumplab.sim.store, pumplab.sim.standin") == set()


def test_the_report_imports_matplotlib_only_when_drawing() -> None:
    """`import pumplab.report` is light; matplotlib loads on the first figure."""
    assert loaded_after("import pumplab.report") == set()

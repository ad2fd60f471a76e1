"""The README's quick start and CI agree, and the package's surface is sane."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_quick_start_has_exactly_two_commands() -> None:
    """One installs and runs the main job; one installs the test extras and runs the tests."""
    commands = quick_start_commands()
    assert len(commands) == 2
    assert commands[0].endswith("pumplab run")
    assert "[test]" in commands[1] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """.ci/run runs the README's test command as written, nothing looser."""
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert quick_start_commands()[1] in ci


def test_importing_pumplab_imports_no_subpackage() -> None:
    """`import pumplab` stays light: numba, numpy and the subpackages load on use."""
    import subprocess
    import sys

    code = ("import sys, pumplab; bad = [m for m in ('numpy', 'numba', 'pumplab.physiology', "
            "'pumplab.devices') if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""

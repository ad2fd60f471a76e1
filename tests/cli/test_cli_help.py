"""Help, version, shell completion, and a light start: what a new user meets first."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

import pumplab
from pumplab.cli import main as cli_main
from pumplab.cli.main import COMMANDS, build_app, main

SRC = Path(pumplab.__file__).resolve().parents[1]


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every runnable command of the tree, with its words (`history verify`)."""
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in subcommands.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield path, command


LEAVES = sorted(_leaves(typer.main.get_command(build_app())), key=lambda leaf: leaf[0])


def test_the_command_tree_is_the_documented_one() -> None:
    """The commands docs/cli.md and the README describe, each from one registered module."""
    assert [" ".join(path) for path, _ in LEAVES] == [
        "control oref0", "export", "history export", "history show", "history verify", "meals",
        "metrics", "patient simulate", "patients", "radio decode", "radio encode", "report",
        "run", "sbom", "scenarios check", "scenarios show",
    ]
    assert COMMANDS == ("run", "scenarios", "report", "export", "patient", "control", "patients",
                        "meals", "metrics", "history", "radio", "sbom")


@pytest.mark.parametrize("path", [path for path, _ in LEAVES], ids=" ".join)
def test_every_command_says_which_files_it_writes(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--help` of each command exits 0 and says what it writes (or that it writes none)."""
    assert main([*path, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Writes" in out, out


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_option_has_help(path: tuple[str, ...], command: Any) -> None:
    """No option or argument is left for the user to guess."""
    for param in command.params:
        assert (getattr(param, "help", None) or "").strip(), (path, param.name)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`pumplab --version` prints the package version."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"pumplab {pumplab.__version__}\n"


def _run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})},
                          timeout=60)  # fmt: skip


def test_shell_completion_completes_command_names() -> None:
    """Bash completion (the protocol the installed script uses) offers `history` for `hi`."""
    result = _run("from pumplab.cli.main import run_cli; run_cli()",
                  {"_PUMPLAB_COMPLETE": "complete_bash", "COMP_WORDS": "pumplab hi",
                   "COMP_CWORD": "1"})  # fmt: skip
    assert (result.returncode, result.stdout.split()) == (0, ["history"])


def test_show_completion_prints_the_script_to_install(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`pumplab --show-completion bash` prints the script `--install-completion` installs."""
    main(["--show-completion", "bash"])
    out = capsys.readouterr().out
    assert "_PUMPLAB_COMPLETE=complete_bash" in out and "complete " in out


def test_help_and_the_command_modules_import_nothing_heavy() -> None:
    """`pumplab --help` loads neither numpy, numba nor the simulator, devices or metrics."""
    heavy = ("numpy", "numba", "pumplab.physiology", "pumplab.devices", "pumplab.sim",
             "pumplab.metrics", "pumplab.sbom")  # fmt: skip
    code = (
        "import sys, contextlib, io\n"
        "from pumplab.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['--help']) == 0\n"
        "    for c in ('run', 'patient simulate', 'metrics', 'history show', 'patients',\n"
        "              'radio decode', 'sbom', 'scenarios', 'scenarios show',\n"
        "              'scenarios check', 'report', 'export'):\n"
        "        assert main([*c.split(), '--help']) == 0\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_adding_a_command_is_one_module_and_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module with `register(app)` named in COMMANDS appears in `pumplab` (docs/cli.md)."""
    import types

    module = types.ModuleType("pumplab.cli.hello")

    def hello() -> int:
        print("hello")
        return 0

    def register(app: typer.Typer) -> None:
        app.command("hello", help="Say hello.\n\nWrites no file.")(hello)

    module.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pumplab.cli.hello", module)
    monkeypatch.setattr(cli_main, "COMMANDS", (*COMMANDS, "hello"))
    assert main(["hello"]) == 0

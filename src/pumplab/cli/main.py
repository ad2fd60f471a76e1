"""Entry point of the ``pumplab`` command: the Typer application and its one error style.

:data:`COMMANDS` lists the command modules, in the order ``pumplab --help``
shows them; each module of this package named there has ``register(app)``,
which adds its command (or group of commands) to the root Typer application.
Adding a command is one module and one line here (docs/cli.md, "How to add a
command").  Command modules import numpy, numba and the simulator inside
their handlers, so ``pumplab --help`` and ``import pumplab.cli.main`` stay
light.

:func:`main` runs Click in non-standalone mode and maps every outcome to an
exit code and at most one line on stderr (docs/cli.md, "Errors and exit
codes"):

* a usage or input error (Click's, or any :class:`~pumplab.errors.InputError`)
  prints ``pumplab: error: FIELD: problem (allowed: ...)`` and exits 2 --
  never Click's multi-line usage block; a scenario file with several problems
  prints one such line per problem (:func:`~pumplab.cli._common.error_lines`);
* a failed check exits 1 (the command itself returns that);
* any other error prints one line and exits 3; ``PUMPLAB_DEBUG=1`` lets an
  unforeseen exception through with its traceback, for developers;
* Ctrl-C prints ``pumplab: interrupted`` and exits 130;
* output closed by its reader (``| head -1``) ends quietly with exit 0.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import Annotated, Any, Final

import typer

from pumplab import __version__
from pumplab.cli._common import (
    CONTEXT_SETTINGS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Interrupted,
    OutputClosed,
    error_line,
    error_lines,
    exit_code_for,
    help_when_bare,
)
from pumplab.errors import PumpLabError

__all__ = ["COMMANDS", "build_app", "main", "run_cli"]

#: Command modules of this package, in the order ``pumplab --help`` lists them.
COMMANDS: Final = (
    "run", "scenarios", "report", "export", "patient", "control", "patients", "meals",
    "metrics", "history", "radio", "sbom",
)

#: Set to 1 to see the traceback of an unforeseen error instead of one line.
DEBUG_ENV: Final = "PUMPLAB_DEBUG"

_HELP = (
    "Open insulin-pump system, virtual patients and their history.\n\n"
    "Every command takes --help.  Errors are one line on stderr, exit 2 for a "
    "usage or input error, 1 for a check that failed (a history that does not "
    "verify), 3 when the work could not be done.  docs/cli.md has the details."
)


def _show_version(value: bool) -> None:
    if value:
        print(f"pumplab {__version__}")
        raise typer.Exit(EXIT_OK)


def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True, help="Print the version and exit.",
    )] = False,
) -> None:
    help_when_bare(ctx)


def build_app() -> typer.Typer:
    """The root Typer application with every command of :data:`COMMANDS` registered."""
    app = typer.Typer(
        name="pumplab",
        help=_HELP,
        add_completion=True,
        context_settings=dict(CONTEXT_SETTINGS),
        rich_markup_mode="rich",
        invoke_without_command=True,
    )
    app.callback()(_root)

    for name in COMMANDS:
        importlib.import_module(f"pumplab.cli.{name}").register(app)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = typer.main.get_command(build_app())
        result = command.main(args=args, prog_name="pumplab", standalone_mode=False)
        sys.stdout.flush()
    except (Interrupted, KeyboardInterrupt):
        print("pumplab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (OutputClosed, BrokenPipeError):
        # Output piped into `head` and closed early: not an error of ours.
        return EXIT_OK
    except SystemExit as exc:  # shell completion ends this way
        if exc.code is None:
            return EXIT_OK
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    except Exception as exc:
        return _report(exc)
    return result if isinstance(result, int) else EXIT_OK


def _report(exc: Exception) -> int:
    """Print ``exc`` as one error line and return its exit code."""
    usage = _click_class("UsageError")
    if isinstance(exc, usage):
        message = _usage_message(exc)
        if message:
            print(error_line(message), file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, _click_class("ClickException")):
        print(error_line(_strip(exc.format_message())), file=sys.stderr)  # type: ignore[attr-defined]
        return EXIT_USAGE
    if isinstance(exc, PumpLabError):
        # One line, or one per problem of a scenario file (all listed at once).
        for line in error_lines(exc):
            print(line, file=sys.stderr)
        return exit_code_for(exc)
    if isinstance(exc, OSError):
        # A file could not be read or written (disk full, no permission):
        # say which and why.  Paths the user names are checked up front.
        where = f"{exc.filename}: " if exc.filename else ""
        print(error_line(f"{where}{exc.strerror or exc}"), file=sys.stderr)
        return EXIT_FAILED
    if os.environ.get(DEBUG_ENV) == "1":
        raise exc
    print(error_line(f"internal error: {type(exc).__name__}: {exc} "
                     f"(a bug; run with {DEBUG_ENV}=1 to see the traceback)"),
          file=sys.stderr)  # fmt: skip
    return EXIT_FAILED


def _click_class(name: str) -> type[Exception]:
    """Click's exception class ``name`` (UsageError, ClickException).

    Found through the public ``typer.BadParameter``, whose bases they are:
    recent Typer releases carry their own copy of Click, so importing them
    from ``click`` would find other classes.
    """
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == name:
            return cls
    raise RuntimeError(f"typer.BadParameter has no base class {name}")  # pragma: no cover


def _strip(message: str) -> str:
    """Click's sentence as our clause: no final period, no pydantic prefix."""
    text = message.strip()
    for prefix in ("Value error, ", "Invalid value: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if text.endswith("."):
        text = text[:-1]
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    return text


def _param_name(param: Any) -> str:
    """How the user names a parameter: its first long option, or its metavar."""
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    if getattr(param, "param_type_name", "") == "option" and opts:
        return str(opts[0])
    metavar = getattr(param, "metavar", None)
    if metavar:
        return str(metavar)
    return str(getattr(param, "name", "") or "?").upper()


def _options_of(ctx: Any) -> str:
    names: list[str] = []
    for param in getattr(getattr(ctx, "command", None), "params", []):
        if getattr(param, "param_type_name", "") == "option" and not param.hidden:
            names.extend(o for o in param.opts if o.startswith("--"))
    return ", ".join(names)


def _usage_message(exc: Exception) -> str:
    """One clause ``FIELD: problem (allowed: ...)`` for a Click usage error."""
    kind = type(exc).__name__
    ctx = getattr(exc, "ctx", None)
    message = str(getattr(exc, "message", "") or "")
    if kind == "NoArgsIsHelpError":
        # A group called without its subcommand: Typer has already printed its
        # help (Rich prints directly), or it is in the message.
        if message:
            print(message)
        return ""
    if kind == "NoSuchOption":
        option = str(getattr(exc, "option_name", "?"))
        return f"{option}: unknown option (allowed: {_options_of(ctx) or 'see --help'})"
    if kind == "MissingParameter":
        param = getattr(exc, "param", None)
        return f"{_param_name(param)}: missing (required)"
    if kind == "BadParameter":
        param = getattr(exc, "param", None)
        hint = getattr(exc, "param_hint", None)
        field = hint if isinstance(hint, str) else _param_name(param)
        return f"{field}: {_strip(message)}"
    if kind == "BadOptionUsage":
        option = str(getattr(exc, "option_name", "?"))
        if "requires an argument" in message:
            return f"{option}: needs a value"
        if "does not take a value" in message:
            return f"{option}: takes no value (it is a flag)"
        return f"{option}: {_strip(message)}"
    if message.startswith("No such command"):
        name = message.split("'", 2)[1] if message.count("'") >= 2 else message
        group = getattr(ctx, "command", None)
        known = ", ".join(group.list_commands(ctx)) if group is not None else ""
        return f"COMMAND: unknown command {name!r} (allowed: {known})"
    if message.startswith("Got unexpected extra argument"):
        found = re.search(r"\(([^()]*)\)$", message)
        extra = found.group(1) if found else "ARGS"
        return f"{extra}: unexpected argument (allowed: the options of --help)"
    return _strip(message)


def _discard_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def run_cli(argv: Sequence[str] | None = None) -> Any:
    """The ``pumplab`` console script: :func:`main`, then exit with its code."""
    code = main(argv)
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        # The reader left (`| head -1`) with output still buffered: see
        # https://docs.python.org/3/library/signal.html#note-on-sigpipe
        _discard_stdout()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run_cli()

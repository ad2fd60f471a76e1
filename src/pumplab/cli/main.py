"""Entry point of the ``pumplab`` command.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``; the module imports what it needs (numpy, numba, the
simulator) inside its handler, so ``pumplab --help`` stays instant.

Any :class:`~pumplab.errors.PumpLabError` (and any operating-system error
about a file) is printed as one line, ``pumplab: error: ...``, with exit code
1; argparse usage errors exit with 2.  Users never see a traceback for a
condition we anticipated.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pumplab import __version__
from pumplab.errors import PumpLabError

__all__ = ["main", "run_cli"]

Handler = Callable[[argparse.Namespace], int]

# Subcommand modules, in the order they appear in --help.
_SUBCOMMANDS = ("run", "patient", "metrics", "history")


def _build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="pumplab",
        description="Open insulin-pump system, virtual patients and attack lab.",
    )
    parser.add_argument("--version", action="version", version=f"pumplab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        importlib.import_module(f"pumplab.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    func: Handler | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except PumpLabError as exc:
        _fail(str(exc))
    except OSError as exc:
        # A file the user named could not be read or written (missing, a
        # directory, no permission, disk full): say which and why, on one line.
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        print("pumplab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and friends: not an error of ours.
        return 0
    return 1


def _fail(message: str) -> None:
    print(f"pumplab: error: {message}", file=sys.stderr)


def run_cli(argv: Sequence[str] | None = None) -> Any:  # pragma: no cover - console script shim
    """The ``pumplab`` console script: :func:`main`, then exit with its code."""
    sys.exit(main(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

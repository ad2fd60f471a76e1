"""What every ``pumplab`` command shares: errors, option types, JSON, tables, progress, files.

A command is one module of :mod:`pumplab.cli` with a ``register(app)``
function (docs/cli.md, "How to add a command"); it builds its options from the
parsers here and leaves error handling to :func:`pumplab.cli.main.main`:

* **Errors.**  Raise :class:`~pumplab.errors.InputError` (``source`` = the
  option or argument, ``allowed`` = what would be accepted) for bad input;
  :func:`main` prints every error as one line ``pumplab: error: FIELD: problem
  (allowed: ...)`` -- a scenario with several problems as one such line per
  problem (:func:`error_lines`).  Exit codes: :data:`EXIT_OK`, :data:`EXIT_CHECK_FAILED`
  (a check the user asked for failed), :data:`EXIT_USAGE` (usage and input
  errors), :data:`EXIT_FAILED` (the work could not be done), 130 (Ctrl-C).
* **Option types.**  :func:`finite_float`, :func:`int_range`, :func:`choice`
  and :func:`name_list` return parsers for ``typer.Option(parser=...)`` whose
  errors name the option and its range.  Numbers go through
  :mod:`pumplab._asciinum`, which is stricter than Typer: Typer (through
  pydantic) accepts ``nan``, ``inf``, ``1_000``, surrounding spaces and the
  digits of other scripts, none of which is a number a user meant to type.
* **Output.**  :func:`emit_json` / :func:`emit_json_line` print JSON that
  carries ``"schema": "pumplab.<kind>/1"``; :func:`print_table` prints a Rich
  table (wrapped to a terminal, one unwrapped line per row into a pipe);
  :func:`warn` prints ``pumplab: warning: ...`` on stderr.
* **Progress.**  :func:`progress` shows a Rich progress bar on stderr, only
  when stderr is a terminal and ``--quiet`` was not given.
* **Files.**  :func:`check_output_path` refuses an unusable output path before
  any work; :func:`write_atomically` writes through a temporary file renamed on
  success (optionally refusing to replace an existing file);
  :func:`place_file` moves a finished file into place the same way, and
  :func:`place_files` several, all or none.  Every
  file gets the mode an ordinary new file gets (0666 minus the umask).

Deliberately not here: anything a command computes.  Nothing heavy is imported
at module level (Rich when a table or a bar is drawn; numpy never), so
``pumplab --help`` loads no numpy, numba or simulator.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

import typer

from pumplab._asciinum import parse_decimal, parse_integer
from pumplab.errors import (
    DecodeError,
    HistoryCorruptError,
    InputError,
)

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "ALL",
    "ALL_NAMES",
    "CONTEXT_SETTINGS",
    "EXIT_CHECK_FAILED",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_SAFE_INT",
    "Interrupted",
    "Names",
    "OutputClosed",
    "check_output_path",
    "choice",
    "default_file_mode",
    "emit_json",
    "emit_json_line",
    "error_line",
    "error_lines",
    "exit_code_for",
    "finite_float",
    "guard",
    "help_when_bare",
    "int_range",
    "json_document",
    "json_ready",
    "name_list",
    "new_group",
    "new_table",
    "one_line",
    "place_file",
    "place_files",
    "print_table",
    "progress",
    "progress_enabled",
    "resolve_names",
    "schema_id",
    "warn",
    "write_atomically",
]

#: The command did what was asked and every check it made passed.
EXIT_OK: Final = 0
#: A check failed: a history that does not verify (or is found damaged while
#: read), a run whose history fails verification.  Nothing else exits with 1.
EXIT_CHECK_FAILED: Final = 1
#: A usage or input error: an unknown option, a value out of range, a file
#: that does not exist or does not parse.  Nothing was done.
EXIT_USAGE: Final = 2
#: The work could not be done: the simulation failed, a file could not be
#: written, or an error nobody foresaw (``PUMPLAB_DEBUG=1`` shows its traceback).
EXIT_FAILED: Final = 3
#: Interrupted with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED: Final = 130

#: Largest integer a JSON reader in any language holds exactly (I-JSON, RFC
#: 7493 section 2.2); the bound of sequence numbers and seeds.
MAX_SAFE_INT: Final = 2**53 - 1

#: The word that selects every name of a list option (``--patients all``).
ALL: Final = "all"

_P = ParamSpec("_P")
_R = TypeVar("_R")


# --------------------------------------------------------------------------
# Errors


class Interrupted(Exception):
    """Ctrl-C inside a command (re-raised so that Click does not swallow it)."""


class OutputClosed(Exception):
    """The reader of our output went away (``pumplab ... | head -1``)."""


def guard(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Wrap a command function so Ctrl-C and a closed pipe reach :func:`main`.

    Click turns ``KeyboardInterrupt`` into a silent exit 130 and a broken pipe
    into a silent exit 1; :func:`pumplab.cli.main.main` wants to print one line
    for the first and exit 0 for the second, so they travel as exceptions of
    our own.  Every command registers through this.
    """

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt as exc:
            raise Interrupted() from exc
        except BrokenPipeError as exc:
            raise OutputClosed() from exc

    return wrapper


def one_line(text: str) -> str:
    """``text`` with control characters (a newline in a file name) escaped: one line."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def error_line(message: str) -> str:
    """The one line every error is printed as."""
    return f"pumplab: error: {one_line(message)}"


def error_lines(exc: BaseException) -> list[str]:
    """The lines an error is printed as: one, or one per problem of a scenario.

    A scenario file is validated whole, and every problem is reported at once
    (:class:`~pumplab.sim.scenario.ScenarioProblems`).  Each problem becomes
    its own error line, ``pumplab: error: FILE: KEY.PATH: problem (allowed:
    ...)``, so each stays one line naming its field, and all of them are
    printed before the command exits 2.  Problems found in command-line
    options (source ``options``) already name their option (``--hours
    (hours)``), so they carry no file.  Any other error is one line.
    """
    from pumplab.errors import ScenarioError

    if isinstance(exc, ScenarioError):
        # Imported only for a scenario error, so ``pumplab --help`` and the
        # other errors never load pydantic or the lab.
        from pumplab.sim.scenario import ScenarioProblems

        if isinstance(exc, ScenarioProblems) and exc.problems:
            source = exc.source
            prefix = "" if source is None or source == "options" else f"{source}: "
            return [error_line(prefix + str(problem)) for problem in exc.problems]
    return [error_line(str(exc))]


def warn(message: str) -> None:
    """Print ``pumplab: warning: message`` on stderr (never suppressed by ``--quiet``)."""
    print(f"pumplab: warning: {one_line(message)}", file=sys.stderr)


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an error raised by a command (docs/cli.md, "Exit codes")."""
    if isinstance(exc, (InputError, DecodeError)):
        return EXIT_USAGE
    if isinstance(exc, HistoryCorruptError):
        # A damaged history is what verification reports: a failed check.
        return EXIT_CHECK_FAILED
    # Any other PumpLabError (a simulation that failed, a history that cannot
    # be opened) and anything unforeseen: the work could not be done.
    return EXIT_FAILED


# --------------------------------------------------------------------------
# Applications and groups

#: Context settings of every command: ``-h`` is ``--help`` too.
CONTEXT_SETTINGS: Final = {"help_option_names": ["-h", "--help"]}


def help_when_bare(ctx: typer.Context) -> None:
    """A group's callback: alone, the group prints its help and exits 2."""
    if ctx.invoked_subcommand is None:
        # The group alone: its overview (on stdout, like --help), as a usage
        # error, since a subcommand is required.
        print(ctx.get_help(), end="")
        raise typer.Exit(EXIT_USAGE)


def new_group(help: str) -> typer.Typer:
    """A command group (``pumplab history``) in the house style.

    Called alone, the group prints its help and exits 2.  Add commands with
    ``group.command(name, help=...)(guard(func))`` and register the group with
    ``app.add_typer(group, name=..., rich_help_panel=...)``.
    """
    group = typer.Typer(help=help, context_settings=dict(CONTEXT_SETTINGS),
                        rich_markup_mode="rich", invoke_without_command=True)  # fmt: skip
    group.callback()(help_when_bare)
    return group


# --------------------------------------------------------------------------
# Option parsers (for ``typer.Option(parser=...)``)
#
# Typer hands a parser the text the user typed, or the default value as
# declared; each parser accepts both.  A parser raises ``typer.BadParameter``:
# pydantic, which Typer validates through, would wrap a ``ValueError`` (and
# ``InputError`` is one) into a message of its own.


class Names(tuple[str, ...]):
    """The names given to a list option, in order; ``("all",)`` selects every name."""

    __slots__ = ()


#: The default of a list option that selects everything.
ALL_NAMES: Final = Names((ALL,))


def _bad(message: str) -> Exception:
    return typer.BadParameter(one_line(message))


def _fmt_number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else repr(value)


def finite_float(
    *,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
    unit: str = "",
) -> Callable[[object], float]:
    """A parser of ASCII decimals in a range; NaN and infinity are refused.

    ``low_open``/``high_open`` exclude the bound.  The range is stated in every
    error, e.g. ``'nan' is not a finite number (allowed: 0 < H <= 336)``.
    """
    lo = _fmt_number(low)
    hi = _fmt_number(high)
    suffix = f" {unit}" if unit else ""
    allowed = f"{lo} {'<' if low_open else '<='} x {'<' if high_open else '<='} {hi}{suffix}"

    def parse(value: object) -> float:
        if isinstance(value, bool):
            raise TypeError("a float option's default must be a number")
        if isinstance(value, (int, float)):
            number = float(value)
            text = _fmt_number(number)
        else:
            text = str(value)
            parsed = parse_decimal(text)
            if parsed is None:
                raise _bad(f"{text!r} is not a number (allowed: {allowed}, ASCII decimal)")
            number = parsed
        if not math.isfinite(number):
            raise _bad(f"{text!r} is not a finite number (allowed: {allowed})")
        below = number <= low if low_open else number < low
        above = number >= high if high_open else number > high
        if below or above:
            raise _bad(f"{text} is out of range (allowed: {allowed})")
        return number

    return parse


def int_range(*, low: int, high: int, unit: str = "") -> Callable[[object], int]:
    """A parser of ASCII integers in ``low..high`` (inclusive)."""
    suffix = f" {unit}" if unit else ""
    allowed = f"an integer {low}..{high}{suffix}"

    def parse(value: object) -> int:
        if isinstance(value, bool):
            raise TypeError("an integer option's default must be an int")
        if isinstance(value, int):
            number = value
            text = str(value)
        else:
            text = str(value)
            parsed = parse_integer(text)
            if parsed is None:
                raise _bad(f"{text!r} is not a whole number (allowed: {allowed})")
            number = parsed
        if not low <= number <= high:
            raise _bad(f"{text} is out of range (allowed: {allowed})")
        return number

    return parse


def choice(values: Sequence[str]) -> Callable[[object], str]:
    """A parser of one of ``values`` (exact, case-sensitive)."""
    allowed = ", ".join(values)

    def parse(value: object) -> str:
        text = str(value)
        if text not in values:
            raise _bad(f"unknown value {text!r} (allowed: {allowed})")
        return text

    return parse


def name_list(*, what: str = "name") -> Callable[[object], Names]:
    """A parser of one comma-separated list of names, or ``all``.

    Returns the names in the order given, or ``("all",)``.  Empty items,
    repeated names and ``all`` mixed with names are refused; whether each name
    exists is the command's business (:func:`resolve_names`), since knowing the
    names can mean loading data that ``--help`` should not.
    """

    def parse(value: object) -> Names:
        if isinstance(value, (tuple, list)):
            items = [str(v) for v in value]
        else:
            items = [part.strip() for part in str(value).split(",")]
        if not items or any(not item for item in items):
            raise _bad(
                f"empty {what} in {str(value)!r} "
                f"(allowed: {what}s separated by commas, or '{ALL}')"
            )
        if ALL in items and len(items) > 1:
            raise _bad(f"'{ALL}' cannot be combined with other {what}s")
        seen: set[str] = set()
        for item in items:
            if item in seen:
                raise _bad(f"{what} {item!r} given twice")
            seen.add(item)
        return Names(items)

    return parse


def resolve_names(
    option: str,
    given: Sequence[str],
    known: Sequence[str],
    *,
    what: str = "name",
    allowed: str | None = None,
) -> tuple[str, ...]:
    """The names of a :func:`name_list` option, ``all`` expanded to ``known``.

    An unknown name is an :class:`InputError` naming ``option`` and the allowed
    names (``allowed``, or ``known`` listed).
    """
    if tuple(given) == (ALL,):
        return tuple(known)
    index = set(known)
    for name in given:
        if name not in index:
            raise InputError(
                f"unknown {what} {name!r}",
                source=option,
                allowed=(allowed or ", ".join(known)) + f", or '{ALL}'",
            )
    return tuple(given)


# --------------------------------------------------------------------------
# JSON


def schema_id(kind: str, version: int = 1) -> str:
    """``pumplab.<kind>/<version>``: the ``schema`` key of every JSON output."""
    return f"pumplab.{kind}/{version}"


def json_ready(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (JSON has neither), recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def json_document(kind: str, body: Mapping[str, Any], *, version: int = 1) -> dict[str, Any]:
    """``{"schema": "pumplab.<kind>/<version>", **body}``, ready for :func:`json.dumps`."""
    if "schema" in body:
        raise ValueError("the body of a JSON output must not carry its own 'schema' key")
    return {"schema": schema_id(kind, version), **json_ready(body)}


def emit_json(kind: str, body: Mapping[str, Any], *, version: int = 1) -> None:
    """Print one JSON object ``{"schema": "pumplab.<kind>/<version>", **body}``."""
    text = json.dumps(json_document(kind, body, version=version), indent=2, allow_nan=False,
                      ensure_ascii=False)  # fmt: skip
    sys.stdout.write(text + "\n")


def emit_json_line(kind: str, body: Mapping[str, Any], *, version: int = 1) -> None:
    """Print one line of JSON Lines, carrying the schema like :func:`emit_json`."""
    document = json_document(kind, body, version=version)
    text = json.dumps(document, allow_nan=False, ensure_ascii=False)
    sys.stdout.write(text + "\n")


# --------------------------------------------------------------------------
# Tables


def new_table(*columns: str | tuple[str, str], title: str | None = None) -> Table:
    """A Rich table in the house style; a column is ``name`` or ``(name, "right")``."""
    from rich.table import Table

    table = Table(box=None, title=title, title_justify="left", header_style="bold",
                  pad_edge=False, show_edge=False)  # fmt: skip
    for column in columns:
        name, justify = (column, "left") if isinstance(column, str) else column
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    return table


def print_table(table: Table) -> None:
    """Print ``table`` on stdout: fitted to a terminal, or one unwrapped line per row.

    Into a pipe or a file every row stays on one line, with no trailing
    spaces, so ``grep`` and ``awk`` see whole rows.
    """
    from rich.console import Console

    # Cells are data (a history record may hold "[bold]" or ":smile:"): shown
    # exactly, never read as Rich markup or emoji codes.
    if sys.stdout.isatty():
        Console(file=sys.stdout, markup=False, emoji=False, highlight=False).print(table)
        return
    for column in table.columns:
        column.no_wrap = True
    buffer = io.StringIO()
    Console(file=buffer, width=1_000_000, color_system=None, force_terminal=False,
            markup=False, emoji=False, highlight=False).print(table)  # fmt: skip
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    sys.stdout.write("".join(line + "\n" for line in lines))


# --------------------------------------------------------------------------
# Progress


def progress_enabled(quiet: bool) -> bool:
    """Bars are drawn only for a person watching: stderr is a terminal, no ``--quiet``."""
    if quiet:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def progress(
    description: str, total: int, *, quiet: bool, unit: str = ""
) -> Iterator[Callable[[float], None]]:
    """A Rich progress bar on stderr; yields ``update(completed)``.

    ``completed`` may be fractional (part of a patient done: the bar moves
    within a chunk); the count shows whole units.

    When bars are off (:func:`progress_enabled`) ``update`` does nothing and
    Rich is not even imported.  The bar is removed when the work ends, so the
    result printed afterwards stands alone.
    """
    if not progress_enabled(quiet):
        yield lambda completed: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def update(completed: float) -> None:
            bar.update(task, completed=completed)

        yield update


# --------------------------------------------------------------------------
# Output files

_ALLOWED_FILE = "a file path in an existing directory"


def default_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 minus the process umask.

    The umask can only be read by setting it; it is put back at once (the
    command line runs one thread).
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _target(path: Path) -> Path:
    # Replacing a symbolic link would replace the link, not the file it names.
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_output_path(path: Path | str, *, option: str) -> None:
    """Refuse an output path that cannot become a regular file, naming ``path``.

    Called before any work, so a long run never ends in "cannot write".
    """
    given = str(path)
    target = _target(Path(path))
    if target.is_dir():
        raise InputError(f"{option} names a directory, not a file", source=given,
                         allowed=_ALLOWED_FILE)  # fmt: skip
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        raise InputError(f"directory {parent} does not exist", source=given,
                         allowed=_ALLOWED_FILE)  # fmt: skip
    if not parent.is_dir():
        raise InputError(f"{parent} is not a directory", source=given, allowed=_ALLOWED_FILE)
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        # A device or pipe would be *replaced* by the rename, not written to.
        raise InputError(f"{option} names an existing file that is not a regular file",
                         source=given, allowed=_ALLOWED_FILE)  # fmt: skip


def place_file(source: Path, target: Path, *, overwrite: bool) -> None:
    """Move the finished file ``source`` to ``target`` (same file system), atomically.

    The file gets :func:`default_file_mode`.  With ``overwrite=False`` an
    existing ``target`` is never replaced (a hard link fails if the name is
    taken; :class:`InputError` then names ``target``), even if it appeared
    after the checks made before the work.
    """
    os.chmod(source, default_file_mode())
    if overwrite:
        os.replace(source, target)
    else:
        try:
            os.link(source, target)  # fails if the name is taken: never replaces
        except FileExistsError:
            raise InputError("already exists; refusing to overwrite it",
                             source=str(target)) from None  # fmt: skip
        except OSError:
            # A file system without hard links: rename, after checking that the
            # name is still free (a file appearing in between would be replaced).
            if target.exists() or target.is_symlink():
                raise InputError("already exists; refusing to overwrite it",
                                 source=str(target)) from None  # fmt: skip
            os.replace(source, target)
        else:
            os.unlink(source)
    _fsync_directory(target.parent if str(target.parent) else Path("."))


def place_files(moves: Sequence[tuple[Path, Path]]) -> None:
    """Move finished files into place, each ``(source, target)``: all of them or none.

    No target is ever replaced (:func:`place_file` with ``overwrite=False``);
    if one cannot be placed, the targets already placed by this call are
    removed again, so a failed command leaves none of its files behind.
    """
    placed: list[Path] = []
    try:
        for source, target in moves:
            place_file(source, target, overwrite=False)
            placed.append(target)
    except BaseException:
        for target in placed:
            with contextlib.suppress(OSError):
                os.unlink(target)
        raise


def write_atomically(
    path: Path | str,
    produce: Callable[[IO[str]], None],
    *,
    option: str,
    overwrite: bool = True,
) -> None:
    """Call ``produce(stream)`` on a temporary file, then move it to ``path``.

    Any exception (from ``produce`` or the file system) removes the temporary
    file and leaves ``path`` as it was; file-system errors become an
    :class:`InputError` naming ``path`` as the user gave it.
    """
    check_output_path(path, option=option)
    given = str(path)
    target = _target(Path(path))
    if not overwrite and target.exists():
        raise InputError("already exists; refusing to overwrite it", source=given)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot create a file in {directory}: {exc.strerror or exc}",
                         source=given) from exc  # fmt: skip
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as stream:
            produce(stream)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            place_file(Path(tmp_name), target, overwrite=overwrite)
        except InputError:
            raise
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror or exc}", source=given) from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _fsync_directory(directory: Path) -> None:
    """Make a new directory entry durable (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

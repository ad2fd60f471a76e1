"""What the lab's commands (``report``, ``export``) share: finding a results store, staging.

``RUN_DIR|STORE`` arguments name either a results store (the SQLite file a
lab run writes, docs/scale.md) or a run's folder holding one under its
default name, :data:`STORE_NAME`.  :func:`store_path` resolves the argument
without opening anything; :func:`open_store` opens the file for reading and
refuses, before writing anything to it, a file that is not a store.
:func:`choose_run` picks the run to read when a store holds several.
:func:`staging` and :func:`output_folder` give a command a private folder to
produce its files in, and an output folder removed again if the command
fails before placing anything in it.

Deliberately not here: reading or rendering results (the lab library does),
and ``pumplab run`` (it keeps its own output rules).  Nothing heavy at module
level: the lab is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pumplab.errors import InputError

if TYPE_CHECKING:
    from pumplab.sim.results import RunResult
    from pumplab.sim.store import ResultsStore, StoredRun

__all__ = [
    "RUN_HELP",
    "SOURCE_HELP",
    "STORE_NAME",
    "choose_run",
    "load_chosen_run",
    "open_store",
    "output_folder",
    "staging",
    "store_path",
]

#: The results store's file name inside a run's folder: the lab's
#: ``pumplab.sim.store.DEFAULT_STORE_NAME``, repeated here so that ``--help``
#: need not import the lab (a test keeps the two equal).
STORE_NAME: Final = "results.sqlite"

#: Help of every ``RUN_DIR|STORE`` argument.
SOURCE_HELP: Final = (
    f"A run's folder holding its results store ({STORE_NAME}), or a results store file "
    "(SQLite, written by a lab run).  Only read: it is never modified."
)

#: Help of every ``--run`` option.
RUN_HELP: Final = (
    "Which run of a store holding several: (a prefix of) its scenario hash, with or "
    "without 'sha256:', and '@BODY' when runs of one scenario differ by task body.  "
    "Not needed when the store holds one run."
)

_ALLOWED_SOURCE: Final = f"a run folder holding {STORE_NAME}, or a results store file"


def store_path(given: Path) -> Path:
    """The store file that ``RUN_DIR|STORE`` names (not opened yet).

    A folder must hold :data:`STORE_NAME`; anything else must be a regular
    file.  Errors name the path as the user typed it.
    """
    if given.is_dir():
        candidate = given / STORE_NAME
        if not candidate.is_file():
            raise InputError(f"this folder holds no results store ({STORE_NAME})",
                             source=str(given), allowed=_ALLOWED_SOURCE)  # fmt: skip
        return candidate
    if given.is_file():
        return given
    if given.exists():
        raise InputError("not a regular file or folder", source=str(given),
                         allowed=_ALLOWED_SOURCE)  # fmt: skip
    raise InputError("no such file or folder", source=str(given), allowed=_ALLOWED_SOURCE)


def open_store(path: Path) -> ResultsStore:
    """The results store at ``path``, opened without creating or converting anything."""
    from pumplab.sim.store import ResultsStore

    return ResultsStore(path, create=False)


def _run_label(run: StoredRun) -> str:
    digest = run.scenario_hash.removeprefix("sha256:")[:12]
    return f"{run.scenario} {digest}@{run.body} ({run.tasks_finished} tasks)"


def choose_run(runs: Sequence[StoredRun], wanted: str | None, *, store: Path) -> StoredRun:
    """The run ``--run`` names among ``runs`` (the only one when ``wanted`` is None).

    ``wanted`` is a prefix of the scenario hash (``sha256:`` optional),
    optionally followed by ``@BODY``.  An unknown or ambiguous choice is an
    :class:`InputError` naming ``--run`` and listing the runs.
    """
    listing = "; ".join(_run_label(r) for r in runs)
    if not runs:
        raise InputError("the store holds no run", source=str(store),
                         allowed="a store written by a lab run")  # fmt: skip
    if wanted is None:
        if len(runs) > 1:
            raise InputError(f"{store} holds {len(runs)} runs: name one", source="--run",
                             allowed=listing)  # fmt: skip
        return runs[0]
    prefix, _, body = wanted.partition("@")
    prefix = prefix.removeprefix("sha256:")
    if not prefix:
        raise InputError(f"{wanted!r} names no scenario hash", source="--run", allowed=listing)
    matches = [r for r in runs if r.scenario_hash.removeprefix("sha256:").startswith(prefix)
               and (not body or r.body == body)]  # fmt: skip
    if not matches:
        raise InputError(f"no run of {store} matches {wanted!r}", source="--run",
                         allowed=listing)  # fmt: skip
    if len(matches) > 1:
        raise InputError(f"{wanted!r} matches {len(matches)} runs: give more of the hash, "
                         "or @BODY", source="--run", allowed=listing)  # fmt: skip
    return matches[0]


def load_chosen_run(path: Path, wanted: str | None) -> RunResult:
    """Open the store at ``path``, choose the run (:func:`choose_run`) and read it back."""
    with open_store(path) as store:
        run = choose_run(store.runs(), wanted, store=path)
        return store.load_run(run.scenario_hash, body=run.body)


@contextlib.contextmanager
def staging(directory: Path) -> Iterator[Path]:
    """A private folder inside ``directory`` to produce files in; removed afterwards.

    Inside the target folder, so finished files move into place by a rename
    (or a hard link) on the same file system.
    """
    folder = Path(tempfile.mkdtemp(prefix=".pumplab-", dir=directory))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def output_folder(path: Path, *, option: str) -> Iterator[Path]:
    """``path`` as an output folder: created (with its parents) if needed.

    If the command fails and the folder was created here, it is removed again
    when nothing else was put in it, so a failed command leaves no trace.
    """
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} names an existing file, not a folder", source=str(path),
                         allowed="a folder, or a path that does not exist yet")  # fmt: skip
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder: {exc.strerror or exc}",
                         source=str(path)) from exc  # fmt: skip
    try:
        yield path
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                path.rmdir()  # only if empty: never removes anything else
        raise

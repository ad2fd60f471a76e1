"""Output files of the command line: checked up front, written atomically.

Commands that write a file the user named (``patient simulate --out``,
``history export --out``) call :func:`check_output_path` before doing any
work, so a path that cannot be written (a directory, a missing or non-directory
parent, an existing device or pipe) is refused in one line naming *the user's
path* -- not after a long simulation, and not by the name of a temporary file.
:func:`write_atomically` then writes to a temporary file beside the target,
flushes it to disk and renames it over the target only on success: a failed
run leaves no file, and an existing file untouched.

Deliberately not here: choosing file names or formats (the commands do).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from pumplab.errors import InputError

__all__ = ["check_output_path", "write_atomically"]

_ALLOWED = "a file path in an existing directory"


def _target(path: Path) -> Path:
    # Replacing a symbolic link would replace the link, not the file it names.
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_output_path(path: Path | str, *, option: str) -> None:
    """Refuse an output path that cannot become a regular file, naming ``path`` and ``option``."""
    given = str(path)
    target = _target(Path(path))
    if target.is_dir():
        raise InputError(f"{option} names a directory, not a file", source=given,
                         allowed=_ALLOWED)  # fmt: skip
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        raise InputError(f"directory {parent} does not exist", source=given, allowed=_ALLOWED)
    if not parent.is_dir():
        raise InputError(f"{parent} is not a directory", source=given, allowed=_ALLOWED)
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        # A device or pipe would be *replaced* by the rename, not written to.
        raise InputError(f"{option} names an existing file that is not a regular file",
                         source=given, allowed=_ALLOWED)  # fmt: skip


def write_atomically(path: Path | str, produce: Callable[[IO[str]], None], *, option: str) -> None:
    """Call ``produce(stream)`` on a temporary file, then rename it to ``path``.

    Any exception (from ``produce`` or the file system) removes the temporary
    file and leaves ``path`` as it was; file-system errors become an
    :class:`~pumplab.errors.InputError` naming ``path``.
    """
    check_output_path(path, option=option)
    given = str(path)
    target = _target(Path(path))
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
            os.replace(tmp_name, target)
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror or exc}", source=given) from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise

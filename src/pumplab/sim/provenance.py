"""Where results come from: pumplab's version and, where known, its git commit.

The commit is read with ``git rev-parse HEAD`` in the folder the package was
imported from, and only if that folder is the ``src/pumplab`` of the
repository git reports (an installed copy inside some other repository must
not borrow that repository's commit).  A tree with uncommitted changes gets
``+dirty``.  ``PUMPLAB_GIT_COMMIT`` in the environment overrides both (for
builds that ship without ``.git``).  Nothing here reads the wall clock.
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

__all__ = ["git_commit", "pumplab_version"]


def pumplab_version() -> str:
    """The package's version string."""
    from pumplab import __version__

    return __version__


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the pumplab source tree, or ``None`` where it is not known."""
    forced = os.environ.get("PUMPLAB_GIT_COMMIT")
    if forced:
        return forced
    package = Path(__file__).resolve().parents[1]
    try:
        top = _git(package, "rev-parse", "--show-toplevel")
        if top is None or Path(top).resolve() / "src" / "pumplab" != package:
            return None
        commit = _git(package, "rev-parse", "HEAD")
        if commit is None:
            return None
        dirty = _git(package, "status", "--porcelain", "--untracked-files=no", "--", "src")
        return f"{commit}+dirty" if dirty else commit
    except (OSError, subprocess.SubprocessError):
        return None


def _git(cwd: Path, *args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=10, check=False)
    if done.returncode != 0:
        return None
    return done.stdout.strip()

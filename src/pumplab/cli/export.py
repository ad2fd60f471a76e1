"""``pumplab export``: a results store's tables as CSV or Parquet files.

``pumplab export RUN_DIR|STORE --format csv|parquet [--out-dir DIR]`` writes
the tables of :func:`pumplab.sim.store.export_store` -- ``runs``,
``results`` (with the consensus metrics of plasma glucose and CGM),
``events`` and ``traces`` (one row per task and minute, when the run kept
traces) -- as ``DIR/<table>.csv`` or ``.parquet``, every row with its
provenance (docs/scale.md, "Export").  It prints each file it wrote.

Parquet needs pyarrow, an optional extra (``pip install 'pumplab[parquet]'``);
without it the command is one error naming the extra, before anything is
written.  Files follow the command line's rules (docs/cli.md, "Files"): the
tables are written into a private folder inside ``DIR`` and moved into place
all together, never replacing a file (a folder already holding one of them is
refused before any work); ``DIR`` defaults to the store's folder and is
created if needed.  The store is only read, never modified.

Deliberately not here: the tables' content (the lab's store), other formats.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Final

import typer

from pumplab.cli._common import EXIT_OK, choice, guard, place_files
from pumplab.cli._lab import SOURCE_HELP, open_store, output_folder, staging, store_path
from pumplab.errors import InputError

__all__ = ["FORMATS", "TABLES", "register"]

#: Export formats (``--format``).
FORMATS: Final = ("csv", "parquet")
#: The tables written, in order: the lab's ``EXPORT_TABLES``, repeated so that
#: ``--help`` need not import the lab (a test keeps the two equal).
TABLES: Final = ("runs", "results", "events", "traces")

_HELP = f"""\
Write a results store's tables as CSV or Parquet files.

Reads RUN_DIR/results.sqlite or the STORE file (only read, never modified)
and writes {', '.join(TABLES)} as DIR/TABLE.csv or DIR/TABLE.parquet: runs,
task results with their metrics, events, and per-minute traces, every row with
its provenance.  Parquet needs pyarrow (pip install 'pumplab[parquet]').

Writes the four table files into --out-dir (default: the store's folder),
never replacing a file: a folder already holding one of them is refused.
Prints each file it wrote.
"""


def register(app: typer.Typer) -> None:
    """Add the ``export`` command."""
    app.command("export", help=_HELP, rich_help_panel="Lab")(guard(export_command))


def export_command(
    source: Annotated[Path, typer.Argument(
        metavar="RUN_DIR|STORE", help=SOURCE_HELP, show_default=False,
    )],
    fmt: Annotated[str, typer.Option(
        "--format", parser=choice(FORMATS), metavar="csv|parquet", show_default=False,
        help="File format: csv, or parquet (needs pyarrow: pip install 'pumplab[parquet]').",
    )],
    out_dir: Annotated[Path | None, typer.Option(
        "--out-dir", metavar="DIR",
        help="Folder to write the tables into (created if needed; default the store's "
        "folder).  Must not hold them already.",
    )] = None,
) -> int:
    """Export the store's tables."""
    from pumplab.sim.store import export_store

    store = store_path(source)
    folder = out_dir if out_dir is not None else store.parent
    open_store(store).close()  # a file that is not a store is refused before any work
    if folder.exists() and not folder.is_dir():
        raise InputError("--out-dir names an existing file, not a folder", source=str(folder),
                         allowed="a folder, or a path that does not exist yet")  # fmt: skip
    names = [f"{table}.{fmt}" for table in TABLES]
    taken = [n for n in names if (folder / n).exists() or (folder / n).is_symlink()]
    if taken:
        raise InputError(f"{folder} already holds {', '.join(taken)}; exported files are never "
                         "replaced", source="--out-dir",
                         allowed="a new folder, or one without these files")  # fmt: skip
    with output_folder(folder, option="--out-dir") as target, staging(target) as written:
        files = export_store(store, written, "parquet" if fmt == "parquet" else "csv")
        moves = [(f, target / f.name) for f in files]
        place_files(moves)
    for _, path in moves:
        sys.stdout.write(f"wrote {path}\n")
    return EXIT_OK

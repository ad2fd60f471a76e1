"""``pumplab report``: the self-contained HTML report of a lab run, from its results store.

``pumplab report RUN_DIR|STORE`` reads a results store (the SQLite file a lab
run writes; docs/scale.md), or a run's folder holding one as
``results.sqlite``, and writes the run's HTML report
(:func:`pumplab.report.render_report`: key numbers per arm, timelines, the
ambulatory glucose profile, metrics tables, the attack matrix), which opens
offline.  ``--png DIR`` also writes each figure as a PNG.  It prints where it
wrote.

Files follow the command line's rules (docs/cli.md, "Files"):

* the report goes to ``--out FILE``, replaced only on success like every
  ``--out`` file; without ``--out``, to ``report.html`` beside the store,
  which is never replaced (an existing one is refused: ``--out`` replaces);
* PNG files are never replaced: they are drawn into a private folder inside
  ``DIR``, and moved in only if none of their names is taken, all or none;
* the store is only read, never modified (its format is checked before
  anything else is done with the file).

Deliberately not here: drawing (``pumplab.report``), running a scenario
(``pumplab run``), and choosing among runs other than by ``--run``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Annotated, Final

import typer

from pumplab.cli._common import (
    EXIT_OK,
    check_output_path,
    guard,
    place_files,
    warn,
    write_atomically,
)
from pumplab.cli._lab import (
    RUN_HELP,
    SOURCE_HELP,
    STORE_NAME,
    load_chosen_run,
    output_folder,
    staging,
    store_path,
)
from pumplab.errors import InputError

__all__ = ["REPORT_NAME", "register"]

#: The report's file name beside the store when ``--out`` is not given.
REPORT_NAME: Final = "report.html"

_HELP = f"""\
Write the HTML report of a lab run from its results store.

Reads RUN_DIR/{STORE_NAME} or the STORE file (only read, never modified), and
writes one self-contained HTML file that opens offline: key numbers per arm,
timelines on a shared time axis, the ambulatory glucose profile of multi-day
runs, the metrics tables and, for an attack matrix, its table and heat map.

Writes the --out FILE (replacing it only on success), or {REPORT_NAME} beside
the store (never replaced: an existing one is refused); with --png DIR, one
PNG per figure into DIR (never replacing a file).  Prints where it wrote.
"""


def register(app: typer.Typer) -> None:
    """Add the ``report`` command."""
    app.command("report", help=_HELP, rich_help_panel="Lab")(guard(report_command))


def report_command(
    source: Annotated[Path, typer.Argument(
        metavar="RUN_DIR|STORE", help=SOURCE_HELP, show_default=False,
    )],
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE",
        help=f"Write the report to FILE (replaced only on success; default {REPORT_NAME} "
        "beside the store, which is never replaced).",
    )] = None,
    png: Annotated[Path | None, typer.Option(
        "--png", metavar="DIR",
        help="Also write each figure as a PNG file into DIR (created if needed); files "
        "already there are never replaced.",
    )] = None,
    run: Annotated[str | None, typer.Option("--run", metavar="HASH", help=RUN_HELP)] = None,
) -> int:
    """Write the HTML report of a run read from its results store."""
    from pumplab.report import render_report

    store = store_path(source)
    target = out if out is not None else store.parent / REPORT_NAME
    option = "--out" if out is not None else "RUN_DIR|STORE"
    check_output_path(target, option=option)
    if out is None and (target.exists() or target.is_symlink()):
        raise InputError("already exists; refusing to overwrite it", source=str(target),
                         allowed="--out FILE, which writes elsewhere or replaces FILE")  # fmt: skip
    if target.exists() and os.path.samefile(target, store):
        raise InputError("names the results store itself", source="--out",
                         allowed="an HTML file path other than the store")  # fmt: skip
    if png is not None and png.exists() and not png.is_dir():
        raise InputError("--png names an existing file, not a folder", source=str(png),
                         allowed="a folder, or a path that does not exist yet")  # fmt: skip
    result = load_chosen_run(store, run)
    if not result.results:
        raise InputError("the run has no finished task: there is nothing to report",
                         source=str(store), allowed="a store holding finished tasks "
                         "(pumplab run --resume finishes an interrupted run)")  # fmt: skip
    if not result.complete:
        warn(f"{store}: the run is incomplete (interrupted?): the report covers the "
             f"{len(result.results)} tasks that finished")  # fmt: skip
    has_traces = any(r.traces is not None for r in result.results)

    if png is None:
        html = render_report(result)
        _write_html(target, html, replace=out is not None)
        sys.stdout.write(f"wrote {target}\n")
        return EXIT_OK

    if not has_traces:
        warn("--png: the store holds no traces (the run did not keep them), so the report "
             "has no timelines; PNG files are written only for the figures it has")
    with output_folder(png, option="--png") as folder, staging(folder) as drawn:
        html = render_report(result, png_dir=drawn)
        images = sorted(drawn.glob("*.png"))
        taken = [p.name for p in images if (folder / p.name).exists()
                 or (folder / p.name).is_symlink()]  # fmt: skip
        if taken:
            raise InputError(f"{png} already holds {', '.join(taken)}; PNG files are never "
                             "replaced", source="--png",
                             allowed="a new folder, or one without these files")  # fmt: skip
        placed = [folder / p.name for p in images]
        place_files(list(zip(images, placed, strict=True)))
        try:
            _write_html(target, html, replace=out is not None)
        except BaseException:
            for path in placed:
                path.unlink(missing_ok=True)
            raise
    sys.stdout.write(f"wrote {target}\n")
    for path in placed:
        sys.stdout.write(f"wrote {path}\n")
    return EXIT_OK


def _write_html(target: Path, html: str, *, replace: bool) -> None:
    def produce(stream: IO[str]) -> None:
        stream.write(html)

    write_atomically(target, produce, option="--out", overwrite=replace)

"""``pumplab history``: verify, show and export a pump's history file.

* ``pumplab history verify PATH [--json] [--expect-head SEQ:HASH]`` -- exit 0
  and ``ok: N records, head SEQ:HASH`` when the chain verifies; exit 1 and one
  line ``record N: reason`` when it does not.
* ``pumplab history show PATH [--json] [--since SEQ] [--limit N] [--kind KINDS]``
  -- a table, or JSON Lines (one ``pumplab.history-record/1`` object per line)
  with ``--json``.
* ``pumplab history export PATH --format nightscout|tidepool [--out FILE]`` --
  a JSON array in the target's own shape; the file is verified first and
  nothing is written if it does not verify.

Every command opens the file read-only: a missing path or a directory is a
usage error (exit 2) named the same way by all three, never a new empty
history, and a pump may keep appending while they read.  Sequence numbers are
bounded by the history's own integer range (2^53 - 1) before the library sees
them.  ``--kind`` takes the kinds of docs/history.md ("Record kinds",
:data:`RECORD_KINDS`) and any kind present in the file; another name is an
error listing them.  ``--out`` is checked before anything is read and written
through a temporary file renamed on success.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Final, NamedTuple

import typer

from pumplab.cli._common import (
    ALL,
    ALL_NAMES,
    EXIT_CHECK_FAILED,
    EXIT_OK,
    MAX_SAFE_INT,
    Names,
    check_output_path,
    choice,
    emit_json,
    emit_json_line,
    error_line,
    guard,
    int_range,
    name_list,
    new_group,
    new_table,
    print_table,
    write_atomically,
)
from pumplab.errors import InputError

if TYPE_CHECKING:
    from pumplab.devices.history import HistoryRecord, VerifyReport

__all__ = ["RECORD_KINDS", "Head", "parse_head", "register"]

#: The record kinds a pump writes (docs/history.md, "Record kinds"; a test
#: keeps the two in step).  The store accepts any well-formed kind, so
#: ``--kind`` also accepts any kind found in the file being read.
RECORD_KINDS: Final = (
    "boot", "command", "bolus_start", "stroke", "bolus_end", "basal_rate",
    "temp_basal_start", "temp_basal_end", "suspend", "resume", "setting_change",
    "clock_set", "alarm", "alarm_cleared", "meter_bg", "sensor_glucose", "pairing",
    "recovery", "stroke_failed", "reservoir_change", "change_rejected", "delivery_refused",
    "refusal_summary",
)

_HEAD_ALLOWED = f"SEQ:HASH, SEQ 1..{MAX_SAFE_INT}, HASH 64 lowercase hex digits"

_PATH_HELP = "The history file (SQLite), opened read-only."

PathArg = Annotated[Path, typer.Argument(
    metavar="PATH", exists=True, dir_okay=False, readable=True, help=_PATH_HELP,
    show_default=False,
)]


def register(app: typer.Typer) -> None:
    """Add ``history`` and its three subcommands."""
    group = new_group(
        "Verify, show or export a pump's history file (opened read-only).\n\n"
        "These commands never write to the history."
    )
    group.command("verify", help=(
        "Recompute the hash chain; exit 0 if it verifies, 1 with 'record N: reason' if not.\n\n"
        "Writes no file."))(guard(verify_command))  # fmt: skip
    group.command("show", help=(
        "Print records in order as a table, or JSON Lines with --json.\n\n"
        "Does not verify: run 'pumplab history verify' for that.  Writes no file."
    ))(guard(show_command))
    group.command("export", help=(
        "Verify, then write Nightscout treatments or Tidepool basal/bolus objects as a "
        "JSON array (the target's own format).\n\n"
        "Writes the --out file (replacing it only on success), or stdout.  Nothing is "
        "written if the history does not verify (exit 1)."
    ))(guard(export_command))
    app.add_typer(group, name="history", rich_help_panel="Inspect")


# --------------------------------------------------------------------------
# verify


class Head(NamedTuple):
    """A history head ``SEQ:HASH`` seen before (``--expect-head``)."""

    seq: int
    hash: str


def parse_head(value: object) -> Head:
    """``SEQ:HASH`` as given to ``--expect-head`` (as ``history verify`` prints it)."""
    text = str(value)
    seq_text, sep, digest = text.partition(":")
    seq = int_range(low=1, high=MAX_SAFE_INT)
    if (not sep or not seq_text or len(digest) != 64
            or any(c not in "0123456789abcdef" for c in digest)):
        raise typer.BadParameter(f"{text!r} is not SEQ:HASH (allowed: {_HEAD_ALLOWED})")
    try:
        number = seq(seq_text)
    except typer.BadParameter:
        raise typer.BadParameter(
            f"sequence number {seq_text!r} is out of range (allowed: {_HEAD_ALLOWED})"
        ) from None
    return Head(number, digest)


def verify_command(
    path: PathArg,
    expect_head: Annotated[Head | None, typer.Option(
        "--expect-head", parser=parse_head, metavar="SEQ:HASH",
        help="A head seen before (printed by 'pumplab run' or 'history verify', or from an "
        "upload); fails if the history was cut short of it or rewritten up to it.",
    )] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the report as one JSON object (schema pumplab.history-verify/1).",
    )] = False,
) -> int:
    """Verify the hash chain of a history file."""
    import sqlite3

    from pumplab.devices.history import VerifyReport, verify_file

    expected = None if expect_head is None else (expect_head.seq, expect_head.hash)
    try:
        report = verify_file(path, expected_head=expected)
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        # verify_file reports damage as a failed report; should a damaged file
        # still make it raise, the file is not verified all the same: a failed
        # check (exit 1) in one line, never a traceback.
        report = VerifyReport(False, 0, None, f"{path}: cannot be read as a history: {exc}")
    if json_out:
        emit_json("history-verify", _report_json(path, report))
    else:
        print(report.summary())
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def _report_json(path: Path, report: VerifyReport) -> dict[str, object]:
    return {
        "path": str(path),
        "ok": report.ok,
        "records": report.records,
        "wal_records": report.wal_records,
        "first_bad_seq": report.first_bad_seq,
        "reason": report.reason,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
    }


# --------------------------------------------------------------------------
# show


def show_command(
    path: PathArg,
    since: Annotated[int, typer.Option(
        "--since", parser=int_range(low=0, high=MAX_SAFE_INT), metavar="SEQ",
        help="Only records after SEQ.",
    )] = 0,
    limit: Annotated[int | None, typer.Option(
        "--limit", parser=int_range(low=0, high=MAX_SAFE_INT), metavar="N",
        help="At most N records (after --kind).",
    )] = None,
    kinds: Annotated[Names, typer.Option(
        "--kind", "--kinds", parser=name_list(what="kind"), metavar="KINDS",
        help="Only records of these kinds, separated by commas (docs/history.md, "
        "'Record kinds'), or 'all'.",
    )] = ALL_NAMES,
    json_out: Annotated[bool, typer.Option(
        "--json", help="JSON Lines: one object per record (schema pumplab.history-record/1).",
    )] = False,
) -> int:
    """Print the records of a history file."""
    from pumplab.devices.history import open_evidence

    with open_evidence(path) as store:
        wanted = None if tuple(kinds) == (ALL,) else set(kinds)
        if wanted is not None:
            _check_kinds(wanted, store.iter_records(0))
        selected = _select(store.iter_records(since), wanted, limit)
        if json_out:
            for record in selected:
                emit_json_line("history-record", record.as_json())
        else:
            _print_table(list(selected))
    return EXIT_OK


def _check_kinds(wanted: set[str], records: Iterable[HistoryRecord]) -> None:
    """Refuse a kind that is neither documented nor in the file: a typo, not an empty answer."""
    unknown = wanted - set(RECORD_KINDS)
    if not unknown:
        return
    present: set[str] = set()
    for record in records:
        present.add(record.kind)
        if unknown <= present:
            return
    extra = sorted(present - set(RECORD_KINDS))
    allowed = ", ".join(RECORD_KINDS) + (f"; in this file also {', '.join(extra)}"
                                         if extra else "")  # fmt: skip
    name = sorted(unknown - present)[0]
    raise InputError(f"unknown record kind {name!r}", source="--kind", allowed=allowed)


def _select(
    records: Iterable[HistoryRecord], kinds: set[str] | None, limit: int | None
) -> Iterator[HistoryRecord]:
    if limit == 0:
        return
    count = 0
    for record in records:
        if kinds is not None and record.kind not in kinds:
            continue
        yield record
        count += 1
        if limit is not None and count >= limit:
            return


def _clock_text(clock_ms: int) -> str:
    """The record's user clock as ISO-8601 UTC, or the raw milliseconds when it is
    not a calendar date (a forged or damaged log): evidence is shown, never refused."""
    from pumplab.devices.export import iso_utc

    try:
        return iso_utc(clock_ms)
    except InputError:
        return f"{clock_ms} ms (not a date)"


def _device_clock(device_time_ms: int) -> str:
    """Device time as H:MM:SS.mmm since the device's zero (hours may exceed 24)."""
    seconds, ms = divmod(device_time_ms, 1000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{sec:02d}.{ms:03d}"


def _print_table(records: list[HistoryRecord]) -> None:
    table = new_table(("seq", "right"), ("device time", "right"), "clock (UTC)", "kind", "data")
    for record in records:
        table.add_row(
            str(record.seq),
            _device_clock(record.device_time_ms),
            _clock_text(record.clock_ms),
            record.kind,
            json.dumps(record.data, ensure_ascii=False, separators=(", ", ": ")),
        )
    print_table(table)


# --------------------------------------------------------------------------
# export


def export_command(
    path: PathArg,
    target: Annotated[str, typer.Option(
        "--format", parser=choice(("nightscout", "tidepool")), metavar="nightscout|tidepool",
        help="Target shape: Nightscout treatments, or Tidepool basal and bolus objects.",
        show_default=False,
    )],
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", help="Write the array to FILE instead of stdout.",
    )] = None,
) -> int:
    """Export a verified history to Nightscout or Tidepool JSON."""
    from pumplab.devices.export import nightscout_treatments, tidepool_data
    from pumplab.devices.history import open_evidence, verify_file

    if out is not None:
        if _same_file(out, path):
            raise InputError("refusing to overwrite the history itself", source=str(out))
        # Before any work: a directory or a missing parent is named as the user wrote it.
        check_output_path(out, option="--out")
    report = verify_file(path)
    if not report.ok:
        # A failed check (exit 1), in the one-line error style.
        print(error_line(f"{path}: not exported, it does not verify: {report.summary()}"),
              file=sys.stderr)  # fmt: skip
        return EXIT_CHECK_FAILED
    with open_evidence(path) as store:
        # Export exactly what was verified, even if a pump appended since.
        records = store.records(0, report.records)
    if target == "nightscout":
        docs = nightscout_treatments(records, source=str(path))
    else:
        docs = tidepool_data(records, source=str(path))
    text = json.dumps(docs, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        def produce(stream: IO[str]) -> None:
            stream.write(text)

        write_atomically(out, produce, option="--out")
    return EXIT_OK


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()

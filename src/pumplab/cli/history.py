"""``pumplab history``: verify, show and export a pump's history file.

* ``pumplab history verify PATH [--json] [--expect-head SEQ:HASH]`` -- exit 0
  and ``ok: N records, head SEQ:HASH`` when the chain verifies; exit 1 and one
  line ``record N: reason`` when it does not.
* ``pumplab history show PATH [--json] [--since SEQ] [--limit N] [--kind KIND]``
  -- a table, or JSON Lines (one record object per line) with ``--json``.
* ``pumplab history export PATH --format nightscout|tidepool [--out FILE]`` --
  a JSON array; the file is verified first and nothing is written if it
  does not verify.

Every command opens the file read-only (SQLite ``mode=ro``): a missing path
is an error, never a new empty history, and a pump may keep appending while
they read.  ``--out`` is checked before anything is read (a directory or a
missing parent directory is refused, naming the path as given) and written to
a temporary name that is renamed on success.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pumplab.cli._outpath import check_output_path, write_atomically

if TYPE_CHECKING:
    from pumplab.devices.history import HistoryRecord, VerifyReport

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``history`` and its three subcommands to the ``pumplab`` parser."""
    parser = subparsers.add_parser(
        "history",
        help="verify, show or export a pump history file",
        description="Verify, show or export a pump history file (opened read-only).",
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    sub = parser.add_subparsers(dest="history_command", metavar="ACTION")

    verify = sub.add_parser(
        "verify",
        help="recompute the hash chain and report the first bad record",
        description="Recompute the hash chain; exit 0 if it verifies, 1 with "
        "'record N: reason' if not.",
    )
    verify.add_argument("path", metavar="PATH", help="history file")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument(
        "--expect-head",
        metavar="SEQ:HASH",
        type=_parse_head,
        help="a head seen before (e.g. from an upload); fails if the history was cut "
        "short of it or rewritten up to it",
    )
    verify.set_defaults(func=_verify)

    show = sub.add_parser(
        "show",
        help="print records as a table or JSON Lines",
        description="Print records in order (does not verify: run 'verify' for that).",
    )
    show.add_argument("path", metavar="PATH", help="history file")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    show.add_argument(
        "--since", metavar="SEQ", type=_non_negative, default=0, help="records after SEQ"
    )
    show.add_argument(
        "--limit", metavar="N", type=_non_negative, default=None, help="at most N records"
    )
    show.add_argument("--kind", metavar="KIND", default=None, help="only records of this kind")
    show.set_defaults(func=_show)

    export = sub.add_parser(
        "export",
        help="export to Nightscout treatments or Tidepool basal/bolus JSON",
        description="Verify, then write a JSON array of Nightscout treatments or "
        "Tidepool basal and bolus objects.",
    )
    export.add_argument("path", metavar="PATH", help="history file")
    export.add_argument(
        "--format", required=True, choices=("nightscout", "tidepool"), help="target shape"
    )
    export.add_argument("--out", metavar="FILE", default=None, help="write here, not stdout")
    export.set_defaults(func=_export)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _parse_head(text: str) -> tuple[int, str]:
    seq_text, sep, digest = text.partition(":")
    if (
        not sep
        or not seq_text.isdigit()
        or int(seq_text) < 1
        or len(digest) != 64
        or any(c not in "0123456789abcdef" for c in digest)
    ):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not SEQ:HASH (SEQ >= 1, HASH 64 lowercase hex digits)"
        )
    return int(seq_text), digest


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


# --------------------------------------------------------------------------
# verify


def _verify(args: argparse.Namespace) -> int:
    from pumplab.devices.history import verify_file

    report = verify_file(args.path, expected_head=args.expect_head)
    if args.json:
        print(json.dumps(_report_json(args.path, report)))
    else:
        print(report.summary())
    return 0 if report.ok else 1


def _report_json(path: str, report: VerifyReport) -> dict[str, object]:
    return {
        "path": str(path),
        "ok": report.ok,
        "records": report.records,
        "first_bad_seq": report.first_bad_seq,
        "reason": report.reason,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
    }


# --------------------------------------------------------------------------
# show


def _show(args: argparse.Namespace) -> int:
    from pumplab.devices.history import SqliteHistory

    with SqliteHistory(args.path, read_only=True) as store:
        selected = _select(store.iter_records(args.since), args.kind, args.limit)
        if args.json:
            for record in selected:
                sys.stdout.write(json.dumps(record.as_json(), ensure_ascii=False) + "\n")
        else:
            _print_table(selected)
    return 0


def _select(
    records: Iterable[HistoryRecord], kind: str | None, limit: int | None
) -> list[HistoryRecord]:
    chosen: list[HistoryRecord] = []
    if limit == 0:
        return chosen
    for record in records:
        if kind is not None and record.kind != kind:
            continue
        chosen.append(record)
        if limit is not None and len(chosen) >= limit:
            break
    return chosen


def _clock_text(clock_ms: int) -> str:
    """The record's user clock as ISO-8601 UTC, or the raw milliseconds when it is
    not a calendar date (a forged or damaged log): evidence is shown, never refused."""
    from pumplab.devices.export import iso_utc
    from pumplab.errors import InputError

    try:
        return iso_utc(clock_ms)
    except InputError:
        return f"{clock_ms} ms (not a date)"


def _print_table(records: list[HistoryRecord]) -> None:
    rows = [
        (
            str(record.seq),
            _device_clock(record.device_time_ms),
            _clock_text(record.clock_ms),
            record.kind,
            json.dumps(record.data, ensure_ascii=False, separators=(", ", ": ")),
        )
        for record in records
    ]
    header = ("seq", "device time", "clock (UTC)", "kind", "data")
    widths = [max([len(header[i])] + [len(row[i]) for row in rows]) for i in range(4)]
    print(_line(header, widths))
    for row in rows:
        print(_line(row, widths))


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    seq, device, clock, kind, data = cells
    return (
        f"{seq:>{widths[0]}}  {device:>{widths[1]}}  {clock:<{widths[2]}}  "
        f"{kind:<{widths[3]}}  {data}"
    )


def _device_clock(device_time_ms: int) -> str:
    """Device time as H:MM:SS.mmm since the device's zero (hours may exceed 24)."""
    seconds, ms = divmod(device_time_ms, 1000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{sec:02d}.{ms:03d}"


# --------------------------------------------------------------------------
# export


def _export(args: argparse.Namespace) -> int:
    from pumplab.devices.export import nightscout_treatments, tidepool_data
    from pumplab.devices.history import SqliteHistory, verify_file
    from pumplab.errors import HistoryCorruptError, InputError

    if args.out is not None:
        if _same_file(args.out, args.path):
            raise InputError("refusing to overwrite the history itself", source=args.out)
        # Before any work: a directory or a missing parent is named as the user wrote it.
        check_output_path(args.out, option="--out")
    report = verify_file(args.path)
    if not report.ok:
        raise HistoryCorruptError(
            f"{args.path}: not exported, it does not verify: {report.summary()}",
            seq=report.first_bad_seq,
        )
    with SqliteHistory(args.path, read_only=True) as store:
        # Export exactly what was verified, even if a pump appended since.
        records = store.records(0, report.records)
    if args.format == "nightscout":
        docs = nightscout_treatments(records, source=args.path)
    else:
        docs = tidepool_data(records, source=args.path)
    text = json.dumps(docs, indent=2, ensure_ascii=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        def produce(stream: IO[str]) -> None:
            stream.write(text)

        write_atomically(args.out, produce, option="--out")
    return 0


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()

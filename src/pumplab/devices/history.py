"""The pump's history: an append-only, hash-chained log that nothing can lose.

Every event a pump acts on (a command received, a bolus started, a motor
stroke, a setting changed, an alarm) is appended here *before* it takes effect.
This module provides the record type, its canonical encoding and hash chain,
two storage backends behind one interface, and verification:

* :class:`SqliteHistory` -- the **durable** backend: one SQLite file in WAL
  mode with ``synchronous=FULL``; each :meth:`~SqliteHistory.append` is its own
  committed transaction before it returns.
* :class:`MemoryHistory` -- the **fast** backend for large trials: same
  validation, same records, byte-identical hashes, nothing on disk.
* :func:`verify_records` / ``store.verify()`` / :func:`verify_file` --
  recompute the chain and name the first bad record and why (``verify_file``
  also reports files too damaged to open, without raising).

The chain is the keyless hash chain of tamper-evident logs (Schneier & Kelsey,
"Cryptographic Support for Secure Logs on Untrusted Machines", USENIX Security
1998, journal version "Secure Audit Logs to Support Computer Forensics", ACM
TISSEC 2(2), 1999, without their MAC keys; the append-only log idea of RFC 6962
without its Merkle tree)::

    hash(n) = SHA-256( bytes.fromhex(prev_hash(n)) || canonical_bytes(record n) )
    prev_hash(1) = 64 zeros;  prev_hash(n) = hash(n - 1)

where ``canonical_bytes`` is the UTF-8 of the JSON object ``{"clock_ms", "data",
"device_time_ms", "kind", "seq"}`` with sorted keys, no whitespace, floats in
Python's shortest round-trip ``repr`` and no NaN/Infinity (docs/history.md
gives the exact rules and a test vector, so an independent verifier can be
written).  SHA-256 comes from :mod:`hashlib`; there is no home-made crypto.

What the chain proves and what it does not: without a key, it detects any
alteration, insertion, reordering or deletion *inside* the log, but not the
loss of the tail, nor a whole rewrite by someone who recomputes every hash.
Those need a head seen before, from somewhere else (the controller app, a
Nightscout upload): ``verify(expected_head=(seq, hash))``.

Records never carry key material: a ``data`` key whose name looks like a key
(see :data:`KEY_MATERIAL_NAME`) is refused.

This module deliberately does not interpret records (the pump does, and
:mod:`pumplab.devices.export` maps them to Nightscout/Tidepool), does not
read the wall clock (both times are given by the caller), and does not
encrypt or sign anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol, TypeAlias, runtime_checkable

from pumplab.errors import HistoryCorruptError, HistoryError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "GENESIS_HASH",
    "KEY_MATERIAL_NAME",
    "HistoryMeta",
    "HistoryRecord",
    "HistoryStore",
    "JSONValue",
    "MemoryHistory",
    "SqliteHistory",
    "VerifyReport",
    "canonical_json",
    "canonical_record_bytes",
    "compute_hash",
    "open_evidence",
    "open_history",
    "verify_file",
    "verify_records",
]

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None

#: ``prev_hash`` of record 1.
GENESIS_HASH: Final = "0" * 64

#: Written in the ``meta`` table; a file without it is not a pumplab history.
FORMAT_NAME: Final = "pumplab-history"
#: Version of the file format and of the canonical encoding (docs/history.md).
FORMAT_VERSION: Final = 1

#: SQLite header ``application_id`` of a history file: ASCII "PLHS".
_APPLICATION_ID: Final = 0x504C4853

#: A ``data`` key (at any depth) matching this, case-insensitively, is refused:
#: records are read by anyone holding the file and are exported to clouds, so
#: they must never carry key material.  A name rule cannot see a key stored
#: under an innocent name; it catches the honest mistake, not an adversary.
KEY_MATERIAL_NAME: Final = re.compile(r"key|secret|ltk|passw|passphrase|private|psk", re.IGNORECASE)

#: Kinds are snake_case identifiers (the vocabulary of docs/history.md).
_KIND_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_HEX64_RE: Final = re.compile(r"[0-9a-f]{64}")
#: Integers are limited to the range an IEEE double holds exactly (I-JSON,
#: RFC 7493 section 2.2), so a verifier in any language decodes them intact.
_MAX_SAFE_INT: Final = 2**53 - 1
_MAX_DEPTH: Final = 16


# --------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One entry of the log, as the store returned it.

    ``data`` is a fresh copy decoded from the stored encoding (JSON arrays come
    back as lists); changing it changes nothing in the store.
    """

    seq: int
    device_time_ms: int
    clock_ms: int
    kind: str
    data: Mapping[str, JSONValue] = field(hash=False)
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, JSONValue]:
        """The record as a JSON object (the shape of ``history show --json``)."""
        return {
            "seq": self.seq,
            "device_time_ms": self.device_time_ms,
            "clock_ms": self.clock_ms,
            "kind": self.kind,
            "data": dict(self.data),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of recomputing the chain.

    ``records`` is how many records verified good before the first bad one
    (all of them when ``ok``); ``first_bad_seq`` is ``None`` when ``ok`` and
    also when the damage cannot be tied to one record; ``reason`` is human
    text, ``""`` when ``ok``.  ``head_seq``/``head_hash`` are the last good
    record (``0``/:data:`GENESIS_HASH` for an empty log): keep them to pass as
    ``expected_head`` next time.  :func:`verify_file` also sets ``path`` (the
    file it read) and ``wal_records``: how many of the records exist only in
    the file's ``-wal`` companion, not yet merged into the file (a pump that
    was killed; copying the file without its ``-wal`` would lose them).
    """

    ok: bool
    records: int
    first_bad_seq: int | None
    reason: str
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    path: str | None = None
    wal_records: int = 0

    def summary(self) -> str:
        """One line: ``ok: N records, head SEQ:HASH`` (and how many are only in the
        ``-wal``) or ``record N: reason``."""
        if self.ok:
            line = f"ok: {self.records} records, head {self.head_seq}:{self.head_hash}"
            if self.wal_records:
                wal = f"{self.path}-wal" if self.path is not None else "the -wal file"
                line += (f"; {self.wal_records} of them only in {wal}, not merged into the "
                         "file: keep the -wal with it")
            return line
        if self.first_bad_seq is None:
            return self.reason
        return f"record {self.first_bad_seq}: {self.reason}"


@dataclass(frozen=True, slots=True)
class HistoryMeta:
    """What the ``meta`` table says about a history (not covered by the chain)."""

    format_version: int
    device_serial: str | None
    created_clock_ms: int | None


@runtime_checkable
class HistoryStore(Protocol):
    """What the pump needs of a history, whatever keeps it."""

    def append(
        self, kind: str, data: Mapping[str, JSONValue], *, device_time_ms: int, clock_ms: int
    ) -> HistoryRecord:
        """Append and make durable before returning (durable backend: committed,
        ``synchronous=FULL``); raises :class:`~pumplab.errors.HistoryError` if it
        cannot and ``ValueError`` for an invalid record."""
        ...

    def records(self, since_seq: int = 0, limit: int | None = None) -> list[HistoryRecord]:
        """Records with ``seq > since_seq``, in order, at most ``limit`` of them."""
        ...

    @property
    def head(self) -> HistoryRecord | None:
        """The last record, ``None`` for an empty history."""
        ...

    def verify(self, expected_head: tuple[int, str] | None = None) -> VerifyReport:
        """Recompute the chain (and check a head seen before, if given)."""
        ...

    def close(self) -> None:
        """Release the store; further appends raise ``HistoryError``."""
        ...


# --------------------------------------------------------------------------
# Canonical encoding and hash


def canonical_json(value: JSONValue) -> str:
    """The canonical JSON text of a value (docs/history.md, "Canonical encoding").

    Object keys sorted by code point, separators ``,`` and ``:`` with no
    whitespace, non-ASCII characters written as themselves (the caller encodes
    to UTF-8), floats as Python's shortest round-trip ``repr``; NaN and
    infinities are refused with ``ValueError``.
    """
    return _ENCODER.encode(value)


_ENCODER: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_record_bytes(
    seq: int, device_time_ms: int, clock_ms: int, kind: str, data_json: str
) -> bytes:
    """The bytes hashed for one record, given its data's canonical JSON text.

    Equal to ``canonical_json({"seq": .., "device_time_ms": .., "clock_ms": ..,
    "kind": .., "data": ..}).encode()``; written out so that verification
    hashes the stored text itself and any changed byte shows.
    """
    # A valid kind ([a-z][a-z0-9_]*) needs no escaping: skip the encoder.
    kind_json = f'"{kind}"' if _KIND_RE.fullmatch(kind) else canonical_json(kind)
    text = (
        f'{{"clock_ms":{clock_ms},"data":{data_json},"device_time_ms":{device_time_ms},'
        f'"kind":{kind_json},"seq":{seq}}}'
    )
    return text.encode("utf-8")


def compute_hash(
    prev_hash: str,
    seq: int,
    device_time_ms: int,
    clock_ms: int,
    kind: str,
    data: Mapping[str, JSONValue],
) -> str:
    """The hex SHA-256 chain hash of a record (no validation of the fields)."""
    data_json = canonical_json(dict(data))
    return _chain_hash(
        prev_hash, canonical_record_bytes(seq, device_time_ms, clock_ms, kind, data_json)
    )


def _chain_hash(prev_hash: str, record_bytes: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + record_bytes).hexdigest()


# --------------------------------------------------------------------------
# Validation of a new record (misuse -> ValueError)


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside [{low}, {high}]")
    return value


def _check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
        raise ValueError(
            f"record kind {kind!r} is not a snake_case name of 1 to 64 characters ([a-z][a-z0-9_]*)"
        )
    return kind


def _check_value(value: object, path: str, depth: int) -> None:
    """Refuse what the canonical encoding cannot carry faithfully."""
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
            raise ValueError(f"{path}={value} is outside ±(2**53 - 1) (I-JSON safe integers)")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}={value} is not finite (JSON has no NaN or infinity)")
        return
    if depth >= _MAX_DEPTH:
        raise ValueError(f"{path} is nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, dict):
        _check_mapping(value, path, depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]", depth + 1)
        return
    raise ValueError(
        f"{path} is a {type(value).__name__}, which is not JSON (use None, bool, "
        "int, float, str, list or dict)"
    )


def _check_mapping(mapping: Mapping[Any, object], path: str, depth: int) -> None:
    for key, item in mapping.items():
        if key not in _ACCEPTED_KEYS:
            _check_key(key, path)
        if type(item) not in _PLAIN_SCALARS:
            _check_value(item, f"{path}[{key!r}]", depth)


#: Types needing no check (a fast path: most values are these).
_PLAIN_SCALARS: Final = frozenset({str, bool, type(None)})
#: Keys already found acceptable; a pump uses a few dozen names over and over.
_ACCEPTED_KEYS: set[str] = set()
_ACCEPTED_KEYS_MAX: Final = 4096


def _check_key(key: object, path: str) -> None:
    if not isinstance(key, str):
        raise ValueError(f"{path} has a non-string key {key!r} (JSON object keys are strings)")
    if KEY_MATERIAL_NAME.search(key):
        raise ValueError(
            f"{path}[{key!r}]: a history record must not carry key material; "
            f"keys matching {KEY_MATERIAL_NAME.pattern!r} are refused (rename the field "
            "if it is not a key)"
        )
    if type(key) is str and len(_ACCEPTED_KEYS) < _ACCEPTED_KEYS_MAX:
        _ACCEPTED_KEYS.add(key)


def _encode_data(data: Mapping[str, JSONValue]) -> str:
    """Validate ``data`` and return its canonical JSON text."""
    if not isinstance(data, Mapping):
        raise ValueError(f"data must be a mapping, got {type(data).__name__}")
    plain = dict(data)
    _check_mapping(plain, "data", 0)
    text = canonical_json(plain)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"data holds a string that is not valid Unicode: {exc}") from exc
    return text


# --------------------------------------------------------------------------
# Rows: the stored form shared by both backends
#
# (seq, device_time_ms, clock_ms, kind, data_json, prev_hash, hash)

_Row: TypeAlias = tuple[int, int, int, str, str, str, str]


def _new_row(
    head: HistoryRecord | None,
    kind: str,
    data: Mapping[str, JSONValue],
    device_time_ms: int,
    clock_ms: int,
) -> tuple[_Row, HistoryRecord]:
    """Validate a new record against the head and compute its hash (pure)."""
    _check_kind(kind)
    _check_int("device_time_ms", device_time_ms, 0, _MAX_SAFE_INT)
    _check_int("clock_ms", clock_ms, -_MAX_SAFE_INT, _MAX_SAFE_INT)
    if head is not None and device_time_ms < head.device_time_ms:
        raise ValueError(
            f"device_time_ms={device_time_ms} goes back before record {head.seq} "
            f"({head.device_time_ms}); device time never decreases"
        )
    data_json = _encode_data(data)
    seq = 1 if head is None else head.seq + 1
    prev_hash = GENESIS_HASH if head is None else head.hash
    digest = _chain_hash(
        prev_hash, canonical_record_bytes(seq, device_time_ms, clock_ms, kind, data_json)
    )
    row: _Row = (seq, device_time_ms, clock_ms, kind, data_json, prev_hash, digest)
    return row, _record_from_row(row)


def _decode_data(text: str) -> dict[str, JSONValue]:
    value = _DECODER.decode(text)
    if not isinstance(value, dict):
        raise ValueError("data is not a JSON object")
    return value


def _refuse_constant(name: str) -> object:
    raise ValueError(f"data holds {name}, which is not JSON")


#: Python's json accepts NaN and Infinity by default; the format does not.
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)


def _record_from_row(row: _Row) -> HistoryRecord:
    seq, device_time_ms, clock_ms, kind, data_json, prev_hash, digest = row
    return HistoryRecord(
        seq, device_time_ms, clock_ms, kind, _decode_data(data_json), prev_hash, digest
    )


class _Unreadable:
    """Stands in the row stream for rows the storage could not read."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _row_problem(row: object) -> str | None:
    """Why a stored row cannot be a record, or None (types and format only)."""
    if isinstance(row, _Unreadable):
        return f"unreadable ({row.why})"
    if not isinstance(row, Sequence) or len(row) != 7:
        return "undecodable row (not 7 fields)"
    seq, device_time_ms, clock_ms, kind, data_json, prev_hash, digest = row
    for name, value in (("seq", seq), ("device_time_ms", device_time_ms), ("clock_ms", clock_ms)):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"undecodable row (field '{name}' is {type(value).__name__}, not an integer)"
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
        return f"undecodable row (field 'kind' is {kind!r}, not a snake_case name)"
    for name, value in (("prev_hash", prev_hash), ("hash", digest)):
        if not isinstance(value, str) or not _HEX64_RE.fullmatch(value):
            return f"undecodable row (field '{name}' is not 64 lowercase hex digits)"
    if not isinstance(data_json, str):
        return f"undecodable row (field 'data' is {type(data_json).__name__}, not JSON text)"
    try:
        data = _decode_data(data_json)
        canonical = canonical_json(data)
    except (ValueError, RecursionError) as exc:
        return f"undecodable row (field 'data': {exc})"
    if canonical != data_json:
        return "undecodable row (field 'data' is not in canonical encoding)"
    return None


def _verify_rows(
    rows: Iterable[object], expected_head: tuple[int, str] | None = None
) -> VerifyReport:
    """Recompute the chain over stored rows in storage order (pure)."""
    if expected_head is not None:
        _check_expected_head(expected_head)
    good = 0
    prev_hash = GENESIS_HASH
    prev_device_time = 0
    seen_expected_hash: str | None = None

    def bad(seq: int | None, reason: str) -> VerifyReport:
        return VerifyReport(False, good, seq, reason, good, prev_hash)

    for row in rows:
        expected_seq = good + 1
        problem = _row_problem(row)
        if problem is not None:
            return bad(expected_seq, problem)
        assert isinstance(row, Sequence)  # checked by _row_problem
        seq, device_time_ms, clock_ms, kind, data_json, stored_prev, digest = row
        if seq != expected_seq:
            if seq > expected_seq:
                return bad(expected_seq, f"missing (the record after {good} is {seq}: deleted?)")
            return bad(
                expected_seq,
                f"found seq {seq} where {expected_seq} belongs (duplicated or reordered)",
            )
        if stored_prev != prev_hash:
            return bad(
                seq,
                "prev_hash does not match the hash of the record before "
                "(inserted, reordered or the one before was replaced)",
            )
        recomputed = _chain_hash(
            prev_hash, canonical_record_bytes(seq, device_time_ms, clock_ms, kind, data_json)
        )
        if recomputed != digest:
            return bad(seq, "hash mismatch (the record was altered)")
        if device_time_ms < prev_device_time:
            return bad(
                seq, f"device time goes backwards ({device_time_ms} ms after {prev_device_time} ms)"
            )
        good = seq
        prev_hash = digest
        prev_device_time = device_time_ms
        if expected_head is not None and seq == expected_head[0]:
            seen_expected_hash = digest

    if expected_head is not None:
        want_seq, want_hash = expected_head
        if good < want_seq:
            return VerifyReport(
                False,
                good,
                good + 1,
                f"missing: the history ends at record {good} but record {want_seq} was seen "
                "before (truncated or rolled back)",
                good,
                prev_hash,
            )
        if seen_expected_hash != want_hash:
            return VerifyReport(
                False,
                good,
                want_seq,
                "differs from the head seen before (history rewritten at or before this record)",
                good,
                prev_hash,
            )
    return VerifyReport(True, good, None, "", good, prev_hash)


def _check_expected_head(expected_head: tuple[int, str]) -> None:
    if not (isinstance(expected_head, tuple) and len(expected_head) == 2):
        raise ValueError("expected_head must be a (seq, hash) tuple")
    seq, digest = expected_head
    _check_int("expected head seq", seq, 1, _MAX_SAFE_INT)
    if not isinstance(digest, str) or not _HEX64_RE.fullmatch(digest):
        raise ValueError("expected head hash must be 64 lowercase hex digits")


def _rows_of_records(records: Iterable[HistoryRecord]) -> Iterator[object]:
    for record in records:
        try:
            data_json = canonical_json(dict(record.data))
        except (TypeError, ValueError) as exc:
            yield _Unreadable(f"data cannot be encoded: {exc}")
            return
        yield (
            record.seq,
            record.device_time_ms,
            record.clock_ms,
            record.kind,
            data_json,
            record.prev_hash,
            record.hash,
        )


def verify_records(
    records: Iterable[HistoryRecord], *, expected_head: tuple[int, str] | None = None
) -> VerifyReport:
    """Recompute the chain over records in the order given.

    Finds, and names, the first record that was altered, inserted, reordered
    or removed (a gap), or whose device time goes back; with ``expected_head``
    also a log cut short of, or rewritten up to, a head seen before.
    """
    return _verify_rows(_rows_of_records(records), expected_head)


def _check_range(since_seq: int, limit: int | None) -> None:
    _check_int("since_seq", since_seq, 0, _MAX_SAFE_INT)
    if limit is not None:
        _check_int("limit", limit, 0, _MAX_SAFE_INT)


# --------------------------------------------------------------------------
# The fast backend


class MemoryHistory:
    """History in memory: the fast backend, with the durable one's semantics.

    Keeps each record in its stored form (canonical JSON text), so the hashes
    are byte-for-byte those :class:`SqliteHistory` would compute and records
    handed out are copies.  Nothing survives the process.
    """

    def __init__(
        self, *, device_serial: str | None = None, created_clock_ms: int | None = None
    ) -> None:
        self._rows: list[_Row] = []
        self._head: HistoryRecord | None = None
        self._closed = False
        self._meta = HistoryMeta(FORMAT_VERSION, device_serial, created_clock_ms)

    def __repr__(self) -> str:
        return f"MemoryHistory(records={len(self._rows)})"

    @property
    def meta(self) -> HistoryMeta:
        return self._meta

    @property
    def head(self) -> HistoryRecord | None:
        return self._head

    def append(
        self, kind: str, data: Mapping[str, JSONValue], *, device_time_ms: int, clock_ms: int
    ) -> HistoryRecord:
        if self._closed:
            raise HistoryError("the history is closed")
        row, record = _new_row(self._head, kind, data, device_time_ms, clock_ms)
        self._rows.append(row)
        self._head = record
        return record

    def records(self, since_seq: int = 0, limit: int | None = None) -> list[HistoryRecord]:
        _check_range(since_seq, limit)
        stop = len(self._rows) if limit is None else since_seq + limit
        # Rows are contiguous from seq 1 by construction: row i holds seq i + 1.
        return [_record_from_row(row) for row in self._rows[since_seq:stop]]

    def iter_records(self, since_seq: int = 0) -> Iterator[HistoryRecord]:
        """Records with ``seq > since_seq``, one at a time."""
        _check_range(since_seq, None)
        for row in self._rows[since_seq:]:
            yield _record_from_row(row)

    def verify(self, expected_head: tuple[int, str] | None = None) -> VerifyReport:
        return _verify_rows(self._rows, expected_head)

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> MemoryHistory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------
# The durable backend

_SCHEMA: Final = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value TEXT) STRICT, WITHOUT ROWID",
    "CREATE TABLE records ("
    " seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
    " device_time_ms INTEGER NOT NULL,"
    " clock_ms INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " data TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL"
    ") STRICT",
)
_COLUMNS: Final = ("seq", "device_time_ms", "clock_ms", "kind", "data", "prev_hash", "hash")
_SELECT: Final = "SELECT " + ", ".join(_COLUMNS) + " FROM records"
#: Milliseconds a second connection waits for the write lock before failing.
_BUSY_TIMEOUT_MS: Final = 5_000


class SqliteHistory:
    """History in one SQLite file: the durable backend.

    ``SqliteHistory(path)`` opens the history at ``path``, or creates it if
    nothing is there (atomically: a half-created file is never left at
    ``path``).  An existing file continues its chain from its last record.
    With ``read_only=True`` a missing file is an error and nothing is ever
    written (the CLI opens files this way).  ``device_serial`` and
    ``created_clock_ms`` are written to the ``meta`` table on creation; on
    opening, a ``device_serial`` different from the file's is refused.

    Durability: the file is in WAL mode with ``synchronous=FULL`` and each
    append is its own transaction, committed before :meth:`append` returns.
    In WAL mode ``synchronous=NORMAL`` does not sync the WAL at each commit, so
    the last transactions can be lost on power loss or an OS crash
    (https://www.sqlite.org/pragma.html#pragma_synchronous); a pump must not
    forget a stroke it recorded, so FULL.  One writer: each append checks, in
    its write transaction, that the file's last record is still the one this
    store appended last, and fails with ``HistoryError`` otherwise.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        immutable: bool = False,
        device_serial: str | None = None,
        created_clock_ms: int | None = None,
    ) -> None:
        if immutable and not read_only:
            raise ValueError("immutable needs read_only: a writer changes the file")
        self._path = Path(path)
        self._read_only = read_only
        self._immutable = immutable
        self._conn: sqlite3.Connection | None = None
        self._head: HistoryRecord | None = None
        if created_clock_ms is not None:
            _check_int("created_clock_ms", created_clock_ms, -_MAX_SAFE_INT, _MAX_SAFE_INT)
        if read_only:
            if not self._path.exists():
                raise HistoryError(f"{self._path}: no such history file")
        elif not self._path.exists():
            _create_file(self._path, device_serial, created_clock_ms)
        try:
            self._conn = self._connect()
            # Identify the file before anything writes to it: switching an empty
            # or foreign file to WAL mode would already change it.
            self._meta = self._read_meta()
            if device_serial is not None and self._meta.device_serial != device_serial:
                raise HistoryError(
                    f"{self._path}: this history belongs to device "
                    f"{self._meta.device_serial!r}, not {device_serial!r}"
                )
            if not read_only:
                self._make_durable()
                self._head = self._read_head()
        except _READ_ERRORS as exc:
            self.close()
            raise _translate(exc, self._path) from exc
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        mode = "ro" if self._read_only else "rw"
        return f"SqliteHistory({str(self._path)!r}, {mode})"

    @property
    def path(self) -> Path:
        return self._path

    @property
    def meta(self) -> HistoryMeta:
        return self._meta

    @property
    def head(self) -> HistoryRecord | None:
        """The last record.  A read-only store reads it from the file each
        time (a writer may be appending); raises ``HistoryCorruptError`` if the
        last row cannot be decoded."""
        if not self._read_only:
            return self._head
        try:
            row = self._live().execute(_SELECT + " ORDER BY seq DESC LIMIT 1").fetchone()
        except _READ_ERRORS as exc:
            raise _translate(exc, self._path, "cannot read the last record") from exc
        return None if row is None else self._decode(row)

    # -- opening -------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._read_only:
            # immutable: SQLite takes no lock and never opens or creates the -wal and
            # -shm companions (https://www.sqlite.org/uri.html#uriimmutable): only for
            # a file nothing writes, such as verify_file's private copy.
            uri = self._path.resolve().as_uri() + "?mode=ro" + (
                "&immutable=1" if self._immutable else "")
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            conn.execute("PRAGMA query_only = ON")
        else:
            conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA trusted_schema = OFF")
        except BaseException:
            conn.close()
            raise
        return conn

    def _make_durable(self) -> None:
        conn = self._live()
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise HistoryError(f"{self._path}: cannot switch the file to WAL mode")
        conn.execute("PRAGMA synchronous = FULL")

    def _read_meta(self) -> HistoryMeta:
        conn = self._live()
        not_history = f"{self._path}: not a pumplab history"
        if self._path.stat().st_size == 0:
            raise HistoryCorruptError(f"{not_history} (empty file, 0 bytes)")
        app_id = conn.execute("PRAGMA application_id").fetchone()
        if app_id is None or app_id[0] != _APPLICATION_ID:
            raise HistoryCorruptError(f"{not_history} (wrong SQLite application_id)")
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        }
        if not {"meta", "records"} <= tables:
            raise HistoryCorruptError(f"{not_history} (tables 'meta' and 'records' missing)")
        columns = tuple(row[1] for row in conn.execute("PRAGMA table_info(records)"))
        if columns != _COLUMNS:
            raise HistoryCorruptError(f"{not_history} (table 'records' has columns {columns})")
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("format") != FORMAT_NAME:
            raise HistoryCorruptError(f"{not_history} (meta 'format' is {meta.get('format')!r})")
        if meta.get("format_version") != str(FORMAT_VERSION):
            raise HistoryError(
                f"{self._path}: history format version {meta.get('format_version')!r} is not "
                f"supported (this pumplab reads version {FORMAT_VERSION})"
            )
        serial = meta.get("device_serial")
        created = meta.get("created_clock_ms")
        try:
            created_ms = None if created is None else int(created)
        except ValueError:
            raise HistoryCorruptError(
                f"{self._path}: meta 'created_clock_ms' is {created!r}, not an integer"
            ) from None
        return HistoryMeta(FORMAT_VERSION, None if serial is None else str(serial), created_ms)

    def _read_head(self) -> HistoryRecord | None:
        conn = self._live()
        row = conn.execute(_SELECT + " ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            return None
        problem = _row_problem(row)
        if problem is None:
            seq, device_time_ms, clock_ms, kind, data_json, prev_hash, digest = row
            recomputed = _chain_hash(
                prev_hash, canonical_record_bytes(seq, device_time_ms, clock_ms, kind, data_json)
            )
            if recomputed != digest:
                problem = "hash mismatch (the record was altered)"
        if problem is not None:
            # Appending after a damaged last record would chain onto it.
            raise HistoryCorruptError(
                f"{self._path}: the last record ({row[0]!r}) is damaged: {problem}; run "
                "`pumplab history verify` on it",
                seq=row[0] if isinstance(row[0], int) else None,
            )
        return _record_from_row(row)

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise HistoryError(f"{self._path}: the history is closed")
        return self._conn

    # -- the interface -------------------------------------------------------

    def append(
        self, kind: str, data: Mapping[str, JSONValue], *, device_time_ms: int, clock_ms: int
    ) -> HistoryRecord:
        conn = self._live()
        if self._read_only:
            raise HistoryError(f"{self._path}: the history was opened read-only")
        row, record = _new_row(self._head, kind, data, device_time_ms, clock_ms)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                last = conn.execute(
                    "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                mine = None if self._head is None else (self._head.seq, self._head.hash)
                if (None if last is None else tuple(last)) != mine:
                    raise HistoryError(
                        f"{self._path}: another writer appended to this history (its last "
                        f"record is {last[0] if last else 0}, this store's is "
                        f"{mine[0] if mine else 0}); a history has one writer"
                    )
                conn.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", row)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        except _READ_ERRORS as exc:
            raise _translate(exc, self._path, f"cannot append record {row[0]}") from exc
        self._head = record
        return record

    def records(self, since_seq: int = 0, limit: int | None = None) -> list[HistoryRecord]:
        _check_range(since_seq, limit)
        conn = self._live()
        try:
            rows = conn.execute(
                _SELECT + " WHERE seq > ? ORDER BY seq LIMIT ?",
                (since_seq, -1 if limit is None else limit),
            ).fetchall()
        except _READ_ERRORS as exc:
            raise _translate(exc, self._path, "cannot read records") from exc
        return [self._decode(row) for row in rows]

    def iter_records(self, since_seq: int = 0) -> Iterator[HistoryRecord]:
        """Records with ``seq > since_seq``, one at a time (for large files)."""
        _check_range(since_seq, None)
        conn = self._live()
        try:
            for row in conn.execute(_SELECT + " WHERE seq > ? ORDER BY seq", (since_seq,)):
                yield self._decode(row)
        except _READ_ERRORS as exc:
            raise _translate(exc, self._path, "cannot read records") from exc

    def _decode(self, row: tuple[object, ...]) -> HistoryRecord:
        problem = _row_problem(row)
        if problem is not None:
            seq = row[0] if row and isinstance(row[0], int) else None
            raise HistoryCorruptError(f"{self._path}: record {seq}: {problem}", seq=seq)
        return _record_from_row(row)  # type: ignore[arg-type]  # checked just above

    def verify(self, expected_head: tuple[int, str] | None = None) -> VerifyReport:
        conn = self._live()
        report = _verify_rows(self._stored_rows(conn), expected_head)
        if not report.ok:
            return report
        try:
            checks = [str(value) for (value,) in conn.execute("PRAGMA quick_check")]
        except _READ_ERRORS as exc:
            checks = [str(exc)]
        if checks != ["ok"]:
            # Damage the chain did not reach (an index, a free page): still not a
            # file to trust, but no record can be named.
            return VerifyReport(
                False,
                report.records,
                None,
                f"{self._path}: the file's structure is damaged although all "
                f"{report.records} records verify (sqlite quick_check: {checks[0]})",
                report.head_seq,
                report.head_hash,
            )
        return report

    def _stored_rows(self, conn: sqlite3.Connection) -> Iterator[object]:
        try:
            yield from conn.execute(_SELECT + " ORDER BY seq")
        except _READ_ERRORS as exc:
            yield _Unreadable(_describe(exc))

    def checkpoint(self) -> bool:
        """Merge the ``-wal`` into the file and empty it (a writer's clean stop).

        ``PRAGMA wal_checkpoint(TRUNCATE)`` (https://www.sqlite.org/pragma.html
        #pragma_wal_checkpoint).  True when every committed record is now in the
        file itself; False when a reader still needed older pages (the records stay
        safe in the ``-wal``).  A read-only store changes nothing and returns False.
        """
        conn = self._live()
        if self._read_only:
            return False
        try:
            row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except _READ_ERRORS as exc:
            raise _translate(exc, self._path, "cannot checkpoint") from exc
        return row is not None and row[0] == 0

    def close(self) -> None:
        """Release the file; a writer first merges its ``-wal`` into it (:meth:`checkpoint`),
        so that a history closed cleanly is one self-contained file."""
        if self._conn is not None:
            if not self._read_only:
                with contextlib.suppress(HistoryError):
                    self.checkpoint()
            conn, self._conn = self._conn, None
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def __enter__(self) -> SqliteHistory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: What reading a damaged file can raise: SQLite's errors, and a decoding
#: error when a TEXT value's bytes are not UTF-8 (sqlite3 decodes every TEXT).
_READ_ERRORS: Final = (sqlite3.Error, UnicodeDecodeError)


def _describe(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "the file holds text that is not valid UTF-8"
    return f"sqlite: {exc}"


def _translate(
    exc: sqlite3.Error | UnicodeDecodeError, path: Path, doing: str = "cannot open"
) -> HistoryError:
    """An error from reading or writing the file as the HistoryError a caller can act on."""
    if isinstance(exc, UnicodeDecodeError):
        return HistoryCorruptError(f"{path}: {doing}: the file is damaged ({_describe(exc)})")
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        if "not a database" in text:
            return HistoryCorruptError(f"{path}: not a pumplab history ({text})")
        return HistoryCorruptError(f"{path}: {doing}: the file is damaged ({text})")
    return HistoryError(f"{path}: {doing}: {text}")


def _create_file(path: Path, device_serial: str | None, created_clock_ms: int | None) -> None:
    """Create an empty history at ``path`` atomically.

    The file is built under a temporary name in the same directory and linked
    into place only when complete, so a process killed meanwhile leaves no
    half-made history at ``path`` (at worst a stray ``.<name>.*.creating`` file
    and its journal).
    If another process created ``path`` first, its file is kept.
    """
    directory = path.parent
    if not directory.is_dir():
        raise HistoryError(f"{path}: directory {directory} does not exist")
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".creating")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (name, value) VALUES (?, ?)",
                [
                    ("format", FORMAT_NAME),
                    ("format_version", str(FORMAT_VERSION)),
                    ("device_serial", device_serial),
                    (
                        "created_clock_ms",
                        None if created_clock_ms is None else f"{created_clock_ms}",
                    ),
                ],
            )
            conn.execute("COMMIT")
        finally:
            conn.close()  # checkpoints the WAL into the file and removes it
        try:
            os.link(tmp, path)  # fails if path exists: never replaces a history
        except FileExistsError:
            pass  # another process created it first: use theirs
        except OSError:
            # A file system without hard links: rename, which could replace a
            # history created in the instant since the check, hence the re-check.
            if not path.exists():
                os.replace(tmp, path)
        _fsync_directory(directory)
    except sqlite3.Error as exc:
        raise HistoryError(f"{path}: cannot create the history: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


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


def verify_file(
    path: str | os.PathLike[str], *, expected_head: tuple[int, str] | None = None
) -> VerifyReport:
    """Verify the history file at ``path`` (and its ``-wal``) without changing anything.

    The file and its ``-wal`` companion are read as they are (plain reads, no SQLite
    connection to them: nothing is ever written next to the evidence, not even the
    ``-shm`` SQLite would create, so a read-only directory or a reader who does not
    own the file is no obstacle) into a private copy, which is verified twice: the file
    alone, and the file with its ``-wal``.  The report is that of the pair (the
    history as the pump left it), with ``wal_records`` records only in the ``-wal``;
    ``path`` is set to ``path``.

    Never raises for a damaged file: a file that is not a history at all gives
    ``first_bad_seq=None``; a file cut short (bytes lost at its end, which SQLite
    refuses to open) is read from the copy padded back to the size its header states,
    so the first record that was lost is named; a header that states an impossible
    size is reported as damaged.  Every file-level reason names the file.  Raises
    :class:`~pumplab.errors.HistoryError` only when there is no file to read (missing
    or a directory).
    """
    if expected_head is not None:
        _check_expected_head(expected_head)
    file = Path(path)
    if not file.exists():
        raise HistoryError(f"{file}: no such history file")
    if file.is_dir():
        raise HistoryError(f"{file}: is a directory, not a history file")
    try:
        with tempfile.TemporaryDirectory(prefix="pumplab-verify-") as scratch:
            report = _verify_evidence(file, Path(scratch), expected_head)
    except Exception as exc:  # unreadable (permissions, I/O error, no room to copy)
        report = VerifyReport(
            False, 0, None, f"{file}: cannot be read to verify it ({type(exc).__name__}: {exc})"
        )
    return replace(report, path=str(file))


@contextlib.contextmanager
def open_evidence(path: str | os.PathLike[str]) -> Iterator[SqliteHistory]:
    """Open the history file at ``path`` and its ``-wal`` for reading, changing nothing.

    Like :func:`verify_file`, the file and its ``-wal`` are copied (plain reads) into a
    private directory and the copy is opened read-only, so ``history show`` and
    ``history export`` work on evidence in a read-only directory or owned by someone
    else, see the records that are only in the ``-wal``, and leave no ``-shm`` beside
    the evidence.  Raises :class:`~pumplab.errors.HistoryError` for a missing file, a
    directory or a file SQLite cannot open as a history.
    """
    file = Path(path)
    if not file.exists():
        raise HistoryError(f"{file}: no such history file")
    if file.is_dir():
        raise HistoryError(f"{file}: is a directory, not a history file")
    with tempfile.TemporaryDirectory(prefix="pumplab-evidence-") as scratch:
        try:
            alone, pair = _copy_evidence(file, Path(scratch))
        except OSError as exc:
            raise HistoryError(f"{file}: cannot be read ({type(exc).__name__}: {exc})") from exc
        try:
            store = SqliteHistory(pair or alone, read_only=True, immutable=pair is None)
        except HistoryError as exc:
            raise HistoryError(str(exc).replace(str(pair or alone), str(file))) from None
        with store:
            yield store


#: How often verify_file copies again when a writer changed the file while it copied.
_COPY_ATTEMPTS: Final = 5
#: A header may state a file up to this many times larger than the file is (a copy
#: cut short) before it is taken as damaged rather than padded back.
_MAX_CUT_FACTOR: Final = 64


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def _copy_evidence(file: Path, scratch: Path) -> tuple[Path, Path | None]:
    """Private copies: ``alone/<name>`` (the file only) and, when the ``-wal`` holds
    anything, ``pair/<name>`` with ``pair/<name>-wal``.  Copied again when a writer
    changed either while it was copied (a checkpoint between the two copies would
    pair a file and a ``-wal`` that do not belong together)."""
    wal = file.with_name(file.name + "-wal")
    alone_dir, pair_dir = scratch / "alone", scratch / "pair"
    alone, pair = alone_dir / file.name, pair_dir / file.name
    for _ in range(_COPY_ATTEMPTS):
        for directory in (alone_dir, pair_dir):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
        before = (_stamp(file), _stamp(wal))
        shutil.copyfile(file, alone)
        has_wal = wal.exists() and wal.stat().st_size > 0
        if has_wal:
            shutil.copyfile(wal, pair.with_name(pair.name + "-wal"))
            shutil.copyfile(alone, pair)
        if (_stamp(file), _stamp(wal)) == before:
            break
    return alone, (pair if has_wal else None)


def _verify_evidence(
    file: Path, scratch: Path, expected_head: tuple[int, str] | None
) -> VerifyReport:
    alone_copy, pair_copy = _copy_evidence(file, scratch)
    alone = _verify_copy(alone_copy, file, expected_head, immutable=True)
    if pair_copy is None:
        return alone
    pair = _verify_copy(pair_copy, file, expected_head, immutable=False)
    if pair.ok:
        return replace(pair, wal_records=max(0, pair.records - alone.records))
    if alone.ok:
        return replace(
            pair,
            reason=f"{pair.reason}; the file without its -wal verifies {alone.records} "
            "records: the damage is in the -wal",
        )
    return pair


def _verify_copy(
    copy: Path, file: Path, expected_head: tuple[int, str] | None, *, immutable: bool
) -> VerifyReport:
    """Verify a private copy; reasons name ``file``, never the copy."""
    try:
        with SqliteHistory(copy, read_only=True, immutable=immutable) as store:
            report = store.verify(expected_head)
    except HistoryError as exc:
        report = _unopenable(copy, exc, expected_head, immutable=immutable)
    return replace(report, reason=report.reason.replace(str(copy), str(file)))


def _unopenable(
    copy: Path, damage: HistoryError, expected_head: tuple[int, str] | None, *, immutable: bool
) -> VerifyReport:
    """A copy SQLite would not open: cut short (then padded and read), or not a history."""
    stated = _header_stated_size(copy)
    actual = copy.stat().st_size
    if stated is not None and (stated < 0 or stated > _MAX_CUT_FACTOR * max(actual, 1)):
        return VerifyReport(
            False,
            0,
            None,
            f"{copy}: the header is damaged (it states a page size and count that do not fit "
            f"a file of {actual} bytes): {str(damage).removeprefix(f'{copy}: ')}",
        )
    if stated is None or stated <= actual:
        seq = damage.seq if isinstance(damage, HistoryCorruptError) else None
        return VerifyReport(False, 0, seq, str(damage))
    cut = f"the file is cut short ({actual} of the {stated} bytes its header states)"
    with open(copy, "r+b") as handle:
        handle.truncate(stated)
    try:
        with SqliteHistory(copy, read_only=True, immutable=immutable) as store:
            report = store.verify(expected_head)
    except HistoryError:
        return VerifyReport(False, 0, None, f"{copy}: not readable as a history: {cut}")
    if report.ok or report.first_bad_seq is None:
        return VerifyReport(
            False,
            report.records,
            None,
            f"{copy}: {cut}, although all {report.records} records read",
            report.head_seq,
            report.head_hash,
        )
    return replace(report, reason=f"{report.reason}; {cut}")


def _header_stated_size(file: Path) -> int | None:
    """The size an SQLite file's header states (https://www.sqlite.org/fileformat.html,
    section 1.3: page size at offset 16, "in-header database size" in pages at offset
    28), -1 for a page size no SQLite file has, None when there is no such header or it
    states no size."""
    try:
        with open(file, "rb") as handle:
            header = handle.read(100)
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return None
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return -1  # a power of two from 512 to 65536 (section 1.3.2)
    pages = int.from_bytes(header[28:32], "big")
    return page_size * pages if pages else None


def open_history(
    path: str | os.PathLike[str] | None,
    *,
    read_only: bool = False,
    device_serial: str | None = None,
    created_clock_ms: int | None = None,
) -> HistoryStore:
    """The durable history at ``path``, or a fast in-memory one for ``None``."""
    if path is None:
        if read_only:
            raise ValueError("read_only needs a path: an in-memory history starts empty")
        return MemoryHistory(device_serial=device_serial, created_clock_ms=created_clock_ms)
    return SqliteHistory(
        path, read_only=read_only, device_serial=device_serial, created_clock_ms=created_clock_ms
    )

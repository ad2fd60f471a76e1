"""The durable backend: the file, its settings, reopening, and damaged files."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from history_strategies import T0_CLOCK_MS, strokes
from hypothesis import given, settings
from hypothesis import strategies as st

from pumplab.devices.history import (
    FORMAT_VERSION,
    GENESIS_HASH,
    SqliteHistory,
    compute_hash,
    verify_file,
)
from pumplab.errors import HistoryCorruptError, HistoryError


def _history(path: Path, count: int = 50) -> Path:
    with SqliteHistory(path, device_serial="123456", created_clock_ms=T0_CLOCK_MS) as store:
        strokes(store, count)
    return path


def _sql(path: Path, statement: str, *args: object) -> None:
    """Edit the file behind the store's back, as anyone with sqlite3 could."""
    conn = sqlite3.connect(path)
    conn.execute(statement, args)
    conn.commit()
    conn.close()


# --------------------------------------------------------------------------
# The file and its settings


def test_file_is_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    """An open writer runs journal_mode=WAL and synchronous=FULL (2)."""
    with SqliteHistory(tmp_path / "h.db") as store:
        conn = store._conn
        assert conn is not None
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_each_append_is_committed_before_it_returns(tmp_path: Path) -> None:
    """A second connection sees a record as soon as append returns."""
    path = tmp_path / "h.db"
    with SqliteHistory(path) as store:
        record = store.append("alarm", {"code": "a"}, device_time_ms=0, clock_ms=0)
        other = sqlite3.connect(path)
        assert other.execute("SELECT seq, hash FROM records").fetchall() == [(1, record.hash)]
        other.close()


def test_meta_table_records_format_serial_and_creation(tmp_path: Path) -> None:
    """The meta table names the format, its version, the serial and the creation clock."""
    path = _history(tmp_path / "h.db", 1)
    conn = sqlite3.connect(path)
    meta = dict(conn.execute("SELECT name, value FROM meta"))
    conn.close()
    assert meta == {
        "format": "pumplab-history",
        "format_version": str(FORMAT_VERSION),
        "device_serial": "123456",
        "created_clock_ms": str(T0_CLOCK_MS),
    }
    with SqliteHistory(path, read_only=True) as store:
        assert store.meta.device_serial == "123456"
        assert store.meta.created_clock_ms == T0_CLOCK_MS


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    """A reopened file appends seq N+1 chained to record N."""
    path = _history(tmp_path / "h.db", 5)
    with SqliteHistory(path) as store:
        head = store.head
        assert head is not None and head.seq == 5
        record = store.append("alarm", {}, device_time_ms=10**7, clock_ms=0)
        assert (record.seq, record.prev_hash) == (6, head.hash)
        assert store.verify().ok


def test_reopening_keeps_device_time_monotonic(tmp_path: Path) -> None:
    """After reopening, a device time before the last record's is still refused."""
    path = _history(tmp_path / "h.db", 5)
    with SqliteHistory(path) as store, pytest.raises(ValueError):
        store.append("alarm", {}, device_time_ms=0, clock_ms=0)


def test_another_devices_serial_is_refused(tmp_path: Path) -> None:
    """Opening a history with a different device serial is a HistoryError."""
    path = _history(tmp_path / "h.db", 1)
    with pytest.raises(HistoryError, match="belongs to device"):
        SqliteHistory(path, device_serial="654321")


def test_a_second_writer_is_refused_at_its_next_append(tmp_path: Path) -> None:
    """Two writers on one file: the one that falls behind gets a HistoryError, no fork."""
    path = tmp_path / "h.db"
    with SqliteHistory(path) as first, SqliteHistory(path) as second:
        first.append("alarm", {"by": "first"}, device_time_ms=0, clock_ms=0)
        with pytest.raises(HistoryError, match="another writer"):
            second.append("alarm", {"by": "second"}, device_time_ms=0, clock_ms=0)
        assert first.verify().ok
        assert len(first.records()) == 1


def test_creation_leaves_no_temporary_files(tmp_path: Path) -> None:
    """Creating and closing a history leaves just the one file."""
    _history(tmp_path / "h.db", 3)
    assert sorted(os.listdir(tmp_path)) == ["h.db"]


def test_creating_in_a_missing_directory_is_a_history_error(tmp_path: Path) -> None:
    """A path whose directory does not exist gives a one-line HistoryError."""
    with pytest.raises(HistoryError, match="does not exist"):
        SqliteHistory(tmp_path / "nowhere" / "h.db")


# --------------------------------------------------------------------------
# Read-only use (the CLI's)


def test_read_only_open_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    """A missing file is a HistoryError in read-only mode and no file appears."""
    with pytest.raises(HistoryError, match="no such history file"):
        SqliteHistory(tmp_path / "missing.db", read_only=True)
    assert os.listdir(tmp_path) == []


def test_read_only_store_refuses_appends(tmp_path: Path) -> None:
    """append on a read-only store is a HistoryError and the file is unchanged."""
    path = _history(tmp_path / "h.db", 2)
    with SqliteHistory(path, read_only=True) as store, pytest.raises(HistoryError):
        store.append("alarm", {}, device_time_ms=10**9, clock_ms=0)
    with SqliteHistory(path, read_only=True) as store:
        assert len(store.records()) == 2


def test_reader_sees_records_a_live_writer_appends(tmp_path: Path) -> None:
    """A read-only store's head follows a writer that keeps appending."""
    path = tmp_path / "h.db"
    with SqliteHistory(path) as writer:
        writer.append("alarm", {}, device_time_ms=0, clock_ms=0)
        with SqliteHistory(path, read_only=True) as reader:
            writer.append("alarm", {}, device_time_ms=1, clock_ms=0)
            head = reader.head
            assert head is not None and head.seq == 2


# --------------------------------------------------------------------------
# Damaged files: always a report or a HistoryError, never a traceback


def test_a_row_deleted_with_sqlite_is_found(tmp_path: Path) -> None:
    """Deleting a row in the middle with sqlite3 is reported as that record missing."""
    path = _history(tmp_path / "h.db")
    _sql(path, "DELETE FROM records WHERE seq = 20")
    report = verify_file(path)
    assert (report.ok, report.first_bad_seq) == (False, 20)
    assert report.summary().startswith("record 20: missing")


def test_a_row_edited_with_sqlite_is_found(tmp_path: Path) -> None:
    """Editing a row's data with sqlite3 is a hash mismatch at that record."""
    path = _history(tmp_path / "h.db")
    _sql(path, "UPDATE records SET data = ? WHERE seq = 7", '{"amount_u":5.0,"what":"bolus"}')
    report = verify_file(path)
    assert (report.ok, report.first_bad_seq) == (False, 7)
    assert "hash mismatch" in report.reason


def test_a_non_canonical_rewrite_of_a_row_is_found(tmp_path: Path) -> None:
    """Re-serialising a row's data with other whitespace is found (the stored text is hashed)."""
    path = _history(tmp_path / "h.db")
    _sql(path, "UPDATE records SET data = replace(data, ',', ', ') WHERE seq = 3")
    report = verify_file(path)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "canonical" in report.reason


def test_a_row_inserted_with_sqlite_is_found(tmp_path: Path) -> None:
    """Appending a forged row with sqlite3 is found at that row."""
    path = _history(tmp_path / "h.db")
    forged_hash = compute_hash(GENESIS_HASH, 51, 10**8, 0, "stroke", {"amount_u": 9.0})
    _sql(
        path,
        "INSERT INTO records VALUES (51, ?, 0, 'stroke', ?, ?, ?)",
        10**8,
        '{"amount_u":9.0}',
        GENESIS_HASH,
        forged_hash,
    )
    report = verify_file(path)
    assert (report.ok, report.first_bad_seq) == (False, 51)
    assert "prev_hash" in report.reason


def test_a_row_with_a_wrong_type_is_undecodable(tmp_path: Path) -> None:
    """A row whose data is not a JSON object is reported as undecodable at that record."""
    path = _history(tmp_path / "h.db")
    _sql(path, "UPDATE records SET data = '[1,2]' WHERE seq = 9")
    report = verify_file(path)
    assert (report.ok, report.first_bad_seq) == (False, 9)
    assert "undecodable" in report.reason


def test_a_writer_refuses_a_file_whose_last_record_is_damaged(tmp_path: Path) -> None:
    """Opening for writing fails when the last record does not hash (no chaining onto it)."""
    path = _history(tmp_path / "h.db")
    _sql(path, "UPDATE records SET clock_ms = 1 WHERE seq = 50")
    with pytest.raises(HistoryCorruptError, match="last record") as info:
        SqliteHistory(path)
    assert info.value.seq == 50


def test_a_cut_tail_is_found_with_the_head_seen_before_in_a_file(tmp_path: Path) -> None:
    """Rows deleted at the end verify alone, but not against the head seen before."""
    path = _history(tmp_path / "h.db")
    head = verify_file(path)
    _sql(path, "DELETE FROM records WHERE seq > 40")
    assert verify_file(path).ok
    report = verify_file(path, expected_head=(head.head_seq, head.head_hash))
    assert (report.ok, report.first_bad_seq) == (False, 41)


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1])
def test_a_truncated_file_names_the_first_lost_record(tmp_path: Path, keep: float) -> None:
    """A file with bytes cut off its end is reported at the first record it lost."""
    path = _history(tmp_path / "h.db", 600)
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(int(size * keep) // 4096 * 4096)
    report = verify_file(path)
    assert not report.ok
    assert report.first_bad_seq is not None and 1 <= report.first_bad_seq <= 600
    assert "cut short" in report.reason


def test_a_file_cut_inside_its_header_is_not_a_history(tmp_path: Path) -> None:
    """A file cut to a few bytes is reported as not readable, without a record number."""
    path = _history(tmp_path / "h.db")
    with open(path, "r+b") as handle:
        handle.truncate(50)
    report = verify_file(path)
    assert (report.ok, report.first_bad_seq) == (False, None)


def test_an_empty_file_is_not_a_history_and_is_not_initialised(tmp_path: Path) -> None:
    """A 0-byte file is refused by readers and writers and stays 0 bytes."""
    path = tmp_path / "h.db"
    path.touch()
    assert "empty file" in verify_file(path).reason
    with pytest.raises(HistoryCorruptError, match="empty file"):
        SqliteHistory(path)
    assert path.stat().st_size == 0


def test_garbage_is_not_a_history(tmp_path: Path) -> None:
    """A file of random bytes is 'not a pumplab history'."""
    path = tmp_path / "h.db"
    path.write_bytes(bytes(range(256)) * 64)
    report = verify_file(path)
    assert (report.ok, report.first_bad_seq) == (False, None)
    assert "not a pumplab history" in report.reason
    with pytest.raises(HistoryCorruptError):
        SqliteHistory(path)


def test_another_sqlite_database_is_not_a_history(tmp_path: Path) -> None:
    """A valid SQLite file of another application is refused and left unchanged."""
    path = tmp_path / "other.db"
    _sql(path, "CREATE TABLE t (x)")
    before = path.read_bytes()
    with pytest.raises(HistoryCorruptError, match="not a pumplab history"):
        SqliteHistory(path)
    assert path.read_bytes() == before


def test_a_newer_format_version_is_refused(tmp_path: Path) -> None:
    """A history whose format version this pumplab does not read is a HistoryError."""
    path = _history(tmp_path / "h.db", 1)
    _sql(path, "UPDATE meta SET value = '99' WHERE name = 'format_version'")
    with pytest.raises(HistoryError, match="version '99' is not supported"):
        SqliteHistory(path, read_only=True)


def test_verify_file_of_a_missing_path_is_a_history_error(tmp_path: Path) -> None:
    """verify_file raises HistoryError (not a report) when there is no file."""
    with pytest.raises(HistoryError, match="no such history file"):
        verify_file(tmp_path / "missing.db")
    assert os.listdir(tmp_path) == []


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_random_byte_damage_never_escapes_as_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Overwriting random bytes anywhere gives a report or a HistoryError, nothing else."""
    base = tmp_path_factory.getbasetemp() / "damage-base.db"
    if not base.exists():
        _history(base, 300)
    path = tmp_path_factory.mktemp("damage") / "h.db"
    shutil.copyfile(base, path)
    size = path.stat().st_size
    offset = data.draw(st.integers(0, size - 1), label="offset")
    junk = data.draw(st.binary(min_size=1, max_size=64), label="junk")
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(junk)
    report = verify_file(path)  # must not raise
    if report.ok:
        # Damage that touched no record (free space, unused page bytes) is harmless:
        # every record is still the one that was written.
        with (
            SqliteHistory(base, read_only=True) as original,
            SqliteHistory(path, read_only=True) as damaged,
        ):
            assert damaged.records() == original.records()

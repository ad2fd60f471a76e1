"""A history file as evidence (issue 9, defects 6 and 7).

``verify_file`` reads the file and its ``-wal`` without ever writing next to them (a
read-only evidence directory, a reader who does not own the file), never raises on a
damaged file and names the file in its report; it reports records that exist only in the
``-wal`` (not yet merged into the file: copying the file alone would lose them); and a
store that is closed cleanly merges its ``-wal`` into the file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from history_strategies import T0_CLOCK_MS, strokes

from pumplab.devices.history import SqliteHistory, open_evidence, verify_file
from pumplab.errors import HistoryError

#: An unprivileged user to read the evidence as (the conventional "nobody").
NOBODY = 65534


def _history(path: Path, count: int = 40) -> Path:
    with SqliteHistory(path, device_serial="123456", created_clock_ms=T0_CLOCK_MS) as store:
        strokes(store, count)
    return path


def _listing(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir()}


def _as_killed(source: Path, dest_dir: Path, count: int) -> Path:
    """The files a pump killed mid-run leaves: ``count`` records appended by a writer that
    never closed (copied while it is still open, so nothing was merged at close)."""
    store = SqliteHistory(source, device_serial="123456", created_clock_ms=T0_CLOCK_MS)
    try:
        strokes(store, count)
        dest = dest_dir / source.name
        shutil.copyfile(source, dest)
        wal = source.with_name(source.name + "-wal")
        assert wal.exists() and wal.stat().st_size > 0
        shutil.copyfile(wal, dest.with_name(dest.name + "-wal"))
    finally:
        store.close()
    return dest


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user can reach (pytest's own tmp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="pumplab-evidence-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        path.chmod(0o755)
        shutil.rmtree(path)


def _verify_as_another_user(path: Path) -> tuple[int, str]:
    """verify_file in a forked child that drops to an unprivileged user first (it owns
    neither the file nor its directory); returns (exit code, its summary line)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 2
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            report = verify_file(path)
            os.write(write_end, report.summary().encode())
            code = 0 if report.ok else 1
        except BaseException as exc:  # report anything, including an escaping exception
            os.write(write_end, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        out = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="file ownership and modes are POSIX")
@pytest.mark.parametrize("with_wal", [False, True], ids=["closed-cleanly", "killed"])
def test_verify_works_as_a_non_owner_in_a_read_only_directory_and_writes_nothing(
        shared_dir: Path, tmp_path: Path, with_wal: bool) -> None:
    """Evidence readable by all, in a directory only its owner may write: verify succeeds
    as another user and leaves the directory exactly as it was (no -shm, no -wal)."""
    if with_wal:
        path = _as_killed(tmp_path / "h.sqlite", shared_dir, 30)
    else:
        path = _history(shared_dir / "h.sqlite")
    for p in shared_dir.iterdir():
        p.chmod(0o644)
    before = _listing(shared_dir)
    if os.geteuid() == 0:
        code, out = _verify_as_another_user(path)
    else:  # not root: make the directory read-only for its owner too
        shared_dir.chmod(0o555)
        report = verify_file(path)
        code, out = (0 if report.ok else 1), report.summary()
    assert code == 0, out
    assert out.startswith("ok: ")
    assert _listing(shared_dir) == before


@pytest.mark.parametrize(
    "changes",
    [[(16, b"\xff\xff")], [(28, b"\xff\xff\xff\xff")], [(16, b"\x00\x03")],
     [(16, b"\x00\x01"), (28, b"\xff\xff\xff\xff")]],
    ids=["page-size", "page-count", "odd-page-size", "six-header-bytes"])
def test_header_damage_gives_a_report_naming_the_file_never_an_exception(
        tmp_path: Path, changes: list[tuple[int, bytes]]) -> None:
    """Changed page-size or page-count bytes are a failed report whose reason names the
    file (6 bytes, 64-KiB pages times 2^32 - 1 pages, once raised "OSError: File too
    large" while the copy was padded to the size the header states)."""
    path = _history(tmp_path / "h.sqlite")
    with open(path, "r+b") as handle:
        for offset, value in changes:
            handle.seek(offset)
            handle.write(value)
    report = verify_file(path)
    assert not report.ok
    assert str(path) in report.reason
    assert report.path == str(path)


def test_records_only_in_the_wal_are_reported(tmp_path: Path) -> None:
    """A killed pump's last records may be only in the -wal: verify counts them and says
    the -wal is part of the evidence; the file copied without it has fewer records."""
    (tmp_path / "evidence").mkdir()
    path = _as_killed(tmp_path / "src.sqlite", tmp_path / "evidence", 30)
    report = verify_file(path)
    assert report.ok and report.records == 30
    assert report.wal_records == 30
    assert "-wal" in report.summary() and "30" in report.summary()
    alone = tmp_path / "alone.sqlite"
    shutil.copyfile(path, alone)
    assert verify_file(alone).records == 0  # what copying the file alone keeps


def test_closing_the_store_merges_its_wal_into_the_file(tmp_path: Path) -> None:
    """A clean stop checkpoints: the file alone holds every record, even while a reader
    had the history open (then SQLite's own close-time merge does not run)."""
    path = tmp_path / "h.sqlite"
    writer = SqliteHistory(path, device_serial="123456", created_clock_ms=T0_CLOCK_MS)
    reader = SqliteHistory(path, read_only=True)
    strokes(writer, 25)
    assert len(reader.records()) == 25
    writer.close()
    alone = tmp_path / "alone.sqlite"
    shutil.copyfile(path, alone)
    reader.close()
    report = verify_file(alone)
    assert report.ok and report.records == 25 and report.wal_records == 0


def test_open_evidence_sees_wal_records_and_leaves_a_read_only_directory_unchanged(
        shared_dir: Path, tmp_path: Path) -> None:
    """`history show`/`export` read evidence through open_evidence: the records only in the
    -wal are there, and nothing (no -shm, no changed -wal) appears beside the evidence,
    even when the directory is read-only."""
    path = _as_killed(tmp_path / "h.sqlite", shared_dir, 30)
    before = _listing(shared_dir)
    shared_dir.chmod(0o555)
    try:
        with open_evidence(path) as store:
            records = store.records()
    finally:
        shared_dir.chmod(0o755)
    assert [r.seq for r in records] == list(range(1, 31))
    assert _listing(shared_dir) == before


def test_history_show_reads_the_wal_records_of_evidence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's `history show` lists the records a killed pump left only in the -wal."""
    from pumplab.cli.main import main

    (tmp_path / "evidence").mkdir()
    path = _as_killed(tmp_path / "src.sqlite", tmp_path / "evidence", 12)
    assert main(["history", "show", str(path), "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 12
    assert sorted(p.name for p in (tmp_path / "evidence").iterdir()) == [
        "src.sqlite", "src.sqlite-wal"]


def test_open_evidence_refuses_a_missing_file_and_a_directory(tmp_path: Path) -> None:
    for path, needle in ((tmp_path / "nope.sqlite", "no such history file"),
                         (tmp_path, "is a directory")):
        with pytest.raises(HistoryError, match=needle), open_evidence(path):
            pass

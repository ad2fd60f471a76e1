"""Crash consistency of the durable store: SIGKILL at random moments loses nothing.

A child process appends records in a loop and, after each append returns,
reports the record's seq and hash through a pipe.  The parent kills it with
SIGKILL at a random moment (including while it creates or opens the file),
then checks the file: it verifies, reopens for writing, and holds every record
the child saw as appended, byte for byte (durability of a returned append).
The same file is used across all kills, so it also checks that a crashed
file continues its chain.

SIGKILL loses only what the process had not handed to the kernel; it does not
test power loss (the reason for ``synchronous=FULL``), which no test here can.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
from history_strategies import T0_CLOCK_MS

from pumplab.devices.history import SqliteHistory, verify_file

KILLS = 100
#: The child is killed after a delay drawn uniformly from [0, this) seconds:
#: counted from its start for even kills (so some land while it creates or
#: opens the file), from its first returned append for odd ones.
MAX_DELAY_S = 0.02


def _append_forever(path: str, pipe: Connection) -> None:
    """Child: open (or create) the history and append until killed."""
    store = SqliteHistory(path)
    head = store.head
    device_ms = 0 if head is None else head.device_time_ms
    while True:
        device_ms += 1
        record = store.append(
            "stroke",
            {"what": "basal", "bolus_id": None, "amount_u": 0.025, "bolus_delivered_u": None},
            device_time_ms=device_ms,
            clock_ms=T0_CLOCK_MS + device_ms,
        )
        pipe.send_bytes(f"{record.seq} {record.hash}".encode())


def _drain(pipe: Connection, into: dict[int, str]) -> None:
    """Read every complete report the killed child managed to send."""
    while pipe.poll():
        try:
            message = pipe.recv_bytes()
        except (EOFError, OSError):
            return
        seq, digest = message.decode().split()
        into[int(seq)] = digest


def test_sigkill_at_random_moments_loses_no_returned_record(tmp_path: Path) -> None:
    """After each of 100 SIGKILLs the file verifies and holds every record append returned."""
    context = multiprocessing.get_context("fork")
    rng = np.random.default_rng(20240101)
    path = tmp_path / "pump.db"
    reported: dict[int, str] = {}
    kills_with_appends = 0
    for kill in range(KILLS):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_append_forever, args=(str(path), sender), daemon=True)
        child.start()
        sender.close()
        before = len(reported)
        if kill % 2 == 1:
            assert receiver.poll(10), "the child appended nothing within 10 s"
        time.sleep(rng.uniform(0.0, MAX_DELAY_S))
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(timeout=10)
        assert child.exitcode == -signal.SIGKILL, "the child died of something else"
        _drain(receiver, reported)
        receiver.close()
        kills_with_appends += len(reported) > before

        if not path.exists():
            # Killed while creating the file: nothing was ever appended.
            assert not reported
            continue
        report = verify_file(path)  # read-only, as `pumplab history verify` after a crash
        assert report.ok, report.summary()
        with SqliteHistory(path) as store:  # a writer reopens the crashed file
            stored = {record.seq: record.hash for record in store.records()}
        missing = {seq for seq, digest in reported.items() if stored.get(seq) != digest}
        assert not missing, f"returned appends lost or changed: {sorted(missing)[:5]}"

    # Half the kills at least landed while appending (the odd ones by construction).
    assert kills_with_appends >= KILLS // 2
    assert len(reported) >= KILLS
    leftovers = [name for name in os.listdir(tmp_path) if not name.startswith("pump.db")]
    # A kill during creation may leave the unfinished temporary file (and its
    # journal) beside the history, never a half-made history at its path.
    assert all(".creating" in name for name in leftovers), leftovers

"""Append and verify rates of the two history backends, against bare peers.

    python benchmarks/history_append.py [--records N] [--dir DIR]

Prints records per second for

* ``MemoryHistory.append`` (the fast backend) and, as its peer, the bare work
  it cannot avoid: canonical JSON of the payload plus one SHA-256;
* ``SqliteHistory.append`` (the durable backend: WAL, ``synchronous=FULL``,
  one committed transaction per record) and, as its peers, a bare
  ``sqlite3`` INSERT + COMMIT per row with the same settings and with
  ``synchronous=NORMAL`` (which does not sync each commit in WAL mode);
* ``verify()`` of each backend,

with the ratio of each backend to its peer measured in the same run, which is
what to compare across machines.  The durable figures depend on how fast the
disk under ``--dir`` (default: the system temporary directory) syncs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pumplab.devices.history import MemoryHistory, SqliteHistory

PAYLOAD = {"what": "basal", "bolus_id": None, "amount_u": 0.025, "bolus_delivered_u": None}


def _rate(count: int, work: Callable[[int], None]) -> float:
    start = time.perf_counter()
    for i in range(count):
        work(i)
    return count / (time.perf_counter() - start)


def _bare_hash(i: int) -> None:
    text = json.dumps(PAYLOAD, sort_keys=True, separators=(",", ":"))
    hashlib.sha256(f'{{"data":{text},"seq":{i}}}'.encode()).hexdigest()


def _bare_sqlite(path: Path, synchronous: str) -> Callable[[int], None]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("CREATE TABLE r (seq INTEGER PRIMARY KEY, data TEXT NOT NULL)")
    text = json.dumps(PAYLOAD)

    def insert(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO r VALUES (?, ?)", (i + 1, text))
        conn.execute("COMMIT")

    return insert


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2000, help="records per backend")
    parser.add_argument("--dir", default=None, help="directory for the SQLite files")
    args = parser.parse_args()
    n = args.records

    memory = MemoryHistory()
    memory_rate = _rate(
        n * 10, lambda i: memory.append("stroke", PAYLOAD, device_time_ms=i, clock_ms=i)
    )
    bare_hash_rate = _rate(n * 10, _bare_hash)
    start = time.perf_counter()
    assert memory.verify().ok
    memory_verify_rate = n * 10 / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="pumplab-bench-") as scratch:
        directory = Path(scratch)
        with SqliteHistory(directory / "h.db") as durable:
            durable_rate = _rate(
                n, lambda i: durable.append("stroke", PAYLOAD, device_time_ms=i, clock_ms=i)
            )
            start = time.perf_counter()
            assert durable.verify().ok
            durable_verify_rate = n / (time.perf_counter() - start)
        full_rate = _rate(n, _bare_sqlite(directory / "full.db", "FULL"))
        normal_rate = _rate(n, _bare_sqlite(directory / "normal.db", "NORMAL"))

    print(f"{'what':58} {'records/s':>10}")
    rows = [
        ("MemoryHistory.append", memory_rate),
        ("  peer: canonical JSON + SHA-256 only", bare_hash_rate),
        ("MemoryHistory.verify", memory_verify_rate),
        ("SqliteHistory.append (WAL, synchronous=FULL)", durable_rate),
        ("  peer: bare sqlite3 INSERT+COMMIT, WAL, FULL", full_rate),
        ("  peer: bare sqlite3 INSERT+COMMIT, WAL, NORMAL", normal_rate),
        ("SqliteHistory.verify", durable_verify_rate),
    ]
    for name, rate in rows:
        print(f"{name:58} {rate:10.0f}")
    print(f"ratio memory append / bare hash:       {memory_rate / bare_hash_rate:.2f}")
    print(f"ratio durable append / bare FULL:      {durable_rate / full_rate:.2f}")
    print(f"ratio bare FULL / bare NORMAL:         {full_rate / normal_rate:.2f}")
    print(f"ratio memory append / durable append:  {memory_rate / durable_rate:.0f}")


if __name__ == "__main__":
    main()

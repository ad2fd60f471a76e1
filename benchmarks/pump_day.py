"""Cost of one simulated pump-day, against the bare cost of its history.

    python benchmarks/pump_day.py [--days N] [--durable DIR]

A secure pump runs a day of basal (0.8–1.2 U/h) with four boluses (three wizard boluses
through the keys and one square wave) and a controller's temp basals every 30 minutes,
on an in-memory link and the fast (memory) history.  Printed:

* wall time per pump-day, strokes and history records per day;
* the peer measured in the same run: appending the same number of records of the same
  kinds to a bare ``MemoryHistory`` (the floor any pump that logs every stroke pays);
* the ratio pump-day / peer, which is what to compare across machines;
* with ``--durable DIR``, the same day on ``SqliteHistory`` (``synchronous=FULL``):
  dominated by the disk's sync time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from pumplab.clock import MS_PER_MINUTE, EventClock
from pumplab.devices.history import HistoryStore, MemoryHistory, SqliteHistory
from pumplab.devices.pump import Pump, PumpSettings, RecordingMotor, ui
from pumplab.link.memory import InMemoryLink
from pumplab.link.messages import TempBasalCommand

SETTINGS = PumpSettings(
    pattern_standard=((0, 0.8), (360, 1.2), (1320, 1.0)), pairings=(("app:phone", "controller"),)
)


def pump_day(history: HistoryStore, days: int) -> tuple[float, int, int]:
    """Run ``days`` pump-days; returns (seconds, motor strokes, history records)."""
    clock = EventClock()
    link = InMemoryLink(clock, delay_ms=0)
    link.attach("app:phone", lambda env: None)
    motor = RecordingMotor(clock)
    pump = Pump(
        serial="665455",
        clock=clock,
        link=link,
        history=history,
        motor=motor,
        settings=SETTINGS,
        rng=np.random.default_rng(1),
    )
    start = time.perf_counter()
    pump.start()
    cid = 0
    for day in range(days):
        base = day * 1440
        for minute in range(0, 1440, 30):
            t = (base + minute) * MS_PER_MINUTE
            clock.run_until(t)
            if minute in (450, 750, 1110):
                ui.wizard_bolus(pump, 60, 160)
            if minute == 1200:
                ui.square_bolus(pump, 2.0, 120)
            cid += 1
            link.send(
                "app:phone",
                pump.address,
                TempBasalCommand(
                    rate_u_per_h=1.0 if minute % 60 else 0.9, duration_min=30, command_id=cid
                ),
            )
    clock.run_until(days * 1440 * MS_PER_MINUTE)
    return time.perf_counter() - start, len(motor.strokes), len(history.records())


def peer(history: HistoryStore) -> float:
    """Seconds to append the same records to a bare MemoryHistory."""
    records = history.records()
    bare = MemoryHistory()
    start = time.perf_counter()
    for r in records:
        bare.append(r.kind, r.data, device_time_ms=r.device_time_ms, clock_ms=r.clock_ms)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument(
        "--durable", type=Path, default=None, help="also run on SqliteHistory in this directory"
    )
    args = parser.parse_args()
    mem = MemoryHistory()
    seconds, strokes, records = pump_day(mem, args.days)
    floor = peer(mem)
    print(
        f"memory history: {seconds / args.days * 1000:.1f} ms per pump-day "
        f"({strokes // args.days} strokes, {records // args.days} records per day)"
    )
    print(
        f"peer (bare MemoryHistory appends of the same records): "
        f"{floor / args.days * 1000:.1f} ms per day; ratio {seconds / floor:.2f}"
    )
    if args.durable is not None:
        with tempfile.TemporaryDirectory(dir=args.durable) as tmp:
            durable = SqliteHistory(Path(tmp) / "pump.sqlite")
            seconds_d, _, _ = pump_day(durable, 1)
            durable.close()
        print(
            f"durable history: {seconds_d * 1000:.0f} ms per pump-day "
            f"({seconds_d / (seconds / args.days):.1f}× the memory history)"
        )


if __name__ == "__main__":
    main()

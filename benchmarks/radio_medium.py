"""Cost of the simulated radio medium: per frame, and for a day of an on-body rig.

    python -m benchmarks.radio_medium [--days N] [--repeats R] [--json]
    python -m benchmarks.radio_medium --calibration

A day of the rig pumplab runs (docs/radio.md, "Performance"), as fixed traffic on
the legacy 916.5 MHz channel with the default propagation (shadowing on):

* a CGM transmitter (on body) sends a reading every 5 minutes;
* a controller's RileyLink-class bridge (on body) does an exchange with the pump
  every 5 minutes: a status read and a temp basal, 8 frames (short commands and
  ACKs, long responses and arguments);
* once an hour the bridge wakes the pump with a 255-frame burst (one transmission);
* 6 meter readings and 4 remote boluses (B, B, ACT, ACT) a day;
* a passive sniffer listens too (an attacker in the lab's runs), so every frame
  has five receivers.

Printed: frames and transmissions per simulated day, wall time per day, µs per
frame; the same day with a capture file being written (to memory, with a trivial
decoder); and the peer measured in the same run: the in-memory link
(:class:`pumplab.link.memory.InMemoryLink`) carrying the same number of
messages, µs per message, and the ratio.  Best of ``--repeats`` runs.

``--calibration`` prints the analytic delivery-probability table of docs/radio.md.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from typing import Any

from pumplab.clock import MS_PER_MINUTE, EventClock
from pumplab.link.memory import InMemoryLink
from pumplab.link.messages import ReadStatusCommand
from pumplab.link.radio import LEGACY_CHANNEL, CaptureWriter, Medium, Participant
from pumplab.link.radio.calibration import calibration_table, range_at_probability_m
from pumplab.link.radio.defaults import (
    AMPLIFIED_ATTACKER_EIRP_DBM,
    LEGACY_DEVICE_EIRP_DBM,
    RILEYLINK_EIRP_DBM,
    YAGI_GAIN_DBI,
)

SHORT = bytes(11) + b"\x00"        # a 7-byte packet on the air: 12 bytes
LONG = bytes(107) + b"\x00"        # a 71-byte packet: 108 bytes
SENSOR = bytes(29) + b"\x00"       # a sensor packet of about 20 bytes

RIG = (
    Participant("pump", (0.0, 0.0), LEGACY_DEVICE_EIRP_DBM, worn_on="wearer"),
    Participant("cgm", (0.25, 0.1), LEGACY_DEVICE_EIRP_DBM, worn_on="wearer"),
    Participant("bridge", (0.5, -0.3), RILEYLINK_EIRP_DBM, worn_on="wearer"),
    Participant("meter", (0.8, 0.6), LEGACY_DEVICE_EIRP_DBM),
    Participant("remote", (1.2, 0.4), LEGACY_DEVICE_EIRP_DBM),
    Participant("sniffer", (15.0, 4.0), 0.0, rx_gain_dbi=YAGI_GAIN_DBI),
)


def _day_plan(days: int) -> list[tuple[int, str, bytes, int]]:
    """(t_ms, transmitter, air, repeat) for every transmission of ``days`` days."""
    plan: list[tuple[int, str, bytes, int]] = []
    for day in range(days):
        base = day * 1440 * MS_PER_MINUTE
        for minute in range(0, 1440, 5):
            t = base + minute * MS_PER_MINUTE
            plan.append((t + 1_000, "cgm", SENSOR, 1))
            if minute % 60 == 0:
                plan.append((t + 20_000, "bridge", SHORT, 255))     # ~6 s wake-up burst
            exchange = [("bridge", SHORT), ("pump", SHORT), ("bridge", SHORT), ("pump", LONG),
                        ("bridge", SHORT), ("pump", SHORT), ("bridge", LONG), ("pump", SHORT)]
            for i, (who, air) in enumerate(exchange):
                plan.append((t + 30_000 + 100 * i, who, air, 1))
        for hour in (7, 10, 12, 16, 19, 22):
            plan.append((base + hour * 60 * MS_PER_MINUTE + 7_000, "meter", SHORT, 1))
        for hour in (8, 13, 18, 21):
            for i in range(4):
                plan.append((base + hour * 60 * MS_PER_MINUTE + 9_000 + 700 * i, "remote",
                             SHORT, 1))
    plan.sort(key=lambda p: p[0])
    return plan


def radio_day(days: int, capture: bool) -> tuple[float, int, int]:
    """Seconds to run ``days`` days of traffic; also (repetitions, transmissions)."""
    clock = EventClock()
    medium = Medium(clock, seed=1, channels=[LEGACY_CHANNEL])
    if capture:
        medium.add_frame_observer(CaptureWriter(io.StringIO(),
                                                {LEGACY_CHANNEL.name: lambda air: air[:-1]}))
    radios = {p.name: medium.add(p, handler=lambda r: None) for p in RIG}
    plan = _day_plan(days)
    start = time.perf_counter()
    for t, who, air, repeat in plan:
        clock.run_until(t)
        radios[who].transmit(air, repeat=repeat, interval_ms=23 if repeat > 1 else 0)
    clock.run_until(days * 1440 * MS_PER_MINUTE)
    seconds = time.perf_counter() - start
    return seconds, medium.stats.repetitions, medium.stats.transmissions


def memory_peer(messages: int) -> float:
    """Seconds for the in-memory link to carry ``messages`` messages (send + deliver)."""
    clock = EventClock()
    link = InMemoryLink(clock, delay_ms=5)
    link.attach("pump:1", lambda envelope: None)
    message = ReadStatusCommand()
    start = time.perf_counter()
    for i in range(messages):
        clock.run_until(i * 20)
        link.send("app:phone", "pump:1", message)
    clock.run_until(messages * 20 + 10)
    return time.perf_counter() - start


def measure(days: int, repeats: int) -> dict[str, Any]:
    plain = min(radio_day(days, capture=False)[0] for _ in range(repeats))
    captured = min(radio_day(days, capture=True)[0] for _ in range(repeats))
    _, repetitions, transmissions = radio_day(days, capture=False)
    peer = min(memory_peer(transmissions) for _ in range(repeats))
    per_frame_us = plain / transmissions * 1e6
    peer_us = peer / transmissions * 1e6
    return {
        "schema": "pumplab.bench.radio_medium/1",
        "days": days,
        "transmissions_per_day": transmissions // days,
        "frames_on_air_per_day": repetitions // days,
        "receivers_per_frame": len(RIG) - 1,
        "seconds_per_day": plain / days,
        "us_per_transmission": per_frame_us,
        "seconds_per_day_with_capture": captured / days,
        "us_per_transmission_with_capture": captured / transmissions * 1e6,
        "peer_in_memory_us_per_message": peer_us,
        "ratio_medium_to_in_memory": per_frame_us / peer_us,
    }


def calibration() -> str:
    pump = Participant("pump", (0, 0), LEGACY_DEVICE_EIRP_DBM, worn_on="wearer")
    handheld = Participant("remote", (0, 0), LEGACY_DEVICE_EIRP_DBM)
    cgm = Participant("cgm", (0, 0), LEGACY_DEVICE_EIRP_DBM, worn_on="wearer")
    bridge = Participant("bridge", (0, 0), RILEYLINK_EIRP_DBM)
    attacker = Participant("attacker", (0, 0), AMPLIFIED_ATTACKER_EIRP_DBM,
                           rx_gain_dbi=YAGI_GAIN_DBI)
    links = [
        ("handheld device -> pump on body", handheld, pump),
        ("CGM on the same body -> pump", cgm, pump),
        ("RileyLink (+10 dBm, off body) -> pump", bridge, pump),
        ("pump -> RileyLink (off body)", pump, bridge),
        ("amplified attacker (+40 dBm) -> pump", attacker, pump),
        ("pump -> attacker's Yagi (+12 dBi)", pump, attacker),
    ]
    distances = (0.3, 1.0, 2.0, 5.0, 10.0, 30.0, 90.0, 300.0)
    rows = calibration_table(links, LEGACY_CHANNEL, distances)
    lines = ["| link | " + " | ".join(f"{d:g} m" for d in distances) + " | 90 % to | 50 % to |",
             "|---|" + "---:|" * (len(distances) + 2)]
    for label, tx, rx in links:
        cells = [f"{r.delivery:.2f}" for r in rows if r.link == label]
        r90 = range_at_probability_m(tx, rx, LEGACY_CHANNEL, 0.9)
        r50 = range_at_probability_m(tx, rx, LEGACY_CHANNEL, 0.5)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {r90:.1f} m | {r50:.0f} m |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--calibration", action="store_true",
                        help="print the delivery-probability table and exit")
    args = parser.parse_args()
    if args.calibration:
        print(calibration())
        return
    result = measure(args.days, args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"traffic: {result['transmissions_per_day']} transmissions "
          f"({result['frames_on_air_per_day']} frames on the air) per simulated day, "
          f"{result['receivers_per_frame']} receivers each")
    print(f"medium: {result['seconds_per_day'] * 1000:.1f} ms per day, "
          f"{result['us_per_transmission']:.1f} µs per transmission")
    print(f"with capture: {result['seconds_per_day_with_capture'] * 1000:.1f} ms per day, "
          f"{result['us_per_transmission_with_capture']:.1f} µs per transmission")
    print(f"peer (in-memory link, same number of messages): "
          f"{result['peer_in_memory_us_per_message']:.1f} µs per message; "
          f"ratio {result['ratio_medium_to_in_memory']:.1f}")


if __name__ == "__main__":
    main()

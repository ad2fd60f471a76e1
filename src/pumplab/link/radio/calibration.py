"""Analytic link calibration: delivery probability against distance.

For one transmitter and one receiver at a distance, the probability that a
frame gets through on a quiet channel is the packet-success probability
averaged over the log-normal shadowing::

    P(d) = E_Z[ 1 - PER(S(d) + σ Z - N, bits) ],   Z ~ N(0, 1)

with S(d) the median received power (:func:`~pumplab.link.radio.propagation.mean_received_dbm`)
and N the receiver's noise floor.  It is computed here by quadrature; the
medium draws the same quantities frame by frame, and a test checks that the
two agree (tests/link/radio/test_radio_calibration.py).  docs/radio.md's
calibration table comes from :func:`calibration_table`.

Pure maths; participant positions are ignored (the distance is given).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from pumplab.link.radio.phy import Channel
from pumplab.link.radio.propagation import (
    mean_received_dbm,
    noise_floor_dbm,
    packet_error_rate,
)
from pumplab.link.radio.records import Participant

__all__ = [
    "CalibrationRow",
    "calibration_table",
    "delivery_probability",
    "median_received_dbm",
    "range_at_probability_m",
]

# Quadrature nodes over ±6 σ: fine enough that the sum is exact to ~1e-6 here.
_STEPS = 481
_Z = [-6.0 + 12.0 * i / (_STEPS - 1) for i in range(_STEPS)]
_W_RAW = [math.exp(-z * z / 2.0) for z in _Z]
_W_SUM = sum(_W_RAW)
_W = [w / _W_SUM for w in _W_RAW]


def median_received_dbm(tx: Participant, rx: Participant, channel: Channel,
                        distance: float) -> float:
    """Median received power of ``tx``'s frames at ``rx``, ``distance`` metres away."""
    return mean_received_dbm(tx.eirp_dbm, distance, channel.frequency_hz, channel.propagation,
                             tx.worn_on, rx.worn_on, rx.rx_gain_dbi)


def delivery_probability(tx: Participant, rx: Participant, channel: Channel, distance: float,
                         air_bytes: int = 12) -> float:
    """Probability that one frame of ``air_bytes`` gets through on a quiet channel."""
    phy = channel.phy
    sens = phy.sensitivity_dbm if rx.sensitivity_dbm is None else rx.sensitivity_dbm
    snr_median = (median_received_dbm(tx, rx, channel, distance)
                  - noise_floor_dbm(sens, phy.sensitivity_ber))
    sigma = channel.propagation.shadowing_sigma_db
    bits = phy.payload_bits(air_bytes)
    if sigma == 0:
        return 1.0 - packet_error_rate(snr_median, bits)
    return sum(w * (1.0 - packet_error_rate(snr_median + sigma * z, bits))
               for z, w in zip(_Z, _W, strict=True))


def range_at_probability_m(tx: Participant, rx: Participant, channel: Channel,
                           probability: float, air_bytes: int = 12) -> float:
    """The distance at which delivery falls to ``probability`` (bisection, 1 mm)."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability must be within (0, 1), got {probability}")
    lo, hi = channel.propagation.min_distance_m, 100_000.0
    if delivery_probability(tx, rx, channel, lo, air_bytes) < probability:
        return lo
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2.0
        if delivery_probability(tx, rx, channel, mid, air_bytes) >= probability:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """One link at one distance: median received power and delivery probability."""

    link: str
    distance_m: float
    median_dbm: float
    delivery: float


def calibration_table(
    links: Iterable[tuple[str, Participant, Participant]],
    channel: Channel,
    distances_m: Iterable[float],
    air_bytes: int = 12,
) -> list[CalibrationRow]:
    """Rows for each (label, transmitter, receiver) link at each distance."""
    distances = list(distances_m)
    return [
        CalibrationRow(label, d, median_received_dbm(tx, rx, channel, d),
                       delivery_probability(tx, rx, channel, d, air_bytes))
        for label, tx, rx in links
        for d in distances
    ]

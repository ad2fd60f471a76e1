"""Calibration: legitimate links work to about 2 m, an amplified attacker to tens of metres,
and the medium's frame-by-frame draws agree with the analytic delivery probability."""

from __future__ import annotations

import math

import pytest

from pumplab.clock import EventClock
from pumplab.link.radio import LEGACY_CHANNEL, Medium, Participant
from pumplab.link.radio.calibration import delivery_probability, range_at_probability_m
from pumplab.link.radio.defaults import (
    AMPLIFIED_ATTACKER_EIRP_DBM,
    LEGACY_DEVICE_EIRP_DBM,
    YAGI_GAIN_DBI,
)

PUMP = Participant("pump", (0.0, 0.0), LEGACY_DEVICE_EIRP_DBM, worn_on="wearer")
HANDHELD = Participant("remote", (0.0, 0.0), LEGACY_DEVICE_EIRP_DBM)
CGM = Participant("cgm", (0.0, 0.0), LEGACY_DEVICE_EIRP_DBM, worn_on="wearer")
ATTACKER = Participant("attacker", (0.0, 0.0), AMPLIFIED_ATTACKER_EIRP_DBM,
                       rx_gain_dbi=YAGI_GAIN_DBI)
SHORT = bytes(11) + b"\x00"


def test_legitimate_links_work_to_about_two_metres() -> None:
    """A handheld device reaches an on-body pump ≥ 90 % of the time at 2 m, rarely at 20 m."""
    assert 1.8 <= range_at_probability_m(HANDHELD, PUMP, LEGACY_CHANNEL, 0.9) <= 3.0
    assert delivery_probability(HANDHELD, PUMP, LEGACY_CHANNEL, 20.0) < 0.15
    # The CGM on the same body, a few tens of centimetres away, almost never misses.
    assert delivery_probability(CGM, PUMP, LEGACY_CHANNEL, 0.3) > 0.99


def test_amplified_attacker_reaches_tens_of_metres() -> None:
    """+40 dBm EIRP reaches the pump ≥ 90 % of the time at 90 m (Barnaby Jack's range)
    and rarely at 2 km (the 9.6 dB shadowing leaves a tail)."""
    assert delivery_probability(ATTACKER, PUMP, LEGACY_CHANNEL, 90.0) >= 0.9
    assert delivery_probability(ATTACKER, PUMP, LEGACY_CHANNEL, 2_000.0) < 0.05


def test_delivery_falls_with_distance() -> None:
    probabilities = [delivery_probability(HANDHELD, PUMP, LEGACY_CHANNEL, d)
                     for d in (0.5, 1, 2, 4, 8, 16, 32)]
    assert probabilities == sorted(probabilities, reverse=True)


@pytest.mark.parametrize(
    ("sender", "distance_m"),
    [(HANDHELD, 1.0), (HANDHELD, 2.0), (HANDHELD, 5.0), (HANDHELD, 12.0),
     (ATTACKER, 90.0), (ATTACKER, 300.0), (ATTACKER, 800.0)],
)
def test_medium_delivers_as_often_as_the_analysis_says(
    sender: Participant, distance_m: float
) -> None:
    """400 frames through the medium (shadowing and error coins drawn per frame) land
    within binomial error of the analytic probability."""
    clock = EventClock()
    medium = Medium(clock, seed=2024, channels=[LEGACY_CHANNEL])
    got: list[object] = []
    medium.add(PUMP, handler=got.append)
    radio = medium.add(Participant(sender.name, (distance_m, 0.0), sender.eirp_dbm,
                                   worn_on=sender.worn_on))
    frames = 400
    for i in range(frames):
        clock.run_until(i * 50)
        radio.transmit(SHORT)
    clock.run_until(frames * 50 + 50)
    expected = delivery_probability(sender, PUMP, LEGACY_CHANNEL, distance_m)
    tolerance = 4.0 * math.sqrt(max(expected * (1 - expected), 0.01) / frames)
    assert len(got) / frames == pytest.approx(expected, abs=tolerance)

"""PHY airtimes, channels, path loss at known distances, body shadowing, BER/PER."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumplab.link.radio import BLE_1M, LEGACY_OOK, ble_channel
from pumplab.link.radio.phy import LEGACY_PROPAGATION
from pumplab.link.radio.propagation import (
    Propagation,
    bit_error_rate,
    body_loss_db,
    free_space_loss_db,
    mean_path_loss_db,
    noise_floor_dbm,
    packet_error_rate,
    snr_for_ber_db,
)


def test_legacy_airtimes_match_the_computed_figures() -> None:
    """7-byte packet (12 air bytes) ≈ 15.6 ms, 71-byte packet (108 air bytes) = 62.5 ms:
    (16 preamble + 4 sync + air) bytes at 16,384 bit/s."""
    assert LEGACY_OOK.airtime_us(12) == 15_625
    assert LEGACY_OOK.airtime_us(108) == 62_500
    assert LEGACY_OOK.preamble_us == 7_813


def test_ble_airtime_is_eight_microseconds_per_byte_plus_overhead() -> None:
    """1M PHY: preamble 1 + access address 4 + PDU + CRC 3 bytes, 1 µs per bit."""
    assert BLE_1M.airtime_us(10) == (1 + 4 + 10 + 3) * 8


@pytest.mark.parametrize(("index", "mhz"), [(37, 2402), (38, 2426), (39, 2480), (0, 2404),
                                            (10, 2424), (11, 2428), (36, 2478)])
def test_ble_channel_frequencies_follow_the_core_spec(index: int, mhz: int) -> None:
    """Vol 6 Part B §1.4.1 channel map."""
    assert ble_channel(index).frequency_hz == mhz * 1e6
    assert ble_channel(index).name == f"ble-{index}"


def test_bad_ble_channel_index_is_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.\.39"):
        ble_channel(40)


def test_free_space_loss_at_known_distances() -> None:
    """Friis at 916.5 MHz: 31.69 dB at 1 m, +20 dB per decade; 2.4 GHz is 8.4 dB more."""
    assert free_space_loss_db(1.0, 916.5e6) == pytest.approx(31.69, abs=0.01)
    assert free_space_loss_db(10.0, 916.5e6) == pytest.approx(51.69, abs=0.01)
    assert free_space_loss_db(1.0, 2402e6) - free_space_loss_db(1.0, 916.5e6) == pytest.approx(
        20 * math.log10(2402 / 916.5))


def test_log_distance_path_loss_at_known_distances() -> None:
    """Legacy channel: FSPL(1 m) + 24 dB per decade + 30 dB excess; free space below 1 m."""
    model = LEGACY_PROPAGATION
    assert mean_path_loss_db(1.0, 916.5e6, model) == pytest.approx(61.69, abs=0.01)
    assert mean_path_loss_db(10.0, 916.5e6, model) == pytest.approx(85.69, abs=0.01)
    assert mean_path_loss_db(90.0, 916.5e6, model) == pytest.approx(108.59, abs=0.01)
    assert mean_path_loss_db(0.5, 916.5e6, model) == pytest.approx(55.67, abs=0.01)
    # Closer than the minimum distance counts as the minimum distance.
    assert mean_path_loss_db(0.0, 916.5e6, model) == mean_path_loss_db(0.1, 916.5e6, model)


@given(st.floats(0.0, 5_000.0), st.floats(0.0, 5_000.0))
def test_path_loss_never_decreases_with_distance(a: float, b: float) -> None:
    near, far = sorted((a, b))
    assert mean_path_loss_db(near, 916.5e6, LEGACY_PROPAGATION) <= mean_path_loss_db(
        far, 916.5e6, LEGACY_PROPAGATION)


def test_body_shadowing_counts_each_body_once() -> None:
    """Off-body: nothing; one body (one or both ends): once; two bodies: twice."""
    model = Propagation(body_loss_db=20.0)
    assert body_loss_db(None, None, model) == 0.0
    assert body_loss_db("wearer", None, model) == 20.0
    assert body_loss_db("wearer", "wearer", model) == 20.0
    assert body_loss_db("wearer", "someone else", model) == 40.0


def test_noise_floor_follows_from_the_sensitivity_definition() -> None:
    """CC1110 sensitivity is at 1 % PER for 20-byte packets: a 160-bit packet at the
    sensitivity level fails 1 % of the time, and the floor is ≈ −112.5 dBm (a thermal
    floor of −174 + 10·log10(187.5 kHz) + a 10 dB noise figure is −111.3 dBm)."""
    snr = snr_for_ber_db(LEGACY_OOK.sensitivity_ber)
    assert packet_error_rate(snr, 160) == pytest.approx(0.01, rel=1e-9)
    assert noise_floor_dbm(-100.0, LEGACY_OOK.sensitivity_ber) == pytest.approx(-112.54, abs=0.01)


def test_bit_error_rate_is_the_noncoherent_formula() -> None:
    """BER = 0.5·exp(−γ/2) at γ = 10 dB is 0.5·e^−5."""
    assert bit_error_rate(10.0) == pytest.approx(0.5 * math.exp(-5.0))
    assert bit_error_rate(60.0) == 0.0


@given(st.floats(-20.0, 40.0), st.floats(-20.0, 40.0), st.integers(1, 2_000))
def test_packet_error_rate_falls_with_snr(a: float, b: float, bits: int) -> None:
    """More SNR never means more packet errors."""
    low, high = sorted((a, b))
    assert packet_error_rate(high, bits) <= packet_error_rate(low, bits)


@given(st.floats(-20.0, 40.0), st.integers(1, 1_000), st.integers(1, 1_000))
def test_packet_error_rate_grows_with_length(snr: float, a: int, b: int) -> None:
    """Longer frames fail at least as often, and PER stays within [0, 1]."""
    short, long = sorted((a, b))
    assert 0.0 <= packet_error_rate(snr, short) <= packet_error_rate(snr, long) <= 1.0


def test_impossible_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Propagation(exponent=0.0)
    with pytest.raises(ValueError):
        Propagation(shadowing_sigma_db=float("nan"))
    with pytest.raises(ValueError):
        packet_error_rate(10.0, 0)
    with pytest.raises(ValueError):
        LEGACY_OOK.airtime_us(0)

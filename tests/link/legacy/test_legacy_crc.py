"""CRC-8 and CRC-16 of the Paradigm radio against their check values and published vectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from legacy_vectors import (
    DECOCARE_CRC8,
    DECOCARE_CRC16,
    DECOCARE_POWER_CONTROL_PARAMS,
    DECOCARE_STICK_FRAMES,
    METER_142,
    METER_398,
    MINIMEDKIT_CRC8,
    REMOTE_B_93,
    SENSOR_A8,
    WAKEUP_SHORT_350535,
    data_hex,
)

from pumplab.link.legacy.crc import crc8, crc16


def _crc8_bitwise(data: bytes) -> int:
    reg = 0
    for byte in data:
        reg ^= byte
        for _ in range(8):
            reg = ((reg << 1) ^ 0x9B) & 0xFF if reg & 0x80 else (reg << 1) & 0xFF
    return reg


def _crc16_bitwise(data: bytes) -> int:
    reg = 0xFFFF
    for byte in data:
        reg ^= byte << 8
        for _ in range(8):
            reg = ((reg << 1) ^ 0x1021) & 0xFFFF if reg & 0x8000 else (reg << 1) & 0xFFFF
    return reg


def test_crc8_check_value() -> None:
    """CRC-8 (poly 0x9B, init 0, not reflected) of "123456789" is 0xEA."""
    assert crc8(b"123456789") == 0xEA


def test_crc16_check_value() -> None:
    """CRC-16 CCITT-FALSE of "123456789" is 0x29B1."""
    assert crc16(b"123456789") == 0x29B1


@pytest.mark.parametrize(
    ("data", "expected"), [*DECOCARE_CRC8, DECOCARE_POWER_CONTROL_PARAMS, MINIMEDKIT_CRC8])
def test_crc8_published_vectors(data: bytes, expected: int) -> None:
    """decocare lib.py and commands.py doctests, MinimedKit CRC8Tests."""
    assert crc8(data) == expected


@pytest.mark.parametrize("frame", [WAKEUP_SHORT_350535, METER_142, METER_398, REMOTE_B_93])
def test_crc8_closes_published_frames(frame: bytes) -> None:
    """The last byte of each published 7-byte frame is the CRC-8 of the rest."""
    assert crc8(frame[:-1]) == frame[-1]


@pytest.mark.parametrize("frame", DECOCARE_STICK_FRAMES)
def test_crc8_in_decocare_stick_frames(frame: bytes) -> None:
    """decocare commands.py doctests: CRC-8 of the 14-byte header, then of the parameters."""
    assert crc8(frame[:14]) == frame[14]
    assert crc8(frame[15:-1]) == frame[-1]


@pytest.mark.parametrize(("data", "expected"), DECOCARE_CRC16)
def test_crc16_decocare_vectors(data: bytes, expected: int) -> None:
    """decocare lib.py doctest (CRC16CCITT.compute)."""
    assert crc16(data) == expected


def test_crc16_minimedkit_vector() -> None:
    """MinimedKit CRC16Tests.testComputeCRC16: 1,022 bytes of a page give 0x803A."""
    assert crc16(data_hex("minimedkit_crc16_input.hex")) == 0x803A


def test_crc16_closes_published_sensor_frame() -> None:
    """minimed_rf sensor.rb's A8 frame ends in the big-endian CRC-16 of its first 32 bytes."""
    assert crc16(SENSOR_A8[:-2]) == int.from_bytes(SENSOR_A8[-2:], "big")


@given(st.binary(max_size=300))
def test_crc8_table_matches_bitwise_definition(data: bytes) -> None:
    """The table-driven CRC-8 equals the bit-by-bit definition."""
    assert crc8(data) == _crc8_bitwise(data)


@given(st.binary(max_size=300))
def test_crc16_table_matches_bitwise_definition(data: bytes) -> None:
    """The table-driven CRC-16 equals the bit-by-bit definition."""
    assert crc16(data) == _crc16_bitwise(data)


@given(st.binary(max_size=100))
def test_crc8_of_data_and_its_crc_is_zero(data: bytes) -> None:
    """With no final XOR, appending the CRC makes the remainder zero."""
    assert crc8(data + bytes([crc8(data)])) == 0

"""4b6b line coding: published encodings, the padding conventions, round trips, refusals."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from legacy_vectors import (
    MINIMED_RF_CAPTURE_AIR,
    MINIMEDKIT_ENCODE_AIR,
    MINIMEDKIT_ENCODE_PACKET,
    MYSENTRY_AIR,
    MYSENTRY_PACKET,
)

from pumplab.errors import DecodeError
from pumplab.link.legacy.coding import (
    NIBBLE_SYMBOLS,
    TERMINATOR,
    air_length,
    decode_4b6b,
    encode_4b6b,
)
from pumplab.link.legacy.crc import crc8


def test_nibble_table_is_the_published_one() -> None:
    """15 31 32 23 34 25 26 16 1A 19 2A 0B 2C 0D 0E 1C (subg_rfspy fourbsixb.c)."""
    assert bytes(NIBBLE_SYMBOLS).hex() == "15313223342526161a192a0b2c0d0e1c"


def test_symbols_are_dc_balanced_and_distinct() -> None:
    """Every symbol has three ones and three zeros, and none is 000000."""
    assert len(set(NIBBLE_SYMBOLS)) == 16
    assert all(bin(s).count("1") == 3 for s in NIBBLE_SYMBOLS)


def test_encode_matches_minimed_rf_and_minimedkit() -> None:
    """minimed_rf packet_spec "encode back to radio symbols" / MinimedKit testDecode4b6b."""
    assert encode_4b6b(MYSENTRY_PACKET) + TERMINATOR == MYSENTRY_AIR


def test_encode_odd_length_matches_minimedkit() -> None:
    """MinimedKit testEncode4b6b: 43 bytes, the half byte zero-padded, then 0x00."""
    packet = MINIMEDKIT_ENCODE_PACKET + bytes([crc8(MINIMEDKIT_ENCODE_PACKET)])
    assert encode_4b6b(packet) + TERMINATOR == MINIMEDKIT_ENCODE_AIR


def test_decode_published_air() -> None:
    """MinimedKit testDecode4b6b: the on-air bytes decode to the MySentry packet."""
    assert decode_4b6b(MYSENTRY_AIR) == MYSENTRY_PACKET


def test_decode_capture_without_terminator_drops_the_lone_symbol() -> None:
    """minimed_rf packet_spec capture: 85 symbols and 2 bits; 84 symbols are the frame."""
    packet = decode_4b6b(MINIMED_RF_CAPTURE_AIR)
    assert len(packet) == 42
    assert packet[0] == 0xA2 and packet[1:4].hex() == "597055" and packet[4] == 0x04
    assert crc8(packet[:-1]) == packet[-1]


@pytest.mark.parametrize(("n", "expected"), [(7, 12), (71, 108), (1, 3), (2, 4), (42, 64)])
def test_air_length(n: int, expected: int) -> None:
    """ceil(12 n / 8) + 1: 12 bytes on air for a 7-byte packet, 108 for 71."""
    assert air_length(n) == expected
    assert len(encode_4b6b(bytes(n)) + TERMINATOR) == expected


@given(st.binary(min_size=1, max_size=200))
def test_round_trip(packet: bytes) -> None:
    """decode(encode(p) + 0x00) == p."""
    assert decode_4b6b(encode_4b6b(packet) + TERMINATOR) == packet


@given(st.binary(min_size=1, max_size=120))
def test_terminator_is_optional(packet: bytes) -> None:
    """A frame without its 0x00 (subg_rfspy's own encoder sends none) decodes the same."""
    assert decode_4b6b(encode_4b6b(packet)) == packet


@given(st.binary(min_size=1, max_size=120), st.binary(max_size=20))
def test_bytes_after_the_terminator_are_ignored(packet: bytes, junk: bytes) -> None:
    """A radio reading a fixed length hands over bytes past the end: they do not count."""
    assert decode_4b6b(encode_4b6b(packet) + TERMINATOR + junk) == packet


@given(st.binary(min_size=1, max_size=120))
def test_no_zero_byte_inside_a_symbol_stream(packet: bytes) -> None:
    """So MinimedKit's stop at the first 0x00 byte agrees with the 000000-symbol stop."""
    assert 0 not in encode_4b6b(packet)[:-1]


MALFORMED = [
    (b"", "empty"),
    (b"\x00", "terminator only"),
    (bytes([0b11111100]), "first symbol 111111 is no symbol"),
    (encode_4b6b(b"\xa7\x12") [:1] + bytes([0xFF, 0xFF]), "garbage after one symbol"),
    (bytes([0x55]), "one symbol, no whole byte"),
    (encode_4b6b(b"\x12\x34")[:2] + bytes([0b00011100]), "000111 inside the stream"),
]


@pytest.mark.parametrize(("air", "why"), MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_air_raises_decode_error(air: bytes, why: str) -> None:
    """Each malformed input raises DecodeError, and nothing else."""
    with pytest.raises(DecodeError):
        decode_4b6b(air)


@given(st.binary(max_size=64))
def test_decoder_raises_only_decode_error(air: bytes) -> None:
    """Any byte string either decodes or raises DecodeError."""
    with contextlib.suppress(DecodeError):
        decode_4b6b(air)

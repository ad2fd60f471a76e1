"""4b6b line coding of the MiniMed Paradigm radio: packets to on-air bytes and back.

Each 4-bit nibble of a packet is sent as a 6-bit symbol with a balanced number
of ones and zeros, most significant nibble first; the symbols are packed
most-significant-bit first into bytes.  The nibble table (0 to F) is
``15 31 32 23 34 25 26 16 1A 19 2A 0B 2C 0D 0E 1C`` (hex), as printed in
subg_rfspy ``fourbsixb.c``, minimed_rf ``lib/minimed_rf/codes.rb``, mmeowlink
``mmeowlink/fourbysix.py`` and MinimedKit ``FourByteSixByteEncoding.swift``.

**On-air frame.**  A packet of *n* bytes is ``12 n`` bits of symbols.  When
``12 n`` is not a whole number of bytes (odd *n*), the last byte is completed
with zero bits.  Then one 0x00 byte ends the frame: 000000 is not a symbol, so
a receiver stops there.  That is exactly what MinimedKit ``MinimedPacket.
encodedData()`` sends, and what mmeowlink and minimed_rf ``Packet#encode`` get
by appending twelve zero bits and cutting to whole bytes.  So an on-air frame
of an *n*-byte packet is ``ceil(12 n / 8) + 1`` bytes: 12 for a 7-byte packet,
108 for a 71-byte packet (:func:`air_length`).

**Decoding accepts** the conventions those projects produce or hand over:

- the 0x00 terminator present or absent (subg_rfspy with 4b6b done in the
  firmware sends none; MinimedKit, mmeowlink and minimed_rf append it);
- anything after the terminator is ignored (a radio chip reading a fixed
  length, subg_rfspy ``get_packet_and_write_to_serial``, hands over bytes past
  the end of the frame; every decoder above stops at the first 000000 symbol);
- a lone symbol (half a byte) at the end is dropped, and so are leftover bits
  too few for a symbol, as subg_rfspy (``fourbsixb_next_decoded_byte`` only
  emits whole bytes) and minimed_rf (``decode_from_radio``) do.  The MySentry
  capture in minimed_rf ``spec/packet_spec.rb`` needs this: 64 captured bytes,
  85 symbols and 2 bits, of which the first 84 symbols are a 42-byte frame with
  a valid CRC.

**Decoding refuses** (:class:`~pumplab.errors.DecodeError`): an empty input, a
6-bit group that is neither a symbol nor the 000000 terminator (mmeowlink and
minimed_rf skip such groups and carry on, which would splice a corrupted
frame together), and an input with no whole byte of symbols.  No valid symbol
stream contains a 0x00 byte (a symbol has at most two leading and two
trailing zeros), so stopping at the first 000000 symbol and stopping at the
first 0x00 byte (MinimedKit ``decode4b6b``) agree on every well-formed frame.
Whether the bytes are a frame is the CRC's business, one layer up.

This module knows nothing of CRCs or frame types (see
:mod:`pumplab.link.legacy.frames`).
"""

from __future__ import annotations

from typing import Final

from pumplab.errors import DecodeError

__all__ = [
    "NIBBLE_SYMBOLS",
    "TERMINATOR",
    "air_length",
    "decode_4b6b",
    "encode_4b6b",
]

#: The 6-bit symbol of each nibble 0..F (subg_rfspy ``fourbsixb.c``, ``codes[]``).
NIBBLE_SYMBOLS: Final = (
    0x15, 0x31, 0x32, 0x23, 0x34, 0x25, 0x26, 0x16,
    0x1A, 0x19, 0x2A, 0x0B, 0x2C, 0x0D, 0x0E, 0x1C,
)
#: The byte that ends an on-air frame (its first six bits are the 000000 stop).
TERMINATOR: Final = b"\x00"

# byte -> its two symbols as one 12-bit number.
_ENCODE: Final = tuple((NIBBLE_SYMBOLS[b >> 4] << 6) | NIBBLE_SYMBOLS[b & 0x0F] for b in range(256))

_NIBBLE_OF: Final = [-1] * 64
for _nibble, _symbol in enumerate(NIBBLE_SYMBOLS):
    _NIBBLE_OF[_symbol] = _nibble

# 12 bits (two symbols) -> the byte, or a negative marker.
_BAD: Final = -1  # a 6-bit group that is no symbol
_STOP: Final = -2  # the first group is the 000000 terminator
_HALF: Final = -3  # one symbol, then the terminator: a lone nibble


def _pair_table() -> tuple[int, ...]:
    table = []
    for pair in range(4096):
        hi, lo = pair >> 6, pair & 0x3F
        if hi == 0:
            table.append(_STOP)
        elif _NIBBLE_OF[hi] < 0:
            table.append(_BAD)
        elif lo == 0:
            table.append(_HALF)
        elif _NIBBLE_OF[lo] < 0:
            table.append(_BAD)
        else:
            table.append((_NIBBLE_OF[hi] << 4) | _NIBBLE_OF[lo])
    return tuple(table)


_PAIRS: Final = _pair_table()


def air_length(packet_len: int) -> int:
    """On-air bytes of a packet of ``packet_len`` bytes: symbols, padding and the 0x00."""
    if packet_len < 0:
        raise ValueError(f"packet_len must be >= 0, got {packet_len}")
    return (12 * packet_len + 7) // 8 + 1


def encode_4b6b(packet: bytes | bytearray) -> bytes:
    """The 4b6b symbols of ``packet``, the last byte zero-padded; no terminator.

    Append :data:`TERMINATOR` (or use :func:`pumplab.link.legacy.frames.to_air`)
    for the bytes a radio chip sends.
    """
    table = _ENCODE
    acc = 0
    for byte in bytes(packet):
        acc = (acc << 12) | table[byte]
    nbits = 12 * len(packet)
    pad = (-nbits) % 8
    return (acc << pad).to_bytes((nbits + pad) // 8, "big")


def decode_4b6b(air: bytes | bytearray) -> bytes:
    """The bytes carried by on-air ``air`` (terminator optional, lone last nibble dropped).

    Raises :class:`~pumplab.errors.DecodeError` for an empty input, a 6-bit
    group that is no symbol, or no whole byte of symbols.
    """
    data = bytes(air)
    if not data:
        raise DecodeError("4b6b: no on-air bytes")
    pairs = _PAIRS
    out = bytearray()
    append = out.append
    # Three on-air bytes carry exactly two symbol pairs (two decoded bytes).
    whole = len(data) - len(data) % 3
    value = 0
    for i in range(0, whole, 3):
        b1 = data[i + 1]
        value = pairs[(data[i] << 4) | (b1 >> 4)]
        if value < 0:
            break
        append(value)
        value = pairs[((b1 & 0x0F) << 8) | data[i + 2]]
        if value < 0:
            break
        append(value)
    else:
        # No terminator among the whole triples: look at the one or two bytes left.
        rest = len(data) - whole
        if rest == 2:
            value = pairs[(data[whole] << 4) | (data[whole + 1] >> 4)]
            if value >= 0:
                append(value)
        elif rest == 1:
            symbol = data[whole] >> 2
            value = _BAD if symbol and _NIBBLE_OF[symbol] < 0 else _STOP
    if value == _BAD:
        raise DecodeError(f"4b6b: invalid 6-bit symbol near symbol {2 * len(out)}")
    # _STOP / _HALF: the terminator (a lone nibble before it is dropped).
    if not out:
        raise DecodeError("4b6b: no whole byte of symbols")
    return bytes(out)

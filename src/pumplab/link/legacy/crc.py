"""The two checksums of the MiniMed Paradigm radio: CRC-8 on frames, CRC-16 on pages.

- **CRC-8**: polynomial 0x9B, initial value 0, no reflection, no final XOR.  It
  closes every A2/A5/A6/A7 frame.  ``crc8(b"123456789") == 0xEA`` (the usual
  "check" value of this parameter set).  The same table is printed in
  decocare ``decocare/lib.py`` (class ``CRC8``), minimed_rf
  ``lib/minimed_rf/crc.rb`` and rileylink_ios/MinimedKit ``CRC8.swift``.
- **CRC-16**: CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no
  reflection, no final XOR), ``crc16(b"123456789") == 0x29B1``.  It closes the
  sensor frames (A8/AA/AB) and every 1,024-byte history page, stored big-endian
  (decocare ``lib.py`` ``CRC16CCITT``; minimed_rf ``crc.rb`` ``CRC16``;
  MinimedKit ``CRC16.swift``).

Both are computed from a 256-entry table built here from the polynomial (no
table is copied from those projects); the tests check the tables against the
check values and the frames those projects publish.

This module only computes checksums; deciding what a bad checksum means is the
frame decoder's business (:mod:`pumplab.link.legacy.frames`).
"""

from __future__ import annotations

from typing import Final

__all__ = ["CRC8_POLY", "CRC16_INIT", "CRC16_POLY", "crc8", "crc16"]

#: CRC-8 generator polynomial of the Paradigm frames (x^8+x^7+x^4+x^3+x+1).
CRC8_POLY: Final = 0x9B
#: CRC-16 CCITT generator polynomial (x^16+x^12+x^5+1).
CRC16_POLY: Final = 0x1021
#: CRC-16 CCITT-FALSE initial register value.
CRC16_INIT: Final = 0xFFFF


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = ((reg << 1) ^ CRC8_POLY) & 0xFF if reg & 0x80 else (reg << 1) & 0xFF
        table.append(reg)
    return tuple(table)


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte << 8
        for _ in range(8):
            reg = ((reg << 1) ^ CRC16_POLY) & 0xFFFF if reg & 0x8000 else (reg << 1) & 0xFFFF
        table.append(reg)
    return tuple(table)


_CRC8_TABLE: Final = _crc8_table()
_CRC16_TABLE: Final = _crc16_table()


def crc8(data: bytes | bytearray | memoryview) -> int:
    """The Paradigm frame CRC-8 (poly 0x9B, init 0, not reflected) of ``data``."""
    table = _CRC8_TABLE
    reg = 0
    for byte in data:
        reg = table[reg ^ byte]
    return reg


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16 CCITT-FALSE (poly 0x1021, init 0xFFFF) of ``data``."""
    table = _CRC16_TABLE
    reg = CRC16_INIT
    for byte in data:
        reg = ((reg << 8) & 0xFFFF) ^ table[(reg >> 8) ^ byte]
    return reg

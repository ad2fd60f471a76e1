"""Device ids on the MiniMed air: six label digits packed as three BCD bytes.

A Paradigm pump is addressed by the six decimal digits of its serial number
(the label on the back), packed two per byte: ``665455`` is ``66 54 55``
(decocare ``commands.py`` packs ``serial.decode('hex')``; its doctests use
serial ``665455``).  A keychain remote's id is its six label digits too: the
pump lists them digit by digit in its remote-id table (MinimedKit
``ReadRemoteControlIDsMessageBody``), and the same six digits appear packed in
the remote's A6 frames (minimed_rf ``spec/remote_spec.rb``: remote ``411525``
in ``a6 411525 88 5d 46``).  Meter and sensor ids are three bytes pumplab shows
as hex (``c527ad``); nothing requires them to be decimal.

Nothing here authenticates anything: on this radio an id is a claim.
"""

from __future__ import annotations

from pumplab.errors import InputError

__all__ = ["device_id_hex", "is_bcd", "pack_serial", "unpack_serial"]


def pack_serial(serial: str, *, field: str = "serial") -> bytes:
    """Pack six decimal digits into the 3-byte BCD id: ``"665455"`` -> ``66 54 55``."""
    if not (isinstance(serial, str) and len(serial) == 6 and serial.isascii() and serial.isdigit()):
        raise InputError(f"{serial!r} is not a 6-digit serial", field=field,
                         allowed="exactly six ASCII digits 0-9")
    return bytes.fromhex(serial)


def is_bcd(device_id: bytes) -> bool:
    """True when every nibble of ``device_id`` is a decimal digit (a label-style id)."""
    return all((b >> 4) <= 9 and (b & 0x0F) <= 9 for b in device_id)


def unpack_serial(device_id: bytes) -> str:
    """The six digits of a BCD id: ``66 54 55`` -> ``"665455"``; ValueError if not BCD."""
    if len(device_id) != 3 or not is_bcd(device_id):
        raise ValueError(f"{device_id.hex()} is not a 3-byte BCD id")
    return device_id.hex()


def device_id_hex(device_id: bytes) -> str:
    """The id as lower-case hex, whatever its digits (meter and sensor ids need not be BCD)."""
    return device_id.hex()

"""Pure helpers behind ``pumplab radio decode/encode --protocol legacy``.

:func:`decode_air_hex` turns on-air hex (4b6b, terminator optional) into a
JSON-ready dict; :func:`encode_packet_hex` turns packet hex without its CRC
into ``{"packet": ..., "air": ...}``.  The command line adds its ``schema``
key and prints; nothing here prints, reads files or exits.

Keys of a decoded frame (values are hex strings, except booleans, integers and
physical quantities):

- always: ``crc_ok`` (bool), ``decoded`` (the whole packet, CRC included),
  ``packet_type``;
- ``device_id`` (3 bytes; bytes 2-4 of a sensor frame, bytes 1-3 otherwise);
- ``message_type`` (int) for A7/A2 frames only; ``body`` (the bytes between
  the header and the CRC);
- where known: ``bg_mg_dl`` and ``flags`` (meter), ``button`` (``"S"``,
  ``"ACT"``, ``"B"``) and ``sequence`` (remote), ``sequence`` and ``repeat``
  (sensor), ``units`` (bolus), ``rate_u_per_h`` and ``duration_min`` (absolute
  temp basal), ``percent`` and ``duration_min`` (percent temp basal),
  ``nak_code`` (NAK), ``message`` (the message type's name, when pumplab knows
  it);
- ``error``: present when the packet's structure is not a valid frame of its
  type (the fields above are then given only as far as they can be read).

A frame with a bad CRC is still described (``crc_ok: false``): an analyst
wants to see what it says.  Malformed hex raises
:class:`~pumplab.errors.InputError` naming the field; on-air bytes that are
not 4b6b raise :class:`~pumplab.errors.DecodeError`.
"""

from __future__ import annotations

from typing import Any, Final

from pumplab.errors import DecodeError, InputError
from pumplab.link.legacy.coding import decode_4b6b
from pumplab.link.legacy.frames import (
    PacketType,
    RemoteButton,
    crc_ok,
    decode_packet,
    seal,
    to_air,
)
from pumplab.link.legacy.messages import (
    BolusBody,
    MessageType,
    TempBasalAbsoluteBody,
    TempBasalPercentBody,
)

__all__ = ["decode_air_hex", "describe_packet", "encode_packet_hex", "parse_hex"]

_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_SENSORS: Final = (PacketType.SENSOR_TEST, PacketType.SENSOR_WARMUP, PacketType.SENSOR)
_BUTTON_CODES: Final = frozenset(int(b) for b in RemoteButton)


def parse_hex(text: str, *, field: str) -> bytes:
    """Bytes of a hex string; InputError naming ``field`` if empty, odd or not hex."""
    if not isinstance(text, str):
        raise InputError("not a string", field=field, allowed="a hex string")
    stripped = text.strip()
    if not stripped:
        raise InputError("empty hex string", field=field,
                         allowed="an even number of hex digits 0-9 a-f")
    bad = sorted({c for c in stripped if c not in _HEX_DIGITS})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        raise InputError(f"non-hex character(s) {shown}", field=field,
                         allowed="hex digits 0-9 a-f")
    if len(stripped) % 2:
        raise InputError(f"odd number of hex digits ({len(stripped)})", field=field,
                         allowed="an even number of hex digits")
    return bytes.fromhex(stripped)


def decode_air_hex(text: str, *, field: str = "HEX") -> dict[str, Any]:
    """Describe the frame carried by on-air hex ``text`` (see the module docstring)."""
    air = parse_hex(text, field=field)
    return describe_packet(decode_4b6b(air))


def encode_packet_hex(text: str, *, field: str = "HEX") -> dict[str, str]:
    """``{"packet": <hex with CRC>, "air": <on-air hex>}`` of packet hex without its CRC."""
    packet = seal(parse_hex(text, field=field))
    return {"packet": packet.hex(), "air": to_air(packet).hex()}


def describe_packet(packet: bytes) -> dict[str, Any]:
    """A JSON-ready description of a decoded packet (CRC included), valid or not."""
    if not packet:
        raise DecodeError("empty packet")
    out: dict[str, Any] = {"crc_ok": crc_ok(packet), "decoded": packet.hex(),
                           "packet_type": f"{packet[0]:02x}"}
    kind = packet[0]
    if kind in (PacketType.PUMP, PacketType.MYSENTRY):
        _describe_pump(packet, out)
    elif kind in _SENSORS:
        if len(packet) >= 5:
            out["device_id"] = packet[2:5].hex()
        out["body"] = packet[5:-2].hex() if len(packet) > 7 else ""
        if len(packet) > 8:
            out["sequence"] = packet[8] >> 4
            out["repeat"] = packet[8] & 0x0F
    else:
        if len(packet) >= 4:
            out["device_id"] = packet[1:4].hex()
        out["body"] = packet[4:-1].hex() if len(packet) > 5 else ""
        if kind == PacketType.METER and len(packet) == 7:
            out["bg_mg_dl"] = ((packet[4] & 1) << 8) | packet[5]
            out["flags"] = (packet[4] >> 1) & 3
        elif kind == PacketType.REMOTE and len(packet) == 7:
            if packet[4] in _BUTTON_CODES:
                out["button"] = RemoteButton(packet[4]).label
            out["sequence"] = packet[5]
    try:
        decode_packet(packet)
    except DecodeError as exc:
        if out["crc_ok"] or "CRC" not in str(exc):
            out["error"] = str(exc)
    return out


def _describe_pump(packet: bytes, out: dict[str, Any]) -> None:
    if len(packet) >= 4:
        out["device_id"] = packet[1:4].hex()
    if len(packet) < 6:
        return
    mtype = packet[4]
    body = packet[5:-1]
    out["message_type"] = mtype
    out["body"] = body.hex()
    if packet[0] != PacketType.PUMP:
        return
    try:
        out["message"] = MessageType(mtype).name.lower()
    except ValueError:
        return
    if len(body) == 1:
        if mtype == MessageType.NAK:
            out["nak_code"] = body[0]
        return
    try:
        if mtype == MessageType.BOLUS:
            out["units"] = BolusBody.decode(body).amount_u
        elif mtype == MessageType.TEMP_BASAL_ABSOLUTE:
            temp = TempBasalAbsoluteBody.decode(body)
            out["rate_u_per_h"] = temp.rate_u_per_h
            out["duration_min"] = temp.duration_min
        elif mtype == MessageType.TEMP_BASAL_PERCENT:
            pct = TempBasalPercentBody.decode(body)
            out["percent"] = pct.percent
            out["duration_min"] = pct.duration_min
    except DecodeError as exc:
        out["error"] = str(exc)

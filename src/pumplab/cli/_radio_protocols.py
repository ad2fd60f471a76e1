"""The radio protocols ``pumplab radio`` knows, and what it computes from their frames.

One :class:`RadioProtocol` per ``--protocol`` value, in :data:`PROTOCOLS`.  Each
is built by a loader, called only when a command runs, so ``pumplab --help``
imports no codec.  Today there is one, ``legacy`` (the MiniMed Paradigm codec,
:mod:`pumplab.link.legacy`); the secure link's frames come with the secure-link
issue: adding it is one loader and one entry in :data:`PROTOCOLS` (the
command's ``--protocol`` choices, its errors and its help follow).

:func:`capture_report` turns validated capture frames
(:func:`pumplab.link.radio.read_capture`) into the JSON-ready summary the
command prints: frames per transmitter and type, pump serials and peripheral
ids, the commands seen.  It decodes every frame's ``air`` with the protocol's
codec (a capture's ``packet`` column is not trusted; lines whose packet is not
their decoded air are counted) and is pure: no files, no printing.

Deliberately not here: option parsing, tables, error lines (:mod:`pumplab.cli.radio`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from pumplab.errors import DecodeError, InputError

if TYPE_CHECKING:
    from pumplab.link.radio import CaptureFrame, FrameDescription

__all__ = [
    "PERIPHERAL_KINDS",
    "PROTOCOLS",
    "PROTOCOL_NAMES",
    "PUMP_KINDS",
    "RadioProtocol",
    "capture_report",
    "load_protocol",
]


@dataclass(frozen=True, slots=True)
class RadioProtocol:
    """What ``pumplab radio`` needs of one protocol's codec (pure functions).

    * ``decode_hex(text, field)``: a JSON-ready description of the frame in
      on-air hex (``pumplab.radio-decode/1`` without its schema key); raises
      :class:`~pumplab.errors.InputError` for bad hex and
      :class:`~pumplab.errors.DecodeError` for bytes that are not on-air data;
    * ``encode_hex(text, field)``: ``{"packet", "air"}`` of packet hex without
      its checksum;
    * ``air_format``: how on-air bytes look, for errors about them;
    * ``frame_problem(packet)``: why a packet (checksum included) is not a
      valid frame, or None when it is one;
    * ``air_to_packet(air)``: the packet carried by on-air bytes, checksum
      included (DecodeError if none);
    * ``describe(packet)``: the frame's kind, device id and command label for
      :func:`~pumplab.link.radio.summarise_capture`, or None when it is not a
      valid frame;
    * ``command_rows(counts)``: the report's ``commands`` list, from the
      counts of the command labels ``describe`` gave.
    """

    name: str
    air_format: str
    decode_hex: Callable[[str, str], dict[str, Any]]
    encode_hex: Callable[[str, str], dict[str, str]]
    frame_problem: Callable[[bytes], str | None]
    air_to_packet: Callable[[bytes], bytes]
    describe: Callable[[bytes], FrameDescription | None]
    command_rows: Callable[[Mapping[str, int]], list[dict[str, Any]]]


# --------------------------------------------------------------------------
# legacy: the MiniMed Paradigm radio (docs/legacy-protocol.md)

#: Kinds of the capture summary whose ids are pump serials (A7 from pumps and
#: their drivers, A2 MySentry from pumps).
PUMP_KINDS: Final = ("pump", "mysentry")
#: Kinds whose ids are peripherals of a pump (A5 meter, A6 remote, A8/AA/AB sensor).
PERIPHERAL_KINDS: Final = ("meter", "remote", "sensor")


def _legacy() -> RadioProtocol:
    from pumplab.link.legacy import (
        MessageType,
        PacketType,
        PumpFrame,
        decode_4b6b,
        decode_air_hex,
        decode_packet,
        encode_packet_hex,
    )
    from pumplab.link.radio import FrameDescription

    kinds = {
        PacketType.PUMP: "pump", PacketType.MYSENTRY: "mysentry", PacketType.METER: "meter",
        PacketType.REMOTE: "remote", PacketType.SENSOR_TEST: "sensor",
        PacketType.SENSOR_WARMUP: "sensor", PacketType.SENSOR: "sensor",
    }  # fmt: skip

    def frame_problem(packet: bytes) -> str | None:
        try:
            decode_packet(packet)
        except DecodeError as exc:
            return str(exc)
        return None

    def describe(packet: bytes) -> FrameDescription | None:
        try:
            frame = decode_packet(packet)
        except DecodeError:
            return None  # a bad CRC or structure: counted as undecodable
        kind = kinds[frame.packet_type]
        command = None
        if isinstance(frame, PumpFrame) and frame.packet_type is PacketType.PUMP:
            # The label keeps the message type and the frame's length: the same
            # type travels short (the command packet, a read, a wake-up copy,
            # an ACK or NAK) and long (the arguments, an answer, a data frame).
            command = f"{frame.message_type:02x}/{'short' if frame.is_short else 'long'}"
        return FrameDescription(kind=kind, device_id=frame.device_id.hex(), command=command)

    def command_rows(counts: Mapping[str, int]) -> list[dict[str, Any]]:
        rows: dict[int, dict[str, Any]] = {}
        for label, count in counts.items():
            type_hex, _, length = label.partition("/")
            message_type = int(type_hex, 16)
            try:
                name: str | None = MessageType(message_type).name.lower()
            except ValueError:
                name = None  # a type pumplab does not model
            row = rows.setdefault(message_type, {"message_type": message_type, "message": name,
                                                 "short_frames": 0, "long_frames": 0})
            row[f"{length}_frames"] += count
        return [rows[t] for t in sorted(rows)]

    return RadioProtocol(
        name="legacy",
        air_format="4b6b symbols as a radio chip hands them over, then an optional 00",
        decode_hex=lambda text, field: decode_air_hex(text, field=field),
        encode_hex=lambda text, field: encode_packet_hex(text, field=field),
        frame_problem=frame_problem,
        air_to_packet=decode_4b6b,
        describe=describe,
        command_rows=command_rows,
    )


#: ``--protocol`` values and their loaders, in the order help and errors list them.
PROTOCOLS: Final[Mapping[str, Callable[[], RadioProtocol]]] = {"legacy": _legacy}
PROTOCOL_NAMES: Final = tuple(PROTOCOLS)


def load_protocol(name: str, *, option: str = "--protocol") -> RadioProtocol:
    """The protocol called ``name``; an unknown name is an InputError listing the known ones."""
    loader = PROTOCOLS.get(name)
    if loader is None:
        raise InputError(f"unknown protocol {name!r}", source=option,
                         allowed=", ".join(PROTOCOL_NAMES))  # fmt: skip
    return loader()


# --------------------------------------------------------------------------
# capture summaries


def capture_report(
    frames: Sequence[CaptureFrame], protocol: RadioProtocol, *, source: str
) -> dict[str, Any]:
    """The JSON-ready summary of a capture (``pumplab.radio-capture/1`` without its schema).

    Every frame's ``air`` is decoded with ``protocol``; ``packet_mismatch``
    lists the lines whose captured ``packet`` is not that decoded air (a
    hand-edited file, or a capture made with another decoder).
    """
    from pumplab.link.radio import summarise_capture

    mismatched: list[int] = []
    for frame in frames:
        if frame.packet is not None and frame.packet != _packet_or_none(protocol, frame.air):
            mismatched.append(frame.line)
    summary = summarise_capture(
        [replace(frame, packet=None) for frame in frames],
        describe=protocol.describe,
        decode=protocol.air_to_packet,
    )
    ids = summary.ids_seen
    return {
        "capture": source,
        "protocol": protocol.name,
        "frames": summary.frames,
        "repetitions": summary.repetitions,
        "undecodable": summary.undecodable,
        "first_t_ms": summary.first_t_ms,
        "last_t_ms": summary.last_t_ms,
        "channels": dict(sorted(summary.channels.items())),
        "by_transmitter": {tx: dict(sorted(kinds.items()))
                           for tx, kinds in sorted(summary.by_transmitter.items())},
        "pump_serials": _union(ids.get(kind, ()) for kind in PUMP_KINDS),
        "peripheral_ids": {kind: list(ids.get(kind, ())) for kind in PERIPHERAL_KINDS},
        "commands": protocol.command_rows(summary.commands),
        "packet_mismatch": mismatched,
    }


def _packet_or_none(protocol: RadioProtocol, air: bytes) -> bytes | None:
    try:
        return protocol.air_to_packet(air)
    except DecodeError:
        return None


def _union(groups: Iterable[Iterable[str]]) -> list[str]:
    return sorted({item for group in groups for item in group})

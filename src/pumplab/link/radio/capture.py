"""Capture files of the air: writing, reading with validation, injection lines, summaries.

A capture is JSON Lines, one object per transmission (a burst is one line)::

    {"t_ms": int, "channel": str, "tx": "<transmitter name>", "tx_pos_m": [x, y],
     "power_dbm": float, "air": "<hex>", "packet": "<hex or null>", "repeat": int,
     "interval_ms": int, "rx": {"<receiver name>": {"rssi_dbm": float, "ok": bool}}}

``air`` is what the radio chip hands over (legacy: 4b6b-encoded with the
trailing 0x00, no preamble or sync).  ``packet`` is the decoded packet
including its CRC, or null when the channel's decoder cannot decode it.  The
medium knows no protocol: :class:`CaptureWriter` gets one decoder per channel
injected (the legacy codec's, in a run).  Lines are written when a
transmission is over (a burst's line comes at its end), so they are ordered by
completion; ``t_ms`` is the start.  ``tx``, ``tx_pos_m`` and ``rx`` are ground
truth no radio could observe: a capture is the lab's record, not a sniffer's.

The same format feeds the ``inject`` attacker (:func:`read_injection`): a
captured line can be replayed as it is; capture-only keys are ignored.

Readers validate every line and raise one :class:`~pumplab.errors.InputError`
naming the file, the line and the field; nothing is returned from a file with a
bad line.  This module does no file I/O itself: it takes text lines.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from pumplab.errors import DecodeError, InputError
from pumplab.link.radio.phy import Channel
from pumplab.link.radio.records import FrameRecord

__all__ = [
    "CAPTURE_KEYS",
    "CaptureFrame",
    "CaptureSummary",
    "CaptureWriter",
    "Decoder",
    "FrameDescription",
    "InjectionFrame",
    "RxReport",
    "capture_dict",
    "capture_line",
    "read_capture",
    "read_injection",
    "summarise_capture",
]

Decoder = Callable[[bytes], bytes | None]

CAPTURE_KEYS = ("t_ms", "channel", "tx", "tx_pos_m", "power_dbm", "air", "packet", "repeat",
                "interval_ms", "rx")
_INJECTION_KEYS = {"t_ms", "air", "packet", "fix_crc", "channel", "power_dbm", "repeat",
                   "interval_ms"}
_CAPTURE_ONLY_KEYS = {"tx", "tx_pos_m", "rx"}
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")


# -- writing -------------------------------------------------------------------------


def capture_dict(record: FrameRecord, packet: bytes | None) -> dict[str, Any]:
    """The capture object of one transmission, keys in the documented order."""
    return {
        "t_ms": record.truth.t_ms,
        "channel": record.truth.channel,
        "tx": record.truth.transmitter,
        "tx_pos_m": [float(record.tx_pos_m[0]), float(record.tx_pos_m[1])],
        "power_dbm": float(record.power_dbm),
        "air": record.air.hex(),
        "packet": None if packet is None else packet.hex(),
        "repeat": record.repeat,
        "interval_ms": record.interval_ms,
        "rx": {name: {"rssi_dbm": float(out.rssi_dbm), "ok": out.ok}
               for name, out in record.rx.items()},
    }


def capture_line(record: FrameRecord, packet: bytes | None) -> str:
    """One capture line (no newline)."""
    return json.dumps(capture_dict(record, packet), allow_nan=False)


class CaptureWriter:
    """A frame observer that writes each transmission as a capture line to ``stream``.

    ``decoders`` maps a channel name to a function from air bytes to the
    decoded packet (CRC included); a channel without a decoder, or a frame its
    decoder rejects with :class:`~pumplab.errors.DecodeError`, gets
    ``"packet": null``.  Register with ``medium.add_frame_observer(writer)``.
    """

    def __init__(self, stream: TextIO, decoders: Mapping[str, Decoder] | None = None) -> None:
        self._stream = stream
        self._decoders = dict(decoders or {})
        self.lines = 0

    def __call__(self, record: FrameRecord) -> None:
        decoder = self._decoders.get(record.truth.channel)
        packet: bytes | None = None
        if decoder is not None:
            try:
                packet = decoder(record.air)
            except DecodeError:
                packet = None
        # One write per line: a run stopped between lines leaves whole lines.
        self._stream.write(capture_line(record, packet) + "\n")
        self.lines += 1


# -- reading -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RxReport:
    """A receiver's entry in a capture line."""

    rssi_dbm: float
    ok: bool


@dataclass(frozen=True, slots=True)
class CaptureFrame:
    """One validated capture line.  ``line`` is its 1-based line number."""

    t_ms: int
    channel: str
    tx: str
    tx_pos_m: tuple[float, float]
    power_dbm: float
    air: bytes
    packet: bytes | None
    repeat: int
    interval_ms: int
    rx: Mapping[str, RxReport]
    line: int = field(default=0, compare=False)


class _Line:
    """Validation helpers for one line; every failure names the line and the field."""

    def __init__(self, source: str, number: int) -> None:
        self.where = f"{source} line {number}"

    def fail(self, field_name: str | None, message: str, allowed: str | None = None) -> InputError:
        return InputError(message, source=self.where, field=field_name, allowed=allowed)

    def parse(self, text: str) -> dict[str, Any]:
        def reject_constant(name: str) -> Any:
            raise self.fail(None, f"{name} is not a number JSON allows")

        def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            seen: dict[str, Any] = {}
            for key, value in pairs:
                if key in seen:
                    raise self.fail(key, "key given twice")
                seen[key] = value
            return seen

        try:
            obj = json.loads(text, parse_constant=reject_constant, object_pairs_hook=no_duplicates)
        except json.JSONDecodeError as exc:
            raise self.fail(None, f"not a complete JSON object (truncated or malformed): "
                                  f"{exc.msg} at column {exc.colno}") from exc
        if not isinstance(obj, dict):
            raise self.fail(None, "a line must be one JSON object")
        return obj

    def require(self, obj: Mapping[str, Any], key: str) -> Any:
        if key not in obj:
            raise self.fail(key, "missing")
        return obj[key]

    def integer(self, value: Any, key: str, minimum: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(key, f"must be an integer >= {minimum}, got {value!r}")
        return value

    def number(self, value: Any, key: str) -> float:
        if (not isinstance(value, int | float) or isinstance(value, bool)
                or not math.isfinite(value)):
            raise self.fail(key, f"must be a finite number, got {value!r}")
        return float(value)

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def hex_bytes(self, value: Any, key: str) -> bytes:
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            raise self.fail(key, f"must be a non-empty hex string of whole bytes, got {value!r}",
                            allowed="pairs of 0-9a-f")
        return bytes.fromhex(value)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def repeat_and_interval(self, obj: Mapping[str, Any], repeat: int) -> int:
        interval = self.integer(obj.get("interval_ms", 0), "interval_ms", 0)
        if repeat > 1 and interval == 0:
            raise self.fail("interval_ms", "a repeated frame needs an interval > 0 ms")
        return interval


def _lines(lines: Iterable[str]) -> Iterable[tuple[int, str]]:
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if text.strip():
            yield number, text


def read_capture(lines: Iterable[str], *, source: str = "capture") -> list[CaptureFrame]:
    """Parse and validate capture lines (blank lines are skipped).

    Raises :class:`~pumplab.errors.InputError` at the first bad line, naming
    ``source``, the line number and the field.
    """
    frames = []
    for number, text in _lines(lines):
        line = _Line(source, number)
        obj = line.parse(text)
        unknown = sorted(set(obj) - set(CAPTURE_KEYS))
        if unknown:
            raise line.fail(unknown[0], "unknown key", allowed=", ".join(CAPTURE_KEYS))
        for key in CAPTURE_KEYS:
            line.require(obj, key)
        pos = obj["tx_pos_m"]
        if not isinstance(pos, list) or len(pos) != 2:
            raise line.fail("tx_pos_m", f"must be [x, y] in metres, got {pos!r}")
        repeat = line.integer(obj["repeat"], "repeat", 1)
        rx_obj = obj["rx"]
        if not isinstance(rx_obj, dict):
            raise line.fail("rx", f"must be an object of receivers, got {rx_obj!r}")
        rx: dict[str, RxReport] = {}
        for name, report in rx_obj.items():
            path = f"rx.{name}"
            if not name:
                raise line.fail(path, "a receiver name must not be empty")
            if not isinstance(report, dict):
                raise line.fail(path, f"must be {{\"rssi_dbm\": ..., \"ok\": ...}}, got {report!r}")
            extra = sorted(set(report) - {"rssi_dbm", "ok"})
            if extra:
                raise line.fail(f"{path}.{extra[0]}", "unknown key", allowed="rssi_dbm, ok")
            for key in ("rssi_dbm", "ok"):
                if key not in report:
                    raise line.fail(f"{path}.{key}", "missing")
            rx[name] = RxReport(line.number(report["rssi_dbm"], f"{path}.rssi_dbm"),
                                line.boolean(report["ok"], f"{path}.ok"))
        packet = obj["packet"]
        frames.append(CaptureFrame(
            t_ms=line.integer(obj["t_ms"], "t_ms", 0),
            channel=line.text(obj["channel"], "channel"),
            tx=line.text(obj["tx"], "tx"),
            tx_pos_m=(line.number(pos[0], "tx_pos_m[0]"), line.number(pos[1], "tx_pos_m[1]")),
            power_dbm=line.number(obj["power_dbm"], "power_dbm"),
            air=line.hex_bytes(obj["air"], "air"),
            packet=None if packet is None else line.hex_bytes(packet, "packet"),
            repeat=repeat,
            interval_ms=line.repeat_and_interval(obj, repeat),
            rx=rx,
            line=number,
        ))
    return frames


# -- injection -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InjectionFrame:
    """A frame an ``inject`` attacker sends: capture-format line, capture-only keys ignored.

    Exactly one of ``air`` (sent as it is) and ``packet`` (to be encoded by the
    protocol's codec, with the CRC recomputed first when ``fix_crc``) is set.
    ``channel`` and ``power_dbm`` are None when the line leaves them to the
    attacker's radio.
    """

    t_ms: int
    air: bytes | None
    packet: bytes | None
    fix_crc: bool
    channel: str | None
    power_dbm: float | None
    repeat: int
    interval_ms: int
    line: int = field(default=0, compare=False)


def read_injection(
    lines: Iterable[str],
    *,
    source: str = "injection",
    channels: Mapping[str, Channel] | None = None,
    default_channel: str | None = None,
) -> list[InjectionFrame]:
    """Parse and validate injection lines (a capture file is valid input).

    A line needs ``t_ms`` and ``air`` or ``packet``; ``rx``, ``tx`` and
    ``tx_pos_m`` are ignored, and so is ``packet`` when ``air`` is given.
    ``fix_crc`` applies to ``packet`` only (with ``air`` present it would be
    silently ignored, so it is refused).  With ``channels`` (name → Channel),
    channel names and, for air frames, the interval against the airtime are
    checked too (``default_channel`` stands for lines without a channel).
    """
    frames = []
    for number, text in _lines(lines):
        line = _Line(source, number)
        obj = line.parse(text)
        unknown = sorted(set(obj) - _INJECTION_KEYS - _CAPTURE_ONLY_KEYS)
        if unknown:
            raise line.fail(unknown[0], "unknown key",
                            allowed=", ".join(sorted(_INJECTION_KEYS | _CAPTURE_ONLY_KEYS)))
        t_ms = line.integer(line.require(obj, "t_ms"), "t_ms", 0)
        fix_crc = line.boolean(obj.get("fix_crc", False), "fix_crc")
        air: bytes | None = None
        packet: bytes | None = None
        if "air" in obj and obj["air"] is not None:
            air = line.hex_bytes(obj["air"], "air")
            if fix_crc:
                raise line.fail("fix_crc", "applies to packet only; remove air to send an "
                                           "edited packet")
        elif obj.get("packet") is not None:
            packet = line.hex_bytes(obj["packet"], "packet")
        else:
            raise line.fail("air", "a line needs air (hex) or packet (hex)")
        channel = line.text(obj["channel"], "channel") if "channel" in obj else None
        power = line.number(obj["power_dbm"], "power_dbm") if "power_dbm" in obj else None
        repeat = line.integer(obj.get("repeat", 1), "repeat", 1)
        interval = line.repeat_and_interval(obj, repeat)
        if channels is not None:
            name = channel if channel is not None else default_channel
            if name is not None:
                if name not in channels:
                    raise line.fail("channel", f"unknown channel {name!r}",
                                    allowed=", ".join(channels))
                if air is not None and repeat > 1:
                    airtime_us = channels[name].phy.airtime_us(len(air))
                    if interval * 1000 < airtime_us:
                        raise line.fail("interval_ms",
                                        f"{interval} ms is shorter than the frame's airtime "
                                        f"({airtime_us} µs)",
                                        allowed=f">= {math.ceil(airtime_us / 1000)}")
        frames.append(InjectionFrame(t_ms, air, packet, fix_crc, channel, power, repeat,
                                     interval if repeat > 1 else 0, number))
    return frames


# -- summaries -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrameDescription:
    """What a protocol says a packet is: ``kind`` (a label), the device id, the command."""

    kind: str
    device_id: str | None = None
    command: str | None = None


def _first_byte(packet: bytes) -> FrameDescription:
    return FrameDescription(kind=f"{packet[0]:02x}",
                            device_id=packet[1:4].hex() if len(packet) >= 4 else None)


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    """Counts over a capture: per transmitter and kind, ids and commands seen."""

    frames: int
    repetitions: int
    undecodable: int
    channels: Mapping[str, int]
    by_transmitter: Mapping[str, Mapping[str, int]]
    ids_seen: Mapping[str, tuple[str, ...]]
    commands: Mapping[str, int]
    first_t_ms: int | None
    last_t_ms: int | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (sorted keys in the inner maps)."""
        return {
            "frames": self.frames,
            "repetitions": self.repetitions,
            "undecodable": self.undecodable,
            "channels": dict(sorted(self.channels.items())),
            "by_transmitter": {tx: dict(sorted(kinds.items()))
                               for tx, kinds in sorted(self.by_transmitter.items())},
            "ids_seen": {kind: list(ids) for kind, ids in sorted(self.ids_seen.items())},
            "commands": dict(sorted(self.commands.items())),
            "first_t_ms": self.first_t_ms,
            "last_t_ms": self.last_t_ms,
        }


def summarise_capture(
    frames: Iterable[CaptureFrame],
    *,
    describe: Callable[[bytes], FrameDescription | None] | None = None,
    decode: Decoder | None = None,
) -> CaptureSummary:
    """Summarise validated capture frames; protocol knowledge is injected.

    ``decode`` (air → packet) is used for lines whose ``packet`` is null;
    ``describe`` (packet → :class:`FrameDescription`) labels a packet; the
    default labels it by its first byte as hex and takes bytes 1-3 as the id.
    A frame with no packet, or one ``describe`` returns None for, counts as
    ``"undecodable"``.  Pure: no I/O.
    """
    describer = describe or _first_byte
    count = 0
    repetitions = 0
    undecodable = 0
    channels: Counter[str] = Counter()
    by_tx: dict[str, Counter[str]] = {}
    ids: dict[str, set[str]] = {}
    commands: Counter[str] = Counter()
    first: int | None = None
    last: int | None = None
    for frame in frames:
        count += 1
        repetitions += frame.repeat
        channels[frame.channel] += 1
        first = frame.t_ms if first is None else min(first, frame.t_ms)
        last = frame.t_ms if last is None else max(last, frame.t_ms)
        packet = frame.packet
        if packet is None and decode is not None:
            try:
                packet = decode(frame.air)
            except DecodeError:
                packet = None
        description = describer(packet) if packet is not None else None
        kind = "undecodable" if description is None else description.kind
        if description is None:
            undecodable += 1
        by_tx.setdefault(frame.tx, Counter())[kind] += 1
        if description is not None:
            if description.device_id is not None:
                ids.setdefault(kind, set()).add(description.device_id)
            if description.command is not None:
                commands[description.command] += 1
    return CaptureSummary(
        frames=count,
        repetitions=repetitions,
        undecodable=undecodable,
        channels=dict(channels),
        by_transmitter={tx: dict(kinds) for tx, kinds in by_tx.items()},
        ids_seen={kind: tuple(sorted(v)) for kind, v in ids.items()},
        commands=dict(commands),
        first_t_ms=first,
        last_t_ms=last,
    )

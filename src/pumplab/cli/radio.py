"""``pumplab radio``: decode and encode radio frames, summarise capture files.

* ``pumplab radio decode --protocol legacy HEX [--json]`` -- what the on-air
  (4b6b-encoded) bytes ``HEX`` carry: the checksum verdict, the whole decoded
  packet, its type, device id, message type, body, and the quantities pumplab
  knows how to read (BG and flags of a meter frame, the button and sequence of
  a remote frame, the units of a bolus, the rate and duration of a temp
  basal).  A frame with a bad checksum or a bad structure is still described
  (``crc_ok: false``, ``error``): it is evidence, not an input error.
* ``pumplab radio encode --protocol legacy HEX [--json]`` -- the packet ``HEX``
  (without its checksum) with its checksum, and its on-air bytes.  A result
  that is no valid frame is still printed, with a warning.
* ``pumplab radio decode --capture FILE [--json]`` -- a summary of a capture
  file (docs/radio.md, "Capture files"): frames per transmitter and type,
  pump serials and peripheral ids seen, commands seen.  Every line is
  validated first; one bad line is one error naming the file, the line and
  the field, and nothing is printed.

``--protocol`` takes the names of :data:`~pumplab.cli._radio_protocols.PROTOCOLS`
(``legacy`` today); the codec is loaded only when a command runs.  None of
these commands writes a file.  Deliberately not here: any knowledge of a
protocol's bytes (the codecs, :mod:`pumplab.cli._radio_protocols`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from pumplab.cli._common import (
    EXIT_OK,
    choice,
    emit_json,
    guard,
    new_group,
    new_table,
    print_table,
    warn,
)
from pumplab.cli._radio_protocols import (
    PERIPHERAL_KINDS,
    PROTOCOL_NAMES,
    RadioProtocol,
    capture_report,
    load_protocol,
)
from pumplab.errors import DecodeError, InputError

__all__ = ["register"]

_PROTOCOLS_TEXT: Final = ", ".join(PROTOCOL_NAMES)
_HEX_ALLOWED: Final = "an even number of hex digits 0-9 a-f, no spaces or 0x"

_DECODE_HELP: Final = (
    "Decode one frame's on-air bytes (--protocol NAME HEX), or summarise a capture file "
    "(--capture FILE).\n\n"
    "HEX is what a radio chip hands over: for legacy, 4b6b-encoded, the trailing 00 optional.  "
    "A frame with a bad checksum is still shown (crc_ok false).  A capture is summarised "
    "per transmitter and frame type, with the pump serials, peripheral ids and commands seen; "
    "every frame's air is decoded with the protocol's codec (default legacy).  "
    "Writes no file."
)
_ENCODE_HELP: Final = (
    "Add the checksum to a packet (--protocol NAME HEX, without its checksum) and print it "
    "with its on-air bytes.\n\n"
    "A result that is not a valid frame of the protocol is printed all the same, with a "
    "warning on stderr.  Writes no file."
)


def register(app: typer.Typer) -> None:
    """Add ``radio`` and its two subcommands."""
    group = new_group(
        "Decode and encode radio frames; summarise capture files of the simulated air.\n\n"
        "These commands write no file."
    )
    group.command("decode", help=_DECODE_HELP)(guard(decode_command))
    group.command("encode", help=_ENCODE_HELP)(guard(encode_command))
    app.add_typer(group, name="radio", rich_help_panel="Inspect")


# --------------------------------------------------------------------------
# Options

_PROTOCOL_OPTION: Final = typer.Option(
    "--protocol", parser=choice(PROTOCOL_NAMES), metavar="NAME", show_default=False,
    help=f"The radio protocol of HEX ({_PROTOCOLS_TEXT}); required with HEX.  With --capture, "
    "the codec that decodes every frame (default legacy).",
)  # fmt: skip


def _require_protocol(protocol: str | None) -> RadioProtocol:
    if protocol is None:
        raise InputError("missing (required with HEX)", source="--protocol",
                         allowed=_PROTOCOLS_TEXT)  # fmt: skip
    return load_protocol(protocol)


def _as_argument(exc: InputError, name: str) -> InputError:
    """The codec's error about ``name``, re-stated in the command line's style (``HEX: ...``)."""
    return InputError(exc.reason, source=name, allowed=exc.allowed or _HEX_ALLOWED)


# --------------------------------------------------------------------------
# decode


def decode_command(
    hex_text: Annotated[str | None, typer.Argument(
        metavar="HEX", show_default=False,
        help="The frame's on-air bytes in hex (legacy: 4b6b-encoded, as a radio chip hands "
        "them over; the trailing 00 may be left out).  Not with --capture.",
    )] = None,
    protocol: Annotated[str | None, _PROTOCOL_OPTION] = None,
    capture: Annotated[Path | None, typer.Option(
        "--capture", exists=True, dir_okay=False, readable=True, metavar="FILE",
        show_default=False,
        help="Summarise this capture file (JSON Lines, docs/radio.md 'Capture files') "
        "instead of decoding HEX.",
    )] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object: pumplab.radio-decode/1 for HEX, "
        "pumplab.radio-capture/1 for --capture.",
    )] = False,
) -> int:
    """Decode one frame, or summarise a capture."""
    if capture is not None:
        if hex_text is not None:
            raise InputError("cannot be combined with --capture", source="HEX",
                             allowed="HEX or --capture FILE, not both")  # fmt: skip
        return _summarise(capture, load_protocol(protocol or "legacy"), json_out=json_out)
    if hex_text is None:
        raise InputError("missing (required without --capture)", source="HEX",
                         allowed="the frame's on-air bytes in hex, or --capture FILE")  # fmt: skip
    codec = _require_protocol(protocol)
    try:
        described = codec.decode_hex(hex_text, "HEX")
    except InputError as exc:
        raise _as_argument(exc, "HEX") from None
    except DecodeError as exc:
        raise InputError(f"not the on-air bytes of a {codec.name} frame: {exc}", source="HEX",
                         allowed=codec.air_format) from None  # fmt: skip
    if json_out:
        emit_json("radio-decode", described)
    else:
        print_table(_fields_table(described))
    return EXIT_OK


def _cell(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if key in ("message_type", "nak_code") and isinstance(value, int):
        return f"{value} (0x{value:02x})"
    return str(value)


def _fields_table(fields: Mapping[str, Any]) -> Any:
    table = new_table("field", "value")
    for key, value in fields.items():
        table.add_row(key, _cell(key, value))
    return table


# --------------------------------------------------------------------------
# encode


def encode_command(
    hex_text: Annotated[str, typer.Argument(
        metavar="HEX", show_default=False,
        help="The packet in hex, without its checksum (legacy: the CRC-8, or the CRC-16 of a "
        "sensor frame, is added).",
    )],
    protocol: Annotated[str | None, typer.Option(
        "--protocol", parser=choice(PROTOCOL_NAMES), metavar="NAME", show_default=False,
        help=f"The radio protocol ({_PROTOCOLS_TEXT}); required.",
    )] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object (schema pumplab.radio-encode/1).",
    )] = False,
) -> int:
    """Seal a packet with its checksum and give its on-air bytes."""
    codec = _require_protocol(protocol)
    try:
        encoded = codec.encode_hex(hex_text, "HEX")
    except InputError as exc:
        raise _as_argument(exc, "HEX") from None
    problem = codec.frame_problem(bytes.fromhex(encoded["packet"]))
    if problem is not None:
        hint = ""
        if codec.frame_problem(bytes.fromhex(hex_text.strip())) is None:
            hint = "; HEX is already a valid frame: give it without its checksum"
        warn(f"HEX: the packet is not a valid {codec.name} frame ({problem}){hint}")
    if json_out:
        emit_json("radio-encode", encoded)
    else:
        print_table(_fields_table(encoded))
    return EXIT_OK


# --------------------------------------------------------------------------
# decode --capture


def _capture_lines(path: Path) -> Iterator[str]:
    """The file's lines as text; bytes that are not UTF-8 are an error naming the line."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"not UTF-8 text (byte {exc.start + 1} of the line)",
                                 source=f"{path} line {number}",
                                 allowed="JSON Lines in UTF-8") from None  # fmt: skip


def _summarise(path: Path, codec: RadioProtocol, *, json_out: bool) -> int:
    from pumplab.link.radio import read_capture

    # Everything is read and validated before anything is printed: a bad line
    # anywhere gives one error and no partial summary.
    frames = read_capture(_capture_lines(path), source=str(path))
    report = capture_report(frames, codec, source=str(path))
    if not frames:
        warn(f"{path}: no frames (an empty capture)")
    mismatched = report["packet_mismatch"]
    if mismatched:
        warn(f"{path}: {len(mismatched)} line(s) carry a packet that is not their decoded air "
             f"(first: line {mismatched[0]}); the air was used")
    if json_out:
        emit_json("radio-capture", report)
    else:
        _print_capture(report)
    return EXIT_OK


def _print_capture(report: Mapping[str, Any]) -> None:
    # Titles stay short: Rich wraps a title to the width of its table.
    overview = new_table("", "", title="capture")
    overview.show_header = False
    span = ("-" if report["first_t_ms"] is None
            else f"{report['first_t_ms']}..{report['last_t_ms']} ms")  # fmt: skip
    channels = ", ".join(f"{name} ({n})" for name, n in report["channels"].items()) or "-"
    for label, value in (
        ("file", report["capture"]),
        ("protocol", report["protocol"]),
        ("frames", report["frames"]),
        ("repetitions", report["repetitions"]),
        ("undecodable", report["undecodable"]),
        ("start times", span),
        ("channels", channels),
    ):
        overview.add_row(label, str(value))
    print_table(overview)

    per_tx = new_table("transmitter", "frame type", ("frames", "right"),
                       title="frames per transmitter and type")  # fmt: skip
    for tx, kinds in report["by_transmitter"].items():
        for kind, count in kinds.items():
            per_tx.add_row(tx, kind, str(count))
    print()
    print_table(per_tx)

    ids = new_table("device", "ids", title="ids seen")
    ids.add_row("pump", ", ".join(report["pump_serials"]) or "-")
    for kind in PERIPHERAL_KINDS:
        ids.add_row(kind, ", ".join(report["peripheral_ids"][kind]) or "-")
    print()
    print_table(ids)

    commands = new_table("message", ("type", "right"), ("short frames", "right"),
                         ("long frames", "right"), title="commands seen")  # fmt: skip
    for row in report["commands"]:
        commands.add_row(row["message"] or "(unknown)", f"0x{row['message_type']:02x}",
                         str(row["short_frames"]), str(row["long_frames"]))  # fmt: skip
    print()
    print_table(commands)

"""The legacy MiniMed Paradigm radio protocol, pure: codec, frames, messages, exchange.

Faithful target: **Paradigm x23 (MMT-523/723), firmware up to 2.4A**, the
versions FDA advisory ICSMA-19-178-01 lists.  Sources (read, cited, not
copied): decocare, mmeowlink, minimed_rf, subg_rfspy (RileyLink firmware) and
rileylink_ios MinimedKit; docs/legacy-protocol.md is the specification.

Layers, bottom up (each a small module with its own docstring):

- :mod:`~pumplab.link.legacy.crc`: CRC-8 (0x9B) and CRC-16 (CCITT-FALSE);
- :mod:`~pumplab.link.legacy.coding`: 4b6b line coding, on-air framing;
- :mod:`~pumplab.link.legacy.airtime`: airtime at 16,384 baud, wake-up bursts;
- :mod:`~pumplab.link.legacy.ids`: BCD device ids;
- :mod:`~pumplab.link.legacy.frames`: A7/A2, A5, A6 and sensor frames;
- :mod:`~pumplab.link.legacy.messages`: pump message bodies (commands, answers);
- :mod:`~pumplab.link.legacy.history`: history pages and their records;
- :mod:`~pumplab.link.legacy.sensor`: pumplab's CGM readings on sensor frames;
- :mod:`~pumplab.link.legacy.exchange`, :mod:`~pumplab.link.legacy.driver`,
  :mod:`~pumplab.link.legacy.pumpside`: the sans-I/O exchange, driver and pump;
- :mod:`~pumplab.link.legacy.mapping`: pumplab messages and refusal reasons on
  this wire;
- :mod:`~pumplab.link.legacy.describe`: the JSON-ready views ``radio
  decode/encode`` print.

Nothing here does I/O, reads a clock or draws a random number; the radio
medium (:mod:`pumplab.link.radio`, separate) carries the bytes, and the pump's
legacy intake and the controller app's bridge drive the machines.  The names
below are the package's public API; the submodules hold the rest.
"""

from pumplab.link.legacy.airtime import (
    MMEOWLINK_BURST,
    RILEYLINK_BURST,
    BurstProfile,
    airtime_ms,
    packet_airtime_ms,
)
from pumplab.link.legacy.coding import air_length, decode_4b6b, encode_4b6b
from pumplab.link.legacy.crc import crc8, crc16
from pumplab.link.legacy.describe import decode_air_hex, encode_packet_hex, parse_hex
from pumplab.link.legacy.driver import (
    Completed,
    DriverState,
    Failed,
    FailReason,
    PumpDriver,
)
from pumplab.link.legacy.exchange import (
    DriverConfig,
    Ignored,
    IgnoreReason,
    IllegalTransition,
    PumpLinkConfig,
    Transmit,
)
from pumplab.link.legacy.frames import (
    Frame,
    MeterFrame,
    PacketType,
    PumpFrame,
    RemoteButton,
    RemoteFrame,
    SensorFrame,
    crc_ok,
    decode_air,
    decode_packet,
    encode_packet,
    seal,
    to_air,
)
from pumplab.link.legacy.history import (
    HistoryRecord,
    decode_history_page,
    encode_history_page,
    history_page_frames,
    history_page_from_frames,
)
from pumplab.link.legacy.ids import pack_serial, unpack_serial
from pumplab.link.legacy.mapping import (
    command_for_wire,
    nak_code_for,
    nak_reason_for,
    wire_requests_for,
)
from pumplab.link.legacy.messages import (
    MessageType,
    NakCode,
    ReadRequest,
    decode_command_body,
    decode_response_body,
    x23_bolus_on_grid,
)
from pumplab.link.legacy.pumpside import (
    CommandReceived,
    FellAsleep,
    MalformedArguments,
    PeripheralReceived,
    PoweredOn,
    PumpLink,
    PumpLinkState,
    Woke,
)
from pumplab.link.legacy.pumptime import PumpTime

__all__ = [
    "MMEOWLINK_BURST",
    "RILEYLINK_BURST",
    "BurstProfile",
    "CommandReceived",
    "Completed",
    "DriverConfig",
    "DriverState",
    "FailReason",
    "Failed",
    "FellAsleep",
    "Frame",
    "HistoryRecord",
    "IgnoreReason",
    "Ignored",
    "IllegalTransition",
    "MalformedArguments",
    "MessageType",
    "MeterFrame",
    "NakCode",
    "PacketType",
    "PeripheralReceived",
    "PoweredOn",
    "PumpDriver",
    "PumpFrame",
    "PumpLink",
    "PumpLinkConfig",
    "PumpLinkState",
    "PumpTime",
    "ReadRequest",
    "RemoteButton",
    "RemoteFrame",
    "SensorFrame",
    "Transmit",
    "Woke",
    "air_length",
    "airtime_ms",
    "command_for_wire",
    "crc8",
    "crc16",
    "crc_ok",
    "decode_4b6b",
    "decode_air",
    "decode_air_hex",
    "decode_command_body",
    "decode_history_page",
    "decode_packet",
    "decode_response_body",
    "encode_4b6b",
    "encode_history_page",
    "encode_packet",
    "encode_packet_hex",
    "history_page_frames",
    "history_page_from_frames",
    "nak_code_for",
    "nak_reason_for",
    "pack_serial",
    "packet_airtime_ms",
    "parse_hex",
    "seal",
    "to_air",
    "unpack_serial",
    "wire_requests_for",
    "x23_bolus_on_grid",
]

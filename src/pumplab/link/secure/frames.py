"""The secure link's frames on the air: the Bluetooth LE 1M PHY at 2.4 GHz.

A pure codec and airtime calculator, no radio.  Every secure frame is a
Bluetooth LE link-layer packet (Core v5.4 Vol 6 Part B §2.1):

======================  ======  =============================================
field                   octets  content
======================  ======  =============================================
preamble                1       0xAA or 0x55, alternating into the access address
access address          4       0x8E89BED6 on advertising channels; per
                                connection (from CONNECT_IND) on data channels
PDU header              2       advertising: type, ChSel, TxAdd, RxAdd, length;
                                data: LLID, NESN, SN, MD, CP, length
PDU payload             0-255   advertising data (up to 37) or a data PDU payload
                                (up to 251, plus the 4-octet MIC when encrypted)
CRC                     3       CRC-24 over header and payload (§3.1.1)
======================  ======  =============================================

The 1M PHY sends 1 bit per microsecond, so a frame with an ``n``-octet PDU
(header included) takes ``(1 + 4 + n + 3) × 8`` µs (:func:`airtime_us`), and
two frames of one exchange are separated by T_IFS = 150 µs.  Channels: 40 of
2 MHz from 2402 to 2480 MHz (:func:`channel_frequency_mhz`).

What a receiver may conclude from a frame that decodes here: only that the
bits arrived as sent by *somebody*.  The CRC detects noise, not forgery; every
field of the header is readable and writable by an attacker.  Authenticity is
:mod:`pumplab.link.secure.session`'s job.  Addresses on the air are
resolvable private addresses (:mod:`pumplab.link.secure.addresses`); the
pump's serial number appears nowhere.

Deliberately not modelled: data whitening (a fixed XOR with a per-channel
LFSR sequence: it changes no length, no airtime and no security property),
channel hopping and channel maps beyond carrying the CONNECT_IND fields,
the 2M and Coded PHYs, and advertising extensions.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass

from pumplab.errors import DecodeError
from pumplab.link.secure.addresses import AddressType, DeviceAddress
from pumplab.link.secure.randomness import SYSTEM_RANDOM, RandomSource

__all__ = [
    "ADVERTISING_ACCESS_ADDRESS",
    "ADVERTISING_CRC_INIT",
    "ADV_FLAGS_BR_EDR_NOT_SUPPORTED",
    "ADV_FLAGS_LIMITED_DISCOVERABLE",
    "BIT_RATE_BPS",
    "CRC_LEN",
    "FRAME_OVERHEAD_OCTETS",
    "MAX_DATA_PAYLOAD",
    "MAX_PDU_PAYLOAD",
    "T_IFS_US",
    "AdvInd",
    "AdvPduType",
    "ConnectInd",
    "DataPdu",
    "Llid",
    "airtime_us",
    "channel_frequency_mhz",
    "crc24",
    "decode_adv_pdu",
    "decode_air_frame",
    "decode_data_pdu",
    "encode_air_frame",
    "new_access_address",
    "new_crc_init",
]

#: The 1M PHY's symbol rate (Vol 6 Part A §3.1): one bit per microsecond.
BIT_RATE_BPS = 1_000_000
#: Inter-frame space between the two frames of an exchange (Vol 6 Part B §4.1.1).
T_IFS_US = 150
#: Access address of every advertising-channel packet (Vol 6 Part B §2.1.2).
ADVERTISING_ACCESS_ADDRESS = 0x8E89BED6
#: CRC preset on advertising channels (Vol 6 Part B §3.1.1).
ADVERTISING_CRC_INIT = 0x555555
#: Largest data PDU payload *excluding* the MIC with the data length
#: extension (Vol 6 Part B §2.4; Core 4.2 and later).  Both ends are assumed
#: to have negotiated it (LL_LENGTH_REQ is not modelled).
MAX_DATA_PAYLOAD = 251
#: Largest value of the Length field: the payload plus a 4-octet MIC.
MAX_PDU_PAYLOAD = MAX_DATA_PAYLOAD + 4
#: Largest legacy advertising PDU payload (Vol 6 Part B §2.3).
MAX_ADV_PAYLOAD = 37
CRC_LEN = 3
#: Preamble + access address + CRC: what every frame adds around its PDU.
FRAME_OVERHEAD_OCTETS = 1 + 4 + CRC_LEN

#: AD type "Flags" bits (Core Specification Supplement Part A §1.3).
ADV_FLAGS_LIMITED_DISCOVERABLE = 0x01
ADV_FLAGS_BR_EDR_NOT_SUPPORTED = 0x04
_AD_TYPE_FLAGS = 0x01


def channel_frequency_mhz(channel_index: int) -> int:
    """Centre frequency of an LE channel index (Vol 6 Part B §1.4.1)."""
    if channel_index == 37:
        return 2402
    if channel_index == 38:
        return 2426
    if channel_index == 39:
        return 2480
    if 0 <= channel_index <= 10:
        return 2404 + 2 * channel_index
    if 11 <= channel_index <= 36:
        return 2428 + 2 * (channel_index - 11)
    raise ValueError(f"channel index must be 0..39, got {channel_index}")


def airtime_us(pdu_octets: int) -> int:
    """Airtime of one frame whose PDU (header included) has ``pdu_octets`` octets."""
    if pdu_octets < 2:
        raise ValueError("a PDU has at least its 2-octet header")
    return (FRAME_OVERHEAD_OCTETS + pdu_octets) * 8 * 1_000_000 // BIT_RATE_BPS


def _crc_table() -> tuple[int, ...]:
    table = []
    for index in range(256):
        state = index << 16
        for _ in range(8):
            state = ((state << 1) ^ _CRC_POLY) if state & 0x800000 else state << 1
        table.append(state & 0xFFFFFF)
    return tuple(table)


# x^24 + x^10 + x^9 + x^6 + x^4 + x^3 + x + 1 without the x^24 term.
_CRC_POLY = 0x00065B
_CRC_TABLE = _crc_table()
_BIT_REVERSED = tuple(int(f"{octet:08b}"[::-1], 2) for octet in range(256))


def crc24(pdu: bytes, crc_init: int) -> bytes:
    """The 3 CRC octets of a PDU, in the order they are sent (Vol 6 Part B §3.1.1).

    The specification's LFSR is preset with CRCInit (bit *i* in position *i*),
    takes the PDU's bits least significant bit first, shifts towards position
    23 and feeds position 23 back through the polynomial's taps.  That is an
    MSB-first CRC over bit-reversed octets, which is what the table computes
    an octet at a time.  The register is sent from position 23 down to 0;
    packed into octets that are themselves sent LSB first, that is the
    bit-reversed register, least significant octet first.
    """
    if not 0 <= crc_init <= 0xFFFFFF:
        raise ValueError("CRCInit is 24 bits")
    state = crc_init
    table, rev = _CRC_TABLE, _BIT_REVERSED
    for octet in pdu:
        state = ((state << 8) & 0xFFFFFF) ^ table[(state >> 16) ^ rev[octet]]
    return bytes((rev[state >> 16], rev[(state >> 8) & 0xFF], rev[state & 0xFF]))


def _preamble(access_address: int) -> int:
    # The preamble alternates into the access address: its last bit (sent
    # last, the MSB of the octet) differs from the access address's first
    # (least significant) bit (Vol 6 Part B §2.1.1).
    return 0xAA if access_address & 1 == 0 else 0x55


def encode_air_frame(access_address: int, pdu: bytes, crc_init: int) -> bytes:
    """Preamble, access address, PDU, CRC: the octets of one frame in air order."""
    if not 0 <= access_address <= 0xFFFFFFFF:
        raise ValueError("an access address is 32 bits")
    if len(pdu) < 2 or pdu[1] != len(pdu) - 2:
        raise ValueError("the PDU's length octet must equal its payload length")
    return (
        bytes([_preamble(access_address)])
        + access_address.to_bytes(4, "little")
        + bytes(pdu)
        + crc24(pdu, crc_init)
    )


def decode_air_frame(frame: bytes, crc_init: int) -> tuple[int, bytes]:
    """Split a received frame into (access address, PDU); :class:`DecodeError` if bad.

    A frame whose CRC fails is what a radio drops as noise; the caller must
    treat it exactly like any other rejected input.
    """
    if len(frame) < FRAME_OVERHEAD_OCTETS + 2:
        raise DecodeError(f"a frame has at least 10 octets, got {len(frame)}")
    access_address = int.from_bytes(frame[1:5], "little")
    if frame[0] != _preamble(access_address):
        raise DecodeError("preamble does not match the access address")
    length = frame[6]
    if len(frame) != FRAME_OVERHEAD_OCTETS + 2 + length:
        raise DecodeError(
            f"length octet says {length} payload octets, frame carries "
            f"{len(frame) - FRAME_OVERHEAD_OCTETS - 2}"
        )
    pdu = bytes(frame[5:-CRC_LEN])
    if crc24(pdu, crc_init) != frame[-CRC_LEN:]:
        raise DecodeError("CRC-24 mismatch")
    return access_address, pdu


def new_access_address(rng: RandomSource = SYSTEM_RANDOM) -> int:
    """A connection access address obeying Vol 6 Part B §2.1.2.

    Random, and: not the advertising access address nor one bit away from it;
    its four octets not all equal; no more than six consecutive equal bits; no
    more than 24 bit transitions; at least two transitions in its six most
    significant bits.
    """
    while True:
        aa = int.from_bytes(rng.token_bytes(4), "little")
        if _access_address_ok(aa):
            return aa


def _access_address_ok(aa: int) -> bool:
    if bin(aa ^ ADVERTISING_ACCESS_ADDRESS).count("1") <= 1:
        return False
    octets = aa.to_bytes(4, "little")
    if len(set(octets)) == 1:
        return False
    bits = f"{aa:032b}"
    if "0000000" in bits or "1111111" in bits:
        return False
    transitions = sum(1 for a, b in itertools.pairwise(bits) if a != b)
    if transitions > 24:
        return False
    top = bits[:6]
    return sum(1 for a, b in itertools.pairwise(top) if a != b) >= 2


def new_crc_init(rng: RandomSource = SYSTEM_RANDOM) -> int:
    """A random 24-bit CRCInit for a connection (Vol 6 Part B §2.3.3.1)."""
    return int.from_bytes(rng.token_bytes(3), "little")


# --------------------------------------------------------------------------
# Data channel PDUs (Vol 6 Part B §2.4)


class Llid(enum.IntEnum):
    """What a data PDU carries (Vol 6 Part B §2.4, table 2.13)."""

    CONTINUATION = 0b01  # continuation of an L2CAP message (or an empty PDU)
    START = 0b10  # start of an L2CAP message
    CONTROL = 0b11  # an LL control PDU


@dataclass(frozen=True, slots=True)
class DataPdu:
    """One data channel PDU: header fields and payload (possibly sealed)."""

    llid: Llid
    payload: bytes
    nesn: int = 0
    sn: int = 0
    md: int = 0

    def encode(self) -> bytes:
        if len(self.payload) > MAX_PDU_PAYLOAD:
            raise ValueError(f"a data PDU payload is at most {MAX_PDU_PAYLOAD} octets")
        header0 = int(self.llid) | (self.nesn & 1) << 2 | (self.sn & 1) << 3 | (self.md & 1) << 4
        return bytes([header0, len(self.payload)]) + self.payload


def decode_data_pdu(pdu: bytes) -> DataPdu:
    """Parse a data channel PDU; :class:`DecodeError` on any malformation."""
    if len(pdu) < 2:
        raise DecodeError("a data PDU has a 2-octet header")
    header0, length = pdu[0], pdu[1]
    if length != len(pdu) - 2:
        raise DecodeError(f"length octet {length} but {len(pdu) - 2} payload octets")
    if length > MAX_PDU_PAYLOAD:
        raise DecodeError(f"payload of {length} octets exceeds {MAX_PDU_PAYLOAD}")
    llid = header0 & 0b11
    if llid == 0:
        raise DecodeError("LLID 0 is reserved")
    if header0 & 0xE0:
        raise DecodeError("reserved header bits set (CP and RFU are not used)")
    return DataPdu(
        Llid(llid),
        bytes(pdu[2:]),
        nesn=(header0 >> 2) & 1,
        sn=(header0 >> 3) & 1,
        md=(header0 >> 4) & 1,
    )


# --------------------------------------------------------------------------
# Advertising channel PDUs (Vol 6 Part B §2.3): only the two the secure link uses


class AdvPduType(enum.IntEnum):
    ADV_IND = 0b0000
    CONNECT_IND = 0b0101


@dataclass(frozen=True, slots=True)
class AdvInd:
    """Connectable undirected advertising from the pump (Vol 6 Part B §2.3.1.1).

    ``adv_address`` is the pump's current RPA.  The only AD structure is
    Flags: *LE Limited Discoverable* while the pump's pairing window is open,
    so a device being paired can find the pump without learning who it is.
    No name, no serial, no service data.
    """

    adv_address: DeviceAddress
    pairing_window_open: bool = False

    def encode(self) -> bytes:
        flags = ADV_FLAGS_BR_EDR_NOT_SUPPORTED
        if self.pairing_window_open:
            flags |= ADV_FLAGS_LIMITED_DISCOVERABLE
        payload = self.adv_address.to_wire() + bytes([2, _AD_TYPE_FLAGS, flags])
        return _adv_header(AdvPduType.ADV_IND, self.adv_address, None, len(payload)) + payload


@dataclass(frozen=True, slots=True)
class ConnectInd:
    """A connection request from a device to the pump (Vol 6 Part B §2.3.3.1).

    The 22-octet LLData carry the connection's access address and CRCInit
    (both drawn at random by the device), the window, interval, latency and
    supervision timeout (in the specification's units: 1.25 ms, 1.25 ms,
    events, 10 ms), the channel map, the hop increment and the sleep-clock
    accuracy.
    """

    init_address: DeviceAddress
    adv_address: DeviceAddress
    access_address: int
    crc_init: int
    win_size: int = 2
    win_offset: int = 0
    interval: int = 24  # 30 ms
    latency: int = 0
    timeout: int = 200  # 2 s
    channel_map: bytes = b"\xff\xff\xff\xff\x1f"  # all 37 data channels
    hop: int = 7
    sca: int = 0

    def encode(self) -> bytes:
        if not 5 <= self.hop <= 16:
            raise ValueError("hop increment must be 5..16")
        if not 0 <= self.sca <= 7:
            raise ValueError("SCA must be 0..7")
        if len(self.channel_map) != 5:
            raise ValueError("the channel map is 5 octets")
        payload = (
            self.init_address.to_wire()
            + self.adv_address.to_wire()
            + self.access_address.to_bytes(4, "little")
            + self.crc_init.to_bytes(3, "little")
            + bytes([self.win_size])
            + self.win_offset.to_bytes(2, "little")
            + self.interval.to_bytes(2, "little")
            + self.latency.to_bytes(2, "little")
            + self.timeout.to_bytes(2, "little")
            + self.channel_map
            + bytes([self.hop | self.sca << 5])
        )
        header = _adv_header(
            AdvPduType.CONNECT_IND, self.init_address, self.adv_address, len(payload)
        )
        return header + payload


def _adv_header(
    pdu_type: AdvPduType, tx: DeviceAddress, rx: DeviceAddress | None, length: int
) -> bytes:
    header0 = int(pdu_type) | int(tx.type) << 6
    if rx is not None:
        header0 |= int(rx.type) << 7
    return bytes([header0, length])


def decode_adv_pdu(pdu: bytes) -> AdvInd | ConnectInd:
    """Parse an ADV_IND or CONNECT_IND; :class:`DecodeError` for anything else."""
    if len(pdu) < 2:
        raise DecodeError("an advertising PDU has a 2-octet header")
    header0, length = pdu[0], pdu[1]
    if length != len(pdu) - 2 or length > MAX_ADV_PAYLOAD:
        raise DecodeError(f"advertising length octet {length} does not fit the PDU")
    payload = pdu[2:]
    pdu_type = header0 & 0x0F
    tx_type = AddressType((header0 >> 6) & 1)
    rx_type = AddressType((header0 >> 7) & 1)
    if pdu_type == AdvPduType.ADV_IND:
        if length != 9 or payload[6:8] != bytes([2, _AD_TYPE_FLAGS]):
            raise DecodeError("an ADV_IND here carries an address and one Flags AD structure")
        flags = payload[8]
        if flags & ~(ADV_FLAGS_LIMITED_DISCOVERABLE | ADV_FLAGS_BR_EDR_NOT_SUPPORTED):
            raise DecodeError(f"unexpected AD flags 0x{flags:02x}")
        return AdvInd(
            DeviceAddress.from_wire(tx_type, payload[:6]),
            pairing_window_open=bool(flags & ADV_FLAGS_LIMITED_DISCOVERABLE),
        )
    if pdu_type == AdvPduType.CONNECT_IND:
        if length != 34:
            raise DecodeError(f"CONNECT_IND has 34 payload octets, got {length}")
        hop_sca = payload[33]
        hop = hop_sca & 0x1F
        if not 5 <= hop <= 16:
            raise DecodeError(f"hop increment {hop} outside 5..16")
        return ConnectInd(
            init_address=DeviceAddress.from_wire(tx_type, payload[0:6]),
            adv_address=DeviceAddress.from_wire(rx_type, payload[6:12]),
            access_address=int.from_bytes(payload[12:16], "little"),
            crc_init=int.from_bytes(payload[16:19], "little"),
            win_size=payload[19],
            win_offset=int.from_bytes(payload[20:22], "little"),
            interval=int.from_bytes(payload[22:24], "little"),
            latency=int.from_bytes(payload[24:26], "little"),
            timeout=int.from_bytes(payload[26:28], "little"),
            channel_map=bytes(payload[28:33]),
            hop=hop,
            sca=hop_sca >> 5,
        )
    raise DecodeError(f"advertising PDU type 0x{pdu_type:x} is not used by the secure link")

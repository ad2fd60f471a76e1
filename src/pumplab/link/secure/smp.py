"""Security Manager Protocol PDUs, IO capabilities and the association-model table.

The codec of the LE Secure Connections PDUs (Core v5.4 Vol 3 Part H §3.5,
§3.6), the specification's table that picks an association model from the two
IO capabilities (§2.3.5.1, table 2.8), the values pumplab announces per model,
and the CGM's out-of-band data block.  Multi-octet values are sent least
significant octet first; the dataclasses hold them in specification order
(docs/secure-protocol.md, "Byte order").

Pure codecs: no state, no randomness except :meth:`StaticOobKey.generate`,
no I/O.  The state machines that use them are in
:mod:`pumplab.link.secure.pairing`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pumplab.errors import DecodeError
from pumplab.link.secure.addresses import DeviceAddress
from pumplab.link.secure.crypto import KeyPair, PublicKey, f4, from_wire, to_wire
from pumplab.link.secure.randomness import SYSTEM_RANDOM, RandomSource
from pumplab.link.secure.roles import AssociationModel

__all__ = [
    "AUTH_KEYPRESS",
    "AUTH_REQUIRED",
    "DEVICE_IO",
    "KEY_DIST_ID",
    "MAX_KEY_SIZE",
    "PUMP_IO",
    "UNSPECIFIED_REASON",
    "FailedPdu",
    "IdentityAddressPdu",
    "IoCapability",
    "OobData",
    "PairingFeatures",
    "PublicKeyPdu",
    "SmpCode",
    "SmpPdu",
    "StaticOobKey",
    "ValuePdu",
    "decode_smp",
    "model_for",
]

#: The one Pairing Failed reason pumplab ever sends: Unspecified Reason (§3.5.5).
UNSPECIFIED_REASON = 0x08


class IoCapability(enum.IntEnum):
    """SMP IO capability values (Vol 3 Part H §3.5.1, table 3.4)."""

    DISPLAY_ONLY = 0x00
    DISPLAY_YES_NO = 0x01
    KEYBOARD_ONLY = 0x02
    NO_INPUT_NO_OUTPUT = 0x03
    KEYBOARD_DISPLAY = 0x04


# AuthReq bits (§3.5.1) and key distribution bits (§3.6.1).  Both sides of a
# pumplab pairing require bonding, MITM protection and Secure Connections,
# keys of 128 bits, and identity keys distributed both ways.
AUTH_BONDING = 0x01
AUTH_MITM = 0x04
AUTH_SC = 0x08
AUTH_KEYPRESS = 0x10
AUTH_REQUIRED = AUTH_BONDING | AUTH_MITM | AUTH_SC
KEY_DIST_ID = 0x02
MAX_KEY_SIZE = 16

_NC = AssociationModel.NUMERIC_COMPARISON
_PK = AssociationModel.PASSKEY_ENTRY
_JW = AssociationModel.JUST_WORKS
_IO = IoCapability

# Table 2.8 of Vol 3 Part H §2.3.5.1 for LE Secure Connections with MITM
# requested, as (initiator IO, responder IO) -> model.  Which side displays and
# which types a passkey is carried separately (_PASSKEY_DISPLAY).
_MODEL_TABLE: dict[tuple[IoCapability, IoCapability], AssociationModel] = {}
for _init in IoCapability:
    for _resp in IoCapability:
        if _IO.NO_INPUT_NO_OUTPUT in (_init, _resp):
            _MODEL_TABLE[_init, _resp] = _JW
        elif _init in (_IO.DISPLAY_ONLY, _IO.DISPLAY_YES_NO) and _resp in (
            _IO.DISPLAY_ONLY,
            _IO.DISPLAY_YES_NO,
        ):
            both_yes_no = _init is _IO.DISPLAY_YES_NO and _resp is _IO.DISPLAY_YES_NO
            _MODEL_TABLE[_init, _resp] = _NC if both_yes_no else _JW
        elif _IO.KEYBOARD_ONLY in (_init, _resp) or _IO.DISPLAY_ONLY in (_init, _resp):
            _MODEL_TABLE[_init, _resp] = _PK
        else:  # DisplayYesNo / KeyboardDisplay combinations
            _MODEL_TABLE[_init, _resp] = _NC
del _init, _resp


def model_for(
    initiator_io: IoCapability, responder_io: IoCapability, oob_flag_either: bool
) -> AssociationModel:
    """The association model LE Secure Connections picks (§2.3.5.1).

    OOB if either side has the peer's OOB data; otherwise table 2.8.
    """
    if oob_flag_either:
        return AssociationModel.OUT_OF_BAND
    return _MODEL_TABLE[initiator_io, responder_io]


# What each side announces for its model.  The pump displays passkeys
# (DisplayOnly responder, KeyboardOnly initiator: "responder displays,
# initiator inputs" in table 2.8).
DEVICE_IO = {
    _NC: _IO.DISPLAY_YES_NO,
    _PK: _IO.KEYBOARD_ONLY,
    AssociationModel.OUT_OF_BAND: _IO.NO_INPUT_NO_OUTPUT,
}
PUMP_IO = {
    _NC: _IO.DISPLAY_YES_NO,
    _PK: _IO.DISPLAY_ONLY,
    AssociationModel.OUT_OF_BAND: _IO.DISPLAY_ONLY,
}


# --------------------------------------------------------------------------
# SMP PDUs (Vol 3 Part H §3.5, §3.6).  Multi-octet values are LSO first on the
# air; the dataclasses hold them in specification order.


class SmpCode(enum.IntEnum):
    PAIRING_REQUEST = 0x01
    PAIRING_RESPONSE = 0x02
    PAIRING_CONFIRM = 0x03
    PAIRING_RANDOM = 0x04
    PAIRING_FAILED = 0x05
    IDENTITY_INFORMATION = 0x08
    IDENTITY_ADDRESS_INFORMATION = 0x09
    PAIRING_PUBLIC_KEY = 0x0C
    PAIRING_DHKEY_CHECK = 0x0D


@dataclass(frozen=True, slots=True)
class PairingFeatures:
    """Pairing Request (0x01) or Pairing Response (0x02): 6 octets after the code."""

    code: SmpCode
    io_capability: int
    oob_flag: int
    auth_req: int
    max_key_size: int
    initiator_keys: int
    responder_keys: int

    def encode(self) -> bytes:
        return bytes(
            [
                self.code,
                self.io_capability,
                self.oob_flag,
                self.auth_req,
                self.max_key_size,
                self.initiator_keys,
                self.responder_keys,
            ]
        )

    def io_cap_octets(self) -> bytes:
        """IOcap for f6: AuthReq || OOB data flag || IO capability (§2.2.8)."""
        return bytes([self.auth_req, self.oob_flag, self.io_capability])


@dataclass(frozen=True, slots=True)
class ValuePdu:
    """Pairing Confirm, Pairing Random, DHKey Check or Identity Information: 16 octets."""

    code: SmpCode
    value: bytes = field(repr=False)

    def encode(self) -> bytes:
        return bytes([self.code]) + to_wire(self.value)


@dataclass(frozen=True, slots=True)
class PublicKeyPdu:
    """Pairing Public Key: X (32 octets) then Y (32 octets), each LSO first."""

    key: PublicKey

    def encode(self) -> bytes:
        return bytes([SmpCode.PAIRING_PUBLIC_KEY]) + to_wire(self.key.x) + to_wire(self.key.y)


@dataclass(frozen=True, slots=True)
class IdentityAddressPdu:
    """Identity Address Information: address type, then the 6-octet address."""

    address: DeviceAddress

    def encode(self) -> bytes:
        return (
            bytes([SmpCode.IDENTITY_ADDRESS_INFORMATION, int(self.address.type)])
            + self.address.to_wire()
        )


@dataclass(frozen=True, slots=True)
class FailedPdu:
    reason: int

    def encode(self) -> bytes:
        return bytes([SmpCode.PAIRING_FAILED, self.reason])


SmpPdu = PairingFeatures | ValuePdu | PublicKeyPdu | IdentityAddressPdu | FailedPdu

_SMP_LENGTHS = {
    SmpCode.PAIRING_REQUEST: 7,
    SmpCode.PAIRING_RESPONSE: 7,
    SmpCode.PAIRING_CONFIRM: 17,
    SmpCode.PAIRING_RANDOM: 17,
    SmpCode.PAIRING_FAILED: 2,
    SmpCode.IDENTITY_INFORMATION: 17,
    SmpCode.IDENTITY_ADDRESS_INFORMATION: 8,
    SmpCode.PAIRING_PUBLIC_KEY: 65,
    SmpCode.PAIRING_DHKEY_CHECK: 17,
}


def decode_smp(pdu: bytes) -> SmpPdu:
    """Parse one SMP PDU; :class:`DecodeError` if it is malformed or not used here."""
    if not pdu:
        raise DecodeError("an SMP PDU has a code octet")
    try:
        code = SmpCode(pdu[0])
    except ValueError:
        raise DecodeError(f"SMP code 0x{pdu[0]:02x} is not used by the secure link") from None
    if len(pdu) != _SMP_LENGTHS[code]:
        raise DecodeError(f"{code.name} has {_SMP_LENGTHS[code]} octets, got {len(pdu)}")
    if code in (SmpCode.PAIRING_REQUEST, SmpCode.PAIRING_RESPONSE):
        return PairingFeatures(code, *pdu[1:7])
    if code is SmpCode.PAIRING_FAILED:
        return FailedPdu(pdu[1])
    if code is SmpCode.PAIRING_PUBLIC_KEY:
        return PublicKeyPdu(PublicKey(from_wire(pdu[1:33]), from_wire(pdu[33:65])))
    if code is SmpCode.IDENTITY_ADDRESS_INFORMATION:
        return IdentityAddressPdu(DeviceAddress.from_wire(pdu[1], pdu[2:8]))
    return ValuePdu(code, from_wire(pdu[1:17]))


# --------------------------------------------------------------------------
# OOB data for the CGM transmitter (§2.3.5.6.4; the OOB data block's AD
# types: Core Specification Supplement Part A §1.6, §1.16).

_AD_LE_DEVICE_ADDRESS = 0x1B
_AD_SC_CONFIRM = 0x22
_AD_SC_RANDOM = 0x23


@dataclass(frozen=True, slots=True)
class OobData:
    """What is printed on a CGM transmitter: its identity address, r and C = f4(PKx, PKx, r, 0)."""

    address: DeviceAddress
    r: bytes = field(repr=False)
    c: bytes

    def __post_init__(self) -> None:
        if len(self.r) != 16 or len(self.c) != 16:
            raise ValueError("OOB r and C are 16 bytes each")

    def encode(self) -> bytes:
        """The OOB block as AD structures (the QR code's content)."""
        return (
            bytes([8, _AD_LE_DEVICE_ADDRESS])
            + self.address.to_wire()
            + bytes([int(self.address.type)])
            + bytes([17, _AD_SC_CONFIRM])
            + to_wire(self.c)
            + bytes([17, _AD_SC_RANDOM])
            + to_wire(self.r)
        )

    @classmethod
    def decode(cls, block: bytes) -> OobData:
        """Parse an OOB block; :class:`DecodeError` naming what is wrong."""
        fields: dict[int, bytes] = {}
        i = 0
        while i < len(block):
            length = block[i]
            if length == 0 or i + 1 + length > len(block):
                raise DecodeError(f"OOB block: AD structure at octet {i} overruns the block")
            ad_type, data = block[i + 1], bytes(block[i + 2 : i + 1 + length])
            if ad_type in fields:
                raise DecodeError(f"OOB block: AD type 0x{ad_type:02x} appears twice")
            fields[ad_type] = data
            i += 1 + length
        wanted = {_AD_LE_DEVICE_ADDRESS: 7, _AD_SC_CONFIRM: 16, _AD_SC_RANDOM: 16}
        for ad_type, size in wanted.items():
            if len(fields.get(ad_type, b"")) != size:
                raise DecodeError(f"OOB block: AD type 0x{ad_type:02x} must carry {size} octets")
        if set(fields) != set(wanted):
            raise DecodeError("OOB block: unexpected AD types")
        address_field = fields[_AD_LE_DEVICE_ADDRESS]
        return cls(
            address=DeviceAddress.from_wire(address_field[6], address_field[:6]),
            r=from_wire(fields[_AD_SC_RANDOM]),
            c=from_wire(fields[_AD_SC_CONFIRM]),
        )


@dataclass(frozen=True, slots=True)
class StaticOobKey:
    """A CGM transmitter's static P-256 key pair and OOB random r, fixed at manufacture."""

    keypair: KeyPair = field(repr=False)
    r: bytes = field(repr=False)

    @classmethod
    def generate(cls, rng: RandomSource = SYSTEM_RANDOM) -> StaticOobKey:
        return cls(KeyPair.generate(rng), rng.token_bytes(16))

    def oob_data(self, identity_address: DeviceAddress) -> OobData:
        """What to print on the transmitter: Ca = f4(PKax, PKax, ra, 0) (§2.3.5.6.4)."""
        x = self.keypair.public.x
        return OobData(identity_address, self.r, f4(x, x, self.r, 0))

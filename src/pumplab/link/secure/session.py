"""Link-layer encryption as a sans-I/O session: SK = e(LTK, SKD), AES-CCM per PDU.

This is Bluetooth LE's own link-layer encryption (Core v5.4 Vol 6 Part B
§5.1.3 and Vol 6 Part E), nothing added to it except strictness:

- **Session setup** (the encryption start procedure, §5.1.3.1).  At every
  connection the device (central) sends ``LL_ENC_REQ`` with fresh SKDm (8
  octets) and IVm (4 octets); the pump (peripheral) answers ``LL_ENC_RSP``
  with its own fresh SKDs and IVs.  Both compute SK = e(LTK, SKDs || SKDm) and
  IV = IVs || IVm (:func:`derive_session`).  Because the pump always
  contributes fresh halves from its own CSPRNG, no frame recorded in an
  earlier session (before or after a reboot) can verify in a new one, even if
  an attacker replays the device's whole half of the handshake.
- **Per-PDU sealing** (:class:`Session`).  AES-CCM with a 4-octet MIC, the
  nonce built from the 39-bit packet counter, the direction bit and the IV
  (:func:`pumplab.link.secure.crypto.ccm_nonce`).  The counter is *implicit*
  (never sent): a receiver decrypts with the counter it expects next, so a
  replayed, reordered, dropped-then-reinjected or reflected PDU simply fails
  its MIC.  There is no replay window: the traffic is request/response, so a
  PDU is accepted only if it is exactly the next one.
- **Failure is opaque and changes nothing.**  :meth:`Session.open` verifies
  the MIC before it looks at anything else and raises one
  :class:`~pumplab.errors.AuthenticationError` for every failure, whatever
  the cause (wrong key, counter, direction, length, bit flip, truncation).  A
  failed PDU does not advance the counter or otherwise change the session, so
  an attacker's injection cannot desynchronise a legitimate exchange.
- **Header bits CCM does not cover.**  The specification masks NESN, SN and
  MD out of the authenticated data (Vol 6 Part E §2.2).  pumplab does not
  model link-layer acknowledgement (the application retries; see the docs), so
  these bits are always sent as 0 and a PDU with any of them set is refused
  after its MIC verifies: a sealed frame is accepted only bit for bit.

Three counters are kept apart on purpose (docs/secure-protocol.md, "Counters"):

1. the **AEAD packet counter** here: per session and direction, RAM only,
   restarting at 0 with every new SK, never reused under one SK;
2. the **application command id**: per sender, persisted ahead of use, owned
   by the pump's secure intake and carried *inside* the encrypted payload;
   this module never sees it;
3. **session freshness**: the SKD/IV halves both sides draw at each
   connection, which make every session's SK new.

Session keys live only in this object: nothing here writes them anywhere, and
``repr`` never shows them.  A reboot loses every session; a device must
connect again and a new SK is derived.

This module does no I/O, reads no clock and holds no long-term key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from pumplab.errors import AuthenticationError, DecodeError, LinkError
from pumplab.link.secure.crypto import (
    DIRECTION_CENTRAL_TO_PERIPHERAL,
    DIRECTION_PERIPHERAL_TO_CENTRAL,
    MAX_PACKET_COUNTER,
    MIC_LEN,
    from_wire,
    session_iv,
    session_key,
    to_wire,
)
from pumplab.link.secure.frames import MAX_DATA_PAYLOAD, Llid
from pumplab.link.secure.randomness import SYSTEM_RANDOM, RandomSource

__all__ = [
    "MAX_SEALED_PLAINTEXT",
    "EncReq",
    "EncRsp",
    "LlOpcode",
    "Session",
    "Side",
    "StartEncReq",
    "StartEncRsp",
    "TerminateInd",
    "decode_control",
    "derive_session",
    "new_enc_req",
    "new_enc_rsp",
]

#: The largest plaintext one sealed PDU carries (its Length field then says 255).
MAX_SEALED_PLAINTEXT = MAX_DATA_PAYLOAD


class Side(enum.Enum):
    """Which end of the connection a session belongs to."""

    CENTRAL = "central"  # the device: app, remote, meter, CGM
    PERIPHERAL = "peripheral"  # the pump


# --------------------------------------------------------------------------
# LL control PDUs of the encryption start procedure (Vol 6 Part B §2.4.2)


class LlOpcode(enum.IntEnum):
    TERMINATE_IND = 0x02
    ENC_REQ = 0x03
    ENC_RSP = 0x04
    START_ENC_REQ = 0x05
    START_ENC_RSP = 0x06


@dataclass(frozen=True, slots=True)
class EncReq:
    """LL_ENC_REQ: Rand (8), EDIV (2), SKDm (8), IVm (4), all LSO first on the air.

    With LE Secure Connections the LTK is found from the peer's identity, so
    Rand and EDIV are zero (Vol 3 Part H §2.4.4.1).
    """

    skd_central: bytes = field(repr=False)  # SKDm, specification order
    iv_central: bytes = field(repr=False)  # IVm
    rand: bytes = bytes(8)
    ediv: int = 0

    def encode(self) -> bytes:
        return (
            bytes([LlOpcode.ENC_REQ])
            + to_wire(self.rand)
            + self.ediv.to_bytes(2, "little")
            + to_wire(self.skd_central)
            + to_wire(self.iv_central)
        )


@dataclass(frozen=True, slots=True)
class EncRsp:
    """LL_ENC_RSP: SKDs (8), IVs (4)."""

    skd_peripheral: bytes = field(repr=False)
    iv_peripheral: bytes = field(repr=False)

    def encode(self) -> bytes:
        return (
            bytes([LlOpcode.ENC_RSP]) + to_wire(self.skd_peripheral) + to_wire(self.iv_peripheral)
        )


@dataclass(frozen=True, slots=True)
class StartEncReq:
    """LL_START_ENC_REQ (sent in the clear by the peripheral)."""

    def encode(self) -> bytes:
        return bytes([LlOpcode.START_ENC_REQ])


@dataclass(frozen=True, slots=True)
class StartEncRsp:
    """LL_START_ENC_RSP: the first encrypted PDU in each direction."""

    def encode(self) -> bytes:
        return bytes([LlOpcode.START_ENC_RSP])


@dataclass(frozen=True, slots=True)
class TerminateInd:
    """LL_TERMINATE_IND with its error code (0x13: remote user terminated)."""

    error_code: int = 0x13

    def encode(self) -> bytes:
        return bytes([LlOpcode.TERMINATE_IND, self.error_code & 0xFF])


ControlPdu = EncReq | EncRsp | StartEncReq | StartEncRsp | TerminateInd

_CONTROL_LENGTHS = {
    LlOpcode.TERMINATE_IND: 2,
    LlOpcode.ENC_REQ: 23,
    LlOpcode.ENC_RSP: 13,
    LlOpcode.START_ENC_REQ: 1,
    LlOpcode.START_ENC_RSP: 1,
}


def decode_control(payload: bytes) -> ControlPdu:
    """Parse an LL control PDU payload; :class:`DecodeError` if malformed or unused."""
    if not payload:
        raise DecodeError("an LL control PDU has an opcode")
    try:
        opcode = LlOpcode(payload[0])
    except ValueError:
        raise DecodeError(f"LL control opcode 0x{payload[0]:02x} is not used") from None
    if len(payload) != _CONTROL_LENGTHS[opcode]:
        raise DecodeError(f"{opcode.name} has {_CONTROL_LENGTHS[opcode]} octets")
    if opcode is LlOpcode.ENC_REQ:
        return EncReq(
            rand=from_wire(payload[1:9]),
            ediv=int.from_bytes(payload[9:11], "little"),
            skd_central=from_wire(payload[11:19]),
            iv_central=from_wire(payload[19:23]),
        )
    if opcode is LlOpcode.ENC_RSP:
        return EncRsp(
            skd_peripheral=from_wire(payload[1:9]), iv_peripheral=from_wire(payload[9:13])
        )
    if opcode is LlOpcode.START_ENC_REQ:
        return StartEncReq()
    if opcode is LlOpcode.START_ENC_RSP:
        return StartEncRsp()
    return TerminateInd(payload[1])


def new_enc_req(rng: RandomSource = SYSTEM_RANDOM) -> EncReq:
    """The device's fresh half: SKDm and IVm from ``rng``."""
    return EncReq(skd_central=rng.token_bytes(8), iv_central=rng.token_bytes(4))


def new_enc_rsp(rng: RandomSource = SYSTEM_RANDOM) -> EncRsp:
    """The pump's fresh half: SKDs and IVs from ``rng``."""
    return EncRsp(skd_peripheral=rng.token_bytes(8), iv_peripheral=rng.token_bytes(4))


def derive_session(ltk: bytes, request: EncReq, response: EncRsp, side: Side) -> Session:
    """The session both ends derive from the LTK and the two exchanged halves."""
    sk = session_key(ltk, request.skd_central, response.skd_peripheral)
    iv = session_iv(request.iv_central, response.iv_peripheral)
    return Session(sk, iv, side)


# --------------------------------------------------------------------------
# The session


class Session:
    """One direction pair of AES-CCM link-layer encryption under one SK.

    :meth:`seal` turns (LLID, plaintext) into a complete data PDU (header and
    ciphertext || MIC); :meth:`open` does the reverse for the peer's PDUs.
    Each direction has its own 39-bit counter starting at 0; the nonce's
    direction bit is 1 for what the central sends and 0 for the peripheral.
    """

    __slots__ = (
        "_ccm",
        "_iv_wire",
        "_rx_counter",
        "_rx_direction_bit",
        "_tx_counter",
        "_tx_direction_bit",
    )

    def __init__(self, sk: bytes, iv: bytes, side: Side) -> None:
        if len(sk) != 16 or len(iv) != 8:
            raise ValueError("a session needs a 16-byte SK and an 8-byte IV")
        self._ccm = AESCCM(bytes(sk), tag_length=MIC_LEN)
        central = side is Side.CENTRAL
        tx = DIRECTION_CENTRAL_TO_PERIPHERAL if central else DIRECTION_PERIPHERAL_TO_CENTRAL
        # The nonce (crypto.ccm_nonce, Vol 6 Part E §2.2) is built inline per
        # PDU from these two precomputed parts; a test checks they agree.
        self._iv_wire = to_wire(bytes(iv))
        self._tx_direction_bit = tx << 39
        self._rx_direction_bit = (1 - tx) << 39
        self._tx_counter = 0
        self._rx_counter = 0

    def _nonce(self, counter: int, direction_bit: int) -> bytes:
        return (counter | direction_bit).to_bytes(5, "little") + self._iv_wire

    def __repr__(self) -> str:
        return f"Session(tx_counter={self._tx_counter}, rx_counter={self._rx_counter})"

    @property
    def tx_counter(self) -> int:
        """The packet counter the next sealed PDU will use."""
        return self._tx_counter

    @property
    def rx_counter(self) -> int:
        """The packet counter the next accepted PDU must have been sealed with."""
        return self._rx_counter

    def seal(self, llid: Llid, plaintext: bytes) -> bytes:
        """Encrypt and authenticate one PDU; advances the transmit counter.

        Raises :class:`~pumplab.errors.LinkError` once the 39-bit counter is
        spent (the session must be replaced by a new connection: a counter
        never wraps under one key).
        """
        if not plaintext:
            # Empty PDUs are never encrypted in BLE (Vol 6 Part E §1); the
            # secure link does not send them inside a session at all.
            raise ValueError("a sealed PDU carries at least one octet")
        if len(plaintext) > MAX_SEALED_PLAINTEXT:
            raise ValueError(f"a sealed PDU carries at most {MAX_SEALED_PLAINTEXT} octets")
        if self._tx_counter > MAX_PACKET_COUNTER:
            raise LinkError("session packet counter exhausted; reconnect for a new session")
        header0 = int(llid)  # NESN = SN = MD = 0, see the module docstring
        nonce = self._nonce(self._tx_counter, self._tx_direction_bit)
        sealed = self._ccm.encrypt(nonce, bytes(plaintext), bytes([header0]))
        self._tx_counter += 1
        return bytes([header0, len(sealed)]) + sealed

    def open(self, pdu: bytes) -> tuple[Llid, bytes]:
        """Verify, then decrypt, the peer's next PDU; advances the receive counter.

        Every failure raises the same :class:`~pumplab.errors.AuthenticationError`
        and leaves the session exactly as it was.
        """
        if self._rx_counter > MAX_PACKET_COUNTER:
            raise AuthenticationError("authentication failed")
        if len(pdu) < 2 + MIC_LEN + 1 or pdu[1] != len(pdu) - 2:
            raise AuthenticationError("authentication failed")
        header0 = pdu[0]
        nonce = self._nonce(self._rx_counter, self._rx_direction_bit)
        try:
            # The AAD is the header octet with NESN/SN/MD masked (Vol 6 Part E §2.2).
            plaintext = self._ccm.decrypt(nonce, bytes(pdu[2:]), bytes([header0 & 0xE3]))
        except InvalidTag:
            raise AuthenticationError("authentication failed") from None
        # Verified; now the header: a valid LLID and no unauthenticated bit set.
        if header0 & 0xFC or header0 & 0b11 == 0:
            raise AuthenticationError("authentication failed")
        self._rx_counter += 1
        return Llid(header0 & 0b11), plaintext

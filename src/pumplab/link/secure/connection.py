"""One secure connection, each end as a sans-I/O machine: pairing, encryption, data.

This is where :mod:`~pumplab.link.secure.pairing`,
:mod:`~pumplab.link.secure.session` and the data PDU format of
:mod:`~pumplab.link.secure.frames` meet, in the order Bluetooth LE uses them
(Core v5.4 Vol 6 Part B §5.1.3, Vol 3 Part H §2.4):

1. The pump advertises under an RPA (:class:`PumpAdvertiser`); a device
   connects with a CONNECT_IND carrying its own RPA, a fresh access address
   and CRCInit.
2. **Not bonded**: the device starts LE Secure Connections pairing (SMP on
   L2CAP channel 0x0006, in the clear).  After both DHKey checks it starts
   encryption with the new LTK, and the pump and then the device distribute
   their identities encrypted.
3. **Bonded**: the device starts encryption at once (``LL_ENC_REQ``).  The
   pump resolves the device's RPA against its paired devices' IRKs to find the
   LTK.  If it finds none it answers exactly as if it had, with a random
   *decoy* LTK, so the device's first encrypted PDU fails like any wrong key:
   an unknown device and a wrong key look the same from outside.
4. Encrypted: every PDU in both directions is sealed by the
   :class:`~pumplab.link.secure.session.Session`; application payloads travel
   on L2CAP channel :data:`CID_APPLICATION`, segmented over as many PDUs as
   needed.

Each ``receive``/``send``/user call returns a :class:`ConnectionStep`: the
data PDUs to transmit (header and payload, to be framed by
:func:`~pumplab.link.secure.frames.encode_air_frame` with the connection's
access address and CRCInit) and the events.  ``receive`` never raises:
anything that is not the next authentic PDU gives one :class:`InputRejected`
event with no detail and changes nothing, except during pairing or the
encryption handshake, where a failure ends that procedure ("failed" or
"closed", never anything else).

**Verify before parsing.**  Once encrypted, a PDU is opened by the session
(MIC checked) before its LLID, L2CAP header or payload is read.  The
application payload is opaque bytes here; the pump's secure intake decodes
it (see :class:`PayloadCodec`) only from an :class:`ApplicationData` event,
which exists only for a verified PDU, and takes the sender's role from the
event (from the pairing record that authenticated it), never from the payload.

Not modelled (docs/secure-protocol.md, "What is not built"): link-layer
acknowledgement and retransmission (SN/NESN), connection events and
supervision timing, channel selection, L2CAP signalling (the application
channel is treated as pre-established), and pausing or refreshing encryption
on a live connection (a new session is a new connection).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pumplab.errors import AuthenticationError, DecodeError
from pumplab.link.secure.addresses import RPA_TIMEOUT_MS, DeviceAddress, Identity, resolves
from pumplab.link.secure.frames import (
    MAX_DATA_PAYLOAD,
    AdvInd,
    ConnectInd,
    DataPdu,
    Llid,
    decode_data_pdu,
    new_access_address,
    new_crc_init,
)
from pumplab.link.secure.pairing import (
    DevicePairing,
    KeysReady,
    PairingComplete,
    PairingEvent,
    PairingFailed,
    PairingRecord,
    PairingStep,
    PumpPairing,
)
from pumplab.link.secure.randomness import SYSTEM_RANDOM, RandomSource
from pumplab.link.secure.roles import Role
from pumplab.link.secure.session import (
    MAX_SEALED_PLAINTEXT,
    EncReq,
    EncRsp,
    Session,
    Side,
    StartEncReq,
    StartEncRsp,
    TerminateInd,
    decode_control,
    derive_session,
    new_enc_req,
    new_enc_rsp,
)
from pumplab.link.secure.smp import StaticOobKey
from pumplab.link.secure.window import PairingWindow

__all__ = [
    "CID_APPLICATION",
    "CID_SMP",
    "LL_RESPONSE_TIMEOUT_MS",
    "MAX_APPLICATION_PAYLOAD",
    "REJECTION_BUDGET",
    "ApplicationData",
    "BondLookup",
    "ConnectionClosed",
    "ConnectionEvent",
    "ConnectionStep",
    "DeviceConnection",
    "InputRejected",
    "PayloadCodec",
    "PumpAdvertiser",
    "PumpConnection",
    "SessionStarted",
]

#: L2CAP fixed channel of the Security Manager (Vol 3 Part A §2.1).
CID_SMP = 0x0006
#: The channel pumplab's application payloads use: the first LE dynamic
#: channel id, treated as established (L2CAP signalling is not modelled).
CID_APPLICATION = 0x0040
#: Largest application payload one message may carry (segmented over PDUs).
MAX_APPLICATION_PAYLOAD = 4096
#: A link-layer procedure must complete within 40 s (Vol 6 Part B §5.2).
LL_RESPONSE_TIMEOUT_MS = 40_000
#: Sealed PDUs that may fail their MIC on one connection before it is closed.
#: A forged PDU passes a 32-bit MIC with probability 2^-32; BLE ends the
#: connection at the first failure (error 0x3D), which would let one injected
#: frame cut a legitimate session.  pumplab tolerates this many, so that
#: noise or an injection changes nothing, and then closes, so that an attacker
#: gets at most this many tries per session: 1024 / 2^32, about 2.4e-7.
REJECTION_BUDGET = 1024
_MIC_FAILURE = 0x3D  # "Connection Terminated due to MIC Failure" (Vol 1 Part F)

_L2CAP_HEADER = 4


# --------------------------------------------------------------------------
# Events and steps


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """Base of what a connection reports (besides the pairing events it forwards)."""


@dataclass(frozen=True, slots=True)
class SessionStarted(ConnectionEvent):
    """The link is encrypted and the peer is known: ``record`` says who and which role."""

    record: PairingRecord


@dataclass(frozen=True, slots=True)
class ApplicationData(ConnectionEvent):
    """A verified application payload from the peer ``peer`` bound to ``role``."""

    payload: bytes
    peer: DeviceAddress
    role: Role


@dataclass(frozen=True, slots=True)
class InputRejected(ConnectionEvent):
    """A received PDU was refused.  Deliberately without detail; count it, do not log it."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed(ConnectionEvent):
    """The connection is over; nothing more is accepted or sent on it."""


Event = ConnectionEvent | PairingEvent


@dataclass(frozen=True, slots=True)
class ConnectionStep:
    """Data PDUs to transmit, in order, and what happened."""

    send: tuple[bytes, ...] = ()
    events: tuple[Event, ...] = ()


class BondLookup(Protocol):
    """Where a pump finds the pairing record of a connecting device (its key store)."""

    def find_bond(self, address: DeviceAddress) -> PairingRecord | None:
        """The record whose identity ``address`` is, or whose IRK resolves it."""
        ...


_M = TypeVar("_M")


class PayloadCodec(Protocol[_M]):
    """The seam for the application message codec (owned by the pump redesign).

    The secure link carries opaque bytes; an intake composes it with a codec:
    ``codec.decode(event.payload)`` on each :class:`ApplicationData`, and
    ``connection.send(codec.encode(message))``.
    """

    def encode(self, message: _M) -> bytes: ...

    def decode(self, payload: bytes) -> _M: ...


def _l2cap_frame(cid: int, sdu: bytes) -> bytes:
    return len(sdu).to_bytes(2, "little") + cid.to_bytes(2, "little") + sdu


class _Reassembly:
    """L2CAP basic frames segmented over START/CONTINUATION PDUs (Vol 3 Part A §3.1, §7)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._needed = 0

    @property
    def idle(self) -> bool:
        return self._needed == 0

    def take(self, llid: Llid, fragment: bytes) -> tuple[int, bytes] | None:
        """Add one verified fragment; the (CID, SDU) once complete.  DecodeError if malformed."""
        if llid is Llid.START:
            if not self.idle or len(fragment) < _L2CAP_HEADER:
                raise DecodeError("L2CAP start fragment out of place or short")
            length = int.from_bytes(fragment[:2], "little")
            if length > MAX_APPLICATION_PAYLOAD:
                raise DecodeError("L2CAP SDU too long")
            self._needed = _L2CAP_HEADER + length
            self._buffer = b""
        elif self.idle:
            raise DecodeError("L2CAP continuation without a start")
        self._buffer += fragment
        if len(self._buffer) > self._needed:
            self._needed = 0
            raise DecodeError("L2CAP fragments overrun the SDU length")
        if len(self._buffer) < self._needed:
            return None
        frame, self._buffer, self._needed = self._buffer, b"", 0
        return int.from_bytes(frame[2:4], "little"), frame[_L2CAP_HEADER:]


class _Phase(enum.Enum):
    CLEAR = "clear"  # pairing possible, waiting for encryption
    ENCRYPTING = "encrypting"  # LL_ENC_REQ/RSP exchanged, waiting for the encrypted START_ENC_RSP
    ENCRYPTED = "encrypted"
    CLOSED = "closed"


def _merge(*steps: ConnectionStep | PairingStep) -> ConnectionStep:
    send: list[bytes] = []
    events: list[Event] = []
    for step in steps:
        send.extend(step.send)
        events.extend(step.events)
    return ConnectionStep(tuple(send), tuple(events))


_REJECTED = ConnectionStep(events=(InputRejected(),))


class _Connection:
    """What both ends share: the session, L2CAP segmentation, phases."""

    _side: Side

    def __init__(
        self,
        connect_ind: ConnectInd,
        rng: RandomSource,
        now_ms: int,
        rejection_budget: int | None,
    ) -> None:
        if rejection_budget is not None and rejection_budget < 1:
            raise ValueError("the rejection budget must be at least 1 (or None)")
        self.connect_ind = connect_ind
        self._rejection_budget = rejection_budget
        self._mic_failures = 0
        self._rng = rng
        self._phase = _Phase.CLEAR
        self._session: Session | None = None
        self._reassembly = _Reassembly()
        self._peer: PairingRecord | None = None
        self._procedure_started_ms = now_ms

    @property
    def access_address(self) -> int:
        return self.connect_ind.access_address

    @property
    def crc_init(self) -> int:
        return self.connect_ind.crc_init

    @property
    def phase(self) -> str:
        return self._phase.value

    @property
    def closed(self) -> bool:
        return self._phase is _Phase.CLOSED

    @property
    def peer(self) -> PairingRecord | None:
        """The pairing record of the authenticated peer, once the session started."""
        return self._peer

    @property
    def session(self) -> Session | None:
        """The session (for its counters); None until encryption is on."""
        return self._session

    def __repr__(self) -> str:
        return f"{type(self).__name__}(phase={self._phase.value}, peer={self._peer!r})"

    def send(self, payload: bytes) -> ConnectionStep:
        """Seal one application payload for the peer (segmented as needed)."""
        if self._phase is not _Phase.ENCRYPTED or self._peer is None:
            raise ValueError(
                "application data flows only on an encrypted session with a known peer"
            )
        if len(payload) > MAX_APPLICATION_PAYLOAD:
            raise ValueError(f"an application payload is at most {MAX_APPLICATION_PAYLOAD} bytes")
        return ConnectionStep(send=self._sealed_l2cap(CID_APPLICATION, bytes(payload)))

    def close(self, error_code: int = 0x13) -> ConnectionStep:
        """End the connection from this side (LL_TERMINATE_IND, sealed if encrypted)."""
        if self._phase is _Phase.CLOSED:
            return ConnectionStep()
        terminate = TerminateInd(error_code).encode()
        if self._phase is _Phase.ENCRYPTED:
            assert self._session is not None
            pdu = self._session.seal(Llid.CONTROL, terminate)
        else:
            pdu = DataPdu(Llid.CONTROL, terminate).encode()
        self._shut()
        return ConnectionStep(send=(pdu,), events=(ConnectionClosed(),))

    def _shut(self) -> None:
        self._phase = _Phase.CLOSED
        self._session = None  # session keys live only as long as the connection
        self._on_shut()

    def _on_shut(self) -> None:
        """What else ends with the connection (a pairing in progress)."""

    def _closed_step(self, *steps: ConnectionStep | PairingStep) -> ConnectionStep:
        self._shut()
        return _merge(*steps, ConnectionStep(events=(ConnectionClosed(),)))

    def _sealed_l2cap(self, cid: int, sdu: bytes) -> tuple[bytes, ...]:
        assert self._session is not None
        frame = _l2cap_frame(cid, sdu)
        pdus = []
        for offset in range(0, len(frame), MAX_SEALED_PLAINTEXT):
            llid = Llid.START if offset == 0 else Llid.CONTINUATION
            pdus.append(self._session.seal(llid, frame[offset : offset + MAX_SEALED_PLAINTEXT]))
        return tuple(pdus)

    def _clear_smp(self, pdus: Iterable[bytes]) -> tuple[bytes, ...]:
        return tuple(DataPdu(Llid.START, _l2cap_frame(CID_SMP, pdu)).encode() for pdu in pdus)

    def _smp_out(self, step: PairingStep) -> ConnectionStep:
        """Carry a pairing step's SMP PDUs, sealed once the link is encrypted."""
        if self._phase is _Phase.ENCRYPTED:
            send = tuple(p for pdu in step.send for p in self._sealed_l2cap(CID_SMP, pdu))
        else:
            send = self._clear_smp(step.send)
        return ConnectionStep(send, step.events)

    def _clear_input(self, pdu: bytes) -> tuple[Llid, bytes] | None:
        """Parse a PDU received before encryption (unauthenticated by nature)."""
        try:
            parsed = decode_data_pdu(pdu)
        except DecodeError:
            return None
        if parsed.nesn or parsed.sn or parsed.md or not parsed.payload:
            return None
        if len(parsed.payload) > MAX_DATA_PAYLOAD:  # only a sealed PDU may be longer
            return None
        return parsed.llid, parsed.payload

    def _clear_smp_pdu(self, llid: Llid, payload: bytes) -> bytes | None:
        """The SMP PDU in an unsegmented clear L2CAP frame, if that is what this is."""
        if llid is not Llid.START or len(payload) < _L2CAP_HEADER:
            return None
        length = int.from_bytes(payload[:2], "little")
        cid = int.from_bytes(payload[2:4], "little")
        if cid != CID_SMP or length != len(payload) - _L2CAP_HEADER:
            return None
        return payload[_L2CAP_HEADER:]

    def _open(self, pdu: bytes) -> tuple[Llid, bytes] | None:
        assert self._session is not None
        try:
            return self._session.open(pdu)
        except AuthenticationError:
            return None

    def _mic_failure(self) -> ConnectionStep:
        """One sealed PDU failed: rejected, and the connection closed once the budget is spent."""
        self._mic_failures += 1
        if self._rejection_budget is None or self._mic_failures < self._rejection_budget:
            return _REJECTED
        return _merge(_REJECTED, self.close(_MIC_FAILURE))


class PumpAdvertiser:
    """The pump's advertising: an ADV_IND under an RPA that changes every 15 minutes.

    The flags say *limited discoverable* while the pairing window is open;
    nothing in the advertisement identifies the pump to anyone without its IRK.
    """

    def __init__(self, identity: Identity, rng: RandomSource = SYSTEM_RANDOM) -> None:
        self._identity = identity
        self._rng = rng
        self._rpa: DeviceAddress | None = None
        self._rpa_since_ms = 0

    def address(self, now_ms: int) -> DeviceAddress:
        """The current RPA (a new one after :data:`RPA_TIMEOUT_MS`)."""
        if self._rpa is None or now_ms - self._rpa_since_ms >= RPA_TIMEOUT_MS:
            self._rpa = self._identity.new_rpa(self._rng)
            self._rpa_since_ms = now_ms
        return self._rpa

    def advertisement(self, now_ms: int, window: PairingWindow) -> AdvInd:
        return AdvInd(self.address(now_ms), pairing_window_open=window.is_open(now_ms))

    def accepts(self, connect_ind: ConnectInd) -> bool:
        """True when a CONNECT_IND is addressed to one of this pump's RPAs."""
        return self._identity.owns(connect_ind.adv_address)


class PumpConnection(_Connection):
    """The pump's end (link-layer peripheral) of one connection.

    ``bonds`` is the pump's key store (or any :class:`BondLookup`); ``window``
    the pump's one :class:`PairingWindow`.  The pump's key panel answers a
    numeric comparison through :meth:`confirm_numeric_comparison`.  On
    :class:`PairingComplete` the intake must persist the record in the key
    store before it tells the user the device is paired.
    """

    _side = Side.PERIPHERAL

    def __init__(
        self,
        connect_ind: ConnectInd,
        *,
        identity: Identity,
        bonds: BondLookup,
        window: PairingWindow,
        now_ms: int,
        rng: RandomSource = SYSTEM_RANDOM,
        rejection_budget: int | None = REJECTION_BUDGET,
    ) -> None:
        super().__init__(connect_ind, rng, now_ms, rejection_budget)
        self._identity = identity
        self._bonds = bonds
        self._window = window
        self._pairing: PumpPairing | None = None
        self._pairing_ltk: bytes | None = None
        self._bond: PairingRecord | None = None

    def _on_shut(self) -> None:
        # A pairing cut short with its connection has failed: the window closes.
        if self._pairing is not None:
            self._pairing.abort()

    def poll(self, now_ms: int) -> ConnectionStep:
        """Time out a stalled pairing (30 s) or encryption handshake (40 s)."""
        if self._phase is _Phase.CLOSED:
            return ConnectionStep()
        if self._phase is _Phase.ENCRYPTING:
            if now_ms - self._procedure_started_ms >= LL_RESPONSE_TIMEOUT_MS:
                return self._closed_step()
            return ConnectionStep()
        if self._pairing is not None:
            step = self._pairing.poll(now_ms)
            if step.events:
                return self._closed_step(self._smp_out(step))
        return ConnectionStep()

    def confirm_numeric_comparison(self, accepted: bool) -> ConnectionStep:
        """The pump's user answered the numeric comparison."""
        if self._pairing is None:
            raise ValueError("no pairing on this connection")
        step = self._smp_out(self._pairing.confirm_numeric_comparison(accepted))
        if any(isinstance(event, PairingFailed) for event in step.events):
            return self._closed_step(step)
        return self._after_pairing(step)

    def receive(self, pdu: bytes, now_ms: int) -> ConnectionStep:
        """Take one received data PDU (after the radio's CRC check); never raises."""
        if self._phase is _Phase.CLOSED:
            return _REJECTED
        if self._phase is _Phase.CLEAR:
            return self._receive_clear(pdu, now_ms)
        opened = self._open(pdu)
        if opened is None:
            return self._mic_failure()
        llid, plaintext = opened
        if self._phase is _Phase.ENCRYPTING:
            return self._finish_encryption(llid, plaintext)
        return self._receive_encrypted(llid, plaintext, now_ms)

    def _receive_clear(self, pdu: bytes, now_ms: int) -> ConnectionStep:
        parsed = self._clear_input(pdu)
        if parsed is None:
            return _REJECTED
        llid, payload = parsed
        if llid is Llid.CONTROL:
            try:
                control = decode_control(payload)
            except DecodeError:
                return _REJECTED
            if isinstance(control, EncReq):
                return self._start_encryption(control, now_ms)
            if isinstance(control, TerminateInd):
                return self._closed_step()
            return _REJECTED
        smp = self._clear_smp_pdu(llid, payload)
        if smp is None:
            return _REJECTED
        if self._pairing is None:
            self._pairing = PumpPairing(
                self._window,
                self._identity,
                initiator_address=self.connect_ind.init_address,
                responder_address=self.connect_ind.adv_address,
                now_ms=now_ms,
                rng=self._rng,
            )
        step = self._smp_out(self._pairing.receive(smp, now_ms))
        if any(isinstance(event, PairingFailed) for event in step.events):
            return self._closed_step(step)
        return self._after_pairing(step)

    def _after_pairing(self, step: ConnectionStep) -> ConnectionStep:
        for event in step.events:
            if isinstance(event, KeysReady):
                self._pairing_ltk = event.ltk
        return step

    def _start_encryption(self, request: EncReq, now_ms: int) -> ConnectionStep:
        if self._pairing_ltk is not None:
            ltk = self._pairing_ltk
        elif self._pairing is not None:
            # Encryption requested in the middle of a pairing: that pairing
            # has failed (the window closes), and so has the connection.
            return self._closed_step(self._smp_out(self._pairing.abort()))
        else:
            bond = self._bonds.find_bond(self.connect_ind.init_address)
            # LE Secure Connections LTKs are looked up with EDIV = Rand = 0.
            if bond is not None and request.ediv == 0 and request.rand == bytes(8):
                self._bond, ltk = bond, bond.ltk
            else:
                # Unknown device: answer exactly as for a known one, with a
                # key nobody has, so its START_ENC_RSP fails like a wrong key.
                ltk = self._rng.token_bytes(16)
        response = new_enc_rsp(self._rng)
        self._session = derive_session(ltk, request, response, Side.PERIPHERAL)
        self._phase = _Phase.ENCRYPTING
        self._procedure_started_ms = now_ms
        return ConnectionStep(
            send=(
                DataPdu(Llid.CONTROL, response.encode()).encode(),
                DataPdu(Llid.CONTROL, StartEncReq().encode()).encode(),
            )
        )

    def _finish_encryption(self, llid: Llid, plaintext: bytes) -> ConnectionStep:
        # The device's first sealed PDU must be LL_START_ENC_RSP.
        if llid is not Llid.CONTROL or plaintext != StartEncRsp().encode():
            return self._closed_step()
        assert self._session is not None
        reply = self._session.seal(Llid.CONTROL, StartEncRsp().encode())
        self._phase = _Phase.ENCRYPTED
        if self._pairing_ltk is not None:
            assert self._pairing is not None
            self._pairing_ltk = None
            return _merge(
                ConnectionStep(send=(reply,)), self._smp_out(self._pairing.link_encrypted())
            )
        if self._bond is None:
            # Verified under the decoy key (a 2^-128 guess): still nobody.
            return self._closed_step()
        self._peer = self._bond
        return ConnectionStep(send=(reply,), events=(SessionStarted(self._bond),))

    def _receive_encrypted(self, llid: Llid, plaintext: bytes, now_ms: int) -> ConnectionStep:
        if llid is Llid.CONTROL:
            try:
                control = decode_control(plaintext)
            except DecodeError:
                return self._closed_step()
            if isinstance(control, TerminateInd):
                return self._closed_step()
            # Authentic, but a procedure the secure link does not run on a
            # live session (pause/refresh encryption): end the connection.
            return self._closed_step()
        try:
            message = self._reassembly.take(llid, plaintext)
        except DecodeError:
            return self._closed_step()
        if message is None:
            return ConnectionStep()
        cid, sdu = message
        if cid == CID_SMP and self._pairing is not None and self._peer is None:
            step = self._smp_out(self._pairing.receive(sdu, now_ms, encrypted=True))
            for event in step.events:
                if isinstance(event, PairingComplete):
                    self._peer = event.record
                    return _merge(step, ConnectionStep(events=(SessionStarted(event.record),)))
                if isinstance(event, PairingFailed):
                    return self._closed_step(step)
            return step
        if cid == CID_APPLICATION and self._peer is not None:
            return ConnectionStep(
                events=(ApplicationData(sdu, self._peer.peer_identity, self._peer.role),)
            )
        return self._closed_step()


class _DeviceState(enum.Enum):
    PAIRING = "pairing"
    ENC_REQUESTED = "enc_requested"  # LL_ENC_REQ sent, waiting for LL_ENC_RSP
    START_REQUESTED = "start_requested"  # LL_ENC_RSP in, waiting for LL_START_ENC_REQ
    WAIT_START_RSP = "wait_start_rsp"  # sealed START_ENC_RSP sent


class DeviceConnection(_Connection):
    """A device's end (link-layer central) of one connection to its pump.

    With ``bond`` (a :class:`PairingRecord` of the pump) it starts encryption
    at once; without one it pairs as ``role``.  Use :meth:`for_advertisement`
    to connect: it draws the device's RPA, the access address and CRCInit.
    """

    _side = Side.CENTRAL

    def __init__(
        self,
        connect_ind: ConnectInd,
        *,
        identity: Identity,
        role: Role,
        bond: PairingRecord | None,
        now_ms: int,
        rng: RandomSource = SYSTEM_RANDOM,
        static_oob: StaticOobKey | None = None,
        rejection_budget: int | None = REJECTION_BUDGET,
    ) -> None:
        super().__init__(connect_ind, rng, now_ms, rejection_budget)
        self._identity = identity
        self._role = role
        self._bond = bond
        self._static_oob = static_oob
        self._pairing: DevicePairing | None = None
        self._enc_req: EncReq | None = None
        self._ltk: bytes | None = None
        self._state = _DeviceState.PAIRING

    @classmethod
    def for_advertisement(
        cls,
        adv: AdvInd,
        *,
        identity: Identity,
        role: Role,
        bond: PairingRecord | None,
        now_ms: int,
        rng: RandomSource = SYSTEM_RANDOM,
        static_oob: StaticOobKey | None = None,
        rejection_budget: int | None = REJECTION_BUDGET,
    ) -> tuple[DeviceConnection, ConnectInd]:
        """A connection to the pump advertising ``adv``, and the CONNECT_IND to send."""
        connect_ind = ConnectInd(
            init_address=identity.new_rpa(rng),
            adv_address=adv.adv_address,
            access_address=new_access_address(rng),
            crc_init=new_crc_init(rng),
        )
        connection = cls(
            connect_ind,
            identity=identity,
            role=role,
            bond=bond,
            now_ms=now_ms,
            rng=rng,
            static_oob=static_oob,
            rejection_budget=rejection_budget,
        )
        return connection, connect_ind

    @staticmethod
    def is_my_pump(adv: AdvInd, bond: PairingRecord) -> bool:
        """True when ``adv`` comes from the pump of ``bond`` (its IRK resolves the RPA)."""
        return resolves(adv.adv_address, bond.peer_irk)

    def start(self, now_ms: int) -> ConnectionStep:
        """The first PDUs after connecting: LL_ENC_REQ if bonded, else a Pairing Request."""
        if self._bond is not None:
            return self._request_encryption(self._bond.ltk, now_ms)
        self._pairing = DevicePairing(
            self._role,
            self._identity,
            initiator_address=self.connect_ind.init_address,
            responder_address=self.connect_ind.adv_address,
            now_ms=now_ms,
            rng=self._rng,
            static_oob=self._static_oob,
        )
        return self._smp_out(self._pairing.start(now_ms))

    def _on_shut(self) -> None:
        if self._pairing is not None:
            self._pairing.abort()

    def enter_passkey(self, passkey: int) -> ConnectionStep:
        if self._pairing is None:
            raise ValueError("no pairing on this connection")
        return self._smp_out(self._pairing.enter_passkey(passkey))

    def confirm_numeric_comparison(self, accepted: bool) -> ConnectionStep:
        if self._pairing is None:
            raise ValueError("no pairing on this connection")
        step = self._smp_out(self._pairing.confirm_numeric_comparison(accepted))
        if any(isinstance(event, PairingFailed) for event in step.events):
            return self._closed_step(step)
        return step

    def poll(self, now_ms: int) -> ConnectionStep:
        if self._phase is _Phase.CLOSED:
            return ConnectionStep()
        if self._state is not _DeviceState.PAIRING:
            if (
                self._phase is not _Phase.ENCRYPTED
                and now_ms - self._procedure_started_ms >= LL_RESPONSE_TIMEOUT_MS
            ):
                return self._closed_step()
            return ConnectionStep()
        if self._pairing is not None:
            step = self._pairing.poll(now_ms)
            if step.events:
                return self._closed_step(self._smp_out(step))
        return ConnectionStep()

    def _request_encryption(self, ltk: bytes, now_ms: int) -> ConnectionStep:
        self._ltk = ltk
        self._enc_req = new_enc_req(self._rng)
        self._state = _DeviceState.ENC_REQUESTED
        self._procedure_started_ms = now_ms
        return ConnectionStep(send=(DataPdu(Llid.CONTROL, self._enc_req.encode()).encode(),))

    def receive(self, pdu: bytes, now_ms: int) -> ConnectionStep:
        """Take one data PDU from the pump; never raises."""
        if self._phase is _Phase.CLOSED:
            return _REJECTED
        if self._phase is _Phase.CLEAR:
            return self._receive_clear(pdu, now_ms)
        opened = self._open(pdu)
        if opened is None:
            return self._mic_failure()
        llid, plaintext = opened
        if self._phase is _Phase.ENCRYPTING:
            if llid is not Llid.CONTROL or plaintext != StartEncRsp().encode():
                return self._closed_step()
            self._phase = _Phase.ENCRYPTED
            if self._pairing is not None and self._bond is None:
                return self._smp_out(self._pairing.link_encrypted())
            assert self._bond is not None
            self._peer = self._bond
            return ConnectionStep(events=(SessionStarted(self._bond),))
        return self._receive_encrypted(llid, plaintext, now_ms)

    def _receive_clear(self, pdu: bytes, now_ms: int) -> ConnectionStep:
        parsed = self._clear_input(pdu)
        if parsed is None:
            return _REJECTED
        llid, payload = parsed
        if llid is Llid.CONTROL:
            try:
                control = decode_control(payload)
            except DecodeError:
                return _REJECTED
            if isinstance(control, TerminateInd):
                return self._closed_step()
            if isinstance(control, EncRsp) and self._state is _DeviceState.ENC_REQUESTED:
                assert self._ltk is not None and self._enc_req is not None
                self._session = derive_session(self._ltk, self._enc_req, control, Side.CENTRAL)
                self._state = _DeviceState.START_REQUESTED
                return ConnectionStep()
            if isinstance(control, StartEncReq) and self._state is _DeviceState.START_REQUESTED:
                assert self._session is not None
                self._state = _DeviceState.WAIT_START_RSP
                self._phase = _Phase.ENCRYPTING
                return ConnectionStep(
                    send=(self._session.seal(Llid.CONTROL, StartEncRsp().encode()),)
                )
            return _REJECTED
        smp = self._clear_smp_pdu(llid, payload)
        if smp is None or self._pairing is None or self._state is not _DeviceState.PAIRING:
            return _REJECTED
        step = self._smp_out(self._pairing.receive(smp, now_ms))
        for event in step.events:
            if isinstance(event, PairingFailed):
                return self._closed_step(step)
            if isinstance(event, KeysReady):
                return _merge(step, self._request_encryption(event.ltk, now_ms))
        return step

    def _receive_encrypted(self, llid: Llid, plaintext: bytes, now_ms: int) -> ConnectionStep:
        if llid is Llid.CONTROL:
            return self._closed_step()  # LL_TERMINATE_IND, or a procedure not run here
        try:
            message = self._reassembly.take(llid, plaintext)
        except DecodeError:
            return self._closed_step()
        if message is None:
            return ConnectionStep()
        cid, sdu = message
        if cid == CID_SMP and self._pairing is not None and self._peer is None:
            step = self._smp_out(self._pairing.receive(sdu, now_ms, encrypted=True))
            for event in step.events:
                if isinstance(event, PairingComplete):
                    self._peer = event.record
                    return _merge(step, ConnectionStep(events=(SessionStarted(event.record),)))
                if isinstance(event, PairingFailed):
                    return self._closed_step(step)
            return step
        if cid == CID_APPLICATION and self._peer is not None:
            return ConnectionStep(
                events=(ApplicationData(sdu, self._peer.peer_identity, self._peer.role),)
            )
        return self._closed_step()

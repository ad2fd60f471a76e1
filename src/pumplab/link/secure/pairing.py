"""LE Secure Connections pairing as two sans-I/O state machines.

The Security Manager Protocol of Core v5.4 Vol 3 Part H (§2.3.5.6, §3.5,
§3.6), with nothing invented and a few things forbidden:

- :class:`DevicePairing` is the *initiator* (the app, remote, meter or CGM:
  the link-layer central); :class:`PumpPairing` is the *responder* (the pump).
- Both take SMP PDUs in (the payload of L2CAP channel 0x0006) and return a
  :class:`PairingStep`: the SMP PDUs to send and the events for the user or the
  connection.  Neither does I/O, reads a clock (time is passed in) or draws
  randomness except through the injected :class:`RandomSource`.
- **One association model per role, fixed** (against method confusion,
  von Tschirschnitz et al., IEEE S&P 2021):
  :data:`~pumplab.link.secure.roles.ASSOCIATION_MODEL`.
  Numeric comparison for the controller app (and a clinician's app); passkey
  entry, with a fresh random passkey per attempt displayed on the pump and
  typed on the device, for the remote and the meter; out-of-band data for the
  CGM transmitter.  The pump derives the model from the role the user chose on
  its screen, computes the model the two IO capabilities would give by the
  specification's table (§2.3.5.1), and refuses unless they agree.  Just Works
  is never accepted, by either side.
- **Forbidden**: legacy pairing (SC bit required), pairing without MITM
  protection or without bonding, keys shorter than 128 bits (the KNOB
  downgrade), the specification's debug key, an invalid P-256 point
  (CVE-2018-5383), a peer key equal to one's own (CVE-2020-26558), keypress
  notifications.
- **The pump pairs only inside a pairing window**
  (:class:`~pumplab.link.secure.window.PairingWindow`)
  opened on its own keys for one role; any failure closes it and only the pump
  reopens it.  One pairing per opening.
- **Every failure looks the same to the peer**: one Pairing Failed PDU with
  reason 0x08 (Unspecified Reason), sent once, whatever went wrong; then the
  machine is FAILED and ignores everything.  Input that is malformed,
  unexpected or fails a check never moves a machine anywhere but FAILED, and
  never raises.
- **Keys are distributed encrypted** (phase 3, §3.6): after the DHKey checks
  the machine reports :class:`KeysReady`; the connection starts link-layer
  encryption with the new LTK and calls ``link_encrypted()``; then the pump
  sends its identity (IRK and identity address) and the device sends its own.
  The result is a :class:`PairingRecord` binding the peer's identity to the
  role, which the pump's key store persists.

The OOB trade-off (CGM): the transmitter cannot show or read anything, so its
OOB data (r and the commitment C = f4(PKx, PKx, r, 0)) is printed on it as a
QR code, scanned by the already-paired app and handed to the pump over the
app's secure session.  C commits to the transmitter's public key, so that key
pair must be *static* for the transmitter's life (docs/secure-protocol.md,
"OOB and the static key").

The PDU codec, the IO-capability table and the OOB data block are in
:mod:`pumplab.link.secure.smp`.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass, field

from pumplab.errors import AuthenticationError, DecodeError
from pumplab.link.secure.addresses import DeviceAddress, Identity
from pumplab.link.secure.crypto import (
    KeyCheck,
    KeyPair,
    PublicKey,
    check_peer_public_key,
    f4,
    f5,
    f6,
    g2,
)
from pumplab.link.secure.randomness import SYSTEM_RANDOM, RandomSource, draw_passkey
from pumplab.link.secure.roles import ASSOCIATION_MODEL, AssociationModel, Role
from pumplab.link.secure.smp import (
    AUTH_KEYPRESS,
    AUTH_REQUIRED,
    DEVICE_IO,
    KEY_DIST_ID,
    MAX_KEY_SIZE,
    PUMP_IO,
    UNSPECIFIED_REASON,
    FailedPdu,
    IdentityAddressPdu,
    IoCapability,
    PairingFeatures,
    PublicKeyPdu,
    SmpCode,
    SmpPdu,
    StaticOobKey,
    ValuePdu,
    decode_smp,
    model_for,
)
from pumplab.link.secure.window import PairingWindow, WindowGrant

__all__ = [
    "PASSKEY_ROUNDS",
    "SMP_TIMEOUT_MS",
    "DevicePairing",
    "DisplayPasskey",
    "KeysReady",
    "NumericComparison",
    "PairingComplete",
    "PairingEvent",
    "PairingFailed",
    "PairingRecord",
    "PairingStep",
    "PasskeyRequested",
    "PumpPairing",
]

#: SMP transaction timeout (Vol 3 Part H §3.4).
SMP_TIMEOUT_MS = 30_000
#: Passkey entry runs one commitment round per bit of the 20-bit passkey (§2.3.5.6.3).
PASSKEY_ROUNDS = 20


@dataclass(frozen=True, slots=True)
class PairingRecord:
    """A completed pairing: whom it binds, to which role, under which long-term key.

    On the pump, ``peer_identity``/``peer_irk`` are the device's and ``role``
    is what the user chose on the pump's screen.  On a device, they are the
    pump's, and ``role`` is the role the device was built for (the pump never
    tells it: the pump's table is the authority).  Keys never appear in
    ``repr``.
    """

    peer_identity: DeviceAddress
    peer_irk: bytes = field(repr=False)
    ltk: bytes = field(repr=False)
    role: Role = Role.CONTROLLER_APP
    model: AssociationModel = AssociationModel.NUMERIC_COMPARISON
    paired_at_ms: int = 0

    def __post_init__(self) -> None:
        if len(self.peer_irk) != 16 or len(self.ltk) != 16:
            raise ValueError("IRK and LTK are 16 bytes each")


@dataclass(frozen=True, slots=True)
class PairingEvent:
    """Base of what a pairing machine reports."""


@dataclass(frozen=True, slots=True)
class DisplayPasskey(PairingEvent):
    """The pump must show this passkey (000000-999999) on its screen now."""

    passkey: int = field(repr=False)


@dataclass(frozen=True, slots=True)
class PasskeyRequested(PairingEvent):
    """The device must ask its user to type the passkey the pump shows."""


@dataclass(frozen=True, slots=True)
class NumericComparison(PairingEvent):
    """Show this six-digit value and ask the user whether both screens agree."""

    value: int


@dataclass(frozen=True, slots=True)
class KeysReady(PairingEvent):
    """Both DHKey checks passed: start link-layer encryption with this LTK."""

    ltk: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class PairingComplete(PairingEvent):
    """Identities exchanged under encryption; persist the record before using it."""

    record: PairingRecord


@dataclass(frozen=True, slots=True)
class PairingFailed(PairingEvent):
    """Pairing is over, with no detail (the same for every cause)."""


@dataclass(frozen=True, slots=True)
class PairingStep:
    """What one input produced: SMP PDUs to send (in order) and events."""

    send: tuple[bytes, ...] = ()
    events: tuple[PairingEvent, ...] = ()


# --------------------------------------------------------------------------
# The two machines


class _State(enum.Enum):
    START = "start"
    WAIT_RESPONSE = "wait_response"
    WAIT_PUBLIC_KEY = "wait_public_key"
    WAIT_PASSKEY_INPUT = "wait_passkey_input"
    WAIT_CONFIRM = "wait_confirm"
    WAIT_RANDOM = "wait_random"
    WAIT_USER = "wait_user"
    WAIT_DHKEY_CHECK = "wait_dhkey_check"
    WAIT_ENCRYPTION = "wait_encryption"
    WAIT_PEER_IRK = "wait_peer_irk"
    WAIT_PEER_ADDRESS = "wait_peer_address"
    COMPLETE = "complete"
    FAILED = "failed"


class _Abort(Exception):
    """Internal: any check failed; becomes one opaque Pairing Failed."""


def _check(condition: bool) -> None:
    if not condition:
        raise _Abort


def _equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


class _Machine:
    """What both sides share: the common state, failure handling and key maths."""

    def __init__(
        self,
        *,
        identity: Identity,
        initiator_address: DeviceAddress,
        responder_address: DeviceAddress,
        rng: RandomSource,
        now_ms: int,
    ) -> None:
        self._identity = identity
        self._a = initiator_address.for_f5()
        self._b = responder_address.for_f5()
        self._rng = rng
        self._state = _State.START
        self._last_ms = now_ms
        self._model = AssociationModel.JUST_WORKS
        self._request: PairingFeatures | None = None
        self._response: PairingFeatures | None = None
        self._keypair: KeyPair | None = None
        self._peer_key: PublicKey | None = None
        self._dh_key = b""
        self._na = b""
        self._nb = b""
        self._peer_commitment = b""
        self._own_nonce = b""
        self._passkey: int | None = None
        self._round = 0
        self._mac_key = b""
        self._ltk = b""
        self._peer_irk = b""

    @property
    def state(self) -> str:
        """The machine's state name (for tests and displays)."""
        return self._state.value

    @property
    def failed(self) -> bool:
        return self._state is _State.FAILED

    @property
    def complete(self) -> bool:
        return self._state is _State.COMPLETE

    @property
    def model(self) -> AssociationModel:
        return self._model

    def abort(self) -> PairingStep:
        """End the pairing as failed (the connection saw something it must not)."""
        if self._state in (_State.COMPLETE, _State.FAILED):
            return PairingStep()
        return self._fail()

    def poll(self, now_ms: int) -> PairingStep:
        """Fail the pairing if no SMP PDU arrived for 30 s (§3.4)."""
        if self._state in (_State.COMPLETE, _State.FAILED, _State.START):
            return PairingStep()
        if now_ms - self._last_ms >= SMP_TIMEOUT_MS:
            return self._fail(send=False)
        return PairingStep()

    def receive(self, pdu: bytes, now_ms: int, *, encrypted: bool = False) -> PairingStep:
        """Take one SMP PDU from the peer; never raises.

        ``encrypted`` says whether it arrived on an encrypted link: phase 3 key
        distribution is accepted only encrypted, phases 1 and 2 only in the clear.
        """
        if self._state in (_State.COMPLETE, _State.FAILED):
            return PairingStep()
        try:
            message = decode_smp(pdu)
        except DecodeError:
            return self._fail()
        if isinstance(message, FailedPdu):
            return self._fail(send=False)
        phase3 = self._state in (_State.WAIT_PEER_IRK, _State.WAIT_PEER_ADDRESS)
        if encrypted != phase3:
            return self._fail()
        self._last_ms = now_ms
        try:
            return self._handle(message, now_ms)
        except (_Abort, AuthenticationError):
            return self._fail()

    def _handle(self, message: SmpPdu, now_ms: int) -> PairingStep:
        raise NotImplementedError

    def _fail(self, *, send: bool = True) -> PairingStep:
        if self._state is _State.FAILED:
            return PairingStep()
        self._state = _State.FAILED
        self._forget()
        return PairingStep(
            send=(FailedPdu(UNSPECIFIED_REASON).encode(),) if send else (),
            events=(PairingFailed(),),
        )

    def _forget(self) -> None:
        self._keypair = None
        self._dh_key = self._mac_key = self._ltk = b""
        self._passkey = None

    # -- shared key maths

    def _own_public(self) -> PublicKey:
        assert self._keypair is not None
        return self._keypair.public

    def _take_peer_key(self, key: PublicKey) -> None:
        assert self._keypair is not None
        _check(check_peer_public_key(key, self._keypair.public) == KeyCheck.OK)
        self._peer_key = key
        self._dh_key = self._keypair.dh_key(key)

    def _pka(self) -> bytes:
        raise NotImplementedError

    def _pkb(self) -> bytes:
        raise NotImplementedError

    def _passkey_z(self) -> int:
        assert self._passkey is not None
        return 0x80 | ((self._passkey >> self._round) & 1)

    def _derive_keys(self, ra: bytes, rb: bytes) -> tuple[bytes, bytes]:
        """MacKey/LTK (f5) and the two DHKey checks Ea, Eb (f6), §2.3.5.6.5."""
        assert self._request is not None and self._response is not None
        self._mac_key, self._ltk = f5(self._dh_key, self._na, self._nb, self._a, self._b)
        ea = f6(
            self._mac_key, self._na, self._nb, rb, self._request.io_cap_octets(), self._a, self._b
        )
        eb = f6(
            self._mac_key, self._nb, self._na, ra, self._response.io_cap_octets(), self._b, self._a
        )
        return ea, eb

    def _check_r(self) -> tuple[bytes, bytes]:
        """(ra, rb) for f6: zero, the passkey, or the OOB r (§2.3.5.6.5)."""
        if self._model is AssociationModel.PASSKEY_ENTRY:
            assert self._passkey is not None
            r = self._passkey.to_bytes(16, "big")
            return r, r
        return bytes(16), bytes(16)

    def _identity_pdus(self) -> tuple[bytes, ...]:
        return (
            ValuePdu(SmpCode.IDENTITY_INFORMATION, self._identity.irk).encode(),
            IdentityAddressPdu(self._identity.address).encode(),
        )

    def _take_peer_identity(self, message: SmpPdu) -> DeviceAddress | None:
        """Phase 3 input; returns the peer's identity address once both PDUs are in."""
        if self._state is _State.WAIT_PEER_IRK:
            _check(isinstance(message, ValuePdu) and message.code is SmpCode.IDENTITY_INFORMATION)
            assert isinstance(message, ValuePdu)
            self._peer_irk = message.value
            self._state = _State.WAIT_PEER_ADDRESS
            return None
        _check(self._state is _State.WAIT_PEER_ADDRESS and isinstance(message, IdentityAddressPdu))
        assert isinstance(message, IdentityAddressPdu)
        address = message.address
        _check(address.kind in ("public", "static"))
        return address


class PumpPairing(_Machine):
    """The pump's side (responder) of one pairing attempt on one connection.

    Construct it when a connection starts; feed it the SMP PDUs the device
    sends.  It takes the :class:`PairingWindow` when the Pairing Request
    arrives and refuses (one opaque Pairing Failed) if the window is not open.
    For numeric comparison the pump's user answers through
    :meth:`confirm_numeric_comparison`.
    """

    def __init__(
        self,
        window: PairingWindow,
        identity: Identity,
        *,
        initiator_address: DeviceAddress,
        responder_address: DeviceAddress,
        now_ms: int,
        rng: RandomSource = SYSTEM_RANDOM,
    ) -> None:
        super().__init__(
            identity=identity,
            initiator_address=initiator_address,
            responder_address=responder_address,
            rng=rng,
            now_ms=now_ms,
        )
        self._window = window
        self._grant: WindowGrant | None = None
        self._pending_ea = b""
        self._ea = b""
        self._eb = b""
        self._paired_at_ms = now_ms

    @property
    def role(self) -> Role | None:
        """The role this attempt will bind (the window's), once it has started."""
        return None if self._grant is None else self._grant.role

    def _pka(self) -> bytes:
        assert self._peer_key is not None
        return self._peer_key.x

    def _pkb(self) -> bytes:
        return self._own_public().x

    def _fail(self, *, send: bool = True) -> PairingStep:
        if self._grant is not None:
            self._window.release(self._grant)
        elif self._state is not _State.FAILED:
            # A request with no window, or outside it: the window stays (or
            # becomes) closed; only the pump reopens it.
            self._window.close()
        return super()._fail(send=send)

    def receive(self, pdu: bytes, now_ms: int, *, encrypted: bool = False) -> PairingStep:
        if (
            self._grant is not None
            and self._state not in (_State.COMPLETE, _State.FAILED)
            and not self._window.holds(self._grant)
        ):
            # The window was closed under us (the user, or a second attempt).
            return self._fail()
        return super().receive(pdu, now_ms, encrypted=encrypted)

    def confirm_numeric_comparison(self, accepted: bool) -> PairingStep:
        """The pump's user says whether the two six-digit values agree."""
        if self._state in (_State.COMPLETE, _State.FAILED):
            return PairingStep()
        if self._state is not _State.WAIT_USER:
            raise ValueError("no numeric comparison is waiting for the user")
        if not accepted:
            return self._fail()
        if self._pending_ea:
            try:
                return self._answer_dhkey_check(self._pending_ea)
            except _Abort:
                return self._fail()
        self._state = _State.WAIT_DHKEY_CHECK
        return PairingStep()

    def link_encrypted(self) -> PairingStep:
        """The connection runs encrypted under the new LTK: distribute our identity."""
        if self._state is not _State.WAIT_ENCRYPTION:
            raise ValueError("link_encrypted() only follows KeysReady")
        self._state = _State.WAIT_PEER_IRK
        return PairingStep(send=self._identity_pdus())

    def _handle(self, message: SmpPdu, now_ms: int) -> PairingStep:
        state = self._state
        if state is _State.START:
            _check(isinstance(message, PairingFeatures))
            assert isinstance(message, PairingFeatures)
            return self._on_request(message, now_ms)
        if state is _State.WAIT_PUBLIC_KEY:
            _check(isinstance(message, PublicKeyPdu))
            assert isinstance(message, PublicKeyPdu)
            return self._on_public_key(message.key)
        if state in (_State.WAIT_CONFIRM, _State.WAIT_RANDOM, _State.WAIT_DHKEY_CHECK):
            _check(isinstance(message, ValuePdu))
            assert isinstance(message, ValuePdu)
            return self._on_value(message)
        if state is _State.WAIT_USER:
            # The device's user answered first: keep its check until ours does.
            _check(isinstance(message, ValuePdu) and message.code is SmpCode.PAIRING_DHKEY_CHECK)
            _check(not self._pending_ea)
            assert isinstance(message, ValuePdu)
            self._pending_ea = message.value
            return PairingStep()
        if state in (_State.WAIT_PEER_IRK, _State.WAIT_PEER_ADDRESS):
            address = self._take_peer_identity(message)
            if address is None:
                return PairingStep()
            return self._complete(address)
        raise _Abort

    def _on_request(self, request: PairingFeatures, now_ms: int) -> PairingStep:
        _check(request.code is SmpCode.PAIRING_REQUEST)
        grant = self._window.claim(now_ms)
        if grant is None:
            raise _Abort
        self._grant = grant
        model = ASSOCIATION_MODEL[grant.role]
        pump_io = PUMP_IO[model]
        oob_flag = 1 if model is AssociationModel.OUT_OF_BAND else 0
        # The request must ask for exactly what this role's model needs.
        _check(request.auth_req & AUTH_REQUIRED == AUTH_REQUIRED)
        _check(request.auth_req & AUTH_KEYPRESS == 0)
        _check(request.max_key_size == MAX_KEY_SIZE)
        _check(bool(request.initiator_keys & request.responder_keys & KEY_DIST_ID))
        _check(request.oob_flag == 0)  # the pump never gives OOB data to a device
        try:
            device_io = IoCapability(request.io_capability)
        except ValueError:
            raise _Abort from None
        _check(model_for(device_io, pump_io, bool(oob_flag)) is model)
        self._model = model
        self._request = request
        self._response = PairingFeatures(
            SmpCode.PAIRING_RESPONSE,
            pump_io,
            oob_flag,
            AUTH_REQUIRED,
            MAX_KEY_SIZE,
            KEY_DIST_ID,
            KEY_DIST_ID,
        )
        self._keypair = KeyPair.generate(self._rng)
        self._paired_at_ms = now_ms
        self._state = _State.WAIT_PUBLIC_KEY
        return PairingStep(send=(self._response.encode(),))

    def _on_public_key(self, key: PublicKey) -> PairingStep:
        self._take_peer_key(key)
        send: list[bytes] = [PublicKeyPdu(self._own_public()).encode()]
        events: list[PairingEvent] = []
        if self._model is AssociationModel.NUMERIC_COMPARISON:
            self._nb = self._rng.token_bytes(16)
            send.append(
                ValuePdu(
                    SmpCode.PAIRING_CONFIRM, f4(self._pkb(), self._pka(), self._nb, 0)
                ).encode()
            )
            self._state = _State.WAIT_RANDOM
        elif self._model is AssociationModel.PASSKEY_ENTRY:
            # A fresh passkey for every attempt (§2.3.5.6.3 allows a static
            # one; a fresh one is what makes a guess succeed with 1e-6).
            self._passkey = draw_passkey(self._rng)
            events.append(DisplayPasskey(self._passkey))
            self._round = 0
            self._state = _State.WAIT_CONFIRM
        else:
            assert self._grant is not None and self._grant.oob is not None
            oob = self._grant.oob
            # The device's public key must be the one the printed C commits to.
            _check(_equal(f4(self._pka(), self._pka(), oob.r, 0), oob.c))
            self._state = _State.WAIT_RANDOM
        return PairingStep(send=tuple(send), events=tuple(events))

    def _on_value(self, message: ValuePdu) -> PairingStep:
        code, value = message.code, message.value
        if self._state is _State.WAIT_CONFIRM:
            # Passkey entry, round i: the device commits first.
            _check(code is SmpCode.PAIRING_CONFIRM)
            self._peer_commitment = value
            self._own_nonce = self._rng.token_bytes(16)
            cb = f4(self._pkb(), self._pka(), self._own_nonce, self._passkey_z())
            self._state = _State.WAIT_RANDOM
            return PairingStep(send=(ValuePdu(SmpCode.PAIRING_CONFIRM, cb).encode(),))
        if self._state is _State.WAIT_RANDOM:
            _check(code is SmpCode.PAIRING_RANDOM)
            return self._on_random(value)
        _check(code is SmpCode.PAIRING_DHKEY_CHECK)
        return self._answer_dhkey_check(value)

    def _on_random(self, na: bytes) -> PairingStep:
        if self._model is AssociationModel.PASSKEY_ENTRY:
            z = self._passkey_z()
            _check(_equal(f4(self._pka(), self._pkb(), na, z), self._peer_commitment))
            nb = self._own_nonce
            self._round += 1
            send = (ValuePdu(SmpCode.PAIRING_RANDOM, nb).encode(),)
            if self._round < PASSKEY_ROUNDS:
                self._state = _State.WAIT_CONFIRM
                return PairingStep(send=send)
            self._na, self._nb = na, nb
            self._state = _State.WAIT_DHKEY_CHECK
            self._ea, self._eb = self._derive_keys(*self._check_r())
            return PairingStep(send=send)
        if self._model is AssociationModel.OUT_OF_BAND:
            self._na, self._nb = na, self._rng.token_bytes(16)
            assert self._grant is not None and self._grant.oob is not None
            # ra: the device's r we received out of band; rb: 0, since the
            # pump gave the device no OOB data (§2.3.5.6.4).
            self._ea, self._eb = self._derive_keys(self._grant.oob.r, bytes(16))
            self._state = _State.WAIT_DHKEY_CHECK
            return PairingStep(send=(ValuePdu(SmpCode.PAIRING_RANDOM, self._nb).encode(),))
        # Numeric comparison.
        self._na = na
        self._ea, self._eb = self._derive_keys(bytes(16), bytes(16))
        value = g2(self._pka(), self._pkb(), self._na, self._nb) % 1_000_000
        self._state = _State.WAIT_USER
        return PairingStep(
            send=(ValuePdu(SmpCode.PAIRING_RANDOM, self._nb).encode(),),
            events=(NumericComparison(value),),
        )

    def _answer_dhkey_check(self, ea: bytes) -> PairingStep:
        _check(_equal(ea, self._ea))
        self._state = _State.WAIT_ENCRYPTION
        return PairingStep(
            send=(ValuePdu(SmpCode.PAIRING_DHKEY_CHECK, self._eb).encode(),),
            events=(KeysReady(self._ltk),),
        )

    def _complete(self, address: DeviceAddress) -> PairingStep:
        assert self._grant is not None
        if self._grant.oob is not None:
            # The CGM's identity must be the one printed with its OOB data.
            _check(address == self._grant.oob.address)
        record = PairingRecord(
            peer_identity=address,
            peer_irk=self._peer_irk,
            ltk=self._ltk,
            role=self._grant.role,
            model=self._model,
            paired_at_ms=self._paired_at_ms,
        )
        self._window.release(self._grant)
        self._state = _State.COMPLETE
        self._forget()
        return PairingStep(events=(PairingComplete(record),))


class DevicePairing(_Machine):
    """A device's side (initiator) of one pairing with a pump.

    ``role`` is the role the device is built for; it fixes the association
    model and the IO capabilities the device announces.  A CGM passes its
    :class:`StaticOobKey`; every other device uses a fresh key pair.
    """

    def __init__(
        self,
        role: Role,
        identity: Identity,
        *,
        initiator_address: DeviceAddress,
        responder_address: DeviceAddress,
        now_ms: int,
        rng: RandomSource = SYSTEM_RANDOM,
        static_oob: StaticOobKey | None = None,
    ) -> None:
        super().__init__(
            identity=identity,
            initiator_address=initiator_address,
            responder_address=responder_address,
            rng=rng,
            now_ms=now_ms,
        )
        if (role is Role.CGM) != (static_oob is not None):
            raise ValueError("a CGM pairs with its static OOB key, and only a CGM does")
        self._role = role
        self._model = ASSOCIATION_MODEL[role]
        self._static_oob = static_oob
        self._ea = b""
        self._eb = b""
        self._pump_identity: DeviceAddress | None = None
        self._paired_at_ms = now_ms

    def _pka(self) -> bytes:
        return self._own_public().x

    def _pkb(self) -> bytes:
        assert self._peer_key is not None
        return self._peer_key.x

    def start(self, now_ms: int) -> PairingStep:
        """Send the Pairing Request."""
        if self._state is not _State.START:
            raise ValueError("pairing already started")
        self._request = PairingFeatures(
            SmpCode.PAIRING_REQUEST,
            DEVICE_IO[self._model],
            0,
            AUTH_REQUIRED,
            MAX_KEY_SIZE,
            KEY_DIST_ID,
            KEY_DIST_ID,
        )
        self._last_ms = self._paired_at_ms = now_ms
        self._state = _State.WAIT_RESPONSE
        return PairingStep(send=(self._request.encode(),))

    def enter_passkey(self, passkey: int) -> PairingStep:
        """The device's user typed the passkey the pump shows."""
        if self._state is not _State.WAIT_PASSKEY_INPUT:
            raise ValueError("no passkey is being asked for")
        if not 0 <= passkey <= 999_999:
            raise ValueError(f"a passkey is 000000-999999, got {passkey}")
        self._passkey = passkey
        self._round = 0
        return self._commit_round()

    def confirm_numeric_comparison(self, accepted: bool) -> PairingStep:
        """The device's user says whether the two six-digit values agree."""
        if self._state is not _State.WAIT_USER:
            raise ValueError("no numeric comparison is waiting for the user")
        if not accepted:
            return self._fail()
        self._state = _State.WAIT_DHKEY_CHECK
        return PairingStep(send=(ValuePdu(SmpCode.PAIRING_DHKEY_CHECK, self._ea).encode(),))

    def link_encrypted(self) -> PairingStep:
        """The connection runs encrypted under the new LTK: await the pump's identity."""
        if self._state is not _State.WAIT_ENCRYPTION:
            raise ValueError("link_encrypted() only follows KeysReady")
        self._state = _State.WAIT_PEER_IRK
        return PairingStep()

    def _commit_round(self) -> PairingStep:
        self._own_nonce = self._rng.token_bytes(16)
        ca = f4(self._pka(), self._pkb(), self._own_nonce, self._passkey_z())
        self._state = _State.WAIT_CONFIRM
        return PairingStep(send=(ValuePdu(SmpCode.PAIRING_CONFIRM, ca).encode(),))

    def _handle(self, message: SmpPdu, now_ms: int) -> PairingStep:
        state = self._state
        if state is _State.WAIT_RESPONSE:
            _check(isinstance(message, PairingFeatures))
            assert isinstance(message, PairingFeatures)
            return self._on_response(message)
        if state is _State.WAIT_PUBLIC_KEY:
            _check(isinstance(message, PublicKeyPdu))
            assert isinstance(message, PublicKeyPdu)
            return self._on_public_key(message.key)
        if state in (_State.WAIT_CONFIRM, _State.WAIT_RANDOM, _State.WAIT_DHKEY_CHECK):
            _check(isinstance(message, ValuePdu))
            assert isinstance(message, ValuePdu)
            return self._on_value(message)
        if state in (_State.WAIT_PEER_IRK, _State.WAIT_PEER_ADDRESS):
            address = self._take_peer_identity(message)
            if address is None:
                return PairingStep()
            record = PairingRecord(
                peer_identity=address,
                peer_irk=self._peer_irk,
                ltk=self._ltk,
                role=self._role,
                model=self._model,
                paired_at_ms=self._paired_at_ms,
            )
            self._state = _State.COMPLETE
            self._forget()
            return PairingStep(send=self._identity_pdus(), events=(PairingComplete(record),))
        # WAIT_PASSKEY_INPUT, WAIT_USER, WAIT_ENCRYPTION: the pump must wait.
        raise _Abort

    def _on_response(self, response: PairingFeatures) -> PairingStep:
        _check(response.code is SmpCode.PAIRING_RESPONSE)
        _check(response.auth_req & AUTH_REQUIRED == AUTH_REQUIRED)
        _check(response.auth_req & AUTH_KEYPRESS == 0)
        _check(response.max_key_size == MAX_KEY_SIZE)
        _check(response.initiator_keys == KEY_DIST_ID and response.responder_keys == KEY_DIST_ID)
        try:
            pump_io = IoCapability(response.io_capability)
        except ValueError:
            raise _Abort from None
        assert self._request is not None
        device_io = IoCapability(self._request.io_capability)
        # Never let the pump (or someone pretending to be it) pick the model.
        _check(model_for(device_io, pump_io, bool(response.oob_flag)) is self._model)
        self._response = response
        self._keypair = (
            self._static_oob.keypair
            if self._static_oob is not None
            else KeyPair.generate(self._rng)
        )
        self._state = _State.WAIT_PUBLIC_KEY
        return PairingStep(send=(PublicKeyPdu(self._own_public()).encode(),))

    def _on_public_key(self, key: PublicKey) -> PairingStep:
        self._take_peer_key(key)
        if self._model is AssociationModel.NUMERIC_COMPARISON:
            self._state = _State.WAIT_CONFIRM
            return PairingStep()
        if self._model is AssociationModel.PASSKEY_ENTRY:
            self._state = _State.WAIT_PASSKEY_INPUT
            return PairingStep(events=(PasskeyRequested(),))
        self._na = self._rng.token_bytes(16)
        self._state = _State.WAIT_RANDOM
        return PairingStep(send=(ValuePdu(SmpCode.PAIRING_RANDOM, self._na).encode(),))

    def _on_value(self, message: ValuePdu) -> PairingStep:
        code, value = message.code, message.value
        if self._state is _State.WAIT_CONFIRM:
            _check(code is SmpCode.PAIRING_CONFIRM)
            self._peer_commitment = value
            if self._model is AssociationModel.NUMERIC_COMPARISON:
                self._na = self._rng.token_bytes(16)
                self._own_nonce = self._na
            self._state = _State.WAIT_RANDOM
            return PairingStep(send=(ValuePdu(SmpCode.PAIRING_RANDOM, self._own_nonce).encode(),))
        if self._state is _State.WAIT_RANDOM:
            _check(code is SmpCode.PAIRING_RANDOM)
            return self._on_random(value)
        _check(code is SmpCode.PAIRING_DHKEY_CHECK)
        _check(_equal(value, self._eb))
        self._state = _State.WAIT_ENCRYPTION
        return PairingStep(events=(KeysReady(self._ltk),))

    def _on_random(self, nb: bytes) -> PairingStep:
        if self._model is AssociationModel.PASSKEY_ENTRY:
            _check(
                _equal(f4(self._pkb(), self._pka(), nb, self._passkey_z()), self._peer_commitment)
            )
            self._round += 1
            if self._round < PASSKEY_ROUNDS:
                return self._commit_round()
            self._na, self._nb = self._own_nonce, nb
            self._ea, self._eb = self._derive_keys(*self._check_r())
            self._state = _State.WAIT_DHKEY_CHECK
            return PairingStep(send=(ValuePdu(SmpCode.PAIRING_DHKEY_CHECK, self._ea).encode(),))
        self._nb = nb
        if self._model is AssociationModel.OUT_OF_BAND:
            assert self._static_oob is not None
            # ra: our own r (the pump has it from the label); rb: 0, the pump
            # gave us no OOB data (§2.3.5.6.4).
            self._ea, self._eb = self._derive_keys(self._static_oob.r, bytes(16))
            self._state = _State.WAIT_DHKEY_CHECK
            return PairingStep(send=(ValuePdu(SmpCode.PAIRING_DHKEY_CHECK, self._ea).encode(),))
        # Numeric comparison: the pump's nonce must open its commitment.
        _check(_equal(f4(self._pkb(), self._pka(), nb, 0), self._peer_commitment))
        self._ea, self._eb = self._derive_keys(bytes(16), bytes(16))
        value = g2(self._pka(), self._pkb(), self._na, self._nb) % 1_000_000
        self._state = _State.WAIT_USER
        return PairingStep(events=(NumericComparison(value),))

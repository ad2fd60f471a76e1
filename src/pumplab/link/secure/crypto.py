"""The Bluetooth Core specification's security functions, on pyca primitives.

Nothing here is invented: each function is the specification's own
construction, computed with the ``cryptography`` package's AES, AES-CMAC,
AES-CCM and P-256 ECDH, and checked in the tests against the specification's
sample data.

- LE Secure Connections pairing (Core v5.4, Vol 3 Part H §2.2): the security
  function :func:`e` (§2.2.1), the random address hash :func:`ah` (§2.2.2),
  :func:`aes_cmac` (§2.2.5, RFC 4493), :func:`f4` (§2.2.6), :func:`f5`
  (§2.2.7), :func:`f6` (§2.2.8), :func:`g2` (§2.2.9), :func:`h6` (§2.2.10) and
  :func:`h7` (§2.2.11).  Known-answer vectors: Vol 3 Part H Appendix D.
- P-256 keys for pairing (Vol 3 Part H §2.3.5.6.1), with the checks a receiver
  must make on a peer's public key: on the curve and not the point at infinity
  (CVE-2018-5383, the "invalid curve" attack), not equal to one's own key
  (CVE-2020-26558, the passkey-entry reflection attack), not the
  specification's published debug key.
- Link-layer encryption (Vol 6 Part B §5.1.3.1 and Vol 6 Part E §1-2): the
  session key SK = e(LTK, SKD), the AES-CCM nonce from the 39-bit packet
  counter, the direction bit and the IV, and the encryption of a data PDU
  (4-octet MIC, 1-octet additional data: the header's first octet with NESN,
  SN and MD masked).  Sample data: Vol 6 Part C §1.

**Byte order.**  The specification prints every value most significant octet
first, and so does this module: every ``bytes`` argument and result here is in
*specification order* (MSB first), exactly as the value is printed in
Appendix D, which is also the order AES, CMAC and the P-256 big-endian
encodings use.  On the air, multi-octet fields of SMP and link-layer PDUs are
sent least significant octet first; the PDU codecs (``pairing``, ``session``)
reverse them explicitly at that boundary (:func:`to_wire` / :func:`from_wire`)
and nowhere else.

What this module deliberately does not do: keep state, read a clock, draw
randomness except through an injected :class:`RandomSource`, or implement any
primitive itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from pumplab.errors import AuthenticationError
from pumplab.link.secure.randomness import SYSTEM_RANDOM, RandomSource

__all__ = [
    "DEBUG_PRIVATE_KEY",
    "DEBUG_PUBLIC_KEY",
    "DIRECTION_CENTRAL_TO_PERIPHERAL",
    "DIRECTION_PERIPHERAL_TO_CENTRAL",
    "MAX_PACKET_COUNTER",
    "MIC_LEN",
    "KeyCheck",
    "KeyPair",
    "PublicKey",
    "aes_cmac",
    "ah",
    "ccm_nonce",
    "check_peer_public_key",
    "e",
    "f4",
    "f5",
    "f6",
    "from_wire",
    "g2",
    "h6",
    "h7",
    "ll_aad",
    "ll_decrypt",
    "ll_encrypt",
    "session_iv",
    "session_key",
    "to_wire",
]

# P-256 domain parameters (FIPS 186-4 §D.1.2.3; Core Vol 3 Part H §2.3.5.6.1
# names this curve for LE Secure Connections).
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

#: The 4-octet message integrity check of an encrypted link-layer PDU
#: (Vol 6 Part E §2.2: CCM with M = 4).
MIC_LEN = 4
#: The packet counter is 39 bits (Vol 6 Part E §2.2); it must never wrap.
MAX_PACKET_COUNTER = (1 << 39) - 1
#: Direction bit of the CCM nonce (Vol 6 Part E §2.2): 1 for a PDU the central
#: sends, 0 for one the peripheral sends.  In pumplab the device (app, remote,
#: meter, CGM) is the central and the pump the peripheral.
DIRECTION_CENTRAL_TO_PERIPHERAL = 1
DIRECTION_PERIPHERAL_TO_CENTRAL = 0

# f5's SALT and keyID (Vol 3 Part H §2.2.7), specification order.
_F5_SALT = bytes.fromhex("6C888391AAF5A53860370BDB5A6083BE")
_F5_KEY_ID = bytes.fromhex("62746C65")  # "btle"
_F5_LENGTH = bytes.fromhex("0100")  # 256: MacKey || LTK

# The header bits CCM does not authenticate (Vol 6 Part E §2.2: "NESN, SN and
# MD ... masked to zero" in the additional authenticated data).
_AAD_MASK = 0xE3


def to_wire(value: bytes) -> bytes:
    """Specification order (MSB first) to air order (LSB first)."""
    return value[::-1]


def from_wire(value: bytes) -> bytes:
    """Air order (LSB first) to specification order (MSB first)."""
    return value[::-1]


def _need(name: str, value: bytes, length: int) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ValueError(f"{name} must be {length} bytes, got {got}")


# --------------------------------------------------------------------------
# The primitives (Vol 3 Part H §2.2.1, §2.2.5)


def e(key: bytes, plaintext: bytes) -> bytes:
    """Security function e: AES-128 of one block (Vol 3 Part H §2.2.1).

    With both arguments in specification order this is plain AES-128-ECB
    (FIPS-197): the specification's "most significant octet of key corresponds
    to key[0]" convention is exactly the MSB-first order used here.
    """
    _need("key", key, 16)
    _need("plaintext", plaintext, 16)
    encryptor = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()
    return encryptor.update(bytes(plaintext)) + encryptor.finalize()


def aes_cmac(key: bytes, message: bytes) -> bytes:
    """AES-CMAC with a 128-bit key (RFC 4493; Vol 3 Part H §2.2.5)."""
    _need("key", key, 16)
    mac = cmac.CMAC(algorithms.AES(bytes(key)))
    mac.update(bytes(message))
    return mac.finalize()


# --------------------------------------------------------------------------
# LE Secure Connections functions (Vol 3 Part H §2.2.6 - §2.2.11)


def f4(u: bytes, v: bytes, x: bytes, z: int) -> bytes:
    """Confirm value: f4(U, V, X, Z) = AES-CMAC_X(U || V || Z) (§2.2.6).

    ``u``, ``v``: 32-byte public-key x-coordinates; ``x``: 16-byte nonce (the
    key); ``z``: one octet (0 for numeric comparison and OOB, 0x80 | bit for
    passkey entry).
    """
    _need("u", u, 32)
    _need("v", v, 32)
    _need("x", x, 16)
    if not 0 <= z <= 0xFF:
        raise ValueError(f"z must be one octet, got {z}")
    return aes_cmac(x, bytes(u) + bytes(v) + bytes([z]))


def f5(w: bytes, n1: bytes, n2: bytes, a1: bytes, a2: bytes) -> tuple[bytes, bytes]:
    """Key generation: (MacKey, LTK) = f5(W, N1, N2, A1, A2) (§2.2.7).

    ``w``: the 32-byte DHKey; ``n1``, ``n2``: 16-byte nonces; ``a1``, ``a2``:
    7-byte addresses (type octet, then the 48-bit address).
    """
    _need("w", w, 32)
    _need("n1", n1, 16)
    _need("n2", n2, 16)
    _need("a1", a1, 7)
    _need("a2", a2, 7)
    t = aes_cmac(_F5_SALT, bytes(w))
    body = _F5_KEY_ID + bytes(n1) + bytes(n2) + bytes(a1) + bytes(a2) + _F5_LENGTH
    return aes_cmac(t, b"\x00" + body), aes_cmac(t, b"\x01" + body)


def f6(w: bytes, n1: bytes, n2: bytes, r: bytes, io_cap: bytes, a1: bytes, a2: bytes) -> bytes:
    """DHKey check: f6(W, N1, N2, R, IOcap, A1, A2) (§2.2.8).

    ``w``: the 16-byte MacKey; ``r``: 16 bytes (passkey, OOB r, or zero);
    ``io_cap``: 3 octets, AuthReq || OOB data flag || IO capability.
    """
    _need("w", w, 16)
    _need("n1", n1, 16)
    _need("n2", n2, 16)
    _need("r", r, 16)
    _need("io_cap", io_cap, 3)
    _need("a1", a1, 7)
    _need("a2", a2, 7)
    return aes_cmac(w, bytes(n1) + bytes(n2) + bytes(r) + bytes(io_cap) + bytes(a1) + bytes(a2))


def g2(u: bytes, v: bytes, x: bytes, y: bytes) -> int:
    """Numeric comparison value: g2(U, V, X, Y) mod 2^32 (§2.2.9).

    The six digits shown to the user are ``g2(...) % 1_000_000``.
    """
    _need("u", u, 32)
    _need("v", v, 32)
    _need("x", x, 16)
    _need("y", y, 16)
    return int.from_bytes(aes_cmac(x, bytes(u) + bytes(v) + bytes(y))[-4:], "big")


def h6(w: bytes, key_id: bytes) -> bytes:
    """Link key conversion: h6(W, keyID) = AES-CMAC_W(keyID) (§2.2.10)."""
    _need("w", w, 16)
    _need("key_id", key_id, 4)
    return aes_cmac(w, bytes(key_id))


def h7(salt: bytes, w: bytes) -> bytes:
    """Link key conversion with a salt: h7(SALT, W) = AES-CMAC_SALT(W) (§2.2.11)."""
    _need("salt", salt, 16)
    _need("w", w, 16)
    return aes_cmac(salt, bytes(w))


def ah(irk: bytes, prand: bytes) -> bytes:
    """Random address hash: ah(k, r) = e(k, r') mod 2^24 (§2.2.2).

    ``prand``: 3 bytes; r' is ``prand`` padded with 13 zero octets on the
    most significant side.
    """
    _need("irk", irk, 16)
    _need("prand", prand, 3)
    return e(irk, bytes(13) + bytes(prand))[-3:]


# --------------------------------------------------------------------------
# P-256 (Vol 3 Part H §2.3.5.6.1)


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A P-256 public key as two 32-byte coordinates in specification order."""

    x: bytes
    y: bytes

    def __post_init__(self) -> None:
        _need("x", self.x, 32)
        _need("y", self.y, 32)


#: The specification's debug key pair (Vol 3 Part H §2.3.5.6.1).  A device in
#: "debug mode" uses it so a sniffer can decrypt the link; a pump must never
#: accept it from a peer, since its private key is public.
DEBUG_PRIVATE_KEY = bytes.fromhex(
    "3f49f6d4a3c55f3874c9b3e3d2103f504aff607beb40b7995899b8a6cd3c1abd"
)
DEBUG_PUBLIC_KEY = PublicKey(
    x=bytes.fromhex("20b003d2f297be2c5e2c83a7e9f9a5b9eff49111acf4fddbcc0301480e359de6"),
    y=bytes.fromhex("dc809c49652aeb6d63329abf5a52155c766345c28fed3024741c8ed01589d28b"),
)


class KeyCheck:
    """Why a peer's public key is refused (or :attr:`OK`).  Plain string constants."""

    OK = "ok"
    OUT_OF_RANGE = "coordinate not below p"
    INFINITY = "point at infinity"
    OFF_CURVE = "not on P-256"
    DEBUG_KEY = "the specification's debug key"
    REFLECTED = "equal to our own public key"


def check_peer_public_key(peer: PublicKey, own: PublicKey | None) -> str:
    """Check a peer's P-256 public key before any use; return a :class:`KeyCheck`.

    The checks, in order: each coordinate below p; not the all-zero encoding
    of the point at infinity; y² = x³ − 3x + b (mod p), the check whose absence
    is CVE-2018-5383; not the debug key; not equal to ``own`` (CVE-2020-26558).
    The curve check is done here explicitly, not left to the library, so the
    rule is visible and tested on its own.
    """
    x = int.from_bytes(peer.x, "big")
    y = int.from_bytes(peer.y, "big")
    if x >= _P or y >= _P:
        return KeyCheck.OUT_OF_RANGE
    if x == 0 and y == 0:
        return KeyCheck.INFINITY
    if (y * y - (x * x * x + _A * x + _B)) % _P != 0:
        return KeyCheck.OFF_CURVE
    if peer == DEBUG_PUBLIC_KEY:
        return KeyCheck.DEBUG_KEY
    if own is not None and peer == own:
        return KeyCheck.REFLECTED
    return KeyCheck.OK


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A P-256 key pair for one pairing attempt (or, for a CGM, its static pair)."""

    public: PublicKey
    _private: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)

    @classmethod
    def generate(cls, rng: RandomSource = SYSTEM_RANDOM) -> KeyPair:
        """A fresh key pair; the private scalar is uniform in [1, n − 1]."""
        return cls.from_private_value(rng.randbelow(_N - 1) + 1)

    @classmethod
    def from_private_bytes(cls, d: bytes) -> KeyPair:
        """The key pair of a 32-byte private scalar (specification order)."""
        _need("d", d, 32)
        return cls.from_private_value(int.from_bytes(d, "big"))

    @classmethod
    def from_private_value(cls, d: int) -> KeyPair:
        if not 1 <= d < _N:
            raise ValueError("a P-256 private key must lie in [1, n - 1]")
        private = ec.derive_private_key(d, ec.SECP256R1())
        numbers = private.public_key().public_numbers()
        public = PublicKey(numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big"))
        return cls(public, private)

    def private_bytes(self) -> bytes:
        """The private scalar (specification order), for a key store only."""
        return int(self._private.private_numbers().private_value).to_bytes(32, "big")

    def dh_key(self, peer: PublicKey) -> bytes:
        """The 32-byte DHKey (x-coordinate of d·PK_peer), after checking the peer's key.

        Raises :class:`AuthenticationError` (no detail) if
        :func:`check_peer_public_key` refuses it.
        """
        if check_peer_public_key(peer, self.public) != KeyCheck.OK:
            raise AuthenticationError("authentication failed")
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(peer.x, "big"), int.from_bytes(peer.y, "big"), ec.SECP256R1()
        )
        try:
            peer_key = numbers.public_key()
            return self._private.exchange(ec.ECDH(), peer_key)
        except ValueError as exc:  # the library's own check, should ours ever miss
            raise AuthenticationError("authentication failed") from exc


# --------------------------------------------------------------------------
# Link-layer encryption (Vol 6 Part B §5.1.3.1, Vol 6 Part E §1-2)


def session_key(ltk: bytes, skd_central: bytes, skd_peripheral: bytes) -> bytes:
    """SK = e(LTK, SKD) with SKD = SKDs || SKDm (Vol 6 Part B §5.1.3.1).

    ``skd_central`` (SKDm) and ``skd_peripheral`` (SKDs) are the 8-byte
    diversifier halves each side contributes, in specification order.
    """
    _need("ltk", ltk, 16)
    _need("skd_central", skd_central, 8)
    _need("skd_peripheral", skd_peripheral, 8)
    return e(ltk, bytes(skd_peripheral) + bytes(skd_central))


def session_iv(iv_central: bytes, iv_peripheral: bytes) -> bytes:
    """IV = IVs || IVm (Vol 6 Part B §5.1.3.1), 8 bytes in specification order."""
    _need("iv_central", iv_central, 4)
    _need("iv_peripheral", iv_peripheral, 4)
    return bytes(iv_peripheral) + bytes(iv_central)


def ccm_nonce(packet_counter: int, direction: int, iv: bytes) -> bytes:
    """The 13-octet CCM nonce (Vol 6 Part E §2.2, table 2.4).

    Octets 0-4: the 39-bit packet counter, least significant octet first, with
    the direction bit as the most significant bit of octet 4; octets 5-12: the
    IV, least significant octet first.  Two PDUs sent in opposite directions
    with the same counter therefore never share a nonce, which is what makes a
    reflected PDU fail its MIC.
    """
    if not 0 <= packet_counter <= MAX_PACKET_COUNTER:
        raise ValueError(f"packet counter {packet_counter} outside 0..2^39-1")
    if direction not in (0, 1):
        raise ValueError(f"direction must be 0 or 1, got {direction}")
    _need("iv", iv, 8)
    return (packet_counter | direction << 39).to_bytes(5, "little") + to_wire(bytes(iv))


def ll_aad(header0: int) -> bytes:
    """The one octet of additional data: the header's first octet, NESN/SN/MD masked."""
    return bytes([header0 & _AAD_MASK])


def ll_encrypt(
    sk: bytes, iv: bytes, packet_counter: int, direction: int, header0: int, payload: bytes
) -> bytes:
    """Encrypt one data PDU payload; returns ciphertext || MIC (Vol 6 Part E §2).

    The caller writes the header with Length = len(payload) + 4.
    """
    _need("sk", sk, 16)
    return AESCCM(bytes(sk), tag_length=MIC_LEN).encrypt(
        ccm_nonce(packet_counter, direction, iv), bytes(payload), ll_aad(header0)
    )


def ll_decrypt(
    sk: bytes, iv: bytes, packet_counter: int, direction: int, header0: int, sealed: bytes
) -> bytes:
    """Verify and decrypt ciphertext || MIC; raises :class:`AuthenticationError`."""
    _need("sk", sk, 16)
    if len(sealed) < MIC_LEN:
        raise AuthenticationError("authentication failed")
    try:
        return AESCCM(bytes(sk), tag_length=MIC_LEN).decrypt(
            ccm_nonce(packet_counter, direction, iv), bytes(sealed), ll_aad(header0)
        )
    except InvalidTag as exc:
        raise AuthenticationError("authentication failed") from exc

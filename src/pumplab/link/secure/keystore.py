"""Long-term keys at rest: the key store, the history key and a monotonic counter.

Three files, each of its own, none of them the history:

- :class:`KeyStore`: the device's identity (identity address and IRK) and
  one :class:`~pumplab.link.secure.pairing.PairingRecord` per paired peer
  (its identity, IRK, LTK, role, association model, pairing time).  On the
  pump this is the pairing table: the role of every frame comes from here,
  through the key that authenticated it.  Unpairing removes the record and
  overwrites the previous file's bytes.
- :class:`HistoryKey`: the key of the keyed history (issue 16), apart from the
  link keys, evolving forward at every seal: K(e+1) = HMAC-SHA-256(K(e),
  "evolve"), and the MAC key of epoch e is HMAC-SHA-256(K(e), "mac").  Once
  the key has moved on, the old one is gone: a key stolen today cannot forge
  a MAC of an earlier epoch (Bellare and Yee, "Forward-security in
  private-key cryptography", CT-RSA 2003; Schneier and Kelsey, "Secure audit
  logs to support computer forensics", ACM TISSEC 1999).
- :class:`MonotonicCounter`: a model of a counter held by a secure element or
  an eMMC RPMB partition, outside both the history and the key store, so a
  joint rollback of those two files is still detectable.  Here it is a file;
  that it can never go backwards is the *assumption* the model stands for.

Every write is atomic and durable before the method returns: the new content
goes to a temporary file in the same directory, is flushed and fsynced, then
renamed over the old file, and the directory is fsynced.  A process killed at
any moment leaves either the old file or the new one, never a mixture, so a
pairing the pump has confirmed (``add`` returned) is never lost.

Nothing here ever writes a key anywhere else: no ``repr`` shows one, and
:func:`contains_key_material` lets a test scan a history, capture, trace, log
or export for any key this store holds.  The files themselves are integrity
checked (a SHA-256 trailer catches corruption) but not encrypted or
authenticated: protecting them at rest is the job of the secure element this
models (docs/secure-protocol.md, "Key store").

Byte layouts: docs/secure-protocol.md.  All integers are big-endian.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pumplab.errors import DecodeError, InputError
from pumplab.link.secure.addresses import AddressType, DeviceAddress, Identity, resolves
from pumplab.link.secure.pairing import PairingRecord
from pumplab.link.secure.randomness import SYSTEM_RANDOM, RandomSource
from pumplab.link.secure.roles import AssociationModel, Role

__all__ = [
    "HistoryKey",
    "KeyStore",
    "MonotonicCounter",
    "PairedDevice",
    "contains_key_material",
]

_KEYSTORE_MAGIC = b"PLKS"
_HISTORY_KEY_MAGIC = b"PLHK"
_COUNTER_MAGIC = b"PLMC"
_VERSION = 1
_DIGEST = 32
_RECORD_SIZE = 64
_MAX_RECORDS = 64

_ROLE_CODES = {
    Role.CGM: 1,
    Role.METER: 2,
    Role.REMOTE: 3,
    Role.CONTROLLER_APP: 4,
    Role.CLINICIAN: 5,
}
_MODEL_CODES = {
    AssociationModel.NUMERIC_COMPARISON: 1,
    AssociationModel.PASSKEY_ENTRY: 2,
    AssociationModel.OUT_OF_BAND: 3,
}
_ROLES = {code: role for role, code in _ROLE_CODES.items()}
_MODELS = {code: model for model, code in _MODEL_CODES.items()}

_EVOLVE_LABEL = b"pumplab history key evolve"
_MAC_LABEL = b"pumplab history record mac"


# --------------------------------------------------------------------------
# Atomic files


def _write_atomically(path: Path, content: bytes, *, scrub_previous: bool = False) -> None:
    """Replace ``path`` with ``content`` so a crash leaves the old or the new file.

    With ``scrub_previous`` the old file's bytes are overwritten with zeros
    once the new file is in place (through a descriptor opened before the
    rename), so removed keys do not linger in that inode.  Filesystems that
    copy on write, and flash wear levelling, may still keep old blocks: that
    is why a real pump keeps these keys in a secure element.
    """
    directory = path.parent
    temporary = directory / f".{path.name}.{os.getpid()}.tmp"
    old_fd = -1
    if scrub_previous and path.exists():
        old_fd = os.open(path, os.O_RDWR)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        _fsync_directory(directory)
        if old_fd >= 0:
            size = os.fstat(old_fd).st_size
            os.pwrite(old_fd, bytes(size), 0)
            os.fsync(old_fd)
    finally:
        if old_fd >= 0:
            os.close(old_fd)
        if temporary.exists():
            temporary.unlink()


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"no {what} here", source=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read the {what}: {exc.strerror}", source=str(path)) from exc


def _sealed(body: bytes) -> bytes:
    return body + hashlib.sha256(body).digest()


def _unsealed(data: bytes, magic: bytes, what: str, path: Path) -> bytes:
    if len(data) < 8 + _DIGEST or data[:4] != magic:
        raise DecodeError(f"{path}: not a pumplab {what}")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if not hmac.compare_digest(hashlib.sha256(body).digest(), digest):
        raise DecodeError(f"{path}: the {what} is corrupt (checksum mismatch)")
    if data[4] != _VERSION:
        raise DecodeError(f"{path}: {what} format version {data[4]} (this build reads {_VERSION})")
    return body


# --------------------------------------------------------------------------
# The key store


@dataclass(frozen=True, slots=True)
class PairedDevice:
    """One line of the pump's "paired devices" list: no key material."""

    identity: DeviceAddress
    role: Role
    model: AssociationModel
    paired_at_ms: int


def _encode_address(address: DeviceAddress) -> bytes:
    return bytes([int(address.type)]) + address.value


def _decode_address(octets: bytes) -> DeviceAddress:
    if octets[0] not in (0, 1):
        raise DecodeError(f"address type {octets[0]} is neither public (0) nor random (1)")
    return DeviceAddress(AddressType(octets[0]), bytes(octets[1:7]))


class KeyStore:
    """A device's identity and its pairing records, in one file.

    Implements :class:`~pumplab.link.secure.connection.BondLookup`.
    """

    def __init__(self, path: Path, identity: Identity, records: Iterable[PairingRecord]) -> None:
        self._path = Path(path)
        self._identity = identity
        self._records: dict[DeviceAddress, PairingRecord] = {}
        for record in records:
            self._records[record.peer_identity] = record

    def __repr__(self) -> str:
        return f"KeyStore({str(self._path)!r}, {len(self._records)} paired)"

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        identity: Identity | None = None,
        *,
        rng: RandomSource = SYSTEM_RANDOM,
    ) -> KeyStore:
        """A new key store with ``identity`` (or a fresh one); refuses to overwrite."""
        target = Path(path)
        if target.exists():
            raise InputError("a key store already exists here", source=str(target))
        if not target.parent.is_dir():
            raise InputError("the key store's directory does not exist", source=str(target))
        store = cls(target, identity if identity is not None else Identity.generate(rng), ())
        store._save()
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> KeyStore:
        """Load a key store; :class:`DecodeError` if it is not one or is corrupt."""
        target = Path(path)
        body = _unsealed(_read(target, "key store"), _KEYSTORE_MAGIC, "key store", target)
        if len(body) < 31:
            raise DecodeError(f"{target}: key store header cut short")
        count = struct.unpack(">H", body[6:8])[0]
        if body[5] != 1 or len(body) != 31 + count * _RECORD_SIZE:
            raise DecodeError(f"{target}: key store size does not match its {count} records")
        try:
            identity = Identity(_decode_address(body[8:15]), bytes(body[15:31]))
            records = [
                _decode_record(body[31 + i * _RECORD_SIZE : 31 + (i + 1) * _RECORD_SIZE])
                for i in range(count)
            ]
        except (ValueError, KeyError) as exc:
            raise DecodeError(f"{target}: key store holds an invalid value ({exc})") from exc
        if len({record.peer_identity for record in records}) != len(records):
            raise DecodeError(f"{target}: key store holds two records for one identity")
        return cls(target, identity, records)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def identity(self) -> Identity:
        return self._identity

    @property
    def records(self) -> tuple[PairingRecord, ...]:
        return tuple(self._records.values())

    def listing(self) -> tuple[PairedDevice, ...]:
        """The paired devices with role and pairing time, for the pump's screen."""
        return tuple(
            PairedDevice(r.peer_identity, r.role, r.model, r.paired_at_ms)
            for r in self._records.values()
        )

    def find_bond(self, address: DeviceAddress) -> PairingRecord | None:
        """The record of the device using ``address`` (its identity or an RPA of it)."""
        record = self._records.get(address)
        if record is not None:
            return record
        for record in self._records.values():
            if resolves(address, record.peer_irk):
                return record
        return None

    def add(self, record: PairingRecord) -> None:
        """Store a completed pairing (replacing one with the same identity); durable on return."""
        if record.peer_identity not in self._records and len(self._records) >= _MAX_RECORDS:
            raise ValueError(f"the key store holds at most {_MAX_RECORDS} pairings")
        previous = self._records.get(record.peer_identity)
        self._records[record.peer_identity] = record
        try:
            self._save(scrub_previous=previous is not None)
        except BaseException:
            if previous is None:
                del self._records[record.peer_identity]
            else:
                self._records[record.peer_identity] = previous
            raise

    def remove(self, identity: DeviceAddress) -> bool:
        """Unpair: forget the record and overwrite the old file's bytes.  False if unknown."""
        record = self._records.pop(identity, None)
        if record is None:
            return False
        try:
            self._save(scrub_previous=True)
        except BaseException:
            self._records[identity] = record
            raise
        return True

    def secrets(self) -> tuple[bytes, ...]:
        """Every key this store holds (own IRK, peers' IRKs, LTKs): for leak scans only."""
        keys = [self._identity.irk]
        for record in self._records.values():
            keys.extend((record.peer_irk, record.ltk))
        return tuple(keys)

    def _save(self, *, scrub_previous: bool = False) -> None:
        body = (
            _KEYSTORE_MAGIC
            + bytes([_VERSION, 1])
            + struct.pack(">H", len(self._records))
            + _encode_address(self._identity.address)
            + self._identity.irk
            + b"".join(_encode_record(r) for r in self._records.values())
        )
        _write_atomically(self._path, _sealed(body), scrub_previous=scrub_previous)


def _encode_record(record: PairingRecord) -> bytes:
    if record.paired_at_ms < 0:
        raise ValueError("paired_at_ms must be non-negative")
    out = (
        _encode_address(record.peer_identity)
        + record.peer_irk
        + record.ltk
        + bytes([_ROLE_CODES[record.role], _MODEL_CODES[record.model]])
        + struct.pack(">Q", record.paired_at_ms)
    )
    return out + bytes(_RECORD_SIZE - len(out))


def _decode_record(octets: bytes) -> PairingRecord:
    if any(octets[49:]):
        raise ValueError("reserved bytes of a record are not zero")
    return PairingRecord(
        peer_identity=_decode_address(octets[0:7]),
        peer_irk=bytes(octets[7:23]),
        ltk=bytes(octets[23:39]),
        role=_ROLES[octets[39]],
        model=_MODELS[octets[40]],
        paired_at_ms=struct.unpack(">Q", octets[41:49])[0],
    )


# --------------------------------------------------------------------------
# The forward-secure history key


class HistoryKey:
    """The keyed history's MAC key, hashed forward at every seal.

    Only the current epoch's key K(e) exists, in RAM and in its file;
    :meth:`evolve` replaces it with K(e+1) on disk (atomically) and in memory
    before it returns.  :meth:`mac` and :meth:`verify` use the MAC key of the
    current epoch.  An auditor who escrowed K(0) at creation (outside pumplab)
    can recompute any epoch's key with :meth:`mac_key_at`.
    """

    __slots__ = ("_epoch", "_key", "_path")

    def __init__(self, path: Path, epoch: int, key: bytes) -> None:
        self._path = Path(path)
        self._epoch = epoch
        self._key = key

    def __repr__(self) -> str:
        return f"HistoryKey({str(self._path)!r}, epoch={self._epoch})"

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], *, rng: RandomSource = SYSTEM_RANDOM
    ) -> HistoryKey:
        """A fresh key at epoch 0; refuses to overwrite an existing file."""
        target = Path(path)
        if target.exists():
            raise InputError("a history key already exists here", source=str(target))
        key = cls(target, 0, rng.token_bytes(32))
        key._save()
        return key

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> HistoryKey:
        target = Path(path)
        body = _unsealed(_read(target, "history key"), _HISTORY_KEY_MAGIC, "history key", target)
        if len(body) != 48:
            raise DecodeError(f"{target}: a history key file has 80 bytes")
        epoch = struct.unpack(">Q", body[8:16])[0]
        return cls(target, epoch, bytes(body[16:48]))

    @property
    def epoch(self) -> int:
        return self._epoch

    def mac(self, data: bytes) -> bytes:
        """HMAC-SHA-256 of ``data`` under the current epoch's MAC key."""
        return hmac.new(self._mac_key(self._key), data, hashlib.sha256).digest()

    def verify(self, data: bytes, tag: bytes) -> bool:
        """Constant-time check of a tag made by :meth:`mac` in the current epoch."""
        return hmac.compare_digest(self.mac(data), tag)

    def mac_next_epoch(self, data: bytes) -> bytes:
        """HMAC-SHA-256 under the *next* epoch's MAC key, without evolving.

        For a seal written (durably) before :meth:`evolve`: after the
        evolution, the current key still verifies it, and a crash between the
        two steps leaves a seal the old key can still check by evolving.
        """
        return hmac.new(self._mac_key(_evolve(self._key)), data, hashlib.sha256).digest()

    def evolve(self) -> int:
        """Move to the next epoch, durably; the old key is gone.  Returns the new epoch."""
        new_key = _evolve(self._key)
        old = (self._epoch, self._key)
        self._epoch, self._key = self._epoch + 1, new_key
        try:
            self._save()
        except BaseException:
            self._epoch, self._key = old
            raise
        return self._epoch

    @staticmethod
    def mac_key_at(root_key: bytes, epoch: int) -> bytes:
        """The MAC key of ``epoch`` from an escrowed K(0) (for an auditor)."""
        if len(root_key) != 32 or epoch < 0:
            raise ValueError("need a 32-byte K(0) and a non-negative epoch")
        key = root_key
        for _ in range(epoch):
            key = _evolve(key)
        return HistoryKey._mac_key(key)

    @staticmethod
    def _mac_key(key: bytes) -> bytes:
        return hmac.new(key, _MAC_LABEL, hashlib.sha256).digest()

    def secrets(self) -> tuple[bytes, ...]:
        """The current key and MAC key: for leak scans only."""
        return (self._key, self._mac_key(self._key))

    def _save(self) -> None:
        body = _HISTORY_KEY_MAGIC + bytes([_VERSION, 0, 0, 0]) + struct.pack(">Q", self._epoch)
        _write_atomically(self._path, _sealed(body + self._key), scrub_previous=True)


def _evolve(key: bytes) -> bytes:
    return hmac.new(key, _EVOLVE_LABEL, hashlib.sha256).digest()


# --------------------------------------------------------------------------
# The monotonic counter (a model of a secure element's or RPMB's counter)


class MonotonicCounter:
    """A counter that only goes up, kept apart from the history and the key store.

    :meth:`increment` is durable before it returns.  The model assumes what
    the hardware guarantees: nobody can set it back.
    """

    __slots__ = ("_path", "_value")

    def __init__(self, path: Path, value: int) -> None:
        self._path = Path(path)
        self._value = value

    def __repr__(self) -> str:
        return f"MonotonicCounter({str(self._path)!r}, value={self._value})"

    @classmethod
    def open_or_create(cls, path: str | os.PathLike[str]) -> MonotonicCounter:
        """The counter at ``path``, starting at 0 if there is none yet."""
        target = Path(path)
        if not target.exists():
            counter = cls(target, 0)
            counter._save()
            return counter
        body = _unsealed(_read(target, "counter"), _COUNTER_MAGIC, "counter", target)
        if len(body) != 16:
            raise DecodeError(f"{target}: a counter file has 48 bytes")
        return cls(target, struct.unpack(">Q", body[8:16])[0])

    @property
    def value(self) -> int:
        return self._value

    def increment(self) -> int:
        """Add one, durably; returns the new value."""
        self._value += 1
        try:
            self._save()
        except BaseException:
            self._value -= 1
            raise
        return self._value

    def _save(self) -> None:
        body = _COUNTER_MAGIC + bytes([_VERSION, 0, 0, 0]) + struct.pack(">Q", self._value)
        _write_atomically(self._path, _sealed(body))


# --------------------------------------------------------------------------
# Leak scans


def contains_key_material(data: bytes | str, secrets: Iterable[bytes]) -> bool:
    """True if any secret appears in ``data``: raw, in air order, or as hex.

    For tests that a history, capture, trace, log or export never carries a
    key (issue 15, "Management").
    """
    blob = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
    lowered = blob.lower()
    for secret in secrets:
        for form in (secret, secret[::-1]):
            if form in blob or form.hex().encode() in lowered:
                return True
    return False

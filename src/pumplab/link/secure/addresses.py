"""Device addresses and resolvable private addresses (RPA).

A secure pumplab device never puts a stable identifier on the air: not the
pump's serial number (which the legacy MiniMed protocol broadcasts in every
frame), and not even its Bluetooth identity address.  It advertises and
connects under a *resolvable private address* (Core v5.4 Vol 6 Part B
§1.3.2.2): 24 random bits ``prand`` whose two most significant bits are
``01``, followed by ``hash = ah(IRK, prand)`` (Vol 3 Part H §2.2.2).  Only a
peer that holds the device's identity resolving key (IRK), which it received
encrypted during pairing, can tell that two RPAs belong to the same device.
Each device draws a new RPA every :data:`RPA_TIMEOUT_MS` (the specification's
recommended T_GAP(private_addr_int), Vol 3 Part C Appendix A).

The identity address itself is a *random static* address (two most
significant bits ``11``, Vol 6 Part B §1.3.2.1) drawn at manufacture, not
derived from the serial number, and only ever sent encrypted.

Values are in specification order (most significant octet first, as printed
``C0:12:34:56:78:9A``); :meth:`DeviceAddress.to_wire` gives the on-air order.
This module does not decide when to rotate (the caller passes time in).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pumplab.errors import DecodeError
from pumplab.link.secure.crypto import ah
from pumplab.link.secure.randomness import SYSTEM_RANDOM, RandomSource

__all__ = [
    "RPA_TIMEOUT_MS",
    "AddressType",
    "DeviceAddress",
    "Identity",
    "new_irk",
    "new_rpa",
    "new_static_address",
    "resolves",
]

#: How often a device draws a new RPA: 15 minutes, the recommended
#: T_GAP(private_addr_int) (Core Vol 3 Part C Appendix A).
RPA_TIMEOUT_MS = 15 * 60_000


class AddressType(enum.IntEnum):
    """The TxAdd/RxAdd bit and the address-type octet (Vol 6 Part B §1.3)."""

    PUBLIC = 0
    RANDOM = 1


@dataclass(frozen=True, slots=True)
class DeviceAddress:
    """A 48-bit Bluetooth device address and its type."""

    type: AddressType
    value: bytes  # 6 bytes, specification order (MSB first)

    def __post_init__(self) -> None:
        if not isinstance(self.value, bytes) or len(self.value) != 6:
            raise ValueError("a device address is 6 bytes")
        if not isinstance(self.type, AddressType):
            raise ValueError(f"address type must be an AddressType, got {self.type!r}")

    @property
    def kind(self) -> str:
        """``public``, ``static``, ``resolvable``, ``non-resolvable`` or ``reserved``."""
        if self.type is AddressType.PUBLIC:
            return "public"
        top = self.value[0] >> 6
        return {0b11: "static", 0b01: "resolvable", 0b00: "non-resolvable"}.get(top, "reserved")

    def to_wire(self) -> bytes:
        """The 6 octets as sent on the air (least significant first)."""
        return self.value[::-1]

    @classmethod
    def from_wire(cls, address_type: int, octets: bytes) -> DeviceAddress:
        """Parse 6 on-air octets (least significant first)."""
        if len(octets) != 6:
            raise DecodeError(f"a device address is 6 octets, got {len(octets)}")
        if address_type not in (0, 1):
            raise DecodeError(f"address type must be 0 or 1, got {address_type}")
        return cls(AddressType(address_type), bytes(octets[::-1]))

    def for_f5(self) -> bytes:
        """The 56-bit value f5 and f6 take: type octet, then the address (§2.2.7)."""
        return bytes([int(self.type)]) + self.value

    def __str__(self) -> str:
        text = ":".join(f"{octet:02X}" for octet in self.value)
        return f"{text} ({self.kind})"

    def __repr__(self) -> str:
        return f"DeviceAddress({self})"


def _random_part_ok(value: bytes) -> bool:
    # "At least one bit of the random part ... shall be 0 and at least one
    # shall be 1" (Vol 6 Part B §1.3.2.1 and §1.3.2.2); the random part is
    # everything but the two type bits (of prand only, for an RPA).
    bits = int.from_bytes(value, "big") & ((1 << (len(value) * 8 - 2)) - 1)
    return 0 < bits < (1 << (len(value) * 8 - 2)) - 1


def new_irk(rng: RandomSource = SYSTEM_RANDOM) -> bytes:
    """A fresh 128-bit identity resolving key."""
    return rng.token_bytes(16)


def new_static_address(rng: RandomSource = SYSTEM_RANDOM) -> DeviceAddress:
    """A fresh random static identity address (top bits ``11``)."""
    while True:
        value = bytearray(rng.token_bytes(6))
        value[0] |= 0xC0
        if _random_part_ok(bytes(value)):
            return DeviceAddress(AddressType.RANDOM, bytes(value))


def new_rpa(irk: bytes, rng: RandomSource = SYSTEM_RANDOM) -> DeviceAddress:
    """A fresh resolvable private address: prand (top bits ``01``) || ah(IRK, prand)."""
    while True:
        prand = bytearray(rng.token_bytes(3))
        prand[0] = (prand[0] & 0x3F) | 0x40
        if _random_part_ok(bytes(prand)):
            return DeviceAddress(AddressType.RANDOM, bytes(prand) + ah(irk, bytes(prand)))


def resolves(address: DeviceAddress, irk: bytes) -> bool:
    """True when ``address`` is an RPA generated from ``irk`` (Vol 6 Part B §1.3.2.3)."""
    if address.kind != "resolvable":
        return False
    return ah(irk, address.value[:3]) == address.value[3:]


@dataclass(frozen=True, slots=True)
class Identity:
    """A device's identity: its identity address and its IRK (never shown in ``repr``).

    The identity is what a pairing binds; both halves travel only encrypted
    (SMP key distribution, Vol 3 Part H §3.6).
    """

    address: DeviceAddress
    irk: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.address.kind not in ("public", "static"):
            raise ValueError("an identity address is public or random static")
        if not isinstance(self.irk, bytes) or len(self.irk) != 16:
            raise ValueError("an IRK is 16 bytes")

    @classmethod
    def generate(cls, rng: RandomSource = SYSTEM_RANDOM) -> Identity:
        """A fresh random static address and IRK, as drawn at manufacture."""
        return cls(new_static_address(rng), new_irk(rng))

    def new_rpa(self, rng: RandomSource = SYSTEM_RANDOM) -> DeviceAddress:
        """A fresh RPA of this identity."""
        return new_rpa(self.irk, rng)

    def owns(self, address: DeviceAddress) -> bool:
        """True when ``address`` is this identity's address or one of its RPAs."""
        return address == self.address or resolves(address, self.irk)

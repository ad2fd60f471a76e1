"""Where the secure link's keys, nonces and passkeys come from.

Every secret the secure link draws (P-256 private keys, pairing nonces,
passkeys, SKD and IV halves, IRKs, the history key) comes from a
:class:`RandomSource`.  The default, :data:`SYSTEM_RANDOM`, is the operating
system's cryptographically secure generator (:mod:`secrets`, which reads
``os.urandom``).  It is what every constructor uses unless it is handed
something else.

:class:`SeededRandomSource` exists for reproducible simulations and tests
only.  It is deterministic by design, so anyone who knows the seed knows every
key it ever produced; its name, its ``secure`` flag (``False``) and its
``repr`` say so, and the secure link never picks it by itself.  It must never
be fed from the simulation's own seeded streams (``pumplab.sim.streams``) in a
build meant to protect anything.

This module does not implement a cryptographic generator: the seeded source is
a plain SHAKE-256 stream (deterministic expansion of the seed), not a DRBG with
reseeding, prediction resistance or any security claim.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Protocol, runtime_checkable

__all__ = [
    "SYSTEM_RANDOM",
    "RandomSource",
    "SeededRandomSource",
    "SystemRandomSource",
    "draw_passkey",
]

#: Passkeys are six decimal digits, 000000-999999 (Core Vol 3 Part H §2.3.5.1).
PASSKEY_COUNT = 1_000_000


@runtime_checkable
class RandomSource(Protocol):
    """A source of random bytes and uniform integers."""

    #: True only for a cryptographically secure source.
    secure: bool

    def token_bytes(self, n: int) -> bytes:
        """``n`` random bytes."""
        ...

    def randbelow(self, n: int) -> int:
        """A uniform integer in ``[0, n)`` (``n`` > 0)."""
        ...


class SystemRandomSource:
    """The operating system's CSPRNG (:mod:`secrets`): the default everywhere."""

    secure = True

    def token_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ValueError(f"cannot draw {n} bytes")
        return secrets.token_bytes(n)

    def randbelow(self, n: int) -> int:
        if n <= 0:
            raise ValueError(f"randbelow needs a positive bound, got {n}")
        return secrets.randbelow(n)

    def __repr__(self) -> str:
        return "SystemRandomSource()"


class SeededRandomSource:
    """A deterministic source for reproducible simulations: NOT SECURE.

    The bytes are SHAKE-256 of the seed, read as one endless stream, so the same
    seed gives the same keys, nonces and passkeys in the same order.  Use it to
    make a simulated pairing reproducible or to test a mechanism
    deterministically (e.g. a guessed passkey that is, by construction, right);
    never to protect anything.
    """

    secure = False

    def __init__(self, seed: int | bytes) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | bytes):
            raise TypeError(f"seed must be an int or bytes, got {type(seed).__name__}")
        if isinstance(seed, int):
            if seed < 0:
                raise ValueError(f"seed must be non-negative, got {seed}")
            seed = seed.to_bytes((seed.bit_length() + 8) // 8, "big")
        self._prefix = b"pumplab seeded random source (not secure)\x00" + seed
        self._block = 0
        self._buffer = b""

    def token_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ValueError(f"cannot draw {n} bytes")
        while len(self._buffer) < n:
            block = hashlib.shake_256(self._prefix + self._block.to_bytes(8, "big"))
            self._buffer += block.digest(64)
            self._block += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def randbelow(self, n: int) -> int:
        if n <= 0:
            raise ValueError(f"randbelow needs a positive bound, got {n}")
        # Rejection sampling on whole bytes: uniform, no modulo bias.
        nbytes = (n.bit_length() + 7) // 8
        limit = (256**nbytes // n) * n
        while True:
            value = int.from_bytes(self.token_bytes(nbytes), "big")
            if value < limit:
                return value % n

    def __repr__(self) -> str:
        return "SeededRandomSource(<seed>)  # deterministic, NOT SECURE"


#: The default source: the operating system's CSPRNG.
SYSTEM_RANDOM: RandomSource = SystemRandomSource()


def draw_passkey(rng: RandomSource) -> int:
    """A fresh uniform passkey in 000000-999999 (Core Vol 3 Part H §2.3.5.1)."""
    return rng.randbelow(PASSKEY_COUNT)

"""Common random numbers for the air: one draw per (transmitter, receiver, time, purpose).

Every random quantity of the medium (log-normal shadowing, the packet-error
coin, which repetition of a burst a receiver catches) is a pure function of
the run seed, the transmitter's name, the receiver's name, the transmission's
start time in microseconds and the purpose of the draw.  Nothing is drawn from
a shared sequential generator, so a draw never depends on how many other draws
came before it: adding an attacker, a sniffer or a guardian to a run leaves
every draw of the legitimate frames unchanged, and same-seed comparisons
between runs (legacy against secure, attacker against none) stay exact.

The generator is counter-based (Salmon et al., "Parallel random numbers: as
easy as 1, 2, 3", SC 2011, use a block cipher; we use a keyed hash): BLAKE2b
keyed with the seed, over the packed (transmitter, receiver, time, purpose)
tuple, 64 bits out, mapped to the open interval (0, 1).  Names enter as the
first 8 bytes of their SHA-256, independent of ``PYTHONHASHSEED``.

Not cryptographic randomness and never used for keys (the secure link draws
those from ``secrets``).
"""

from __future__ import annotations

import enum
import hashlib
import statistics
import struct

__all__ = ["CommonRandom", "Draw", "name_key", "standard_normal"]

_PACK = struct.Struct("<QQqB").pack
_NORMAL = statistics.NormalDist()
_TWO_POW_53 = float(1 << 53)


class Draw(enum.IntEnum):
    """What a draw is for; part of the key, so the draws are independent."""

    SHADOWING = 1
    PACKET_ERROR = 2
    BURST_CATCH = 3


def name_key(name: str) -> int:
    """A stable 64-bit key for a participant name."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


class CommonRandom:
    """Uniform and normal draws keyed by (transmitter, receiver, time, purpose).

    The shadowing and packet-error draws of one (transmitter, receiver, time)
    come from the two halves of one 128-bit hash (:meth:`pair`); the burst-catch
    draw from a hash with a different purpose byte.
    """

    __slots__ = ("_base", "_keys", "seed")

    def __init__(self, seed: int) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = seed
        seed_bytes = hashlib.sha256(b"pumplab.link.radio/" + str(seed).encode("ascii")).digest()
        self._base = hashlib.blake2b(digest_size=16, key=seed_bytes)
        self._keys: dict[str, int] = {}

    def key(self, name: str) -> int:
        """The 64-bit key of a participant name (cached)."""
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = name_key(name)
        return key

    def pair_keyed(self, tx_key: int, rx_key: int, t_us: int) -> tuple[float, float]:
        """(shadowing, packet-error) uniforms for keys already looked up."""
        h = self._base.copy()
        h.update(_PACK(tx_key, rx_key, t_us, 0))
        digest = h.digest()
        return (((int.from_bytes(digest[:8], "little") >> 11) + 0.5) / _TWO_POW_53,
                ((int.from_bytes(digest[8:], "little") >> 11) + 0.5) / _TWO_POW_53)

    def pair(self, tx: str, rx: str, t_us: int) -> tuple[float, float]:
        """The shadowing and packet-error uniforms of (``tx``, ``rx``, ``t_us``)."""
        return self.pair_keyed(self.key(tx), self.key(rx), t_us)

    def uniform_keyed(self, tx_key: int, rx_key: int, t_us: int, purpose: Draw) -> float:
        """:meth:`uniform` for keys already looked up."""
        if purpose is Draw.SHADOWING:
            return self.pair_keyed(tx_key, rx_key, t_us)[0]
        if purpose is Draw.PACKET_ERROR:
            return self.pair_keyed(tx_key, rx_key, t_us)[1]
        h = self._base.copy()
        h.update(_PACK(tx_key, rx_key, t_us, int(purpose)))
        return ((int.from_bytes(h.digest()[:8], "little") >> 11) + 0.5) / _TWO_POW_53

    def uniform(self, tx: str, rx: str, t_us: int, purpose: Draw) -> float:
        """A uniform draw in the open interval (0, 1)."""
        return self.uniform_keyed(self.key(tx), self.key(rx), t_us, purpose)

    def normal(self, tx: str, rx: str, t_us: int, purpose: Draw) -> float:
        """A standard normal draw (inverse CDF of :meth:`uniform`)."""
        return _NORMAL.inv_cdf(self.uniform(tx, rx, t_us, purpose))


def standard_normal(u: float) -> float:
    """The standard normal quantile of a uniform draw."""
    return _NORMAL.inv_cdf(u)

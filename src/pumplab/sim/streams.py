"""One seeded random stream per component.

A run has one integer seed.  Every component that draws random numbers (the
meal generator, each patient's sensor noise, the person's behaviour, a lossy
link, an attacker) asks for its own :class:`numpy.random.Generator` by a
stable name.  Each stream is derived from the seed and the name alone
(``SeedSequence(seed, spawn_key=(hash(name),))``), never from the order in
which components were created or how many numbers another component drew.

That is what makes the lab's comparisons fair: the same scenario run with a
legacy pump, a secure pump, or no attacker at all sees the same meals, the same
sensor noise and the same user behaviour, because adding an attacker adds a
stream without shifting any other.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["RandomStreams", "stream_key"]


def stream_key(name: str) -> tuple[int, int]:
    """A stable 128-bit spawn key for a stream name (independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:16], "little"))


class RandomStreams:
    """Named, independent random generators derived from one seed."""

    def __init__(self, seed: int) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = seed
        self._issued: set[str] = set()

    def generator(self, name: str) -> np.random.Generator:
        """A fresh generator for component ``name``.

        Asking twice for the same name is refused: two components sharing a
        stream would make each other's draws depend on call order.
        """
        if not name:
            raise ValueError("a stream needs a non-empty name")
        if name in self._issued:
            raise ValueError(f"random stream {name!r} was already issued")
        self._issued.add(name)
        seq = np.random.SeedSequence(self.seed, spawn_key=stream_key(name))
        return np.random.Generator(np.random.PCG64(seq))

    def seed_for(self, name: str) -> int:
        """An integer seed derived like :meth:`generator`, for APIs that take a seed."""
        if name in self._issued:
            raise ValueError(f"random stream {name!r} was already issued")
        self._issued.add(name)
        seq = np.random.SeedSequence(self.seed, spawn_key=stream_key(name))
        return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))

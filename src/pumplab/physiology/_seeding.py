"""Per-patient seed sequences shared by the sensor and meal models.

Every random component of those models (``cgm.noise``, ``cgm.calibration``,
``cgm.dropout``, ``meals.schedule``, ``meals.counting``) has one *component
generator*: the one a run's named streams hand out
(``pumplab.sim.streams.RandomStreams(seed).generator(name)``), or the one
:func:`component_generator` derives from a seed in exactly the same way
(``SeedSequence(seed, spawn_key=name_key(name))``).  From that generator one
128-bit *root* is drawn, and each patient's stream is the root's child keyed by
the patient's **name** (or, for anonymous patients, by position)::

    root      = SeedSequence(4 words drawn from the component generator)
    patient   = SeedSequence(root.entropy, spawn_key=name_key(name))

So a patient's numbers depend on the seed, the component and its own name
only: the same CGM noise and the same meals alone, in any cohort, in any chunk
of a population, and never the same numbers as another component's.

The keys are stable: a SHA-256 of the text (never Python's ``hash``, which
changes with ``PYTHONHASHSEED``).  :func:`name_key` is the same function as
``pumplab.sim.streams.stream_key``, written here because the physiology package
must not import the simulation core (imports flow downward only); a test holds
the two equal.

Deliberately not here: drawing any model's numbers (the models do that).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

__all__ = [
    "PatientKey",
    "PatientSeeds",
    "component_generator",
    "name_key",
    "patient_keys",
]

#: A patient's stream key: its name, or its position for anonymous patients.
PatientKey = str | int


def name_key(name: str) -> tuple[int, int]:
    """A stable 128-bit spawn key for ``name`` (the first 16 bytes of its SHA-256)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:16], "little"))


def component_generator(
    seed: int | np.random.SeedSequence, component: str
) -> np.random.Generator:
    """The generator of ``component`` under ``seed``.

    For an integer seed this is exactly ``RandomStreams(seed).generator(component)``
    of :mod:`pumplab.sim.streams`; a :class:`~numpy.random.SeedSequence` seed
    has the component's key appended to its own spawn key.
    """
    if isinstance(seed, np.random.SeedSequence):
        seq = np.random.SeedSequence(
            seed.entropy, spawn_key=(*seed.spawn_key, *name_key(component)),
            pool_size=seed.pool_size,
        )  # fmt: skip
    else:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        seq = np.random.SeedSequence(seed, spawn_key=name_key(component))
    return np.random.Generator(np.random.PCG64(seq))


def _key_words(key: PatientKey) -> tuple[int, ...]:
    # A name gives two 64-bit words, a position one: the two kinds never collide.
    if isinstance(key, str):
        return name_key(key)
    return (key,)


def patient_keys(n_patients: int | None, names: Sequence[str] | None) -> tuple[PatientKey, ...]:
    """The keys for ``names`` (preferred) or for ``n_patients`` anonymous positions."""
    if (n_patients is None) == (names is None):
        raise ValueError("give exactly one of n_patients and names")
    if names is not None:
        keys = tuple(names)
        if any(not isinstance(k, str) or not k for k in keys):
            raise ValueError("patient names must be non-empty strings")
        if len(set(keys)) != len(keys):
            raise ValueError("patient names must be unique (each keys its own streams)")
        return keys
    assert n_patients is not None
    if isinstance(n_patients, bool) or not isinstance(n_patients, int) or n_patients < 0:
        raise ValueError(f"n_patients must be an int >= 0, got {n_patients!r}")
    return tuple(range(n_patients))


@dataclass(frozen=True, slots=True)
class PatientSeeds(Sequence[np.random.SeedSequence]):
    """The seed sequences of one component for a list of patients.

    Indexing gives patient *i*'s :class:`~numpy.random.SeedSequence`, built on
    demand from the component ``root`` and the patient's key, so a million
    patients cost a million keys, not a million seed objects.
    """

    root: np.random.SeedSequence
    keys: tuple[PatientKey, ...]

    @classmethod
    def from_generator(
        cls, rng: np.random.Generator, keys: tuple[PatientKey, ...]
    ) -> PatientSeeds:
        """Draw the component root (128 bits) from ``rng`` and key the patients under it."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"expected a numpy.random.Generator, got {type(rng).__name__}")
        words = rng.integers(0, 2**32, size=4, dtype=np.uint64)
        return cls(np.random.SeedSequence([int(w) for w in words]), keys)

    def for_keys(self, keys: tuple[PatientKey, ...]) -> PatientSeeds:
        """The same component's streams for other patients."""
        return PatientSeeds(self.root, keys)

    def select(self, patients: slice | Sequence[int]) -> PatientSeeds:
        """Some patients only, by position."""
        if isinstance(patients, slice):
            return PatientSeeds(self.root, self.keys[patients])
        return PatientSeeds(self.root, tuple(self.keys[i] for i in patients))

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, index: int) -> np.random.SeedSequence: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[np.random.SeedSequence, ...]: ...

    def __getitem__(
        self, index: int | slice
    ) -> np.random.SeedSequence | tuple[np.random.SeedSequence, ...]:
        if isinstance(index, slice):
            return tuple(self._sequence(k) for k in self.keys[index])
        return self._sequence(self.keys[index])

    def __iter__(self) -> Iterator[np.random.SeedSequence]:
        return (self._sequence(k) for k in self.keys)

    def _sequence(self, key: PatientKey) -> np.random.SeedSequence:
        root = self.root
        return np.random.SeedSequence(
            root.entropy, spawn_key=(*root.spawn_key, *_key_words(key)), pool_size=root.pool_size
        )

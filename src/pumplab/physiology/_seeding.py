"""Per-patient seed sequences shared by the sensor and meal models.

Both build one :class:`numpy.random.SeedSequence` per patient and component
so that patient *i*'s numbers never depend on how many patients are simulated
or in which chunks: a patient gets the same CGM noise and the same meals alone,
in a cohort, or in a chunk of a population.
"""

from __future__ import annotations

import numpy as np

__all__ = ["child_sequences", "sequences_from_generator"]


def child_sequences(
    root: np.random.SeedSequence, component: int, n_patients: int
) -> tuple[np.random.SeedSequence, ...]:
    """Patient sequences of ``component`` under ``root``.

    Built directly (not with ``root.spawn``) so that the result depends only on
    the root and the indices: stateless, and patient *i*'s stream is the same
    whatever ``n_patients`` is.
    """
    return tuple(
        np.random.SeedSequence(
            root.entropy, spawn_key=(*root.spawn_key, component, i), pool_size=root.pool_size
        )
        for i in range(n_patients)
    )


def sequences_from_generator(
    rng: np.random.Generator, n_patients: int
) -> tuple[np.random.SeedSequence, ...]:
    """One 128-bit seed per patient drawn from an injected component stream.

    Drawn in patient order: patient *i*'s seed is the *i*-th draw, so it does
    not depend on how many patients follow.
    """
    words = rng.integers(0, 2**32, size=(n_patients, 4), dtype=np.uint64)
    return tuple(np.random.SeedSequence([int(w) for w in row]) for row in words)

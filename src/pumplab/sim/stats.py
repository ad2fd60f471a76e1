"""95 % confidence intervals for the lab's rates and means.

- Success rates (k successes in n runs): the **Wilson score interval**
  (Wilson, JASA 1927;22:209), which stays inside [0, 1] and behaves at k = 0
  and k = n, where the Wald interval collapses (Newcombe, Stat Med
  1998;17:857, method 3).
- Means over runs (insulin, time below range ...): the **percentile
  bootstrap** (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993,
  ch. 13) with a fixed seed and 10,000 resamples, so a report is reproducible
  to the digit.  It assumes nothing about the distribution, which matters for
  outcomes such as time below 54 mg/dL that are mostly zero with a few large
  values.

Pure functions of their inputs; docs/scale.md states the methods.
Deliberately not here: multiple-comparison corrections, paired tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np

__all__ = ["BOOTSTRAP_RESAMPLES", "Z_95", "bootstrap_mean_interval", "wilson_interval"]

#: The standard normal quantile for a two-sided 95 % interval (Φ⁻¹(0.975)).
Z_95: Final = 1.959963984540054
#: Resamples of the bootstrap; its Monte Carlo error on a 95 % bound is well
#: under the precision the report prints.
BOOTSTRAP_RESAMPLES: Final = 10_000


def wilson_interval(successes: int, runs: int, *, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / runs``.

    ``(p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``.
    """
    if runs <= 0 or not 0 <= successes <= runs:
        raise ValueError(f"need 0 <= successes <= runs and runs > 0, got {successes}/{runs}")
    n = float(runs)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # Exactly 0 and 1 at the ends (the formula gives them up to rounding).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == runs else min(1.0, centre + half)
    return (low, high)


def bootstrap_mean_interval(values: Sequence[float], *, seed: int = 0,
                            resamples: int = BOOTSTRAP_RESAMPLES,
                            level: float = 0.95) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of the mean of ``values`` (``None`` below 2 values).

    Seeded: the same values give the same interval.  Values that are all
    equal give a zero-width interval at that value.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or not np.all(np.isfinite(data)):
        raise ValueError("values must be a flat sequence of finite numbers")
    if data.size < 2:
        return None
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.Generator(np.random.PCG64(seed))
    means = np.empty(resamples)
    # In chunks, so a large cohort does not allocate resamples × n at once.
    chunk = max(1, 2_000_000 // data.size)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, data.size, size=(stop - start, data.size))
        means[start:stop] = data[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(low), float(high))

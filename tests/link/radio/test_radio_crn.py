"""Common random numbers: keyed, reproducible, independent, uniform."""

from __future__ import annotations

import math

import pytest

from pumplab.link.radio.crn import CommonRandom, Draw, name_key


def test_same_key_gives_the_same_draw_in_any_order() -> None:
    """A draw depends on its key only, not on what was drawn before."""
    a, b = CommonRandom(5), CommonRandom(5)
    first = a.uniform("cgm", "pump", 300_000, Draw.PACKET_ERROR)
    for t in range(100):
        b.uniform("attacker", "pump", t, Draw.SHADOWING)
    assert b.uniform("cgm", "pump", 300_000, Draw.PACKET_ERROR) == first


@pytest.mark.parametrize(
    "other",
    [("remote", "pump", 300_000, Draw.PACKET_ERROR), ("cgm", "phone", 300_000,
                                                      Draw.PACKET_ERROR),
     ("cgm", "pump", 300_001, Draw.PACKET_ERROR), ("cgm", "pump", 300_000, Draw.SHADOWING),
     ("cgm", "pump", 300_000, Draw.BURST_CATCH), ("pump", "cgm", 300_000, Draw.PACKET_ERROR)],
)
def test_every_part_of_the_key_matters(other: tuple[str, str, int, Draw]) -> None:
    crn = CommonRandom(5)
    assert crn.uniform(*other) != crn.uniform("cgm", "pump", 300_000, Draw.PACKET_ERROR)


def test_seed_changes_every_draw() -> None:
    assert CommonRandom(1).uniform("a", "b", 0, Draw.SHADOWING) != CommonRandom(2).uniform(
        "a", "b", 0, Draw.SHADOWING)


def test_draws_are_uniform_and_normal_draws_standard() -> None:
    """Kolmogorov–Smirnov distance of 20,000 keyed draws from U(0,1) is small."""
    crn = CommonRandom(9)
    draws = sorted(crn.uniform("tx", "rx", t * 1000, Draw.PACKET_ERROR) for t in range(20_000))
    n = len(draws)
    ks = max(max(abs((i + 1) / n - u), abs(u - i / n)) for i, u in enumerate(draws))
    assert draws[0] > 0.0 and draws[-1] < 1.0
    assert ks < 1.63 / math.sqrt(n)            # the 1 % critical value
    normals = [crn.normal("tx", "rx", t, Draw.SHADOWING) for t in range(20_000)]
    mean = sum(normals) / len(normals)
    sd = math.sqrt(sum((x - mean) ** 2 for x in normals) / len(normals))
    assert abs(mean) < 0.03 and abs(sd - 1.0) < 0.03


def test_draws_are_pinned_so_a_change_of_stream_is_deliberate() -> None:
    """Golden values: name keys are SHA-256 prefixes (not Python's randomised hash()), and
    a change to the hashing would silently change every run's radio outcomes."""
    assert name_key("pump") == 2822265252383301643
    crn = CommonRandom(5)
    assert crn.uniform("cgm", "pump", 300_000, Draw.PACKET_ERROR) == 0.18786008595551346
    assert crn.uniform("cgm", "pump", 300_000, Draw.BURST_CATCH) == 0.04254622868392183


def test_seed_must_be_a_non_negative_integer() -> None:
    with pytest.raises(ValueError):
        CommonRandom(-1)

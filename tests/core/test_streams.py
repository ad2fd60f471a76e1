"""Per-component random streams are independent of creation order."""

import numpy as np
import pytest

from pumplab.sim.streams import RandomStreams


def test_stream_depends_only_on_seed_and_name() -> None:
    """Adding another component first does not shift a stream's draws."""
    a = RandomStreams(7)
    meals_a = a.generator("meals").random(5)
    b = RandomStreams(7)
    b.generator("attacker").random(100)
    meals_b = b.generator("meals").random(5)
    np.testing.assert_array_equal(meals_a, meals_b)


def test_different_names_give_different_streams() -> None:
    """Two components never share draws."""
    s = RandomStreams(7)
    assert not np.array_equal(s.generator("x").random(4), s.generator("y").random(4))


def test_different_seeds_give_different_streams() -> None:
    """The run seed matters."""
    assert RandomStreams(1).generator("x").random() != RandomStreams(2).generator("x").random()


def test_a_name_is_issued_once() -> None:
    """Sharing a stream between components is refused."""
    s = RandomStreams(0)
    s.generator("meals")
    with pytest.raises(ValueError, match="already issued"):
        s.generator("meals")


def test_seed_must_be_a_non_negative_int() -> None:
    """Floats, bools and negatives are not seeds."""
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError):
            RandomStreams(bad)  # type: ignore[arg-type]

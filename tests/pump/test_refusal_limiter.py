"""The RefusalLimiter on its own: answers, summaries and flood episodes per sender class."""

from __future__ import annotations

import pytest

from pumplab.devices.pump.refusal_limiter import RefusalLimiter

MIN = 60_000


def _admit(limiter: RefusalLimiter, n: int, at_ms: int, cls: str = "unpaired",
           sender: str = "radio:x") -> list[bool]:
    return [limiter.admit(cls, sender, kind="ReadStatusCommand", reason="not_authorized",
                          now_ms=at_ms).answer for _ in range(n)]


def test_at_most_the_answer_budget_is_answered_per_class_and_window() -> None:
    """Two answers a minute per class: the third refusal is dropped; another class and the
    next minute have their own budgets."""
    limiter = RefusalLimiter(answers_per_window=2)
    assert _admit(limiter, 5, 1_000) == [True, True, False, False, False]
    assert _admit(limiter, 3, 2_000, cls="unauthenticated") == [True, True, False]
    assert _admit(limiter, 3, MIN + 5) == [True, True, False]


def test_one_summary_per_class_and_window_once_the_window_ends() -> None:
    """Counts come out once per class and minute, after the minute, oldest first."""
    limiter = RefusalLimiter()
    _admit(limiter, 3, 10, sender="radio:a")
    _admit(limiter, 1, 20, sender="radio:b")
    _admit(limiter, 2, 30, cls="unlinked")
    assert limiter.next_due_ms() == MIN
    assert limiter.due(MIN - 1) == []
    first = limiter.due(MIN)
    assert [(s.sender_class, s.refused, s.answered, s.senders) for s in first] == [
        ("unlinked", 2, 2, 1), ("unpaired", 4, 2, 2)]
    assert first[1].top_senders == (("radio:a", 3), ("radio:b", 1))
    assert first[1].as_record()["top_senders"] == [["radio:a", 3], ["radio:b", 1]]
    assert (first[1].from_ms, first[1].to_ms) == (0, MIN)
    assert limiter.due(10 * MIN) == [] and limiter.next_due_ms() is None


def test_a_refusal_in_a_new_window_closes_the_old_one() -> None:
    """Without a call to due() in between, the earlier window's summary is still kept."""
    limiter = RefusalLimiter()
    _admit(limiter, 1, 10)
    _admit(limiter, 1, 3 * MIN + 10)
    assert [(s.from_ms, s.refused) for s in limiter.due(4 * MIN)] == [(0, 1), (3 * MIN, 1)]


def test_a_flood_starts_one_episode_which_ends_after_quiet_windows() -> None:
    """More than the threshold in a minute starts a flood once; it stays on through quiet
    minutes shorter than the quiet spell, and a flood after a long enough spell is new."""
    limiter = RefusalLimiter(flood_threshold=10, quiet_windows=3)
    starts = [limiter.admit("unpaired", "radio:x", kind="T", reason="r",
                            now_ms=m * MIN + i).flood_started
              for m in range(5) for i in range(20)]
    assert starts.count(True) == 1 and starts.index(True) == 10
    assert limiter.in_flood("unpaired", 5 * MIN)
    # two quiet minutes (5, 6) keep it on: a flood in minute 7 continues the episode ...
    assert not any(limiter.admit("unpaired", "radio:x", kind="T", reason="r",
                                 now_ms=7 * MIN + i).flood_started for i in range(20))
    # ... which ends after three whole quiet minutes (8, 9, 10)
    assert limiter.in_flood("unpaired", 10 * MIN) and not limiter.in_flood("unpaired", 11 * MIN)
    assert [limiter.admit("unpaired", "radio:x", kind="T", reason="r",
                          now_ms=11 * MIN + i).flood_started for i in range(12)].count(True) == 1
    summaries = limiter.due(20 * MIN)
    assert all(s.flood for s in summaries)


def test_memory_is_bounded_whatever_the_senders() -> None:
    """10,000 distinct senders in a minute: a few are named, the rest counted together."""
    limiter = RefusalLimiter(max_keys=8, top=4)
    for i in range(10_000):
        limiter.admit("unpaired", f"radio:{i}", kind=f"Type{i % 50}", reason="not_authorized",
                      now_ms=5)
    [summary] = limiter.due(MIN)
    assert summary.refused == 10_000 and summary.more_senders and summary.senders == 8
    assert summary.top_senders[0] == ("(others)", 10_000 - 8)
    assert len(summary.types) == 4
    assert sum(n for _, n in summary.reasons) == 10_000


@pytest.mark.parametrize("kwargs", [{"answers_per_window": -1}, {"window_ms": 0},
                                    {"quiet_windows": 0}, {"max_keys": 0}])
def test_nonsense_parameters_are_refused(kwargs: dict[str, int]) -> None:
    """A limiter that could not bound anything is a programming error."""
    with pytest.raises(ValueError):
        RefusalLimiter(**kwargs)

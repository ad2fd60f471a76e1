"""Tests of pumplab.metrics.events: the level-2 hypoglycaemia event rules.

Series are written as strings, one character per sample: ``L`` = 50 mg/dL
(below 54), ``N`` = 100 mg/dL (at or above 54), ``.`` = missing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumplab.metrics import find_hypo_events, glycemic_metrics, series_metrics
from pumplab.metrics.events import HypoEvents

_VALUES = {"L": 50.0, "N": 100.0, "B": 60.0, ".": math.nan}


def series(text: str, repeat: int = 1) -> np.ndarray:
    """The series a pattern string describes, each sample repeated ``repeat`` times."""
    return np.repeat(np.array([_VALUES[c] for c in text]), repeat)


def spans(events: HypoEvents) -> list[tuple[float, float, bool]]:
    """(start_min, end_min, recovered) of each event."""
    return [
        (float(s), float(e), bool(r))
        for s, e, r in zip(events.start_min, events.end_min, events.recovered, strict=True)
    ]


# --- hand-made cases at 5-minute CGM sampling ----------------------------------


def test_fifteen_minutes_below_is_an_event() -> None:
    """Three 5-min readings below 54 (15 min) start an event at the first of them."""
    ev = find_hypo_events(series("NNLLLNNN"), 5)
    # Starts at sample 2 (minute 10); last below sample is 4, so it ends at minute 25,
    # and the three N that follow (15 min ≥ 54) are the recovery.
    assert spans(ev) == [(10.0, 25.0, True)]


def test_ten_minutes_below_is_not_an_event() -> None:
    """Two 5-min readings below 54 (10 min) are too short."""
    assert len(find_hypo_events(series("NNLLNNN"), 5)) == 0


def test_excursions_separated_by_less_than_the_end_criterion_are_one_event() -> None:
    """LLL NN LLL: 10 min at 100 does not end the event, so one event spans both."""
    ev = find_hypo_events(series("LLLNNLLLNNN"), 5)
    assert spans(ev) == [(0.0, 40.0, True)]


def test_fifteen_minutes_at_or_above_54_ends_an_event() -> None:
    """LLL NNN LLL: 15 min at 100 ends the first event; the second is a new one."""
    ev = find_hypo_events(series("LLLNNNLLL"), 5)
    assert spans(ev) == [(0.0, 15.0, True), (30.0, 45.0, False)]


def test_short_dip_after_an_event_belongs_to_it() -> None:
    """A 5-min dip below 54 before recovery extends the event's end."""
    ev = find_hypo_events(series("LLLNLNNN"), 5)
    # The dip is sample 4 (minutes 20-25), so the event ends at minute 25.
    assert spans(ev) == [(0.0, 25.0, True)]


def test_short_dip_before_an_event_is_not_part_of_it() -> None:
    """An event starts at its first run of ≥ 15 min, not at an earlier short dip."""
    ev = find_hypo_events(series("LNLLLNNN"), 5)
    assert spans(ev) == [(10.0, 25.0, True)]


def test_exactly_54_counts_as_recovered() -> None:
    """54 mg/dL is "at or above 54": it neither prolongs a run below nor blocks recovery."""
    bg = [50.0, 50.0, 50.0, 54.0, 54.0, 54.0, 50.0, 50.0, 50.0]
    assert len(find_hypo_events(bg, 5)) == 2


def test_event_running_at_end_of_data_is_counted_unrecovered() -> None:
    """An event still below at the end of the data counts, with recovered False."""
    ev = find_hypo_events(series("NNLLLL"), 5)
    assert spans(ev) == [(10.0, 30.0, False)]


# --- gaps ----------------------------------------------------------------------


def test_short_gap_inside_a_run_below_is_bridged() -> None:
    """L . L: a 5-min gap between two readings below 54 counts as below (15 min)."""
    ev = find_hypo_events(series("NL.LNNN"), 5)
    assert spans(ev) == [(5.0, 20.0, True)]


def test_short_gap_inside_a_recovery_is_bridged() -> None:
    """LLL N . N LLL: a bridged gap completes a 15-min recovery, so two events."""
    assert len(find_hypo_events(series("LLLN.NLLL"), 5)) == 2


def test_short_gap_between_sides_counts_for_neither() -> None:
    """LL . NNN: the gap is not below, so 10 min below is no event."""
    assert len(find_hypo_events(series("LL.NNN"), 5)) == 0


def test_short_gap_between_sides_does_not_count_as_recovery() -> None:
    """LLL . NN LLL: the gap is not recovery, 10 min at 100 does not end the event."""
    ev = find_hypo_events(series("LLL.NNLLL"), 5)
    assert spans(ev) == [(0.0, 45.0, False)]


def test_long_gap_ends_an_event_unrecovered() -> None:
    """A 15-min gap ends the event in progress (recovered False); after it a new one starts."""
    ev = find_hypo_events(series("LLL...LLL"), 5)
    assert spans(ev) == [(0.0, 15.0, False), (30.0, 45.0, False)]


def test_long_gap_is_not_bridged_into_an_event() -> None:
    """LL ... L: readings below on both sides of a long gap never add up."""
    assert len(find_hypo_events(series("LL...L"), 5)) == 0


def test_split_gap_length_is_configurable() -> None:
    """With split_gap_min=30 a 15-min gap is bridged, so LLL...LLL is one 45-min event."""
    ev = find_hypo_events(series("LLL...LLL"), 5, split_gap_min=30)
    assert spans(ev) == [(0.0, 45.0, False)]


def test_leading_and_trailing_gaps_change_nothing() -> None:
    """Missing samples before the first or after the last reading are not events."""
    assert spans(find_hypo_events(series("..LLLNNN.."), 5)) == [(10.0, 25.0, True)]


# --- sampling interval and batching ------------------------------------------


def test_one_minute_samples_use_minutes_not_sample_counts() -> None:
    """At 1-min sampling an event needs 15 samples below: 14 are not enough."""
    assert len(find_hypo_events(series("N" + "L" * 14 + "N" * 15), 1)) == 0
    assert spans(find_hypo_events(series("N" + "L" * 15 + "N" * 15), 1)) == [(1.0, 16.0, True)]


def test_recovery_at_one_minute_needs_fifteen_minutes() -> None:
    """At 1-min sampling 14 min at 100 do not end an event, 15 do."""
    low = "L" * 15
    assert len(find_hypo_events(series(low + "N" * 14 + low), 1)) == 1
    assert len(find_hypo_events(series(low + "N" * 15 + low), 1)) == 2


@pytest.mark.parametrize(
    "pattern",
    ["NNLLLNNN", "LLLNNLLLNNN", "LLLNNNLLL", "NL.LNNN", "LLL...LLL", "LL.NNN", "LLL.NNLLL"],
)
def test_events_do_not_depend_on_the_sampling_interval(pattern: str) -> None:
    """A 5-min series and the same series at 1 min (each value held 5 min) agree."""
    five = spans(find_hypo_events(series(pattern), 5))
    one = spans(find_hypo_events(series(pattern, repeat=5), 1))
    assert five == one


def test_events_do_not_run_across_patients() -> None:
    """Rows are patients: a run below at the end of one row and the start of the next is two
    short runs, not one event."""
    bg = np.vstack([series("NNNNLL"), series("LNNNNN")])
    assert len(find_hypo_events(bg, 5)) == 0


def test_batch_count_is_per_patient() -> None:
    """glycemic_metrics counts each patient's events in its own row."""
    bg = np.vstack([series("LLLNNNLLL"), series("NNNNNNNNN"), series("NLLLNNNNN")])
    assert glycemic_metrics(bg, 5).hypo_events.tolist() == [2, 0, 1]
    assert series_metrics(series("LLLNNNLLL"), 5).hypo_events == 2


def test_end_threshold_can_require_recovery_to_70() -> None:
    """With end_threshold_mg_dl=70, 15 min at 60 is not a recovery."""
    bg = series("LLLBBBLLL")  # B = 60 mg/dL
    assert len(find_hypo_events(bg, 5)) == 2
    assert len(find_hypo_events(bg, 5, end_threshold_mg_dl=70.0)) == 1


def test_end_threshold_below_threshold_is_refused() -> None:
    """Recovery to a level below the event threshold makes no sense."""
    with pytest.raises(ValueError, match="end_threshold"):
        find_hypo_events(series("LLL"), 5, end_threshold_mg_dl=50.0)


# --- against a plain loop written straight from the documented rules ----------


def reference_events(
    bg: np.ndarray, dt: float, split_gap_min: float = 15.0, end_mg_dl: float = 54.0
) -> list[tuple[float, float, bool]]:
    """A sample-by-sample state machine, independent of the run-length implementation.

    States: B below 54, A at or above ``end_mg_dl``, X in between, M missing,
    S part of a long (splitting) gap.
    """
    need = math.ceil(15.0 / dt - 1e-9)
    split = math.ceil(split_gap_min / dt - 1e-9)
    state = [
        "M" if math.isnan(v) else "B" if v < 54.0 else "A" if v >= end_mg_dl else "X" for v in bg
    ]
    # Gaps: long ones split, short ones with equal neighbours take their state.
    i = 0
    while i < len(state):
        if state[i] != "M":
            i += 1
            continue
        j = i
        while j < len(state) and state[j] == "M":
            j += 1
        if j - i >= split:
            state[i:j] = ["S"] * (j - i)
        elif i > 0 and j < len(state) and state[i - 1] == state[j]:
            state[i:j] = [state[j]] * (j - i)
        i = j
    out: list[tuple[float, float, bool]] = []
    in_event, below, above, run_start, start, last_end = False, 0, 0, 0, 0, 0
    for k, s in enumerate(state):
        if s == "B":
            if below == 0:
                run_start = k
            below, above, last_end = below + 1, 0, k + 1
            if not in_event and below >= need:
                in_event, start = True, run_start
        elif s == "A":
            above, below = above + 1, 0
            if in_event and above >= need:
                out.append((start * dt, last_end * dt, True))
                in_event = False
        else:  # "X", "M" (unbridged short gap) or "S" (split): breaks both runs
            below = above = 0
            if s == "S" and in_event:
                out.append((start * dt, last_end * dt, False))
                in_event = False
    if in_event:
        out.append((start * dt, last_end * dt, False))
    return out


@settings(max_examples=400, deadline=None)
@given(
    pattern=st.text(alphabet="LNB.", max_size=60),
    dt=st.sampled_from([1.0, 5.0]),
    split=st.sampled_from([5.0, 15.0, 30.0]),
    end_mg_dl=st.sampled_from([54.0, 70.0]),
)
def test_run_length_implementation_matches_the_loop_reference(
    pattern: str, dt: float, split: float, end_mg_dl: float
) -> None:
    """On random patterns the vectorised events equal those of the plain state machine."""
    bg = series(pattern) if pattern else np.zeros(0)
    got = (
        spans(find_hypo_events(bg, dt, split_gap_min=split, end_threshold_mg_dl=end_mg_dl))
        if pattern
        else []
    )
    assert got == reference_events(bg, dt, split, end_mg_dl)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="LN.", min_size=1, max_size=40), min_size=1, max_size=6))
def test_batched_events_equal_row_by_row(patterns: list[str]) -> None:
    """A ragged batch (padded with missing samples) finds each row's events."""
    width = max(len(p) for p in patterns)
    bg = np.vstack([series(p.ljust(width, ".")) for p in patterns])
    ev = find_hypo_events(bg, 5)
    for i, p in enumerate(patterns):
        mine = [s for s, pat in zip(spans(ev), ev.patient, strict=True) if pat == i]
        assert mine == reference_events(series(p), 5.0)

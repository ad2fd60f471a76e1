"""Hypoglycaemia events, found by a numpy run-length pass over a batch.

The definition (docs/metrics.md, "Level-2 hypoglycaemia events"):

* Every sample stands for the ``interval_min`` minutes that start at it, so a
  run of ``k`` samples lasts ``k × interval_min`` minutes.
* An event **starts** at the first sample of a run of samples below the
  threshold (54 mg/dL) lasting at least ``min_duration_min`` (15 min).
* It **ends** when glucose has stayed at or above ``end_threshold_mg_dl``
  (default: the threshold itself) for at least ``end_duration_min`` (15 min).
  Its end time is the end of its last below-threshold sample, i.e. the moment
  the recovery began.  Excursions below the threshold before that recovery,
  however short, belong to the same event: two excursions separated by less
  than the end criterion are one event.
* Missing samples are never counted as below nor as recovered, except inside
  a **short gap** (missing for less than ``split_gap_min`` minutes) whose two
  neighbouring readings are on the same side: the gap is bridged and its time
  counts for that side, as linear interpolation between the two readings would
  have it.  A short gap between readings on different sides counts for
  neither side.
* A **long gap** (missing for ``split_gap_min`` minutes or more) splits the
  series: it ends any event in progress (``recovered=False``), and nothing
  counts across it -- neither a below run nor a recovery.  The default of
  15 min is the end criterion itself: a gap that long could hide a whole
  recovery, so we do not guess across it.
* An event still in progress at the end of the data is counted, with
  ``recovered=False``.

This follows the consensus event definition (Battelino et al., Diabetes Care
2019;42:1593; Battelino et al., Lancet Diabetes Endocrinol 2023;11:42) as iglu
implements it (episode_calculation); the gap rules are ours (the consensus has
none) and differ from iglu only for a short gap between readings on different
sides, which iglu interpolates.

Deliberately not here: level-1 or hyperglycaemia event summaries (the
function takes a threshold, so they are a call away, but nothing reports them)
and any per-event statistics beyond start, end and whether it recovered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "LEVEL2_HYPO_MG_DL",
    "HypoEvents",
    "count_per_patient",
    "find_hypo_events",
    "validate_glucose",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Level-2 hypoglycaemia threshold, mg/dL (Battelino et al. 2019).
LEVEL2_HYPO_MG_DL = 54.0
#: Consensus event duration and end criterion, minutes.
EVENT_DURATION_MIN = 15.0

# Run states.  BETWEEN is a reading at or above the threshold but below the
# end threshold (only when they differ); BOUNDARY marks the end of a
# patient's row in the flat array.
_BELOW, _AT_OR_ABOVE, _BETWEEN, _MISSING, _SPLIT, _BOUNDARY = 1, 0, 2, -1, -2, -3


@dataclass(frozen=True, slots=True)
class HypoEvents:
    """The events of a batch, one entry per event, ordered by patient then time.

    ``start_index``/``end_index`` are sample indices into the patient's row
    (``end_index`` exclusive: one past the last below-threshold sample), so the
    event covers ``[start_index × interval, end_index × interval)`` minutes from
    the row's first sample.  ``recovered`` is False when the data stopped (end of
    row or a long gap) before the end criterion was met.
    """

    interval_min: float
    patient: IntArray
    start_index: IntArray
    end_index: IntArray
    recovered: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.patient.shape[0])

    @property
    def start_min(self) -> FloatArray:
        """Start of each event, minutes from the row's first sample."""
        return self.start_index.astype(np.float64) * self.interval_min

    @property
    def end_min(self) -> FloatArray:
        """End of each event, minutes from the row's first sample."""
        return self.end_index.astype(np.float64) * self.interval_min

    @property
    def duration_min(self) -> FloatArray:
        """Duration of each event, minutes (includes bridged gaps and short recoveries)."""
        return (self.end_index - self.start_index).astype(np.float64) * self.interval_min


def validate_glucose(bg_mg_dl: npt.ArrayLike) -> FloatArray:
    """``bg_mg_dl`` as a 2-D float array, refusing negative or infinite values.

    0 is accepted (a simulated plasma glucose at the model's zero gate).

    A 1-D array is taken as one patient.  ``NaN`` (no reading) is allowed.
    These are programming errors here (a trace file is checked, with a located
    :class:`~pumplab.errors.InputError`, by :mod:`pumplab.metrics.tracefile`).
    """
    bg = np.asarray(bg_mg_dl, dtype=np.float64)
    if bg.ndim == 1:
        bg = bg[None, :]
    if bg.ndim != 2:
        raise ValueError(f"glucose must have shape (N, T) or (T,), got shape {bg.shape}")
    # NaN compares False both ways, so only real bad values trip these.
    # Zero is allowed: a simulated plasma glucose reaches 0 mg/dL in an overdose
    # (the 2008 UVA/Padova model has no counter-regulation).  Negative is not.
    if np.any(bg < 0.0):
        raise ValueError("glucose values must be >= 0 mg/dL (NaN marks a missing sample)")
    if np.any(np.isinf(bg)):
        raise ValueError("glucose values must be finite (NaN marks a missing sample)")
    return bg


def _samples_for(duration_min: float, interval_min: float) -> int:
    """Smallest number of samples lasting at least ``duration_min``."""
    # The tolerance keeps 15 / 5 at exactly 3 despite floating point.
    return max(1, math.ceil(duration_min / interval_min - 1e-9))


def find_hypo_events(
    bg_mg_dl: npt.ArrayLike,
    interval_min: float,
    *,
    threshold_mg_dl: float = LEVEL2_HYPO_MG_DL,
    end_threshold_mg_dl: float | None = None,
    min_duration_min: float = EVENT_DURATION_MIN,
    end_duration_min: float = EVENT_DURATION_MIN,
    split_gap_min: float = EVENT_DURATION_MIN,
) -> HypoEvents:
    """Every hypoglycaemia event in a batch ``(N, T)`` of mg/dL (``NaN`` = missing).

    Defaults give the consensus level-2 event.  ``end_threshold_mg_dl`` (default
    ``threshold_mg_dl``) lets a caller require recovery to a higher level (for
    example 70 mg/dL); it must not be below ``threshold_mg_dl``.  See the module
    docstring for the exact start, end and gap rules.
    """
    bg = validate_glucose(bg_mg_dl)
    end_threshold = threshold_mg_dl if end_threshold_mg_dl is None else end_threshold_mg_dl
    for name, value in (
        ("interval_min", interval_min),
        ("min_duration_min", min_duration_min),
        ("end_duration_min", end_duration_min),
        ("split_gap_min", split_gap_min),
    ):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of minutes, got {value}")
    if end_threshold < threshold_mg_dl:
        raise ValueError("end_threshold_mg_dl must not be below threshold_mg_dl")

    n_patients, n_cols = bg.shape
    empty = np.zeros(0, dtype=np.int64)
    if n_patients == 0 or n_cols == 0:
        return HypoEvents(float(interval_min), empty, empty, empty, np.zeros(0, dtype=bool))

    # Per-sample state.  With end_threshold above threshold, readings in
    # [threshold, end_threshold) are neither below nor recovered: they extend
    # neither kind of run and are never bridged over.
    state = np.full(bg.shape, _MISSING, dtype=np.int8)
    state[bg < threshold_mg_dl] = _BELOW
    state[(bg >= threshold_mg_dl) & (bg < end_threshold)] = _BETWEEN
    state[bg >= end_threshold] = _AT_OR_ABOVE
    # A boundary column after every row keeps runs from spanning patients.
    width = n_cols + 1
    flat = np.concatenate([state, np.full((n_patients, 1), _BOUNDARY, np.int8)], axis=1).ravel()

    starts, lengths, values = _runs(flat)

    # Classify each run of missing samples: long gaps split, short gaps whose
    # neighbours agree are bridged to that state, the rest stay "neither".
    is_gap = values == _MISSING
    split_samples = _samples_for(split_gap_min, interval_min)
    left = np.concatenate([[_BOUNDARY], values[:-1]])
    right = np.concatenate([values[1:], [_BOUNDARY]])
    long_gap = is_gap & (lengths >= split_samples)
    bridge = is_gap & ~long_gap & (left == right) & ((left == _BELOW) | (left == _AT_OR_ABOVE))
    values = values.copy()
    values[long_gap] = _SPLIT
    values[bridge] = left[bridge]

    starts, lengths, values = _merge(starts, lengths, values)

    below_needed = _samples_for(min_duration_min, interval_min)
    end_needed = _samples_for(end_duration_min, interval_min)
    is_below = values == _BELOW
    qualifying = is_below & (lengths >= below_needed)
    ending = (values == _AT_OR_ABOVE) & (lengths >= end_needed)
    breaks = (values == _SPLIT) | (values == _BOUNDARY)
    segment = np.cumsum(breaks)
    endings_so_far = np.cumsum(ending)

    # A qualifying run starts a new event unless an event is already in
    # progress: i.e. unless the previous qualifying run is in the same segment
    # and no recovery has happened since it.
    q = np.flatnonzero(qualifying)
    if q.size == 0:
        return HypoEvents(float(interval_min), empty, empty, empty, np.zeros(0, dtype=bool))
    prev = np.concatenate([[-1], q[:-1]])
    has_prev = prev >= 0
    same_segment = has_prev & (segment[q] == segment[np.maximum(prev, 0)])
    recovered_between = endings_so_far[q] > endings_so_far[np.maximum(prev, 0)]
    first_runs = q[~same_segment | recovered_between]

    # Each event runs until the next recovery or break; its end is the end of
    # its last below run before that terminator.
    terminators = np.flatnonzero(ending | breaks)  # the last run is always a boundary
    term = terminators[np.searchsorted(terminators, first_runs, side="right")]
    below_runs = np.flatnonzero(is_below)
    last_below = below_runs[np.searchsorted(below_runs, term, side="left") - 1]

    start_pos = starts[first_runs]
    end_pos = starts[last_below] + lengths[last_below]
    patient = (start_pos // width).astype(np.int64)
    return HypoEvents(
        interval_min=float(interval_min),
        patient=patient,
        start_index=(start_pos - patient * width).astype(np.int64),
        end_index=(end_pos - patient * width).astype(np.int64),
        recovered=ending[term],
    )


def count_per_patient(events: HypoEvents, n_patients: int) -> IntArray:
    """Number of events of each of ``n_patients`` patients."""
    return np.bincount(events.patient, minlength=n_patients).astype(np.int64)


def _runs(flat: npt.NDArray[np.int8]) -> tuple[IntArray, IntArray, npt.NDArray[np.int8]]:
    """Run-length encoding: start, length and value of each maximal run."""
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    lengths = np.diff(np.concatenate([starts, [flat.size]])).astype(np.int64)
    return starts, lengths, flat[starts]


def _merge(
    starts: IntArray, lengths: IntArray, values: npt.NDArray[np.int8]
) -> tuple[IntArray, IntArray, npt.NDArray[np.int8]]:
    """Merge neighbouring runs that now have the same value (after bridging)."""
    new_group = np.concatenate([[True], values[1:] != values[:-1]])
    # Boundaries and splits never merge with each other: each is its own break.
    new_group |= (values == _BOUNDARY) | (values == _SPLIT)
    group = np.cumsum(new_group) - 1
    firsts = np.flatnonzero(new_group)
    merged_lengths = np.bincount(group, weights=lengths).astype(np.int64)
    return starts[firsts], merged_lengths, values[firsts]

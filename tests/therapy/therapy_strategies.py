"""Shared Hypothesis strategies for the therapy tests (imported by the test modules)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

from pumplab.therapy import BilinearCurve, Dose, ExponentialCurve, InsulinCurve


@st.composite
def exponential_curves(draw: st.DrawFn) -> ExponentialCurve:
    """Any valid exponential curve: DIA 2–8 h, peak between 10 min and just under DIA/2."""
    dia = draw(st.floats(min_value=120.0, max_value=480.0))
    peak = draw(st.floats(min_value=10.0, max_value=dia / 2.0 - 1.0))
    delay = draw(st.sampled_from([0.0, 10.0]))
    return ExponentialCurve(peak_min=peak, dia_min=dia, delay_min=delay)


bilinear_curves = st.floats(min_value=120.0, max_value=480.0).map(BilinearCurve)

curves: st.SearchStrategy[InsulinCurve] = st.one_of(exponential_curves(), bilinear_curves)

#: Positive doses (boluses and square waves) within the last 10 hours before t = 0.
positive_doses = st.lists(
    st.builds(
        Dose,
        start_min=st.floats(min_value=-600.0, max_value=0.0),
        units=st.floats(min_value=0.025, max_value=25.0),
        duration_min=st.sampled_from([0.0, 0.0, 30.0, 90.0, 240.0]),
    ),
    min_size=1,
    max_size=8,
)

#: Settings for every property test here: derandomized (the same examples on every run, as
#: the project's fixed-seed rule asks) and without a per-example deadline (shared machine).
FIXED = settings(derandomize=True, deadline=None, max_examples=100)

"""Outcome metrics: how a glucose trace is scored.

Now: the consensus glycaemic metrics (:mod:`pumplab.metrics.glycemic`),
hypoglycaemia events (:mod:`pumplab.metrics.events`) and the trace-file reader
the ``pumplab metrics`` command uses (:mod:`pumplab.metrics.tracefile`).
Not yet: security outcomes of attacks (a later ``metrics/security.py``).

The package imports numpy only; iglu (GPL) is used by the tests alone.
"""

from pumplab.metrics.events import LEVEL2_HYPO_MG_DL, HypoEvents, find_hypo_events
from pumplab.metrics.glycemic import (
    CGM_HIGH_MG_DL,
    CGM_LOW_MG_DL,
    METRIC_KEYS,
    GlycemicMetrics,
    GlycemicSummary,
    glycemic_metrics,
    gmi_pct,
    kovatchev_risk,
    series_metrics,
)
from pumplab.metrics.tracefile import (
    GlucoseSeries,
    GlucoseTrace,
    TraceMetrics,
    parse_trace,
    read_trace,
    trace_metrics,
)

__all__ = [
    "CGM_HIGH_MG_DL",
    "CGM_LOW_MG_DL",
    "LEVEL2_HYPO_MG_DL",
    "METRIC_KEYS",
    "GlucoseSeries",
    "GlucoseTrace",
    "GlycemicMetrics",
    "GlycemicSummary",
    "HypoEvents",
    "TraceMetrics",
    "find_hypo_events",
    "glycemic_metrics",
    "gmi_pct",
    "kovatchev_risk",
    "parse_trace",
    "read_trace",
    "series_metrics",
    "trace_metrics",
]

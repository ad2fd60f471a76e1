"""Outcome metrics: how a glucose trace is scored.

Now: the consensus glycaemic metrics (:mod:`pumplab.metrics.glycemic`), MAGE
and ADRR (:mod:`pumplab.metrics.variability`), Kovatchev's risk function
(:mod:`pumplab.metrics.risk`), hypoglycaemia events
(:mod:`pumplab.metrics.events`), mg/dL and mmol/L
(:mod:`pumplab.metrics.glucose_units`), cohort summaries and the per-patient
table (:mod:`pumplab.metrics.cohort`) and the trace-file reader, for
pumplab's traces and simglucose's result CSV (:mod:`pumplab.metrics.tracefile`).
Not yet: security outcomes of attacks (a later ``metrics/security.py``).

The package imports numpy only; iglu (GPL) is used by the tests alone.
"""

from pumplab.metrics.cohort import (
    CohortSummary,
    MetricsCollector,
    Quartiles,
    RangeCollector,
    RangeMetrics,
    cohort_summary,
    concatenate_metrics,
    patient_records,
    range_metrics,
    trace_cohort_summary,
    write_metrics_table,
)
from pumplab.metrics.events import LEVEL2_HYPO_MG_DL, HypoEvents, find_hypo_events
from pumplab.metrics.glucose_units import (
    UNIT_SWITCH_LEVEL,
    GlucoseUnit,
    RangeLimits,
    check_glucose_unit,
    metric_key,
    metrics_in_unit,
    parse_glucose_unit,
    range_limits_mg_dl,
    to_mg_dl,
)
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
from pumplab.metrics.variability import adrr, mage_mg_dl

__all__ = [
    "CGM_HIGH_MG_DL",
    "CGM_LOW_MG_DL",
    "LEVEL2_HYPO_MG_DL",
    "METRIC_KEYS",
    "UNIT_SWITCH_LEVEL",
    "CohortSummary",
    "GlucoseSeries",
    "GlucoseTrace",
    "GlucoseUnit",
    "GlycemicMetrics",
    "GlycemicSummary",
    "HypoEvents",
    "MetricsCollector",
    "Quartiles",
    "RangeCollector",
    "RangeLimits",
    "RangeMetrics",
    "TraceMetrics",
    "adrr",
    "check_glucose_unit",
    "cohort_summary",
    "concatenate_metrics",
    "find_hypo_events",
    "glycemic_metrics",
    "gmi_pct",
    "kovatchev_risk",
    "mage_mg_dl",
    "metric_key",
    "metrics_in_unit",
    "parse_glucose_unit",
    "parse_trace",
    "patient_records",
    "range_limits_mg_dl",
    "range_metrics",
    "read_trace",
    "series_metrics",
    "to_mg_dl",
    "trace_cohort_summary",
    "trace_metrics",
    "write_metrics_table",
]

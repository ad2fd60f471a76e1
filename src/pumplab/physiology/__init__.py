"""Virtual patients: the UVA/Padova type 1 diabetes model, batched over patients.

The public surface (everything else is private):

* the model: :class:`State` (the 13 states by name), :class:`Param`,
  :class:`ModelParameters`;
* subjects: :func:`load_cohort` (the standard 30), :func:`generate_population`
  and :class:`PopulationSampler` (seeded larger cohorts around them, whole or
  chunk by chunk), :class:`Cohort`, :class:`Subject`, :class:`TherapySettings`;
* simulation: :class:`PatientBatch` (per-minute stepping for the event loop),
  :func:`simulate` (whole runs), :class:`SimulationResult`,
  :class:`RunSummary`, :class:`ValidityFlag`, and the per-minute input limits
  :data:`MAX_CARBS_G_PER_MIN` and :data:`MAX_INSULIN_U_PER_MIN`.

The model, its sources and its quirks are documented in docs/physiology.md.
Importing this package does not import numba; the compiled kernel is loaded on
the first simulation that uses it.  The CGM and meter error models and meal
scenarios are the modules ``sensor``, ``meter`` and ``meals`` of this package.
"""

from pumplab.physiology.cohort import AGE_GROUPS, Cohort, Subject, TherapySettings, load_cohort
from pumplab.physiology.model import (
    EAT_RATE_G_PER_MIN,
    ModelParameters,
    Param,
    State,
)
from pumplab.physiology.population import (
    PlausibilityRules,
    PopulationSampler,
    generate_population,
    plausible,
)
from pumplab.physiology.simulator import (
    ABOVE_RANGE_MG_DL,
    DEFAULT_STEPS,
    MAX_CARBS_G_PER_MIN,
    MAX_INSULIN_U_PER_MIN,
    SEVERE_HYPO_MG_DL,
    Backend,
    PatientBatch,
    RunSummary,
    SimulationResult,
    StepControl,
    ValidityFlag,
    default_backend,
    simulate,
)

__all__ = [
    "ABOVE_RANGE_MG_DL",
    "AGE_GROUPS",
    "DEFAULT_STEPS",
    "EAT_RATE_G_PER_MIN",
    "MAX_CARBS_G_PER_MIN",
    "MAX_INSULIN_U_PER_MIN",
    "SEVERE_HYPO_MG_DL",
    "Backend",
    "Cohort",
    "ModelParameters",
    "Param",
    "PatientBatch",
    "PlausibilityRules",
    "PopulationSampler",
    "RunSummary",
    "SimulationResult",
    "State",
    "StepControl",
    "Subject",
    "TherapySettings",
    "ValidityFlag",
    "default_backend",
    "generate_population",
    "load_cohort",
    "plausible",
    "simulate",
]

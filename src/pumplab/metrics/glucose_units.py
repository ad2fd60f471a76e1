"""Glucose units for the metrics: mg/dL and mmol/L in, mg/dL or mmol/L out.

The metrics core works in mg/dL.  A trace in mmol/L is read as such
(:func:`pumplab.metrics.tracefile.read_trace` with ``unit=``), converted to
mg/dL with :data:`pumplab.units.MG_DL_PER_MMOL_L` (18.0156, glucose's molar
mass), and scored against the consensus ranges *as the consensus states them
in mmol/L* -- 3.0, 3.9, 10.0 and 13.9 mmol/L (Battelino et al., Diabetes Care
2019;42:1593, Table 1) -- converted the same way.  Converting the readings and
the limits by the same multiplication keeps every comparison: a reading of
exactly 10.0 mmol/L is in range, as a mmol/L user expects, although
10.0 mmol/L is 180.16 mg/dL, above the 180 mg/dL limit.  (Multiplying by a
positive number never reverses an order in floating point; only two values
within a rounding error of each other can compare equal afterwards.)

What this module offers the command line and other callers:

* :class:`GlucoseUnit` and :func:`parse_glucose_unit` (an ``InputError``
  naming the option for anything else);
* :func:`range_limits_mg_dl`: the consensus limits for a unit, in mg/dL;
* :func:`check_glucose_unit`: refuse readings that look like the other unit
  (all below :data:`UNIT_SWITCH_LEVEL` read as mg/dL, or all at or above it
  read as mmol/L), with a hint to say the unit;
* :func:`to_mg_dl` and :func:`metrics_in_unit` (a metrics record with its
  concentrations in mmol/L and the keys renamed accordingly).

Deliberately not here: reading files (:mod:`pumplab.metrics.tracefile`),
printing, and other units (mg/L, g/L).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from pumplab.errors import InputError
from pumplab.units import MG_DL_PER_MMOL_L

__all__ = [
    "CONCENTRATION_KEYS",
    "UNIT_SWITCH_LEVEL",
    "GlucoseUnit",
    "RangeLimits",
    "check_glucose_unit",
    "metric_key",
    "metrics_in_unit",
    "parse_glucose_unit",
    "range_limits_mg_dl",
    "to_mg_dl",
]

FloatArray = npt.NDArray[np.float64]


class GlucoseUnit(StrEnum):
    """The two units glucose concentrations come in."""

    MG_DL = "mg/dL"
    MMOL_L = "mmol/L"


@dataclass(frozen=True, slots=True)
class RangeLimits:
    """The consensus glucose range limits, in mg/dL (Battelino et al. 2019, Table 1).

    ``very_low`` < 54 mg/dL (3.0 mmol/L) is level 2 hypoglycaemia; ``low`` < 70
    (3.9); in range ``low`` ≤ BG ≤ ``high`` (180; 10.0); ``very_high`` > 250
    (13.9) is level 2 hyperglycaemia.
    """

    very_low: float
    low: float
    high: float
    very_high: float

    def __post_init__(self) -> None:
        if not 0.0 < self.very_low < self.low < self.high < self.very_high:
            raise ValueError("range limits must be positive and increasing")


#: The consensus limits as stated in each unit (Battelino et al. 2019, Table 1).
_CONSENSUS: Final = {
    GlucoseUnit.MG_DL: (54.0, 70.0, 180.0, 250.0),
    GlucoseUnit.MMOL_L: (3.0, 3.9, 10.0, 13.9),
}

#: Readings all below this are mmol/L, not mg/dL (35 mg/dL is a hypoglycaemia
#: no whole trace stays in; 35 mmol/L = 631 mg/dL is above every meter's and
#: sensor's reporting range, 600 and 400 mg/dL).
UNIT_SWITCH_LEVEL: Final = 35.0

#: The metric keys that hold a concentration: renamed and converted for mmol/L.
CONCENTRATION_KEYS: Final = ("mean_mg_dl", "sd_mg_dl", "mage_mg_dl")


def parse_glucose_unit(text: str, *, source: str = "--units") -> GlucoseUnit:
    """``mg/dL`` or ``mmol/L`` (any case) as a :class:`GlucoseUnit`; anything else is refused."""
    for unit in GlucoseUnit:
        if text.strip().lower() == unit.value.lower():
            return unit
    raise InputError(
        f"unknown glucose unit {text!r}",
        source=source,
        field="units",
        allowed=" or ".join(u.value for u in GlucoseUnit),
    )


def to_mg_dl(values: npt.ArrayLike, unit: GlucoseUnit) -> FloatArray:
    """Concentrations in ``unit`` as mg/dL (a copy; NaN stays NaN)."""
    arr = np.array(values, dtype=np.float64)
    if GlucoseUnit(unit) is GlucoseUnit.MMOL_L:
        arr *= MG_DL_PER_MMOL_L
    return arr


def range_limits_mg_dl(unit: GlucoseUnit = GlucoseUnit.MG_DL) -> RangeLimits:
    """The consensus limits as stated in ``unit``, converted to mg/dL as readings are."""
    unit = GlucoseUnit(unit)
    very_low, low, high, very_high = (float(v) for v in to_mg_dl(_CONSENSUS[unit], unit))
    return RangeLimits(very_low, low, high, very_high)


def check_glucose_unit(
    values: npt.ArrayLike,
    unit: GlucoseUnit,
    *,
    source: str | None = None,
    field: str | None = None,
    option: str = "--units",
) -> None:
    """Refuse readings (in ``unit``, NaN = none) that look like the other unit.

    Read as mg/dL, readings all below :data:`UNIT_SWITCH_LEVEL` are mmol/L:
    scored as mg/dL they would be 100 % severe hypoglycaemia.  Read as mmol/L,
    readings all at or above it are mg/dL.  ``option`` names how the caller
    says the unit (the hint of the error).  No readings: nothing to judge.
    """
    unit = GlucoseUnit(unit)
    arr = np.asarray(values, dtype=np.float64)
    present = arr[~np.isnan(arr)]
    if present.size == 0:
        return
    if unit is GlucoseUnit.MG_DL and np.all(present < UNIT_SWITCH_LEVEL):
        raise InputError(
            f"all {present.size} readings are below {UNIT_SWITCH_LEVEL:g} "
            f"(largest {present.max():g}): the values look like mmol/L, not mg/dL",
            source=source,
            field=field,
            allowed=f"glucose in mg/dL, or say the values are mmol/L ({option} mmol/L)",
        )
    if unit is GlucoseUnit.MMOL_L and np.all(present >= UNIT_SWITCH_LEVEL):
        raise InputError(
            f"all {present.size} readings are {UNIT_SWITCH_LEVEL:g} or more "
            f"(smallest {present.min():g}): the values look like mg/dL, not mmol/L",
            source=source,
            field=field,
            allowed=f"glucose in mmol/L, or say the values are mg/dL ({option} mg/dL)",
        )


def metric_key(key: str, unit: GlucoseUnit) -> str:
    """The name of metric ``key`` when reported in ``unit`` (``mean_mg_dl`` -> ``mean_mmol_l``)."""
    if GlucoseUnit(unit) is GlucoseUnit.MMOL_L and key in CONCENTRATION_KEYS:
        return key.removesuffix("_mg_dl") + "_mmol_l"
    return key


def metrics_in_unit(
    record: dict[str, str | float | int | None], unit: GlucoseUnit
) -> dict[str, str | float | int | None]:
    """A metrics record (mg/dL keys, as ``as_dict()`` gives) reported in ``unit``.

    In mmol/L the concentrations (:data:`CONCENTRATION_KEYS`) are divided by
    18.0156 and renamed (``mean_mmol_l``, ...); percentages, risk indices,
    GMI and counts do not depend on the unit.  Key order is kept.
    """
    unit = GlucoseUnit(unit)
    out: dict[str, str | float | int | None] = {}
    for key, value in record.items():
        if unit is GlucoseUnit.MMOL_L and key in CONCENTRATION_KEYS and value is not None:
            assert isinstance(value, float | int)
            value = float(value) / MG_DL_PER_MMOL_L
        out[metric_key(key, unit)] = value
    return out

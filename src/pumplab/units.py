"""Unit conversions, named, in one place.

Every conversion between the units users speak (insulin units, grams of
carbohydrate, mg/dL or mmol/L of glucose) and the units the UVA/Padova model
works in (pmol/kg of insulin, mg and mg/kg of glucose) lives here, so that a
factor is never retyped inline.  Pure functions on floats or numpy arrays.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "MG_DL_PER_MMOL_L",
    "MG_PER_G",
    "PMOL_PER_U",
    "g_to_mg",
    "mg_dl_to_mmol_l",
    "mmol_l_to_mg_dl",
    "pmol_per_kg_to_u",
    "u_per_h_to_u_per_min",
    "u_per_min_to_u_per_h",
    "u_to_pmol_per_kg",
]

#: Insulin: 1 U = 6 nmol = 6000 pmol.  The conversion used by the UVA/Padova
#: simulator papers and by simglucose (``action.insulin * 6000 / BW``).
PMOL_PER_U = 6000.0

#: Carbohydrate mass: the model's gut states are in mg.
MG_PER_G = 1000.0

#: Glucose: molar mass 180.156 g/mol, so 1 mmol/L = 18.0156 mg/dL.  (Clinical
#: tools round this to 18 or 18.0182; the difference is below 0.02 %.)
MG_DL_PER_MMOL_L = 18.0156

Num = TypeVar("Num", float, npt.NDArray[np.float64])


def u_to_pmol_per_kg(units: Num, body_weight_kg: Num) -> Num:
    """Insulin in U (or U/min) to pmol/kg (or pmol/kg/min) for a body weight."""
    return units * PMOL_PER_U / body_weight_kg


def pmol_per_kg_to_u(pmol_per_kg: Num, body_weight_kg: Num) -> Num:
    """Inverse of :func:`u_to_pmol_per_kg`."""
    return pmol_per_kg * body_weight_kg / PMOL_PER_U


def g_to_mg(grams: Num) -> Num:
    """Carbohydrate grams (or g/min) to mg (or mg/min), the gut model's unit."""
    return grams * MG_PER_G


def u_per_h_to_u_per_min(rate_u_per_h: Num) -> Num:
    """A basal rate in U/h to U/min."""
    return rate_u_per_h / 60.0


def u_per_min_to_u_per_h(rate_u_per_min: Num) -> Num:
    """A rate in U/min to U/h."""
    return rate_u_per_min * 60.0


def mg_dl_to_mmol_l(mg_dl: Num) -> Num:
    """Glucose concentration in mg/dL to mmol/L."""
    return mg_dl / MG_DL_PER_MMOL_L


def mmol_l_to_mg_dl(mmol_l: Num) -> Num:
    """Glucose concentration in mmol/L to mg/dL."""
    return mmol_l * MG_DL_PER_MMOL_L

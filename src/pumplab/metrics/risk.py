"""Kovatchev's blood glucose risk function, the base of LBGI, HBGI and ADRR.

f(BG) = 1.509·(ln(BG)^1.084 − 5.381) with BG in mg/dL symmetrises the glucose
scale around about 112.5 mg/dL; r = 10·f² is the risk (Kovatchev et al.,
Diabetes Care 1997;20:1655 and 2006;29:2433).  docs/metrics.md has the
definitions.  Pure numpy; deliberately nothing else.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["RISK_FLOOR_MG_DL", "kovatchev_risk"]

FloatArray = npt.NDArray[np.float64]

# Kovatchev et al. 1997 (Diabetes Care 20:1655), with the constants for mg/dL:
# f(BG) = 1.509 · (ln(BG)^1.084 − 5.381), r(BG) = 10 · f(BG)².
_KOV_ALPHA = 1.084
_KOV_BETA = 5.381
_KOV_GAMMA = 1.509
_KOV_SCALE = 10.0

#: Below this, Kovatchev's risk function is undefined (ln BG ≤ 0); simulated
#: plasma glucose under it is scored at it (see :func:`kovatchev_risk`).
RISK_FLOOR_MG_DL = 1.0


def kovatchev_risk(bg_mg_dl: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Kovatchev's low and high risk ``(rl, rh)`` of each glucose value.

    f(BG) = 1.509·(ln(BG)^1.084 − 5.381) is zero at BG ≈ 112.5 mg/dL, negative
    below and positive above; r = 10·f²; rl = r where f < 0 (else 0), rh = r
    where f > 0 (else 0) (Kovatchev et al. 1997; 2006).  ``NaN`` stays ``NaN``.

    The formula is defined for BG > 1 mg/dL (ln BG > 0), which covers every
    meter and sensor reading.  A *simulated* plasma glucose can fall below that,
    to 0, in an overdose (the 2008 model has no counter-regulation); such a
    value is scored at :data:`RISK_FLOOR_MG_DL` = 1 mg/dL, where ln BG = 0 and the
    low risk is 10·(1.509·5.381)² ≈ 659.3, the formula's largest defined low
    risk, rather than ``NaN`` or infinity.
    """
    bg = np.asarray(bg_mg_dl, dtype=np.float64)
    log_bg = np.log(np.maximum(bg, RISK_FLOOR_MG_DL))
    f = _KOV_GAMMA * (log_bg**_KOV_ALPHA - _KOV_BETA)
    r = _KOV_SCALE * f * f
    rl = np.where(f < 0.0, r, 0.0)
    rh = np.where(f > 0.0, r, 0.0)
    nan = np.isnan(bg)
    rl[nan] = np.nan
    rh[nan] = np.nan
    return rl, rh

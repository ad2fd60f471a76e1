"""JavaScript number semantics that oref0's arithmetic depends on.

oref0 is JavaScript: ``Math.round`` rounds halves toward +∞ (Python's
``round`` rounds them to even), ``Number.prototype.toFixed`` rounds the exact
binary value half-up, division by zero gives ±∞ or NaN instead of raising,
and ``String(number)`` prints whole numbers without a decimal point.  The port
uses these helpers wherever the difference can change a number oref0 prints,
so pumplab and oref0 agree to the bit on the same inputs.

Sources: ECMAScript 2023 §21.3.2.28 (Math.round), §21.1.3.3
(Number.prototype.toFixed), §6.1.6.1.20 (Number::toString).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "js_div",
    "js_mathround",
    "js_number",
    "js_round",
    "js_str",
    "js_to_fixed",
    "round_basal",
]


def js_mathround(x: float) -> float:
    """``Math.round(x)``: the integer nearest ``x``, halves toward +∞ (NaN/±∞ unchanged)."""
    if not math.isfinite(x):
        return x
    floor = math.floor(x)
    return float(floor + 1) if x - floor >= 0.5 else float(floor)


def js_round(value: float, digits: int = 0) -> float:
    """oref0's ``round(value, digits)``: ``Math.round(value * 10^digits) / 10^digits``."""
    scale = 10.0**digits
    return js_mathround(value * scale) / scale


def js_div(a: float, b: float) -> float:
    """``a / b`` with IEEE results for a zero divisor (±∞, or NaN for 0/0) as JavaScript gives."""
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        negative = (a < 0.0) != (math.copysign(1.0, b) < 0.0)
        return -math.inf if negative else math.inf
    return a / b


def js_to_fixed(x: float, digits: int) -> str:
    """``x.toFixed(digits)``: the exact binary value rounded half-up to ``digits`` decimals."""
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    quantum = Decimal(1).scaleb(-digits)
    text = format(Decimal(x).quantize(quantum, rounding=ROUND_HALF_UP), "f")
    # toFixed never prints "-0.00": it is computed on the absolute value and a minus
    # sign added only if x < 0 (§21.1.3.3 step 8 on -0 gives "0").
    if x == 0.0 and text.startswith("-"):
        text = text[1:]
    return text


def js_number(x: float) -> float | int:
    """A number as JSON would carry it from JavaScript: whole values as ``int``."""
    if math.isfinite(x) and x == math.floor(x) and abs(x) < 2.0**53:
        return int(x)
    return x


def js_str(x: float | int) -> str:
    """``String(x)`` for the numbers oref0 prints in its reason text."""
    if isinstance(x, bool):  # pragma: no cover - never called with one
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == math.floor(x) and abs(x) < 1e21:
        return str(int(x))
    text = repr(x)
    if "e" in text:  # JavaScript: 1e-7, 1.5e+21 (no zero padding, explicit +)
        mantissa, exponent = text.split("e")
        exp = int(exponent)
        text = f"{mantissa}e{'+' if exp > 0 else '-'}{abs(exp)}"
    return text


#: Basal-rate steps of x23/x54 pumps below 1 U/h: 1/40 U/h; other pumps 1/20 U/h.
#: From 1 to 10 U/h all pumps step 1/20 U/h, from 10 U/h 1/10 U/h
#: (oref0 ``lib/round-basal.js``).
_FINE_SCALE = 40.0
_COARSE_SCALE = 20.0
_MID_SCALE = 20.0
_HIGH_SCALE = 10.0


def round_basal(rate_u_per_h: float, model: str | None) -> float:
    """oref0 ``round_basal``: round (to nearest, halves up) to the pump's basal grid.

    ``model`` is the profile's pump model string; one ending in "23" or "54"
    has the fine 0.025 U/h grid below 1 U/h.
    """
    fine = model is not None and (model.endswith("54") or model.endswith("23"))
    low_scale = _FINE_SCALE if fine else _COARSE_SCALE
    if rate_u_per_h < 1.0:
        return js_mathround(rate_u_per_h * low_scale) / low_scale
    if rate_u_per_h < 10.0:
        return js_mathround(rate_u_per_h * _MID_SCALE) / _MID_SCALE
    return js_mathround(rate_u_per_h * _HIGH_SCALE) / _HIGH_SCALE

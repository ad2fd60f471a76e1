"""Numbers as users write them in pumplab's text files: ASCII decimal only.

Python's ``int()`` and ``float()`` accept more than a CSV or TOML number
should be: digits of other scripts (``"٣"`` is 3), underscores between digits
(``"1_000"`` is 1000, ``"1_0"`` is 10) and surrounding whitespace of any kind.
A value like that in an inputs or trace file is almost surely a mistake, so
the file readers (the ``patient simulate`` inputs, ``pumplab metrics``
traces) accept only

* integers: an optional sign and the ASCII digits ``0-9``;
* decimals: an optional sign, ASCII digits with at most one ``.``, and an
  optional exponent ``e``/``E`` with an optional sign and ASCII digits;

and, for decimals, the words ``nan`` and ``inf``/``infinity`` (any case, with
a sign) so that the caller can refuse them as "not finite" rather than "not a
number".  Digit strings are bounded in length, so a 10,000-digit integer costs
nothing before it is refused.

Deliberately not here: ranges (each reader says what it allows) and anything
locale-dependent (no thousands separators, no decimal comma).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MAX_DIGITS", "parse_decimal", "parse_integer"]

#: Longest digit string accepted (far beyond any count of minutes or grams).
MAX_DIGITS: Final = 40

_INTEGER: Final = re.compile(rf"[+-]?[0-9]{{1,{MAX_DIGITS}}}", re.ASCII)
_DECIMAL: Final = re.compile(
    rf"[+-]?(?:[0-9]{{1,{MAX_DIGITS}}}(?:\.[0-9]{{0,{MAX_DIGITS}}})?|\.[0-9]{{1,{MAX_DIGITS}}})"
    r"(?:[eE][+-]?[0-9]{1,4})?",
    re.ASCII,
)
_NON_FINITE: Final = re.compile(r"[+-]?(?:nan|inf|infinity)", re.ASCII | re.IGNORECASE)


def parse_integer(text: str) -> int | None:
    """``text`` (already stripped) as an ASCII decimal integer, or ``None`` if it is not one."""
    if _INTEGER.fullmatch(text) is None:
        return None
    return int(text)


def parse_decimal(text: str) -> float | None:
    """``text`` (already stripped) as an ASCII decimal number, or ``None`` if it is not one.

    ``nan``/``inf`` words give NaN/infinity (for the caller to refuse); an
    exponent beyond the float range gives infinity (likewise).
    """
    if _DECIMAL.fullmatch(text) is None and _NON_FINITE.fullmatch(text) is None:
        return None
    return float(text)

"""Shared helpers for the physiology tests: the golden traces and standard input days."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

GOLDEN_PATH = Path(__file__).resolve().parent.parent / "golden" / "simglucose_traces.npz"


@dataclass(frozen=True)
class GoldenDay:
    """simglucose's traces for the 30 standard subjects on one day, and the inputs it saw."""

    day: str
    names: tuple[str, ...]
    carbs_g: np.ndarray  # (30, 1440)
    insulin_u: np.ndarray  # (30, 1440)
    bg_mg_dl: np.ndarray  # (30, 1441) Gp/Vg
    gsub_mg_dl: np.ndarray  # (30, 1441) observation.Gsub


@cache
def golden_day(day: str) -> GoldenDay:
    """Load one day of tests/golden/simglucose_traces.npz."""
    with np.load(GOLDEN_PATH) as data:
        days = [str(d) for d in data["days"]]
        i = days.index(day)
        return GoldenDay(
            day=day,
            names=tuple(str(n) for n in data["names"]),
            carbs_g=data["carbs_g"][i],
            insulin_u=data["insulin_u"][i],
            bg_mg_dl=data["bg_mg_dl"][i],
            gsub_mg_dl=data["gsub_mg_dl"][i],
        )


def golden_metadata() -> dict[str, str]:
    """Versions recorded in the golden file."""
    with np.load(GOLDEN_PATH) as data:
        return {k: str(data[k]) for k in ("simglucose_version", "scipy_version", "numpy_version")}

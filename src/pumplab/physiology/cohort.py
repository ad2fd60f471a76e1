"""Virtual subjects: the standard 30 of the UVA/Padova simulator and cohorts of them.

The shipped data file ``data/cohort.csv`` holds, verbatim, simglucose 0.2.11's
``params/vpatient_params.csv`` (model parameters and initial state of the 30
subjects adolescent#001-010, adult#001-010, child#001-010, derived from the
adult, adolescent and child populations of the UVA/Padova T1DM simulator
(Kovatchev et al., JDST 3(1):44-55, 2009; Dalla Man et al., JDST 8(1):26-34,
2014) joined with its ``params/Quest.csv`` (the subjects' questionnaire
data: carbohydrate ratio CR, correction factor CF, age, total daily insulin
TDI).

A :class:`Cohort` is array-shaped (one row per subject) because the simulator
is batched; :meth:`Cohort.subject` gives one subject as a typed
:class:`Subject` record.  Each subject's basal rate is its steady-state
insulin infusion (``u2ss`` pmol/kg/min x BW / 6000 U per min, x 60 per hour),
the rate that holds the published initial state still.

Deliberately not here: sampling new subjects (see
:mod:`pumplab.physiology.population`) and simulating (see
:mod:`pumplab.physiology.simulator`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from pumplab.errors import InputError
from pumplab.physiology.model import N_PARAMS, N_STATES, ModelParameters, Param
from pumplab.units import pmol_per_kg_to_u, u_per_min_to_u_per_h

__all__ = [
    "AGE_GROUPS",
    "Cohort",
    "Subject",
    "TherapySettings",
    "load_cohort",
    "read_standard_table",
]

FloatArray = npt.NDArray[np.float64]

#: The age groups of the standard cohort, in file order.
AGE_GROUPS: tuple[str, ...] = ("adolescent", "adult", "child")

_STANDARD_NAME = re.compile(r"^(adolescent|adult|child)#(00[1-9]|010)$")
_STANDARD_PATTERN = "adolescent#001-010, adult#001-010, child#001-010"


@dataclass(frozen=True, slots=True)
class TherapySettings:
    """A subject's insulin therapy, as its questionnaire data gives it.

    ``basal_rate_u_per_h`` is the steady-state basal (u2ss); the others come
    from simglucose's Quest.csv for the standard subjects and are derived for
    generated ones (docs/physiology.md, "Population generator").
    """

    basal_rate_u_per_h: float
    carb_ratio_g_per_u: float
    correction_factor_mg_dl_per_u: float
    total_daily_insulin_u: float
    age_years: float
    body_weight_kg: float


@dataclass(frozen=True, slots=True)
class Subject:
    """One virtual subject: model parameters, initial state and therapy settings."""

    name: str
    age_group: str
    parent: str  # the standard subject it was generated around (itself if standard)
    parameters: ModelParameters
    initial_state: tuple[float, ...]  # the 13 states, in State order
    therapy: TherapySettings

    @property
    def fasting_bg_mg_dl(self) -> float:
        """Plasma glucose of the initial (basal steady) state, Gp/Vg."""
        return self.initial_state[3] / self.parameters.Vg


def _read_only(a: npt.ArrayLike) -> FloatArray:
    arr = np.array(a, dtype=np.float64, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, slots=True, eq=False)
class Cohort:
    """N virtual subjects as arrays (row i is subject ``names[i]``).

    ``parameters`` is ``(N, N_PARAMS)`` in :class:`~pumplab.physiology.model.Param`
    order, ``initial_state`` ``(N, 13)``; therapy arrays are ``(N,)``.  All
    arrays are read-only copies.
    """

    names: tuple[str, ...]
    age_groups: tuple[str, ...]
    parents: tuple[str, ...]
    parameters: FloatArray
    initial_state: FloatArray
    carb_ratio_g_per_u: FloatArray
    correction_factor_mg_dl_per_u: FloatArray
    total_daily_insulin_u: FloatArray
    age_years: FloatArray
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.names)
        if n == 0:
            raise ValueError("a cohort needs at least one subject")
        if len(set(self.names)) != n:
            raise ValueError("subject names must be unique")
        if len(self.age_groups) != n or len(self.parents) != n:
            raise ValueError("names, age_groups and parents must have the same length")
        for attr, shape in (
            ("parameters", (n, N_PARAMS)),
            ("initial_state", (n, N_STATES)),
            ("carb_ratio_g_per_u", (n,)),
            ("correction_factor_mg_dl_per_u", (n,)),
            ("total_daily_insulin_u", (n,)),
            ("age_years", (n,)),
        ):
            value = _read_only(getattr(self, attr))
            if value.shape != shape:
                raise ValueError(f"{attr} has shape {value.shape}, expected {shape}")
            object.__setattr__(self, attr, value)
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(self.names)})

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[Subject]:
        return (self.subject_at(i) for i in range(len(self)))

    @property
    def body_weight_kg(self) -> FloatArray:
        """Body weight of each subject (kg)."""
        return self.parameters[:, Param.BW]

    @property
    def basal_rate_u_per_h(self) -> FloatArray:
        """Steady-state basal rate of each subject: u2ss x BW / 6000 U/min, in U/h."""
        u_per_min = pmol_per_kg_to_u(self.parameters[:, Param.u2ss], self.body_weight_kg)
        return u_per_min_to_u_per_h(u_per_min)

    @property
    def basal_u_per_min(self) -> FloatArray:
        """The same basal as U per minute, exactly as simglucose computes it."""
        return pmol_per_kg_to_u(self.parameters[:, Param.u2ss], self.body_weight_kg)

    def index(self, name: str) -> int:
        """Row of subject ``name``; unknown names raise :class:`InputError`."""
        try:
            return self._index[name]
        except KeyError:
            raise InputError(
                f"unknown patient '{name}'", field="patient", allowed=self._allowed_names()
            ) from None

    def subject(self, name: str) -> Subject:
        """The subject called ``name``; unknown names raise :class:`InputError`."""
        return self.subject_at(self.index(name))

    def subject_at(self, i: int) -> Subject:
        """The subject in row ``i``."""
        if not 0 <= i < len(self):
            raise IndexError(f"subject index {i} out of range 0..{len(self) - 1}")
        params = ModelParameters.from_array(self.parameters[i])
        therapy = TherapySettings(
            basal_rate_u_per_h=float(self.basal_rate_u_per_h[i]),
            carb_ratio_g_per_u=float(self.carb_ratio_g_per_u[i]),
            correction_factor_mg_dl_per_u=float(self.correction_factor_mg_dl_per_u[i]),
            total_daily_insulin_u=float(self.total_daily_insulin_u[i]),
            age_years=float(self.age_years[i]),
            body_weight_kg=params.BW,
        )
        return Subject(
            name=self.names[i],
            age_group=self.age_groups[i],
            parent=self.parents[i],
            parameters=params,
            initial_state=tuple(float(v) for v in self.initial_state[i]),
            therapy=therapy,
        )

    def select(self, names: Sequence[str]) -> Cohort:
        """A cohort of the named subjects, in the order given."""
        rows = [self.index(name) for name in names]
        if not rows:
            raise ValueError("select() needs at least one name")
        return self.take(np.asarray(rows, dtype=np.intp))

    def take(self, rows: npt.NDArray[np.intp]) -> Cohort:
        """A cohort of the subjects in ``rows`` (row indices), in that order."""
        idx = [int(r) for r in rows]
        return Cohort(
            names=tuple(self.names[i] for i in idx),
            age_groups=tuple(self.age_groups[i] for i in idx),
            parents=tuple(self.parents[i] for i in idx),
            parameters=self.parameters[rows],
            initial_state=self.initial_state[rows],
            carb_ratio_g_per_u=self.carb_ratio_g_per_u[rows],
            correction_factor_mg_dl_per_u=self.correction_factor_mg_dl_per_u[rows],
            total_daily_insulin_u=self.total_daily_insulin_u[rows],
            age_years=self.age_years[rows],
        )

    @classmethod
    def concatenate(cls, parts: Sequence[Cohort]) -> Cohort:
        """One cohort of the subjects of ``parts``, in order (names must stay unique)."""
        if not parts:
            raise ValueError("concatenate() needs at least one cohort")
        return cls(
            names=tuple(n for c in parts for n in c.names),
            age_groups=tuple(g for c in parts for g in c.age_groups),
            parents=tuple(p for c in parts for p in c.parents),
            parameters=np.concatenate([c.parameters for c in parts]),
            initial_state=np.concatenate([c.initial_state for c in parts]),
            carb_ratio_g_per_u=np.concatenate([c.carb_ratio_g_per_u for c in parts]),
            correction_factor_mg_dl_per_u=np.concatenate(
                [c.correction_factor_mg_dl_per_u for c in parts]
            ),
            total_daily_insulin_u=np.concatenate([c.total_daily_insulin_u for c in parts]),
            age_years=np.concatenate([c.age_years for c in parts]),
        )

    def _allowed_names(self) -> str:
        if all(_STANDARD_NAME.match(n) for n in self.names) and len(self.names) == 30:
            return _STANDARD_PATTERN
        if len(self.names) <= 6:
            return ", ".join(self.names)
        return f"{self.names[0]} ... {self.names[-1]} ({len(self.names)} names)"


def read_standard_table() -> dict[str, list[str]]:
    """The shipped cohort file as columns of raw strings (comment lines skipped).

    Used by :func:`load_cohort` and by the population generator, which needs
    the primary parameters (EGPb, Gb, Ipb, CL, HEb ...) the simulator does not.
    """
    text = resources.files("pumplab.physiology").joinpath("data/cohort.csv").read_text("utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = next(reader)
    columns: dict[str, list[str]] = {name: [] for name in header}
    for row in reader:
        if len(row) != len(header):
            raise ValueError(f"cohort.csv: row of {len(row)} fields, header has {len(header)}")
        for name, value in zip(header, row, strict=True):
            columns[name].append(value)
    return columns


def _floats(columns: dict[str, list[str]], name: str) -> FloatArray:
    return np.array([float(v) for v in columns[name]], dtype=np.float64)


@lru_cache(maxsize=1)
def load_cohort() -> Cohort:
    """The standard 30 subjects (adolescent#001-010, adult#001-010, child#001-010).

    The result is immutable (read-only arrays), so it is read once per process.
    """
    columns = read_standard_table()
    names = tuple(columns["Name"])
    parameters = np.column_stack([_floats(columns, p.name) for p in Param])
    initial = np.column_stack([_floats(columns, f"x0_{i + 1}") for i in range(N_STATES)])
    return Cohort(
        names=names,
        age_groups=tuple(name.split("#", 1)[0] for name in names),
        parents=names,
        parameters=parameters,
        initial_state=initial,
        carb_ratio_g_per_u=_floats(columns, "CR"),
        correction_factor_mg_dl_per_u=_floats(columns, "CF"),
        total_daily_insulin_u=_floats(columns, "TDI"),
        age_years=_floats(columns, "Age"),
    )

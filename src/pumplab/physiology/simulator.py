"""Batched simulation of virtual patients, minute by minute or a whole run at once.

Two entry points on one integrator:

* :class:`PatientBatch` holds N patients' state and advances it one minute per
  :meth:`PatientBatch.step` call (the simulation core's world loop calls it
  between device events) or many minutes per :meth:`PatientBatch.run` call;
* :func:`simulate` runs a cohort over per-minute inputs and returns traces and
  a per-patient summary (built on :class:`PatientBatch`, so both give the same
  numbers, bit for bit).

Inputs are what enters the body during each minute: carbohydrate announced in
grams (eaten at 5 g/min, simglucose's meal queue) and insulin in units
(delivered as a constant subcutaneous infusion over that minute).  The state is
integrated with classical Runge-Kutta 4 sub-steps, as many per minute as
:class:`StepControl` asks (default :data:`DEFAULT_STEPS`, chosen by
measurement: docs/physiology.md).

Glucose is reported two ways: ``bg_mg_dl`` is plasma glucose Gp/Vg (what a
meter measures) and ``gsub_mg_dl`` interstitial glucose Gs/Vg (what a CGM
senses, and what simglucose's environment calls "BG").

Each patient's run keeps a small record: the first minute plasma glucose fell
below 40 mg/dL (severe hypoglycaemia) and :class:`ValidityFlag` bits saying
whether the model left the range it was validated in.  The state is checked for
NaN/infinity after every minute; a non-finite state raises
:class:`~pumplab.errors.NonFiniteStateError` naming the patient and minute and
the batch refuses further steps.

Backends: ``"numba"`` (the compiled kernel, default) or ``"numpy"`` (pure
numpy, same numbers).  ``PUMPLAB_NO_NUMBA=1`` in the environment makes numpy
the default; an explicit ``backend=`` argument always wins.

Deliberately not here: sensor noise, meal scenarios, metrics, I/O.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntFlag
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from pumplab.errors import InputError, NonFiniteStateError
from pumplab.physiology.cohort import Cohort
from pumplab.physiology.model import Param, State
from pumplab.units import u_to_pmol_per_kg

__all__ = [
    "ABOVE_RANGE_MG_DL",
    "DEFAULT_STEPS",
    "MAX_CARBS_G_PER_MIN",
    "MAX_INSULIN_U_PER_MIN",
    "SEVERE_HYPO_MG_DL",
    "Backend",
    "PatientBatch",
    "RunSummary",
    "SimulationResult",
    "StepControl",
    "ValidityFlag",
    "default_backend",
    "reported_glucose",
    "simulate",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Backend = Literal["numba", "numpy"]


@dataclass(frozen=True, slots=True)
class StepControl:
    """How many classical RK4 sub-steps each patient-minute gets (docs/physiology.md).

    A minute gets ``meal_substeps`` while the patient is eating or ate within
    the last ``meal_window_min`` minutes (the gastric-emptying rate kgut
    switches steeply then), else ``base_substeps``.  If a glucose mass (Gp,
    Gt, Gs) crosses zero during the minute, the minute is recomputed from its
    start with ``zero_crossing_substeps`` (0 = never), because the x >= 0 gate
    freezes the state wherever the step left it.  The rule depends only on
    the patient's own inputs and state, so a patient gets the same numbers in
    any batch and through :meth:`PatientBatch.step` or :func:`simulate`.
    """

    base_substeps: int = 1
    meal_substeps: int = 4
    meal_window_min: int = 30
    zero_crossing_substeps: int = 16

    def __post_init__(self) -> None:
        for name in ("base_substeps", "meal_substeps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1024:
                raise ValueError(f"{name} must be an int in 1..1024, got {value!r}")
        for name in ("meal_window_min", "zero_crossing_substeps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1024:
                raise ValueError(f"{name} must be an int in 0..1024, got {value!r}")

    @classmethod
    def uniform(cls, substeps: int) -> StepControl:
        """The same number of sub-steps in every minute, no zero-crossing refinement."""
        return cls(substeps, substeps, 0, 0)

    def as_array(self) -> IntArray:
        """The four integers in the order the integrators read them."""
        return np.array(
            [self.base_substeps, self.meal_substeps, self.meal_window_min,
             self.zero_crossing_substeps],
            dtype=np.int64,
        )  # fmt: skip


#: The integration rule used unless another is given (chosen by measurement).
DEFAULT_STEPS: Final = StepControl()

#: Severe (level 3 by symptoms; here by value) hypoglycaemia threshold, plasma glucose.
SEVERE_HYPO_MG_DL: Final = 40.0

#: Above this plasma glucose the run is flagged as outside the validated range.
#: A pumplab choice, not a published limit of the model: 600 mg/dL is the top
#: of the measuring range of common glucose meters (Contour Next and OneTouch
#: families, 20-600 mg/dL; they read "HI" above it), i.e. where real data stop,
#: and far above the glucose of the meal studies the model was identified and
#: validated on ([DM07], [K09]; docs/physiology.md, "Validated range").
ABOVE_RANGE_MG_DL: Final = 600.0

#: Largest insulin dose accepted for one minute (U).  100 U is a whole 1-mL
#: syringe of U-100 insulin and four times the largest bolus a Paradigm
#: x23-class pump can be set to (25 U); more in one minute is a unit error,
#: not a dose (docs/physiology.md, "Inputs").  Far above it (1e300 U) the
#: integrator's overshoot at the zero gate reaches -6e287 mg/dL and beyond
#: that the state overflows, so the limit also keeps the model meaningful.
MAX_INSULIN_U_PER_MIN: Final = 100.0

#: Largest carbohydrate accepted for one minute (g): one maximal meal (the
#: meal scenarios' limit, ``meals.MAX_MEAL_CARBS_G``), since a minute's input
#: is the meals announced in it and two meals never start in the same minute
#: of a scenario beyond that total (docs/physiology.md, "Inputs").
MAX_CARBS_G_PER_MIN: Final = 500.0

#: The inputs' upper bounds, by field name (the checks of :class:`PatientBatch`).
_INPUT_LIMITS: Final = {"carbs_g": MAX_CARBS_G_PER_MIN, "insulin_u": MAX_INSULIN_U_PER_MIN}
_INPUT_UNITS: Final = {"carbs_g": "g", "insulin_u": "U"}


class ValidityFlag(IntFlag):
    """Why a run left the range the 2008 model was validated in (bits, OR-ed)."""

    NONE = 0
    #: Plasma glucose below 40 mg/dL: the 2008 model has no counter-regulation.
    SEVERE_HYPOGLYCAEMIA = 1
    #: Plasma glucose above 600 mg/dL: far beyond the data the model was fitted to.
    ABOVE_RANGE = 2
    #: A glucose mass (Gp, Gt or Gs) went below zero and the x >= 0 gate froze it.
    STATE_AT_ZERO = 4


def reported_glucose(mass_mg_per_kg: FloatArray, vg_dl_per_kg: FloatArray) -> FloatArray:
    """Glucose concentration as reported (mg/dL): mass / Vg, an overshoot below zero as 0.

    The gated equations (dx/dt = 0 once a glucose mass reaches 0) never take a
    mass below zero; the integrator can, by a few hundredths of a mg/dL at the
    gate (or more under a huge dose), and that overshoot is integration error,
    so every reported glucose reads it as 0.  The kernels apply the same rule
    (``max(x / Vg, 0)``) to traces and summaries.
    """
    value = mass_mg_per_kg / vg_dl_per_kg
    # ``> 0`` rather than ``max``: -0.0 reads 0.0 too; NaN (never a finite state) stays NaN.
    out: FloatArray = np.where((value > 0.0) | np.isnan(value), value, 0.0)
    return out


AdvanceFn = Callable[..., int]
CheckFn = Callable[[FloatArray, float], int]


def default_backend() -> Backend:
    """``"numpy"`` if ``PUMPLAB_NO_NUMBA=1`` is set, else ``"numba"``."""
    return "numpy" if os.environ.get("PUMPLAB_NO_NUMBA", "") == "1" else "numba"


def _backend_functions(backend: Backend) -> tuple[AdvanceFn, CheckFn]:
    if backend == "numba":
        try:
            from pumplab.physiology import _kernel
        except ImportError as exc:  # pragma: no cover - numba is a hard dependency
            warnings.warn(
                f"numba unavailable ({exc}); using the numpy backend",
                RuntimeWarning,
                stacklevel=3,
            )
            backend = "numpy"
        else:
            return _kernel.advance, _kernel.first_invalid
    if backend == "numpy":
        from pumplab.physiology import _numpy_backend

        return _numpy_backend.advance, _numpy_backend.first_invalid
    raise ValueError(f"unknown backend {backend!r} (allowed: 'numba', 'numpy')")


@dataclass(frozen=True, slots=True, eq=False)
class RunSummary:
    """Per-patient glucose summary of a run (arrays of shape ``(N,)``).

    Mean, min and max are over every recorded minute including minute 0 (the
    initial state), i.e. over the rows a trace would have.  Minutes are counted
    from the start of the batch; ``-1`` means "never".
    """

    names: tuple[str, ...]
    minutes: int
    bg_mean_mg_dl: FloatArray
    bg_min_mg_dl: FloatArray
    bg_max_mg_dl: FloatArray
    first_severe_hypo_minute: IntArray
    validity_flags: IntArray

    @property
    def outside_validated_range(self) -> npt.NDArray[np.bool_]:
        """True where any :class:`ValidityFlag` bit is set."""
        return np.asarray(self.validity_flags != 0, dtype=np.bool_)

    def records(self) -> list[dict[str, Any]]:
        """One plain dict per patient (JSON-ready)."""
        out: list[dict[str, Any]] = []
        for i, name in enumerate(self.names):
            flags = ValidityFlag(int(self.validity_flags[i]))
            severe = int(self.first_severe_hypo_minute[i])
            out.append(
                {
                    "patient": name,
                    "minutes": self.minutes,
                    "mean_bg_mg_dl": float(self.bg_mean_mg_dl[i]),
                    "min_bg_mg_dl": float(self.bg_min_mg_dl[i]),
                    "max_bg_mg_dl": float(self.bg_max_mg_dl[i]),
                    "first_minute_below_40": None if severe < 0 else severe,
                    "outside_validated_range": bool(flags),
                    "validity_flags": [f.name for f in ValidityFlag if f and f in flags],
                }
            )
        return out


@dataclass(frozen=True, slots=True, eq=False)
class SimulationResult:
    """What :func:`simulate` returns.

    ``bg_mg_dl`` / ``gsub_mg_dl`` are ``(N, M + 1)`` traces (column m = state
    after minutes 0..m-1, column 0 = initial state) or ``None`` when not
    recorded; ``final_state`` is ``(N, 13)``.
    """

    names: tuple[str, ...]
    minutes: int
    bg_mg_dl: FloatArray | None
    gsub_mg_dl: FloatArray | None
    final_state: FloatArray
    summary: RunSummary


class PatientBatch:
    """N virtual patients advanced together, one minute (or many) per call.

    >>> from pumplab.physiology import load_cohort
    >>> batch = PatientBatch(load_cohort().select(["adult#001"]))
    >>> batch.step(np.zeros(1), batch.basal_u_per_min)
    >>> batch.minute
    1
    """

    def __init__(
        self,
        cohort: Cohort,
        *,
        backend: Backend | None = None,
        steps: StepControl = DEFAULT_STEPS,
    ) -> None:
        if not isinstance(steps, StepControl):
            raise TypeError(f"steps must be a StepControl, got {type(steps).__name__}")
        self._backend: Backend = default_backend() if backend is None else backend
        self._advance, self._first_invalid = _backend_functions(self._backend)
        self._cohort = cohort
        self._names = cohort.names
        n = len(cohort)
        self._n = n
        self._steps = steps
        self._steps_array = steps.as_array()
        self._prm = np.ascontiguousarray(cohort.parameters, dtype=np.float64)
        self._vg = self._prm[:, Param.Vg].copy()
        self._insulin_factor = np.ascontiguousarray(
            u_to_pmol_per_kg(np.ones(n), self._prm[:, Param.BW])
        )
        self._x = np.array(cohort.initial_state, dtype=np.float64, order="C")
        # Per-patient meal bookkeeping: planned g, last minute's g eaten, Qsto at the
        # start of the last eating episode (simglucose's reset(): x0[0] + x0[1]),
        # g eaten since then, minutes since the patient last ate (inf: never).
        self._queue = np.zeros((n, 5))
        self._queue[:, 2] = self._x[:, State.Q_STO1] + self._x[:, State.Q_STO2]
        self._queue[:, 4] = np.inf
        if not np.isfinite(self._x).all():
            raise ValueError("initial state must be finite")
        bg0 = reported_glucose(self._x[:, State.G_P], self._vg)
        self._sum = bg0.copy()
        self._min = bg0.copy()
        self._max = bg0.copy()
        self._severe = np.where(bg0 < SEVERE_HYPO_MG_DL, 0, -1).astype(np.int64)
        self._flags = np.zeros(n, dtype=np.int64)
        self._flags |= np.where(bg0 < SEVERE_HYPO_MG_DL, int(ValidityFlag.SEVERE_HYPOGLYCAEMIA), 0)
        self._flags |= np.where(bg0 > ABOVE_RANGE_MG_DL, int(ValidityFlag.ABOVE_RANGE), 0)
        self._nonfinite = np.full(n, -1, dtype=np.int64)
        self._failed = False
        self._minute = 0
        self._no_trace = np.empty((n, 0))

    # -- read-only views -------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Patient names, in row order."""
        return self._names

    @property
    def cohort(self) -> Cohort:
        """The cohort this batch was built from."""
        return self._cohort

    @property
    def backend(self) -> Backend:
        """The integrator in use."""
        return self._backend

    @property
    def steps(self) -> StepControl:
        """The integration rule in use."""
        return self._steps

    def __len__(self) -> int:
        return self._n

    @property
    def minute(self) -> int:
        """Minutes simulated so far."""
        return self._minute

    @property
    def bg_mg_dl(self) -> FloatArray:
        """Plasma glucose Gp/Vg of each patient now (mg/dL): what a meter measures.

        Never negative: an integrator overshoot below the zero gate reads 0
        (the exact solution of the gated equations never goes below zero;
        docs/physiology.md, "Overdose").  :attr:`state` keeps the raw value.
        """
        return reported_glucose(self._x[:, State.G_P], self._vg)

    @property
    def gsub_mg_dl(self) -> FloatArray:
        """Interstitial glucose Gs/Vg now (mg/dL): what a CGM senses (simglucose's "BG").

        Never negative, as :attr:`bg_mg_dl`.
        """
        return reported_glucose(self._x[:, State.G_S], self._vg)

    @property
    def state(self) -> FloatArray:
        """A copy of the ``(N, 13)`` model state (columns in :class:`State` order)."""
        return self._x.copy()

    @property
    def basal_u_per_min(self) -> FloatArray:
        """Each patient's steady-state basal insulin per minute (U)."""
        return self._cohort.basal_u_per_min

    @property
    def first_severe_hypo_minute(self) -> IntArray:
        """First minute with plasma glucose < 40 mg/dL per patient (-1 = never)."""
        return self._severe.copy()

    @property
    def validity_flags(self) -> IntArray:
        """:class:`ValidityFlag` bits per patient, accumulated since minute 0."""
        return self._flags.copy()

    @property
    def outside_validated_range(self) -> npt.NDArray[np.bool_]:
        """True for patients whose run has left the model's validated range."""
        return np.asarray(self._flags != 0, dtype=np.bool_)

    @property
    def nonfinite_minute(self) -> IntArray:
        """Minute at which each patient's state became non-finite (-1 = never)."""
        return self._nonfinite.copy()

    def summary(self) -> RunSummary:
        """Mean/min/max plasma glucose over minutes 0..now, and the hypo/validity record."""
        return RunSummary(
            names=self._names,
            minutes=self._minute,
            bg_mean_mg_dl=self._sum / (self._minute + 1),
            bg_min_mg_dl=self._min.copy(),
            bg_max_mg_dl=self._max.copy(),
            first_severe_hypo_minute=self._severe.copy(),
            validity_flags=self._flags.copy(),
        )

    # -- advancing -------------------------------------------------------------------
    def step(self, carbs_g: npt.ArrayLike, insulin_u: npt.ArrayLike) -> None:
        """Advance every patient by one minute.

        ``carbs_g``: carbohydrate announced this minute, ``(N,)`` or a scalar for
        all; ``insulin_u``: insulin delivered during this minute (U), same shapes.
        """
        carbs = self._minute_input(carbs_g, "carbs_g")
        insulin = self._minute_input(insulin_u, "insulin_u")
        self._call(carbs, insulin, self._no_trace, self._no_trace)

    def run(
        self,
        carbs_g: npt.ArrayLike,
        insulin_u: npt.ArrayLike,
        *,
        trace_bg: bool = False,
        trace_gsub: bool = False,
    ) -> tuple[FloatArray | None, FloatArray | None]:
        """Advance every patient by M minutes; returns the requested traces.

        ``carbs_g`` and ``insulin_u`` are ``(N, M)`` (per patient) or ``(M,)``
        (the same for all).  Traces are ``(N, M + 1)``; column 0 is the state
        before this call.
        """
        carbs = self._run_input(carbs_g, "carbs_g")
        insulin = self._run_input(insulin_u, "insulin_u")
        if carbs.shape[1] != insulin.shape[1]:
            raise ValueError(
                f"carbs_g covers {carbs.shape[1]} minutes but insulin_u {insulin.shape[1]}"
            )
        m = carbs.shape[1]
        bg = gsub = None
        bg_arr = self._no_trace
        gsub_arr = self._no_trace
        if trace_bg:
            bg = np.empty((self._n, m + 1))
            bg[:, 0] = self.bg_mg_dl
            bg_arr = bg
        if trace_gsub:
            gsub = np.empty((self._n, m + 1))
            gsub[:, 0] = self.gsub_mg_dl
            gsub_arr = gsub
        self._call(carbs, insulin, bg_arr, gsub_arr)
        return bg, gsub

    def _call(
        self, carbs: FloatArray, insulin: FloatArray, trace_bg: FloatArray, trace_gsub: FloatArray
    ) -> None:
        if self._failed:
            self._raise_non_finite()
        failed = self._advance(
            self._x,
            self._queue,
            self._prm,
            self._insulin_factor,
            carbs,
            insulin,
            self._steps_array,
            self._minute,
            trace_bg,
            trace_gsub,
            self._sum,
            self._min,
            self._max,
            self._severe,
            self._flags,
            self._nonfinite,
            SEVERE_HYPO_MG_DL,
            ABOVE_RANGE_MG_DL,
        )
        self._minute += carbs.shape[1]
        if failed:
            self._failed = True
            self._raise_non_finite()

    def _raise_non_finite(self) -> None:
        failed = np.flatnonzero(self._nonfinite >= 0)
        first = int(failed[np.argmin(self._nonfinite[failed])])
        others = f" (and {failed.size - 1} other patients)" if failed.size > 1 else ""
        raise NonFiniteStateError(
            f"state of patient {self._names[first]} became non-finite at minute "
            f"{int(self._nonfinite[first])}{others}; the batch cannot continue"
        )

    # -- input validation --------------------------------------------------------------
    def _minute_input(self, values: npt.ArrayLike, field: str) -> FloatArray:
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape == (self._n,):
            arr = arr.reshape(self._n, 1)
        elif arr.ndim == 0 or arr.shape == (1,):
            arr = arr.reshape(1, 1)
        else:
            raise ValueError(
                f"{field} must have shape ({self._n},) or be a scalar, got {arr.shape}"
            )
        arr = np.ascontiguousarray(arr)
        self._check_values(arr, field)
        return arr

    def _run_input(self, values: npt.ArrayLike, field: str) -> FloatArray:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[0] not in (1, self._n) or arr.shape[1] == 0:
            raise ValueError(
                f"{field} must have shape (M,) or ({self._n}, M) with M >= 1, got "
                f"{np.shape(values)}"
            )
        arr = np.ascontiguousarray(arr)
        self._check_values(arr, field)
        return arr

    def _check_values(self, arr: FloatArray, field: str) -> None:
        """Inputs must be finite, >= 0 and within the per-minute bound; name patient and minute."""
        upper = _INPUT_LIMITS[field]
        bad = self._first_invalid(arr, upper)
        if bad < 0:
            return
        row, col = divmod(bad, arr.shape[1])
        who = self._names[row] if arr.shape[0] == self._n else "every patient"
        raise InputError(
            f"{float(arr[row, col])!r} for {who} at minute {self._minute + col}",
            source=field,
            field=field,
            allowed=f"finite, >= 0 and <= {upper:g} {_INPUT_UNITS[field]} per minute",
        )


def simulate(
    cohort: Cohort,
    carbs_g: npt.ArrayLike,
    insulin_u: npt.ArrayLike,
    *,
    trace_bg: bool = True,
    trace_gsub: bool = False,
    backend: Backend | None = None,
    steps: StepControl = DEFAULT_STEPS,
) -> SimulationResult:
    """Simulate every subject of ``cohort`` over M minutes of inputs.

    ``carbs_g`` / ``insulin_u``: what enters the body in each minute, ``(N, M)``
    or ``(M,)`` for all.  Returns traces (when asked) and the run summary.
    Without traces the memory used is O(N), whatever M is.
    """
    batch = PatientBatch(cohort, backend=backend, steps=steps)
    bg, gsub = batch.run(carbs_g, insulin_u, trace_bg=trace_bg, trace_gsub=trace_gsub)
    return SimulationResult(
        names=batch.names,
        minutes=batch.minute,
        bg_mg_dl=bg,
        gsub_mg_dl=gsub,
        final_state=batch.state,
        summary=batch.summary(),
    )

"""The CGM sensor error model: what a continuous glucose monitor shows.

Turns the model's interstitial glucose (``Gsub``, mg/dL, one value per patient
per minute) into what a Paradigm-era CGM reports every 5 minutes: an integer
mg/dL value, ``LOW`` below the reporting range (40 mg/dL), ``HIGH`` above it
(400 mg/dL), or nothing at all while the sensor warms up or the signal is lost.
Batched over N patients.  docs/sensor.md gives the equations and the source of
every parameter.

The reading at sample *k* of patient *i* is::

    raw = gain · Gsub + offset + ε_k            (mg/dL)
    ε_k = ξ + λ · sinh((e_k − γ) / δ)           Johnson S_U noise (Breton & Kovatchev 2008)
    e_k = φ · e_{k−1} + √(1 − φ²) · v_k,        v_k ~ N(0, 1), φ = PACF^(Δ/15 min)

with ``gain``/``offset`` the calibration error, redrawn at each calibration.
Three components, each with its **own** random stream per patient (see
:class:`CgmRandomness`): the noise innovations ``v``, the calibration draws and
the dropout process.  Changing one component's parameters therefore never
shifts another component's numbers, and patient *i* gets the same numbers
whether it is simulated alone or in a cohort of a thousand.

Two ways in, with identical numbers for the same randomness:

* :func:`simulate_cgm`: a whole ``(N, M)`` Gsub trace at 1-minute resolution
  to readings at the sample minutes (a :class:`CgmTrace`);
* :class:`CgmSensorArray`: the incremental form an event-driven run uses
  (:meth:`~CgmSensorArray.read` for all patients, or
  :meth:`~CgmSensorArray.read_patient` for one, at a sample minute).
  :func:`simulate_cgm` is a loop over :meth:`~CgmSensorArray.read`.

What it deliberately does not do: the blood-to-interstitium lag (the
UVA/Padova model's ``Gsub`` already is interstitial glucose), time-varying
sensitivity drift between calibrations, compression lows, calibration from a
simulated fingerstick, or backfill of missed readings (the CGM transmitter
device does that).  It reads no clock and no file; randomness comes only from
the injected streams.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt

from pumplab.errors import InputError
from pumplab.physiology._seeding import (
    PatientKey,
    PatientSeeds,
    component_generator,
    patient_keys,
)

__all__ = [
    "BRETON_2008_NOISE",
    "CGM_PRESETS",
    "CGM_STREAMS",
    "ENLITE",
    "NOISE_ONLY",
    "SOF_SENSOR",
    "CalibrationError",
    "CalibrationSchedule",
    "CgmFlag",
    "CgmRandomness",
    "CgmReading",
    "CgmSample",
    "CgmSensorArray",
    "CgmSpec",
    "CgmTrace",
    "Dropouts",
    "JohnsonNoise",
    "cgm_preset",
    "simulate_cgm",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
FlagArray = npt.NDArray[np.int8]

MINUTES_PER_DAY: Final = 1440

#: Breton & Kovatchev identified the noise on reference samples 15 min apart
#: (YSI every 15 min); the published PACF is at that lag.
_NOISE_MODEL_LAG_MIN: Final = 15.0

#: The names of the CGM's random components, as a run's named streams call them.
CGM_STREAMS: Final = ("cgm.noise", "cgm.calibration", "cgm.dropout")

#: Random draws are taken from each patient's stream in blocks of this many
#: values (one day of 5-minute samples).  numpy's Generator gives the same
#: sequence whatever the block size, so this is a speed knob, not a parameter
#: of the model; a test holds that.
_BLOCK: Final = 288


class CgmFlag(IntEnum):
    """What one CGM sample shows.

    ``OK``, ``LOW`` and ``HIGH`` are readings the device reports; ``WARMUP``
    and ``DROPOUT`` mean there is no reading at all for that sample.
    """

    OK = 0  #: a number in the reporting range
    LOW = 1  #: below the reporting range: the screen reads "LOW"
    HIGH = 2  #: above the reporting range: the screen reads "HIGH"
    WARMUP = 3  #: the sensor is warming up: no reading
    DROPOUT = 4  #: the signal is lost: no reading

    @property
    def is_reading(self) -> bool:
        """True when the device reports something (a number, LOW or HIGH)."""
        return self in (CgmFlag.OK, CgmFlag.LOW, CgmFlag.HIGH)


@dataclass(frozen=True, slots=True)
class JohnsonNoise:
    """Breton & Kovatchev (JDST 2(5):853-862, 2008) sensor noise: AR(1) + Johnson S_U.

    A Gaussian AR(1) process ``e`` with partial autocorrelation ``pacf_15min``
    at a 15-minute lag, mapped through the Johnson S_U transform
    ``ε = ξ + λ·sinh((e − γ)/δ)``.  The default numbers are the published ones
    as simglucose ships them (``params/sensor_params.csv``, identical for its
    Dexcom, GuardianRT and Navigator rows; the paper's table of Johnson
    parameters gives ξ = −5.471, the CSV rounds it to −5.47).
    """

    pacf_15min: float = 0.7
    xi_mg_dl: float = -5.47
    lambda_mg_dl: float = 15.9574
    delta: float = 1.6898
    gamma: float = -0.5444

    def __post_init__(self) -> None:
        if not 0.0 <= self.pacf_15min < 1.0:
            raise ValueError(f"pacf_15min must be in [0, 1), got {self.pacf_15min}")
        if not (self.lambda_mg_dl > 0.0 and self.delta > 0.0):
            raise ValueError("lambda_mg_dl and delta must be > 0")
        for name in ("xi_mg_dl", "gamma"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite")

    def ar_coefficient(self, sample_period_min: int) -> float:
        """φ per sample: the 15-minute PACF spread over samples Δ minutes apart.

        ``φ = PACF^(Δ/15)``, so that the process sampled every 15 minutes is
        exactly the published AR(1) with coefficient ``PACF``.
        """
        return float(self.pacf_15min ** (sample_period_min / _NOISE_MODEL_LAG_MIN))

    def transform(self, e: FloatArray) -> FloatArray:
        """The Johnson S_U map from the standard-normal driving process to mg/dL."""
        return self.xi_mg_dl + self.lambda_mg_dl * np.sinh((e - self.gamma) / self.delta)

    @property
    def mean_mg_dl(self) -> float:
        """Mean of the noise (Johnson 1949 S_U moments, standard-normal driver)."""
        return self.xi_mg_dl - self.lambda_mg_dl * math.exp(0.5 / self.delta**2) * math.sinh(
            self.gamma / self.delta
        )

    @property
    def sd_mg_dl(self) -> float:
        """Standard deviation of the noise (Johnson 1949 S_U moments)."""
        w = math.exp(1.0 / self.delta**2)
        var = (
            0.5
            * self.lambda_mg_dl**2
            * (w - 1.0)
            * (w * math.cosh(2.0 * self.gamma / self.delta) + 1.0)
        )
        return math.sqrt(var)


#: The published noise model (Breton & Kovatchev 2008; simglucose's sensor_params.csv).
BRETON_2008_NOISE: Final = JohnsonNoise()


@dataclass(frozen=True, slots=True)
class CalibrationSchedule:
    """When fingerstick calibrations happen, counted from the end of warm-up.

    Defaults follow the Medtronic Guardian REAL-Time / Paradigm REAL-Time user
    guides: the first calibration when the 2-hour initialisation ends, a second
    about 6 hours after it, then at least every 12 hours.
    """

    second_after_min: int = 360
    interval_min: int = 720

    def __post_init__(self) -> None:
        if self.second_after_min <= 0 or self.interval_min <= 0:
            raise ValueError("calibration intervals must be > 0 minutes")

    def index_at(self, minutes_since_warmup: IntArray) -> IntArray:
        """Which calibration (0, 1, 2, ...) is in force this long after warm-up."""
        after_second = minutes_since_warmup - self.second_after_min
        return np.where(
            after_second < 0,
            0,
            1 + np.floor_divide(np.maximum(after_second, 0), self.interval_min),
        ).astype(np.int64)


@dataclass(frozen=True, slots=True)
class CalibrationError:
    """A gain and offset error drawn at each calibration of each sensor.

    ``reading = (1 + g)·Gsub + b + ε`` with ``g ~ N(0, gain_sd)`` and
    ``b ~ N(0, offset_sd_mg_dl)``, drawn when a calibration comes into force.
    ``schedule=None`` is a factory-calibrated sensor: one draw per sensor
    session.  The defaults are a documented assumption, not a fit (docs/sensor.md):
    a one-point calibration against a fingerstick passes the meter's relative
    error (about 5 % SD for a Contour-Next-class meter) into the sensor's gain.
    """

    gain_sd: float = 0.05
    offset_sd_mg_dl: float = 5.0
    schedule: CalibrationSchedule | None = field(default_factory=CalibrationSchedule)

    def __post_init__(self) -> None:
        # Above 0.25 a negative gain stops being astronomically unlikely.
        if not 0.0 <= self.gain_sd <= 0.25:
            raise ValueError(f"gain_sd must be in [0, 0.25], got {self.gain_sd}")
        if not (self.offset_sd_mg_dl >= 0.0 and math.isfinite(self.offset_sd_mg_dl)):
            raise ValueError("offset_sd_mg_dl must be finite and >= 0")


@dataclass(frozen=True, slots=True)
class Dropouts:
    """Signal loss as a two-state (Gilbert 1960) on/off chain per sample.

    A dropout starts with a constant hazard of ``rate_per_day`` and lasts a
    geometric number of samples with mean ``mean_duration_min`` (at least one
    sample).  The defaults (one loss a day, 30 minutes on average: about 2 %
    of readings lost) are an assumption, not a fit to device data.
    """

    rate_per_day: float = 1.0
    mean_duration_min: float = 30.0

    def __post_init__(self) -> None:
        if not (self.rate_per_day >= 0.0 and math.isfinite(self.rate_per_day)):
            raise ValueError("rate_per_day must be finite and >= 0")
        if not (self.mean_duration_min > 0.0 and math.isfinite(self.mean_duration_min)):
            raise ValueError("mean_duration_min must be finite and > 0")

    def start_probability(self, sample_period_min: int) -> float:
        """P(a dropout starts at a sample | the signal was up at the previous one)."""
        return 1.0 - math.exp(-self.rate_per_day * sample_period_min / MINUTES_PER_DAY)

    def end_probability(self, sample_period_min: int) -> float:
        """P(the signal is back at a sample | it was lost at the previous one)."""
        return min(1.0, sample_period_min / self.mean_duration_min)


@dataclass(frozen=True, slots=True)
class CgmSpec:
    """Everything that defines a CGM's error model (see :data:`CGM_PRESETS`).

    ``noise``, ``calibration`` or ``dropouts`` set to ``None`` switches that
    component off.  ``session_length_min=None`` is a sensor that never expires;
    otherwise a new sensor (new warm-up, new calibrations, fresh noise) is
    inserted when one expires.
    """

    name: str
    sample_period_min: int = 5
    noise: JohnsonNoise | None = BRETON_2008_NOISE
    calibration: CalibrationError | None = field(default_factory=CalibrationError)
    dropouts: Dropouts | None = field(default_factory=Dropouts)
    warmup_min: int = 120
    session_length_min: int | None = 6 * MINUTES_PER_DAY
    low_mg_dl: float = 40.0
    high_mg_dl: float = 400.0

    def __post_init__(self) -> None:
        if not 1 <= self.sample_period_min <= 60:
            raise ValueError(f"sample_period_min must be 1..60, got {self.sample_period_min}")
        if self.warmup_min < 0:
            raise ValueError("warmup_min must be >= 0")
        if self.session_length_min is not None and self.session_length_min <= self.warmup_min:
            raise ValueError("session_length_min must be longer than warmup_min")
        if not 0.0 < self.low_mg_dl < self.high_mg_dl:
            raise ValueError("the reporting range needs 0 < low_mg_dl < high_mg_dl")


#: The Medtronic Enlite sensor of the Paradigm Veo / x23 era: 5-minute
#: samples, 2 h initialisation, 6-day wear, calibrations at 2 h, +6 h, then
#: every 12 h, reporting range 40-400 mg/dL (docs/sensor.md).
ENLITE: Final = CgmSpec(name="enlite")

#: The earlier Medtronic Sof-sensor (used with the MiniLink on Paradigm
#: REAL-Time pumps): as :data:`ENLITE` but rated for 3 days of wear.
SOF_SENSOR: Final = CgmSpec(name="sof-sensor", session_length_min=3 * MINUTES_PER_DAY)

#: Only the published Breton & Kovatchev noise at 5-minute samples (as
#: simglucose's GuardianRT row): no calibration error, warm-up, dropouts or
#: sensor changes.  For comparisons with simglucose.
NOISE_ONLY: Final = CgmSpec(
    name="noise-only",
    calibration=None,
    dropouts=None,
    warmup_min=0,
    session_length_min=None,
)

#: Named sensor models (``enlite`` is the default of the command line).
CGM_PRESETS: Final[Mapping[str, CgmSpec]] = MappingProxyType(
    {spec.name: spec for spec in (ENLITE, SOF_SENSOR, NOISE_ONLY)}
)


def cgm_preset(name: str) -> CgmSpec:
    """The preset sensor model called ``name``; an :class:`InputError` names the valid ones."""
    try:
        return CGM_PRESETS[name]
    except KeyError:
        raise InputError(
            f"unknown CGM model {name!r}",
            field="cgm_model",
            allowed=", ".join(sorted(CGM_PRESETS)),
        ) from None


@dataclass(frozen=True, slots=True)
class CgmRandomness:
    """Per-patient seed sequences for the three random components of a CGM.

    ``noise[i]``, ``calibration[i]`` and ``dropout[i]`` seed patient *i*'s
    three independent streams.  Each is keyed by the component's name
    (``cgm.noise``, ``cgm.calibration``, ``cgm.dropout``) and the patient's
    **name** (``names=``; or its position when only ``n_patients`` is given),
    so a named patient gets the same readings alone, in any cohort and in any
    chunk, and never shares numbers with a meal stream (docs/sensor.md,
    "Randomness").  The object is immutable: every :class:`CgmSensorArray`
    built from it starts the streams afresh, so the same randomness always
    gives the same readings.

    The two constructors agree: ``from_seed(s, names=...)`` equals
    ``from_generators(noise=RandomStreams(s).generator("cgm.noise"), ...)``
    with the other two components alike, which is what ``pumplab patient
    simulate --cgm --seed s`` uses.
    """

    noise: PatientSeeds
    calibration: PatientSeeds
    dropout: PatientSeeds

    def __post_init__(self) -> None:
        if not self.noise.keys == self.calibration.keys == self.dropout.keys:
            raise ValueError("noise, calibration and dropout need the same patients")

    @property
    def n_patients(self) -> int:
        return len(self.noise)

    @property
    def keys(self) -> tuple[PatientKey, ...]:
        """Each patient's stream key: its name, or its position if anonymous."""
        return self.noise.keys

    def select(self, patients: slice | Sequence[int]) -> CgmRandomness:
        """The streams of some patients only (e.g. a chunk of a large cohort).

        Patient *i*'s numbers depend only on its own seeds, so simulating a
        cohort in chunks gives the same readings as simulating it at once.
        """
        return CgmRandomness(
            self.noise.select(patients),
            self.calibration.select(patients),
            self.dropout.select(patients),
        )

    def for_names(self, names: Sequence[str]) -> CgmRandomness:
        """The same components' streams for the patients called ``names``."""
        keys = patient_keys(None, names)
        return CgmRandomness(
            self.noise.for_keys(keys),
            self.calibration.for_keys(keys),
            self.dropout.for_keys(keys),
        )

    @classmethod
    def from_seed(
        cls,
        seed: int | np.random.SeedSequence,
        n_patients: int | None = None,
        *,
        names: Sequence[str] | None = None,
    ) -> CgmRandomness:
        """The three component streams of each patient, from one seed.

        Give the patients' ``names`` (streams keyed by name) or ``n_patients``
        (keyed by position).  Identical to :meth:`from_generators` with the
        generators ``RandomStreams(seed)`` hands out for ``cgm.noise``,
        ``cgm.calibration`` and ``cgm.dropout``.
        """
        return cls.from_generators(
            noise=component_generator(seed, CGM_STREAMS[0]),
            calibration=component_generator(seed, CGM_STREAMS[1]),
            dropout=component_generator(seed, CGM_STREAMS[2]),
            n_patients=n_patients,
            names=names,
        )

    @classmethod
    def from_generators(
        cls,
        *,
        noise: np.random.Generator,
        calibration: np.random.Generator,
        dropout: np.random.Generator,
        n_patients: int | None = None,
        names: Sequence[str] | None = None,
    ) -> CgmRandomness:
        """Per-patient streams seeded from three injected component generators.

        This is how a run's named streams (``pumplab.sim.streams``) plug in.
        Each generator is advanced by one 128-bit draw (the component's root);
        patients are keyed under it by ``names`` (or by position with
        ``n_patients``), so their streams do not depend on the cohort.
        """
        keys = patient_keys(n_patients, names)
        return cls(
            noise=PatientSeeds.from_generator(noise, keys),
            calibration=PatientSeeds.from_generator(calibration, keys),
            dropout=PatientSeeds.from_generator(dropout, keys),
        )


@dataclass(frozen=True, slots=True)
class CgmReading:
    """One patient's CGM sample: what the device shows at ``minute``."""

    minute: int
    glucose_mg_dl: float | None  #: the number shown; None for LOW, HIGH, warm-up, dropout
    flag: CgmFlag
    raw_mg_dl: float | None  #: the model value before rounding and range (None: no reading)

    @property
    def text(self) -> str:
        """As a trace column shows it: ``"123"``, ``"LOW"``, ``"HIGH"`` or ``""``."""
        return _text(self.flag, self.glucose_mg_dl)


@dataclass(frozen=True, slots=True)
class CgmSample:
    """All patients' CGM samples at one sample minute (arrays of shape ``(N,)``)."""

    minute: int
    glucose_mg_dl: FloatArray  #: the number shown; NaN unless the flag is OK
    flags: FlagArray  #: :class:`CgmFlag` values
    raw_mg_dl: FloatArray  #: before rounding and range; NaN during warm-up or dropout


@dataclass(frozen=True, slots=True)
class CgmTrace:
    """CGM readings of N patients at the sample minutes of a trace.

    Arrays are ``(N, S)`` over the ``S`` entries of ``sample_minutes``.
    """

    sample_minutes: IntArray
    glucose_mg_dl: FloatArray  #: the number shown; NaN unless the flag is OK
    flags: FlagArray  #: :class:`CgmFlag` values
    raw_mg_dl: FloatArray  #: before rounding and range; NaN during warm-up or dropout

    @property
    def n_patients(self) -> int:
        return int(self.flags.shape[0])

    def column(self, patient: int, n_minutes: int) -> list[str]:
        """The per-minute ``cgm_mg_dl`` column of one patient, ``n_minutes`` rows.

        The reading's text at sample minutes (``"123"``, ``"LOW"``, ``"HIGH"``),
        ``""`` at every other minute and where there is no reading (warm-up,
        dropout).
        """
        out = [""] * n_minutes
        values = self.glucose_mg_dl[patient]
        flags = self.flags[patient]
        for j, minute in enumerate(self.sample_minutes):
            if minute < n_minutes:
                out[int(minute)] = _text(CgmFlag(int(flags[j])), float(values[j]))
        return out


def _text(flag: CgmFlag, value: float | None) -> str:
    if flag is CgmFlag.OK:
        assert value is not None
        return str(int(value))
    if flag is CgmFlag.LOW:
        return "LOW"
    if flag is CgmFlag.HIGH:
        return "HIGH"
    return ""


class _Draws:
    """Per-patient streams of one kind of variate, served one value per take.

    Each patient has its own generator; values are drawn a block at a time
    and handed out in order, so the sequence a patient sees does not depend
    on which other patients are read, or when.
    """

    def __init__(self, seeds: Sequence[np.random.SeedSequence], *, normal: bool) -> None:
        self._seeds = tuple(seeds)
        self._normal = normal
        self._gens: list[np.random.Generator | None] = [None] * len(self._seeds)
        self._buf = np.empty((len(self._seeds), _BLOCK))
        self._pos = np.full(len(self._seeds), _BLOCK, dtype=np.int64)

    def take(self, idx: IntArray) -> FloatArray:
        for i in idx[self._pos[idx] >= _BLOCK]:
            gen = self._gens[i]
            if gen is None:
                gen = np.random.Generator(np.random.PCG64(self._seeds[i]))
                self._gens[i] = gen
            self._buf[i] = gen.standard_normal(_BLOCK) if self._normal else gen.random(_BLOCK)
            self._pos[i] = 0
        pos = self._pos[idx]
        out: FloatArray = self._buf[idx, pos]
        self._pos[idx] = pos + 1
        return out


class CgmSensorArray:
    """The CGM error model of N patients, read one sample at a time.

    Each patient advances through its own sample sequence (minutes 0, Δ, 2Δ,
    ... of the run); reading a later sample first advances the patient's
    noise, calibration and dropout processes through any samples skipped, so
    the numbers never depend on which samples were asked for.  A sample
    cannot be read twice or out of order.

    ``sensor_age_min`` is how long each patient's sensor has been inserted at
    minute 0 (scalar or one per patient): 0 starts with a fresh sensor in its
    warm-up.
    """

    def __init__(
        self,
        spec: CgmSpec,
        randomness: CgmRandomness,
        *,
        sensor_age_min: int | Sequence[int] | IntArray = 0,
    ) -> None:
        n = randomness.n_patients
        age = np.broadcast_to(np.asarray(sensor_age_min, dtype=np.int64), (n,)).copy()
        if np.any(age < 0):
            raise ValueError("sensor_age_min must be >= 0")
        self.spec = spec
        self.n_patients = n
        self._age = age
        self._period = spec.sample_period_min
        self._phi = spec.noise.ar_coefficient(self._period) if spec.noise else 0.0
        self._innov = math.sqrt(1.0 - self._phi**2)
        self._p_start = spec.dropouts.start_probability(self._period) if spec.dropouts else 0.0
        self._p_end = spec.dropouts.end_probability(self._period) if spec.dropouts else 1.0
        self._noise_draws = _Draws(randomness.noise, normal=True)
        self._cal_draws = _Draws(randomness.calibration, normal=True)
        self._drop_draws = _Draws(randomness.dropout, normal=False)
        self._next = np.zeros(n, dtype=np.int64)  # next sample index per patient
        self._e = np.zeros(n)
        self._down = np.zeros(n, dtype=bool)
        self._gain = np.ones(n)
        self._offset = np.zeros(n)
        self._session = np.full(n, -1, dtype=np.int64)
        self._cal_index = np.full(n, -2, dtype=np.int64)
        self._all = np.arange(n, dtype=np.int64)

    @property
    def sample_period_min(self) -> int:
        return self._period

    def is_sample_minute(self, minute: int) -> bool:
        """True when the sensor samples at ``minute`` of the run."""
        return minute >= 0 and minute % self._period == 0

    def sample_minutes(self, n_minutes: int) -> IntArray:
        """The sample minutes within the first ``n_minutes`` of a run."""
        return np.arange(0, max(n_minutes, 0), self._period, dtype=np.int64)

    def read(self, minute: int, gsub_mg_dl: npt.ArrayLike) -> CgmSample:
        """Every patient's reading at sample ``minute`` given their Gsub now, shape ``(N,)``."""
        gsub = np.asarray(gsub_mg_dl, dtype=np.float64)
        if gsub.shape != (self.n_patients,):
            raise ValueError(f"gsub_mg_dl must have shape ({self.n_patients},), got {gsub.shape}")
        raw, shown, flags = self._read(self._all, self._sample_index(minute), gsub)
        return CgmSample(minute, shown, flags, raw)

    def read_patient(self, patient: int, minute: int, gsub_mg_dl: float) -> CgmReading:
        """One patient's reading at sample ``minute`` given its Gsub now."""
        if not 0 <= patient < self.n_patients:
            raise ValueError(f"patient must be in 0..{self.n_patients - 1}, got {patient}")
        idx = np.array([patient], dtype=np.int64)
        raw, shown, flags = self._read(
            idx, self._sample_index(minute), np.array([gsub_mg_dl], dtype=np.float64)
        )
        flag = CgmFlag(int(flags[0]))
        return CgmReading(
            minute=minute,
            glucose_mg_dl=float(shown[0]) if flag is CgmFlag.OK else None,
            flag=flag,
            raw_mg_dl=float(raw[0]) if flag.is_reading else None,
        )

    def _sample_index(self, minute: int) -> int:
        if not self.is_sample_minute(minute):
            raise ValueError(
                f"minute {minute} is not a sample minute (every {self._period} min from 0)"
            )
        return minute // self._period

    def _read(
        self, idx: IntArray, k: int, gsub: FloatArray
    ) -> tuple[FloatArray, FloatArray, FlagArray]:
        if np.any(self._next[idx] > k):
            raise ValueError(f"sample {k} (minute {k * self._period}) was already read")
        if not np.all(np.isfinite(gsub)):
            raise ValueError("gsub_mg_dl must be finite")
        # Catch up on samples nobody asked for, so every stream stays in step.
        while True:
            behind = idx[self._next[idx] < k]
            if behind.size == 0:
                break
            self._step(behind)
        warm, down = self._step(idx)
        return self._reading(idx, gsub, warm, down)

    def _step(self, idx: IntArray) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Advance patients ``idx`` by one sample each (each at its own next index)."""
        spec = self.spec
        k = self._next[idx]
        sensor_min = k * self._period + self._age[idx]
        if spec.session_length_min is None:
            session = np.zeros_like(sensor_min)
            in_session = sensor_min
        else:
            session, in_session = np.divmod(sensor_min, spec.session_length_min)
        warm = in_session < spec.warmup_min
        new_session = session != self._session[idx]

        if spec.noise is not None:
            # A new sensor (or the first sample) starts from the stationary
            # distribution: e = v.  Otherwise the AR(1) recursion.
            v = self._noise_draws.take(idx)
            self._e[idx] = np.where(new_session, v, self._phi * self._e[idx] + self._innov * v)

        down = np.zeros(idx.shape, dtype=bool)
        if spec.dropouts is not None:
            u = self._drop_draws.take(idx)
            was_down = self._down[idx]
            down = np.where(was_down, u >= self._p_end, u < self._p_start)
            self._down[idx] = down

        if spec.calibration is not None:
            cal = spec.calibration
            since_warm = in_session - spec.warmup_min
            if cal.schedule is None:
                cal_index = np.where(warm, -1, 0)
            else:
                cal_index = np.where(warm, -1, cal.schedule.index_at(since_warm))
            changed = (new_session | (cal_index != self._cal_index[idx])) & (cal_index >= 0)
            fresh = idx[changed]
            if fresh.size:
                self._gain[fresh] = 1.0 + cal.gain_sd * self._cal_draws.take(fresh)
                self._offset[fresh] = cal.offset_sd_mg_dl * self._cal_draws.take(fresh)
            self._cal_index[idx] = cal_index

        self._session[idx] = session
        self._next[idx] = k + 1
        return warm, down

    def _reading(
        self,
        idx: IntArray,
        gsub: FloatArray,
        warm: npt.NDArray[np.bool_],
        down: npt.NDArray[np.bool_],
    ) -> tuple[FloatArray, FloatArray, FlagArray]:
        spec = self.spec
        noise = spec.noise.transform(self._e[idx]) if spec.noise is not None else 0.0
        raw = self._gain[idx] * gsub + self._offset[idx] + noise
        missing = warm | down
        raw = np.where(missing, np.nan, raw)
        # Devices report whole mg/dL; LOW/HIGH are decided on the rounded value.
        rounded = np.rint(raw)
        flags = np.full(idx.shape, CgmFlag.OK, dtype=np.int8)
        flags[rounded < spec.low_mg_dl] = CgmFlag.LOW
        flags[rounded > spec.high_mg_dl] = CgmFlag.HIGH
        flags[down] = CgmFlag.DROPOUT
        flags[warm] = CgmFlag.WARMUP
        shown = np.where(flags == CgmFlag.OK, rounded, np.nan)
        return raw, shown, flags


def simulate_cgm(
    gsub_mg_dl: npt.ArrayLike,
    *,
    spec: CgmSpec = ENLITE,
    randomness: CgmRandomness,
    sensor_age_min: int | Sequence[int] | IntArray = 0,
) -> CgmTrace:
    """CGM readings for a whole trace.

    ``gsub_mg_dl`` is interstitial glucose of shape ``(N, M)``: row *i* is
    patient *i*, column *m* the value at (the start of) minute *m*.  Returns
    the readings at the sample minutes ``0, Δ, 2Δ, ... < M``; identical to
    reading a :class:`CgmSensorArray` built from the same arguments at each of
    those minutes.
    """
    gsub = np.asarray(gsub_mg_dl, dtype=np.float64)
    if gsub.ndim != 2:
        raise ValueError(f"gsub_mg_dl must be 2-D (patients, minutes), got shape {gsub.shape}")
    if gsub.shape[0] != randomness.n_patients:
        raise ValueError(
            f"randomness is for {randomness.n_patients} patients, gsub has {gsub.shape[0]}"
        )
    sensor = CgmSensorArray(spec, randomness, sensor_age_min=sensor_age_min)
    minutes = sensor.sample_minutes(gsub.shape[1])
    n, s = gsub.shape[0], minutes.size
    shown = np.empty((n, s))
    raw = np.empty((n, s))
    flags = np.empty((n, s), dtype=np.int8)
    for j, minute in enumerate(minutes):
        sample = sensor.read(int(minute), gsub[:, minute])
        shown[:, j] = sample.glucose_mg_dl
        raw[:, j] = sample.raw_mg_dl
        flags[:, j] = sample.flags
    return CgmTrace(minutes, shown, flags, raw)

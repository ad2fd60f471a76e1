"""Meal scenarios: what the virtual patient eats, and what they think they eat.

A *meal plan* is either a fixed :class:`MealScenario` (a schedule, usually
repeated every day; built in or read from a TOML file) or a
:class:`RandomMealPlan` (a seeded generator of days with breakfast, lunch,
dinner and snacks whose times and sizes vary).  :func:`realize_meals` turns a
plan into per-minute carbohydrate arrays for N patients over M minutes, the
form the batched simulator takes: the grams of a meal sit at the minute eating
starts (the simulator queues them and eats at 5 g/min, as simglucose does).

Each meal is *announced* (the person boluses for it) or not, and the person
may misjudge its size: ``believed_carbs_g`` is what they would enter in the
bolus wizard, drawn from a carb-counting error model (:class:`CarbCountingError`)
when the plan has one.  The patient model always eats ``carbs_g``.

Randomness: per patient, one stream for the day generator and one for
carb counting (:class:`MealRandomness`), so changing the counting error never
moves a meal, and patient *i* gets the same days in any cohort size.
docs/meals.md gives the TOML schema, the built-in scenarios and the sources
of every default.

What it deliberately does not do: meal composition (fat, protein, glycaemic
index: the absorption hint is carried for the people and controller models,
the UVA/Padova gut model ignores it), rescue carbohydrate (the people model
decides that), or random plans defined in TOML (only fixed schedules).
"""

from __future__ import annotations

import enum
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import time as dt_time
from importlib import resources
from pathlib import Path
from statistics import NormalDist
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pumplab.errors import ScenarioError
from pumplab.physiology._seeding import (
    PatientKey,
    PatientSeeds,
    component_generator,
    patient_keys,
)
from pumplab.physiology.simulator import MAX_CARBS_G_PER_MIN

__all__ = [
    "BUILTIN_MEAL_PLANS",
    "MAX_MEAL_CARBS_G",
    "MAX_MEAL_DAY",
    "MEAL_STREAMS",
    "SIMGLUCOSE_RANDOM_DAY",
    "Absorption",
    "CarbCountingError",
    "Meal",
    "MealArrays",
    "MealPlan",
    "MealRandomness",
    "MealScenario",
    "MealSlot",
    "RandomDayParams",
    "RandomMealPlan",
    "builtin_meal_plan",
    "load_meal_plan",
    "parse_meal_scenario",
    "random_day",
    "read_meal_scenario",
    "realize_meals",
]

FloatArray = npt.NDArray[np.float64]

MINUTES_PER_DAY: Final = 1440

#: The largest single meal a scenario may hold; more is almost surely a typo.
#: Also the most carbohydrate one minute may hold (the meals starting in it
#: added up): the simulator's per-minute input limit is the same number.
MAX_MEAL_CARBS_G: Final = MAX_CARBS_G_PER_MIN

#: Last day a ``repeat_daily = false`` scenario may place a meal on (days count
#: from 0): a year, the longest run ``pumplab patient simulate`` accepts.  A
#: larger day could never be eaten, so it is refused as a mistake.
MAX_MEAL_DAY: Final = 365

#: The names of the meal model's random components, as a run's named streams call them.
MEAL_STREAMS: Final = ("meals.schedule", "meals.counting")

_STANDARD_NORMAL: Final = NormalDist()


class Absorption(enum.Enum):
    """How fast a meal is absorbed: a hint for bolus decisions, not physiology."""

    FAST = "fast"
    MEDIUM = "medium"
    SLOW = "slow"


@dataclass(frozen=True, slots=True)
class Meal:
    """One meal.

    ``start_min`` counts minutes from midnight at the start of day 0 of the
    scenario.  ``carbs_g`` is what is eaten; ``believed_carbs_g`` what the
    person thinks it is (``None``: exactly ``carbs_g``).  An unannounced meal
    gets no bolus.
    """

    start_min: int
    carbs_g: float
    announced: bool = True
    believed_carbs_g: float | None = None
    absorption: Absorption | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.start_min, bool) or not isinstance(self.start_min, int):
            raise TypeError("start_min must be an int")
        if self.start_min < 0:
            raise ValueError(f"start_min must be >= 0, got {self.start_min}")
        if not (math.isfinite(self.carbs_g) and 0.0 < self.carbs_g <= MAX_MEAL_CARBS_G):
            raise ValueError(f"carbs_g must be in (0, {MAX_MEAL_CARBS_G:g}], got {self.carbs_g}")
        believed = self.believed_carbs_g
        if believed is not None and not (
            math.isfinite(believed) and 0.0 <= believed <= MAX_MEAL_CARBS_G
        ):
            raise ValueError(f"believed_carbs_g must be in [0, {MAX_MEAL_CARBS_G:g}]")

    @property
    def day(self) -> int:
        return self.start_min // MINUTES_PER_DAY

    @property
    def minute_of_day(self) -> int:
        return self.start_min % MINUTES_PER_DAY

    @property
    def counted_carbs_g(self) -> float:
        """What the person would enter for this meal (their belief, else the truth)."""
        return self.carbs_g if self.believed_carbs_g is None else self.believed_carbs_g


@dataclass(frozen=True, slots=True)
class CarbCountingError:
    """Relative error of the person's carbohydrate estimate, per meal.

    ``believed = round(true · F)`` with ``F`` log-normal, its mean ``1 +
    mean_rel_error`` and SD ``sd_rel_error`` (moment-matched, so the believed
    amount is never negative).  Defaults: a 10 % underestimate on average with
    a 20 % spread, giving a mean absolute error near 20 % of the meal, the size
    Brazeau et al. (Diabetes Res Clin Pract 99(1):19-23, 2013) report for
    adults with type 1 diabetes; docs/meals.md discusses the sources.
    """

    mean_rel_error: float = -0.10
    sd_rel_error: float = 0.20

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean_rel_error) and -0.5 <= self.mean_rel_error <= 0.5):
            raise ValueError("mean_rel_error must be in [-0.5, 0.5]")
        if not (math.isfinite(self.sd_rel_error) and 0.0 <= self.sd_rel_error <= 1.0):
            raise ValueError("sd_rel_error must be in [0, 1]")

    def log_parameters(self) -> tuple[float, float]:
        """(mu, sigma) of ``ln F``: ``E[F] = 1 + mean``, ``SD[F] = sd``."""
        m = 1.0 + self.mean_rel_error
        sigma2 = math.log1p((self.sd_rel_error / m) ** 2)
        return math.log(m) - 0.5 * sigma2, math.sqrt(sigma2)

    def believed(self, carbs_g: float, z: float) -> float:
        """The believed grams for a meal of ``carbs_g`` given a standard-normal draw ``z``."""
        mu, sigma = self.log_parameters()
        return float(min(max(round(carbs_g * math.exp(mu + sigma * z)), 0), MAX_MEAL_CARBS_G))


@dataclass(frozen=True, slots=True)
class MealScenario:
    """A fixed meal schedule.

    With ``repeat_daily`` every meal lies in day 0 and is eaten every day;
    otherwise the meals are eaten once, on the day their ``start_min`` says.
    """

    name: str
    meals: tuple[Meal, ...]
    repeat_daily: bool = True
    description: str = ""
    carb_counting: CarbCountingError | None = None

    def __post_init__(self) -> None:
        if self.repeat_daily and any(m.start_min >= MINUTES_PER_DAY for m in self.meals):
            raise ValueError("a daily schedule's meals must all lie in day 0")
        totals: dict[int, float] = {}
        for m in self.meals:
            totals[m.start_min] = totals.get(m.start_min, 0.0) + m.carbs_g
        if any(total > MAX_MEAL_CARBS_G for total in totals.values()):
            raise ValueError(
                f"meals starting in one minute must add up to <= {MAX_MEAL_CARBS_G:g} g"
            )
        ordered = tuple(sorted(self.meals, key=lambda m: m.start_min))
        object.__setattr__(self, "meals", ordered)

    def meals_between(self, start_min: int, end_min: int) -> tuple[Meal, ...]:
        """The meals starting in ``[start_min, end_min)``, daily schedules repeated."""
        if not self.repeat_daily:
            return tuple(m for m in self.meals if start_min <= m.start_min < end_min)
        out: list[Meal] = []
        for day in range(start_min // MINUTES_PER_DAY, max(end_min - 1, 0) // MINUTES_PER_DAY + 1):
            for meal in self.meals:
                at = meal.start_min + day * MINUTES_PER_DAY
                if start_min <= at < end_min:
                    out.append(replace(meal, start_min=at))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class MealSlot:
    """One possible meal of a random day: whether, when and how big.

    The meal happens with ``probability``; its time is a normal (mean, SD in
    minutes of the day) truncated to ``[earliest_min, latest_min]``; its size
    a normal rounded to whole grams (a draw below 0.5 g means no meal); it is
    announced with ``announce_probability``.
    """

    label: str
    probability: float
    earliest_min: int
    latest_min: int
    mean_min: float
    sd_min: float
    mean_carbs_g: float
    sd_carbs_g: float
    announce_probability: float = 1.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.probability <= 1.0 and 0.0 <= self.announce_probability <= 1.0):
            raise ValueError("probabilities must be in [0, 1]")
        if not 0 <= self.earliest_min < self.latest_min < MINUTES_PER_DAY:
            raise ValueError("need 0 <= earliest_min < latest_min < 1440")
        if not (self.sd_min > 0.0 and self.sd_carbs_g >= 0.0 and self.mean_carbs_g > 0.0):
            raise ValueError("need sd_min > 0, sd_carbs_g >= 0 and mean_carbs_g > 0")


@dataclass(frozen=True, slots=True)
class RandomDayParams:
    """The meal slots of one random day (see :data:`SIMGLUCOSE_RANDOM_DAY`)."""

    slots: tuple[MealSlot, ...]


def _hours(h: float) -> int:
    return round(h * 60)


#: The day of simglucose 0.2.11's ``RandomScenario`` (Xie, simglucose, 2018):
#: breakfast, lunch and dinner each with probability 0.95, three 10 g snacks
#: with probability 0.3, the time windows, means and SDs below.  These are
#: that simulator's defaults, not a fit to free-living data (docs/meals.md).
SIMGLUCOSE_RANDOM_DAY: Final = RandomDayParams(
    slots=(
        MealSlot("breakfast", 0.95, _hours(5), _hours(9), _hours(7), 60, 45, 10),
        MealSlot("morning snack", 0.3, _hours(9), _hours(10), _hours(9.5), 30, 10, 5),
        MealSlot("lunch", 0.95, _hours(10), _hours(14), _hours(12), 60, 70, 10),
        MealSlot("afternoon snack", 0.3, _hours(14), _hours(16), _hours(15), 30, 10, 5),
        MealSlot("dinner", 0.95, _hours(16), _hours(20), _hours(18), 60, 80, 10),
        MealSlot("evening snack", 0.3, _hours(20), _hours(23), _hours(21.5), 30, 10, 5),
    )
)


@dataclass(frozen=True, slots=True)
class RandomMealPlan:
    """A plan whose days are drawn by :func:`random_day`, different per patient."""

    name: str = "random"
    params: RandomDayParams = SIMGLUCOSE_RANDOM_DAY
    carb_counting: CarbCountingError | None = None
    description: str = "random days (simglucose RandomScenario distributions)"


#: Anything :func:`realize_meals` accepts.
MealPlan = MealScenario | RandomMealPlan


def random_day(params: RandomDayParams, rng: np.random.Generator, day: int) -> tuple[Meal, ...]:
    """The meals of one random day ``day`` (0-based), drawn from ``rng``.

    Every slot takes exactly four draws whether or not its meal happens
    (occurrence, time, size, announcement), so changing one slot's parameters
    never moves another slot's meal.
    """
    meals: list[Meal] = []
    for slot in params.slots:
        u_occurs, u_time, z_size, u_announce = (
            rng.random(),
            rng.random(),
            rng.standard_normal(),
            rng.random(),
        )
        # Truncated normal by inversion: one uniform, exact truncation.
        lo = _STANDARD_NORMAL.cdf((slot.earliest_min - slot.mean_min) / slot.sd_min)
        hi = _STANDARD_NORMAL.cdf((slot.latest_min - slot.mean_min) / slot.sd_min)
        p = min(max(lo + u_time * (hi - lo), 1e-12), 1.0 - 1e-12)
        minute = round(slot.mean_min + slot.sd_min * _STANDARD_NORMAL.inv_cdf(p))
        minute = min(max(minute, slot.earliest_min), slot.latest_min)
        carbs = min(round(slot.mean_carbs_g + slot.sd_carbs_g * float(z_size)), MAX_MEAL_CARBS_G)
        if u_occurs >= slot.probability or carbs <= 0:
            continue
        meals.append(
            Meal(
                start_min=day * MINUTES_PER_DAY + minute,
                carbs_g=float(carbs),
                announced=bool(u_announce < slot.announce_probability),
                label=slot.label,
            )
        )
    return tuple(meals)


@dataclass(frozen=True, slots=True)
class MealRandomness:
    """Per-patient seeds of the two meal streams: the day generator and carb counting.

    Keyed like :class:`~pumplab.physiology.sensor.CgmRandomness`: by the
    component's name (``meals.schedule``, ``meals.counting``) and the
    patient's **name** (``names=``; or its position with ``n_patients``), so a
    named patient eats the same meals alone, in any cohort and in any chunk
    (docs/meals.md, "Randomness").  ``from_seed(s, names=...)`` equals
    ``from_generators(schedule=RandomStreams(s).generator("meals.schedule"),
    counting=RandomStreams(s).generator("meals.counting"), names=...)``, which
    is what ``pumplab patient simulate --meals ... --seed s`` uses.
    """

    schedule: PatientSeeds
    counting: PatientSeeds

    def __post_init__(self) -> None:
        if self.schedule.keys != self.counting.keys:
            raise ValueError("schedule and counting need the same patients")

    @property
    def n_patients(self) -> int:
        return len(self.schedule)

    @property
    def keys(self) -> tuple[PatientKey, ...]:
        """Each patient's stream key: its name, or its position if anonymous."""
        return self.schedule.keys

    def select(self, patients: slice | Sequence[int]) -> MealRandomness:
        """The streams of some patients only (e.g. a chunk of a large cohort)."""
        return MealRandomness(self.schedule.select(patients), self.counting.select(patients))

    def for_names(self, names: Sequence[str]) -> MealRandomness:
        """The same streams for the patients called ``names``."""
        keys = patient_keys(None, names)
        return MealRandomness(self.schedule.for_keys(keys), self.counting.for_keys(keys))

    @classmethod
    def from_seed(
        cls,
        seed: int | np.random.SeedSequence,
        n_patients: int | None = None,
        *,
        names: Sequence[str] | None = None,
    ) -> MealRandomness:
        """Both streams of every patient from one seed (see the class docstring)."""
        return cls.from_generators(
            schedule=component_generator(seed, MEAL_STREAMS[0]),
            counting=component_generator(seed, MEAL_STREAMS[1]),
            n_patients=n_patients,
            names=names,
        )

    @classmethod
    def from_generators(
        cls,
        *,
        schedule: np.random.Generator,
        counting: np.random.Generator,
        n_patients: int | None = None,
        names: Sequence[str] | None = None,
    ) -> MealRandomness:
        """Per-patient streams seeded from two injected component generators.

        Each generator is advanced by one 128-bit draw; patients are keyed
        under it by ``names`` (or by position with ``n_patients``).
        """
        keys = patient_keys(n_patients, names)
        return cls(
            PatientSeeds.from_generator(schedule, keys),
            PatientSeeds.from_generator(counting, keys),
        )


@dataclass(frozen=True, slots=True)
class MealArrays:
    """A realized meal plan for N patients over M minutes.

    Column *m* is minute *m* of the run, which is minute
    ``start_minute_of_day + m`` of the scenario (day 0 starts at column
    ``-start_minute_of_day``).  ``meals[i]`` lists patient *i*'s meals with
    their scenario ``start_min`` and, when the plan has a carb-counting error,
    the ``believed_carbs_g`` drawn for each.
    """

    eaten_g: FloatArray  #: (N, M) grams eaten, at the minute each meal starts
    announced_g: FloatArray  #: (N, M) grams the person enters (announced meals only)
    meals: tuple[tuple[Meal, ...], ...]
    start_minute_of_day: int


def realize_meals(
    plan: MealPlan,
    *,
    n_patients: int,
    n_minutes: int,
    randomness: MealRandomness | None = None,
    start_minute_of_day: int = 0,
) -> MealArrays:
    """Per-minute carbohydrate arrays for ``n_patients`` over ``n_minutes``.

    A fixed scenario gives every patient the same meals; a random plan draws
    each patient's days from that patient's schedule stream (days counted from
    day 0, so day 2 is the same whether the run starts on day 0 or day 1).
    ``randomness`` is required for a random plan or a carb-counting error.
    """
    if n_patients < 1 or n_minutes < 0:
        raise ValueError("need n_patients >= 1 and n_minutes >= 0")
    if not 0 <= start_minute_of_day < MINUTES_PER_DAY:
        raise ValueError("start_minute_of_day must be in 0..1439")
    needs_rng = isinstance(plan, RandomMealPlan) or plan.carb_counting is not None
    if needs_rng:
        if randomness is None:
            raise ValueError(f"meal plan {plan.name!r} is random: pass a MealRandomness")
        if randomness.n_patients != n_patients:
            raise ValueError(
                f"randomness is for {randomness.n_patients} patients, not {n_patients}"
            )
    first, end = start_minute_of_day, start_minute_of_day + n_minutes
    eaten = np.zeros((n_patients, n_minutes))
    announced = np.zeros((n_patients, n_minutes))
    per_patient: list[tuple[Meal, ...]] = []
    fixed = plan.meals_between(first, end) if isinstance(plan, MealScenario) else ()
    for i in range(n_patients):
        if isinstance(plan, RandomMealPlan):
            assert randomness is not None
            rng = np.random.Generator(np.random.PCG64(randomness.schedule[i]))
            days: list[Meal] = []
            for day in range(0, max(end - 1, 0) // MINUTES_PER_DAY + 1):
                days.extend(random_day(plan.params, rng, day))
            meals = tuple(m for m in days if first <= m.start_min < end)
        else:
            meals = fixed
        if plan.carb_counting is not None:
            assert randomness is not None
            counting = np.random.Generator(np.random.PCG64(randomness.counting[i]))
            z = counting.standard_normal(len(meals))
            meals = tuple(
                m
                if m.believed_carbs_g is not None
                else replace(m, believed_carbs_g=plan.carb_counting.believed(m.carbs_g, float(zj)))
                for m, zj in zip(meals, z, strict=True)
            )
        for meal in meals:
            column = meal.start_min - first
            eaten[i, column] += meal.carbs_g
            if eaten[i, column] > MAX_MEAL_CARBS_G:
                # Only a random plan with custom slots can get here (a fixed
                # scenario is checked when it is built).
                raise ScenarioError(
                    f"meals starting at scenario minute {meal.start_min} of patient {i} "
                    f"add up to {eaten[i, column]:g} g",
                    source=plan.name,
                    field="meals",
                    allowed=f"at most {MAX_MEAL_CARBS_G:g} g starting in any one minute",
                )
            if meal.announced:
                announced[i, column] += meal.counted_carbs_g
        per_patient.append(meals)
    return MealArrays(eaten, announced, tuple(per_patient), start_minute_of_day)


# --------------------------------------------------------------------------
# TOML scenario files
# --------------------------------------------------------------------------

_TOP_KEYS: Final = ("name", "description", "repeat_daily", "meals", "carb_counting")
_MEAL_KEYS: Final = (
    "time",
    "day",
    "carbs_g",
    "announced",
    "believed_carbs_g",
    "absorption",
    "label",
)
_COUNTING_KEYS: Final = ("mean_rel_error", "sd_rel_error")
# ASCII digits only: Python's \d would also match other scripts' digits ("٠٩:٣٠").
_TIME_RE: Final = re.compile(r"^([0-9]{1,2}):([0-9]{2})$", re.ASCII)
_GRAMS_ALLOWED: Final = f"a number > 0 and <= {MAX_MEAL_CARBS_G:g}"


class _Checker:
    """Reads values out of parsed TOML, raising ScenarioError with the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, reason: str, path: str, allowed: str | None = None) -> ScenarioError:
        return ScenarioError(reason, source=self.source, field=path, allowed=allowed)

    def keys(self, table: Mapping[str, Any], allowed: Sequence[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail("unknown key", f"{prefix}{key}", ", ".join(allowed))

    def number(self, value: Any, path: str, lo: float, hi: float, *, lo_open: bool) -> float:
        allowed = f"a number {'>' if lo_open else '>='} {lo:g} and <= {hi:g}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"not a number: {value!r}", path, allowed)
        x = float(value)
        low_ok = x > lo if lo_open else x >= lo
        if not (math.isfinite(x) and low_ok and x <= hi):
            raise self.fail(f"out of range: {value!r}", path, allowed)
        return x

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(f"not a boolean: {value!r}", path, "true or false")
        return value

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self.fail(f"not a string: {value!r}", path, "a quoted string")
        return value

    def minute_of_day(self, value: Any, path: str) -> int:
        allowed = 'a time of day "HH:MM" from "00:00" to "23:59"'
        if isinstance(value, dt_time):
            if value.second or value.microsecond or value.tzinfo is not None:
                raise self.fail(f"not a whole minute: {value}", path, allowed)
            return value.hour * 60 + value.minute
        if not isinstance(value, str):
            raise self.fail(f"not a time: {value!r}", path, allowed)
        match = _TIME_RE.match(value)
        if match is None:
            raise self.fail(f"not a time: {value!r}", path, allowed)
        hours, minutes = int(match.group(1)), int(match.group(2))
        if hours > 23 or minutes > 59:
            raise self.fail(f"time outside the day: {value!r}", path, allowed)
        return hours * 60 + minutes


def parse_meal_scenario(text: str, *, source: str, default_name: str = "") -> MealScenario:
    """A :class:`MealScenario` from TOML text (schema in docs/meals.md).

    Every problem is a :class:`~pumplab.errors.ScenarioError` naming ``source``
    and the key path (``meals[2].carbs_g``; meals count from 0).
    """
    check = _Checker(source)
    # A UTF-8 byte-order mark (some editors write one) is not TOML: accept it
    # as the CSV readers do.
    text = text.removeprefix("\ufeff")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}", source=source) from exc
    check.keys(doc, _TOP_KEYS, "")
    name = check.string(doc.get("name", default_name), "name")
    description = check.string(doc.get("description", ""), "description")
    repeat_daily = check.boolean(doc.get("repeat_daily", True), "repeat_daily")
    counting = None
    if "carb_counting" in doc:
        table = doc["carb_counting"]
        if not isinstance(table, dict):
            raise check.fail(
                "not a table", "carb_counting", "[carb_counting] with " + ", ".join(_COUNTING_KEYS)
            )
        check.keys(table, _COUNTING_KEYS, "carb_counting.")
        defaults = CarbCountingError()
        counting = CarbCountingError(
            mean_rel_error=check.number(
                table.get("mean_rel_error", defaults.mean_rel_error),
                "carb_counting.mean_rel_error",
                -0.5,
                0.5,
                lo_open=False,
            ),
            sd_rel_error=check.number(
                table.get("sd_rel_error", defaults.sd_rel_error),
                "carb_counting.sd_rel_error",
                0.0,
                1.0,
                lo_open=False,
            ),
        )
    if "meals" not in doc:
        raise check.fail(
            "missing", "meals", "an array of [[meals]] tables (may be empty: meals = [])"
        )
    raw_meals = doc["meals"]
    if not isinstance(raw_meals, list):
        raise check.fail("not an array of tables", "meals", "[[meals]] tables")
    meals = tuple(
        _parse_meal(check, entry, f"meals[{index}]", repeat_daily)
        for index, entry in enumerate(raw_meals)
    )
    _check_minute_totals(check, meals)
    return MealScenario(
        name=name,
        meals=meals,
        repeat_daily=repeat_daily,
        description=description,
        carb_counting=counting,
    )


def _check_minute_totals(check: _Checker, meals: Sequence[Meal]) -> None:
    """Meals starting in the same minute add up; the total must fit one minute's limit."""
    totals: dict[int, float] = {}
    for index, meal in enumerate(meals):
        totals[meal.start_min] = totals.get(meal.start_min, 0.0) + meal.carbs_g
        if totals[meal.start_min] > MAX_MEAL_CARBS_G:
            raise check.fail(
                f"the meals starting at this minute add up to {totals[meal.start_min]:g} g",
                f"meals[{index}].carbs_g",
                f"at most {MAX_MEAL_CARBS_G:g} g starting in any one minute",
            )


def _parse_meal(check: _Checker, entry: Any, path: str, repeat_daily: bool) -> Meal:
    if not isinstance(entry, dict):
        raise check.fail("not a table", path, "a [[meals]] table")
    check.keys(entry, _MEAL_KEYS, f"{path}.")
    for required in ("time", "carbs_g"):
        if required not in entry:
            raise check.fail("missing", f"{path}.{required}")
    minute = check.minute_of_day(entry["time"], f"{path}.time")
    day = 0
    if "day" in entry:
        if repeat_daily:
            raise check.fail(
                "a daily schedule has no days", f"{path}.day", "day only with repeat_daily = false"
            )
        value = entry["day"]
        allowed = f"an integer from 0 to {MAX_MEAL_DAY}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise check.fail(f"not a day number: {value!r}", f"{path}.day", allowed)
        if not 0 <= value <= MAX_MEAL_DAY:
            raise check.fail(f"day out of range: {value!r}", f"{path}.day", allowed)
        day = value
    carbs = check.number(entry["carbs_g"], f"{path}.carbs_g", 0.0, MAX_MEAL_CARBS_G, lo_open=True)
    believed = None
    if "believed_carbs_g" in entry:
        believed = check.number(
            entry["believed_carbs_g"],
            f"{path}.believed_carbs_g",
            0.0,
            MAX_MEAL_CARBS_G,
            lo_open=False,
        )
    announced = check.boolean(entry.get("announced", True), f"{path}.announced")
    absorption = None
    if "absorption" in entry:
        text = entry["absorption"]
        try:
            absorption = Absorption(text)
        except ValueError:
            raise check.fail(
                f"unknown absorption {text!r}",
                f"{path}.absorption",
                ", ".join(a.value for a in Absorption),
            ) from None
    label = check.string(entry.get("label", ""), f"{path}.label")
    return Meal(
        start_min=day * MINUTES_PER_DAY + minute,
        carbs_g=carbs,
        announced=announced,
        believed_carbs_g=believed,
        absorption=absorption,
        label=label,
    )


def read_meal_scenario(path: str | Path) -> MealScenario:
    """Read and validate a TOML meal scenario file (the name defaults to the file's stem)."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError("not UTF-8 text", source=str(path)) from exc
    return parse_meal_scenario(text, source=str(path), default_name=path.stem)


# --------------------------------------------------------------------------
# Built-in plans
# --------------------------------------------------------------------------

#: Built-in plan names.  The fixed ones are TOML files shipped in
#: ``physiology/data/meals_<name>.toml`` (they double as schema examples).
BUILTIN_MEAL_PLANS: Final = (
    "standard-day",
    "big-dinner",
    "missed-bolus",
    "unannounced-snacks",
    "fasting",
    "random",
    "random-carb-error",
)

_RANDOM_BUILTINS: Final[Mapping[str, RandomMealPlan]] = {
    "random": RandomMealPlan(),
    "random-carb-error": RandomMealPlan(
        name="random-carb-error",
        carb_counting=CarbCountingError(),
        description="random days with the default carb-counting error",
    ),
}


def builtin_meal_plan(name: str) -> MealPlan:
    """The built-in plan ``name``; a :class:`ScenarioError` lists the valid names."""
    if name not in BUILTIN_MEAL_PLANS:
        raise ScenarioError(
            f"unknown built-in meal scenario {name!r}",
            field="meals",
            allowed=", ".join(BUILTIN_MEAL_PLANS),
        )
    if name in _RANDOM_BUILTINS:
        return _RANDOM_BUILTINS[name]
    resource = resources.files("pumplab.physiology").joinpath("data", f"meals_{name}.toml")
    return parse_meal_scenario(
        resource.read_text(encoding="utf-8"), source=f"built-in:{name}", default_name=name
    )


def load_meal_plan(spec: str | Path) -> MealPlan:
    """A built-in plan by name, or a TOML scenario file by path (``--meals SCENARIO``)."""
    text = str(spec)
    if text in BUILTIN_MEAL_PLANS:
        return builtin_meal_plan(text)
    path = Path(text)
    if not path.exists():
        raise ScenarioError(
            f"unknown meal scenario {text!r}: not a built-in name and no such file",
            field="meals",
            allowed="a TOML file or one of " + ", ".join(BUILTIN_MEAL_PLANS),
        )
    return read_meal_scenario(path)

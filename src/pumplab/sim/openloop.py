"""The open-loop day: a person wears the pump with a CGM, a meter and a remote.

This is pumplab's main job until the seed story (legacy vs secure pump under
attack) exists: one or more virtual patients from the cohort, each with a
Paradigm x23-class pump configured from the subject's therapy settings, a CGM
transmitter, a linked meter and a keychain remote over an in-memory link, and
the person model, for 24 hours (by default).  The pumps keep durable SQLite
histories (or in-memory ones for large runs); at the end each history is
verified and the glycaemic outcome computed from the trace.

Settings derived from the subject (docs/simulation.md, "Open-loop day"):
basal = the subject's steady-state basal rounded down to the x23 grid; carb
ratio and correction factor from the cohort's questionnaire data; BG target
100–120 mg/dL; active-insulin time 4 h; max bolus large enough for the
biggest planned meal; secure-mode limits scaled from the total daily insulin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pumplab.clock import MS_PER_MINUTE
from pumplab.devices.cgm import CgmTransmitter
from pumplab.devices.history import HistoryStore, MemoryHistory, SqliteHistory
from pumplab.devices.meter import Meter
from pumplab.devices.pump import ProtocolMode, Pump, PumpSettings, Role, ui
from pumplab.devices.remote import Remote
from pumplab.errors import InputError
from pumplab.link.memory import InMemoryLink
from pumplab.people.person import Person, PersonEnvironment, PersonProfile
from pumplab.physiology import Cohort, PatientBatch, Subject, load_cohort
from pumplab.physiology.meals import MealRandomness, load_meal_plan, realize_meals
from pumplab.physiology.meter import GlucoseMeter
from pumplab.physiology.sensor import CgmRandomness, CgmSensorArray, cgm_preset
from pumplab.sim.streams import RandomStreams
from pumplab.sim.world import PatientRig, World, WorldMotor
from pumplab.therapy import (
    X23_BASAL_INCREMENT,
    X23_MAX_BASAL_LIMIT_U_PER_H,
    X23_MAX_BOLUS_LIMIT_U,
    round_down,
)

__all__ = [
    "RUN_START_CLOCK_MS",
    "OpenLoopConfig",
    "build_open_loop_world",
    "insulin_totals",
    "pump_settings_for",
]

#: The pump's user clock at the start of every run: Monday 2026-01-05 00:00 UTC.
#: A fixed date keeps histories and exports reproducible.
RUN_START_CLOCK_MS = 1_767_571_200_000


@dataclass(frozen=True, slots=True)
class OpenLoopConfig:
    """Everything that defines an open-loop run (defaults are `pumplab run`'s)."""

    patients: tuple[str, ...] = ("adult#001",)
    minutes: int = 24 * 60
    seed: int = 1
    mode: str = "secure"
    meals: str = "standard-day"
    cgm_model: str = "enlite"
    sensor_age_min: int = 24 * 60  # mid-session: the CGM reads from the first sample
    durable_history: bool = True
    history_dir: Path | None = None  # where durable histories go (one file per pump)
    history_path: Path | None = None  # exact path, single-patient runs only
    link_loss: float = 0.0
    use_remote: bool = True
    person: PersonProfile = field(default_factory=PersonProfile)
    #: The subjects themselves, when they are not all standard ones (a generated
    #: population); ``patients`` must then equal ``cohort.names``.
    cohort: Cohort | None = None
    #: The pump's user clock (local wall time, ms since 1970) at minute 0; its
    #: time of day is also where the meal plan and the person's day start.
    start_clock_ms: int = RUN_START_CLOCK_MS

    def __post_init__(self) -> None:
        if not self.patients:
            raise InputError("at least one patient is needed", field="patients")
        if self.cohort is not None and tuple(self.cohort.names) != tuple(self.patients):
            raise ValueError("patients must equal cohort.names when a cohort is given")
        if not 1 <= self.minutes <= 14 * 24 * 60:
            raise InputError(f"{self.minutes} minutes", field="minutes",
                             allowed="1–20160 (14 days)")
        if self.mode not in ("legacy", "secure"):
            raise InputError(f"unknown mode {self.mode!r}", field="mode",
                             allowed="legacy or secure")
        if not 0.0 <= self.link_loss < 1.0:
            raise InputError(f"{self.link_loss}", field="link_loss", allowed="0 ≤ loss < 1")
        if self.history_path is not None and len(self.patients) != 1:
            raise InputError("history_path names one file: use history_dir for several pumps",
                             field="history_path")
        if self.durable_history and self.history_path is None and self.history_dir is None:
            raise InputError("a durable history needs history_path or history_dir",
                             field="history_dir")


#: Correction a max bolus must leave room for, on top of the biggest meal.
_CORRECTION_ROOM_MG_DL = 150.0


def _round_up(value: float, step: float) -> float:
    return math.ceil(value / step - 1e-9) * step


def pump_settings_for(subject: Subject, *, max_meal_g: float, mode: ProtocolMode,
                      remote_id: str | None, meter_id: str, sensor_id: str) -> PumpSettings:
    """Pump settings a clinician would program for ``subject`` (documented rules)."""
    therapy = subject.therapy
    # Rounded *down* to the x23's basal grid: the pump then never delivers more
    # than the rate that holds the subject at its published steady state.
    basal = round_down(therapy.basal_rate_u_per_h, X23_BASAL_INCREMENT)
    # The wizard's ratios are whole numbers on the x23's screens; the pump's
    # ranges (1–200 g/U, 5–400 mg/dL/U) bound them below.
    cr = float(round(therapy.carb_ratio_g_per_u))
    isf = float(round(therapy.correction_factor_mg_dl_per_u))
    # Max bolus: room for the biggest planned meal plus a 150 mg/dL correction
    # (a high of 270 mg/dL against a 120 mg/dL target), at least the x23's
    # default of 10 U and at most its 25 U ceiling.
    biggest_bolus = max_meal_g / max(cr, 1.0) + _CORRECTION_ROOM_MG_DL / max(isf, 5.0)
    max_bolus = min(X23_MAX_BOLUS_LIMIT_U, max(10.0, _round_up(biggest_bolus, 1.0)))
    # Max basal: three times the programmed basal (room for temp basals of up to
    # 300 %), at least the x23's 2 U/h default, at most its 35 U/h ceiling.
    max_basal = min(X23_MAX_BASAL_LIMIT_U_PER_H, max(2.0, _round_up(3.0 * basal, 0.5)))
    tdi = therapy.total_daily_insulin_u
    legacy = mode is ProtocolMode.LEGACY
    return PumpSettings(
        max_bolus_u=max_bolus,
        max_basal_u_per_h=max_basal,
        pattern_standard=((0, basal),),
        carb_ratios=((0, min(max(cr, 1.0), 200.0)),),
        isf=((0, min(max(isf, 5.0), 400.0)),),
        bg_targets=((0, 100.0, 120.0),),
        active_insulin_time_h=4,
        remote_enabled=legacy and remote_id is not None,
        remote_ids=(remote_id,) if legacy and remote_id is not None else (),
        meter_ids=(meter_id,) if legacy else (),
        sensor_enabled=legacy,
        sensor_id=sensor_id if legacy else "",
        # Secure-mode limits (ignored by a legacy pump's gate), within the
        # pump's allowed ranges (60 U/h, 300 U/day, 60 U active insulin): an hour
        # may hold one max bolus plus two hours' worth of max basal; a day twice
        # the subject's usual total daily insulin (or three max boluses, if more);
        # active insulin for automated delivery at most one max bolus.
        max_hourly_u=min(60.0, _round_up(max_bolus + 2.0 * max_basal, 0.1)),
        max_daily_u=min(300.0, _round_up(max(2.0 * tdi, 3.0 * max_bolus), 0.1)),
        max_iob_u=min(60.0, _round_up(max_bolus, 0.1)),
    )


def _open_history(config: OpenLoopConfig, serial: str, name: str) -> HistoryStore:
    if not config.durable_history:
        return MemoryHistory(device_serial=serial)
    if config.history_path is not None:
        path = config.history_path
    else:
        assert config.history_dir is not None
        path = config.history_dir / f"history-{name.replace('#', '-')}.sqlite"
    if path.exists():
        raise InputError("a history already exists there; choose a new path (a pump's "
                         "history is never overwritten)", source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHistory(path, device_serial=serial)


def build_open_loop_world(config: OpenLoopConfig) -> World:
    """Wire the open-loop day described by ``config`` (not yet run)."""
    cohort = (config.cohort if config.cohort is not None
              else load_cohort().select(list(config.patients)))
    n = len(cohort)
    start_minute_of_day = (config.start_clock_ms // MS_PER_MINUTE) % (24 * 60)
    streams = RandomStreams(config.seed)
    mode = ProtocolMode(config.mode)
    plan = load_meal_plan(config.meals)
    meal_rnd = MealRandomness.from_generators(
        schedule=streams.generator("meals.schedule"),
        counting=streams.generator("meals.counting"),
        names=cohort.names,
    )
    meals = realize_meals(plan, n_patients=n, n_minutes=config.minutes, randomness=meal_rnd,
                          start_minute_of_day=start_minute_of_day)
    sensor = CgmSensorArray(
        cgm_preset(config.cgm_model),
        CgmRandomness.from_generators(
            noise=streams.generator("cgm.noise"),
            calibration=streams.generator("cgm.calibration"),
            dropout=streams.generator("cgm.dropout"),
            names=cohort.names,
        ),
        sensor_age_min=config.sensor_age_min,
    )
    world = World(PatientBatch(cohort), config.minutes, start_minute_of_day=start_minute_of_day)
    for i, subject in enumerate(cohort):
        _add_patient(world, config, streams, mode, i, subject, meals.meals[i], sensor)
    return world


def _add_patient(world: World, config: OpenLoopConfig, streams: RandomStreams,
                 mode: ProtocolMode, i: int, subject: Subject, meals: Any,
                 sensor: CgmSensorArray) -> None:
    clock = world.clock
    # Per-patient streams are keyed by the subject's name, not its row, so a
    # patient sees the same draws alone (one lab task per patient) or in a batch.
    serial = f"{100000 + i}"
    pump_address = f"pump:{serial}"
    cgm_id, meter_id, remote_id = f"SN{i:05d}", f"MTR{i:05d}", f"RMT{i:05d}"
    loss_rng = streams.generator(f"link.{subject.name}") if config.link_loss > 0 else None
    link = InMemoryLink(clock, rng=loss_rng, loss=config.link_loss)
    max_meal = max((m.carbs_g for m in meals), default=60.0)
    settings = pump_settings_for(subject, max_meal_g=max_meal, mode=mode,
                                 remote_id=remote_id if config.use_remote else None,
                                 meter_id=meter_id, sensor_id=cgm_id)
    history = _open_history(config, serial, subject.name)
    motor = WorldMotor(world, i)
    pump = Pump(serial=serial, clock=clock, link=link, history=history, motor=motor,
                mode=mode, settings=settings, rng=streams.generator(f"pump.{subject.name}"),
                clock_ms=config.start_clock_ms)
    pump.start()
    secure = mode is ProtocolMode.SECURE
    if secure:
        # Pairing from the pump's keys, as the person would at set-up.
        for address, role in ((f"cgm:{cgm_id}", Role.CGM), (f"meter:{meter_id}", Role.METER)):
            _must(ui.pair(pump, address, role), f"pairing {address}")
        if config.use_remote:
            _must(ui.pair(pump, f"remote:{remote_id}", Role.REMOTE), "pairing the remote")
    cgm = CgmTransmitter(f"cgm:{cgm_id}", pump_address, clock, link, world.cgm_source(i, sensor))
    cgm.start()
    meter_model = GlucoseMeter(rng=streams.generator(f"meter.{subject.name}"))

    def measure() -> tuple[float | None, str]:
        result = meter_model.measure(world.bg_mg_dl(i))
        return result.bg_mg_dl, result.text

    meter = Meter(f"meter:{meter_id}", pump_address, clock, link, measure)
    meter.start()
    remote = None
    if config.use_remote:
        remote = Remote(f"remote:{remote_id}", pump_address, clock, link,
                        use_command_ids=secure)
        remote.start()
    env = PersonEnvironment(
        clock=clock,
        pump=pump,
        meter=meter,
        eat=lambda g: world.eat(i, g),
        true_bg_mg_dl=lambda: world.bg_mg_dl(i),
        replace_infusion_set=motor.replace_infusion_set,
        record=lambda kind, detail: world.record_event(i, "person", kind, detail),
        remote=remote,
        start_minute_of_day=world.start_minute_of_day,
    )
    person = Person(env, config.person, streams.generator(f"person.{subject.name}"), meals)
    person.start()

    def on_annunciation(event: Any) -> None:
        world.record_event(i, "pump", event.reason.value, {
            "text": event.text, "origin": event.origin, "amount_u": event.amount_u,
            "alarm": None if event.alarm is None else event.alarm.value,
        })

    pump.add_annunciation_listener(on_annunciation)
    world.add_rig(PatientRig(i, subject.name, pump, motor, link, history, cgm=cgm, meter=meter,
                             remote=remote, person=person))


def _must(result: ui.UiResult, what: str) -> None:
    if not result.done:
        raise RuntimeError(f"{what} failed at the pump's keys: {result.message}")


def insulin_totals(world: World) -> dict[str, np.ndarray]:
    """Insulin per patient by trace column, for reports."""
    return {source: world.trace.insulin(source).sum(axis=1)
            for source in world.trace.insulin_sources}

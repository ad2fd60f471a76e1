"""The world: patients, their devices, links and people, and the run loop.

A :class:`World` holds N patients (one batched :class:`PatientBatch`) and, per
patient, a :class:`PatientRig`: the pump, its motor, the CGM transmitter, the
meter, the remote, the person, and the in-memory link between them.  One
:class:`~pumplab.clock.EventClock` drives every device of every patient.

The run loop (:meth:`World.run`) is the one seam between batched physiology
and per-patient devices, and it is deliberately thin.  For each minute *m*:

1. run every device event due in ``[m·60000, (m+1)·60000)``; devices see each
   patient's glucose as it was at the start of the minute;
2. take, per patient, the insulin the motor pushed and the carbs eaten during
   the minute (accumulated by :class:`WorldMotor` and :meth:`World.eat`);
3. step all patients' physiology by one minute;
4. record trace row *m + 1*.

Insulin is recorded at the motor, the boundary where it leaves the pump: that
record, not the pump's bookkeeping, is what reaches the patient model and the
trace.  Random streams come from :class:`~pumplab.sim.streams.RandomStreams`
by component name, so a legacy and a secure run of the same seed see the same
meals, sensor noise and behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pumplab.clock import MS_PER_MINUTE, EventClock
from pumplab.devices.cgm import CgmTransmitter, SensorSource
from pumplab.devices.history import HistoryStore
from pumplab.devices.meter import Meter
from pumplab.devices.pump import Pump, StrokeSource
from pumplab.devices.remote import Remote
from pumplab.link.memory import InMemoryLink
from pumplab.link.messages import SensorFlag
from pumplab.people.person import Person
from pumplab.physiology import PatientBatch
from pumplab.physiology.sensor import CgmFlag, CgmSensorArray
from pumplab.sim.trace import TraceRecorder

__all__ = ["PatientRig", "World", "WorldMotor", "stroke_label"]

FloatArray = npt.NDArray[np.float64]


def stroke_label(source: StrokeSource) -> str:
    """The trace column a stroke belongs to: ``basal`` or ``bolus_<origin>``."""
    if source.what == "basal":
        return "basal"
    origin = getattr(source.origin, "value", source.origin)
    return f"bolus_{origin}"


class WorldMotor:
    """The pump's drive for patient ``index``: what it pushes reaches that patient.

    ``occlude()`` injects a blocked infusion set: pushes fail until
    ``replace_infusion_set()`` (the person's fix).
    """

    def __init__(self, world: World, index: int) -> None:
        self._world = world
        self._index = index
        self.occluded = False
        self.delivered_u = 0.0
        self.strokes = 0
        self.failed_pushes = 0

    def push(self, amount_u: float, *, source: StrokeSource) -> bool:
        if self.occluded:
            self.failed_pushes += 1
            return False
        self.delivered_u += amount_u
        self.strokes += 1
        self._world.add_insulin(self._index, amount_u, stroke_label(source))
        return True

    def occlude(self) -> None:
        self.occluded = True

    def replace_infusion_set(self) -> None:
        self.occluded = False


@dataclass(slots=True)
class PatientRig:
    """One patient's devices and person."""

    index: int
    name: str
    pump: Pump
    motor: WorldMotor
    link: InMemoryLink
    history: HistoryStore
    cgm: CgmTransmitter | None = None
    meter: Meter | None = None
    remote: Remote | None = None
    person: Person | None = None
    extra: dict[str, object] = field(default_factory=dict)


class World:
    """N patients, their rigs, one clock, one trace."""

    def __init__(self, batch: PatientBatch, minutes: int, *, start_minute_of_day: int = 0) -> None:
        if minutes < 1:
            raise ValueError("a run needs at least one minute")
        self.batch = batch
        self.minutes = minutes
        self.start_minute_of_day = start_minute_of_day
        self.clock = EventClock()
        self.trace = TraceRecorder(batch.names, minutes)
        n = len(batch)
        self._insulin_now = np.zeros(n)
        self._carbs_now = np.zeros(n)
        self.rigs: list[PatientRig] = []
        self._minute_hooks: list[Callable[[int], None]] = []
        self.trace.bg_mg_dl[:, 0] = batch.bg_mg_dl
        self.trace.gsub_mg_dl[:, 0] = batch.gsub_mg_dl
        self.minute = 0

    # -------------------------------------------------------------- inputs

    def _row(self) -> int:
        # Inputs during minute m belong to trace row m + 1 (the state they lead to).
        return self.clock.now_ms // MS_PER_MINUTE + 1

    def add_insulin(self, index: int, amount_u: float, label: str) -> None:
        """Insulin that left patient ``index``'s pump now (called by the motor)."""
        self._insulin_now[index] += amount_u
        row = self._row()
        if row <= self.minutes:
            self.trace.insulin(label)[index, row] += amount_u

    def eat(self, index: int, carbs_g: float) -> None:
        """Patient ``index`` starts eating ``carbs_g`` now."""
        if not carbs_g > 0:
            raise ValueError(f"carbs_g must be > 0, got {carbs_g}")
        self._carbs_now[index] += carbs_g
        row = self._row()
        if row <= self.minutes:
            self.trace.carbs_g[index, row] += carbs_g

    def record_event(self, index: int, source: str, kind: str, detail: dict[str, object]) -> None:
        self.trace.event(self.clock.now_ms, index, source, kind, **detail)

    def add_minute_hook(self, hook: Callable[[int], None]) -> None:
        """Call ``hook(m)`` after physiology has advanced to minute ``m``."""
        self._minute_hooks.append(hook)

    def add_rig(self, rig: PatientRig) -> None:
        if rig.index != len(self.rigs):
            raise ValueError("rigs must be added in patient order")
        self.rigs.append(rig)

    # -------------------------------------------------------------- glucose for devices

    def bg_mg_dl(self, index: int) -> float:
        """Patient ``index``'s plasma glucose now (state at the start of this minute)."""
        return float(self.batch.bg_mg_dl[index])

    def gsub_mg_dl(self, index: int) -> float:
        return float(self.batch.gsub_mg_dl[index])

    def cgm_source(self, index: int, sensor: CgmSensorArray) -> SensorSource:
        """A CGM transmitter's ``source(now_ms)`` for patient ``index``.

        It also records the reading in the trace (the sensor's output, whether
        or not the pump receives it)."""
        flags = {CgmFlag.LOW: SensorFlag.LOW, CgmFlag.HIGH: SensorFlag.HIGH}

        def source(now_ms: int) -> tuple[float | None, SensorFlag]:
            minute = now_ms // MS_PER_MINUTE
            reading = sensor.read_patient(index, minute, self.gsub_mg_dl(index))
            flag = flags.get(reading.flag, SensorFlag.OK)
            if reading.flag in flags or reading.glucose_mg_dl is not None:
                self.trace.cgm_mg_dl[index, minute] = (
                    np.nan if reading.glucose_mg_dl is None else reading.glucose_mg_dl
                )
                self.trace.cgm_flag[index, minute] = flag.value if flag in flags.values() else ""
            return reading.glucose_mg_dl, flag

        return source

    # -------------------------------------------------------------- running

    def run(self, minutes: int | None = None) -> None:
        """Advance the world ``minutes`` (default: to the end of the run)."""
        end = self.minutes if minutes is None else min(self.minutes, self.minute + minutes)
        clock, batch, trace = self.clock, self.batch, self.trace
        while self.minute < end:
            m = self.minute
            clock.run_until((m + 1) * MS_PER_MINUTE - 1)
            insulin = self._insulin_now
            carbs = self._carbs_now
            batch.step(carbs, insulin)
            insulin[:] = 0.0
            carbs[:] = 0.0
            self.minute = m + 1
            trace.bg_mg_dl[:, m + 1] = batch.bg_mg_dl
            trace.gsub_mg_dl[:, m + 1] = batch.gsub_mg_dl
            for hook in self._minute_hooks:
                hook(m + 1)

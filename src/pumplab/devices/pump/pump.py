"""The pump: a Medtronic Paradigm x23-class insulin pump as a device model.

:class:`Pump` ties the parts together: settings
(:mod:`~pumplab.devices.pump.settings`), the one safety gate
(:mod:`~pumplab.devices.pump.safety`), the delivery engine (basal credited in
integer milliunit·milliseconds, boluses stroke by stroke at the x23's speed,
:mod:`~pumplab.devices.pump.delivery`), alarms and annunciations
(:mod:`~pumplab.devices.pump.alarms`), the display and keys
(:mod:`~pumplab.devices.pump.screen`, :mod:`~pumplab.devices.pump.menus`),
and the durable history (:mod:`pumplab.devices.history`, rebuilt from at start
by :mod:`~pumplab.devices.pump.recovery`).

The pump reads time only from its injected :class:`~pumplab.clock.Clock`
(device time = the clock's milliseconds: monotonic, what limits and windows
use; the user-visible clock is device time plus an offset the user or a radio
command sets), talks only through its :class:`~pumplab.link.base.Link` at
``"pump:<serial>"``, and delivers only through its
:class:`~pumplab.devices.pump.delivery.Motor`.  Every event is appended to the
history *before* it takes effect; if an append fails the pump stops delivery.

What it deliberately does not do: decode radio frames (a later issue's legacy
codec maps frames to :mod:`pumplab.link.messages`), authenticate senders (the
secure link, a later issue; in-memory envelopes from paired addresses are
trusted), model the motor's mechanics or the insulin's fate (the world does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import math
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumplab.clock import MS_PER_HOUR, MS_PER_MINUTE, Clock, EventHandle
from pumplab.devices.history import HistoryRecord, HistoryStore, JSONValue
from pumplab.devices.pump import menus
from pumplab.devices.pump.access import (
    DOSE_COMMANDS,
    SECURE_NEVER,
    ProtocolMode,
    Role,
    role_may_send,
)
from pumplab.devices.pump.alarms import (
    ALARM_INFO,
    Alarm,
    AlarmBoard,
    AlarmCode,
    Annunciation,
    AnnunciationListener,
    AnnunciationReason,
    Severity,
    Sound,
)
from pumplab.devices.pump.delivery import (
    BASAL_CREDIT_PER_STROKE,
    STROKE_MU,
    STROKE_U,
    BolusKind,
    Motor,
    Origin,
    StrokeSource,
    normal_bolus_duration_ms,
    stroke_offset_ms,
)
from pumplab.devices.pump.recovery import (
    IDS_PER_SENDER,
    SENSOR_SEQS_KEPT,
    IdemEntry,
    Replayed,
    replay,
)
from pumplab.devices.pump.safety import (
    BolusRequest,
    Decision,
    GateView,
    Rule,
    SafetyGate,
    TempBasalRequest,
    pattern_rates_mu,
)
from pumplab.devices.pump.screen import Key, Screen, ScreenKind, ScreenStack
from pumplab.devices.pump.settings import (
    PumpSettings,
    canonical_setting_name,
    setting_value,
    settings_from_json,
    settings_to_json,
    with_pairings,
    with_setting,
)
from pumplab.errors import HistoryError, SettingsError
from pumplab.link.base import Envelope, Link, address_kind
from pumplab.link.messages import (
    Ack,
    BolusCommand,
    ButtonPressCommand,
    CancelBolusCommand,
    CancelTempBasalCommand,
    ChangeSettingCommand,
    Command,
    HistoryPage,
    Message,
    MeterReading,
    Nak,
    NakReason,
    ReadHistoryCommand,
    ReadSettingsCommand,
    ReadStatusCommand,
    RemoteBolusCommand,
    RemoteSuspendCommand,
    Response,
    ResumeCommand,
    SensorBackfill,
    SensorFlag,
    SensorReading,
    SetClockCommand,
    SettingsReport,
    StatusReport,
    SuspendCommand,
    TempBasalCommand,
    WakeupCommand,
)
from pumplab.therapy import Dose, bolus_wizard, insulin_on_board, is_on_grid
from pumplab.therapy.rounding import X23_BASAL_INCREMENT, X23_BOLUS_INCREMENT

__all__ = ["MODEL_NAME", "BootReport", "Pump", "PumpPhase"]

MODEL_NAME = "Paradigm x23 (pumplab emulation)"
MS_PER_DAY = 24 * MS_PER_HOUR
#: A linked meter's BG is offered to the wizard for this long (x23: assumed 12 min).
METER_BG_VALID_MS = 12 * MS_PER_MINUTE
#: Legacy listening window after a wake-up: 1–60 min accepted; decocare sends 10.
WAKEUP_RANGE_MIN = (1, 60)

# Battery drain model (pumplab's assumption, docs/pump.md "Battery"): one AAA
# alkaline cell lasting about three and a half weeks in ordinary use.
BATTERY_IDLE_PCT_PER_H = 0.15
BATTERY_PCT_PER_STROKE = 0.0004
BATTERY_PCT_PER_MESSAGE = 0.001
BATTERY_PCT_PER_AWAKE_MIN = 0.005
BATTERY_LOW_PCT = 10.0


class PumpPhase(enum.Enum):
    """Lifecycle: created → running (or unverified) → stopped."""

    CREATED = "created"
    RUNNING = "running"
    UNVERIFIED = "unverified"  # history failed verification: no delivery
    HALTED = "halted"  # an append failed while running: no delivery
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class BootReport:
    """What :meth:`Pump.start` found and did."""

    verified: bool
    records_before: int
    recovered: bool
    interrupted_bolus_id: int | None = None
    undelivered_u: float = 0.0
    temp_basal_cancelled: bool = False
    reason: str = ""


class _Malformed(Exception):
    """A command field failed validation (becomes Nak MALFORMED)."""


class _Halt(Exception):
    """The history could not be written: abandon the current action."""


@dataclass(slots=True)
class _Bolus:
    bolus_id: int
    kind: BolusKind
    origin: Origin
    normal_mu: int
    square_mu: int
    square_duration_ms: int
    start_ms: int
    delivered_mu: int = 0
    phase: str = "normal"
    phase_start_ms: int = 0
    phase_strokes: int = 0
    phase_duration_ms: int = 0
    phase_done: int = 0
    first_stroke_ms: int | None = None
    last_stroke_ms: int | None = None
    event: EventHandle | None = None

    @property
    def requested_mu(self) -> int:
        return self.normal_mu + self.square_mu


@dataclass(slots=True)
class _Temp:
    rate_mu_per_h: int | None
    percent: int | None
    start_ms: int
    end_ms: int
    origin: Origin
    withholds: bool
    event: EventHandle | None = None


@dataclass(slots=True)
class _Suspend:
    origin: Origin
    reason: str
    radio: bool
    since_ms: int
    resume_at_ms: int | None
    event: EventHandle | None = None


@dataclass(slots=True)
class _Pending:
    """A secure-mode setting or clock change proposed from the air, awaiting ACT."""

    setting: str  # canonical setting name, or "clock"
    value: JSONValue
    src: str
    command_seq: int


def _json(value: object) -> JSONValue:
    """A message field as JSON for the history (non-finite floats as text)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, enum.Enum):
        return _json(value.value)
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return repr(value)[:200]


def _payload(message: object) -> JSONValue:
    """The fields of a message as recorded (``command_id`` kept separately)."""
    if dataclasses.is_dataclass(message) and not isinstance(message, type):
        return {f.name: _json(getattr(message, f.name))
                for f in dataclasses.fields(message) if f.name != "command_id"}
    return {"repr": repr(message)[:200]}


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class Pump:
    """A Paradigm x23-class pump on a link, with a history and a motor.

    Construct, then :meth:`start` (verifies and replays the history, writes
    the ``boot`` record, attaches to the link, starts basal).  ``settings``,
    ``reservoir_u`` and ``clock_ms`` are used only on a first boot (empty
    history); after that the log is the truth.  ``battery_pct`` is the cell
    fitted now (physical, not in the log).  ``rng`` draws pairing codes; when
    omitted, a generator seeded from the serial number is used.
    """

    def __init__(
        self,
        *,
        serial: str,
        clock: Clock,
        link: Link,
        history: HistoryStore,
        motor: Motor,
        mode: ProtocolMode | str = ProtocolMode.SECURE,
        settings: PumpSettings | None = None,
        rng: np.random.Generator | None = None,
        reservoir_u: float | None = None,
        battery_pct: float = 100.0,
        clock_ms: int | None = None,
    ) -> None:
        if not isinstance(serial, str) or not serial or not serial.isalnum():
            raise ValueError(f"serial must be a non-empty alphanumeric string, got {serial!r}")
        self.serial = serial
        self.address = f"pump:{serial}"
        self.mode = ProtocolMode(mode)
        self._clock = clock
        self._link = link
        self._history = history
        self._motor = motor
        self._initial_settings = settings if settings is not None else PumpSettings()
        self._settings = self._initial_settings
        self._rng = rng if rng is not None else np.random.default_rng(zlib.crc32(serial.encode()))
        if reservoir_u is not None and not (_is_number(reservoir_u) and 0 <= reservoir_u <= 300):
            raise ValueError(f"reservoir_u must be within 0..300, got {reservoir_u!r}")
        self._initial_reservoir_mu = (round(reservoir_u * 1000) if reservoir_u is not None
                                      else self._settings.reservoir_capacity_u * 1000)
        if not (_is_number(battery_pct) and 0 <= battery_pct <= 100):
            raise ValueError(f"battery_pct must be within 0..100, got {battery_pct!r}")
        self._battery_pct = float(battery_pct)
        self._initial_clock_ms = clock_ms
        self.phase = PumpPhase.CREATED
        self._gate = SafetyGate(self.mode)
        self._board = AlarmBoard()
        self._listeners: list[AnnunciationListener] = []
        self._stack = ScreenStack(self._home_screen)
        self._alarm_esc = False
        self._clock_offset_ms = 0
        self._reservoir_mu = 0
        self._low_reservoir_alerted = False
        self._bolus: _Bolus | None = None
        self._temp: _Temp | None = None
        self._suspend: _Suspend | None = None
        self._pending: _Pending | None = None
        self._next_bolus_id = 1
        self._bolus_doses: list[tuple[int, int, int]] = []  # (t0, t1, mU) for active insulin
        self._idem: dict[str, OrderedDict[int, IdemEntry]] = {}
        self._last_accepted: dict[str, tuple[int, str]] = {}
        self._meter_bg: tuple[float, int] | None = None
        self._sensor: SensorReading | None = None
        self._sensor_seen: OrderedDict[int, None] = OrderedDict()
        self._radio_awake_until = -1
        self._last_key_ms = 0
        self._last_stroke_ms = 0
        self._nd_anchor = -1
        self._nd_level = 0
        # Basal engine: current effective rate (mU/h), its source, credit (mU·ms/h).
        self._basal_rate_mu = 0
        self._basal_source = "suspended"
        self._basal_pattern = ""
        self._basal_credit = 0
        self._basal_last_ms = 0
        self._timers: dict[str, EventHandle] = {}
        self.boot_report: BootReport | None = None

    # ================================================================ lifecycle

    @property
    def running(self) -> bool:
        return self.phase is PumpPhase.RUNNING

    @property
    def settings(self) -> PumpSettings:
        return self._settings

    @property
    def history(self) -> HistoryStore:
        return self._history

    @property
    def device_time_ms(self) -> int:
        return self._clock.now_ms

    @property
    def user_clock_ms(self) -> int:
        """The user-visible clock (what the screen shows and schedules follow)."""
        return self._clock.now_ms + self._clock_offset_ms

    def start(self) -> BootReport:
        """Verify the history, rebuild state from it, write ``boot``, start delivering."""
        if self.phase is not PumpPhase.CREATED:
            raise RuntimeError("a pump starts once; build a new Pump object to restart")
        now = self._clock.now_ms
        head = self._history.head
        if head is not None and now < head.device_time_ms:
            raise ValueError(f"device time {now} ms is before the history's last record "
                             f"({head.device_time_ms} ms): the clock must never go back")
        report = self._history.verify()
        self._link.attach(self.address, self._on_envelope)
        if not report.ok:
            self.phase = PumpPhase.UNVERIFIED
            self._board.put(Alarm(AlarmCode.HISTORY_UNVERIFIED, now, report.summary(),
                                  severity=Severity.ALARM))
            self._annunciate(AnnunciationReason.ALARM, Sound.SIREN,
                             ALARM_INFO[AlarmCode.HISTORY_UNVERIFIED].text,
                             alarm=AlarmCode.HISTORY_UNVERIFIED)
            self.boot_report = BootReport(False, report.records, head is not None,
                                          reason=report.summary())
            return self.boot_report
        self.phase = PumpPhase.RUNNING
        try:
            self.boot_report = self._boot(head is not None)
        except _Halt:
            self.boot_report = BootReport(True, report.records, head is not None,
                                          reason="history append failed at boot")
        return self.boot_report

    def stop(self) -> None:
        """Power off: detach from the link and cancel every timer (no record written)."""
        for handle in self._timers.values():
            self._clock.cancel(handle)
        self._timers.clear()
        for ev in (self._bolus.event if self._bolus else None,
                   self._temp.event if self._temp else None,
                   self._suspend.event if self._suspend else None):
            if ev is not None:
                self._clock.cancel(ev)
        self._link.detach(self.address)
        self.phase = PumpPhase.STOPPED

    def _boot(self, has_log: bool) -> BootReport:
        now = self._clock.now_ms
        rep = replay(self._history.records(), now_ms=now) if has_log else Replayed()
        if has_log and rep.settings is not None:
            try:
                self._settings = settings_from_json(rep.settings)
            except SettingsError as exc:  # a log written by this code cannot hold these
                raise HistoryError(f"settings in the history do not validate: {exc}") from exc
        self._clock_offset_ms = (rep.clock_offset_ms if has_log
                                 else (self._initial_clock_ms - now
                                       if self._initial_clock_ms is not None else 0))
        self._record("boot", {
            "serial": self.serial, "mode": self.mode.value, "model": self._settings.model,
            "recovered": has_log, "battery_pct": round(self._battery_pct, 3),
            "settings": settings_to_json(self._settings),
        })
        if rep.reservoir_mu is None:
            self._record("reservoir_change", {"units": self._initial_reservoir_mu / 1000,
                                              "source": "initial"})
            self._reservoir_mu = self._initial_reservoir_mu
        else:
            self._reservoir_mu = rep.reservoir_mu
        self._low_reservoir_alerted = rep.low_reservoir_alerted
        for t, mu, origin in rep.strokes:
            self._gate.strokes.add(t, mu, Origin(origin) if origin in Origin._value2member_map_
                                   else Origin.SCHEDULE)
        for action, t in rep.withhold:
            (self._gate.withholding.open if action == "open" else self._gate.withholding.close)(t)
        self._bolus_doses = list(rep.bolus_doses)
        # The no-delivery window runs from the last stroke ever recorded (or from the
        # log's first record): a restart must not reset it.
        if rep.last_stroke_ms is not None:
            self._last_stroke_ms = rep.last_stroke_ms
        else:
            self._last_stroke_ms = (rep.first_device_time_ms
                                    if rep.first_device_time_ms is not None else now)
        self._idem = rep.idem
        self._last_accepted = rep.last_accepted
        self._next_bolus_id = rep.next_bolus_id
        self._meter_bg = rep.meter_bg
        self._sensor_seen = OrderedDict.fromkeys(rep.sensor_seqs)
        for code, data in rep.alarms.items():
            try:
                ac = AlarmCode(code)
            except ValueError:
                continue
            self._board.put(Alarm(ac, int(data.get("raised_at_ms", now)),
                                  str(data.get("message", "")), int(data.get("level", 1)),
                                  Severity(data.get("severity", "alert"))))
        interrupted: int | None = None
        undelivered_u = 0.0
        if rep.open_bolus is not None:
            ob = rep.open_bolus
            interrupted = ob.bolus_id
            undelivered_mu = max(0, ob.requested_mu - ob.delivered_mu)
            undelivered_u = undelivered_mu / 1000
            self._record("recovery", {
                "interrupted_bolus_id": ob.bolus_id, "requested_u": ob.requested_mu / 1000,
                "delivered_u": ob.delivered_mu / 1000, "undelivered_u": undelivered_u,
            })
            self._record("bolus_end", {"bolus_id": ob.bolus_id,
                                       "requested_u": ob.requested_mu / 1000,
                                       "delivered_u": ob.delivered_mu / 1000,
                                       "reason": "interrupted"})
            if ob.first_stroke_ms is not None and ob.last_stroke_ms is not None:
                self._bolus_doses.append((ob.first_stroke_ms, ob.last_stroke_ms, ob.delivered_mu))
            self._raise_alarm(AlarmCode.BOLUS_INTERRUPTED,
                              f"bolus {ob.bolus_id}: {ob.delivered_mu / 1000:.3f} of "
                              f"{ob.requested_mu / 1000:.3f} U delivered; "
                              f"{undelivered_u:.3f} U NOT delivered")
        temp_cancelled = False
        if rep.open_temp is not None:
            # Decision (docs/pump.md, "Restart"): a temp basal running at a
            # restart is cancelled, not resumed; scheduled basal takes over.
            temp_cancelled = True
            self._record("temp_basal_end", {"reason": "interrupted"})
            if rep.open_temp.get("radio") and rep.open_temp.get("withholds"):
                self._gate.withholding.close(now)
            self._raise_alarm(AlarmCode.TEMP_BASAL_CANCELLED,
                              "temp basal running at restart was cancelled")
        if rep.suspend is not None:
            s = rep.suspend
            s_origin = (Origin(s.get("source")) if s.get("source") in Origin._value2member_map_
                        else Origin.BUTTONS)
            resume_at = s.get("resume_at_device_ms")
            self._suspend = _Suspend(s_origin, str(s.get("reason", "")), bool(s.get("radio")),
                                     int(s.get("since_ms", now)),
                                     int(resume_at) if isinstance(resume_at, int) else None)
            if self._suspend.resume_at_ms is not None:
                self._arm_radio_resume()
        self._last_key_ms = now
        self._basal_last_ms = now
        self._refresh_basal()
        self._arm_segment_timer()
        self._arm_no_delivery()
        self._arm_auto_off()
        self._timers["battery"] = self._clock.schedule_in(MS_PER_HOUR, self._on_battery_tick,
                                                          label="pump battery")
        return BootReport(True, rep.records, has_log, interrupted, undelivered_u, temp_cancelled)

    # ================================================================ history

    def _record(self, kind: str, data: Mapping[str, JSONValue]) -> HistoryRecord:
        if self.phase is not PumpPhase.RUNNING:
            raise _Halt()
        try:
            return self._history.append(kind, data, device_time_ms=self._clock.now_ms,
                                        clock_ms=self.user_clock_ms)
        except HistoryError as exc:
            self._halt(str(exc))
            raise _Halt() from exc

    def _halt(self, why: str) -> None:
        """An append failed: stop all delivery without writing (nothing can be written)."""
        self.phase = PumpPhase.HALTED
        now = self._clock.now_ms
        for ev in (self._bolus.event if self._bolus else None,
                   self._temp.event if self._temp else None,
                   self._timers.pop("basal", None)):
            if ev is not None:
                self._clock.cancel(ev)
        self._bolus = None
        self._basal_rate_mu = 0
        self._board.put(Alarm(AlarmCode.HISTORY_FAILURE, now, why, severity=Severity.ALARM))
        self._annunciate(AnnunciationReason.ALARM, Sound.SIREN,
                         ALARM_INFO[AlarmCode.HISTORY_FAILURE].text,
                         alarm=AlarmCode.HISTORY_FAILURE)

    def _guarded(self, action: Callable[[], None]) -> None:
        """Run a timer or input handler; a failed append has already halted the pump."""
        if self.phase is not PumpPhase.RUNNING:
            return
        with contextlib.suppress(_Halt):
            action()

    # ================================================================ observers

    def add_annunciation_listener(self, listener: AnnunciationListener) -> None:
        """Call ``listener(annunciation)`` on every beep, vibration and siren."""
        self._listeners.append(listener)

    def _annunciate(self, reason: AnnunciationReason, sound: Sound, text: str, *,
                    origin: Origin | None = None, bolus_id: int | None = None,
                    amount_u: float | None = None, alarm: AlarmCode | None = None) -> None:
        a = Annunciation(self._clock.now_ms, reason, sound, text,
                         origin.value if origin is not None else None, bolus_id, amount_u, alarm)
        for listener in self._listeners:
            listener(a)

    @property
    def alarms(self) -> tuple[Alarm, ...]:
        """Active alarms and alerts, oldest first."""
        return self._board.active

    def status(self, sender: str | None = None, *, in_reply_to: str = "status",
               command_id: int | None = None) -> StatusReport:
        """A snapshot; ``last_command_*`` are those of ``sender`` (secure mode)."""
        now = self._clock.now_ms
        b = self._bolus
        temp_rate: float | None = None
        remaining = 0
        if self._temp is not None and self._suspend is None:
            temp_rate = self._temp_rate_mu(self._temp) / 1000
            remaining = max(0, math.ceil((self._temp.end_ms - now) / MS_PER_MINUTE))
        last = self._last_accepted.get(sender) if sender is not None else None
        head = self._history.head
        return StatusReport(
            in_reply_to=in_reply_to, command_id=command_id, device_time_ms=now,
            clock_ms=self.user_clock_ms, suspended=self._suspend is not None,
            bolus_in_progress=b is not None,
            bolus_requested_u=b.requested_mu / 1000 if b else 0.0,
            bolus_delivered_u=b.delivered_mu / 1000 if b else 0.0,
            scheduled_basal_u_per_h=self._scheduled_rate_mu() / 1000,
            temp_basal_u_per_h=temp_rate, temp_basal_remaining_min=remaining,
            reservoir_u=self._reservoir_mu / 1000, battery_pct=round(self._battery_pct, 2),
            iob_u=round(self.active_insulin_u(), 3),
            active_alarms=tuple(a.code.value for a in self._board.active),
            last_command_id=last[0] if last else None,
            last_command_outcome=last[1] if last else None,
            history_seq=head.seq if head is not None else 0,
        )

    def active_insulin_u(self) -> float:
        """Bolus insulin still active (the x23's "active insulin": boluses only)."""
        now = self._clock.now_ms
        doses = [Dose(t0 / MS_PER_MINUTE, mu / 1000, (t1 - t0) / MS_PER_MINUTE)
                 for t0, t1, mu in self._bolus_doses]
        b = self._bolus
        if b is not None and b.first_stroke_ms is not None and b.last_stroke_ms is not None:
            doses.append(Dose(b.first_stroke_ms / MS_PER_MINUTE, b.delivered_mu / 1000,
                              (b.last_stroke_ms - b.first_stroke_ms) / MS_PER_MINUTE))
        return insulin_on_board(doses, now / MS_PER_MINUTE, self._settings.active_insulin_curve)

    # ================================================================ physical actions

    def load_reservoir(self, units: float) -> None:
        """A new reservoir (rewind, fill, prime — a physical act, modelled in one step)."""
        if not (_is_number(units) and 0 < units <= self._settings.reservoir_capacity_u):
            raise ValueError(f"units must be within (0, {self._settings.reservoir_capacity_u}]")

        def act() -> None:
            self._record("reservoir_change", {"units": float(units), "source": "user"})
            self._reservoir_mu = round(units * 1000)
            self._low_reservoir_alerted = False
            for code in (AlarmCode.EMPTY_RESERVOIR, AlarmCode.LOW_RESERVOIR):
                if code in self._board:
                    self._clear_alarm(code, "reservoir_changed")
            self._refresh_basal()
        self._guarded(act)

    def replace_battery(self, battery_pct: float = 100.0) -> None:
        """A fresh cell (the pump keeps running: the x23 bridges a quick swap)."""
        if not (_is_number(battery_pct) and 0 < battery_pct <= 100):
            raise ValueError("battery_pct must be within (0, 100]")

        def act() -> None:
            self._battery_pct = float(battery_pct)
            for code in (AlarmCode.BATTERY_OUT, AlarmCode.LOW_BATTERY):
                if code in self._board:
                    self._clear_alarm(code, "battery_replaced")
            self._refresh_basal()
        self._guarded(act)

    # ================================================================ time helpers

    def _minute_of_day(self) -> float:
        return (self.user_clock_ms % MS_PER_DAY) / MS_PER_MINUTE

    def _scheduled_rate_mu(self) -> int:
        return round(self._settings.active_schedule.value_at(self._minute_of_day()) * 1000)

    def _temp_rate_mu(self, temp: _Temp) -> int:
        req = TempBasalRequest(temp.rate_mu_per_h, temp.percent, 0, temp.origin)
        return self._gate.temp_rate_mu(req, self._scheduled_rate_mu())

    def _view(self) -> GateView:
        stop = self._board.stopping()
        return GateView(self._clock.now_ms, self._suspend is not None, self._bolus is not None,
                        stop.code.value if stop else None, self._reservoir_mu,
                        self._scheduled_rate_mu())

    # ================================================================ basal engine

    def _target_basal(self) -> tuple[int, str]:
        if self._suspend is not None:
            return 0, "suspended"
        if self._board.stopping() is not None:
            return 0, "stopped"
        if self._temp is not None:
            return self._temp_rate_mu(self._temp), "temp"
        return self._scheduled_rate_mu(), "schedule"

    def _accrue(self, now: int) -> None:
        self._basal_credit += self._basal_rate_mu * (now - self._basal_last_ms)
        self._basal_last_ms = now

    def _refresh_basal(self) -> None:
        """Bring the basal engine to the rate the state asks for (recording a change first)."""
        now = self._clock.now_ms
        rate, source = self._target_basal()
        pattern = self._settings.active_pattern
        if (rate, source, pattern) != (self._basal_rate_mu, self._basal_source,
                                       self._basal_pattern):
            self._record("basal_rate", {"rate_u_per_h": rate / 1000, "source": source,
                                        "pattern": pattern})
            self._accrue(now)
            self._basal_rate_mu, self._basal_source, self._basal_pattern = rate, source, pattern
        self._arm_basal_stroke()

    def _arm_basal_stroke(self) -> None:
        old = self._timers.pop("basal", None)
        if old is not None:
            self._clock.cancel(old)
        if self._basal_rate_mu <= 0:
            return
        now = self._clock.now_ms
        self._accrue(now)
        need = BASAL_CREDIT_PER_STROKE - self._basal_credit
        delay = max(0, -(-need // self._basal_rate_mu))
        self._timers["basal"] = self._clock.schedule_at(
            now + delay, lambda: self._guarded(self._on_basal_stroke), label="pump basal stroke")

    def _on_basal_stroke(self) -> None:
        self._timers.pop("basal", None)
        now = self._clock.now_ms
        self._accrue(now)
        if self._basal_credit >= BASAL_CREDIT_PER_STROKE and self._basal_rate_mu > 0:
            self._basal_credit -= BASAL_CREDIT_PER_STROKE
            temp = self._temp
            origin = temp.origin if (temp is not None and self._basal_source == "temp") \
                else Origin.SCHEDULE
            self._deliver_stroke("basal", origin, None)
        if "basal" not in self._timers:
            self._arm_basal_stroke()

    def _arm_segment_timer(self) -> None:
        old = self._timers.pop("segment", None)
        if old is not None:
            self._clock.cancel(old)
        ms_into_day = self.user_clock_ms % MS_PER_DAY
        starts = [seg.start_min * MS_PER_MINUTE for seg in self._settings.active_schedule.segments]
        nxt = next((s for s in starts if s > ms_into_day), MS_PER_DAY)
        self._timers["segment"] = self._clock.schedule_in(
            nxt - ms_into_day, lambda: self._guarded(self._on_segment), label="pump basal segment")

    def _on_segment(self) -> None:
        self._timers.pop("segment", None)
        self._refresh_basal()
        self._arm_segment_timer()

    # ================================================================ strokes

    def _deliver_stroke(self, what: str, origin: Origin, bolus: _Bolus | None) -> bool:
        """One stroke through gate, history and motor; False if it did not go out."""
        now = self._clock.now_ms
        if self._reservoir_mu < STROKE_MU:
            self._raise_alarm(AlarmCode.EMPTY_RESERVOIR, "reservoir empty: delivery stopped")
            return False
        decision = self._gate.check_stroke(now, origin, self._settings)
        if not decision.allowed:
            self._limit_reached(what, bolus, decision)
            return False
        bolus_id = bolus.bolus_id if bolus is not None else None
        delivered_after = (bolus.delivered_mu + STROKE_MU) / 1000 if bolus is not None else None
        self._record("stroke", {"what": what, "bolus_id": bolus_id, "amount_u": STROKE_U,
                                "bolus_delivered_u": delivered_after, "origin": origin.value})
        self._drain(BATTERY_PCT_PER_STROKE)
        ok = self._motor.push(STROKE_U, source=StrokeSource(what, origin.value, bolus_id))
        if not ok:
            self._record("stroke_failed", {"what": what, "bolus_id": bolus_id,
                                           "origin": origin.value})
            self._raise_alarm(AlarmCode.NO_DELIVERY, "motor could not deliver (occlusion)")
            return False
        self._reservoir_mu -= STROKE_MU
        self._gate.strokes.add(now, STROKE_MU, origin)
        self._last_stroke_ms = now
        if bolus is not None:
            bolus.delivered_mu += STROKE_MU
            bolus.first_stroke_ms = now if bolus.first_stroke_ms is None else bolus.first_stroke_ms
            bolus.last_stroke_ms = now
        if (not self._low_reservoir_alerted
                and self._reservoir_mu <= round(self._settings.low_reservoir_u * 1000)):
            self._low_reservoir_alerted = True
            self._raise_alarm(AlarmCode.LOW_RESERVOIR,
                              f"{self._reservoir_mu / 1000:.1f} U left in the reservoir")
        return True

    def _limit_reached(self, what: str, bolus: _Bolus | None, decision: Decision) -> None:
        detail = decision.detail
        if bolus is not None:
            self._raise_alarm(AlarmCode.LIMIT_REACHED, f"bolus stopped: {detail}")
            if self._bolus is bolus:
                self._end_bolus("limit")
        elif self._temp is not None and self._basal_source == "temp":
            self._raise_alarm(AlarmCode.LIMIT_REACHED, f"temp basal stopped: {detail}")
            self._end_temp("limit")
        elif AlarmCode.LIMIT_REACHED not in self._board:
            self._raise_alarm(AlarmCode.LIMIT_REACHED, f"basal stroke withheld: {detail}")

    # ================================================================ boluses

    def _request_bolus(self, req: BolusRequest) -> Decision:
        return self._gate.check_bolus(req, self._view(), self._settings)

    def _start_bolus(self, req: BolusRequest, kind: BolusKind,
                     wizard: dict[str, JSONValue] | None = None) -> int:
        now = self._clock.now_ms
        bid = self._next_bolus_id
        self._next_bolus_id += 1
        self._record("bolus_start", {
            "bolus_id": bid, "kind": kind.value, "source": req.origin.value,
            "requested_u": req.total_mu / 1000, "normal_u": req.normal_mu / 1000,
            "square_u": req.square_mu / 1000,
            "square_duration_min": req.square_duration_ms // MS_PER_MINUTE, "wizard": wizard,
        })
        b = _Bolus(bid, kind, req.origin, req.normal_mu, req.square_mu, req.square_duration_ms,
                   now)
        self._bolus = b
        loud = req.origin.from_air
        self._annunciate(AnnunciationReason.BOLUS_STARTED,
                         Sound.BEEP_AND_VIBRATE if loud else Sound.BEEP,
                         f"BOLUS {req.total_mu / 1000:.3f} U STARTED ({req.origin.value})",
                         origin=req.origin, bolus_id=bid, amount_u=req.total_mu / 1000)
        if req.normal_mu > 0:
            self._begin_phase(b, "normal", req.normal_mu, normal_bolus_duration_ms(req.normal_mu))
        else:
            self._begin_phase(b, "square", req.square_mu, req.square_duration_ms)
        return bid

    def _begin_phase(self, b: _Bolus, phase: str, mu: int, duration_ms: int) -> None:
        b.phase = phase
        b.phase_start_ms = self._clock.now_ms
        b.phase_strokes = mu // STROKE_MU
        b.phase_duration_ms = duration_ms
        b.phase_done = 0
        self._arm_bolus_stroke(b)

    def _arm_bolus_stroke(self, b: _Bolus) -> None:
        at = b.phase_start_ms + stroke_offset_ms(b.phase_done, b.phase_strokes,
                                                 b.phase_duration_ms)
        b.event = self._clock.schedule_at(max(at, self._clock.now_ms),
                                          lambda: self._guarded(self._on_bolus_stroke),
                                          label="pump bolus stroke")

    def _on_bolus_stroke(self) -> None:
        b = self._bolus
        if b is None:
            return
        b.event = None
        if not self._deliver_stroke("bolus", b.origin, b) or self._bolus is not b:
            return
        b.phase_done += 1
        if b.phase_done < b.phase_strokes:
            self._arm_bolus_stroke(b)
        elif b.phase == "normal" and b.square_mu > 0:
            self._begin_phase(b, "square", b.square_mu, b.square_duration_ms)
        else:
            self._end_bolus("completed")

    def _end_bolus(self, reason: str) -> None:
        b = self._bolus
        if b is None:
            return
        self._record("bolus_end", {"bolus_id": b.bolus_id, "requested_u": b.requested_mu / 1000,
                                   "delivered_u": b.delivered_mu / 1000, "reason": reason})
        if b.event is not None:
            self._clock.cancel(b.event)
        self._bolus = None
        if b.first_stroke_ms is not None and b.last_stroke_ms is not None:
            self._bolus_doses.append((b.first_stroke_ms, b.last_stroke_ms, b.delivered_mu))
            horizon = self._clock.now_ms - 8 * MS_PER_HOUR
            self._bolus_doses = [d for d in self._bolus_doses if d[1] > horizon]
        done = reason == "completed"
        self._annunciate(AnnunciationReason.BOLUS_COMPLETED if done
                         else AnnunciationReason.BOLUS_STOPPED, Sound.BEEP,
                         f"BOLUS {b.delivered_mu / 1000:.3f} of {b.requested_mu / 1000:.3f} U "
                         f"{'DELIVERED' if done else 'STOPPED: ' + reason}",
                         origin=b.origin, bolus_id=b.bolus_id, amount_u=b.delivered_mu / 1000)

    # ================================================================ temp basal

    def _start_temp(self, req: TempBasalRequest) -> None:
        now = self._clock.now_ms
        if self._temp is not None:
            self._end_temp("cancelled")
        radio = req.origin.from_air
        withholds = req.withholds(pattern_rates_mu(self._settings))
        self._record("temp_basal_start", {
            "rate_u_per_h": req.rate_mu_per_h / 1000 if req.rate_mu_per_h is not None else None,
            "percent": req.percent, "duration_min": req.duration_ms // MS_PER_MINUTE,
            "source": req.origin.value, "radio": radio, "withholds": withholds,
        })
        temp = _Temp(req.rate_mu_per_h, req.percent, now, now + req.duration_ms, req.origin,
                     withholds)
        temp.event = self._clock.schedule_at(temp.end_ms,
                                             lambda: self._guarded(self._on_temp_done),
                                             label="pump temp basal end")
        self._temp = temp
        if radio and withholds:
            self._gate.withholding.open(now)
        self._refresh_basal()

    def _on_temp_done(self) -> None:
        if self._temp is not None:
            self._temp.event = None
            self._end_temp("completed")

    def _end_temp(self, reason: str) -> None:
        temp = self._temp
        if temp is None:
            return
        self._record("temp_basal_end", {"reason": reason})
        if temp.event is not None:
            self._clock.cancel(temp.event)
        if temp.origin.from_air and temp.withholds:
            self._gate.withholding.close(self._clock.now_ms)
        self._temp = None
        self._refresh_basal()

    # ================================================================ suspend

    def _do_suspend(self, origin: Origin, reason: str, resume_at: int | None = None) -> None:
        now = self._clock.now_ms
        radio = origin.from_air
        self._record("suspend", {"source": origin.value, "reason": reason, "radio": radio,
                                 "resume_at_device_ms": resume_at})
        self._end_bolus("suspended")
        self._end_temp("suspended")
        self._suspend = _Suspend(origin, reason, radio, now, resume_at)
        if radio:
            self._gate.withholding.open(now)
            if origin is not Origin.RADIO or self.mode is ProtocolMode.SECURE:
                self._annunciate(AnnunciationReason.RADIO_SUSPEND, Sound.BEEP,
                                 f"SUSPENDED by {origin.value}", origin=origin)
        if resume_at is not None:
            self._arm_radio_resume()
        self._refresh_basal()

    def _arm_radio_resume(self) -> None:
        s = self._suspend
        assert s is not None and s.resume_at_ms is not None
        s.event = self._clock.schedule_at(max(s.resume_at_ms, self._clock.now_ms),
                                          lambda: self._guarded(self._on_radio_suspend_limit),
                                          label="pump radio suspend limit")

    def _on_radio_suspend_limit(self) -> None:
        if self._suspend is None:
            return
        self._suspend.event = None
        self._raise_alarm(AlarmCode.WITHHOLD_LIMIT,
                          f"suspended from the air for the allowed "
                          f"{self._settings.max_radio_withhold_min} min: delivery resumed")
        self._do_resume(Origin.LIMIT, "withhold_limit")

    def _do_resume(self, origin: Origin, reason: str) -> None:
        s = self._suspend
        if s is None:
            return
        self._record("resume", {"source": origin.value, "reason": reason})
        if s.event is not None:
            self._clock.cancel(s.event)
        if s.radio:
            self._gate.withholding.close(self._clock.now_ms)
        self._suspend = None
        self._refresh_basal()

    # ================================================================ alarms

    def _raise_alarm(self, code: AlarmCode, detail: str, *, level: int = 1) -> None:
        info = ALARM_INFO[code]
        severity = info.severity if level < 2 else Severity.ALARM
        self._record("alarm", {"code": code.value, "severity": severity.value,
                               "message": f"{info.text}: {detail}", "level": level})
        self._board.put(Alarm(code, self._clock.now_ms, detail, level, severity))
        self._alarm_esc = False
        sound = (Sound.SIREN if level >= 3 else
                 Sound.BEEP_AND_VIBRATE if severity is Severity.ALARM else Sound.BEEP)
        self._annunciate(AnnunciationReason.ALARM if severity is Severity.ALARM
                         else AnnunciationReason.ALERT, sound, f"{info.text}: {detail}",
                         alarm=code)
        if info.stops_delivery:
            reason = {AlarmCode.NO_DELIVERY: "occlusion",
                      AlarmCode.EMPTY_RESERVOIR: "reservoir_empty",
                      AlarmCode.BATTERY_OUT: "battery_out"}.get(code, "stopped")
            self._end_bolus(reason)
            self._refresh_basal()

    def _clear_alarm(self, code: AlarmCode, how: str) -> None:
        alarm = self._board.get(code)
        if alarm is None:
            return
        self._record("alarm_cleared", {"code": code.value, "how": how})
        self._board.remove(code)
        if alarm.info.stops_delivery:
            self._refresh_basal()

    # ---------------------------------------------------------------- timers

    def _arm_no_delivery(self) -> None:
        if not self._gate.on(Rule.NO_DELIVERY_ALARM):
            return
        old = self._timers.pop("no_delivery", None)
        if old is not None:
            self._clock.cancel(old)
        self._nd_anchor = self._last_stroke_ms
        period = self._settings.no_delivery_alarm_min * MS_PER_MINUTE
        at = max(self._clock.now_ms, self._nd_anchor + period * (self._nd_level + 1))
        self._timers["no_delivery"] = self._clock.schedule_at(
            at, lambda: self._guarded(self._on_no_delivery_check), label="pump no-delivery check")

    def _on_no_delivery_check(self) -> None:
        self._timers.pop("no_delivery", None)
        now = self._clock.now_ms
        period = self._settings.no_delivery_alarm_min * MS_PER_MINUTE
        if self._last_stroke_ms != self._nd_anchor:
            self._nd_level = 0
        elif now >= self._nd_anchor + period * (self._nd_level + 1):
            self._nd_level += 1
            minutes = (now - self._last_stroke_ms) // MS_PER_MINUTE
            self._raise_alarm(AlarmCode.NO_INSULIN, f"no insulin delivered for {minutes} min",
                              level=self._nd_level)
        self._arm_no_delivery()

    def _arm_auto_off(self) -> None:
        old = self._timers.pop("auto_off", None)
        if old is not None:
            self._clock.cancel(old)
        hours = self._settings.auto_off_h
        if hours <= 0:
            return
        self._timers["auto_off"] = self._clock.schedule_at(
            max(self._clock.now_ms, self._last_key_ms + hours * MS_PER_HOUR),
            lambda: self._guarded(self._on_auto_off), label="pump auto-off")

    def _on_auto_off(self) -> None:
        self._timers.pop("auto_off", None)
        hours = self._settings.auto_off_h
        if hours <= 0:
            return
        if self._clock.now_ms < self._last_key_ms + hours * MS_PER_HOUR:
            self._arm_auto_off()
            return
        if self._suspend is None:
            self._do_suspend(Origin.AUTO_OFF, f"no key pressed for {hours} h")
        self._raise_alarm(AlarmCode.AUTO_OFF, f"no key pressed for {hours} h: pump suspended")

    def _drain(self, pct: float) -> None:
        before = self._battery_pct
        self._battery_pct = max(0.0, before - pct)
        if before > BATTERY_LOW_PCT >= self._battery_pct:
            self._raise_alarm(AlarmCode.LOW_BATTERY, f"battery {self._battery_pct:.1f} %")
        if self._battery_pct <= 0.0 and AlarmCode.BATTERY_OUT not in self._board:
            self._raise_alarm(AlarmCode.BATTERY_OUT, "battery empty: delivery stopped")

    def _on_battery_tick(self) -> None:
        self._timers.pop("battery", None)
        self._timers["battery"] = self._clock.schedule_in(
            MS_PER_HOUR, lambda: self._guarded(self._on_battery_tick), label="pump battery")
        self._guarded(lambda: self._drain(BATTERY_IDLE_PCT_PER_H))

    # ================================================================ settings and clock

    def _apply_setting(self, name: str, value: object, source: str,
                       extra: Mapping[str, JSONValue] | None = None) -> None:
        """Change one setting (validated; SettingsError propagates) and record it first."""
        canonical = canonical_setting_name(name)
        if canonical is None:
            raise SettingsError(f"unknown setting {name!r}", field=str(name))
        new = with_setting(self._settings, canonical, value)
        self._record("setting_change", {
            "setting": canonical, "old": setting_value(self._settings, canonical),
            "new": setting_value(new, canonical), "source": source, **(extra or {}),
        })
        self._settings = new
        self._after_settings_change()

    def _after_settings_change(self) -> None:
        t = self._temp
        if t is not None and self._gate.on(Rule.MAX_BASAL):
            peak = self._gate.check_temp_basal(
                TempBasalRequest(t.rate_mu_per_h, t.percent, 30 * MS_PER_MINUTE, Origin.BUTTONS),
                dataclasses.replace(self._view(), suspended=False, stop_alarm=None),
                self._settings)
            if not peak.allowed and peak.rule is Rule.MAX_BASAL:
                self._raise_alarm(AlarmCode.LIMIT_REACHED, f"temp basal stopped: {peak.detail}")
                self._end_temp("limit")
        self._refresh_basal()
        self._arm_segment_timer()
        self._arm_auto_off()
        self._arm_no_delivery()

    def _set_pairings(self, table: tuple[tuple[str, str], ...], peer: str,
                      role: Role | None) -> None:
        new = with_pairings(self._settings, table)
        self._record("pairing", {"peer": peer, "role": role.value if role else None})
        self._settings = new

    def _set_clock(self, new_clock_ms: int, source: str) -> None:
        self._record("clock_set", {"old_clock_ms": self.user_clock_ms,
                                   "new_clock_ms": new_clock_ms, "source": source})
        self._clock_offset_ms = new_clock_ms - self._clock.now_ms
        self._refresh_basal()
        self._arm_segment_timer()

    def _accept_pending(self, accept: bool) -> str:
        """The user answered a pending proposal on the keys; returns a screen message."""
        p = self._pending
        if p is None:
            return "nothing pending"
        self._pending = None
        if not accept:
            self._record("change_rejected", {"setting": p.setting, "src": p.src,
                                             "command_seq": p.command_seq})
            return "change rejected"
        extra: dict[str, JSONValue] = {"requested_by": p.src, "confirmed_by": "keys",
                                       "command_seq": p.command_seq}
        if p.setting == "clock":
            assert isinstance(p.value, int)
            self._set_clock(p.value, f"clinician:{p.src} confirmed on keys")
            return "clock set"
        try:
            self._apply_setting(p.setting, p.value, "clinician", extra)
        except SettingsError as exc:
            return f"not applied: {exc}"
        return "setting changed"

    # ================================================================ key operations
    # Called by the menus (pumplab.devices.pump.menus) after the user pressed
    # ACT on the pump; every delivery goes through the same gate as the air.

    def _key_bolus(self, req: BolusRequest, kind: BolusKind,
                   wizard: dict[str, Any] | None = None) -> Decision:
        decision = self._request_bolus(req)
        if decision.allowed:
            self._start_bolus(req, kind, wizard)
        else:
            self._record_key_refusal("bolus", req.origin, decision,
                                     {"requested_u": req.total_mu / 1000, "kind": kind.value})
        return decision

    def _key_temp(self, req: TempBasalRequest) -> Decision:
        decision = self._gate.check_temp_basal(req, self._view(), self._settings)
        if decision.allowed:
            self._start_temp(req)
        else:
            self._record_key_refusal("temp_basal", req.origin, decision, {
                "rate_u_per_h": (req.rate_mu_per_h / 1000 if req.rate_mu_per_h is not None
                                 else None),
                "percent": req.percent, "duration_min": req.duration_ms // MS_PER_MINUTE})
        return decision

    def _record_key_refusal(self, what: str, origin: Origin, decision: Decision,
                            request: dict[str, JSONValue]) -> None:
        """A request made on the keys and refused by the gate (shown on the screen)."""
        self._record("delivery_refused", {
            "what": what, "source": origin.value, "request": request,
            "reason": decision.reason.value if decision.reason else None,
            "rule": decision.rule.value if decision.rule else None, "detail": decision.detail})

    def _key_suspend(self) -> None:
        if self._suspend is None:
            self._do_suspend(Origin.BUTTONS, "keys")

    def _key_resume(self) -> None:
        self._do_resume(Origin.BUTTONS, "keys")

    def _key_stop_bolus(self) -> None:
        self._end_bolus("cancelled")

    def _key_cancel_temp(self) -> None:
        self._end_temp("cancelled")

    def _key_setting(self, name: str, value: object) -> str | None:
        """Change a setting from the keys; returns an error text or None."""
        try:
            self._apply_setting(name, value, "keys")
        except SettingsError as exc:
            return str(exc)
        return None

    def _key_set_clock(self, clock_ms: int) -> None:
        self._set_clock(clock_ms, "keys")

    def _new_pairing_code(self) -> str:
        return f"{int(self._rng.integers(0, 1_000_000)):06d}"

    def _pair(self, address: str, role: Role) -> str | None:
        table = tuple(p for p in self._settings.pairings if p[0] != address)
        try:
            self._set_pairings((*table, (address, role.value)), address, role)
        except SettingsError as exc:
            return str(exc)
        return None

    def _unpair(self, address: str) -> None:
        table = tuple(p for p in self._settings.pairings if p[0] != address)
        self._set_pairings(table, address, None)

    # ================================================================ keys and screen

    @property
    def screen(self) -> Screen:
        """What the display shows now."""
        top = self._board.top
        if top is not None:
            info = top.info
            if info.clearable:
                hint = "ESC then ACT to clear"
            else:
                hint = ("Delivery stopped. Keep this history file as evidence, check it with "
                        "'pumplab history verify', then start the pump on a new history.")
            return Screen(ScreenKind.ALARM, info.text, lines=(top.detail, hint),
                          value=top.code.value)
        return self._stack.render()

    def press(self, key: Key | str) -> Screen:
        """Press a key on the pump; returns the screen after it."""
        k = Key(key)
        if self.phase is PumpPhase.STOPPED:
            return self.screen
        self._last_key_ms = self._clock.now_ms
        if "auto_off" not in self._timers:
            self._guarded(self._arm_auto_off)
        if self._board.top is not None:
            self._alarm_key(k)
            return self.screen
        if self.phase is not PumpPhase.RUNNING:
            return self.screen
        try:
            top = self._stack.top
            if top is None:
                menus.home_key(self, k)
            else:
                top.key(k, self._stack)
        except _Halt:
            pass
        return self.screen

    def _alarm_key(self, k: Key) -> None:
        top = self._board.top
        assert top is not None
        if k is Key.ESC:
            self._alarm_esc = True
        elif k is Key.ACT and self._alarm_esc:
            self._alarm_esc = False
            if top.info.clearable:
                self._guarded(lambda: self._clear_alarm(top.code, "keys"))
        else:
            self._alarm_esc = False

    def _home_screen(self) -> Screen:
        return menus.home_screen(self)

    # ================================================================ the air

    def _reply(self, dst: str, response: Response) -> None:
        self._link.send(self.address, dst, response)

    def _on_envelope(self, env: Envelope) -> None:
        if self.phase is PumpPhase.STOPPED:
            return
        if self.phase is not PumpPhase.RUNNING:
            self._answer_unusable(env)
            return
        try:
            self._drain(BATTERY_PCT_PER_MESSAGE)
            if self.mode is ProtocolMode.LEGACY:
                self._legacy(env)
            else:
                self._secure(env)
        except _Halt:
            pass

    def _answer_unusable(self, env: Envelope) -> None:
        """History unverified or unwritable: status only; everything else refused (unrecorded)."""
        msg = env.message
        if isinstance(msg, ReadStatusCommand):
            self._reply(env.src, self.status(env.src, in_reply_to=msg.type_name,
                                             command_id=_cid_or_none(msg)))
        elif isinstance(msg, (Command, PERIPHERAL_TYPES)):
            self._reply(env.src, Nak(type(msg).__name__, _cid_or_none(msg),
                                     reason=NakReason.HISTORY_UNVERIFIED,
                                     detail="history not verified: no delivery"))

    # ---------------------------------------------------------------- command records

    def _record_command(self, env: Envelope, *, accepted: bool, reason: NakReason | None,
                        detail: str, ack_outcome: str = "accepted", tracked: bool = False,
                        replay_of: int | None = None) -> int:
        msg = env.message
        cid = getattr(msg, "command_id", None)
        rec = self._record("command", {
            "src": env.src, "type": type(msg).__name__,
            "command_id": cid if (isinstance(cid, int) and not isinstance(cid, bool)
                                  and 0 <= cid < 2**53) else None,
            "payload": _payload(msg), "outcome": "accepted" if accepted else "rejected",
            "reason": reason.value if reason is not None else None, "detail": detail,
            "ack_outcome": ack_outcome if accepted else None, "tracked": tracked,
            "replay_of": replay_of, "authenticated": env.authenticated,
        })
        return rec.seq

    def _refuse(self, env: Envelope, reason: NakReason, detail: str, *, reply: bool = True,
                tracked: bool = False) -> None:
        seq = self._record_command(env, accepted=False, reason=reason, detail=detail,
                                   tracked=tracked)
        cid = self._response_cid(env.message)
        if tracked:
            self._remember(env, False, reason, detail, "", seq)
        if reply:
            self._reply(env.src, Nak(type(env.message).__name__, cid, reason=reason,
                                     detail=detail, history_seq=seq))

    def _accept(self, env: Envelope, outcome: str = "accepted", *, reply: bool = True,
                tracked: bool = False) -> int:
        seq = self._record_command(env, accepted=True, reason=None, detail=outcome,
                                   ack_outcome=outcome, tracked=tracked)
        if tracked:
            self._remember(env, True, None, outcome, outcome, seq)
        if reply:
            self._reply(env.src, Ack(type(env.message).__name__, self._response_cid(env.message),
                                     outcome=outcome, history_seq=seq))
        return seq

    def _response_cid(self, msg: object) -> int | None:
        # Legacy MiniMed frames carry no command id; answers carry none either.
        return _cid_or_none(msg) if self.mode is ProtocolMode.SECURE else None

    def _remember(self, env: Envelope, accepted: bool, reason: NakReason | None, detail: str,
                  ack_outcome: str, seq: int) -> None:
        cid = getattr(env.message, "command_id", None)
        assert isinstance(cid, int)
        table = self._idem.setdefault(env.src, OrderedDict())
        table[cid] = IdemEntry(type(env.message).__name__, _payload(env.message), accepted,
                               reason.value if reason else None, detail, ack_outcome or "accepted",
                               seq)
        while len(table) > IDS_PER_SENDER:
            table.popitem(last=False)
        if accepted:
            self._last_accepted[env.src] = (cid, ack_outcome or "accepted")

    # ---------------------------------------------------------------- legacy dispatch

    def _legacy(self, env: Envelope) -> None:
        msg = env.message
        now = self._clock.now_ms
        if isinstance(msg, PERIPHERAL_TYPES):
            self._legacy_peripheral(env)
            return
        if isinstance(msg, WakeupCommand):
            # The burst wakes the radio whoever sends it: x23 radios answer any
            # sender that knows the serial number (the address here).
            minutes = msg.duration_min
            lo, hi = WAKEUP_RANGE_MIN
            if isinstance(minutes, bool) or not isinstance(minutes, int) or not lo <= minutes <= hi:
                self._refuse(env, NakReason.MALFORMED, f"duration_min must be {lo}–{hi} min")
                return
            self._accept(env, f"radio awake for {minutes} min")
            self._drain(BATTERY_PCT_PER_AWAKE_MIN * minutes)
            self._radio_awake_until = max(self._radio_awake_until, now + minutes * MS_PER_MINUTE)
            return
        if now > self._radio_awake_until:
            return  # the radio is asleep: nothing was heard, nothing is recorded
        self._dispatch(env, Origin.RADIO)

    def _legacy_peripheral(self, env: Envelope) -> None:
        msg = env.message
        kind = address_kind(env.src)
        dev_id = env.src.partition(":")[2]
        s = self._settings
        if isinstance(msg, SensorReading | SensorBackfill):
            if not (s.sensor_enabled and kind == "cgm" and dev_id == s.sensor_id):
                self._refuse(env, NakReason.NOT_AUTHORIZED, "not this pump's sensor: ignored",
                             reply=False)
                return
            self._sensor_message(env)
        elif isinstance(msg, MeterReading):
            if not (kind == "meter" and dev_id in s.meter_ids):
                self._refuse(env, NakReason.NOT_AUTHORIZED, "meter id not linked: ignored",
                             reply=False)
                return
            self._meter_message(env)
        else:  # remote: one-way in legacy, no answer is ever sent
            if not s.remote_enabled:
                self._refuse(env, NakReason.REMOTE_DISABLED, "remote option is off: ignored",
                             reply=False)
                return
            if not (kind == "remote" and dev_id in s.remote_ids):
                self._refuse(env, NakReason.NOT_AUTHORIZED, "remote id not registered: ignored",
                             reply=False)
                return
            self._dispatch(env, Origin.REMOTE, reply=False)

    # ---------------------------------------------------------------- secure dispatch

    def _secure(self, env: Envelope) -> None:
        msg = env.message
        role = self._settings.role_of(env.src)
        if role is None:
            self._refuse(env, NakReason.NOT_AUTHORIZED, "sender is not paired with this pump")
            return
        mtype = type(msg)
        if mtype in SECURE_NEVER:
            self._refuse(env, NakReason.NOT_IN_MODE,
                         f"{mtype.__name__} is not accepted by a secure pump")
            return
        if mtype not in KNOWN_TYPES:
            self._refuse(env, NakReason.UNKNOWN_MESSAGE, f"unknown message {mtype.__name__}")
            return
        if not role_may_send(role, mtype):
            self._refuse(env, NakReason.NOT_AUTHORIZED,
                         f"role {role.value} may not send {mtype.__name__}")
            return
        if mtype in (SensorReading, SensorBackfill):
            self._sensor_message(env)
            return
        if mtype is MeterReading:
            self._meter_message(env)
            return
        if mtype in DOSE_COMMANDS:
            cid = getattr(msg, "command_id", None)
            if isinstance(cid, bool) or not isinstance(cid, int) or not 0 <= cid < 2**53:
                self._refuse(env, NakReason.MALFORMED,
                             "command_id is required on dose commands (an integer 0 ≤ id < 2^53)")
                return
            table = self._idem.get(env.src)
            entry = table.get(cid) if table is not None else None
            if entry is not None:
                self._replay(env, entry)
                return
        origin = Origin.REMOTE if role is Role.REMOTE else Origin.APP
        self._dispatch(env, origin, tracked=mtype in DOSE_COMMANDS)

    def _replay(self, env: Envelope, entry: IdemEntry) -> None:
        msg = env.message
        if entry.type_name != type(msg).__name__ or entry.payload != _payload(msg):
            self._refuse(env, NakReason.DUPLICATE_ID_MISMATCH,
                         f"command id already used (history record {entry.seq}) for a different "
                         "command")
            return
        self._record_command(env, accepted=entry.accepted,
                             reason=NakReason(entry.reason) if entry.reason else None,
                             detail=f"replay of record {entry.seq}: nothing done again",
                             ack_outcome=entry.ack_outcome, replay_of=entry.seq)
        cid = _cid_or_none(msg)
        if entry.accepted:
            self._reply(env.src, Ack(entry.type_name, cid, outcome=entry.ack_outcome,
                                     replayed=True, history_seq=entry.seq))
        else:
            self._reply(env.src, Nak(entry.type_name, cid,
                                     reason=NakReason(entry.reason) if entry.reason
                                     else NakReason.MALFORMED,
                                     detail=entry.detail, replayed=True, history_seq=entry.seq))

    # ---------------------------------------------------------------- peripherals

    def _sensor_message(self, env: Envelope) -> None:
        msg = env.message
        readings = (msg,) if isinstance(msg, SensorReading) else getattr(msg, "readings", None)
        if not isinstance(readings, tuple) or not all(isinstance(r, SensorReading)
                                                      for r in readings):
            self._refuse(env, NakReason.MALFORMED, "readings must be SensorReading values")
            return
        for r in readings:
            problem = _sensor_problem(r)
            if problem:
                self._refuse(env, NakReason.MALFORMED, problem)
                return
        top_seq = 0
        for r in sorted(readings, key=lambda x: x.seq):
            top_seq = max(top_seq, r.seq)
            if r.seq in self._sensor_seen:
                continue  # already recorded (a backfill repeating what arrived)
            self._record("sensor_glucose", {"seq": r.seq, "glucose_mg_dl": r.glucose_mg_dl,
                                            "flag": r.flag.value,
                                            "sampled_at_ms": r.sampled_at_ms,
                                            "backfill": isinstance(msg, SensorBackfill)})
            self._sensor_seen[r.seq] = None
            while len(self._sensor_seen) > SENSOR_SEQS_KEPT:
                self._sensor_seen.popitem(last=False)
            if self._sensor is None or r.seq >= self._sensor.seq:
                self._sensor = r
        self._reply(env.src, Ack(type(msg).__name__, top_seq, outcome="received"))

    def _meter_message(self, env: Envelope) -> None:
        msg = env.message
        assert isinstance(msg, MeterReading)
        bg = msg.bg_mg_dl
        if not (_is_number(bg) and 20 <= bg <= 600):
            self._refuse(env, NakReason.MALFORMED, f"bg_mg_dl {bg!r} is outside 20–600 mg/dL")
            return
        self._record("meter_bg", {"bg_mg_dl": float(bg), "meter": env.src})
        self._meter_bg = (float(bg), self._clock.now_ms)
        self._reply(env.src, Ack(type(msg).__name__, None, outcome="received"))

    def recent_meter_bg(self) -> float | None:
        """The linked meter's BG if it arrived within the last 12 minutes."""
        if self._meter_bg is None:
            return None
        bg, at = self._meter_bg
        return bg if self._clock.now_ms - at <= METER_BG_VALID_MS else None

    @property
    def last_sensor_reading(self) -> SensorReading | None:
        return self._sensor

    # ---------------------------------------------------------------- commands

    def _dispatch(self, env: Envelope, origin: Origin, *, reply: bool = True,
                  tracked: bool = False) -> None:
        msg = env.message
        try:
            if isinstance(msg, BolusCommand | RemoteBolusCommand):
                amount = _amount_mu(msg.amount_u, "amount_u")
                req = BolusRequest(amount, 0, 0, origin)
                self._gate_then(env, self._request_bolus(req),
                                lambda: self._start_bolus(req, BolusKind.NORMAL), "bolus_started",
                                reply=reply, tracked=tracked)
            elif isinstance(msg, TempBasalCommand):
                req_t = _temp_request(msg, origin)
                self._gate_then(env, self._gate.check_temp_basal(req_t, self._view(),
                                                                 self._settings),
                                lambda: self._start_temp(req_t), "temp_basal_started",
                                reply=reply, tracked=tracked)
            elif isinstance(msg, CancelTempBasalCommand):
                if self._temp is None:
                    self._refuse(env, NakReason.NO_TEMP_BASAL, "no temp basal is running",
                                 reply=reply, tracked=tracked)
                else:
                    seq = self._accept(env, "temp_basal_cancelled", reply=False, tracked=tracked)
                    self._end_temp("cancelled")
                    self._send_ack(env, "temp_basal_cancelled", reply, seq)
            elif isinstance(msg, SuspendCommand | RemoteSuspendCommand):
                decision, resume_at = self._gate.check_radio_suspend(self._view(), self._settings)
                self._gate_then(env, decision,
                                lambda: self._do_suspend(origin, "radio command", resume_at),
                                "suspended", reply=reply, tracked=tracked)
            elif isinstance(msg, ResumeCommand):
                if self._suspend is None:
                    self._refuse(env, NakReason.NOT_SUSPENDED, "the pump is not suspended",
                                 reply=reply, tracked=tracked)
                else:
                    seq = self._accept(env, "resumed", reply=False, tracked=tracked)
                    self._do_resume(origin, "radio command")
                    self._send_ack(env, "resumed", reply, seq)
            elif isinstance(msg, CancelBolusCommand):
                if self._bolus is None:
                    self._refuse(env, NakReason.NO_BOLUS_IN_PROGRESS, "no bolus is running",
                                 reply=reply, tracked=tracked)
                else:
                    seq = self._accept(env, "bolus_cancelled", reply=False, tracked=tracked)
                    self._end_bolus("cancelled")
                    self._send_ack(env, "bolus_cancelled", reply, seq)
            elif isinstance(msg, ButtonPressCommand):
                button = msg.button
                if not isinstance(button, str) or button not in Key._value2member_map_:
                    raise _Malformed(f"button {button!r} is not one of ACT, ESC, UP, DOWN, B")
                seq = self._accept(env, f"pressed {button}", reply=False)
                self.press(Key(button))
                self._send_ack(env, f"pressed {button}", reply, seq)
            elif isinstance(msg, ReadStatusCommand):
                seq = self._accept(env, "status", reply=False)
                self._reply(env.src, self.status(env.src, in_reply_to=msg.type_name,
                                                 command_id=self._response_cid(msg)))
            elif isinstance(msg, ReadSettingsCommand):
                seq = self._accept(env, "settings", reply=False)
                snap = settings_to_json(self._settings)
                self._reply(env.src, SettingsReport(msg.type_name, self._response_cid(msg),
                                                    settings=tuple(snap.items())))
            elif isinstance(msg, ReadHistoryCommand):
                self._read_history(env, msg)
            elif isinstance(msg, ChangeSettingCommand):
                self._change_setting(env, msg, origin)
            elif isinstance(msg, SetClockCommand):
                self._set_clock_command(env, msg)
            else:
                self._refuse(env, NakReason.UNKNOWN_MESSAGE,
                             f"unknown message {type(msg).__name__}", reply=reply,
                             tracked=tracked)
        except _Malformed as exc:
            self._refuse(env, NakReason.MALFORMED, str(exc), reply=reply, tracked=tracked)

    def _send_ack(self, env: Envelope, outcome: str, reply: bool, seq: int) -> None:
        if reply:
            self._reply(env.src, Ack(type(env.message).__name__,
                                     self._response_cid(env.message), outcome=outcome,
                                     history_seq=seq))

    def _gate_then(self, env: Envelope, decision: Decision, act: Callable[[], object],
                   outcome: str, *, reply: bool, tracked: bool) -> None:
        if not decision.allowed:
            assert decision.reason is not None
            self._refuse(env, decision.reason, decision.detail, reply=reply, tracked=tracked)
            return
        seq = self._accept(env, outcome, reply=False, tracked=tracked)
        act()
        if reply:
            self._reply(env.src, Ack(type(env.message).__name__, self._response_cid(env.message),
                                     outcome=outcome, history_seq=seq))

    def _read_history(self, env: Envelope, msg: ReadHistoryCommand) -> None:
        since, limit = msg.since_seq, msg.limit
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise _Malformed("since_seq must be an integer ≥ 0")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise _Malformed("limit must be an integer within 1–1000")
        self._accept(env, "history", reply=False)
        records = self._history.records(since, limit + 1)
        page = tuple(r.as_json() for r in records[:limit])
        self._reply(env.src, HistoryPage(msg.type_name, self._response_cid(msg), records=page,
                                         more=len(records) > limit))

    def _change_setting(self, env: Envelope, msg: ChangeSettingCommand, origin: Origin) -> None:
        name = canonical_setting_name(msg.setting)
        if name is None:
            self._refuse(env, NakReason.UNKNOWN_SETTING, f"unknown setting {msg.setting!r}")
            return
        try:
            with_setting(self._settings, name, msg.value)  # validate before anything
        except SettingsError as exc:
            self._refuse(env, NakReason.MALFORMED, str(exc))
            return
        if self.mode is ProtocolMode.LEGACY:
            # The x23 applies settings sent by radio at once (decocare SetMaxBolus...).
            seq = self._accept(env, "setting_changed", reply=False)
            self._apply_setting(name, msg.value, "radio", {"command_seq": seq})
            self._send_ack(env, "setting_changed", True, seq)
            return
        self._propose(env, name, _json(msg.value))

    def _set_clock_command(self, env: Envelope, msg: SetClockCommand) -> None:
        value = msg.clock_ms
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
            raise _Malformed("clock_ms must be an integer within 0..2^53")
        if self.mode is ProtocolMode.LEGACY:
            seq = self._accept(env, "clock_set", reply=False)
            self._set_clock(value, "radio")
            self._send_ack(env, "clock_set", True, seq)
            return
        self._propose(env, "clock", value)

    def _propose(self, env: Envelope, setting: str, value: JSONValue) -> None:
        if self._pending is not None:
            self._refuse(env, NakReason.CONFIRMATION_PENDING,
                         "another change is waiting for confirmation on the pump")
            return
        seq = self._accept(env, "pending_confirmation", reply=False)
        self._pending = _Pending(setting, value, env.src, seq)
        self._annunciate(AnnunciationReason.CONFIRMATION_NEEDED, Sound.BEEP,
                         f"CONFIRM CHANGE OF {setting} ON THE PUMP")
        self._send_ack(env, "pending_confirmation", True, seq)

    @property
    def pending_change(self) -> tuple[str, JSONValue, str] | None:
        """(setting, value, requested by) of a proposal awaiting ACT, if any."""
        p = self._pending
        return (p.setting, p.value, p.src) if p is not None else None


# ====================================================================== helpers

PERIPHERAL_TYPES = (SensorReading, SensorBackfill, MeterReading, RemoteBolusCommand,
                    RemoteSuspendCommand)

KNOWN_TYPES: frozenset[type[Message]] = frozenset({
    WakeupCommand, BolusCommand, TempBasalCommand, CancelTempBasalCommand, SuspendCommand,
    ResumeCommand, CancelBolusCommand, ButtonPressCommand, ReadStatusCommand,
    ReadSettingsCommand, ReadHistoryCommand, ChangeSettingCommand, SetClockCommand,
    RemoteBolusCommand, RemoteSuspendCommand, SensorReading, SensorBackfill, MeterReading,
})


def _cid_or_none(msg: object) -> int | None:
    cid = getattr(msg, "command_id", None)
    if isinstance(cid, bool) or not isinstance(cid, int):
        return None
    return cid


def _amount_mu(value: object, name: str) -> int:
    if not _is_number(value):
        raise _Malformed(f"{name} {value!r} is not a finite number")
    assert isinstance(value, int | float)
    if value <= 0:
        raise _Malformed(f"{name} {value!r} U must be more than 0")
    if value > 1000 or not is_on_grid(float(value), X23_BOLUS_INCREMENT):
        raise _Malformed(f"{name} {value!r} U is not a whole number of 0.025-U strokes")
    return round(value * 1000)


def _temp_request(msg: TempBasalCommand, origin: Origin) -> TempBasalRequest:
    rate, percent, duration = msg.rate_u_per_h, msg.percent, msg.duration_min
    if (rate is None) == (percent is None):
        raise _Malformed("give exactly one of rate_u_per_h and percent")
    rate_mu: int | None = None
    if rate is not None:
        if not _is_number(rate) or rate < 0:
            raise _Malformed(f"rate_u_per_h {rate!r} is not a finite rate ≥ 0")
        if rate > 1000 or not is_on_grid(float(rate), X23_BASAL_INCREMENT):
            raise _Malformed(f"rate_u_per_h {rate!r} is not on the x23 basal grid (0.025 U/h "
                             "below 1 U/h, 0.05 to 9.95, 0.1 from 10)")
        rate_mu = round(rate * 1000)
    if percent is not None and (isinstance(percent, bool) or not isinstance(percent, int)
                                or not 0 <= percent <= 200):
        raise _Malformed(f"percent {percent!r} is not a whole percent within 0–200")
    if (isinstance(duration, bool) or not isinstance(duration, int) or not 30 <= duration <= 1440
            or duration % 30):
        raise _Malformed(f"duration_min {duration!r} is not 30–1440 min in 30-min steps")
    return TempBasalRequest(rate_mu, percent, duration * MS_PER_MINUTE, origin)


def _sensor_problem(r: SensorReading) -> str:
    if isinstance(r.seq, bool) or not isinstance(r.seq, int) or r.seq < 0:
        return f"seq {r.seq!r} is not an integer ≥ 0"
    flag: object = r.flag  # off the air: may be anything
    if not isinstance(flag, SensorFlag):
        return f"flag {flag!r} is not a SensorFlag"
    g = r.glucose_mg_dl
    if g is not None and not (_is_number(g) and 0 < g < 1000):
        return f"glucose_mg_dl {g!r} is not a glucose value"
    if isinstance(r.sampled_at_ms, bool) or not isinstance(r.sampled_at_ms, int):
        return f"sampled_at_ms {r.sampled_at_ms!r} is not an integer"
    return ""


def wizard_data(carbs_g: float, bg_mg_dl: float | None, pump: Pump) -> dict[str, Any]:
    """Run the therapy wizard for the pump now; returns the recommendation and its inputs."""
    rec = bolus_wizard(carbs_g=carbs_g, bg_mg_dl=bg_mg_dl,
                       active_insulin_u=max(0.0, pump.active_insulin_u()),
                       minute_of_day=pump._minute_of_day(), settings=pump.settings.wizard)
    return {"carbs_g": carbs_g, "bg_mg_dl": bg_mg_dl, "food_u": round(rec.food_u, 4),
            "correction_u": round(rec.correction_u, 4), "iob_u": round(rec.iob_u, 4),
            "recommended_u": rec.total_u, "notes": [n.name for n in rec.notes]}


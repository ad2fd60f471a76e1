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
history *before* it takes effect; if an append fails (for any reason) the pump
stops delivery and alarms.  Nothing that arrives on the link can crash it: a
message that fails validation is answered ``Nak`` and recorded (its payload
made recordable by :mod:`~pumplab.devices.pump.sanitize`), and an unforeseen
error while handling one is answered ``Nak(MALFORMED)`` if nothing had been
written yet, or halts the pump (delivery stopped, alarm) if it had.

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
    Unexecuted,
    replay,
)
from pumplab.devices.pump.refusal_limiter import RefusalLimiter
from pumplab.devices.pump.safety import (
    BolusRequest,
    Decision,
    GateView,
    Rule,
    SafetyGate,
    TempBasalRequest,
    scheduled_mu_between,
    scheduled_rates_mu_between,
)
from pumplab.devices.pump.sanitize import (
    SAFE_INT,
    is_finite_number,
    record_value,
    safe_text,
    show,
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

__all__ = [
    "DEFAULT_USER_CLOCK_MS",
    "MODEL_NAME",
    "USER_CLOCK_MAX_MS",
    "USER_CLOCK_MIN_MS",
    "BootReport",
    "Pump",
    "PumpPhase",
]

MODEL_NAME = "Paradigm x23 (pumplab emulation)"
MS_PER_DAY = 24 * MS_PER_HOUR
#: A linked meter's BG is offered to the wizard for this long (x23: assumed 12 min).
METER_BG_VALID_MS = 12 * MS_PER_MINUTE
#: Legacy listening window after a wake-up: 1–60 min accepted; decocare sends 10.
WAKEUP_RANGE_MIN = (1, 60)
#: The user clock (ms since the Unix epoch) must lie in [2000-01-01, 2100-01-01) UTC:
#: a clock far outside would overflow the history's integers as device time runs on
#: (docs/pump.md, "Clock").  Checked for the keys, the air and the constructor.
USER_CLOCK_MIN_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
USER_CLOCK_MAX_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
#: A first boot without ``clock_ms`` sets the user clock to this plus device time
#: (2024-01-01T00:00:00Z: a midnight, so the minute of day equals device time's).
DEFAULT_USER_CLOCK_MS = 1_704_067_200_000
#: The low-delivery check runs this often (and exactly when a no-stroke period ends).
LOW_DELIVERY_CHECK_MS = 5 * MS_PER_MINUTE
#: Delivery over the alarm period below 1/LOW_DELIVERY_DIVISOR of the scheduled basal
#: is "low" (the same 25 % that makes a radio temp basal count as withholding).
LOW_DELIVERY_DIVISOR = 4

# Battery drain model (pumplab's assumption, docs/pump.md "Battery"): one AAA
# alkaline cell lasting about three and a half weeks in ordinary use.  Idle includes
# the radio's duty-cycled listening; a message the pump handles (wakes for, checks,
# records, answers) costs BATTERY_PCT_PER_MESSAGE; a refusal the RefusalLimiter drops
# unanswered, or a command a sleeping legacy radio does not hear, costs nothing beyond
# idle; each refusal_summary record costs one message.  The radio issue replaces the
# per-message cost with an airtime model.
BATTERY_IDLE_PCT_PER_H = 0.15
BATTERY_PCT_PER_STROKE = 0.0004
BATTERY_PCT_PER_MESSAGE = 0.001
BATTERY_PCT_PER_AWAKE_MIN = 0.005
BATTERY_LOW_PCT = 10.0


class PumpPhase(enum.Enum):
    """Lifecycle: created → booting → running (or unverified; running → halted) → stopped."""

    CREATED = "created"
    BOOTING = "booting"  # start() is rebuilding state: records may be written, no delivery
    RUNNING = "running"
    UNVERIFIED = "unverified"  # history unusable (verification, replay, boot): no delivery
    HALTED = "halted"  # an append failed while running: no delivery
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class BootReport:
    """What :meth:`Pump.start` found and did.

    ``verified`` is False when the history could not be used (it failed
    verification, or it could not be replayed into a state); ``reason`` says why.
    """

    verified: bool
    records_before: int
    recovered: bool
    interrupted_bolus_id: int | None = None
    undelivered_u: float = 0.0
    temp_basal_cancelled: bool = False
    reason: str = ""


class _Malformed(Exception):
    """A command field failed validation (becomes a Nak with ``reason``, MALFORMED unless
    said otherwise)."""

    def __init__(self, detail: str, reason: NakReason = NakReason.MALFORMED) -> None:
        super().__init__(detail)
        self.reason = reason


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


def _payload(message: object) -> JSONValue:
    """The fields of a message as recorded (``command_id`` kept separately), made
    recordable whatever they hold (:func:`~pumplab.devices.pump.sanitize.record_value`)."""
    value = record_value(message)
    if isinstance(value, dict):
        value.pop("command_id", None)
        return value
    return {"repr": value}


def _type_name(message: object) -> str:
    return safe_text(type(message).__name__, 64)


def _is_number(v: object) -> bool:
    return is_finite_number(v)


def _check_user_clock(value: object, name: str = "clock_ms") -> str:
    """'' if ``value`` is a user clock the pump accepts, else why not."""
    if (isinstance(value, bool) or not isinstance(value, int)
            or not USER_CLOCK_MIN_MS <= value < USER_CLOCK_MAX_MS):
        return (f"{name} {show(value)} is not a time within 2000-01-01 and 2100-01-01 UTC "
                f"({USER_CLOCK_MIN_MS}..{USER_CLOCK_MAX_MS - 1} ms since the Unix epoch)")
    return ""


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
        if clock_ms is not None and _check_user_clock(clock_ms):
            raise SettingsError(f"{show(clock_ms)} is not a user clock the pump accepts",
                                field="clock_ms",
                                allowed=f"{USER_CLOCK_MIN_MS}..{USER_CLOCK_MAX_MS - 1} ms since "
                                "the Unix epoch (2000-01-01 to 2100-01-01 UTC)")
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
        self._high_water: dict[str, int] = {}  # highest tracked command id per sender
        self._last_accepted: dict[str, tuple[int, str]] = {}
        self._meter_bg: tuple[float, int] | None = None
        self._sensor: SensorReading | None = None
        self._sensor_seen: OrderedDict[int, None] = OrderedDict()
        self._radio_awake_until = -1
        self._last_key_ms = 0
        self._last_stroke_ms = 0
        self._nd_level = 0  # low-delivery alarm level (0: not raised)
        self._nd_level_at = 0  # device time the current level was raised
        self._observed_since = 0  # start of the pump's delivery record (first log record)
        self._state_rebuilt = False  # True once start() rebuilt state from the log
        # Basal engine: current effective rate (mU/h), its source, credit (mU·ms/h).
        self._basal_rate_mu = 0
        self._basal_source = "suspended"
        self._basal_pattern = ""
        self._basal_credit = 0
        self._basal_last_ms = 0
        self._timers: dict[str, EventHandle] = {}
        # Refusals of senders the pump does not serve: bounded answers, one summary
        # record per class and minute, one FLOOD alert per episode (not persisted).
        self._refusals = RefusalLimiter()
        self._refusals_due_ms: int | None = None
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
        """Verify the history, rebuild state from it, write ``boot``, start delivering.

        Only a pump whose state was rebuilt attaches to the link as a working
        pump.  A history that fails verification, or whose records cannot be
        replayed into a state (a field the pump cannot have written, a log of
        another pump or mode, a settings snapshot that does not validate, a user
        clock out of range), leaves the pump ``UNVERIFIED``: it delivers nothing,
        writes nothing more, shows the HISTORY_UNVERIFIED alarm with the recovery
        text and answers on the link only as docs/pump.md "Restart" says.
        """
        if self.phase is not PumpPhase.CREATED:
            raise RuntimeError("a pump starts once; build a new Pump object to restart")
        now = self._clock.now_ms
        try:
            head = self._history.head
            report = self._history.verify()
        except Exception as exc:  # an unreadable store is an unusable history
            return self._unusable(f"the history cannot be read: {safe_text(str(exc), 200)}", 0)
        if head is not None and now < head.device_time_ms:
            raise ValueError(f"device time {now} ms is before the history's last record "
                             f"({head.device_time_ms} ms): the clock must never go back")
        if not report.ok:
            return self._unusable(report.summary(), report.records)
        self.phase = PumpPhase.BOOTING
        try:
            boot = self._boot(head is not None)
        except _Halt:
            # An append failed while booting: _halt stopped everything and alarmed.
            self._disarm()
            self._link.attach(self.address, self._on_envelope)
            self.boot_report = BootReport(True, report.records, head is not None,
                                          reason="history append failed at boot")
            return self.boot_report
        except Exception as exc:  # replay or boot found a state it cannot rebuild
            return self._unusable(f"the history cannot be replayed: {safe_text(str(exc), 300)}",
                                  report.records, recovered=head is not None)
        self._state_rebuilt = True
        self.phase = PumpPhase.RUNNING
        self._link.attach(self.address, self._on_envelope)
        self.boot_report = boot
        return boot

    def _unusable(self, reason: str, records: int, *, recovered: bool = True) -> BootReport:
        """Start without delivering: UNVERIFIED, its alarm, attached only to answer refusals."""
        self._disarm()
        self._settings = self._initial_settings  # the log's settings are not trusted
        self._suspend = None
        self.phase = PumpPhase.UNVERIFIED
        now = self._clock.now_ms
        self._board = AlarmBoard()
        self._board.put(Alarm(AlarmCode.HISTORY_UNVERIFIED, now, reason,
                              severity=Severity.ALARM))
        self._annunciate(AnnunciationReason.ALARM, Sound.SIREN,
                         ALARM_INFO[AlarmCode.HISTORY_UNVERIFIED].text,
                         alarm=AlarmCode.HISTORY_UNVERIFIED)
        self._link.attach(self.address, self._on_envelope)
        self.boot_report = BootReport(False, records, recovered, reason=reason)
        return self.boot_report

    def _disarm(self) -> None:
        """Cancel every timer and forget every delivery in progress (no record written)."""
        for handle in self._timers.values():
            self._clock.cancel(handle)
        self._timers.clear()
        for ev in (self._bolus.event if self._bolus else None,
                   self._temp.event if self._temp else None,
                   self._suspend.event if self._suspend else None):
            if ev is not None:
                self._clock.cancel(ev)
        self._bolus = None
        self._temp = None
        self._basal_rate_mu = 0

    def stop(self) -> None:
        """Power off: detach from the link and cancel every timer (no record written)."""
        self._disarm()
        self._link.detach(self.address)
        self.phase = PumpPhase.STOPPED

    def _boot(self, has_log: bool) -> BootReport:
        now = self._clock.now_ms
        rep = replay(self._history.records(), now_ms=now) if has_log else Replayed()
        if has_log:
            if rep.boot_serial is not None and (rep.boot_serial != self.serial
                                                or rep.boot_mode != self.mode.value):
                raise HistoryError(
                    f"the history belongs to pump {show(rep.boot_serial)} in "
                    f"{show(rep.boot_mode)} mode; this is pump {self.serial!r} in "
                    f"{self.mode.value!r} mode: start this pump on its own history")
            if rep.settings is not None:
                try:
                    self._settings = settings_from_json(rep.settings)
                except SettingsError as exc:  # a log written by this code cannot hold these
                    raise HistoryError(f"settings in the history do not validate: {exc}"
                                       ) from exc
            self._clock_offset_ms = rep.clock_offset_ms
        else:
            self._clock_offset_ms = (self._initial_clock_ms if self._initial_clock_ms is not None
                                     else DEFAULT_USER_CLOCK_MS + now) - now
        # The clock is only ever set within 2000–2100 and runs on with device time from
        # there, so it can be past 2100 by at most the device time the log spans.  A log
        # that says otherwise was not written by this pump (and appending would overflow).
        first = rep.first_device_time_ms if rep.first_device_time_ms is not None else now
        latest = USER_CLOCK_MAX_MS + (now - first)
        if not USER_CLOCK_MIN_MS <= self.user_clock_ms <= latest:
            raise HistoryError(f"the user clock {self.user_clock_ms} ms is outside "
                               f"{USER_CLOCK_MIN_MS}..{latest} ms (set within 2000–2100 UTC "
                               "and run on since): this pump cannot have set it")
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
            self._gate.strokes.add(t, mu, Origin(origin))
        for action, t in rep.withhold:
            (self._gate.withholding.open if action == "open" else self._gate.withholding.close)(t)
        self._bolus_doses = list(rep.bolus_doses)
        # The low-delivery window runs from the log's first record and the last stroke
        # ever recorded: a restart must not reset it.
        self._observed_since = (rep.first_device_time_ms if rep.first_device_time_ms is not None
                                else now)
        self._last_stroke_ms = (rep.last_stroke_ms if rep.last_stroke_ms is not None
                                else self._observed_since)
        self._idem = rep.idem
        self._last_accepted = rep.last_accepted
        self._high_water = rep.high_water
        self._next_bolus_id = rep.next_bolus_id
        self._meter_bg = rep.meter_bg
        self._sensor_seen = OrderedDict.fromkeys(rep.sensor_seqs)
        for state in rep.alarms.values():
            self._board.put(Alarm(state.code, state.raised_at_ms, state.message, state.level,
                                  state.severity))
        nd = rep.alarms.get(AlarmCode.NO_INSULIN)
        if nd is not None:
            # Escalation carries on from the recorded level: nothing is recorded again.
            self._nd_level, self._nd_level_at = nd.level, nd.raised_at_ms
        for lost in rep.unexecuted:
            if not lost.reported:
                self._report_unexecuted(lost)
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
        if rep.suspend is not None:
            s = rep.suspend
            self._suspend = _Suspend(Origin(s.origin) if s.origin in Origin._value2member_map_
                                     else Origin.BUTTONS, s.reason, s.radio, s.since_ms,
                                     s.resume_at_ms)
            if self._suspend.resume_at_ms is not None:
                self._arm_radio_resume()
        temp_cancelled = False
        if rep.open_temp is not None:
            # Decision (docs/pump.md, "Restart"): a temp basal running at a
            # restart is cancelled, not resumed; scheduled basal takes over.
            temp_cancelled = True
            self._record("temp_basal_end", {"reason": "interrupted"})
            self._raise_alarm(AlarmCode.TEMP_BASAL_CANCELLED,
                              "temp basal running at restart was cancelled")
        # The ledger replayed from the log ends as the log does; a temp cancelled just
        # now closes it unless a radio suspend still withholds.
        self._sync_withholding()
        self._last_key_ms = now
        self._basal_last_ms = now
        self._refresh_basal()
        self._arm_segment_timer()
        self._arm_no_delivery()
        self._arm_auto_off()
        self._timers["battery"] = self._clock.schedule_in(
            MS_PER_HOUR, lambda: self._guarded(self._on_battery_tick), label="pump battery")
        return BootReport(True, rep.records, has_log, interrupted, undelivered_u, temp_cancelled)

    def _report_unexecuted(self, lost: Unexecuted) -> None:
        """A dose command accepted before the pump stopped, whose effect never started."""
        amount = (lost.payload.get("amount_u") if isinstance(lost.payload, dict)
                  and lost.type_name in ("BolusCommand", "RemoteBolusCommand") else None)
        requested_u = float(amount) if is_finite_number(amount) else None  # type: ignore[arg-type]
        self._record("recovery", {
            "interrupted_bolus_id": None, "not_executed_command_seq": lost.seq,
            "src": lost.src, "type": lost.type_name, "command_id": lost.command_id,
            "requested_u": requested_u, "delivered_u": 0.0 if requested_u is not None else None,
            "undelivered_u": requested_u,
        })
        cid = f" (id {lost.command_id})" if lost.command_id is not None else ""
        self._raise_alarm(AlarmCode.COMMAND_NOT_EXECUTED,
                          f"{lost.type_name} from {lost.src}{cid} was accepted but the pump "
                          "stopped before it took effect: NOT carried out")

    # ================================================================ history

    def _record(self, kind: str, data: Mapping[str, JSONValue]) -> HistoryRecord:
        if self.phase is not PumpPhase.RUNNING and self.phase is not PumpPhase.BOOTING:
            raise _Halt()
        try:
            return self._history.append(kind, data, device_time_ms=self._clock.now_ms,
                                        clock_ms=self.user_clock_ms)
        except Exception as exc:
            # Whatever the reason (a full disk, a closed store, a value the history
            # refuses), an event that cannot be recorded must not take effect, and
            # nothing later can be recorded either: stop delivering, loudly.
            self._halt(f"{kind} record not written: {safe_text(str(exc), 200)}")
            raise _Halt() from exc

    def _halt(self, why: str, code: AlarmCode = AlarmCode.HISTORY_FAILURE) -> None:
        """Stop all delivery without writing (nothing can be, or may be, written)."""
        self.phase = PumpPhase.HALTED
        now = self._clock.now_ms
        for ev in (self._bolus.event if self._bolus else None,
                   self._temp.event if self._temp else None,
                   self._timers.pop("basal", None)):
            if ev is not None:
                self._clock.cancel(ev)
        self._bolus = None
        self._basal_rate_mu = 0
        self._board.put(Alarm(code, now, why, severity=Severity.ALARM))
        self._annunciate(AnnunciationReason.ALARM, Sound.SIREN, ALARM_INFO[code].text,
                         alarm=code)

    def _fault(self, where: str, exc: Exception) -> None:
        """An unforeseen error inside the pump: its state may be half-changed, so stop."""
        if self.phase is PumpPhase.RUNNING or self.phase is PumpPhase.BOOTING:
            self._halt(f"unexpected {type(exc).__name__} in {where}: {safe_text(str(exc), 160)}",
                       AlarmCode.INTERNAL_ERROR)

    def _guarded(self, action: Callable[[], None], where: str = "a timer") -> None:
        """Run a timer or input handler; a failed append has already halted the pump,
        and anything unforeseen halts it here (it never escapes into the clock loop)."""
        if self.phase is not PumpPhase.RUNNING:
            return
        try:
            action()
        except _Halt:
            pass
        except Exception as exc:
            self._fault(where, exc)

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
        """A snapshot; ``last_command_*`` are those of ``sender`` (secure mode).

        A pump that is not running delivers nothing and says so (``suspended``);
        one that could not rebuild its state from its history reports
        ``state_known=False`` and NaN for what it cannot vouch for.
        """
        now = self._clock.now_ms
        try:
            head = self._history.head
        except Exception:  # an unreadable store: the status still answers
            head = None
        seq = head.seq if head is not None else 0
        alarms = tuple(a.code.value for a in self._board.active)
        if not self._state_rebuilt:
            nan = math.nan
            return StatusReport(
                in_reply_to=in_reply_to, command_id=command_id, device_time_ms=now,
                clock_ms=self.user_clock_ms, suspended=True, bolus_in_progress=False,
                bolus_requested_u=nan, bolus_delivered_u=nan, scheduled_basal_u_per_h=nan,
                reservoir_u=nan, battery_pct=round(self._battery_pct, 2), iob_u=nan,
                active_alarms=alarms, history_seq=seq, state_known=False)
        running = self.phase is PumpPhase.RUNNING
        b = self._bolus if running else None
        temp_rate: float | None = None
        remaining = 0
        if running and self._temp is not None and self._suspend is None:
            temp_rate = self._temp_rate_mu(self._temp) / 1000
            remaining = max(0, math.ceil((self._temp.end_ms - now) / MS_PER_MINUTE))
        last = self._last_accepted.get(sender) if sender is not None else None
        return StatusReport(
            in_reply_to=in_reply_to, command_id=command_id, device_time_ms=now,
            clock_ms=self.user_clock_ms, suspended=self._suspend is not None or not running,
            bolus_in_progress=b is not None,
            bolus_requested_u=b.requested_mu / 1000 if b else 0.0,
            bolus_delivered_u=b.delivered_mu / 1000 if b else 0.0,
            scheduled_basal_u_per_h=self._scheduled_rate_mu() / 1000,
            temp_basal_u_per_h=temp_rate, temp_basal_remaining_min=remaining,
            reservoir_u=self._reservoir_mu / 1000, battery_pct=round(self._battery_pct, 2),
            iob_u=round(self.active_insulin_u(), 3),
            active_alarms=alarms,
            last_command_id=last[0] if last else None,
            last_command_outcome=last[1] if last else None,
            history_seq=seq,
            command_id_high_water=self._high_water.get(sender) if sender is not None else None,
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
        s = self._suspend
        return GateView(self._clock.now_ms, s is not None, self._bolus is not None,
                        stop.code.value if stop else None, self._reservoir_mu,
                        self._scheduled_rate_mu(), self._minute_of_day(),
                        suspended_by_person=s is not None and not s.radio)

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
        # The stroke's battery cost first: a cell that dies now raises BATTERY_OUT,
        # which ends the bolus and stops basal, and then no stroke may go out.
        self._drain(BATTERY_PCT_PER_STROKE)
        if self._board.stopping() is not None or (bolus is not None and self._bolus is not bolus):
            return False
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
                     wizard: dict[str, JSONValue] | None = None,
                     command_seq: int | None = None) -> int:
        now = self._clock.now_ms
        bid = self._next_bolus_id
        self._record("bolus_start", {
            "bolus_id": bid, "kind": kind.value, "source": req.origin.value,
            "requested_u": req.total_mu / 1000, "normal_u": req.normal_mu / 1000,
            "square_u": req.square_mu / 1000,
            "square_duration_min": req.square_duration_ms // MS_PER_MINUTE, "wizard": wizard,
            **_cause(command_seq),
        })
        self._next_bolus_id += 1
        b = _Bolus(bid, kind, req.origin, req.normal_mu, req.square_mu, req.square_duration_ms,
                   now)
        self._bolus = b
        # Legacy-faithful: the x23 announces every bolus the same way, whoever started
        # it (docs/pump.md, "Annunciations"); secure mode also vibrates for one from
        # the air so the person notices a bolus they did not start.
        loud = req.origin.from_air and self.mode is ProtocolMode.SECURE
        self._annunciate(AnnunciationReason.BOLUS_STARTED,
                         Sound.BEEP_AND_VIBRATE if loud else Sound.BEEP,
                         f"BOLUS {req.total_mu / 1000:.3f} U STARTED ({req.origin.value})",
                         origin=req.origin, bolus_id=bid, amount_u=req.total_mu / 1000)
        self._begin_phase(b, "normal", req.normal_mu, normal_bolus_duration_ms(req.normal_mu))
        return bid

    def _begin_phase(self, b: _Bolus, phase: str, mu: int, duration_ms: int) -> None:
        b.phase = phase
        b.phase_start_ms = self._clock.now_ms
        b.phase_strokes = mu // STROKE_MU
        b.phase_duration_ms = duration_ms
        b.phase_done = 0
        if b.phase_strokes <= 0:
            # A phase with no whole stroke (the normal part of a square wave) has
            # nothing to time: go on without dividing by its zero strokes.
            self._next_phase(b)
            return
        self._arm_bolus_stroke(b)

    def _next_phase(self, b: _Bolus) -> None:
        if b.phase == "normal" and b.square_mu >= STROKE_MU:
            self._begin_phase(b, "square", b.square_mu, b.square_duration_ms)
        else:
            self._end_bolus("completed")

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
        else:
            self._next_phase(b)

    def _end_bolus(self, reason: str, command_seq: int | None = None) -> None:
        b = self._bolus
        if b is None:
            return
        self._record("bolus_end", {"bolus_id": b.bolus_id, "requested_u": b.requested_mu / 1000,
                                   "delivered_u": b.delivered_mu / 1000, "reason": reason,
                                   **_cause(command_seq)})
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

    def _start_temp(self, req: TempBasalRequest, command_seq: int | None = None) -> None:
        now = self._clock.now_ms
        if self._temp is not None:
            self._end_temp("cancelled")
        radio = req.origin.from_air
        # The same rule the gate applied: below 1/4 of the schedule at any time it runs.
        withholds = req.withholds(scheduled_rates_mu_between(
            self._settings, self._minute_of_day(), req.duration_ms))
        self._record("temp_basal_start", {
            "rate_u_per_h": req.rate_mu_per_h / 1000 if req.rate_mu_per_h is not None else None,
            "percent": req.percent, "duration_min": req.duration_ms // MS_PER_MINUTE,
            "source": req.origin.value, "radio": radio, "withholds": withholds,
            **_cause(command_seq),
        })
        temp = _Temp(req.rate_mu_per_h, req.percent, now, now + req.duration_ms, req.origin,
                     withholds)
        temp.event = self._clock.schedule_at(temp.end_ms,
                                             lambda: self._guarded(self._on_temp_done),
                                             label="pump temp basal end")
        self._temp = temp
        self._sync_withholding()
        self._refresh_basal()

    def _on_temp_done(self) -> None:
        if self._temp is not None:
            self._temp.event = None
            self._end_temp("completed")

    def _end_temp(self, reason: str, command_seq: int | None = None, *,
                  refresh: bool = True) -> None:
        temp = self._temp
        if temp is None:
            return
        self._record("temp_basal_end", {"reason": reason, **_cause(command_seq)})
        if temp.event is not None:
            self._clock.cancel(temp.event)
        self._temp = None
        self._sync_withholding()
        if refresh:
            self._refresh_basal()

    def _sync_withholding(self) -> None:
        """Open or close the radio-withholding ledger to match the state now.

        Withholding is a state, not an event: a suspend from the air, or a temp basal
        from the air that withholds, is in force.  Deriving it after every change (here
        and, from the same records, in :func:`~pumplab.devices.pump.recovery.replay`)
        makes the ledger independent of the order in which one action's records are
        written (issue 9: a radio suspend replacing a zero temp)."""
        s, t = self._suspend, self._temp
        withholding = ((s is not None and s.radio)
                       or (t is not None and t.origin.from_air and t.withholds))
        ledger = self._gate.withholding
        if withholding and ledger.open_since is None:
            ledger.open(self._clock.now_ms)
        elif not withholding and ledger.open_since is not None:
            ledger.close(self._clock.now_ms)

    # ================================================================ suspend

    def _do_suspend(self, origin: Origin, reason: str, resume_at: int | None = None,
                    command_seq: int | None = None) -> None:
        now = self._clock.now_ms
        radio = origin.from_air
        # What the suspend stops ends first (its records come before the `suspend`
        # record, which carries the command's seq: a crash in between leaves the
        # command reported not executed, never a suspend the log does not show).
        self._end_bolus("suspended")
        self._end_temp("suspended", refresh=False)
        self._record("suspend", {"source": origin.value, "reason": reason, "radio": radio,
                                 "resume_at_device_ms": resume_at, **_cause(command_seq)})
        old = self._suspend
        if old is not None and old.event is not None:
            # A suspend from the keys taking over one from the air: the person's
            # intent now holds delivery, so the automatic resume is cancelled (and the
            # radio-withholding episode ends here, below).
            self._clock.cancel(old.event)
        self._suspend = _Suspend(origin, reason, radio, now, resume_at)
        self._sync_withholding()
        if radio and (origin is not Origin.RADIO or self.mode is ProtocolMode.SECURE):
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

    def _do_resume(self, origin: Origin, reason: str, command_seq: int | None = None) -> None:
        s = self._suspend
        if s is None:
            return
        self._record("resume", {"source": origin.value, "reason": reason,
                                **_cause(command_seq)})
        if s.event is not None:
            self._clock.cancel(s.event)
        self._suspend = None
        self._sync_withholding()
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
        """Schedule the next low-delivery check: every LOW_DELIVERY_CHECK_MS, and exactly
        when a period without any stroke ends or the next escalation is due."""
        if not self._gate.on(Rule.NO_DELIVERY_ALARM):
            return
        old = self._timers.pop("no_delivery", None)
        if old is not None:
            self._clock.cancel(old)
        now = self._clock.now_ms
        period = self._settings.no_delivery_alarm_min * MS_PER_MINUTE
        at = (now // LOW_DELIVERY_CHECK_MS + 1) * LOW_DELIVERY_CHECK_MS
        exact = (max(self._last_stroke_ms, self._observed_since) if self._nd_level == 0
                 else self._nd_level_at) + period
        if now < exact < at:
            at = exact
        self._timers["no_delivery"] = self._clock.schedule_at(
            at, lambda: self._guarded(self._on_no_delivery_check), label="pump low-delivery check")

    def _low_delivery(self, now: int, period: int) -> tuple[bool, int, int]:
        """(too low?, delivered mU, scheduled mU) over the last ``period`` ms.

        Low means no stroke at all, or less than 1/LOW_DELIVERY_DIVISOR of what the
        active pattern schedules over the same time (user clock as set now).  Every
        stroke counts, boluses included.  Not judged before the pump's record covers
        a whole period."""
        if now - period < self._observed_since:
            return False, 0, 0
        delivered = self._gate.strokes.delivered_mu_since(now - period, now)
        user_now = self.user_clock_ms
        scheduled = scheduled_mu_between(self._settings, user_now - period, user_now)
        low = delivered == 0 or delivered * LOW_DELIVERY_DIVISOR < scheduled
        return low, delivered, scheduled

    def _on_no_delivery_check(self) -> None:
        self._timers.pop("no_delivery", None)
        now = self._clock.now_ms
        period = self._settings.no_delivery_alarm_min * MS_PER_MINUTE
        low, delivered, scheduled = self._low_delivery(now, period)
        if not low:
            self._nd_level = 0
        elif self._nd_level == 0 or now >= self._nd_level_at + period:
            self._nd_level += 1
            self._nd_level_at = now
            minutes = period // MS_PER_MINUTE
            share = f" ({100 * delivered // scheduled} % of the {scheduled / 1000:.3f} U " \
                    "scheduled)" if scheduled else ""
            self._raise_alarm(AlarmCode.NO_INSULIN,
                              f"{delivered / 1000:.3f} U delivered in the last {minutes} min"
                              f"{share}", level=self._nd_level)
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
        if self._suspend is None or self._suspend.resume_at_ms is not None:
            # Auto-off protects a person who stopped responding: a suspend from the air
            # that would resume by itself at its withholding limit (secure) is taken over,
            # as a key suspend does, and only the person resumes.
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
            raise SettingsError(f"unknown setting {show(name)}", field=show(name))
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
        problem = _check_user_clock(new_clock_ms)
        if problem:  # callers check first; this keeps the invariant whatever the path
            raise SettingsError(problem, field="clock_ms",
                                allowed="2000-01-01 to 2100-01-01 UTC")
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
                                             "command_seq": p.command_seq,
                                             "reason": "rejected_on_keys"})
            return "change rejected"
        extra: dict[str, JSONValue] = {"requested_by": p.src, "confirmed_by": "keys",
                                       "command_seq": p.command_seq}
        try:
            if p.setting == "clock":
                self._set_clock(p.value, f"clinician:{p.src} confirmed on keys")  # type: ignore[arg-type]
                return "clock set"
            self._apply_setting(p.setting, p.value, "clinician", extra)
        except SettingsError as exc:
            # Valid when proposed, invalid now (another setting changed meanwhile):
            # accepted on the keys but not applied, and the history says so.
            self._record("change_rejected", {"setting": p.setting, "src": p.src,
                                             "command_seq": p.command_seq, "reason": "invalid",
                                             "detail": safe_text(str(exc))})
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
        s = self._suspend
        if s is None:
            self._do_suspend(Origin.BUTTONS, "keys")
        elif s.radio or s.resume_at_ms is not None:
            # Take over a suspend from the air (or one with an automatic resume): the
            # person wants delivery held until they resume it themselves.
            self._do_suspend(Origin.BUTTONS, "keys (takes over the suspend from "
                             f"{s.origin.value})")

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

    def _key_set_clock(self, clock_ms: int) -> str | None:
        """Set the clock from the keys; returns an error text or None."""
        problem = _check_user_clock(clock_ms)
        if problem:
            return problem
        self._set_clock(clock_ms, "keys")
        return None

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
        except Exception as exc:  # never let an unforeseen error leave the pump half-changed
            self._fault(f"the {k.value} key", exc)
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

    def _head_seq(self) -> int:
        head = self._history.head
        return head.seq if head is not None else 0

    def _on_envelope(self, env: Envelope) -> None:
        if self.phase is PumpPhase.STOPPED:
            return
        if self.phase is not PumpPhase.RUNNING:
            # Nothing can be written: answer what the mode's rules allow, never crash
            # (a pump that can record nothing can only stay silent on an error).
            with contextlib.suppress(Exception):
                self._answer_unusable(env)
            return
        before = self._head_seq()
        try:
            unserved = self._unserved(env)
            if unserved is not None:
                self._refuse_unserved(env, *unserved)
                return
            if not self._heard(env):
                return  # a sleeping legacy radio: nothing heard, nothing spent or recorded
            self._drain(BATTERY_PCT_PER_MESSAGE)
            if self.mode is ProtocolMode.LEGACY:
                self._legacy(env)
            else:
                self._secure(env)
        except _Halt:
            pass
        except Exception as exc:
            self._unforeseen(env, before, exc)

    def _unforeseen(self, env: Envelope, before: int, exc: Exception) -> None:
        """An error no check foresaw while handling ``env``.

        If nothing had been recorded yet, nothing had taken effect either (every
        effect is recorded first): the message is refused MALFORMED, recorded, and
        the pump carries on.  If something had been recorded, the state may be
        half-changed: the pump halts (delivery stopped, alarm)."""
        if self.phase is not PumpPhase.RUNNING:
            return
        if self._head_seq() != before:
            self._fault(f"handling {_type_name(env.message)} from {show(env.src)}", exc)
            return
        try:
            self._refuse(env, NakReason.MALFORMED,
                         f"the pump could not handle this {_type_name(env.message)} "
                         f"({type(exc).__name__}): nothing was done")
        except _Halt:
            pass
        except Exception as again:  # even the refusal failed: stop rather than guess
            self._fault(f"refusing {_type_name(env.message)}", again)

    def _answer_unusable(self, env: Envelope) -> None:
        """History unusable (unverified, unwritable): nothing is recorded, nothing delivered.

        The mode's rules still decide who hears an answer: a legacy radio must be
        woken (a wake-up is answered, not recorded) and peripherals must be linked;
        a secure pump answers only paired senders, and status only to the roles
        that may read it.  Status says ``state_known=False`` when the state was not
        rebuilt; everything else is refused ``HISTORY_UNVERIFIED``."""
        msg = env.message
        src = env.src
        now = self._clock.now_ms
        cid = self._response_cid(msg)
        refusal = Nak(_type_name(msg), cid, reason=NakReason.HISTORY_UNVERIFIED,
                      detail="history unusable: no delivery (see the pump's screen)")
        if self.mode is ProtocolMode.LEGACY:
            if isinstance(msg, WakeupCommand):
                minutes = msg.duration_min
                lo, hi = WAKEUP_RANGE_MIN
                if isinstance(minutes, bool) or not isinstance(minutes, int) \
                        or not lo <= minutes <= hi:
                    self._reply(src, Nak(_type_name(msg), None, reason=NakReason.MALFORMED,
                                         detail=f"duration_min must be {lo}–{hi} min"))
                    return
                self._radio_awake_until = max(self._radio_awake_until,
                                              now + minutes * MS_PER_MINUTE)
                self._reply(src, Ack(_type_name(msg), None,
                                     outcome=f"radio awake for {minutes} min (not recorded)"))
                return
            if isinstance(msg, PERIPHERAL_TYPES):
                if self._legacy_linked(env) and not isinstance(
                        msg, RemoteBolusCommand | RemoteSuspendCommand):
                    self._reply(src, refusal)  # the remote link is one-way: never answered
                return
            if now > self._radio_awake_until:
                return  # asleep: not heard
        else:
            role = self._settings.role_of(src) if isinstance(src, str) else None
            if role is None:
                self._reply(src, Nak(_type_name(msg), cid, reason=NakReason.NOT_AUTHORIZED,
                                     detail="sender is not paired with this pump"))
                return
            if isinstance(msg, ReadStatusCommand) and not role_may_send(role, ReadStatusCommand):
                self._reply(src, Nak(_type_name(msg), cid, reason=NakReason.NOT_AUTHORIZED,
                                     detail=f"role {role.value} may not send ReadStatusCommand"))
                return
        if isinstance(msg, ReadStatusCommand):
            self._reply(src, self.status(src, in_reply_to=msg.type_name, command_id=cid))
        else:
            self._reply(src, refusal)

    # ---------------------------------------------------------------- unserved senders

    def _unserved(self, env: Envelope) -> tuple[str, NakReason, str, bool] | None:
        """(sender class, reason, detail, answer?) for a sender this pump does not serve.

        Secure: an address not in the pairing table.  Legacy: sensor, meter and remote
        traffic from ids not linked (the x23 ignores them; the remote link is one-way,
        so these are never answered).  Everything else is served (legacy-faithful: a
        woken radio obeys anyone).  Their refusals go through the RefusalLimiter."""
        msg = env.message
        if self.mode is ProtocolMode.SECURE:
            role = self._settings.role_of(env.src) if isinstance(env.src, str) else None
            if role is None:
                return ("unpaired", NakReason.NOT_AUTHORIZED,
                        "sender is not paired with this pump", True)
            return None
        if not isinstance(msg, PERIPHERAL_TYPES) or self._legacy_linked(env):
            return None
        if isinstance(msg, RemoteBolusCommand | RemoteSuspendCommand):
            if not self._settings.remote_enabled:
                return ("unlinked", NakReason.REMOTE_DISABLED, "remote option is off: ignored",
                        False)
            return ("unlinked", NakReason.NOT_AUTHORIZED, "remote id not registered: ignored",
                    False)
        what = "sensor" if isinstance(msg, SensorReading | SensorBackfill) else "meter id"
        return "unlinked", NakReason.NOT_AUTHORIZED, f"{what} not linked: ignored", False

    def _heard(self, env: Envelope) -> bool:
        """Does the radio hear this at all?  A sleeping legacy radio hears only its linked
        peripherals (duty-cycled listening) and the wake-up burst."""
        if self.mode is ProtocolMode.SECURE:
            return True
        return (isinstance(env.message, (*PERIPHERAL_TYPES, WakeupCommand))
                or self._clock.now_ms <= self._radio_awake_until)

    def _refuse_unserved(self, env: Envelope, sender_class: str, reason: NakReason,
                         detail: str, answer: bool) -> None:
        """Refuse without a record of its own: counted for the minute's refusal_summary,
        answered only within the limiter's budget (issue 9: a flood must cost a bounded
        amount of battery and history)."""
        msg = env.message
        src = env.src
        limits = self._refusals
        admission = limits.admit(sender_class,
                                 safe_text(src, 64) if isinstance(src, str) else show(src),
                                 kind=_type_name(msg), reason=reason.value,
                                 now_ms=self._clock.now_ms)
        if admission.flood_started:
            self._raise_alarm(AlarmCode.FLOOD,
                              f"more than {limits.flood_threshold} messages a minute from "
                              f"{sender_class} senders: refused, at most "
                              f"{limits.answers_per_window} answered a minute")
        if answer and admission.answer:
            self._drain(BATTERY_PCT_PER_MESSAGE)
            self._reply(src, Nak(_type_name(msg), self._response_cid(msg), reason=reason,
                                 detail=detail))
        self._arm_refusal_summary()

    def _arm_refusal_summary(self) -> None:
        due = self._refusals.next_due_ms()
        if due == self._refusals_due_ms and "refusals" in self._timers:
            return
        old = self._timers.pop("refusals", None)
        if old is not None:
            self._clock.cancel(old)
        self._refusals_due_ms = due
        if due is not None:
            self._timers["refusals"] = self._clock.schedule_at(
                max(due, self._clock.now_ms), lambda: self._guarded(self._on_refusal_summary),
                label="pump refusal summary")

    def _on_refusal_summary(self) -> None:
        self._timers.pop("refusals", None)
        for summary in self._refusals.due(self._clock.now_ms):
            self._record("refusal_summary", summary.as_record())
            self._drain(BATTERY_PCT_PER_MESSAGE)  # the record's write
        self._arm_refusal_summary()

    # ---------------------------------------------------------------- command records

    def _record_command(self, env: Envelope, *, accepted: bool, reason: NakReason | None,
                        detail: str, ack_outcome: str = "accepted", tracked: bool = False,
                        replay_of: int | None = None) -> int:
        msg = env.message
        cid = getattr(msg, "command_id", None)
        src = env.src
        rec = self._record("command", {
            "src": safe_text(src, 64) if isinstance(src, str) else show(src),
            "type": _type_name(msg),
            "command_id": cid if (isinstance(cid, int) and not isinstance(cid, bool)
                                  and 0 <= cid <= SAFE_INT) else None,
            "payload": _payload(msg), "outcome": "accepted" if accepted else "rejected",
            "reason": reason.value if reason is not None else None,
            "detail": safe_text(detail),
            "ack_outcome": ack_outcome if accepted else None, "tracked": tracked,
            "replay_of": replay_of, "authenticated": env.authenticated is True,
        })
        return rec.seq

    def _refuse(self, env: Envelope, reason: NakReason, detail: str, *, reply: bool = True,
                tracked: bool = False) -> None:
        detail = safe_text(detail)
        seq = self._record_command(env, accepted=False, reason=reason, detail=detail,
                                   tracked=tracked)
        cid = self._response_cid(env.message)
        if tracked:
            self._remember(env, False, reason, detail, "", seq)
        if reply:
            self._reply(env.src, Nak(_type_name(env.message), cid, reason=reason,
                                     detail=detail, history_seq=seq))

    def _accept(self, env: Envelope, outcome: str = "accepted", *, reply: bool = True) -> int:
        """Accept a request that changes no delivery (reads, wake-ups, key presses)."""
        seq = self._record_command(env, accepted=True, reason=None, detail=outcome,
                                   ack_outcome=outcome)
        if reply:
            self._send_ack(env, outcome, True, seq)
        return seq

    def _carry_out(self, env: Envelope, outcome: str, act: Callable[[int], object], *,
                   reply: bool, tracked: bool) -> None:
        """Accept a dose command and start its effect.

        The ``command`` record comes first; the effect's first record carries its
        ``command_seq``, so a restart between the two finds the command without
        effect and reports it as not executed (recovery).  The command is
        remembered as accepted, and acknowledged, only once its effect began."""
        seq = self._record_command(env, accepted=True, reason=None, detail=outcome,
                                   ack_outcome=outcome, tracked=tracked)
        act(seq)
        if tracked:
            self._remember(env, True, None, outcome, outcome, seq)
        self._send_ack(env, outcome, reply, seq)

    def _response_cid(self, msg: object) -> int | None:
        # Legacy MiniMed frames carry no command id; answers carry none either.
        return _cid_or_none(msg) if self.mode is ProtocolMode.SECURE else None

    def _remember(self, env: Envelope, accepted: bool, reason: NakReason | None, detail: str,
                  ack_outcome: str, seq: int) -> None:
        cid = getattr(env.message, "command_id", None)
        assert isinstance(cid, int)
        table = self._idem.setdefault(env.src, OrderedDict())
        table[cid] = IdemEntry(_type_name(env.message), _payload(env.message), accepted,
                               reason.value if reason else None, detail, ack_outcome or "accepted",
                               seq)
        table.move_to_end(cid)
        while len(table) > IDS_PER_SENDER:
            table.popitem(last=False)
        self._high_water[env.src] = max(self._high_water.get(env.src, -1), cid)
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
                self._refuse(env, NakReason.MALFORMED,
                             f"duration_min {show(minutes)} is not {lo}–{hi} min")
                return
            self._accept(env, f"radio awake for {minutes} min")
            self._drain(BATTERY_PCT_PER_AWAKE_MIN * minutes)
            self._radio_awake_until = max(self._radio_awake_until, now + minutes * MS_PER_MINUTE)
            return
        self._dispatch(env, Origin.RADIO)  # awake (a sleeping radio heard nothing: _heard)

    def _legacy_linked(self, env: Envelope) -> bool:
        """Is a peripheral message from a sensor, meter or remote this pump is linked to?"""
        msg, s = env.message, self._settings
        src: object = env.src  # off the air an address is a claim: only text names a device
        if not isinstance(src, str):
            return False
        kind = address_kind(src)
        dev_id = src.partition(":")[2]
        if isinstance(msg, SensorReading | SensorBackfill):
            return s.sensor_enabled and kind == "cgm" and dev_id == s.sensor_id
        if isinstance(msg, MeterReading):
            return kind == "meter" and dev_id in s.meter_ids
        return s.remote_enabled and kind == "remote" and dev_id in s.remote_ids

    def _legacy_peripheral(self, env: Envelope) -> None:
        """Traffic from a linked sensor, meter or remote (unlinked ids: _unserved)."""
        msg = env.message
        if isinstance(msg, SensorReading | SensorBackfill):
            self._sensor_message(env)
        elif isinstance(msg, MeterReading):
            self._meter_message(env)
        else:  # remote: one-way in legacy, no answer is ever sent
            self._dispatch(env, Origin.REMOTE, reply=False)

    # ---------------------------------------------------------------- secure dispatch

    def _secure(self, env: Envelope) -> None:
        msg = env.message
        role = self._settings.role_of(env.src) if isinstance(env.src, str) else None
        assert role is not None  # unpaired senders are refused before (_unserved)
        mtype = type(msg)
        if mtype in SECURE_NEVER:
            self._refuse(env, NakReason.NOT_IN_MODE,
                         f"{_type_name(msg)} is not accepted by a secure pump")
            return
        if mtype not in KNOWN_TYPES:
            self._refuse(env, NakReason.UNKNOWN_MESSAGE, f"unknown message {_type_name(msg)}")
            return
        if not role_may_send(role, mtype):
            self._refuse(env, NakReason.NOT_AUTHORIZED,
                         f"role {role.value} may not send {_type_name(msg)}")
            return
        if mtype in (SensorReading, SensorBackfill):
            self._sensor_message(env)
            return
        if mtype is MeterReading:
            self._meter_message(env)
            return
        if mtype in DOSE_COMMANDS:
            cid = getattr(msg, "command_id", None)
            if isinstance(cid, bool) or not isinstance(cid, int) or not 0 <= cid <= SAFE_INT:
                self._refuse(env, NakReason.MALFORMED,
                             "command_id is required on dose commands (an integer "
                             "0 ≤ id < 2^53)")
                return
            table = self._idem.get(env.src)
            entry = table.get(cid) if table is not None else None
            if entry is not None:
                self._replay(env, entry)
                return
            high = self._high_water.get(env.src)
            if high is not None and cid <= high:
                # Not remembered, yet not new: an old duplicate whose record was
                # forgotten, or a sender reusing ids.  Refused (and not remembered),
                # so it can never run a second time (docs/pump.md, "Idempotent dose
                # commands").
                self._refuse(env, NakReason.STALE_COMMAND_ID,
                             f"command id {cid} is not above this sender's last id {high} "
                             "and is not remembered: ids must increase")
                return
        origin = Origin.REMOTE if role is Role.REMOTE else Origin.APP
        self._dispatch(env, origin, tracked=mtype in DOSE_COMMANDS)

    def _replay(self, env: Envelope, entry: IdemEntry) -> None:
        msg = env.message
        if entry.type_name != _type_name(msg) or entry.payload != _payload(msg):
            self._refuse(env, NakReason.DUPLICATE_ID_MISMATCH,
                         f"command id already used (history record {entry.seq}) for a different "
                         "command")
            return
        reason = NakReason(entry.reason) if entry.reason else None
        self._record_command(env, accepted=entry.accepted, reason=reason,
                             detail=f"replay of record {entry.seq}: nothing done again",
                             ack_outcome=entry.ack_outcome, replay_of=entry.seq)
        cid = _cid_or_none(msg)
        if entry.accepted:
            self._reply(env.src, Ack(entry.type_name, cid, outcome=entry.ack_outcome,
                                     replayed=True, history_seq=entry.seq))
        else:
            self._reply(env.src, Nak(entry.type_name, cid,
                                     reason=reason if reason is not None else NakReason.MALFORMED,
                                     detail=entry.detail, replayed=True, history_seq=entry.seq))

    # ---------------------------------------------------------------- peripherals

    def _sensor_message(self, env: Envelope) -> None:
        msg = env.message
        readings = (msg,) if isinstance(msg, SensorReading) else getattr(msg, "readings", None)
        if not isinstance(readings, tuple) or not all(isinstance(r, SensorReading)
                                                      for r in readings):
            self._refuse(env, NakReason.MALFORMED, "readings must be SensorReading values")
            return
        if len(readings) > SENSOR_SEQS_KEPT:
            self._refuse(env, NakReason.MALFORMED,
                         f"{len(readings)} readings: a backfill holds at most {SENSOR_SEQS_KEPT}")
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
            self._record("sensor_glucose", {
                "seq": r.seq,
                "glucose_mg_dl": float(r.glucose_mg_dl) if r.glucose_mg_dl is not None else None,
                "flag": r.flag.value, "sampled_at_ms": r.sampled_at_ms,
                "backfill": isinstance(msg, SensorBackfill)})
            self._sensor_seen[r.seq] = None
            while len(self._sensor_seen) > SENSOR_SEQS_KEPT:
                self._sensor_seen.popitem(last=False)
            if self._sensor is None or r.seq >= self._sensor.seq:
                self._sensor = r
        self._reply(env.src, Ack(_type_name(msg), top_seq, outcome="received"))

    def _meter_message(self, env: Envelope) -> None:
        msg = env.message
        assert isinstance(msg, MeterReading)
        bg = msg.bg_mg_dl
        if not (_is_number(bg) and 20 <= bg <= 600):
            self._refuse(env, NakReason.MALFORMED,
                         f"bg_mg_dl {show(bg)} is outside 20–600 mg/dL")
            return
        self._record("meter_bg", {"bg_mg_dl": float(bg), "meter": safe_text(env.src, 64)})
        self._meter_bg = (float(bg), self._clock.now_ms)
        self._reply(env.src, Ack(_type_name(msg), None, outcome="received"))

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
                                lambda seq: self._start_bolus(req, BolusKind.NORMAL,
                                                              command_seq=seq),
                                "bolus_started", reply=reply, tracked=tracked)
            elif isinstance(msg, TempBasalCommand):
                req_t = _temp_request(msg, origin)
                self._gate_then(env, self._gate.check_temp_basal(req_t, self._view(),
                                                                 self._settings),
                                lambda seq: self._start_temp(req_t, seq), "temp_basal_started",
                                reply=reply, tracked=tracked)
            elif isinstance(msg, CancelTempBasalCommand):
                if self._temp is None:
                    self._refuse(env, NakReason.NO_TEMP_BASAL, "no temp basal is running",
                                 reply=reply, tracked=tracked)
                else:
                    self._carry_out(env, "temp_basal_cancelled",
                                    lambda seq: self._end_temp("cancelled", seq),
                                    reply=reply, tracked=tracked)
            elif isinstance(msg, SuspendCommand | RemoteSuspendCommand):
                decision, resume_at = self._gate.check_radio_suspend(self._view(), self._settings)
                self._gate_then(env, decision,
                                lambda seq: self._do_suspend(origin, "radio command", resume_at,
                                                             seq),
                                "suspended", reply=reply, tracked=tracked)
            elif isinstance(msg, ResumeCommand):
                self._gate_then(env, self._gate.check_radio_resume(self._view()),
                                lambda seq: self._do_resume(origin, "radio command", seq),
                                "resumed", reply=reply, tracked=tracked)
            elif isinstance(msg, CancelBolusCommand):
                if self._bolus is None:
                    self._refuse(env, NakReason.NO_BOLUS_IN_PROGRESS, "no bolus is running",
                                 reply=reply, tracked=tracked)
                else:
                    self._carry_out(env, "bolus_cancelled",
                                    lambda seq: self._end_bolus("cancelled", seq),
                                    reply=reply, tracked=tracked)
            elif isinstance(msg, ButtonPressCommand):
                button = msg.button
                if not isinstance(button, str) or button not in Key._value2member_map_:
                    raise _Malformed(f"button {show(button)} is not one of ACT, ESC, UP, DOWN, B")
                seq = self._accept(env, f"pressed {button}", reply=False)
                self.press(Key(button))
                self._send_ack(env, f"pressed {button}", reply, seq)
            elif isinstance(msg, ReadStatusCommand):
                self._accept(env, "status", reply=False)
                self._reply(env.src, self.status(env.src, in_reply_to=msg.type_name,
                                                 command_id=self._response_cid(msg)))
            elif isinstance(msg, ReadSettingsCommand):
                self._accept(env, "settings", reply=False)
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
                             f"unknown message {_type_name(msg)}", reply=reply,
                             tracked=tracked)
        except _Malformed as exc:
            self._refuse(env, exc.reason, str(exc), reply=reply, tracked=tracked)

    def _send_ack(self, env: Envelope, outcome: str, reply: bool, seq: int) -> None:
        if reply:
            self._reply(env.src, Ack(_type_name(env.message),
                                     self._response_cid(env.message), outcome=outcome,
                                     history_seq=seq))

    def _gate_then(self, env: Envelope, decision: Decision, act: Callable[[int], object],
                   outcome: str, *, reply: bool, tracked: bool) -> None:
        if not decision.allowed:
            assert decision.reason is not None
            self._refuse(env, decision.reason, decision.detail, reply=reply, tracked=tracked)
            return
        self._carry_out(env, outcome, act, reply=reply, tracked=tracked)

    def _read_history(self, env: Envelope, msg: ReadHistoryCommand) -> None:
        since, limit = msg.since_seq, msg.limit
        if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since <= SAFE_INT:
            raise _Malformed(f"since_seq {show(since)} is not an integer within 0..2^53")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise _Malformed(f"limit {show(limit)} is not an integer within 1–1000")
        self._accept(env, "history", reply=False)
        records = self._history.records(since, limit + 1)
        page = tuple(r.as_json() for r in records[:limit])
        self._reply(env.src, HistoryPage(msg.type_name, self._response_cid(msg), records=page,
                                         more=len(records) > limit))

    def _change_setting(self, env: Envelope, msg: ChangeSettingCommand, origin: Origin) -> None:
        name = canonical_setting_name(msg.setting)
        if name is None:
            self._refuse(env, NakReason.UNKNOWN_SETTING, f"unknown setting {show(msg.setting)}")
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
        self._propose(env, name, record_value(msg.value))

    def _set_clock_command(self, env: Envelope, msg: SetClockCommand) -> None:
        value = msg.clock_ms
        problem = _check_user_clock(value)
        if problem:
            raise _Malformed(problem)
        assert isinstance(value, int)
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


def _cause(command_seq: int | None) -> dict[str, JSONValue]:
    """The ``command_seq`` field of an effect record caused by a command (else nothing)."""
    return {} if command_seq is None else {"command_seq": command_seq}


def _cid_or_none(msg: object) -> int | None:
    cid = getattr(msg, "command_id", None)
    if isinstance(cid, bool) or not isinstance(cid, int):
        return None
    return cid


def _below_one_stroke(value: float) -> bool:
    """True for a positive amount (U, or U/h) smaller than one 0.025-U stroke.

    Such a value passes "> 0" yet rounds to zero strokes on the pump's grid (1e-10,
    a subnormal, 0.0125): it must be refused as below the smallest dose, never taken
    as a dose of nothing (issue 9).  Within float error of one stroke is one stroke."""
    return value > 0 and value * 1000 < STROKE_MU - 1e-6


def _amount_mu(value: object, name: str) -> int:
    if not _is_number(value):
        raise _Malformed(f"{name} {show(value)} is not a finite number")
    assert isinstance(value, int | float)
    if value <= 0:
        raise _Malformed(f"{name} {show(value)} U must be more than 0")
    if _below_one_stroke(float(value)):
        raise _Malformed(f"{name} {show(value)} U is below the smallest dose, one "
                         f"{STROKE_U} U stroke", NakReason.BELOW_MINIMUM_DOSE)
    if value > 1000 or not is_on_grid(float(value), X23_BOLUS_INCREMENT):
        raise _Malformed(f"{name} {show(value)} U is not a whole number of 0.025-U strokes")
    return round(value * 1000)


def _temp_request(msg: TempBasalCommand, origin: Origin) -> TempBasalRequest:
    rate, percent, duration = msg.rate_u_per_h, msg.percent, msg.duration_min
    if (rate is None) == (percent is None):
        raise _Malformed("give exactly one of rate_u_per_h and percent")
    rate_mu: int | None = None
    if rate is not None:
        if not _is_number(rate) or rate < 0:
            raise _Malformed(f"rate_u_per_h {show(rate)} is not a finite rate ≥ 0")
        if _below_one_stroke(float(rate)):
            # Not a zero temp in disguise: 0 U/h is sent as 0 (and counts as withholding).
            raise _Malformed(f"rate_u_per_h {show(rate)} is below the smallest rate, "
                             f"{STROKE_U} U/h (send 0 for a zero temp basal)",
                             NakReason.BELOW_MINIMUM_DOSE)
        if rate > 1000 or not is_on_grid(float(rate), X23_BASAL_INCREMENT):
            raise _Malformed(f"rate_u_per_h {show(rate)} is not on the x23 basal grid (0.025 U/h "
                             "below 1 U/h, 0.05 to 9.95, 0.1 from 10)")
        rate_mu = round(rate * 1000)
    if percent is not None and (isinstance(percent, bool) or not isinstance(percent, int)
                                or not 0 <= percent <= 200):
        raise _Malformed(f"percent {show(percent)} is not a whole percent within 0–200")
    if (isinstance(duration, bool) or not isinstance(duration, int) or not 30 <= duration <= 1440
            or duration % 30):
        raise _Malformed(f"duration_min {show(duration)} is not 30–1440 min in 30-min steps")
    return TempBasalRequest(rate_mu, percent, duration * MS_PER_MINUTE, origin)


def _sensor_problem(r: SensorReading) -> str:
    if isinstance(r.seq, bool) or not isinstance(r.seq, int) or not 0 <= r.seq <= SAFE_INT:
        return f"seq {show(r.seq)} is not an integer within 0..2^53"
    flag: object = r.flag  # off the air: may be anything
    if not isinstance(flag, SensorFlag):
        return f"flag {show(flag)} is not a SensorFlag"
    g = r.glucose_mg_dl
    if g is not None and not (_is_number(g) and 0 < g < 1000):
        return f"glucose_mg_dl {show(g)} is not a glucose value"
    t = r.sampled_at_ms
    if isinstance(t, bool) or not isinstance(t, int) or not -SAFE_INT <= t <= SAFE_INT:
        return f"sampled_at_ms {show(t)} is not an integer within ±2^53"
    return ""


def wizard_data(carbs_g: float, bg_mg_dl: float | None, pump: Pump) -> dict[str, Any]:
    """Run the therapy wizard for the pump now; returns the recommendation and its inputs."""
    rec = bolus_wizard(carbs_g=carbs_g, bg_mg_dl=bg_mg_dl,
                       active_insulin_u=max(0.0, pump.active_insulin_u()),
                       minute_of_day=pump._minute_of_day(), settings=pump.settings.wizard)
    return {"carbs_g": carbs_g, "bg_mg_dl": bg_mg_dl, "food_u": round(rec.food_u, 4),
            "correction_u": round(rec.correction_u, 4), "iob_u": round(rec.iob_u, 4),
            "recommended_u": rec.total_u, "notes": [n.name for n in rec.notes]}


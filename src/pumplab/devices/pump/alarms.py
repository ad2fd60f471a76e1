"""Alarms, alerts and annunciations (beeps, vibration, siren).

An *alarm* or *alert* is a condition the person must acknowledge on the
pump's keys (ESC then ACT, as on the x23).  Some of them stop delivery until
cleared (``stops_delivery``): a motor fault ("NO DELIVERY", the x23's
occlusion alarm), an empty reservoir, a dead battery, a history the pump
cannot trust.  The table :data:`ALARM_INFO` says which.

An *annunciation* is what the person hears or feels: every alarm, every
bolus that starts, a remote suspend, a setting proposal waiting for
confirmation.  A bolus started from the air sounds like any other on a
legacy pump (the x23 has no special radio alert: the person can tell a bolus
they did not start only because they did not start it); a secure pump also
vibrates for it (pumplab's design, after Medtronic's 2019 advice to cancel
any bolus one did not start).  Listeners registered on the pump
receive :class:`Annunciation` values; the person model (``pumplab.people``)
is one.

This module holds values and the alarm board; it records nothing itself (the
pump writes ``alarm``/``alarm_cleared`` history records before changing the
board).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "ALARM_INFO",
    "Alarm",
    "AlarmBoard",
    "AlarmCode",
    "AlarmInfo",
    "Annunciation",
    "AnnunciationListener",
    "AnnunciationReason",
    "Severity",
    "Sound",
]


class Severity(enum.Enum):
    """Alert (beep, informs) or alarm (siren, something is wrong with therapy)."""

    ALERT = "alert"
    ALARM = "alarm"


class AlarmCode(enum.Enum):
    """Every condition the pump can announce and the person must clear."""

    NO_DELIVERY = "no_delivery"  # motor fault / occlusion (x23 "NO DELIVERY")
    EMPTY_RESERVOIR = "empty_reservoir"
    LOW_RESERVOIR = "low_reservoir"
    LOW_BATTERY = "low_battery"
    BATTERY_OUT = "battery_out"
    AUTO_OFF = "auto_off"
    NO_INSULIN = "no_insulin"  # withholding: too little insulin for the configured time (secure)
    WITHHOLD_LIMIT = "withhold_limit"  # a radio suspend reached its limit and was resumed
    LIMIT_REACHED = "limit_reached"  # a delivery stopped (or basal withheld) by a limit
    BOLUS_INTERRUPTED = "bolus_interrupted"  # found unfinished at restart, not resumed
    TEMP_BASAL_CANCELLED = "temp_basal_cancelled"  # found running at restart, cancelled
    HISTORY_UNVERIFIED = "history_unverified"  # verification failed at start
    HISTORY_FAILURE = "history_failure"  # an append failed while running
    COMMAND_NOT_EXECUTED = "command_not_executed"  # accepted, found without effect at restart
    INTERNAL_ERROR = "internal_error"  # an unforeseen error inside the pump: delivery stopped
    FLOOD = "flood"  # many messages from senders the pump does not serve: answers limited


@dataclass(frozen=True, slots=True)
class AlarmInfo:
    """Static facts about an alarm code."""

    severity: Severity
    stops_delivery: bool
    text: str
    clearable: bool = True


#: What each code means on the screen and for delivery.
ALARM_INFO: dict[AlarmCode, AlarmInfo] = {
    AlarmCode.NO_DELIVERY: AlarmInfo(Severity.ALARM, True, "NO DELIVERY: check infusion set"),
    AlarmCode.EMPTY_RESERVOIR: AlarmInfo(Severity.ALARM, True, "EMPTY RESERVOIR"),
    AlarmCode.LOW_RESERVOIR: AlarmInfo(Severity.ALERT, False, "LOW RESERVOIR"),
    AlarmCode.LOW_BATTERY: AlarmInfo(Severity.ALERT, False, "LOW BATTERY"),
    AlarmCode.BATTERY_OUT: AlarmInfo(Severity.ALARM, True, "BATT OUT LIMIT: replace battery"),
    AlarmCode.AUTO_OFF: AlarmInfo(Severity.ALARM, False, "AUTO OFF: pump suspended"),
    AlarmCode.NO_INSULIN: AlarmInfo(Severity.ALERT, False, "LOW INSULIN DELIVERY"),
    AlarmCode.WITHHOLD_LIMIT: AlarmInfo(Severity.ALERT, False, "RADIO SUSPEND LIMIT: resumed"),
    AlarmCode.LIMIT_REACHED: AlarmInfo(Severity.ALARM, False, "DELIVERY LIMIT REACHED"),
    AlarmCode.BOLUS_INTERRUPTED: AlarmInfo(Severity.ALARM, False, "BOLUS STOPPED AT RESTART"),
    AlarmCode.TEMP_BASAL_CANCELLED: AlarmInfo(Severity.ALERT, False, "TEMP BASAL CANCELLED"),
    AlarmCode.COMMAND_NOT_EXECUTED: AlarmInfo(Severity.ALARM, False,
                                              "COMMAND NOT CARRIED OUT AT RESTART"),
    AlarmCode.FLOOD: AlarmInfo(Severity.ALERT, False, "RADIO FLOOD: unknown senders ignored"),
    AlarmCode.INTERNAL_ERROR: AlarmInfo(
        Severity.ALARM, True, "PUMP ERROR: delivery stopped", clearable=False
    ),
    AlarmCode.HISTORY_UNVERIFIED: AlarmInfo(
        Severity.ALARM, True, "HISTORY ERROR: delivery stopped", clearable=False
    ),
    AlarmCode.HISTORY_FAILURE: AlarmInfo(
        Severity.ALARM, True, "HISTORY WRITE FAILED: delivery stopped", clearable=False
    ),
}


@dataclass(frozen=True, slots=True)
class Alarm:
    """One active alarm: its code, when it was raised, a detail line and its level.

    ``level`` counts escalations (the low-delivery alarm rises by one each time
    another period passes with delivery still too low); ``severity`` may be
    raised by it.
    """

    code: AlarmCode
    raised_at_ms: int
    detail: str
    level: int = 1
    severity: Severity = Severity.ALERT

    @property
    def info(self) -> AlarmInfo:
        return ALARM_INFO[self.code]


class AlarmBoard:
    """The active alarms, oldest first (the screen shows the oldest)."""

    def __init__(self) -> None:
        self._active: dict[AlarmCode, Alarm] = {}

    def put(self, alarm: Alarm) -> None:
        """Add or replace (escalate) the alarm with this code."""
        self._active[alarm.code] = alarm

    def remove(self, code: AlarmCode) -> Alarm | None:
        return self._active.pop(code, None)

    def get(self, code: AlarmCode) -> Alarm | None:
        return self._active.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self._active

    @property
    def active(self) -> tuple[Alarm, ...]:
        return tuple(self._active.values())

    @property
    def top(self) -> Alarm | None:
        return next(iter(self._active.values()), None)

    def stopping(self) -> Alarm | None:
        """The first active alarm that stops delivery, if any."""
        for alarm in self._active.values():
            if alarm.info.stops_delivery:
                return alarm
        return None


class Sound(enum.Enum):
    """How the pump gets attention (x23: beep or vibrate; the siren is the escalated alarm)."""

    BEEP = "beep"
    VIBRATE = "vibrate"
    BEEP_AND_VIBRATE = "beep_and_vibrate"
    SIREN = "siren"


class AnnunciationReason(enum.Enum):
    """Why the pump made itself heard."""

    BOLUS_STARTED = "bolus_started"
    BOLUS_COMPLETED = "bolus_completed"
    BOLUS_STOPPED = "bolus_stopped"
    EASY_BOLUS_STEP = "easy_bolus_step"
    RADIO_SUSPEND = "radio_suspend"
    CONFIRMATION_NEEDED = "confirmation_needed"
    ALERT = "alert"
    ALARM = "alarm"
    KEY_REFUSED = "key_refused"


@dataclass(frozen=True, slots=True)
class Annunciation:
    """One beep/vibration, with what caused it.

    ``origin`` is who started the delivery (``"buttons"``, ``"wizard"``,
    ``"easy"``, ``"radio"``, ``"remote"``, ``"app"``) when there is one;
    ``alarm`` the alarm code for alarms and alerts.
    """

    at_ms: int
    reason: AnnunciationReason
    sound: Sound
    text: str
    origin: str | None = None
    bolus_id: int | None = None
    amount_u: float | None = None
    alarm: AlarmCode | None = None


AnnunciationListener = Callable[[Annunciation], None]

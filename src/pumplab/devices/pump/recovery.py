"""Rebuild the pump's state from its history at start (issue 5).

:func:`replay` reads a verified log, oldest record first, and returns a
:class:`Replayed` summary of everything the pump needs to carry on:

* settings: the snapshot in the last ``boot`` record with every later
  ``setting_change`` and ``pairing`` applied in order; the serial number and
  protocol mode that ``boot`` record names (the pump refuses a log of another
  pump or mode);
* the user clock's offset from device time (from the last record);
* suspend state, including the device time a radio suspend must end;
* a bolus or temp basal that was running when the pump stopped (the pump
  never resumes the bolus: it reports the undelivered remainder in a
  ``recovery`` record and alarms; the temp basal is cancelled, see
  docs/pump.md, "Restart");
* dose commands that were accepted but whose effect record never followed
  (the pump stopped between the two appends): they did not happen, and are
  answered as not executed (docs/pump.md, "Commands that did not take
  effect");
* the strokes of the last 24 h (for the rolling limits and active insulin),
  the reservoir level, the time of the last stroke;
* the idempotency table of secure-mode dose commands, each sender's last
  accepted command that took effect and each sender's high-water mark;
* active (uncleared) alarms, radio-withholding intervals, the next bolus id.

A ``stroke`` record is written *before* its stroke, so a stroke in flight
when the pump died counts as delivered here: the rebuilt windows may
over-count by that one stroke, never under-count.

Every field is read through a typed accessor: a record that verifies but
holds a field of the wrong type, or an unknown enum value, is one the pump
cannot have written, and :func:`replay` raises
:class:`~pumplab.errors.HistoryCorruptError` naming the record and the field
(the pump then refuses to deliver, like for a log that fails verification)
rather than guess.  Unknown record kinds are skipped (a later version may add
kinds).  Pure function of the records; no I/O.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from pumplab.clock import MS_PER_HOUR
from pumplab.devices.history import HistoryRecord, JSONValue
from pumplab.devices.pump.alarms import AlarmCode, Severity
from pumplab.devices.pump.delivery import STROKE_MU, Origin
from pumplab.errors import HistoryCorruptError

__all__ = [
    "DOSE_COMMAND_NAMES",
    "EFFECT_KINDS",
    "IDS_PER_SENDER",
    "SENSOR_SEQS_KEPT",
    "AlarmState",
    "IdemEntry",
    "OpenBolus",
    "OpenTemp",
    "Replayed",
    "SuspendState",
    "Unexecuted",
    "replay",
]

#: Secure mode remembers this many dose-command ids per sender (oldest forgotten
#: first; an id at or below the sender's high-water mark that is not remembered is
#: refused as stale, so forgetting never lets a command run twice).
IDS_PER_SENDER = 1024
#: Sensor sequence numbers remembered to drop duplicate (backfilled) readings: 24 h of 5-min
#: readings, more than a transmitter's 10-h backfill.
SENSOR_SEQS_KEPT = 288
_DAY_MS = 24 * MS_PER_HOUR
#: Accepted commands remembered per sender to find the last one that took effect.
_ACCEPTED_KEPT = 8

#: Type names of the dose commands (pumplab.devices.pump.access.DOSE_COMMANDS).
DOSE_COMMAND_NAMES: Final = frozenset({
    "BolusCommand", "TempBasalCommand", "CancelTempBasalCommand", "SuspendCommand",
    "ResumeCommand", "CancelBolusCommand", "RemoteBolusCommand", "RemoteSuspendCommand",
})
#: Record kinds that are the effect of an accepted dose command; they carry its
#: ``command_seq``.
EFFECT_KINDS: Final = frozenset({"bolus_start", "bolus_end", "temp_basal_start",
                                 "temp_basal_end", "suspend", "resume"})

_ORIGINS: Final = frozenset(o.value for o in Origin)
_SEVERITIES: Final = frozenset(s.value for s in Severity)


@dataclass(frozen=True, slots=True)
class IdemEntry:
    """The remembered outcome of one secure-mode dose command."""

    type_name: str
    payload: JSONValue
    accepted: bool
    reason: str | None
    detail: str
    ack_outcome: str
    seq: int


@dataclass(slots=True)
class OpenBolus:
    """A bolus with a ``bolus_start`` and no ``bolus_end``."""

    bolus_id: int
    requested_mu: int
    delivered_mu: int
    origin: str
    first_stroke_ms: int | None = None
    last_stroke_ms: int | None = None


@dataclass(frozen=True, slots=True)
class OpenTemp:
    """A temp basal with a ``temp_basal_start`` and no ``temp_basal_end``."""

    start_ms: int
    radio: bool
    withholds: bool


@dataclass(frozen=True, slots=True)
class SuspendState:
    """The suspend in force when the log ends."""

    origin: str
    reason: str
    radio: bool
    since_ms: int
    resume_at_ms: int | None


@dataclass(frozen=True, slots=True)
class AlarmState:
    """An alarm raised and not cleared."""

    code: AlarmCode
    severity: Severity
    message: str
    level: int
    raised_at_ms: int


@dataclass(frozen=True, slots=True)
class Unexecuted:
    """A dose command recorded as accepted whose effect record never followed."""

    seq: int
    src: str
    type_name: str
    command_id: int | None
    payload: JSONValue
    reported: bool  # a recovery record already says so (an earlier boot wrote it)


@dataclass(slots=True)
class Replayed:
    """What the log says the pump's state was when it stopped."""

    records: int = 0
    first_device_time_ms: int | None = None
    settings: dict[str, JSONValue] | None = None
    boot_serial: str | None = None
    boot_mode: str | None = None
    clock_offset_ms: int = 0
    last_device_time_ms: int = 0
    suspend: SuspendState | None = None
    open_temp: OpenTemp | None = None
    open_bolus: OpenBolus | None = None
    strokes: list[tuple[int, int, str]] = field(default_factory=list)  # (t, mU, origin)
    bolus_doses: list[tuple[int, int, int]] = field(default_factory=list)  # (t0, t1, mU)
    reservoir_mu: int | None = None
    low_reservoir_alerted: bool = False
    last_stroke_ms: int | None = None
    idem: dict[str, OrderedDict[int, IdemEntry]] = field(default_factory=dict)
    last_accepted: dict[str, tuple[int, str]] = field(default_factory=dict)
    high_water: dict[str, int] = field(default_factory=dict)
    unexecuted: list[Unexecuted] = field(default_factory=list)
    alarms: dict[AlarmCode, AlarmState] = field(default_factory=dict)
    withhold: list[tuple[str, int]] = field(default_factory=list)  # ("open"|"close", t)
    next_bolus_id: int = 1
    meter_bg: tuple[float, int] | None = None
    sensor_seqs: list[int] = field(default_factory=list)  # recent readings already recorded


class _Fields:
    """Typed reads of one record's data; a wrong type raises HistoryCorruptError."""

    __slots__ = ("_d", "_rec")

    def __init__(self, rec: HistoryRecord) -> None:
        self._rec = rec
        self._d: Mapping[str, JSONValue] = rec.data

    def bad(self, name: str, problem: str) -> HistoryCorruptError:
        r = self._rec
        return HistoryCorruptError(
            f"record {r.seq} ({r.kind}): field {name!r} {problem}; the pump cannot have "
            "written it", seq=r.seq)

    def has(self, name: str) -> bool:
        return name in self._d

    def any(self, name: str) -> JSONValue:
        return self._d.get(name)

    def integer(self, name: str, *, low: int = 0) -> int:
        v = self._d.get(name)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise self.bad(name, f"is {v!r}, not an integer ≥ {low}")
        return v

    def opt_integer(self, name: str, *, low: int = 0) -> int | None:
        return None if self._d.get(name) is None else self.integer(name, low=low)

    def mu(self, name: str) -> int:
        """A non-negative amount in U, as integer milliunits."""
        v = self._d.get(name)
        if (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
                or not 0 <= v <= 10_000):
            raise self.bad(name, f"is {v!r}, not an amount of insulin in U")
        return round(v * 1000)

    def number(self, name: str) -> float:
        v = self._d.get(name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.bad(name, f"is {v!r}, not a number")
        return float(v)

    def text(self, name: str) -> str:
        v = self._d.get(name)
        if not isinstance(v, str):
            raise self.bad(name, f"is {v!r}, not text")
        return v

    def opt_text(self, name: str) -> str | None:
        return None if self._d.get(name) is None else self.text(name)

    def flag(self, name: str) -> bool:
        v = self._d.get(name)
        if not isinstance(v, bool):
            raise self.bad(name, f"is {v!r}, not true/false")
        return v

    def choice(self, name: str, allowed: frozenset[str]) -> str:
        v = self.text(name)
        if v not in allowed:
            raise self.bad(name, f"is {v!r}, not one of {', '.join(sorted(allowed))}")
        return v


def replay(records: Iterable[HistoryRecord], *, now_ms: int) -> Replayed:
    """Fold the log into a :class:`Replayed` (``now_ms`` bounds the 24-h windows).

    Raises :class:`~pumplab.errors.HistoryCorruptError` for a record whose
    fields the pump cannot have written.
    """
    r = Replayed()
    bolus_by_id: dict[int, OpenBolus] = {}
    accepted: dict[str, list[tuple[int, int, str]]] = {}  # src -> [(seq, cid, outcome)]
    pending: Unexecuted | None = None  # the accepted dose command awaiting its effect
    withholding = False  # a radio suspend or a withholding radio temp in force
    for rec in records:
        r.records += 1
        f = _Fields(rec)
        t = rec.device_time_ms
        if r.first_device_time_ms is None:
            r.first_device_time_ms = t
        r.clock_offset_ms = rec.clock_ms - rec.device_time_ms
        r.last_device_time_ms = t
        kind = rec.kind
        if pending is not None and kind in EFFECT_KINDS and f.any("command_seq") == pending.seq:
            pending = None  # its effect: the command happened
        if kind in ("command", "boot") and pending is not None:
            # The pump handles one message at a time: a new message, or a new
            # life, before the effect means the effect never came.
            r.unexecuted.append(pending)
            pending = None
        if kind == "boot":
            snap = f.any("settings")
            if not isinstance(snap, dict):
                raise f.bad("settings", "is not a settings snapshot")
            r.settings = dict(snap)
            r.boot_serial = f.text("serial")
            r.boot_mode = f.text("mode")
        elif kind == "setting_change":
            if r.settings is not None:
                r.settings[f.text("setting")] = f.any("new")
        elif kind == "pairing":
            peer, role = f.text("peer"), f.opt_text("role")
            if r.settings is not None:
                old = r.settings.get("pairings")
                if not isinstance(old, list):
                    raise f.bad("peer", "follows a snapshot without a pairing table")
                table: list[JSONValue] = [p for p in old
                                          if not (isinstance(p, list) and p and p[0] == peer)]
                if role is not None:
                    table.append([peer, role])
                r.settings["pairings"] = table
        elif kind == "suspend":
            # A suspend while suspended is a key suspend taking over a radio one.
            r.suspend = SuspendState(f.text("source"), f.text("reason"), f.flag("radio"), t,
                                     f.opt_integer("resume_at_device_ms"))
        elif kind == "resume":
            r.suspend = None
        elif kind == "temp_basal_start":
            r.open_temp = OpenTemp(t, f.flag("radio"), f.flag("withholds"))
        elif kind == "temp_basal_end":
            r.open_temp = None
        elif kind == "bolus_start":
            bid = f.integer("bolus_id")
            started = OpenBolus(bid, f.mu("requested_u"), 0, f.choice("source", _ORIGINS))
            bolus_by_id[bid] = started
            r.open_bolus = started
            r.next_bolus_id = max(r.next_bolus_id, bid + 1)
        elif kind == "bolus_end":
            bid = f.integer("bolus_id")
            ended = bolus_by_id.pop(bid, None)
            if (ended is not None and ended.first_stroke_ms is not None
                    and ended.last_stroke_ms is not None):
                r.bolus_doses.append((ended.first_stroke_ms, ended.last_stroke_ms,
                                      ended.delivered_mu))
            if r.open_bolus is not None and r.open_bolus.bolus_id == bid:
                r.open_bolus = None
        elif kind == "stroke":
            mu = f.mu("amount_u") or STROKE_MU
            origin = f.choice("origin", _ORIGINS)
            r.strokes.append((t, mu, origin))
            r.last_stroke_ms = t
            if r.reservoir_mu is not None:
                r.reservoir_mu -= mu
            if f.text("what") == "bolus":
                running = bolus_by_id.get(f.integer("bolus_id"))
                if running is not None:
                    running.delivered_mu += mu
                    if running.first_stroke_ms is None:
                        running.first_stroke_ms = t
                    running.last_stroke_ms = t
        elif kind == "stroke_failed":
            # The stroke recorded just before did not go out (motor fault).
            if r.strokes:
                _, mu, _ = r.strokes.pop()
                if r.reservoir_mu is not None:
                    r.reservoir_mu += mu
                bid_failed = f.opt_integer("bolus_id")
                failed = bolus_by_id.get(bid_failed) if bid_failed is not None else None
                if failed is not None:
                    failed.delivered_mu -= mu
            r.last_stroke_ms = r.strokes[-1][0] if r.strokes else None
        elif kind == "reservoir_change":
            r.reservoir_mu = f.mu("units")
            r.low_reservoir_alerted = False
        elif kind == "alarm":
            code = _alarm_code(f)
            r.alarms[code] = AlarmState(code, Severity(f.choice("severity", _SEVERITIES)),
                                        f.text("message"), f.integer("level", low=1), t)
            if code is AlarmCode.LOW_RESERVOIR:
                r.low_reservoir_alerted = True
        elif kind == "alarm_cleared":
            r.alarms.pop(_alarm_code(f), None)
        elif kind == "command":
            pending = _command(r, f, rec.seq, accepted)
        elif kind == "recovery":
            done = f.opt_integer("not_executed_command_seq", low=1)
            if done is not None:
                for i, u in enumerate(r.unexecuted):
                    if u.seq == done:
                        r.unexecuted[i] = Unexecuted(u.seq, u.src, u.type_name, u.command_id,
                                                     u.payload, True)
        elif kind == "meter_bg":
            r.meter_bg = (f.number("bg_mg_dl"), t)
        elif kind == "sensor_glucose":
            r.sensor_seqs.append(f.integer("seq"))
            if len(r.sensor_seqs) > 2 * SENSOR_SEQS_KEPT:
                del r.sensor_seqs[:-SENSOR_SEQS_KEPT]
        now_withholding = _withholding(r)
        if now_withholding != withholding:
            r.withhold.append(("open" if now_withholding else "close", t))
            withholding = now_withholding
    if pending is not None:
        r.unexecuted.append(pending)  # the log ends between the command and its effect
    _settle_unexecuted(r, accepted)
    horizon = now_ms - _DAY_MS
    r.strokes = [s for s in r.strokes if s[0] > horizon]
    r.bolus_doses = [b for b in r.bolus_doses if b[1] > now_ms - 8 * MS_PER_HOUR]
    r.sensor_seqs = r.sensor_seqs[-SENSOR_SEQS_KEPT:]
    return r


def _withholding(r: Replayed) -> bool:
    """Is insulin withheld from the air in the state replayed so far?

    Derived from the state after each record, never from one record kind: the records
    one action writes at one instant (a radio suspend ending a zero temp writes
    ``temp_basal_end`` and ``suspend``) then rebuild the same ledger in any order
    (issue 9).  The pump derives it the same way while running."""
    s, t = r.suspend, r.open_temp
    return (s is not None and s.radio) or (t is not None and t.radio and t.withholds)


def _alarm_code(f: _Fields) -> AlarmCode:
    return AlarmCode(f.choice("code", frozenset(c.value for c in AlarmCode)))


def _command(r: Replayed, f: _Fields, seq: int,
             accepted: dict[str, list[tuple[int, int, str]]]) -> Unexecuted | None:
    """Fold one ``command`` record; returns it if it is an accepted dose command."""
    src = f.text("src")
    type_name = f.text("type")
    outcome = f.choice("outcome", frozenset({"accepted", "rejected"}))
    cid = f.opt_integer("command_id")
    replay_of = f.opt_integer("replay_of", low=1)
    tracked = f.flag("tracked")
    if replay_of is not None:
        return None
    is_accepted = outcome == "accepted"
    if tracked and cid is not None:
        reason = f.opt_text("reason")
        entry = IdemEntry(type_name, f.any("payload"), is_accepted, reason, f.text("detail"),
                          f.opt_text("ack_outcome") or "accepted", seq)
        table = r.idem.setdefault(src, OrderedDict())
        table[cid] = entry
        table.move_to_end(cid)
        while len(table) > IDS_PER_SENDER:
            table.popitem(last=False)
        r.high_water[src] = max(r.high_water.get(src, -1), cid)
        if is_accepted:
            kept = accepted.setdefault(src, [])
            kept.append((seq, cid, entry.ack_outcome))
            del kept[:-_ACCEPTED_KEPT]
    if is_accepted and type_name in DOSE_COMMAND_NAMES:
        return Unexecuted(seq, src, type_name, cid, f.any("payload"), False)
    return None


def _settle_unexecuted(r: Replayed, accepted: dict[str, list[tuple[int, int, str]]]) -> None:
    """Commands that never took effect: answered NOT_EXECUTED, not reported as accepted."""
    gone = {u.seq for u in r.unexecuted}
    for u in r.unexecuted:
        table = r.idem.get(u.src)
        if u.command_id is None or table is None:
            continue
        entry = table.get(u.command_id)
        if entry is not None and entry.seq == u.seq:
            table[u.command_id] = IdemEntry(
                entry.type_name, entry.payload, False, "not_executed",
                f"accepted (history record {u.seq}) but the pump stopped before it took "
                "effect: nothing was done", "", entry.seq)
    for src, kept in accepted.items():
        done = [(cid, outcome) for seq, cid, outcome in kept if seq not in gone]
        if done:
            r.last_accepted[src] = done[-1]

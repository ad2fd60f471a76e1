"""Rebuild the pump's state from its history at start (issue 5).

:func:`replay` reads a verified log, oldest record first, and returns a
:class:`Replayed` summary of everything the pump needs to carry on:

* settings: the snapshot in the last ``boot`` record with every later
  ``setting_change`` and ``pairing`` applied in order;
* the user clock's offset from device time (from the last record);
* suspend state, including the device time a radio suspend must end;
* a bolus or temp basal that was running when the pump stopped (the pump
  never resumes the bolus: it reports the undelivered remainder in a
  ``recovery`` record and alarms; the temp basal is cancelled, see
  docs/pump.md, "Restart");
* the strokes of the last 24 h (for the rolling limits and active insulin),
  the reservoir level, the time of the last stroke;
* the idempotency table of secure-mode dose commands and each sender's last
  accepted command id;
* active (uncleared) alarms, radio-withholding intervals, the next bolus id.

A ``stroke`` record is written *before* its stroke, so a stroke in flight
when the pump died counts as delivered here: the rebuilt windows may
over-count by that one stroke, never under-count.  Pure function of the
records; no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pumplab.clock import MS_PER_HOUR
from pumplab.devices.history import HistoryRecord, JSONValue
from pumplab.devices.pump.delivery import STROKE_MU

__all__ = ["IDS_PER_SENDER", "SENSOR_SEQS_KEPT", "IdemEntry", "OpenBolus", "Replayed", "replay"]

#: Secure mode remembers this many dose-command ids per sender (oldest forgotten first).
IDS_PER_SENDER = 1024
#: Sensor sequence numbers remembered to drop duplicate (backfilled) readings: 24 h of 5-min
#: readings, more than a transmitter's 10-h backfill.
SENSOR_SEQS_KEPT = 288
_DAY_MS = 24 * MS_PER_HOUR


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


@dataclass(slots=True)
class Replayed:
    """What the log says the pump's state was when it stopped."""

    records: int = 0
    first_device_time_ms: int | None = None
    settings: dict[str, JSONValue] | None = None
    clock_offset_ms: int = 0
    last_device_time_ms: int = 0
    suspend: dict[str, Any] | None = None  # suspend record data + "since_ms"
    open_temp: dict[str, Any] | None = None  # temp_basal_start data + "start_ms"
    open_bolus: OpenBolus | None = None
    strokes: list[tuple[int, int, str]] = field(default_factory=list)  # (t, mU, origin)
    bolus_doses: list[tuple[int, int, int]] = field(default_factory=list)  # (t0, t1, mU)
    reservoir_mu: int | None = None
    low_reservoir_alerted: bool = False
    last_stroke_ms: int | None = None
    idem: dict[str, OrderedDict[int, IdemEntry]] = field(default_factory=dict)
    last_accepted: dict[str, tuple[int, str]] = field(default_factory=dict)
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)
    withhold: list[tuple[str, int]] = field(default_factory=list)  # ("open"|"close", t)
    next_bolus_id: int = 1
    meter_bg: tuple[float, int] | None = None
    sensor_seqs: list[int] = field(default_factory=list)  # recent readings already recorded


def _int(v: object, default: int = 0) -> int:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def _mu(v: object) -> int:
    return round(float(v) * 1000) if isinstance(v, int | float) and not isinstance(v, bool) else 0


def replay(records: Iterable[HistoryRecord], *, now_ms: int) -> Replayed:
    """Fold the log into a :class:`Replayed` (``now_ms`` bounds the 24-h windows)."""
    r = Replayed()
    bolus_by_id: dict[int, OpenBolus] = {}
    for rec in records:
        r.records += 1
        d: Mapping[str, Any] = rec.data
        t = rec.device_time_ms
        if r.first_device_time_ms is None:
            r.first_device_time_ms = t
        r.clock_offset_ms = rec.clock_ms - rec.device_time_ms
        r.last_device_time_ms = t
        kind = rec.kind
        if kind == "boot":
            snap = d.get("settings")
            if isinstance(snap, dict):
                r.settings = dict(snap)
        elif kind == "setting_change":
            if r.settings is not None and isinstance(d.get("setting"), str):
                r.settings[str(d["setting"])] = d.get("new")
        elif kind == "pairing":
            if r.settings is not None:
                table = [list(p) for p in r.settings.get("pairings") or []  # type: ignore[union-attr]
                         if isinstance(p, list) and p and p[0] != d.get("peer")]
                if d.get("role") is not None:
                    table.append([d.get("peer"), d.get("role")])
                r.settings["pairings"] = table  # type: ignore[assignment]
        elif kind == "suspend":
            r.suspend = dict(d)
            r.suspend["since_ms"] = t
            if d.get("radio"):
                r.withhold.append(("open", t))
        elif kind == "resume":
            if r.suspend is not None and r.suspend.get("radio"):
                r.withhold.append(("close", t))
            r.suspend = None
        elif kind == "temp_basal_start":
            r.open_temp = dict(d)
            r.open_temp["start_ms"] = t
            if d.get("radio") and d.get("withholds"):
                r.withhold.append(("open", t))
        elif kind == "temp_basal_end":
            if r.open_temp is not None and r.open_temp.get("radio") and r.open_temp.get(
                    "withholds"):
                r.withhold.append(("close", t))
            r.open_temp = None
        elif kind == "bolus_start":
            bid = _int(d.get("bolus_id"))
            started = OpenBolus(bid, _mu(d.get("requested_u")), 0, str(d.get("source")))
            bolus_by_id[bid] = started
            r.open_bolus = started
            r.next_bolus_id = max(r.next_bolus_id, bid + 1)
        elif kind == "bolus_end":
            bid = _int(d.get("bolus_id"))
            ended = bolus_by_id.pop(bid, None)
            if (ended is not None and ended.first_stroke_ms is not None
                    and ended.last_stroke_ms is not None):
                r.bolus_doses.append((ended.first_stroke_ms, ended.last_stroke_ms,
                                      ended.delivered_mu))
            if r.open_bolus is not None and r.open_bolus.bolus_id == bid:
                r.open_bolus = None
        elif kind == "stroke":
            mu = _mu(d.get("amount_u")) or STROKE_MU
            r.strokes.append((t, mu, str(d.get("origin", "schedule"))))
            r.last_stroke_ms = t
            if r.reservoir_mu is not None:
                r.reservoir_mu -= mu
            if d.get("what") == "bolus":
                running = bolus_by_id.get(_int(d.get("bolus_id"), -1))
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
                failed = bolus_by_id.get(_int(d.get("bolus_id"), -1))
                if failed is not None:
                    failed.delivered_mu -= mu
            r.last_stroke_ms = r.strokes[-1][0] if r.strokes else None
        elif kind == "reservoir_change":
            r.reservoir_mu = _mu(d.get("units"))
            r.low_reservoir_alerted = False
        elif kind == "alarm":
            code = str(d.get("code"))
            r.alarms[code] = {**d, "raised_at_ms": t}
            if code == "low_reservoir":
                r.low_reservoir_alerted = True
        elif kind == "alarm_cleared":
            r.alarms.pop(str(d.get("code")), None)
        elif kind == "command":
            _command(r, d, rec.seq)
        elif kind == "meter_bg":
            bg = d.get("bg_mg_dl")
            if isinstance(bg, int | float):
                r.meter_bg = (float(bg), t)
        elif kind == "sensor_glucose":
            r.sensor_seqs.append(_int(d.get("seq")))
            if len(r.sensor_seqs) > 2 * SENSOR_SEQS_KEPT:
                del r.sensor_seqs[:-SENSOR_SEQS_KEPT]
    horizon = now_ms - _DAY_MS
    r.strokes = [s for s in r.strokes if s[0] > horizon]
    r.bolus_doses = [b for b in r.bolus_doses if b[1] > now_ms - 8 * MS_PER_HOUR]
    r.sensor_seqs = r.sensor_seqs[-SENSOR_SEQS_KEPT:]
    return r


def _command(r: Replayed, d: Mapping[str, Any], seq: int) -> None:
    if d.get("replay_of") is not None or not d.get("tracked"):
        return
    src, cid = d.get("src"), d.get("command_id")
    if not isinstance(src, str) or isinstance(cid, bool) or not isinstance(cid, int):
        return
    accepted = d.get("outcome") == "accepted"
    entry = IdemEntry(str(d.get("type")), d.get("payload"), accepted,
                      d.get("reason") if isinstance(d.get("reason"), str) else None,
                      str(d.get("detail", "")), str(d.get("ack_outcome") or "accepted"), seq)
    table = r.idem.setdefault(src, OrderedDict())
    table[cid] = entry
    table.move_to_end(cid)
    while len(table) > IDS_PER_SENDER:
        table.popitem(last=False)
    if accepted:
        r.last_accepted[src] = (cid, entry.ack_outcome)

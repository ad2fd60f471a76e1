"""A pump history as Nightscout treatments and Tidepool data objects.

Pure functions from a sequence of :class:`~pumplab.devices.history.HistoryRecord`
(in ``seq`` order, as a store returns them) to lists of JSON-able dicts:

* :func:`nightscout_treatments` -- documents for Nightscout's ``treatments``
  collection (``eventType``, ``created_at``, ``enteredBy``, ``insulin``, ...).
* :func:`tidepool_data` -- Tidepool data-model ``basal`` and ``bolus`` objects.

Field names follow the projects' own documentation and source, cited where
used (docs/history.md has the mapping tables):

* Nightscout: ``lib/plugins/careportal.js`` (event types and their fields),
  ``lib/profilefunctions.js`` ``getTempBasal`` (``absolute`` in U/h wins over
  ``percent``, which is a change *from* the scheduled rate: ``basal * (100 +
  percent) / 100``; a ``Combo Bolus``'s ``relative`` is the extended rate in
  U/h), ``lib/data/ddata.js`` ``processDurations`` (a ``Temp Basal`` with no
  duration ends the one running), all in nightscout/cgm-remote-monitor; and
  LoopKit's Nightscout client (``NightscoutTreatment.swift``, ``TreatmentType``)
  for ``Suspend Pump``/``Resume Pump``/``BG Check``.
* Tidepool: the data-model documentation, tidepool-org/data-model
  ``device-data/types/basal/{scheduled,temp,suspend}.md``,
  ``device-data/types/bolus/{normal,square,dual-square}.md`` and
  ``device-data/common.md``; the zero-``normal`` rule from tidepool-org/platform
  ``data/types/bolus/normal/normal.go``.

Time: ``clock_ms`` is milliseconds since the Unix epoch on the pump's user
clock.  A pump's clock shows local time without a zone, so it is exported as
if it were UTC (``timezoneOffset: 0``); set the pump clock to UTC to get true
instants.  Durations come from ``device_time_ms``, which never jumps when the
user sets the clock.

Deliberately not done here: I/O and verification (the CLI verifies the file
first), upload to a server, and kinds other than boluses, basal, temp basals,
suspend/resume and meter BG (alarms, settings, clock changes and sensor
glucose are not exported).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from pumplab.devices.history import HistoryRecord, JSONValue
from pumplab.errors import InputError

__all__ = [
    "NIGHTSCOUT_ENTERED_BY",
    "iso_utc",
    "nightscout_treatments",
    "tidepool_data",
]

#: ``enteredBy`` of every Nightscout document pumplab writes.
NIGHTSCOUT_ENTERED_BY: Final = "pumplab"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Insulin amounts computed here (sums of strokes, splits) are rounded to
#: 0.0001 U, far below the x23's smallest increment (0.025 U), so float noise
#: such as 0.30000000000000004 does not leak into exports.
_U_DIGITS: Final = 4
#: Tidepool refuses basal durations above 24 h (data-model basal docs, "Range").
_MAX_TIDEPOOL_DURATION_MS: Final = 86_400_000
_MS_PER_MINUTE: Final = 60_000

Doc = dict[str, JSONValue]


# --------------------------------------------------------------------------
# Time


def iso_utc(clock_ms: int) -> str:
    """``clock_ms`` as ISO 8601 UTC with milliseconds: ``2024-01-01T08:00:00.000Z``."""
    moment = _instant(clock_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


def _device_time(clock_ms: int) -> str:
    """Tidepool ``deviceTime``: the pump's display time, no zone, no fraction."""
    return _instant(clock_ms).strftime("%Y-%m-%dT%H:%M:%S")


def _instant(clock_ms: int) -> datetime:
    try:
        return _EPOCH + timedelta(milliseconds=clock_ms)
    except OverflowError:
        raise InputError(
            f"clock_ms={clock_ms} is not a date", field="clock_ms", allowed="years 1 to 9999"
        ) from None


# --------------------------------------------------------------------------
# Reading record payloads with located errors


class _Fields:
    """A record's data, read with errors that name the record and the field."""

    __slots__ = ("_record", "_source")

    def __init__(self, record: HistoryRecord, source: str | None) -> None:
        self._record = record
        self._source = source

    def fail(self, name: str, message: str, allowed: str) -> InputError:
        return InputError(
            f"{self._record.kind} record: {message}",
            source=self._source,
            row=self._record.seq,
            field=f"data.{name}",
            allowed=allowed,
        )

    def number(self, name: str) -> float:
        value = self._record.data.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(name, f"{value!r} is not a number", "a number")
        return value  # an int stays an int in the output

    def optional_number(self, name: str) -> float | None:
        if self._record.data.get(name) is None:
            return None
        return self.number(name)

    def text(self, name: str) -> str:
        value = self._record.data.get(name)
        if not isinstance(value, str):
            raise self.fail(name, f"{value!r} is not a string", "a string")
        return value

    def optional_text(self, name: str) -> str | None:
        value = self._record.data.get(name)
        return value if isinstance(value, str) else None

    def key(self, name: str) -> str | int:
        value = self._record.data.get(name)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.fail(name, f"{value!r} is not an id", "a string or integer id")
        return value

    def choice(self, name: str, allowed: Sequence[str]) -> str:
        value = self._record.data.get(name)
        if value not in allowed:
            raise self.fail(name, f"{value!r} is not a known value", " | ".join(allowed))
        assert isinstance(value, str)
        return value

    def mapping(self, name: str) -> Mapping[str, JSONValue] | None:
        value = self._record.data.get(name)
        return value if isinstance(value, dict) else None


# --------------------------------------------------------------------------
# Boluses: a bolus_start and whatever tells how much of it went in


@dataclass(frozen=True, slots=True)
class _Bolus:
    start: HistoryRecord
    kind: str  # "normal" | "square" | "dual"
    requested_u: float
    normal_u: float
    square_u: float
    square_duration_ms: int
    delivered_u: float
    finished: bool  # a bolus_end or recovery record says how it ended
    wizard: Mapping[str, JSONValue] | None

    @property
    def delivered_normal_u(self) -> float:
        # The x23 delivers a dual wave's normal part first, then the square
        # part (MiniMed Paradigm user guide, "Dual Wave bolus"), so what went
        # in fills the normal part before the square part.
        return _units(min(self.delivered_u, self.normal_u))

    @property
    def delivered_square_u(self) -> float:
        return _units(max(0.0, self.delivered_u - self.normal_u))

    @property
    def square_elapsed_ms(self) -> int:
        """Time spent on the square part: the programmed duration scaled by the
        fraction delivered (the square part runs at a constant rate)."""
        if self.square_u <= 0:
            return 0
        fraction = min(1.0, self.delivered_square_u / self.square_u)
        return round(self.square_duration_ms * fraction)


def _units(value: float) -> float:
    return round(value, _U_DIGITS)


def _boluses(records: Sequence[HistoryRecord], source: str | None) -> dict[int, _Bolus]:
    """Each bolus_start (by seq) with its outcome, from the records after it.

    Strokes, ends and recoveries apply to the latest bolus_start with their
    bolus_id, so a pump that reuses ids (after a restart, say) is still read
    right.
    """
    latest: dict[str | int, int] = {}  # bolus_id -> seq of its latest bolus_start
    starts: dict[int, HistoryRecord] = {}
    delivered: dict[int, float] = {}
    finished: dict[int, float] = {}
    for record in records:
        fields = _Fields(record, source)
        if record.kind == "bolus_start":
            latest[fields.key("bolus_id")] = record.seq
            starts[record.seq] = record
            delivered[record.seq] = 0.0
        elif record.kind == "stroke" and record.data.get("what") == "bolus":
            seq = latest.get(fields.key("bolus_id"))
            if seq is not None and seq not in finished:
                delivered[seq] += fields.number("amount_u")
        elif record.kind == "bolus_end":
            seq = latest.get(fields.key("bolus_id"))
            if seq is not None:
                finished.setdefault(seq, fields.number("delivered_u"))
        elif record.kind == "recovery" and record.data.get("interrupted_bolus_id") is not None:
            seq = latest.get(fields.key("interrupted_bolus_id"))
            if seq is not None:
                finished.setdefault(seq, fields.number("delivered_u"))
    result: dict[int, _Bolus] = {}
    for seq, start in starts.items():
        fields = _Fields(start, source)
        kind = fields.choice("kind", ("normal", "square", "dual"))
        requested = fields.number("requested_u")
        normal = fields.optional_number("normal_u")
        square = fields.optional_number("square_u") or 0.0
        minutes = fields.optional_number("square_duration_min") or 0.0
        if normal is None:
            normal = requested - square
        done = seq in finished
        result[seq] = _Bolus(
            start=start,
            kind=kind,
            requested_u=requested,
            normal_u=normal,
            square_u=square,
            square_duration_ms=round(minutes * _MS_PER_MINUTE),
            delivered_u=_units(finished[seq] if done else delivered[seq]),
            finished=done,
            wizard=fields.mapping("wizard"),
        )
    return result


# --------------------------------------------------------------------------
# Nightscout


def nightscout_treatments(
    records: Sequence[HistoryRecord],
    *,
    head_note: bool = True,
    source: str | None = None,
) -> list[Doc]:
    """Nightscout ``treatments`` documents for a history, in record order.

    With ``head_note`` a final ``Note`` carries the history's head
    (``pumplab history head SEQ:HASH``), so whoever keeps the upload can later
    check the pump's file with ``pumplab history verify --expect-head``.
    ``source`` (a file name) is used in error messages.
    """
    boluses = _boluses(records, source)
    out: list[Doc] = []
    for record in records:
        fields = _Fields(record, source)
        base: Doc = {"created_at": iso_utc(record.clock_ms), "enteredBy": NIGHTSCOUT_ENTERED_BY}
        if record.kind == "bolus_start":
            out.append(base | _nightscout_bolus(boluses[record.seq]))
        elif record.kind == "temp_basal_start":
            doc = base | {
                "eventType": "Temp Basal",
                "duration": fields.number("duration_min"),
            }
            rate = fields.optional_number("rate_u_per_h")
            percent = fields.optional_number("percent")
            if rate is not None:
                doc["absolute"] = rate
                doc["rate"] = rate
            elif percent is not None:
                # Nightscout's percent is a change from the scheduled rate.
                doc["percent"] = percent - 100.0
            else:
                raise fields.fail("rate_u_per_h", "neither a rate nor a percent", "one of them")
            out.append(doc)
        elif record.kind == "temp_basal_end":
            if record.data.get("reason") != "completed":
                # A Temp Basal without duration ends the running one
                # (ddata.js processDurations); a completed one ends by itself.
                out.append(base | {"eventType": "Temp Basal", "duration": 0})
        elif record.kind in ("suspend", "resume"):
            event = "Suspend Pump" if record.kind == "suspend" else "Resume Pump"
            doc = base | {"eventType": event}
            reason = fields.optional_text("reason")
            if reason:
                doc["reason"] = reason
            out.append(doc)
        elif record.kind == "meter_bg":
            out.append(
                base
                | {
                    "eventType": "BG Check",
                    "glucose": fields.number("bg_mg_dl"),
                    "glucoseType": "Finger",
                    "units": "mg/dl",
                }
            )
    if head_note and records:
        head = records[-1]
        out.append(
            {
                "created_at": iso_utc(head.clock_ms),
                "enteredBy": NIGHTSCOUT_ENTERED_BY,
                "eventType": "Note",
                "notes": f"pumplab history head {head.seq}:{head.hash}",
            }
        )
    return out


def _nightscout_bolus(bolus: _Bolus) -> Doc:
    carbs = _wizard_number(bolus.wizard, "carbs_g")
    bg = _wizard_number(bolus.wizard, "bg_mg_dl")
    doc: Doc = {}
    if bolus.kind == "normal":
        if bolus.wizard is None:
            doc["eventType"] = "Bolus"
        elif carbs:
            doc["eventType"] = "Meal Bolus"
        else:
            doc["eventType"] = "Correction Bolus"
        doc["insulin"] = bolus.delivered_normal_u
    else:
        # Square and dual wave: careportal's "Combo Bolus".  insulin is the part
        # given now; relative is the extended rate (U/h) Nightscout adds to
        # basal for `duration` minutes (profilefunctions.js getTempBasal).
        doc["eventType"] = "Combo Bolus"
        doc["insulin"] = bolus.delivered_normal_u
        doc["enteredinsulin"] = _units(bolus.requested_u)
        split_now = round(100 * bolus.normal_u / bolus.requested_u) if bolus.requested_u else 0
        doc["splitNow"] = split_now
        doc["splitExt"] = 100 - split_now
        elapsed_min = bolus.square_elapsed_ms / _MS_PER_MINUTE
        doc["duration"] = round(elapsed_min, 3)
        hours = bolus.square_duration_ms / 3_600_000
        doc["relative"] = _units(bolus.square_u / hours) if hours > 0 else 0.0
    if carbs:
        doc["carbs"] = carbs
    if bg is not None:
        doc["glucose"] = bg
        doc["glucoseType"] = "Finger"
        doc["units"] = "mg/dl"
    if bolus.delivered_u < bolus.requested_u:
        state = "stopped" if bolus.finished else "still running when the history ends"
        doc["notes"] = (
            f"requested {_units(bolus.requested_u)} U, delivered {bolus.delivered_u} U ({state})"
        )
    return doc


def _wizard_number(wizard: Mapping[str, JSONValue] | None, name: str) -> float | None:
    if wizard is None:
        return None
    value = wizard.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


# --------------------------------------------------------------------------
# Tidepool


def tidepool_data(
    records: Sequence[HistoryRecord],
    *,
    device_id: str | None = None,
    source: str | None = None,
) -> list[Doc]:
    """Tidepool ``basal`` and ``bolus`` objects for a history, in time order.

    Basal segments are rebuilt from ``basal_rate`` records: each lasts until
    the next ``basal_rate`` record, the last one until the last record of the
    history; segments over 24 h are split (Tidepool's limit), empty ones
    dropped.  ``device_id`` defaults to ``pumplab-<serial>`` from the first
    ``boot`` record.
    """
    if device_id is None:
        device_id = _device_id(records)
    common: Doc = {"deviceId": device_id, "timezoneOffset": 0, "conversionOffset": 0}
    out: list[tuple[int, int, Doc]] = []  # (device time, seq, doc) for ordering
    boluses = _boluses(records, source)
    for bolus in boluses.values():
        doc = _tidepool_bolus(bolus) | _times(bolus.start.clock_ms) | common
        out.append((bolus.start.device_time_ms, bolus.start.seq, doc))
    for start, duration_ms, basal in _basal_segments(records, source):
        doc = basal | common
        # Split at Tidepool's 24 h limit; each piece starts where the last ended.
        offset = 0
        while True:
            piece = min(duration_ms - offset, _MAX_TIDEPOOL_DURATION_MS)
            part = doc | _times(start.clock_ms + offset) | {"duration": piece}
            out.append((start.device_time_ms + offset, start.seq, part))
            offset += piece
            if offset >= duration_ms:
                break
    out.sort(key=lambda item: (item[0], item[1], item[2]["type"] != "basal"))
    return [doc for _, _, doc in out]


def _times(clock_ms: int) -> Doc:
    return {"time": iso_utc(clock_ms), "deviceTime": _device_time(clock_ms)}


def _device_id(records: Sequence[HistoryRecord]) -> str:
    for record in records:
        if record.kind == "boot":
            serial = record.data.get("serial")
            if isinstance(serial, str) and serial:
                return f"pumplab-{serial}"
    return "pumplab-unknown"


def _tidepool_bolus(bolus: _Bolus) -> Doc:
    doc: Doc = {"type": "bolus"}
    normal = bolus.delivered_normal_u
    square = bolus.delivered_square_u
    if bolus.kind == "normal":
        doc["subType"] = "normal"
        doc["normal"] = normal
        if normal < bolus.normal_u:
            doc["expectedNormal"] = _units(bolus.normal_u)
        return doc
    doc["subType"] = "square" if bolus.kind == "square" else "dual/square"
    if bolus.kind == "dual":
        doc["normal"] = normal
        if normal < bolus.normal_u:
            doc["expectedNormal"] = _units(bolus.normal_u)
    doc["extended"] = square
    doc["duration"] = bolus.square_elapsed_ms
    if square < bolus.square_u:
        doc["expectedExtended"] = _units(bolus.square_u)
        doc["expectedDuration"] = bolus.square_duration_ms
    return doc


# "stopped": delivery halted by the pump itself (an alarm, a limit reached, a
# dead battery) — no insulin flows, which Tidepool models as a suspend.
_DELIVERY_TYPES: Final = {"schedule": "scheduled", "temp": "temp", "suspended": "suspend",
                          "stopped": "suspend"}


def _basal_segments(
    records: Sequence[HistoryRecord], source: str | None
) -> list[tuple[HistoryRecord, int, Doc]]:
    """(start record, duration ms, basal doc without times) per basal_rate record."""
    if not records:
        return []
    end_ms = records[-1].device_time_ms
    rates = [record for record in records if record.kind == "basal_rate"]
    segments: list[tuple[HistoryRecord, int, Doc]] = []
    scheduled: Doc | None = None  # the scheduled basal a temp or suspend suppresses
    temp_percent: float | None = None
    percents: dict[int, float | None] = {}
    for record in records:
        # Which temp basal (by percent) each basal_rate belongs to.
        if record.kind == "temp_basal_start":
            temp_percent = _Fields(record, source).optional_number("percent")
        elif record.kind == "basal_rate":
            percents[record.seq] = temp_percent
    for index, record in enumerate(rates):
        fields = _Fields(record, source)
        origin = fields.choice("source", tuple(_DELIVERY_TYPES))
        delivery = _DELIVERY_TYPES[origin]
        until = rates[index + 1].device_time_ms if index + 1 < len(rates) else end_ms
        duration_ms = until - record.device_time_ms
        doc: Doc = {"type": "basal", "deliveryType": delivery}
        if delivery == "scheduled":
            doc["rate"] = fields.number("rate_u_per_h")
            pattern = record.data.get("pattern")
            if isinstance(pattern, str) and pattern:
                doc["scheduleName"] = pattern
            scheduled = dict(doc)
        elif delivery == "temp":
            doc["rate"] = fields.number("rate_u_per_h")
            percent = percents.get(record.seq)
            if percent is not None:
                # Tidepool's percent is a fraction of the active rate (temp.md).
                doc["percent"] = round(percent / 100.0, 6)
            if scheduled is not None:
                doc["suppressed"] = dict(scheduled)
        elif scheduled is not None:
            doc["suppressed"] = dict(scheduled)
        if duration_ms > 0:
            segments.append((record, duration_ms, doc))
    return segments

"""Property tests: whatever is pressed, sent, injected or restarted, no limit is exceeded.

A Hypothesis state machine drives one pump with key presses (operator helpers and raw
keys), radio commands from every kind of sender (valid ones, and malformed ones with huge
integers, non-JSON values, odd strings and deep nesting), near-zero and chained zero temp
basals, suspends renewed as soon as they end, user-clock changes to extreme values, clock
advances, occlusions and restarts.  After every step the invariants are checked against
the **motor record** — the independent record of insulin that reached the patient — and
against what the test itself did, never against the pump's own counters:

* the pump never stops working on its own: no exception escapes it and it never halts
  (its history never fails here, so a halt is a bug that would silently stop insulin);
* every bolus in the motor record (grouped by the bolus id the motor was given) stays
  within the max bolus in force and within what its ``bolus_start`` record requested —
  and has such a record, written before its first stroke;
* basal never exceeds the max basal rate over 15-min, 1-h and 3-h windows;
* secure mode also: max per rolling hour and day, the remote's hourly cap, max active
  insulin for every automated (controller) stroke;
* secure mode, **low delivery**: at every 5-minute mark, if the insulin in the motor record
  over the alarm period is below 1/4 of the least the schedule can have asked for (even
  with two strokes' slack), a no-insulin alarm was raised within that period;
* secure mode, **radio withholding**: every stretch without a single stroke, once the parts
  the test itself caused are taken out (a suspend or temp basal set on the keys at a moment
  the test pressed keys, an occlusion the test injected until it cleared the alarm, a limit
  the motor record shows was reached, a reservoir the motor record shows was emptied —
  counted from the fill the pump recorded — until the next fill), lasts at most the
  radio-withholding limit plus 25 minutes (two stroke spacings at a quarter of the slowest
  scheduled rate: the slowest delivery the air may impose without it counting as
  withholding).

What a stroke is *for* (bolus id, basal, origin) comes with the stroke from the motor;
the settings in force and the records of key-initiated holds come from the pump's history
(configuration and claims the test checks against its own key presses), never insulin.
Example counts are small by default; the slow-marked tests run many more.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pumpkit import APP, ATTACKER, CGM, CLINIC, METER, REMOTE, Bench, bench

from pumplab.clock import MS_PER_HOUR, MS_PER_MINUTE
from pumplab.devices.history import HistoryRecord
from pumplab.devices.pump import Key, PumpPhase, PumpSettings, settings_from_json, ui
from pumplab.link.messages import (
    BolusCommand,
    ButtonPressCommand,
    CancelBolusCommand,
    CancelTempBasalCommand,
    ChangeSettingCommand,
    Message,
    MeterReading,
    ReadHistoryCommand,
    ReadStatusCommand,
    RemoteBolusCommand,
    RemoteSuspendCommand,
    ResumeCommand,
    SensorBackfill,
    SensorReading,
    SetClockCommand,
    SuspendCommand,
    TempBasalCommand,
    WakeupCommand,
)
from pumplab.therapy import Dose, insulin_on_board

# Small limits, so that random play reaches them.  Basal rates ≥ 0.5 U/h: a stroke at least
# every 3 minutes while the schedule runs.
SETTINGS = PumpSettings(
    max_bolus_u=6.0, max_basal_u_per_h=3.0, pattern_standard=((0, 0.5), (480, 1.2)),
    pattern_a=((0, 0.8),), max_hourly_u=4.0, max_daily_u=30.0, max_iob_u=3.5,
    remote_max_u_per_h=2.0, no_delivery_alarm_min=120, max_radio_withhold_min=60,
    max_radio_withhold_per_day_min=150, easy_bolus_enabled=True, easy_bolus_step_u=0.5,
    remote_enabled=True, remote_ids=("123456",), meter_ids=("C0FFEE",),
    sensor_enabled=True, sensor_id="SN1234",
)
STROKE_MU = 25
#: The pump's low-delivery check runs every 5 minutes of device time.
CHECK_MS = 5 * MS_PER_MINUTE
#: A stretch without strokes may exceed the radio-withholding limit by two stroke spacings
#: at a quarter of the slowest scheduled rate (0.5 U/h / 4 = 0.125 U/h: one stroke per
#: 12 min), the slowest delivery the air may impose without it being withholding.
GAP_SLACK_MS = 25 * MS_PER_MINUTE

# ---------------------------------------------------------------------- strategies

def _deep(n: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(n):
        value = [value]
    return value


#: Values no field should hold: huge and negative ints, non-finite floats, non-JSON
#: objects, key-like dict names, odd strings, deep nesting (200 levels: beyond every limit
#: of the pump and the history, within what Hypothesis can print when it reports a failure;
#: test_bad_input.py sends 3000).
absurd = st.sampled_from([
    2**53, 2**53 - 1, 2**60, -(2**63), 10**400, -1, 1e308, float("nan"), float("inf"),
    object(), b"secret", {"secret_key": 1}, {"private": [1]}, frozenset({1}), _deep(40),
    _deep(200), "\ud800", "x" * 5000, "\x00", "ACT\n", "", None, True, [], {},
])
#: Positive amounts below one 0.025-U stroke: they pass "> 0", and some round to zero strokes
#: on the pump's grid (issue 9: 1e-10 U once halted the pump and stopped all insulin).
tiny = st.one_of(
    st.sampled_from([5e-324, 1e-323, 2.2250738585072014e-308, 1e-300, 1e-10, 1e-9, 1e-7,
                     1e-6, 0.0125, 0.024999999]),
    st.floats(min_value=0.0, max_value=1e-6, exclude_min=True, allow_subnormal=True),
)
amounts = st.one_of(
    st.integers(1, 320).map(lambda n: n * 0.025),
    st.sampled_from([0.0, -1.0, 1.01, 1e9, 30.0, "2"]),
    tiny,
    absurd,
)
rates = st.one_of(st.sampled_from([None, 0.0, 0.025, 0.5, 1.0, 2.0, 3.0, 3.05, 40.0]), tiny,
                  absurd)
percents = st.one_of(st.sampled_from([None, 0, 1, 50, 150, 200, 250]), absurd)
durations = st.one_of(st.sampled_from([30, 60, 90, 120, 240, 1440, 45, 0]), absurd)
user_clocks = st.one_of(
    st.integers(0, 3 * 24 * MS_PER_HOUR).map(lambda ms: 1_704_067_200_000 + ms),
    st.sampled_from([0, -1, 946_684_800_000 - 1, 946_684_800_000, 4_102_444_800_000 - 1,
                     4_102_444_800_000, 10**15, 2**53 - 1, 2**53, 2**60]),
    absurd,
)
setting_changes = st.tuples(
    st.one_of(st.sampled_from(["max_bolus_u", "max_basal_u_per_h", "max_hourly_u", "max_iob_u",
                               "remote.enabled", "remote.ids", "no_such_setting",
                               "active_pattern", "max_radio_withhold_min",
                               "pattern_standard"]), absurd),
    st.one_of(st.sampled_from([0.5, 2.0, 10.0, 25.0, 35.0, 60, 90, True, "A", "B", ["654321"],
                               [[0, 0.5], [480, 1.2]]]),
              st.floats(allow_nan=True, allow_infinity=True), absurd),
)
#: How the test picks a command id: the sender's next one (the usual case), the one just
#: used (a duplicate), an old one (stale), or an absurd value.
id_kinds = st.sampled_from(["next", "next", "next", "repeat", "stale", "absurd"])


@st.composite
def radio_messages(draw: st.DrawFn) -> tuple[Message, str]:
    """(message, how its command id is chosen) — any kind, valid or not."""
    kind = draw(st.integers(0, 16))
    ids = draw(id_kinds)
    if kind == 0:
        return BolusCommand(draw(amounts)), ids
    if kind == 1:
        return TempBasalCommand(draw(rates), draw(percents), draw(durations)), ids
    if kind == 2:
        return SuspendCommand(), ids
    if kind == 3:
        return ResumeCommand(), ids
    if kind == 4:
        return CancelBolusCommand(), ids
    if kind == 5:
        return CancelTempBasalCommand(), ids
    if kind == 6:
        return RemoteBolusCommand(draw(amounts)), ids
    if kind == 7:
        return RemoteSuspendCommand(), ids
    if kind == 8:
        name, value = draw(setting_changes)
        return ChangeSettingCommand(setting=name, value=value), "none"
    if kind == 9:
        button = draw(st.one_of(st.sampled_from(["ACT", "ESC", "UP", "DOWN", "B", "X"]), absurd))
        return ButtonPressCommand(button), "none"
    if kind == 10:
        return WakeupCommand(draw(st.one_of(st.sampled_from([1, 10, 30, 0, 99]), absurd))), "none"
    if kind == 11:
        return SetClockCommand(clock_ms=draw(user_clocks)), "none"
    if kind == 12:
        bg = draw(st.one_of(st.sampled_from([40.0, 120.0, 250.0, -3.0]), absurd))
        return MeterReading(bg, draw(st.one_of(st.just(0), absurd))), "none"
    if kind == 13:
        seq = draw(st.one_of(st.integers(0, 50), absurd))
        return SensorReading(seq, draw(st.one_of(st.just(0), absurd)),
                             draw(st.one_of(st.just(120.0), absurd))), "none"
    if kind == 14:
        readings = draw(st.one_of(st.just(()), absurd,
                                  st.just(tuple(SensorReading(i, 0, 100.0) for i in range(300)))))
        return SensorBackfill(readings), "none"
    if kind == 15:
        return ReadHistoryCommand(draw(st.one_of(st.integers(0, 10), absurd)),
                                  draw(st.one_of(st.integers(1, 5), absurd))), "none"
    return ReadStatusCommand(), "none"


senders = st.sampled_from([APP, APP, REMOTE, CLINIC, ATTACKER])
#: Minutes that pass after an action (people and controllers do not act back to back).
pauses = st.integers(0, 30)


# ---------------------------------------------------------------------- what the test knows


@dataclass
class Truth:
    """What the test itself did (times in device ms) and what it has read so far."""

    key_times: set[int] = field(default_factory=set)  # every moment the test pressed keys
    #: [occluded, fixed, alarm cleared on the keys] per injected occlusion
    occlusions: list[list[int | None]] = field(default_factory=list)
    times: list[int] = field(default_factory=list)  # motor stroke times, in order
    prefix: list[int] = field(default_factory=lambda: [0])  # prefix sums of stroke mU
    remote_times: list[int] = field(default_factory=list)
    basal_times: list[int] = field(default_factory=list)
    limit_excuses: list[tuple[int, int]] = field(default_factory=list)
    checked: int = 0  # motor strokes already checked
    seq_read: int = 0  # history records already read
    timeline: list[tuple[int, int, PumpSettings]] = field(default_factory=list)
    snapshot: dict[str, Any] | None = None
    alarm_times: list[int] = field(default_factory=list)  # no_insulin alarm records
    key_holds: list[list[int | None]] = field(default_factory=list)  # [start, end]
    open_hold: dict[str, list[int | None]] = field(default_factory=dict)
    bolus_start: dict[int, HistoryRecord] = field(default_factory=dict)
    first_stroke_seq: dict[int, int] = field(default_factory=dict)
    grid_done: int = 0  # low-delivery checked up to this 5-min mark
    #: (device ms, mU) of each reservoir fill the pump recorded (the initial one at boot)
    fills: list[tuple[int, int]] = field(default_factory=list)
    #: device ms at which the motor record shows the reservoir emptied
    empty_times: list[int] = field(default_factory=list)


class PumpMachine(RuleBasedStateMachine):
    """One pump under random use and abuse; invariants read the motor record."""

    mode = "secure"

    def __init__(self) -> None:
        super().__init__()
        self.b: Bench = bench(self.mode, settings=SETTINGS)
        self.t = Truth()
        self.t.timeline.append((0, 0, SETTINGS))
        self.next_id: dict[str, int] = {}

    # ------------------------------------------------------------------ helpers

    @property
    def now(self) -> int:
        return self.b.clock.now_ms

    def _keys(self) -> None:
        self.t.key_times.add(self.now)

    def _cid(self, src: str, how: str) -> object:
        last = self.next_id.get(src, 0)
        if how == "next":
            self.next_id[src] = last + 1
            return last + 1
        if how == "repeat":
            return last
        if how == "stale":
            return max(0, last - 3)
        if how == "absurd":
            return 2**60
        return None

    def _with_id(self, message: Message, src: str, how: str) -> Message:
        cid = self._cid(src, how)
        if cid is None:
            return message
        return _replace_cid(message, cid)

    def _air(self, src: str, message: Message) -> None:
        if self.mode == "legacy":  # an attacker wakes a legacy radio first
            self.b.send(src, WakeupCommand(30))
        self.b.send(src, message)

    def _wait_until_resumed(self, limit_min: int) -> None:
        for _ in range(limit_min):
            if not self.b.pump.status().suspended:
                return
            self.b.run_min(1)

    # ------------------------------------------------------------------ actions

    @rule(minutes=st.integers(1, 200))
    def advance(self, minutes: int) -> None:
        self.b.run_min(minutes)

    @rule(units=st.integers(1, 280).map(lambda n: n * 0.025), pause=pauses)
    def key_bolus(self, units: float, pause: int) -> None:
        self._keys()
        ui.manual_bolus(self.b.pump, units)
        self.b.run_min(pause)

    @rule(carbs=st.integers(0, 150), bg=st.one_of(st.none(), st.integers(40, 400)))
    def key_wizard(self, carbs: int, bg: int | None) -> None:
        self._keys()
        ui.wizard_bolus(self.b.pump, carbs, bg)

    @rule(steps=st.integers(1, 14))
    def key_easy(self, steps: int) -> None:
        self._keys()
        ui.easy_bolus(self.b.pump, steps)

    @rule(units=st.integers(1, 200).map(lambda n: n * 0.025), minutes=st.sampled_from([30, 90]))
    def key_square(self, units: float, minutes: int) -> None:
        self._keys()
        ui.square_bolus(self.b.pump, units, minutes)

    @rule(now=st.integers(0, 80).map(lambda n: n * 0.025),
          square=st.integers(1, 80).map(lambda n: n * 0.025))
    def key_dual(self, now: float, square: float) -> None:
        self._keys()
        ui.dual_bolus(self.b.pump, now, square, 30)

    @rule(rate=st.sampled_from([0.0, 0.5, 1.0, 2.5, 3.0]), minutes=st.sampled_from([30, 120]))
    def key_temp(self, rate: float, minutes: int) -> None:
        self._keys()
        ui.set_temp_basal(self.b.pump, rate_u_per_h=rate, duration_min=minutes)

    @rule()
    def key_suspend(self) -> None:
        self._keys()
        ui.suspend(self.b.pump)

    @rule()
    def key_resume(self) -> None:
        self._keys()
        ui.resume(self.b.pump)

    @rule()
    def key_cancel_bolus(self) -> None:
        self._keys()
        ui.cancel_bolus(self.b.pump)

    @rule()
    def key_clear_alarms(self) -> None:
        self._keys()
        ui.clear_all_alarms(self.b.pump)

    @rule(keys=st.lists(st.sampled_from(list(Key)), min_size=1, max_size=12))
    def raw_keys(self, keys: list[Key]) -> None:
        self._keys()
        for key in keys:
            self.b.pump.press(key)

    @rule(hour=st.integers(0, 23), minute=st.integers(0, 59))
    def key_clock(self, hour: int, minute: int) -> None:
        self._keys()
        ui.set_time(self.b.pump, hour, minute)

    @rule(accept=st.booleans())
    def key_pending(self, accept: bool) -> None:
        self._keys()
        ui.answer_pending_change(self.b.pump, accept)

    @rule(src=st.sampled_from([APP, REMOTE, CLINIC, CGM, METER, ATTACKER]),
          message=radio_messages())
    def radio_garbage(self, src: str, message: tuple[Message, str]) -> None:
        msg, how = message
        self.b.send(src, self._with_id(msg, src, how))

    @rule(src=senders, amount=st.one_of(st.integers(1, 320).map(lambda n: n * 0.025), tiny),
          how=id_kinds, pause=pauses)
    def radio_bolus(self, src: str, amount: float, how: str, pause: int) -> None:
        self._air(src, self._with_id(BolusCommand(amount), src, how))
        self.b.run_min(pause)

    @rule(amount=st.one_of(st.integers(1, 120).map(lambda n: n * 0.025), tiny), how=id_kinds,
          pause=pauses)
    def remote_bolus(self, amount: float, how: str, pause: int) -> None:
        self.b.send(REMOTE, self._with_id(RemoteBolusCommand(amount), REMOTE, how))
        self.b.run_min(pause)

    @rule(src=senders, rate=st.sampled_from([0.0, 0.025, 0.5, 2.0, 3.0, 5.0, 35.0, None]),
          percent=st.sampled_from([0, 1, 50, 150, 200]),
          minutes=st.sampled_from([30, 60, 120, 240, 1440]), how=id_kinds, pause=pauses)
    def radio_temp(self, src: str, rate: float | None, percent: int, minutes: int,
                   how: str, pause: int) -> None:
        msg = TempBasalCommand(rate, None if rate is not None else percent, minutes)
        self._air(src, self._with_id(msg, src, how))
        self.b.run_min(pause)

    @rule(rate=st.sampled_from([0.025, 0.05, 0.1, None]),
          percent=st.sampled_from([1, 5, 10, 20, 24]),
          minutes=st.sampled_from([60, 120, 240, 1440]), repeats=st.integers(1, 4),
          gap=st.sampled_from([0, 1, 5, 31]))
    def radio_trickle(self, rate: float | None, percent: int, minutes: int, repeats: int,
                      gap: int) -> None:
        """A controller (or an attacker with its address) keeps insulin to a trickle."""
        for _ in range(repeats):
            msg = TempBasalCommand(rate, None if rate is not None else percent, minutes)
            self._air(APP, self._with_id(msg, APP, "next"))
            self.b.run_min(min(minutes, 240) + gap)

    @rule(repeats=st.integers(2, 5), minutes=st.sampled_from([30, 60]),
          gap=st.sampled_from([0, 1, 5, 20, 29, 31]), percent=st.booleans())
    def radio_chain(self, repeats: int, minutes: int, gap: int, percent: bool) -> None:
        """Zero temp basals one after the other, a few minutes apart."""
        for _ in range(repeats):
            msg = TempBasalCommand(None if percent else 0.0, 0 if percent else None, minutes)
            self._air(APP, self._with_id(msg, APP, "next"))
            self.b.run_min(minutes + gap)

    @rule(repeats=st.integers(2, 4), gap=st.sampled_from([0, 1, 10, 29, 31]),
          src=st.sampled_from([APP, REMOTE]))
    def radio_resuspend(self, repeats: int, gap: int, src: str) -> None:
        """Suspend from the air again as soon as (or soon after) the pump resumes itself."""
        for _ in range(repeats):
            msg: Message = SuspendCommand() if src == APP else RemoteSuspendCommand()
            self._air(src, self._with_id(msg, src, "next"))
            self._wait_until_resumed(200)
            self.b.run_min(gap)

    @rule(src=senders, which=st.sampled_from(["suspend", "resume", "remote_suspend",
                                              "cancel_temp", "cancel_bolus"]), how=id_kinds)
    def radio_stop_start(self, src: str, which: str, how: str) -> None:
        message: Message = {"suspend": SuspendCommand, "resume": ResumeCommand,
                            "remote_suspend": RemoteSuspendCommand,
                            "cancel_temp": CancelTempBasalCommand,
                            "cancel_bolus": CancelBolusCommand}[which]()
        dst = REMOTE if which == "remote_suspend" else src
        self._air(dst, self._with_id(message, dst, how))

    @rule(src=senders, name=st.sampled_from(["max_bolus_u", "max_basal_u_per_h"]),
          value=st.sampled_from([1.0, 4.0, 10.0, 25.0, 1.5, 5.0, 35.0]))
    def radio_setting(self, src: str, name: str, value: float) -> None:
        self._air(src, ChangeSettingCommand(setting=name, value=value))

    @rule(clock_ms=user_clocks, accept=st.booleans())
    def radio_clock(self, clock_ms: Any, accept: bool) -> None:
        """The user clock set from the air to anything, then (secure) accepted on the keys."""
        if self.mode == "legacy":
            self._air(ATTACKER, SetClockCommand(clock_ms=clock_ms))
        else:
            self.b.send(CLINIC, SetClockCommand(clock_ms=clock_ms))
            self._keys()
            ui.answer_pending_change(self.b.pump, accept)

    @rule()
    def occlude(self) -> None:
        self.b.motor.occlude()
        if not self.t.occlusions or self.t.occlusions[-1][1] is not None:
            self.t.occlusions.append([self.now, None, None])

    @rule()
    def unocclude(self) -> None:
        self.b.motor.clear_occlusion()
        if self.t.occlusions and self.t.occlusions[-1][1] is None:
            self.t.occlusions[-1][1] = self.now

    @rule()
    def restart(self) -> None:
        self.b.restart()

    # ------------------------------------------------------------------ the truth

    def _read_history(self) -> None:
        """Extend what the test knows from the records written since the last step."""
        t = self.t
        for r in self.b.history.records(t.seq_read):
            t.seq_read = r.seq
            d = r.data
            if r.kind == "boot" and isinstance(d.get("settings"), dict):
                t.snapshot = dict(d["settings"])  # type: ignore[arg-type]
                t.timeline.append((r.device_time_ms, r.seq, settings_from_json(t.snapshot)))
            elif r.kind == "setting_change" and t.snapshot is not None:
                t.snapshot[str(d["setting"])] = d["new"]
                t.timeline.append((r.device_time_ms, r.seq, settings_from_json(t.snapshot)))
            elif r.kind == "reservoir_change":
                units = d["units"]
                assert isinstance(units, int | float)
                t.fills.append((r.device_time_ms, round(units * 1000)))
            elif r.kind == "alarm" and d["code"] == "no_insulin":
                t.alarm_times.append(r.device_time_ms)
            elif r.kind == "bolus_start":
                bid = d["bolus_id"]
                assert isinstance(bid, int)
                t.bolus_start[bid] = r
            elif r.kind == "stroke" and isinstance(d.get("bolus_id"), int):
                t.first_stroke_seq.setdefault(d["bolus_id"], r.seq)  # type: ignore[arg-type]
            self._key_hold(r)

    def _key_hold(self, r: HistoryRecord) -> None:
        """A hold the pump claims came from its keys counts only if the test pressed keys
        at that very moment (or it is the auto-off the person configured on the keys)."""
        t, d, at = self.t, r.data, r.device_time_ms
        pressed = at in t.key_times
        if r.kind == "suspend":
            if t.open_hold.get("suspend") is not None:
                t.open_hold.pop("suspend")[1] = at
            if (pressed and d.get("source") == "buttons") or d.get("source") == "auto_off":
                hold: list[int | None] = [at, None]
                t.key_holds.append(hold)
                t.open_hold["suspend"] = hold
        elif r.kind == "resume" and t.open_hold.get("suspend") is not None:
            t.open_hold.pop("suspend")[1] = at
        elif r.kind == "temp_basal_start":
            if t.open_hold.get("temp") is not None:
                t.open_hold.pop("temp")[1] = at
            if pressed and d.get("source") == "buttons":
                hold = [at, None]
                t.key_holds.append(hold)
                t.open_hold["temp"] = hold
        elif r.kind == "temp_basal_end" and t.open_hold.get("temp") is not None:
            t.open_hold.pop("temp")[1] = at
        elif r.kind == "alarm_cleared" and d.get("code") == "no_delivery" and pressed:
            # An injected occlusion holds delivery until the test fixed it *and* the
            # NO DELIVERY alarm was cleared on the keys (at a moment the test pressed them).
            for occ in t.occlusions:
                if occ[1] is not None and occ[1] <= at and occ[2] is None:
                    occ[2] = at

    def _in_force(self, at: int) -> PumpSettings:
        times = [x for x, _, _ in self.t.timeline]
        return self.t.timeline[max(0, bisect.bisect_right(times, at) - 1)][2]

    def _loosest(self, t0: int, t1: int, name: str) -> float:
        """The largest value setting ``name`` had at any time in [t0, t1]."""
        times = [x for x, _, _ in self.t.timeline]
        i = max(0, bisect.bisect_right(times, t0) - 1)
        j = bisect.bisect_right(times, t1)
        return max(float(getattr(s, name)) for _, _, s in self.t.timeline[i:max(j, i + 1)])

    def _slowest_rate_mu(self, t0: int, t1: int) -> int:
        """The lowest basal rate any pattern active in [t0, t1] schedules (mU/h)."""
        times = [x for x, _, _ in self.t.timeline]
        i = max(0, bisect.bisect_right(times, t0) - 1)
        j = bisect.bisect_right(times, t1)
        return min(round(seg.value * 1000) for _, _, s in self.t.timeline[i:max(j, i + 1)]
                   for seg in s.active_schedule.segments)

    def _delivered(self, t0: int, t1: int) -> int:
        """mU in the motor record in (t0, t1]."""
        times = self.t.times
        return (self.t.prefix[bisect.bisect_right(times, t1)]
                - self.t.prefix[bisect.bisect_right(times, t0)])

    @invariant()
    def the_pump_keeps_working(self) -> None:
        assert self.b.pump.phase is PumpPhase.RUNNING, (
            f"the pump stopped working: {[a.code.value for a in self.b.pump.alarms]}")

    @invariant()
    def limits_hold_on_the_motor_record(self) -> None:
        self._read_history()
        strokes = self.b.motor.strokes
        secure = self.mode == "secure"
        t = self.t
        min_hourly = min(round(s.max_hourly_u * 1000) for _, _, s in t.timeline)
        min_daily = min(round(s.max_daily_u * 1000) for _, _, s in t.timeline)
        for i in range(t.checked, len(strokes)):
            s = strokes[i]
            at = s.at_ms
            t.times.append(at)
            t.prefix.append(t.prefix[-1] + STROKE_MU)
            hour = self._delivered(at - MS_PER_HOUR, at)
            day = self._delivered(at - 24 * MS_PER_HOUR, at)
            if secure:
                assert hour <= round(self._loosest(at, at, "max_hourly_u") * 1000), (
                    f"{hour} mU in the hour to {at}")
                assert day <= round(self._loosest(at, at, "max_daily_u") * 1000), (
                    f"{day} mU in the 24 h to {at}")
                if s.source.origin == "remote":
                    t.remote_times.append(at)
                    k = len(t.remote_times) - bisect.bisect_right(t.remote_times,
                                                                  at - MS_PER_HOUR)
                    assert k * STROKE_MU <= round(
                        self._loosest(at, at, "remote_max_u_per_h") * 1000), (
                        f"{k} remote strokes in the hour to {at}")
                if s.source.origin == "app":
                    self._check_iob(i)
            # Close to a rolling limit the pump may legitimately hold basal back.
            if hour + STROKE_MU > min_hourly:
                t.limit_excuses.append((at, at + MS_PER_HOUR))
            if day + STROKE_MU > min_daily:
                t.limit_excuses.append((at, at + 24 * MS_PER_HOUR))
            if s.source.what == "basal":
                t.basal_times.append(at)
            self._note_empty_reservoir(at)
        self._check_basal_rate()
        self._check_boluses()
        if secure:  # checked at every step, strokes or not: a total stop must fail
            self._check_low_delivery_alarm()
            self._check_radio_withholding()
        t.checked = len(strokes)

    def _check_iob(self, i: int) -> None:
        strokes = self.b.motor.strokes
        at = strokes[i].at_ms
        curve = self._in_force(at).active_insulin_curve
        doses = [Dose(p.at_ms / MS_PER_MINUTE, p.amount_u) for p in strokes[:i]
                 if p.at_ms > at - 8 * MS_PER_HOUR]
        iob = insulin_on_board(doses, at / MS_PER_MINUTE, curve)
        limit = self._loosest(at, at, "max_iob_u")
        assert iob + 0.025 <= limit + 1e-6, f"automated stroke at {at} with {iob:.3f} U on board"

    def _check_basal_rate(self) -> None:
        times = self.t.basal_times
        start = max(0, bisect.bisect_left(times, (self.t.times[-1] if self.t.times else 0)
                                          - 4 * MS_PER_HOUR))
        for i in range(start, len(times)):
            for window in (15 * MS_PER_MINUTE, MS_PER_HOUR, 3 * MS_PER_HOUR):
                t0 = times[i]
                count = bisect.bisect_right(times, t0 + window) - i
                rate = self._loosest(t0 - window, t0 + window, "max_basal_u_per_h")
                allowed = 1 + rate * 40 * window / MS_PER_HOUR
                assert count <= allowed + 1e-9, f"{count} basal strokes in {window} ms from {t0}"

    def _check_boluses(self) -> None:
        """Every bolus the motor delivered, by the bolus id the motor was given."""
        per_bolus: dict[int, list[int]] = {}
        for s in self.b.motor.strokes:
            if s.source.what == "bolus":
                assert s.source.bolus_id is not None, f"a bolus stroke at {s.at_ms} has no id"
                per_bolus.setdefault(s.source.bolus_id, []).append(s.at_ms)
        for bid, times in per_bolus.items():
            delivered = len(times) * STROKE_MU
            # Max bolus may have been raised meanwhile (legacy: by radio): the loosest value
            # from shortly before the first stroke (the request) to the last is allowed.
            limit = self._loosest(times[0] - 10 * MS_PER_MINUTE, times[-1], "max_bolus_u")
            assert delivered <= round(limit * 1000), f"bolus {bid}: {delivered} mU"
            start = self.t.bolus_start.get(bid)
            assert start is not None, f"bolus {bid} reached the motor with no bolus_start record"
            assert start.seq < self.t.first_stroke_seq.get(bid, start.seq + 1)
            requested = start.data["requested_u"]
            assert isinstance(requested, int | float)
            assert delivered <= round(requested * 1000), f"bolus {bid}: more than requested"

    def _check_low_delivery_alarm(self) -> None:
        """At every 5-min mark: too little insulin over the alarm period means an alarm."""
        now = self.now
        last_mark = (now - 1) // CHECK_MS * CHECK_MS  # marks strictly before now
        for g in range(self.t.grid_done + CHECK_MS, last_mark + 1, CHECK_MS):
            period = round(self._loosest(g - 12 * MS_PER_HOUR, g, "no_delivery_alarm_min")
                           ) * MS_PER_MINUTE
            if g - period < 0:
                continue
            least = self._slowest_rate_mu(g - period, g) * period // MS_PER_HOUR
            delivered = self._delivered(g - period, g)
            if 4 * (delivered + 2 * STROKE_MU) < least:
                i = bisect.bisect_left(self.t.alarm_times, g - period)
                assert i < len(self.t.alarm_times) and self.t.alarm_times[i] <= g, (
                    f"only {delivered} mU in the {period // MS_PER_MINUTE} min to {g} "
                    f"(at least {least} mU scheduled) and no low-delivery alarm")
        self.t.grid_done = max(self.t.grid_done, last_mark)

    def _note_empty_reservoir(self, at: int) -> None:
        """An empty reservoir is a hold nobody commanded: it excuses the gap that follows.

        Computed from the motor record (strokes since the last fill), so a pump that
        stopped with insulin left would not be excused."""
        t = self.t
        fills = [f for f in t.fills if f[0] <= at]
        if not fills:
            return
        fill_at, fill_mu = fills[-1]
        since_fill = t.prefix[-1] - t.prefix[bisect.bisect_right(t.times, fill_at)]
        if since_fill >= fill_mu and not (t.empty_times and t.empty_times[-1] >= fill_at):
            t.empty_times.append(at)

    def _excuses(self) -> list[tuple[int, int]]:
        """Intervals the test itself caused a hold: keys, injected faults, limits reached."""
        now = self.now
        out = [(s, e if e is not None else now) for s, e in self.t.key_holds if s is not None]
        for start, fixed, cleared in self.t.occlusions:
            assert start is not None
            end = cleared if (fixed is not None and cleared is not None) else now
            out.append((start, end))
        out.extend(self.t.limit_excuses)
        for emptied in self.t.empty_times:
            refills = [f for f, _ in self.t.fills if f > emptied]
            out.append((emptied, refills[0] if refills else now))
        return out

    def _check_radio_withholding(self) -> None:
        """No stretch without strokes, minus what the test caused, outlasts the limit."""
        now = self.now
        excuses = sorted(self._excuses())
        times = self.t.times
        first_new = max(0, self.t.checked - 1)
        gaps = [(times[i - 1] if i else 0, times[i]) for i in range(first_new, len(times))]
        gaps.append((times[-1] if times else 0, now))
        for a, z in gaps:
            limit = round(self._loosest(a, z, "max_radio_withhold_min")) * MS_PER_MINUTE
            if z - a <= limit + GAP_SLACK_MS:
                continue
            for piece_start, piece_end in _minus(a, z, excuses):
                assert piece_end - piece_start <= limit + GAP_SLACK_MS, (
                    f"no insulin from {piece_start} to {piece_end} "
                    f"({(piece_end - piece_start) // MS_PER_MINUTE} min) and nothing the "
                    "test did explains it")


def _minus(a: int, z: int, excuses: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of (a, z) not covered by any of the (sorted) excuse intervals."""
    pieces: list[tuple[int, int]] = []
    cursor = a
    for s, e in excuses:
        if e <= cursor or s >= z:
            continue
        if s > cursor:
            pieces.append((cursor, s))
        cursor = max(cursor, e)
        if cursor >= z:
            break
    if cursor < z:
        pieces.append((cursor, z))
    return pieces


def _replace_cid(message: Message, cid: object) -> Message:
    """The message with ``command_id`` set (frozen dataclasses: rebuilt field by field)."""
    fields = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)
              if f.name != "command_id"}
    return type(message)(**fields, command_id=cid)  # type: ignore[call-arg]


class LegacyPumpMachine(PumpMachine):
    """The same play on a legacy-faithful pump: only the x23's own limits are checked."""

    mode = "legacy"


# ---------------------------------------------------------------------- withholding episodes

#: A fast schedule, so the motor record resolves withholding to a few minutes: at 4 U/h a
#: stroke every 22.5 s; the slowest delivery the air may impose without it counting as
#: withholding (1/4 of it, 1 U/h) strokes every 90 s.  Limits on insulin are out of the way
#: (no gap may be excused by them): only the withholding limits act.
W_SETTINGS = PumpSettings(
    max_bolus_u=10.0, max_basal_u_per_h=10.0, pattern_standard=((0, 4.0),), max_hourly_u=60.0,
    max_daily_u=300.0, max_iob_u=60.0, no_delivery_alarm_min=720, max_radio_withhold_min=90,
    max_radio_withhold_per_day_min=120,
)
#: Non-withholding delivery leaves no stroke-free stretch longer than two 90-s spacings (a
#: restart can add one): longer stretches are withholding on the motor record.
W_LONG_MS = 180_000
#: A stroke-free stretch may start up to this long before the pump's withholding began
#: (the last stroke before it) and end this long after it ended (the first stroke after).
W_EDGE_MS = 180_000
#: Stretches closer than this are certainly one episode for the pump: its merge gap
#: (30 min) minus both edges.
W_CHAIN_GAP_MS = 30 * MS_PER_MINUTE - 2 * W_EDGE_MS
W_APP_TEMPS = st.tuples(st.sampled_from([0.0, 0.025, 0.5, 0.95, 1.0, 2.0, 4.0, None]),
                        st.sampled_from([0, 10, 24, 25, 50]),
                        st.sampled_from([30, 60, 90, 120]))


class WithholdingMachine(RuleBasedStateMachine):
    """Withholding from the air, across restarts, checked as episodes and per 24 h.

    Invariants on the **motor record**: stroke-free stretches longer than
    :data:`W_LONG_MS`, less the holds the test made on the keys, are chained when closer
    than :data:`W_CHAIN_GAP_MS` (then the pump must have merged them, the gap counting);
    every chain lasts at most the episode limit and, in every 24 h, the chains (gaps
    included) add up to at most the daily budget, each allowing :data:`W_EDGE_MS` at both
    ends.  This is what the per-stretch check of :class:`PumpMachine` could not see: a
    restart that made the pump forget an episode (issue 9, defect 3) and the gap of a merge
    left out of the daily budget (defect 5).
    """

    def __init__(self) -> None:
        super().__init__()
        self.b: Bench = bench("secure", settings=W_SETTINGS)
        self.next_id = 0
        self.key_times: set[int] = set()
        self.key_holds: list[list[int | None]] = []
        self.seq_read = 0

    @property
    def now(self) -> int:
        return self.b.clock.now_ms

    def _run(self, minutes: float) -> None:
        """Let time pass; the test refills the reservoir and the battery (physical acts that
        never stop delivery) so that only withholding can."""
        end = self.now + round(minutes * MS_PER_MINUTE)
        while self.now < end:
            self.b.clock.run_until(min(end, self.now + 6 * MS_PER_HOUR))
            status = self.b.pump.status()
            if status.reservoir_u < 100:
                self.b.pump.load_reservoir(300.0)
            if status.battery_pct < 50:
                self.b.pump.replace_battery()

    def _send(self, src: str, message: Message) -> None:
        self.next_id += 1
        self.b.send(src, _replace_cid(message, self.next_id))

    def _wait_until_resumed(self, limit_min: int = 200) -> None:
        for _ in range(limit_min):
            if not self.b.pump.status().suspended:
                return
            self._run(1)

    # ------------------------------------------------------------------ actions

    @rule(minutes=st.integers(1, 180))
    def advance(self, minutes: int) -> None:
        self._run(minutes)

    @rule(temp=W_APP_TEMPS, pause=st.integers(0, 120))
    def radio_temp(self, temp: tuple[float | None, int, int], pause: int) -> None:
        rate, percent, minutes = temp
        self._send(APP, TempBasalCommand(rate, None if rate is not None else percent, minutes))
        self._run(pause)

    @rule(src=st.sampled_from([APP, REMOTE]), pause=st.integers(0, 120))
    def radio_suspend(self, src: str, pause: int) -> None:
        self._send(src, SuspendCommand() if src == APP else RemoteSuspendCommand())
        self._run(pause)

    @rule(pause=st.integers(0, 60))
    def radio_resume(self, pause: int) -> None:
        self._send(APP, ResumeCommand())
        self._run(pause)

    @rule(pause=st.integers(0, 60))
    def radio_cancel_temp(self, pause: int) -> None:
        self._send(APP, CancelTempBasalCommand())
        self._run(pause)

    @rule(repeats=st.integers(2, 4), gap=st.sampled_from([0, 1, 5, 15, 22, 29, 31]),
          src=st.sampled_from([APP, REMOTE]))
    def radio_resuspend(self, repeats: int, gap: int, src: str) -> None:
        """Suspend from the air again as soon as (or soon after) the pump resumes itself."""
        for _ in range(repeats):
            self._send(src, SuspendCommand() if src == APP else RemoteSuspendCommand())
            self._wait_until_resumed()
            self._run(gap)

    @rule(minutes=st.sampled_from([30, 60, 90]), delay=st.integers(1, 29),
          restart_after=st.integers(0, 60), gap=st.integers(0, 29))
    def zero_temp_then_suspend_across_a_restart(self, minutes: int, delay: int,
                                                restart_after: int, gap: int) -> None:
        """Issue 9's defect 3: a radio suspend replacing a zero temp, a restart, and the
        suspend renewed soon after the pump resumed by itself."""
        self._send(APP, TempBasalCommand(0.0, None, minutes))
        self._run(delay)
        self._send(APP, SuspendCommand())
        self._run(restart_after)
        self.b.restart()
        self._wait_until_resumed()
        self._run(gap)
        self._send(APP, SuspendCommand())
        self._wait_until_resumed()

    @rule(first=st.integers(30, 89), apart=st.integers(31, 60), gap=st.integers(12, 23))
    def merge_near_the_daily_budget(self, first: int, apart: int, gap: int) -> None:
        """Issue 9's defect 5: a suspend resumed by the controller, later a zero temp, and a
        suspend that merges with it while the daily budget is nearly used."""
        self._send(APP, SuspendCommand())
        self._run(first)
        self._send(APP, ResumeCommand())
        self._run(apart)
        self._send(APP, TempBasalCommand(0.0, None, 30))
        self._run(30 + gap)
        self._send(APP, SuspendCommand())
        self._wait_until_resumed()

    @rule(rate=tiny)
    def radio_tiny_temp(self, rate: float) -> None:
        self._send(APP, TempBasalCommand(rate, None, 30))

    @rule()
    def key_suspend(self) -> None:
        """Suspend on the keys (a takeover if a radio suspend runs)."""
        self.key_times.add(self.now)
        ui.suspend(self.b.pump)

    @rule(pause=st.integers(0, 40))
    def key_resume(self, pause: int) -> None:
        self.key_times.add(self.now)
        ui.resume(self.b.pump)
        self._run(pause)

    @rule()
    def restart(self) -> None:
        self.b.restart()

    # ------------------------------------------------------------------ the truth

    def _read_key_holds(self) -> None:
        """A suspend the pump records as from its keys, at a moment the test pressed them,
        holds delivery until the next resume: the person's choice, not withholding."""
        for r in self.b.history.records(self.seq_read):
            self.seq_read = r.seq
            last = self.key_holds[-1] if self.key_holds else None
            open_hold = last if last is not None and last[1] is None else None
            if r.kind == "resume" and open_hold is not None:
                open_hold[1] = r.device_time_ms
            elif r.kind == "suspend":
                if open_hold is not None:
                    open_hold[1] = r.device_time_ms
                if r.data.get("source") == "buttons" and r.device_time_ms in self.key_times:
                    self.key_holds.append([r.device_time_ms, None])

    def _chains(self) -> list[tuple[int, int]]:
        """Withholding on the motor record: long stroke-free stretches less the key holds,
        chained when closer than the pump's merge gap allows for."""
        times = [0] + [s.at_ms for s in self.b.motor.strokes] + [self.now]
        stretches = [(a, z) for a, z in itertools.pairwise(times) if z - a > W_LONG_MS]
        holds = sorted((a, z if z is not None else self.now) for a, z in self.key_holds
                       if a is not None)
        # What is left of a stretch once the key holds are taken out counts only if still
        # long: the first stroke after a key resume takes up to a spacing, like any start.
        pieces = [(a, z) for s0, s1 in stretches for a, z in _minus(s0, s1, holds)
                  if z - a > W_LONG_MS]
        chains: list[list[int]] = []
        for a, z in pieces:
            if chains and a - chains[-1][1] < W_CHAIN_GAP_MS:
                chains[-1][1] = z
            else:
                chains.append([a, z])
        return [(a, z) for a, z in chains]

    @invariant()
    def the_pump_keeps_working(self) -> None:
        assert self.b.pump.phase is PumpPhase.RUNNING, (
            f"the pump stopped working: {[a.code.value for a in self.b.pump.alarms]}")

    @invariant()
    def withholding_episodes_and_daily_budget_hold_on_the_motor_record(self) -> None:
        self._read_key_holds()
        episode_ms = W_SETTINGS.max_radio_withhold_min * MS_PER_MINUTE
        day_budget_ms = W_SETTINGS.max_radio_withhold_per_day_min * MS_PER_MINUTE
        chains = self._chains()
        for a, z in chains:
            assert z - a <= episode_ms + 2 * W_EDGE_MS, (
                f"withheld from {a} to {z} ({(z - a) / MS_PER_MINUTE:.1f} min) as one "
                f"episode, above the {W_SETTINGS.max_radio_withhold_min}-min limit")
        for end in [z for _, z in chains]:
            start = end - 24 * MS_PER_HOUR
            inside = [(max(a, start), min(z, end)) for a, z in chains if z > start and a < end]
            total = sum(z - a for a, z in inside)
            assert total <= day_budget_ms + 2 * W_EDGE_MS * len(inside), (
                f"{total / MS_PER_MINUTE:.1f} min withheld in the 24 h to {end} in "
                f"{len(inside)} episodes, above the daily budget "
                f"{W_SETTINGS.max_radio_withhold_per_day_min} min")


FAST = settings(max_examples=15, stateful_step_count=30, deadline=None,
                suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=150, stateful_step_count=50, deadline=None,
                suppress_health_check=list(HealthCheck))

TestSecurePumpLimits = PumpMachine.TestCase
TestSecurePumpLimits.settings = FAST
TestLegacyPumpLimits = LegacyPumpMachine.TestCase
TestLegacyPumpLimits.settings = FAST
TestWithholdingAcrossRestarts = WithholdingMachine.TestCase
TestWithholdingAcrossRestarts.settings = settings(
    FAST, max_examples=10, stateful_step_count=20)


@pytest.mark.slow
def test_secure_pump_limits_hold_in_a_long_run() -> None:
    """The secure machine with many more examples (CI's slow job)."""
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(PumpMachine, settings=SLOW)


@pytest.mark.slow
def test_withholding_limits_hold_in_a_long_run() -> None:
    """The withholding machine with many more examples."""
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(WithholdingMachine,
                              settings=settings(SLOW, max_examples=50, stateful_step_count=30))


@pytest.mark.slow
def test_legacy_pump_limits_hold_in_a_long_run() -> None:
    """The legacy machine with many more examples."""
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(LegacyPumpMachine, settings=SLOW)


"""Property tests: whatever is pressed, sent, injected or restarted, no limit is exceeded.

A Hypothesis state machine drives one pump with key presses (operator helpers and raw
keys), radio commands from every kind of sender (valid and malformed, with colliding
command ids), clock advances, user-clock changes, occlusions and restarts.  After every
step the invariants are checked against the **motor record** — the independent record of
insulin that reached the patient — never against the pump's own counters:

* secure mode: max bolus per bolus, max basal rate over any window, max per rolling hour
  and day, the remote's hourly cap, max active insulin for every automated (controller)
  stroke, the no-delivery alarm for every gap in the motor record longer than its period,
  and no unexcused gap longer than the radio-withholding limit;
* legacy mode: max bolus per bolus and max basal rate (the x23's own limits), each as
  configured at the time (an attacker may change them by radio).

What a stroke is *for* (bolus id, basal, origin) comes with the stroke from the motor;
the settings in force, when a bolus was requested and why delivery was held back (a
suspend on the keys, an occlusion alarm) come from the pump's history: configuration and
causes, not insulin.  Example counts are small by default; the slow-marked tests run
many more.
"""

from __future__ import annotations

import bisect
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pumpkit import APP, ATTACKER, CGM, CLINIC, METER, REMOTE, Bench, bench

from pumplab.clock import MS_PER_HOUR, MS_PER_MINUTE
from pumplab.devices.history import HistoryRecord
from pumplab.devices.pump import Key, PumpSettings, settings_from_json, ui
from pumplab.link.messages import (
    BolusCommand,
    ButtonPressCommand,
    CancelBolusCommand,
    CancelTempBasalCommand,
    ChangeSettingCommand,
    Message,
    MeterReading,
    ReadStatusCommand,
    RemoteBolusCommand,
    RemoteSuspendCommand,
    ResumeCommand,
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
#: Slowest non-zero basal: 0.025 U/h, one stroke an hour; a gap may exceed a withholding
#: limit by this much without anything being withheld.
SLOWEST_STROKE_MS = MS_PER_HOUR + MS_PER_MINUTE

amounts = st.one_of(
    st.integers(1, 320).map(lambda n: n * 0.025),
    st.sampled_from([0.0, -1.0, float("nan"), float("inf"), 1.01, 1e9, 30.0]),
    st.sampled_from(["2", None, True]),
)
command_ids = st.one_of(st.none(), st.integers(0, 6))
rates = st.sampled_from([None, 0.0, 0.025, 0.5, 1.0, 2.0, 3.0, 3.05, 40.0, float("nan")])
percents = st.sampled_from([None, 0, 1, 50, 150, 200, 250])
durations = st.sampled_from([30, 60, 90, 120, 240, 1440, 45, 0])
setting_changes = st.tuples(
    st.sampled_from(["max_bolus_u", "max_basal_u_per_h", "max_hourly_u", "max_iob_u",
                     "remote.enabled", "remote.ids", "no_such_setting", "active_pattern",
                     "max_radio_withhold_min"]),
    st.one_of(st.sampled_from([0.5, 2.0, 10.0, 25.0, 35.0, 60, 90, True, "A", "B", ["654321"]]),
              st.floats(allow_nan=True, allow_infinity=True)),
)


@st.composite
def radio_messages(draw: st.DrawFn) -> Message:
    kind = draw(st.integers(0, 13))
    cid = draw(command_ids)
    if kind == 0:
        return BolusCommand(draw(amounts), command_id=cid)
    if kind == 1:
        return TempBasalCommand(draw(rates), draw(percents), draw(durations), command_id=cid)
    if kind == 2:
        return SuspendCommand(command_id=cid)
    if kind == 3:
        return ResumeCommand(command_id=cid)
    if kind == 4:
        return CancelBolusCommand(command_id=cid)
    if kind == 5:
        return CancelTempBasalCommand(command_id=cid)
    if kind == 6:
        return RemoteBolusCommand(draw(amounts), command_id=cid)
    if kind == 7:
        return RemoteSuspendCommand(command_id=cid)
    if kind == 8:
        name, value = draw(setting_changes)
        return ChangeSettingCommand(setting=name, value=value, command_id=cid)
    if kind == 9:
        return ButtonPressCommand(draw(st.sampled_from(["ACT", "ESC", "UP", "DOWN", "B", "X"])))
    if kind == 10:
        return WakeupCommand(draw(st.sampled_from([1, 10, 30, 0, 99])))
    if kind == 11:
        return SetClockCommand(clock_ms=draw(st.integers(0, 3 * 24 * MS_PER_HOUR)))
    if kind == 12:
        return MeterReading(draw(st.sampled_from([40.0, 120.0, 250.0, float("nan"), -3.0])), 0)
    return ReadStatusCommand(command_id=cid)


grid_u = st.integers(1, 320).map(lambda n: n * 0.025)
ids = st.one_of(st.integers(0, 3), st.integers(4, 10**6))  # some repeat, most do not
senders = st.sampled_from([APP, APP, REMOTE, CLINIC, ATTACKER])
#: Minutes that pass after an action (people and controllers do not act back to back).
pauses = st.integers(0, 30)


class PumpMachine(RuleBasedStateMachine):
    """One pump under random use and abuse; invariants read the motor record."""

    mode = "secure"

    def __init__(self) -> None:
        super().__init__()
        self.b: Bench = bench(self.mode, settings=SETTINGS)
        self.checked = 0  # motor strokes already checked
        self.times: list[int] = []  # all motor stroke times, in order
        self.prefix: list[int] = [0]  # prefix sums of stroke mU
        self.remote_times: list[int] = []
        self.basal_times: list[int] = []

    # ------------------------------------------------------------------ actions

    @rule(minutes=st.integers(1, 200))
    def advance(self, minutes: int) -> None:
        self.b.run_min(minutes)

    @rule(units=st.integers(1, 280).map(lambda n: n * 0.025), pause=pauses)
    def key_bolus(self, units: float, pause: int) -> None:
        ui.manual_bolus(self.b.pump, units)
        self.b.run_min(pause)

    @rule(carbs=st.integers(0, 150), bg=st.one_of(st.none(), st.integers(40, 400)))
    def key_wizard(self, carbs: int, bg: int | None) -> None:
        ui.wizard_bolus(self.b.pump, carbs, bg)

    @rule(steps=st.integers(1, 14))
    def key_easy(self, steps: int) -> None:
        ui.easy_bolus(self.b.pump, steps)

    @rule(units=st.integers(1, 200).map(lambda n: n * 0.025), minutes=st.sampled_from([30, 90]))
    def key_square(self, units: float, minutes: int) -> None:
        ui.square_bolus(self.b.pump, units, minutes)

    @rule(now=st.integers(0, 80).map(lambda n: n * 0.025),
          square=st.integers(1, 80).map(lambda n: n * 0.025))
    def key_dual(self, now: float, square: float) -> None:
        ui.dual_bolus(self.b.pump, now, square, 30)

    @rule(rate=st.sampled_from([0.0, 0.5, 1.0, 2.5, 3.0]), minutes=st.sampled_from([30, 120]))
    def key_temp(self, rate: float, minutes: int) -> None:
        ui.set_temp_basal(self.b.pump, rate_u_per_h=rate, duration_min=minutes)

    @rule()
    def key_suspend(self) -> None:
        ui.suspend(self.b.pump)

    @rule()
    def key_resume(self) -> None:
        ui.resume(self.b.pump)

    @rule()
    def key_cancel_bolus(self) -> None:
        ui.cancel_bolus(self.b.pump)

    @rule()
    def key_clear_alarms(self) -> None:
        ui.clear_all_alarms(self.b.pump)

    @rule(keys=st.lists(st.sampled_from(list(Key)), min_size=1, max_size=12))
    def raw_keys(self, keys: list[Key]) -> None:
        for key in keys:
            self.b.pump.press(key)

    @rule(hour=st.integers(0, 23), minute=st.integers(0, 59))
    def key_clock(self, hour: int, minute: int) -> None:
        ui.set_time(self.b.pump, hour, minute)

    @rule(accept=st.booleans())
    def key_pending(self, accept: bool) -> None:
        ui.answer_pending_change(self.b.pump, accept)

    def _air(self, src: str, message: Message) -> None:
        if self.mode == "legacy":  # an attacker wakes a legacy radio first
            self.b.send(src, WakeupCommand(30))
        self.b.send(src, message)

    @rule(src=st.sampled_from([APP, REMOTE, CLINIC, CGM, METER, ATTACKER]),
          message=radio_messages())
    def radio_garbage(self, src: str, message: Message) -> None:
        self.b.send(src, message)

    @rule(src=senders, amount=grid_u, cid=ids, pause=pauses)
    def radio_bolus(self, src: str, amount: float, cid: int, pause: int) -> None:
        self._air(src, BolusCommand(amount, command_id=cid))
        self.b.run_min(pause)

    @rule(amount=st.integers(1, 120).map(lambda n: n * 0.025), cid=ids, pause=pauses)
    def remote_bolus(self, amount: float, cid: int, pause: int) -> None:
        self.b.send(REMOTE, RemoteBolusCommand(amount, command_id=cid))
        self.b.run_min(pause)

    @rule(src=senders, rate=st.sampled_from([0.0, 0.025, 0.5, 2.0, 3.0, 5.0, 35.0, None]),
          percent=st.sampled_from([0, 1, 50, 150, 200]),
          minutes=st.sampled_from([30, 60, 120, 240, 1440]), cid=ids, pause=pauses)
    def radio_temp(self, src: str, rate: float | None, percent: int, minutes: int,
                   cid: int, pause: int) -> None:
        self._air(src, TempBasalCommand(rate, None if rate is not None else percent, minutes,
                                        command_id=cid))
        self.b.run_min(pause)

    @rule(src=senders, which=st.sampled_from(["suspend", "resume", "remote_suspend",
                                              "cancel_temp", "cancel_bolus"]), cid=ids)
    def radio_stop_start(self, src: str, which: str, cid: int) -> None:
        message: Message = {"suspend": SuspendCommand, "resume": ResumeCommand,
                            "remote_suspend": RemoteSuspendCommand,
                            "cancel_temp": CancelTempBasalCommand,
                            "cancel_bolus": CancelBolusCommand}[which](command_id=cid)
        self._air(REMOTE if which == "remote_suspend" else src, message)

    @rule(src=senders, name=st.sampled_from(["max_bolus_u", "max_basal_u_per_h"]),
          value=st.sampled_from([1.0, 4.0, 10.0, 25.0, 1.5, 5.0, 35.0]))
    def radio_setting(self, src: str, name: str, value: float) -> None:
        self._air(src, ChangeSettingCommand(setting=name, value=value))

    @rule()
    def occlude(self) -> None:
        self.b.motor.occlude()

    @rule()
    def unocclude(self) -> None:
        self.b.motor.clear_occlusion()

    @rule()
    def restart(self) -> None:
        self.b.restart()

    # ------------------------------------------------------------------ the truth

    def _settings_timeline(self) -> list[tuple[int, int, PumpSettings]]:
        """(device time, seq, settings in force from then) from the history."""
        out: list[tuple[int, int, PumpSettings]] = [(0, 0, SETTINGS)]
        current: dict[str, Any] | None = None
        for r in self.b.history.records():
            if r.kind == "boot" and isinstance(r.data.get("settings"), dict):
                current = dict(r.data["settings"])  # type: ignore[arg-type]
            elif r.kind == "setting_change" and current is not None:
                current[str(r.data["setting"])] = r.data["new"]
            else:
                continue
            out.append((r.device_time_ms, r.seq, settings_from_json(current)))
        return out

    @staticmethod
    def _loosest(timeline: list[tuple[int, int, PumpSettings]], t0: int, t1: int,
                 field: str) -> float:
        """The largest value ``field`` had at any time in [t0, t1]."""
        times = [t for t, _, _ in timeline]
        i = max(0, bisect.bisect_right(times, t0) - 1)
        j = bisect.bisect_right(times, t1)
        return max(float(getattr(s, field)) for _, _, s in timeline[i:j])

    @invariant()
    def limits_hold_on_the_motor_record(self) -> None:
        strokes = self.b.motor.strokes
        if self.checked == len(strokes) and self.checked:
            return
        timeline = self._settings_timeline()
        records = self.b.history.records()
        secure = self.mode == "secure"
        for i in range(self.checked, len(strokes)):
            s = strokes[i]
            t = s.at_ms
            self.times.append(t)
            self.prefix.append(self.prefix[-1] + STROKE_MU)
            n = len(self.times)
            if secure:
                hour_start = bisect.bisect_right(self.times, t - MS_PER_HOUR)
                day_start = bisect.bisect_right(self.times, t - 24 * MS_PER_HOUR)
                hour = self.prefix[n] - self.prefix[hour_start]
                day = self.prefix[n] - self.prefix[day_start]
                assert hour <= round(self._loosest(timeline, t, t, "max_hourly_u") * 1000), (
                    f"{hour} mU in the hour to {t}")
                assert day <= round(self._loosest(timeline, t, t, "max_daily_u") * 1000), (
                    f"{day} mU in the 24 h to {t}")
                if s.source.origin == "remote":
                    self.remote_times.append(t)
                    k = len(self.remote_times) - bisect.bisect_right(self.remote_times,
                                                                    t - MS_PER_HOUR)
                    assert k * STROKE_MU <= round(
                        self._loosest(timeline, t, t, "remote_max_u_per_h") * 1000), (
                        f"{k} remote strokes in the hour to {t}")
                if s.source.origin == "app":
                    self._check_iob(i, timeline)
            if s.source.what == "basal":
                self.basal_times.append(t)
        self._check_basal_rate(timeline)
        self._check_boluses(records, timeline)
        if secure:
            self._check_withholding(records, timeline)
        self.checked = len(strokes)

    def _check_iob(self, i: int, timeline: list[tuple[int, int, PumpSettings]]) -> None:
        strokes = self.b.motor.strokes
        t = strokes[i].at_ms
        curve_s = timeline[max(0, bisect.bisect_right([x for x, _, _ in timeline], t) - 1)][2]
        doses = [Dose(p.at_ms / MS_PER_MINUTE, p.amount_u) for p in strokes[:i]
                 if p.at_ms > t - 8 * MS_PER_HOUR]
        iob = insulin_on_board(doses, t / MS_PER_MINUTE, curve_s.active_insulin_curve)
        limit = self._loosest(timeline, t, t, "max_iob_u")
        assert iob + 0.025 <= limit + 1e-6, f"automated stroke at {t} with {iob:.3f} U on board"

    def _check_basal_rate(self, timeline: list[tuple[int, int, PumpSettings]]) -> None:
        times = self.basal_times
        start = max(0, bisect.bisect_left(times, (self.times[-1] if self.times else 0)
                                          - 4 * MS_PER_HOUR))
        for i in range(start, len(times)):
            for window in (15 * MS_PER_MINUTE, MS_PER_HOUR, 3 * MS_PER_HOUR):
                t0 = times[i]
                count = bisect.bisect_right(times, t0 + window) - i
                rate = self._loosest(timeline, t0 - window, t0 + window, "max_basal_u_per_h")
                allowed = 1 + rate * 40 * window / MS_PER_HOUR
                assert count <= allowed + 1e-9, f"{count} basal strokes in {window} ms from {t0}"

    def _check_boluses(self, records: list[HistoryRecord],
                       timeline: list[tuple[int, int, PumpSettings]]) -> None:
        per_bolus: dict[int, int] = {}
        for s in self.b.motor.strokes:
            if s.source.bolus_id is not None:
                per_bolus[s.source.bolus_id] = per_bolus.get(s.source.bolus_id, 0) + STROKE_MU
        seqs = [q for _, q, _ in timeline]
        for r in records:
            if r.kind != "bolus_start":
                continue
            bid = r.data["bolus_id"]
            assert isinstance(bid, int)
            in_force = timeline[bisect.bisect_left(seqs, r.seq) - 1][2]
            delivered = per_bolus.get(bid, 0)
            assert delivered <= round(in_force.max_bolus_u * 1000), f"bolus {bid}: {delivered} mU"
            requested = r.data["requested_u"]
            assert isinstance(requested, int | float)
            assert delivered <= round(requested * 1000)

    def _check_withholding(self, records: list[HistoryRecord],
                           timeline: list[tuple[int, int, PumpSettings]]) -> None:
        now = self.b.clock.now_ms
        gaps = list(zip([0, *self.times], [*self.times, now], strict=True))
        alarms = [r.device_time_ms for r in records
                  if r.kind == "alarm" and r.data["code"] == "no_insulin"]
        excuses = _excuses(records, now)
        for a, z in gaps:
            period = round(self._loosest(timeline, a, z, "no_delivery_alarm_min")) * MS_PER_MINUTE
            if z - a > period:
                assert any(a < t <= a + period for t in alarms), (
                    f"no insulin from {a} to {z} and no no-insulin alarm")
            limit = round(self._loosest(timeline, a, z, "max_radio_withhold_min")) * MS_PER_MINUTE
            if z - a > limit + SLOWEST_STROKE_MS:
                assert any(s < z and e > a for s, e in excuses), (
                    f"insulin withheld from {a} to {z} with no cause on the pump itself")


def _excuses(records: list[HistoryRecord], now: int) -> list[tuple[int, int]]:
    """Intervals when delivery was held back by the pump's own keys or a fault."""
    out: list[tuple[int, int]] = []
    open_: dict[str, int] = {}
    for r in records:
        t, d = r.device_time_ms, r.data
        if r.kind == "suspend" and not d.get("radio"):
            open_["suspend"] = t
        elif r.kind == "resume" and "suspend" in open_:
            out.append((open_.pop("suspend"), t))
        elif r.kind == "temp_basal_start" and not d.get("radio"):
            open_["temp"] = t
        elif r.kind == "temp_basal_end" and "temp" in open_:
            out.append((open_.pop("temp"), t))
        elif r.kind == "alarm" and d["code"] in {"no_delivery", "empty_reservoir",
                                                 "battery_out"}:
            open_.setdefault(f"alarm:{d['code']}", t)
        elif r.kind == "alarm_cleared" and f"alarm:{d['code']}" in open_:
            out.append((open_.pop(f"alarm:{d['code']}"), t))
    out.extend((t, now) for t in open_.values())
    return out


class LegacyPumpMachine(PumpMachine):
    """The same play on a legacy-faithful pump: only the x23's own limits are checked."""

    mode = "legacy"


FAST = settings(max_examples=15, stateful_step_count=30, deadline=None,
                suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=150, stateful_step_count=50, deadline=None,
                suppress_health_check=list(HealthCheck))

TestSecurePumpLimits = PumpMachine.TestCase
TestSecurePumpLimits.settings = FAST
TestLegacyPumpLimits = LegacyPumpMachine.TestCase
TestLegacyPumpLimits.settings = FAST


@pytest.mark.slow
def test_secure_pump_limits_hold_in_a_long_run() -> None:
    """The secure machine with many more examples (CI's slow job)."""
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(PumpMachine, settings=SLOW)


@pytest.mark.slow
def test_legacy_pump_limits_hold_in_a_long_run() -> None:
    """The legacy machine with many more examples."""
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(LegacyPumpMachine, settings=SLOW)


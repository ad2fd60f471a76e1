"""Crash consistency (issue 5, strengthened in issue 9): SIGKILL a pump at chosen points of
its work, life after life, and compare its durable history, and the motor, with what the
test itself commanded.

A forked child runs a secure pump on a :class:`SqliteHistory` file with a motor that reports
every stroke to the parent through a pipe *as* it delivers it (the parent's record is the
truth of insulin that reached the patient), and reports every bolus it commands (on the
keys or by radio) *before* commanding it.  Each life is given an **interruption point**: the
n-th append of a record kind (``stroke:bolus``, ``command:accepted``, ``recovery``...),
just before it is written or just after it is committed and before its effect.  There the
child tells the parent and stops; the parent SIGKILLs it and starts the next life on the
same file, which rebuilds itself from the log, clears its alarms on the keys and delivers
again (normal, square and dual boluses, high temp basals and suspends on the keys; boluses,
temp basals, cancels, suspends and resumes by radio from a paired controller address, with
increasing command ids, through the pump's own envelope handler; scheduled basal).  A life
that never reaches its point within two simulated hours stops there instead (also a fixed
point).  After every kill:

* **the motor against the commands** (independent of the pump's records): in each life,
  at every moment, the bolus insulin the motor delivered is at most what the test commanded
  in that life, and each bolus the motor delivered (its strokes, by bolus id) is matched, in
  order, to a distinct earlier command of that life at least as large — so a pump that
  re-delivered an interrupted remainder, or delivered one dose twice, fails;
* the log never under-counts the motor, and over-counts by at most one stroke more than
  before the kill (the stroke in flight: its record is written before the motor moves);
* every bolus's strokes come from one life, never more than its ``bolus_start`` requested;
* every bolus started before the last restart is ended before delivery goes on, and every
  one ended ``interrupted`` has a ``recovery`` record;
* every dose command recorded as accepted before the last completed boot either shows its
  effect in the log (the record carrying its ``command_seq``) or is reported not executed —
  never both, never neither.

The test's strength is the set of interruption points it reaches, asserted exactly; the
kills do not depend on timing, so machine load changes nothing but the elapsed time (which
is printed, never asserted).  A mutant pump that re-delivers each interrupted remainder as a
new bolus (:func:`_redeliver_interrupted_remainder`, kept here) passes the pump-record checks
and fails the motor-against-commands check (``test_the_oracle_catches_a_pump_that_...``).
The slow test adds kills at random moments (timed from the child's boot) for variety.
"""

from __future__ import annotations

import os
import select
import signal
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from pumplab.clock import MS_PER_MINUTE, EventClock
from pumplab.devices.history import HistoryRecord, JSONValue, SqliteHistory
from pumplab.devices.pump import BolusKind, BolusRequest, Origin, Pump, PumpSettings, ui
from pumplab.devices.pump.delivery import StrokeSource
from pumplab.devices.pump.recovery import DOSE_COMMAND_NAMES
from pumplab.link.memory import InMemoryLink
from pumplab.link.messages import (
    BolusCommand,
    CancelTempBasalCommand,
    Message,
    ReadStatusCommand,
    ResumeCommand,
    SuspendCommand,
    TempBasalCommand,
)

SERIAL = "665455"
#: child index, frame type, two integers
FRAME = struct.Struct("<iBii")
STROKE, READY, COMMANDED, PAUSED = 0, 1, 2, 3
RESTARTS_PER_FILE = 25
APP = "app:controller"
#: Each life's command ids start here (ids must increase per sender, across lives too).
IDS_PER_LIFE = 1_000_000
#: A life that has not reached its point after this many simulated minutes stops anyway.
LIFE_MINUTES = 60
#: Wall-clock seconds the parent waits for a child to reach its point: only a hung child
#: takes this long, however loaded the machine.
HUNG_S = 120.0
SETTINGS = PumpSettings(max_bolus_u=10.0, max_basal_u_per_h=5.0, max_hourly_u=60.0,
                        max_daily_u=300.0, max_iob_u=60.0, pattern_standard=((0, 2.0),),
                        pairings=((APP, "controller"),))

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")


@dataclass(frozen=True, slots=True)
class Point:
    """Stop at the ``n``-th append of ``key`` in a life, ``before`` it is written or just
    ``after`` it is committed.  ``key`` is the record kind, refined for a few kinds:
    ``stroke:bolus``/``stroke:basal``, ``command:accepted``/``command:rejected``,
    ``bolus_end:<reason>``."""

    key: str
    when: str  # "before" | "after"
    n: int = 1

    @property
    def label(self) -> str:
        return f"{self.when} {self.key}"


#: Where a kill must have landed (each before and after the record): every record kind the
#: pump writes in this play, at start-up (recovery) and while delivering.
REQUIRED_KEYS = (
    "boot", "recovery", "bolus_end:interrupted", "temp_basal_end", "alarm", "alarm_cleared",
    "basal_rate", "command:accepted", "command:rejected", "bolus_start", "stroke:bolus",
    "stroke:basal", "bolus_end:completed", "temp_basal_start", "suspend", "resume",
)
#: Kinds a life writes again and again (the rest: once at its start).
RECURRING_KEYS = ("command:accepted", "command:rejected", "bolus_start", "stroke:bolus",
                  "stroke:basal", "bolus_end:completed", "temp_basal_start", "temp_basal_end",
                  "basal_rate", "suspend", "resume")
#: Written at start-up when there is something to recover: such a point follows a life
#: killed mid-bolus (MID_BOLUS), so that the next life has a bolus to recover.
RECOVERY_KEYS = ("recovery", "bolus_end:interrupted", "alarm", "alarm_cleared")
MID_BOLUS = Point("stroke:bolus", "after", 3)


def plan(repeats: int = 1) -> list[Point]:
    """Every required point, before and after (a recovery point after a life killed
    mid-bolus); with ``repeats`` > 1 also the 3rd, 5th... occurrence of the kinds a life
    writes repeatedly."""
    points: list[Point] = []
    for r in range(repeats):
        for key in REQUIRED_KEYS if r == 0 else RECURRING_KEYS:
            for when in ("before", "after"):
                points += [MID_BOLUS] if key in RECOVERY_KEYS else []
                points.append(Point(key, when, 1 + 2 * r))
    return points


def _key(kind: str, data: Mapping[str, JSONValue]) -> str:
    if kind == "stroke":
        return f"stroke:{data.get('what')}"
    if kind == "command":
        return f"command:{data.get('outcome')}"
    if kind == "bolus_end":
        return f"bolus_end:{data.get('reason')}"
    return kind


def _code(point: Point | None) -> int:
    """A point as an integer for the pipe (-1: none reached, the life ran out)."""
    if point is None:
        return -1
    return _ALL_KEYS.index(point.key) * 2 + (point.when == "after")


_ALL_KEYS = (*REQUIRED_KEYS, "reservoir_change", "bolus_end:cancelled", "bolus_end:suspended",
             "bolus_end:limit", "stroke_failed", "delivery_refused", "refusal_summary",
             "setting_change", "pairing")


class PipeMotor:
    """Delivers a stroke by writing it to the parent: one atomic write per stroke."""

    def __init__(self, fd: int, child: int) -> None:
        self.fd = fd
        self.child = child

    def push(self, amount_u: float, *, source: StrokeSource) -> bool:
        bolus_id = source.bolus_id if source.bolus_id is not None else -1
        os.write(self.fd, FRAME.pack(self.child, STROKE, bolus_id, source.what == "bolus"))
        return True


class PausingHistory(SqliteHistory):
    """The durable history, stopping the process at its life's interruption point."""

    def __init__(self, path: Path, fd: int, child: int, target: Point | None) -> None:
        super().__init__(path, device_serial=SERIAL)
        self.fd, self.child, self.target = fd, child, target
        self.counts: dict[str, int] = {}

    def append(self, kind: str, data: Mapping[str, JSONValue], *, device_time_ms: int,
               clock_ms: int) -> HistoryRecord:
        key = _key(kind, data)
        self.counts[key] = self.counts.get(key, 0) + 1
        t = self.target
        hit = t is not None and t.key == key and t.n == self.counts[key]
        if hit and t is not None and t.when == "before":
            _stop_here(self.fd, self.child, t)
        record = super().append(kind, data, device_time_ms=device_time_ms, clock_ms=clock_ms)
        if hit and t is not None and t.when == "after":
            _stop_here(self.fd, self.child, t)
        return record


def _stop_here(fd: int, child: int, point: Point | None) -> None:
    """Tell the parent where this life stands, then wait to be killed."""
    os.write(fd, FRAME.pack(child, PAUSED, _code(point), 0))
    time.sleep(HUNG_S * 2)
    os._exit(4)  # the parent is gone: never carry on past the point


def _redeliver_interrupted_remainder(pump: Pump) -> None:
    """The mutant: a pump that, at start, delivers what an interrupted bolus did not, as a
    new bolus of its own (with a ``bolus_start`` record, so the pump's records look right).
    The real pump never does this (docs/pump.md, "Restart")."""
    report = pump.boot_report
    if report is not None and report.interrupted_bolus_id is not None and report.undelivered_u:
        remainder = BolusRequest(round(report.undelivered_u * 1000), 0, 0, Origin.BUTTONS)
        pump._start_bolus(remainder, BolusKind.NORMAL)


def _child(path: Path, fd: int, child: int, target: Point | None, mutant: bool) -> None:
    rng = np.random.default_rng(child)
    history = PausingHistory(path, fd, child, target)
    head = history.head
    clock = EventClock(head.device_time_ms + 1000 if head is not None else 0)
    link = InMemoryLink(clock, delay_ms=0)
    link.attach(APP, lambda env: None)  # the controller's answers are not needed here
    pump = Pump(serial=SERIAL, clock=clock, link=link, history=history,
                motor=PipeMotor(fd, child), mode="secure", settings=SETTINGS,
                rng=np.random.default_rng(child))
    pump.start()
    if mutant:
        _redeliver_interrupted_remainder(pump)
    ui.clear_all_alarms(pump)
    os.write(fd, FRAME.pack(child, READY, 0, 0))  # booted: deliveries start now
    next_id = child * IDS_PER_LIFE

    def radio(message: Message) -> None:
        # A paired controller address, through the pump's own envelope handler.
        link.send(APP, pump.address, message)
        clock.run_until(clock.now_ms)

    def commanded(units: float) -> None:
        """Tell the parent about a bolus before asking the pump for it."""
        os.write(fd, FRAME.pack(child, COMMANDED, round(units * 1000), 0))

    for _ in range(LIFE_MINUTES):
        choice = int(rng.integers(0, 12))
        next_id += 1
        status = pump.status()
        if choice == 4:
            radio(TempBasalCommand(rate_u_per_h=float(rng.integers(1, 10)) * 0.5,
                                   duration_min=30, command_id=next_id))
        elif choice == 5:
            radio(CancelTempBasalCommand(command_id=next_id))
        elif choice == 6:
            radio(ReadStatusCommand())
        elif choice == 7:
            radio(SuspendCommand(command_id=next_id))
        elif choice == 8:
            radio(ResumeCommand(command_id=next_id))
        elif choice == 9:
            (ui.resume if status.suspended else ui.suspend)(pump)
        elif choice == 10 and status.suspended:
            ui.resume(pump)
        elif not status.bolus_in_progress:
            if choice == 0:
                units = float(rng.integers(4, 400)) * 0.025
                commanded(units)
                ui.manual_bolus(pump, units)
            elif choice == 1:
                units = float(rng.integers(4, 200)) * 0.025
                commanded(units)
                ui.square_bolus(pump, units, 30)
            elif choice == 2:
                square = float(rng.integers(4, 80)) * 0.025
                commanded(1.0 + square)
                ui.dual_bolus(pump, 1.0, square, 30)
            elif choice == 3:
                ui.set_temp_basal(pump, rate_u_per_h=5.0, duration_min=30)
            else:
                units = float(rng.integers(4, 200)) * 0.025
                commanded(units)
                radio(BolusCommand(units, command_id=next_id))
        clock.run_until(clock.now_ms + MS_PER_MINUTE)
    _stop_here(fd, child, None)  # ran out of its two hours without reaching the point


# ---------------------------------------------------------------------- the parent


@dataclass
class Life:
    """What the parent read from one child: its frames, in pipe order."""

    child: int
    frames: list[tuple[int, int, int]]  # (type, a, b)
    ready: bool
    reached: int | None  # the point code it stopped at (-1: ran out), None: killed early


def _read(fd: int, child: int, deadline: float, *, stop_on: tuple[int, ...]) -> Life:
    """Read frames until one of ``stop_on`` arrives, the pipe closes or ``deadline``."""
    life = Life(child, [], False, None)
    buf = b""
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        stop = False
        while len(buf) >= FRAME.size:
            _, kind, a, b = FRAME.unpack(buf[: FRAME.size])
            buf = buf[FRAME.size:]
            if kind == READY:
                life.ready = True
            elif kind == PAUSED:
                life.reached = a
            else:
                life.frames.append((kind, a, b))
            stop = stop or kind in stop_on
        if stop:
            break
    assert not buf, "a partial frame: pipe writes must be atomic"
    return life


def check_motor_against_commands(life: Life) -> None:
    """The independent oracle: bolus insulin the motor delivered in a life against the
    boluses the test commanded in that life, in pipe order."""
    commanded: list[int] = []
    delivered_mu = 0
    groups: dict[int, list[int]] = {}  # bolus id -> [mU, commands seen before its 1st stroke]
    order: list[int] = []
    for kind, a, b in life.frames:
        if kind == COMMANDED:
            commanded.append(a)
        elif kind == STROKE and b:
            delivered_mu += 25
            assert delivered_mu <= sum(commanded), (
                f"life {life.child}: the motor delivered {delivered_mu} mU of bolus insulin "
                f"but only {sum(commanded)} mU was commanded in this life (never commanded)")
            if a not in groups:
                groups[a] = [0, len(commanded)]
                order.append(a)
            groups[a][0] += 25
    used = 0  # commands matched so far (in order)
    for bolus_id in order:
        mu, available = groups[bolus_id]
        while used < available and commanded[used] < mu:
            used += 1
        assert used < available, (
            f"life {life.child}: bolus {bolus_id} delivered {mu} mU, more than any command "
            "left to match it (a dose never commanded, or delivered twice)")
        used += 1


def _log_strokes(records: list[HistoryRecord]) -> list[int]:
    """Bolus id (-1 basal) of every stroke the log counts as delivered."""
    out: list[int] = []
    for r in records:
        if r.kind == "stroke":
            bid = r.data.get("bolus_id")
            out.append(bid if isinstance(bid, int) else -1)
        elif r.kind == "stroke_failed":
            out.pop()
    return out


def _check_log(records: list[HistoryRecord], motor: list[tuple[int, int, int]],
               over_before: int) -> int:
    """The log against the motor (strokes as (child, bolus id, is bolus))."""
    log = _log_strokes(records)
    over = len(log) - len(motor)
    assert over >= 0, "the log under-counts the motor"
    assert over - over_before in (0, 1), "more than the stroke in flight is unaccounted for"
    starts = {r.data["bolus_id"]: r for r in records if r.kind == "bolus_start"}
    for bid, start in starts.items():
        assert isinstance(bid, int)
        children = {c for c, b, _ in motor if b == bid}
        assert len(children) <= 1, f"bolus {bid} was delivered by two lives of the pump"
        motor_u = sum(1 for _, b, _ in motor if b == bid) * 0.025
        requested = start.data["requested_u"]
        assert isinstance(requested, float | int)
        assert motor_u <= requested + 1e-9, f"bolus {bid}: more than requested was delivered"
        logged = sum(1 for b in log if b == bid)
        assert 0 <= logged - sum(1 for _, b, _ in motor if b == bid) <= 1
    # Before a new life delivers anything, it has ended every bolus of the lives before.
    end_seq = {r.data["bolus_id"]: r.seq for r in records if r.kind == "bolus_end"}
    ended = {r.data["bolus_id"]: r.data["reason"] for r in records if r.kind == "bolus_end"}
    recovered = {r.data["interrupted_bolus_id"] for r in records if r.kind == "recovery"}
    boots = [r.seq for r in records if r.kind == "boot"]
    stroke_seqs = [r.seq for r in records if r.kind == "stroke"]
    for boot in boots:
        first_stroke = next((q for q in stroke_seqs if q > boot), None)
        if first_stroke is None:
            continue
        for bid, start in starts.items():
            if start.seq < boot:
                assert end_seq.get(bid, first_stroke) < first_stroke, (
                    f"bolus {bid} from an earlier life was not ended before delivery went on")
    for bid, reason in ended.items():
        if reason == "interrupted":
            assert bid in recovered, f"bolus {bid} interrupted without a recovery record"
    return over


def _check_commands(records: list[HistoryRecord], booted_seq: int) -> int:
    """Every accepted dose command before the last completed boot took effect or is reported
    not executed (exactly one of the two); returns how many were reported not executed."""
    effects = {r.data["command_seq"] for r in records if "command_seq" in r.data
               and r.kind != "setting_change"}
    reported = [r.data["not_executed_command_seq"] for r in records if r.kind == "recovery"
                and r.data.get("not_executed_command_seq") is not None]
    assert len(reported) == len(set(reported)), "a command was reported not executed twice"
    for r in records:
        if (r.kind == "command" and r.seq < booted_seq and r.data["outcome"] == "accepted"
                and r.data["replay_of"] is None and r.data["type"] in DOSE_COMMAND_NAMES):
            took_effect, not_done = r.seq in effects, r.seq in reported
            assert took_effect != not_done, (
                f"accepted {r.data['type']} (record {r.seq}): "
                f"{'both took effect and reported not executed' if took_effect else 'lost unseen'}")
    return len(reported)


@dataclass
class Outcome:
    kills: int
    reached: set[str]  # labels of the points reached
    delivered_u: float
    interrupted: int
    not_executed: int


def crash_loop(tmp_path: Path, targets: list[Point | float], *, mutant: bool = False
               ) -> Outcome:
    """One life per target: a :class:`Point` to stop at, or a float: kill that many seconds
    after the child's boot (random kills, for variety)."""
    started = time.monotonic()
    out = Outcome(0, set(), 0.0, 0, 0)
    labels = {_code(p): p.label for p in (Point(k, w) for k in _ALL_KEYS
                                          for w in ("before", "after"))}
    for epoch in range(-(-len(targets) // RESTARTS_PER_FILE)):
        path = tmp_path / f"pump-{epoch}.sqlite"
        motor: list[tuple[int, int, int]] = []
        over = 0
        booted_seq = 0
        for life_no in range(min(RESTARTS_PER_FILE, len(targets) - out.kills)):
            child = epoch * RESTARTS_PER_FILE + life_no
            target = targets[child]
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: a pump until it is killed
                os.close(r)
                try:
                    _child(path, w, child, target if isinstance(target, Point) else None,
                           mutant)
                finally:
                    os._exit(3)
            os.close(w)
            deadline = time.monotonic() + HUNG_S
            if isinstance(target, Point):
                life = _read(r, child, deadline, stop_on=(PAUSED,))
                assert life.reached is not None, f"life {child} hung before {target.label}"
            else:
                life = _read(r, child, deadline, stop_on=(READY, PAUSED))
                more = _read(r, child, time.monotonic() + target, stop_on=(PAUSED,))
                life.frames += more.frames
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            assert os.WIFSIGNALED(status), f"life {child} ended on its own ({status})"
            tail = _read(r, child, time.monotonic(), stop_on=())
            life.frames += tail.frames
            os.close(r)
            out.kills += 1
            if life.reached is not None and life.reached >= 0:
                out.reached.add(labels[life.reached])
            check_motor_against_commands(life)
            motor += [(child, a, b) for kind, a, b in life.frames if kind == STROKE]
            if not path.exists():
                # Killed before its history file existed (creation is atomic): a
                # pump with no history must not have delivered anything.
                assert motor == [], "strokes were delivered before the history existed"
                continue
            with SqliteHistory(path, read_only=True) as history:
                assert history.verify().ok
                records = history.records()
            over = _check_log(records, motor, over)
            if life.ready:  # this life finished its boot: its recovery records are written
                booted_seq = max(r.seq for r in records if r.kind == "boot")
            _check_commands(records, booted_seq)
        out.delivered_u += len(motor) * 0.025
        if path.exists():
            with SqliteHistory(path, read_only=True) as history:
                records = history.records()
            out.interrupted += sum(1 for r in records if r.kind == "bolus_end"
                                   and r.data["reason"] == "interrupted")
            out.not_executed += _check_commands(records, booted_seq)
    print(f"\ncrash loop: {out.kills} kills at {len(out.reached)} interruption points in "
          f"{time.monotonic() - started:.1f} s; {out.delivered_u:.2f} U delivered, "
          f"{out.interrupted} boluses interrupted, {out.not_executed} dose commands cut off "
          "before their effect")
    return out


def _required() -> set[str]:
    return {Point(k, w).label for k in REQUIRED_KEYS for w in ("before", "after")}


def test_killed_pump_never_loses_or_repeats_a_stroke(tmp_path: Path) -> None:
    """A kill before and after each record kind the pump writes (40 lives): the log bounds
    the motor, nothing repeats, and the motor never exceeds what the test commanded."""
    out = crash_loop(tmp_path, list(plan()))
    missing = _required() - out.reached
    assert not missing, f"interruption points never reached: {sorted(missing)}"
    assert out.interrupted >= 2 * len(RECOVERY_KEYS) and out.not_executed >= 1


def test_the_oracle_catches_a_pump_that_redelivers_an_interrupted_remainder(
        tmp_path: Path) -> None:
    """The mutant fails the check against the doses the test commanded.

    It passes every check made on the pump's own records: run once with
    ``check_motor_against_commands`` switched off, the 40-life plan of the test above passed
    them all while the mutant delivered 28.35 U against the real pump's 20.28 U (the
    remainders of 20 interrupted boluses, delivered again)."""
    with pytest.raises(AssertionError, match="never commanded"):
        crash_loop(tmp_path, [MID_BOLUS, Point("stroke:bolus", "after", 2)], mutant=True)


@pytest.mark.slow
def test_killed_pump_hundreds_of_times_never_loses_or_repeats_a_stroke(tmp_path: Path) -> None:
    """Every point, the recurring ones also at their 3rd and 5th occurrence, and 60 kills at
    random moments (timed from the child's boot)."""
    rng = np.random.default_rng(2)
    targets: list[Point | float] = list(plan(repeats=3))
    targets += [float(rng.uniform(0.0, 0.06)) for _ in range(60)]
    out = crash_loop(tmp_path, targets)
    missing = _required() - out.reached
    assert not missing, f"interruption points never reached: {sorted(missing)}"

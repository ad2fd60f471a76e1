"""Duty-cycled receivers and repeated bursts: computed catches, not an event per repetition."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from radiokit import QUIET, SHORT_AIR, Inbox, Records, device, quiet_medium

from pumplab.link.radio import ALWAYS, LEGACY_OOK, NEVER, DutyCycle, RxStatus
from pumplab.link.radio.calibration import median_received_dbm
from pumplab.link.radio.defaults import PARADIGM_SLEEP_LISTEN
from pumplab.link.radio.propagation import noise_floor_dbm, packet_error_rate
from pumplab.link.radio.schedule import ListenSchedule

AIR_US = LEGACY_OOK.airtime_us(len(SHORT_AIR))     # 15,625 µs
PRE_US = LEGACY_OOK.preamble_us                    # 7,813 µs


def _first_catch_by_brute_force(
    schedule: ListenSchedule, start_us: int, period_us: int, count: int
) -> int | None:
    """Reference: walk every repetition (what the medium must not do) and find the first
    one a receiver on ``schedule`` synchronises to."""
    for k in range(count):
        s = start_us + k * period_us
        window = schedule.next_window_us(s)
        if window is not None and window[0] < s + PRE_US:
            return k
        if k > 0:
            prev = s - period_us
            window = schedule.next_window_us(prev + PRE_US)
            if window is not None and prev + PRE_US <= window[0] < prev + AIR_US:
                return k                       # woke on the carrier of repetition k - 1
    return None


@pytest.mark.parametrize(("t_ms", "caught"), [(0, True), (500, False), (995, True), (985, False)])
def test_single_frame_reaches_a_duty_cycled_receiver_only_during_its_window(
    t_ms: int, caught: bool
) -> None:
    """Listening 10 ms every 1000 ms: a frame is caught iff a window overlaps its preamble."""
    clock, medium = quiet_medium()
    tx = medium.add(device("tx", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("rx", 1.0), channels=[QUIET.name], handler=inbox,
               schedule=DutyCycle(period_ms=1000, window_ms=10))
    clock.run_until(t_ms)
    tx.transmit(SHORT_AIR)
    clock.run_until(t_ms + 50)
    assert bool(inbox.got) is caught


def test_wakeup_burst_is_caught_by_a_sleeping_pump_in_a_handful_of_events() -> None:
    """500 repetitions over 12 s reach a pump asleep on the Paradigm duty cycle; the
    medium runs a few events, not 500."""
    clock, medium = quiet_medium()
    driver = medium.add(device("driver", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    sleeping = DutyCycle(period_ms=PARADIGM_SLEEP_LISTEN.period_ms,
                         window_ms=PARADIGM_SLEEP_LISTEN.window_ms, phase_ms=2_345)
    medium.add(device("pump", 1.0, worn_on="wearer"), channels=[QUIET.name], handler=inbox,
               schedule=sleeping)
    report = driver.transmit(SHORT_AIR, repeat=500, interval_ms=24)
    assert report.end_ms == math.ceil((499 * 24_000 + AIR_US) / 1000)
    events = clock.run_until(20_000)
    assert events <= 4
    [got] = inbox.got
    k = _first_catch_by_brute_force(sleeping, 0, 24_000, 500)
    assert k is not None and got.start_us == k * 24_000
    assert medium.stats.repetitions == 500 and medium.stats.transmissions == 1


@settings(max_examples=200, deadline=None)
@given(
    period_ms=st.integers(50, 5_000),
    window_ms=st.integers(1, 40),
    phase_ms=st.integers(0, 5_000),
    start_ms=st.integers(0, 3_000),
    count=st.integers(1, 300),
    interval_ms=st.integers(16, 60),
)
def test_computed_catch_equals_walking_every_repetition(
    period_ms: int, window_ms: int, phase_ms: int, start_ms: int, count: int, interval_ms: int
) -> None:
    """On a strong link the repetition caught is the first one the schedule allows."""
    window_ms = min(window_ms, period_ms)
    schedule = DutyCycle(period_ms=period_ms, window_ms=window_ms, phase_ms=phase_ms)
    clock, medium = quiet_medium()
    tx = medium.add(device("tx", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("rx", 0.5), channels=[QUIET.name], handler=inbox, schedule=schedule)
    clock.run_until(start_ms)
    tx.transmit(SHORT_AIR, repeat=count, interval_ms=interval_ms)
    clock.run_until(start_ms + count * interval_ms + 100)
    expected = _first_catch_by_brute_force(schedule, start_ms * 1000, interval_ms * 1000, count)
    if expected is None:
        assert inbox.got == []
    else:
        assert inbox.got[0].start_us == start_ms * 1000 + expected * interval_ms * 1000


def test_burst_shorter_than_the_sleep_period_can_miss() -> None:
    """2.4 s of wake-ups starting just after a window miss a pump listening every 4 s."""
    clock, medium = quiet_medium()
    records = Records()
    medium.add_frame_observer(records)
    driver = medium.add(device("driver", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 1.0), channels=[QUIET.name], handler=inbox,
               schedule=PARADIGM_SLEEP_LISTEN)
    clock.run_until(100)
    driver.transmit(SHORT_AIR, repeat=100, interval_ms=24)
    clock.run_until(5_000)
    assert inbox.got == []
    assert records.frames[0].rx["pump"].status is RxStatus.NOT_LISTENING


def test_awake_receiver_hears_the_first_and_the_last_repetition() -> None:
    """An always-on receiver gets repetition 0 and the final one, nothing in between."""
    clock, medium = quiet_medium()
    driver = medium.add(device("driver", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 1.0), channels=[QUIET.name], handler=inbox)
    driver.transmit(SHORT_AIR, repeat=200, interval_ms=23)
    clock.run_until(10_000)
    assert [r.start_us for r in inbox.got] == [0, 199 * 23_000]


def test_pump_that_wakes_on_the_burst_hears_its_last_repetition() -> None:
    """A sleeping pump that switches to always-on when it catches a repetition also gets
    the last one, after which the sender listens for its answer."""
    clock, medium = quiet_medium()
    driver = medium.add(device("driver", 0.0), channels=[QUIET.name])
    got: list[int] = []
    pump = medium.add(device("pump", 1.0), channels=[QUIET.name], schedule=PARADIGM_SLEEP_LISTEN)

    def on_frame(reception: object) -> None:
        got.append(clock.now_ms)
        pump.listen(ALWAYS)

    pump.set_handler(on_frame)
    clock.run_until(1_000)
    report = driver.transmit(SHORT_AIR, repeat=300, interval_ms=24)
    clock.run_until(20_000)
    assert len(got) == 2 and got[0] <= 5_000 + 40 and got[1] == report.end_ms


def test_stopping_a_burst_ends_it_after_the_repetition_on_the_air() -> None:
    """stop() mid-burst: the last repetition is the one on the air, and the radio is free."""
    clock, medium = quiet_medium()
    records = Records()
    medium.add_frame_observer(records)
    driver = medium.add(device("driver", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 1.0), channels=[QUIET.name], handler=inbox)
    driver.transmit(SHORT_AIR, repeat=500, interval_ms=24)
    clock.run_until(1_000)                     # repetition 41 started at 984 ms
    driver.stop()
    assert driver.busy_until_ms() == 1_000
    clock.run_until(1_001)
    assert [r.start_us for r in inbox.got] == [0, 984_000]
    assert records.frames[0].repeat == 42
    driver.transmit(SHORT_AIR)


def test_receiver_that_falls_asleep_misses_the_last_repetition() -> None:
    """After the first catch, a receiver that sleeps again gets no second delivery."""
    clock, medium = quiet_medium()
    driver = medium.add(device("driver", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    pump = medium.add(device("pump", 1.0), channels=[QUIET.name], handler=inbox)
    driver.transmit(SHORT_AIR, repeat=100, interval_ms=24)
    clock.run_until(100)
    pump.sleep()
    clock.run_until(5_000)
    assert [r.start_us for r in inbox.got] == [0]


def test_receiver_that_wakes_mid_burst_catches_the_next_repetition() -> None:
    """A schedule change during a burst is honoured from that moment on."""
    clock, medium = quiet_medium()
    driver = medium.add(device("driver", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    pump = medium.add(device("pump", 1.0), channels=[QUIET.name], handler=inbox, schedule=NEVER)
    driver.transmit(SHORT_AIR, repeat=100, interval_ms=24)
    clock.run_until(1_000)
    pump.listen(ALWAYS)
    clock.run_until(5_000)
    # 1,000 ms falls in repetition 41 (984-999.6 ms, preamble over): the next is 42.
    assert [r.start_us for r in inbox.got] == [42 * 24_000, 99 * 24_000]


def test_receiver_tuned_in_mid_burst_catches_it() -> None:
    """A radio that tunes to the channel during a burst catches the repetitions after."""
    clock, medium = quiet_medium()
    driver = medium.add(device("driver", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    sniffer = medium.add(device("sniffer", 1.0), channels=[], handler=inbox)
    driver.transmit(SHORT_AIR, repeat=10, interval_ms=30)
    clock.run_until(100)
    sniffer.tune(QUIET.name)
    clock.run_until(1_000)
    assert [r.start_us for r in inbox.got] == [120_000, 270_000]


def test_weak_link_catches_a_later_repetition_as_often_as_the_packet_error_rate_says() -> None:
    """On a lossy link the first repetition that gets through is geometric in the PER."""
    clock, medium = quiet_medium(seed=7)
    driver = medium.add(device("driver", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    rx = medium.add(device("rx", 48.0), channels=[QUIET.name], handler=inbox)
    snr = median_received_dbm(driver.participant, rx.participant, QUIET, 48.0) - noise_floor_dbm(
        LEGACY_OOK.sensitivity_dbm, LEGACY_OOK.sensitivity_ber)
    per = packet_error_rate(snr, LEGACY_OOK.payload_bits(len(SHORT_AIR)))
    assert 0.3 < per < 0.7, f"the test needs a middling per-repetition PER, got {per}"
    bursts, repeat = 400, 20
    for i in range(bursts):
        clock.run_until(i * 1_000)
        driver.transmit(SHORT_AIR, repeat=repeat, interval_ms=30)
    clock.run_until(bursts * 1_000 + 1_000)
    firsts: dict[int, int] = {}
    for reception in inbox.got:
        burst, offset = divmod(reception.start_us, 1_000_000)
        firsts.setdefault(burst, offset // 30_000)
    caught = 1 - per**repeat
    expected_mean = sum(k * per**k * (1 - per) for k in range(repeat)) / caught
    mean = sum(firsts.values()) / len(firsts)
    assert len(firsts) == pytest.approx(bursts * caught, abs=8)
    assert mean == pytest.approx(expected_mean, rel=0.15)


def test_repetition_lost_in_a_collision_is_caught_at_the_next() -> None:
    """A frame colliding with the repetition a receiver was about to catch pushes the
    catch to the following repetition."""
    clock, medium = quiet_medium()
    driver = medium.add(device("driver", -1.0), channels=[QUIET.name])
    other = medium.add(device("other", 1.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 0.0), channels=[QUIET.name], handler=inbox)
    driver.transmit(SHORT_AIR, repeat=10, interval_ms=30)
    other.transmit(SHORT_AIR)                  # on top of repetition 0, equally strong
    clock.run_until(1_000)
    senders = [(medium.resolve(r.provenance).transmitter, r.start_us) for r in inbox.got]
    assert senders == [("driver", 30_000), ("driver", 270_000)]


def test_jammed_wakeup_burst_costs_a_handful_of_events() -> None:
    """A jam that drowns a 500-frame burst for its first 5 s is skipped over, not tried
    repetition by repetition; the pump catches the first repetition after it."""
    clock, medium = quiet_medium()
    driver = medium.add(device("driver", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 1.0), channels=[QUIET.name], handler=inbox)
    medium.add(device("jammer", 2.0, eirp_dbm=30.0), channels=[QUIET.name]).jam(5_000)
    driver.transmit(SHORT_AIR, repeat=500, interval_ms=24)
    events = clock.run_until(20_000)
    assert events <= 5
    assert [r.start_us for r in inbox.got] == [209 * 24_000, 499 * 24_000]


def test_reactively_jammed_burst_gives_up_at_once() -> None:
    """A reactive jam on every repetition leaves nothing to catch, in one event."""
    clock, medium = quiet_medium()
    records = Records()
    medium.add_frame_observer(records)
    driver = medium.add(device("driver", 0.0), channels=[QUIET.name])
    inbox = Inbox()
    medium.add(device("pump", 1.0), channels=[QUIET.name], handler=inbox)
    guard = medium.add(device("guard", 1.5, eirp_dbm=20.0), channels=[QUIET.name])
    guard.jam_reactively(lambda start: True, reaction_us=11_000)
    driver.transmit(SHORT_AIR, repeat=500, interval_ms=24)
    events = clock.run_until(20_000)
    assert inbox.got == [] and events <= 3
    assert records.frames[0].rx["pump"].status is RxStatus.JAMMED


def test_schedules_must_be_listen_schedules() -> None:
    """A wrong object as a schedule is misuse."""
    _, medium = quiet_medium()
    with pytest.raises(TypeError, match="next_window_us"):
        medium.add(device("a", 0.0), channels=[QUIET.name], schedule="always")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window_ms"):
        DutyCycle(period_ms=100, window_ms=200)

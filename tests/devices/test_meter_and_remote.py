"""The linked meter and the keychain remote."""

import pytest

from pumplab.clock import MS_PER_MINUTE, EventClock
from pumplab.devices.meter import Meter
from pumplab.devices.remote import Remote
from pumplab.link.base import Envelope
from pumplab.link.memory import InMemoryLink
from pumplab.link.messages import MeterReading, RemoteBolusCommand, RemoteSuspendCommand


def sink(link: InMemoryLink) -> list[Envelope]:
    got: list[Envelope] = []
    link.attach("pump:1", got.append)
    return got


def test_meter_sends_in_range_result_to_pump() -> None:
    """A result in range is shown and sent as a MeterReading."""
    clock = EventClock(start_ms=1000)
    link = InMemoryLink(clock)
    got = sink(link)
    meter = Meter("meter:1", "pump:1", clock, link, lambda: (123.0, "123"))
    meter.start()
    shown = meter.check_bg()
    clock.run_until(2000)
    assert shown.text == "123" and shown.sent_to_pump
    assert got[0].message == MeterReading(bg_mg_dl=123.0, measured_at_ms=1000)


def test_meter_does_not_send_lo_or_hi() -> None:
    """LO/HI results are shown but never sent."""
    clock = EventClock()
    link = InMemoryLink(clock)
    got = sink(link)
    meter = Meter("meter:1", "pump:1", clock, link, lambda: (None, "LO"))
    meter.start()
    assert meter.check_bg().sent_to_pump is False
    clock.run_until(100)
    assert got == []


def test_remote_sends_presets_and_suspend_only() -> None:
    """The remote's only messages are a preset bolus and a suspend."""
    clock = EventClock()
    link = InMemoryLink(clock)
    got = sink(link)
    remote = Remote("remote:1", "pump:1", clock, link, presets_u=(0.5, 1.0))
    remote.start()
    assert remote.bolus(1)
    remote.suspend()
    clock.run_until(100)
    assert [e.message for e in got] == [RemoteBolusCommand(1.0), RemoteSuspendCommand()]


def test_remote_caps_its_own_boluses_per_rolling_hour() -> None:
    """Beyond max_u_per_hour the remote refuses locally until the hour rolls on."""
    clock = EventClock()
    link = InMemoryLink(clock)
    got = sink(link)
    remote = Remote("remote:1", "pump:1", clock, link, presets_u=(1.0,), max_u_per_hour=2.0)
    assert remote.bolus(0) and remote.bolus(0)
    assert not remote.bolus(0)
    clock.run_until(60 * MS_PER_MINUTE)
    assert remote.bolus(0)
    clock.run_until(61 * MS_PER_MINUTE)
    assert len(got) == 3 and remote.refused_locally == 1


@pytest.mark.parametrize("presets", [(0.0,), (26.0,), (float("nan"),), ()])
def test_remote_rejects_bad_presets(presets: tuple[float, ...]) -> None:
    """Presets must be positive and at most 25 U (NaN is not a preset)."""
    with pytest.raises(ValueError):
        Remote("remote:1", "pump:1", EventClock(), InMemoryLink(EventClock()), presets_u=presets)


@pytest.mark.parametrize("cap", [0.0, -1.0, float("nan"), float("inf")])
def test_remote_rejects_a_cap_that_would_not_cap(cap: float) -> None:
    """A NaN or infinite hourly cap would disable the remote's own limit: refused."""
    with pytest.raises(ValueError, match="max_u_per_hour"):
        Remote("remote:1", "pump:1", EventClock(), InMemoryLink(EventClock()), max_u_per_hour=cap)

"""A flood of refused messages costs a bounded amount (issue 9, defect 4).

100,000 ``ReadStatusCommand`` s from an unpaired address, 100 a minute, once drained the
battery (BATTERY_OUT: no insulin for the next hour) and wrote 100,654 history records: every
refusal was recorded and answered, each at a full message's battery cost.  Refusals from
senders the pump does not serve (secure: unpaired; legacy: unlinked peripheral ids) now go
through the pump's :class:`~pumplab.devices.pump.refusal_limiter.RefusalLimiter`: one
``refusal_summary`` record per sender class per minute with the counts, at most a few
answers a minute, one FLOOD alert per episode; paired devices are served as before.
"""

from __future__ import annotations

import pytest
from pumpkit import APP, ATTACKER, CGM, PUMP, REMOTE, Bench, bench, motor_u

from pumplab.clock import MS_PER_MINUTE
from pumplab.devices.pump import AlarmCode, PumpPhase, PumpSettings
from pumplab.link.messages import (
    Message,
    Nak,
    NakReason,
    ReadStatusCommand,
    RemoteBolusCommand,
    SensorReading,
    StatusReport,
    WakeupCommand,
)

PER_MINUTE = 100


def _paired_traffic(b: Bench, minute: int) -> None:
    """What a paired CGM and controller send: a reading every 5 min, a status read every 30."""
    if minute % 5 == 0:
        b.link.send(CGM, PUMP, SensorReading(minute // 5, b.clock.now_ms, 120.0))
    if minute % 30 == 0:
        b.link.send(APP, PUMP, ReadStatusCommand())


def _run(b: Bench, minutes: int, flood: Message | None, src: str = ATTACKER) -> None:
    for minute in range(minutes):
        _paired_traffic(b, minute)
        if flood is not None:
            for _ in range(PER_MINUTE):
                b.link.send(src, PUMP, flood)
        b.run_min(1)


def _answers(b: Bench, dst: str) -> list[tuple[int, Message]]:
    return [(e.received_at_ms, e.message) for e in b.replies if e.dst == dst]


def test_a_flood_from_an_unpaired_sender_costs_bounded_battery_and_history() -> None:
    """30,000 refused status reads in 300 min: < 1 % more battery than the same pump without
    them, one summary record a minute, at most 2 answers a minute, one FLOOD alert; the
    paired CGM and controller are served throughout and basal never stops."""
    minutes = 300
    flooded, quiet = bench(), bench()
    _run(flooded, minutes, ReadStatusCommand())
    _run(quiet, minutes, None)
    assert flooded.pump.phase is PumpPhase.RUNNING
    spent = quiet.pump.status().battery_pct - flooded.pump.status().battery_pct
    assert spent < 1.0, f"the flood cost {spent:.2f} % of the battery"
    extra = len(flooded.history.records()) - len(quiet.history.records())
    assert extra <= minutes + 2, f"the flood wrote {extra} records"
    summaries = flooded.kinds("refusal_summary")
    assert sum(s["refused"] for s in summaries) >= minutes * PER_MINUTE - PER_MINUTE  # type: ignore[misc]
    assert {s["sender_class"] for s in summaries} == {"unpaired"}
    assert not [c for c in flooded.kinds("command") if c["src"] == ATTACKER]
    per_minute: dict[int, int] = {}
    for at, message in _answers(flooded, ATTACKER):
        assert isinstance(message, Nak) and message.reason is NakReason.NOT_AUTHORIZED
        per_minute[at // MS_PER_MINUTE] = per_minute.get(at // MS_PER_MINUTE, 0) + 1
    assert per_minute and max(per_minute.values()) <= 2
    assert [a["code"] for a in flooded.kinds("alarm")].count(AlarmCode.FLOOD.value) == 1
    # Paired devices were served as on the quiet pump.
    for who in (CGM, APP):
        assert len(_answers(flooded, who)) == len(_answers(quiet, who)) > 0
    assert all(isinstance(m, StatusReport) for _, m in _answers(flooded, APP))
    assert motor_u(flooded) == motor_u(quiet) == pytest.approx(5.0, abs=0.05)


def test_one_flood_alert_per_episode() -> None:
    """A flood raises FLOOD once however long it lasts; after a quiet spell a new flood is
    a new episode and raises it again."""
    b = bench()
    _run(b, 30, ReadStatusCommand())
    _run(b, 60, None)
    _run(b, 5, ReadStatusCommand())
    assert [a["code"] for a in b.kinds("alarm")].count(AlarmCode.FLOOD.value) == 2


def test_a_lone_unpaired_message_is_answered_and_summarised() -> None:
    """One bolus from an unpaired address: NOT_AUTHORIZED answer, no command record, and a
    refusal_summary naming the sender, the message type and the reason; no alert."""
    b = bench()
    reply = b.send(ATTACKER, RemoteBolusCommand(1.0, command_id=1))
    assert isinstance(reply, Nak) and reply.reason is NakReason.NOT_AUTHORIZED
    b.run_min(2)
    [summary] = b.kinds("refusal_summary")
    assert summary["refused"] == 1 and summary["answered"] == 1
    assert summary["top_senders"] == [[ATTACKER, 1]]
    assert summary["types"] == [["RemoteBolusCommand", 1]]
    assert summary["reasons"] == [["not_authorized", 1]]
    assert summary["flood"] is False
    assert AlarmCode.FLOOD.value not in [a["code"] for a in b.kinds("alarm")]


def test_legacy_unlinked_peripheral_flood_is_summarised_not_recorded_one_by_one() -> None:
    """Legacy: remote packets from an unlisted id, 100 a minute for an hour: summaries (one a
    minute), never answered (one-way link), battery as a quiet pump's."""
    settings = PumpSettings(remote_enabled=True, remote_ids=("123456",))
    flooded, quiet = bench("legacy", settings=settings), bench("legacy", settings=settings)
    _run(flooded, 60, RemoteBolusCommand(5.0), src="remote:999999")
    _run(quiet, 60, None)
    assert len(flooded.kinds("refusal_summary")) <= 61
    assert {s["sender_class"] for s in flooded.kinds("refusal_summary")} == {"unlinked"}
    assert not [c for c in flooded.kinds("command") if c["src"] == "remote:999999"]
    assert _answers(flooded, "remote:999999") == []
    spent = quiet.pump.status().battery_pct - flooded.pump.status().battery_pct
    assert spent < 0.25
    assert motor_u(flooded, what="bolus") == 0.0
    assert isinstance(flooded.send(REMOTE, RemoteBolusCommand(1.0)), type(None))
    flooded.run_min(5)
    assert motor_u(flooded, what="bolus") == pytest.approx(1.0)  # the linked remote works


def test_a_sleeping_legacy_radio_spends_nothing_on_what_it_does_not_hear() -> None:
    """Commands to a legacy pump whose radio sleeps are not heard: no record, no battery."""
    flooded, quiet = bench("legacy"), bench("legacy")
    _run(flooded, 60, ReadStatusCommand())
    _run(quiet, 60, None)
    assert flooded.pump.status().battery_pct == quiet.pump.status().battery_pct
    assert len(flooded.history.records()) == len(quiet.history.records())
    flooded.send(ATTACKER, WakeupCommand(10))
    assert isinstance(flooded.send(ATTACKER, ReadStatusCommand()), StatusReport)


@pytest.mark.slow
def test_the_issue_9_flood_no_longer_empties_the_battery() -> None:
    """The reported attack: 100,000 status reads at 100 a minute from an unpaired address
    (once BATTERY_OUT, no insulin for an hour and 100,654 records)."""
    b = bench()
    _run(b, 1000, ReadStatusCommand())
    _run(b, 60, None)
    assert AlarmCode.BATTERY_OUT not in {a.code for a in b.pump.alarms}
    assert b.pump.status().battery_pct > 90.0
    assert len(b.history.records()) < 8000
    assert isinstance(b.send(APP, ReadStatusCommand()), StatusReport)
    assert motor_u(b) == pytest.approx(1060 / 60, abs=0.05)

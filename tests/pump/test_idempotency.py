"""Secure-mode dose commands are idempotent: ids per sender, persisted, replayed, never doubled."""

from __future__ import annotations

import pytest
from pumpkit import APP, REMOTE, bench, motor_u

from pumplab.link.messages import (
    Ack,
    BolusCommand,
    CancelTempBasalCommand,
    Nak,
    NakReason,
    ReadStatusCommand,
    RemoteBolusCommand,
    StatusReport,
    TempBasalCommand,
)


def test_dose_command_without_an_id_is_refused_in_secure_mode() -> None:
    """A bolus with no command id is refused MALFORMED and recorded."""
    b = bench()
    reply = b.send(APP, BolusCommand(1.0))
    assert isinstance(reply, Nak) and reply.reason is NakReason.MALFORMED
    assert "command_id" in reply.detail


def test_repeated_id_with_same_payload_replays_the_outcome_and_delivers_nothing() -> None:
    """The second copy of bolus id 7 is answered replayed=True and adds no insulin."""
    b = bench()
    first = b.send(APP, BolusCommand(2.0, command_id=7))
    b.run_min(5)
    second = b.send(APP, BolusCommand(2.0, command_id=7))
    b.run_min(5)
    assert isinstance(first, Ack) and isinstance(second, Ack)
    assert second.replayed and not first.replayed
    assert second.history_seq == first.history_seq
    assert motor_u(b, what="bolus") == pytest.approx(2.0)
    assert len(b.kinds("bolus_start")) == 1


def test_repeated_id_with_a_different_payload_is_rejected() -> None:
    """Reusing id 7 for another amount is DUPLICATE_ID_MISMATCH."""
    b = bench()
    b.send(APP, BolusCommand(2.0, command_id=7))
    reply = b.send(APP, BolusCommand(3.0, command_id=7))
    assert isinstance(reply, Nak) and reply.reason is NakReason.DUPLICATE_ID_MISMATCH
    b.run_min(5)
    assert motor_u(b, what="bolus") == pytest.approx(2.0)


def test_a_refusal_is_replayed_too() -> None:
    """A command refused for max bolus is answered with the same refusal when repeated."""
    b = bench()
    first = b.send(APP, BolusCommand(12.0, command_id=3))
    again = b.send(APP, BolusCommand(12.0, command_id=3))
    assert isinstance(first, Nak) and isinstance(again, Nak)
    assert again.replayed and again.reason is NakReason.MAX_BOLUS


def test_ids_are_scoped_per_sender() -> None:
    """The remote's id 1 and the app's id 1 are different commands."""
    b = bench()
    assert isinstance(b.send(APP, BolusCommand(1.0, command_id=1)), Ack)
    b.run_min(2)
    reply = b.send(REMOTE, RemoteBolusCommand(1.0, command_id=1))
    assert isinstance(reply, Ack) and not reply.replayed
    b.run_min(2)
    assert motor_u(b, what="bolus") == pytest.approx(2.0)


def test_status_reports_the_asking_senders_last_accepted_id() -> None:
    """StatusReport.last_command_id is the asker's, not another sender's."""
    b = bench()
    b.send(APP, TempBasalCommand(rate_u_per_h=1.5, duration_min=30, command_id=41))
    b.send(REMOTE, RemoteBolusCommand(0.5, command_id=99))
    b.send(APP, BolusCommand(30.0, command_id=42))  # refused: not "accepted"
    status = b.send(APP, ReadStatusCommand())
    assert isinstance(status, StatusReport)
    assert status.last_command_id == 41 and status.last_command_outcome == "temp_basal_started"


def test_idempotency_table_survives_a_restart() -> None:
    """After a restart a repeated id is still answered from the log, delivering nothing."""
    b = bench()
    b.send(APP, BolusCommand(1.5, command_id=5))
    b.run_min(5)
    b.restart()
    reply = b.send(APP, BolusCommand(1.5, command_id=5))
    assert isinstance(reply, Ack) and reply.replayed
    b.run_min(5)
    assert motor_u(b, what="bolus") == pytest.approx(1.5)
    status = b.send(APP, ReadStatusCommand())
    assert isinstance(status, StatusReport) and status.last_command_id == 5


def test_a_stale_duplicate_is_refused_after_the_id_window_is_flushed() -> None:
    """1024 later commands push id 0 out of memory; a late copy of it is STALE, not re-run."""
    b = bench()
    assert isinstance(b.send(APP, BolusCommand(0.5, command_id=0)), Ack)
    b.run_min(5)
    for i in range(1, 1025):
        b.send(APP, CancelTempBasalCommand(command_id=i))  # refused, but remembered
    b.run_min(60)
    reply = b.send(APP, BolusCommand(0.5, command_id=0))
    assert isinstance(reply, Nak) and reply.reason is NakReason.STALE_COMMAND_ID
    b.run_min(5)
    assert motor_u(b, what="bolus") == pytest.approx(0.5)


def test_command_ids_must_increase_per_sender() -> None:
    """After id 5, an id 3 never seen before is refused STALE_COMMAND_ID; id 6 is fine."""
    b = bench()
    assert isinstance(b.send(APP, BolusCommand(0.5, command_id=5)), Ack)
    b.run_min(2)
    reply = b.send(APP, BolusCommand(0.5, command_id=3))
    assert isinstance(reply, Nak) and reply.reason is NakReason.STALE_COMMAND_ID
    assert isinstance(b.send(APP, BolusCommand(0.5, command_id=6)), Ack)


def test_the_high_water_mark_survives_a_restart() -> None:
    """After a restart, an id below the sender's highest is still refused as stale."""
    b = bench()
    b.send(APP, TempBasalCommand(rate_u_per_h=1.5, duration_min=30, command_id=40))
    b.restart()
    reply = b.send(APP, BolusCommand(0.5, command_id=12))
    assert isinstance(reply, Nak) and reply.reason is NakReason.STALE_COMMAND_ID
    status = b.send(APP, ReadStatusCommand())
    assert isinstance(status, StatusReport) and status.command_id_high_water == 40

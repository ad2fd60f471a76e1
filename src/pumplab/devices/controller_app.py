"""The phone-side controller app: the client a closed-loop controller uses.

It reads the pump's status and history and sends temp basals and boluses.
Its one hard rule is about lost acknowledgements: when the answer to a dose
command does not come back, the app **reads the pump's status before doing
anything else**, and never resends blindly.

- Secure pump (``use_command_ids=True``): every dose command carries a fresh
  command id.  After a timeout the app asks for status: if the pump reports
  this id as the sender's last accepted command, the dose is known to be
  accepted.  Otherwise the pump never accepted it (it was lost on the way, or
  refused and the refusal was lost), and the app sends the *same command with
  the same id* again: the pump's idempotency answers a command it has seen
  with its original outcome and delivers nothing, so this can never double a
  dose.
- Legacy pump (no command ids): before sending, the app reads the pump's
  status to learn the head of its history (the *mark*); after a timeout it
  reads the history records written after the mark and looks for the pump's
  ``command`` record of this command (source, type and payload); found, its
  outcome is the answer.  Not found, the command never arrived and is sent
  again.  Without the mark an earlier identical command would be mistaken for
  this one.  (The legacy protocol itself cannot rule out a command that arrives
  after its own history was read: only command ids can, which is why the
  secure pump has them.)

A legacy pump's radio sleeps until a wake-up burst (MiniMed power-control,
opcode 0x5D), as OpenAPS tools know: the legacy app sends a
:class:`WakeupCommand` before a command when its last one is older than
``wakeup_refresh_ms``.

Either way, if the pump cannot be reached within ``max_attempts`` rounds the
outcome is reported as ``unknown`` and the app sends nothing more for it: a
dose is never guessed.  Commands are sent one at a time (a queue), which is
what makes "the last accepted id" an unambiguous answer.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pumplab.clock import Clock, EventHandle
from pumplab.devices.peripheral import Peripheral
from pumplab.link.base import Envelope, Link
from pumplab.link.messages import (
    Ack,
    BolusCommand,
    CancelTempBasalCommand,
    Command,
    HistoryPage,
    Message,
    Nak,
    NakReason,
    ReadHistoryCommand,
    ReadStatusCommand,
    StatusReport,
    SuspendCommand,
    TempBasalCommand,
    WakeupCommand,
)

__all__ = ["ControllerApp", "DoseOutcome"]

#: ``not_sent``: the pump could not be reached to learn its history head, so
#: the (legacy) command was never sent and nothing can have been delivered.
OutcomeStatus = Literal["accepted", "rejected", "unknown", "not_sent"]


@dataclass(frozen=True, slots=True)
class DoseOutcome:
    """How a command sent by the app ended, and how the app found out."""

    command: Command
    status: OutcomeStatus
    reason: NakReason | None
    resolved_by: Literal["ack", "status", "history", "gave_up"]
    attempts: int  # times the command itself was sent
    replayed: bool = False  # the pump answered from its idempotency record


@dataclass(slots=True)
class _Pending:
    command: Command
    on_done: Callable[[DoseOutcome], None] | None
    attempts: int = 0
    rounds: int = 0
    history_mark: int = 0
    phase: Literal["mark", "command", "status", "history"] = "command"
    timer: EventHandle | None = field(default=None, repr=False)


class ControllerApp(Peripheral):
    """Sends dose commands to one pump and resolves every outcome."""

    def __init__(
        self,
        address: str,
        pump_address: str,
        clock: Clock,
        link: Link,
        *,
        use_command_ids: bool = True,
        ack_timeout_ms: int = 15_000,
        max_attempts: int = 4,
        first_command_id: int = 1,
        wakeup_minutes: int = 10,
    ) -> None:
        if ack_timeout_ms <= 0 or max_attempts < 1:
            raise ValueError("ack_timeout_ms must be > 0 and max_attempts >= 1")
        super().__init__(address, pump_address, clock, link)
        self._use_ids = use_command_ids
        self._timeout_ms = ack_timeout_ms
        self._max_attempts = max_attempts
        self._next_id = first_command_id
        self._queue: deque[_Pending] = deque()
        self._current: _Pending | None = None
        self._history_seq = 0
        self.last_status: StatusReport | None = None
        self.outcomes: list[DoseOutcome] = []
        self._status_waiters: list[Callable[[StatusReport], None]] = []
        self._wakeup_minutes = wakeup_minutes
        self._awake_until_ms = -1

    # ---------------------------------------------------------------- requests

    def bolus(self, amount_u: float, on_done: Callable[[DoseOutcome], None] | None = None) -> None:
        """Ask for a normal bolus of ``amount_u``."""
        self._enqueue(BolusCommand(amount_u, command_id=self._take_id()), on_done)

    def temp_basal(
        self,
        *,
        rate_u_per_h: float | None = None,
        percent: int | None = None,
        duration_min: int = 30,
        on_done: Callable[[DoseOutcome], None] | None = None,
    ) -> None:
        """Ask for a temporary basal by rate or percent."""
        command = TempBasalCommand(
            rate_u_per_h, percent, duration_min, command_id=self._take_id()
        )
        self._enqueue(command, on_done)

    def cancel_temp_basal(self, on_done: Callable[[DoseOutcome], None] | None = None) -> None:
        self._enqueue(CancelTempBasalCommand(command_id=self._take_id()), on_done)

    def suspend(self, on_done: Callable[[DoseOutcome], None] | None = None) -> None:
        self._enqueue(SuspendCommand(command_id=self._take_id()), on_done)

    def read_status(self, on_status: Callable[[StatusReport], None]) -> None:
        """Ask for a status report (no retry: a caller polls again if it wants)."""
        self._status_waiters.append(on_status)
        self._send(ReadStatusCommand())

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._queue)

    # ---------------------------------------------------------------- internals

    def _take_id(self) -> int | None:
        if not self._use_ids:
            return None
        command_id = self._next_id
        self._next_id += 1
        return command_id

    def _enqueue(self, command: Command, on_done: Callable[[DoseOutcome], None] | None) -> None:
        self._queue.append(_Pending(command, on_done, history_mark=self._history_seq))
        if self._current is None:
            self._next()

    def _next(self) -> None:
        if not self._queue:
            self._current = None
            return
        self._current = self._queue.popleft()
        self._start(self._current)

    def _wake_if_needed(self) -> None:
        """Legacy only: keep the pump's radio listening (it sleeps otherwise)."""
        if self._use_ids:
            return
        now = self._clock.now_ms
        # Refresh a minute before the pump's listening window would close.
        if now >= self._awake_until_ms - 60_000:
            super()._send(WakeupCommand(duration_min=self._wakeup_minutes))
            self._awake_until_ms = now + self._wakeup_minutes * 60_000

    def _send(self, message: Message) -> None:
        self._wake_if_needed()
        super()._send(message)

    def _send_command(self, pending: _Pending) -> None:
        pending.attempts += 1
        pending.phase = "command"
        self._send(pending.command)
        self._arm(pending)

    def _start(self, pending: _Pending) -> None:
        if self._use_ids:
            self._send_command(pending)
            return
        # Legacy: learn the history head first, so the search after a lost
        # answer only looks at records this command could have caused.
        pending.phase = "mark"
        self._send(ReadStatusCommand())
        self._arm(pending)

    def _arm(self, pending: _Pending) -> None:
        if pending.timer is not None:
            self._clock.cancel(pending.timer)
        pending.timer = self._clock.schedule_in(
            self._timeout_ms, lambda: self._on_timeout(pending), label="app ack timeout"
        )

    def _on_timeout(self, pending: _Pending) -> None:
        if pending is not self._current:
            return
        pending.rounds += 1
        if pending.rounds >= self._max_attempts * 2:
            never_sent = pending.phase == "mark"
            self._finish(pending, "not_sent" if never_sent else "unknown", None, "gave_up")
            return
        if pending.phase == "mark":
            self._send(ReadStatusCommand())  # nothing was sent yet: ask for the head again
            self._arm(pending)
            return
        # The answer is missing: find out what the pump did before anything else.
        if self._use_ids:
            pending.phase = "status"
            self._send(ReadStatusCommand())
        else:
            pending.phase = "history"
            self._send(ReadHistoryCommand(since_seq=pending.history_mark, limit=1000))
        self._arm(pending)

    def _finish(
        self,
        pending: _Pending,
        status: OutcomeStatus,
        reason: NakReason | None,
        resolved_by: Literal["ack", "status", "history", "gave_up"],
        replayed: bool = False,
    ) -> None:
        if pending.timer is not None:
            self._clock.cancel(pending.timer)
            pending.timer = None
        outcome = DoseOutcome(pending.command, status, reason, resolved_by, pending.attempts,
                              replayed)
        self.outcomes.append(outcome)
        self._current = None
        if pending.on_done is not None:
            pending.on_done(outcome)
        self._next()

    def _resend_or_give_up(self, pending: _Pending) -> None:
        if pending.attempts >= self._max_attempts:
            self._finish(pending, "unknown", None, "gave_up")
        else:
            self._send_command(pending)

    def _on_envelope(self, envelope: Envelope) -> None:
        if envelope.src != self.pump_address:
            return
        message = envelope.message
        if isinstance(message, StatusReport):
            self.last_status = message
            self._history_seq = max(self._history_seq, message.history_seq)
            waiters, self._status_waiters = self._status_waiters, []
            for waiter in waiters:
                waiter(message)
            self._status_for_pending(message)
            return
        if isinstance(message, HistoryPage):
            self._history_for_pending(message)
            return
        if isinstance(message, Ack | Nak) and message.history_seq is not None:
            self._history_seq = max(self._history_seq, message.history_seq)
        pending = self._current
        if pending is None or not isinstance(message, Ack | Nak) or pending.phase == "mark":
            return
        if message.in_reply_to != pending.command.type_name:
            return
        if self._use_ids and message.command_id != pending.command.command_id:
            return  # a late answer to an earlier command
        if isinstance(message, Ack):
            self._finish(pending, "accepted", None, "ack", message.replayed)
        else:
            self._finish(pending, "rejected", message.reason, "ack", message.replayed)

    def _status_for_pending(self, status: StatusReport) -> None:
        pending = self._current
        if pending is not None and pending.phase == "mark":
            pending.history_mark = status.history_seq
            pending.phase = "command"
            pending.attempts = 0
            self._send_command(pending)
            return
        if pending is None or pending.phase != "status":
            return
        if status.last_command_id == pending.command.command_id:
            self._finish(pending, "accepted", None, "status")
        else:
            # Not accepted: lost before the pump, or refused and the refusal lost.
            # The same id again is answered from the pump's idempotency record.
            self._resend_or_give_up(pending)

    def _history_for_pending(self, page: HistoryPage) -> None:
        pending = self._current
        if pending is None or pending.phase != "history":
            return
        wanted = _payload(pending.command)
        for record in page.records:
            self._history_seq = max(self._history_seq, int(record.get("seq", 0)))
            data = record.get("data", {})
            if (
                record.get("kind") == "command"
                and data.get("src") == self.address
                and data.get("type") == pending.command.type_name
                and data.get("payload") == wanted
            ):
                if data.get("outcome") == "accepted":
                    self._finish(pending, "accepted", None, "history")
                else:
                    reason = data.get("reason")
                    self._finish(pending, "rejected",
                                 NakReason(reason) if reason else None, "history")
                return
        if page.more:
            self._send(ReadHistoryCommand(since_seq=self._history_seq, limit=1000))
            return
        self._resend_or_give_up(pending)


def _payload(command: Command) -> dict[str, Any]:
    """The message fields as the pump records them (command_id excluded)."""
    fields = dataclasses.asdict(command)
    fields.pop("command_id", None)
    return fields

"""The phone-side controller app: the client a closed-loop controller uses.

It reads the pump's status and history and sends temp basals and boluses.
Its one hard rule is about lost acknowledgements: when the answer to a dose
command does not come back, the app **reads the pump's status before doing
anything else**, and never resends blindly.

- Secure pump (``use_command_ids=True``): every dose command carries a fresh
  command id, assigned when the command is first sent (not when it is
  queued).  Before its first command the app reads the pump's status and
  starts above ``command_id_high_water``, the highest id the pump has decided
  on for this sender, so an app that lost its counter (a restarted phone)
  never reuses an old id.  A ``STALE_COMMAND_ID`` or ``DUPLICATE_ID_MISMATCH``
  refusal of a command sent once (another client with this address took ids
  meanwhile) means the pump refused it without acting; the app re-reads the
  high-water mark and sends it again with a new id.  (After a resend it cannot
  tell which copy was refused, so it reports the outcome ``unknown``.)

  After a timeout the app asks for status: if the pump reports this id as the
  sender's last accepted command, the dose is known to be accepted.  Otherwise
  the pump never accepted it (it was lost on the way, or refused and the
  refusal was lost), and the app sends the *same command with the same id*
  again: the pump's idempotency answers a command it has seen with its
  original outcome and delivers nothing, so this can never double a dose.
- Legacy pump (no command ids): before sending, the app reads the pump's
  status to learn the head of its history (the *mark*); after a timeout it
  reads the history records written after the mark and looks for the pump's
  ``command`` record of this command (source, type and payload); found, its
  outcome is the answer, unless a later ``recovery`` record names it as
  accepted but never executed (the pump restarted first): then it is reported
  rejected with ``NOT_EXECUTED`` and not sent again (a dose decided minutes
  ago is for the controller to decide afresh).  Not found, the command never
  arrived and is sent again.  Without the mark an earlier identical command
  would be mistaken for this one.  (The legacy protocol itself cannot rule out
  a command that arrives after its own history was read: only command ids
  can, which is why the secure pump has them.)

A legacy pump's radio sleeps until a wake-up burst (MiniMed power-control,
opcode 0x5D), as OpenAPS tools know: the legacy app sends a
:class:`WakeupCommand` before a request when the listening window it opened
(``wakeup_minutes``) is about to close, and again after any unanswered
request (a restarted pump's radio is asleep whatever the app believes).

Either way, if the pump cannot be reached within ``max_attempts`` rounds the
outcome is reported as ``unknown`` and the app sends nothing more for it: a
dose is never guessed.  Commands are sent one at a time (a queue), which is
what makes "the last accepted id" an unambiguous answer.

The app also keeps the **head of the pump's history** it has seen
(:attr:`ControllerApp.known_head`: the highest ``history_seq``, and that
record's hash once it read the record), a head kept outside the pump, which is
what a hash chain needs to show truncation or a rewrite (docs/history.md).  It
warns (:attr:`ControllerApp.history_warnings`) when a status report the pump
made *later* (by its device time) than the one the head came from shows fewer
records (``rolled_back``: restored from an older copy, cut short, or a new
history), and when a record it reads at a seq it knows has another hash
(``rewritten``); :meth:`ControllerApp.check_history` reads the record at the
head to look for the latter.  A pump whose device time itself went back (a
different pump, or a new log written with a reset clock) is not detected.
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

__all__ = ["ControllerApp", "DoseOutcome", "HistoryWarning"]

#: ``not_sent``: the pump could not be reached to learn its history head, so
#: the (legacy) command was never sent and nothing can have been delivered.
OutcomeStatus = Literal["accepted", "rejected", "unknown", "not_sent"]


#: Refusals that mean "this id is already used": the command was not acted on.
_ID_TAKEN = (NakReason.STALE_COMMAND_ID, NakReason.DUPLICATE_ID_MISMATCH)


@dataclass(frozen=True, slots=True)
class DoseOutcome:
    """How a command sent by the app ended, and how the app found out."""

    command: Command
    status: OutcomeStatus
    reason: NakReason | None
    resolved_by: Literal["ack", "status", "history", "gave_up"]
    attempts: int  # times the command itself was sent
    replayed: bool = False  # the pump answered from its idempotency record


@dataclass(frozen=True, slots=True)
class HistoryWarning:
    """The pump's history no longer reaches, or no longer matches, a head the app saw.

    ``known_seq``/``known_hash`` are the head seen before (the hash ``None`` if the app
    never read that record): keep them as evidence, e.g. for ``pumplab history verify
    --expect-head SEQ:HASH``.  ``seen_seq`` is what the pump reported now.
    """

    at_ms: int  # the app's clock
    kind: Literal["rolled_back", "rewritten"]
    known_seq: int
    known_hash: str | None
    seen_seq: int
    seen_hash: str | None
    detail: str


@dataclass(slots=True)
class _Pending:
    command: Command
    on_done: Callable[[DoseOutcome], None] | None
    attempts: int = 0
    rounds: int = 0
    history_mark: int = 0
    # "mark": reading status before sending (legacy: the history head; secure:
    # the command-id high-water mark).  The command has not been sent yet.
    phase: Literal["mark", "command", "status", "history"] = "command"
    # Legacy history search: the matching command record (seq, outcome, reason).
    found: tuple[int, str, str | None] | None = None
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
        self._ids_synced = False  # secure: high-water mark read since start or a STALE refusal
        self._queue: deque[_Pending] = deque()
        self._current: _Pending | None = None
        self._history_seq = 0
        # The history head seen: seq, its hash once read, and the pump's device time
        # when it reported it (a status report's, or the record's own).
        self._head_seq = 0
        self._head_hash: str | None = None
        self._head_at_ms: int | None = None
        self._head_check: int | None = None  # check_history() asked for this seq
        self.history_warnings: list[HistoryWarning] = []
        self.last_status: StatusReport | None = None
        self.outcomes: list[DoseOutcome] = []
        self._status_waiters: list[Callable[[StatusReport], None]] = []
        self._wakeup_minutes = wakeup_minutes
        self._awake_until_ms = -1

    # ---------------------------------------------------------------- requests

    def bolus(self, amount_u: float, on_done: Callable[[DoseOutcome], None] | None = None) -> None:
        """Ask for a normal bolus of ``amount_u``."""
        self._enqueue(BolusCommand(amount_u), on_done)

    def temp_basal(
        self,
        *,
        rate_u_per_h: float | None = None,
        percent: int | None = None,
        duration_min: int = 30,
        on_done: Callable[[DoseOutcome], None] | None = None,
    ) -> None:
        """Ask for a temporary basal by rate or percent."""
        self._enqueue(TempBasalCommand(rate_u_per_h, percent, duration_min), on_done)

    def cancel_temp_basal(self, on_done: Callable[[DoseOutcome], None] | None = None) -> None:
        self._enqueue(CancelTempBasalCommand(), on_done)

    def suspend(self, on_done: Callable[[DoseOutcome], None] | None = None) -> None:
        self._enqueue(SuspendCommand(), on_done)

    def stop(self) -> None:
        """Detach from the link; a command still in flight is abandoned unreported."""
        if self._current is not None and self._current.timer is not None:
            self._clock.cancel(self._current.timer)
        self._current = None
        self._queue.clear()
        super().stop()

    def read_status(self, on_status: Callable[[StatusReport], None]) -> None:
        """Ask for a status report (no retry: a caller polls again if it wants)."""
        self._status_waiters.append(on_status)
        self._send(ReadStatusCommand())

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._queue)

    @property
    def known_head(self) -> tuple[int, str | None]:
        """(seq, hash) of the highest history record the pump has reported to this app
        (hash ``None`` until the app read that record)."""
        return self._head_seq, self._head_hash

    def check_history(self) -> bool:
        """Read the record at :attr:`known_head` and compare it with what was seen.

        Returns False (nothing sent) while a command is in flight or before any head is
        known.  The answer adds a ``rewritten`` warning if the record's hash differs, a
        ``rolled_back`` one if the history no longer has it."""
        if self.busy or self._head_seq < 1:
            return False
        self._head_check = self._head_seq
        self._awake_until_ms = -1  # legacy: wake the radio (a restarted pump's sleeps)
        self._send(ReadHistoryCommand(since_seq=self._head_seq - 1, limit=1))
        return True

    # ---------------------------------------------------------------- history head

    def _warn(self, kind: Literal["rolled_back", "rewritten"], seen_seq: int,
              seen_hash: str | None, detail: str) -> None:
        self.history_warnings.append(HistoryWarning(
            self._clock.now_ms, kind, self._head_seq, self._head_hash, seen_seq, seen_hash,
            detail))

    def _observe_status(self, status: StatusReport) -> None:
        """A status report: its history_seq at the pump's device time."""
        # Fields off the air are claims (a forged status may hold anything).
        seq: object = status.history_seq
        at: object = status.device_time_ms
        if not isinstance(seq, int) or not isinstance(at, int):
            return
        if seq < self._head_seq:
            if self._head_at_ms is not None and at <= self._head_at_ms:
                return  # an older report delivered late: not news
            self._warn("rolled_back", seq, None,
                       f"the pump reports {seq} history records at device time {at} ms; it "
                       f"had reported record {self._head_seq} before")
            self._head_seq, self._head_hash, self._head_at_ms = seq, None, at
        elif seq > self._head_seq:
            self._head_seq, self._head_hash, self._head_at_ms = seq, None, at
        else:
            self._head_at_ms = at if self._head_at_ms is None else max(self._head_at_ms, at)

    def _observe_records(self, page: HistoryPage) -> None:
        """History records read: learn the head's hash, notice another one."""
        check, self._head_check = self._head_check, None
        found = False
        for record in page.records:
            seq, digest = record.get("seq"), record.get("hash")
            at = record.get("device_time_ms")
            if not isinstance(seq, int) or not isinstance(digest, str):
                continue
            if seq == self._head_seq:
                found = True
                if self._head_hash is None:
                    self._head_hash = digest
                elif digest != self._head_hash:
                    self._warn("rewritten", seq, digest,
                               f"history record {seq} has another hash than when it was read "
                               "before: the history was rewritten")
                    self._head_hash = digest
            elif seq > self._head_seq:
                self._head_seq, self._head_hash = seq, digest
                self._head_at_ms = at if isinstance(at, int) else None
        if check is not None and check == self._head_seq and not found and not page.records:
            self._warn("rolled_back", check - 1, None,
                       f"the pump's history no longer has record {check}")
            self._head_seq, self._head_hash, self._head_at_ms = check - 1, None, None

    # ---------------------------------------------------------------- internals

    def _take_id(self) -> int:
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
        if self._use_ids and pending.command.command_id is None:
            # Assigned at first send, after any sync: a queued command never
            # holds an id the pump might already have seen.
            pending.command = dataclasses.replace(pending.command, command_id=self._take_id())
        pending.attempts += 1
        pending.phase = "command"
        self._send(pending.command)
        self._arm(pending)

    def _start(self, pending: _Pending) -> None:
        if self._use_ids and self._ids_synced:
            self._send_command(pending)
            return
        # Legacy: learn the history head first, so the search after a lost
        # answer only looks at records this command could have caused.
        # Secure: learn the pump's command-id high-water mark for this sender.
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
        # No answer may mean the legacy radio fell asleep (a pump restart puts
        # it to sleep early): wake it again before the next request.
        self._awake_until_ms = -1
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
            pending.found = None
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
            self._observe_status(message)
            self._history_seq = max(self._history_seq, message.history_seq)
            waiters, self._status_waiters = self._status_waiters, []
            for waiter in waiters:
                waiter(message)
            self._status_for_pending(message)
            return
        if isinstance(message, HistoryPage):
            self._observe_records(message)
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
        elif self._use_ids and message.reason in _ID_TAKEN and not message.replayed:
            self._on_id_taken(pending, message.reason)
        else:
            self._finish(pending, "rejected", message.reason, "ack", message.replayed)

    def _on_id_taken(self, pending: _Pending, reason: NakReason) -> None:
        """The pump refused the id as already used (below its high-water mark, or
        remembered for another command), without acting on this message."""
        self._ids_synced = False
        if pending.attempts > 1:
            # An earlier copy of this id was sent and its answer lost: which copy
            # the pump decided on is unknowable from this refusal.
            self._finish(pending, "unknown", reason, "ack")
            return
        pending.rounds += 1
        if pending.rounds >= self._max_attempts:
            # Refused every time (another client keeps taking ids): never acted.
            self._finish(pending, "rejected", reason, "ack")
            return
        pending.command = dataclasses.replace(pending.command, command_id=None)
        self._start(pending)

    def _status_for_pending(self, status: StatusReport) -> None:
        pending = self._current
        if pending is not None and pending.phase == "mark":
            pending.history_mark = status.history_seq
            if self._use_ids:
                high = status.command_id_high_water
                if high is not None:
                    self._next_id = max(self._next_id, high + 1)
                self._ids_synced = True
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
        last_seq = pending.history_mark
        for record in page.records:
            seq = int(record.get("seq", 0))
            last_seq = max(last_seq, seq)
            self._history_seq = max(self._history_seq, seq)
            data = record.get("data", {})
            kind = record.get("kind")
            if (
                pending.found is None
                and kind == "command"
                and data.get("src") == self.address
                and data.get("type") == pending.command.type_name
                and data.get("payload") == wanted
            ):
                pending.found = (seq, str(data.get("outcome")), data.get("reason"))
            elif (
                pending.found is not None
                and kind == "recovery"
                and data.get("not_executed_command_seq") == pending.found[0]
            ):
                # Accepted, but the pump stopped before it took effect.
                self._finish(pending, "rejected", NakReason.NOT_EXECUTED, "history")
                return
        if page.more:
            # Continue after this page's last record (never after a head learned from
            # elsewhere meanwhile: that could skip the record being looked for).
            self._send(ReadHistoryCommand(since_seq=last_seq, limit=1000))
            return
        if pending.found is None:
            self._resend_or_give_up(pending)
            return
        _, outcome, reason = pending.found
        if outcome == "accepted":
            self._finish(pending, "accepted", None, "history")
        else:
            self._finish(pending, "rejected", _reason(reason), "history")


def _reason(value: str | None) -> NakReason | None:
    """A history record's reason code (None when absent or unknown to this app)."""
    try:
        return NakReason(value) if value else None
    except ValueError:
        return None


def _payload(command: Command) -> dict[str, Any]:
    """The message fields as the pump records them (command_id excluded)."""
    fields = dataclasses.asdict(command)
    fields.pop("command_id", None)
    return fields

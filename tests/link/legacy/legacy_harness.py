"""A tiny deterministic air between one PumpDriver and one PumpLink, for the exchange tests.

Not the radio medium (``pumplab.link.radio`` models loss, range and capture):
here every transmission arrives at the other side when it has finished, unless
the test drops it.  A burst reaches the pump once: at the end of the first
copy that starts while the pump listens, with ``burst_end_ms`` set, as the
medium is expected to deliver it.  A fake intake answers the pump's requests.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pumplab.link.legacy import (
    CommandReceived,
    Completed,
    Failed,
    PumpDriver,
    PumpLink,
    Transmit,
    airtime_ms,
)
from pumplab.link.legacy.history import BolusRecord, encode_history_page
from pumplab.link.legacy.messages import (
    BolusBody,
    ClockBody,
    MessageType,
    ModelBody,
    NakCode,
    PumpStatusBody,
    ReadHistoryPageBody,
    ReadRequest,
    x23_bolus_on_grid,
)
from pumplab.link.legacy.pumptime import PumpTime

PUMP_ID = bytes.fromhex("665455")
T0 = PumpTime(2019, 6, 27, 12, 0, 0)
PAGE0 = encode_history_page([BolusRecord(T0, 40, 40, via_radio=True)])


@dataclass
class FakeIntake:
    """Answers like a small x23: boluses on the grid, model, status, clock, page 0 only."""

    suspended: bool = False
    boluses: list[int] = field(default_factory=list)
    requests: list[CommandReceived] = field(default_factory=list)

    def handle(self, link: PumpLink, event: CommandReceived) -> list[object]:
        self.requests.append(event)
        req, t = event.request, event.t_ms
        if isinstance(req, BolusBody):
            if self.suspended:
                return list(link.nak(NakCode.REFUSED, t))
            if not x23_bolus_on_grid(req.count):
                return list(link.nak(NakCode.MAX_EXCEEDED, t))
            self.boluses.append(req.count)
            return list(link.ack(t))
        if isinstance(req, ReadHistoryPageBody):
            if req.page != 0:
                return list(link.nak(NakCode.NO_SUCH_PAGE, t))
            return list(link.answer_frames(PAGE0, t))
        if isinstance(req, ReadRequest):
            if req.message_type == MessageType.READ_MODEL:
                return list(link.answer(ModelBody("523"), t))
            if req.message_type == MessageType.READ_STATUS:
                return list(link.answer(PumpStatusBody(False, self.suspended), t))
            if req.message_type == MessageType.READ_CLOCK:
                return list(link.answer(ClockBody(T0), t))
            return list(link.decline(t))
        return list(link.ack(t))


@dataclass
class Air:
    """Runs a driver and a pump against each other on a lossless (or test-lossy) air."""

    driver: PumpDriver
    pump: PumpLink
    intake: FakeIntake = field(default_factory=FakeIntake)
    drop: Callable[[str, Transmit], bool] = lambda side, tx: False
    log: list[tuple[str, object]] = field(default_factory=list)
    _queue: list[tuple[int, int, str, Transmit, int | None]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def _push(self, t: int, kind: str, tx: Transmit, burst_end: int | None = None) -> None:
        heapq.heappush(self._queue, (t, next(self._seq), kind, tx, burst_end))

    def _emit(self, side: str, events: Sequence[object]) -> None:
        for event in events:
            self.log.append((side, event))
            if isinstance(event, Transmit):
                if self.drop(side, event):
                    continue
                if side == "driver":
                    self._deliver_to_pump(event)
                else:
                    self._push(event.end_ms_ceil, "to_driver", event)
            elif isinstance(event, CommandReceived):
                self._emit("pump", self.intake.handle(self.pump, event))

    def _deliver_to_pump(self, tx: Transmit) -> None:
        air_ms = airtime_ms(len(tx.air))
        for copy in range(tx.repeat):
            start = tx.t_ms + copy * tx.interval_ms
            if self.pump.listening_at(start) or copy == tx.repeat - 1:
                end = math.ceil(start + air_ms)
                burst_end = tx.end_ms_ceil if tx.repeat > 1 else None
                self._push(end, "to_pump", tx, burst_end)
                return

    def run(self, events: Sequence[object], until_ms: int = 10**9) -> list[Completed | Failed]:
        """Feed the driver's first events, then run until it finishes; its outcomes."""
        self._emit("driver", events)
        outcomes: list[Completed | Failed] = []
        while self.driver.state.value != "idle" or self._queue:
            next_timer = self.driver.deadline_ms
            if self._queue and (next_timer is None or self._queue[0][0] <= next_timer):
                t, _, kind, tx, burst_end = heapq.heappop(self._queue)
                if t > until_ms:
                    break
                self._emit("pump", self.pump.tick(t))
                if kind == "to_pump":
                    self._emit("pump", self.pump.receive(tx.air, t, burst_end_ms=burst_end))
                else:
                    out = self.driver.receive(tx.air, t)
                    outcomes += [e for e in out if isinstance(e, Completed | Failed)]
                    self._emit("driver", out)
            elif next_timer is not None:
                if next_timer > until_ms:
                    break
                out = self.driver.tick(next_timer)
                outcomes += [e for e in out if isinstance(e, Completed | Failed)]
                self._emit("driver", out)
            else:
                break
        return outcomes

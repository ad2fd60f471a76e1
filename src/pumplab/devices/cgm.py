"""The CGM transmitter: a reading every 5 minutes, and backfill after a gap.

The transmitter samples its sensor on a fixed 5-minute grid and sends each
reading to the pump as a numbered :class:`SensorReading`.  The pump
acknowledges a reading with ``Ack(in_reply_to="SensorReading",
command_id=seq)`` (a backfill with the highest seq it carried).  Readings not
yet acknowledged are kept (up to ``backfill_limit``: 10 hours, as Medtronic's
Guardian-class transmitters store) and sent again, oldest first, in a
:class:`SensorBackfill` next to the next new reading, so a pump that was out of
range or asleep catches up.  A missed sample (sensor warm-up, a dropout) has no
value: nothing is sent for it, and the gap stays a gap.

What the sensor reads is not this module's business: the transmitter is given
a ``source(now_ms)`` callable (the world wires it to the CGM error model of
:mod:`pumplab.physiology.sensor` applied to the patient's interstitial
glucose).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from pumplab.clock import MS_PER_MINUTE, Clock, EventHandle
from pumplab.devices.peripheral import Peripheral
from pumplab.link.base import Envelope, Link
from pumplab.link.messages import Ack, SensorBackfill, SensorFlag, SensorReading

__all__ = ["CGM_INTERVAL_MS", "CgmTransmitter", "SensorSource"]

CGM_INTERVAL_MS = 5 * MS_PER_MINUTE

#: ``source(now_ms)`` -> (glucose mg/dL or None when there is no reading, flag).
SensorSource = Callable[[int], tuple[float | None, SensorFlag]]


class CgmTransmitter(Peripheral):
    """Samples a sensor every 5 minutes and keeps the pump up to date."""

    def __init__(
        self,
        address: str,
        pump_address: str,
        clock: Clock,
        link: Link,
        source: SensorSource,
        *,
        interval_ms: int = CGM_INTERVAL_MS,
        first_sample_ms: int | None = None,
        backfill_limit: int = 120,
    ) -> None:
        if interval_ms <= 0:
            raise ValueError("interval_ms must be > 0")
        if backfill_limit < 0:
            raise ValueError("backfill_limit must be >= 0")
        super().__init__(address, pump_address, clock, link)
        self._source = source
        self._interval_ms = interval_ms
        self._first_sample_ms = clock.now_ms if first_sample_ms is None else first_sample_ms
        self._backfill_limit = backfill_limit
        self._seq = 0
        self._unacked: OrderedDict[int, SensorReading] = OrderedDict()
        self.readings_sent = 0
        self.backfilled = 0
        self.dropped_unacked = 0
        self._timer: EventHandle | None = None

    def start(self) -> None:
        """Attach to the link and schedule the first sample."""
        super().start()
        self._timer = self._clock.schedule_at(self._first_sample_ms, self._sample,
                                              label="cgm sample")

    def stop(self) -> None:
        """Switch the transmitter off: no more samples (unacknowledged ones are kept)."""
        if self._timer is not None:
            self._clock.cancel(self._timer)
            self._timer = None
        super().stop()

    @property
    def unacknowledged(self) -> int:
        """Readings sent but not yet acknowledged by the pump."""
        return len(self._unacked)

    def _sample(self) -> None:
        now = self._clock.now_ms
        self._timer = self._clock.schedule_at(now + self._interval_ms, self._sample,
                                              label="cgm sample")
        self._seq += 1
        glucose, flag = self._source(now)
        if glucose is None and flag is SensorFlag.OK:
            return  # warm-up or dropout: no reading exists, nothing to send or backfill
        reading = SensorReading(self._seq, now, glucose, flag)
        older = tuple(self._unacked.values())
        self._unacked[reading.seq] = reading
        while len(self._unacked) > self._backfill_limit + 1:
            self._unacked.popitem(last=False)
            self.dropped_unacked += 1
        if older:
            kept = older[-self._backfill_limit :] if self._backfill_limit else ()
            if kept:
                self._send(SensorBackfill(kept))
                self.backfilled += len(kept)
        self._send(reading)
        self.readings_sent += 1

    def _on_envelope(self, envelope: Envelope) -> None:
        message = envelope.message
        if envelope.src != self.pump_address or not isinstance(message, Ack):
            return  # a transmitter listens only for its pump's acknowledgements
        if message.command_id is None:
            return
        if message.in_reply_to == "SensorReading":
            self._unacked.pop(message.command_id, None)
        elif message.in_reply_to == "SensorBackfill":
            for seq in [s for s in self._unacked if s <= message.command_id]:
                del self._unacked[seq]

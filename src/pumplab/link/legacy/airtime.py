"""How long MiniMed frames occupy the air, and the wake-up bursts drivers send.

**Airtime convention.**  A frame on the air is the preamble, the sync word and
the on-air bytes (4b6b symbols, padding, the 0x00 terminator; see
:mod:`pumplab.link.legacy.coding`), all at 16,384 baud, one bit per baud (OOK).
The preamble and sync are those subg_rfspy configures on the CC1110
(``radio.c``, ``configure_radio``):

- ``MDMCFG1 = 0x61``: NUM_PREAMBLE = 6, i.e. **16 bytes** of preamble;
- ``MDMCFG2 = 0x33``: SYNC_MODE = 3 ("30/32 sync word bits"), under which the
  CC1110 sends the 16-bit sync word ``SYNC1 SYNC0 = 0xFF 0x00`` twice:
  **4 bytes**;
- ``MDMCFG4/3 = 0x99/0x66``: a data rate of 16,388 baud from the 24 MHz
  crystal; decocare, mmeowlink and minimed_rf (README) call it 16 kbaud, and
  pumplab uses 16,384.

So ``airtime_ms(air) = (16 + 4 + len(air)) × 8 / 16.384``: 32 bytes, exactly
**15.625 ms**, for a 7-byte packet (12 on-air bytes) and 128 bytes, exactly
**62.5 ms**, for a 71-byte packet (108 on-air bytes), the figures of the
issue's table.  A longer software preamble (subg_rfspy ``preamble_extend_ms``)
is not modelled.

**Wake-up bursts.**  A sleeping pump is woken by the short power-on packet
(``A7 <id> 5D 00``) sent back to back for longer than the pump's listening
period.  The published drivers:

- RileyLink / MinimedKit ``PumpOpsSession.sendWakeUpBurst``: ``repeatCount:
  255`` (256 transmissions); with the 15.6 ms airtime and about 2 ms of CC1110
  turnaround between them, one every ~18 ms: about 4.6 s;
- mmeowlink ``mmtune.py``: 200 repetitions in a 4.5 s timeout (~22.5 ms each);
- mmeowlink ``handlers/stick.py`` ``Repeater``: 500 repetitions at 0.024 s
  each, 12 s (the CareLink-era figure).

:data:`RILEYLINK_BURST` and :data:`MMEOWLINK_BURST` are the first and last.
The 2 ms turnaround is pumplab's estimate, stated as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pumplab.link.legacy.coding import air_length

__all__ = [
    "BAUD",
    "MMEOWLINK_BURST",
    "PREAMBLE_BYTES",
    "RILEYLINK_BURST",
    "SYNC_BYTES",
    "BurstProfile",
    "airtime_ms",
    "packet_airtime_ms",
]

#: Symbol rate of the Paradigm radio (subg_rfspy: 16,388 baud; pumplab: 16,384).
BAUD: Final = 16_384
#: Preamble bytes a RileyLink sends (subg_rfspy ``MDMCFG1 = 0x61``: 16 bytes).
PREAMBLE_BYTES: Final = 16
#: Sync bytes: 0xFF00 twice (subg_rfspy ``MDMCFG2 = 0x33``, 30/32 sync mode).
SYNC_BYTES: Final = 4


def airtime_ms(air_len: int) -> float:
    """Airtime in ms of an on-air frame of ``air_len`` bytes, preamble and sync included."""
    if air_len < 0:
        raise ValueError(f"air_len must be >= 0, got {air_len}")
    return (PREAMBLE_BYTES + SYNC_BYTES + air_len) * 8 * 1000 / BAUD


def packet_airtime_ms(packet_len: int) -> float:
    """Airtime in ms of a ``packet_len``-byte packet once 4b6b-encoded and terminated."""
    return airtime_ms(air_length(packet_len))


@dataclass(frozen=True, slots=True)
class BurstProfile:
    """A repeated transmission: ``count`` copies, one every ``interval_ms`` (start to start)."""

    count: int
    interval_ms: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")
        if self.interval_ms < 0:
            raise ValueError(f"interval_ms must be >= 0, got {self.interval_ms}")

    def duration_ms(self, air_len: int) -> float:
        """From the start of the first copy to the end of the last one."""
        return (self.count - 1) * self.interval_ms + airtime_ms(air_len)


#: MinimedKit's wake-up burst: 256 short packets, one every 18 ms (≈ 4.6 s).
RILEYLINK_BURST: Final = BurstProfile(count=256, interval_ms=18)
#: mmeowlink's Repeater burst: 500 short packets, one every 24 ms (12 s).
MMEOWLINK_BURST: Final = BurstProfile(count=500, interval_ms=24)

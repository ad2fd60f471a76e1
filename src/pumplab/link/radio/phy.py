"""PHYs and channels as data: bit rate, framing overhead, sensitivity, frequency.

The medium is PHY-agnostic: a frame's airtime is a function of its PHY and its
length, its path loss a function of the channel's frequency and propagation
parameters, its error rate a function of the PHY's reference sensitivity.
Two PHYs are defined:

* :data:`LEGACY_OOK` — the MiniMed Paradigm radio as the RileyLink firmware
  configures a CC1110 (subg_rfspy ``radio.c``): OOK (``MDMCFG2 = 0x33``: ASK/OOK,
  30/32 sync-word bits), 16,384 baud (``MDMCFG4/3 = 0x89/0x66``: 16,388 baud from
  a 24 MHz crystal; decocare and mmeowlink quote 16,384), sync word ``0xFF00``
  (``SYNC1/SYNC0``), a 16-byte preamble (``MDMCFG1 = 0x61``: NUM_PREAMBLE = 6,
  i.e. 16 bytes).  With a 30/32 sync mode the CC11xx sends the 16-bit sync word
  twice (CC1101/CC1110 datasheets, "sync word qualifier"), so 32 sync bits go
  on the air.  The ``air`` bytes a frame carries are the 4b6b-encoded payload
  including its trailing 0x00, as the chip's FIFO hands them over; preamble and
  sync are added here.  A 7-byte packet is 12 air bytes: (16 + 4 + 12) × 8 bits
  at 16,384 bit/s = 15.625 ms; a 71-byte packet is 108 air bytes = 62.5 ms.
* :data:`BLE_1M` — the Bluetooth LE 1M PHY (Core spec v5.x, Vol 6 Part B
  §2.1): 1 Mbit/s GFSK, 1-byte preamble, 4-byte access address, 3-byte CRC
  trailer; ``air`` is the PDU (header, payload, MIC).  For the secure link.

Channels bind a PHY to a frequency and to propagation parameters
(:class:`~pumplab.link.radio.propagation.Propagation`): the 916.5 MHz legacy
channel (decocare, mmeowlink: US Paradigm pumps) and the 40 BLE channels.

Not here: the 868.35 MHz world-wide Paradigm channel, BLE 2M and Coded PHYs,
channel hopping (a secure link that hops calls ``transmit`` with the channel of
each event).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pumplab.link.radio.propagation import Propagation

__all__ = [
    "BLE_1M",
    "BLE_PROPAGATION",
    "LEGACY_CHANNEL",
    "LEGACY_OOK",
    "LEGACY_PROPAGATION",
    "Channel",
    "Phy",
    "ble_channel",
    "default_channels",
]


@dataclass(frozen=True, slots=True)
class Phy:
    """A physical layer: modulation, bit rate, framing overhead, reception limits.

    ``preamble_bits`` and ``sync_bits`` precede the air bytes, ``trailer_bits``
    follow them (a hardware CRC), all at ``bit_rate_bps``.  A receiver must be
    listening during the preamble to synchronise (docs/radio.md, "Duty-cycled
    receivers").  ``sensitivity_dbm`` is the default receiver sensitivity and
    ``sensitivity_ber`` the bit-error rate that sensitivity is defined at; from
    the two the medium derives each receiver's noise floor.
    ``capture_ratio_db``: a frame survives overlapping frames on its channel when
    it is at least this much stronger than their sum.
    """

    name: str
    modulation: str
    bit_rate_bps: float
    preamble_bits: int
    sync_bits: int
    trailer_bits: int
    sensitivity_dbm: float
    sensitivity_ber: float
    capture_ratio_db: float

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a PHY needs a name")
        if not (math.isfinite(self.bit_rate_bps) and self.bit_rate_bps > 0):
            raise ValueError(f"bit_rate_bps must be > 0, got {self.bit_rate_bps}")
        if min(self.preamble_bits, self.sync_bits, self.trailer_bits) < 0:
            raise ValueError("preamble, sync and trailer bits must be >= 0")
        if not 0.0 < self.sensitivity_ber < 0.5:
            raise ValueError(f"sensitivity_ber must be within (0, 0.5), got {self.sensitivity_ber}")

    def airtime_us(self, air_bytes: int) -> int:
        """Time on air of one frame carrying ``air_bytes`` bytes, rounded up to 1 µs."""
        if air_bytes <= 0:
            raise ValueError(f"a frame carries at least one byte, got {air_bytes}")
        bits = self.preamble_bits + self.sync_bits + 8 * air_bytes + self.trailer_bits
        return math.ceil(bits * 1_000_000 / self.bit_rate_bps - 1e-9)

    @property
    def preamble_us(self) -> int:
        """Duration of the preamble: a receiver must wake before it ends to catch the frame."""
        return math.ceil(self.preamble_bits * 1_000_000 / self.bit_rate_bps - 1e-9)

    def payload_bits(self, air_bytes: int) -> int:
        """The bits whose errors lose the frame: the air bytes and the trailer."""
        return 8 * air_bytes + self.trailer_bits


# CC1110 datasheet (SWRS033): sensitivity is specified at 1 % packet error rate
# with 20-byte packets.  Turned into a bit-error rate for independent errors:
# 1 - 0.99 ** (1 / 160) ≈ 6.3e-5.
_CC11XX_SENSITIVITY_BER = 1.0 - 0.99 ** (1.0 / 160.0)

LEGACY_OOK = Phy(
    name="minimed-ook-16k",
    modulation="OOK",
    bit_rate_bps=16_384.0,          # decocare, mmeowlink; subg_rfspy MDMCFG4/3
    preamble_bits=16 * 8,           # RileyLink 16-byte preamble (subg_rfspy MDMCFG1 = 0x61)
    sync_bits=32,                   # 0xFF00 sent twice (30/32 sync mode, MDMCFG2 = 0x33)
    trailer_bits=0,                 # the trailing 0x00 is part of the air bytes
    sensitivity_dbm=-100.0,         # estimate, stated as such (issue table)
    sensitivity_ber=_CC11XX_SENSITIVITY_BER,
    capture_ratio_db=8.0,           # parameter: middle of the 6-10 dB range
)

BLE_1M = Phy(
    name="ble-1m",
    modulation="GFSK",
    bit_rate_bps=1_000_000.0,       # Core spec Vol 6 Part A §3.1
    preamble_bits=8,                # Vol 6 Part B §2.1: 1-octet preamble on the 1M PHY
    sync_bits=32,                   # access address
    trailer_bits=24,                # CRC
    sensitivity_dbm=-90.0,          # estimate: the spec requires <= -70 dBm; SoCs reach -93..-97
    sensitivity_ber=1e-3,           # Vol 6 Part A §4.1: sensitivity is defined at BER 0.1 %
    capture_ratio_db=8.0,           # parameter
)

# docs/radio.md, "Calibration": legacy devices at the FCC 15.249 EIRP limit
# reach about 2 m with these values, an amplified attacker tens of metres.
LEGACY_PROPAGATION = Propagation(
    exponent=2.4,             # Rappaport 2nd ed. table 4.6: office, soft partition, 900 MHz
    shadowing_sigma_db=9.6,   # same row
    body_loss_db=20.0,        # IEEE 802.15.6 channel model: 10-30 dB; middle value
    excess_loss_db=30.0,      # calibration constant (fitted, not measured)
)

# Not calibrated here (the secure-link issue owns BLE's figures): the same
# indoor exponent, deviation and body loss, and an excess loss chosen so that a
# 0 dBm BLE device at 2 m fares like a legacy device at 2 m.
BLE_PROPAGATION = Propagation(
    exponent=2.4, shadowing_sigma_db=9.6, body_loss_db=20.0, excess_loss_db=10.0
)


@dataclass(frozen=True, slots=True)
class Channel:
    """A named channel: a PHY on a centre frequency with its propagation parameters."""

    name: str
    phy: Phy
    frequency_hz: float
    propagation: Propagation = field(default_factory=Propagation)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a channel needs a name")
        if not (math.isfinite(self.frequency_hz) and self.frequency_hz > 0):
            raise ValueError(f"frequency_hz must be > 0, got {self.frequency_hz}")


# decocare and mmeowlink: US Paradigm pumps on 916.5 MHz.
LEGACY_CHANNEL = Channel("legacy-916.5", LEGACY_OOK, 916.5e6, LEGACY_PROPAGATION)


def ble_channel(index: int) -> Channel:
    """BLE channel ``index`` (0-39) on the 1M PHY, named ``"ble-<index>"``.

    Core spec Vol 6 Part B §1.4.1: advertising channels 37, 38, 39 at 2402,
    2426 and 2480 MHz; data channels 0-10 at 2404-2424 MHz and 11-36 at
    2428-2478 MHz, 2 MHz apart.
    """
    if not isinstance(index, int) or not 0 <= index <= 39:
        raise ValueError(f"a BLE channel index is 0..39, got {index!r}")
    if index == 37:
        mhz = 2402
    elif index == 38:
        mhz = 2426
    elif index == 39:
        mhz = 2480
    elif index <= 10:
        mhz = 2404 + 2 * index
    else:
        mhz = 2428 + 2 * (index - 11)
    return Channel(f"ble-{index}", BLE_1M, mhz * 1e6, BLE_PROPAGATION)


def default_channels() -> tuple[Channel, ...]:
    """The legacy 916.5 MHz channel and the 40 BLE channels."""
    return (LEGACY_CHANNEL, *(ble_channel(i) for i in range(40)))

"""The simulated air: an event-driven radio medium, its PHYs, capture files.

- :mod:`~pumplab.link.radio.medium` — :class:`Medium` and :class:`MediumRadio`:
  participants with positions and powers, half-duplex radios, airtime,
  collisions with capture, jamming (continuous and reactive), duty-cycled
  receivers and repeated bursts, ground truth and provenance.
- :mod:`~pumplab.link.radio.interface` — the :class:`Radio` protocol a real
  adapter could implement.
- :mod:`~pumplab.link.radio.phy` — PHYs and channels as data (legacy 916.5 MHz
  OOK, BLE 1M).
- :mod:`~pumplab.link.radio.propagation` — path loss, body shadowing, bit and
  packet errors.
- :mod:`~pumplab.link.radio.crn` — common random numbers keyed by
  (transmitter, receiver, time).
- :mod:`~pumplab.link.radio.schedule` — listen schedules (always, never, duty
  cycle).
- :mod:`~pumplab.link.radio.capture` — capture files: writer, validating
  reader, injection lines, summaries.
- :mod:`~pumplab.link.radio.calibration` — analytic delivery probability
  against distance.
- :mod:`~pumplab.link.radio.defaults` — default powers and the sleeping
  Paradigm pump's duty cycle, with sources.

This package knows no protocol: the legacy MiniMed codec
(:mod:`pumplab.link.legacy`) and the secure link sit on top of it.
docs/radio.md documents the model, its parameters and their sources.
"""

from pumplab.link.radio.capture import (
    CaptureFrame,
    CaptureSummary,
    CaptureWriter,
    FrameDescription,
    InjectionFrame,
    RxReport,
    capture_dict,
    capture_line,
    read_capture,
    read_injection,
    summarise_capture,
)
from pumplab.link.radio.interface import Radio
from pumplab.link.radio.medium import Medium, MediumRadio, MediumStats, ReactiveJammer
from pumplab.link.radio.phy import (
    BLE_1M,
    LEGACY_CHANNEL,
    LEGACY_OOK,
    Channel,
    Phy,
    ble_channel,
    default_channels,
)
from pumplab.link.radio.propagation import Propagation
from pumplab.link.radio.records import (
    FrameRecord,
    FrameStart,
    JamRecord,
    Participant,
    Provenance,
    Reception,
    ReceptionHandler,
    RxOutcome,
    RxStatus,
    TransmissionTruth,
    TransmitReport,
)
from pumplab.link.radio.schedule import ALWAYS, NEVER, DutyCycle, ListenSchedule

__all__ = [
    "ALWAYS",
    "BLE_1M",
    "LEGACY_CHANNEL",
    "LEGACY_OOK",
    "NEVER",
    "CaptureFrame",
    "CaptureSummary",
    "CaptureWriter",
    "Channel",
    "DutyCycle",
    "FrameDescription",
    "FrameRecord",
    "FrameStart",
    "InjectionFrame",
    "JamRecord",
    "ListenSchedule",
    "Medium",
    "MediumRadio",
    "MediumStats",
    "Participant",
    "Phy",
    "Propagation",
    "Provenance",
    "Radio",
    "ReactiveJammer",
    "Reception",
    "ReceptionHandler",
    "RxOutcome",
    "RxReport",
    "RxStatus",
    "TransmissionTruth",
    "TransmitReport",
    "ble_channel",
    "capture_dict",
    "capture_line",
    "default_channels",
    "read_capture",
    "read_injection",
    "summarise_capture",
]

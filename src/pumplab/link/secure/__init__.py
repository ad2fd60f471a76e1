"""The secure link: Bluetooth LE Secure Connections, sans-I/O, on pyca primitives.

What the 508 lacked, built from the Bluetooth Core specification's own
constructions (docs/secure-protocol.md is the spec, with byte layouts and the
test vectors):

- :mod:`~pumplab.link.secure.crypto`: f4, f5, f6, g2, h6, h7, ah, e, the
  session key and the AES-CCM nonce; P-256 key checks.
- :mod:`~pumplab.link.secure.randomness`: the CSPRNG default and the
  deterministic, marked-insecure source for reproducible simulations.
- :mod:`~pumplab.link.secure.addresses`: identities and resolvable private
  addresses (no serial number on the air).
- :mod:`~pumplab.link.secure.frames`: the BLE 1M PHY frame codec, CRC-24,
  advertising and connection PDUs, airtime.
- :mod:`~pumplab.link.secure.roles`: the roles and their fixed association
  models.
- :mod:`~pumplab.link.secure.smp`: the pairing PDUs, the IO-capability table,
  the CGM's out-of-band data.
- :mod:`~pumplab.link.secure.window`: the pump's pairing window.
- :mod:`~pumplab.link.secure.pairing`: LE Secure Connections pairing as two
  sans-I/O machines (pump = responder, device = initiator).
- :mod:`~pumplab.link.secure.session`: link-layer encryption (SK = e(LTK,
  SKD), AES-CCM with implicit 39-bit counters).
- :mod:`~pumplab.link.secure.connection`: both ends of a connection as
  sans-I/O machines composing the above; where the pump's secure intake and
  the peripherals plug in.
- :mod:`~pumplab.link.secure.keystore`: the key store, the forward-secure
  history key and the monotonic-counter model.

No module here does I/O except the key store's file writes, reads a clock, or
imports a device: devices and the radio medium drive these machines.
"""

from pumplab.link.secure.addresses import DeviceAddress, Identity
from pumplab.link.secure.connection import (
    ApplicationData,
    ConnectionClosed,
    ConnectionStep,
    DeviceConnection,
    InputRejected,
    PumpAdvertiser,
    PumpConnection,
    SessionStarted,
)
from pumplab.link.secure.keystore import HistoryKey, KeyStore, MonotonicCounter
from pumplab.link.secure.pairing import PairingRecord
from pumplab.link.secure.randomness import SYSTEM_RANDOM, RandomSource, SeededRandomSource
from pumplab.link.secure.roles import ASSOCIATION_MODEL, AssociationModel, Role
from pumplab.link.secure.smp import OobData, StaticOobKey
from pumplab.link.secure.window import PairingWindow

__all__ = [
    "ASSOCIATION_MODEL",
    "SYSTEM_RANDOM",
    "ApplicationData",
    "AssociationModel",
    "ConnectionClosed",
    "ConnectionStep",
    "DeviceAddress",
    "DeviceConnection",
    "HistoryKey",
    "Identity",
    "InputRejected",
    "KeyStore",
    "MonotonicCounter",
    "OobData",
    "PairingRecord",
    "PairingWindow",
    "PumpAdvertiser",
    "PumpConnection",
    "RandomSource",
    "Role",
    "SeededRandomSource",
    "SessionStarted",
    "StaticOobKey",
]

"""Shared helpers for the secure-link tests: an in-memory air between two connection ends.

``Air`` shuttles data PDUs between a :class:`PumpConnection` and a
:class:`DeviceConnection`, answers the user prompts (passkey, numeric
comparison) the way a person would, records every PDU in each direction (what a
sniffer would capture) and persists completed pairings in the pump's bond table.
Everything is seeded (``SeededRandomSource``) so runs are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pumplab.link.secure.addresses import DeviceAddress, Identity, resolves
from pumplab.link.secure.connection import (
    REJECTION_BUDGET,
    ApplicationData,
    ConnectionClosed,
    DeviceConnection,
    InputRejected,
    PumpAdvertiser,
    PumpConnection,
    SessionStarted,
)
from pumplab.link.secure.pairing import (
    DisplayPasskey,
    NumericComparison,
    PairingComplete,
    PairingFailed,
    PairingRecord,
    PasskeyRequested,
)
from pumplab.link.secure.randomness import SeededRandomSource
from pumplab.link.secure.roles import Role
from pumplab.link.secure.smp import StaticOobKey
from pumplab.link.secure.window import PairingWindow

T0_MS = 1_000


class MemoryBonds:
    """A pump's bond table in memory (the key store's lookup, without the file)."""

    def __init__(self) -> None:
        self.records: list[PairingRecord] = []

    def add(self, record: PairingRecord) -> None:
        self.records = [r for r in self.records if r.peer_identity != record.peer_identity]
        self.records.append(record)

    def find_bond(self, address: DeviceAddress) -> PairingRecord | None:
        for record in self.records:
            if address == record.peer_identity or resolves(address, record.peer_irk):
                return record
        return None


@dataclass
class Pump:
    """A pump's secure-link state: identity, bonds, window, advertiser."""

    rng: SeededRandomSource
    identity: Identity
    bonds: MemoryBonds = field(default_factory=MemoryBonds)
    window: PairingWindow = field(default_factory=PairingWindow)
    advertiser: PumpAdvertiser | None = None

    def __post_init__(self) -> None:
        self.advertiser = PumpAdvertiser(self.identity, self.rng)

    def accept(  # type: ignore[no-untyped-def]
        self, connect_ind, now_ms: int = T0_MS, rejection_budget: int | None = REJECTION_BUDGET
    ) -> PumpConnection:
        return PumpConnection(
            connect_ind,
            identity=self.identity,
            bonds=self.bonds,
            window=self.window,
            now_ms=now_ms,
            rng=self.rng,
            rejection_budget=rejection_budget,
        )


@dataclass
class Device:
    """A device's secure-link state: identity, role, bond with its pump."""

    rng: SeededRandomSource
    identity: Identity
    role: Role
    bond: PairingRecord | None = None
    static_oob: StaticOobKey | None = None


def make_pump(seed: int = 1) -> Pump:
    rng = SeededRandomSource(seed)
    return Pump(rng, Identity.generate(rng))


def make_device(role: Role, seed: int = 2) -> Device:
    rng = SeededRandomSource(seed)
    identity = Identity.generate(rng)
    static = StaticOobKey.generate(rng) if role is Role.CGM else None
    return Device(rng, identity, role, static_oob=static)


@dataclass
class Air:
    """Both ends of one connection and everything that crossed the air."""

    pump: Pump
    device: Device
    pump_end: PumpConnection
    device_end: DeviceConnection
    to_pump: list[bytes] = field(default_factory=list)  # captured, device -> pump
    to_device: list[bytes] = field(default_factory=list)  # captured, pump -> device
    pump_events: list[object] = field(default_factory=list)
    device_events: list[object] = field(default_factory=list)
    passkey_shown: int | None = None
    #: What the device's user types when asked (default: what the pump shows).
    type_passkey: Callable[[int | None], int] = lambda shown: 0 if shown is None else shown
    confirm_on_pump: bool = True
    confirm_on_device: bool = True
    now_ms: int = T0_MS

    def run(
        self,
        first: tuple[bytes, ...],
        *,
        max_rounds: int = 200,
        inject: tuple[int, bytes] | None = None,
    ) -> None:
        """Deliver PDUs both ways until nothing is left to send.

        ``inject=(n, pdu)`` delivers ``pdu`` to the pump just before the n-th
        PDU the device sends (counting from 0): an attacker's injection.
        """
        inbox_pump = list(first)
        inbox_device: list[bytes] = []
        sent_by_device = 0
        for _ in range(max_rounds):
            if not inbox_pump and not inbox_device:
                return
            while inbox_pump:
                if inject is not None and inject[0] == sent_by_device:
                    inbox_pump.insert(0, inject[1])
                    inject = None
                else:
                    sent_by_device += 1
                pdu = inbox_pump.pop(0)
                self.to_pump.append(pdu)
                step = self.pump_end.receive(pdu, self.now_ms)
                inbox_device.extend(step.send)
                for event in step.events:
                    self.pump_events.append(event)
                    inbox_device.extend(self._on_pump_event(event))
            while inbox_device:
                pdu = inbox_device.pop(0)
                self.to_device.append(pdu)
                step = self.device_end.receive(pdu, self.now_ms)
                inbox_pump.extend(step.send)
                for event in step.events:
                    self.device_events.append(event)
                    inbox_pump.extend(self._on_device_event(event))
        raise AssertionError("the exchange did not settle")

    def _on_pump_event(self, event: object) -> tuple[bytes, ...]:
        if isinstance(event, DisplayPasskey):
            self.passkey_shown = event.passkey
        if isinstance(event, PairingComplete):
            self.pump.bonds.add(event.record)
        if isinstance(event, NumericComparison):
            return self.pump_end.confirm_numeric_comparison(self.confirm_on_pump).send
        return ()

    def _on_device_event(self, event: object) -> tuple[bytes, ...]:
        if isinstance(event, PasskeyRequested):
            return self.device_end.enter_passkey(self.type_passkey(self.passkey_shown)).send
        if isinstance(event, NumericComparison):
            return self.device_end.confirm_numeric_comparison(self.confirm_on_device).send
        if isinstance(event, PairingComplete):
            self.device.bond = event.record
        return ()

    def started(self) -> bool:
        return any(isinstance(e, SessionStarted) for e in self.pump_events) and any(
            isinstance(e, SessionStarted) for e in self.device_events
        )

    def pump_failed(self) -> bool:
        return any(isinstance(e, PairingFailed | ConnectionClosed) for e in self.pump_events)

    def app_data_at_pump(self) -> list[ApplicationData]:
        return [e for e in self.pump_events if isinstance(e, ApplicationData)]

    def rejections_at_pump(self) -> int:
        return sum(isinstance(e, InputRejected) for e in self.pump_events)


def connect(
    pump: Pump,
    device: Device,
    now_ms: int = T0_MS,
    rejection_budget: int | None = REJECTION_BUDGET,
    **air_options: object,
) -> Air:
    """Open a connection from ``device`` to ``pump`` (not started yet)."""
    adv = pump.advertiser.advertisement(now_ms, pump.window)  # type: ignore[union-attr]
    device_end, connect_ind = DeviceConnection.for_advertisement(
        adv,
        identity=device.identity,
        role=device.role,
        bond=device.bond,
        now_ms=now_ms,
        rng=device.rng,
        static_oob=device.static_oob,
        rejection_budget=rejection_budget,
    )
    pump_end = pump.accept(connect_ind, now_ms, rejection_budget)
    return Air(pump, device, pump_end, device_end, now_ms=now_ms, **air_options)  # type: ignore[arg-type]


def open_window(pump: Pump, device: Device, now_ms: int = T0_MS) -> None:
    """The pump's user opens the pairing window for ``device``'s role."""
    oob = None
    if device.role is Role.CGM:
        assert device.static_oob is not None
        oob = device.static_oob.oob_data(device.identity.address)
    pump.window.open(device.role, now_ms, oob=oob)


def pair(pump: Pump, device: Device, now_ms: int = T0_MS, **air_options: object) -> Air:
    """Open the window and run a whole pairing; returns the air for inspection."""
    open_window(pump, device, now_ms)
    air = connect(pump, device, now_ms, **air_options)
    air.run(air.device_end.start(now_ms).send)
    return air


def reconnect(
    pump: Pump,
    device: Device,
    now_ms: int = T0_MS + 10_000,
    rejection_budget: int | None = REJECTION_BUDGET,
) -> Air:
    """A bonded device connects again: encryption start with its LTK."""
    assert device.bond is not None
    air = connect(pump, device, now_ms, rejection_budget)
    air.run(air.device_end.start(now_ms).send)
    return air

"""Whole connections: sessions after pairing, bonded reconnection, and attacks on the air.

Every attack here is a normal test over the in-memory air of ``secure_kit``:
the attacker sees every PDU (``air.to_pump`` / ``air.to_device``) and may
inject any bytes, replay, reflect or tamper.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
from secure_kit import T0_MS, Air, connect, make_device, make_pump, pair, reconnect

from pumplab.link.secure.addresses import RPA_TIMEOUT_MS, resolves
from pumplab.link.secure.connection import (
    LL_RESPONSE_TIMEOUT_MS,
    MAX_APPLICATION_PAYLOAD,
    REJECTION_BUDGET,
    ApplicationData,
    ConnectionClosed,
    DeviceConnection,
    InputRejected,
    SessionStarted,
)
from pumplab.link.secure.frames import (
    AdvInd,
    ConnectInd,
    DataPdu,
    Llid,
    decode_adv_pdu,
    decode_air_frame,
    encode_air_frame,
)
from pumplab.link.secure.pairing import PairingRecord
from pumplab.link.secure.roles import Role
from pumplab.link.secure.session import TerminateInd

REJECTED = (InputRejected(),)


def bonded(role: Role = Role.REMOTE, pump_seed: int = 1, device_seed: int = 2) -> Air:
    """A pump and a device paired, then connected again: a live bonded session."""
    pump, device = make_pump(pump_seed), make_device(role, device_seed)
    pair(pump, device)
    air = reconnect(pump, device)
    assert air.started()
    return air


def test_application_data_flows_both_ways_with_the_bound_role() -> None:
    air = bonded(Role.METER)
    step = air.device_end.send(b"BG 123 mg/dL")
    (event,) = air.pump_end.receive(step.send[0], T0_MS).events
    assert event == ApplicationData(b"BG 123 mg/dL", air.device.identity.address, Role.METER)
    reply = air.pump_end.send(b"ack")
    (back,) = air.device_end.receive(reply.send[0], T0_MS).events
    assert isinstance(back, ApplicationData) and back.payload == b"ack"


def test_a_large_payload_is_segmented_and_reassembled() -> None:
    air = bonded()
    payload = bytes(range(256)) * 16  # 4096 bytes: the largest allowed
    assert len(payload) == MAX_APPLICATION_PAYLOAD
    pdus = air.device_end.send(payload).send
    assert len(pdus) == 17
    events = [e for pdu in pdus for e in air.pump_end.receive(pdu, T0_MS).events]
    assert events == [ApplicationData(payload, air.device.identity.address, Role.REMOTE)]


def test_the_role_comes_from_the_key_never_from_the_payload() -> None:
    """A remote's payload claiming to be the controller app is still the remote's."""
    air = bonded(Role.REMOTE)
    pdus = air.device_end.send(b'{"role": "controller_app", "temp_basal": 5}').send
    (event,) = air.pump_end.receive(pdus[0], T0_MS).events
    assert isinstance(event, ApplicationData) and event.role is Role.REMOTE


def test_application_data_before_encryption_is_never_delivered() -> None:
    """An application L2CAP frame in the clear (no session yet) is rejected."""
    pump, device = make_pump(), make_device(Role.REMOTE)
    pair(pump, device)
    air = connect(pump, device)
    clear = DataPdu(Llid.START, b"\x03\x00\x40\x00abc").encode()
    assert air.pump_end.receive(clear, T0_MS).events == REJECTED
    assert air.pump_end.phase == "clear"


def test_a_replayed_frame_is_rejected_in_the_same_session() -> None:
    """A captured command frame replayed after it was accepted: rejected, nothing changes."""
    air = bonded()
    (captured,) = air.device_end.send(b"bolus 2.0 U id 41").send
    assert air.pump_end.receive(captured, T0_MS).events[0] == ApplicationData(
        b"bolus 2.0 U id 41", air.device.identity.address, Role.REMOTE
    )
    session = air.pump_end.session
    assert session is not None
    counters = (session.rx_counter, session.tx_counter)
    assert air.pump_end.receive(captured, T0_MS).events == REJECTED
    assert (session.rx_counter, session.tx_counter) == counters
    (next_frame,) = air.device_end.send(b"status?").send
    assert isinstance(air.pump_end.receive(next_frame, T0_MS).events[0], ApplicationData)


def test_a_replayed_session_after_a_pump_reboot_is_rejected() -> None:
    """Every device PDU of a captured session replayed to a rebooted pump: no session, no data."""
    pump, device = make_pump(), make_device(Role.REMOTE)
    pair(pump, device)
    live = reconnect(pump, device)
    (command,) = live.device_end.send(b"bolus 1.0 U id 7").send
    assert isinstance(live.pump_end.receive(command, T0_MS).events[0], ApplicationData)
    captured = [*live.to_pump, command]  # LL_ENC_REQ, sealed START_ENC_RSP, the command
    assert len(captured) == 3
    # Reboot: every connection and session is gone; the key store survived.
    rebooted = pump.accept(live.pump_end.connect_ind, T0_MS + 60_000)
    events = []
    for pdu in captured:
        events.extend(rebooted.receive(pdu, T0_MS + 60_000).events)
    assert not any(isinstance(e, SessionStarted | ApplicationData) for e in events)
    assert any(isinstance(e, InputRejected) for e in events)


def test_a_pump_frame_reflected_back_to_the_pump_is_rejected() -> None:
    air = bonded()
    (request,) = air.device_end.send(b"status?").send
    air.pump_end.receive(request, T0_MS)
    (pump_frame,) = air.pump_end.send(b"status: 1.2 U IOB").send
    assert air.pump_end.receive(pump_frame, T0_MS).events == REJECTED


@pytest.mark.parametrize("position", [0, 1, 2, 5, -5, -1])
def test_a_flipped_bit_or_cut_frame_is_rejected_without_effect(position: int) -> None:
    air = bonded()
    (frame,) = air.device_end.send(b"bolus 0.5 U id 3").send
    flipped = bytearray(frame)
    flipped[position] ^= 0x01
    for tampered in (bytes(flipped), frame[:-1], frame[:position] if position > 0 else b""):
        assert air.pump_end.receive(tampered, T0_MS).events == REJECTED
    assert isinstance(air.pump_end.receive(frame, T0_MS).events[0], ApplicationData)


@pytest.mark.parametrize(
    "clear_pdu",
    [
        DataPdu(Llid.CONTROL, TerminateInd().encode()).encode(),  # a forged disconnect
        DataPdu(Llid.START, b"\x07\x00\x06\x00\x01\x02\x00\x0d\x10\x02\x02").encode(),  # pairing
        DataPdu(Llid.START, b"\x03\x00\x40\x00abc").encode(),  # application data
        DataPdu(Llid.CONTROL, b"\x03" + bytes(22)).encode(),  # LL_ENC_REQ: re-key
    ],
)
def test_cleartext_frames_on_an_encrypted_link_are_rejected_without_effect(
    clear_pdu: bytes,
) -> None:
    air = bonded()
    assert air.pump_end.receive(clear_pdu, T0_MS).events == REJECTED
    assert air.pump_end.phase == "encrypted"
    (frame,) = air.device_end.send(b"still here").send
    assert isinstance(air.pump_end.receive(frame, T0_MS).events[0], ApplicationData)


def test_a_flood_of_forgeries_closes_the_session_after_the_budget() -> None:
    """Failed MICs change nothing until REJECTION_BUDGET of them, then the pump hangs up.

    That bounds an attacker's chance to pass a 32-bit MIC to budget / 2^32 per session.
    """
    air = bonded()
    (good,) = air.device_end.send(b"bolus 1.0 U id 9").send
    forged = bytes([good[0], good[1]]) + bytes(len(good) - 2)
    for _ in range(REJECTION_BUDGET - 1):
        assert air.pump_end.receive(forged, T0_MS).events == REJECTED
    step = air.pump_end.receive(forged, T0_MS)
    assert step.events == (InputRejected(), ConnectionClosed())
    # The pump's goodbye is sealed (reason 0x3D), so the device learns it and reconnects.
    (goodbye,) = step.send
    assert air.device_end.receive(goodbye, T0_MS).events == (ConnectionClosed(),)
    assert air.pump_end.receive(good, T0_MS).events == REJECTED  # closed: nothing more
    assert air.pump_end.session is None


def test_an_unknown_device_and_a_wrong_key_look_the_same() -> None:
    """The pump answers an unpaired device exactly like a paired one with a wrong LTK."""
    transcripts = []
    for case in ("unknown", "wrong_key"):
        pump, device = make_pump(), make_device(Role.REMOTE)
        if case == "wrong_key":
            pair(pump, device)
            assert device.bond is not None
            device.bond = dataclasses.replace(device.bond, ltk=bytes(16))
        else:
            # The device believes it is bonded; the pump has never seen it.
            stranger = make_pump(9)
            device.bond = PairingRecord(stranger.identity.address, stranger.identity.irk, bytes(16))
        air = connect(pump, device)
        air.run(air.device_end.start(T0_MS).send)
        transcripts.append(
            (
                [(p[0], len(p)) for p in air.to_device],
                [type(e).__name__ for e in air.pump_events],
            )
        )
        assert not air.started()
    assert transcripts[0] == transcripts[1]
    assert transcripts[0][1] == ["InputRejected"]


def test_even_a_device_that_guesses_the_decoy_key_gets_nothing() -> None:
    """An unknown device whose handshake verifies under the decoy LTK is still refused.

    Made deterministic by predicting the pump's seeded source (a 2^-128 guess
    with the real CSPRNG): the handshake verifies, and the pump hangs up.
    """
    pump, device = make_pump(), make_device(Role.REMOTE)
    air = connect(pump, device)
    decoy = copy.deepcopy(pump.rng).token_bytes(16)
    device.bond = PairingRecord(pump.identity.address, pump.identity.irk, decoy)
    air.device_end._bond = device.bond  # the device "knows" the decoy
    air.run(air.device_end.start(T0_MS).send)
    assert not any(isinstance(e, SessionStarted) for e in air.pump_events)
    assert ConnectionClosed() in air.pump_events and air.pump_end.peer is None


def test_a_pairing_cut_short_by_its_connection_closes_the_window() -> None:
    """An injected LL_ENC_REQ steals the handshake after KeysReady: the pairing fails, cleanly."""
    pump, device = make_pump(), make_device(Role.CONTROLLER_APP)
    pump.window.open(Role.CONTROLLER_APP, T0_MS)
    air = connect(pump, device)
    forged = DataPdu(Llid.CONTROL, b"\x03" + bytes(22)).encode()
    # Let the pairing reach KeysReady, then inject before the device's LL_ENC_REQ.
    air.run(air.device_end.start(T0_MS).send, inject=(4, forged))
    assert not pump.bonds.records and not air.started()
    assert air.pump_end.phase == "encrypting" and pump.window.in_progress
    air.pump_end.poll(T0_MS + LL_RESPONSE_TIMEOUT_MS)
    assert air.pump_end.closed
    assert pump.window.role is None and not pump.window.in_progress


def test_a_stalled_encryption_handshake_closes() -> None:
    pump, device = make_pump(), make_device(Role.REMOTE)
    pair(pump, device)
    air = connect(pump, device)
    enc_req = air.device_end.start(T0_MS).send[0]
    air.pump_end.receive(enc_req, T0_MS)
    assert air.pump_end.poll(T0_MS + LL_RESPONSE_TIMEOUT_MS - 1).events == ()
    assert air.pump_end.poll(T0_MS + LL_RESPONSE_TIMEOUT_MS).events == (ConnectionClosed(),)
    assert air.pump_end.closed and air.pump_end.session is None


def test_an_encryption_request_during_a_pairing_fails_the_pairing() -> None:
    """An injected LL_ENC_REQ while a pairing runs ends it as failed, window closed."""
    pump, device = make_pump(), make_device(Role.REMOTE)
    pump.window.open(Role.REMOTE, T0_MS)
    air = connect(pump, device)
    request = air.device_end.start(T0_MS).send
    air.pump_end.receive(request[0], T0_MS)
    forged = DataPdu(Llid.CONTROL, b"\x03" + bytes(22)).encode()
    step = air.pump_end.receive(forged, T0_MS)
    assert ConnectionClosed() in step.events
    assert pump.window.role is None and not pump.bonds.records


def test_closing_forgets_the_session() -> None:
    air = bonded()
    step = air.device_end.close()
    assert step.events == (ConnectionClosed(),)
    assert air.device_end.session is None
    (event,) = air.pump_end.receive(step.send[0], T0_MS).events
    assert event == ConnectionClosed() and air.pump_end.session is None
    with pytest.raises(ValueError):
        air.pump_end.send(b"late")


def test_neither_serial_nor_identity_ever_appears_in_cleartext() -> None:
    """Advertising, CONNECT_IND and every clear PDU carry RPAs only, never an identity."""
    pump, device = make_pump(), make_device(Role.CONTROLLER_APP)
    air = pair(pump, device)
    adv = pump.advertiser.advertisement(T0_MS, pump.window)  # type: ignore[union-attr]
    clear = [adv.encode(), air.pump_end.connect_ind.encode()]
    clear += [p for p in air.to_pump + air.to_device if p[0] & 3 == 3 or p[4:6] == b"\x06\x00"]
    blob = b"".join(clear)
    for identity in (pump.identity, device.identity):
        assert identity.address.value not in blob and identity.address.to_wire() not in blob
    assert adv.adv_address.kind == "resolvable"
    assert air.pump_end.connect_ind.init_address.kind == "resolvable"


def test_the_pump_rpa_changes_and_only_its_bonded_devices_resolve_it() -> None:
    pump, device = make_pump(), make_device(Role.REMOTE)
    pair(pump, device)
    assert device.bond is not None
    advertiser = pump.advertiser
    assert advertiser is not None
    first = advertiser.address(T0_MS)
    assert advertiser.address(T0_MS + RPA_TIMEOUT_MS - 1) == first
    second = advertiser.address(T0_MS + RPA_TIMEOUT_MS)
    assert second != first
    adv = AdvInd(second)
    assert DeviceConnection.is_my_pump(adv, device.bond)
    stranger = make_pump(8)
    assert not resolves(second, stranger.identity.irk)


def test_advertising_shows_the_window_and_connects_only_to_this_pump() -> None:
    pump = make_pump()
    advertiser = pump.advertiser
    assert advertiser is not None
    closed = decode_adv_pdu(advertiser.advertisement(T0_MS, pump.window).encode())
    assert isinstance(closed, AdvInd) and not closed.pairing_window_open
    pump.window.open(Role.REMOTE, T0_MS)
    opened = decode_adv_pdu(advertiser.advertisement(T0_MS, pump.window).encode())
    assert isinstance(opened, AdvInd) and opened.pairing_window_open
    device = make_device(Role.REMOTE)
    _, connect_ind = DeviceConnection.for_advertisement(
        opened, identity=device.identity, role=Role.REMOTE, bond=None, now_ms=T0_MS
    )
    assert advertiser.accepts(connect_ind)
    other = make_pump(5).advertiser
    assert other is not None and not other.accepts(connect_ind)
    assert decode_adv_pdu(connect_ind.encode()) == connect_ind


def test_a_session_carries_over_the_air_frame_codec() -> None:
    """Sealed PDUs framed with the connection's access address and CRCInit decode back."""
    air = bonded()
    connect_ind: ConnectInd = air.device_end.connect_ind
    (pdu,) = air.device_end.send(b"over the air").send
    frame = encode_air_frame(connect_ind.access_address, pdu, connect_ind.crc_init)
    access_address, received = decode_air_frame(frame, connect_ind.crc_init)
    assert access_address == air.pump_end.access_address
    (event,) = air.pump_end.receive(received, T0_MS).events
    assert isinstance(event, ApplicationData) and event.payload == b"over the air"

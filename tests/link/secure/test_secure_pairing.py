"""LE Secure Connections pairing: roles, the pairing window, and the attacks on it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from secure_kit import T0_MS, connect, make_device, make_pump, open_window, pair, reconnect

from pumplab.errors import DecodeError
from pumplab.link.secure.addresses import Identity
from pumplab.link.secure.crypto import DEBUG_PUBLIC_KEY, KeyPair, PublicKey, to_wire
from pumplab.link.secure.pairing import (
    SMP_TIMEOUT_MS,
    DevicePairing,
    DisplayPasskey,
    KeysReady,
    PairingFailed,
    PumpPairing,
)
from pumplab.link.secure.randomness import SeededRandomSource, draw_passkey
from pumplab.link.secure.roles import ASSOCIATION_MODEL, AssociationModel, Role
from pumplab.link.secure.smp import IoCapability, OobData, StaticOobKey, model_for
from pumplab.link.secure.window import PairingWindow

FAILED_PDU = bytes([0x05, 0x08])  # Pairing Failed, Unspecified Reason


def request_pdu(
    io: int = IoCapability.KEYBOARD_ONLY,
    oob: int = 0,
    auth: int = 0x0D,
    key_size: int = 16,
    init_keys: int = 0x02,
    resp_keys: int = 0x02,
) -> bytes:
    return bytes([0x01, io, oob, auth, key_size, init_keys, resp_keys])


def public_key_pdu(key: PublicKey) -> bytes:
    return bytes([0x0C]) + to_wire(key.x) + to_wire(key.y)


class Bench:
    """A pump's pairing machine driven directly with hand-made PDUs (an attacker's view)."""

    def __init__(self, role: Role | None = Role.REMOTE, seed: int = 1) -> None:
        self.rng = SeededRandomSource(seed)
        self.identity = Identity.generate(self.rng)
        self.window = PairingWindow()
        self.device = Identity.generate(SeededRandomSource(seed + 100))
        self.static = StaticOobKey.generate(SeededRandomSource(seed + 200))
        if role is not None:
            oob = self.static.oob_data(self.device.address) if role is Role.CGM else None
            self.window.open(role, T0_MS, oob=oob)
        self.pump = PumpPairing(
            self.window,
            self.identity,
            initiator_address=self.device.new_rpa(self.rng),
            responder_address=self.identity.new_rpa(self.rng),
            now_ms=T0_MS,
            rng=self.rng,
        )

    def send(self, pdu: bytes, now_ms: int = T0_MS) -> tuple[bytes, ...]:
        step = self.pump.receive(pdu, now_ms)
        return step.send


# --------------------------------------------------------------------------
# Roles and their fixed models


@pytest.mark.parametrize("role", list(Role))
def test_each_role_pairs_with_its_fixed_model_and_binds_the_role(role: Role) -> None:
    """A legitimate device pairs; the pump's record binds its identity to the chosen role."""
    pump, device = make_pump(), make_device(role)
    air = pair(pump, device)
    assert air.started()
    (record,) = pump.bonds.records
    assert record.role is role
    assert record.model is ASSOCIATION_MODEL[role]
    assert record.peer_identity == device.identity.address
    assert device.bond is not None and device.bond.peer_identity == pump.identity.address
    assert device.bond.ltk == record.ltk
    assert not pump.window.is_open(T0_MS)  # one pairing per opening


def test_the_association_models_are_the_issue_table() -> None:
    assert ASSOCIATION_MODEL == {
        Role.CONTROLLER_APP: AssociationModel.NUMERIC_COMPARISON,
        Role.CLINICIAN: AssociationModel.NUMERIC_COMPARISON,
        Role.REMOTE: AssociationModel.PASSKEY_ENTRY,
        Role.METER: AssociationModel.PASSKEY_ENTRY,
        Role.CGM: AssociationModel.OUT_OF_BAND,
    }


@pytest.mark.parametrize(
    ("initiator", "responder", "model"),
    [
        (
            IoCapability.DISPLAY_YES_NO,
            IoCapability.DISPLAY_YES_NO,
            AssociationModel.NUMERIC_COMPARISON,
        ),
        (
            IoCapability.KEYBOARD_DISPLAY,
            IoCapability.DISPLAY_YES_NO,
            AssociationModel.NUMERIC_COMPARISON,
        ),
        (IoCapability.KEYBOARD_ONLY, IoCapability.DISPLAY_ONLY, AssociationModel.PASSKEY_ENTRY),
        (IoCapability.KEYBOARD_DISPLAY, IoCapability.DISPLAY_ONLY, AssociationModel.PASSKEY_ENTRY),
        (IoCapability.DISPLAY_YES_NO, IoCapability.DISPLAY_ONLY, AssociationModel.JUST_WORKS),
        (IoCapability.NO_INPUT_NO_OUTPUT, IoCapability.DISPLAY_YES_NO, AssociationModel.JUST_WORKS),
        (IoCapability.KEYBOARD_ONLY, IoCapability.DISPLAY_YES_NO, AssociationModel.PASSKEY_ENTRY),
        (IoCapability.DISPLAY_ONLY, IoCapability.KEYBOARD_DISPLAY, AssociationModel.PASSKEY_ENTRY),
    ],
)
def test_model_table_follows_the_specification(
    initiator: IoCapability, responder: IoCapability, model: AssociationModel
) -> None:
    """Spot checks of Vol 3 Part H §2.3.5.1 table 2.8 (LE Secure Connections)."""
    assert model_for(initiator, responder, False) is model
    assert model_for(initiator, responder, True) is AssociationModel.OUT_OF_BAND


@pytest.mark.parametrize(
    ("role", "device_io"),
    [
        (Role.CONTROLLER_APP, IoCapability.KEYBOARD_ONLY),  # would give passkey entry
        (Role.CONTROLLER_APP, IoCapability.NO_INPUT_NO_OUTPUT),  # would give Just Works
        (Role.CONTROLLER_APP, IoCapability.DISPLAY_ONLY),  # Just Works
        (Role.REMOTE, IoCapability.DISPLAY_YES_NO),  # Just Works
        (Role.REMOTE, IoCapability.NO_INPUT_NO_OUTPUT),
        (Role.METER, IoCapability.DISPLAY_ONLY),
    ],
)
def test_method_confusion_is_refused(role: Role, device_io: IoCapability) -> None:
    """A device announcing capabilities that lead to another model than the role's is refused."""
    bench = Bench(role)
    assert bench.send(request_pdu(io=device_io)) == (FAILED_PDU,)
    assert bench.pump.failed
    assert not bench.window.is_open(T0_MS)


@pytest.mark.parametrize(
    "request_bytes",
    [
        request_pdu(key_size=7),  # KNOB-style key-size downgrade
        request_pdu(key_size=15),
        request_pdu(auth=0x05),  # no SC bit: legacy pairing
        request_pdu(auth=0x09),  # no MITM
        request_pdu(auth=0x0C),  # no bonding
        request_pdu(auth=0x1D),  # keypress notifications
        request_pdu(init_keys=0x00),  # no identity distribution
        request_pdu(resp_keys=0x01),
        request_pdu(oob=1),  # the pump never gives OOB data to a device
        request_pdu(io=0x05),  # reserved IO capability
        bytes([0x02]) + request_pdu()[1:],  # a Pairing Response sent to the pump
    ],
)
def test_downgraded_requests_are_refused(request_bytes: bytes) -> None:
    bench = Bench(Role.REMOTE)
    assert bench.send(request_bytes) == (FAILED_PDU,)
    assert bench.pump.failed


def test_a_device_refuses_a_pump_that_offers_just_works() -> None:
    """A fake pump answering NoInputNoOutput (Just Works) is refused by the device."""
    rng = SeededRandomSource(3)
    me, pump_id = Identity.generate(rng), Identity.generate(rng)
    device = DevicePairing(
        Role.CONTROLLER_APP,
        me,
        initiator_address=me.new_rpa(rng),
        responder_address=pump_id.new_rpa(rng),
        now_ms=T0_MS,
        rng=rng,
    )
    device.start(T0_MS)
    response = bytes([0x02, IoCapability.NO_INPUT_NO_OUTPUT, 0, 0x0D, 16, 2, 2])
    step = device.receive(response, T0_MS)
    assert step.send == (FAILED_PDU,)
    assert device.failed


# --------------------------------------------------------------------------
# The pairing window


def test_pairing_outside_the_window_is_refused() -> None:
    """No window opened on the pump's keys: a Pairing Request gets one Pairing Failed."""
    bench = Bench(role=None)
    assert bench.send(request_pdu()) == (FAILED_PDU,)
    assert bench.pump.failed
    pump, device = make_pump(), make_device(Role.REMOTE)
    air = connect(pump, device)
    air.run(air.device_end.start(T0_MS).send)
    assert not pump.bonds.records
    assert air.pump_failed() and air.device_end.closed


def test_pairing_after_the_window_expired_is_refused() -> None:
    pump, device = make_pump(), make_device(Role.REMOTE)
    open_window(pump, device, now_ms=0)
    late = PairingWindow.DEFAULT_DURATION_MS
    air = connect(pump, device, now_ms=late)
    air.run(air.device_end.start(late).send)
    assert not pump.bonds.records
    assert not pump.window.is_open(late)


def test_a_failed_attempt_closes_the_window_and_only_the_pump_reopens_it() -> None:
    """A wrong passkey fails and closes the window; a retry fails until the pump reopens it."""
    pump, device = make_pump(), make_device(Role.REMOTE)
    wrong = pair(pump, device, type_passkey=lambda shown: ((shown or 0) + 1) % 1_000_000)
    assert not wrong.started() and not pump.bonds.records
    assert pump.window.role is None
    retry = connect(pump, device)
    retry.run(retry.device_end.start(T0_MS).send)
    assert not pump.bonds.records
    ok = pair(pump, device)  # pair() reopens the window on the pump, as the user would
    assert ok.started() and len(pump.bonds.records) == 1


def test_a_second_attempt_during_a_pairing_closes_the_window_for_both() -> None:
    """Two devices answering one window: both attempts fail (fail closed)."""
    pump = make_pump()
    legit, intruder = make_device(Role.REMOTE, 2), make_device(Role.REMOTE, 3)
    open_window(pump, legit)
    first = connect(pump, legit)
    request = first.device_end.start(T0_MS).send
    response = first.pump_end.receive(request[0], T0_MS).send  # the legitimate request is in
    assert pump.window.in_progress
    second = connect(pump, intruder)
    second.run(second.device_end.start(T0_MS).send)
    assert pump.window.role is None
    # The first attempt cannot continue either: its next PDU fails it.
    public_key = first.device_end.receive(response[0], T0_MS).send
    step = first.pump_end.receive(public_key[0], T0_MS)
    assert any(isinstance(e, PairingFailed) for e in step.events)
    assert first.pump_end.closed
    assert not pump.bonds.records


def test_the_window_refuses_oob_data_for_other_roles_and_needs_it_for_a_cgm() -> None:
    window = PairingWindow()
    oob = StaticOobKey.generate(SeededRandomSource(1)).oob_data(
        Identity.generate(SeededRandomSource(2)).address
    )
    with pytest.raises(ValueError):
        window.open(Role.CGM, 0)
    with pytest.raises(ValueError):
        window.open(Role.REMOTE, 0, oob=oob)
    window.open(Role.CGM, 0, oob=oob)
    assert window.is_open(0) and window.role is Role.CGM


# --------------------------------------------------------------------------
# Attacks on the key exchange


def test_the_debug_key_from_a_device_is_refused() -> None:
    bench = Bench(Role.REMOTE)
    bench.send(request_pdu())
    assert bench.send(public_key_pdu(DEBUG_PUBLIC_KEY)) == (FAILED_PDU,)
    assert bench.pump.failed and not bench.window.is_open(T0_MS)


@pytest.mark.parametrize("y_offset", [1, 2, 12345])
def test_a_public_key_not_on_the_curve_is_refused(y_offset: int) -> None:
    """CVE-2018-5383: a valid x with a forged y (a point off P-256) is refused."""
    bench = Bench(Role.REMOTE)
    bench.send(request_pdu())
    valid = KeyPair.generate(SeededRandomSource(9)).public
    forged_y = ((int.from_bytes(valid.y, "big") + y_offset) % 2**256).to_bytes(32, "big")
    assert bench.send(public_key_pdu(PublicKey(valid.x, forged_y))) == (FAILED_PDU,)
    assert bench.pump.failed


def test_the_point_at_infinity_is_refused() -> None:
    bench = Bench(Role.REMOTE)
    bench.send(request_pdu())
    assert bench.send(public_key_pdu(PublicKey(bytes(32), bytes(32)))) == (FAILED_PDU,)


def test_a_device_refuses_its_own_public_key_reflected() -> None:
    """CVE-2020-26558: a fake pump reflecting the device's key is refused."""
    rng = SeededRandomSource(4)
    me, pump_id = Identity.generate(rng), Identity.generate(rng)
    device = DevicePairing(
        Role.REMOTE,
        me,
        initiator_address=me.new_rpa(rng),
        responder_address=pump_id.new_rpa(rng),
        now_ms=T0_MS,
        rng=rng,
    )
    device.start(T0_MS)
    response = bytes([0x02, IoCapability.DISPLAY_ONLY, 0, 0x0D, 16, 2, 2])
    (own_key_pdu,) = device.receive(response, T0_MS).send
    assert device.receive(own_key_pdu, T0_MS).send == (FAILED_PDU,)
    assert device.failed


def test_a_pump_refuses_its_own_public_key_reflected() -> None:
    bench = Bench(Role.REMOTE)
    bench.send(request_pdu())
    own = bench.pump._keypair  # the key it is about to send (a reflection needs it)
    assert own is not None
    assert bench.send(public_key_pdu(own.public)) == (FAILED_PDU,)


# --------------------------------------------------------------------------
# Passkey entry: a MITM must guess a fresh passkey


def test_a_mitm_with_a_guessed_passkey_fails_and_the_window_closes() -> None:
    """An attacker pairing as a remote with a guessed passkey fails; nothing is stored."""
    pump = make_pump()
    attacker = make_device(Role.REMOTE, seed=66)
    air = pair(pump, attacker, type_passkey=lambda shown: 123456)
    assert air.passkey_shown is not None and air.passkey_shown != 123456
    assert not air.started() and not pump.bonds.records
    assert pump.window.role is None


@pytest.mark.parametrize("bit", [0, 1, 7, 13, 19])
def test_a_wrong_passkey_fails_at_its_first_wrong_bit(bit: int) -> None:
    """The commitment rounds stop at the first wrong bit: rounds completed = index of that bit."""
    pump = make_pump(seed=21)
    attacker = make_device(Role.REMOTE, seed=22)
    air = pair(pump, attacker, type_passkey=lambda shown: (shown or 0) ^ (1 << bit))
    assert not air.started()
    confirms_from_pump = [p for p in air.to_device if p[6:7] == b"\x03"]
    # The pump answers one commitment per round it let through, the failed one included.
    assert len(confirms_from_pump) == bit + 1


def test_passkeys_are_fresh_for_every_attempt() -> None:
    pump = make_pump(seed=31)
    shown = []
    for attempt in range(5):
        air = pair(pump, make_device(Role.METER, seed=40 + attempt))
        shown.append(air.passkey_shown)
    assert len(set(shown)) == 5


def test_passkeys_are_uniform_over_six_digits() -> None:
    """No modulo bias: chi-square over 10 buckets of 20,000 seeded draws."""
    rng = SeededRandomSource(7)
    counts = [0] * 10
    for _ in range(20_000):
        passkey = draw_passkey(rng)
        assert 0 <= passkey <= 999_999
        counts[passkey // 100_000] += 1
    chi2 = sum((c - 2000) ** 2 / 2000 for c in counts)
    assert chi2 < 27.9  # p = 0.001 with 9 degrees of freedom


def test_a_pump_on_a_predictable_source_is_paired_by_a_guesser() -> None:
    """The mechanism, shown with the seeded source: the passkey is the only secret.

    An attacker who can predict the pump's random source (here: same seed)
    predicts the passkey and pairs.  This is why the pump's default is the
    CSPRNG and the seeded source is marked insecure.
    """
    pump = make_pump(seed=5)
    clone = make_pump(seed=5)
    attacker = make_device(Role.REMOTE, seed=6)
    # Replaying the pump's draws on the clone predicts the passkey.
    open_window(clone, attacker)
    twin = connect(clone, attacker)
    twin.run(twin.device_end.start(T0_MS).send)
    predicted = twin.passkey_shown
    attacker2 = make_device(Role.REMOTE, seed=6)
    air = pair(pump, attacker2, type_passkey=lambda shown: predicted or 0)
    assert air.started() and pump.bonds.records


# --------------------------------------------------------------------------
# Numeric comparison and OOB


@pytest.mark.parametrize("who", ["pump", "device"])
def test_a_numeric_comparison_rejected_by_either_user_fails(who: str) -> None:
    pump, device = make_pump(), make_device(Role.CONTROLLER_APP)
    options = {"confirm_on_pump": who != "pump", "confirm_on_device": who != "device"}
    air = pair(pump, device, **options)
    assert not air.started() and not pump.bonds.records
    assert pump.window.role is None


def test_a_cgm_whose_key_is_not_the_one_on_its_label_is_refused() -> None:
    """OOB: a transmitter (or attacker) with another key than the printed C commits to fails."""
    pump = make_pump()
    genuine = make_device(Role.CGM, seed=8)
    impostor = make_device(Role.CGM, seed=9)
    open_window(pump, genuine)  # the app handed over the genuine label
    air = connect(pump, impostor)
    air.run(air.device_end.start(T0_MS).send)
    assert not air.started() and not pump.bonds.records


def test_a_cgm_must_present_the_identity_on_its_label() -> None:
    pump = make_pump()
    cgm = make_device(Role.CGM, seed=8)
    other_address = Identity.generate(SeededRandomSource(77)).address
    assert cgm.static_oob is not None
    pump.window.open(Role.CGM, T0_MS, oob=cgm.static_oob.oob_data(other_address))
    air = connect(pump, cgm)
    air.run(air.device_end.start(T0_MS).send)
    assert not pump.bonds.records


def test_oob_block_round_trips() -> None:
    data = StaticOobKey.generate(SeededRandomSource(1)).oob_data(
        Identity.generate(SeededRandomSource(2)).address
    )
    assert OobData.decode(data.encode()) == data


@pytest.mark.parametrize(
    "block",
    [b"", b"\x00", b"\x08\x1b" + bytes(6), b"\x02\x22\x00", b"\x30" + bytes(10)],
)
def test_malformed_oob_blocks_raise_decode_error(block: bytes) -> None:
    with pytest.raises(DecodeError):
        OobData.decode(block)


# --------------------------------------------------------------------------
# Failures: all alike, and only ever "failed"


def test_every_pairing_failure_sends_the_same_pdu() -> None:
    """Window closed, downgrade, bad key, wrong passkey, rejected comparison: one PDU, 05 08."""
    seen = set()
    bench = Bench(role=None)
    seen.update(bench.send(request_pdu()))
    bench = Bench(Role.REMOTE)
    seen.update(bench.send(request_pdu(key_size=8)))
    bench = Bench(Role.REMOTE)
    bench.send(request_pdu())
    seen.update(bench.send(public_key_pdu(DEBUG_PUBLIC_KEY)))
    for air in (
        pair(make_pump(), make_device(Role.REMOTE), type_passkey=lambda shown: 0),
        pair(make_pump(), make_device(Role.CONTROLLER_APP), confirm_on_pump=False),
    ):
        seen.update(p[6:] for p in air.to_device if p[6:7] == b"\x05")
    assert seen == {FAILED_PDU}


def _smp_frame(smp: bytes) -> bytes:
    """An SMP PDU as a clear data PDU (L2CAP on channel 6), as an attacker would send it."""
    return bytes([0x02, len(smp) + 4]) + len(smp).to_bytes(2, "little") + b"\x06\x00" + smp


@settings(max_examples=150, deadline=None)
@given(
    stage=st.integers(0, 50),
    junk=st.one_of(
        st.binary(max_size=60),
        st.binary(max_size=70).map(_smp_frame),
        st.sampled_from([0x01, 0x03, 0x04, 0x0C, 0x0D]).flatmap(
            lambda code: st.binary(min_size=16, max_size=64).map(
                lambda b: _smp_frame(bytes([code]) + b)
            )
        ),
    ),
)
def test_injected_bytes_during_a_pairing_never_bind_anything_else(stage: int, junk: bytes) -> None:
    """Any bytes injected at any point of a pairing: no crash; either they are rejected
    without effect (and the pairing completes as it would have) or the pairing fails
    and the window closes.  The injection can never bind another identity or role."""
    pump, device = make_pump(), make_device(Role.REMOTE)
    open_window(pump, device)
    air = connect(pump, device)
    air.run(air.device_end.start(T0_MS).send, inject=(stage, junk))
    if pump.bonds.records:
        (record,) = pump.bonds.records
        assert record.peer_identity == device.identity.address and record.role is Role.REMOTE
        assert air.started()
    else:
        assert not air.started()
        assert pump.window.role is None


def test_a_silent_device_times_out() -> None:
    bench = Bench(Role.REMOTE)
    bench.send(request_pdu())
    assert bench.pump.poll(T0_MS + SMP_TIMEOUT_MS - 1).events == ()
    step = bench.pump.poll(T0_MS + SMP_TIMEOUT_MS)
    assert step.events == (PairingFailed(),) and step.send == ()
    assert not bench.window.is_open(T0_MS + 1)


def test_keys_never_show_in_reprs() -> None:
    pump, device = make_pump(), make_device(Role.CONTROLLER_APP)
    air = pair(pump, device)
    record = pump.bonds.records[0]
    text = repr(record) + repr(air.pump_events) + repr(air.device_events) + repr(device.bond)
    for secret in (record.ltk, record.peer_irk, pump.identity.irk):
        assert secret.hex() not in text and repr(secret) not in text
    assert any(isinstance(e, KeysReady) for e in air.pump_events)


def test_a_bonded_device_reconnects_without_pairing() -> None:
    pump, device = make_pump(), make_device(Role.METER)
    pair(pump, device)
    again = reconnect(pump, device)
    assert again.started()
    assert not any(isinstance(e, DisplayPasskey) for e in again.pump_events)

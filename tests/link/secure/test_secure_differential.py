"""Differential tests against an independent implementation: bumble's SMP crypto.

bumble (Google's Bluetooth stack in Python) is a test-only dependency; the
package never imports it.  Its functions take and return values least
significant octet first (as on the air), pumplab's most significant octet
first (as the specification prints them), so every comparison reverses
explicitly.  Inputs are random (Hypothesis, derandomized by default), plus one
whole pairing transcript recomputed with bumble alone.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumplab.link.secure import crypto, pairing
from pumplab.link.secure.crypto import KeyPair, PublicKey
from pumplab.link.secure.randomness import SeededRandomSource
from pumplab.link.secure.roles import Role
from pumplab.link.secure.smp import SmpCode, decode_smp

bumble_crypto = pytest.importorskip("bumble.crypto")

from secure_kit import make_device, make_pump, pair  # noqa: E402

b16 = st.binary(min_size=16, max_size=16)
b32 = st.binary(min_size=32, max_size=32)
b7 = st.binary(min_size=7, max_size=7)
b3 = st.binary(min_size=3, max_size=3)


def rev(value: bytes) -> bytes:
    return value[::-1]


@settings(max_examples=200)
@given(u=b32, v=b32, x=b16, z=st.integers(0, 255))
def test_f4_agrees_with_bumble(u: bytes, v: bytes, x: bytes, z: int) -> None:
    assert crypto.f4(u, v, x, z) == rev(bumble_crypto.f4(rev(u), rev(v), rev(x), bytes([z])))


@settings(max_examples=200)
@given(w=b32, n1=b16, n2=b16, a1=b7, a2=b7)
def test_f5_agrees_with_bumble(w: bytes, n1: bytes, n2: bytes, a1: bytes, a2: bytes) -> None:
    theirs = bumble_crypto.f5(rev(w), rev(n1), rev(n2), rev(a1), rev(a2))
    assert crypto.f5(w, n1, n2, a1, a2) == (rev(theirs[0]), rev(theirs[1]))


@settings(max_examples=200)
@given(w=b16, n1=b16, n2=b16, r=b16, io=b3, a1=b7, a2=b7)
def test_f6_agrees_with_bumble(
    w: bytes, n1: bytes, n2: bytes, r: bytes, io: bytes, a1: bytes, a2: bytes
) -> None:
    theirs = bumble_crypto.f6(rev(w), rev(n1), rev(n2), rev(r), rev(io), rev(a1), rev(a2))
    assert crypto.f6(w, n1, n2, r, io, a1, a2) == rev(theirs)


@settings(max_examples=200)
@given(u=b32, v=b32, x=b16, y=b16)
def test_g2_agrees_with_bumble(u: bytes, v: bytes, x: bytes, y: bytes) -> None:
    assert crypto.g2(u, v, x, y) == bumble_crypto.g2(rev(u), rev(v), rev(x), rev(y))


@settings(max_examples=200)
@given(w=b16, key_id=st.binary(min_size=4, max_size=4), salt=b16)
def test_h6_h7_agree_with_bumble(w: bytes, key_id: bytes, salt: bytes) -> None:
    # bumble passes keyID and SALT as the specification prints them (no reversal).
    assert crypto.h6(w, key_id) == rev(bumble_crypto.h6(rev(w), key_id))
    assert crypto.h7(salt, w) == rev(bumble_crypto.h7(salt, rev(w)))


@settings(max_examples=200)
@given(irk=b16, prand=b3, block=b16)
def test_ah_and_e_agree_with_bumble(irk: bytes, prand: bytes, block: bytes) -> None:
    assert crypto.ah(irk, prand) == rev(bumble_crypto.ah(rev(irk), rev(prand)))
    assert crypto.e(irk, block) == rev(bumble_crypto.e(rev(irk), rev(block)))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_ecdh_agrees_with_bumble(seed: int) -> None:
    """Key pairs from pumplab and bumble compute the same DHKey."""
    ours = KeyPair.generate(SeededRandomSource(seed))
    theirs = bumble_crypto.EccKey.generate()
    their_public = PublicKey(theirs.x, theirs.y)
    assert ours.dh_key(their_public) == theirs.dh(ours.public.x, ours.public.y)


@pytest.mark.parametrize("role", [Role.CONTROLLER_APP, Role.REMOTE, Role.CGM])
def test_a_whole_pairing_transcript_recomputes_with_bumble(
    role: Role, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every confirm, check and the LTK of a captured pairing, recomputed by bumble alone.

    The private keys are caught as they are generated (the only thing a
    sniffer lacks); everything else comes from the PDUs on the air.
    """
    pump, device = make_pump(11), make_device(role, 12)
    keys: list[KeyPair] = []
    real_generate = KeyPair.generate.__func__  # type: ignore[attr-defined]

    def recording_generate(cls: type[KeyPair], rng: object = None) -> KeyPair:
        pair_ = real_generate(cls, rng)
        keys.append(pair_)
        return pair_

    monkeypatch.setattr(pairing.KeyPair, "generate", classmethod(recording_generate))
    air = pair(pump, device)
    assert air.started()

    # SMP PDUs of both directions, from the cleartext L2CAP frames (phases 1-2).
    def smp(pdus: list[bytes]) -> list[bytes]:
        return [pdu[6:] for pdu in pdus if pdu[0] & 3 == 2 and pdu[4:6] == b"\x06\x00"]

    from_device, from_pump = smp(air.to_pump), smp(air.to_device)
    request, response = from_device[0], from_pump[0]
    randoms_a = [decode_smp(p) for p in from_device if p[0] == SmpCode.PAIRING_RANDOM]
    randoms_b = [decode_smp(p) for p in from_pump if p[0] == SmpCode.PAIRING_RANDOM]
    ea_pdu = next(p for p in from_device if p[0] == SmpCode.PAIRING_DHKEY_CHECK)
    eb_pdu = next(p for p in from_pump if p[0] == SmpCode.PAIRING_DHKEY_CHECK)
    na = rev(randoms_a[-1].value)  # type: ignore[union-attr]
    nb = rev(randoms_b[-1].value)  # type: ignore[union-attr]

    # bumble, air order throughout.
    device_key = device.static_oob.keypair if device.static_oob else keys[-1]
    pump_key = keys[0]  # the pump draws its key pair first, on the Pairing Request
    ecc_pump = bumble_crypto.EccKey.from_private_key_bytes(pump_key.private_bytes())
    dh = rev(ecc_pump.dh(device_key.public.x, device_key.public.y))
    connect_ind = air.pump_end.connect_ind
    a = connect_ind.init_address.to_wire() + bytes([int(connect_ind.init_address.type)])
    b = connect_ind.adv_address.to_wire() + bytes([int(connect_ind.adv_address.type)])
    mac_key, ltk = bumble_crypto.f5(dh, na, nb, a, b)
    if role is Role.REMOTE:
        r_a = r_b = (air.passkey_shown or 0).to_bytes(16, "little")
    elif role is Role.CGM:
        assert device.static_oob is not None
        r_a, r_b = rev(device.static_oob.r), bytes(16)
    else:
        r_a = r_b = bytes(16)
    # IOcap on the air is IO capability, OOB flag, AuthReq: already bumble's order.
    io_a, io_b = request[1:4], response[1:4]
    assert bumble_crypto.f6(mac_key, na, nb, r_b, io_a, a, b) == ea_pdu[1:]
    assert bumble_crypto.f6(mac_key, nb, na, r_a, io_b, b, a) == eb_pdu[1:]
    assert rev(ltk) == pump.bonds.records[0].ltk
    assert device.bond is not None and device.bond.ltk == rev(ltk)

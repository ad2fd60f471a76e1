"""The link-layer session: sealing, strict counters, and every tampering rejected.

Hypothesis generates the traffic and the tampering; derandomized by default.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumplab.errors import AuthenticationError, DecodeError, LinkError
from pumplab.link.secure.crypto import MAX_PACKET_COUNTER
from pumplab.link.secure.frames import Llid
from pumplab.link.secure.randomness import SeededRandomSource
from pumplab.link.secure.session import (
    MAX_SEALED_PLAINTEXT,
    EncReq,
    EncRsp,
    Session,
    Side,
    decode_control,
    derive_session,
    new_enc_req,
    new_enc_rsp,
)

LTK = bytes.fromhex("4C68384139F574D836BCF34E9DFB01BF")


def session_pair(seed: int = 1, ltk: bytes = LTK) -> tuple[Session, Session]:
    """(central, peripheral) of one connection with fresh halves from ``seed``."""
    rng = SeededRandomSource(seed)
    request, response = new_enc_req(rng), new_enc_rsp(rng)
    return (
        derive_session(ltk, request, response, Side.CENTRAL),
        derive_session(ltk, request, response, Side.PERIPHERAL),
    )


payloads = st.binary(min_size=1, max_size=MAX_SEALED_PLAINTEXT)
llids = st.sampled_from([Llid.START, Llid.CONTINUATION, Llid.CONTROL])


def test_the_sample_data_session_reproduces_the_specification_pdus() -> None:
    """A Session built from the Vol 6 Part C halves seals LL_START_ENC_RSP as printed.

    The header octet differs (pumplab sends NESN = SN = 0; the sample's are 1),
    which CCM does not cover, so ciphertext and MIC are the sample's exactly.
    """
    request = EncReq(bytes.fromhex("ACBDCEDFE0F10213"), bytes.fromhex("BADCAB24"))
    response = EncRsp(bytes.fromhex("0213243546576879"), bytes.fromhex("DEAFBABE"))
    central = derive_session(LTK, request, response, Side.CENTRAL)
    peripheral = derive_session(LTK, request, response, Side.PERIPHERAL)
    assert central.seal(Llid.CONTROL, b"\x06") == bytes.fromhex("0305") + bytes.fromhex(
        "9fcda7f448"
    )
    assert peripheral.seal(Llid.CONTROL, b"\x06") == bytes.fromhex("0305a34c13a415")


def test_control_pdus_match_the_sample_air_bytes() -> None:
    """LL_ENC_REQ / LL_ENC_RSP carry their fields least significant octet first."""
    request = EncReq(
        bytes.fromhex("ACBDCEDFE0F10213"),
        bytes.fromhex("BADCAB24"),
        rand=bytes.fromhex("ABCDEF1234567890"),
        ediv=0x2474,
    )
    air = bytes.fromhex("039078563412efcdab74241302f1e0dfcebdac24abdcba")
    assert request.encode() == air
    assert decode_control(air) == request
    response = EncRsp(bytes.fromhex("0213243546576879"), bytes.fromhex("DEAFBABE"))
    assert response.encode() == bytes.fromhex("047968574635241302bebaafde")


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x01", b"\x03" + bytes(21), b"\x04" + bytes(13), b"\x02", b"\x07", b"\x06\x00"],
)
def test_malformed_control_pdus_raise_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_control(payload)


@settings(max_examples=100)
@given(st.lists(st.tuples(llids, payloads, st.booleans()), min_size=1, max_size=12))
def test_request_response_traffic_round_trips(traffic: list[tuple[Llid, bytes, bool]]) -> None:
    """Each side opens exactly what the other sealed, in order, both ways."""
    central, peripheral = session_pair()
    for llid, payload, from_central in traffic:
        sender, receiver = (central, peripheral) if from_central else (peripheral, central)
        assert receiver.open(sender.seal(llid, payload)) == (llid, payload)


@settings(max_examples=300)
@given(payload=payloads, llid=llids, data=st.data())
def test_any_bit_flip_is_rejected(payload: bytes, llid: Llid, data: st.DataObject) -> None:
    """Flipping any bit of any octet of a sealed PDU (header included) is rejected."""
    central, peripheral = session_pair()
    sealed = central.seal(llid, payload)
    position = data.draw(st.integers(0, len(sealed) * 8 - 1))
    tampered = bytearray(sealed)
    tampered[position // 8] ^= 1 << (position % 8)
    with pytest.raises(AuthenticationError):
        peripheral.open(bytes(tampered))
    assert peripheral.open(sealed) == (llid, payload)  # the failure changed nothing


@settings(max_examples=300)
@given(payload=payloads, data=st.data())
def test_any_modification_is_rejected(payload: bytes, data: st.DataObject) -> None:
    """Any different byte string of any length is rejected in place of a sealed PDU."""
    central, peripheral = session_pair()
    sealed = central.seal(Llid.START, payload)
    other = data.draw(st.binary(min_size=0, max_size=len(sealed) + 8).filter(lambda b: b != sealed))
    with pytest.raises(AuthenticationError):
        peripheral.open(other)
    assert peripheral.rx_counter == 0
    assert peripheral.open(sealed) == (Llid.START, payload)


@settings(max_examples=200)
@given(payload=payloads, data=st.data())
def test_any_truncation_or_extension_is_rejected(payload: bytes, data: st.DataObject) -> None:
    """Cutting a sealed PDU short (length fixed up or not) or appending to it is rejected."""
    central, peripheral = session_pair()
    sealed = central.seal(Llid.START, payload)
    cut = data.draw(st.integers(0, len(sealed) - 1))
    shorter = sealed[:cut]
    fixed_up = bytes([sealed[0], max(len(shorter) - 2, 0)]) + shorter[2:] if cut >= 2 else shorter
    longer = sealed + data.draw(st.binary(min_size=1, max_size=4))
    for candidate in (shorter, fixed_up, longer):
        with pytest.raises(AuthenticationError):
            peripheral.open(candidate)
    assert peripheral.open(sealed) == (Llid.START, payload)


@settings(max_examples=200)
@given(
    messages=st.lists(payloads, min_size=2, max_size=6),
    data=st.data(),
)
def test_any_reordering_is_rejected(messages: list[bytes], data: st.DataObject) -> None:
    """Delivering sealed PDUs in any order but the sent one fails at the first misplaced PDU."""
    central, peripheral = session_pair()
    sealed = [central.seal(Llid.START, m) for m in messages]
    order = data.draw(st.permutations(range(len(sealed))).filter(lambda p: list(p) != sorted(p)))
    accepted = []
    for index in order:
        try:
            peripheral.open(sealed[index])
            accepted.append(index)
        except AuthenticationError:
            break
    # Only an in-order prefix (0, 1, ...) can ever be accepted.
    assert accepted == list(range(len(accepted)))
    assert len(accepted) < len(order)


def test_a_replayed_pdu_is_rejected_in_the_same_session() -> None:
    """A captured PDU sent again after it was accepted fails (the counter has moved on)."""
    central, peripheral = session_pair()
    captured = central.seal(Llid.START, b"bolus 1.0 U, command id 7")
    assert peripheral.open(captured)[1] == b"bolus 1.0 U, command id 7"
    with pytest.raises(AuthenticationError):
        peripheral.open(captured)
    follow_up = central.seal(Llid.START, b"status?")
    assert peripheral.open(follow_up)[1] == b"status?"


def test_a_replayed_pdu_is_rejected_in_a_new_session_after_a_reboot() -> None:
    """After any reboot a new connection has a new SK: old PDUs never verify, even at counter 0."""
    central, _peripheral = session_pair(seed=1)
    captured = central.seal(Llid.START, b"bolus 1.0 U")
    # The device's half may even be replayed: the pump's fresh half changes SK.
    rng = SeededRandomSource(1)
    old_request, _ = new_enc_req(rng), new_enc_rsp(rng)
    rebooted_pump = derive_session(
        LTK, old_request, new_enc_rsp(SeededRandomSource(99)), Side.PERIPHERAL
    )
    with pytest.raises(AuthenticationError):
        rebooted_pump.open(captured)
    assert rebooted_pump.rx_counter == 0


def test_a_reflected_pdu_never_verifies() -> None:
    """The pump's own PDU sent back to it fails: the nonce's direction bit differs."""
    central, peripheral = session_pair()
    assert peripheral.open(central.seal(Llid.START, b"request"))[1] == b"request"
    own = peripheral.seal(Llid.START, b"response")
    with pytest.raises(AuthenticationError):
        peripheral.open(own)
    # Even at equal counters in both directions.
    central2, peripheral2 = session_pair(seed=5)
    with pytest.raises(AuthenticationError):
        peripheral2.open(peripheral2.seal(Llid.START, b"x"))
    with pytest.raises(AuthenticationError):
        central2.open(central2.seal(Llid.START, b"x"))


def test_a_pdu_under_another_ltk_is_rejected() -> None:
    central, _ = session_pair(ltk=bytes(16))
    _, peripheral = session_pair(ltk=LTK)
    with pytest.raises(AuthenticationError):
        peripheral.open(central.seal(Llid.START, b"hello"))


def test_unauthenticated_header_bits_are_refused_after_the_mic() -> None:
    """NESN, SN and MD are outside CCM's AAD; any of them set makes the PDU invalid."""
    central, peripheral = session_pair()
    sealed = central.seal(Llid.START, b"abc")
    for bit in (2, 3, 4):
        tampered = bytes([sealed[0] | 1 << bit]) + sealed[1:]
        with pytest.raises(AuthenticationError):
            peripheral.open(tampered)
    assert peripheral.open(sealed) == (Llid.START, b"abc")


def test_every_failure_is_the_same_opaque_error() -> None:
    """Wrong counter, direction, key, bit flip or truncation: same type, same message."""
    central, peripheral = session_pair()
    good = central.seal(Llid.START, b"x" * 20)
    candidates = [good[:-1], good[:2], b"", bytes([good[0] ^ 0x40]) + good[1:], bytes(len(good))]
    messages = set()
    for candidate in candidates:
        with pytest.raises(AuthenticationError) as info:
            peripheral.open(candidate)
        messages.add((type(info.value), str(info.value)))
    assert messages == {(AuthenticationError, "authentication failed")}


def test_the_counter_never_wraps() -> None:
    """At 2^39 the session refuses to seal: a counter is never reused under one SK."""
    central, _peripheral = session_pair()
    central._tx_counter = MAX_PACKET_COUNTER  # type: ignore[attr-defined]
    central.seal(Llid.START, b"last")
    with pytest.raises(LinkError):
        central.seal(Llid.START, b"one too many")


def test_the_session_nonce_is_the_specification_nonce() -> None:
    """The session's inline nonce equals crypto.ccm_nonce for both directions."""
    from pumplab.link.secure.crypto import ccm_nonce

    iv = bytes.fromhex("DEAFBABEBADCAB24")
    central = Session(bytes(16), iv, Side.CENTRAL)
    for counter in (0, 1, 0x7F_FFFF_FFFF):
        assert central._nonce(counter, 1 << 39) == ccm_nonce(counter, 1, iv)
        assert central._nonce(counter, 0) == ccm_nonce(counter, 0, iv)


def test_session_keys_never_show_in_repr() -> None:
    central, _ = session_pair()
    assert "tx_counter" in repr(central)
    rng = SeededRandomSource(3)
    request = new_enc_req(rng)
    assert request.skd_central.hex() not in repr(request)


@pytest.mark.parametrize("size", [0, MAX_SEALED_PLAINTEXT + 1])
def test_plaintext_size_limits_are_programming_errors(size: int) -> None:
    central, _ = session_pair()
    with pytest.raises(ValueError):
        central.seal(Llid.START, bytes(size))

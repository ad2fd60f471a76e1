"""The BLE 1M PHY frame codec, addresses and the random sources."""

from __future__ import annotations

import inspect
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumplab.errors import DecodeError
from pumplab.link.secure import (
    addresses,
    connection,
    crypto,
    frames,
    keystore,
    pairing,
    randomness,
    session,
    smp,
    window,
)
from pumplab.link.secure.addresses import (
    AddressType,
    DeviceAddress,
    Identity,
    new_rpa,
    new_static_address,
    resolves,
)
from pumplab.link.secure.frames import (
    ADVERTISING_ACCESS_ADDRESS,
    ADVERTISING_CRC_INIT,
    AdvInd,
    ConnectInd,
    DataPdu,
    Llid,
    airtime_us,
    channel_frequency_mhz,
    crc24,
    decode_adv_pdu,
    decode_air_frame,
    decode_data_pdu,
    encode_air_frame,
    new_access_address,
)
from pumplab.link.secure.randomness import (
    SYSTEM_RANDOM,
    SeededRandomSource,
    SystemRandomSource,
)

# A real advertising packet captured by an Ubertooth (scapy's BTLE regression
# test, test/scapy/layers/bluetooth4LE.uts): access address, PDU, CRC.
CAPTURED_PDU = bytes.fromhex("40144d955016fe7602011a0aff4c0010050b1c0ea836")
CAPTURED_CRC = bytes.fromhex("5af004")


def test_crc24_matches_a_captured_advertising_packet() -> None:
    assert crc24(CAPTURED_PDU, ADVERTISING_CRC_INIT) == CAPTURED_CRC
    frame = bytes([0xAA]) + bytes.fromhex("d6be898e") + CAPTURED_PDU + CAPTURED_CRC
    assert decode_air_frame(frame, ADVERTISING_CRC_INIT) == (
        ADVERTISING_ACCESS_ADDRESS,
        CAPTURED_PDU,
    )
    assert encode_air_frame(ADVERTISING_ACCESS_ADDRESS, CAPTURED_PDU, ADVERTISING_CRC_INIT) == frame


def test_crc24_matches_the_bit_serial_lfsr_of_the_specification() -> None:
    """The table-driven CRC equals a literal transcription of Vol 6 Part B figure 3.2."""

    def lfsr(pdu: bytes, init: int) -> bytes:
        state = [(init >> i) & 1 for i in range(24)]
        for octet in pdu:
            for bit in range(8):
                feedback = ((octet >> bit) & 1) ^ state[23]
                state = [feedback, *state[:23]]
                for tap in (1, 3, 4, 6, 9, 10):
                    state[tap] ^= feedback
        sent = [state[23 - i] for i in range(24)]
        return bytes(sum(sent[8 * j + k] << k for k in range(8)) for j in range(3))

    for length in (0, 1, 5, 37, 257):
        data = bytes((i * 37 + length) & 0xFF for i in range(length))
        for init in (0x555555, 0x000000, 0xFFFFFF, 0x123456):
            assert crc24(data, init) == lfsr(data, init)


@given(
    access_address=st.integers(0, 0xFFFFFFFF),
    crc_init=st.integers(0, 0xFFFFFF),
    payload=st.binary(max_size=251),
)
def test_air_frames_round_trip(access_address: int, crc_init: int, payload: bytes) -> None:
    pdu = DataPdu(Llid.START, payload).encode()
    frame = encode_air_frame(access_address, pdu, crc_init)
    assert len(frame) == 1 + 4 + len(pdu) + 3
    assert decode_air_frame(frame, crc_init) == (access_address, pdu)


@given(payload=st.binary(min_size=1, max_size=40), flip=st.integers(0, 8 * 52 - 1))
def test_any_single_bit_error_fails_the_crc_or_the_framing(payload: bytes, flip: int) -> None:
    frame = bytearray(encode_air_frame(0x50654A3B, DataPdu(Llid.START, payload).encode(), 0xABCDEF))
    flip %= len(frame) * 8
    frame[flip // 8] ^= 1 << (flip % 8)
    if flip // 8 in range(1, 5):
        # Inside the access address: decodes only as a different access address.
        try:
            access_address, _ = decode_air_frame(bytes(frame), 0xABCDEF)
        except DecodeError:
            return
        assert access_address != 0x50654A3B
        return
    with pytest.raises(DecodeError):
        decode_air_frame(bytes(frame), 0xABCDEF)


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        bytes(9),
        bytes([0xAA]) + bytes.fromhex("d6be898e") + b"\x40\x05" + bytes(3),  # length says 5
        bytes([0x55]) + bytes.fromhex("d6be898e") + CAPTURED_PDU + CAPTURED_CRC,  # preamble
        bytes([0xAA]) + bytes.fromhex("d6be898e") + CAPTURED_PDU + b"\x00\x00\x00",  # CRC
    ],
)
def test_malformed_frames_raise_decode_error(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_air_frame(frame, ADVERTISING_CRC_INIT)


@pytest.mark.parametrize(
    "pdu",
    [
        b"",
        b"\x02",
        b"\x02\x05abc",
        b"\x00\x01a",
        b"\x22\x01a",
        b"\x82\x01a",
        b"\x02\xff" + bytes(254),
        b"\x02\x00"[:1],
    ],
)
def test_malformed_data_pdus_raise_decode_error(pdu: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_data_pdu(pdu)


@given(
    llid=st.sampled_from(list(Llid)),
    payload=st.binary(max_size=251),
    bits=st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 1)),
)
def test_data_pdus_round_trip(llid: Llid, payload: bytes, bits: tuple[int, int, int]) -> None:
    pdu = DataPdu(llid, payload, nesn=bits[0], sn=bits[1], md=bits[2])
    assert decode_data_pdu(pdu.encode()) == pdu


def test_airtime_is_one_microsecond_per_bit() -> None:
    """(preamble 1 + access address 4 + PDU + CRC 3) octets x 8 us on the 1M PHY."""
    assert airtime_us(2) == 80  # an empty PDU
    assert airtime_us(2 + 27) == 296  # the classic maximum
    assert airtime_us(2 + 251 + 4) == 2120  # the longest: 251 octets and a MIC (connMaxTxTime)
    with pytest.raises(ValueError):
        airtime_us(1)


def test_channel_frequencies_follow_the_specification() -> None:
    assert [channel_frequency_mhz(c) for c in (37, 0, 10, 38, 11, 36, 39)] == [
        2402,
        2404,
        2424,
        2426,
        2428,
        2478,
        2480,
    ]
    with pytest.raises(ValueError):
        channel_frequency_mhz(40)


def test_access_addresses_obey_the_specification_rules() -> None:
    rng = SeededRandomSource(3)
    for _ in range(500):
        aa = new_access_address(rng)
        bits = f"{aa:032b}"
        assert aa != ADVERTISING_ACCESS_ADDRESS
        assert bin(aa ^ ADVERTISING_ACCESS_ADDRESS).count("1") > 1
        assert "0000000" not in bits and "1111111" not in bits
        assert sum(a != b for a, b in itertools.pairwise(bits)) <= 24
        assert len(set(aa.to_bytes(4, "little"))) > 1


@given(seed=st.integers(0, 2**32))
def test_adv_pdus_round_trip(seed: int) -> None:
    rng = SeededRandomSource(seed)
    identity = Identity.generate(rng)
    adv = AdvInd(identity.new_rpa(rng), pairing_window_open=bool(seed & 1))
    assert decode_adv_pdu(adv.encode()) == adv
    connect_ind = ConnectInd(
        init_address=identity.new_rpa(rng),
        adv_address=adv.adv_address,
        access_address=new_access_address(rng),
        crc_init=seed & 0xFFFFFF,
        hop=5 + seed % 12,
        sca=seed % 8,
    )
    assert decode_adv_pdu(connect_ind.encode()) == connect_ind


@pytest.mark.parametrize(
    "pdu",
    [b"", b"\x00\x09" + bytes(9), b"\x01\x00", b"\x05\x21" + bytes(33), b"\x00\x09" + bytes(5)],
)
def test_malformed_adv_pdus_raise_decode_error(pdu: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_adv_pdu(pdu)


# --------------------------------------------------------------------------
# Addresses


def test_rpas_resolve_only_with_their_irk() -> None:
    rng = SeededRandomSource(1)
    irk, other = rng.token_bytes(16), rng.token_bytes(16)
    for _ in range(100):
        rpa = new_rpa(irk, rng)
        assert rpa.kind == "resolvable" and rpa.value[0] >> 6 == 0b01
        assert resolves(rpa, irk) and not resolves(rpa, other)


def test_the_specification_ah_sample_as_an_rpa() -> None:
    """Vol 3 Part H D.7: prand 708194 with the sample IRK gives hash 0dfbaa."""
    irk = bytes.fromhex("ec0234a357c8ad05341010a60a397d9b")
    rpa = DeviceAddress(AddressType.RANDOM, bytes.fromhex("7081940dfbaa"))
    assert resolves(rpa, irk)
    assert rpa.to_wire() == bytes.fromhex("aafb0d948170")


def test_identity_addresses_are_static_and_never_resolvable() -> None:
    rng = SeededRandomSource(2)
    address = new_static_address(rng)
    assert address.kind == "static"
    identity = Identity(address, rng.token_bytes(16))
    assert identity.owns(address) and identity.owns(identity.new_rpa(rng))
    assert "irk" not in repr(identity) or identity.irk.hex() not in repr(identity)
    with pytest.raises(ValueError):
        Identity(identity.new_rpa(rng), rng.token_bytes(16))


def test_address_wire_order_is_least_significant_first() -> None:
    address = DeviceAddress(AddressType.PUBLIC, bytes.fromhex("0123456789ab"))
    assert address.to_wire() == bytes.fromhex("ab8967452301")
    assert DeviceAddress.from_wire(0, address.to_wire()) == address
    assert address.for_f5() == bytes.fromhex("000123456789ab")
    with pytest.raises(DecodeError):
        DeviceAddress.from_wire(2, address.to_wire())


# --------------------------------------------------------------------------
# Randomness


def test_the_default_source_is_the_system_csprng() -> None:
    assert isinstance(SYSTEM_RANDOM, SystemRandomSource) and SYSTEM_RANDOM.secure
    assert len({SYSTEM_RANDOM.token_bytes(16) for _ in range(10)}) == 10


def test_every_api_that_draws_randomness_defaults_to_the_system_source() -> None:
    """No function or constructor of the secure link defaults to a seeded source."""
    checked = 0
    for module in (
        addresses,
        connection,
        crypto,
        frames,
        keystore,
        pairing,
        randomness,
        session,
        smp,
        window,
    ):
        for _, obj in inspect.getmembers(module):
            candidates = [obj]
            if inspect.isclass(obj):
                candidates = [
                    getattr(obj, n) for n in ("__init__", "generate", "create") if hasattr(obj, n)
                ]
            for function in candidates:
                if not callable(function):
                    continue
                try:
                    parameters = inspect.signature(function).parameters
                except (TypeError, ValueError):
                    continue
                rng = parameters.get("rng")
                if rng is not None:
                    assert rng.default is SYSTEM_RANDOM or rng.default is inspect.Parameter.empty, (
                        function
                    )
                    checked += 1
    assert checked >= 10


def test_the_seeded_source_is_deterministic_and_marked_insecure() -> None:
    a, b = SeededRandomSource(42), SeededRandomSource(42)
    assert a.token_bytes(100) == b.token_bytes(100)
    assert [a.randbelow(10**6) for _ in range(5)] == [b.randbelow(10**6) for _ in range(5)]
    assert SeededRandomSource(43).token_bytes(16) != SeededRandomSource(42).token_bytes(16)
    assert a.secure is False and "NOT SECURE" in repr(a)
    with pytest.raises(ValueError):
        a.randbelow(0)
    with pytest.raises(TypeError):
        SeededRandomSource(1.5)  # type: ignore[arg-type]

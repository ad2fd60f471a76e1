"""Known-answer tests: the Bluetooth Core specification's own sample data.

Sources (Core v5.4; the same values appear in every version since 4.2):

* Vol 3 Part H Appendix D: D.1 P-256 sample data, D.2 f4, D.3 f5, D.4 f6,
  D.5 g2, D.6 h6, D.7 ah, D.8 h7 (printed most significant octet first, as
  pumplab's crypto module takes them).
* Vol 6 Part C §1: encryption sample data (LTK, SKDm/SKDs, IVm/IVs, SK, and
  four encrypted data channel PDUs).
* RFC 4493 §4: AES-CMAC; FIPS-197 Appendix C.1: AES-128.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from pumplab.errors import AuthenticationError
from pumplab.link.secure import crypto
from pumplab.link.secure.crypto import (
    DEBUG_PRIVATE_KEY,
    DEBUG_PUBLIC_KEY,
    KeyCheck,
    KeyPair,
    PublicKey,
    check_peer_public_key,
)


def h(text: str) -> bytes:
    """Hex as the specification prints it (spaces between 32-bit words)."""
    return bytes.fromhex(text.replace(" ", ""))


# Vol 3 Part H Appendix D.1
PRIVATE_A = h("3f49f6d4 a3c55f38 74c9b3e3 d2103f50 4aff607b eb40b799 5899b8a6 cd3c1abd")
PRIVATE_B = h("55188b3d 32f6bb9a 900afcfb eed4e72a 59cb9ac2 f19d7cfb 6b4fdd49 f47fc5fd")
PUBLIC_A_X = h("20b003d2 f297be2c 5e2c83a7 e9f9a5b9 eff49111 acf4fddb cc030148 0e359de6")
PUBLIC_A_Y = h("dc809c49 652aeb6d 63329abf 5a52155c 766345c2 8fed3024 741c8ed0 1589d28b")
PUBLIC_B_X = h("1ea1f0f0 1faf1d96 09592284 f19e4c00 47b58afd 8615a69f 559077b2 2faaa190")
PUBLIC_B_Y = h("4c55f33e 429dad37 7356703a 9ab85160 472d1130 e28e3676 5f89aff9 15b1214a")
DHKEY = h("ec0234a3 57c8ad05 341010a6 0a397d9b 99796b13 b4f866f1 868d34f3 73bfa698")
# D.2 - D.5
U = PUBLIC_A_X
V = h("55188b3d 32f6bb9a 900afcfb eed4e72a 59cb9ac2 f19d7cfb 6b4fdd49 f47fc5fd")
N1 = h("d5cb8454 d177733e ffffb2ec 712baeab")
N2 = h("a6e8e7cc 25a75f6e 216583f7 ff3dc4cf")
A1 = h("00561237 37bfce")
A2 = h("00a71370 2dcfc1")
MAC_KEY = h("2965f176 a1084a02 fd3f6a20 ce636e20")
LTK = h("69867911 69d7cd23 980522b5 94750a38")
# D.6 - D.8
IRK = h("ec0234a3 57c8ad05 341010a6 0a397d9b")

# Vol 6 Part C §1
SAMPLE_LTK = h("4C68384139F574D836BCF34E9DFB01BF")
SKD_M = h("ACBDCEDFE0F10213")
SKD_S = h("0213243546576879")
IV_M = h("BADCAB24")
IV_S = h("DEAFBABE")
SAMPLE_SK = h("99AD1B5226A37E3E058E3B8E27C2C666")
SAMPLE_IV = h("DEAFBABEBADCAB24")


def test_p256_dhkey_matches_appendix_d1_both_ways() -> None:
    """D.1: each side's private key with the other's public key gives the sample DHKey."""
    a = KeyPair.from_private_bytes(PRIVATE_A)
    b = KeyPair.from_private_bytes(PRIVATE_B)
    assert a.public == PublicKey(PUBLIC_A_X, PUBLIC_A_Y)
    assert b.public == PublicKey(PUBLIC_B_X, PUBLIC_B_Y)
    assert a.dh_key(b.public) == DHKEY
    # Sample key A is the specification's debug key, which dh_key refuses from
    # a peer; the other direction is checked on the primitive itself.
    peer_a = ec.EllipticCurvePublicNumbers(
        int.from_bytes(PUBLIC_A_X, "big"), int.from_bytes(PUBLIC_A_Y, "big"), ec.SECP256R1()
    ).public_key()
    private_b = ec.derive_private_key(int.from_bytes(PRIVATE_B, "big"), ec.SECP256R1())
    assert private_b.exchange(ec.ECDH(), peer_a) == DHKEY


def test_f4_matches_appendix_d2() -> None:
    assert crypto.f4(U, V, N1, 0x00) == h("f2c916f1 07a9bd1c f1eda1be a974872d")


def test_f5_matches_appendix_d3() -> None:
    assert crypto.f5(DHKEY, N1, N2, A1, A2) == (MAC_KEY, LTK)


def test_f6_matches_appendix_d4() -> None:
    r = h("12a3343b b453bb54 08da42d2 0c2d0fc8")
    io_cap = h("010102")
    assert crypto.f6(MAC_KEY, N1, N2, r, io_cap, A1, A2) == h("e3c47398 9cd0e8c5 d26c0b09 da958f61")


def test_g2_matches_appendix_d5() -> None:
    value = crypto.g2(U, V, N1, N2)
    assert value == 0x2F9ED5BA
    assert value % 1_000_000 == 0x2F9ED5BA % 1_000_000  # the six digits a user sees


def test_ah_matches_appendix_d7() -> None:
    assert crypto.ah(IRK, h("708194")) == h("0dfbaa")


def test_h6_matches_appendix_d6() -> None:
    assert crypto.h6(IRK, h("6c656272")) == h("2d9ae102 e76dc91c e8d3a9e2 80b16399")


def test_h7_matches_appendix_d8() -> None:
    salt = h("00000000 00000000 00000000 746D7031")
    assert crypto.h7(salt, IRK) == h("fb173597 c6a3c0ec d2998c2a 75a57011")


def test_e_is_fips197_aes128() -> None:
    """FIPS-197 C.1: e() in specification order is plain AES-128."""
    key = h("000102030405060708090a0b0c0d0e0f")
    assert crypto.e(key, h("00112233445566778899aabbccddeeff")) == h(
        "69c4e0d86a7b0430d8cdb78070b4c55a"
    )


@pytest.mark.parametrize(
    ("message", "tag"),
    [
        ("", "bb1d6929 e9593728 7fa37d12 9b756746"),
        ("6bc1bee2 2e409f96 e93d7e11 7393172a", "070a16b4 6b4d4144 f79bdd9d d04a287c"),
        (
            "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51"
            " 30c81c46 a35ce411",
            "dfa66747 de9ae630 30ca3261 1497c827",
        ),
    ],
)
def test_aes_cmac_matches_rfc4493(message: str, tag: str) -> None:
    assert crypto.aes_cmac(h("2b7e1516 28aed2a6 abf71588 09cf4f3c"), h(message)) == h(tag)


def test_session_key_and_iv_match_vol6_part_c() -> None:
    """SK = e(LTK, SKDs || SKDm) and IV = IVs || IVm."""
    assert crypto.session_key(SAMPLE_LTK, SKD_M, SKD_S) == SAMPLE_SK
    assert crypto.session_iv(IV_M, IV_S) == SAMPLE_IV


@pytest.mark.parametrize(
    ("what", "counter", "direction", "header", "clear", "air"),
    [
        # LL_START_ENC_RSP1, central -> peripheral, packet 0
        ("start_enc_rsp_1", 0, 1, 0x0F, "06", "9fcda7f448"),
        # LL_START_ENC_RSP2, peripheral -> central, packet 0
        ("start_enc_rsp_2", 0, 0, 0x07, "06", "a34c13a415"),
        # Data packet 1, central -> peripheral, packet 1
        (
            "data_1",
            1,
            1,
            0x0E,
            "1700636465666768696A6B6C6D6E6F707131323334353637383930",
            "7a70d66415226df26b17839a060405596bd6564f796b5b9ce6ff32f75a6d33",
        ),
        # Data packet 2, peripheral -> central, packet 1
        (
            "data_2",
            1,
            0,
            0x06,
            "17003736353433323130414243444546474849 4A4B4C4D4E4F5051",
            "f38881e7bd94c9c369b9a66846dd4786aa8c39ce540d0dae3adcdf89b96088",
        ),
    ],
)
def test_encrypted_pdus_match_vol6_part_c(
    what: str, counter: int, direction: int, header: int, clear: str, air: str
) -> None:
    """The four encrypted data channel PDUs of the sample data, both ways."""
    sealed = crypto.ll_encrypt(SAMPLE_SK, SAMPLE_IV, counter, direction, header, h(clear))
    assert sealed == h(air), what
    assert crypto.ll_decrypt(SAMPLE_SK, SAMPLE_IV, counter, direction, header, h(air)) == h(clear)


def test_ccm_nonce_layout_puts_direction_in_bit_39() -> None:
    """Octets 0-4: counter LSO first, direction in bit 7 of octet 4; then the IV LSO first."""
    nonce = crypto.ccm_nonce(0x12_3456_789A, 1, SAMPLE_IV)
    assert nonce == h("9a78563492") + h("24abdcbabebaafde")
    assert crypto.ccm_nonce(0, 0, SAMPLE_IV)[:5] == bytes(5)
    with pytest.raises(ValueError):
        crypto.ccm_nonce(1 << 39, 0, SAMPLE_IV)


def test_byte_order_is_explicit_at_the_wire_boundary() -> None:
    """to_wire reverses a specification-order value into air order (LSO first)."""
    assert crypto.to_wire(h("0102030405")) == h("0504030201")
    assert crypto.from_wire(crypto.to_wire(N1)) == N1


def test_debug_key_is_the_appendix_d_sample_key_a() -> None:
    """The published debug key pair (Vol 3 Part H §2.3.5.6.1) equals sample key A."""
    assert DEBUG_PRIVATE_KEY == PRIVATE_A
    assert PublicKey(PUBLIC_A_X, PUBLIC_A_Y) == DEBUG_PUBLIC_KEY


_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF


@pytest.mark.parametrize(
    ("x", "y", "verdict"),
    [
        (0, 0, KeyCheck.INFINITY),
        (1, 1, KeyCheck.OFF_CURVE),
        # The x of a valid key with a wrong y: the CVE-2018-5383 attack's shape
        # (only x is checked by a vulnerable stack).
        (int.from_bytes(PUBLIC_B_X, "big"), 1, KeyCheck.OFF_CURVE),
        (int.from_bytes(PUBLIC_B_X, "big"), 0, KeyCheck.OFF_CURVE),
        (_P, int.from_bytes(PUBLIC_B_Y, "big"), KeyCheck.OUT_OF_RANGE),
        (int.from_bytes(PUBLIC_B_X, "big"), _P, KeyCheck.OUT_OF_RANGE),
    ],
)
def test_invalid_points_are_refused(x: int, y: int, verdict: str) -> None:
    """CVE-2018-5383: a point not on P-256 (or the point at infinity) is refused."""
    peer = PublicKey((x % (1 << 256)).to_bytes(32, "big"), (y % (1 << 256)).to_bytes(32, "big"))
    assert check_peer_public_key(peer, None) == verdict
    with pytest.raises(AuthenticationError):
        KeyPair.from_private_bytes(PRIVATE_B).dh_key(peer)


def test_negated_point_is_a_valid_key() -> None:
    """Sanity of the curve check: (x, p - y) is on the curve and accepted."""
    negated = PublicKey(PUBLIC_B_X, (_P - int.from_bytes(PUBLIC_B_Y, "big")).to_bytes(32, "big"))
    assert check_peer_public_key(negated, None) == KeyCheck.OK


def test_debug_key_and_reflected_key_are_refused() -> None:
    """The debug key from a peer, and a peer key equal to ours (CVE-2020-26558), are refused."""
    ours = KeyPair.from_private_bytes(PRIVATE_B)
    assert check_peer_public_key(DEBUG_PUBLIC_KEY, ours.public) == KeyCheck.DEBUG_KEY
    assert check_peer_public_key(ours.public, ours.public) == KeyCheck.REFLECTED
    for peer in (DEBUG_PUBLIC_KEY, ours.public):
        with pytest.raises(AuthenticationError):
            ours.dh_key(peer)


def test_wrong_lengths_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        crypto.f4(U[:31], V, N1, 0)
    with pytest.raises(ValueError):
        crypto.f4(U, V, N1, 256)
    with pytest.raises(ValueError):
        crypto.session_key(SAMPLE_LTK, SKD_M[:7], SKD_S)

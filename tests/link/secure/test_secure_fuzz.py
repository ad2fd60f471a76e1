"""Fuzzing the secure link: frame parser, session and pairing machines.

A deterministic generator (fixed seed) makes frames three ways: random bytes,
mutations of real captured PDUs (bit flips, truncations, splices, byte
substitutions, header rewrites) and random payloads behind a well-formed
header.  Each frame goes through the air-frame parser (with a valid CRC half
the time, so it reaches the PDU parsers) and into a pump connection in each
phase and a device connection.  Invariants, checked on every frame:

* nothing raises;
* an encrypted or encrypting connection answers every such frame with one
  ``InputRejected`` and changes nothing (phase, counters);
* a connection in the clear may only refuse, fail a pairing or close; it never
  reports keys, a session, a pairing or application data.

The default run feeds 20,000 frames; the slow run 1,000,000.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from secure_kit import T0_MS, Air, connect, make_device, make_pump, pair, reconnect

from pumplab.errors import DecodeError
from pumplab.link.secure.addresses import Identity
from pumplab.link.secure.connection import (
    ApplicationData,
    InputRejected,
    PumpConnection,
    SessionStarted,
)
from pumplab.link.secure.frames import (
    decode_adv_pdu,
    decode_air_frame,
    decode_data_pdu,
    encode_air_frame,
)
from pumplab.link.secure.pairing import DevicePairing, KeysReady, PairingComplete, PumpPairing
from pumplab.link.secure.randomness import SeededRandomSource
from pumplab.link.secure.roles import Role
from pumplab.link.secure.window import PairingWindow

FORBIDDEN_IN_CLEAR = (KeysReady, PairingComplete, SessionStarted, ApplicationData)


class Harness:
    """Targets in every phase, rebuilt when a frame legitimately closes one."""

    def __init__(self) -> None:
        self.pump, self.device = make_pump(1), make_device(Role.CONTROLLER_APP, 2)
        pairing_air = pair(self.pump, self.device)
        # The fuzzed live session has no rejection budget: it must survive
        # every frame (the budget has its own test).
        self.live: Air = reconnect(self.pump, self.device, rejection_budget=None)
        assert self.live.started()
        # Real PDUs of every kind, to mutate: pairing (clear), handshake, sealed data.
        data = [self.live.device_end.send(bytes([i]) * (i % 60 + 1)).send[0] for i in range(20)]
        for pdu in data:
            self.live.pump_end.receive(pdu, T0_MS)
        self.corpus = pairing_air.to_pump + pairing_air.to_device + self.live.to_pump + data
        self.encrypting = self._encrypting()
        self.clear = self._clear()
        self.access_address = self.live.pump_end.access_address
        self.crc_init = self.live.pump_end.crc_init

    def _encrypting(self) -> PumpConnection:
        air = connect(self.pump, self.device, rejection_budget=None)
        enc_req = air.device_end.start(T0_MS).send[0]
        air.pump_end.receive(enc_req, T0_MS)
        assert air.pump_end.phase == "encrypting"
        return air.pump_end

    def _clear(self) -> PumpConnection:
        self.pump.window.open(Role.REMOTE, T0_MS)
        air = connect(self.pump, make_device(Role.REMOTE, 3))
        return air.pump_end

    def feed(self, pdu: bytes, index: int) -> None:
        """One frame into every parser, the live session, and one more target in turn."""
        # The encrypted targets below never parse before the MIC verifies, so
        # the parsers get every frame directly too (decode_control is reached
        # through the connection in the clear).
        # (try/except rather than contextlib.suppress: this loop runs 10^6 times.)
        try:  # noqa: SIM105
            decode_data_pdu(pdu)
        except DecodeError:
            pass
        try:  # noqa: SIM105
            decode_adv_pdu(pdu)
        except DecodeError:
            pass

        live = self.live.pump_end
        session = live.session
        assert session is not None
        before = (session.rx_counter, session.tx_counter)
        assert _rejected(live.receive(pdu, T0_MS).events)
        assert (session.rx_counter, session.tx_counter) == before and live.phase == "encrypted"

        turn = index % 3
        if turn == 0:
            assert _rejected(self.live.device_end.receive(pdu, T0_MS).events)
        elif turn == 1:
            assert _rejected(self.encrypting.receive(pdu, T0_MS).events)
            assert self.encrypting.phase == "encrypting"
        else:
            step = self.clear.receive(pdu, T0_MS)
            assert not any(isinstance(e, FORBIDDEN_IN_CLEAR) for e in step.events), step
            if self.clear.closed or self.clear.phase != "clear":
                self.clear = self._clear()


def _rejected(events: tuple[object, ...]) -> bool:
    return len(events) == 1 and type(events[0]) is InputRejected


def frames(count: int, corpus: list[bytes], seed: int):  # type: ignore[no-untyped-def]
    """``count`` fuzz PDUs, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=count * 48 + 512, dtype=np.uint8).tobytes()
    kinds = rng.integers(0, 6, size=count)
    picks = rng.integers(0, len(corpus), size=count)
    positions = rng.integers(0, 1 << 30, size=count)
    lengths = rng.integers(0, 48, size=count)
    cursor = 0
    for i in range(count):
        base = corpus[picks[i]]
        take = noise[cursor : cursor + int(lengths[i])]
        cursor = (cursor + 47) % (len(noise) - 48)
        kind = kinds[i]
        where = int(positions[i]) % max(len(base), 1)
        if kind == 0:  # random bytes
            yield take
        elif kind == 1:  # one flipped bit
            bit = int(positions[i]) % (len(base) * 8)
            out = bytearray(base)
            out[bit // 8] ^= 1 << (bit % 8)
            yield bytes(out)
        elif kind == 2:  # truncation
            yield base[:where]
        elif kind == 3:  # splice with noise
            yield base[:where] + take
        elif kind == 4:  # a random payload behind a plausible header
            yield bytes([base[0], len(take)]) + take
        else:  # byte substitution, the length octet fixed up
            out = bytearray(base + take[:2])
            out[where % len(out)] = take[0] if take else 0xFF
            if len(out) >= 2:
                out[1] = (len(out) - 2) & 0xFF
            yield bytes(out)


def run_fuzz(count: int, seed: int) -> int:
    harness = Harness()
    legit = set(harness.corpus)
    fed = 0
    for index, pdu in enumerate(frames(count, harness.corpus, seed)):
        if index & 1 and 2 <= len(pdu) <= 257:
            # Half the frames cross the air-frame codec with a valid CRC (and a
            # length octet that matches), so they reach the PDU parsers intact.
            pdu = bytes([pdu[0], len(pdu) - 2]) + pdu[2:]
            frame = encode_air_frame(harness.access_address, pdu, harness.crc_init)
            assert decode_air_frame(frame, harness.crc_init) == (harness.access_address, pdu)
        else:
            try:  # noqa: SIM105
                decode_air_frame(pdu, harness.crc_init)
            except DecodeError:
                pass
        if pdu in legit:
            continue  # an exact replay is the replay tests' business, not noise
        harness.feed(pdu, index)
        fed += 1
    # The sessions still work after all of it.
    (after,) = harness.live.device_end.send(b"still alive").send
    (event,) = harness.live.pump_end.receive(after, T0_MS).events
    assert isinstance(event, ApplicationData) and event.payload == b"still alive"
    return fed


def test_fuzz_twenty_thousand_frames() -> None:
    """The default-run fuzz: 20,000 frames into every phase, no crash, no state change."""
    assert run_fuzz(20_000, seed=1) > 15_000


@pytest.mark.slow
def test_fuzz_a_million_frames() -> None:
    """The slow fuzz: 10^6 frames (issue 15), same invariants."""
    assert run_fuzz(1_000_000, seed=2) > 900_000


@settings(max_examples=300, deadline=None)
@given(
    role=st.sampled_from(list(Role)),
    prefix=st.integers(0, 6),
    junk=st.lists(st.binary(max_size=70), min_size=1, max_size=4),
)
def test_pairing_machines_never_crash_and_never_complete_on_junk(
    role: Role, prefix: int, junk: list[bytes]
) -> None:
    """Both SMP machines, driven a few legitimate steps then fed junk: no crash, no keys."""
    rng = SeededRandomSource(5)
    pump_id, device_id = Identity.generate(rng), Identity.generate(rng)
    window = PairingWindow()
    device_kit = make_device(role, 7)
    oob = (
        device_kit.static_oob.oob_data(device_kit.identity.address)
        if device_kit.static_oob
        else None
    )
    window.open(role, T0_MS, oob=oob)
    addresses = {
        "initiator_address": device_id.new_rpa(rng),
        "responder_address": pump_id.new_rpa(rng),
    }
    pump = PumpPairing(window, pump_id, now_ms=T0_MS, rng=rng, **addresses)
    device = DevicePairing(
        role,
        device_kit.identity,
        now_ms=T0_MS,
        rng=rng,
        static_oob=device_kit.static_oob,
        **addresses,
    )
    queue = list(device.start(T0_MS).send)
    for _ in range(prefix):
        if not queue:
            break
        replies = pump.receive(queue.pop(0), T0_MS).send
        for reply in replies:
            queue.extend(device.receive(reply, T0_MS).send)
    for piece in junk:
        for machine in (pump, device):
            for encrypted in (False, True):
                step = machine.receive(piece, T0_MS, encrypted=encrypted)
                assert not any(isinstance(e, KeysReady | PairingComplete) for e in step.events)
    assert not pump.complete and not device.complete

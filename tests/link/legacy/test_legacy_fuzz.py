"""Fuzz: no byte string crashes the frame decoder, the pump side or the driver side.

Each generated on-air byte string goes to :func:`decode_air` (which may only
raise :class:`DecodeError`) and to a running :class:`PumpLink` and
:class:`PumpDriver` (which may raise nothing).  The pump's intake answers every
request it is handed with a legal answer chosen by the seeded generator, and
the driver always has a request running, so the machines are driven through
all their states, not just fed garbage while idle.  The mix:

- random bytes (most fail 4b6b at once),
- random bytes 4b6b-encoded (most fail the CRC),
- valid frames of every type, many addressed to the fuzzed pump, with random
  message types and bodies and a correct CRC (they reach the state machines),
- those valid frames mutated: a flipped bit, cut short, or with bytes added.

Seeds are fixed: the run is the same every time.  The counters at the end
check that the generator really reached the deep paths.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from pumplab.errors import DecodeError
from pumplab.link.legacy.coding import encode_4b6b
from pumplab.link.legacy.driver import PumpDriver, Request
from pumplab.link.legacy.exchange import Transmit
from pumplab.link.legacy.frames import PacketType, decode_air, seal
from pumplab.link.legacy.history import encode_history_page
from pumplab.link.legacy.messages import (
    ARGUMENT_COMMANDS,
    MULTI_FRAME_ANSWERS,
    BolusBody,
    MessageType,
    NakCode,
    PowerOnBody,
    PumpStatusBody,
    ReadHistoryPageBody,
    ReadRequest,
)
from pumplab.link.legacy.pumpside import CommandReceived, MalformedArguments, PumpLink

PID = bytes.fromhex("665455")
OTHER = bytes.fromhex("123456")
_TYPES = sorted(int(t) for t in MessageType)
_PAGE = encode_history_page([])
_ANSWERS = {
    MessageType.READ_STATUS: PumpStatusBody(False, False),
}


def _valid_packet(rng: random.Random) -> bytes:
    """A frame with a correct CRC: mostly A7 to our pump, sometimes other kinds."""
    roll = rng.random()
    if roll < 0.75:
        pid = PID if rng.random() < 0.9 else OTHER
        mtype = rng.choice(_TYPES) if rng.random() < 0.85 else rng.randrange(256)
        if rng.random() < 0.5:
            body = rng.choice([b"\x00", bytes([rng.randrange(256)])])
        else:
            count = rng.randrange(0, 25)
            body = bytes([count]) + rng.randbytes(count) + bytes(64 - count)
            if rng.random() < 0.2:
                body = rng.randbytes(65)
        return seal(bytes([PacketType.PUMP]) + pid + bytes([mtype]) + body)
    kind = rng.choice([0xA2, 0xA5, 0xA6, 0xA8, 0xAA, 0xAB])
    if kind == 0xA2:
        return seal(bytes([kind]) + PID + rng.randbytes(rng.randrange(2, 50)))
    if kind in (0xA5, 0xA6):
        return seal(bytes([kind]) + rng.randbytes(5))
    return seal(bytes([kind]) + rng.randbytes(31))


def _pool(rng: random.Random, size: int) -> list[bytes]:
    return [encode_4b6b(_valid_packet(rng)) + b"\x00" for _ in range(size)]


def _mutate(rng: random.Random, air: bytes) -> bytes:
    choice = rng.randrange(3)
    if choice == 0:
        i = rng.randrange(len(air))
        return air[:i] + bytes([air[i] ^ (1 << rng.randrange(8))]) + air[i + 1:]
    if choice == 1:
        return air[:rng.randrange(len(air))]
    return air + rng.randbytes(rng.randrange(1, 8))


def _answer(rng: random.Random, link: PumpLink, event: CommandReceived, t: int) -> list[object]:
    """A legal answer to the request, chosen at random."""
    request = event.request
    if rng.random() < 0.15:
        return list(link.decline(t))
    if rng.random() < 0.2:
        return list(link.nak(rng.choice(list(NakCode)), t))
    if isinstance(request, ReadHistoryPageBody):
        return list(link.answer_frames(_PAGE, t))
    if isinstance(request, ReadRequest):
        if request.message_type in MULTI_FRAME_ANSWERS:
            return list(link.answer_frames(bytes(192), t))
        if request.message_type in _ANSWERS:
            return list(link.answer(_ANSWERS[request.message_type], t))
        return list(link.nak(NakCode.REFUSED, t))
    assert isinstance(request, MalformedArguments) or request.message_type in ARGUMENT_COMMANDS
    return list(link.ack(t))


_REQUESTS: list[Request] = [BolusBody(60), PowerOnBody(1), ReadHistoryPageBody(0),
             ReadRequest(MessageType.READ_STATUS), ReadRequest(MessageType.READ_BASAL_A)]


def run_fuzz(n_frames: int, seed: int) -> Counter[str]:
    """Feed ``n_frames`` byte strings to the decoder and the machines; count what happened.

    Even frames go to the pump, odd ones to the driver.  Besides fuzz, each
    machine sometimes gets what the other one transmitted, so real exchanges
    run (and complete) among the noise.
    """
    rng = random.Random(seed)
    pool = _pool(rng, 3_000)
    link = PumpLink(PID)
    driver = PumpDriver(PID)
    to_pump: list[Transmit] = []
    to_driver: list[bytes] = []
    counts: Counter[str] = Counter()
    t = 0
    for i in range(n_frames):
        t += rng.randrange(1, 400) if rng.random() > 0.003 else 120_000
        to_the_pump = i % 2 == 0
        burst_end = None
        if to_the_pump and to_pump and rng.random() < 0.6:
            tx = to_pump.pop(0)
            air = tx.air
            if tx.repeat > 1:
                # The medium delivers the copy heard in a listen window.
                cfg = link.config
                t = max(t, tx.t_ms) // cfg.sleep_period_ms * cfg.sleep_period_ms
                t += cfg.sleep_period_ms + cfg.sleep_phase_ms + 16
                burst_end = max(t, tx.end_ms_ceil)
        elif not to_the_pump and to_driver and rng.random() < 0.6:
            air = to_driver.pop(0)
        else:
            roll = rng.random()
            if roll < 0.15:
                air = rng.randbytes(rng.randrange(0, 120))
            elif roll < 0.30:
                air = encode_4b6b(rng.randbytes(rng.randrange(1, 72)))
            elif roll < 0.65:
                air = pool[rng.randrange(len(pool))]
            else:
                air = _mutate(rng, pool[rng.randrange(len(pool))])

        try:
            decode_air(air)
            counts["decoded"] += 1
        except DecodeError:
            counts["refused"] += 1

        if to_the_pump:
            events: list[object] = list(link.tick(t))
            events += link.receive(air, t, burst_end_ms=burst_end, tag=i)
            answers: list[object] = []
            for event in events:
                counts[type(event).__name__] += 1
                if isinstance(event, CommandReceived):
                    answers += _answer(rng, link, event, t)
            for answer in events + answers:
                if isinstance(answer, Transmit):
                    counts["pump_transmit"] += 1
                    if rng.random() < 0.9:
                        to_driver.append(answer.air)
        else:
            out: list[object] = []
            if driver.state.value == "idle":
                out += driver.request(rng.choice(_REQUESTS), t, wake=rng.random() < 0.7)
            out += driver.tick(t)
            out += driver.receive(air, t)
            for event in out:
                counts["driver_" + type(event).__name__] += 1
                if isinstance(event, Transmit) and rng.random() < 0.9:
                    to_pump.append(event)
        del to_pump[:-4], to_driver[:-4]  # stale frames are dropped, as on the air
    return counts


def test_fuzz_small() -> None:
    """20,000 byte strings: nothing but DecodeError escapes; deep paths are reached."""
    counts = run_fuzz(20_000, seed=1)
    assert counts["decoded"] + counts["refused"] == 20_000
    assert counts["CommandReceived"] > 500 and counts["PeripheralReceived"] > 50
    assert counts["Woke"] > 10 and counts["FellAsleep"] > 10 and counts["pump_transmit"] > 500
    assert counts["driver_Completed"] > 100 and counts["driver_Failed"] > 100


@pytest.mark.slow
def test_fuzz_a_million_frames() -> None:
    """10^6 byte strings through the decoder, and each to one of the two machines."""
    counts = run_fuzz(1_000_000, seed=2)
    assert counts["decoded"] + counts["refused"] == 1_000_000
    assert counts["CommandReceived"] > 50_000 and counts["driver_Completed"] > 5_000
    assert counts["Woke"] > 1_000 and counts["driver_Failed"] > 5_000



"""The key store, the forward-secure history key and the monotonic counter.

The crash test kills a real child process (SIGKILL) at random moments while it
adds pairings, and checks that every pairing ``add`` returned is in the file.
"""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pytest
from secure_kit import make_device, make_pump, pair, reconnect

from pumplab.errors import DecodeError, InputError
from pumplab.link.secure.addresses import Identity
from pumplab.link.secure.keystore import (
    HistoryKey,
    KeyStore,
    MonotonicCounter,
    contains_key_material,
)
from pumplab.link.secure.pairing import PairingRecord
from pumplab.link.secure.randomness import SeededRandomSource
from pumplab.link.secure.roles import AssociationModel, Role


def record(seed: int, role: Role = Role.REMOTE) -> PairingRecord:
    rng = SeededRandomSource(seed)
    peer = Identity.generate(rng)
    return PairingRecord(
        peer.address,
        peer.irk,
        rng.token_bytes(16),
        role=role,
        model=AssociationModel.PASSKEY_ENTRY,
        paired_at_ms=seed * 1000,
    )


def test_a_key_store_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "pump.keys"
    store = KeyStore.create(path, rng=SeededRandomSource(1))
    first, second = record(1), record(2, Role.CONTROLLER_APP)
    store.add(first)
    store.add(second)
    again = KeyStore.open(path)
    assert again.identity == store.identity
    assert set(again.records) == {first, second}
    assert [d.role for d in again.listing()] == [Role.REMOTE, Role.CONTROLLER_APP]


def test_the_key_store_is_the_pumps_bond_table(tmp_path: Path) -> None:
    """A pairing persisted in the file lets the device reconnect to a restarted pump."""
    pump, device = make_pump(), make_device(Role.METER)
    pair(pump, device)
    store = KeyStore.create(tmp_path / "pump.keys", pump.identity)
    store.add(pump.bonds.records[0])
    pump.bonds = KeyStore.open(tmp_path / "pump.keys")  # type: ignore[assignment]
    assert reconnect(pump, device).started()


def test_re_pairing_replaces_and_unpairing_wipes(tmp_path: Path) -> None:
    path = tmp_path / "pump.keys"
    store = KeyStore.create(path, rng=SeededRandomSource(1))
    old = record(3)
    store.add(old)
    new = PairingRecord(old.peer_identity, old.peer_irk, bytes(range(16)), role=Role.METER)
    store.add(new)
    assert KeyStore.open(path).records == (new,)
    assert store.remove(old.peer_identity)
    assert not store.remove(old.peer_identity)
    reopened = KeyStore.open(path)
    assert reopened.records == ()
    assert not contains_key_material(path.read_bytes(), [old.ltk, new.ltk, old.peer_irk])
    assert reopened.find_bond(old.peer_identity) is None


def test_unpairing_overwrites_the_previous_file_bytes(tmp_path: Path) -> None:
    """The old inode is zeroed once the new file is in place (seen through a hard link)."""
    path = tmp_path / "pump.keys"
    store = KeyStore.create(path, rng=SeededRandomSource(1))
    doomed = record(4)
    store.add(doomed)
    witness = tmp_path / "old-inode"
    os.link(path, witness)
    store.remove(doomed.peer_identity)
    assert witness.read_bytes() == bytes(len(witness.read_bytes()))
    assert not contains_key_material(witness.read_bytes(), [doomed.ltk])


def test_create_refuses_to_overwrite_and_open_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "pump.keys"
    KeyStore.create(path, rng=SeededRandomSource(1))
    with pytest.raises(InputError, match="already exists"):
        KeyStore.create(path)
    with pytest.raises(InputError, match="no key store"):
        KeyStore.open(tmp_path / "missing.keys")
    with pytest.raises(InputError, match="directory"):
        KeyStore.create(tmp_path / "nowhere" / "pump.keys")


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],
        lambda b: b"XXXX" + b[4:],
        lambda b: b[:40] + bytes([b[40] ^ 1]) + b[41:],
        lambda b: b"",
        lambda b: b[:4] + b"\x02" + b[5:],  # version (the checksum catches it first)
    ],
)
def test_a_damaged_key_store_raises_decode_error(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "pump.keys"
    store = KeyStore.create(path, rng=SeededRandomSource(1))
    store.add(record(5))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DecodeError):
        KeyStore.open(path)


def test_two_records_for_one_identity_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pump.keys"
    store = KeyStore.create(path, rng=SeededRandomSource(1))
    store.add(record(7))
    body = path.read_bytes()[:-32]
    doubled = bytearray(body + body[31:95])
    doubled[6:8] = (2).to_bytes(2, "big")
    path.write_bytes(bytes(doubled) + hashlib.sha256(bytes(doubled)).digest())
    with pytest.raises(DecodeError, match="two records"):
        KeyStore.open(path)


def test_a_future_format_version_is_named(tmp_path: Path) -> None:
    path = tmp_path / "pump.keys"
    KeyStore.create(path, rng=SeededRandomSource(1))
    body = bytearray(path.read_bytes()[:-32])
    body[4] = 9
    path.write_bytes(bytes(body) + hashlib.sha256(bytes(body)).digest())
    with pytest.raises(DecodeError, match="version 9"):
        KeyStore.open(path)


def test_no_key_in_any_repr(tmp_path: Path) -> None:
    store = KeyStore.create(tmp_path / "pump.keys", rng=SeededRandomSource(1))
    store.add(record(6))
    key = HistoryKey.create(tmp_path / "history.key", rng=SeededRandomSource(2))
    text = repr(store) + repr(store.records) + repr(store.listing()) + repr(key)
    assert not contains_key_material(text, store.secrets() + key.secrets())


def test_contains_key_material_finds_raw_reversed_and_hex_keys() -> None:
    secret = bytes(range(16))
    assert contains_key_material(b"xx" + secret + b"yy", [secret])
    assert contains_key_material(b"xx" + secret[::-1], [secret])
    assert contains_key_material(f'{{"ltk": "{secret.hex().upper()}"}}', [secret])
    assert not contains_key_material(b"nothing here", [secret])


# --------------------------------------------------------------------------
# History key and counter


def test_the_history_key_evolves_forward_and_forgets(tmp_path: Path) -> None:
    path = tmp_path / "history.key"
    key = HistoryKey.create(path, rng=SeededRandomSource(3))
    root = key.secrets()[0]  # an auditor's escrow of K(0), taken at creation
    tag0 = key.mac(b"record 1")
    assert key.verify(b"record 1", tag0)
    assert key.evolve() == 1
    assert HistoryKey.open(path).epoch == 1
    # The new key cannot make or check the old epoch's MACs...
    assert not key.verify(b"record 1", tag0)
    assert root not in path.read_bytes()
    # ...but an auditor holding K(0) can.
    assert hmac.compare_digest(
        hmac.new(HistoryKey.mac_key_at(root, 0), b"record 1", hashlib.sha256).digest(), tag0
    )
    assert hmac.new(HistoryKey.mac_key_at(root, 1), b"r", hashlib.sha256).digest() == key.mac(b"r")


def test_a_seal_made_for_the_next_epoch_verifies_after_evolving(tmp_path: Path) -> None:
    key = HistoryKey.create(tmp_path / "history.key", rng=SeededRandomSource(5))
    seal = key.mac_next_epoch(b"seq 42, head hash, counter 7")
    assert not key.verify(b"seq 42, head hash, counter 7", seal)
    key.evolve()
    assert key.verify(b"seq 42, head hash, counter 7", seal)


def test_the_history_key_file_round_trips_and_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "history.key"
    key = HistoryKey.create(path, rng=SeededRandomSource(4))
    key.evolve()
    key.evolve()
    again = HistoryKey.open(path)
    assert again.epoch == 2 and again.mac(b"x") == key.mac(b"x")
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(DecodeError):
        HistoryKey.open(path)
    with pytest.raises(InputError):
        HistoryKey.create(path)


def test_the_monotonic_counter_only_goes_up_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "se" / "counter"
    path.parent.mkdir()
    counter = MonotonicCounter.open_or_create(path)
    assert counter.value == 0
    assert [counter.increment() for _ in range(3)] == [1, 2, 3]
    assert MonotonicCounter.open_or_create(path).value == 3


# --------------------------------------------------------------------------
# Crash consistency: a real SIGKILL

KILLS = 40
MAX_DELAY_S = 0.02


def _add_forever(path: str, start: int, pipe: Connection) -> None:
    """Child: add pairings one after another, reporting each one add returned."""
    store = KeyStore.open(path)
    seed = start
    while True:
        seed += 1
        store.add(record(seed))
        pipe.send_bytes(str(seed).encode())


def test_sigkill_during_writes_never_loses_a_confirmed_pairing(tmp_path: Path) -> None:
    """After each SIGKILL the store opens and holds every pairing whose add returned."""
    context = multiprocessing.get_context("fork")
    rng = np.random.default_rng(20240601)
    path = tmp_path / "pump.keys"
    anchors = {record(seed) for seed in (100_001, 100_002, 100_003)}
    initial = KeyStore.create(path, rng=SeededRandomSource(1))
    for anchor in anchors:  # pairings confirmed long before any of the kills
        initial.add(anchor)
    confirmed: set[int] = set()
    next_seed = 0
    kills_while_writing = 0
    for kill in range(KILLS):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_add_forever, args=(str(path), next_seed, sender))
        child.start()
        sender.close()
        if kill % 2 == 1:
            assert receiver.poll(10), "the child added nothing within 10 s"
        time.sleep(rng.uniform(0.0, MAX_DELAY_S))
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(timeout=10)
        assert child.exitcode == -signal.SIGKILL
        before = len(confirmed)
        while receiver.poll():
            try:
                confirmed.add(int(receiver.recv_bytes()))
            except (EOFError, OSError):
                break
        receiver.close()
        kills_while_writing += len(confirmed) > before
        store = KeyStore.open(path)  # never half-written
        assert anchors <= set(store.records)
        stored = {r.paired_at_ms // 1000 for r in store.records if r not in anchors}
        missing = confirmed - stored
        assert not missing, f"confirmed pairings lost: {sorted(missing)[:5]}"
        # The store may also hold the one pairing in flight (written, not yet reported).
        assert len(stored - confirmed) <= 1
        next_seed = max(stored | confirmed | {next_seed}) + 1
        assert next_seed < 100_000
        for seed in stored:  # keep the file small: start each round from empty
            store.remove(record(seed).peer_identity)
        confirmed.clear()
    assert kills_while_writing >= KILLS // 2
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "pump.keys"]
    assert all(name.endswith(".tmp") for name in leftovers), leftovers

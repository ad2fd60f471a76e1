"""Records, the canonical encoding, the hash chain and validation of appends."""

from __future__ import annotations

import hashlib
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from history_strategies import T0_CLOCK_MS, fill, json_values, payloads, record_specs
from hypothesis import given, settings
from hypothesis import strategies as st

import pumplab.devices.history as history
from pumplab.devices.history import (
    GENESIS_HASH,
    HistoryStore,
    MemoryHistory,
    SqliteHistory,
    canonical_json,
    canonical_record_bytes,
    compute_hash,
    open_history,
)
from pumplab.errors import HistoryError

# --------------------------------------------------------------------------
# An independent encoder written from docs/history.md ("Canonical encoding"),
# sharing no code with the module under test.

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _spec_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _spec_encode(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _spec_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_spec_encode(item) for item in value) + "]"
    assert isinstance(value, dict)
    return (
        "{"
        + ",".join(_spec_string(key) + ":" + _spec_encode(value[key]) for key in sorted(value))
        + "}"
    )


def _spec_hash(
    prev_hash: str, seq: int, device_ms: int, clock_ms: int, kind: str, data: dict[str, Any]
) -> str:
    body = _spec_encode(
        {"seq": seq, "device_time_ms": device_ms, "clock_ms": clock_ms, "kind": kind, "data": data}
    )
    return hashlib.sha256(bytes.fromhex(prev_hash) + body.encode("utf-8")).hexdigest()


BOOT = {"serial": "123456", "mode": "legacy", "model": "523", "recovered": False}


# --------------------------------------------------------------------------
# Encoding and hash


@given(json_values)
def test_canonical_json_follows_the_documented_rules(value: Any) -> None:
    """canonical_json equals an encoder written from the documentation alone."""
    assert canonical_json(value) == _spec_encode(value)


@settings(max_examples=50)
@given(st.integers(1, 10**6), st.integers(0, 2**40), st.integers(-(2**40), 2**40), payloads)
def test_record_bytes_are_the_canonical_json_of_the_five_fields(
    seq: int, device_ms: int, clock_ms: int, data: dict[str, Any]
) -> None:
    """The hashed bytes are the canonical JSON object of seq, times, kind and data."""
    expected = _spec_encode(
        {
            "seq": seq,
            "device_time_ms": device_ms,
            "clock_ms": clock_ms,
            "kind": "stroke",
            "data": data,
        }
    ).encode("utf-8")
    got = canonical_record_bytes(seq, device_ms, clock_ms, "stroke", canonical_json(data))
    assert got == expected


@settings(max_examples=40)
@given(record_specs)
def test_chain_hashes_match_an_independent_computation(specs: list[Any]) -> None:
    """Every record's hash is SHA-256(prev_hash bytes || canonical bytes), chained from zeros."""
    store = MemoryHistory()
    fill(store, specs)
    prev = GENESIS_HASH
    for record in store.records():
        assert record.prev_hash == prev
        assert record.hash == _spec_hash(
            prev, record.seq, record.device_time_ms, record.clock_ms, record.kind, dict(record.data)
        )
        prev = record.hash


def test_known_answer_vector_for_a_first_record() -> None:
    """The first boot record hashes to the vector printed in docs/history.md."""
    record = MemoryHistory().append("boot", BOOT, device_time_ms=0, clock_ms=T0_CLOCK_MS)
    # Also computed with coreutils: see docs/history.md, "A test vector".
    assert record.hash == "3b58eab87a2103a1cec3f4965e4e77b2a473647d2f27e6c2fd803f7fd9e0b6fa"
    assert compute_hash(GENESIS_HASH, 1, 0, T0_CLOCK_MS, "boot", BOOT) == record.hash


def test_first_record_chains_from_sixty_four_zeros() -> None:
    """Record 1 has seq 1 and prev_hash of 64 zeros."""
    record = MemoryHistory().append("boot", BOOT, device_time_ms=0, clock_ms=T0_CLOCK_MS)
    assert (record.seq, record.prev_hash) == (1, "0" * 64)


@settings(max_examples=25, deadline=None)
@given(record_specs)
def test_both_backends_store_identical_records(specs: list[Any]) -> None:
    """The fast and the durable backend assign the same seqs, data and hashes."""
    memory = MemoryHistory()
    fill(memory, specs)
    with (
        tempfile.TemporaryDirectory() as scratch,
        SqliteHistory(Path(scratch) / "h.db") as durable,
    ):
        fill(durable, specs)
        assert durable.records() == memory.records()
        assert durable.head == memory.head


# --------------------------------------------------------------------------
# The store's semantics (memory backend; the SQLite tests reuse them)


def test_seqs_are_contiguous_from_one() -> None:
    """Appends get seq 1, 2, 3, ... in order."""
    store = MemoryHistory()
    seqs = [store.append("alarm", {"i": i}, device_time_ms=i, clock_ms=i).seq for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]


def test_records_since_and_limit_select_a_window() -> None:
    """records(since_seq, limit) returns seqs after since_seq, at most limit of them."""
    store = MemoryHistory()
    for i in range(10):
        store.append("alarm", {"i": i}, device_time_ms=i, clock_ms=i)
    assert [r.seq for r in store.records(3, 4)] == [4, 5, 6, 7]
    assert [r.seq for r in store.records(8)] == [9, 10]
    assert store.records(10) == []
    assert store.records(0, 0) == []


@pytest.mark.parametrize(("since", "limit"), [(-1, None), (0, -1), (1.5, None), (True, None)])
def test_bad_record_window_is_refused(since: Any, limit: Any) -> None:
    """A negative or non-integer since_seq or limit is a ValueError."""
    with pytest.raises(ValueError):
        MemoryHistory().records(since, limit)


def test_returned_data_is_a_copy() -> None:
    """Changing a returned record's data changes nothing in the store."""
    store = MemoryHistory()
    record = store.append("alarm", {"code": "x", "list": [1]}, device_time_ms=0, clock_ms=0)
    record.data["code"] = "changed"  # type: ignore[index]
    store.records()[0].data["list"].append(2)  # type: ignore[union-attr]
    assert store.records()[0].data == {"code": "x", "list": [1]}
    assert store.verify().ok


def test_tuples_come_back_as_lists() -> None:
    """A tuple in data is a JSON array, read back as a list."""
    record = MemoryHistory().append("alarm", {"pair": (1, 2)}, device_time_ms=0, clock_ms=0)
    assert record.data == {"pair": [1, 2]}


def test_device_time_may_stay_equal() -> None:
    """Two records at the same device time are fine (non-decreasing)."""
    store = MemoryHistory()
    store.append("alarm", {}, device_time_ms=5, clock_ms=0)
    assert store.append("alarm", {}, device_time_ms=5, clock_ms=0).seq == 2


def test_clock_may_go_backwards() -> None:
    """The user clock can be set back; only device time must not decrease."""
    store = MemoryHistory()
    store.append("clock_set", {}, device_time_ms=5, clock_ms=T0_CLOCK_MS)
    assert store.append("alarm", {}, device_time_ms=6, clock_ms=T0_CLOCK_MS - 3_600_000).seq == 2


def test_device_time_going_backwards_is_refused() -> None:
    """A record whose device time is before the previous record's is a ValueError."""
    store = MemoryHistory()
    store.append("alarm", {}, device_time_ms=1_000, clock_ms=0)
    with pytest.raises(ValueError, match="device time never decreases"):
        store.append("alarm", {}, device_time_ms=999, clock_ms=0)
    assert len(store.records()) == 1


@pytest.mark.parametrize(
    ("device_ms", "clock_ms"),
    [(-1, 0), (True, 0), (1.0, 0), (0, 2**53), (0, None), (2**53, 0)],
)
def test_bad_times_are_refused(device_ms: Any, clock_ms: Any) -> None:
    """Times must be integers within the documented ranges."""
    with pytest.raises(ValueError):
        MemoryHistory().append("alarm", {}, device_time_ms=device_ms, clock_ms=clock_ms)


@pytest.mark.parametrize("kind", ["", "Boot", "bolus-start", "1st", "a" * 65, None, "é"])
def test_bad_kinds_are_refused(kind: Any) -> None:
    """A kind must be a snake_case name of 1 to 64 characters."""
    with pytest.raises(ValueError, match="kind"):
        MemoryHistory().append(kind, {}, device_time_ms=0, clock_ms=0)


@pytest.mark.parametrize(
    "data",
    [
        {"x": math.nan},
        {"x": [math.inf]},
        {"x": {"y": -math.inf}},
        {"x": 2**53},
        {"x": b"bytes"},
        {"x": {1, 2}},
        {"x": object()},
        {1: "int key"},
        {"x": {None: 1}},
        {"x": "lone surrogate \ud800"},
        ["not", "a", "mapping"],
    ],
)
def test_data_that_is_not_faithful_json_is_refused(data: Any) -> None:
    """NaN, infinities, big ints, non-JSON types, non-string keys and bad Unicode are refused."""
    store = MemoryHistory()
    with pytest.raises(ValueError):
        store.append("alarm", data, device_time_ms=0, clock_ms=0)
    assert store.head is None


def test_deep_nesting_is_refused() -> None:
    """Data nested deeper than the limit is a ValueError, not a RecursionError."""
    data: Any = {}
    for _ in range(100):
        data = {"d": data}
    with pytest.raises(ValueError, match="nested deeper"):
        MemoryHistory().append("alarm", data, device_time_ms=0, clock_ms=0)


@pytest.mark.parametrize(
    "data",
    [
        {"key": "00"},
        {"session_key": "00"},
        {"LTK": "00"},
        {"pairing_ltk": "00"},
        {"secret": "00"},
        {"shared_Secret": "00"},
        {"password": "hunter2"},
        {"passphrase": "x"},
        {"private_exponent": 3},
        {"psk": "x"},
        {"payload": {"key_id": 1}},
        {"payload": {"list": [{"mac_key": "00"}]}},
    ],
)
def test_key_material_names_are_refused_at_any_depth(data: dict[str, Any]) -> None:
    """A data key that looks like key material is refused and nothing is stored."""
    store = MemoryHistory()
    with pytest.raises(ValueError, match="key material"):
        store.append("pairing", data, device_time_ms=0, clock_ms=0)
    assert store.records() == []


def test_vocabulary_field_names_pass_the_key_material_guard() -> None:
    """Every field name of the documented record vocabulary is accepted."""
    names = [
        *("serial", "mode", "model", "recovered", "src", "type", "command_id", "payload"),
        *("outcome", "reason", "detail", "bolus_id", "kind", "source", "requested_u"),
        *("normal_u", "square_u", "square_duration_min", "wizard", "what", "amount_u"),
        *("bolus_delivered_u", "delivered_u", "rate_u_per_h", "pattern", "percent"),
        *("duration_min", "setting", "old", "new", "old_clock_ms", "new_clock_ms", "code"),
        *("severity", "message", "how", "bg_mg_dl", "meter", "seq", "glucose_mg_dl", "flag"),
        *("peer", "role", "interrupted_bolus_id", "undelivered_u"),
    ]
    record = MemoryHistory().append("boot", dict.fromkeys(names, 0), device_time_ms=0, clock_ms=0)
    assert set(record.data) == set(names)


def test_closed_store_refuses_appends() -> None:
    """After close(), append raises HistoryError."""
    store = MemoryHistory()
    store.close()
    with pytest.raises(HistoryError):
        store.append("alarm", {}, device_time_ms=0, clock_ms=0)


# --------------------------------------------------------------------------
# The public surface


def test_every_declared_name_exists() -> None:
    """Each name in history.__all__ is defined."""
    for name in history.__all__:
        assert hasattr(history, name), name


def test_open_history_picks_the_backend(tmp_path: Path) -> None:
    """open_history(None) is the fast backend, open_history(path) the durable one."""
    fast = open_history(None)
    durable = open_history(tmp_path / "h.db")
    try:
        assert isinstance(fast, MemoryHistory)
        assert isinstance(durable, SqliteHistory)
        assert isinstance(fast, HistoryStore)
        assert isinstance(durable, HistoryStore)
    finally:
        durable.close()


def test_open_history_refuses_read_only_without_a_path() -> None:
    """An in-memory history cannot be opened read-only (it would be empty)."""
    with pytest.raises(ValueError):
        open_history(None, read_only=True)

"""Verification of the chain: one test per way of tampering with a log."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest
from history_strategies import strokes
from hypothesis import given, settings
from hypothesis import strategies as st

from pumplab.devices.history import (
    GENESIS_HASH,
    HistoryRecord,
    MemoryHistory,
    compute_hash,
    verify_records,
)


def _log(count: int = 10) -> list[HistoryRecord]:
    store = MemoryHistory()
    strokes(store, count)
    return store.records()


def _rehash(records: list[HistoryRecord]) -> list[HistoryRecord]:
    """What a forger who recomputes every hash produces (no key stops him)."""
    out: list[HistoryRecord] = []
    prev = GENESIS_HASH
    for seq, record in enumerate(records, start=1):
        digest = compute_hash(
            prev, seq, record.device_time_ms, record.clock_ms, record.kind, record.data
        )
        out.append(dataclasses.replace(record, seq=seq, prev_hash=prev, hash=digest))
        prev = digest
    return out


def test_an_untouched_log_verifies() -> None:
    """A log as the store wrote it verifies, and the report names its head."""
    records = _log()
    report = verify_records(records)
    assert report.ok
    assert (report.records, report.first_bad_seq, report.reason) == (10, None, "")
    assert (report.head_seq, report.head_hash) == (10, records[-1].hash)


def test_an_empty_log_verifies() -> None:
    """No records is a valid (empty) history with the genesis head."""
    report = verify_records([])
    assert report.ok and (report.head_seq, report.head_hash) == (0, GENESIS_HASH)


def test_altered_data_is_found() -> None:
    """Changing one record's data is a hash mismatch at that record."""
    records = _log()
    records[4] = dataclasses.replace(records[4], data={**records[4].data, "amount_u": 5.0})
    report = verify_records(records)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert "hash mismatch" in report.reason
    assert report.records == 4


@pytest.mark.parametrize("field", ["device_time_ms", "clock_ms", "kind"])
def test_altered_header_fields_are_found(field: str) -> None:
    """Changing a record's times or kind is a hash mismatch at that record."""
    records = _log()
    value: Any = "alarm" if field == "kind" else getattr(records[6], field) + 1
    records[6] = dataclasses.replace(records[6], **{field: value})
    report = verify_records(records)
    assert (report.ok, report.first_bad_seq) == (False, 7)


def test_a_deleted_record_is_found() -> None:
    """Removing a record from the middle is reported as that seq missing."""
    records = _log()
    del records[3]
    report = verify_records(records)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert "missing" in report.reason


def test_an_inserted_record_is_found() -> None:
    """A record inserted mid-log (renumbered, with its own valid hash) breaks the next link."""
    records = _log()
    forged = dataclasses.replace(records[2], data={"what": "bolus", "amount_u": 10.0})
    forged = dataclasses.replace(
        forged,
        hash=compute_hash(
            forged.prev_hash, 3, forged.device_time_ms, forged.clock_ms, forged.kind, forged.data
        ),
    )
    later = [dataclasses.replace(r, seq=r.seq + 1) for r in records[2:]]
    report = verify_records([*records[:2], forged, *later])
    assert (report.ok, report.first_bad_seq) == (False, 4)


def test_reordered_records_are_found() -> None:
    """Swapping two records is found at the first out-of-place one."""
    records = _log()
    records[5], records[6] = records[6], records[5]
    report = verify_records(records)
    assert (report.ok, report.first_bad_seq) == (False, 6)


def test_reordered_records_with_renumbered_seqs_are_found() -> None:
    """Swapping two records and fixing their seqs still breaks the prev_hash links."""
    records = _log()
    records[5], records[6] = (
        dataclasses.replace(records[6], seq=6),
        dataclasses.replace(records[5], seq=7),
    )
    report = verify_records(records)
    assert (report.ok, report.first_bad_seq) == (False, 6)


def test_a_duplicated_record_is_found() -> None:
    """A record present twice is found where the copy sits."""
    records = _log()
    report = verify_records([*records[:5], records[4], *records[5:]])
    assert (report.ok, report.first_bad_seq) == (False, 6)
    assert "duplicated" in report.reason


def test_a_replaced_prev_hash_is_found() -> None:
    """A prev_hash that is not the previous record's hash is reported as such."""
    records = _log()
    bogus = hashlib.sha256(b"x").hexdigest()
    records[3] = dataclasses.replace(records[3], prev_hash=bogus)
    report = verify_records(records)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert "prev_hash" in report.reason


def test_device_time_going_back_is_found_even_with_valid_hashes() -> None:
    """A (rehashed) log whose device time goes backwards fails verification."""
    records = _log()
    records[7] = dataclasses.replace(records[7], device_time_ms=0)
    report = verify_records(_rehash(records))
    assert (report.ok, report.first_bad_seq) == (False, 8)
    assert "backwards" in report.reason


def test_a_cut_tail_is_not_found_without_a_head() -> None:
    """The documented limit: dropping the last records leaves a valid chain."""
    assert verify_records(_log()[:6]).ok


def test_a_cut_tail_is_found_with_the_head_seen_before() -> None:
    """With a head seen before, a log cut short of it fails at the first lost record."""
    records = _log()
    head = (records[-1].seq, records[-1].hash)
    report = verify_records(records[:6], expected_head=head)
    assert (report.ok, report.first_bad_seq) == (False, 7)
    assert "truncated" in report.reason


def test_a_full_rewrite_is_not_found_without_a_head() -> None:
    """The documented limit: recomputing every hash after an edit gives a valid chain."""
    records = _log()
    records[2] = dataclasses.replace(records[2], data={"what": "bolus", "amount_u": 9.0})
    assert verify_records(_rehash(records)).ok


def test_a_full_rewrite_is_found_with_the_head_seen_before() -> None:
    """A rewritten log no longer has the head seen before."""
    records = _log()
    head = (records[-1].seq, records[-1].hash)
    records[2] = dataclasses.replace(records[2], data={"what": "bolus", "amount_u": 9.0})
    report = verify_records(_rehash(records), expected_head=head)
    assert (report.ok, report.first_bad_seq) == (False, 10)
    assert "rewritten" in report.reason


def test_an_older_head_still_verifies_after_growth() -> None:
    """A head seen earlier verifies against the log that has grown since."""
    records = _log()
    assert verify_records(records, expected_head=(4, records[3].hash)).ok


@pytest.mark.parametrize("head", [(0, GENESIS_HASH), (1, "zz"), (1, "A" * 64), [1, "0" * 64]])
def test_a_malformed_expected_head_is_refused(head: Any) -> None:
    """expected_head must be (seq >= 1, 64 lowercase hex digits)."""
    with pytest.raises(ValueError):
        verify_records(_log(), expected_head=head)


@settings(max_examples=60)
@given(st.integers(0, 9), st.sampled_from(["data", "device", "clock", "drop", "swap"]))
def test_any_single_tampering_is_found(index: int, how: str) -> None:
    """Any one alteration, deletion or swap inside the log fails at or before that record."""
    records = _log()
    if how == "data":
        records[index] = dataclasses.replace(records[index], data={"tampered": True})
    elif how == "device":
        records[index] = dataclasses.replace(records[index], device_time_ms=10**9)
    elif how == "clock":
        records[index] = dataclasses.replace(records[index], clock_ms=records[index].clock_ms - 1)
    elif how == "drop":
        if index == 9:
            return  # the tail: only a head seen before finds it (tested above)
        del records[index]
    else:
        j = (index + 1) % 10
        records[index], records[j] = records[j], records[index]
    report = verify_records(records)
    assert not report.ok
    assert report.first_bad_seq is not None and report.first_bad_seq <= index + 1


def test_memory_store_verify_reports_ok() -> None:
    """MemoryHistory.verify recomputes its own chain."""
    store = MemoryHistory()
    strokes(store, 3)
    report = store.verify(expected_head=(3, store.records()[-1].hash))
    assert report.ok and report.records == 3


def test_summary_line_names_the_record_and_reason() -> None:
    """The one-line summary is 'record N: reason' on failure, 'ok: ...' on success."""
    records = _log()
    good = verify_records(records)
    assert good.summary() == f"ok: 10 records, head 10:{records[-1].hash}"
    del records[1]
    assert verify_records(records).summary().startswith("record 2: missing")

"""History pages and records: published 523 pages, published records, round trips, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from legacy_strategies import record_pages, records
from legacy_vectors import (
    REC_ALARM_PUMP,
    REC_AUDIO_BOLUS_OFF,
    REC_AUDIO_BOLUS_ON,
    REC_BG_RECEIVED,
    REC_CHANGE_TIME,
    REC_CLEAR_ALARM,
    REC_NEW_TIME,
    REC_RESUME,
    REC_SUSPEND,
    REC_TEMP_BASAL_DURATION,
    REC_TEMP_BASAL_PCT,
    data_hex,
    data_hex_lines,
)

from pumplab.errors import DecodeError
from pumplab.link.legacy import history as hi
from pumplab.link.legacy.crc import crc16
from pumplab.link.legacy.messages import DataFrameBody
from pumplab.link.legacy.pumptime import PumpTime


def test_minimed_rf_523_page_walks_and_has_its_bolus() -> None:
    """history_page_spec "should decode 523 bolus": CRC ok, 29 entries, #21 a 0.3 U normal bolus."""
    page = data_hex("minimed_rf_523_bolus_page.hex")
    recs = hi.decode_history_page(page)
    assert len(recs) == 29
    bolus = recs[21]
    assert isinstance(bolus, hi.BolusRecord)
    assert bolus.delivered_u == 0.3 and bolus.programmed_u == 0.3
    assert bolus.duration_segments == 0


def test_minimed_rf_first_page_walks_to_52_records() -> None:
    """history_page_spec "should decode 523 data": 52 entries, as minimed_rf counts them."""
    assert len(hi.decode_history_page(data_hex("minimed_rf_first_page.hex"))) == 52


def test_minimedkit_dropped_bolus_page() -> None:
    """HistoryPageTests.testDroppedBolus (523): 22 records; radio-commanded boluses and temps."""
    recs = hi.decode_history_page(data_hex("minimedkit_523_dropped_bolus_page.hex"))
    assert len(recs) == 22
    boluses = [r for r in recs if isinstance(r, hi.BolusRecord)]
    assert [b.delivered_strokes for b in boluses] == [106, 11, 4]
    assert all(b.via_radio for b in boluses)
    temps = [r for r in recs if isinstance(r, hi.TempBasalRecord)]
    assert temps[0].rate_u_per_h == 2.1 and temps[0].time == PumpTime(2023, 1, 7, 20, 38, 2)


@pytest.mark.parametrize("page_number", range(5))
def test_minimedkit_history_frames_make_valid_pages(page_number: int) -> None:
    """PumpOpsSynchronousBuildFromFramesTests: 16 frames 1..16 (0x90 last) join into a page."""
    frames = [DataFrameBody.decode(raw)
              for raw in data_hex_lines(f"minimedkit_523_page{page_number}_frames.hex")]
    assert [f.frame_number for f in frames] == list(range(1, 17)) and frames[-1].last
    page = hi.history_page_from_frames(frames)
    assert crc16(page[:1022]) == int.from_bytes(page[1022:], "big")
    records = hi.decode_history_page(page)
    assert records
    assert hi.history_page_frames(page) == tuple(frames)


@pytest.mark.parametrize(("raw", "expected"), [
    (REC_BG_RECEIVED, hi.BgReceivedRecord(PumpTime(2014, 4, 4, 15, 7, 0), 197,
                                          bytes.fromhex("c527ad"), True, 0b1000)),
    (REC_TEMP_BASAL_PCT, hi.TempBasalRecord(PumpTime(2014, 4, 6, 21, 6, 6), True, 60)),
    (REC_TEMP_BASAL_DURATION, hi.TempBasalDurationRecord(PumpTime(2014, 4, 6, 21, 6, 6), 20)),
    (REC_ALARM_PUMP, hi.PumpAlarmRecord(PumpTime(2014, 4, 8, 17, 59, 55), 103, 1, 0x6E,
                                        False, 0b10101)),
    (REC_CLEAR_ALARM, hi.ClearAlarmRecord(PumpTime(2014, 4, 8, 18, 0, 4), 103)),
    (REC_CHANGE_TIME, hi.ChangeTimeRecord(PumpTime(2014, 1, 4, 23, 14, 35), 0)),
    (REC_NEW_TIME, hi.NewTimeRecord(PumpTime(2016, 1, 1, 23, 14, 0), 0)),
])
def test_published_records(raw: bytes, expected: hi.HistoryRecord) -> None:
    """minimed_rf log_entries comments, matched there against CareLink's CSV export."""
    assert hi.decode_record(raw) == expected
    assert hi.encode_record(expected) == raw


def test_published_record_meanings() -> None:
    """600-minute temp basal; suspend then resume 22 s later; easy bolus on at 0.1 U, then off."""
    duration = hi.decode_record(REC_TEMP_BASAL_DURATION)
    assert isinstance(duration, hi.TempBasalDurationRecord) and duration.duration_min == 600
    suspend, resume = hi.decode_record(REC_SUSPEND), hi.decode_record(REC_RESUME)
    assert isinstance(suspend, hi.SuspendRecord) and isinstance(resume, hi.ResumeRecord)
    assert suspend.time == PumpTime(2014, 4, 3, 18, 54, 32)
    assert resume.time == PumpTime(2014, 4, 3, 18, 54, 54)
    on, off = hi.decode_record(REC_AUDIO_BOLUS_ON), hi.decode_record(REC_AUDIO_BOLUS_OFF)
    assert isinstance(on, hi.ChangeEasyBolusRecord) and isinstance(off, hi.ChangeEasyBolusRecord)
    assert on.enabled and on.step_u == 0.1 and not off.enabled


def test_timestamp_radio_flag() -> None:
    """Bit 6 of the day byte marks a radio-commanded event (MinimedKit wasRemotelyTriggered)."""
    t = PumpTime(2019, 6, 27, 12, 30, 5)
    assert hi.encode_timestamp(t, via_radio=True)[3] == 27 | 0x40
    assert hi.decode_timestamp(hi.encode_timestamp(t, via_radio=True)) == (t, True, 0)


@given(records)
def test_record_round_trip(record: hi.HistoryRecord) -> None:
    """decode_record(encode_record(r)) == r for typed and opaque records."""
    assert hi.decode_record(hi.encode_record(record)) == record


@given(record_pages())
def test_page_round_trip(recs: list[hi.HistoryRecord]) -> None:
    """A page of records decodes back to them, and travels as 16 frames."""
    page = hi.encode_history_page(recs)
    assert len(page) == 1024
    assert hi.decode_history_page(page) == tuple(recs)
    assert hi.history_page_from_frames(hi.history_page_frames(page)) == page


def _page(body: bytes) -> bytes:
    body = body + bytes(1022 - len(body))
    return body + crc16(body).to_bytes(2, "big")


GOOD = hi.encode_history_page([hi.SuspendRecord(PumpTime(2019, 6, 27, 12, 0, 0))])
MALFORMED_PAGES = [
    (GOOD[:-1], "1,023 bytes"),
    (GOOD + b"\x00", "1,025 bytes"),
    (GOOD[:-1] + bytes([GOOD[-1] ^ 1]), "bad CRC"),
    (_page(b"\x02\x00\x00\x00\x00\x00\x00"), "unknown record type 0x02"),
    (_page(bytes(1015) + b"\x01\x00\x00"), "record runs past the end"),
    (_page(bytes.fromhex("1e01003612030e")), "timestamp with month 0"),
    (_page(bytes.fromhex("1e01603f12030e")), "timestamp with minute 63"),
    (_page(bytes.fromhex("333c460615060e18")), "temp basal type byte 0x18"),
    (_page(bytes.fromhex("620260361203" + "0e")), "temp basal type record of type 2"),
]


@pytest.mark.parametrize(("page", "why"), MALFORMED_PAGES, ids=[m[1] for m in MALFORMED_PAGES])
def test_malformed_page_raises_decode_error(page: bytes, why: str) -> None:
    """Each malformed page raises DecodeError."""
    with pytest.raises(DecodeError):
        hi.decode_history_page(page)


def test_records_that_do_not_fit_a_page_are_refused() -> None:
    """More than 1,022 bytes of records: ValueError (the writer must start a new page)."""
    rec = hi.BolusRecord(PumpTime(2019, 1, 1), 40, 40)
    with pytest.raises(ValueError):
        hi.encode_history_page([rec] * 79)


def test_wrong_frame_count_is_refused() -> None:
    """A page needs exactly 16 frames."""
    frames = hi.history_page_frames(GOOD)
    with pytest.raises(DecodeError):
        hi.history_page_from_frames(DataFrameBody.split(b"".join(f.data for f in frames[:15])))

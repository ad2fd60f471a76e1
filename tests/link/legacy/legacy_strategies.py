"""Hypothesis strategies for every value of the legacy codec (shared by its tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from pumplab.link.legacy import frames as fr
from pumplab.link.legacy import history as hi
from pumplab.link.legacy import messages as ms
from pumplab.link.legacy.pumptime import PumpTime

byte = st.integers(0, 0xFF)
word = st.integers(0, 0xFFFF)
device_ids = st.binary(min_size=3, max_size=3)
remote_ids = st.none() | st.text("0123456789", min_size=6, max_size=6)

pump_times = st.builds(
    PumpTime,
    year=st.integers(2000, 2127), month=st.integers(1, 12), day=st.integers(1, 28),
    hour=st.integers(0, 23), minute=st.integers(0, 59), second=st.integers(0, 59),
)
clock_times = pump_times.filter(lambda t: t.year <= 2099)

pump_frames = st.builds(
    fr.PumpFrame, device_ids, byte,
    st.sampled_from([1, 65]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
) | st.builds(
    fr.PumpFrame, device_ids, byte, st.binary(min_size=1, max_size=fr.MAX_MYSENTRY_BODY_LEN),
    st.just(fr.PacketType.MYSENTRY),
)
meter_frames = st.builds(fr.MeterFrame, device_ids, st.integers(0, 511), st.integers(0, 3))
remote_frames = st.builds(fr.RemoteFrame, device_ids, st.sampled_from(list(fr.RemoteButton)),
                          byte)
sensor_frames = st.builds(
    fr.SensorFrame,
    st.sampled_from([fr.PacketType.SENSOR, fr.PacketType.SENSOR_WARMUP,
                     fr.PacketType.SENSOR_TEST]),
    device_ids, st.integers(0, 15), st.integers(0, 15),
    st.tuples(*[word] * 8), flags=byte, byte1=byte, version=byte, isig_adjust=byte,
    tail=st.binary(min_size=7, max_size=7),
)
any_frames = pump_frames | meter_frames | remote_frames | sensor_frames

command_bodies = st.one_of(
    st.builds(ms.PowerOnBody, byte, st.booleans()),
    st.builds(ms.BolusBody, word, st.just(40)),
    st.builds(ms.BolusBody, byte, st.just(10)),
    st.builds(ms.TempBasalAbsoluteBody, word, byte),
    st.builds(ms.TempBasalPercentBody, byte, byte),
    st.builds(ms.SuspendResumeBody, st.booleans()),
    st.builds(ms.ButtonPressBody, st.sampled_from(list(ms.PumpButton))),
    st.builds(ms.SetClockBody, clock_times.filter(lambda t: t.year <= 0xFFFF)),
    st.builds(ms.SetRemoteIdBody, st.integers(0, 2), remote_ids),
    st.builds(ms.SetRemoteEnabledBody, st.booleans()),
    st.builds(ms.SetMaxBolusBody, word),
    st.builds(ms.SetMaxBasalBody, word),
    st.builds(ms.ReadHistoryPageBody, byte),
)

response_bodies = st.one_of(
    st.builds(ms.ModelBody, st.text("0123456789ABCxyz", min_size=1, max_size=8)),
    st.builds(ms.PumpStatusBody, st.booleans(), st.booleans(), byte),
    st.builds(
        ms.SettingsBody, byte, word, st.booleans(), st.booleans(), byte, st.booleans(), byte,
        st.booleans(), st.booleans(), byte, st.booleans(), byte, byte, byte, byte, byte, byte,
        byte, byte, byte),
    st.builds(ms.ClockBody, clock_times),
    st.builds(ms.BatteryBody, st.booleans(), word),
    st.builds(ms.ReservoirBody, word, word),
    st.builds(ms.RemoteIdsBody, st.tuples(remote_ids, remote_ids, remote_ids)),
    st.builds(ms.TempBasalStatusBody, st.booleans(), byte, word, word),
)

data_frames = st.builds(ms.DataFrameBody, st.integers(1, 127), st.booleans(),
                        st.binary(min_size=64, max_size=64))

spare = st.integers(0, 63)
radio = st.booleans()

typed_records = st.one_of(
    st.builds(hi.BolusRecord, pump_times, word, word, word, byte, radio, spare),
    st.builds(hi.TempBasalRecord, pump_times, st.just(True), byte, radio, spare),
    st.builds(hi.TempBasalRecord, pump_times, st.just(False), st.integers(0, 0x7FF), radio,
              spare),
    st.builds(hi.TempBasalDurationRecord, pump_times, byte, radio, spare),
    st.builds(hi.SuspendRecord, pump_times, byte, radio, spare),
    st.builds(hi.ResumeRecord, pump_times, byte, radio, spare),
    st.builds(hi.ChangeMaxBolusRecord, pump_times, byte, radio, spare),
    st.builds(hi.ChangeMaxBasalRecord, pump_times, byte, radio, spare),
    st.builds(hi.ChangeTempBasalTypeRecord, pump_times, st.integers(0, 1), radio, spare),
    st.builds(hi.ChangeEasyBolusRecord, pump_times, byte, radio, spare),
    st.builds(hi.ChangeTimeRecord, pump_times, byte, radio, spare),
    st.builds(hi.NewTimeRecord, pump_times, byte, radio, spare),
    st.builds(hi.ClearAlarmRecord, pump_times, byte, radio, spare),
    st.builds(hi.PumpAlarmRecord, pump_times, byte, byte, byte, radio, spare),
    st.builds(hi.EnableRemoteRecord, pump_times, byte, st.binary(min_size=14, max_size=14),
              radio, spare),
    st.builds(hi.BgReceivedRecord, pump_times, st.integers(0, 0x7FF), device_ids, radio,
              spare.map(lambda s: s & ~7)),
)

_OPAQUE_CODES = sorted(set(hi.X23_RECORD_LENGTHS) - {
    hi.BolusRecord.opcode, hi.TempBasalRecord.opcode, hi.TempBasalDurationRecord.opcode,
    hi.SuspendRecord.opcode, hi.ResumeRecord.opcode, hi.ChangeMaxBolusRecord.opcode,
    hi.ChangeMaxBasalRecord.opcode, hi.ChangeTempBasalTypeRecord.opcode,
    hi.ChangeEasyBolusRecord.opcode, hi.ChangeTimeRecord.opcode, hi.NewTimeRecord.opcode,
    hi.ClearAlarmRecord.opcode, hi.PumpAlarmRecord.opcode, hi.EnableRemoteRecord.opcode,
    hi.BgReceivedRecord.opcode})

opaque_records = st.sampled_from(_OPAQUE_CODES).flatmap(
    lambda code: st.binary(min_size=hi.X23_RECORD_LENGTHS[code] - 1,
                           max_size=hi.X23_RECORD_LENGTHS[code] - 1)
    .map(lambda rest: hi.OpaqueRecord(bytes([code]) + rest))
) | st.integers(2, 40).flatmap(
    lambda n: st.binary(min_size=n - 2, max_size=n - 2)
    .map(lambda rest: hi.OpaqueRecord(bytes([0x5C, n]) + rest))
)

records = typed_records | opaque_records


@st.composite
def record_pages(draw: st.DrawFn) -> list[hi.HistoryRecord]:
    """Records that fit one page."""
    out: list[hi.HistoryRecord] = []
    used = 0
    for record in draw(st.lists(records, max_size=60)):
        size = len(record.encode())
        if used + size > hi.HISTORY_DATA_BYTES:
            break
        out.append(record)
        used += size
    return out

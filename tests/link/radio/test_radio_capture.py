"""Capture files: exact format, round trip, validation of bad lines, injection, summaries."""

from __future__ import annotations

import io
import json

import pytest
from radiokit import QUIET, SHORT_AIR, device, quiet_medium

from pumplab.errors import DecodeError, InputError
from pumplab.link.radio import (
    CaptureFrame,
    CaptureWriter,
    FrameDescription,
    InjectionFrame,
    RxReport,
    read_capture,
    read_injection,
    summarise_capture,
)
from pumplab.link.radio.capture import CAPTURE_KEYS


def strip_trailer(air: bytes) -> bytes:
    """A trivial test decoder: the 'packet' is the air without its trailing 0x00."""
    if air[-1:] != b"\x00":
        raise DecodeError("no trailing zero")
    return air[:-1]


def _captured_run() -> tuple[str, list[str]]:
    clock, medium = quiet_medium()
    stream = io.StringIO()
    medium.add_frame_observer(CaptureWriter(stream, {QUIET.name: strip_trailer}))
    pump = medium.add(device("pump", 0.0, worn_on="wearer"), channels=[QUIET.name])
    bridge = medium.add(device("bridge", 1.0, eirp_dbm=10.0), channels=[QUIET.name])
    medium.add(device("sniffer", 400.0), channels=[QUIET.name])
    clock.run_until(10)
    bridge.transmit(SHORT_AIR, repeat=3, interval_ms=20)
    clock.run_until(200)
    pump.transmit(SHORT_AIR[:-1] + b"\x01")          # undecodable by the test decoder
    clock.run_until(300)
    return stream.getvalue(), stream.getvalue().splitlines()


def test_capture_lines_have_exactly_the_documented_keys_in_order() -> None:
    """Each line is one JSON object with the issue's keys, in the issue's order."""
    _, lines = _captured_run()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert tuple(first) == CAPTURE_KEYS
    assert first["t_ms"] == 10 and first["tx"] == "bridge" and first["tx_pos_m"] == [1.0, 0.0]
    assert first["air"] == SHORT_AIR.hex() and first["packet"] == SHORT_AIR[:-1].hex()
    assert (first["repeat"], first["interval_ms"], first["power_dbm"]) == (3, 20, 10.0)
    assert set(first["rx"]) == {"pump", "sniffer"}
    assert first["rx"]["pump"]["ok"] is True and first["rx"]["sniffer"]["ok"] is False
    assert isinstance(first["rx"]["pump"]["rssi_dbm"], float)
    assert json.loads(lines[1])["packet"] is None


def test_capture_round_trips_through_the_reader() -> None:
    """read_capture gives back what was written."""
    text, _ = _captured_run()
    frames = read_capture(io.StringIO(text), source="run.jsonl")
    assert [f.tx for f in frames] == ["bridge", "pump"]
    first = frames[0]
    assert first == CaptureFrame(
        t_ms=10, channel=QUIET.name, tx="bridge", tx_pos_m=(1.0, 0.0), power_dbm=10.0,
        air=SHORT_AIR, packet=SHORT_AIR[:-1], repeat=3, interval_ms=20,
        rx={"pump": RxReport(first.rx["pump"].rssi_dbm, True),
            "sniffer": RxReport(first.rx["sniffer"].rssi_dbm, False)})
    assert frames[1].line == 2


GOOD = ('{"t_ms": 5, "channel": "c", "tx": "a", "tx_pos_m": [0, 1.5], "power_dbm": -1.2, '
        '"air": "a7ff00", "packet": null, "repeat": 1, "interval_ms": 0, '
        '"rx": {"pump": {"rssi_dbm": -70.5, "ok": true}}}')


def _bad(**changes: object) -> str:
    obj = json.loads(GOOD)
    for key, value in changes.items():
        if value is _DROP:
            del obj[key]
        else:
            obj[key] = value
    return json.dumps(obj)


_DROP = object()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD[:60], None),                                           # truncated line
        ("[1, 2]", None),                                            # not an object
        (GOOD.replace("-1.2", "NaN"), None),                          # JSON's NaN extension
        (_bad(t_ms=_DROP), "t_ms"),
        (_bad(t_ms=-1), "t_ms"),
        (_bad(t_ms=1.5), "t_ms"),
        (_bad(t_ms=True), "t_ms"),
        (_bad(channel=""), "channel"),
        (_bad(tx=7), "tx"),
        (_bad(tx_pos_m=[1]), "tx_pos_m"),
        (_bad(tx_pos_m=[1, "x"]), "tx_pos_m[1]"),
        (_bad(power_dbm="high"), "power_dbm"),
        (_bad(air="a7f"), "air"),
        (_bad(air="a7 ff"), "air"),
        (_bad(air=""), "air"),
        (_bad(packet="zz"), "packet"),
        (_bad(repeat=0), "repeat"),
        (_bad(repeat=3, interval_ms=0), "interval_ms"),
        (_bad(interval_ms=-5), "interval_ms"),
        (_bad(rx=[]), "rx"),
        (_bad(rx={"pump": {"rssi_dbm": -70}}), "rx.pump.ok"),
        (_bad(rx={"pump": {"rssi_dbm": "loud", "ok": True}}), "rx.pump.rssi_dbm"),
        (_bad(rx={"pump": {"rssi_dbm": -70, "ok": 1}}), "rx.pump.ok"),
        (_bad(rx={"pump": {"rssi_dbm": -70, "ok": True, "snr": 3}}), "rx.pump.snr"),
        (_bad(extra=1), "extra"),
        (GOOD[:-1] + ', "t_ms": 6}', "t_ms"),                         # duplicate key
    ],
)
def test_bad_capture_line_gets_one_error_naming_line_and_field(
    text: str, field: str | None
) -> None:
    """Every malformed line raises InputError with the file, the line and the field."""
    with pytest.raises(InputError) as caught:
        read_capture([GOOD, "", text, GOOD], source="cap.jsonl")
    assert "cap.jsonl line 3" in str(caught.value)
    assert caught.value.field == field
    if field is not None:
        assert f"field '{field}'" in str(caught.value)


def test_blank_lines_and_line_endings_are_tolerated() -> None:
    """Blank lines are skipped; CRLF endings are fine."""
    frames = read_capture(["\n", GOOD + "\r\n", "   \n", GOOD + "\n"])
    assert [f.line for f in frames] == [2, 4]


def test_injection_reads_capture_lines_and_ignores_capture_only_keys() -> None:
    """A captured line can be injected as it is: rx, tx, tx_pos_m and packet are ignored."""
    obj = json.loads(GOOD)
    obj["packet"] = "a7"                               # ignored: air is given
    [frame] = read_injection([json.dumps(obj)])
    assert frame == InjectionFrame(t_ms=5, air=bytes.fromhex("a7ff00"), packet=None,
                                   fix_crc=False, channel="c", power_dbm=-1.2, repeat=1,
                                   interval_ms=0)


def test_injection_of_a_packet_with_crc_fix() -> None:
    """A packet line (legacy only) carries the bytes to encode and whether to fix the CRC."""
    [frame] = read_injection(['{"t_ms": 100, "packet": "a7665455420112", "fix_crc": true, '
                              '"repeat": 3, "interval_ms": 30}'])
    assert (frame.air, frame.packet, frame.fix_crc) == (None, bytes.fromhex("a7665455420112"),
                                                        True)
    assert (frame.channel, frame.power_dbm, frame.repeat, frame.interval_ms) == (None, None, 3, 30)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"air": "a7"}', "t_ms"),
        ('{"t_ms": 1}', "air"),
        ('{"t_ms": 1, "air": null, "packet": null}', "air"),
        ('{"t_ms": 1, "air": "a7", "fix_crc": true}', "fix_crc"),
        ('{"t_ms": 1, "air": "a7", "fix_crc": "yes"}', "fix_crc"),
        ('{"t_ms": 1, "air": "a7", "power": 3}', "power"),
        ('{"t_ms": 1, "air": "a7", "repeat": 2}', "interval_ms"),
        ('{"t_ms": 1, "air": "a7", "channel": "moon"}', "channel"),
        ('{"t_ms": 1, "air": "a7ffa7ffa7ffa7ffa7ffa7ff", "repeat": 2, "interval_ms": 15}',
         "interval_ms"),
    ],
)
def test_bad_injection_line_is_refused(text: str, field: str) -> None:
    """Injection lines are validated like capture lines, against the known channels."""
    with pytest.raises(InputError) as caught:
        read_injection([text], source="frames.jsonl", channels={QUIET.name: QUIET},
                       default_channel=QUIET.name)
    assert caught.value.field == field
    assert "frames.jsonl line 1" in str(caught.value)


def test_summary_counts_frames_per_transmitter_and_kind_with_injected_parsing() -> None:
    """summarise_capture takes its protocol knowledge from the caller."""
    def describe(packet: bytes) -> FrameDescription | None:
        if packet[0] == 0xA7:
            return FrameDescription("pump", packet[1:4].hex(), f"0x{packet[4]:02x}")
        if packet[0] == 0xA5:
            return FrameDescription("meter", packet[1:4].hex())
        return None

    def line(tx: str, packet: str | None, air: str = "a7ff00", repeat: int = 1) -> str:
        return _bad(tx=tx, packet=packet, air=air, repeat=repeat,
                    interval_ms=24 if repeat > 1 else 0)

    frames = read_capture([
        line("bridge", "a76654555d00", repeat=200),
        line("bridge", "a76654558d00"),
        line("pump", "a76654550600"),
        line("meter", "a5c0ffee0164"),
        line("attacker", None, air="a512345600"),   # decoded by `decode` below
        line("noise", None, air="ff"),
    ])
    summary = summarise_capture(frames, describe=describe,
                                decode=lambda air: air[:-1] if air[-1] == 0 else None)
    assert summary.frames == 6 and summary.repetitions == 205 and summary.undecodable == 1
    assert summary.by_transmitter == {"bridge": {"pump": 2}, "pump": {"pump": 1},
                                      "meter": {"meter": 1}, "attacker": {"meter": 1},
                                      "noise": {"undecodable": 1}}
    assert summary.ids_seen == {"pump": ("665455",), "meter": ("123456", "c0ffee")}
    assert summary.commands == {"0x5d": 1, "0x8d": 1, "0x06": 1}
    assert json.loads(json.dumps(summary.to_dict()))["ids_seen"]["meter"] == ["123456", "c0ffee"]


def test_default_summary_labels_by_first_byte() -> None:
    """Without a describer, packets are grouped by their first byte."""
    summary = summarise_capture(read_capture([_bad(packet="a7665455")]))
    assert summary.by_transmitter == {"a": {"a7": 1}}
    assert summary.ids_seen == {"a7": ("665455",)}

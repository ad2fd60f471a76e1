"""`pumplab radio decode/encode --protocol legacy` and `radio decode --capture` (docs/cli.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from legacy_air_capture import (
    METER_ID,
    OTHER_PUMP_ID,
    PUMP_ID,
    REMOTE_ID,
    SENSOR_ID,
    captured_exchange,
)
from legacy_vectors import (
    METER_142,
    METER_398,
    MINIMED_RF_CAPTURE_AIR,
    MINIMEDKIT_ENCODE_AIR,
    MINIMEDKIT_ENCODE_PACKET,
    MK_BOLUS_1_1_X22,
    MK_BOLUS_1_1_X23,
    MK_BOLUS_10_2_X23,
    MK_TEMP_BASAL_1_1_30,
    MK_TEMP_BASAL_6_5_150,
    MYSENTRY_AIR,
    MYSENTRY_PACKET,
    REMOTE_B_93,
    SENSOR_A8,
    WAKEUP_SHORT_350535,
)

from pumplab.cli._radio_protocols import PROTOCOL_NAMES, load_protocol
from pumplab.cli.main import main
from pumplab.errors import InputError
from pumplab.link.legacy import seal, to_air

ROOT = Path(__file__).resolve().parents[3]

#: Every key `pumplab.radio-decode/1` may carry (docs/cli.md), besides `schema`.
DECODE_KEYS = {
    "crc_ok", "decoded", "packet_type", "device_id", "message_type", "body", "message",
    "bg_mg_dl", "flags", "button", "sequence", "repeat", "units", "rate_u_per_h", "percent",
    "duration_min", "nak_code", "error",
}  # fmt: skip
HEX_KEYS = {"decoded", "packet_type", "device_id", "body"}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def decode_json(capsys: pytest.CaptureFixture[str], air: bytes) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "radio", "decode", "--protocol", "legacy", air.hex(),
                             "--json")  # fmt: skip
    assert (code, err) == (0, "")
    document: dict[str, Any] = json.loads(out)
    assert next(iter(document)) == "schema" and document["schema"] == "pumplab.radio-decode/1"
    return document


# --------------------------------------------------------------------------
# decode: published frames (tests/link/legacy/legacy_vectors.py gives each source)


@pytest.mark.parametrize(("air", "expected"), [
    # minimed_rf dump_history_page.rb: the short wake-up of pump 350535.
    (to_air(WAKEUP_SHORT_350535), {"packet_type": "a7", "device_id": "350535",
                                   "message_type": 0x5D, "body": "00", "message": "power_on"}),
    # minimed_rf spec/meter_spec.rb: meter C527AD, 142 and 398 mg/dL.
    (to_air(METER_142), {"packet_type": "a5", "device_id": "c527ad", "bg_mg_dl": 142,
                         "flags": 0, "body": "008e"}),
    (to_air(METER_398), {"packet_type": "a5", "bg_mg_dl": 398, "flags": 0}),
    # minimed_rf spec/remote_spec.rb: remote 411525, button B, sequence 93.
    (to_air(REMOTE_B_93), {"packet_type": "a6", "device_id": "411525", "button": "B",
                           "sequence": 93, "body": "885d"}),
    # minimed_rf messages/sensor.rb: an A8 sensor frame (CRC-16 dee7).
    (to_air(SENSOR_A8), {"packet_type": "a8", "device_id": "25c123", "sequence": 5,
                         "repeat": 0}),
    # MinimedKit testDecode4b6b / minimed_rf packet_spec.rb: published air of a
    # MySentry frame from pump 597055, message type 04.
    (MYSENTRY_AIR, {"packet_type": "a2", "device_id": "597055", "message_type": 4,
                    "decoded": MYSENTRY_PACKET.hex()}),
    # minimed_rf packet_spec.rb "should parse data from radio": 64 captured bytes,
    # no terminator, a lone trailing symbol.
    (MINIMED_RF_CAPTURE_AIR, {"packet_type": "a2", "device_id": "597055",
                              "message_type": 4}),
    # MinimedKit BolusCarelinkMessageBodyTests: x23 1.1 U and 10.2 U, x22 1.1 U.
    (to_air(seal(MK_BOLUS_1_1_X23)), {"device_id": "123456", "message_type": 0x42,
                                      "message": "bolus", "units": 1.1}),
    (to_air(seal(MK_BOLUS_10_2_X23)), {"units": 10.2}),
    (to_air(seal(MK_BOLUS_1_1_X22)), {"units": 1.1}),
    # MinimedKit ChangeTempBasalCarelinkMessageBodyTests: 1.1 U/h for 30 min, 6.5 U/h for 150.
    (to_air(seal(MK_TEMP_BASAL_1_1_30)), {"message_type": 0x4C, "rate_u_per_h": 1.1,
                                          "duration_min": 30}),
    (to_air(seal(MK_TEMP_BASAL_6_5_150)), {"rate_u_per_h": 6.5, "duration_min": 150}),
], ids=["wakeup", "meter142", "meter398", "remoteB", "sensorA8", "mysentry", "rf-capture",
        "bolus-x23", "bolus-10.2", "bolus-x22", "temp-1.1", "temp-6.5"])  # fmt: skip
def test_published_frames_decode_to_their_published_meaning(
    capsys: pytest.CaptureFixture[str], air: bytes, expected: dict[str, Any]
) -> None:
    """Each published frame, given as on-air hex, shows the fields its source states."""
    document = decode_json(capsys, air)
    assert document["crc_ok"] is True and "error" not in document
    assert {key: document.get(key) for key in expected} == expected


def test_decode_json_follows_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """Keys are the documented ones; hex strings, booleans, integers and quantities as said."""
    frames = [to_air(p) for p in (WAKEUP_SHORT_350535, METER_398, REMOTE_B_93, SENSOR_A8)]
    frames += [to_air(seal(MK_BOLUS_1_1_X23)), to_air(seal(MK_TEMP_BASAL_1_1_30)), MYSENTRY_AIR]
    for air in frames:
        document = decode_json(capsys, air)
        assert set(document) - {"schema"} <= DECODE_KEYS
        assert {"crc_ok", "decoded", "packet_type", "device_id", "body"} <= set(document)
        assert isinstance(document["crc_ok"], bool)
        for key in HEX_KEYS:
            assert re.fullmatch(r"(?:[0-9a-f]{2})*", document[key]), (key, document[key])
        for key in ("message_type", "bg_mg_dl", "flags", "sequence", "duration_min"):
            if key in document:
                assert type(document[key]) is int, key
        for key in ("units", "rate_u_per_h"):
            if key in document:
                assert isinstance(document[key], float), key


def test_meter_and_remote_frames_carry_no_message_type(capsys: pytest.CaptureFixture[str]) -> None:
    """`message_type` is absent for A5 and A6 frames, as the issue says."""
    assert "message_type" not in decode_json(capsys, to_air(METER_142))
    assert "message_type" not in decode_json(capsys, to_air(REMOTE_B_93))


def test_decoded_is_the_whole_packet_including_its_crc(capsys: pytest.CaptureFixture[str]) -> None:
    """The minimed_rf wake-up: `decoded` ends in its CRC-8 0x48."""
    assert decode_json(capsys, to_air(WAKEUP_SHORT_350535))["decoded"] == "a73505355d0048"


def test_a_bad_crc_is_shown_not_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A frame with a wrong CRC is evidence: described with crc_ok false, exit 0."""
    packet = bytearray(METER_398)
    packet[-1] ^= 0x01
    document = decode_json(capsys, to_air(bytes(packet)))
    assert document["crc_ok"] is False and document["bg_mg_dl"] == 398


def test_decode_text_is_a_table_of_fields(capsys: pytest.CaptureFixture[str]) -> None:
    """One row per field, one line each in a pipe; message types also in hex."""
    code, out, err = run_cli(capsys, "radio", "decode", "--protocol", "legacy",
                             to_air(REMOTE_B_93).hex())  # fmt: skip
    assert (code, err) == (0, "")
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["field", "value"]
    assert ["crc_ok", "true"] in rows and ["button", "B"] in rows and ["sequence", "93"] in rows
    code, out, _ = run_cli(capsys, "radio", "decode", "--protocol", "legacy",
                           to_air(WAKEUP_SHORT_350535).hex())  # fmt: skip
    assert "message_type  93 (0x5d)" in out


def test_air_with_the_terminator_left_out_decodes_the_same(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """subg_rfspy hands frames over without the trailing 00: same answer."""
    air = to_air(METER_142)
    assert decode_json(capsys, air[:-1]) == decode_json(capsys, air)


# --------------------------------------------------------------------------
# encode


@pytest.mark.parametrize(("packet", "expected"), [
    # minimed_rf dump_history_page.rb: the wake-up's CRC-8 is 0x48.
    (WAKEUP_SHORT_350535[:-1], {"packet": WAKEUP_SHORT_350535.hex(),
                                "air": to_air(WAKEUP_SHORT_350535).hex()}),
    # MinimedKit testDecode4b6b / minimed_rf packet_spec.rb: packet and published air.
    (MYSENTRY_PACKET[:-1], {"packet": MYSENTRY_PACKET.hex(), "air": MYSENTRY_AIR.hex()}),
    # MinimedKit testEncode4b6b: the packet given with its CRC gets a second one
    # (00) and the published air.
    (MINIMEDKIT_ENCODE_PACKET, {"packet": MINIMEDKIT_ENCODE_PACKET.hex() + "00",
                                "air": MINIMEDKIT_ENCODE_AIR.hex()}),
], ids=["wakeup", "mysentry", "minimedkit-encode"])  # fmt: skip
def test_encode_gives_the_published_packet_and_air(
    capsys: pytest.CaptureFixture[str], packet: bytes, expected: dict[str, str]
) -> None:
    """`{"packet", "air"}` with the schema key first, nothing else."""
    code, out, err = run_cli(capsys, "radio", "encode", "--protocol", "legacy", packet.hex(),
                             "--json")  # fmt: skip
    assert (code, err) == (0, "")
    assert json.loads(out) == {"schema": "pumplab.radio-encode/1", **expected}
    assert next(iter(json.loads(out))) == "schema"


def test_encode_text_and_round_trip_through_decode(capsys: pytest.CaptureFixture[str]) -> None:
    """The air `encode` prints decodes back to the packet it printed."""
    code, out, _ = run_cli(capsys, "radio", "encode", "--protocol", "legacy", "a6411525885d")
    rows = dict(line.split() for line in out.splitlines()[1:])
    assert code == 0 and rows["packet"] == REMOTE_B_93.hex()
    assert decode_json(capsys, bytes.fromhex(rows["air"]))["decoded"] == REMOTE_B_93.hex()


def test_encode_warns_when_the_result_is_no_valid_frame(capsys: pytest.CaptureFixture[str]) -> None:
    """A packet given with its CRC gets a second one: printed, with a one-line warning."""
    code, out, err = run_cli(capsys, "radio", "encode", "--protocol", "legacy",
                             WAKEUP_SHORT_350535.hex(), "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["packet"] == WAKEUP_SHORT_350535.hex() + "00"
    assert err.count("\n") == 1 and err.startswith("pumplab: warning: HEX: the packet is not a "
                                                   "valid legacy frame (A7 frame must be 7 or 71")
    assert "give it without its checksum" in err


# --------------------------------------------------------------------------
# bad input: one line naming the field, exit 2, nothing on stdout, no file


@pytest.mark.parametrize(("argv", "line"), [
    (["decode", "--protocol", "legacy", ""], "HEX: empty hex string"),
    (["decode", "--protocol", "legacy", "   "], "HEX: empty hex string"),
    (["decode", "--protocol", "legacy", "a96"], "HEX: odd number of hex digits (3)"),
    (["decode", "--protocol", "legacy", "a7zz"], "HEX: non-hex character(s) 'z'"),
    (["decode", "--protocol", "legacy", "a7 35"], "HEX: non-hex character(s) ' '"),
    (["decode", "--protocol", "legacy", "0xa7"], "HEX: non-hex character(s) 'x'"),
    (["decode", "--protocol", "legacy", "a7\n35"], "HEX: non-hex character(s) '\\n'"),
    (["decode", "--protocol", "legacy", "ffff"], "HEX: not the on-air bytes of a legacy frame: "
                                                 "4b6b: invalid 6-bit symbol"),
    (["decode", "--protocol", "legacy", "00"], "HEX: not the on-air bytes of a legacy frame"),
    (["decode", "--protocol", "secure", "a968"], "--protocol: unknown value 'secure' "
                                                 "(allowed: legacy)"),
    (["decode", "--protocol", "", "a968"], "--protocol: unknown value '' (allowed: legacy)"),
    (["decode", "a968e55658e594d555d1a000"], "--protocol: missing (required with HEX) "
                                             "(allowed: legacy)"),
    (["decode", "--protocol", "legacy"], "HEX: missing"),
    (["decode"], "HEX: missing"),
    (["decode", "--protocol"], "--protocol: needs a value"),
    (["encode", "--protocol", "legacy", ""], "HEX: empty hex string"),
    (["encode", "--protocol", "legacy", "a73"], "HEX: odd number of hex digits (3)"),
    (["encode", "--protocol", "legacy", "a7g5"], "HEX: non-hex character(s) 'g'"),
    (["encode", "--protocol", "secure", "a735"], "--protocol: unknown value 'secure' "
                                                 "(allowed: legacy)"),
    (["encode", "a735"], "--protocol: missing (required with HEX) (allowed: legacy)"),
    (["encode", "--protocol", "legacy"], "HEX: missing (required)"),
])  # fmt: skip
def test_bad_hex_and_protocols_are_one_line_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: list[str], line: str,
) -> None:
    """Malformed, odd, non-hex, empty, undecodable input and unknown protocols: exit 2."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "radio", *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith(f"pumplab: error: {line}"), err
    assert list(tmp_path.iterdir()) == []


def test_the_protocol_registry_lists_what_it_knows() -> None:
    """One name today; an unknown one is an InputError listing the allowed names."""
    assert PROTOCOL_NAMES == ("legacy",)
    assert load_protocol("legacy").name == "legacy"
    with pytest.raises(InputError, match=r"--protocol: unknown protocol 'secure' "
                                         r"\(allowed: legacy\)"):
        load_protocol("secure")


# --------------------------------------------------------------------------
# decode --capture


@pytest.fixture(scope="module")
def capture_text() -> str:
    """The capture the medium wrote during the small exchange (legacy_air_capture)."""
    run = captured_exchange()
    # The exchange itself went as planned: a bolus ACKed, the status read answered.
    assert [type(o).__name__ for o in run.outcomes] == ["Completed", "Completed"]
    assert run.boluses == [1.5]
    return run.capture


@pytest.fixture
def capture(tmp_path: Path, capture_text: str) -> Path:
    path = tmp_path / "air.jsonl"
    path.write_text(capture_text, encoding="utf-8")
    return path


def summary_json(capsys: pytest.CaptureFixture[str], path: Path, *extra: str
                 ) -> tuple[dict[str, Any], str]:
    code, out, err = run_cli(capsys, "radio", "decode", "--capture", str(path), "--json", *extra)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    assert next(iter(document)) == "schema" and document["schema"] == "pumplab.radio-capture/1"
    return document, err


def test_capture_summary_of_a_simulated_exchange(
    capsys: pytest.CaptureFixture[str], capture: Path
) -> None:
    """Frames per transmitter and type, serials and peripheral ids, commands seen."""
    document, err = summary_json(capsys, capture)
    assert err == ""
    assert document == {
        "schema": "pumplab.radio-capture/1",
        "capture": str(capture),
        "protocol": "legacy",
        # bolus: command, ACK, arguments, ACK; status: read, answer; meter,
        # remote, sensor; the attacker's burst (one line, 256 copies) and junk.
        "frames": 11,
        "repetitions": 10 + 256,
        "undecodable": 1,
        "first_t_ms": document["first_t_ms"],
        "last_t_ms": document["last_t_ms"],
        "channels": {"legacy-quiet": 11},
        "by_transmitter": {
            "attacker": {"pump": 1, "undecodable": 1},
            "bridge": {"pump": 3},
            "cgm": {"sensor": 1},
            "meter": {"meter": 1},
            "pump": {"pump": 3},
            "remote": {"remote": 1},
        },
        "pump_serials": sorted([OTHER_PUMP_ID.hex(), PUMP_ID.hex()]),
        "peripheral_ids": {"meter": [METER_ID.hex()], "remote": [REMOTE_ID.hex()],
                           "sensor": [SENSOR_ID.hex()]},
        "commands": [
            {"message_type": 0x06, "message": "ack", "short_frames": 2, "long_frames": 0},
            {"message_type": 0x42, "message": "bolus", "short_frames": 1, "long_frames": 1},
            {"message_type": 0x5D, "message": "power_on", "short_frames": 1, "long_frames": 0},
            {"message_type": 0xCE, "message": "read_status", "short_frames": 1,
             "long_frames": 1},
        ],
        "packet_mismatch": [],
    }  # fmt: skip
    assert 0 <= document["first_t_ms"] < document["last_t_ms"]


def test_capture_summary_as_tables(capsys: pytest.CaptureFixture[str], capture: Path) -> None:
    """Four tables: overview, frames per transmitter and type, ids, commands."""
    code, out, err = run_cli(capsys, "radio", "decode", "--capture", str(capture))
    assert (code, err) == (0, "")
    rows = [line.split() for line in out.splitlines()]
    for title in (["capture"], ["frames", "per", "transmitter", "and", "type"], ["ids", "seen"],
                  ["commands", "seen"]):
        assert title in rows
    assert ["frames", "11"] in rows and ["repetitions", "266"] in rows
    assert ["attacker", "undecodable", "1"] in rows and ["bridge", "pump", "3"] in rows
    assert ["pump", "123456,", "665455"] in rows and ["remote", "411525"] in rows
    assert ["bolus", "0x42", "1", "1"] in rows and ["power_on", "0x5d", "1", "0"] in rows


def test_capture_frames_are_decoded_from_their_air(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], capture: Path, capture_text: str
) -> None:
    """Null packets change nothing; a packet that is not its air is named in a warning."""
    reference, _ = summary_json(capsys, capture)
    lines = [json.loads(line) for line in capture_text.splitlines()]
    nulled = tmp_path / "nulled.jsonl"
    nulled.write_text("".join(json.dumps({**d, "packet": None}) + "\n" for d in lines))
    document, err = summary_json(capsys, nulled)
    assert err == "" and {**document, "capture": ""} == {**reference, "capture": ""}

    lines[2]["packet"] = METER_142.hex()  # hand-edited: line 3 claims to be a meter frame
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(d) + "\n" for d in lines))
    document, err = summary_json(capsys, edited)
    assert document["packet_mismatch"] == [3]
    assert document["peripheral_ids"] == reference["peripheral_ids"]
    assert err == (f"pumplab: warning: {edited}: 1 line(s) carry a packet that is not their "
                   "decoded air (first: line 3); the air was used\n")


def test_an_empty_capture_is_summarised_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No frames is not an error, but it is said."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    document, err = summary_json(capsys, empty)
    assert document["frames"] == 0 and document["commands"] == []
    assert err == f"pumplab: warning: {empty}: no frames (an empty capture)\n"


def _bad_captures(tmp_path: Path, text: str) -> list[tuple[list[str], str]]:
    lines = text.splitlines(keepends=True)
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text(lines[0] + lines[1].replace('"ok": true', '"ok": 1', 1))
    no_air = tmp_path / "no_air.jsonl"
    no_air.write_text(lines[0].replace('"air"', '"aria"'))
    odd_air = tmp_path / "odd_air.jsonl"
    odd_air.write_text(lines[0].replace('"air": "', '"air": "a', 1))
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(lines[0].encode() + b"\xff\xfe{}\n")
    last = len(lines)
    return [
        (["--capture", str(truncated)],
         f"{truncated} line {last}: not a complete JSON object (truncated or malformed)"),
        (["--capture", str(malformed)],
         f"{malformed} line 2, field 'rx.bridge.ok': must be true or false, got 1"),
        (["--capture", str(no_air)], f"{no_air} line 1, field 'aria': unknown key"),
        (["--capture", str(odd_air)], f"{odd_air} line 1, field 'air': must be a non-empty hex "
                                      "string of whole bytes"),
        (["--capture", str(binary)], f"{binary} line 2: not UTF-8 text"),
        (["--capture", str(tmp_path / "missing.jsonl")],
         f"--capture: file '{tmp_path / 'missing.jsonl'}' does not exist"),
        (["--capture", str(tmp_path)], f"--capture: file '{tmp_path}' is a directory"),
        (["--capture", str(truncated), "--protocol", "secure"],
         "--protocol: unknown value 'secure' (allowed: legacy)"),
        (["--capture", str(truncated), "a968"], "HEX: cannot be combined with --capture"),
    ]  # fmt: skip


def test_bad_captures_are_one_line_naming_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], capture_text: str
) -> None:
    """A truncated or malformed line, a missing file: one error, exit 2, no partial summary."""
    for argv, line in _bad_captures(tmp_path, capture_text):
        before = sorted(tmp_path.iterdir())
        code, out, err = run_cli(capsys, "radio", "decode", *argv, "--json")
        assert (code, out) == (2, ""), argv
        assert err.count("\n") == 1 and err.startswith(f"pumplab: error: {line}"), (argv, err)
        assert sorted(tmp_path.iterdir()) == before


# --------------------------------------------------------------------------
# docs


def test_docs_describe_the_radio_commands_and_their_schemas() -> None:
    """docs/cli.md documents every key of the three schemas; the README lists the command."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    sections = {m.group(1): m.group(2) for m in re.finditer(
        r"^### `(pumplab\.radio-[a-z]+/1)`\n(.*?)(?=^#)", text, flags=re.MULTILINE | re.DOTALL)}
    assert set(sections) == {"pumplab.radio-decode/1", "pumplab.radio-encode/1",
                             "pumplab.radio-capture/1"}
    for key in DECODE_KEYS:
        assert f"`{key}`" in sections["pumplab.radio-decode/1"], key
    for key in ("packet", "air"):
        assert f"`{key}`" in sections["pumplab.radio-encode/1"], key
    for key in ("capture", "protocol", "frames", "repetitions", "undecodable", "first_t_ms",
                "last_t_ms", "channels", "by_transmitter", "pump_serials", "peripheral_ids",
                "commands", "message_type", "message", "short_frames", "long_frames",
                "packet_mismatch"):
        assert f"`{key}`" in sections["pumplab.radio-capture/1"], key
    assert "`pumplab radio decode" in (ROOT / "README.md").read_text(encoding="utf-8")

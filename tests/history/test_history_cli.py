"""The ``pumplab history`` command: verify, show and export."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from history_strategies import T0_CLOCK_MS

from pumplab.cli.main import main
from pumplab.devices.history import SqliteHistory


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A small history: boot, a basal rate, a meter BG, a bolus with two strokes."""
    path = tmp_path / "pump.db"
    with SqliteHistory(path, device_serial="123456") as store:

        def add(record_kind: str, device_ms: int, /, **data: object) -> None:
            store.append(
                record_kind, data, device_time_ms=device_ms, clock_ms=T0_CLOCK_MS + device_ms
            )

        add("boot", 0, serial="123456", mode="legacy", model="523", recovered=False)
        add("basal_rate", 0, rate_u_per_h=0.8, source="schedule", pattern="standard")
        add("meter_bg", 60_000, bg_mg_dl=140, meter="contour")
        add(
            "bolus_start",
            61_000,
            bolus_id=1,
            kind="normal",
            source="buttons",
            requested_u=0.2,
            normal_u=0.2,
            square_u=0.0,
            square_duration_min=0,
            wizard=None,
        )
        add("stroke", 63_000, what="bolus", bolus_id=1, amount_u=0.1, bolus_delivered_u=0.1)
        add("stroke", 65_000, what="bolus", bolus_id=1, amount_u=0.1, bolus_delivered_u=0.2)
        add("bolus_end", 65_001, bolus_id=1, requested_u=0.2, delivered_u=0.2, reason="completed")
    return path


def _damage(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute('UPDATE records SET data = \'{"bg_mg_dl":40,"meter":"contour"}\' WHERE seq = 3')
    conn.commit()
    conn.close()


def _files(directory: Path) -> list[str]:
    """Files in a directory, without SQLite's -wal/-shm companions of a WAL file."""
    return sorted(n for n in os.listdir(directory) if not n.endswith(("-wal", "-shm")))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["history", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------
# verify


def test_verify_ok_exits_zero_with_the_head(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A good file: exit 0 and 'ok: N records, head SEQ:HASH'."""
    code, out, _ = _run(capsys, "verify", str(history))
    assert code == 0
    assert out.startswith("ok: 7 records, head 7:")


def test_verify_damaged_exits_one_with_one_line(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged file: exit 1 and exactly one line 'record N: reason'."""
    _damage(history)
    code, out, _ = _run(capsys, "verify", str(history))
    assert code == 1
    assert out.splitlines() == ["record 3: hash mismatch (the record was altered)"]


def test_verify_json_reports_every_field(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one object with ok, records, first_bad_seq, reason and the head."""
    _damage(history)
    code, out, _ = _run(capsys, "verify", str(history), "--json")
    report = json.loads(out)
    assert code == 1 and report["schema"] == "pumplab.history-verify/1"
    assert (report["ok"], report["first_bad_seq"], report["records"]) == (False, 3, 2)
    assert set(report) == {
        "schema",
        "path",
        "ok",
        "records",
        "wal_records",
        "first_bad_seq",
        "reason",
        "head_seq",
        "head_hash",
    }


def test_verify_expect_head_finds_a_cut_tail(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--expect-head with a head the file no longer reaches fails at the first lost record."""
    _, out, _ = _run(capsys, "verify", str(history), "--json")
    head = json.loads(out)
    conn = sqlite3.connect(history)
    conn.execute("DELETE FROM records WHERE seq > 5")
    conn.commit()
    conn.close()
    code, out, _ = _run(
        capsys, "verify", str(history), "--expect-head", f"{head['head_seq']}:{head['head_hash']}"
    )
    assert code == 1
    assert out.startswith("record 6: missing")


@pytest.mark.parametrize("head", ["7", "x:" + "0" * 64, "0:" + "0" * 64, "7:abc", "7:" + "G" * 64])
def test_verify_rejects_a_malformed_expected_head(
    history: Path, head: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed --expect-head is a usage error: one line, exit 2."""
    code, _, err = _run(capsys, "verify", str(history), "--expect-head", head)
    assert code == 2
    assert err.startswith("pumplab: error: --expect-head: ") and "SEQ:HASH" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("action", [["verify"], ["show"], ["export", "--format", "nightscout"]])
def test_a_missing_file_is_one_line_and_creates_nothing(
    tmp_path: Path, action: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """verify, show and export of a missing path: one error line, exit 2, no file made."""
    missing = tmp_path / "missing.db"
    code, _, err = _run(capsys, action[0], str(missing), *action[1:])
    assert code == 2
    assert err.splitlines() == [f"pumplab: error: PATH: file '{missing}' does not exist"]
    assert os.listdir(tmp_path) == []


def test_verify_of_a_file_that_is_not_a_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Random bytes: exit 1 and one line saying it is not a pumplab history."""
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database at all" * 100)
    code, out, _ = _run(capsys, "verify", str(path))
    assert code == 1
    assert len(out.splitlines()) == 1 and "not a pumplab history" in out


# --------------------------------------------------------------------------
# show


def test_show_prints_a_table(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The table has a header and one line per record with seq, times, kind and data."""
    code, out, _ = _run(capsys, "show", str(history))
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["seq", "device", "time", "clock", "(UTC)", "kind", "data"]
    assert len(lines) == 8
    assert lines[3].split()[:4] == ["3", "0:01:00.000", "2024-01-01T08:01:00.000Z", "meter_bg"]


def test_show_json_is_json_lines(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one record object per line, with hashes and the schema on each line."""
    _, out, _ = _run(capsys, "show", str(history), "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert {r["schema"] for r in records} == {"pumplab.history-record/1"}
    assert [r["seq"] for r in records] == list(range(1, 8))
    assert records[2]["data"] == {"bg_mg_dl": 140, "meter": "contour"}
    assert records[1]["prev_hash"] == records[0]["hash"]


def test_show_filters_by_since_kind_and_limit(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--since, --kind and --limit select records after SEQ, of KIND, at most N."""
    _, out, _ = _run(capsys, "show", str(history), "--json", "--kind", "stroke", "--limit", "1")
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [5]
    _, out, _ = _run(capsys, "show", str(history), "--json", "--since", "5")
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [6, 7]


def test_show_of_an_undecodable_row_is_one_line(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row that cannot be decoded gives one error line naming the record."""
    conn = sqlite3.connect(history)
    conn.execute("UPDATE records SET data = 'garbage' WHERE seq = 4")
    conn.commit()
    conn.close()
    code, _, err = _run(capsys, "show", str(history))
    assert code == 1
    assert len(err.splitlines()) == 1 and "record 4" in err


# --------------------------------------------------------------------------
# export


def test_export_nightscout_to_stdout(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """export --format nightscout prints a JSON array of treatments."""
    code, out, _ = _run(capsys, "export", str(history), "--format", "nightscout")
    docs = json.loads(out)
    assert code == 0
    assert [d["eventType"] for d in docs] == ["BG Check", "Bolus", "Note"]


def test_export_tidepool_to_a_file(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """export --format tidepool --out FILE writes the array there and nothing to stdout."""
    out_file = tmp_path / "tidepool.json"
    code, out, _ = _run(
        capsys, "export", str(history), "--format", "tidepool", "--out", str(out_file)
    )
    assert (code, out) == (0, "")
    docs = json.loads(out_file.read_text())
    assert [d["type"] for d in docs] == ["basal", "bolus"]
    assert _files(tmp_path) == ["pump.db", "tidepool.json"]


def test_export_of_a_damaged_history_writes_nothing(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A history that does not verify is not exported and an existing output is untouched."""
    _damage(history)
    out_file = tmp_path / "ns.json"
    out_file.write_text("previous export\n")
    code, out, err = _run(
        capsys, "export", str(history), "--format", "nightscout", "--out", str(out_file)
    )
    assert (code, out) == (1, "")
    assert "record 3: hash mismatch" in err and len(err.splitlines()) == 1
    assert out_file.read_text() == "previous export\n"
    assert _files(tmp_path) == ["ns.json", "pump.db"]


def test_export_refuses_to_overwrite_the_history(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming the history file itself is refused and the history survives."""
    code, _, err = _run(
        capsys, "export", str(history), "--format", "tidepool", "--out", str(history)
    )
    assert code == 2
    assert "refusing to overwrite the history" in err
    assert _run(capsys, "verify", str(history))[0] == 0


@pytest.mark.parametrize("where", ["directory", "missing parent"])
def test_export_to_an_unusable_path_is_refused_before_reading(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, where: str,
) -> None:
    """--out that is a directory or lies in a missing directory fails first, naming that path."""
    verified: list[str] = []
    monkeypatch.setattr("pumplab.devices.history.verify_file",
                        lambda *a, **k: verified.append("called"))  # fmt: skip
    target = tmp_path if where == "directory" else tmp_path / "nodir" / "ns.json"
    code, out, err = _run(
        capsys, "export", str(history), "--format", "nightscout", "--out", str(target)
    )
    assert (code, out) == (2, "")
    assert err.startswith(f"pumplab: error: {target}: ") and len(err.splitlines()) == 1
    assert ".tmp" not in err and not verified
    assert _files(tmp_path) == ["pump.db"]


def test_history_without_an_action_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`pumplab history` alone prints its usage and exits 2."""
    code, out, _ = _run(capsys)
    assert code == 2
    assert "verify" in out and "export" in out


def test_show_prints_a_clock_beyond_the_calendar_as_milliseconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A forged log with a clock past year 9999 is still shown, with the raw milliseconds."""
    path = tmp_path / "forged.sqlite"
    with SqliteHistory(path) as store:
        store.append("clock_set", {"old_clock_ms": 0, "new_clock_ms": 10**15, "source": "radio"},
                     device_time_ms=0, clock_ms=10**15)
    code, out, err = _run(capsys, "show", str(path))
    assert code == 0, err
    assert f"{10**15} ms (not a date)" in out


def test_show_knows_the_record_kinds_of_the_history_doc() -> None:
    """`--kind` accepts the kinds of docs/history.md's table, no more and no fewer."""
    import re

    from pumplab.cli.history import RECORD_KINDS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "history.md").read_text()
    table = doc.split("### Record kinds", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    documented = {
        kind
        for line in table.splitlines()
        for kind in re.findall(r"`([a-z_]+)`", line.split("|")[1])
    }
    assert documented == set(RECORD_KINDS)
    assert len(RECORD_KINDS) == len(set(RECORD_KINDS))


def test_verify_reports_a_file_that_makes_the_reader_raise_as_not_verified(
    history: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Should the library raise on a damaged file, verify still fails as a check: one line, 1."""

    def damaged(*args: object, **kwargs: object) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr("pumplab.devices.history.verify_file", damaged)
    code, out, err = _run(capsys, "verify", str(history), "--json")
    assert (code, err) == (1, "")
    report = json.loads(out)
    assert report["ok"] is False and "malformed" in report["reason"]

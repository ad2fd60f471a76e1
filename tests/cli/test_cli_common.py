"""The shared helpers of every command (pumplab.cli._common): option parsers, JSON, files,
tables and progress bars."""

from __future__ import annotations

import io
import json
import math
import os
import stat
from pathlib import Path
from typing import IO, Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from pumplab.cli import _common
from pumplab.cli._common import (
    ALL,
    choice,
    emit_json,
    emit_json_line,
    finite_float,
    int_range,
    json_ready,
    name_list,
    new_table,
    place_file,
    print_table,
    progress,
    resolve_names,
    write_atomically,
)
from pumplab.errors import InputError

# -- option parsers ----------------------------------------------------------------------

HOURS = finite_float(low=0, high=336, low_open=True, unit="h")


@pytest.mark.parametrize("text", ["1", "0.5", "336", "1e1", "+2", ".5", "24.0"])
def test_finite_float_accepts_ascii_decimals_in_range(text: str) -> None:
    """Plain ASCII decimals within the range parse to their value."""
    assert HOURS(text) == float(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("nan", "is not a finite number"),
        ("-inf", "is not a finite number"),
        ("Infinity", "is not a finite number"),
        ("1e999", "is not a finite number"),
        ("0", "is out of range"),
        ("336.5", "is out of range"),
        ("-1", "is out of range"),
        ("1_0", "is not a number"),  # Python's float() reads 10
        (" 1", "is not a number"),  # Typer strips and accepts it
        ("\u0661", "is not a number"),  # Arabic-Indic one: float() reads 1
        ("", "is not a number"),
        ("1,5", "is not a number"),  # no decimal comma
    ],
)
def test_finite_float_refuses_nan_infinity_and_non_ascii_stating_the_range(
    text: str, problem: str
) -> None:
    """Every refusal says why and states the range."""
    with pytest.raises(typer.BadParameter) as info:
        HOURS(text)
    assert problem in info.value.message and "(allowed: 0 < x <= 336 h" in info.value.message


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_finite_float_never_returns_a_non_finite_or_out_of_range_value(value: float) -> None:
    """Whatever the text of a float, the result is finite and in range, or refused."""
    for text in (repr(value), str(value)):
        try:
            parsed = HOURS(text)
        except typer.BadParameter:
            continue
        assert math.isfinite(parsed) and 0 < parsed <= 336


def test_finite_float_checks_a_declared_default_too() -> None:
    """Typer hands the parser the declared default; it is checked like typed text."""
    assert HOURS(24.0) == 24.0
    with pytest.raises(typer.BadParameter):
        HOURS(math.nan)


def test_int_range_is_inclusive_and_ascii() -> None:
    """Bounds included; fractions, exponents and other scripts refused."""
    parse = int_range(low=1, high=10, unit="min")
    assert (parse("1"), parse("10"), parse(5)) == (1, 10, 5)
    for text in ("0", "11", "1.0", "1e1", "\u0663", "1_0", "99999999999999999999999"):
        with pytest.raises(typer.BadParameter, match=r"\(allowed: an integer 1..10 min\)"):
            parse(text)


def test_choice_lists_the_allowed_values() -> None:
    """An unknown value names every allowed one; matching is exact."""
    parse = choice(("secure", "legacy"))
    assert parse("legacy") == "legacy"
    with pytest.raises(typer.BadParameter, match=r"'Secure' \(allowed: secure, legacy\)"):
        parse("Secure")


def test_name_list_splits_one_comma_separated_value() -> None:
    """`a,b` keeps its order (spaces around commas dropped); `all` alone selects all."""
    parse = name_list(what="patient")
    assert parse("adult#002, adult#001") == ("adult#002", "adult#001")
    assert parse(ALL) == (ALL,)
    assert parse(("x",)) == ("x",)  # a declared default


def test_resolve_names_expands_all_and_refuses_unknown_names() -> None:
    """`all` is every known name in their order; an unknown name lists the allowed ones."""
    known = ("a", "b", "c")
    assert resolve_names("--things", (ALL,), known) == known
    assert resolve_names("--things", ("c", "a"), known) == ("c", "a")
    with pytest.raises(InputError) as info:
        resolve_names("--things", ("a", "z"), known, what="thing")
    assert str(info.value) == "--things: unknown thing 'z' (allowed: a, b, c, or 'all')"


# -- JSON --------------------------------------------------------------------------------


def test_emit_json_puts_the_schema_first_and_nulls_non_finite_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One object, `schema` first; NaN and infinity (not JSON) become null."""
    emit_json("thing", {"a": [1.0, math.nan], "b": {"c": math.inf}})
    text = capsys.readouterr().out
    assert list(json.loads(text)) == ["schema", "a", "b"]
    assert json.loads(text) == {"schema": "pumplab.thing/1", "a": [1.0, None], "b": {"c": None}}


def test_emit_json_line_is_one_line_with_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """JSON Lines carry the schema on every line."""
    emit_json_line("thing", {"x": "a\nb"})
    emit_json_line("thing", {"x": 2}, version=2)
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["schema"] for line in lines] == ["pumplab.thing/1", "pumplab.thing/2"]


def test_a_body_may_not_bring_its_own_schema() -> None:
    """The schema key is the helper's; a body carrying one is a programming error."""
    with pytest.raises(ValueError, match="schema"):
        emit_json("thing", {"schema": "mine"})


def test_json_ready_keeps_finite_values() -> None:
    assert json_ready({"a": (1, 2.5, "x", None, True)}) == {"a": [1, 2.5, "x", None, True]}


# -- files -------------------------------------------------------------------------------


def _write(text: str) -> Any:
    def produce(stream: IO[str]) -> None:
        stream.write(text)

    return produce


def test_write_atomically_gives_the_umask_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    """The file gets 0666 minus the umask (not mkstemp's 0600); nothing else is left."""
    old = os.umask(0o027)
    try:
        write_atomically(tmp_path / "out.txt", _write("hello"), option="--out")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").read_text() == "hello"
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["out.txt"]


def test_write_atomically_can_refuse_to_overwrite(tmp_path: Path) -> None:
    """With overwrite=False an existing file is an error naming it, and is untouched."""
    target = tmp_path / "out.txt"
    target.write_text("precious")
    with pytest.raises(InputError, match="refusing to overwrite"):
        write_atomically(target, _write("new"), option="--out", overwrite=False)
    assert target.read_text() == "precious" and os.listdir(tmp_path) == ["out.txt"]


def test_write_atomically_leaves_the_old_file_when_producing_fails(tmp_path: Path) -> None:
    """A failure half-way leaves the previous file as it was and no temporary file."""
    target = tmp_path / "out.txt"
    target.write_text("old")

    def produce(stream: IO[str]) -> None:
        stream.write("half")
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        write_atomically(target, produce, option="--out")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_place_file_never_replaces_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    """A name taken after the up-front checks is still never overwritten."""
    source, target = tmp_path / "new", tmp_path / "taken"
    source.write_text("new")
    target.write_text("theirs")
    with pytest.raises(InputError, match="already exists"):
        place_file(source, target, overwrite=False)
    assert target.read_text() == "theirs"


# -- tables ------------------------------------------------------------------------------


def test_a_table_into_a_pipe_keeps_each_row_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """However wide, a row is one line (for grep and awk), with no trailing spaces."""
    table = new_table(("n", "right"), "text")
    table.add_row("1", "x" * 500)
    table.add_row("10", "short")
    print_table(table)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["n", "text"]
    assert lines[1] == " 1  " + "x" * 500 and lines[2] == "10  short"


# -- progress ----------------------------------------------------------------------------


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_and_stays_silent_otherwise(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bar on stderr only when it is a terminal and --quiet was not given."""
    with progress("working", 3, quiet=False) as update:  # stderr captured: not a terminal
        update(3)
    assert capsys.readouterr().err == ""
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with progress("working", 3, quiet=True) as update:
        update(3)
    assert terminal.getvalue() == ""
    with progress("working", 3, quiet=False, unit="things") as update:
        for done in range(1, 4):
            update(done)
    assert "working" in terminal.getvalue() and "3/3" in terminal.getvalue()


def test_long_commands_report_progress_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A population run and a run draw their bars (on stderr, not in the output)."""
    from pumplab.cli.main import main

    calls: list[tuple[str, int]] = []
    real = _common.progress

    def spy(description: str, total: int, **kwargs: Any) -> Any:
        calls.append((description, total))
        return real(description, total, **kwargs)

    monkeypatch.setattr("pumplab.cli.patient.progress", spy)
    monkeypatch.setattr("pumplab.cli.run.progress", spy)
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    inputs = tmp_path / "in.csv"
    inputs.write_text("minute,carbs_g,insulin_u\n0,0,0\n")
    assert main(["patient", "simulate", "--population", "4", "--inputs", str(inputs),
                 "--json"]) == 0  # fmt: skip
    assert main(["run", "--hours", "1", "--meals", "fasting", "--json",
                 "--out-dir", str(tmp_path / "o")]) == 0  # fmt: skip
    assert calls == [("4 patient(s), 1 min", 4), ("1 patient(s), 1 h", 60)]
    assert "4/4" in terminal.getvalue() and "60/60" in terminal.getvalue()
    out, decoder, documents = capsys.readouterr().out, json.JSONDecoder(), []
    position = 0
    while position < len(out):  # stdout holds the two JSON documents and nothing else
        document, position = decoder.raw_decode(out, position)
        documents.append(document["schema"])
        position += 1  # the newline after each
    assert documents == ["pumplab.simulation/1", "pumplab.run/1"]


def test_table_cells_are_shown_exactly_never_as_markup(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record holding '[bold]' or ':smile:' is evidence: printed as is, pipe or terminal."""
    text = '{"note": "[bold]x[/bold] [red]y :smile:"}'
    table = new_table("data")
    table.add_row(text)
    print_table(table)
    assert capsys.readouterr().out.splitlines()[1] == text
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    print_table(table)
    assert text in terminal.getvalue()

"""The threat model's hazard table cites only tests that exist, and keeps its own rules.

docs/threat-model.md and docs/regulatory.md name verifying tests as
``tests/PATH.py::test_name``.  Every such name must be a test function (or a
``Class::test_method``) defined in that file today, found by parsing the file
(no import, so no test module runs).  Verification that belongs to work not
built yet is written ``planned (issue N)``, never as a test name; a row with
no verification at all, a severity off the scale, or a residual risk cited
but not stated fails here.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("docs/threat-model.md", "docs/regulatory.md")

#: ``tests/x/y.py::test_name`` or ``tests/x/y.py::TestClass::test_name`` (a
#: parametrize id in brackets is allowed and ignored).
TEST_REF = re.compile(r"(tests/[\w/.-]+\.py)::((?:\w+::)?\w+)(?:\[[^\]]*\])?")
PLANNED = re.compile(r"planned \(issue \d+\)")
NOT_PLANNED = "not planned in any issue"
HEADER = ["ID", "Hazard", "Cause / sequence of events", "Harm", "Severity",
          "Mitigation (design control)", "Verification"]  # fmt: skip
SEVERITY = re.compile(r"^S[1-5]( \([a-z ]+\))?$")


@dataclass(frozen=True)
class Row:
    line: int
    cells: list[str]

    @property
    def ident(self) -> str:
        return self.cells[0]


@cache
def defined_tests(path: str) -> frozenset[str]:
    """The test functions of a test file: ``test_x`` and ``TestClass::test_x``."""
    return names_of_tests((ROOT / path).read_text(encoding="utf-8"), path)


def names_of_tests(source: str, filename: str = "<source>") -> frozenset[str]:
    """The test functions a module's source defines at top level or in a class."""
    tree = ast.parse(source, filename=filename)
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(f"{node.name}::{item.name}")
    return frozenset(name for name in names if name.split("::")[-1].startswith("test_"))


def missing_tests(text: str) -> list[str]:
    """Every test reference in ``text`` that names no test defined today."""
    missing = []
    for match in TEST_REF.finditer(text):
        path, name = match.group(1), match.group(2)
        if not (ROOT / path).is_file():
            missing.append(f"{path}::{name} (no such file)")
        elif name not in defined_tests(path):
            missing.append(f"{path}::{name} (no such test in the file)")
    return missing


def hazard_rows(text: str) -> list[Row]:
    """The rows of the hazard table (the table whose header is :data:`HEADER`)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _cells(line) == HEADER:
            rows = []
            for j in range(i + 2, len(lines)):  # skip the |---| line
                if not lines[j].startswith("|"):
                    break
                rows.append(Row(j + 1, _cells(lines[j])))
            return rows
    raise AssertionError("no hazard table with the expected header")


def _cells(line: str) -> list[str]:
    if not line.startswith("|") or not line.rstrip().endswith("|"):
        return []
    return [cell.strip() for cell in line.strip()[1:-1].split("|")]


def row_problems(rows: list[Row]) -> list[str]:
    """Every way the hazard rows break the table's rules."""
    found = []
    for index, row in enumerate(rows, start=1):
        where = f"line {row.line}"
        if len(row.cells) != len(HEADER):
            found.append(f"{where}: {len(row.cells)} cells, not {len(HEADER)}")
            continue
        if row.ident != f"H-{index:02d}":
            found.append(f"{where}: id {row.ident!r} where H-{index:02d} belongs")
        if not all(row.cells):
            found.append(f"{where} ({row.ident}): an empty cell")
        if not SEVERITY.match(row.cells[4]):
            found.append(f"{where} ({row.ident}): severity {row.cells[4]!r} is not S1..S5")
        verification = row.cells[6]
        if not (TEST_REF.search(verification) or PLANNED.search(verification)
                or NOT_PLANNED in verification):  # fmt: skip
            found.append(f"{where} ({row.ident}): no test, no 'planned (issue N)', no "
                         f"'{NOT_PLANNED}'")  # fmt: skip
        for word in re.finditer(r"planned[^;<]*", verification):
            text = word.group(0)
            if not (PLANNED.match(text) or text.startswith("planned in any issue")):
                found.append(f"{where} ({row.ident}): {text!r} is not 'planned (issue N)'")
    return found


def read(doc: str) -> str:
    return (ROOT / doc).read_text(encoding="utf-8")


@pytest.mark.parametrize("doc", DOCS)
def test_every_test_a_document_names_exists(doc: str) -> None:
    """No hazard is verified by a test that is not there: each cited name is defined today."""
    text = read(doc)
    assert TEST_REF.search(text), f"{doc} cites no test at all"
    assert missing_tests(text) == []


def test_the_hazard_table_keeps_its_rules() -> None:
    """Ids in order, seven filled cells, a severity on the scale, a verification in each row."""
    rows = hazard_rows(read("docs/threat-model.md"))
    assert len(rows) >= 30
    assert row_problems(rows) == []


def test_every_residual_risk_and_hazard_cited_is_stated() -> None:
    """An `R-n` the table cites is in the residual risks; an `H-nn` cited anywhere is a row."""
    text = read("docs/threat-model.md")
    residual = text.split("## Residual risks", 1)[1].split("\n## ", 1)[0]
    stated = set(re.findall(r"^- \*\*(R-\d+)\.", residual, flags=re.MULTILINE))
    cited = set(re.findall(r"\b(R-\d+)\b", text))
    assert cited - stated == set()
    rows = {row.ident for row in hazard_rows(text)}
    for doc in DOCS:
        assert set(re.findall(r"\b(H-\d\d)\b", read(doc))) - rows == set(), doc


# --------------------------------------------------------------------------
# The checks themselves can fail


def test_a_reference_to_a_missing_test_is_caught() -> None:
    """A made-up test name, a made-up file, and a helper that is not a test are all reported."""
    text = ("`tests/docs/test_threat_model.py::test_every_test_a_document_names_exists[x]` "
            "`tests/docs/test_threat_model.py::test_that_was_never_written` "
            "`tests/nowhere/test_gone.py::test_x` "
            "`tests/docs/test_threat_model.py::hazard_rows`")  # fmt: skip
    assert missing_tests(text) == [
        "tests/docs/test_threat_model.py::test_that_was_never_written (no such test in the file)",
        "tests/nowhere/test_gone.py::test_x (no such file)",
        "tests/docs/test_threat_model.py::hazard_rows (no such test in the file)",
    ]


def test_test_functions_and_methods_are_found_helpers_are_not() -> None:
    """``test_x`` and ``TestClass::test_y`` count; helpers and nested functions do not."""
    source = (
        "def test_x():\n    def test_nested():\n        pass\n"
        "async def test_async():\n    pass\n"
        "def helper():\n    pass\n"
        "class TestThing:\n    def test_y(self):\n        pass\n    def setup(self):\n"
        "        pass\n"
    )
    assert names_of_tests(source) == {"test_x", "test_async", "TestThing::test_y"}


def test_a_broken_hazard_row_is_caught() -> None:
    """Missing verification, a bad severity, a wrong id, a planned item without its issue."""
    header = "| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER) + "\n"
    table = header + (
        "| H-01 | h | c | harm | S9 | m | `tests/pump/test_api.py::test_ui_helpers_are_public` |\n"
        "| H-03 | h | c | harm | S2 | m | to be done |\n"
        "| H-03 | h | c | harm | S2 | m | planned later |\n"
        "| H-04 | h | c | harm | S2 |\n"
    )
    problems = row_problems(hazard_rows(table))
    assert any("severity 'S9'" in p for p in problems)
    assert any("id 'H-03' where H-02 belongs" in p for p in problems)
    assert any("no test, no 'planned (issue N)'" in p for p in problems)
    assert any("'planned later' is not 'planned (issue N)'" in p for p in problems)
    assert any("5 cells, not 7" in p for p in problems)

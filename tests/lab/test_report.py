"""The HTML report: self-contained, with the run's numbers, figures and tables."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from labkit import short_seed_508

from pumplab.errors import InputError
from pumplab.report import render_report, write_report
from pumplab.report._html import KEY_NUMBERS, format_value
from pumplab.sim.results import RunResult, run_json
from pumplab.sim.runner import run_scenario
from pumplab.sim.scenario import apply_overrides, load_scenario
from pumplab.sim.store import ResultsStore


class Marked(HTMLParser):
    """Collects elements with data-arm/data-key and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], tuple[str, str, str]] = {}
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self._open: tuple[str, str, str, str] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = {k: v or "" for k, v in attrs}
        for key in ("src", "href", "xlink:href", "data"):
            if key in a:
                self.urls.append(a[key])
        if tag == "span" and "data-arm" in a and "data-key" in a:
            self._open = (a["data-arm"], a["data-key"], a.get("data-value", ""), a.get("id", ""))
            self._text = ""

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._open is not None:
            arm, key, value, ident = self._open
            self.values[(arm, key)] = (value, self._text, ident)
            self._open = None


@pytest.fixture(scope="module")
def run() -> RunResult:
    return run_scenario(short_seed_508(hours=3))


@pytest.fixture(scope="module")
def page(run: RunResult) -> str:
    return render_report(run)


def test_key_numbers_are_marked_with_the_json_values(run: RunResult, page: str) -> None:
    """Minimum BG, attacker insulin and TIR per arm: data-value is the JSON number, the text
    its display, the id stable."""
    parser = Marked()
    parser.feed(page)
    doc = run_json(run)
    for arm in ("legacy", "secure", "no_attacker"):
        for key in KEY_NUMBERS:
            value, text, ident = parser.values[(arm, key)]
            assert float(value) == doc[arm][key]
            assert text == format_value(key, doc[arm][key])
            assert ident == f"arm-{arm}-{key}"


def test_report_is_self_contained(page: str) -> None:
    """No script, no external URL, a CSP that forbids fetching; inline SVG figures."""
    parser = Marked()
    parser.feed(page)
    assert "script" not in parser.tags
    assert all(not re.match(r"^(https?:)?//", url) for url in parser.urls), parser.urls
    assert "default-src 'none'" in page
    assert page.count("<svg") >= 3 and "@import" not in page
    # SVG clip paths refer to their own elements (url(#id)); nothing else is referenced.
    assert not re.search(r"url\((?!#)", page)


def test_report_shows_timelines_metrics_and_the_stand_in_notice(page: str) -> None:
    """Each arm's timeline, the metrics tables, and the stand-in notice with what was left out."""
    for arm in ("legacy", "secure", "no_attacker"):
        assert f'id="timeline-{arm}-adult-001-seed1"' in page
    assert 'id="metrics-arms"' in page and 'id="metrics-patients"' in page
    assert 'id="stand-in"' in page and "attackers: neighbour" in page
    assert "no attacker (same seed)" in page  # the baseline's legend in attacked panels
    assert 'id="agp-' not in page  # one day only


def test_multi_day_runs_get_the_ambulatory_glucose_profile() -> None:
    """Two days or more: an AGP figure per patient."""
    week = run_scenario(apply_overrides(load_scenario("open-loop-week"), hours=48))
    assert 'id="agp-adult-001"' in render_report(week)


def test_matrix_runs_get_the_attack_table_and_heat_map() -> None:
    """An attack matrix: one table row per attack arm, and the heat map."""
    scenario = apply_overrides(load_scenario("attack-matrix"), hours=0.25)
    scenario = scenario.model_copy(update={"attackers": scenario.attackers[1:3]})
    page = render_report(run_scenario(scenario))
    assert 'id="attack-matrix"' in page and 'id="attack-matrix-heatmap"' in page
    rows = re.findall(r'<tr data-attack="([^"]+)" data-mode="([^"]+)">', page)
    assert rows == [("forged-bolus", "legacy"), ("forged-bolus", "secure"),
                    ("max-bolus-chain", "legacy"), ("max-bolus-chain", "secure")]


def test_write_report_is_atomic_and_writes_pngs(run: RunResult, tmp_path: Path) -> None:
    """The HTML file appears whole; PNG copies of the figures go to png_dir."""
    path = write_report(run, tmp_path / "out" / "report.html", png_dir=tmp_path / "png")
    assert path.read_text().startswith("<!DOCTYPE html>")
    pngs = sorted(p.name for p in (tmp_path / "png").glob("*.png"))
    assert pngs == ["timeline-legacy-adult-001-seed1.png",
                    "timeline-no_attacker-adult-001-seed1.png",
                    "timeline-secure-adult-001-seed1.png"]
    assert all((tmp_path / "png" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report.html"]
    with pytest.raises(InputError, match="is a directory"):
        write_report(run, tmp_path)


def test_report_from_a_store_without_traces_has_the_tables(tmp_path: Path) -> None:
    """A store written without traces still makes a report: numbers, no figures."""
    with ResultsStore(tmp_path / "r.sqlite") as store:
        run = run_scenario(short_seed_508(hours=0.25), store=store)
        loaded = store.load_run()
    page = render_report(loaded)
    assert "<svg" not in page and "hold no traces" in page
    parser = Marked()
    parser.feed(page)
    assert float(parser.values[("legacy", "min_bg_mg_dl")][0]) == \
        run_json(run)["legacy"]["min_bg_mg_dl"]


def test_figures_are_reproducible(run: RunResult) -> None:
    """The same results render the same page, byte for byte (no dates, salted ids)."""
    assert render_report(run) == render_report(run)

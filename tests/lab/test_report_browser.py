"""The report in a real headless Chromium: it renders cleanly offline, with the JSON's numbers.

Debian's chromium (``/usr/bin/chromium``) driven by Playwright, never a
downloaded browser.  On a fresh machine the session fixture installs it with
``apt-get install -y chromium`` (the README's test command runs as root in
CI); if that fails, the test fails with the reason: it never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from labkit import short_seed_508

from pumplab.report import write_report
from pumplab.report._html import KEY_NUMBERS, format_value
from pumplab.sim.results import run_json
from pumplab.sim.runner import run_scenario

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, env=env,
                          timeout=1800, check=False)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt-get when missing (the test fails if it cannot)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        pytest.fail(f"{CHROMIUM} is missing and there is no apt-get to install it: install "
                    "Debian's chromium package")
    if os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} is missing; installing it needs root: "
                    "run `apt-get install -y chromium` as root")
    done = _apt_get("install", "-y", "chromium")
    if done.returncode != 0:
        # A fresh machine may have no package lists yet.
        _apt_get("update")
        done = _apt_get("install", "-y", "chromium")
    if done.returncode != 0 or not CHROMIUM.exists():
        pytest.fail("could not install chromium with `apt-get install -y chromium` "
                    f"(exit {done.returncode}):\n{done.stderr[-2000:]}")
    return CHROMIUM


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A seed-508 run's report and JSON, served by a loopback HTTP server."""
    run = run_scenario(short_seed_508(hours=4))
    site = tmp_path / "site"
    write_report(run, site / "report.html")
    doc = run_json(run)
    (site / "run.json").write_text(json.dumps(doc))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", doc
    finally:
        server.shutdown()
        server.server_close()


def test_report_renders_offline_without_errors_and_shows_the_json_numbers(
        chromium: Path, served: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    """No console error, no request beyond the page itself; minimum BG, attacker insulin and
    TIR of every arm, as displayed and as marked, equal the pumplab.run/1 JSON."""
    from playwright.sync_api import sync_playwright

    origin, doc = served
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(chromium), headless=True,
            args=FLAGS)
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            response = page.goto(f"{origin}/report.html", wait_until="load")
            assert response is not None and response.ok
            shown = {}
            for arm in ("legacy", "secure", "no_attacker"):
                for key in KEY_NUMBERS:
                    element = page.locator(f'[data-arm="{arm}"][data-key="{key}"]').first
                    assert element.is_visible()
                    shown[(arm, key)] = (element.get_attribute("data-value"),
                                         element.inner_text(), element.get_attribute("id"))
            figures = page.locator("figure svg")
            assert figures.count() == 3
            box = figures.first.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 200
            # The JSON from the same server (an API request: not a page, so no favicon).
            fetched = page.request.get(f"{origin}/run.json").json()
        finally:
            context.close()
    assert errors == []
    assert requests == [f"{origin}/report.html"]
    assert fetched == doc
    for (arm, key), (value, text, ident) in shown.items():
        assert float(value or "nan") == doc[arm][key], (arm, key)
        assert text == format_value(key, doc[arm][key]), (arm, key)
        assert ident == f"arm-{arm}-{key}"

"""HTML of the run report (see :mod:`pumplab.report`)."""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from pumplab.sim.results import (
    ARM_KEYS,
    RunResult,
    TaskResult,
    attacks_json,
    run_json,
)
from pumplab.sim.scenario import NO_ATTACKER

__all__ = ["KEY_NUMBERS", "format_value", "render_report", "write_report"]

#: The key numbers shown per arm, marked for tests: JSON key → label.
KEY_NUMBERS: Final = {
    "min_bg_mg_dl": "minimum BG (mg/dL)",
    "attacker_insulin_u": "insulin the attacker caused (U)",
    "tir_70_180_pct": "time in range 70–180 (%)",
}
#: Two days: from this length on, the report shows the ambulatory glucose profile.
AGP_MIN_MINUTES: Final = 2 * 24 * 60

_CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem;
color:#222;max-width:1400px}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}
.notice{background:#fff4e5;border:1px solid #e69f00;padding:.75rem;margin:1rem 0}
.cards{display:flex;flex-wrap:wrap;gap:1rem}
.card{border:1px solid #ccc;border-radius:6px;padding:.75rem 1rem;min-width:14rem}
.card h3{margin:.1rem 0 .5rem;font-size:1rem}
.card .value{font-size:1.4rem;font-weight:600}
.card .attacked{color:#D55E00}
.figs{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0}figure svg{max-width:100%;height:auto}
figcaption{font-size:.8rem;color:#555}
.scroll{overflow-x:auto;max-width:100%}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem;font-size:.85rem}
dt{font-weight:600}dd{margin:0;font-family:ui-monospace,monospace}
"""

_CSP: Final = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
               "font-src 'none'; script-src 'none'")


def format_value(key: str, value: Any) -> str:
    """How the page shows a JSON value (the browser test compares with this)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if key.endswith("_u"):
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _marked(arm: str, key: str, value: Any, *, cls: str = "value") -> str:
    data_value = "" if value is None else repr(value) if isinstance(value, float) else str(value)
    return (f'<span class="{cls}" id="arm-{_e(arm)}-{_e(key)}" data-arm="{_e(arm)}" '
            f'data-key="{_e(key)}" data-value="{_e(data_value)}">'
            f"{_e(format_value(key, value))}</span>")


def render_report(result: RunResult, *, png_dir: str | os.PathLike[str] | None = None,
                  max_patients: int = 6) -> str:
    """The report of ``result`` as one HTML document (PNGs into ``png_dir`` if given).

    Timelines and AGPs are drawn for the first ``max_patients`` patients (of
    the first seed); the tables cover every patient.
    """
    from pumplab.report import _figures as figs

    doc = run_json(result)
    png = None if png_dir is None else Path(png_dir)
    prov = result.provenance
    parts: list[str] = []
    parts.append(f"<h1>pumplab run — {_e(prov.scenario)}</h1>")
    parts.append(_provenance_html(doc["provenance"]))
    if prov.stand_in:
        parts.append(_stand_in_html(result.results))
    parts.append("<h2>Key numbers per arm</h2>")
    parts.append(_cards_html(result, doc))

    shown = _shown_results(result, max_patients)
    if any(r.traces is not None for r in shown):
        parts.append("<h2>Timelines</h2>")
        parts.append("<p>Shared time axis (hours from the start of the run). Glucose with the "
                     "70–180 mg/dL target band; the dashed grey line is the same patient and "
                     "seed with no attacker. Insulin: basal as a rate, boluses per 5 minutes, "
                     "attacker-caused doses in vermilion.</p>")
        parts.append(_timelines_html(result, shown, png, figs))
        if result.results and result.results[0].minutes >= AGP_MIN_MINUTES:
            parts.append("<h2>Ambulatory glucose profile</h2>")
            parts.append(_agp_html(result, shown, png, figs))
    else:
        parts.append("<p>The results hold no traces (store written without traces): figures "
                     "are omitted; the tables below are complete.</p>")

    parts.append("<h2>Metrics</h2>")
    parts.append(_metrics_html(result, doc))
    if result.is_matrix:
        parts.append("<h2>Attack matrix</h2>")
        parts.append(_matrix_html(result, png, figs))
    body = "\n".join(parts)
    title = f"pumplab run — {prov.scenario}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        # An empty inline icon: otherwise the browser asks the server for /favicon.ico.
        "<link rel=\"icon\" href=\"data:,\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n"
        "</body>\n</html>\n"
    )


def write_report(result: RunResult, path: str | os.PathLike[str], *,
                 png_dir: str | os.PathLike[str] | None = None,
                 max_patients: int = 6) -> Path:
    """Write the report to ``path`` atomically (all or nothing); returns the path."""
    target = Path(path)
    if target.is_dir():
        from pumplab.errors import InputError

        raise InputError("is a directory", source=str(target), allowed="an HTML file path")
    text = render_report(result, png_dir=png_dir, max_patients=max_patients)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# ----------------------------------------------------------------- sections

def _provenance_html(prov: dict[str, Any]) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd id=\"prov-{_e(k)}\">{_e(v)}</dd>"
                   for k, v in prov.items())
    return f"<dl class=\"provenance\">{rows}</dl>"


def _stand_in_html(results: Sequence[TaskResult]) -> str:
    left = sorted({item for r in results for item in r.not_simulated})
    items = "".join(f"<li>{_e(x)}</li>" for x in left) or "<li>(nothing listed)</li>"
    return ("<div class=\"notice\" id=\"stand-in\"><strong>Stand-in results.</strong> These "
            "numbers come from the open-loop day on the in-memory link, run with each arm's "
            "pump mode. The radio, the attacks, the secure link and controllers are not wired "
            "into the lab yet, so no attack ran and attacker insulin is zero by construction. "
            f"Not simulated:<ul>{items}</ul></div>")


def _cards_html(result: RunResult, doc: dict[str, Any]) -> str:
    cards = []
    for arm in result.arms:
        summary = doc.get(arm.name)
        if summary is None:
            continue
        who = ("no attacker" if not arm.attackers
               else "attackers: " + ", ".join(arm.attackers))
        lines = []
        for key, label in KEY_NUMBERS.items():
            cls = "value attacked" if key == "attacker_insulin_u" and summary[key] else "value"
            lines.append(f"<div>{_e(label)}: {_marked(arm.name, key, summary[key], cls=cls)}"
                         "</div>")
        lines.append(f"<div>attack succeeded: "
                     f"{_marked(arm.name, 'attack_succeeded', summary['attack_succeeded'])}"
                     "</div>")
        cards.append(f"<div class=\"card\" data-arm-card=\"{_e(arm.name)}\"><h3>{_e(arm.name)}"
                     f"</h3><div>{_e(arm.mode)} pump, {_e(who)}</div>{''.join(lines)}</div>")
    return f"<div class=\"cards\">{''.join(cards)}</div>"


def _shown_results(result: RunResult, max_patients: int) -> list[TaskResult]:
    first_seed = result.provenance.seeds[0] if result.provenance.seeds else None
    patients = list(dict.fromkeys(r.patient for r in result.results))[:max_patients]
    return [r for r in result.results
            if r.seed == first_seed and r.patient in patients and r.traces is not None]


def _timelines_html(result: RunResult, shown: list[TaskResult], png: Path | None,
                    figs: Any) -> str:
    baseline = {(r.patient, r.seed): r for r in shown if r.arm == NO_ATTACKER}
    x_max = max(r.minutes for r in shown) / 60.0
    bg_max = max(float(r.traces.bg_mg_dl.max()) for r in shown if r.traces is not None)
    out = []
    for patient in dict.fromkeys(r.patient for r in shown):
        blocks = []
        for r in (r for r in shown if r.patient == patient):
            fig = figs.timeline_figure(r, baseline.get((r.patient, r.seed)), x_max_h=x_max,
                                       bg_max_mg_dl=bg_max)
            fid = f"timeline-{_slug(r.arm)}-{_slug(r.patient)}-seed{r.seed}"
            image = figs.render(fig, fid, f"{r.arm}: {r.patient}, seed {r.seed}", png)
            blocks.append(_figure_html(image))
        out.append(f"<h3>{_e(patient)}</h3><div class=\"figs\">{''.join(blocks)}</div>")
    return "\n".join(out)


def _agp_html(result: RunResult, shown: list[TaskResult], png: Path | None, figs: Any) -> str:
    start = datetime.fromisoformat(result.provenance.start)
    minute_of_day = start.hour * 60 + start.minute
    out = []
    for patient in dict.fromkeys(r.patient for r in shown):
        rows = [r for r in shown if r.patient == patient]
        fig = figs.agp_figure(rows, start_minute_of_day=minute_of_day)
        image = figs.render(fig, f"agp-{_slug(patient)}", f"AGP: {patient}", png)
        out.append(_figure_html(image))
    return f"<div class=\"figs\">{''.join(out)}</div>"


def _metrics_html(result: RunResult, doc: dict[str, Any]) -> str:
    keys = list(ARM_KEYS)
    head = "".join(f"<th>{_e(k)}</th>" for k in ["arm", "runs", *keys])
    rows = []
    for arm in result.arms:
        summary = doc.get(arm.name)
        if summary is None:
            continue
        cells = [f"<td>{_e(arm.name)}</td>", f"<td>{summary['runs']}</td>"]
        cells += [f"<td data-arm=\"{_e(arm.name)}\" data-key=\"{_e(k)}\">"
                  f"{_e(format_value(k, summary[k]))}</td>" for k in keys]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    table = (f"<div class=\"scroll\"><table id=\"metrics-arms\"><tr>{head}</tr>"
             f"{''.join(rows)}</table></div>")
    ci_rows = []
    for arm in result.arms:
        ci = (doc.get(arm.name) or {}).get("ci95")
        if ci:
            ci_cells = "".join(f"<td>{_e(_interval(v))}</td>" for v in ci.values())
            ci_rows.append(f"<tr><td>{_e(arm.name)}</td>{ci_cells}</tr>")
    if ci_rows:
        first = next(doc[a.name]["ci95"] for a in result.arms
                     if (doc.get(a.name) or {}).get("ci95"))
        ci_head = "".join(f"<th>{_e(name)}</th>" for name in ["arm", *first])
        table += ("<p>95 % confidence intervals over the arm's runs (Wilson for the success "
                  "rate, seeded percentile bootstrap for means; docs/scale.md).</p>"
                  f"<div class=\"scroll\"><table id=\"metrics-ci\"><tr>{ci_head}</tr>"
                  f"{''.join(ci_rows)}</table></div>")
    phead = "".join(f"<th>{_e(k)}</th>" for k in ["arm", "patient", "seed", *keys])
    prow = []
    for arm in result.arms:
        for p in (doc.get(arm.name) or {}).get("patients", []):
            cells = [f"<td>{_e(arm.name)}</td>", f"<td>{_e(p['patient'])}</td>",
                     f"<td>{p['seed']}</td>"]
            cells += [f"<td>{_e(format_value(k, p[k]))}</td>" for k in keys]
            prow.append(f"<tr>{''.join(cells)}</tr>")
    table += (f"<details><summary>Per patient ({len(prow)} rows)</summary>"
              f"<div class=\"scroll\"><table id=\"metrics-patients\"><tr>{phead}</tr>"
              f"{''.join(prow)}</table></div>"
              "</details>")
    return table


def _interval(value: Iterable[Any] | None) -> str:
    if value is None:
        return "n/a"
    low, high = list(value)
    return f"{low:.3g} – {high:.3g}"


def _matrix_html(result: RunResult, png: Path | None, figs: Any) -> str:
    rows = attacks_json(result)["rows"]
    cols = ["attack", "kind", "mode", "runs", "successes", "success_rate", "success_rate_ci95",
            "attacker_insulin_u", "attacker_insulin_u_ci95", "withheld_insulin_u",
            "min_bg_mg_dl", "tbr_54_pct", "tbr_54_pct_ci95", "detected"]
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            value = r[c]
            text = _interval(value) if c.endswith("_ci95") else format_value(c, value)
            cells.append(f"<td>{_e(text)}</td>")
        body.append(f"<tr data-attack=\"{_e(r['attack'])}\" data-mode=\"{_e(r['mode'])}\">"
                    f"{''.join(cells)}</tr>")
    table = (f"<div class=\"scroll\"><table id=\"attack-matrix\"><tr>{head}</tr>"
             f"{''.join(body)}</table></div>")
    if not rows:
        return table
    image = figs.render(figs.heatmap_figure(rows), "attack-matrix-heatmap",
                        "attack × mode × outcome", png)
    return table + _figure_html(image)


def _figure_html(image: Any) -> str:
    return (f"<figure id=\"{_e(image.figure_id)}\">{image.svg}"
            f"<figcaption>{_e(image.caption)}</figcaption></figure>")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)

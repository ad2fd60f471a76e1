"""The report's figures, drawn with matplotlib without pyplot.

Figures are built as bare :class:`matplotlib.figure.Figure` objects, so no
global backend is switched and no window can open: SVG goes through
matplotlib's SVG backend, PNG through Agg.  matplotlib is imported on first
use (the report is the only part of pumplab that needs it).  Text is written
as paths (``svg.fonttype = path``), so the SVG needs no font, and each figure
gets its own id salt so several inline SVGs in one page never share an id.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from pumplab.sim.results import ATTACKER_SOURCE, TaskResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FigureImage", "agp_figure", "heatmap_figure", "render", "timeline_figure"]

FloatArray = npt.NDArray[np.float64]

# Colours (colour-blind-safe Okabe–Ito palette); the attacker's doses are the
# one vermilion thing on the page.
BG_COLOUR: Final = "#0072B2"
CGM_COLOUR: Final = "#56B4E9"
BASELINE_COLOUR: Final = "#999999"
BASAL_COLOUR: Final = "#009E73"
BOLUS_COLOUR: Final = "#E69F00"
ATTACKER_COLOUR: Final = "#D55E00"
CARBS_COLOUR: Final = "#CC79A7"
EVENT_COLOURS: Final = {"pump": "#D55E00", "person": "#0072B2", "radio": "#6A3D9A",
                        "attacker": "#D55E00"}
TARGET_LOW_MG_DL: Final = 70.0
TARGET_HIGH_MG_DL: Final = 180.0
_BIN_MIN: Final = 5
_BASAL_BIN_MIN: Final = 30


@dataclass(frozen=True, slots=True)
class FigureImage:
    """A rendered figure: its id (file stem), caption, inline SVG, and PNG path if written."""

    figure_id: str
    caption: str
    svg: str
    png_path: Path | None = None


def render(fig: Figure, figure_id: str, caption: str, png_dir: Path | None) -> FigureImage:
    """SVG (inline) and, with ``png_dir``, a PNG file through Agg."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": figure_id, "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    svg = text[text.index("<svg"):]
    png_path = None
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
        png_path = png_dir / f"{figure_id}.png"
        tmp = png_dir / f".{figure_id}.png.tmp"
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
        tmp.replace(png_path)
    return FigureImage(figure_id, caption, svg, png_path)


def _figure(width_in: float, height_in: float, **margins: float) -> Figure:
    from matplotlib.figure import Figure

    # Fixed margins rather than a layout engine: constrained layout costs more
    # than drawing the figure, and these layouts are known in advance.
    fig = Figure(figsize=(width_in, height_in))
    fig.subplots_adjust(**{"left": 0.11, "right": 0.97, "top": 0.93, "bottom": 0.09,
                           "hspace": 0.12, **margins})
    return fig


def _binned(values: FloatArray, bin_min: int) -> FloatArray:
    """Sums over bins of ``bin_min`` minutes (rows 1..; row 0 is the initial state)."""
    data = values[1:]
    n = -(-data.size // bin_min)
    padded = np.zeros(n * bin_min)
    padded[: data.size] = data
    out: FloatArray = padded.reshape(n, bin_min).sum(axis=1)
    return out


def timeline_figure(result: TaskResult, baseline: TaskResult | None, *, x_max_h: float,
                    bg_max_mg_dl: float) -> Figure:
    """One task on the shared time axis: glucose (with the no-attacker trace), insulin,
    carbs, and alarms/radio events."""
    traces = result.traces
    assert traces is not None
    fig = _figure(6.4, 5.6)
    axes = fig.subplots(4, 1, sharex=True, height_ratios=[3.0, 1.6, 1.0, 0.7])
    hours = np.arange(traces.bg_mg_dl.size) / 60.0
    glucose, insulin, carbs, events = axes

    glucose.axhspan(TARGET_LOW_MG_DL, TARGET_HIGH_MG_DL, color="#009E73", alpha=0.12, lw=0,
                    label="target 70–180")
    if baseline is not None and baseline.traces is not None and baseline is not result:
        glucose.plot(hours, baseline.traces.bg_mg_dl, color=BASELINE_COLOUR, lw=1.2, ls="--",
                     label="no attacker (same seed)")
    glucose.plot(hours, traces.bg_mg_dl, color=BG_COLOUR, lw=1.5, label="plasma glucose")
    cgm = ~np.isnan(traces.cgm_mg_dl)
    glucose.plot(hours[cgm], traces.cgm_mg_dl[cgm], ".", color=CGM_COLOUR, ms=2.5,
                 label="CGM readings")
    glucose.set_ylabel("mg/dL")
    glucose.set_ylim(0, max(bg_max_mg_dl, TARGET_HIGH_MG_DL) * 1.05)
    glucose.legend(loc="lower left", fontsize=7, ncols=2, frameon=False)
    glucose.set_title(f"{result.arm} — {result.patient}, seed {result.seed}", fontsize=9)

    basal = np.zeros_like(traces.carbs_g)
    bolus = np.zeros_like(basal)
    attacker = np.zeros_like(basal)
    for source, series in traces.insulin_u.items():
        target = (attacker if source == ATTACKER_SOURCE
                  else basal if source == "basal" else bolus)
        target += series
    # Basal as a rate (U/h, 30-minute means: strokes are discrete); boluses and
    # attacker doses as units per 5-minute bin.  Stairs draw one artist each,
    # however long the run.
    basal_30 = _binned(basal, _BASAL_BIN_MIN)
    insulin.stairs(basal_30 * 60.0 / _BASAL_BIN_MIN,
                   np.arange(basal_30.size + 1) * _BASAL_BIN_MIN / 60.0,
                   color=BASAL_COLOUR, lw=1.0, label="basal (U/h)")
    bolus_5 = _binned(bolus, _BIN_MIN)
    attacker_5 = _binned(attacker, _BIN_MIN)
    edges = np.arange(bolus_5.size + 1) * _BIN_MIN / 60.0
    insulin.stairs(bolus_5, edges, fill=True, color=BOLUS_COLOUR, label="boluses (U/5 min)")
    insulin.stairs(bolus_5 + attacker_5, edges, baseline=bolus_5, fill=True,
                   color=ATTACKER_COLOUR, label="attacker-caused (U/5 min)")
    insulin.set_ylabel("insulin")
    insulin.legend(loc="upper left", fontsize=7, ncols=3, frameon=False)

    carb_minutes = np.flatnonzero(traces.carbs_g > 0)
    carbs.bar(hours[carb_minutes], traces.carbs_g[carb_minutes], width=0.15,
              color=CARBS_COLOUR)
    carbs.set_ylabel("carbs g")

    events.set_yticks([])
    events.set_ylim(0, 1)
    for source, colour in EVENT_COLOURS.items():
        xs = [e.minute / 60.0 for e in result.events if e.source == source]
        if xs:
            events.plot(xs, [0.5] * len(xs), "v", color=colour, ms=5, ls="none",
                        label=f"{source} events")
    if any(e.source in EVENT_COLOURS for e in result.events):
        events.legend(loc="upper right", fontsize=7, ncols=3, frameon=False)
    events.set_ylabel("events", fontsize=8)
    events.set_xlabel("hours from the start of the run")
    events.set_xlim(0, x_max_h)
    for ax in axes:
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    return fig


def agp_figure(results: Sequence[TaskResult], *, start_minute_of_day: int) -> Figure:
    """The ambulatory glucose profile of each result (CGM by time of day).

    Percentiles 5, 25, 50, 75 and 95 of the CGM readings in 15-minute bins of
    the day (the AGP's bands; Bergenstal et al., Diabetes Technol Ther
    2013;15:198), one panel per result.
    """
    fig = _figure(3.2 * max(1, len(results)), 3.0, left=0.2 / max(1, len(results)) + 0.05,
                  bottom=0.16, top=0.88, wspace=0.08)
    axes = np.atleast_1d(fig.subplots(1, max(1, len(results)), sharey=True))
    for ax, result in zip(axes, results, strict=False):
        traces = result.traces
        assert traces is not None
        minutes = np.arange(traces.cgm_mg_dl.size)
        of_day = (minutes + start_minute_of_day) % (24 * 60)
        bins = of_day // 15
        centres: list[float] = []
        p05: list[float] = []
        p25: list[float] = []
        p50: list[float] = []
        p75: list[float] = []
        p95: list[float] = []
        for b in range(96):
            values = traces.cgm_mg_dl[(bins == b) & ~np.isnan(traces.cgm_mg_dl)]
            if values.size == 0:
                continue
            q = np.percentile(values, [5, 25, 50, 75, 95])
            centres.append((b * 15 + 7.5) / 60.0)
            for lst, v in zip((p05, p25, p50, p75, p95), q, strict=True):
                lst.append(float(v))
        ax.axhspan(TARGET_LOW_MG_DL, TARGET_HIGH_MG_DL, color="#009E73", alpha=0.12, lw=0)
        ax.fill_between(centres, p05, p95, color=BG_COLOUR, alpha=0.15, lw=0, label="5–95 %")
        ax.fill_between(centres, p25, p75, color=BG_COLOUR, alpha=0.35, lw=0, label="25–75 %")
        ax.plot(centres, p50, color=BG_COLOUR, lw=1.5, label="median")
        ax.set_xlim(0, 24)
        ax.set_xticks([0, 6, 12, 18, 24])
        ax.set_xlabel("time of day (h)")
        ax.set_title(f"{result.arm} — {result.patient}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("CGM mg/dL")
    axes[0].legend(loc="upper right", fontsize=7, frameon=False)
    return fig


def heatmap_figure(rows: Sequence[dict[str, Any]]) -> Figure:
    """Attack × mode heat maps of three outcomes: success rate, mean attacker
    insulin, minimum BG."""
    attacks = list(dict.fromkeys(str(r["attack"]) for r in rows))
    modes = list(dict.fromkeys(str(r["mode"]) for r in rows))
    outcomes = (("success_rate", "success rate", "Reds", "{:.0%}"),
                ("attacker_insulin_u", "attacker insulin (U, mean)", "Oranges", "{:.1f}"),
                ("min_bg_mg_dl", "minimum BG (mg/dL)", "Blues_r", "{:.0f}"))
    fig = _figure(3.4 * len(outcomes), 1.2 + 0.3 * len(attacks), left=0.13, bottom=0.08,
                  top=1.0 - 0.35 / (1.2 + 0.3 * len(attacks)), wspace=0.25, right=0.98)
    axes = fig.subplots(1, len(outcomes), sharey=True)
    for ax, (key, title, cmap, fmt) in zip(axes, outcomes, strict=True):
        grid = np.full((len(attacks), len(modes)), np.nan)
        for r in rows:
            value = r.get(key)
            if value is not None:
                grid[attacks.index(str(r["attack"])), modes.index(str(r["mode"]))] = value
        finite = grid[~np.isnan(grid)]
        # Fixed scales where the outcome has one, so colours compare across runs.
        vmin, vmax = {"success_rate": (0.0, 1.0),
                      "min_bg_mg_dl": (40.0, 180.0)}.get(
            key, (0.0, max(1.0, float(finite.max()) if finite.size else 1.0)))
        image = ax.imshow(grid, cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
        for (i, j), value in np.ndenumerate(grid):
            if not np.isnan(value):
                ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(modes)), modes, fontsize=8)
        ax.set_yticks(range(len(attacks)), attacks, fontsize=7)
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    return fig

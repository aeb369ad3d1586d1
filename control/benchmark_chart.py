"""An SVG chart of signal benchmark results (pure; no plotting dependency): one panel per
scenario, one horizontal bar per controller with its mean time loss per vehicle and a whisker for
the 95 % interval, the best bar highlighted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

WIDTH = 760
ROW_H = 22
LABEL_W = 120
VALUE_W = 210
PANEL_GAP = 18
TITLE_H = 22


def _title(scenario: dict[str, Any]) -> str:
    return (
        f"{scenario['grid_x']}x{scenario['grid_y']} grid, {scenario['demand_vph']:g} veh/h "
        f"{scenario['pattern']}, seeds {','.join(str(s) for s in scenario['seeds'])}"
    )


def chart_svg(results: Sequence[dict[str, Any]]) -> str:
    """`results`: benchmark JSON objects (`{"scenario": ..., "controllers": ...}`)."""
    if not results:
        raise ValueError("no benchmark results to chart")
    bar_w = WIDTH - LABEL_W - VALUE_W
    parts: list[str] = []
    y = 30.0
    for result in results:
        ctrls: dict[str, dict[str, Any]] = result["controllers"]
        if not ctrls:
            raise ValueError(f"no controllers in the result for {_title(result['scenario'])}")
        top = max(c["mean_time_loss_s"] + c.get("ci95_s", 0.0) for c in ctrls.values())
        scale = bar_w / top if top > 0 else 0.0
        best = min(ctrls, key=lambda n: ctrls[n]["mean_time_loss_s"])
        parts.append(
            f'<text x="0" y="{y + 15:.0f}" font-weight="bold">'
            f"{escape(_title(result['scenario']))}</text>"
        )
        y += TITLE_H
        for name, c in ctrls.items():
            mean = float(c["mean_time_loss_s"])
            ci = float(c.get("ci95_s", 0.0))
            w = mean * scale
            colour = "#1b7837" if name == best else "#8c96a8"
            mid = y + ROW_H / 2
            tele = float(c.get("teleports", 0.0))
            note = f", {tele:g} teleports" if tele else ""
            parts += [
                f'<text x="{LABEL_W - 6}" y="{mid + 4:.0f}" text-anchor="end">'
                f"{escape(name)}</text>",
                f'<rect class="bar" data-controller="{escape(name)}" x="{LABEL_W}" '
                f'y="{y + 3:.0f}" width="{w:.1f}" height="{ROW_H - 6}" fill="{colour}">'
                f"<title>{escape(name)}: {mean:.1f} s ± {ci:.1f}{note}</title></rect>",
                f'<line x1="{LABEL_W + (mean - ci) * scale:.1f}" y1="{mid:.0f}" '
                f'x2="{LABEL_W + (mean + ci) * scale:.1f}" y2="{mid:.0f}" stroke="#222"/>',
                f'<text x="{LABEL_W + (mean + ci) * scale + 6:.1f}" y="{mid + 4:.0f}">'
                f"{mean:.1f} s ± {ci:.1f}{escape(note)}</text>",
            ]
            y += ROW_H
        y += PANEL_GAP
    height = y + 10
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="sans-serif" font-size="12">'
        '<text x="0" y="16" font-size="14" font-weight="bold">'
        "Mean time loss per vehicle (s), 95 % interval</text>"
    )
    return head + "".join(parts) + "</svg>\n"


def merge_results(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Results of the same scenario (baselines and own controllers run apart) as one, in the
    order first seen; a controller present twice keeps its last run."""
    merged: dict[str, dict[str, Any]] = {}
    for r in results:
        if "scenario" not in r or "controllers" not in r:
            raise ValueError("not a benchmark result: needs 'scenario' and 'controllers'")
        key = repr(sorted(r["scenario"].items()))
        into = merged.setdefault(key, {"scenario": r["scenario"], "controllers": {}})
        into["controllers"].update(r["controllers"])
    return list(merged.values())

"""The benchmark chart: one bar per controller, lengths proportional to mean time loss."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from control.benchmark_chart import chart_svg, merge_results
from control.benchmark_cli import signals_chart

SVG = "{http://www.w3.org/2000/svg}"


def result(demand: float, **ctrls: float) -> dict[str, Any]:
    scenario = {"grid_x": 4, "grid_y": 4, "demand_vph": demand, "pattern": "uniform", "seeds": [1]}
    return {
        "scenario": scenario,
        "controllers": {
            n: {"mean_time_loss_s": v, "ci95_s": 1.0, "teleports": 0.0} for n, v in ctrls.items()
        },
    }


def bars(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {r.get("data-controller", ""): r for r in root.iter(f"{SVG}rect")}


def test_bars_are_proportional_and_the_best_is_highlighted() -> None:
    svg = chart_svg([result(3000, fixed=60.0, citytraffic=20.0, actuated=30.0)])
    b = bars(svg)
    assert set(b) == {"fixed", "citytraffic", "actuated"}
    w = {n: float(r.get("width", "0")) for n, r in b.items()}
    assert w["fixed"] / w["citytraffic"] == pytest.approx(3.0, rel=1e-3)
    assert w["actuated"] / w["citytraffic"] == pytest.approx(1.5, rel=1e-3)
    fills = {n: r.get("fill") for n, r in b.items()}
    assert fills["citytraffic"] != fills["fixed"] == fills["actuated"]
    assert "3000 veh/h uniform" in svg


def test_results_of_one_scenario_merge_and_others_stay_apart() -> None:
    merged = merge_results(
        [result(3000, fixed=60.0), result(3000, citytraffic=20.0), result(6900, fixed=80.0)]
    )
    assert [m["scenario"]["demand_vph"] for m in merged] == [3000, 6900]
    assert list(merged[0]["controllers"]) == ["fixed", "citytraffic"]
    assert chart_svg(merged).count('class="bar"') == 3


def test_bad_input_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="no benchmark results"):
        chart_svg([])
    with pytest.raises(ValueError, match="not a benchmark result"):
        merge_results([{"controllers": {}}])
    with pytest.raises(ValueError, match="no controllers"):
        chart_svg([result(3000)])


def test_chart_command_merges_files_and_refuses_bad_ones(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(signals_chart)
    base, own = tmp_path / "base.json", tmp_path / "own.json"
    base.write_text(json.dumps(result(3000, fixed=60.0, delay_based=25.0)))
    own.write_text(json.dumps(result(3000, citytraffic=23.0)))
    out = tmp_path / "chart.svg"
    ok = CliRunner().invoke(app, [str(base), str(own), "--svg", str(out)])
    assert ok.exit_code == 0, ok.output
    assert set(bars(out.read_text())) == {"fixed", "delay_based", "citytraffic"}
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2")
    bad = CliRunner().invoke(app, [str(junk), "--svg", str(tmp_path / "x.svg")])
    assert bad.exit_code != 0 and "junk.json" in bad.output
    junk.write_text(json.dumps({"runs": {}}))
    bad = CliRunner().invoke(app, [str(junk), "--svg", str(tmp_path / "x.svg")])
    assert bad.exit_code != 0 and "not a benchmark result" in bad.output
    assert not (tmp_path / "x.svg").exists()

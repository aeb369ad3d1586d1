"""Closed-loop SUMO runs (marker `sumo`): the adaptive controller on a 3x3 grid, the loop
gateway's totals, and a CI-sized smoke of the benchmark command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from control.benchmark_cli import signals_benchmark
from simulators.sumo.run import run_controller
from simulators.sumo.scenario import ScenarioSpec, build_scenario

pytestmark = pytest.mark.sumo


def test_adaptive_controller_3x3_moderate_demand_no_teleports(tmp_path: Path) -> None:
    # 1800 veh/h on 9 junctions (about 40 % of what the fixed program carries without queues
    # building) for 15 simulated minutes
    sc = build_scenario(
        ScenarioSpec(grid_x=3, grid_y=3, demand_vph=1800, duration_s=900, seed=3), tmp_path
    )
    m = run_controller(sc, "citytraffic", tmp_path / "runs")
    assert m.teleports == 0
    assert m.arrived == m.vehicles == sc.vehicles == 450
    assert m.end_s < 2 * 900  # the network emptied before the limit
    assert m.switches > 9  # it did control the signals
    fixed = run_controller(sc, "fixed", tmp_path / "runs")
    assert m.mean_time_loss_s < fixed.mean_time_loss_s


def test_benchmark_command_smoke_3x3(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(signals_benchmark)
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        [
            "--grid",
            "3x3",
            "--demand",
            "1200",
            "--duration",
            "300",
            "--seeds",
            "1,2",
            "--json",
            str(out),
            "--svg",
            str(tmp_path / "bench.svg"),
            "--cache",
            str(tmp_path / "cache"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["scenario"]["demand_vph"] == 1200 and data["scenario"]["seeds"] == [1, 2]
    names = set(data["controllers"])
    assert names == {"fixed", "actuated", "delay_based", "max_pressure", "citytraffic"}
    for r in data["controllers"].values():
        assert set(r) >= {
            "mean_time_loss_s",
            "ci95_s",
            "mean_travel_time_s",
            "arrived",
            "teleports",
            "collisions",
            "emergency_braking",
        }
        assert r["arrived"] == 100
        assert r["mean_time_loss_s"] > 0
    assert "citytraffic" in result.output  # the printed table
    svg = (tmp_path / "bench.svg").read_text()
    assert all(f'data-controller="{n}"' in svg for n in names)  # one bar per controller


def test_benchmark_command_rejects_bad_options(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(signals_benchmark)
    runner = CliRunner()
    for args in (["--grid", "4by4"], ["--controllers", "magic"], ["--pattern", "zigzag"]):
        result = runner.invoke(app, [*args, "--cache", str(tmp_path)])
        assert result.exit_code != 0

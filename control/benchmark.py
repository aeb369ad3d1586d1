"""Closed-loop benchmark: the same SUMO scenarios under SUMO's fixed, actuated and delay-based
programs, plain max-pressure and citytraffic's controller; means over seeds with a 95% interval.

`run_benchmark` is what `citytraffic signals benchmark` calls (see control.benchmark_cli).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from control.controllers import ALL_CONTROLLERS

# two-sided Student t quantiles, 97.5%, by degrees of freedom
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


@dataclass(frozen=True, slots=True)
class BenchmarkSpec:
    grid_x: int = 4
    grid_y: int = 4
    demand_vph: float = 3000.0
    pattern: str = "uniform"
    seeds: tuple[int, ...] = (1, 2, 3, 4, 5)
    duration_s: int = 3600
    controllers: tuple[str, ...] = ALL_CONTROLLERS
    cache_dir: Path = field(default=Path("var/sumo"))


def ci95_half_width(values: Sequence[float]) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t); 0 for one value."""
    n = len(values)
    if n < 2:
        return 0.0
    t = _T975.get(n - 1, 1.96 if n > 30 else 2.2)
    return t * statistics.stdev(values) / math.sqrt(n)


def summarise(runs: Sequence[Any]) -> dict[str, float | int]:
    losses = [r.mean_time_loss_s for r in runs]
    return {
        "mean_time_loss_s": round(statistics.fmean(losses), 2),
        "ci95_s": round(ci95_half_width(losses), 2),
        "mean_travel_time_s": round(statistics.fmean(r.mean_travel_time_s for r in runs), 2),
        "arrived": round(statistics.fmean(r.arrived for r in runs), 1),
        "teleports": round(statistics.fmean(r.teleports for r in runs), 2),
        "collisions": round(statistics.fmean(r.collisions for r in runs), 2),
        "emergency_braking": round(statistics.fmean(r.emergency_braking for r in runs), 1),
        "vehicles": round(statistics.fmean(r.vehicles for r in runs), 1),
        "runs": len(runs),
    }


def run_benchmark(
    spec: BenchmarkSpec, say: Callable[[str], None] = lambda _m: None
) -> dict[str, Any]:
    """Run every controller on every seed; return the JSON-ready result."""
    from simulators.sumo.run import run_controller
    from simulators.sumo.scenario import ScenarioSpec, build_scenario

    unknown = [c for c in spec.controllers if c not in ALL_CONTROLLERS]
    if unknown:
        raise ValueError(f"unknown controllers {unknown}; choose from {list(ALL_CONTROLLERS)}")
    base = ScenarioSpec(
        grid_x=spec.grid_x,
        grid_y=spec.grid_y,
        demand_vph=spec.demand_vph,
        duration_s=spec.duration_s,
        pattern=spec.pattern,  # type: ignore[arg-type]
    )
    runs: dict[str, list[Any]] = {c: [] for c in spec.controllers}
    scenario_info: dict[str, Any] = {}
    vehicles: list[int] = []
    total = len(spec.seeds) * len(spec.controllers)
    done = 0
    for seed in spec.seeds:
        scenario = build_scenario(replace(base, seed=seed), spec.cache_dir)
        scenario_info = scenario.describe()
        vehicles.append(scenario.vehicles)
        for name in spec.controllers:
            m = run_controller(scenario, name, spec.cache_dir / "runs")
            runs[name].append(m)
            done += 1
            say(
                f"[{done}/{total}] seed {seed} {name}: time loss {m.mean_time_loss_s:.1f} s, "
                f"arrived {m.arrived}/{m.vehicles}, teleports {m.teleports} "
                f"({m.collisions} after a collision), "
                f"emergency braking {m.emergency_braking}, "
                f"ended {m.end_s:.0f} s, {m.wall_s:.0f} s wall"
            )
    scenario_info.update(seeds=list(spec.seeds), vehicles_per_seed=vehicles)
    scenario_info.pop("detectors_per_site", None)
    return {
        "scenario": scenario_info,
        "controllers": {name: summarise(rs) for name, rs in runs.items()},
        "runs": {name: [asdict(r) for r in rs] for name, rs in runs.items()},
    }


def format_table(result: dict[str, Any]) -> str:
    sc = result["scenario"]
    head = (
        f"{sc['grid_x']}x{sc['grid_y']} grid, {sc['demand_vph']:g} veh/h {sc['pattern']}, "
        f"{sc['duration_s']} s, seeds {sc['seeds']}"
    )
    rows = [
        head,
        f"{'controller':<14}{'time loss s':>14}{'± ci95':>9}{'travel s':>10}"
        f"{'arrived':>9}{'teleports':>11}{'collisions':>12}{'hard brakes':>13}",
    ]
    for name, r in result["controllers"].items():
        rows.append(
            f"{name:<14}{r['mean_time_loss_s']:>14.1f}{r['ci95_s']:>9.1f}"
            f"{r['mean_travel_time_s']:>10.1f}{r['arrived']:>9.0f}{r['teleports']:>11.1f}"
            f"{r.get('collisions', 0.0):>12.1f}{r.get('emergency_braking', 0.0):>13.1f}"
        )
    return "\n".join(rows)

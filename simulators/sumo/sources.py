"""What the SUMO gateway simulates: a generated grid / arterial, or the user's own network.

- `grid_source`: the benchmark's `netgenerate` grid (`ScenarioSpec`, simulators/sumo/scenario.py)
  with its `randomTrips` demand; a grid of N x 1 junctions is an arterial with side streets.
- `file_source`: any SUMO `.net.xml`, with a route file or `randomTrips` demand of
  `demand_vph` vehicles per hour over `demand_s` seconds (seeded, cached by content).

Both put E1 loops on every incoming lane of every traffic light (`loops.loop_specs`).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from simulators.sumo.loops import STOP_LOOP_M, UPSTREAM_LOOP_M, LoopSpec, loop_specs
from simulators.sumo.netparse import NetInfo, read_net
from simulators.sumo.scenario import ScenarioSpec, build_scenario
from simulators.sumo.tools import python_tool_args, run_quiet


@dataclass(frozen=True, slots=True)
class SumoSource:
    net: Path
    routes: Path
    info: NetInfo
    loops: tuple[LoopSpec, ...]
    seed: int
    demand_s: int  # trips are inserted from 0 to this many simulated seconds

    def describe(self) -> str:
        return (
            f"{self.net.name}: {len(self.info.tl_links)} traffic lights, "
            f"{len(self.loops)} loops, routes {self.routes.name}, seed {self.seed}"
        )


def grid_source(spec: ScenarioSpec, cache_dir: Path) -> SumoSource:
    scenario = build_scenario(spec, cache_dir.resolve())
    loops = spec.loops(scenario.info)
    return SumoSource(
        scenario.nets["static"],
        scenario.routes,
        scenario.info,
        tuple(loops),
        spec.seed,
        spec.duration_s,
    )


def file_source(
    net: Path,
    cache_dir: Path,
    *,
    routes: Path | None = None,
    demand_vph: float = 1000.0,
    demand_s: int = 3600,
    seed: int = 1,
    stop_loop_m: float = STOP_LOOP_M,
    upstream_loop_m: float | None = UPSTREAM_LOOP_M,
) -> SumoSource:
    """Raises ValueError for a missing file, a network without traffic lights or bad demand."""
    if not net.is_file():
        raise ValueError(f"no SUMO network file {net}")
    if routes is not None and not routes.is_file():
        raise ValueError(f"no route file {routes}")
    if demand_vph <= 0 or demand_s <= 0:
        raise ValueError("demand and its duration must be > 0")
    info = read_net(net)
    if not info.tl_links:
        raise ValueError(f"{net} has no traffic lights: the gateway reports signalised junctions")
    if routes is None:
        routes = random_trips(net, cache_dir.resolve(), demand_vph, demand_s, seed)
    return SumoSource(
        net, routes, info, tuple(loop_specs(info, stop_loop_m, upstream_loop_m)), seed, demand_s
    )


def random_trips(net: Path, cache_dir: Path, demand_vph: float, demand_s: int, seed: int) -> Path:
    """`randomTrips` routes for `net`: one trip every 3600 / demand_vph s from 0 to demand_s."""
    key = hashlib.sha256(net.read_bytes()).hexdigest()[:12]
    out_dir = cache_dir / f"trips-{key}-{demand_vph:g}-{demand_s}-{seed}"
    routes = out_dir / "routes.rou.xml"
    if routes.exists():
        return routes
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        *python_tool_args("randomTrips.py"),
        f"--net-file={net.resolve()}",
        "--begin=0",
        f"--end={demand_s}",
        f"--period={3600.0 / demand_vph:.6f}",
        f"--seed={seed}",
        "--output-trip-file=trips.xml",
        "--route-file=routes.tmp.xml",
        "--validate",
    ]
    # randomTrips writes fixed names in its working directory: a private one, then a rename
    with tempfile.TemporaryDirectory(dir=out_dir, prefix="build-") as work:
        run_quiet(args, Path(work))
        (Path(work) / "routes.tmp.xml").replace(routes)
    return routes

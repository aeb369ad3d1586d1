"""Build SUMO scenarios: a `netgenerate` grid or arterial with traffic lights, `randomTrips`
demand, and E1 induction loops on every incoming lane of every signalised junction.

Everything is deterministic for a seed: netgenerate and randomTrips get the seed, files are
cached under a directory named by the parameters that shaped them.

Network (`netgenerate --grid`, SUMO defaults unless listed): `grid_x` x `grid_y` junctions,
`link_m` between junction centres, `lanes` lanes and `speed_kmh` on every edge, a `link_m` edge
attached at every border (`--grid.attach-length`) so that every junction has four legs, every
junction signalised (`--tls.set`) with SUMO's default program for the type (static: `cycle_s`
cycle, two green phases with permissive left turns and 3 s yellow; actuated and delay_based: the
same phases with minDur 5 s / maxDur 50 s). Turnarounds are left as netgenerate makes them.

Demand (`randomTrips`): `demand_vph` vehicles per hour are inserted over `duration_s` with a
period of 3600 / demand_vph s (one trip every period from t=0 to duration_s), routed by duarouter
(`--validate`); vehicles use SUMO's default passenger type, first lane, speed 0.
- `fringe_trips` (default on): `--fringe-factor max`, every trip enters the grid on one of the
  attached border edges and leaves on another one: through traffic, as on a signalised grid
  that sits inside a larger city. Off: trips start and end on any edge (also inside the grid).
- `min_trip_distance_m` (default 300 m, 1.5 links; `--min-distance`): straight-line distance
  between where a trip enters and where it leaves, so that no trip just turns back to the
  neighbouring border exit (200 m away on the same side, 283 m around a corner) through a single
  border junction; every trip crosses the grid.
These two reproduce the baselines of `domain.md` section 6 best of the variants measured (see
docs/control.md, "Scenario calibration").

Pattern `ew-heavy`: randomTrips reads source and destination edge weights (`--weights-prefix`,
which replaces randomTrips' own fringe weighting); every edge that runs east-west weighs 2,
north-south edges 1, so a trip starts on an east-west edge with twice the odds of a north-south
one, and the same for where it ends. As randomTrips does by default, trips never start on an
edge that leaves the network nor end on one entering it; with `fringe_trips` they start and end
only on border edges.

SUMO runs (simulators.sumo.run) keep SUMO's defaults, including `--time-to-teleport` 300 s.

Detectors (ids are `<lane>.s`, `<lane>.u` and `<lane>.a`, all report to the junction's site):
- `.s` stop-line loop, `stop_loop_m` before the stop line (5 m: see loops.STOP_LOOP_M; the
  gateway's count/occupancy/speed);
- `.u` upstream loop, `upstream_loop_m` after the lane's start: with the stop-line loop it lets a
  controller count the vehicles between the two (input-output queue estimate). Disable with
  `upstream_loops=False` to get stop-line loops only;
- `.a` advance loop, `advance_loop_m` before the stop line (60 m: loops.ADVANCE_LOOP_M): tells a
  controller when each counted vehicle is 4 s from the line. Disable with `advance_loops=False`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import quoteattr

from simulators.sumo.loops import (
    ADVANCE_LOOP_M,
    STOP_LOOP_M,
    UPSTREAM_LOOP_M,
    LoopSpec,
    loop_specs,
    write_loop_file,
)
from simulators.sumo.netparse import NetInfo, read_net
from simulators.sumo.tools import binary, python_tool_args, run_quiet

Pattern = Literal["uniform", "ew-heavy"]
TlsType = Literal["static", "actuated", "delay_based"]
PATTERNS: tuple[str, ...] = ("uniform", "ew-heavy")


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    grid_x: int = 4
    grid_y: int = 4
    link_m: float = 200.0
    lanes: int = 2
    speed_kmh: float = 50.0
    demand_vph: float = 3000.0
    duration_s: int = 3600
    pattern: Pattern = "uniform"
    seed: int = 1
    cycle_s: int = 90
    stop_loop_m: float = STOP_LOOP_M
    upstream_loop_m: float = UPSTREAM_LOOP_M
    upstream_loops: bool = True
    advance_loop_m: float = ADVANCE_LOOP_M
    advance_loops: bool = True
    fringe_trips: bool = True
    min_trip_distance_m: float = 300.0

    def loops(self, info: NetInfo) -> list[LoopSpec]:
        """The scenario's loops on the network `info`."""
        return loop_specs(
            info,
            self.stop_loop_m,
            self.upstream_loop_m if self.upstream_loops else None,
            self.advance_loop_m if self.advance_loops else None,
        )

    def loop_file_name(self) -> str:
        """Named by the loop layout: one cached network serves every layout."""
        up = f"{self.upstream_loop_m:g}" if self.upstream_loops else "none"
        adv = f"{self.advance_loop_m:g}" if self.advance_loops else "none"
        return f"loops-s{self.stop_loop_m:g}-u{up}-a{adv}.add.xml"

    def net_key(self) -> str:
        parts = (self.grid_x, self.grid_y, self.link_m, self.lanes, self.speed_kmh, self.cycle_s)
        return "net-" + hashlib.sha256(repr(parts).encode()).hexdigest()[:12]

    def demand_key(self) -> str:
        parts = (
            self.net_key(),
            self.demand_vph,
            self.duration_s,
            self.pattern,
            self.seed,
            self.fringe_trips,
            self.min_trip_distance_m,
        )
        return "dem-" + hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Scenario:
    spec: ScenarioSpec
    nets: dict[str, Path]  # tls type -> net file
    routes: Path
    detectors: Path
    info: NetInfo
    vehicles: int

    def describe(self) -> dict[str, object]:
        d: dict[str, object] = asdict(self.spec)
        d.pop("seed")
        d["signals"] = len(self.info.tl_links)
        sites: dict[str, int] = {}
        for sp in self.spec.loops(self.info):
            sites[sp.site] = sites.get(sp.site, 0) + 1
        d["detectors_per_site"] = sites
        return d

    def signals(self) -> list[str]:
        return sorted(self.info.tl_links)

    def incoming_lanes(self, tls: str) -> list[str]:
        return sorted({lk.from_lane for lk in self.info.tl_links[tls]})


def build_scenario(spec: ScenarioSpec, cache_dir: Path) -> Scenario:
    if spec.grid_x < 1 or spec.grid_y < 1 or spec.demand_vph <= 0 or spec.duration_s <= 0:
        raise ValueError(f"bad scenario {spec}")
    net_dir = cache_dir / spec.net_key()
    net_dir.mkdir(parents=True, exist_ok=True)
    nets = {t: _build_net(spec, net_dir, t) for t in ("static", "actuated", "delay_based")}
    info = read_net(nets["static"])
    detectors = net_dir / spec.loop_file_name()
    if not detectors.exists():
        write_loop_file(spec.loops(info), detectors)
    dem_dir = cache_dir / spec.demand_key()
    dem_dir.mkdir(parents=True, exist_ok=True)
    routes = dem_dir / "routes.rou.xml"
    if not routes.exists():
        _build_routes(spec, info, nets["static"], dem_dir, routes)
    vehicles = routes.read_text().count("<vehicle ")
    return Scenario(spec, nets, routes, detectors, info, vehicles)


def _build_net(spec: ScenarioSpec, net_dir: Path, tls_type: TlsType) -> Path:
    out = net_dir / f"{tls_type}.net.xml"
    if out.exists():
        return out
    xs = [chr(ord("A") + i) if i < 26 else f"X{i}" for i in range(spec.grid_x)]
    junctions = [f"{x}{y}" for x in xs for y in range(spec.grid_y)]
    args = [
        str(binary("netgenerate")),
        "--grid",
        f"--grid.x-number={spec.grid_x}",
        f"--grid.y-number={spec.grid_y}",
        f"--grid.length={spec.link_m}",
        f"--grid.attach-length={spec.link_m}",
        f"--default.lanenumber={spec.lanes}",
        f"--default.speed={spec.speed_kmh / 3.6:.4f}",
        "--default.junctions.type=priority",
        f"--tls.set={','.join(junctions)}",
        f"--tls.cycle.time={spec.cycle_s}",
        f"--tls.default-type={tls_type}",
        "--seed=1",
        f"--output-file={out.name}.{os.getpid()}.tmp",
    ]
    # private temporary names, then an atomic rename: two benchmarks may share a cache
    run_quiet(args, net_dir)
    (net_dir / f"{out.name}.{os.getpid()}.tmp").replace(out)
    return out


def _fringe_nodes(info: NetInfo) -> set[str]:
    degree: dict[str, int] = {}
    for e in info.edges.values():
        degree[e.from_node] = degree.get(e.from_node, 0) + 1
        degree[e.to_node] = degree.get(e.to_node, 0) + 1
    return {n for n, d in degree.items() if d <= 2}


def _write_weights(info: NetInfo, prefix: Path, fringe_only: bool) -> None:
    fringe = _fringe_nodes(info)
    for suffix, blocked in ((".src.xml", "to"), (".dst.xml", "from")):
        rows = ["<edgedata>", '  <interval id="w" begin="0" end="1e9">']
        for eid, e in sorted(info.edges.items()):
            node = e.to_node if blocked == "to" else e.from_node
            other = e.from_node if blocked == "to" else e.to_node
            excluded = node in fringe or (fringe_only and other not in fringe)
            value = 0.0 if excluded else (2.0 if info.is_east_west(eid) else 1.0)
            rows.append(f'    <edge id={quoteattr(eid)} value="{value}"/>')
        rows += ["  </interval>", "</edgedata>"]
        Path(f"{prefix}{suffix}").write_text("\n".join(rows) + "\n")


def _build_routes(
    spec: ScenarioSpec, info: NetInfo, net: Path, dem_dir: Path, routes: Path
) -> None:
    period = 3600.0 / spec.demand_vph
    args = [
        *python_tool_args("randomTrips.py"),
        f"--net-file={net.resolve()}",
        "--begin=0",
        f"--end={spec.duration_s}",
        f"--period={period:.6f}",
        f"--seed={spec.seed}",
        "--output-trip-file=trips.xml",
        "--route-file=routes.tmp.xml",
        "--validate",
    ]
    if spec.fringe_trips:
        args.append("--fringe-factor=max")
    if spec.min_trip_distance_m > 0:
        args.append(f"--min-distance={spec.min_trip_distance_m:g}")
    if spec.pattern == "ew-heavy":
        args.append("--weights-prefix=weights")
    elif spec.pattern != "uniform":
        raise ValueError(f"unknown pattern {spec.pattern!r}")
    # randomTrips writes fixed names in its working directory: a private one per build, so two
    # benchmarks sharing a cache cannot trample each other; the routes land by atomic rename
    with tempfile.TemporaryDirectory(dir=dem_dir, prefix="build-") as work:
        if spec.pattern == "ew-heavy":
            _write_weights(info, Path(work) / "weights", spec.fringe_trips)
        run_quiet(args, Path(work))
        (dem_dir / "spec.json").write_text(json.dumps(asdict(spec), indent=1))
        (Path(work) / "routes.tmp.xml").replace(routes)

"""SUMO scenario building: grid, demand, E1 loops; deterministic for a seed (marker `sumo`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulators.sumo.layout import junction_layouts
from simulators.sumo.scenario import ScenarioSpec, build_scenario

pytestmark = pytest.mark.sumo


def test_grid_has_signals_and_loops_on_every_incoming_lane(tmp_path: Path) -> None:
    sc = build_scenario(ScenarioSpec(grid_x=3, grid_y=3, demand_vph=900, duration_s=600), tmp_path)
    assert sc.signals() == ["A0", "A1", "A2", "B0", "B1", "B2", "C0", "C1", "C2"]
    loops = sc.detectors.read_text()
    for tls in sc.signals():
        lanes = sc.incoming_lanes(tls)
        assert len(lanes) == 8  # 4 approaches x 2 lanes
        for lane in lanes:
            assert f'id="{lane}.s"' in loops and f'id="{lane}.u"' in loops
    # 900 veh/h over 600 s = 150 vehicles
    assert sc.vehicles == 150
    for kind in ("static", "actuated", "delay_based"):
        assert f'type="{kind}"' in sc.nets[kind].read_text()
    layouts = junction_layouts(sc)
    b1 = layouts["B1"]
    assert len(b1.green_states) == 2
    assert b1.served_edges(0) | b1.served_edges(1) == set(b1.approaches)
    assert not b1.served_edges(0) & b1.served_edges(1)


def test_same_seed_same_routes_other_seed_other_routes(tmp_path: Path) -> None:
    spec = ScenarioSpec(grid_x=2, grid_y=2, demand_vph=600, duration_s=300, seed=4)
    a = build_scenario(spec, tmp_path / "a").routes.read_text()
    b = build_scenario(spec, tmp_path / "b").routes.read_text()
    c = build_scenario(
        ScenarioSpec(grid_x=2, grid_y=2, demand_vph=600, duration_s=300, seed=5), tmp_path / "c"
    ).routes.read_text()
    strip = re.compile(r"<!--.*?-->", re.S)  # header comments carry paths and dates
    assert strip.sub("", a) == strip.sub("", b)
    assert strip.sub("", a) != strip.sub("", c)


def test_ew_heavy_puts_twice_the_weight_on_east_west_edges(tmp_path: Path) -> None:
    spec = ScenarioSpec(grid_x=3, grid_y=3, demand_vph=3600, duration_s=1800, pattern="ew-heavy")
    sc = build_scenario(spec, tmp_path)
    starts = re.findall(r'<route edges="([^" ]+)', sc.routes.read_text())
    ew = sum(1 for e in starts if sc.info.is_east_west(e))
    share = ew / len(starts)
    # equal numbers of EW and NS source edges, weight 2 vs 1: expected share 2/3
    assert 0.6 < share < 0.73, share
    uniform = build_scenario(
        ScenarioSpec(grid_x=3, grid_y=3, demand_vph=3600, duration_s=1800), tmp_path
    )
    starts_u = re.findall(r'<route edges="([^" ]+)', uniform.routes.read_text())
    share_u = sum(1 for e in starts_u if uniform.info.is_east_west(e)) / len(starts_u)
    assert 0.43 < share_u < 0.57, share_u


def _build_in(cache: str) -> str:
    spec = ScenarioSpec(grid_x=2, grid_y=2, demand_vph=600, duration_s=300, pattern="ew-heavy")
    return build_scenario(spec, Path(cache)).routes.read_text()


def test_concurrent_builds_into_one_cache_do_not_collide(tmp_path: Path) -> None:
    # two benchmarks started together share a cache: each build works under private names
    # (randomTrips writes fixed file names in its working directory) and lands by rename
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(3) as pool:
        routes = list(pool.map(_build_in, [str(tmp_path)] * 3))
    strip = re.compile(r"<!--.*?-->", re.S)
    assert len({strip.sub("", r) for r in routes}) == 1
    assert routes[0].count("<vehicle ") == 50
    leftovers = [p.name for p in tmp_path.rglob("*") if "tmp" in p.name or "build-" in p.name]
    assert leftovers == []

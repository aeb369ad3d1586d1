"""A synthetic grid network with plausible conditions, for sizing and benchmarking the map.

    python -m maps.sample --links 1000 [--out FILE] [--assets inline|local|cdn] [--tiles osm]

prints one JSON object: link count, HTML bytes, and the part of it that is link GeoJSON. The
functions are pure and seeded, so the figures are reproducible; browser tests and the dashboard
benchmark can use `sample_map_inputs` for a 1,000-link page.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from citytraffic.domain.network import (
    Detector,
    Link,
    Network,
    RoadClass,
    Site,
    SiteKind,
    validate,
)
from maps.export import export_live_map
from maps.geojson import detector_lon_lat, heat_points_along_links, link_features
from maps.views import (
    LOS_LETTERS,
    CongestionHeat,
    DetectorHealthView,
    IncidentView,
    JunctionView,
    LinkView,
)

__all__ = ["MapInputs", "grid_network", "main", "sample_map_inputs"]

_ORIGIN_LON, _ORIGIN_LAT = 4.80, 45.72
_SPACING_M = 180.0
_VERTICES = 5  # points per link polyline (a gentle bend, like digitised streets)


def _lon_lat(x_m: float, y_m: float) -> tuple[float, float]:
    lat = _ORIGIN_LAT + y_m / 111_320.0
    lon = _ORIGIN_LON + x_m / (111_320.0 * math.cos(math.radians(_ORIGIN_LAT)))
    return round(lon, 7), round(lat, 7)


def grid_network(n_links: int = 1000, name: str = "grid") -> Network:
    """A square grid of junctions joined by two-way urban links (one Link per direction), cut to
    exactly `n_links` links; one detector on lane 1 of every link."""
    side = 2
    while 4 * side * (side - 1) < n_links:
        side += 1
    sites = [
        Site(f"J{r}-{c}", SiteKind.JUNCTION, *_lon_lat(c * _SPACING_M, r * _SPACING_M))
        for r in range(side)
        for c in range(side)
    ]
    links: list[Link] = []
    for r in range(side):
        for c in range(side):
            for dr, dc in ((0, 1), (1, 0)):
                r2, c2 = r + dr, c + dc
                if r2 >= side or c2 >= side:
                    continue
                for (ra, ca), (rb, cb) in (((r, c), (r2, c2)), ((r2, c2), (r, c))):
                    links.append(_link(ra, ca, rb, cb))
    links = links[:n_links]
    detectors = [
        Detector(f"D-{ln.id}", ln.from_site or "", ln.id, 1, round(ln.length_m * 0.8, 1))
        for ln in links
    ]
    return validate(Network(name, tuple(sites), tuple(links), tuple(detectors)))


def _link(ra: int, ca: int, rb: int, cb: int) -> Link:
    x0, y0, x1, y1 = ca * _SPACING_M, ra * _SPACING_M, cb * _SPACING_M, rb * _SPACING_M
    points = []
    for i in range(_VERTICES):
        f = i / (_VERTICES - 1)
        bend = 6.0 * math.sin(math.pi * f)  # metres, perpendicular
        dx, dy = x1 - x0, y1 - y0
        norm = math.hypot(dx, dy)
        points.append(_lon_lat(x0 + f * dx - bend * dy / norm, y0 + f * dy + bend * dx / norm))
    return Link(
        id=f"L{ra}-{ca}_{rb}-{cb}",
        coordinates=tuple(points),
        lanes=2,
        free_flow_kmh=50.0,
        road_class=RoadClass.URBAN,
        from_site=f"J{ra}-{ca}",
        to_site=f"J{rb}-{cb}",
    )


@dataclass(frozen=True, slots=True)
class MapInputs:
    network: Network
    links: tuple[LinkView, ...]
    junctions: tuple[JunctionView, ...]
    incidents: tuple[IncidentView, ...]
    health: tuple[DetectorHealthView, ...]
    heat: CongestionHeat


def sample_map_inputs(n_links: int = 1000, seed: int = 7, now: datetime | None = None) -> MapInputs:
    """grid_network(n_links) with seeded conditions: every link has a LOS (a few unknown),
    10% of junctions have a pending suggestion, 5% of detectors suspect/bad, 3 incidents and
    a heat layer over a third of the links."""
    rng = random.Random(seed)
    at = now or datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    net = grid_network(n_links)
    links = tuple(
        LinkView(
            ln.id,
            los := (None if rng.random() < 0.03 else rng.choice(LOS_LETTERS)),
            round(rng.uniform(5, 50), 1),
            los in ("E", "F"),
            at - timedelta(seconds=rng.randint(0, 60)),
        )
        for ln in net.links
    )
    junctions = tuple(
        JunctionView(
            s.id,
            rng.choice(("P1", "P2", "P3")),
            rng.uniform(0, 30),
            "extend P1 green by 6 s (Webster)" if rng.random() < 0.1 else None,
        )
        for s in net.sites
    )
    health = []
    for d in net.detectors:
        pos = detector_lon_lat(net, d.id)
        if pos is None:
            continue
        roll = rng.random()
        status: str = "ok"
        reasons: tuple[str, ...] = ()
        if roll < 0.03:
            status, reasons = "bad", ("no data for 15 min",)
        elif roll < 0.05:
            status, reasons = "suspect", ("occupancy stuck at 100%",)
        health.append(DetectorHealthView(d.id, pos[0], pos[1], status, reasons))
    incidents = tuple(
        IncidentView(
            f"INC-{i}",
            *net.links[i * 97 % len(net.links)].coordinates[2],
            state=("tentative", "confirmed", "confirmed")[i],
            confidence=0.5 + 0.2 * i,
            start=at - timedelta(minutes=5 * (i + 1)),
            link=net.links[i * 97 % len(net.links)].id,
        )
        for i in range(3)
    )
    weights = {ln.id: rng.random() for ln in net.links[::3]}
    heat = CongestionHeat(
        heat_points_along_links(net, weights, spacing_m=60.0), at - timedelta(hours=3), at
    )
    return MapInputs(net, links, junctions, incidents, tuple(health), heat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Size of the live map HTML for a grid network")
    parser.add_argument("--links", type=int, default=1000)
    parser.add_argument("--assets", choices=("inline", "local", "cdn"), default="inline")
    parser.add_argument("--tiles", default="osm")
    parser.add_argument("--no-heat", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    inputs = sample_map_inputs(args.links)
    html = export_live_map(
        inputs.network,
        inputs.links,
        inputs.junctions,
        inputs.incidents,
        inputs.health,
        None if args.no_heat else inputs.heat,
        args.tiles,
        assets=args.assets,
    )
    if args.out:
        args.out.write_text(html, encoding="utf-8")
    link_json = json.dumps(link_features(inputs.network, inputs.links), separators=(",", ":"))
    result = {
        "links": len(inputs.network.links),
        "junctions": len(inputs.network.sites),
        "detectors": len(inputs.health),
        "heat_points": 0 if args.no_heat else len(inputs.heat.points),
        "assets": args.assets,
        "html_bytes": len(html.encode("utf-8")),
        "link_geojson_bytes": len(link_json),
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

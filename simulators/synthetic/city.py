"""The synthetic city: a signalised grid placed at real coordinates, as a domain `Network`.

Layout (rows counted south to north, columns west to east, right-hand traffic):

- `rows x cols` junction sites `J<r>-<c>`, `block_m` apart, centred on (origin_lon, origin_lat);
- directed urban links `<from>_<to>` between neighbours, plus boundary links from and to the
  points `W<r>`, `E<r>`, `S<c>`, `N<c>` one block outside the grid (not sites);
- per junction four signal groups named after the approach the traffic comes from (`N`, `E`,
  `S`, `W`, in that order in the state string), phases `NS` and `EW`; lane 1 (kerb side) serves
  through and right, the last lane through and left, lanes between through only;
- a stop-line loop `<site>:<approach><lane>` on every lane of every incoming link, 5 m before
  the stop line; one gateway `gw-<site>` per site;
- optionally a freeway along the south edge: stations `FW-EB-<i>` / `FW-WB-<i>` every
  `freeway_station_spacing_m`, 3 lanes at 100 km/h, a detector per lane 20 m after each station.

`build_city` returns the network plus the per-link roles the traffic model needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from citytraffic.domain.network import (
    Detector,
    Gateway,
    Junction,
    Link,
    Movement,
    Network,
    Phase,
    RoadClass,
    SignalGroup,
    Site,
    SiteKind,
    validate,
)

EARTH_RADIUS_M = 6_371_000.0  # the same sphere as domain.network.haversine_m
APPROACHES = ("N", "E", "S", "W")  # signal group order in the state string
# unit vector pointing FROM the junction TOWARDS the side the traffic comes from
SIDE_VECTOR: dict[str, tuple[int, int]] = {"N": (0, 1), "E": (1, 0), "S": (0, -1), "W": (-1, 0)}
STOP_LINE_SETBACK_M = 5.0
STATION_DETECTOR_OFFSET_M = 20.0


@dataclass(frozen=True, slots=True)
class CityConfig:
    name: str = "synthetic-vienna"
    rows: int = 4
    cols: int = 4
    block_m: float = 250.0
    origin_lon: float = 16.3725  # Stephansplatz, Vienna
    origin_lat: float = 48.2084
    timezone: str = "Europe/Vienna"
    lanes: int = 2
    free_flow_kmh: float = 50.0
    cycle_s: int = 90
    yellow_s: int = 3
    all_red_s: int = 2
    ew_weight: float = 1.3  # relative peak demand of east-west traffic
    ns_weight: float = 0.8
    peak_boundary_vph_per_lane: float = 520.0  # entering demand at weight 1.0 in the peak hour
    local_share: float = 0.15  # traffic starting on an interior link, share of boundary demand
    freeway: bool = True
    freeway_offset_m: float = 600.0
    freeway_station_spacing_m: float = 500.0
    freeway_lanes: int = 3
    freeway_free_flow_kmh: float = 100.0
    peak_freeway_vph_per_lane: float = 1500.0

    def problems(self) -> list[str]:
        out: list[str] = []
        if not (1 <= self.rows <= 20 and 1 <= self.cols <= 20):
            out.append("rows and cols must be within 1..20")
        if not 50.0 <= self.block_m <= 2000.0:
            out.append("block_m must be within 50..2000")
        if not (-180 < self.origin_lon < 180 and -85 < self.origin_lat < 85):
            out.append("origin must be a lon/lat away from the poles")
        if not 1 <= self.lanes <= 6 or not 1 <= self.freeway_lanes <= 8:
            out.append("lanes must be within 1..6 (freeway 1..8)")
        green_s = self.cycle_s - 2 * (self.yellow_s + self.all_red_s)
        if green_s < 20:
            out.append("cycle_s leaves less than 20 s of green")
        if self.ew_weight <= 0 or self.ns_weight <= 0:
            out.append("ew_weight and ns_weight must be > 0")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            out.append(f"unknown timezone {self.timezone!r}")
        return out


class LinkKind(StrEnum):
    APPROACH = "approach"  # ends at a signalised junction (stop-line detectors)
    EXIT = "exit"  # leaves the city (sink, no detectors)
    FREEWAY = "freeway"  # freeway segment starting at a station (station detectors)


@dataclass(frozen=True, slots=True)
class LinkRole:
    link: str
    kind: LinkKind
    lanes: int
    length_m: float
    free_flow_kmh: float
    junction: str | None = None  # APPROACH: the junction at its downstream end
    approach: str | None = None  # APPROACH: N/E/S/W
    entry: bool = False  # traffic enters the network here from outside
    inward: float = 0.0  # -1..1: cosine between its heading and the direction to the centre
    weight: float = 1.0  # corridor demand weight (ew_weight or ns_weight)
    turns: tuple[tuple[str, float], ...] = ()  # (downstream link, share of the discharge)
    detector_position_m: float = 0.0


@dataclass(frozen=True, slots=True)
class City:
    config: CityConfig
    network: Network
    roles: dict[str, LinkRole] = field(default_factory=dict)


def to_lon_lat(config: CityConfig, x_m: float, y_m: float) -> tuple[float, float]:
    """Local east/north metres around the origin to (lon, lat), rounded to ~1 cm."""
    lat = config.origin_lat + math.degrees(y_m / EARTH_RADIUS_M)
    lon = config.origin_lon + math.degrees(
        x_m / (EARTH_RADIUS_M * math.cos(math.radians(config.origin_lat)))
    )
    return round(lon, 7), round(lat, 7)


def junction_id(r: int, c: int) -> str:
    return f"J{r}-{c}"


# Turning shares of an approach's discharge (the rest parks or ends its trip in the block).
TURN_THROUGH, TURN_RIGHT, TURN_LEFT = 0.70, 0.12, 0.08


def build_city(config: CityConfig | None = None) -> City:
    """Build and validate the grid (and optional freeway). Raises ValueError on a bad config."""
    config = config or CityConfig()
    problems = config.problems()
    if problems:
        raise ValueError("invalid city config: " + "; ".join(problems))
    rows, cols, b = config.rows, config.cols, config.block_m

    def xy(r: int, c: int) -> tuple[float, float]:
        return (c - (cols - 1) / 2.0) * b, (r - (rows - 1) / 2.0) * b

    # node id -> (x, y); boundary nodes are one block outside the edge junctions
    nodes: dict[str, tuple[float, float]] = {}
    for r in range(rows):
        for c in range(cols):
            nodes[junction_id(r, c)] = xy(r, c)
        nodes[f"W{r}"] = (xy(r, 0)[0] - b, xy(r, 0)[1])
        nodes[f"E{r}"] = (xy(r, cols - 1)[0] + b, xy(r, cols - 1)[1])
    for c in range(cols):
        nodes[f"S{c}"] = (xy(0, c)[0], xy(0, c)[1] - b)
        nodes[f"N{c}"] = (xy(rows - 1, c)[0], xy(rows - 1, c)[1] + b)

    def neighbour(r: int, c: int, side: str) -> str:
        dx, dy = SIDE_VECTOR[side]
        rr, cc = r + dy, c + dx
        if 0 <= rr < rows and 0 <= cc < cols:
            return junction_id(rr, cc)
        return {"N": f"N{c}", "S": f"S{c}", "E": f"E{r}", "W": f"W{r}"}[side]

    sites: list[Site] = []
    links: dict[str, Link] = {}
    roles: dict[str, LinkRole] = {}
    detectors: list[Detector] = []
    junctions: list[Junction] = []
    gateways: list[Gateway] = []

    def add_link(a: str, b_: str, lanes: int, kmh: float, cls: RoadClass) -> Link:
        link_id = f"{a}_{b_}"
        link = Link(
            id=link_id,
            coordinates=(to_lon_lat(config, *nodes[a]), to_lon_lat(config, *nodes[b_])),
            lanes=lanes,
            free_flow_kmh=kmh,
            road_class=cls,
            from_site=a if a.startswith("J") else None,
            to_site=b_ if b_.startswith("J") else None,
        )
        links[link_id] = link
        return link

    # every directed link between a junction and its four neighbours (both directions)
    for r in range(rows):
        for c in range(cols):
            j = junction_id(r, c)
            for side in APPROACHES:
                other = neighbour(r, c, side)
                for a, b_ in ((other, j), (j, other)):
                    if f"{a}_{b_}" not in links:
                        add_link(a, b_, config.lanes, config.free_flow_kmh, RoadClass.URBAN)

    for r in range(rows):
        for c in range(cols):
            j = junction_id(r, c)
            lon, lat = to_lon_lat(config, *nodes[j])
            sites.append(Site(j, SiteKind.JUNCTION, lon, lat, name=f"Grid junction {r}/{c}"))
            gateways.append(Gateway(f"gw-{j}", (j,)))
            groups: list[SignalGroup] = []
            for side in APPROACHES:
                src = neighbour(r, c, side)
                link = links[f"{src}_{j}"]
                dx, dy = SIDE_VECTOR[side]
                heading = (-dx, -dy)  # traffic from the north heads south
                right_side = _side_of(heading[1], -heading[0])
                left_side = _side_of(-heading[1], heading[0])
                through = f"{j}_{neighbour(r, c, _side_of(*heading))}"
                right = f"{j}_{neighbour(r, c, right_side)}"
                left = f"{j}_{neighbour(r, c, left_side)}"
                groups.append(
                    SignalGroup(side, _movements(link.id, link.lanes, through, right, left))
                )
                for lane in range(1, link.lanes + 1):
                    detectors.append(
                        Detector(
                            f"{j}:{side}{lane}",
                            j,
                            link.id,
                            lane,
                            link.length_m - STOP_LINE_SETBACK_M,
                        )
                    )
                sx, sy = nodes[src]
                roles[link.id] = LinkRole(
                    link=link.id,
                    kind=LinkKind.APPROACH,
                    lanes=link.lanes,
                    length_m=link.length_m,
                    free_flow_kmh=link.free_flow_kmh,
                    junction=j,
                    approach=side,
                    entry=not src.startswith("J"),
                    inward=_inward(sx, sy, nodes[j]),
                    weight=config.ns_weight if side in "NS" else config.ew_weight,
                    turns=((through, TURN_THROUGH), (right, TURN_RIGHT), (left, TURN_LEFT)),
                    detector_position_m=link.length_m - STOP_LINE_SETBACK_M,
                )
            junctions.append(
                Junction(
                    site=j,
                    signal_groups=tuple(groups),
                    phases=(Phase("NS", ("N", "S")), Phase("EW", ("E", "W"))),
                    yellow_s=float(config.yellow_s),
                    all_red_s=float(config.all_red_s),
                    local_plan="P1",
                )
            )
    for link in links.values():
        if link.id not in roles:
            roles[link.id] = LinkRole(
                link.id, LinkKind.EXIT, link.lanes, link.length_m, link.free_flow_kmh
            )

    if config.freeway:
        _add_freeway(config, nodes, sites, links, roles, detectors, gateways)

    network = validate(
        Network(
            name=config.name,
            sites=tuple(sites),
            links=tuple(links.values()),
            detectors=tuple(detectors),
            junctions=tuple(junctions),
            gateways=tuple(gateways),
        )
    )
    return City(config, network, roles)


def _side_of(dx: int, dy: int) -> str:
    return next(s for s, v in SIDE_VECTOR.items() if v == (dx, dy))


def _inward(x0: float, y0: float, to: tuple[float, float]) -> float:
    """Cosine between the link heading and the direction from its start to the centre (0, 0)."""
    hx, hy = to[0] - x0, to[1] - y0
    h = math.hypot(hx, hy)
    d = math.hypot(x0, y0)
    if h == 0 or d < 1.0:
        return 0.0
    return (hx * -x0 + hy * -y0) / (h * d)


def _movements(link: str, lanes: int, through: str, right: str, left: str) -> tuple[Movement, ...]:
    out = [Movement(link, (1,), right)]
    out += [Movement(link, (lane,), through) for lane in range(1, lanes + 1)]
    out.append(Movement(link, (lanes,), left))
    return tuple(out)


def _add_freeway(
    config: CityConfig,
    nodes: dict[str, tuple[float, float]],
    sites: list[Site],
    links: dict[str, Link],
    roles: dict[str, LinkRole],
    detectors: list[Detector],
    gateways: list[Gateway],
) -> None:
    xs = [p[0] for p in nodes.values()]
    y0 = min(p[1] for p in nodes.values()) - config.freeway_offset_m
    x_min, x_max = min(xs) - config.block_m, max(xs) + config.block_m
    n = max(2, math.floor((x_max - x_min) / config.freeway_station_spacing_m) + 1)
    step = (x_max - x_min) / (n - 1)
    for direction, dy, sign in (("EB", -15.0, 1), ("WB", 15.0, -1)):
        xs_dir = [x_min + i * step for i in range(n)]
        if sign < 0:
            xs_dir.reverse()
        ids = [f"FW-{direction}-{i}" for i in range(n)]
        for i, (sid, x) in enumerate(zip(ids, xs_dir, strict=True)):
            lon, lat = to_lon_lat(config, x, y0 + dy)
            sites.append(Site(sid, SiteKind.STATION, lon, lat, name=f"Freeway {direction} {i}"))
            gateways.append(Gateway(f"gw-{sid}", (sid,)))
            end_x = xs_dir[i + 1] if i + 1 < n else x + sign * step
            link_id = f"{sid}_{ids[i + 1]}" if i + 1 < n else f"{sid}_out"
            link = Link(
                id=link_id,
                coordinates=(to_lon_lat(config, x, y0 + dy), to_lon_lat(config, end_x, y0 + dy)),
                lanes=config.freeway_lanes,
                free_flow_kmh=config.freeway_free_flow_kmh,
                road_class=RoadClass.FREEWAY,
                from_site=sid,
                to_site=ids[i + 1] if i + 1 < n else None,
                name=f"Freeway {direction}",
            )
            links[link_id] = link
            nxt = ""
            if i + 1 < n:
                nxt = f"{ids[i + 1]}_{ids[i + 2]}" if i + 2 < n else f"{ids[i + 1]}_out"
            roles[link_id] = LinkRole(
                link=link_id,
                kind=LinkKind.FREEWAY,
                lanes=link.lanes,
                length_m=link.length_m,
                free_flow_kmh=link.free_flow_kmh,
                entry=i == 0,
                inward=float(sign),  # eastbound carries the morning commute into town
                turns=((nxt, 1.0),) if nxt else (),
                detector_position_m=STATION_DETECTOR_OFFSET_M,
            )
            for lane in range(1, link.lanes + 1):
                detectors.append(
                    Detector(f"{sid}:L{lane}", sid, link_id, lane, STATION_DETECTOR_OFFSET_M)
                )

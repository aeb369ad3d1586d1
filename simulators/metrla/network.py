"""The citytraffic network of the METR-LA stations: freeway `station` sites, one detector each.

The data gives station coordinates only (the adjacency in this copy is symmetric, so it holds
no direction of travel), and a detector needs a link. Each station gets its own short link:

- **axis** of the freeway at the station: the chord between its nearest neighbour station and a
  neighbour on the opposite side (within 3 km, ignoring stations closer than 60 m), else the line
  to the nearest neighbour; a station with no neighbour runs north;
- **direction** along the axis: a station with another station within 60 m is taken as one of a
  pair on opposite carriageways; with right-hand traffic the opposite carriageway is on the left,
  which fixes the sense (`paired`). For unpaired stations the sense is not in the data: it is
  assumed to point northwards (bearing within [-90, 90) degrees) and marked `assumed`;
- the link runs `LINK_HALF_M` before to `LINK_HALF_M` after the station along that heading
  (4 nominal lanes, freeway, 105 km/h = 65 mph); the detector sits at the station, lane 1, and
  reports the station's all-lane speed.

Ids: site `LA-<sensor>`, link `LA-<sensor>:L`, detector `LA-<sensor>:D1`. Gateways `gw-la-NN`
of about `per_gateway` stations each, grouped by proximity (westmost unassigned station and its
nearest unassigned neighbours), one MQTT connection each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from citytraffic.domain.network import (
    Detector,
    Gateway,
    Link,
    Network,
    RoadClass,
    Site,
    SiteKind,
    validate,
)
from simulators.metrla.data import Station

EARTH_RADIUS_M = 6_371_000.0
TWIN_MAX_M = 60.0
AXIS_RADIUS_M = 3000.0
OPPOSITE_MIN_DEG = 150.0
LINK_HALF_M = 200.0
LANES = 4
FREE_FLOW_KMH = 105.0  # 65 mph


@dataclass(frozen=True, slots=True)
class StationGeometry:
    station: str
    bearing_deg: float  # direction of travel, clockwise from north
    direction: str  # paired | assumed


def site_id(sensor: str) -> str:
    return f"LA-{sensor}"


def detector_id(sensor: str) -> str:
    return f"LA-{sensor}:D1"


def link_id(sensor: str) -> str:
    return f"LA-{sensor}:L"


def _xy(stations: tuple[Station, ...]) -> tuple[list[tuple[float, float]], float]:
    lat0 = sum(s.lat for s in stations) / len(stations)
    k = math.cos(math.radians(lat0))
    pts = [
        (math.radians(s.lon) * k * EARTH_RADIUS_M, math.radians(s.lat) * EARTH_RADIUS_M)
        for s in stations
    ]
    return pts, k


def _bearing(v: tuple[float, float]) -> float:
    return math.degrees(math.atan2(v[0], v[1])) % 360.0


def _turn(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def station_geometry(stations: tuple[Station, ...]) -> list[StationGeometry]:
    """Direction of travel of every station (see the module docstring)."""
    pts, _ = _xy(stations)
    out: list[StationGeometry] = []
    for i, s in enumerate(stations):
        px, py = pts[i]
        others = sorted(
            (math.hypot(qx - px, qy - py), j) for j, (qx, qy) in enumerate(pts) if j != i
        )
        twin = others[0][1] if others and others[0][0] < TWIN_MAX_M else None
        near = [j for d, j in others if TWIN_MAX_M <= d <= AXIS_RADIUS_M][:6]
        axis = 0.0
        if near:
            va = (pts[near[0]][0] - px, pts[near[0]][1] - py)
            axis = _bearing(va)
            for j in near[1:]:
                vb = (pts[j][0] - px, pts[j][1] - py)
                if _turn(_bearing(vb), axis) >= OPPOSITE_MIN_DEG:
                    axis = _bearing((va[0] - vb[0], va[1] - vb[1]))
                    break
        elif twin is not None:  # no neighbour but the twin: the axis is across the pair
            v = (pts[twin][0] - px, pts[twin][1] - py)
            axis = _bearing((v[1], -v[0]))
        if twin is not None:
            ux, uy = math.sin(math.radians(axis)), math.cos(math.radians(axis))
            v = (pts[twin][0] - px, pts[twin][1] - py)
            left = ux * v[1] - uy * v[0] > 0  # cross(u, v) > 0: the twin is on our left
            out.append(StationGeometry(s.id, axis if left else (axis + 180.0) % 360.0, "paired"))
        else:
            northward = axis if axis < 90.0 or axis >= 270.0 else axis - 180.0
            out.append(StationGeometry(s.id, northward, "assumed"))
    return out


def _offset(s: Station, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    b = math.radians(bearing_deg)
    dlat = distance_m * math.cos(b) / EARTH_RADIUS_M
    dlon = distance_m * math.sin(b) / (EARTH_RADIUS_M * math.cos(math.radians(s.lat)))
    return (round(s.lon + math.degrees(dlon), 7), round(s.lat + math.degrees(dlat), 7))


def group_gateways(stations: tuple[Station, ...], per_gateway: int) -> list[list[str]]:
    """Station ids per gateway: the westmost unassigned station and its nearest unassigned ones."""
    if per_gateway < 1:
        raise ValueError("per_gateway must be >= 1")
    pts, _ = _xy(stations)
    left = set(range(len(stations)))
    groups: list[list[str]] = []
    while left:
        seed = min(left, key=lambda i: (pts[i][0], pts[i][1]))
        sx, sy = pts[seed]
        members = sorted(left, key=lambda i: (math.hypot(pts[i][0] - sx, pts[i][1] - sy), i))
        chosen = members[:per_gateway]
        left.difference_update(chosen)
        groups.append(sorted(stations[i].id for i in chosen))
    return groups


def build_network(stations: tuple[Station, ...], per_gateway: int = 10) -> Network:
    """The validated network (raises NetworkError / ValueError)."""
    geometry = {g.station: g for g in station_geometry(stations)}
    sites, links, detectors = [], [], []
    for s in stations:
        g = geometry[s.id]
        sites.append(Site(site_id(s.id), SiteKind.STATION, s.lon, s.lat, f"METR-LA {s.id}"))
        links.append(
            Link(
                link_id(s.id),
                (_offset(s, g.bearing_deg, -LINK_HALF_M), _offset(s, g.bearing_deg, LINK_HALF_M)),
                LANES,
                FREE_FLOW_KMH,
                RoadClass.FREEWAY,
                name=f"METR-LA {s.id} heading {g.bearing_deg:.0f} deg ({g.direction})",
            )
        )
        detectors.append(Detector(detector_id(s.id), site_id(s.id), link_id(s.id), 1, LINK_HALF_M))
    groups = group_gateways(stations, per_gateway)
    width = max(2, len(str(len(groups))))
    gateways = [
        Gateway(f"gw-la-{n:0{width}d}", tuple(site_id(sid) for sid in group))
        for n, group in enumerate(groups, start=1)
    ]
    return validate(
        Network(
            "metr-la",
            sites=tuple(sites),
            links=tuple(links),
            detectors=tuple(detectors),
            gateways=tuple(gateways),
        )
    )

"""Stations and upstream/downstream station pairs, derived from the network.

- A *station* is a cross-section: the detectors of one link whose positions lie within
  `station_merge_m` of the first one (all lanes at one place). Its id is `<link>@<position m>`.
- The downstream neighbour of a station is, in this order:
  1. `same_link`: the next station along the same link;
  2. `connectivity`: the first station reached by following the road through `to_site`: at each
     site the outgoing link (`from_site` = that site) that turns least, if it turns at most
     `max_turn_deg` and is not the reverse direction; up to `max_pair_distance_m`;
  3. `geometry` (freeway stations only, when 1 and 2 find nothing, e.g. METR-LA sensors on
     separate links without sites): the nearest station ahead in the direction of travel whose
     link runs the same way (bearing within `max_turn_deg`), with a lateral offset of at most
     `max_lateral_m` + 10% of the distance ahead, within `max_pair_distance_m`.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import msgspec

from citytraffic.conditions.config import DEFAULT_INCIDENTS, IncidentThresholds
from citytraffic.domain.network import Link, Network, haversine_m


class Station(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    link: str
    position_m: float
    detectors: tuple[str, ...]
    site: str
    lon: float
    lat: float
    bearing_deg: float  # direction of travel at the station
    road_class: str
    free_flow_kmh: float


class StationPair(msgspec.Struct, frozen=True, kw_only=True):
    upstream: str
    downstream: str
    distance_m: float
    links: tuple[str, ...]  # links from the upstream station to the downstream one
    basis: str  # same_link | connectivity | geometry


def point_along(link: Link, position_m: float) -> tuple[float, float, float]:
    """(lon, lat, bearing_deg) at `position_m` from the start of the link (clamped)."""
    coords = link.coordinates
    remaining = max(0.0, position_m)
    for i, (a, b) in enumerate(itertools.pairwise(coords)):
        seg = haversine_m(a[0], a[1], b[0], b[1])
        if remaining <= seg or i == len(coords) - 2:
            f = min(1.0, remaining / seg) if seg > 0 else 0.0
            return a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), bearing_deg(a, b)
        remaining -= seg
    lon, lat = coords[-1]
    return lon, lat, 0.0


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Initial compass bearing from a to b (lon, lat), degrees clockwise from north."""
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dl = math.radians(b[0] - a[0])
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def turn_deg(b1: float, b2: float) -> float:
    return abs((b2 - b1 + 180.0) % 360.0 - 180.0)


def build_stations(
    network: Network, thresholds: IncidentThresholds = DEFAULT_INCIDENTS
) -> list[Station]:
    stations: list[Station] = []
    for link in network.links:
        dets = sorted(network.detectors_of_link(link.id), key=lambda d: (d.position_m, d.id))
        groups: list[list[int]] = []
        for i, d in enumerate(dets):
            if (
                groups
                and d.position_m - dets[groups[-1][0]].position_m <= thresholds.station_merge_m
            ):
                groups[-1].append(i)
            else:
                groups.append([i])
        for g in groups:
            members = [dets[i] for i in g]
            pos = sum(d.position_m for d in members) / len(members)
            lon, lat, brg = point_along(link, pos)
            stations.append(
                Station(
                    id=f"{link.id}@{pos:.0f}",
                    link=link.id,
                    position_m=pos,
                    detectors=tuple(d.id for d in members),
                    site=members[0].site,
                    lon=lon,
                    lat=lat,
                    bearing_deg=brg,
                    road_class=str(link.road_class),
                    free_flow_kmh=link.free_flow_kmh,
                )
            )
    return stations


def build_pairs(
    network: Network,
    stations: list[Station],
    thresholds: IncidentThresholds = DEFAULT_INCIDENTS,
) -> list[StationPair]:
    th = thresholds
    by_link: dict[str, list[Station]] = defaultdict(list)
    for s in stations:
        by_link[s.link].append(s)
    for group in by_link.values():
        group.sort(key=lambda s: s.position_m)
    links = {ln.id: ln for ln in network.links}
    outgoing: dict[str, list[Link]] = defaultdict(list)
    for ln in network.links:
        if ln.from_site is not None:
            outgoing[ln.from_site].append(ln)
    pairs: list[StationPair] = []
    for s in stations:
        pair = _same_link(s, by_link[s.link]) or _connectivity(s, links, outgoing, by_link, th)
        if pair is None and th.geometric_pairing and s.road_class == "freeway":
            pair = _geometry(s, stations, th)
        if pair is not None:
            pairs.append(pair)
    return pairs


def _same_link(s: Station, on_link: list[Station]) -> StationPair | None:
    after = [t for t in on_link if t.position_m > s.position_m]
    if not after:
        return None
    t = after[0]
    return StationPair(
        upstream=s.id,
        downstream=t.id,
        distance_m=t.position_m - s.position_m,
        links=(s.link,),
        basis="same_link",
    )


def _connectivity(
    s: Station,
    links: dict[str, Link],
    outgoing: dict[str, list[Link]],
    by_link: dict[str, list[Station]],
    th: IncidentThresholds,
) -> StationPair | None:
    link = links[s.link]
    distance = link.length_m - s.position_m
    path = [link.id]
    while distance <= th.max_pair_distance_m and link.to_site is not None:
        end_bearing = bearing_deg(link.coordinates[-2], link.coordinates[-1])
        options = [
            (turn_deg(end_bearing, bearing_deg(ln.coordinates[0], ln.coordinates[1])), ln)
            for ln in outgoing[link.to_site]
            if ln.id not in path and not (ln.to_site == link.from_site and ln.to_site is not None)
        ]
        options = [(t, ln) for t, ln in options if t <= th.max_turn_deg]
        if not options:
            return None
        link = min(options, key=lambda o: (o[0], o[1].id))[1]
        path.append(link.id)
        if by_link.get(link.id):
            t = by_link[link.id][0]
            total = distance + t.position_m
            if total > th.max_pair_distance_m:
                return None
            return StationPair(
                upstream=s.id,
                downstream=t.id,
                distance_m=total,
                links=tuple(path),
                basis="connectivity",
            )
        distance += link.length_m
    return None


def _geometry(s: Station, stations: list[Station], th: IncidentThresholds) -> StationPair | None:
    best: tuple[float, Station] | None = None
    cos_lat = math.cos(math.radians(s.lat))
    heading = math.radians(s.bearing_deg)
    ux, uy = math.sin(heading), math.cos(heading)  # east, north
    for t in stations:
        if t.link == s.link or t.road_class != "freeway":
            continue
        if turn_deg(s.bearing_deg, t.bearing_deg) > th.max_turn_deg:
            continue
        dx = math.radians(t.lon - s.lon) * cos_lat * 6_371_000.0
        dy = math.radians(t.lat - s.lat) * 6_371_000.0
        along = dx * ux + dy * uy
        lateral = abs(dx * uy - dy * ux)
        if along <= 0 or along > th.max_pair_distance_m:
            continue
        if lateral > th.max_lateral_m + 0.1 * along:
            continue
        if best is None or along < best[0]:
            best = (along, t)
    if best is None:
        return None
    along, t = best
    return StationPair(
        upstream=s.id,
        downstream=t.id,
        distance_m=along,
        links=(s.link, t.link),
        basis="geometry",
    )

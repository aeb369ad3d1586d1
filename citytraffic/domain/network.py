"""The road network: sites, junctions, links, detectors, signal groups, phases and gateways.

Pure data with validation; no I/O. `citytraffic.network_file` reads and writes it as GeoJSON.

- A *site* is a place with detectors: a signalised junction or a freeway station. Every MQTT
  topic is per site (`traffic/v1/site/<site>/...`).
- A *link* is a directed road section with a polyline geometry (lon, lat pairs), lanes numbered
  from 1, a free-flow speed, and a `road_class` (urban or freeway) that picks the level-of-service
  rule. `from_site`/`to_site` are optional: a freeway link may join two stations, an urban link
  two junctions, a boundary link may start or end nowhere.
- A *detector* sits on one lane of one link, at `position_m` from the link start, and reports to
  one site.
- A *signal group* is a set of movements (incoming link + lanes) that show the same colour; a
  *phase* is a set of signal groups green together. Each junction owns its groups and phases.
- A *gateway* publishes for one or more sites.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from citytraffic.domain.errors import NetworkError

ID_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$(?!\n)"
"""Ids become MQTT topic levels and InfluxDB tag values: no `/`, `+`, `#`, spaces or `$`.
`$(?!\n)` because `$` alone also matches before a final newline (Python re, msgspec); the form
works in JSON Schema (ECMA-262) regexes too."""
ID_PATTERN = re.compile(ID_REGEX)


class RoadClass(StrEnum):
    URBAN = "urban"
    FREEWAY = "freeway"


class SiteKind(StrEnum):
    JUNCTION = "junction"
    STATION = "station"


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    kind: SiteKind
    lon: float
    lat: float
    name: str = ""


@dataclass(frozen=True, slots=True)
class Link:
    id: str
    coordinates: tuple[tuple[float, float], ...]  # (lon, lat) pairs, at least two
    lanes: int
    free_flow_kmh: float
    road_class: RoadClass
    from_site: str | None = None
    to_site: str | None = None
    name: str = ""

    @property
    def length_m(self) -> float:
        return sum(
            haversine_m(a[0], a[1], b[0], b[1])
            for a, b in zip(self.coordinates, self.coordinates[1:], strict=False)
        )


@dataclass(frozen=True, slots=True)
class Detector:
    id: str
    site: str
    link: str
    lane: int  # numbered from 1 (kerb side)
    position_m: float


@dataclass(frozen=True, slots=True)
class Movement:
    link: str
    lanes: tuple[int, ...]
    to_link: str | None = None


@dataclass(frozen=True, slots=True)
class SignalGroup:
    id: str
    movements: tuple[Movement, ...]
    min_green_s: float = 5.0
    pedestrian_clearance_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Phase:
    id: str
    signal_groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Junction:
    """Signal control data of a junction site."""

    site: str
    signal_groups: tuple[SignalGroup, ...] = ()
    phases: tuple[Phase, ...] = ()
    yellow_s: float = 3.0
    all_red_s: float = 2.0
    local_plan: str = ""


@dataclass(frozen=True, slots=True)
class Gateway:
    id: str
    sites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    sites: tuple[Site, ...] = ()
    links: tuple[Link, ...] = ()
    detectors: tuple[Detector, ...] = ()
    junctions: tuple[Junction, ...] = ()
    gateways: tuple[Gateway, ...] = ()
    _index: dict[str, dict[str, object]] = field(default_factory=dict, repr=False, compare=False)

    def site(self, site_id: str) -> Site:
        return self._lookup("sites", site_id, self.sites)  # type: ignore[return-value]

    def link(self, link_id: str) -> Link:
        return self._lookup("links", link_id, self.links)  # type: ignore[return-value]

    def detector(self, detector_id: str) -> Detector:
        return self._lookup("detectors", detector_id, self.detectors)  # type: ignore[return-value]

    def detectors_of_site(self, site_id: str) -> tuple[Detector, ...]:
        return tuple(d for d in self.detectors if d.site == site_id)

    def detectors_of_link(self, link_id: str) -> tuple[Detector, ...]:
        return tuple(d for d in self.detectors if d.link == link_id)

    def junction(self, site_id: str) -> Junction | None:
        return next((j for j in self.junctions if j.site == site_id), None)

    def bounds(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat) over sites and link geometry."""
        lons = [s.lon for s in self.sites] + [c[0] for ln in self.links for c in ln.coordinates]
        lats = [s.lat for s in self.sites] + [c[1] for ln in self.links for c in ln.coordinates]
        if not lons:
            raise NetworkError(["the network is empty"])
        return min(lons), min(lats), max(lons), max(lats)

    def _lookup(self, kind: str, key: str, items: Iterable[object]) -> object:
        index = self._index.get(kind)
        if index is None:
            index = {getattr(i, "id"): i for i in items}  # noqa: B009
            self._index[kind] = index
        try:
            return index[key]
        except KeyError:
            raise KeyError(f"unknown {kind[:-1]} {key!r}") from None


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def validate(network: Network) -> Network:
    """Return the network if it is consistent, else raise NetworkError listing every problem."""
    problems: list[str] = []

    def check_ids(kind: str, ids: Iterable[str]) -> set[str]:
        seen = Counter(ids)
        for key, n in seen.items():
            if n > 1:
                problems.append(f"duplicate {kind} id {key!r} ({n} times)")
            if not ID_PATTERN.match(key):
                problems.append(
                    f"{kind} id {key!r} is not allowed: use letters, digits, '_', '.', ':', '-' "
                    "(max 64 characters, no '/', '+', '#', '$' or spaces)"
                )
        return set(seen)

    site_ids = check_ids("site", (s.id for s in network.sites))
    check_ids("link", (ln.id for ln in network.links))
    check_ids("detector", (d.id for d in network.detectors))
    check_ids("gateway", (g.id for g in network.gateways))
    links = {ln.id: ln for ln in network.links}

    for s in network.sites:
        _check_lon_lat(problems, f"site {s.id!r}", s.lon, s.lat)
    for ln in network.links:
        where = f"link {ln.id!r}"
        if len(ln.coordinates) < 2:
            problems.append(f"{where}: geometry needs at least 2 points")
        for lon, lat in ln.coordinates:
            _check_lon_lat(problems, where, lon, lat)
        if len(ln.coordinates) >= 2 and ln.length_m <= 0:
            problems.append(f"{where}: geometry has zero length")
        if ln.lanes < 1:
            problems.append(f"{where}: lanes must be >= 1, got {ln.lanes}")
        if not (0 < ln.free_flow_kmh <= 200):
            problems.append(f"{where}: free_flow_kmh must be in (0, 200], got {ln.free_flow_kmh}")
        for end in (ln.from_site, ln.to_site):
            if end is not None and end not in site_ids:
                problems.append(f"{where}: unknown site {end!r}")
    for d in network.detectors:
        where = f"detector {d.id!r}"
        if d.site not in site_ids:
            problems.append(f"{where}: unknown site {d.site!r}")
        link = links.get(d.link)
        if link is None:
            problems.append(f"{where}: unknown link {d.link!r}")
        else:
            if not (1 <= d.lane <= link.lanes):
                problems.append(f"{where}: lane {d.lane} outside 1..{link.lanes} of {d.link!r}")
            if d.position_m < 0 or d.position_m > link.length_m + 1.0:
                problems.append(
                    f"{where}: position_m {d.position_m} outside the link "
                    f"(0..{link.length_m:.0f} m)"
                )
    site_kinds = {s.id: s.kind for s in network.sites}
    for site_id, n in Counter(j.site for j in network.junctions).items():
        if n > 1:
            problems.append(f"junction {site_id!r}: signal data given {n} times")
    for j in network.junctions:
        if site_kinds.get(j.site, SiteKind.JUNCTION) is not SiteKind.JUNCTION:
            problems.append(
                f"junction {j.site!r}: site is a {site_kinds[j.site].value}; "
                "only junction sites carry signal data"
            )
        _check_junction(problems, j, site_ids, links)
    for g in network.gateways:
        for s_id in g.sites:
            if s_id not in site_ids:
                problems.append(f"gateway {g.id!r}: unknown site {s_id!r}")
    if problems:
        raise NetworkError(problems)
    return network


def _check_lon_lat(problems: list[str], where: str, lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        problems.append(f"{where}: coordinate ({lon}, {lat}) is not a valid lon/lat")


def _check_junction(
    problems: list[str], j: Junction, site_ids: set[str], links: dict[str, Link]
) -> None:
    where = f"junction {j.site!r}"
    if j.site not in site_ids:
        problems.append(f"{where}: unknown site")
    group_ids = Counter(g.id for g in j.signal_groups)
    for gid, n in group_ids.items():
        if n > 1:
            problems.append(f"{where}: duplicate signal group {gid!r}")
    for g in j.signal_groups:
        for m in g.movements:
            link = links.get(m.link)
            if link is None:
                problems.append(f"{where} group {g.id!r}: unknown link {m.link!r}")
                continue
            bad = [lane for lane in m.lanes if not 1 <= lane <= link.lanes]
            if bad:
                problems.append(f"{where} group {g.id!r}: lanes {bad} not on {m.link!r}")
            if m.to_link is not None and m.to_link not in links:
                problems.append(f"{where} group {g.id!r}: unknown link {m.to_link!r}")
    for pid, n in Counter(p.id for p in j.phases).items():
        if n > 1:
            problems.append(f"{where}: duplicate phase {pid!r}")
    for p in j.phases:
        for gid in p.signal_groups:
            if gid not in group_ids:
                problems.append(f"{where} phase {p.id!r}: unknown signal group {gid!r}")

"""The citytraffic network of a SUMO network: what the SUMO gateway tells the centre it has.

Pure (works on `netparse.NetInfo`, no SUMO import).

- Geo-reference: SUMO's x/y metres are placed east/north of a configurable `Origin` (lon, lat)
  with a local equirectangular projection (exact enough for a city: < 0.1 % over 10 km), so maps
  show the junctions at real coordinates of the chosen place.
- Ids: every SUMO id goes through `ids.safe_id` (SUMO allows ids a topic level cannot carry).
- Sites: one junction site per traffic-light system, at the centre of the nodes it controls.
- Links: every non-internal edge, on its SUMO shape (or straight between its nodes), lanes
  numbered from 1 at the kerb (SUMO lane index 0), free-flow speed from the lanes' limit.
- Detectors: the E1 loops (`loops.LoopSpec`), on their lane, at their position.
- Signal groups: the signal links of one incoming edge that show the same colour in every phase
  of the program (SUMO's "link index" columns) form a group `<edge>.<k>`; links that are never
  green are left out. Phases: the program's green phases (`P1`, `P2`, ... in program order), each
  with the groups that are green (`G` or permissive `g`) in it. Yellow is the program's longest
  yellow phase, all-red its longest phase without green or yellow (0 when there is none).
- Gateways: one per junction (`gw-<site>`), as one field device per junction would be.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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
from simulators.sumo.ids import safe_id
from simulators.sumo.loops import LoopSpec
from simulators.sumo.netparse import NetInfo, TlLink

EARTH_RADIUS_M = 6_371_000.0
GREEN = frozenset("Gg")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where SUMO's (0, 0) lies."""

    lon: float
    lat: float

    def __post_init__(self) -> None:
        if not (-180 <= self.lon <= 180 and -85 <= self.lat <= 85):
            raise ValueError(f"origin ({self.lon}, {self.lat}) is not a lon/lat")

    def to_lon_lat(self, x_m: float, y_m: float) -> tuple[float, float]:
        lat = self.lat + math.degrees(y_m / EARTH_RADIUS_M)
        lon = self.lon + math.degrees(x_m / (EARTH_RADIUS_M * math.cos(math.radians(self.lat))))
        return round(lon, 7), round(lat, 7)


VIENNA = Origin(16.3600, 48.2000)  # the default place, as the synthetic city's


@dataclass(frozen=True, slots=True)
class SignalData:
    """A traffic-light system as a citytraffic junction, with its SUMO program translated."""

    tls: str  # SUMO id
    junction: Junction
    green_states: dict[str, str]  # phase id -> SUMO state string of that green phase
    program_phase_names: tuple[str, ...]  # name of each phase of the SUMO program


def signal_data(info: NetInfo, tls: str) -> SignalData:
    program = info.programs[tls]
    links = info.tl_links[tls]
    columns = {lk.index: tuple(s[lk.index] for s in program.phase_states) for lk in links}
    groups: dict[tuple[str, tuple[str, ...]], list[TlLink]] = {}
    for lk in links:
        if any(c in GREEN for c in columns[lk.index]):
            edge = info.lane(lk.from_lane).edge
            groups.setdefault((edge, columns[lk.index]), []).append(lk)
    counter: dict[str, int] = {}
    group_id: dict[tuple[str, tuple[str, ...]], str] = {}
    signal_groups: list[SignalGroup] = []
    for key in sorted(groups, key=lambda k: min(lk.index for lk in groups[k])):
        edge = key[0]
        counter[edge] = counter.get(edge, 0) + 1
        gid = safe_id(f"{edge}.{counter[edge]}")
        group_id[key] = gid
        signal_groups.append(SignalGroup(gid, _movements(info, groups[key])))
    green_states: dict[str, str] = {}
    phases: list[Phase] = []
    names: list[str] = []
    last_green = "P0"
    for i, state in enumerate(program.phase_states):
        if any(c in GREEN for c in state) and "y" not in state.lower():
            last_green = f"P{len(phases) + 1}"
            members = tuple(gid for (_, col), gid in group_id.items() if col[i] in GREEN)
            phases.append(Phase(last_green, members))
            green_states[last_green] = state
            names.append(last_green)
        elif "y" in state.lower():
            names.append(f"{last_green}-yellow")
        else:
            names.append(f"{last_green}-allred")
    timed = list(zip(program.phase_states, program.phase_durations_s, strict=True))
    yellows = [d for s, d in timed if "y" in s.lower()]
    reds = [d for s, d in timed if not any(c in GREEN or c in "yY" for c in s)]
    junction = Junction(
        site=safe_id(tls),
        signal_groups=tuple(signal_groups),
        phases=tuple(phases),
        yellow_s=max(yellows, default=3.0),
        all_red_s=max(reds, default=0.0),
        local_plan=program.program_id,
    )
    return SignalData(tls, junction, green_states, tuple(names))


def _movements(info: NetInfo, links: Sequence[TlLink]) -> tuple[Movement, ...]:
    lanes_to: dict[tuple[str, str], set[int]] = {}
    for lk in links:
        src, dst = info.lane(lk.from_lane), info.lane(lk.to_lane)
        lanes_to.setdefault((src.edge, dst.edge), set()).add(src.index + 1)
    return tuple(
        Movement(safe_id(src), tuple(sorted(lanes)), safe_id(dst))
        for (src, dst), lanes in sorted(lanes_to.items())
    )


def derive_network(
    info: NetInfo, loops: Sequence[LoopSpec], origin: Origin = VIENNA, name: str = "sumo"
) -> tuple[Network, dict[str, SignalData]]:
    """The validated network and, per site id, the signal data of its traffic lights."""
    signals = {safe_id(tls): signal_data(info, tls) for tls in sorted(info.tl_links)}
    node_site: dict[str, str] = {}
    sites: list[Site] = []
    for site_id, data in signals.items():
        nodes = sorted(
            {info.edges[info.lane(lk.from_lane).edge].to_node for lk in info.tl_links[data.tls]}
        )
        for n in nodes:
            node_site[n] = site_id
        x = sum(info.nodes[n][0] for n in nodes) / len(nodes)
        y = sum(info.nodes[n][1] for n in nodes) / len(nodes)
        lon, lat = origin.to_lon_lat(x, y)
        sites.append(Site(site_id, SiteKind.JUNCTION, lon, lat, name=f"SUMO {data.tls}"))
    links: list[Link] = []
    for eid, e in sorted(info.edges.items()):
        if not e.lanes:
            continue
        shape = e.shape or (info.nodes[e.from_node], info.nodes[e.to_node])
        coords = tuple(origin.to_lon_lat(x, y) for x, y in shape)
        speed_kmh = min(200.0, max(ln.speed_ms for ln in e.lanes) * 3.6)
        links.append(
            Link(
                id=safe_id(eid),
                coordinates=coords,
                lanes=len(e.lanes),
                free_flow_kmh=round(speed_kmh, 2),
                road_class=RoadClass.URBAN,
                from_site=node_site.get(e.from_node),
                to_site=node_site.get(e.to_node),
                name=f"SUMO {eid}",
            )
        )
    detectors = [
        Detector(
            id=sp.id,
            site=sp.site,
            link=safe_id(info.lane(sp.lane).edge),
            lane=info.lane(sp.lane).index + 1,
            position_m=round(sp.pos_m, 2),
        )
        for sp in loops
    ]
    network = Network(
        name=name,
        sites=tuple(sites),
        links=tuple(links),
        detectors=tuple(detectors),
        junctions=tuple(d.junction for d in signals.values()),
        gateways=tuple(Gateway(f"gw-{s}", (s,)) for s in signals),
    )
    return validate(network), signals

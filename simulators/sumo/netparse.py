"""Read what the control side needs from a SUMO `.net.xml`: edges, lanes, signalised links, phases.

Pure XML parsing (no SUMO import), so scenario layouts are testable without a simulation.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LaneGeo:
    id: str
    edge: str
    index: int
    length_m: float
    speed_ms: float


@dataclass(frozen=True, slots=True)
class EdgeGeo:
    id: str
    from_node: str
    to_node: str
    lanes: tuple[LaneGeo, ...]
    shape: tuple[tuple[float, float], ...] = ()  # x, y in m; empty: straight between the nodes


@dataclass(frozen=True, slots=True)
class TlLink:
    index: int
    from_lane: str
    to_lane: str
    direction: str  # SUMO dir: s, r, l, t (turnaround), L, R


@dataclass(frozen=True, slots=True)
class TlProgram:
    tls: str
    kind: str  # static | actuated | delay_based | ...
    phase_states: tuple[str, ...]
    phase_durations_s: tuple[float, ...]
    program_id: str = "0"


@dataclass(slots=True)
class NetInfo:
    nodes: dict[str, tuple[float, float]] = field(default_factory=dict)
    edges: dict[str, EdgeGeo] = field(default_factory=dict)
    tl_links: dict[str, list[TlLink]] = field(default_factory=dict)
    programs: dict[str, TlProgram] = field(default_factory=dict)

    def lane(self, lane_id: str) -> LaneGeo:
        edge_id, _, idx = lane_id.rpartition("_")
        return self.edges[edge_id].lanes[int(idx)]

    def is_east_west(self, edge_id: str) -> bool:
        """True when the edge runs more east-west than north-south."""
        e = self.edges[edge_id]
        (x1, y1), (x2, y2) = self.nodes[e.from_node], self.nodes[e.to_node]
        return abs(x2 - x1) >= abs(y2 - y1)


def read_net(path: Path) -> NetInfo:
    info = NetInfo()
    root = ET.parse(path).getroot()  # noqa: S314 (a net file SUMO wrote for us)
    for j in root.iter("junction"):
        if j.get("type") != "internal":
            info.nodes[j.get("id", "")] = (float(j.get("x", "0")), float(j.get("y", "0")))
    for e in root.iter("edge"):
        if e.get("function") == "internal":
            continue
        eid = e.get("id", "")
        lanes = tuple(
            LaneGeo(
                id=ln.get("id", ""),
                edge=eid,
                index=int(ln.get("index", "0")),
                length_m=float(ln.get("length", "0")),
                speed_ms=float(ln.get("speed", "13.89")),
            )
            for ln in e.iter("lane")
        )
        info.edges[eid] = EdgeGeo(
            eid, e.get("from", ""), e.get("to", ""), lanes, _shape(e.get("shape", ""))
        )
    for c in root.iter("connection"):
        tls = c.get("tl")
        if tls is None or c.get("from", "").startswith(":"):
            continue
        link = TlLink(
            index=int(c.get("linkIndex", "0")),
            from_lane=f"{c.get('from')}_{c.get('fromLane')}",
            to_lane=f"{c.get('to')}_{c.get('toLane')}",
            direction=c.get("dir", "s"),
        )
        info.tl_links.setdefault(tls, []).append(link)
    for links in info.tl_links.values():
        links.sort(key=lambda lk: lk.index)
    for tl in root.iter("tlLogic"):
        phases = list(tl.iter("phase"))
        info.programs[tl.get("id", "")] = TlProgram(
            tls=tl.get("id", ""),
            kind=tl.get("type", "static"),
            phase_states=tuple(p.get("state", "") for p in phases),
            phase_durations_s=tuple(float(p.get("duration", "0")) for p in phases),
            program_id=tl.get("programID", "0"),
        )
    return info


def _shape(text: str) -> tuple[tuple[float, float], ...]:
    """SUMO's `x,y x,y ...` (a third coordinate, if any, is dropped)."""
    points: list[tuple[float, float]] = []
    for pair in text.split():
        parts = pair.split(",")
        if len(parts) >= 2:
            points.append((float(parts[0]), float(parts[1])))
    return tuple(points)

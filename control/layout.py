"""What a signal controller knows about its junctions: approaches, signal links, green phases
and which detector sits where. Pure data, built by the scenario (or from a network file)."""

from __future__ import annotations

from dataclasses import dataclass, field

GREEN = frozenset("Gg")


@dataclass(frozen=True, slots=True)
class Approach:
    """An incoming edge of a junction with its loops (stop-line and, optionally, upstream and
    advance loops)."""

    edge: str
    lanes: int
    length_m: float
    free_speed_ms: float
    stop_detectors: tuple[str, ...]
    upstream_detectors: tuple[str, ...] = ()
    loop_gap_m: float = 0.0  # distance from the upstream loops to the stop-line loops
    advance_detectors: tuple[str, ...] = ()
    advance_gap_m: float = 0.0  # distance from the advance loops to the stop-line loops

    @property
    def capacity_veh(self) -> float:
        return self.lanes * self.length_m / 7.5


@dataclass(frozen=True, slots=True)
class SignalLink:
    index: int
    from_edge: str
    to_edge: str
    direction: str  # s, r, l, t


@dataclass(frozen=True, slots=True)
class JunctionLayout:
    site: str
    links: tuple[SignalLink, ...]
    green_states: tuple[str, ...]  # one state string per green phase (SUMO link order)
    approaches: dict[str, Approach] = field(default_factory=dict)  # by incoming edge
    yellow_s: float = 3.0
    all_red_s: float = 0.0

    _edges: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)
    _links: tuple[tuple[SignalLink, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        links = tuple(
            tuple(lk for lk in self.links if state[lk.index] in GREEN)
            for state in self.green_states
        )
        object.__setattr__(self, "_links", links)
        object.__setattr__(
            self, "_edges", tuple(frozenset(lk.from_edge for lk in ls) for ls in links)
        )

    def served_edges(self, phase: int) -> frozenset[str]:
        return self._edges[phase]

    def served_links(self, phase: int) -> tuple[SignalLink, ...]:
        return self._links[phase]


def transition_states(from_state: str, to_state: str) -> tuple[str, str]:
    """(yellow, all-red) state strings between two green states: a link that stays green keeps
    its colour, a link that loses green shows yellow then red, a link that gains green waits."""
    yellow = "".join(
        f if (f in GREEN and t in GREEN) else ("y" if f in GREEN else "r")
        for f, t in zip(from_state, to_state, strict=True)
    )
    red = "".join(
        f if (f in GREEN and t in GREEN) else "r" for f, t in zip(from_state, to_state, strict=True)
    )
    return yellow, red

"""Controller layouts (control.layout) of a scenario's signalised junctions."""

from __future__ import annotations

from control.layout import GREEN, Approach, JunctionLayout, SignalLink
from simulators.sumo.scenario import Scenario


def junction_layouts(scenario: Scenario, all_red_s: float = 0.0) -> dict[str, JunctionLayout]:
    info = scenario.info
    layouts: dict[str, JunctionLayout] = {}
    for tls in scenario.signals():
        program = info.programs[tls]
        greens = tuple(
            s for s in program.phase_states if any(c in GREEN for c in s) and "y" not in s.lower()
        )
        yellows = [
            d
            for s, d in zip(program.phase_states, program.phase_durations_s, strict=True)
            if "y" in s.lower()
        ]
        links = tuple(
            SignalLink(
                lk.index, info.lane(lk.from_lane).edge, info.lane(lk.to_lane).edge, lk.direction
            )
            for lk in info.tl_links[tls]
        )
        approaches: dict[str, Approach] = {}
        for edge_id in sorted({lk.from_edge for lk in links}):
            edge = info.edges[edge_id]
            length = min(ln.length_m for ln in edge.lanes)
            ids = [ln.id for ln in edge.lanes]
            up_m = min(scenario.spec.upstream_loop_m, (length - scenario.spec.stop_loop_m) / 2)
            approaches[edge_id] = Approach(
                edge=edge_id,
                lanes=len(edge.lanes),
                length_m=length,
                free_speed_ms=edge.lanes[0].speed_ms,
                stop_detectors=tuple(f"{i}.s" for i in ids),
                upstream_detectors=(
                    tuple(f"{i}.u" for i in ids) if scenario.spec.upstream_loops else ()
                ),
                loop_gap_m=max(0.0, length - scenario.spec.stop_loop_m - up_m),
            )
        layouts[tls] = JunctionLayout(
            site=tls,
            links=links,
            green_states=greens,
            approaches=approaches,
            yellow_s=max(yellows) if yellows else 3.0,
            all_red_s=all_red_s,
        )
    return layouts

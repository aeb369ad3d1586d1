"""Controller layouts (control.layout) of signalised junctions: from a benchmark scenario, or
from any SUMO network with its loops (the SUMO gateway)."""

from __future__ import annotations

from collections.abc import Sequence

from control.layout import GREEN, Approach, JunctionLayout, SignalLink
from simulators.sumo.ids import safe_id
from simulators.sumo.loops import LoopSpec
from simulators.sumo.netparse import NetInfo
from simulators.sumo.scenario import Scenario


def junction_layouts(scenario: Scenario, all_red_s: float = 0.0) -> dict[str, JunctionLayout]:
    return layouts_for(scenario.info, scenario.spec.loops(scenario.info), all_red_s)


def layouts_for(
    info: NetInfo, loops: Sequence[LoopSpec], all_red_s: float = 0.0
) -> dict[str, JunctionLayout]:
    """One layout per traffic light, keyed by its site id (`ids.safe_id` of the SUMO id)."""
    by_lane: dict[str, list[LoopSpec]] = {}
    for sp in loops:
        by_lane.setdefault(sp.lane, []).append(sp)
    layouts: dict[str, JunctionLayout] = {}
    for tls in sorted(info.tl_links):
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
            specs = [sp for ln in edge.lanes for sp in by_lane.get(ln.id, [])]
            stops = [sp for sp in specs if sp.kind == "stop"]
            ups = [sp for sp in specs if sp.kind == "upstream"]
            advs = [sp for sp in specs if sp.kind == "advance"]
            gap = stops[0].pos_m - ups[0].pos_m if stops and ups else 0.0
            adv_gap = stops[0].pos_m - advs[0].pos_m if stops and advs else 0.0
            approaches[edge_id] = Approach(
                edge=edge_id,
                lanes=len(edge.lanes),
                length_m=min(ln.length_m for ln in edge.lanes),
                free_speed_ms=edge.lanes[0].speed_ms,
                stop_detectors=tuple(sp.id for sp in stops),
                upstream_detectors=tuple(sp.id for sp in ups),
                loop_gap_m=max(0.0, gap),
                advance_detectors=tuple(sp.id for sp in advs),
                advance_gap_m=max(0.0, adv_gap),
            )
        site = safe_id(tls)
        layouts[site] = JunctionLayout(
            site=site,
            links=links,
            green_states=greens,
            approaches=approaches,
            yellow_s=max(yellows) if yellows else 3.0,
            all_red_s=all_red_s,
        )
    return layouts

"""Timing suggestions per junction from the live detector conditions (pure).

Lane groups are the junction's signal groups: a group's flow is, per movement, the mean measured
flow of the detectors on the movement's lanes times the movement's lane count (a lane without a
detector is assumed to carry its neighbours' mean); saturation flow is 1800 veh/h per lane.
A suggestion is withheld, with the reasons, when any detector it needs is missing, not
`quality == "ok"`, older than `stale_after_s`, or has health status `bad`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from citytraffic.domain.network import Junction, Network
from control.planner import LaneGroupFlow, PhaseSpec, Plan, PlannerConfig, suggest_plan
from control.plans import fixed_plan_delay, phase_minimum_s

SATURATION_PER_LANE_VPH = 1800.0


@dataclass(frozen=True, slots=True)
class DetectorInput:
    """What a suggestion needs of one detector's latest reading (from the API snapshot)."""

    detector: str
    flow_vph: float | None
    quality: str
    age_s: float
    health: str = "ok"  # ok | suspect | bad | unknown


@dataclass(frozen=True, slots=True)
class JunctionInputs:
    groups: tuple[LaneGroupFlow, ...]
    phases: tuple[PhaseSpec, ...]
    config: PlannerConfig
    detectors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Withheld:
    site: str
    reasons: tuple[str, ...]
    detectors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Computed:
    """A plan for one junction with its expected benefit over the plan in force."""

    site: str
    plan: Plan
    current_delay_s: float
    current_plan: str  # "accepted vN" | "local (equal splits, C s)"
    detectors: tuple[str, ...]
    digest: str = field(default="")

    @property
    def expected_benefit(self) -> dict[str, Any]:
        saved = self.current_delay_s - self.plan.total_delay_s
        pct = 100.0 * saved / self.current_delay_s if self.current_delay_s > 0 else 0.0
        return {
            "delay_current_s_per_veh": round(self.current_delay_s, 2),
            "delay_suggested_s_per_veh": round(self.plan.total_delay_s, 2),
            "delay_saved_s_per_veh": round(saved, 2),
            "delay_saved_pct": round(pct, 1),
            "compared_with": self.current_plan,
            "method": "HCM control delay d1 + d2, flow-weighted, same formulas for both plans",
        }


def junction_inputs(
    network: Network,
    junction: Junction,
    readings: Mapping[str, DetectorInput],
    stale_after_s: float,
    base: PlannerConfig | None = None,
) -> JunctionInputs | Withheld:
    reasons: list[str] = []
    used: list[str] = []
    groups: list[LaneGroupFlow] = []
    for sg in junction.signal_groups:
        flow = 0.0
        lanes_total = 0
        for m in sg.movements:
            dets = [d for d in network.detectors_of_link(m.link) if d.lane in m.lanes]
            if not dets:
                reasons.append(f"signal group {sg.id!r}: no detector on {m.link} lanes {m.lanes}")
                continue
            flows: list[float] = []
            for d in dets:
                used.append(d.id)
                r = readings.get(d.id)
                if r is None:
                    reasons.append(f"detector {d.id}: no recent reading")
                elif r.quality != "ok":
                    reasons.append(f"detector {d.id}: quality {r.quality!r}")
                elif r.health == "bad":
                    reasons.append(f"detector {d.id}: health bad")
                elif r.age_s > stale_after_s:
                    reasons.append(f"detector {d.id}: stale ({r.age_s:.0f} s old)")
                elif r.flow_vph is None:
                    reasons.append(f"detector {d.id}: no flow (count/interval missing)")
                else:
                    flows.append(r.flow_vph)
            if flows:
                flow += sum(flows) / len(flows) * len(m.lanes)
            lanes_total += len(m.lanes)
        groups.append(
            LaneGroupFlow(
                id=sg.id,
                flow_vph=round(flow, 1),
                saturation_flow_vph=SATURATION_PER_LANE_VPH * max(1, lanes_total),
                approach=sg.id,
            )
        )
    if not junction.phases:
        reasons.append("junction has no phases")
    if reasons:
        return Withheld(junction.site, tuple(dict.fromkeys(reasons)), tuple(used))
    by_id = {g.id: g for g in junction.signal_groups}
    phases = tuple(
        PhaseSpec(
            id=p.id,
            lane_groups=p.signal_groups,
            min_green_s=max((by_id[g].min_green_s for g in p.signal_groups), default=0.0),
            pedestrian_clearance_s=max(
                (by_id[g].pedestrian_clearance_s for g in p.signal_groups), default=0.0
            ),
        )
        for p in junction.phases
    )
    cfg = base or PlannerConfig()
    cfg = PlannerConfig(
        lost_time_per_phase_s=cfg.lost_time_per_phase_s,
        cycle_min_s=cfg.cycle_min_s,
        cycle_max_s=cfg.cycle_max_s,
        yellow_s=junction.yellow_s,
        all_red_s=junction.all_red_s,
        analysis_period_h=cfg.analysis_period_h,
        incremental_k=cfg.incremental_k,
        upstream_filtering_i=cfg.upstream_filtering_i,
        over_capacity_y=cfg.over_capacity_y,
    )
    return JunctionInputs(tuple(groups), phases, cfg, tuple(used))


def local_greens_s(junction: Junction, cycle_s: float) -> list[float]:
    """The assumed local plan: `cycle_s` shared equally, each phase at least its minimum."""
    n = max(1, len(junction.phases))
    share = cycle_s / n - junction.yellow_s - junction.all_red_s
    return [max(share, phase_minimum_s(junction, p.signal_groups)) for p in junction.phases]


def compute(
    inputs: JunctionInputs,
    site: str,
    current_greens_s: Sequence[float],
    current_plan: str,
) -> Computed | Withheld:
    result = suggest_plan(inputs.groups, inputs.phases, inputs.config)
    if not isinstance(result, Plan):
        return Withheld(site, ("planner: " + "; ".join(result.reasons),), inputs.detectors)
    current = fixed_plan_delay(inputs.groups, inputs.phases, current_greens_s, inputs.config)
    key = json.dumps([result.cycle_s, [p.green_s for p in result.phases]]).encode()
    digest = hashlib.sha256(site.encode() + b"|" + key).hexdigest()[:8]
    return Computed(site, result, current, current_plan, inputs.detectors, digest)

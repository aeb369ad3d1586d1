"""Timing suggestions for one junction: Webster cycle and splits, HCM control delay.

Pure functions over plain data (docs/control.md, domain.md section 5):

- flow ratio of a lane group y = q / s; a phase's critical ratio is the largest y it serves;
  Y = sum of the critical ratios; lost time L = phases x lost time per phase (about 4 s);
- Webster optimal cycle C0 = (1.5 L + 5) / (1 - Y), clamped to [cycle_min_s, cycle_max_s]
  (cycle_max_s when Y >= 1, where C0 has no meaning);
- effective greens g_i = (C - L) y_i / Y, then raised to each phase's minimum (minimum green and
  pedestrian clearance, as displayed green) with the rest shared by y; the cycle grows (within its
  bounds) when the minimums do not fit; displayed green G = g - (yellow + all-red) + lost time;
- HCM delay per lane group: c = s g / C, X = q / c,
  d1 = 0.5 C (1 - g/C)^2 / (1 - min(1, X) g/C),
  d2 = 900 T [(X - 1) + sqrt((X - 1)^2 + 8 k I X / (c T))], d = d1 + d2;
  total delay is the flow-weighted mean; Y >= 0.9 flags the junction as (near) over capacity.
Bad input gives a PlanRejected with reasons, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LaneGroupFlow:
    id: str
    flow_vph: float
    saturation_flow_vph: float = 1800.0  # of the whole lane group (lanes x per-lane rate)
    approach: str = ""


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    id: str
    lane_groups: tuple[str, ...]
    min_green_s: float = 5.0
    pedestrian_clearance_s: float = 0.0


@dataclass(frozen=True, slots=True)
class PlannerConfig:
    lost_time_per_phase_s: float = 4.0
    cycle_min_s: float = 30.0
    cycle_max_s: float = 120.0
    yellow_s: float = 3.0
    all_red_s: float = 2.0
    analysis_period_h: float = 0.25  # T
    incremental_k: float = 0.5  # k, pretimed
    upstream_filtering_i: float = 1.0  # I, isolated
    over_capacity_y: float = 0.9


@dataclass(frozen=True, slots=True)
class PlanRejected:
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": False, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class GroupResult:
    id: str
    approach: str
    flow_vph: float
    saturation_flow_vph: float
    flow_ratio: float
    capacity_vph: float
    degree_of_saturation: float
    uniform_delay_s: float
    incremental_delay_s: float
    delay_s: float


@dataclass(frozen=True, slots=True)
class PhaseResult:
    id: str
    critical_group: str
    critical_flow_ratio: float
    effective_green_s: float
    green_s: float
    minimum_green_s: float
    yellow_s: float
    all_red_s: float


@dataclass(frozen=True, slots=True)
class Plan:
    cycle_s: float
    webster_cycle_s: float | None
    lost_time_s: float
    flow_ratio_sum: float
    over_capacity: bool
    phases: tuple[PhaseResult, ...]
    groups: tuple[GroupResult, ...]
    delay_by_approach_s: dict[str, float]
    total_delay_s: float
    notes: tuple[str, ...]
    inputs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = True
        d["formulas"] = FORMULAS
        return d


FORMULAS = {
    "flow_ratio": "y = q / s",
    "lost_time": "L = phases x lost_time_per_phase_s",
    "webster_cycle": "C0 = (1.5 L + 5) / (1 - Y), clamped to [cycle_min_s, cycle_max_s]",
    "effective_green": "g_i = (C - L) y_i / Y, raised to minimums",
    "displayed_green": "G = g - (yellow + all_red) + lost_time_per_phase",
    "capacity": "c = s g / C",
    "degree_of_saturation": "X = q / c",
    "uniform_delay": "d1 = 0.5 C (1 - g/C)^2 / (1 - min(1, X) g/C)",
    "incremental_delay": "d2 = 900 T [(X - 1) + sqrt((X - 1)^2 + 8 k I X / (c T))]",
    "over_capacity": "Y >= over_capacity_y",
}


def _check(
    groups: Sequence[LaneGroupFlow], phases: Sequence[PhaseSpec], cfg: PlannerConfig
) -> list[str]:
    problems: list[str] = []
    ids = [g.id for g in groups]
    if not groups or not phases:
        problems.append("need at least one lane group and one phase")
    if len(set(ids)) != len(ids):
        problems.append("duplicate lane group id")
    for g in groups:
        if not (math.isfinite(g.flow_vph) and g.flow_vph >= 0):
            problems.append(f"lane group {g.id!r}: flow must be a finite number >= 0")
        if not (math.isfinite(g.saturation_flow_vph) and g.saturation_flow_vph > 0):
            problems.append(f"lane group {g.id!r}: saturation flow must be > 0")
    for p in phases:
        unknown = [lg for lg in p.lane_groups if lg not in ids]
        if unknown or not p.lane_groups:
            problems.append(f"phase {p.id!r}: unknown or no lane groups {unknown}")
        if p.min_green_s < 0 or p.pedestrian_clearance_s < 0:
            problems.append(f"phase {p.id!r}: negative minimum")
    served = {lg for p in phases for lg in p.lane_groups}
    problems += [f"lane group {g!r} is served by no phase" for g in ids if g not in served]
    if not 0 < cfg.cycle_min_s <= cfg.cycle_max_s:
        problems.append("cycle bounds must satisfy 0 < min <= max")
    if cfg.analysis_period_h <= 0 or cfg.lost_time_per_phase_s < 0:
        problems.append("analysis period must be > 0 and lost time >= 0")
    return problems


def suggest_plan(
    groups: Sequence[LaneGroupFlow],
    phases: Sequence[PhaseSpec],
    config: PlannerConfig | None = None,
) -> Plan | PlanRejected:
    cfg = config or PlannerConfig()
    problems = _check(groups, phases, cfg)
    if problems:
        return PlanRejected(tuple(problems))
    by_id = {g.id: g for g in groups}
    ratio = {g.id: g.flow_vph / g.saturation_flow_vph for g in groups}
    critical = [max(p.lane_groups, key=lambda lg: ratio[lg]) for p in phases]
    ys = [ratio[c] for c in critical]
    y_sum = sum(ys)
    lost = len(phases) * cfg.lost_time_per_phase_s
    notes: list[str] = []
    webster: float | None = None
    if y_sum < 1.0:
        webster = (1.5 * lost + 5.0) / (1.0 - y_sum)
        cycle = min(max(webster, cfg.cycle_min_s), cfg.cycle_max_s)
        if cycle != webster:
            notes.append(f"Webster cycle {webster:.1f} s clamped to {cycle:.1f} s")
    else:
        cycle = cfg.cycle_max_s
        notes.append(f"Y = {y_sum:.3f} >= 1: demand exceeds capacity, cycle set to the maximum")
    intergreen = cfg.yellow_s + cfg.all_red_s
    # minimum effective green of each phase, from its displayed minimum
    g_min = [
        max(p.min_green_s, p.pedestrian_clearance_s) + intergreen - cfg.lost_time_per_phase_s
        for p in phases
    ]
    if sum(g_min) + lost > cycle:
        needed = sum(g_min) + lost
        if needed <= cfg.cycle_max_s:
            notes.append(f"cycle raised to {needed:.1f} s to fit minimum greens")
            cycle = needed
        else:
            notes.append("minimum greens do not fit in the maximum cycle: cycle exceeds maximum")
            cycle = needed
    greens = _split(cycle - lost, ys, g_min)
    over = y_sum >= cfg.over_capacity_y
    if over:
        notes.append(f"Y = {y_sum:.3f} >= {cfg.over_capacity_y}: junction near or over capacity")
    green_of_group: dict[str, float] = {}
    for p, g in zip(phases, greens, strict=True):
        for lg in p.lane_groups:
            green_of_group[lg] = green_of_group.get(lg, 0.0) + g
    results = tuple(
        group_delay(by_id[lg], min(green_of_group[lg], cycle), cycle, cfg) for lg in by_id
    )
    approaches: dict[str, list[GroupResult]] = {}
    for r in results:
        approaches.setdefault(r.approach or r.id, []).append(r)
    delay_by_approach = {a: round(_weighted(rs), 3) for a, rs in approaches.items()}
    phase_results = tuple(
        PhaseResult(
            id=p.id,
            critical_group=c,
            critical_flow_ratio=round(y, 4),
            effective_green_s=round(g, 2),
            green_s=round(g - intergreen + cfg.lost_time_per_phase_s, 2),
            minimum_green_s=max(p.min_green_s, p.pedestrian_clearance_s),
            yellow_s=cfg.yellow_s,
            all_red_s=cfg.all_red_s,
        )
        for p, c, y, g in zip(phases, critical, ys, greens, strict=True)
    )
    return Plan(
        cycle_s=round(cycle, 2),
        webster_cycle_s=None if webster is None else round(webster, 2),
        lost_time_s=lost,
        flow_ratio_sum=round(y_sum, 4),
        over_capacity=over,
        phases=phase_results,
        groups=results,
        delay_by_approach_s=delay_by_approach,
        total_delay_s=round(_weighted(list(results)), 3),
        notes=tuple(notes),
        inputs={
            "lane_groups": [asdict(g) for g in groups],
            "phases": [asdict(p) for p in phases],
            "config": asdict(cfg),
        },
    )


def _split(available: float, ys: list[float], minimum: list[float]) -> list[float]:
    """Share `available` effective green by flow ratio, no phase below its minimum."""
    n = len(ys)
    fixed = [False] * n
    greens = [0.0] * n
    while True:
        free = available - sum(minimum[i] for i in range(n) if fixed[i])
        weight = sum(ys[i] for i in range(n) if not fixed[i])
        open_ = [i for i in range(n) if not fixed[i]]
        for i in open_:
            share = ys[i] / weight if weight > 0 else 1.0 / len(open_)
            greens[i] = free * share
        short = [i for i in open_ if greens[i] < minimum[i]]
        if not short:
            break
        for i in short:
            fixed[i] = True
            greens[i] = minimum[i]
        if all(fixed):
            break
    return greens


def group_delay(g: LaneGroupFlow, green: float, cycle: float, cfg: PlannerConfig) -> GroupResult:
    share = green / cycle
    capacity = g.saturation_flow_vph * share
    x = g.flow_vph / capacity if capacity > 0 else math.inf
    d1 = 0.5 * cycle * (1 - share) ** 2 / (1 - min(1.0, x) * share) if share < 1 else 0.0
    t, k, i = cfg.analysis_period_h, cfg.incremental_k, cfg.upstream_filtering_i
    if capacity > 0 and math.isfinite(x):
        d2 = 900 * t * ((x - 1) + math.sqrt((x - 1) ** 2 + 8 * k * i * x / (capacity * t)))
    else:
        d2 = math.inf
    return GroupResult(
        id=g.id,
        approach=g.approach,
        flow_vph=g.flow_vph,
        saturation_flow_vph=g.saturation_flow_vph,
        flow_ratio=round(g.flow_vph / g.saturation_flow_vph, 4),
        capacity_vph=round(capacity, 1),
        degree_of_saturation=round(x, 4) if math.isfinite(x) else 999.0,
        uniform_delay_s=round(d1, 3),
        incremental_delay_s=round(d2, 3) if math.isfinite(d2) else 9999.0,
        delay_s=round(d1 + d2, 3) if math.isfinite(d2) else 9999.0,
    )


def _weighted(rs: list[GroupResult]) -> float:
    flow = sum(r.flow_vph for r in rs)
    if flow <= 0:
        return 0.0
    return sum(r.delay_s * r.flow_vph for r in rs) / flow

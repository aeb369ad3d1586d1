"""Timing plan messages: build, validate, evaluate, and the controller-side applicability rule.

A plan message (JSON on `traffic/v1/site/<site>/plan`, QoS 1, retained) is

    {"type": "plan", "site": "J1", "version": 3, "valid_from": RFC 3339, "valid_until": RFC 3339,
     "cycle_s": 64.0, "yellow_s": 3.0, "all_red_s": 2.0, "suggestion": "J1.v3.ab12cd34",
     "phases": [{"id": "P1", "signal_groups": ["EW"], "green_s": 38.0}, ...]}

a revocation is `{"type": "revoked", "site": ..., "version": n, "revoked_at": ...}`, and the
other control orders on the same topic are `{"type": "adaptive", ..., "valid_from", "valid_until"}`
(run citytraffic's adaptive controller) and `{"type": "local", ...}` (run the local plan).
Pure functions, no I/O (docs/signal-workflow.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from citytraffic.domain.network import Junction
from control.planner import LaneGroupFlow, PhaseSpec, Plan, PlannerConfig, group_delay

TOLERANCE_S = 0.05
MAX_CENTRE_SILENCE_S = 300.0  # a controller that heard nothing from the centre this long falls back


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def phase_minimum_s(junction: Junction, groups: Sequence[str]) -> float:
    """Displayed minimum green of a phase: the largest min green / pedestrian clearance."""
    by_id = {g.id: g for g in junction.signal_groups}
    return max(
        (max(by_id[g].min_green_s, by_id[g].pedestrian_clearance_s) for g in groups if g in by_id),
        default=0.0,
    )


def plan_message(
    junction: Junction,
    plan: Plan,
    version: int,
    valid_from: datetime,
    validity_s: float,
    suggestion_id: str = "",
) -> dict[str, Any]:
    """The message for a planner `Plan` of `junction` (phases in the junction's order)."""
    groups_of = {p.id: list(p.signal_groups) for p in junction.phases}
    return {
        "type": "plan",
        "site": junction.site,
        "version": version,
        "valid_from": iso(valid_from),
        "valid_until": iso(valid_from + timedelta(seconds=validity_s)),
        "cycle_s": plan.cycle_s,
        "yellow_s": junction.yellow_s,
        "all_red_s": junction.all_red_s,
        "suggestion": suggestion_id,
        "phases": [
            {"id": p.id, "signal_groups": groups_of.get(p.id, []), "green_s": p.green_s}
            for p in plan.phases
        ],
    }


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def validate_plan(junction: Junction, msg: Mapping[str, Any]) -> list[str]:
    """Problems that forbid publishing `msg` for `junction` (empty when it is safe).

    Intergreen (yellow + all-red) at least the junction's; every phase shows green exactly the
    signal groups of one of the junction's phases (so movements that are never in one phase
    together, i.e. conflicting ones, are never green together); each phase at least its minimum
    green / pedestrian clearance; the cycle is the sum of the phase times."""
    problems: list[str] = []
    if msg.get("site") != junction.site:
        problems.append(f"plan is for site {msg.get('site')!r}, not {junction.site!r}")
    version = msg.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append("version must be an integer >= 1")
    start, end = parse_time(msg.get("valid_from")), parse_time(msg.get("valid_until"))
    if start is None or end is None or end <= start:
        problems.append("valid_from / valid_until must be RFC 3339 times with from < until")
    yellow, all_red = _num(msg.get("yellow_s")), _num(msg.get("all_red_s"))
    cycle = _num(msg.get("cycle_s"))
    if yellow is None or all_red is None or yellow < 0 or all_red < 0:
        problems.append("yellow_s and all_red_s must be numbers >= 0")
        yellow = all_red = 0.0
    needed = junction.yellow_s + junction.all_red_s
    if yellow + all_red + TOLERANCE_S < needed:
        problems.append(
            f"intergreen {yellow + all_red:.1f} s < yellow + all-red {needed:.1f} s of the junction"
        )
    if yellow + TOLERANCE_S < junction.yellow_s:
        problems.append(f"yellow {yellow:.1f} s < the junction's {junction.yellow_s:.1f} s")
    phases = msg.get("phases")
    if not isinstance(phases, list) or not phases:
        return [*problems, "phases must be a non-empty list"]
    allowed = {frozenset(p.signal_groups): p.id for p in junction.phases}
    total = 0.0
    for i, ph in enumerate(phases):
        if not isinstance(ph, Mapping):
            problems.append(f"phase #{i} is not an object")
            continue
        groups = ph.get("signal_groups")
        green = _num(ph.get("green_s"))
        name = ph.get("id", f"#{i}")
        if not isinstance(groups, list) or frozenset(map(str, groups)) not in allowed:
            problems.append(
                f"phase {name!r}: signal groups {groups} are not a phase of the junction "
                "(conflicting movements would be green together)"
            )
            groups = []
        if green is None or green <= 0:
            problems.append(f"phase {name!r}: green_s must be a number > 0")
            continue
        minimum = phase_minimum_s(junction, [str(g) for g in groups])
        if green + TOLERANCE_S < minimum:
            problems.append(f"phase {name!r}: green {green:.1f} s < minimum {minimum:.1f} s")
        total += green + yellow + all_red
    served = {g for ph in phases if isinstance(ph, Mapping) for g in ph.get("signal_groups") or []}
    missing = sorted({g.id for g in junction.signal_groups} - set(map(str, served)))
    if missing:
        problems.append(f"signal groups never green: {missing}")
    if cycle is None or abs(cycle - total) > 0.5:
        problems.append(f"cycle_s {cycle} != sum of green + yellow + all-red {total:.1f} s")
    return problems


def adaptive_message(
    site: str, version: int, valid_from: datetime, validity_s: float
) -> dict[str, Any]:
    """The order that puts a junction under citytraffic's adaptive controller."""
    return {
        "type": "adaptive",
        "site": site,
        "version": version,
        "valid_from": iso(valid_from),
        "valid_until": iso(valid_from + timedelta(seconds=validity_s)),
        "controller": "citytraffic",
    }


def local_message(site: str, version: int, at: datetime, revoked: bool) -> dict[str, Any]:
    """The order to run the local plan: a revocation of the plan, or mode `local`."""
    if revoked:
        return {"type": "revoked", "site": site, "version": version, "revoked_at": iso(at)}
    return {"type": "local", "site": site, "version": version, "valid_from": iso(at)}


def control_mode(
    order: Mapping[str, Any] | None,
    now: datetime,
    last_centre_contact: datetime | None,
    max_centre_silence_s: float = MAX_CENTRE_SILENCE_S,
) -> str:
    """Controller-side rule: `plan` or `adaptive` when the order on the plan topic is one of
    those, inside its validity window, and the centre was heard from within
    `max_centre_silence_s`; otherwise `local` (the controller's own plan). A retained order
    received after days offline is therefore never followed: it has expired, and the link was
    down."""
    if not order or order.get("type") not in ("plan", "adaptive"):
        return "local"
    start, end = parse_time(order.get("valid_from")), parse_time(order.get("valid_until"))
    if start is None or end is None or not start <= now < end:
        return "local"
    if last_centre_contact is None:
        return "local"
    silence_s = (now - last_centre_contact).total_seconds()
    if not -5.0 <= silence_s <= max_centre_silence_s:  # small clock skew tolerated
        return "local"
    return str(order["type"])


def plan_applicable(
    plan: Mapping[str, Any] | None,
    now: datetime,
    last_centre_contact: datetime | None,
    max_centre_silence_s: float = MAX_CENTRE_SILENCE_S,
) -> bool:
    """Run `plan` (rather than the local plan)? `control_mode` says `plan`."""
    return control_mode(plan, now, last_centre_contact, max_centre_silence_s) == "plan"


def fixed_plan_delay(
    groups: Sequence[LaneGroupFlow],
    phases: Sequence[PhaseSpec],
    greens_s: Sequence[float],
    cfg: PlannerConfig,
) -> float:
    """Flow-weighted HCM delay (s/veh) of a fixed plan with displayed greens `greens_s` per
    phase, using the planner's own delay formula (effective g = G + yellow + all-red - lost)."""
    effective = [
        max(0.0, g + cfg.yellow_s + cfg.all_red_s - cfg.lost_time_per_phase_s) for g in greens_s
    ]
    cycle = sum(g + cfg.yellow_s + cfg.all_red_s for g in greens_s)
    green_of: dict[str, float] = {}
    for p, g in zip(phases, effective, strict=True):
        for lg in p.lane_groups:
            green_of[lg] = green_of.get(lg, 0.0) + g
    results = [group_delay(lg, min(green_of.get(lg.id, 0.0), cycle), cycle, cfg) for lg in groups]
    flow = sum(r.flow_vph for r in results)
    if flow <= 0:
        return 0.0
    return sum(r.delay_s * r.flow_vph for r in results) / flow

"""Timing suggestions per junction from the live snapshot (the API side of
control/suggestions.py): inputs from the conditions engine and detector health, the plan in
force from the SignalBook, each suggestion remembered in the book so it can be decided on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from api.timefmt import NS, rfc3339
from citytraffic.domain.network import Network
from citytraffic.settings import Settings
from control.plans import plan_message
from control.suggestions import (
    Computed,
    DetectorInput,
    Withheld,
    compute,
    junction_inputs,
    local_greens_s,
)
from control.workflow import Issued, SignalBook


def detector_inputs(snapshot: Any) -> dict[str, DetectorInput]:
    health = snapshot.live.health if snapshot.live is not None else {}
    return {
        c.detector: DetectorInput(
            c.detector,
            c.flow_vph,
            c.quality,
            c.age_s,
            health[c.detector].status if c.detector in health else "unknown",
        )
        for c in snapshot.detectors
    }


def current_suggestions(
    network: Network, snapshot: Any, book: SignalBook, settings: Settings, now_ns: int
) -> list[dict[str, Any]]:
    cfg = settings.signals
    readings = detector_inputs(snapshot)
    out: list[dict[str, Any]] = []
    for j in network.junctions:
        state = book.junction(j.site)
        base = {"site": j.site, "junction": j.site, "base_version": state.version}
        inputs = junction_inputs(network, j, readings, cfg.stale_after_s)
        result: Computed | Withheld
        if isinstance(inputs, Withheld):
            result = inputs
        else:
            plan = state.plan
            if plan is not None and state.mode == "plan":
                greens = [float(p["green_s"]) for p in plan["phases"]]
                current = f"accepted plan v{state.version}"
            else:
                greens = local_greens_s(j, cfg.local_cycle_s)
                current = f"local plan (assumed equal splits, {cfg.local_cycle_s:.0f} s cycle)"
            result = compute(inputs, j.site, greens, current)
        if isinstance(result, Withheld):
            reasons = list(result.reasons)
            out.append(
                {
                    **base,
                    "id": None,
                    "status": "withheld",
                    "withheld": True,
                    "reason": "; ".join(reasons),
                    "reasons": reasons,
                }
            )
            continue
        sid = f"{j.site}.v{state.version + 1}.{result.digest}"
        body = {
            **base,
            "id": sid,
            "version": state.version + 1,
            "withheld": False,
            "created": rfc3339(now_ns),
            "valid_until": rfc3339(now_ns + cfg.suggestion_ttl_s * NS),
            "summary": (
                f"cycle {result.plan.cycle_s:.0f} s, greens "
                + "/".join(f"{p.green_s:.0f}" for p in result.plan.phases)
                + " s"
            ),
            "plan": plan_message(
                j,
                result.plan,
                state.version + 1,
                datetime.fromtimestamp(now_ns / NS, UTC),
                cfg.plan_validity_s,
                sid,
            ),
            "expected_benefit": result.expected_benefit,
            "explanation": result.plan.to_dict(),
            "detectors": list(result.detectors),
        }
        item = book.issue(
            Issued(sid, j.site, state.version, now_ns, now_ns + cfg.suggestion_ttl_s * NS, body)
        )
        out.append({**item.body, "created": rfc3339(item.created_ns), "status": item.status})
    return out

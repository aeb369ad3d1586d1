"""Operator routes: timing suggestions, accept / reject / revoke, junction control mode.

Every decision is one audit point (api/alarms.py `audit_point`, kind `signal`, target = the
junction) written before it takes effect; an accepted plan is validated, then published on the
junction's plan topic (QoS 1, retained) and only then committed. See docs/signal-workflow.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import anyio
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from api.alarms import AUDIT_MEASUREMENT
from api.deps import ClockDep, NetworkDep, OperatorDep, SettingsDep, SnapshotDep, StoreDep
from api.models import ErrorOut
from api.signal_decisions import audit, book_of, plan_message_times, publish_order
from api.signal_suggestions import current_suggestions
from api.timefmt import NS, rfc3339
from citytraffic.messaging.topics import site_topic
from citytraffic.storage.port import StoreError
from control.plans import adaptive_message, local_message
from control.workflow import SIGNAL_KIND

router = APIRouter(prefix="/api/v1/signals", tags=["signals"])

DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "reason missing"},
    404: {"model": ErrorOut, "description": "unknown suggestion or junction"},
    409: {"model": ErrorOut, "description": "conflicting decision (version changed)"},
    410: {"model": ErrorOut, "description": "the suggestion expired"},
    422: {"model": ErrorOut, "description": "the plan failed validation"},
    503: {"model": ErrorOut, "description": "audit log or MQTT broker unavailable"},
}


class DecisionIn(BaseModel):
    reason: str = Field("", max_length=500, description="why (required to reject or revoke)")


class ModeIn(BaseModel):
    mode: Literal["adaptive", "plan", "local"]
    reason: str = Field(min_length=1, max_length=500)


@router.get("/suggestions", summary="Timing suggestions per junction (withheld ones with reasons)")
async def suggestions(
    request: Request,
    snapshots: SnapshotDep,
    network: NetworkDep,
    store: StoreDep,
    settings: SettingsDep,
    clock_ns: ClockDep,
    _: OperatorDep,
) -> dict[str, Any]:
    snap = snapshots.current
    if snap is None:
        raise HTTPException(503, "no snapshot yet", headers={"Retry-After": "2"})
    now_ns = clock_ns()
    book = book_of(request, store, now_ns, settings.live.audit_lookback_days)
    return {
        "generated_at": rfc3339(now_ns),
        "snapshot_at": snap.generated_at,
        "suggestions": current_suggestions(network, snap, book, settings, now_ns),
    }


@router.get("/junctions", summary="Plan version, plan in force and control mode per junction")
async def junctions(
    request: Request,
    network: NetworkDep,
    store: StoreDep,
    settings: SettingsDep,
    clock_ns: ClockDep,
    _: OperatorDep,
) -> dict[str, Any]:
    book = book_of(request, store, clock_ns(), settings.live.audit_lookback_days)
    out = []
    for j in network.junctions:
        s = book.junction(j.site)
        out.append(
            {
                "site": j.site,
                "version": s.version,
                "mode": s.mode,
                "plan": s.plan,
                "decided_by": s.decided_by,
                "decided_at": rfc3339(s.decided_ns) if s.decided_ns else None,
            }
        )
    return {"junctions": out}


@router.get("/decisions", summary="Audit records of signal decisions (who, when, what, why)")
async def decisions(
    store: StoreDep,
    settings: SettingsDep,
    clock_ns: ClockDep,
    _: OperatorDep,
) -> dict[str, Any]:
    now_ns = clock_ns()
    start = now_ns - settings.live.audit_lookback_days * 86400 * NS
    try:
        rows = await anyio.to_thread.run_sync(
            lambda: store.range(AUDIT_MEASUREMENT, start, now_ns + 1, {"kind": SIGNAL_KIND})
        )
    except StoreError as exc:
        raise HTTPException(503, f"audit log unavailable: {exc}"[:300]) from None
    return {
        "decisions": [
            {
                "at": rfc3339(r.time_ns),
                "site": r.tags.get("target"),
                "action": r.tags.get("action"),
                **{k: v for k, v in r.fields.items() if k != "plan"},
            }
            for r in sorted(rows, key=lambda r: r.time_ns, reverse=True)
        ]
    }


@router.post(
    "/suggestions/{suggestion_id}/accept",
    summary="Accept: validate, publish, audit",
    responses=DECISION_RESPONSES,
)
async def accept(
    suggestion_id: str,
    body: DecisionIn,
    request: Request,
    who: OperatorDep,
    network: NetworkDep,
    store: StoreDep,
    settings: SettingsDep,
    clock_ns: ClockDep,
) -> dict[str, Any]:
    now_ns = clock_ns()
    book = book_of(request, store, now_ns, settings.live.audit_lookback_days)
    item = book.get(suggestion_id)
    junction = network.junction(item.site) if item is not None else None
    if item is None or junction is None:
        raise HTTPException(404, f"no suggestion {suggestion_id[:80]!r} (list them first)")
    if now_ns >= item.valid_until_ns and item.status == "pending":
        raise HTTPException(
            410,
            f"suggestion {suggestion_id} expired at "
            f"{rfc3339(item.valid_until_ns)}: reload the suggestions",
        )
    now = datetime.fromtimestamp(now_ns / NS, UTC)
    times = plan_message_times(now, settings.signals.plan_validity_s)
    reason = body.reason.strip()
    msg = await publish_order(
        store,
        settings,
        book,
        who,
        site=item.site,
        action="accept",
        reason=reason,
        order=lambda version: {**item.body["plan"], "version": version, **times},
        mode="plan",
        now_ns=now_ns,
        clock_ns=clock_ns,
        junction=junction,
        base_version=item.base_version,
        suggestion_id=suggestion_id,
        extra={"suggestion": suggestion_id},
    )
    decision = {"by": who.actor, "at": rfc3339(now_ns), "reason": reason, "version": msg["version"]}
    book.decide(suggestion_id, "accepted", decision)
    return {
        "id": suggestion_id,
        "status": "accepted",
        "site": item.site,
        "topic": site_topic(item.site, "plan"),
        "plan": msg,
        "decision": decision,
    }


@router.post(
    "/suggestions/{suggestion_id}/reject",
    summary="Reject with a reason (audited)",
    responses=DECISION_RESPONSES,
)
async def reject(
    suggestion_id: str,
    body: DecisionIn,
    request: Request,
    who: OperatorDep,
    store: StoreDep,
    settings: SettingsDep,
    clock_ns: ClockDep,
) -> dict[str, Any]:
    now_ns = clock_ns()
    book = book_of(request, store, now_ns, settings.live.audit_lookback_days)
    item = book.get(suggestion_id)
    if item is None:
        raise HTTPException(404, f"no suggestion {suggestion_id[:80]!r} (list them first)")
    reason = body.reason.strip()
    if not reason:
        raise HTTPException(400, "a reason is required to reject (field `reason`)")
    if item.status != "pending":
        raise HTTPException(409, f"suggestion {suggestion_id} was already {item.status}")
    await audit(store, item.site, "reject", now_ns, who, reason, {"suggestion": suggestion_id})
    decision = {"by": who.actor, "at": rfc3339(now_ns), "reason": reason}
    book.decide(suggestion_id, "rejected", decision)
    return {"id": suggestion_id, "status": "rejected", "site": item.site, "decision": decision}


@router.post(
    "/junctions/{site}/revoke",
    summary="Revoke the plan in force (audited)",
    responses=DECISION_RESPONSES,
)
async def revoke(
    site: str,
    body: DecisionIn,
    request: Request,
    who: OperatorDep,
    network: NetworkDep,
    store: StoreDep,
    settings: SettingsDep,
    clock_ns: ClockDep,
) -> dict[str, Any]:
    if network.junction(site) is None:
        raise HTTPException(404, f"no junction {site[:80]!r}")
    reason = body.reason.strip()
    if not reason:
        raise HTTPException(400, "a reason is required to revoke (field `reason`)")
    now_ns = clock_ns()
    book = book_of(request, store, now_ns, settings.live.audit_lookback_days)
    now = datetime.fromtimestamp(now_ns / NS, UTC)
    msg = await publish_order(
        store,
        settings,
        book,
        who,
        site=site,
        action="revoke",
        reason=reason,
        order=lambda version: local_message(site, version, now, revoked=True),
        mode="local",
        now_ns=now_ns,
        clock_ns=clock_ns,
    )
    return {"site": site, "status": "revoked", "message": msg}


@router.post(
    "/junctions/{site}/mode",
    summary="Put a junction under adaptive / plan / local control (published to its controller)",
    responses=DECISION_RESPONSES,
)
async def set_mode(
    site: str,
    body: ModeIn,
    request: Request,
    who: OperatorDep,
    network: NetworkDep,
    store: StoreDep,
    settings: SettingsDep,
    clock_ns: ClockDep,
) -> dict[str, Any]:
    """`adaptive`: the junction's controller runs citytraffic's adaptive controller; `plan`: the
    accepted plan in force again (republished with a new version and validity window); `local`:
    its own local plan (the accepted plan stays on record). Each is a versioned order on the
    junction's plan topic, like an accepted plan, and expires like one."""
    junction = network.junction(site)
    if junction is None:
        raise HTTPException(404, f"no junction {site[:80]!r}")
    now_ns = clock_ns()
    book = book_of(request, store, now_ns, settings.live.audit_lookback_days)
    in_force = book.junction(site).plan
    if body.mode == "plan" and in_force is None:
        raise HTTPException(409, f"junction {site} has no accepted plan to run")
    now = datetime.fromtimestamp(now_ns / NS, UTC)
    validity_s = settings.signals.plan_validity_s

    def order(version: int) -> dict[str, Any]:
        if body.mode == "adaptive":
            return adaptive_message(site, version, now, validity_s)
        if body.mode == "plan" and in_force is not None:
            return {**in_force, "version": version, **plan_message_times(now, validity_s)}
        return local_message(site, version, now, revoked=False)

    msg = await publish_order(
        store,
        settings,
        book,
        who,
        site=site,
        action="mode",
        reason=body.reason.strip(),
        order=order,
        mode=body.mode,
        now_ns=now_ns,
        clock_ns=clock_ns,
        junction=junction,
        extra={"mode": body.mode},
    )
    return {
        "site": site,
        "mode": body.mode,
        "version": msg["version"],
        "message": msg,
        "by": who.actor,
        "at": rfc3339(now_ns),
    }

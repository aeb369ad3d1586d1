"""Operator routes: timing suggestions, accept / reject / revoke, junction control mode.

Every decision is one audit point (api/alarms.py `audit_point`, kind `signal`, target = the
junction) written before it takes effect; an accepted plan is validated, then published on the
junction's plan topic (QoS 1, retained) and only then committed. See docs/signal-workflow.md.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import anyio
import paho.mqtt.client as mqtt
from fastapi import APIRouter, HTTPException, Request
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel, Field

from api.alarms import AUDIT_MEASUREMENT, audit_point
from api.auth import Principal
from api.deps import ClockDep, NetworkDep, OperatorDep, SettingsDep, SnapshotDep, StoreDep
from api.models import ErrorOut
from api.timefmt import NS, rfc3339
from citytraffic.domain.network import Network
from citytraffic.messaging.topics import site_topic
from citytraffic.settings import Settings
from citytraffic.storage.port import Store, StoreError
from control.plans import iso, plan_message, validate_plan
from control.suggestions import (
    Computed,
    DetectorInput,
    Withheld,
    compute,
    junction_inputs,
    local_greens_s,
)
from control.workflow import SIGNAL_KIND, Conflict, Issued, SignalBook

router = APIRouter(prefix="/api/v1/signals", tags=["signals"])
_book_lock = threading.Lock()

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


def book_of(request: Request, store: Store, now_ns: int, lookback_days: int) -> SignalBook:
    """The app's SignalBook, created on first use and rebuilt from the audit log."""
    with _book_lock:
        book: SignalBook | None = getattr(request.app.state, "signal_book", None)
        if book is None:
            book = SignalBook()
            try:
                rows = store.range(
                    AUDIT_MEASUREMENT, now_ns - lookback_days * 86400 * NS, now_ns + 1
                )
                book.replay(r for r in rows if r.tags.get("kind") == SIGNAL_KIND)
            except StoreError:
                pass  # versions start at 0; a later accept still gets a fresh version
            request.app.state.signal_book = book
        return book


def publish_retained(settings: Settings, topic: str, payload: bytes) -> None:
    """Publish once with QoS 1, retained, and wait for the PUBACK; raises OSError on failure."""
    m = settings.mqtt
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{settings.signals.mqtt_client_id}-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
    )
    if m.username is not None:
        client.username_pw_set(m.username, m.password.get_secret_value() if m.password else None)
    if m.tls or m.ca_file:
        client.tls_set(ca_certs=str(m.ca_file) if m.ca_file else None)
    timeout_s = settings.signals.publish_timeout_s
    try:
        client.connect(m.host, m.port, m.keepalive_s)
        client.loop_start()
        info = client.publish(topic, payload, qos=1, retain=True)
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise OSError(f"broker {m.host}:{m.port} did not acknowledge the plan")
    except (OSError, RuntimeError, ValueError) as exc:
        raise OSError(str(exc)) from exc
    finally:
        client.disconnect()
        client.loop_stop()


def _readings(snapshot: Any) -> dict[str, DetectorInput]:
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


def _suggestions(
    network: Network, snapshot: Any, book: SignalBook, settings: Settings, now_ns: int
) -> list[dict[str, Any]]:
    cfg = settings.signals
    readings = _readings(snapshot)
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
        "suggestions": _suggestions(network, snap, book, settings, now_ns),
    }


async def _audit(
    store: Store,
    site: str,
    action: str,
    now_ns: int,
    who: Principal,
    reason: str,
    extra: dict[str, float | int | str | bool],
) -> None:
    point = audit_point(
        SIGNAL_KIND,
        site,
        action,
        now_ns,
        actor=who.actor,
        role=who.role.label,
        via=who.via,
        reason=reason,
        extra=extra,
    )
    try:
        await anyio.to_thread.run_sync(store.write, [point])
    except StoreError as exc:
        raise HTTPException(503, f"the decision was not recorded, try again: {exc}"[:300]) from None


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
    try:
        version = book.begin(item.site, item.base_version, suggestion_id)
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    try:
        now = datetime.fromtimestamp(now_ns / NS, UTC)
        msg = {**item.body["plan"], "version": version}
        msg.update(plan_message_times(now, settings.signals.plan_validity_s))
        problems = validate_plan(junction, msg)
        if problems:
            raise HTTPException(422, "plan refused: " + "; ".join(problems))
        reason = body.reason.strip()
        await _audit(
            store,
            item.site,
            "accept",
            now_ns,
            who,
            reason,
            {"version": version, "suggestion": suggestion_id, "plan": json.dumps(msg)},
        )
        try:
            payload = json.dumps(msg).encode()
            await anyio.to_thread.run_sync(
                publish_retained, settings, site_topic(item.site, "plan"), payload
            )
        except OSError as exc:
            await _audit(
                store,
                item.site,
                "publish_failed",
                clock_ns(),
                who,
                str(exc)[:200],
                {"version": version, "suggestion": suggestion_id},
            )
            raise HTTPException(503, f"plan not published (MQTT): {exc}"[:300]) from None
    except BaseException:
        book.abort(item.site)
        raise
    book.finish(item.site, version, msg, "plan", who.actor, now_ns)
    decision = {"by": who.actor, "at": rfc3339(now_ns), "reason": reason, "version": version}
    book.decide(suggestion_id, "accepted", decision)
    return {
        "id": suggestion_id,
        "status": "accepted",
        "site": item.site,
        "topic": site_topic(item.site, "plan"),
        "plan": msg,
        "decision": decision,
    }


def plan_message_times(now: datetime, validity_s: float) -> dict[str, str]:
    return {"valid_from": iso(now), "valid_until": iso(now + timedelta(seconds=validity_s))}


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
    await _audit(store, item.site, "reject", now_ns, who, reason, {"suggestion": suggestion_id})
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
    current = book.junction(site).version
    try:
        version = book.begin(site, current)
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    msg = {"type": "revoked", "site": site, "version": version, "revoked_at": rfc3339(now_ns)}
    try:
        await _audit(store, site, "revoke", now_ns, who, reason, {"version": version})
        try:
            await anyio.to_thread.run_sync(
                publish_retained, settings, site_topic(site, "plan"), json.dumps(msg).encode()
            )
        except OSError as exc:
            raise HTTPException(503, f"revocation not published (MQTT): {exc}"[:300]) from None
    except BaseException:
        book.abort(site)
        raise
    book.finish(site, version, None, "local", who.actor, now_ns)
    return {"site": site, "status": "revoked", "message": msg}


@router.post(
    "/junctions/{site}/mode",
    summary="Put a junction under adaptive / plan / local control",
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
    if network.junction(site) is None:
        raise HTTPException(404, f"no junction {site[:80]!r}")
    now_ns = clock_ns()
    book = book_of(request, store, now_ns, settings.live.audit_lookback_days)
    if body.mode == "plan" and book.junction(site).plan is None:
        raise HTTPException(409, f"junction {site} has no accepted plan to run")
    await _audit(store, site, "mode", now_ns, who, body.reason.strip(), {"mode": body.mode})
    book.set_mode(site, body.mode, who.actor, now_ns)
    return {"site": site, "mode": body.mode, "by": who.actor, "at": rfc3339(now_ns)}


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

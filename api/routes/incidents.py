"""Operator routes: incidents, and the shared acknowledge / shelve / close action.

`GET /api/v1/incidents` lists what the incident detector found (running in the snapshot
refresh, see api/live.py) with each incident's operator state; `POST
/api/v1/incidents/{id}/actions` acknowledges, shelves or closes one. Actions are written to the
audit log first (measurement `audit`: who, when, what, why): if the store cannot record it the
action is refused (503), so there is no unaudited action.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from api.alarms import AlarmBook, AlarmState, Conflict
from api.audit import write_audit
from api.auth import Principal
from api.deps import AlarmsDep, ClockDep, HubDep, OperatorDep, SnapshotDep, StoreDep
from api.events import StreamHub, alarm_event, incident_record
from api.models import ErrorOut
from api.models_ops import ActionIn, ActionOut, AlarmOut, IncidentOut, IncidentsOut
from api.timefmt import rfc3339
from citytraffic.storage.port import Store

router = APIRouter(prefix="/api/v1", tags=["incidents"])

ACTION_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut, "description": "a reason is required to shelve or close"},
    404: {"model": ErrorOut, "description": "unknown target"},
    409: {"model": ErrorOut, "description": "the alarm is closed"},
    503: {"model": ErrorOut, "description": "the audit log cannot be written"},
}


def alarm_out(state: AlarmState) -> AlarmOut:
    return AlarmOut(
        state=state.state,
        by=state.by,
        at=rfc3339(state.at_ns) if state.at_ns is not None else None,
        reason=state.reason,
        shelved_until=rfc3339(state.shelved_until_ns) if state.shelved_until_ns else None,
    )


async def apply_action(
    kind: Literal["incident", "detector"],
    target: str,
    body: ActionIn,
    who: Principal,
    alarms: AlarmBook,
    store: Store,
    hub: StreamHub,
    now_ns: int,
) -> ActionOut:
    reason = body.reason.strip()
    if body.action in ("shelve", "close") and not reason:
        raise HTTPException(400, f"a reason is required to {body.action} (field `reason`)")
    try:
        state = alarms.plan(kind, target, body.action, now_ns, who.actor, reason, body.shelve_for_s)
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    extra: dict[str, float | int | str | bool] = {}
    if state.shelved_until_ns is not None:
        extra["shelved_until_ns"] = state.shelved_until_ns
    await write_audit(store, kind, target, body.action, now_ns, who, reason, extra)
    alarms.commit(kind, target, state)
    out = alarm_out(state)
    hub.publish([alarm_event(kind, target, out.model_dump())])
    return ActionOut(kind=kind, target=target, operator=out)


@router.get(
    "/incidents",
    response_model=IncidentsOut,
    summary="Detected incidents with their operator state",
    responses={503: {"model": ErrorOut, "description": "no snapshot yet"}},
)
async def incidents(
    snapshots: SnapshotDep,
    alarms: AlarmsDep,
    clock_ns: ClockDep,
    _: OperatorDep,
    status: Annotated[
        Literal["active", "ended", "all"], Query(description="incident state filter")
    ] = "active",
    include_closed: Annotated[
        bool, Query(description="also incidents closed by an operator")
    ] = False,
) -> IncidentsOut:
    snap = snapshots.current
    if snap is None:
        raise HTTPException(503, "no snapshot yet", headers={"Retry-After": "2"})
    view = snap.live
    found = []
    if view is not None:
        if status in ("active", "all"):
            found += list(view.incidents_active)
        if status in ("ended", "all"):
            found += list(view.incidents_ended)
    now_ns = clock_ns()
    states = alarms.states("incident", now_ns)
    out = []
    for i in sorted(found, key=lambda i: (i.start_ns, i.id), reverse=True):
        state = states.get(i.id, AlarmState())
        if state.state == "closed" and not include_closed:
            continue
        out.append(IncidentOut(**incident_record(i), operator=alarm_out(state)))
    conditions_at = rfc3339(view.computed_ns) if view is not None and view.computed_ns else None
    return IncidentsOut(conditions_at=conditions_at, incidents=out)


@router.post(
    "/incidents/{incident_id}/actions",
    response_model=ActionOut,
    summary="Acknowledge, shelve or close an incident (audit-logged)",
    responses=ACTION_RESPONSES,
)
async def incident_action(
    incident_id: str,
    body: ActionIn,
    who: OperatorDep,
    snapshots: SnapshotDep,
    alarms: AlarmsDep,
    store: StoreDep,
    hub: HubDep,
    clock_ns: ClockDep,
) -> ActionOut:
    view = snapshots.current.live if snapshots.current is not None else None
    known = view is not None and any(
        i.id == incident_id for i in (*view.incidents_active, *view.incidents_ended)
    )
    if not known:
        raise HTTPException(404, f"no incident {incident_id[:80]!r}")
    return await apply_action("incident", incident_id, body, who, alarms, store, hub, clock_ns())

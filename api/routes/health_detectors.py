"""Operator routes: detector health (data quality) and actions on detector alarms.

`GET /api/v1/detectors/health` lists every detector's health as assessed by the health engine
(in the snapshot refresh, every `live.health_every_s`, over the readings of `live.history_s`):
status ok / suspect / bad, flags (range, intermittent, stuck, dead, silent, clock_skew, ...) with
human-readable reasons, and the operator state of its alarm. `POST
/api/v1/detectors/{id}/actions` acknowledges, shelves or closes a detector alarm (audit-logged).
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from api.alarms import AlarmState
from api.deps import (
    AlarmsDep,
    ClockDep,
    HubDep,
    NetworkDep,
    OperatorDep,
    SettingsDep,
    SnapshotDep,
    StoreDep,
)
from api.events import health_record
from api.models import ErrorOut
from api.models_ops import ActionIn, ActionOut, DetectorHealthListOut, DetectorHealthOut
from api.routes.incidents import ACTION_RESPONSES, alarm_out, apply_action
from api.timefmt import rfc3339

router = APIRouter(prefix="/api/v1", tags=["detector health"])


@router.get(
    "/detectors/health",
    response_model=DetectorHealthListOut,
    summary="Health flags and reasons of every detector",
    responses={503: {"model": ErrorOut, "description": "no snapshot yet"}},
)
async def detector_health(
    snapshots: SnapshotDep,
    alarms: AlarmsDep,
    settings: SettingsDep,
    clock_ns: ClockDep,
    _: OperatorDep,
    status: Annotated[
        Literal["ok", "suspect", "bad"] | None, Query(description="only this status")
    ] = None,
    site: Annotated[str | None, Query(max_length=64, description="only this site")] = None,
) -> DetectorHealthListOut:
    snap = snapshots.current
    if snap is None:
        raise HTTPException(503, "no snapshot yet", headers={"Retry-After": "2"})
    view = snap.live
    health = view.health if view is not None else {}
    states = alarms.states("detector", clock_ns())
    counts = Counter(h.status for h in health.values())
    rows = []
    for h in sorted(health.values(), key=lambda h: (h.site, h.detector)):
        if (status is not None and h.status != status) or (site is not None and h.site != site):
            continue
        state = states.get(h.detector, AlarmState())
        rows.append(DetectorHealthOut(**health_record(h), operator=alarm_out(state)))
    assessed = view.health_ns if view is not None else None
    return DetectorHealthListOut(
        assessed_at=rfc3339(assessed) if assessed else None,
        window_s=settings.live.history_s,
        counts={k: counts.get(k, 0) for k in ("ok", "suspect", "bad")},
        detectors=rows,
    )


@router.post(
    "/detectors/{detector_id}/actions",
    response_model=ActionOut,
    summary="Acknowledge, shelve or close a detector alarm (audit-logged)",
    responses=ACTION_RESPONSES,
)
async def detector_action(
    detector_id: str,
    body: ActionIn,
    who: OperatorDep,
    network: NetworkDep,
    alarms: AlarmsDep,
    store: StoreDep,
    hub: HubDep,
    clock_ns: ClockDep,
) -> ActionOut:
    try:
        network.detector(detector_id)
    except KeyError:
        raise HTTPException(404, f"unknown detector {detector_id[:80]!r}") from None
    return await apply_action("detector", detector_id, body, who, alarms, store, hub, clock_ns())

"""GET /api/v1/conditions: the latest reading of every detector, from the live snapshot.

The body is spliced from bytes pre-encoded at refresh time; no store query per request. When the
store cannot be read, the last snapshot is served with `stale: true` and its age; before the
store has answered once, the answer is 503 with a Retry-After.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from api.deps import NetworkDep, SnapshotDep
from api.models import ConditionsOut, ErrorOut

router = APIRouter(prefix="/api/v1", tags=["conditions"])


@router.get(
    "/conditions",
    response_model=ConditionsOut,
    summary="Latest reading per detector, with its age",
    responses={
        404: {"model": ErrorOut, "description": "unknown site"},
        503: {"model": ErrorOut, "description": "no snapshot yet: the store has not answered"},
    },
)
async def conditions(
    snapshots: SnapshotDep,
    network: NetworkDep,
    site: Annotated[
        str | None, Query(max_length=64, description="only the detectors of this site")
    ] = None,
) -> Response:
    snap = snapshots.current
    if snap is None:
        raise HTTPException(
            503,
            f"no conditions yet: the store has not answered since start-up "
            f"({snapshots.last_error or 'first refresh pending'})",
            headers={"Retry-After": str(max(1, round(snapshots.refresh_s)))},
        )
    if site is not None and site not in snap.chunks_by_site:
        known = any(s.id == site for s in network.sites)
        if not known:
            raise HTTPException(404, f"unknown site {site!r}")
    now_ns = snapshots.clock_ns()
    body = snap.conditions_json(now_ns, snapshots.is_stale(now_ns), snapshots.live_window_s, site)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-cache"})

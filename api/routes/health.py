"""GET /health: liveness (always 200 while the process serves), store reachability as seen by
the last snapshot refresh, and the snapshot's age. It never touches the store itself, so a
health probe stays cheap and cannot hang on a slow store."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SnapshotDep
from api.models import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, summary="Liveness, store reachability, data age")
async def health(snapshots: SnapshotDep) -> HealthOut:
    now_ns = snapshots.clock_ns()
    snap = snapshots.current
    age = snapshots.age_s(now_ns)
    return HealthOut(
        status="ok" if snapshots.last_ok else "degraded",
        store_up=snapshots.last_ok,
        snapshot_generated_at=snap.generated_at if snap is not None else None,
        snapshot_age_s=round(age, 3) if age is not None else None,
        snapshot_refresh_s=snapshots.refresh_s,
        last_error=snapshots.last_error,
        detectors_live=len(snap.detectors) if snap is not None else 0,
    )

"""Write one operator decision to the audit log before it takes effect (incidents, detector
alarms, signal decisions): an `api.alarms.audit_point` with who decided, written off the event
loop; a store that refuses it is HTTP 503 and the decision does not happen."""

from __future__ import annotations

import anyio
from fastapi import HTTPException

from api.alarms import audit_point
from api.auth import Principal
from citytraffic.storage.points import Point
from citytraffic.storage.port import Store, StoreError


def decision_point(
    kind: str,
    target: str,
    action: str,
    now_ns: int,
    who: Principal,
    reason: str,
    extra: dict[str, float | int | str | bool] | None = None,
) -> Point:
    """The audit point of a decision by `who` (actor, role and how they authenticated)."""
    return audit_point(
        kind,
        target,
        action,
        now_ns,
        actor=who.actor,
        role=who.role.label,
        via=who.via,
        reason=reason,
        extra=extra,
    )


async def write_audit(
    store: Store,
    kind: str,
    target: str,
    action: str,
    now_ns: int,
    who: Principal,
    reason: str,
    extra: dict[str, float | int | str | bool],
    what: str = "action",
) -> None:
    point = decision_point(kind, target, action, now_ns, who, reason, extra)
    try:
        await anyio.to_thread.run_sync(store.write, [point])
    except StoreError as exc:
        raise HTTPException(503, f"the {what} was not recorded, try again: {exc}"[:300]) from None

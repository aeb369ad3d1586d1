"""Dependencies as `Annotated` aliases. Everything comes from `app.state`, set by `create_app`;
tests replace any of them with `app.dependency_overrides[get_store] = ...`.

The getters are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread
pool, which cost more than the rest of a cheap request (see benchmarks/api.py).

Role aliases (`PublicDep`, `OperatorDep`, `AdminDep`, ...) resolve to the caller's `Principal`
through the route's `RoleGuard` (api/auth/guard.py); routers also declare their guard at include
time in `create_app`, so every route carries exactly one role decision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, cast

from fastapi import Depends, Request

from api.alarms import AlarmBook
from api.auth import (
    Principal,
    require_admin,
    require_operator,
    require_public,
    require_public_limited,
)
from api.events import StreamHub
from api.metrics import ApiMetrics
from api.snapshot import SnapshotService
from citytraffic.domain.network import Network
from citytraffic.settings import Settings
from citytraffic.storage.port import Store

__all__ = [
    "AdminDep",
    "AlarmsDep",
    "ClockDep",
    "HubDep",
    "MetricsDep",
    "NetworkDep",
    "OperatorDep",
    "PublicDep",
    "PublicLimitedDep",
    "SettingsDep",
    "SnapshotDep",
    "StoreDep",
    "get_alarms",
    "get_clock",
    "get_hub",
    "get_metrics",
    "get_network",
    "get_settings",
    "get_snapshots",
    "get_store",
]


async def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def get_store(request: Request) -> Store:
    return cast(Store, request.app.state.store)


async def get_network(request: Request) -> Network:
    return cast(Network, request.app.state.network)


async def get_snapshots(request: Request) -> SnapshotService:
    return cast(SnapshotService, request.app.state.snapshots)


async def get_clock(request: Request) -> Callable[[], int]:
    """The app's clock (nanoseconds since the epoch); tests pass a ManualClock to create_app."""
    return cast(Callable[[], int], request.app.state.clock_ns)


async def get_metrics(request: Request) -> ApiMetrics:
    return cast(ApiMetrics, request.app.state.metrics)


async def get_alarms(request: Request) -> AlarmBook:
    return cast(AlarmBook, request.app.state.alarms)


async def get_hub(request: Request) -> StreamHub:
    return cast(StreamHub, request.app.state.hub)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
NetworkDep = Annotated[Network, Depends(get_network)]
SnapshotDep = Annotated[SnapshotService, Depends(get_snapshots)]
"""The snapshot holder: `.current` (None until the store answered once), `.is_stale()`."""
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
ClockDep = Annotated[Callable[[], int], Depends(get_clock)]
AlarmsDep = Annotated[AlarmBook, Depends(get_alarms)]
HubDep = Annotated[StreamHub, Depends(get_hub)]
PublicDep = Annotated[Principal, Depends(require_public)]
"""Anyone; the principal tells whether the caller also sent valid credentials."""
PublicLimitedDep = Annotated[Principal, Depends(require_public_limited)]
"""Anyone, rate limited per client IP unless authenticated (public data routes, feeds)."""
OperatorDep = Annotated[Principal, Depends(require_operator)]
AdminDep = Annotated[Principal, Depends(require_admin)]

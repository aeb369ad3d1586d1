"""Dependencies as `Annotated` aliases. Everything comes from `app.state`, set by `create_app`;
tests replace any of them with `app.dependency_overrides[get_store] = ...`.

Later: `OperatorDep` / `AdminDep` (issue 4, roles) belong here too, and routers that need them
declare `dependencies=[...]` at include time, so the routes themselves stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, cast

from fastapi import Depends, Request

from api.metrics import ApiMetrics
from api.snapshot import SnapshotService
from citytraffic.domain.network import Network
from citytraffic.settings import Settings
from citytraffic.storage.port import Store

__all__ = [
    "ClockDep",
    "MetricsDep",
    "NetworkDep",
    "SettingsDep",
    "SnapshotDep",
    "StoreDep",
    "get_clock",
    "get_metrics",
    "get_network",
    "get_settings",
    "get_snapshots",
    "get_store",
]


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def get_store(request: Request) -> Store:
    return cast(Store, request.app.state.store)


def get_network(request: Request) -> Network:
    return cast(Network, request.app.state.network)


def get_snapshots(request: Request) -> SnapshotService:
    return cast(SnapshotService, request.app.state.snapshots)


def get_clock(request: Request) -> Callable[[], int]:
    """The app's clock (nanoseconds since the epoch); tests pass a ManualClock to create_app."""
    return cast(Callable[[], int], request.app.state.clock_ns)


def get_metrics(request: Request) -> ApiMetrics:
    return cast(ApiMetrics, request.app.state.metrics)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
NetworkDep = Annotated[Network, Depends(get_network)]
SnapshotDep = Annotated[SnapshotService, Depends(get_snapshots)]
"""The snapshot holder: `.current` (None until the store answered once), `.is_stale()`."""
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
ClockDep = Annotated[Callable[[], int], Depends(get_clock)]

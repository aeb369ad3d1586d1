"""The operators' dashboard (`/`), the live map (`/map`), their static files (`/static/...`) and
the map layers the page refreshes (`/api/v1/dashboard/layers`). All public: operator data on
the page comes from operator routes with the session cookie, and the two pages and the layers
route add the incident and detector-health layers only when the caller is an operator.

Each route declares its own guard (the router is included without one): the pages and the
layers route are rate limited for anonymous clients (a page render costs ~0.4 s of CPU for
1,000 links), the static files are not. Rendered pages are cached per live-view version and
kept for at least `PAGE_REUSE_S`; every response gets a fresh CSP nonce. See docs/dashboard.md.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from api.auth import Principal, Role, require_public, require_public_limited
from api.dashboard import (
    DashboardConfig,
    PageContext,
    content_security_policy,
    layers_payload,
    map_views,
    render_dashboard,
    render_map_page,
    static_file,
    with_nonce,
)
from api.deps import ClockDep, NetworkDep, SnapshotDep
from api.models import ErrorOut
from api.routes.network import etag_matches
from api.snapshot import SnapshotService
from api.timefmt import rfc3339
from citytraffic.domain.network import Network
from citytraffic.settings import Settings

__all__ = ["PAGE_REUSE_S", "dashboard_config", "get_dashboard_config", "router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["dashboard"])

PAGE_REUSE_S = 5.0
"""A rendered page is reused for this long even when the live view changed meanwhile (the page
applies the stream's hello and the layers route at once, so it is current within a second)."""

GuardedPublic = Annotated[Principal, Depends(require_public_limited)]
_TYPES_200 = (
    "text/javascript",
    "text/css",
    "text/plain",
    "image/png",
    "image/svg+xml",
    "font/woff2",
    "font/woff",
    "font/ttf",
    "application/vnd.ms-fontobject",
    "application/octet-stream",
)
PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}},
    429: {"model": ErrorOut, "description": "anonymous rate limit exceeded"},
}


def dashboard_config(settings: Settings) -> DashboardConfig:
    """The base map from settings: `maps.tiles` ("osm" by default, "none", or an XYZ template of
    a local tile server) and `maps.tile_attribution`.
    A value maps.tile_source refuses is logged and replaced by "none" (no base map)."""
    config = DashboardConfig(
        tiles=settings.maps.tiles, tile_attribution=settings.maps.tile_attribution
    )
    try:
        config.tile_source()
    except ValueError as exc:
        log.error("dashboard: %s; showing no base map", exc)
        return DashboardConfig(tiles="none")
    return config


async def get_dashboard_config(request: Request) -> DashboardConfig:
    """Dependency (tests override it): the config, derived once per app from its settings."""
    state = request.app.state
    config = getattr(state, "dashboard_config", None)
    if not isinstance(config, DashboardConfig):
        config = dashboard_config(state.settings)
        state.dashboard_config = config
    return config


ConfigDep = Annotated[DashboardConfig, Depends(get_dashboard_config)]


@dataclass
class PageCache:
    """The last rendered page of each kind, by (live view version, config)."""

    pages: dict[str, tuple[tuple[Any, ...], float, str]] = field(default_factory=dict)
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    renders: int = 0

    async def get(self, kind: str, key: tuple[Any, ...], render: Callable[[], str]) -> str:
        now = time.monotonic()
        hit = self.pages.get(kind)
        if hit is not None and (hit[0] == key or now - hit[1] < PAGE_REUSE_S):
            return hit[2]
        async with self.lock:
            hit = self.pages.get(kind)
            if hit is not None and (hit[0] == key or time.monotonic() - hit[1] < PAGE_REUSE_S):
                return hit[2]
            page = await anyio.to_thread.run_sync(render)
            self.pages[kind] = (key, time.monotonic(), page)
            self.renders += 1
            return page


def _cache(request: Request) -> PageCache:
    state = request.app.state
    cache = getattr(state, "dashboard_pages", None)
    if not isinstance(cache, PageCache):
        cache = PageCache()
        state.dashboard_pages = cache
    return cache


def _is_operator(principal: Principal) -> bool:
    return principal.role >= Role.OPERATOR


def _page_key(snapshots: SnapshotService, config: DashboardConfig) -> tuple[Any, ...]:
    snap = snapshots.current
    if snap is None:
        return (None, config)
    version = snap.live.version if snap.live is not None else snap.generated_ns
    return (version, config)


def _html(request: Request, page: str, config: DashboardConfig) -> HTMLResponse:
    nonce = secrets.token_urlsafe(18)
    csp = content_security_policy(nonce, config.tile_source(), request.headers.get("host"))
    return HTMLResponse(
        with_nonce(page, nonce),
        headers={
            "Content-Security-Policy": csp,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _renderer(
    kind: str,
    snapshots: SnapshotService,
    network: Network,
    config: DashboardConfig,
    operator: bool,
    clock_ns: Callable[[], int],
) -> Callable[[], str]:
    def render() -> str:
        snap = snapshots.current
        now_ns = clock_ns()
        views = map_views(snap, network, now_ns, operator=operator)
        if kind == "map":
            return render_map_page(network, views, config)
        live = snap.live if snap is not None else None
        context = PageContext(
            operator=operator,
            generated_at=snap.generated_at if snap is not None else None,
            conditions_at=rfc3339(live.computed_ns) if live and live.computed_ns else None,
        )
        return render_dashboard(network, views, config, context)

    return render


async def _serve_page(
    name: str,
    request: Request,
    principal: Principal,
    snapshots: SnapshotService,
    network: Network,
    config: DashboardConfig,
    clock_ns: Callable[[], int],
) -> HTMLResponse:
    """One cached render per page, audience (operator or public) and live-view version."""
    operator = _is_operator(principal)
    kind = f"{name}:{'operator' if operator else 'public'}"
    render = _renderer(name, snapshots, network, config, operator, clock_ns)
    page = await _cache(request).get(kind, _page_key(snapshots, config), render)
    return _html(request, page, config)


@router.get(
    "/",
    response_class=HTMLResponse,
    summary="The operators' dashboard (live map, KPIs, alerts, chart, suggestions)",
    responses=PAGE_RESPONSES,
)
async def dashboard(
    request: Request,
    principal: GuardedPublic,
    snapshots: SnapshotDep,
    network: NetworkDep,
    config: ConfigDep,
    clock_ns: ClockDep,
) -> HTMLResponse:
    return await _serve_page("dashboard", request, principal, snapshots, network, config, clock_ns)


@router.get(
    "/map",
    response_class=HTMLResponse,
    summary="The live map (folium/Leaflet, assets served by this API)",
    responses=PAGE_RESPONSES,
)
async def live_map(
    request: Request,
    principal: GuardedPublic,
    snapshots: SnapshotDep,
    network: NetworkDep,
    config: ConfigDep,
    clock_ns: ClockDep,
) -> HTMLResponse:
    return await _serve_page("map", request, principal, snapshots, network, config, clock_ns)


@router.get(
    "/static/{path:path}",
    summary="Scripts, style sheets, fonts and images of the dashboard and the map",
    response_class=Response,
    dependencies=[Depends(require_public)],
    responses={
        200: {"content": {t: {"schema": {"type": "string"}} for t in _TYPES_200}},
        304: {"description": "unchanged since the ETag in If-None-Match"},
        404: {"model": ErrorOut, "description": "no such file"},
    },
)
async def static(path: str, request: Request) -> Response:
    found = static_file(path)
    if found is None:
        raise HTTPException(404, f"no static file {path[:80]!r}")
    headers = {
        "ETag": found.etag,
        "Cache-Control": found.cache_control,
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    if etag_matches(request.headers.get("if-none-match"), found.etag):
        return Response(status_code=304, headers=headers)
    body = found.body
    if found.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = found.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=found.media_type, headers=headers)


class DashboardLayersOut(BaseModel):
    junctions: list[dict[str, Any]] = Field(
        description="page-runtime updates {id, properties} of every junction with a signal state"
    )
    incidents: dict[str, Any] | None = Field(
        None, description="operators: active incidents, a GeoJSON FeatureCollection"
    )
    detectors: dict[str, Any] | None = Field(
        None, description="operators: detector health, a GeoJSON FeatureCollection"
    )


@router.get(
    "/api/v1/dashboard/layers",
    response_model=DashboardLayersOut,
    response_model_exclude_none=True,
    summary="Map layers without a stream event: junction phases; incidents and detector "
    "health for operators",
    responses={
        429: {"model": ErrorOut, "description": "anonymous rate limit exceeded"},
        503: {"model": ErrorOut, "description": "no snapshot yet"},
    },
)
async def layers(
    principal: GuardedPublic,
    snapshots: SnapshotDep,
    network: NetworkDep,
    clock_ns: ClockDep,
) -> JSONResponse:
    snap = snapshots.current
    if snap is None:
        raise HTTPException(503, "no snapshot yet", headers={"Retry-After": "2"})
    operator = _is_operator(principal)
    views = map_views(snap, network, clock_ns(), operator=operator)
    body = layers_payload(network, views, operator=operator)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})

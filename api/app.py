"""The live API: `create_app(settings, store, network)` builds it; `run_api(...)` serves it.

No settings are read at import time: the CLI (the composition root) builds Settings, opens the
store and loads the network, and passes them in. Routes reach them through `api.deps`.

Request path, outermost first: metrics (counts everything) -> CORS (when origins are configured)
-> body size limit -> routers. `ROUTERS` below is the role decision of every router (public,
public with the per-IP rate limit, operator, admin); `create_app` refuses to build an app with a
route that has no role decision. The snapshot refresh also runs the live engines (conditions,
health, incidents: api/live.py), renders the public feeds and publishes the stream events
(api/derive.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import uvicorn
from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.alarms import AUDIT_MEASUREMENT, AlarmBook
from api.auth import (
    RoleGuard,
    build_authenticator,
    require_admin,
    require_operator,
    require_public,
    require_public_limited,
)
from api.auth.openapi import check_roles, install_openapi
from api.derive import Deriver
from api.events import StreamHub
from api.feeds import FeedContext
from api.live import LiveEngines
from api.metrics import ApiMetrics, MetricsMiddleware
from api.middleware import BodySizeLimitMiddleware
from api.routes import (
    admin,
    conditions,
    dashboard,
    feeds,
    forecasts,
    health,
    health_detectors,
    history,
    incidents,
    metrics,
    ngsi,
    signals,
    stream,
)
from api.routes import auth as auth_routes
from api.routes import network as network_routes
from api.snapshot import NS, Snapshot, SnapshotService
from citytraffic.conditions import DEFAULT_CONDITIONS
from citytraffic.domain.network import Network
from citytraffic.settings import Settings
from citytraffic.storage.port import Store, StoreError

__all__ = ["create_app", "run_api"]

log = logging.getLogger(__name__)

DESCRIPTION = """\
Live traffic conditions of the citytraffic network: the latest reading of every detector and the
conditions of every link (served from a snapshot refreshed every few seconds), public feeds
(GeoJSON road status, DATEX II v3, NGSI-LD TrafficFlowObserved, WZDx), a WebSocket stream of
changes, and for operators detector health, incidents, history and metrics. Roles: public,
operator, admin (`x-role` on each operation); operators authenticate with an API key
(`Authorization: Bearer` or `X-API-Key`) or the session cookie of `POST /auth/login`. Times are
RFC 3339 UTC; units are in field names."""

# The role decision of every router. A router whose routes declare their own guard (auth,
# stream) is listed with None; create_app checks that every route ends up with one.
ROUTERS: tuple[tuple[APIRouter, RoleGuard | None], ...] = (
    (health.router, require_public),
    (auth_routes.router, require_public),
    (network_routes.router, require_public_limited),
    (conditions.router, require_public_limited),
    (forecasts.router, require_public_limited),
    (feeds.router, require_public_limited),
    (ngsi.router, require_public_limited),
    (stream.router, None),
    (dashboard.router, None),  # pages/static public, layers public-limited: per route
    (metrics.router, require_operator),
    (history.router, require_operator),
    (health_detectors.router, require_operator),
    (incidents.router, require_operator),
    (signals.router, require_operator),
    (admin.router, require_admin),
)


def create_app(
    settings: Settings,
    store: Store,
    network: Network,
    *,
    clock_ns: Callable[[], int] = time.time_ns,
) -> FastAPI:
    """Build the app. The snapshot is refreshed once before serving, then in the background."""
    f = settings.feeds
    feed_context = FeedContext(
        publisher=f.publisher,
        country=f.country,
        national_identifier=f.national_identifier,
        language=f.language,
        contact_email=f.contact_email,
        update_frequency_s=max(1, round(settings.api.snapshot_refresh_s)),
    )
    engines = LiveEngines(network, settings.live) if settings.live.enabled else None
    deriver = Deriver(
        store,
        network,
        engines,
        feed_context,
        settings.api.live_window_s,
        stale_after_s=DEFAULT_CONDITIONS.stale_after_s,
    )
    hub = StreamHub(settings.live.stream_max_clients, settings.live.stream_queue)

    def publish(snapshot: Snapshot) -> None:
        hub.publish(list(snapshot.events))

    snapshots = SnapshotService(
        store,
        network,
        live_window_s=settings.api.live_window_s,
        refresh_s=settings.api.snapshot_refresh_s,
        clock_ns=clock_ns,
        derive=deriver,
        on_refresh=publish,
    )
    api_metrics = ApiMetrics(snapshots)
    alarms = AlarmBook()

    def replay_audit() -> None:
        now_ns = clock_ns()
        start_ns = now_ns - settings.live.audit_lookback_days * 86_400 * NS
        try:
            rows = store.range(AUDIT_MEASUREMENT, start_ns, now_ns + 1)
        except StoreError as exc:
            log.warning("operator actions not reloaded (alarm states start empty): %s", exc)
            return
        alarms.replay(rows)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(replay_audit)
        await anyio.to_thread.run_sync(snapshots.refresh)
        task = asyncio.create_task(snapshots.run(), name="snapshot-refresh")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="citytraffic API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.network = network
    app.state.snapshots = snapshots
    app.state.metrics = api_metrics
    app.state.clock_ns = clock_ns
    app.state.alarms = alarms
    app.state.hub = hub
    app.state.auth = build_authenticator(settings)
    for router, guard in ROUTERS:
        app.include_router(router, dependencies=[Depends(guard)] if guard is not None else None)
    check_roles(app)
    install_openapi(app, settings.auth.cookie_name)

    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.api.max_body_bytes)
    origins = settings.api.cors_origins
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials="*" not in origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
            expose_headers=["ETag", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(MetricsMiddleware, metrics=api_metrics)
    return app


def run_api(settings: Settings, store: Store, network: Network) -> None:
    """Serve the API with uvicorn; returns after a graceful shutdown on SIGINT/SIGTERM."""
    app = create_app(settings, store, network)
    config = uvicorn.Config(
        app,
        host=settings.api.host,
        port=settings.api.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
    )
    log.info("API on http://%s:%d", settings.api.host, settings.api.port)
    with _return_on_signals():
        uvicorn.Server(config).run()


@contextlib.contextmanager
def _return_on_signals() -> Iterator[None]:
    """uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the
    handler that was in place before it; a no-op handler there lets `run_api` return normally,
    so the caller can close the store and exit 0. The previous handlers are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""The live API: `create_app(settings, store, network)` builds it; `run_api(...)` serves it.

No settings are read at import time: the CLI (the composition root) builds Settings, opens the
store and loads the network, and passes them in. Routes reach them through `api.deps`.

Request path, outermost first: metrics (counts everything) -> CORS (when origins are configured)
-> body size limit -> routers: health, metrics, network, conditions, history.
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
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.metrics import ApiMetrics, MetricsMiddleware
from api.middleware import BodySizeLimitMiddleware
from api.routes import conditions, health, history, metrics
from api.routes import network as network_routes
from api.snapshot import SnapshotService
from citytraffic.domain.network import Network
from citytraffic.settings import Settings
from citytraffic.storage.port import Store

__all__ = ["create_app", "run_api"]

log = logging.getLogger(__name__)

DESCRIPTION = """\
Live traffic conditions of the citytraffic network: the latest reading of every detector (served
from a snapshot refreshed every few seconds), one detector's history in time buckets, the network
as GeoJSON, health and Prometheus metrics. Times are RFC 3339 UTC; units are in field names."""


def create_app(
    settings: Settings,
    store: Store,
    network: Network,
    *,
    clock_ns: Callable[[], int] = time.time_ns,
) -> FastAPI:
    """Build the app. The snapshot is refreshed once before serving, then in the background."""
    snapshots = SnapshotService(
        store,
        network,
        live_window_s=settings.api.live_window_s,
        refresh_s=settings.api.snapshot_refresh_s,
        clock_ns=clock_ns,
    )
    api_metrics = ApiMetrics(snapshots)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
    for module in (health, metrics, network_routes, conditions, history):
        app.include_router(module.router)

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

"""GET /api/v1/forecasts: the newest forecast per detector / link and horizon, with the predicted
level of service of links (public road information).

The live forecaster (`forecasting/live.py`) writes measurement `forecast`: tags `site` +
`detector` (or `link`) + `horizon_min`, time = target time, fields speed/flow with bounds, `model`,
`issue_time_ns`, `level`. This route reads the newest point of every forecast series once per
snapshot period (a small cache shared by all requests), not once per request.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel

from api.deps import ClockDep, NetworkDep, SettingsDep, StoreDep
from api.models import ErrorOut
from citytraffic.conditions import freeway_speed_los, urban_los
from citytraffic.domain.network import Network, RoadClass
from citytraffic.storage.points import Row
from citytraffic.storage.port import Store, StoreError

NS = 1_000_000_000
LOOKBACK_S = 6 * 3600  # forecasts whose target lies further back are not "current"

router = APIRouter(prefix="/api/v1", tags=["forecasts"])


class ForecastOut(BaseModel):
    site: str | None
    detector: str | None
    link: str | None
    horizon_min: int
    target_time: str
    issue_time: str | None
    model: str | None
    level: float | None
    speed_kmh: float | None
    speed_kmh_lower: float | None
    speed_kmh_upper: float | None
    flow_vph: float | None
    flow_vph_lower: float | None
    flow_vph_upper: float | None
    los: str | None  # predicted level of service (links only)


class ForecastsOut(BaseModel):
    generated_at: str
    forecasts: list[ForecastOut]


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[Row] = []
        self.read_at = 0.0


def _rfc3339(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / NS, UTC).isoformat().replace("+00:00", "Z")


def _float(fields: dict[str, Any], key: str) -> float | None:
    v = fields.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def predicted_los(network: Network, link_id: str, speed_kmh: float | None) -> str | None:
    """LOS from the predicted speed: urban speed-ratio bands, or the freeway speed-only bands
    (a forecast has no density), as in the conditions engine."""
    if speed_kmh is None:
        return None
    try:
        link = network.link(link_id)
    except KeyError:
        return None
    ratio = speed_kmh / link.free_flow_kmh
    return freeway_speed_los(ratio) if link.road_class is RoadClass.FREEWAY else urban_los(ratio)


def to_out(row: Row, network: Network) -> ForecastOut:
    f, tags = row.fields, row.tags
    link = tags.get("link") or None
    issue = f.get("issue_time_ns")
    speed = _float(f, "speed_kmh")
    return ForecastOut(
        site=tags.get("site") or None,
        detector=tags.get("detector") or None,
        link=link,
        horizon_min=int(tags.get("horizon_min", "0") or 0),
        target_time=_rfc3339(row.time_ns),
        issue_time=_rfc3339(int(issue)) if isinstance(issue, int | float) else None,
        model=str(f["model"]) if isinstance(f.get("model"), str) else None,
        level=_float(f, "level"),
        speed_kmh=speed,
        speed_kmh_lower=_float(f, "speed_kmh_lower"),
        speed_kmh_upper=_float(f, "speed_kmh_upper"),
        flow_vph=_float(f, "flow_vph"),
        flow_vph_lower=_float(f, "flow_vph_lower"),
        flow_vph_upper=_float(f, "flow_vph_upper"),
        los=predicted_los(network, link, speed) if link else None,
    )


def _read(cache: _Cache, store: Store, now_ns: int, max_age_s: float) -> list[Row]:
    with cache.lock:
        if time.monotonic() - cache.read_at > max_age_s:
            cache.rows = store.latest("forecast", now_ns - LOOKBACK_S * NS)
            cache.read_at = time.monotonic()
        return cache.rows


@router.get(
    "/forecasts",
    response_model=ForecastsOut,
    summary="Newest forecast per detector/link and horizon, with predicted LOS of links",
    responses={
        400: {"model": ErrorOut, "description": "bad parameter"},
        404: {"model": ErrorOut, "description": "unknown site, detector or link"},
        503: {"model": ErrorOut, "description": "the store cannot be read"},
    },
)
async def forecasts(
    request: Request,
    store: StoreDep,
    network: NetworkDep,
    settings: SettingsDep,
    clock_ns: ClockDep,
    site: Annotated[str | None, Query(max_length=64)] = None,
    detector: Annotated[str | None, Query(max_length=64)] = None,
    link: Annotated[str | None, Query(max_length=64)] = None,
    horizon: Annotated[int | None, Query(ge=1, le=24 * 60, description="minutes ahead")] = None,
) -> ForecastsOut:
    known = (
        (site, {s.id for s in network.sites}, "site"),
        (detector, {d.id for d in network.detectors}, "detector"),
        (link, {ln.id for ln in network.links}, "link"),
    )
    for value, ids, what in known:
        if value is not None and value not in ids:
            raise HTTPException(404, f"unknown {what} {value!r}")
    now_ns = clock_ns()
    try:
        cache = getattr(request.app.state, "forecast_cache", None)
        if cache is None:
            cache = request.app.state.forecast_cache = _Cache()
        rows = await anyio.to_thread.run_sync(
            _read, cache, store, now_ns, settings.api.snapshot_refresh_s
        )
    except StoreError as exc:
        raise HTTPException(503, f"forecasts cannot be read: {exc}") from None
    wanted = {
        "site": site,
        "detector": detector,
        "link": link,
        "horizon_min": None if horizon is None else str(horizon),
    }
    selected = [r for r in rows if all(v is None or r.tags.get(k) == v for k, v in wanted.items())]
    selected.sort(
        key=lambda r: (
            r.tags.get("link", ""),
            r.tags.get("detector", ""),
            int(r.tags.get("horizon_min", "0") or 0),
        )
    )
    return ForecastsOut(
        generated_at=_rfc3339(now_ns), forecasts=[to_out(r, network) for r in selected]
    )

"""Public feeds: road status (GeoJSON), DATEX II v3 traffic status (XML), WZDx DeviceFeed.

No authentication; rate limited per client IP (`feeds.rate_per_s`, `feeds.burst`; 429 with
Retry-After). The bytes are rendered once per snapshot refresh with a strong ETag and the newest
data time as Last-Modified: a conditional request (If-None-Match, else If-Modified-Since) is
answered 304; `Accept-Encoding: gzip` gets the pre-compressed variant. Cache-Control: public,
max-age = `feeds.max_age_s`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from api.deps import SettingsDep, SnapshotDep
from api.feeds import RenderedFeed
from api.feeds.datex2 import NAMESPACES
from api.models import ErrorOut
from api.routes.network import etag_matches
from api.snapshot import SnapshotService
from api.timefmt import parse_http_date

router = APIRouter(prefix="/feeds", tags=["feeds"])

_FEATURES: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": {"type": "object"}},
    },
}


def _doc(media_type: str, schema: dict[str, Any], description: str) -> dict[int | str, Any]:
    return {
        200: {"content": {media_type: {"schema": schema}}, "description": description},
        304: {"description": "unchanged (If-None-Match / If-Modified-Since)"},
        429: {"model": ErrorOut, "description": "rate limit exceeded; see Retry-After"},
        503: {"model": ErrorOut, "description": "no snapshot yet"},
    }


def accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().removeprefix("q=").strip() if params else "1"
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False


def serve_feed(
    feed: RenderedFeed, request: Request, max_age_s: int, headers: dict[str, str] | None = None
) -> Response:
    """The feed's bytes, or 304 for a matching conditional request."""
    gz = accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = feed.gzip_etag if gz else feed.etag
    out = {
        "ETag": etag,
        "Last-Modified": feed.last_modified,
        "Cache-Control": f"public, max-age={max_age_s}",
        "Vary": "Accept-Encoding",
        **(headers or {}),
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        if etag_matches(if_none_match, feed.etag) or etag_matches(if_none_match, feed.gzip_etag):
            return Response(status_code=304, headers=out)
    elif "if-modified-since" in request.headers:
        since = parse_http_date(request.headers["if-modified-since"])
        if since is not None and feed.last_modified_s <= since:
            return Response(status_code=304, headers=out)
    if gz:
        out["Content-Encoding"] = "gzip"
        return Response(feed.gzipped, media_type=feed.media_type, headers=out)
    return Response(feed.body, media_type=feed.media_type, headers=out)


def current_feeds(snapshots: SnapshotService) -> Any:
    snap = snapshots.current
    if snap is None or snap.feeds is None:
        raise HTTPException(
            503,
            "no feeds yet: the store has not answered since start-up",
            headers={"Retry-After": str(max(1, round(snapshots.refresh_s)))},
        )
    return snap.feeds


@router.get(
    "/road-status.geojson",
    response_class=Response,
    summary="Every link as a LineString with its level of service, speed and congestion",
    responses=_doc("application/geo+json", _FEATURES, "GeoJSON FeatureCollection"),
)
async def road_status(request: Request, snapshots: SnapshotDep, settings: SettingsDep) -> Response:
    return serve_feed(current_feeds(snapshots).road_status, request, settings.feeds.max_age_s)


@router.get(
    "/datex2/traffic-status.xml",
    response_class=Response,
    summary="DATEX II v3 ElaboratedDataPublication: a TrafficStatus per link",
    responses=_doc(
        "application/xml",
        {"type": "string"},
        f"DATEX II v3 d2:payload ({NAMESPACES['d2']}) of type roa:ElaboratedDataPublication",
    ),
)
async def datex2(request: Request, snapshots: SnapshotDep, settings: SettingsDep) -> Response:
    return serve_feed(current_feeds(snapshots).datex2, request, settings.feeds.max_age_s)


@router.get(
    "/wzdx/devices.geojson",
    response_class=Response,
    summary="WZDx v4.2 DeviceFeed: traffic sensors and traffic signals",
    responses=_doc(
        "application/geo+json",
        {**_FEATURES, "required": ["feed_info", "type", "features"]},
        "WZDx DeviceFeed",
    ),
)
async def wzdx(request: Request, snapshots: SnapshotDep, settings: SettingsDep) -> Response:
    return serve_feed(current_feeds(snapshots).wzdx, request, settings.feeds.max_age_s)

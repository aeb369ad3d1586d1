"""GET /api/v1/network: the network file as GeoJSON, encoded once per network, with an ETag."""

from __future__ import annotations

import hashlib
import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api.deps import NetworkDep
from api.models import NetworkOut
from citytraffic.domain.network import Network
from citytraffic.network_file import network_to_geojson

router = APIRouter(prefix="/api/v1", tags=["network"])

GEOJSON = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    """Only for the OpenAPI document: the route sends pre-encoded bytes."""

    media_type = GEOJSON


_cache: dict[int, tuple[Network, bytes, str]] = {}


def encoded_network(network: Network) -> tuple[bytes, str]:
    """(body, etag) of a network; cached per network object (networks are immutable)."""
    hit = _cache.get(id(network))
    if hit is not None and hit[0] is network:
        return hit[1], hit[2]
    body = json.dumps(network_to_geojson(network), separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if len(_cache) > 8:
        _cache.clear()
    _cache[id(network)] = (network, body, etag)
    return body, etag


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


@router.get(
    "/network",
    response_model=NetworkOut,
    response_class=GeoJSONResponse,
    summary="The road network (GeoJSON FeatureCollection)",
    responses={304: {"description": "unchanged since the ETag in If-None-Match"}},
)
async def get_network(network: NetworkDep, request: Request) -> Response:
    body, etag = encoded_network(network)
    headers = {"ETag": etag, "Cache-Control": "public, max-age=60"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=GEOJSON, headers=headers)

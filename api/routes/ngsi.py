"""NGSI-LD: `TrafficFlowObserved` entities (FIWARE Smart Data Models) and their @context.

- `GET /ngsi-ld/v1/entities?type=TrafficFlowObserved` (the type may be given as the term or its
  full URI; another type gives `[]`): a JSON array of entities, normalized, or plain values with
  `options=keyValues` (or `format=simplified`); `id=` (comma-separated) filters; `limit` /
  `offset` page (default: all, at most `feeds.ngsi_max_limit`); `count=true` adds
  `NGSILD-Results-Count`.
- `GET /ngsi-ld/v1/entities/{entityId}`: one entity.
- `GET /ngsi-ld/contexts/citytraffic.jsonld`: the JSON-LD @context, served by us.

Following NGSI-LD's rules on the @context: with `Accept: application/ld+json` every entity
carries `@context` and the body is `application/ld+json`; otherwise the body is plain
`application/json` and the context is given in a `Link` header
(`rel="http://www.w3.org/ns/json-ld#context"`). Errors are NGSI-LD problem details.
Public and rate limited like the feeds; served from bytes rendered once per snapshot.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import SettingsDep, SnapshotDep
from api.feeds.ngsi import CONTEXT_PATH, ENTITY_TYPE, ENTITY_TYPE_URI, context_document
from api.models import ErrorOut
from api.models_ops import ProblemOut
from api.routes.feeds import current_feeds, serve_feed
from citytraffic.settings import Settings

router = APIRouter(tags=["ngsi-ld"])

ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
JSONLD_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
_CONTEXT = context_document()
_ENTITY_SCHEMA = {
    "type": "object",
    "required": ["id", "type"],
    "properties": {"id": {"type": "string"}, "type": {"type": "string"}},
}


def problem(status: int, kind: str, title: str, detail: str) -> JSONResponse:
    body = ProblemOut(type=ERRORS + kind, title=title, detail=detail).model_dump()
    return JSONResponse(body, status_code=status)


def context_url(request: Request, settings: Settings) -> str:
    base = settings.feeds.public_base_url or str(request.base_url)
    return base.rstrip("/") + CONTEXT_PATH


def wants_ld(request: Request) -> bool:
    return "application/ld+json" in request.headers.get("accept", "")


def key_values(options: str | None, fmt: str | None) -> bool:
    opts = {o.strip() for o in (options or "").split(",")}
    return "keyValues" in opts or (fmt or "").strip() == "simplified"


_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ProblemOut, "description": "BadRequestData"},
    429: {"model": ErrorOut, "description": "rate limit exceeded; see Retry-After"},
    503: {"model": ErrorOut, "description": "no snapshot yet"},
}


@router.get(
    "/ngsi-ld/v1/entities",
    response_class=Response,
    summary="TrafficFlowObserved entities (NGSI-LD query)",
    responses={
        200: {
            "description": "entities",
            "content": {
                "application/json": {"schema": {"type": "array", "items": _ENTITY_SCHEMA}},
                "application/ld+json": {"schema": {"type": "array", "items": _ENTITY_SCHEMA}},
            },
        },
        304: {"description": "unchanged"},
        **_RESPONSES,
    },
)
async def query_entities(
    request: Request,
    snapshots: SnapshotDep,
    settings: SettingsDep,
    type: Annotated[str | None, Query(max_length=256, description="entity type")] = None,
    id: Annotated[
        str | None, Query(max_length=4096, description="entity ids, comma-separated")
    ] = None,
    options: Annotated[str | None, Query(max_length=128, description="keyValues")] = None,
    format: Annotated[
        str | None, Query(max_length=32, description="simplified | normalized")
    ] = None,
    limit: Annotated[int | None, Query(ge=0, description="page size (default: all)")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    count: Annotated[bool, Query(description="add NGSILD-Results-Count")] = False,
) -> Response:
    if type is None and id is None:
        return problem(
            400, "BadRequestData", "type or id required", "give ?type=TrafficFlowObserved"
        )
    max_limit = settings.feeds.ngsi_max_limit
    if limit is not None and limit > max_limit:
        return problem(400, "BadRequestData", "limit too large", f"limit is at most {max_limit}")
    ngsi = current_feeds(snapshots).ngsi
    kv, ld = key_values(options, format), wants_ld(request)
    ctx = context_url(request, settings)
    headers: dict[str, str] = {} if ld else {"Link": f"<{ctx}>; {JSONLD_REL}"}
    types = {t.strip() for t in (type or ENTITY_TYPE).split(",")}
    matching = types & {ENTITY_TYPE, ENTITY_TYPE_URI}
    entities = ngsi.entities if matching else ()
    if id is not None:
        wanted = {i.strip() for i in id.split(",")}
        entities = tuple(e for e in entities if e.id in wanted)
    if count:
        headers["NGSILD-Results-Count"] = str(len(entities))
    page_size = max_limit if limit is None else limit
    if entities is ngsi.entities:
        feed = ngsi.page(kv, offset, page_size, ctx if ld else None)
        return serve_feed(feed, request, settings.feeds.max_age_s, headers)
    window = entities[offset : offset + page_size]
    if ld:
        chunks = [ngsi.entity(e.id, kv, ctx) or b"" for e in window]
    else:
        chunks = [e.key_values if kv else e.normalized for e in window]
    media = "application/ld+json" if ld else "application/json"
    return Response(b"[" + b",".join(chunks) + b"]", media_type=media, headers=headers)


@router.get(
    "/ngsi-ld/v1/entities/{entity_id}",
    response_class=Response,
    summary="One TrafficFlowObserved entity",
    responses={
        200: {
            "description": "the entity",
            "content": {
                "application/json": {"schema": _ENTITY_SCHEMA},
                "application/ld+json": {"schema": _ENTITY_SCHEMA},
            },
        },
        404: {"model": ProblemOut, "description": "ResourceNotFound"},
        **_RESPONSES,
    },
)
async def get_entity(
    entity_id: str,
    request: Request,
    snapshots: SnapshotDep,
    settings: SettingsDep,
    options: Annotated[str | None, Query(max_length=128)] = None,
    format: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    ngsi = current_feeds(snapshots).ngsi
    ld = wants_ld(request)
    ctx = context_url(request, settings)
    body = ngsi.entity(entity_id, key_values(options, format), ctx if ld else None)
    if body is None:
        return problem(404, "ResourceNotFound", "no such entity", entity_id[:200])
    if ld:
        return Response(body, media_type="application/ld+json")
    return Response(body, media_type="application/json", headers={"Link": f"<{ctx}>; {JSONLD_REL}"})


@router.get(
    CONTEXT_PATH,
    response_class=Response,
    summary="The JSON-LD @context of the NGSI-LD entities",
    responses={200: {"content": {"application/ld+json": {"schema": {"type": "object"}}}}},
)
async def jsonld_context() -> Response:
    return Response(
        _CONTEXT,
        media_type="application/ld+json",
        headers={"Cache-Control": "public, max-age=86400"},
    )

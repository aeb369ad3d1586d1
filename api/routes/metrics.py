"""GET /metrics: Prometheus text exposition (API counters, snapshot state, ingest counters)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import MetricsDep
from api.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(api_metrics: MetricsDep) -> Response:
    return Response(api_metrics.render(), media_type=CONTENT_TYPE)

"""Response models of the API: they document the OpenAPI spec and check what the routes send.

Routes that serve pre-serialised bytes (conditions, network) still declare their model, and the
unit tests validate those bytes against it, so the spec and the wire format cannot drift apart.
Times are RFC 3339 strings in UTC with a `Z` suffix.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    """Every 4xx/5xx answered by citytraffic itself (FastAPI's 422 keeps its own shape)."""

    detail: str = Field(description="what was wrong and how to fix it")


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="`ok` when the last snapshot refresh reached the store; the API keeps "
        "serving the last snapshot when it is `degraded`"
    )
    store_up: bool = Field(description="the last snapshot refresh reached the store")
    snapshot_generated_at: str | None = Field(description="when the snapshot was read; null: never")
    snapshot_age_s: float | None = Field(description="seconds since snapshot_generated_at")
    snapshot_refresh_s: float
    last_error: str | None = Field(description="why the last refresh failed, if it did")
    detectors_live: int = Field(description="detectors with a reading in the live window")


class DetectorConditionOut(BaseModel):
    site: str
    detector: str
    link: str | None = Field(description="from the network file; null for an unknown detector")
    lane: int | None
    ts: str = Field(description="source timestamp of the latest reading (end of its interval)")
    age_s: float = Field(description="seconds between `ts` and the snapshot's generated_at")
    count: int | None = Field(description="vehicles in the interval")
    occupancy: float | None = Field(description="fraction 0..1 of the interval")
    speed_kmh: float | None
    flow_vph: float | None = Field(description="count x 3600 / interval_s")
    interval_s: int | None
    quality: str = Field(description="`ok` or `;`-joined range flags")


class LinkConditionOut(BaseModel):
    """Conditions of one link from the conditions engine (docs/conditions.md)."""

    link: str
    name: str
    road_class: str = Field(description="urban | freeway: picks the level-of-service rule")
    lanes: int
    lanes_reporting: int = Field(description="lanes with a reading in the newest interval")
    free_flow_kmh: float
    updated: str | None = Field(description="end of the newest interval used; null: no data")
    data_age_s: float | None = Field(description="seconds between updated and conditions_at")
    stale: bool = Field(description="the newest reading is too old for a level of service")
    los: str | None = Field(description="level of service A-F; null when it cannot be told")
    los_basis: str | None
    los_reason: str | None = Field(description="why los is null")
    congested: bool | None
    congested_for_s: float | None
    trend: str | None = Field(description="building_up | easing | stable")
    speed_kmh: float | None
    speed_basis: str | None = Field(description="measured | estimated_from_occupancy")
    speed_ratio: float | None = Field(description="speed / free-flow speed")
    flow_vph: float | None = Field(description="total over the reporting lanes")
    flow_vph_per_lane: float | None
    occupancy: float | None = Field(description="lane mean, fraction 0..1")
    density_vpkm: float | None = Field(description="total over the reporting lanes")
    quality: str = Field(description="`ok` or the flags seen in the averaging window")
    samples: int
    flagged_samples: int
    detectors: list[str] = Field(description="detectors that fed the values")
    excluded_detectors: list[str] = Field(description="left out: detector health bad")


class ConditionsOut(BaseModel):
    generated_at: str = Field(description="when this snapshot was read from the store")
    snapshot_age_s: float = Field(description="seconds since generated_at when this was sent")
    stale: bool = Field(description="the store could not be read at the last refresh(es)")
    live_window_s: int = Field(description="readings older than this are not listed")
    detectors: list[DetectorConditionOut]
    conditions_at: str | None = Field(
        None, description="when the conditions engine last ran; null: not yet"
    )
    links: list[LinkConditionOut] = Field(
        default_factory=list, description="per-link conditions (with `site`: that site's links)"
    )


class HistoryBucketOut(BaseModel):
    start: str = Field(description="bucket start, a multiple of window_s since the epoch")
    count: int | None = Field(description="sum of vehicle counts")
    occupancy: float | None = Field(description="mean occupancy (fraction 0..1)")
    speed_kmh: float | None = Field(description="mean of the readings' mean speeds")
    flow_vph: float | None = Field(description="sum count x 3600 / covered_s")
    covered_s: int | None = Field(description="sum of the readings' interval_s in the bucket")


class HistoryOut(BaseModel):
    detector: str
    site: str
    link: str
    lane: int
    start: str
    end: str
    window_s: int
    buckets: list[HistoryBucketOut] = Field(description="oldest first; empty buckets omitted")


class GeometryOut(BaseModel):
    type: Literal["Point", "LineString"]
    coordinates: list[Any] = Field(description="[lon, lat] or a list of [lon, lat]")


class FeatureOut(BaseModel):
    type: Literal["Feature"]
    id: str | None = None
    geometry: GeometryOut
    properties: dict[str, Any] = Field(
        description="feature_type site | link | detector and its attributes (docs/network-file.md)"
    )


class NetworkMetaOut(BaseModel):
    version: int
    name: str
    gateways: list[dict[str, Any]] = Field(default_factory=list)


class NetworkOut(BaseModel):
    """The network file (GeoJSON FeatureCollection; schema in docs/schemas/)."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["FeatureCollection"]
    citytraffic: NetworkMetaOut
    bbox: list[float] | None = None
    features: list[FeatureOut]

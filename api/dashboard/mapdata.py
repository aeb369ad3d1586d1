"""The live snapshot as the map's view records (pure): what `/`, `/map` and
`/api/v1/dashboard/layers` draw.

Links and junctions are public; incidents and detector health are operator data and only built
when the caller is an operator (`operator=True`). The records are maps/views.py's, so the
GeoJSON and popups come from maps/geojson.py, the same code the first render uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.feeds.common import SignalRow
from api.snapshot import Snapshot
from citytraffic.conditions import DetectorHealth, Incident, LinkConditions
from citytraffic.domain.network import Network
from maps import (
    DetectorHealthView,
    IncidentView,
    JunctionView,
    LinkView,
    Skipped,
    detector_features,
    detector_lon_lat,
    incident_features,
    junction_updates,
)

__all__ = [
    "MapViews",
    "detector_views",
    "incident_views",
    "junction_views",
    "layers_payload",
    "link_views",
    "map_views",
]

NS = 1_000_000_000


def _when(time_ns: int | None) -> datetime | None:
    return None if time_ns is None else datetime.fromtimestamp(time_ns / NS, UTC)


@dataclass(frozen=True, slots=True)
class MapViews:
    links: tuple[LinkView, ...] = ()
    junctions: tuple[JunctionView, ...] = ()
    incidents: tuple[IncidentView, ...] = ()
    health: tuple[DetectorHealthView, ...] = ()


def link_views(links: Mapping[str, LinkConditions]) -> tuple[LinkView, ...]:
    return tuple(
        LinkView(c.link, c.los, c.speed_kmh, c.congested, _when(c.time_ns)) for c in links.values()
    )


def junction_views(signals: Mapping[str, SignalRow], now_ns: int) -> tuple[JunctionView, ...]:
    """Phase and data age of every junction with a signal state. No timing suggestion yet: the
    suggestions workflow (control/) is not served by the API (see docs/dashboard.md)."""
    return tuple(
        JunctionView(s.site, s.phase or None, max(0.0, (now_ns - s.time_ns) / NS), None)
        for s in signals.values()
    )


def incident_views(incidents: Iterable[Incident]) -> tuple[IncidentView, ...]:
    return tuple(
        IncidentView(
            id=i.id,
            lon=i.lon,
            lat=i.lat,
            state=i.state,
            confidence=i.confidence,
            start=_when(i.start_ns),
            link=i.link,
            description=i.description,
        )
        for i in incidents
    )


def detector_views(
    network: Network, health: Iterable[DetectorHealth], skipped: Skipped | None = None
) -> tuple[DetectorHealthView, ...]:
    """Every assessed detector placed on its link; unknown detectors are left out."""
    out: list[DetectorHealthView] = []
    for h in health:
        where = detector_lon_lat(network, h.detector)
        if where is None:
            if skipped is not None:
                skipped.add(f"detector {h.detector!r}: not in the network")
            continue
        out.append(DetectorHealthView(h.detector, where[0], where[1], h.status, h.reasons))
    return tuple(out)


def map_views(
    snapshot: Snapshot | None, network: Network, now_ns: int, *, operator: bool
) -> MapViews:
    """The view records of one snapshot; empty before the first snapshot or without engines."""
    if snapshot is None:
        return MapViews()
    junctions = junction_views(snapshot.signals, now_ns)
    view = snapshot.live
    if view is None:
        return MapViews(junctions=junctions)
    if not operator:
        return MapViews(link_views(view.links), junctions)
    return MapViews(
        link_views(view.links),
        junctions,
        incident_views(view.incidents_active),
        detector_views(network, view.health.values()),
    )


def layers_payload(network: Network, views: MapViews, *, operator: bool) -> dict[str, Any]:
    """The body of GET /api/v1/dashboard/layers: page-runtime updates for the layers that have
    no stream event of their own (junction phases) and, for operators, the incident and
    detector-health layers as FeatureCollections (`replace`d whole on the page)."""
    body: dict[str, Any] = {"junctions": junction_updates(network, views.junctions)}
    if operator:
        body["incidents"] = incident_features(views.incidents)
        body["detectors"] = detector_features(views.health)
    return body

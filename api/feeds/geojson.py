"""`/feeds/road-status.geojson`: every link as a LineString with its current road status.

A GeoJSON FeatureCollection (RFC 7946): one Feature per link of the network, geometry the link's
polyline in (lon, lat), properties the link's level of service, speed, flow, congestion, trend
and the time of the newest reading behind them (`updated`). A link without fresh, unflagged data
has `los: null` and says why in `los_reason`. `published_at` (a foreign member) is the newest
data time of the whole feed.
"""

from __future__ import annotations

from typing import Any

import msgspec

from api.feeds.common import FeedInput, rounded, traffic_status
from api.timefmt import rfc3339

__all__ = ["MEDIA_TYPE", "road_status_geojson"]

MEDIA_TYPE = "application/geo+json"
_encode = msgspec.json.Encoder().encode


def road_status_geojson(inp: FeedInput) -> bytes:
    features: list[dict[str, Any]] = []
    for link in inp.network.links:
        c = inp.links.get(link.id)
        props: dict[str, Any] = {
            "link": link.id,
            "name": link.name,
            "road_class": str(link.road_class),
            "lanes": link.lanes,
            "free_flow_kmh": link.free_flow_kmh,
            "los": None,
            "los_reason": "no conditions computed yet",
            "traffic_status": "unknown",
            "speed_kmh": None,
            "speed_ratio": None,
            "flow_vph": None,
            "occupancy": None,
            "congested": None,
            "trend": None,
            "stale": True,
            "updated": None,
        }
        if c is not None:
            props.update(
                los=c.los,
                los_reason=c.los_reason,
                traffic_status=traffic_status(c),
                speed_kmh=rounded(c.speed_kmh, 1),
                speed_ratio=rounded(c.speed_ratio, 3),
                flow_vph=rounded(c.flow_vph, 0),
                occupancy=rounded(c.occupancy, 4),
                congested=c.congested,
                trend=c.trend,
                stale=c.stale,
                updated=rfc3339(c.time_ns) if c.time_ns is not None else None,
            )
        features.append(
            {
                "type": "Feature",
                "id": link.id,
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[lon, lat] for lon, lat in link.coordinates],
                },
                "properties": props,
            }
        )
    doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "published_at": rfc3339(inp.published_ns),
        "features": features,
    }
    if inp.network.links:
        doc["bbox"] = list(inp.network.bounds())
    return _encode(doc)

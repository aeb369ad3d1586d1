"""FIWARE Smart Data Model `TrafficFlowObserved` entities for `/ngsi-ld/v1/entities`.

One entity per detector (one lane of one link), from its latest reading:

    id                urn:ngsi-ld:TrafficFlowObserved:<detector id>
    type              TrafficFlowObserved
    location          GeoProperty, Point where the detector sits on its link
    name              "<link name or id>, lane <n>"
    laneId            lane number (>= 1, kerb side first)
    laneDirection     forward (links are directed; every lane flows along the link)
    refRoadSegment    Relationship to urn:ngsi-ld:RoadSegment:<link id>
    dateObserved      "<start>/<end>" of the reading's interval (ISO 8601 interval)
    dateObservedFrom, dateObservedTo   DateTime
    intensity         vehicles counted in the interval (the model's unit: vehicles per period)
    occupancy         fraction 0..1 of the interval
    averageVehicleSpeed  km/h (unitCode KMH)
    congested         from the conditions engine (absent when it cannot tell)

Measured values carry `observedAt` (the end of the interval); absent values are left out (NGSI-LD
has no null). Normalized form: every attribute a Property / GeoProperty / Relationship object;
`options=keyValues`: plain values. The `@context` is served by the API itself
(`/ngsi-ld/contexts/citytraffic.jsonld`): the terms above mapped to the Smart Data Models
vocabulary, plus the NGSI-LD core context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from api.feeds.common import FeedInput, point_along
from api.timefmt import NS, parse_rfc3339_ns, rfc3339

__all__ = [
    "CONTEXT_PATH",
    "CORE_CONTEXT",
    "ENTITY_TYPE",
    "ENTITY_TYPE_URI",
    "NgsiEntity",
    "context_document",
    "traffic_flow_entities",
]

ENTITY_TYPE = "TrafficFlowObserved"
_SDM = "https://smartdatamodels.org/dataModel.Transportation/"
ENTITY_TYPE_URI = _SDM + ENTITY_TYPE
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
CONTEXT_PATH = "/ngsi-ld/contexts/citytraffic.jsonld"
_TERMS = {
    "TrafficFlowObserved": ENTITY_TYPE_URI,
    "RoadSegment": _SDM + "RoadSegment",
    "averageVehicleSpeed": _SDM + "averageVehicleSpeed",
    "congested": _SDM + "congested",
    "dateObserved": "https://smartdatamodels.org/dateObserved",
    "dateObservedFrom": _SDM + "dateObservedFrom",
    "dateObservedTo": _SDM + "dateObservedTo",
    "intensity": _SDM + "intensity",
    "laneDirection": _SDM + "laneDirection",
    "laneId": _SDM + "laneId",
    "name": "https://smartdatamodels.org/name",
    "occupancy": _SDM + "occupancy",
    "refRoadSegment": {"@id": _SDM + "refRoadSegment", "@type": "@id"},
}
_encode = msgspec.json.Encoder().encode


def context_document() -> bytes:
    """The JSON-LD context document served at CONTEXT_PATH."""
    return _encode({"@context": [_TERMS, CORE_CONTEXT]})


@dataclass(frozen=True, slots=True)
class NgsiEntity:
    id: str
    normalized: bytes  # one JSON object, without @context
    key_values: bytes


def _prop(value: Any, observed_at: str | None = None, unit: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "Property", "value": value}
    if observed_at is not None:
        out["observedAt"] = observed_at
    if unit is not None:
        out["unitCode"] = unit
    return out


def _date(value: str) -> dict[str, Any]:
    return {"type": "Property", "value": {"@type": "DateTime", "@value": value}}


def traffic_flow_entities(inp: FeedInput) -> list[NgsiEntity]:
    """Entities of every detector of the network, in network order."""
    links = {ln.id: ln for ln in inp.network.links}
    readings = {r.detector: r for r in inp.readings}
    entities: list[NgsiEntity] = []
    for d in inp.network.detectors:
        link = links.get(d.link)
        if link is None:
            continue
        lon, lat = point_along(link, d.position_m)
        entity_id = f"urn:ngsi-ld:{ENTITY_TYPE}:{d.id}"
        point = {"type": "Point", "coordinates": [lon, lat]}
        segment = f"urn:ngsi-ld:RoadSegment:{link.id}"
        norm: dict[str, Any] = {
            "id": entity_id,
            "type": ENTITY_TYPE,
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [lon, lat]},
            },
            "name": _prop(f"{link.name or link.id}, lane {d.lane}"),
            "laneId": _prop(d.lane),
            "laneDirection": _prop("forward"),
            "refRoadSegment": {
                "type": "Relationship",
                "object": f"urn:ngsi-ld:RoadSegment:{link.id}",
            },
        }
        kv: dict[str, Any] = {
            "id": entity_id,
            "type": ENTITY_TYPE,
            "location": point,
            "name": f"{link.name or link.id}, lane {d.lane}",
            "laneId": d.lane,
            "laneDirection": "forward",
            "refRoadSegment": segment,
        }
        r = readings.get(d.id)
        if r is not None and r.interval_s:
            end_ns = parse_rfc3339_ns(r.ts)
            if end_ns is not None:
                start, end = rfc3339(end_ns - r.interval_s * NS), r.ts
                norm["dateObserved"] = _prop(f"{start}/{end}")
                norm["dateObservedFrom"] = _date(start)
                norm["dateObservedTo"] = _date(end)
                kv.update(dateObserved=f"{start}/{end}", dateObservedFrom=start, dateObservedTo=end)
                measured: tuple[tuple[str, Any, str | None], ...] = (
                    ("intensity", r.count, None),
                    ("occupancy", r.occupancy, None),
                    ("averageVehicleSpeed", r.speed_kmh, "KMH"),
                )
                for name, value, unit in measured:
                    if value is not None:
                        norm[name] = _prop(value, end, unit)
                        kv[name] = value
        cond = inp.detectors.get(d.id)
        if cond is not None and cond.congested is not None:
            norm["congested"] = _prop(cond.congested)
            kv["congested"] = cond.congested
        entities.append(NgsiEntity(entity_id, _encode(norm), _encode(kv)))
    return entities

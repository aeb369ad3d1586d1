"""The feed serialisers, validated structurally: GeoJSON shape, DATEX II v3 namespaces, required
elements, element order and enum values, NGSI-LD entity rules and attribute names, WZDx v4.2
DeviceFeed required properties and enums."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from api.feeds import FeedContext, FeedInput, SignalRow, traffic_status
from api.feeds.common import DATEX_STATUS_VALUES, point_along
from api.feeds.datex2 import NAMESPACES, traffic_status_xml
from api.feeds.geojson import road_status_geojson
from api.feeds.ngsi import ENTITY_TYPE, context_document, traffic_flow_entities
from api.feeds.wzdx import LICENSE, SIGNAL_MODES, device_feed
from api.snapshot import build_snapshot
from api.testing import reading_point
from citytraffic.conditions import DetectorConditions, LinkConditions
from citytraffic.network_file import load_network
from citytraffic.storage.points import Row

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
T0 = 1_741_000_000 * NS
NETWORK = load_network(EXAMPLE)
CTX = FeedContext(publisher="Ville de Lyon", country="fr", national_identifier="LYON-TM")


def link(link_id: str, ratio: float | None, **kw: Any) -> LinkConditions:
    ln = NETWORK.link(link_id)
    fields: dict[str, Any] = {
        "road_class": str(ln.road_class),
        "free_flow_kmh": ln.free_flow_kmh,
        "link": link_id,
        "name": ln.name,
        "lanes": ln.lanes,
        "time_ns": T0 - 60 * NS,
        "stale": False,
        "los": "C",
        "speed_ratio": ratio,
        "speed_kmh": None if ratio is None else ratio * ln.free_flow_kmh,
        "flow_vph": 900.0,
        "occupancy": 0.12,
        "congested": False,
        "trend": "stable",
    }
    fields.update(kw)
    return LinkConditions(**fields)


LINKS = {
    "L_W_J1": link("L_W_J1", 0.05, los="F", congested=True, trend="building_up"),
    "L_J1_J2": link("L_J1_J2", 0.2, los="F", congested=True),
    "L_J2_J1": link("L_J2_J1", 0.9, los="A", trend="easing"),
    "L_S_J1": link("L_S_J1", None, los=None, stale=True, los_reason="stale"),
    # F_N: no conditions at all
}


def readings() -> tuple:
    rows = [
        reading_point("J1", "J1-W-1", T0 - 60 * NS, count=12, occupancy=0.2, speed_kmh=20.0),
        reading_point("J1", "J1-W-2", T0 - 60 * NS, count=8, occupancy=0.1, speed_kmh=30.0),
        reading_point("S1", "S1-1", T0 - 20 * NS, count=30, interval_s=20, quality="x_flag"),
        reading_point("S1", "S1-2", T0 - 20 * NS, count=None, speed_kmh=None, interval_s=20),
    ]
    as_rows = [Row(dict(p.tags), p.time_ns, dict(p.fields)) for p in rows]
    return build_snapshot(as_rows, [], NETWORK, T0).detectors


def feed_input(**kw: Any) -> FeedInput:
    base: dict[str, Any] = {
        "network": NETWORK,
        "published_ns": T0 - 20 * NS,
        "now_ns": T0,
        "links": LINKS,
        "detectors": {
            "J1-W-1": DetectorConditions(
                road_class="urban",
                free_flow_kmh=50.0,
                detector="J1-W-1",
                site="J1",
                link="L_W_J1",
                lane=1,
                congested=True,
            )
        },
        "readings": readings(),
        "signals": {"J1": SignalRow("J1", T0 - 5 * NS, "P1", "P1", "GGrr")},
    }
    base.update(kw)
    return FeedInput(**base)


def is_rfc3339(text: str) -> bool:
    return text.endswith("Z") and datetime.fromisoformat(text).tzinfo is not None


# -- GeoJSON -----------------------------------------------------------------------------


def test_road_status_is_a_feature_collection_of_link_linestrings() -> None:
    doc = json.loads(road_status_geojson(feed_input()))
    assert doc["type"] == "FeatureCollection" and is_rfc3339(doc["published_at"])
    assert len(doc["bbox"]) == 4
    features = {f["id"]: f for f in doc["features"]}
    assert set(features) == {ln.id for ln in NETWORK.links}
    for f in doc["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] == "LineString"
        coords = f["geometry"]["coordinates"]
        assert len(coords) >= 2
        assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in coords)
        props = f["properties"]
        assert props["link"] == f["id"]
        assert props["los"] in {None, "A", "B", "C", "D", "E", "F"}
        assert props["traffic_status"] in DATEX_STATUS_VALUES
        for key in ("speed_kmh", "congested", "updated", "stale", "trend"):
            assert key in props
    jam = features["L_W_J1"]["properties"]
    assert (jam["los"], jam["congested"], jam["speed_kmh"], jam["updated"]) == (
        "F",
        True,
        2.5,
        "2025-03-03T11:05:40Z",
    )
    assert features["F_N"]["properties"]["los"] is None
    assert features["F_N"]["properties"]["updated"] is None


# -- DATEX II ----------------------------------------------------------------------------


def q(prefix: str, name: str) -> str:
    return f"{{{NAMESPACES[prefix]}}}{name}"


XSI_TYPE = q("xsi", "type")


def parse_datex(body: bytes) -> tuple[ET.Element, dict[str, str]]:
    declared: dict[str, str] = {}
    for _, (prefix, uri) in ET.iterparse(BytesIO(body), events=["start-ns"]):
        declared[prefix] = uri
    return ET.fromstring(body), declared


def xsi_type(element: ET.Element, declared: dict[str, str]) -> str:
    """`{namespace}Name` of an element's xsi:type, resolving its prefix."""
    prefix, _, name = element.attrib[XSI_TYPE].partition(":")
    return f"{{{declared[prefix]}}}{name}"


def test_datex2_namespaces_root_and_header() -> None:
    body = traffic_status_xml(feed_input(), CTX)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root, declared = parse_datex(body)
    assert declared["d2"] == "http://datex2.eu/schema/3/d2Payload"
    assert declared["com"] == "http://datex2.eu/schema/3/common"
    assert declared["roa"] == "http://datex2.eu/schema/3/roadTrafficData"
    assert declared["loc"] == "http://datex2.eu/schema/3/locationReferencing"
    assert root.tag == q("d2", "payload")
    assert xsi_type(root, declared) == q("roa", "ElaboratedDataPublication")
    assert root.attrib["modelBaseVersion"] == "3" and root.attrib["lang"] == "en"
    # PayloadPublication then ElaboratedDataPublication sequence order
    tags = [child.tag for child in root]
    assert tags[:3] == [
        q("com", "publicationTime"),
        q("com", "publicationCreator"),
        q("roa", "headerInformation"),
    ]
    assert set(tags[3:]) == {q("roa", "physicalQuantity")}
    assert is_rfc3339(root.findtext(q("com", "publicationTime")) or "")
    creator = root.find(q("com", "publicationCreator"))
    assert creator is not None
    assert creator.findtext(q("com", "country")) == "fr"
    assert creator.findtext(q("com", "nationalIdentifier")) == "LYON-TM"
    header = root.find(q("roa", "headerInformation"))
    assert header is not None
    assert header.findtext(q("com", "confidentiality")) == "noRestriction"
    assert header.findtext(q("com", "informationStatus")) == "real"


def test_datex2_traffic_status_per_link_point_by_coordinates() -> None:
    root, declared = parse_datex(traffic_status_xml(feed_input(), CTX))
    quantities = root.findall(q("roa", "physicalQuantity"))
    assert len(quantities) == len(NETWORK.links)
    statuses: dict[str, str] = {}
    trends: dict[str, str | None] = {}
    for pq in quantities:
        assert xsi_type(pq, declared) == q("roa", "SinglePhysicalQuantity")
        assert [c.tag for c in pq] == [q("roa", "pertinentLocation"), q("roa", "basicData")]
        loc = pq.find(q("roa", "pertinentLocation"))
        assert loc is not None and xsi_type(loc, declared) == q("loc", "PointLocation")
        assert [c.tag for c in loc] == [
            q("loc", "externalReferencing"),
            q("loc", "pointByCoordinates"),
        ]
        link_id = loc.findtext(
            f"{q('loc', 'externalReferencing')}/{q('loc', 'externalLocationCode')}"
        )
        coords = loc.find(f"{q('loc', 'pointByCoordinates')}/{q('loc', 'pointCoordinates')}")
        assert coords is not None and link_id is not None
        assert [c.tag for c in coords] == [q("loc", "latitude"), q("loc", "longitude")]
        lat, lon = float(coords[0].text or ""), float(coords[1].text or "")
        expected_lon, expected_lat = point_along(
            NETWORK.link(link_id), NETWORK.link(link_id).length_m / 2
        )
        assert (lat, lon) == pytest.approx((expected_lat, expected_lon), abs=1e-6)
        data = pq.find(q("roa", "basicData"))
        assert data is not None and xsi_type(data, declared) == q("roa", "TrafficStatus")
        value = data.findtext(f"{q('roa', 'trafficStatus')}/{q('roa', 'trafficStatusValue')}")
        assert value in DATEX_STATUS_VALUES
        statuses[link_id] = value
        trends[link_id] = data.findtext(q("roa", "trafficTrendType"))
        when = data.findtext(f"{q('roa', 'measurementOrCalculationTime')}/{q('roa', 'timeValue')}")
        assert (when is None) == (link_id == "F_N")
    assert statuses == {
        "L_W_J1": "stationary",
        "L_J1_J2": "queuing",
        "L_J2_J1": "freeFlow",
        "L_S_J1": "unknown",
        "F_N": "unknown",
    }
    assert trends["L_W_J1"] == "trafficBuildingUp" and trends["L_J2_J1"] == "trafficEasing"
    assert trends["L_S_J1"] is None  # stale: no trend claimed


@pytest.mark.parametrize(
    ("ratio", "congested", "expected"),
    [
        (0.09, True, "stationary"),
        (0.10, True, "queuing"),
        (0.24, True, "queuing"),
        (0.25, False, "slow"),
        (0.74, False, "slow"),
        (0.75, False, "freeFlow"),
        (0.80, True, "heavy"),
    ],
)
def test_traffic_status_bands(ratio: float, congested: bool, expected: str) -> None:
    assert traffic_status(link("L_J2_J1", ratio, congested=congested)) == expected


def test_traffic_status_is_unknown_without_fresh_data() -> None:
    assert traffic_status(None) == "unknown"
    assert traffic_status(link("L_J2_J1", 0.9, stale=True)) == "unknown"
    assert traffic_status(link("L_J2_J1", 0.9, los=None)) == "unknown"


def test_datex2_escapes_text() -> None:
    ctx = FeedContext(national_identifier="A&B <x>")
    root, _ = parse_datex(traffic_status_xml(feed_input(), ctx))
    assert (
        root.findtext(f"{q('com', 'publicationCreator')}/{q('com', 'nationalIdentifier')}")
        == "A&B <x>"
    )


# -- NGSI-LD -----------------------------------------------------------------------------


def entities(key_values: bool) -> list[dict[str, Any]]:
    out = traffic_flow_entities(feed_input())
    return [json.loads(e.key_values if key_values else e.normalized) for e in out]


def test_ngsi_ld_normalized_entities() -> None:
    got = {e["id"]: e for e in entities(key_values=False)}
    assert set(got) == {f"urn:ngsi-ld:TrafficFlowObserved:{d.id}" for d in NETWORK.detectors}
    for e in got.values():
        assert e["type"] == ENTITY_TYPE and "@context" not in e
        assert e["location"]["type"] == "GeoProperty"
        assert e["location"]["value"]["type"] == "Point"
        assert e["refRoadSegment"]["type"] == "Relationship"
        assert e["refRoadSegment"]["object"].startswith("urn:ngsi-ld:RoadSegment:")
        assert e["laneId"] == {"type": "Property", "value": e["laneId"]["value"]}
        assert e["laneId"]["value"] >= 1
        for name, attr in e.items():
            if name in ("id", "type"):
                continue
            assert attr["type"] in ("Property", "GeoProperty", "Relationship"), name
            assert ("object" if attr["type"] == "Relationship" else "value") in attr
            assert None not in attr.values(), name  # NGSI-LD has no null
    w1 = got["urn:ngsi-ld:TrafficFlowObserved:J1-W-1"]
    assert w1["intensity"] == {
        "type": "Property",
        "value": 12,
        "observedAt": "2025-03-03T11:05:40Z",
    }
    assert w1["occupancy"]["value"] == 0.2
    assert w1["averageVehicleSpeed"]["unitCode"] == "KMH"
    assert w1["averageVehicleSpeed"]["value"] == 20.0
    assert w1["dateObserved"]["value"] == "2025-03-03T11:04:40Z/2025-03-03T11:05:40Z"
    assert w1["dateObservedFrom"]["value"] == {
        "@type": "DateTime",
        "@value": "2025-03-03T11:04:40Z",
    }
    assert w1["congested"]["value"] is True and w1["laneDirection"]["value"] == "forward"
    s2 = got["urn:ngsi-ld:TrafficFlowObserved:S1-2"]
    assert "intensity" not in s2 and "averageVehicleSpeed" not in s2  # absent, never null
    no_data = got["urn:ngsi-ld:TrafficFlowObserved:J1-S-1"]
    assert "dateObserved" not in no_data and "location" in no_data


def test_ngsi_ld_key_values_and_context_terms() -> None:
    kv = {e["id"]: e for e in entities(key_values=True)}
    w1 = kv["urn:ngsi-ld:TrafficFlowObserved:J1-W-1"]
    assert w1["intensity"] == 12 and w1["location"]["type"] == "Point"
    assert w1["refRoadSegment"] == "urn:ngsi-ld:RoadSegment:L_W_J1"
    context = json.loads(context_document())["@context"]
    terms, core = context
    assert core.startswith("https://uri.etsi.org/ngsi-ld/")
    core_terms = {"id", "type", "location"}
    for e in kv.values():
        for name in e:
            assert name in core_terms or name in terms, name
    assert terms["TrafficFlowObserved"].startswith("https://smartdatamodels.org/")


# -- WZDx --------------------------------------------------------------------------------


def test_wzdx_device_feed_required_properties() -> None:
    doc = json.loads(device_feed(feed_input(), CTX))
    info = doc["feed_info"]
    assert {"update_date", "version", "publisher", "data_sources"} <= set(info)
    assert info["version"] == "4.2" and info["license"] == LICENSE
    assert is_rfc3339(info["update_date"]) and info["publisher"] == "Ville de Lyon"
    sources = {s["data_source_id"] for s in info["data_sources"]}
    assert all({"data_source_id", "organization_name"} <= set(s) for s in info["data_sources"])
    assert doc["type"] == "FeatureCollection"
    kinds: dict[str, list[dict[str, Any]]] = {"traffic-sensor": [], "traffic-signal": []}
    for f in doc["features"]:
        assert {"id", "type", "properties", "geometry"} <= set(f)
        uuid.UUID(f["id"])
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Point"
        core = f["properties"]["core_details"]
        assert {
            "device_type",
            "data_source_id",
            "device_status",
            "update_date",
            "has_automatic_location",
        } <= set(core)
        assert core["data_source_id"] in sources and is_rfc3339(core["update_date"])
        assert core["device_status"] in ("ok", "warning", "error", "unknown")
        assert isinstance(core["has_automatic_location"], bool)
        kinds[core["device_type"]].append(f["properties"])
    assert len(kinds["traffic-sensor"]) == 5  # (site, link) stations of the example network
    for sensor in kinds["traffic-sensor"]:
        start, end = (
            sensor["collection_interval_start_date"],
            sensor["collection_interval_end_date"],
        )
        assert is_rfc3339(start) and is_rfc3339(end) and start <= end
        for lane in sensor["lane_data"]:
            assert isinstance(lane["lane_order"], int) and lane["lane_order"] >= 1
            assert all(v >= 0 for k, v in lane.items() if k != "lane_order")
    assert [s["mode"] for s in kinds["traffic-signal"]] == ["pre-timed", "unknown"]
    assert all(s["mode"] in SIGNAL_MODES for s in kinds["traffic-signal"])


def test_wzdx_sensor_values_and_status() -> None:
    doc = json.loads(device_feed(feed_input(), CTX))
    sensors = {
        f["properties"]["core_details"]["name"]: f["properties"]
        for f in doc["features"]
        if f["properties"]["core_details"]["device_type"] == "traffic-sensor"
    }
    west = sensors["J1 L_W_J1"]
    assert west["lane_data"] == [
        {
            "lane_order": 1,
            "average_speed_kph": 20.0,
            "volume_vph": 720.0,
            "occupancy_percent": 20.0,
        },
        {
            "lane_order": 2,
            "average_speed_kph": 30.0,
            "volume_vph": 480.0,
            "occupancy_percent": 10.0,
        },
    ]
    assert west["volume_vph"] == 1200.0 and west["occupancy_percent"] == 15.0
    assert west["average_speed_kph"] == 24.0  # flow-weighted
    assert west["collection_interval_start_date"] == "2025-03-03T11:04:40Z"
    assert west["core_details"]["device_status"] == "ok"
    freeway = sensors["S1 F_N"]
    assert freeway["core_details"]["device_status"] == "warning"  # a flagged reading
    assert any("x_flag" in m for m in freeway["core_details"]["status_messages"])
    silent = sensors["J1 L_S_J1"]
    assert silent["core_details"]["device_status"] == "unknown" and silent["lane_data"] == []


@pytest.mark.parametrize(("state", "mode"), [("OOOO", "blank"), ("oooo", "flashing-yellow")])
def test_wzdx_signal_mode_from_the_signal_state(state: str, mode: str) -> None:
    inp = feed_input(signals={"J1": SignalRow("J1", T0 - 5 * NS, "P1", "P1", state)})
    doc = json.loads(device_feed(inp, CTX))
    signals = [
        f["properties"]
        for f in doc["features"]
        if f["properties"]["core_details"]["device_type"] == "traffic-signal"
    ]
    assert signals[0]["mode"] == mode and signals[0]["core_details"]["device_status"] == "ok"
    assert signals[1]["core_details"]["device_status"] == "unknown"  # J2: no state received

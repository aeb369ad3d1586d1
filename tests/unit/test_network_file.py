"""The network file: round trip, schema, and every kind of problem reported with its place."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from citytraffic.domain.errors import NetworkError
from citytraffic.domain.network import (
    Detector,
    Link,
    Network,
    RoadClass,
    Site,
    SiteKind,
    haversine_m,
)
from citytraffic.network_file import (
    SCHEMA_PATH,
    load_network,
    network_from_geojson,
    network_to_geojson,
    point_along,
    save_network,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"


@pytest.fixture
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return loaded


def feature(doc: dict[str, Any], kind: str, fid: str) -> dict[str, Any]:
    for f in doc["features"]:
        if f["properties"]["feature_type"] == kind and f["properties"]["id"] == fid:
            found: dict[str, Any] = f
            return found
    raise LookupError(fid)


def problems_of(obj: Any) -> list[str]:
    with pytest.raises(NetworkError) as info:
        network_from_geojson(obj)
    return info.value.problems


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


def test_example_loads_with_everything_in_it() -> None:
    net = load_network(EXAMPLE)
    assert net.name == "example-small"
    assert {s.kind for s in net.sites} == {SiteKind.JUNCTION, SiteKind.STATION}
    assert {ln.road_class for ln in net.links} == {RoadClass.URBAN, RoadClass.FREEWAY}
    j1 = net.junction("J1")
    assert j1 is not None and [p.id for p in j1.phases] == ["P1", "P2"]
    assert j1.signal_groups[0].movements[0].to_link == "L_J1_J2"
    assert j1.yellow_s == 3.0 and j1.all_red_s == 2.0 and j1.local_plan == "fixed-60"
    assert net.junction("S1") is None
    assert [g.sites for g in net.gateways] == [("J1", "J2"), ("S1",)]
    assert net.detector("S1-3").lane == 3


def test_round_trip_load_save_load_is_equal_and_stable(tmp_path: Path) -> None:
    first = load_network(EXAMPLE)
    out = tmp_path / "sub" / "net.geojson"
    save_network(first, out)
    second = load_network(out)
    assert second == first
    text = out.read_text()
    save_network(second, out)
    assert out.read_text() == text
    assert [p.name for p in out.parent.iterdir()] == ["net.geojson"]  # no temp file left


def test_saved_file_is_geojson_with_the_citytraffic_member(tmp_path: Path) -> None:
    obj = network_to_geojson(load_network(EXAMPLE))
    assert obj["type"] == "FeatureCollection"
    assert obj["citytraffic"]["version"] == 1
    assert len(obj["bbox"]) == 4
    types = {f["properties"]["feature_type"]: f["geometry"]["type"] for f in obj["features"]}
    assert types == {"site": "Point", "link": "LineString", "detector": "Point"}
    assert network_from_geojson(json.loads(json.dumps(obj))) == load_network(EXAMPLE)


def test_detector_coordinates_are_interpolated_along_the_link() -> None:
    link = Link("L", ((10.0, 50.0), (10.01, 50.0), (10.01, 50.01)), 1, 50.0, RoadClass.URBAN)
    first_m = haversine_m(10.0, 50.0, 10.01, 50.0)
    half = point_along(link.coordinates, first_m / 2)
    assert half == pytest.approx((10.005, 50.0), abs=1e-7)
    second_leg = point_along(link.coordinates, first_m + 100.0)
    assert second_leg[0] == pytest.approx(10.01) and 50.0 < second_leg[1] < 50.01
    assert point_along(link.coordinates, 0.0) == (10.0, 50.0)
    assert point_along(link.coordinates, 1e9) == (10.01, 50.01)  # clamped to the end
    net = Network(
        "n",
        sites=(Site("S", SiteKind.STATION, 10.0, 50.0),),
        links=(link,),
        detectors=(Detector("D", "S", "L", 1, first_m / 2),),
    )
    obj = network_to_geojson(net)
    det = next(f for f in obj["features"] if f["properties"]["feature_type"] == "detector")
    assert det["geometry"]["coordinates"] == pytest.approx([10.005, 50.0], abs=1e-7)


def test_detector_coordinates_in_a_file_are_not_authoritative(doc: dict[str, Any]) -> None:
    feature(doc, "detector", "S1-1")["geometry"]["coordinates"] = [0.0, 0.0]
    net = network_from_geojson(doc)
    assert net.detector("S1-1").position_m == 556.0


# ---------------------------------------------------------------------------- schema problems


def test_not_a_feature_collection() -> None:
    problems = problems_of({"type": "Feature"})
    assert any(p.startswith("$: 'citytraffic' is a required property") for p in problems)
    assert any(p.startswith("$: 'features' is a required property") for p in problems)
    assert any(p.startswith("$.type: 'FeatureCollection' was expected") for p in problems)
    assert problems_of([1, 2]) == ["$: [1, 2] is not of type 'object'"]


def test_wrong_version(doc: dict[str, Any]) -> None:
    doc["citytraffic"]["version"] = 2
    assert problems_of(doc) == ["$.citytraffic.version: 1 was expected"]


def test_schema_problems_carry_json_path_and_feature_label(doc: dict[str, Any]) -> None:
    index = doc["features"].index(feature(doc, "link", "L_J1_J2"))
    feature(doc, "link", "L_J1_J2")["properties"]["lanes"] = 0
    assert problems_of(doc) == [
        f"$.features[{index}].properties.lanes (link 'L_J1_J2'): 0 is less than the minimum of 1"
    ]


def test_every_schema_problem_is_listed_in_document_order(doc: dict[str, Any]) -> None:
    feature(doc, "site", "J2")["properties"]["kind"] = "roundabout"
    del feature(doc, "link", "F_N")["properties"]["free_flow_kmh"]
    feature(doc, "detector", "S1-2")["properties"]["colour"] = "red"
    doc["features"].append(
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [0, 0]},
            "properties": {"feature_type": "camera", "id": "C1"},
        }
    )
    problems = problems_of(doc)
    assert len(problems) == 4, problems
    assert "(site 'J2')" in problems[0] and "'roundabout' is not one of" in problems[0]
    assert "(link 'F_N')" in problems[1] and "'free_flow_kmh' is a required" in problems[1]
    assert "(detector 'S1-2')" in problems[2] and "'colour' was unexpected" in problems[2]
    assert problems[3].startswith(f"$.features[{len(doc['features']) - 1}].properties.feature_type")


@pytest.mark.parametrize(
    ("kind", "fid", "geometry", "path", "message"),
    [
        (
            "link",
            "F_N",
            {"type": "LineString", "coordinates": [[4.8, 45.7]]},
            "geometry.coordinates",
            "[[4.8, 45.7]] is too short",
        ),
        (
            "link",
            "F_N",
            {"type": "Point", "coordinates": [4.8, 45.7]},
            "geometry.type",
            "'LineString' was expected",
        ),
        (
            "site",
            "J1",
            {"type": "Point", "coordinates": [200.0, 45.7]},
            "geometry.coordinates[0]",
            "200.0 is greater than the maximum of 180",
        ),
        (
            "site",
            "J1",
            {"type": "Point", "coordinates": ["4.8", 45.7]},
            "geometry.coordinates[0]",
            "'4.8' is not of type 'number'",
        ),
        ("detector", "S1-1", {"type": "Point"}, "geometry", "'coordinates' is a required property"),
    ],
)
def test_bad_geometry_is_a_schema_problem(
    doc: dict[str, Any], kind: str, fid: str, geometry: dict[str, Any], path: str, message: str
) -> None:
    target = feature(doc, kind, fid)
    target["geometry"] = geometry
    index = doc["features"].index(target)
    expected = f"$.features[{index}].{path} ({kind} {fid!r}): {message}"
    assert expected in problems_of(doc)


def test_id_pattern_is_checked(doc: dict[str, Any]) -> None:
    feature(doc, "site", "S1")["properties"]["id"] = "site/1"
    problems = problems_of(doc)
    assert len(problems) == 1 and "'site/1' does not match" in problems[0]


# ---------------------------------------------------------------------------- domain problems


def test_unknown_references_are_all_listed(doc: dict[str, Any]) -> None:
    feature(doc, "detector", "J1-W-1")["properties"]["link"] = "L_nowhere"
    feature(doc, "detector", "J1-W-2")["properties"]["site"] = "J9"
    feature(doc, "link", "L_J1_J2")["properties"]["to_site"] = "J7"
    doc["citytraffic"]["gateways"][1]["sites"].append("S9")
    signal = feature(doc, "site", "J1")["properties"]["signal"]
    signal["phases"][1]["signal_groups"] = ["S", "N"]
    signal["signal_groups"][0]["movements"][0]["to_link"] = "L_gone"
    problems = problems_of(doc)
    assert sorted(problems) == sorted(
        [
            "detector 'J1-W-1': unknown link 'L_nowhere'",
            "detector 'J1-W-2': unknown site 'J9'",
            "link 'L_J1_J2': unknown site 'J7'",
            "gateway 'gw-2': unknown site 'S9'",
            "junction 'J1' phase 'P2': unknown signal group 'N'",
            "junction 'J1' group 'EW': unknown link 'L_gone'",
        ]
    )


def test_duplicate_ids(doc: dict[str, Any]) -> None:
    doc["features"].append(copy.deepcopy(feature(doc, "detector", "S1-1")))
    doc["features"].append(copy.deepcopy(feature(doc, "link", "F_N")))
    signal = feature(doc, "site", "J1")["properties"]["signal"]
    signal["phases"].append(copy.deepcopy(signal["phases"][0]))
    problems = problems_of(doc)
    assert "duplicate detector id 'S1-1' (2 times)" in problems
    assert "duplicate link id 'F_N' (2 times)" in problems
    assert "junction 'J1': duplicate phase 'P1'" in problems
    assert len(problems) == 3, problems


def test_zero_length_link_and_detectors_off_their_link(doc: dict[str, Any]) -> None:
    feature(doc, "link", "L_S_J1")["geometry"]["coordinates"] = [[4.856, 45.76], [4.856, 45.76]]
    feature(doc, "detector", "S1-1")["properties"]["lane"] = 4
    feature(doc, "detector", "S1-2")["properties"]["position_m"] = 5000
    problems = problems_of(doc)
    assert "link 'L_S_J1': geometry has zero length" in problems
    assert "detector 'S1-1': lane 4 outside 1..3 of 'F_N'" in problems
    assert any(
        p.startswith("detector 'S1-2': position_m 5000.0 outside the link") for p in problems
    )
    assert any(p.startswith("detector 'J1-S-1': position_m 190.0 outside") for p in problems)
    assert len(problems) == 4, problems


def test_signal_data_on_a_station(doc: dict[str, Any]) -> None:
    feature(doc, "site", "S1")["properties"]["signal"] = {"yellow_s": 3}
    assert problems_of(doc) == [
        "junction 'S1': site is a station; only junction sites carry signal data"
    ]


def test_movement_lanes_outside_the_link(doc: dict[str, Any]) -> None:
    signal = feature(doc, "site", "J1")["properties"]["signal"]
    signal["signal_groups"][1]["movements"][0]["lanes"] = [1, 2]
    assert problems_of(doc) == ["junction 'J1' group 'S': lanes [2] not on 'L_S_J1'"]


# ---------------------------------------------------------------------------- files


def test_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="cannot read the file"):
        load_network(tmp_path / "missing.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection",')
    with pytest.raises(NetworkError, match="not valid JSON"):
        load_network(bad)
    bad.write_text(EXAMPLE.read_text().replace("556.0", "NaN", 1))
    with pytest.raises(NetworkError, match="NaN is not a JSON number"):
        load_network(bad)


def test_save_refuses_an_invalid_network(tmp_path: Path) -> None:
    net = Network("n", sites=(Site("A", SiteKind.STATION, 0, 0), Site("A", SiteKind.STATION, 1, 1)))
    with pytest.raises(NetworkError, match="duplicate site id 'A'"):
        save_network(net, tmp_path / "n.geojson")
    assert list(tmp_path.iterdir()) == []


def test_empty_network_round_trips(tmp_path: Path) -> None:
    save_network(Network("empty"), tmp_path / "e.geojson")
    assert load_network(tmp_path / "e.geojson") == Network("empty")

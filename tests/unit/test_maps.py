"""maps/: the live map builder, its GeoJSON layers, legend, layer control, bounds, heat, tiles."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from citytraffic.domain.network import (
    Detector,
    Link,
    Network,
    RoadClass,
    Site,
    SiteKind,
    validate,
)
from maps import (
    LAYER_NAMES,
    LOS_COLORS,
    OSM_TILES,
    UNKNOWN_COLOR,
    CongestionHeat,
    DetectorHealthView,
    HeatPoint,
    IncidentView,
    JunctionView,
    LinkView,
    Skipped,
    build_live_map,
    heat_points_along_links,
    junction_updates,
    link_updates,
    render_map_html,
    render_map_parts,
    tile_source,
)
from maps.sample import sample_map_inputs

T0 = datetime(2025, 3, 4, 7, 30, tzinfo=UTC)


def small_network() -> Network:
    a, b, c = (4.8500, 45.7600), (4.8530, 45.7600), (4.8515, 45.7612)
    return validate(
        Network(
            "test",
            sites=(
                Site("J1", SiteKind.JUNCTION, *a, name="Main / First"),
                Site("J2", SiteKind.JUNCTION, *b),
                Site("S1", SiteKind.STATION, 4.8600, 45.7650),
            ),
            links=(
                Link("L1", (a, c, b), 2, 50.0, RoadClass.URBAN, "J1", "J2", "Main St"),
                Link("L2", (b, a), 1, 50.0, RoadClass.URBAN, "J2", "J1"),
                Link("F1", ((4.8600, 45.7640), (4.8600, 45.7660)), 3, 100.0, RoadClass.FREEWAY),
            ),
            detectors=(
                Detector("D1", "J1", "L1", 1, 20.0),
                Detector("D2", "S1", "F1", 2, 100.0),
            ),
        )
    )


def layer_call(html: str, kind: str) -> re.Match[str]:
    match = re.search(r'geoJsonLayer\(\s*"' + kind + r'",\s*', html)
    assert match, f"no {kind} layer in the page"
    return match


def layer_data(html: str, kind: str) -> dict[str, Any]:
    """The FeatureCollection passed to the runtime's geoJsonLayer(kind, ...)."""
    data, _ = json.JSONDecoder().raw_decode(html, layer_call(html, kind).end())
    return data  # type: ignore[no-any-return]


def runtime_config(html: str) -> dict[str, Any]:
    match = re.search(r"CityTraffic\.attach\(\s*map_\w+,\s*", html)
    assert match
    config, _ = json.JSONDecoder().raw_decode(html, match.end())
    return config  # type: ignore[no-any-return]


def legend(html: str) -> str:
    match = re.search(r"\.addLegend\(", html)
    assert match
    text, _ = json.JSONDecoder().raw_decode(html, match.end())
    return text  # type: ignore[no-any-return]


def render(**kwargs: Any) -> str:
    net = kwargs.pop("network", small_network())
    return render_map_html(build_live_map(net, **kwargs), assets="local")


def by_id(data: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    return {f["properties"][key]: f for f in data["features"]}


# ----------------------------------------------------------------------------------------------


def test_one_link_feature_per_network_link_on_its_geometry_with_los() -> None:
    net = small_network()
    views = [LinkView("L1", "F", 8.04, True, T0), LinkView("L2", "b", 44.0, False, T0)]
    html = render(network=net, links=views)
    data = layer_data(html, "links")
    assert data["type"] == "FeatureCollection"
    feats = by_id(data, "link_id")
    assert set(feats) == {"L1", "L2", "F1"}
    for link in net.links:
        feature = feats[link.id]
        assert feature["id"] == link.id
        assert feature["geometry"]["type"] == "LineString"
        # GeoJSON keeps (lon, lat); Leaflet's L.geoJSON swaps them itself
        assert feature["geometry"]["coordinates"] == [list(p) for p in link.coordinates]
    assert feats["L1"]["properties"] | {"name": "Main St"} == {
        "link_id": "L1",
        "los": "F",
        "speed_kmh": 8.0,
        "congested": True,
        "updated": "2025-03-04T07:30:00Z",
        "lanes": 2,
        "name": "Main St",
    }
    assert feats["L2"]["properties"]["los"] == "B"
    assert feats["F1"]["properties"]["los"] is None  # no view: unknown
    # the page colours each feature from this palette by its `los`
    colors = runtime_config(html)["los_colors"]
    assert colors == dict(LOS_COLORS)
    assert colors[feats["L1"]["properties"]["los"]] == LOS_COLORS["F"] == "#7f0000"
    assert runtime_config(html)["unknown_color"] == UNKNOWN_COLOR


def test_los_palette_runs_green_to_dark_red_with_grey_unknown() -> None:
    def rgb(hex_color: str) -> tuple[int, int, int]:
        return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]

    a, f = rgb(LOS_COLORS["A"]), rgb(LOS_COLORS["F"])
    assert a[1] > a[0] and a[1] > a[2]  # A is green
    assert f[0] > f[1] and f[0] > f[2] and f[0] < 160  # F is dark red
    assert len(set(LOS_COLORS.values())) == 6
    r, g, b = rgb(UNKNOWN_COLOR)
    assert r == g == b  # grey


def test_bad_link_records_are_values_not_crashes() -> None:
    skipped = Skipped()
    views = [
        LinkView("L1", "Z", math.nan, None, None),
        LinkView("nope", "A", 50.0, False, T0),
    ]
    m = build_live_map(small_network(), links=views, skipped=skipped)
    feats = by_id(layer_data(render_map_html(m, assets="local"), "links"), "link_id")
    assert feats["L1"]["properties"]["los"] is None
    assert feats["L1"]["properties"]["speed_kmh"] is None
    assert skipped.reasons == ["unknown link 'nope'"]


def test_junction_popups_show_phase_data_age_and_pending_suggestion() -> None:
    html = render(
        junctions=[
            JunctionView("J1", "P2", 12.4, "extend P2 green by 6 s"),
            JunctionView("S1", "P1", 1.0, None),  # a station is not a junction: left out
        ]
    )
    feats = by_id(layer_data(html, "junctions"), "site")
    assert set(feats) == {"J1", "J2"}
    j1 = feats["J1"]["properties"]
    assert feats["J1"]["geometry"]["coordinates"] == [4.85, 45.76]
    assert j1["phase"] == "P2" and j1["data_age_s"] == 12.4 and j1["pending"] is True
    assert j1["popup"] == {
        "title": "J1 Main / First",
        "rows": [
            ["Phase", "P2"],
            ["Data age", "12 s"],
            ["Pending suggestion", "extend P2 green by 6 s"],
        ],
    }
    j2 = feats["J2"]["properties"]
    assert j2["pending"] is False
    assert j2["popup"]["rows"] == [
        ["Phase", "unknown"],
        ["Data age", "no data"],
        ["Pending suggestion", "none"],
    ]


def test_incident_and_detector_health_layers() -> None:
    skipped = Skipped()
    m = build_live_map(
        small_network(),
        incidents=[
            IncidentView("I1", 4.851, 45.7601, "confirmed", 0.83, T0, "L1"),
            IncidentView("I2", 400.0, 45.0, "tentative"),
        ],
        health=[
            DetectorHealthView("D1", 4.8502, 45.7600, "bad", ("no data for 15 min",)),
            DetectorHealthView("D2", 4.86, 45.765, "ok"),
        ],
        skipped=skipped,
    )
    html = render_map_html(m, assets="local")
    incidents = by_id(layer_data(html, "incidents"), "incident_id")
    assert set(incidents) == {"I1"}
    i1 = incidents["I1"]["properties"]
    assert i1["state"] == "confirmed" and i1["start"] == "2025-03-04T07:30:00Z"
    assert ["Confidence", "83%"] in i1["popup"]["rows"]
    detectors = by_id(layer_data(html, "detectors"), "detector")
    assert detectors["D1"]["properties"] == {
        "detector": "D1",
        "status": "bad",
        "reasons": ["no data for 15 min"],
    }
    assert detectors["D2"]["properties"]["status"] == "ok"
    assert skipped.reasons == ["incident 'I2': invalid position (400.0, 45.0)"]
    assert runtime_config(html)["health_colors"] == {
        "ok": "#1b7837",
        "suspect": "#f28e2b",
        "bad": "#b2182b",
    }


class ScriptCounter(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"


def script_count(html: str) -> int:
    parser = ScriptCounter()
    parser.feed(html)
    return parser.scripts


def test_text_cannot_break_out_of_the_script() -> None:
    evil = "</script><script>alert(1)</script><!--"
    html = render(junctions=[JunctionView("J1", "P1", 1.0, evil)])
    assert "</script><script>alert" not in html and "<!--" not in html
    assert script_count(html) == script_count(render())
    feats = by_id(layer_data(html, "junctions"), "site")
    assert feats["J1"]["properties"]["pending_suggestion"] == evil


def test_legend_lists_every_los_colour_and_unknown() -> None:
    text = legend(render())
    for letter, color in LOS_COLORS.items():
        assert re.search(
            f'data-los="{letter}"><span class="ct-swatch" style="background:{color}"', text
        )
    assert 'data-los="unknown"' in text
    assert "suggestion pending" in text
    for status in ("ok", "suspect", "bad"):
        assert f'data-status="{status}"' in text


def test_layer_control_lists_the_overlays_and_the_map_fits_the_network() -> None:
    net = small_network()
    html = render(network=net)
    assert "L.control.layers(" in html
    for name in LAYER_NAMES.values():
        assert json.dumps(name) in html
    min_lon, min_lat, max_lon, max_lat = net.bounds()
    match = re.search(r"\.fitBounds\(\s*(\[\[.*?\]\])", html, re.S)
    assert match
    assert json.loads(match.group(1)) == [[min_lat, min_lon], [max_lat, max_lon]]


def test_script_order_runtime_then_layers_then_ready() -> None:
    html = render()
    attach = html.index("CityTraffic.attach(")
    layers = [layer_call(html, k).start() for k in LAYER_NAMES]
    ready = html.index(".ready();")
    assert attach < min(layers) and max(layers) < ready
    assert html.index("L.control.layers(") < ready


def test_heat_layer_only_when_given_and_hidden_until_asked() -> None:
    assert "L.heatLayer(" not in render()
    heat = CongestionHeat(
        (HeatPoint(4.85, 45.76, 2.0), HeatPoint(4.851, 45.761, 4.0), HeatPoint(4.852, 45.7, -1)),
        T0.replace(hour=6),
        T0.replace(hour=9),
    )
    html = render(heat=heat)
    match = re.search(r"var (heat_map_\w+) = L\.heatLayer\(\s*(\[.*?\]\])", html, re.S)
    assert match
    assert json.loads(match.group(2)) == [[45.76, 4.85, 0.5], [45.761, 4.851, 1.0]]
    assert json.dumps("Congestion 2025-03-04 06:30–09:30 UTC") in html
    assert f"{match.group(1)}.addTo(" not in html  # listed in the layer control, not shown
    assert f".layers.heat = {match.group(1)}" in html
    shown = render(heat=heat, show_heat=True)
    name = re.search(r"var (heat_map_\w+) = L\.heatLayer", shown)
    assert name and f"{name.group(1)}.addTo(" in shown


def test_heat_points_follow_link_geometry() -> None:
    net = small_network()
    points = heat_points_along_links(net, {"L1": 0.6, "L2": 0.0, "zz": 1.0}, spacing_m=50)
    assert points and all(p.weight == 0.6 for p in points)
    # L1 is ~260 m: points at both ends and every <= 50 m between
    assert (points[0].lon, points[0].lat) == (4.85, 45.76)
    assert (points[-1].lon, points[-1].lat) == (4.853, 45.76)
    assert len(points) == int(net.link("L1").length_m // 50) + 1


def test_tiles_osm_default_none_and_local_server() -> None:
    html = render()
    assert OSM_TILES.url_template in html and "OpenStreetMap" in html
    assert runtime_config(html)["basemap"] is True

    plain = render(tiles="none")
    assert "L.tileLayer(" not in plain
    assert runtime_config(plain)["basemap"] is False
    assert layer_data(plain, "links")["features"]  # the network still draws

    local = render(
        tiles="http://tiles.local:8080/osm/{z}/{x}/{y}.png",
        tile_attribution="© OSM contributors, served locally",
    )
    assert "http://tiles.local:8080/osm/{z}/{x}/{y}.png" in local
    assert "served locally" in local
    assert "tile.openstreetmap.org" not in local


@pytest.mark.parametrize("spec", ["mapbox", "http://x/{z}/{x}.png", "ftp://x/{z}/{x}/{y}.png"])
def test_tiles_rejects_what_it_cannot_use(spec: str) -> None:
    with pytest.raises(ValueError, match="tiles"):
        tile_source(spec)


def test_empty_network_gives_a_world_map_without_bounds() -> None:
    html = render_map_html(build_live_map(Network("empty")), assets="local")
    assert ".fitBounds(" not in html
    assert layer_data(html, "links")["features"] == []


def test_live_updates_carry_the_same_properties_as_the_first_render() -> None:
    net = small_network()
    view = LinkView("L1", "C", 30.0, False, T0)
    first = by_id(layer_data(render(network=net, links=[view]), "links"), "link_id")
    skipped = Skipped()
    update = link_updates(net, [view, LinkView("L404", "A")], skipped)
    assert update == [{"id": "L1", "properties": first["L1"]["properties"]}]
    assert skipped.reasons == ["unknown link 'L404'"]
    jview = JunctionView("J2", "P1", 3.0, "shorten cycle to 80 s")
    jfirst = by_id(layer_data(render(network=net, junctions=[jview]), "junctions"), "site")
    assert junction_updates(net, [jview]) == [
        {"id": "J2", "properties": jfirst["J2"]["properties"]}
    ]


def test_one_geojson_layer_for_a_thousand_links_and_html_size() -> None:
    inputs = sample_map_inputs(1000)
    m = build_live_map(
        inputs.network,
        inputs.links,
        inputs.junctions,
        inputs.incidents,
        inputs.health,
        inputs.heat,
    )
    html = render_map_html(m, assets="local")
    assert len(layer_data(html, "links")["features"]) == 1000
    assert len(re.findall(r'geoJsonLayer\(\s*"links"', html)) == 1
    assert "L.polyline(" not in html and "L.geoJson(" not in html
    # measured 630,652 bytes (links 314 kB, 1,000 detectors, 289 junctions, 1,336 heat points)
    assert len(html.encode()) < 900_000


def test_map_parts_for_embedding_in_a_dashboard() -> None:
    parts = render_map_parts(build_live_map(small_network()), base_url="/static/vendor")
    assert re.fullmatch(r'\s*<div class="folium-map" id="map_\w+" ></div>\s*', parts.body)
    assert "/static/vendor/leaflet-1.9.3/leaflet.js" in parts.head
    assert "global.CityTraffic = {" in parts.head  # the runtime
    assert "CityTraffic.attach(" in parts.script and ".ready();" in parts.script
    assert "<script" not in parts.script  # the embedding page wraps it

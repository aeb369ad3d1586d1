"""Pure parts of the dashboard: snapshot -> map view records, layers payload, CSP, config."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from api.dashboard import DashboardConfig, content_security_policy, layers_payload
from api.dashboard.mapdata import detector_views, junction_views, link_views, map_views
from api.dashboard.page import PageContext, boot_data
from api.feeds.common import SignalRow
from api.live import LiveView
from api.routes.dashboard import dashboard_config
from api.snapshot import Snapshot
from citytraffic.conditions import DetectorHealth, Incident
from citytraffic.network_file import load_network
from citytraffic.settings import Settings
from maps import OSM_TILES, Skipped, TileSource

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NETWORK = load_network(EXAMPLE)
NS = 1_000_000_000
T0 = 1_741_000_000 * NS


def health(detector: str, status: str = "ok", reasons: tuple[str, ...] = ()) -> DetectorHealth:
    return DetectorHealth(
        detector=detector,
        site="J1",
        link="L1",
        time_ns=T0,
        window_start_ns=T0 - 3600 * NS,
        status=status,
        reasons=reasons,
    )


def incident(**kw: Any) -> Incident:
    fields: dict[str, Any] = {
        "id": "inc-1",
        "method": "station_persistence",
        "state": "confirmed",
        "start_ns": T0 - 600 * NS,
        "updated_ns": T0,
        "link": NETWORK.links[0].id,
        "links": (NETWORK.links[0].id,),
        "upstream_station": "x",
        "detectors": (),
        "lon": 4.8,
        "lat": 45.7,
        "confidence": 0.7,
        "intervals": 4,
        "description": "queue <b>",
    }
    return Incident(**(fields | kw))


def snapshot(**live: Any) -> Snapshot:
    snap = Snapshot(T0, (), {}, signals={"J1": SignalRow("J1", T0 - 12 * NS, "P", "2", "GGrr")})
    if live:
        from dataclasses import replace

        return replace(snap, live=LiveView(computed_ns=T0, **live))
    return snap


def test_no_snapshot_no_views() -> None:
    views = map_views(None, NETWORK, T0, operator=True)
    assert views.links == views.junctions == views.incidents == views.health == ()


def test_junction_phase_and_age_come_from_the_latest_signal_state() -> None:
    (j,) = junction_views({"J1": SignalRow("J1", T0 - 12 * NS, "P", "2", "GGrr")}, T0)
    assert (j.site, j.phase, j.data_age_s, j.pending_suggestion) == ("J1", "2", 12.0, None)
    (future,) = junction_views({"J1": SignalRow("J1", T0 + 5 * NS, "P", "", "")}, T0)
    assert future.data_age_s == 0.0 and future.phase is None


def test_operator_views_only_for_operators() -> None:
    snap = snapshot(
        incidents_active=(incident(),),
        health={d.id: health(d.id) for d in NETWORK.detectors},
    )
    public = map_views(snap, NETWORK, T0, operator=False)
    assert public.incidents == () and public.health == ()
    assert [j.site for j in public.junctions] == ["J1"]
    mine = map_views(snap, NETWORK, T0, operator=True)
    assert [i.id for i in mine.incidents] == ["inc-1"]
    assert mine.incidents[0].description == "queue <b>"
    assert len(mine.health) == len(NETWORK.detectors)


def test_unknown_detectors_are_left_out_and_counted() -> None:
    skipped = Skipped()
    views = detector_views(
        NETWORK, [health(NETWORK.detectors[0].id, "bad", ("dead",)), health("ghost")], skipped
    )
    assert [v.detector for v in views] == [NETWORK.detectors[0].id]
    assert views[0].status == "bad" and views[0].reasons == ("dead",)
    assert skipped.reasons == ["detector 'ghost': not in the network"]


def test_link_views_keep_unknown_values() -> None:
    assert link_views({}) == ()


def test_layers_payload() -> None:
    snap = snapshot(incidents_active=(incident(),), health={})
    public = layers_payload(NETWORK, map_views(snap, NETWORK, T0, operator=False), operator=False)
    assert set(public) == {"junctions"}
    (update,) = public["junctions"]
    assert update["id"] == "J1" and update["properties"]["phase"] == "2"
    mine = layers_payload(NETWORK, map_views(snap, NETWORK, T0, operator=True), operator=True)
    assert mine["incidents"]["features"][0]["properties"]["incident_id"] == "inc-1"
    assert mine["detectors"] == {"type": "FeatureCollection", "features": []}


def test_boot_data_lists_each_links_detectors() -> None:
    data = boot_data(NETWORK, PageContext(operator=False), max_links=2)
    assert data["links_total"] == len(NETWORK.links) and len(data["links"]) == 2
    first = NETWORK.links[0]
    assert data["links"][0][:3] == [first.id, first.name, first.free_flow_kmh]
    assert data["links"][0][3] == [d.id for d in NETWORK.detectors if d.link == first.id]


def test_csp_sources() -> None:
    subdomains = TileSource("https://{s}.tiles.example.org/{z}/{x}/{y}.png", "x", subdomains="ab")
    csp = content_security_policy("n0nce", subdomains, "127.0.0.1:8000")
    assert "img-src 'self' data: https://*.tiles.example.org;" in csp
    assert "connect-src 'self' ws://127.0.0.1:8000 wss://127.0.0.1:8000;" in csp
    assert "script-src 'self' 'nonce-n0nce';" in csp
    local = TileSource("/tiles/{z}/{x}/{y}.png", "x")
    assert "img-src 'self' data:;" in content_security_policy("n", local, None)
    hostile = content_security_policy("n", OSM_TILES, "evil.example; script-src *")
    assert "connect-src 'self';" in hostile and "evil" not in hostile


def test_config_from_settings_defaults_to_osm_and_refuses_bad_tiles() -> None:
    assert dashboard_config(Settings()).tile_source() == OSM_TILES
    none = SimpleNamespace(maps=SimpleNamespace(tiles="none", tile_attribution=None))
    assert dashboard_config(none).tile_source() is None  # type: ignore[arg-type]
    local = SimpleNamespace(maps=SimpleNamespace(tiles="/t/{z}/{x}/{y}.png", tile_attribution="me"))
    source = dashboard_config(local).tile_source()  # type: ignore[arg-type]
    assert source is not None and source.attribution == "me"
    bad = SimpleNamespace(maps=SimpleNamespace(tiles="ftp://nope", tile_attribution=None))
    assert dashboard_config(bad) == DashboardConfig(tiles="none")  # type: ignore[arg-type]

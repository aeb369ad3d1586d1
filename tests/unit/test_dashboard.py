"""The dashboard routes: `/`, `/map`, `/static/...`, `/api/v1/dashboard/layers` (in-process app,
SQLite store, the small example network). The page itself runs in tests/e2e."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role
from api.auth.openapi import iter_routes
from api.dashboard import DashboardConfig
from api.routes.dashboard import PageCache, get_dashboard_config
from api.testing import ManualClock, SwitchableStore, key_headers, reading_point
from citytraffic.network_file import load_network
from citytraffic.settings import ApiSettings, FeedSettings, Settings
from citytraffic.storage.sqlite import SqliteStore
from maps import page_asset_urls

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
T0 = int(datetime(2025, 3, 3, 8, 0, tzinfo=UTC).timestamp()) * NS
NETWORK = load_network(EXAMPLE)


def make_app(tmp_path: Path, store: Any, **feeds: Any) -> FastAPI:
    settings = Settings(
        data_dir=tmp_path,
        api=ApiSettings(snapshot_refresh_s=600),
        feeds=FeedSettings(**({"rate_per_s": 1000, "burst": 10_000} | feeds)),
    )
    return create_app(settings, store, NETWORK, clock_ns=ManualClock(T0))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SwitchableStore]:
    inner = SqliteStore(tmp_path / "store.sqlite")
    inner.write(
        [
            reading_point(d.site, d.id, T0 - k * 60 * NS, count=8, speed_kmh=12.0 + 5 * i)
            for i, d in enumerate(NETWORK.detectors)
            for k in range(1, 15)
        ]
    )
    yield SwitchableStore(inner)
    inner.close()


@pytest.fixture
def app(tmp_path: Path, store: SwitchableStore) -> FastAPI:
    return make_app(tmp_path, store)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def operator(app: FastAPI) -> dict[str, str]:
    return key_headers(app.state.settings, "olga", "operator")


def layer(page: str, kind: str) -> dict[str, Any]:
    """The FeatureCollection a page hands to the runtime for one layer."""
    match = re.search(r'geoJsonLayer\(\s*"' + kind + r'",\s*', page)
    assert match, kind
    data, _ = json.JSONDecoder().raw_decode(page, match.end())
    return data  # type: ignore[no-any-return]


def boot(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="ct-boot">(.*?)</script>', page, re.S)
    assert match
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def csp_nonce(response: Any) -> str:
    match = re.search(r"'nonce-([A-Za-z0-9_-]+)'", response.headers["content-security-policy"])
    assert match
    return match.group(1)


def test_dashboard_page_embeds_the_live_map_with_local_assets(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    links = layer(page, "links")["features"]
    assert [f["id"] for f in links] == [ln.id for ln in NETWORK.links]
    assert any(f["properties"]["los"] for f in links)  # coloured from the live snapshot
    assets = page_asset_urls(page)
    assert assets and all(u.startswith("/static/") for u in assets), assets
    for url in assets:
        got = client.get(url)
        assert got.status_code == 200, url
        kind = "text/css" if url.split("?")[0].endswith(".css") else "text/javascript"
        assert got.headers["content-type"].startswith(kind), url
    for marker in ("ct-kpis", "ct-alerts-list", "ct-chart", "ct-suggestions", "ct-login"):
        assert marker in page
    data = boot(page)
    assert data["operator_layers"] is False and data["links_total"] == len(NETWORK.links)
    by_link = {row[0]: row[3] for row in data["links"]}
    for d in NETWORK.detectors:
        assert d.id in by_link[d.link]
    assert data["routes"]["stream"] == "/api/v1/stream"


def test_every_inline_script_carries_the_fresh_csp_nonce(client: TestClient) -> None:
    first, second = client.get("/"), client.get("/")
    nonce = csp_nonce(first)
    assert nonce != csp_nonce(second)
    assert "__CT_NONCE__" not in first.text
    scripts = re.findall(r"<script\b([^>]*)>", first.text)
    inline = [attrs for attrs in scripts if "src=" not in attrs and "application/json" not in attrs]
    assert inline and all(f'nonce="{nonce}"' in attrs for attrs in inline)
    csp = first.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'self'" in csp and "object-src 'none'" in csp
    assert "img-src 'self' data: https://tile.openstreetmap.org" in csp
    assert first.headers["cache-control"] == "no-store"


def test_pages_are_rendered_once_per_live_view(client: TestClient, app: FastAPI) -> None:
    for _ in range(3):
        assert client.get("/").status_code == 200
    cache = app.state.dashboard_pages
    assert isinstance(cache, PageCache) and cache.renders == 1


def test_operator_layers_only_for_operators(client: TestClient, operator: dict[str, str]) -> None:
    public = client.get("/").text
    assert layer(public, "detectors")["features"] == []
    assert layer(public, "incidents")["features"] == []
    mine = client.get("/", headers=operator).text
    detectors = layer(mine, "detectors")["features"]
    assert {f["id"] for f in detectors} == {d.id for d in NETWORK.detectors}
    assert boot(mine)["operator_layers"] is True
    # the public map never comes from the operator's cache entry
    assert layer(client.get("/").text, "detectors")["features"] == []


def test_live_map_page(client: TestClient, operator: dict[str, str]) -> None:
    r = client.get("/map")
    assert r.status_code == 200
    assert 'data-ct-live-map="stream"' in r.text
    assert len(layer(r.text, "links")["features"]) == len(NETWORK.links)
    assert all(u.startswith("/static/") for u in page_asset_urls(r.text))
    assert "/static/dashboard/stream.js?v=" in r.text
    assert layer(r.text, "detectors")["features"] == []
    assert layer(client.get("/map", headers=operator).text, "detectors")["features"]


def test_layers_route(client: TestClient, operator: dict[str, str]) -> None:
    public = client.get("/api/v1/dashboard/layers")
    assert public.status_code == 200 and set(public.json()) == {"junctions"}
    body = client.get("/api/v1/dashboard/layers", headers=operator).json()
    assert set(body) == {"junctions", "incidents", "detectors"}
    assert body["incidents"]["type"] == "FeatureCollection"
    assert len(body["detectors"]["features"]) == len(NETWORK.detectors)


def test_static_files_etag_gzip_and_nothing_outside_the_table(client: TestClient) -> None:
    r = client.get("/static/vendor/leaflet-1.9.3/leaflet.js")
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=86400"
    assert (
        client.get(
            "/static/vendor/leaflet-1.9.3/leaflet.js", headers={"If-None-Match": r.headers["etag"]}
        ).status_code
        == 304
    )
    zipped = client.get(
        "/static/dashboard/dashboard.js", headers={"Accept-Encoding": "gzip"}
    )  # httpx decodes it; the header says it was compressed
    assert zipped.headers["content-encoding"] == "gzip"
    assert b"ctDashboard" in zipped.content
    assert zipped.headers["cache-control"] == "no-cache"
    png = client.get("/static/vendor/leaflet-1.9.3/images/layers.png")
    assert png.headers["content-type"] == "image/png" and "content-encoding" not in png.headers
    for bad in (
        "/static/%2e%2e/routes/dashboard.py",
        "/static/dashboard/%2e%2e/page.py",
        "/static/dashboard/page.py",
        "/static/vendor/leaflet-1.9.3/%2e%2e%2f%2e%2e%2fVENDOR.md",
        "/static/dashboard/index.html",
        "/static/",
    ):
        assert client.get(bad).status_code == 404, bad


def test_base_map_is_configurable(app: FastAPI) -> None:
    app.dependency_overrides[get_dashboard_config] = lambda: DashboardConfig(tiles="none")
    with TestClient(app) as c:
        r = c.get("/")
        assert "L.tileLayer" not in r.text
        assert "img-src 'self' data:;" in r.headers["content-security-policy"]
    local = "http://tiles.local:8080/osm/{z}/{x}/{y}.png"
    app.dependency_overrides[get_dashboard_config] = lambda: DashboardConfig(
        tiles=local, tile_attribution="© OpenStreetMap contributors"
    )
    with TestClient(app) as c:
        r = c.get("/map")
        assert local in r.text and "L.tileLayer" in r.text
        assert (
            "img-src 'self' data: http://tiles.local:8080;" in r.headers["content-security-policy"]
        )


def test_pages_and_static_files_are_public(app: FastAPI) -> None:
    ours = [r for r in iter_routes(app) if r.path in DASHBOARD_ROUTES]
    assert {r.path for r in ours} == DASHBOARD_ROUTES
    assert all(r.role is Role.PUBLIC for r in ours)


DASHBOARD_ROUTES = {"/", "/map", "/static/{path}", "/api/v1/dashboard/layers"}


def test_anonymous_page_loads_are_rate_limited_static_files_are_not(
    tmp_path: Path, store: SwitchableStore
) -> None:
    app = make_app(tmp_path, store, rate_per_s=0.01, burst=2)
    with TestClient(app) as c:
        assert [c.get("/").status_code for _ in range(3)] == [200, 200, 429]
        assert all(c.get("/static/dashboard/chart.js").status_code == 200 for _ in range(10))
        operator = key_headers(app.state.settings, "olga", "operator")
        assert c.get("/", headers=operator).status_code == 200


def test_store_down_from_the_start_still_serves_the_page(
    tmp_path: Path, store: SwitchableStore
) -> None:
    store.down = True
    app = make_app(tmp_path, store)
    with TestClient(app) as c:
        r = c.get("/")
        assert r.status_code == 200
        assert all(f["properties"]["los"] is None for f in layer(r.text, "links")["features"])
        assert c.get("/api/v1/dashboard/layers").status_code == 503


def test_static_body_is_gzip_of_the_file(client: TestClient) -> None:
    from api.dashboard import static_file

    found = static_file("dashboard/dashboard.css")
    assert found is not None and found.gzipped is not None
    assert gzip.decompress(found.gzipped) == found.body
    assert client.get("/static/dashboard/dashboard.css").content == found.body

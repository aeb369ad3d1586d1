"""/metrics, /api/v1/network, the body size limit, CORS, and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.deps import get_network
from api.models import NetworkOut
from api.testing import (
    ManualClock,
    SwitchableStore,
    ingest_stats_point,
    key_headers,
    reading_point,
)
from citytraffic.domain.network import Network, Site, SiteKind
from citytraffic.network_file import load_network, network_from_geojson, network_to_geojson
from citytraffic.settings import ApiSettings, Settings
from citytraffic.storage.sqlite import SqliteStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
T0 = int(datetime(2025, 3, 3, 8, 0, tzinfo=UTC).timestamp()) * NS


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SwitchableStore]:
    inner = SqliteStore(tmp_path / "store.sqlite")
    inner.write(
        [
            reading_point("J1", "J1-W-1", T0 - 60 * NS),
            ingest_stats_point(
                "ingest-a", T0 - 4 * NS, messages_total=42, lag_s=0.5, store_up=True, host="h1"
            ),
            ingest_stats_point("ingest-b", T0 - 30 * NS, messages_total=7, dead_letters_total=2),
            ingest_stats_point("ingest-b", T0 - 3 * NS, messages_total=9, dead_letters_total=3),
        ]
    )
    yield SwitchableStore(inner)
    inner.close()


def make_app(store: SwitchableStore, data_dir: Path = Path("var"), **api: object) -> FastAPI:
    settings = Settings(data_dir=data_dir, api=ApiSettings(snapshot_refresh_s=600, **api))
    return create_app(settings, store, load_network(EXAMPLE), clock_ns=ManualClock(T0))


@pytest.fixture
def client(store: SwitchableStore, tmp_path: Path) -> Iterator[TestClient]:
    app = make_app(store, tmp_path)
    # /metrics is operator-only
    with TestClient(app, headers=key_headers(app.state.settings)) as c:
        yield c


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    client.get("/health")
    client.get("/health")
    client.get("/api/v1/history", params={"detector": "nope"})
    client.get("/no/such/path")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = samples(r.text)
    req = "citytraffic_api_requests_total"
    assert got[req, (("method", "GET"), ("route", "/health"), ("status", "200"))] == 2
    assert got[req, (("method", "GET"), ("route", "/api/v1/history"), ("status", "404"))] == 1
    assert got[req, (("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 1
    hist = "citytraffic_api_request_duration_seconds_count"
    assert got[hist, (("method", "GET"), ("route", "/health"))] == 2
    assert got["citytraffic_api_store_up", ()] == 1.0
    assert got["citytraffic_api_detectors_live", ()] == 1.0
    assert got["citytraffic_api_snapshot_refreshes_total", ()] == 1.0


def test_metrics_expose_the_latest_ingest_stats_as_gauges(client: TestClient) -> None:
    text = client.get("/metrics").text
    got = samples(text)
    assert got["citytraffic_ingest_messages_total", (("instance", "ingest-a"),)] == 42
    assert got["citytraffic_ingest_messages_total", (("instance", "ingest-b"),)] == 9  # latest
    assert got["citytraffic_ingest_dead_letters_total", (("instance", "ingest-b"),)] == 3
    assert got["citytraffic_ingest_lag_s", (("instance", "ingest-a"),)] == 0.5
    assert got["citytraffic_ingest_store_up", (("instance", "ingest-a"),)] == 1.0
    assert got["citytraffic_ingest_report_age_seconds", (("instance", "ingest-b"),)] == 3.0
    assert "# TYPE citytraffic_ingest_messages_total gauge" in text
    assert "citytraffic_ingest_host" not in text  # strings are not numbers


def test_network_is_served_as_geojson_with_an_etag(client: TestClient) -> None:
    r = client.get("/api/v1/network")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    NetworkOut.model_validate_json(r.content)
    assert r.json() == network_to_geojson(load_network(EXAMPLE))
    assert network_from_geojson(r.json()) == load_network(EXAMPLE)
    etag = r.headers["etag"]
    again = client.get("/api/v1/network", headers={"If-None-Match": f'W/"x", {etag}'})
    assert again.status_code == 304 and again.content == b""
    other = client.get("/api/v1/network", headers={"If-None-Match": '"x"'})
    assert other.status_code == 200


def test_network_dependency_can_be_overridden(store: SwitchableStore) -> None:
    app = make_app(store)
    tiny = Network("tiny", sites=(Site("A", SiteKind.STATION, 1.0, 2.0),))
    app.dependency_overrides[get_network] = lambda: tiny
    with TestClient(app) as c:
        body = c.get("/api/v1/network").json()
        assert body["citytraffic"]["name"] == "tiny" and len(body["features"]) == 1
        assert c.get("/api/v1/conditions", params={"site": "J1"}).status_code == 200
        assert c.get("/api/v1/conditions", params={"site": "J2"}).status_code == 404


def test_body_size_limit(store: SwitchableStore) -> None:
    with TestClient(make_app(store, max_body_bytes=2048)) as c:
        r = c.post("/api/v1/conditions", content=b"x" * 4096)
        assert r.status_code == 413
        assert r.json() == {"detail": "request body larger than 2048 bytes"}
        small = c.post("/api/v1/conditions", content=b"x" * 100)
        assert small.status_code == 405
        bad = c.post("/health", headers={"content-length": "12a"}, content=b"")
        assert bad.status_code == 400


def test_body_size_limit_stops_a_streamed_body_that_is_read() -> None:
    import anyio

    from api.middleware import BodySizeLimitMiddleware

    sent: list[dict[str, object]] = []

    async def app(scope: object, receive: object, send: object) -> None:
        while True:
            message = await receive()  # type: ignore[operator]
            if not message.get("more_body"):
                break

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    mw = BodySizeLimitMiddleware(app, max_body_bytes=2500)
    anyio.run(mw, {"type": "http", "headers": []}, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 413


def test_cors_only_for_configured_origins(store: SwitchableStore) -> None:
    with TestClient(make_app(store, cors_origins=["https://ops.example"])) as c:
        ok = c.get("/health", headers={"Origin": "https://ops.example"})
        assert ok.headers["access-control-allow-origin"] == "https://ops.example"
        assert ok.headers["access-control-allow-credentials"] == "true"
        pre = c.options(
            "/api/v1/conditions",
            headers={"Origin": "https://ops.example", "Access-Control-Request-Method": "GET"},
        )
        assert pre.status_code == 200
        other = c.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    with TestClient(make_app(store)) as c:
        r = c.get("/health", headers={"Origin": "https://ops.example"})
        assert "access-control-allow-origin" not in r.headers


def test_openapi_documents_every_route_with_a_response_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    routes = {
        "/health": "application/json",
        "/metrics": "text/plain",
        "/api/v1/network": "application/geo+json",
        "/api/v1/conditions": "application/json",
        "/api/v1/history": "application/json",
    }
    assert set(routes) <= set(spec["paths"])
    for path, media in routes.items():
        ok = spec["paths"][path]["get"]["responses"]["200"]
        assert ok["content"][media]["schema"], path
    schemas = spec["components"]["schemas"]
    for name in ("HealthOut", "ConditionsOut", "DetectorConditionOut", "HistoryOut", "NetworkOut"):
        assert name in schemas
    conditions = spec["paths"]["/api/v1/conditions"]["get"]
    ok_schema = conditions["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok_schema == {"$ref": "#/components/schemas/ConditionsOut"}
    network = spec["paths"]["/api/v1/network"]["get"]["responses"]["200"]["content"]
    assert network == {
        "application/geo+json": {"schema": {"$ref": "#/components/schemas/NetworkOut"}}
    }
    assert set(conditions["responses"]) >= {"200", "404", "503"}
    history = spec["paths"]["/api/v1/history"]["get"]
    assert set(history["responses"]) >= {"200", "400", "404", "422", "503"}
    assert {p["name"] for p in history["parameters"]} == {"detector", "start", "end", "window"}

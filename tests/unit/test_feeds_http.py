"""The feeds over HTTP: rendered once per snapshot, ETag / Last-Modified / 304, gzip, the
per-IP rate limit with Retry-After, and NGSI-LD content negotiation, paging and errors."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import api.derive
from api.ratelimit import RateLimiter
from api.testing import ManualClock, SwitchableStore, key_headers, reading_point
from citytraffic.network_file import load_network
from citytraffic.settings import ApiSettings, FeedSettings, Settings
from citytraffic.storage.sqlite import SqliteStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
T0 = 1_741_000_000 * NS  # 2025-03-03T11:06:40Z
FEEDS = (
    "/feeds/road-status.geojson",
    "/feeds/datex2/traffic-status.xml",
    "/feeds/wzdx/devices.geojson",
    "/ngsi-ld/v1/entities?type=TrafficFlowObserved",
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SwitchableStore]:
    inner = SqliteStore(tmp_path / "store.sqlite")
    inner.write(
        [
            reading_point("J1", "J1-W-1", T0 - (60 + k * 60) * NS, count=10 + k, speed_kmh=30.0 + k)
            for k in range(5)
        ]
    )
    yield SwitchableStore(inner)
    inner.close()


def make_app(store: SwitchableStore, tmp_path: Path, clock: ManualClock, **feeds: Any) -> FastAPI:
    from api.app import create_app

    settings = Settings(
        data_dir=tmp_path, api=ApiSettings(snapshot_refresh_s=600), feeds=FeedSettings(**feeds)
    )
    return create_app(settings, store, load_network(EXAMPLE), clock_ns=clock)


@pytest.mark.parametrize("path", FEEDS)
def test_conditional_requests_and_gzip(store: SwitchableStore, tmp_path: Path, path: str) -> None:
    app = make_app(store, tmp_path, ManualClock(T0))
    with TestClient(app) as client:
        r = client.get(path, headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200 and "content-encoding" not in r.headers
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        assert etag.startswith('"') and modified == "Mon, 03 Mar 2025 11:05:40 GMT"
        assert r.headers["cache-control"] == "public, max-age=5"
        assert r.headers["vary"] == "Accept-Encoding"
        again = client.get(path, headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        since = client.get(path, headers={"If-Modified-Since": modified})
        assert since.status_code == 304
        earlier = client.get(path, headers={"If-Modified-Since": "Mon, 03 Mar 2025 11:05:39 GMT"})
        assert earlier.status_code == 200
        other = client.get(
            path, headers={"If-None-Match": '"other"', "If-Modified-Since": modified}
        )
        assert other.status_code == 200  # If-None-Match wins over If-Modified-Since
        zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["etag"] == etag[:-1] + '-gz"'
        assert zipped.content == r.content  # httpx decoded it
        raw = client.get(path, headers={"Accept-Encoding": "gzip;q=0"})
        assert "content-encoding" not in raw.headers


def test_feeds_are_rendered_once_per_refresh_and_etags_stay_stable(
    store: SwitchableStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[int] = []
    real = api.derive.build_feed_set

    def counting(*args: Any) -> Any:
        builds.append(1)
        return real(*args)

    monkeypatch.setattr(api.derive, "build_feed_set", counting)
    clock = ManualClock(T0)
    app = make_app(store, tmp_path, clock)
    with TestClient(app) as client:
        assert len(builds) == 1
        etags = {p: client.get(p).headers["etag"] for p in FEEDS}
        for _ in range(10):
            for p in FEEDS:
                client.get(p)
        assert len(builds) == 1  # requests never render
        clock.advance(2)
        app.state.snapshots.refresh()  # same data: the same bytes, not even re-rendered
        assert len(builds) == 1
        assert {p: client.get(p).headers["etag"] for p in FEEDS} == etags
        store.write([reading_point("J1", "J1-W-2", T0 + NS, count=3)])
        app.state.snapshots.refresh()
        assert len(builds) == 2
        changed = {p: client.get(p).headers["etag"] for p in FEEDS}
        assert all(changed[p] != etags[p] for p in FEEDS)
        assert client.get(FEEDS[0]).headers["last-modified"] == "Mon, 03 Mar 2025 11:06:41 GMT"


def test_rate_limit_per_client_with_retry_after(store: SwitchableStore, tmp_path: Path) -> None:
    app = make_app(store, tmp_path, ManualClock(T0), rate_per_s=0.5, burst=3)
    with TestClient(app) as client:
        codes = [client.get(FEEDS[0]).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        limited = client.get("/api/v1/conditions")  # one bucket for all public data routes
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "2"  # 1 token at 0.5/s
        assert "rate limit" in limited.json()["detail"]
        assert client.get("/health").status_code == 200  # probes are not limited
        operator = key_headers(app.state.settings)
        assert client.get(FEEDS[0], headers=operator).status_code == 200
    with TestClient(app, client=("192.0.2.7", 4000)) as other:
        assert other.get(FEEDS[0]).status_code == 200  # another client, another bucket


def test_trusted_clients_get_the_configured_limit(store: SwitchableStore, tmp_path: Path) -> None:
    app = make_app(
        store,
        tmp_path,
        ManualClock(T0),
        rate_per_s=0.1,
        burst=1,
        trusted_clients=["127.0.0.0/8"],
    )
    with TestClient(app, client=("127.0.0.1", 5000)) as bench:
        assert all(bench.get(FEEDS[0]).status_code == 200 for _ in range(50))
    with TestClient(app, client=("198.51.100.1", 5000)) as stranger:
        assert [stranger.get(FEEDS[0]).status_code for _ in range(2)] == [200, 429]


def test_token_bucket_refills_and_evicts_idle_clients() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 2, max_clients=100, clock_s=lambda: now[0])
    assert [limiter.check("a").allowed for _ in range(3)] == [True, True, False]
    assert limiter.check("a").retry_after_s == 1
    now[0] += 0.5
    assert limiter.check("a").allowed and not limiter.check("a").allowed
    for i in range(150):
        limiter.check(f"10.0.0.{i}")
    assert len(limiter._buckets) <= 100
    raised = RateLimiter(
        1.0,
        1,
        trusted=[__import__("ipaddress").ip_network("10.0.0.0/8")],
        trusted_rate_per_s=100.0,
        trusted_burst=5,
    )
    assert [raised.check("10.1.2.3").allowed for _ in range(6)] == [True] * 5 + [False]


def test_feeds_before_the_store_answered_are_503(store: SwitchableStore, tmp_path: Path) -> None:
    store.down = True
    app = make_app(store, tmp_path, ManualClock(T0))
    with TestClient(app) as client:
        r = client.get(FEEDS[0])
        assert r.status_code == 503 and r.headers["retry-after"] == "600"


# -- NGSI-LD -----------------------------------------------------------------------------

LINK_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


def test_ngsi_ld_json_with_link_header_or_ld_json_with_context(
    store: SwitchableStore, tmp_path: Path
) -> None:
    app = make_app(store, tmp_path, ManualClock(T0))
    with TestClient(app) as client:
        r = client.get("/ngsi-ld/v1/entities", params={"type": "TrafficFlowObserved"})
        assert r.headers["content-type"] == "application/json"
        context_url = "http://testserver/ngsi-ld/contexts/citytraffic.jsonld"
        assert r.headers["link"] == f"<{context_url}>; {LINK_REL}"
        entities = r.json()
        assert len(entities) == 9 and all("@context" not in e for e in entities)
        ld = client.get(
            "/ngsi-ld/v1/entities",
            params={"type": "TrafficFlowObserved"},
            headers={"Accept": "application/ld+json"},
        )
        assert ld.headers["content-type"] == "application/ld+json" and "link" not in ld.headers
        assert all(e["@context"] == context_url for e in ld.json())
        assert [{k: v for k, v in e.items() if k != "@context"} for e in ld.json()] == entities
        ctx = client.get("/ngsi-ld/contexts/citytraffic.jsonld")
        assert ctx.headers["content-type"] == "application/ld+json"
        assert "TrafficFlowObserved" in ctx.json()["@context"][0]


def test_ngsi_ld_query_options_paging_and_errors(store: SwitchableStore, tmp_path: Path) -> None:
    app = make_app(store, tmp_path, ManualClock(T0))
    uri = "https://smartdatamodels.org/dataModel.Transportation/TrafficFlowObserved"
    with TestClient(app) as client:

        def get(**params: Any) -> Any:
            return client.get("/ngsi-ld/v1/entities", params=params)

        kv = get(type="TrafficFlowObserved", options="keyValues").json()
        first = next(e for e in kv if e["id"].endswith(":J1-W-1"))
        assert first["intensity"] == 10 and first["averageVehicleSpeed"] == 30.0
        assert get(type=uri).json() == get(type="TrafficFlowObserved").json()
        assert get(type="Parking").json() == []
        page = get(type="TrafficFlowObserved", limit=2, offset=1, count="true")
        assert len(page.json()) == 2 and page.headers["ngsild-results-count"] == "9"
        assert page.json() == get(type="TrafficFlowObserved").json()[1:3]
        one = get(id="urn:ngsi-ld:TrafficFlowObserved:J1-W-1,urn:nope", options="keyValues")
        assert [e["id"] for e in one.json()] == ["urn:ngsi-ld:TrafficFlowObserved:J1-W-1"]
        missing = get()
        assert missing.status_code == 400
        assert missing.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
        assert get(type="TrafficFlowObserved", limit=10**6).status_code == 400
        entity = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:TrafficFlowObserved:J1-W-1")
        assert entity.json()["type"] == "TrafficFlowObserved" and "link" in entity.headers
        gone = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:TrafficFlowObserved:nope")
        assert gone.status_code == 404
        assert gone.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"


def test_public_base_url_is_used_for_the_context_link(
    store: SwitchableStore, tmp_path: Path
) -> None:
    app = make_app(store, tmp_path, ManualClock(T0), public_base_url="https://traffic.example/")
    with TestClient(app) as client:
        r = client.get("/ngsi-ld/v1/entities", params={"type": "TrafficFlowObserved"})
    assert r.headers["link"].startswith(
        "<https://traffic.example/ngsi-ld/contexts/citytraffic.jsonld>"
    )
    body = gzip.compress(r.content)
    assert json.loads(gzip.decompress(body)) == r.json()

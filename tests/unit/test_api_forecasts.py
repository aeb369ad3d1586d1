"""/api/v1/forecasts: newest forecast per series, filters, predicted LOS of links, public role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.forecasts import predicted_los
from api.testing import ManualClock
from citytraffic.network_file import load_network
from citytraffic.settings import Settings
from citytraffic.storage.points import Point, make_tags
from citytraffic.storage.sqlite import SqliteStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
T0 = int(datetime(2025, 3, 3, 8, 0, tzinfo=UTC).timestamp()) * NS
NETWORK = load_network(EXAMPLE)


def _forecast(target_ns: int, horizon: int, speed: float, **tags: str) -> Point:
    return Point(
        "forecast",
        make_tags(horizon_min=str(horizon), **tags),
        {
            "speed_kmh": speed,
            "speed_kmh_lower": speed - 5,
            "speed_kmh_upper": speed + 5,
            "flow_vph": 600.0,
            "model": "network_ridge",
            "issue_time_ns": target_ns - horizon * 60 * NS,
            "level": 0.9,
        },
        target_ns,
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    store = SqliteStore(tmp_path / "s.sqlite")
    urban = next(ln for ln in NETWORK.links if ln.road_class == "urban")
    det = NETWORK.detectors[0]
    store.write(
        [
            _forecast(T0 + 5 * 60 * NS, 5, 40.0, site=det.site, detector=det.id),
            _forecast(T0 + 10 * 60 * NS, 5, 35.0, site=det.site, detector=det.id),  # newer: wins
            _forecast(T0 + 30 * 60 * NS, 30, 20.0, site=det.site, detector=det.id),
            _forecast(T0 + 30 * 60 * NS, 30, urban.free_flow_kmh * 0.2, link=urban.id),
        ]
    )
    app = create_app(Settings(data_dir=tmp_path), store, NETWORK, clock_ns=ManualClock(T0))
    with TestClient(app) as c:  # anonymous: forecasts are public road information
        yield c
    store.close()


def test_newest_forecast_per_series_and_filters(client: TestClient) -> None:
    det = NETWORK.detectors[0]
    body = client.get("/api/v1/forecasts", params={"detector": det.id}).json()
    by_h = {f["horizon_min"]: f for f in body["forecasts"]}
    assert set(by_h) == {5, 30}
    assert by_h[5]["speed_kmh"] == 35.0
    assert by_h[5]["issue_time"] == "2025-03-03T08:05:00Z"
    assert by_h[5]["target_time"] == "2025-03-03T08:10:00Z"
    assert by_h[5]["model"] == "network_ridge"
    h30 = client.get("/api/v1/forecasts", params={"horizon": 30}).json()["forecasts"]
    assert {f["horizon_min"] for f in h30} == {30} and len(h30) == 2


def test_links_carry_predicted_los(client: TestClient) -> None:
    links = [f for f in client.get("/api/v1/forecasts").json()["forecasts"] if f["link"]]
    assert len(links) == 1
    assert links[0]["los"] == "F"  # 20 % of free-flow speed on an urban link


def test_bad_parameters(client: TestClient) -> None:
    assert client.get("/api/v1/forecasts", params={"site": "nope"}).status_code == 404
    assert client.get("/api/v1/forecasts", params={"horizon": 0}).status_code == 422


def test_predicted_los_bands() -> None:
    urban = next(ln for ln in NETWORK.links if ln.road_class == "urban")
    assert predicted_los(NETWORK, urban.id, urban.free_flow_kmh * 0.9) == "A"
    assert predicted_los(NETWORK, urban.id, urban.free_flow_kmh * 0.45) == "D"
    assert predicted_los(NETWORK, urban.id, None) is None
    assert predicted_los(NETWORK, "unknown", 30.0) is None

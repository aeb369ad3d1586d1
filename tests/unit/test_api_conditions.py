"""/api/v1/conditions and /health: served from the snapshot, filtered by site, honest when stale."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.models import ConditionsOut, HealthOut
from api.snapshot import SnapshotService
from api.testing import ManualClock, SwitchableStore, reading_point
from citytraffic.network_file import load_network
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
            reading_point("J1", "J1-W-1", T0 - 120 * NS, count=10, interval_s=60, seq=1),
            reading_point("J1", "J1-W-1", T0 - 60 * NS, count=20, occupancy=0.25, seq=2),
            reading_point("J1", "J1-S-1", T0 - 30 * NS, count=0, occupancy=0.0, speed_kmh=None),
            reading_point("S1", "S1-2", T0 - 20 * NS, count=30, interval_s=20, quality="x;y"),
            reading_point("S1", "S1-9", T0 - 10 * NS, count=1),  # not in the network file
            reading_point("J2", "J2-W-1", T0 - 7200 * NS),  # older than the live window
        ]
    )
    yield SwitchableStore(inner)
    inner.close()


def make_app(store: SwitchableStore, clock: ManualClock, refresh_s: float = 3600.0) -> FastAPI:
    settings = Settings(api=ApiSettings(snapshot_refresh_s=refresh_s, live_window_s=3600))
    return create_app(settings, store, load_network(EXAMPLE), clock_ns=clock)


def snapshots_of(app: FastAPI) -> SnapshotService:
    svc = app.state.snapshots
    assert isinstance(svc, SnapshotService)
    return svc


def test_latest_reading_per_detector_with_age_and_flow(store: SwitchableStore) -> None:
    clock = ManualClock(T0)
    with TestClient(make_app(store, clock)) as client:
        clock.advance(1.5)
        r = client.get("/api/v1/conditions")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = ConditionsOut.model_validate_json(r.content)
    assert body.generated_at == "2025-03-03T08:00:00Z"
    assert body.snapshot_age_s == 1.5 and body.stale is False and body.live_window_s == 3600
    got = {(d.site, d.detector): d for d in body.detectors}
    assert list(got) == [("J1", "J1-S-1"), ("J1", "J1-W-1"), ("S1", "S1-2"), ("S1", "S1-9")]
    w1 = got["J1", "J1-W-1"]
    assert (w1.ts, w1.age_s, w1.count, w1.occupancy) == ("2025-03-03T07:59:00Z", 60.0, 20, 0.25)
    assert (w1.link, w1.lane, w1.interval_s, w1.flow_vph, w1.speed_kmh) == (
        "L_W_J1",
        1,
        60,
        1200.0,
        45.0,
    )
    assert w1.quality == "ok"
    s1 = got["J1", "J1-S-1"]
    assert s1.speed_kmh is None and s1.flow_vph == 0.0 and s1.count == 0
    assert got["S1", "S1-2"].flow_vph == 5400.0 and got["S1", "S1-2"].quality == "x;y"
    unknown = got["S1", "S1-9"]
    assert unknown.link is None and unknown.lane is None


def test_site_filter(store: SwitchableStore) -> None:
    with TestClient(make_app(store, ManualClock(T0))) as client:
        j1 = ConditionsOut.model_validate_json(client.get("/api/v1/conditions?site=J1").content)
        assert {d.detector for d in j1.detectors} == {"J1-W-1", "J1-S-1"}
        j2 = client.get("/api/v1/conditions", params={"site": "J2"})
        assert j2.status_code == 200 and j2.json()["detectors"] == []
        nope = client.get("/api/v1/conditions", params={"site": "nowhere"})
        assert nope.status_code == 404
        assert nope.json() == {"detail": "unknown site 'nowhere'"}


def test_requests_do_not_query_the_store(store: SwitchableStore) -> None:
    with TestClient(make_app(store, ManualClock(T0))) as client:
        before = store.calls.copy()
        for _ in range(20):
            assert client.get("/api/v1/conditions").status_code == 200
        assert client.get("/health").status_code == 200
        assert store.calls == before
    # one refresh at start-up: detectors + ingest_stats + signal states (latest), new readings
    # for the live engines and the audit replay (range)
    assert (before["latest"], before["range"]) == (3, 2)


def test_background_refresh_picks_up_new_readings(store: SwitchableStore) -> None:
    with TestClient(make_app(store, ManualClock(T0), refresh_s=0.05)) as client:
        store.write([reading_point("J2", "J2-W-2", T0 - 5 * NS, count=7)])
        deadline = time.monotonic() + 30
        seen: set[str] = set()
        while "J2-W-2" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
            seen = {d["detector"] for d in client.get("/api/v1/conditions").json()["detectors"]}
        assert "J2-W-2" in seen


def test_store_outage_serves_the_last_snapshot_and_says_how_old(store: SwitchableStore) -> None:
    clock = ManualClock(T0)
    app = make_app(store, clock)
    with TestClient(app) as client:
        store.down = True
        clock.advance(42)
        snapshots_of(app).refresh()
        r = client.get("/api/v1/conditions")
        assert r.status_code == 200
        body = ConditionsOut.model_validate_json(r.content)
        assert body.stale is True and body.snapshot_age_s == 42.0
        assert body.generated_at == "2025-03-03T08:00:00Z" and len(body.detectors) == 4
        health = HealthOut.model_validate(client.get("/health").json())
        assert (health.status, health.store_up, health.snapshot_age_s) == ("degraded", False, 42.0)
        assert health.last_error is not None and "StoreUnavailable" in health.last_error

        store.down = False
        clock.advance(1)
        snapshots_of(app).refresh()
        body = ConditionsOut.model_validate_json(client.get("/api/v1/conditions").content)
        assert body.stale is False and body.generated_at == "2025-03-03T08:00:43Z"
        assert client.get("/health").json()["status"] == "ok"


def test_snapshot_goes_stale_when_refreshes_stop_succeeding(store: SwitchableStore) -> None:
    clock = ManualClock(T0)
    with TestClient(make_app(store, clock, refresh_s=100.0)) as client:
        clock.advance(200)
        assert client.get("/api/v1/conditions").json()["stale"] is False
        clock.advance(200)  # 400 s > 3 refresh periods + 1 s without a new snapshot
        assert client.get("/api/v1/conditions").json()["stale"] is True


def test_no_snapshot_yet_is_503_with_retry_after(store: SwitchableStore) -> None:
    store.down = True
    with TestClient(make_app(store, ManualClock(T0), refresh_s=2.0)) as client:
        r = client.get("/api/v1/conditions")
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        assert "store has not answered" in r.json()["detail"]
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["snapshot_generated_at"] is None
        assert health.json()["status"] == "degraded"


def test_health_when_all_is_well(store: SwitchableStore) -> None:
    clock = ManualClock(T0)
    with TestClient(make_app(store, clock, refresh_s=600.0)) as client:
        clock.advance(0.25)
        health = HealthOut.model_validate(client.get("/health").json())
    assert health == HealthOut(
        status="ok",
        store_up=True,
        snapshot_generated_at="2025-03-03T08:00:00Z",
        snapshot_age_s=0.25,
        snapshot_refresh_s=600.0,
        last_error=None,
        detectors_live=4,
    )

"""The live API against a real influxd: conditions from the snapshot, history from InfluxQL
buckets, ingest counters in /metrics, and an influxd outage served from the last snapshot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.models import ConditionsOut, HistoryOut
from api.snapshot import SnapshotService, rfc3339
from api.testing import ingest_stats_point, key_headers, reading_point
from citytraffic.network_file import load_network
from citytraffic.settings import ApiSettings, Settings
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
WINDOW_S = 300


@pytest.fixture
def store(influxd: InfluxServer) -> Iterator[InfluxStore]:
    s = InfluxStore(influxd.url, "api_test", timeout_s=2.0)
    yield s
    s.close()


@pytest.fixture
def app(store: InfluxStore, tmp_path: Path) -> FastAPI:
    settings = Settings(
        data_dir=tmp_path, api=ApiSettings(snapshot_refresh_s=600, live_window_s=3600)
    )
    return create_app(settings, store, load_network(EXAMPLE))


def test_conditions_and_history_from_influxdb(store: InfluxStore, app: FastAPI) -> None:
    now_ns = time.time_ns()
    # history: a reading a minute, ts = end of interval, in the 2nd and 3rd 5-minute buckets
    # of an aligned hour two hours ago
    base_ns = (now_ns // (3600 * NS) - 2) * 3600 * NS
    history = [
        reading_point(
            "J1",
            "J1-W-1",
            base_ns + m * 60 * NS,
            count=m,
            occupancy=m / 100,
            speed_kmh=40.0 + m,
            seq=m,
        )
        for m in range(5, 15)
    ]
    live = [
        reading_point("J1", "J1-W-1", now_ns - 90 * NS, count=11, seq=100),
        reading_point("J1", "J1-W-1", now_ns - 30 * NS, count=12, occupancy=0.3, seq=101),
        reading_point(
            "J2",
            "J2-W-1",
            now_ns - 20 * NS,
            count=5,
            interval_s=20,
            speed_kmh=None,
            quality="speed_out_of_range",
        ),
        reading_point("S1", "S1-3", now_ns - 10 * NS, count=40, occupancy=0.12, speed_kmh=98.5),
    ]
    store.write(
        history
        + live
        + [
            ingest_stats_point(
                "ingest-1",
                now_ns - 2 * NS,
                messages_total=1234,
                spool_depth=0,
                lag_s=0.25,
                store_up=True,
            ),
        ]
    )

    # history and metrics are operator-only
    with TestClient(app, headers=key_headers(app.state.settings)) as client:
        r = client.get("/api/v1/conditions")
        assert r.status_code == 200
        body = ConditionsOut.model_validate_json(r.content)
        assert not body.stale
        got = {d.detector: d for d in body.detectors}
        assert list(got) == ["J1-W-1", "J2-W-1", "S1-3"]
        w1 = got["J1-W-1"]
        assert (w1.count, w1.occupancy, w1.flow_vph, w1.link, w1.lane) == (
            12,
            0.3,
            720.0,
            "L_W_J1",
            1,
        )
        assert w1.ts == rfc3339(now_ns - 30 * NS)
        generated_ns = round(datetime.fromisoformat(body.generated_at).timestamp() * 1e6) * 1000
        assert w1.age_s == pytest.approx((generated_ns - (now_ns - 30 * NS)) / NS, abs=0.002)
        j2 = got["J2-W-1"]
        assert (j2.speed_kmh, j2.flow_vph, j2.interval_s, j2.quality) == (
            None,
            900.0,
            20,
            "speed_out_of_range",
        )
        s1 = ConditionsOut.model_validate_json(
            client.get("/api/v1/conditions", params={"site": "S1"}).content
        )
        assert [(d.detector, d.speed_kmh, d.count) for d in s1.detectors] == [("S1-3", 98.5, 40)]

        r = client.get(
            "/api/v1/history",
            params={
                "detector": "J1-W-1",
                "start": rfc3339(base_ns),
                "end": rfc3339(base_ns + 3600 * NS),
                "window": "5min",
            },
        )
        assert r.status_code == 200, r.text
        hist = HistoryOut.model_validate(r.json())
        assert hist.window_s == WINDOW_S
        assert [b.start for b in hist.buckets] == [
            rfc3339(base_ns + k * WINDOW_S * NS) for k in (1, 2)
        ]
        first, second = hist.buckets  # minutes 5..9 and 10..14
        assert (first.count, first.covered_s, first.flow_vph) == (35, 300, 420.0)
        assert first.occupancy == pytest.approx(0.07) and first.speed_kmh == pytest.approx(47.0)
        assert (second.count, second.covered_s, second.flow_vph) == (60, 300, 720.0)

        metrics = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(client.get("/metrics").text)
            for s in f.samples
        }
        instance = (("instance", "ingest-1"),)
        assert metrics["citytraffic_ingest_messages_total", instance] == 1234
        assert metrics["citytraffic_ingest_lag_s", instance] == 0.25
        assert metrics["citytraffic_ingest_store_up", instance] == 1.0
        assert metrics["citytraffic_ingest_spool_depth", instance] == 0


def test_influxd_outage_keeps_the_last_snapshot(
    store: InfluxStore, app: FastAPI, influxd: InfluxServer
) -> None:
    now_ns = time.time_ns()
    store.write([reading_point("J1", "J1-S-1", now_ns - 5 * NS, count=3)])
    snapshots: SnapshotService = app.state.snapshots
    with TestClient(app, headers=key_headers(app.state.settings)) as client:
        first = client.get("/api/v1/conditions").json()
        assert [d["detector"] for d in first["detectors"]] == ["J1-S-1"]
        influxd.stop()
        snapshots.refresh()
        during = client.get("/api/v1/conditions")
        assert during.status_code == 200
        assert during.json()["stale"] is True
        assert during.json()["generated_at"] == first["generated_at"]
        assert during.json()["detectors"] == first["detectors"]
        health = client.get("/health").json()
        assert health["status"] == "degraded" and "StoreUnavailable" in health["last_error"]
        hist = client.get("/api/v1/history", params={"detector": "J1-S-1"})
        assert hist.status_code == 503 and "cannot answer" in hist.json()["detail"]

        influxd.start()
        snapshots.refresh()
        after = client.get("/api/v1/conditions").json()
        assert after["stale"] is False and after["generated_at"] != first["generated_at"]
        assert [d["detector"] for d in after["detectors"]] == ["J1-S-1"]

"""The whole signal loop with real parts: SUMO gateway -> mosquitto -> ingest -> InfluxDB -> API
suggestion -> operator accept -> retained plan on MQTT -> the SUMO gateway runs it, and the
signal states it publishes (stored by the ingest) say so."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.testing import key_headers
from citytraffic.messaging.broker_process import Broker
from citytraffic.network_file import load_network
from citytraffic.settings import InfluxSettings, MqttSettings, Settings
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.process import ingest_env, start_ingest
from simulators.sumo.gateway import MAX_SPEEDUP, GatewayStats, run_sumo_gateway
from simulators.sumo.scenario import ScenarioSpec
from simulators.sumo.sources import grid_source

pytestmark = [pytest.mark.integration, pytest.mark.sumo]

NS = 1_000_000_000
INTERVAL_S = 60


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def aligned(seconds_back: int) -> datetime:
    return datetime.fromtimestamp((time.time() - seconds_back) // INTERVAL_S * INTERVAL_S, UTC)


def test_an_accepted_suggestion_runs_in_sumo(
    tmp_path: Path, mosquitto: Broker, influxd_session: InfluxServer
) -> None:
    source = grid_source(
        ScenarioSpec(grid_x=3, grid_y=3, demand_vph=1800, duration_s=1800, seed=5),
        tmp_path / "sumo",
    )
    database = "closed_loop"
    ingest = start_ingest(
        tmp_path / "ingest", ingest_env(tmp_path, mosquitto.port, influxd_session.url, database)
    )
    store = InfluxStore(influxd_session.url, database)
    net_file = tmp_path / "sumo.geojson"
    try:
        # 1. ten minutes of SUMO traffic up to now, through MQTT and the ingest into InfluxDB
        start = aligned(600)
        first = GatewayStats()
        rc = run_sumo_gateway(
            "127.0.0.1",
            mosquitto.port,
            source,
            speedup=MAX_SPEEDUP,
            duration_s=600,
            start=start,
            network_out=net_file,
            stats=first,
        )
        assert rc == 0
        expected = len(source.loops) * 600 // INTERVAL_S
        lo = int(start.timestamp()) * NS
        wait_for(
            lambda: store.count("detector", "count", lo, time.time_ns() + NS) >= expected,
            60,
            "the loop readings in InfluxDB",
        )
        # 2. the API suggests a plan for B1 from those readings; an operator accepts it
        settings = Settings(
            data_dir=tmp_path / "api",
            store="influx",
            influx=InfluxSettings(url=influxd_session.url, database=database),
            mqtt=MqttSettings(host="127.0.0.1", port=mosquitto.port),
        )
        api_store = InfluxStore(influxd_session.url, database)  # the app closes its own
        app = create_app(settings, api_store, load_network(net_file))
        operator = key_headers(settings, "olga", "operator")
        with TestClient(app) as client:
            listed: dict[str, dict[str, object]] = {}

            def suggested() -> bool:
                r = client.get("/api/v1/signals/suggestions", headers=operator)
                if r.status_code != 200:
                    return False
                listed.update({s["site"]: s for s in r.json()["suggestions"]})
                return listed.get("B1", {}).get("withheld") is False

            wait_for(suggested, 60, f"a suggestion for B1 (got {listed.get('B1')})")
            sid = listed["B1"]["id"]
            ok = client.post(
                f"/api/v1/signals/suggestions/{sid}/accept",
                json={"reason": "closed-loop test"},
                headers=operator,
            )
            assert ok.status_code == 200, ok.text
            plan = ok.json()["plan"]
        # 3. the gateway goes on (catching up with now, then at real time) and runs the plan:
        # it takes effect at the simulated second that reaches the plan's valid_from (the
        # accept time, now), so the run ends 15 s after now
        then = aligned(60)
        second = GatewayStats()
        rc = run_sumo_gateway(
            "127.0.0.1",
            mosquitto.port,
            source,
            speedup=MAX_SPEEDUP,
            duration_s=int(time.time() - then.timestamp()) + 15,
            start=then,
            stats=second,
        )
        assert rc == 0
        assert second.plans_applied == 1 and second.plans_refused == 0
        t_lo = int(then.timestamp()) * NS

        def plan_rows() -> list[dict[str, object]]:
            rows = store.range("signal", t_lo, time.time_ns() + NS, {"site": "B1"})
            return [
                r.fields for r in rows if r.fields.get("plan") == f"citytraffic-v{plan['version']}"
            ]

        # the switch itself publishes a signal state naming the plan (then every change)
        wait_for(lambda: len(plan_rows()) >= 1, 30, "B1's signal states under the plan")
        ran = plan_rows()
        ingest.stop()
    finally:
        ingest.kill()
        store.close()
    assert str(ran[0]["phase"]) == "P1"  # a plan starts with its first phase
    greens = {p["id"]: p["green_s"] for p in plan["phases"]}
    assert set(greens) == {"P1", "P2"} and all(float(g) >= 5.0 for g in greens.values())

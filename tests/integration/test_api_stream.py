"""The WebSocket stream end to end: detector batches published over MQTT (a real mosquitto) are
ingested by `citytraffic ingest`, picked up by the snapshot refresh of `citytraffic api`, and
arrive as `conditions` events at an anonymous client and as `incident` events at an operator.

The readings are published in real time with 2 s intervals: an interval counts for incident
detection once the next one has arrived, so 12 intervals take about 25 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from api.auth import create_api_key
from citytraffic.messaging import payloads, topics
from citytraffic.messaging.broker_process import Broker
from citytraffic.processes import free_port, wait_until
from citytraffic.settings import Settings

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
INTERVAL_S = 2
INTERVALS = 12
BLOCKED_FROM = 6  # upstream fills up and slows down, downstream empties: an incident


def batch(site: str, seq: int, ts: datetime, values: dict[str, tuple[int, float, float]]) -> bytes:
    readings = [
        payloads.DetectorValue(detector=d, count=c, occupancy=o, speed_kmh=s)
        for d, (c, o, s) in values.items()
    ]
    message = payloads.DetectorBatch(
        gateway="gw-1", seq=seq, site=site, ts=ts, interval_s=INTERVAL_S, readings=readings
    )
    return payloads.encode(message)


@pytest.fixture
def services(mosquitto: Broker, tmp_path: Path) -> Iterator[tuple[str, str]]:
    data = tmp_path / "data"
    operator_key = create_api_key(Settings(data_dir=data), "olga", "operator")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYTRAFFIC_")}
    env.update(
        {
            "CITYTRAFFIC_DATA_DIR": str(data),
            "CITYTRAFFIC_STORE": "sqlite",
            "CITYTRAFFIC_SQLITE_PATH": str(tmp_path / "store.sqlite"),
            "CITYTRAFFIC_NETWORK_FILE": str(EXAMPLE),
            "CITYTRAFFIC_MQTT__PORT": str(mosquitto.port),
            "CITYTRAFFIC_MQTT__CLIENT_ID": f"stream-test-{port}",
            "CITYTRAFFIC_API__PORT": str(port),
            "CITYTRAFFIC_API__SNAPSHOT_REFRESH_S": "0.3",
            "CITYTRAFFIC_LIVE__HEALTH_EVERY_S": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    cli = [sys.executable, "-m", "citytraffic.cli"]
    logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("ingest", "api")}
    procs = {
        name: subprocess.Popen([*cli, name], env=env, stdout=log, stderr=subprocess.STDOUT)
        for name, log in logs.items()
    }
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return any(p.poll() is not None for p in procs.values())

    try:
        wait_until(up, 60, "the API")
        for name, proc in procs.items():
            assert proc.poll() is None, (tmp_path / f"{name}.log").read_text()
        yield f"ws://127.0.0.1:{port}/api/v1/stream", operator_key
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for log in logs.values():
            log.close()


def publish_city(port: int) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="stream-test-gateway")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        start = (int(time.time()) // INTERVAL_S + 1) * INTERVAL_S
        for k in range(INTERVALS):
            ts = start + k * INTERVAL_S
            time.sleep(max(0.0, ts - time.time()))
            blocked = k >= BLOCKED_FROM
            # one vehicle per 2 s interval and lane (1800 veh/h): within the range checks
            up = (1, 0.30, 10.0) if blocked else (1, 0.10 + 0.01 * (k % 3), 40.0 + k % 2)
            down = (1, 0.04, 45.0) if blocked else (1, 0.10 + 0.01 * (k % 2), 44.0)
            when = datetime.fromtimestamp(ts, UTC)
            j1 = batch("J1", 2 * k, when, {"J1-W-1": up, "J1-W-2": up})
            j2 = batch("J2", 2 * k + 1, when, {"J2-W-1": down, "J2-W-2": down})
            for site, body in (("J1", j1), ("J2", j2)):
                client.publish(topics.site_topic(site, "detectors"), body, qos=1).wait_for_publish(
                    5
                )
    finally:
        client.loop_stop()
        client.disconnect()


def drain(ws: ClientConnection, into: list[dict[str, Any]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            into.append(json.loads(ws.recv(timeout=0.05)))
        except TimeoutError:
            return
        except ConnectionClosed:
            return


def test_mqtt_input_reaches_stream_clients(services: tuple[str, str], mosquitto: Broker) -> None:
    url, operator_key = services
    public_msgs: list[dict[str, Any]] = []
    operator_msgs: list[dict[str, Any]] = []
    with (
        connect(url) as public,
        connect(url, additional_headers={"Authorization": f"Bearer {operator_key}"}) as operator,
    ):
        public_hello = json.loads(public.recv(timeout=10))
        operator_hello = json.loads(operator.recv(timeout=10))
        assert (public_hello["role"], operator_hello["role"]) == ("public", "operator")
        assert operator_hello["incidents"] == []

        publisher = threading.Thread(target=publish_city, args=(mosquitto.port,))
        publisher.start()

        def seen() -> bool:
            drain(public, public_msgs, 0.2)
            drain(operator, operator_msgs, 0.2)
            conditions = any(
                m["type"] == "conditions"
                and any(ln["link"] == "L_W_J1" and ln["los"] for ln in m["links"])
                for m in public_msgs
            )
            incident = any(m["type"] == "incident" for m in operator_msgs)
            return conditions and incident

        try:
            wait_until(seen, 90, "a conditions event (public) and an incident event (operator)")
        except TimeoutError:
            summary = [
                (m["type"], [(ln["link"], ln["los"]) for ln in m.get("links", [])])
                for m in public_msgs
            ]
            pytest.fail(f"public: {summary}\noperator: {[m['type'] for m in operator_msgs]}")
        finally:
            publisher.join(60)

    incidents = [m["incident"] for m in operator_msgs if m["type"] == "incident"]
    # which rule fires first depends on the engine's smoothing of 2 s intervals; the place is
    # what matters here: the upstream link of the pair that was published as blocked
    assert incidents[0]["link"] == "L_W_J1", incidents
    assert incidents[0]["links"] == ["L_W_J1", "L_J1_J2"]
    assert {m["type"] for m in public_msgs} <= {"conditions", "ping"}  # no operator details
    assert any(m["type"] == "conditions" for m in operator_msgs)

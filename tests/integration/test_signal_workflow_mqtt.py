"""The operator signal workflow end to end through a real mosquitto, with role checks."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from api.app import create_app
from api.testing import ManualClock, key_headers, reading_point
from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.topics import site_topic
from citytraffic.network_file import load_network
from citytraffic.settings import ApiSettings, LiveSettings, MqttSettings, Settings
from citytraffic.storage.sqlite import SqliteStore
from control.plans import control_mode, parse_time, plan_applicable

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
T0 = 1_741_000_000 * NS


def retained(port: int, topic: str, timeout_s: float = 10.0) -> dict[str, object]:
    got: queue.Queue[tuple[bytes | bytearray, bool]] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-controller-J1")
    client.on_message = lambda c, u, m: got.put((m.payload, m.retain))
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, 1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        payload, was_retained = got.get(timeout=timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    assert was_retained
    return dict(json.loads(payload))


@pytest.fixture
def served(
    tmp_path: Path, mosquitto: Broker
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], SqliteStore]]:
    store = SqliteStore(tmp_path / "store.sqlite")
    t = T0 - 60 * NS
    store.write(
        [
            reading_point("J1", "J1-W-1", t, count=12),
            reading_point("J1", "J1-W-2", t, count=10),
            reading_point("J1", "J1-E-1", t, count=9),
            reading_point("J1", "J1-S-1", t, count=4),
            reading_point("J2", "J2-W-1", t, count=10, quality="suspect"),
            reading_point("J2", "J2-W-2", t, count=10),
        ]
    )
    settings = Settings(
        data_dir=tmp_path,
        api=ApiSettings(snapshot_refresh_s=600),
        live=LiveSettings(enabled=False),
        mqtt=MqttSettings(host="127.0.0.1", port=mosquitto.port),
    )
    app = create_app(settings, store, load_network(EXAMPLE), clock_ns=ManualClock(T0))
    keys = {
        "olga": key_headers(settings, "olga", "operator"),
        "otto": key_headers(settings, "otto", "operator"),
        "adam": key_headers(settings, "adam", "admin"),
    }
    with TestClient(app) as client:
        yield client, keys, store
    store.close()


def test_accept_publishes_retained_plan_and_conflicts_are_refused(
    served: tuple[TestClient, dict[str, dict[str, str]], SqliteStore], mosquitto: Broker
) -> None:
    client, keys, store = served
    assert client.get("/api/v1/signals/suggestions").status_code == 401
    listed = client.get("/api/v1/signals/suggestions", headers=keys["olga"]).json()
    by_site = {s["site"]: s for s in listed["suggestions"]}
    assert by_site["J2"]["withheld"] is True and "quality 'suspect'" in by_site["J2"]["reason"]
    j1 = by_site["J1"]
    assert j1["withheld"] is False and j1["status"] == "pending" and j1["version"] == 1
    assert "delay_saved_s_per_veh" in j1["expected_benefit"]
    assert "webster_cycle" in j1["explanation"]["formulas"]
    sid = j1["id"]
    # the same data gives the same suggestion to a second operator
    again = client.get("/api/v1/signals/suggestions", headers=keys["otto"]).json()
    assert {s["site"]: s["id"] for s in again["suggestions"]}["J1"] == sid

    r = client.post(f"/api/v1/signals/suggestions/{sid}/accept", json={"reason": "AM peak"})
    assert r.status_code == 401
    ok = client.post(
        f"/api/v1/signals/suggestions/{sid}/accept",
        json={"reason": "AM peak"},
        headers=keys["olga"],
    )
    assert ok.status_code == 200, ok.text
    second = client.post(
        f"/api/v1/signals/suggestions/{sid}/accept",
        json={"reason": "me too"},
        headers=keys["otto"],
    )
    assert second.status_code == 409 and "accepted by olga" in second.json()["detail"]

    msg = retained(mosquitto.port, site_topic("J1", "plan"))
    assert msg["type"] == "plan" and msg["site"] == "J1" and msg["version"] == 1
    assert msg["suggestion"] == sid
    start, end = parse_time(msg["valid_from"]), parse_time(msg["valid_until"])
    assert start is not None and end is not None
    assert start.timestamp() == T0 / NS and (end - start).total_seconds() == 3600
    assert plan_applicable(msg, start, start) and not plan_applicable(msg, end, start)

    # a new suggestion now builds on version 1; an old one (base 0) would conflict
    relisted = client.get("/api/v1/signals/suggestions", headers=keys["otto"]).json()
    new = {s["site"]: s for s in relisted["suggestions"]}["J1"]
    assert new["version"] == 2 and new["base_version"] == 1

    decisions = client.get("/api/v1/signals/decisions", headers=keys["olga"]).json()["decisions"]
    assert decisions[0]["action"] == "accept" and decisions[0]["actor"] == "olga"
    assert decisions[0]["reason"] == "AM peak" and decisions[0]["version"] == 1
    rows = store.range("audit", 0, T0 + NS, {"kind": "signal"})
    assert [(r.tags["action"], r.fields["actor"]) for r in rows] == [("accept", "olga")]

    # revoke: a retained revocation replaces the plan
    rv = client.post(
        "/api/v1/signals/junctions/J1/revoke", json={"reason": "works"}, headers=keys["otto"]
    )
    assert rv.status_code == 200, rv.text
    revoked = retained(mosquitto.port, site_topic("J1", "plan"))
    assert revoked["type"] == "revoked" and revoked["version"] == 2
    assert not plan_applicable(revoked, start, start)
    # with no plan in force, mode `plan` has nothing to run
    none = client.post(
        "/api/v1/signals/junctions/J1/mode",
        json={"mode": "plan", "reason": "back"},
        headers=keys["olga"],
    )
    assert none.status_code == 409


def test_reject_roles_and_control_modes(
    served: tuple[TestClient, dict[str, dict[str, str]], SqliteStore], mosquitto: Broker
) -> None:
    client, keys, store = served
    listed = client.get("/api/v1/signals/suggestions", headers=keys["adam"]).json()
    sid = {s["site"]: s["id"] for s in listed["suggestions"]}["J1"]
    path = f"/api/v1/signals/suggestions/{sid}/reject"
    assert client.post(path, json={"reason": "x"}).status_code == 401
    assert client.post(path, json={}, headers=keys["olga"]).status_code == 400
    assert client.post(path, json={"reason": "event"}, headers=keys["olga"]).status_code == 200
    again = client.post(path, json={"reason": "event"}, headers=keys["olga"])
    assert again.status_code == 409
    mode = client.post(
        "/api/v1/signals/junctions/J1/mode",
        json={"mode": "adaptive", "reason": "trial"},
        headers=keys["otto"],
    )
    assert mode.status_code == 200, mode.text
    rows = store.range("audit", 0, T0 + NS, {"kind": "signal"})
    assert sorted(r.tags["action"] for r in rows) == ["mode", "reject"]
    # the mode is an order to the junction's controller: versioned, retained, with a window
    order = retained(mosquitto.port, site_topic("J1", "plan"))
    assert order["type"] == "adaptive" and order["site"] == "J1" and order["version"] == 1
    start = parse_time(order["valid_from"])
    assert start is not None and start.timestamp() == T0 / NS
    assert control_mode(order, start, start) == "adaptive"
    assert control_mode(order, start + timedelta(days=2), start) == "local"  # expired
    assert control_mode(order, start, start - timedelta(hours=1)) == "local"  # centre silent
    back = client.post(
        "/api/v1/signals/junctions/J1/mode",
        json={"mode": "local", "reason": "trial over"},
        headers=keys["olga"],
    )
    assert back.status_code == 200
    local = retained(mosquitto.port, site_topic("J1", "plan"))
    assert local["type"] == "local" and local["version"] == 2
    assert control_mode(local, start, start) == "local"
    junctions = client.get("/api/v1/signals/junctions", headers=keys["olga"]).json()["junctions"]
    j1 = next(j for j in junctions if j["site"] == "J1")
    assert j1["mode"] == "local" and j1["version"] == 2 and j1["decided_by"] == "olga"

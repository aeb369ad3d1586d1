"""What operators see and do: link conditions, detector health, incidents found by the engines
running in the snapshot refresh, and acknowledge / shelve / close with an audit trail that
survives a restart; operator-only stream events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.models import ConditionsOut
from api.models_ops import DetectorHealthListOut, IncidentsOut
from api.testing import ManualClock, SwitchableStore, key_headers, reading_point
from citytraffic.network_file import load_network
from citytraffic.settings import ApiSettings, Settings
from citytraffic.storage.points import Point
from citytraffic.storage.sqlite import SqliteStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
T0 = 1_741_000_000 * NS
UP, DOWN = ("J1-W-1", "J1-W-2"), ("J2-W-1", "J2-W-2")  # link L_W_J1 flows into L_J1_J2


def incident_readings() -> list[Point]:
    """Ten minutes, 60 s intervals: normal for 6 intervals, then the upstream station fills up
    (30%) while the downstream one empties (4%): California #8 trips, then confirms."""
    points = []
    for k in range(10):
        t = T0 - (10 - k) * 60 * NS
        blocked = k >= 6
        for i, det in enumerate(UP):
            occ = 0.30 + 0.01 * i if blocked else 0.10 + 0.005 * (k % 3)
            speed = 12.0 if blocked else 40.0 + k
            points.append(
                reading_point("J1", det, t, count=8 + k % 4, occupancy=occ, speed_kmh=speed)
            )
        for i, det in enumerate(DOWN):
            occ = 0.04 if blocked else 0.10 + 0.005 * ((k + i) % 3)
            points.append(
                reading_point("J2", det, t, count=9 + k % 3, occupancy=occ, speed_kmh=45.0)
            )
    return points


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SwitchableStore]:
    inner = SqliteStore(tmp_path / "store.sqlite")
    inner.write(incident_readings())
    yield SwitchableStore(inner)
    inner.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, api=ApiSettings(snapshot_refresh_s=600))


def make_app(settings: Settings, store: SwitchableStore, clock: ManualClock) -> FastAPI:
    return create_app(settings, store, load_network(EXAMPLE), clock_ns=clock)


def test_conditions_list_links_with_los(settings: Settings, store: SwitchableStore) -> None:
    with TestClient(make_app(settings, store, ManualClock(T0))) as client:
        body = ConditionsOut.model_validate_json(client.get("/api/v1/conditions").content)
        j1 = ConditionsOut.model_validate_json(
            client.get("/api/v1/conditions", params={"site": "J2"}).content
        )
    links = {ln.link: ln for ln in body.links}
    assert set(links) == {"L_W_J1", "L_J1_J2", "L_J2_J1", "L_S_J1", "F_N"}
    assert body.conditions_at == "2025-03-03T11:06:40Z"
    jam, free = links["L_W_J1"], links["L_J1_J2"]
    assert jam.los is not None and jam.los >= "E" and jam.updated == "2025-03-03T11:05:40Z"
    assert free.los is not None and free.los <= "B" and free.lanes_reporting == 2
    no_data = links["F_N"]  # its detectors never reported: health bad (dead), excluded
    assert no_data.los is None and no_data.excluded_detectors == ["S1-1", "S1-2", "S1-3"]
    assert no_data.los_reason is not None and "health bad" in no_data.los_reason
    assert {ln.link for ln in j1.links} == {"L_J1_J2", "L_J2_J1"}  # links at site J2


def test_incident_is_detected_listed_and_handled_with_an_audit_trail(
    settings: Settings, store: SwitchableStore
) -> None:
    clock = ManualClock(T0)
    headers = key_headers(settings, "olga", "operator")
    with TestClient(make_app(settings, store, clock), headers=headers) as client:
        listed = IncidentsOut.model_validate(client.get("/api/v1/incidents").json())
        assert len(listed.incidents) == 1
        incident = listed.incidents[0]
        assert (incident.method, incident.state, incident.link) == (
            "california8",
            "confirmed",
            "L_W_J1",
        )
        assert incident.links == ["L_W_J1", "L_J1_J2"] and incident.confidence > 0.5
        assert incident.start == "2025-03-03T11:03:00Z" and incident.operator.state == "new"
        actions = f"/api/v1/incidents/{incident.id}/actions"

        ack = client.post(actions, json={"action": "acknowledge"})
        assert ack.status_code == 200
        assert ack.json()["operator"] | {"at": None} == {
            "state": "acknowledged",
            "by": "olga",
            "at": None,
            "reason": "",
            "shelved_until": None,
        }
        no_reason = client.post(actions, json={"action": "shelve"})
        assert no_reason.status_code == 400 and "reason" in no_reason.json()["detail"]
        clock.advance(5)
        shelved = client.post(
            actions, json={"action": "shelve", "reason": "crew on site", "shelve_for_s": 600}
        )
        assert shelved.json()["operator"]["shelved_until"] == "2025-03-03T11:16:45Z"
        clock.advance(5)
        closed = client.post(actions, json={"action": "close", "reason": "cleared by police"})
        assert closed.json()["operator"]["state"] == "closed"
        assert client.post(actions, json={"action": "acknowledge"}).status_code == 409
        assert client.get("/api/v1/incidents").json()["incidents"] == []
        everything = client.get("/api/v1/incidents", params={"include_closed": "true"}).json()
        assert everything["incidents"][0]["operator"]["by"] == "olga"
        unknown = client.post("/api/v1/incidents/inc-nope/actions", json={"action": "acknowledge"})
        assert unknown.status_code == 404

    audit = store.inner.range("audit", 0, 2**62)
    assert [(r.tags["kind"], r.tags["target"], r.tags["action"]) for r in audit] == [
        ("incident", incident.id, "acknowledge"),
        ("incident", incident.id, "shelve"),
        ("incident", incident.id, "close"),
    ]
    assert [(r.fields["actor"], r.fields["reason"], r.time_ns) for r in audit] == [
        ("olga", "", T0),
        ("olga", "crew on site", T0 + 5 * NS),
        ("olga", "cleared by police", T0 + 10 * NS),
    ]
    assert audit[1].fields["shelved_until_ns"] == T0 + 605 * NS
    assert audit[0].fields["role"] == "operator" and audit[0].fields["via"] == "api_key"

    # a restart replays the audit log: the incident is still closed
    with TestClient(make_app(settings, store, ManualClock(T0 + 20 * NS)), headers=headers) as c:
        again = c.get("/api/v1/incidents", params={"include_closed": "true"}).json()
        assert again["incidents"][0]["operator"]["state"] == "closed"
        assert again["incidents"][0]["operator"]["reason"] == "cleared by police"


def test_no_action_without_its_audit_record(settings: Settings, store: SwitchableStore) -> None:
    headers = key_headers(settings)
    with TestClient(make_app(settings, store, ManualClock(T0)), headers=headers) as client:
        store.down = True
        r = client.post("/api/v1/detectors/J1-S-1/actions", json={"action": "acknowledge"})
        assert r.status_code == 503 and "not recorded" in r.json()["detail"]
        store.down = False
        health = client.get("/api/v1/detectors/health").json()
        assert (
            next(d for d in health["detectors"] if d["detector"] == "J1-S-1")["operator"]["state"]
            == "new"
        )


def test_detector_health_is_listed_stored_and_alarms_can_be_shelved(
    settings: Settings, store: SwitchableStore
) -> None:
    clock = ManualClock(T0)
    with TestClient(make_app(settings, store, clock), headers=key_headers(settings)) as client:
        body = DetectorHealthListOut.model_validate(client.get("/api/v1/detectors/health").json())
        assert body.assessed_at == "2025-03-03T11:06:40Z" and body.window_s == 3600
        by_id = {d.detector: d for d in body.detectors}
        assert set(by_id) == {d.id for d in load_network(EXAMPLE).detectors}
        silent = by_id["J1-S-1"]  # never reported
        assert silent.status != "ok" and silent.flags and silent.reasons
        assert by_id["J1-W-1"].status == "ok"
        assert sum(body.counts.values()) == 9
        bad_only = client.get("/api/v1/detectors/health", params={"status": "ok"}).json()
        assert {d["status"] for d in bad_only["detectors"]} == {"ok"}
        r = client.post(
            "/api/v1/detectors/J1-S-1/actions",
            json={"action": "shelve", "reason": "loop cut by roadworks", "shelve_for_s": 3600},
        )
        assert r.status_code == 200 and r.json()["kind"] == "detector"
        assert (
            client.post(
                "/api/v1/detectors/nope/actions", json={"action": "close", "reason": "x"}
            ).status_code
            == 404
        )
        clock.advance(3601)
        app = client.app
        app.state.snapshots.refresh()  # type: ignore[attr-defined]
        after = client.get("/api/v1/detectors/health").json()
        state = next(d for d in after["detectors"] if d["detector"] == "J1-S-1")["operator"]
        assert state["state"] == "new"  # the shelve ran out
    first = store.inner.range("detector_health", T0, T0 + 1)  # the first assessment, stored
    assert {r.tags["detector"] for r in first} == set(by_id)
    assert {r.tags["detector"]: r.fields["status"] for r in first} == {
        d: h.status for d, h in by_id.items()
    }


def test_operators_get_incident_and_alarm_events_the_public_does_not(
    settings: Settings, store: SwitchableStore
) -> None:
    headers = key_headers(settings, "olga")
    app = make_app(settings, store, ManualClock(T0))
    with TestClient(app) as client:
        incident_id = client.get("/api/v1/incidents", headers=headers).json()["incidents"][0]["id"]
        with (
            client.websocket_connect("/api/v1/stream", headers=headers) as op,
            client.websocket_connect("/api/v1/stream") as public,
        ):
            op_hello, public_hello = op.receive_json(), public.receive_json()
            assert [i["id"] for i in op_hello["incidents"]] == [incident_id]
            assert "incidents" not in public_hello
            assert {ln["link"] for ln in public_hello["links"]} >= {"L_W_J1"}
            client.post(
                f"/api/v1/incidents/{incident_id}/actions",
                json={"action": "acknowledge"},
                headers=headers,
            )
            event = op.receive_json()
            assert (event["type"], event["kind"], event["target"]) == (
                "alarm",
                "incident",
                incident_id,
            )
            assert event["operator"]["by"] == "olga"
            hub = app.state.hub
            assert len(hub.subscribers) == 2
            # the public socket got nothing: the next thing it sees is a public event
            from api.events import conditions_event

            hub.publish([conditions_event([{"link": "L_W_J1"}], T0)])
            assert public.receive_json()["type"] == "conditions"
            assert op.receive_json()["type"] == "conditions"

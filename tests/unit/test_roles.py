"""Role checks for every route, table-driven over the routes the app actually serves.

`EXPECTED` is the role decision of every route. A route added to the app without an entry here
fails `test_every_route_has_a_role_decision` (and create_app refuses a route with no guard at
all); each entry is then called anonymously, with an operator key and with an admin key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import api.app
from api.app import create_app
from api.auth.openapi import DOC_ROUTES, iter_routes
from api.testing import ManualClock, key_headers, reading_point
from citytraffic.network_file import load_network
from citytraffic.settings import ApiSettings, FeedSettings, Settings
from citytraffic.storage.sqlite import SqliteStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
T0 = 1_741_000_000 * NS

EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/health"): "public",
    ("POST", "/auth/login"): "public",
    ("POST", "/auth/logout"): "public",
    ("GET", "/auth/whoami"): "public",
    ("GET", "/api/v1/network"): "public",
    ("GET", "/api/v1/conditions"): "public",
    ("GET", "/api/v1/forecasts"): "public",
    ("GET", "/feeds/road-status.geojson"): "public",
    ("GET", "/feeds/datex2/traffic-status.xml"): "public",
    ("GET", "/feeds/wzdx/devices.geojson"): "public",
    ("GET", "/ngsi-ld/v1/entities"): "public",
    ("GET", "/ngsi-ld/v1/entities/{entity_id}"): "public",
    ("GET", "/ngsi-ld/contexts/citytraffic.jsonld"): "public",
    ("WS", "/api/v1/stream"): "public",
    # the dashboard (api/routes/dashboard.py): public pages; operator layers only for operators
    ("GET", "/"): "public",
    ("GET", "/map"): "public",
    ("GET", "/static/{path}"): "public",
    ("GET", "/api/v1/dashboard/layers"): "public",
    ("GET", "/metrics"): "operator",
    ("GET", "/api/v1/history"): "operator",
    ("GET", "/api/v1/detectors/health"): "operator",
    ("POST", "/api/v1/detectors/{detector_id}/actions"): "operator",
    ("GET", "/api/v1/incidents"): "operator",
    ("POST", "/api/v1/incidents/{incident_id}/actions"): "operator",
    ("GET", "/api/v1/signals/suggestions"): "operator",
    ("POST", "/api/v1/signals/suggestions/{suggestion_id}/accept"): "operator",
    ("POST", "/api/v1/signals/suggestions/{suggestion_id}/reject"): "operator",
    ("POST", "/api/v1/signals/junctions/{site}/revoke"): "operator",
    ("POST", "/api/v1/signals/junctions/{site}/mode"): "operator",
    ("GET", "/api/v1/signals/junctions"): "operator",
    ("GET", "/api/v1/signals/decisions"): "operator",
    ("GET", "/admin/keys"): "admin",
    ("POST", "/admin/keys"): "admin",
    ("DELETE", "/admin/keys/{key_id}"): "admin",
    ("GET", "/admin/config"): "admin",
}
HTTP_ROUTES = sorted(k for k in EXPECTED if k[0] != "WS")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict]]:
    tmp = tmp_path_factory.mktemp("roles")
    store = SqliteStore(tmp / "store.sqlite")
    store.write([reading_point("J1", "J1-W-1", T0 - 60 * NS)])
    settings = Settings(
        data_dir=tmp,
        api=ApiSettings(snapshot_refresh_s=600),
        feeds=FeedSettings(rate_per_s=1000, burst=10_000),
    )
    app = create_app(settings, store, load_network(EXAMPLE), clock_ns=ManualClock(T0))
    keys = {
        "operator": key_headers(settings, "olga", "operator"),
        "admin": key_headers(settings, "adam", "admin"),
    }
    with TestClient(app) as client:
        yield client, keys
    store.close()


def served_routes(app: FastAPI) -> dict[tuple[str, str], str | None]:
    out: dict[tuple[str, str], str | None] = {}
    for r in iter_routes(app):
        if r.path in DOC_ROUTES:
            continue
        for method in r.methods or {"WS"}:
            if method != "HEAD":
                out[method, r.path] = r.role.label if r.role is not None else None
    return out


def test_every_route_has_a_role_decision(served: tuple[TestClient, dict]) -> None:
    client, _ = served
    got = served_routes(client.app)  # type: ignore[arg-type]
    assert got == EXPECTED


def test_a_route_without_a_guard_is_refused_at_build_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rogue = APIRouter()

    @rogue.get("/api/v1/forgotten")
    async def forgotten() -> dict[str, str]:
        return {"secret": "yes"}

    monkeypatch.setattr(api.app, "ROUTERS", (*api.app.ROUTERS, (rogue, None)))
    store = SqliteStore(tmp_path / "s.sqlite")
    with pytest.raises(RuntimeError, match="/api/v1/forgotten"):
        create_app(Settings(data_dir=tmp_path), store, load_network(EXAMPLE))
    store.close()


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x-unknown", path)


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    body = {"action": "acknowledge"} if "actions" in path else {"name": "n", "role": "operator"}
    r = client.request(
        method,
        concrete(path),
        headers=headers,
        params={"type": "TrafficFlowObserved", "detector": "J1-W-1"},
        json=body if method == "POST" else None,
    )
    return r.status_code, dict(r.headers)


@pytest.mark.parametrize(("method", "path"), HTTP_ROUTES)
def test_role_is_enforced(served: tuple[TestClient, dict], method: str, path: str) -> None:
    client, keys = served
    role = EXPECTED[method, path]
    anonymous, headers = call(client, method, path, {})
    if role == "public":
        assert anonymous not in (401, 403), (method, path, anonymous)
    else:
        assert anonymous == 401, (method, path, anonymous)
        assert headers["www-authenticate"].startswith('Bearer realm="citytraffic"')
    as_operator, _ = call(client, method, path, keys["operator"])
    assert (as_operator == 403) == (role == "admin"), (method, path, as_operator)
    assert as_operator != 401
    as_admin, _ = call(client, method, path, keys["admin"])
    assert as_admin not in (401, 403), (method, path, as_admin)


def test_401_and_403_bodies_say_what_to_do(served: tuple[TestClient, dict]) -> None:
    client, keys = served
    r = client.get("/api/v1/incidents")
    assert r.status_code == 401
    assert "Authorization: Bearer" in r.json()["detail"] and "/auth/login" in r.json()["detail"]
    bad = client.get("/api/v1/incidents", headers={"X-API-Key": "ctk_" + "x" * 43})
    assert bad.status_code == 401 and bad.json() == {"detail": "invalid or revoked API key"}
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    scheme = client.get("/api/v1/incidents", headers={"Authorization": "Basic dTpw"})
    assert scheme.status_code == 401 and "Bearer" in scheme.json()["detail"]
    forbidden = client.get("/admin/keys", headers=keys["operator"])
    assert forbidden.status_code == 403
    assert forbidden.json() == {"detail": "role admin required: 'olga' has role operator"}
    # a bad key is refused on public routes too (a client with a stale key learns it)
    assert client.get("/feeds/road-status.geojson", headers=bad.request.headers).status_code == 401


def test_stream_is_public_and_refuses_bad_credentials(served: tuple[TestClient, dict]) -> None:
    client, keys = served
    with client.websocket_connect("/api/v1/stream") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["role"] == "public"
        assert "incidents" not in hello
    with client.websocket_connect("/api/v1/stream", headers=keys["operator"]) as ws:
        hello = ws.receive_json()
        assert hello["role"] == "operator" and hello["name"] == "olga"
        assert "incidents" in hello and "detector_health" in hello
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/api/v1/stream", headers={"X-API-Key": "nope"}) as ws,
    ):
        ws.receive_json()
    assert closed.value.code == 1008


def test_openapi_names_the_role_of_every_operation(served: tuple[TestClient, dict]) -> None:
    client, _ = served
    spec = client.get("/openapi.json").json()
    for (method, path), role in EXPECTED.items():
        if method == "WS":
            continue
        operation = spec["paths"][path][method.lower()]
        assert operation["x-role"] == role, (method, path)
        assert ("security" in operation) == (role != "public"), (method, path)
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey", "session"}

"""API keys (hashing, constant-time check, revocation, reload), dashboard sessions (cookie
login, WebSocket), the admin key routes and the CLI-facing functions."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.app import create_app
from api.auth import (
    KeyFile,
    KeyFileError,
    Role,
    create_api_key,
    ensure_demo_operator_key,
    key_file_path,
    list_api_keys,
    revoke_api_key,
)
from api.auth.session import SessionSigner, load_or_create_secret
from api.testing import ManualClock, SwitchableStore, key_headers, reading_point
from citytraffic.network_file import load_network
from citytraffic.settings import ApiSettings, AuthSettings, Settings
from citytraffic.storage.sqlite import SqliteStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
T0 = 1_741_000_000 * NS


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, api=ApiSettings(snapshot_refresh_s=600))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SwitchableStore]:
    inner = SqliteStore(tmp_path / "store.sqlite")
    inner.write([reading_point("J1", "J1-W-1", T0 - 60 * NS)])
    yield SwitchableStore(inner)
    inner.close()


@pytest.fixture
def app(settings: Settings, store: SwitchableStore) -> FastAPI:
    return create_app(settings, store, load_network(EXAMPLE), clock_ns=ManualClock(T0))


# -- keys --------------------------------------------------------------------------------


def test_keys_are_high_entropy_and_stored_only_as_sha256(settings: Settings) -> None:
    key = create_api_key(settings, "alice", "operator")
    other = create_api_key(settings, "alice", "operator")
    assert key.startswith("ctk_") and len(key) >= 4 + 43 and key != other
    path = key_file_path(settings)
    text = path.read_text()
    assert key not in text and other not in text
    records = json.loads(text)["keys"]
    assert [r["sha256"] for r in records] == [
        hashlib.sha256(k.encode()).hexdigest() for k in (key, other)
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert {(r.name, r.role, r.active) for r in list_api_keys(settings)} == {
        ("alice", "operator", True)
    }


def test_verification_compares_every_digest_in_constant_time(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [create_api_key(settings, f"user{i}", "operator") for i in range(3)]
    file = KeyFile(key_file_path(settings))
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    record = file.verify(keys[0])
    assert record is not None and record.name == "user0"
    assert len(calls) == 3  # no early exit on the first match
    assert file.verify(keys[0][:-1] + ("A" if keys[0][-1] != "A" else "B")) is None
    assert file.verify("not-a-key") is None


def test_revocation_survives_restart_and_is_seen_by_a_running_reader(settings: Settings) -> None:
    reader = KeyFile(key_file_path(settings), reload_s=0)  # the API process
    key = create_api_key(settings, "bob", "admin")  # the CLI process
    record = reader.verify(key)
    assert record is not None and record.role_enum is Role.ADMIN
    assert revoke_api_key(settings, record.id) is True
    assert reader.verify(key) is None
    assert KeyFile(key_file_path(settings)).verify(key) is None  # after a restart
    revoked = next(r for r in list_api_keys(settings) if r.id == record.id)
    assert revoked.revoked_at is not None and revoked.revoked_by == "cli"
    assert revoke_api_key(settings, "k-nope") is False


def test_bad_names_and_roles_are_refused(settings: Settings) -> None:
    with pytest.raises(KeyFileError, match="account name"):
        create_api_key(settings, "has space", "operator")
    with pytest.raises(ValueError, match="unknown role"):
        create_api_key(settings, "carol", "root")
    with pytest.raises(KeyFileError, match="public"):
        create_api_key(settings, "carol", "public")


def test_demo_key_replaces_the_previous_demo_key(settings: Settings) -> None:
    first = ensure_demo_operator_key(settings)
    second = ensure_demo_operator_key(settings)
    file = KeyFile(key_file_path(settings))
    assert file.verify(first) is None
    record = file.verify(second)
    assert record is not None and (record.name, record.role) == ("demo-operator", "operator")


def test_session_tokens_are_signed_and_expire(tmp_path: Path) -> None:
    secret = load_or_create_secret(tmp_path / "secret")
    assert load_or_create_secret(tmp_path / "secret") == secret  # survives a restart
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600
    signer = SessionSigner(secret)
    token = signer.issue("k-1", expires_s=1000)
    claims = signer.verify(token, now_s=999)
    assert claims is not None and claims.key_id == "k-1"
    assert signer.verify(token, now_s=1000) is None
    payload, signature = token.split(".")
    assert signer.verify(payload + "." + signature[::-1], now_s=0) is None
    assert SessionSigner(b"y" * 32).verify(token, now_s=0) is None
    assert signer.verify("garbage", now_s=0) is None


# -- login, cookie, WebSocket ------------------------------------------------------------


def test_login_sets_a_strict_http_only_cookie_that_authenticates(
    app: FastAPI, settings: Settings
) -> None:
    key = create_api_key(settings, "dora", "operator")
    with TestClient(app) as client:
        assert client.get("/api/v1/incidents").status_code == 401
        bad = client.post("/auth/login", json={"key": "ctk_wrong_wrong_wrong_wrong_wrong"})
        assert bad.status_code == 401 and "set-cookie" not in bad.headers
        r = client.post("/auth/login", json={"key": key})
        assert r.status_code == 200
        assert r.json()["name"] == "dora" and r.json()["via"] == "session"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("citytraffic_session=")
        for flag in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=43200"):
            assert flag.lower() in cookie.lower()
        assert "secure" not in cookie.lower()
        assert key not in cookie
        who = client.get("/auth/whoami").json()
        assert (who["role"], who["name"], who["via"]) == ("operator", "dora", "session")
        assert client.get("/api/v1/incidents").status_code == 200
        with client.websocket_connect("/api/v1/stream") as ws:
            assert ws.receive_json()["role"] == "operator"
        client.post("/auth/logout")
        assert client.get("/api/v1/incidents").status_code == 401


def test_secure_flag_is_configurable(tmp_path: Path, store: SwitchableStore) -> None:
    settings = Settings(
        data_dir=tmp_path,
        api=ApiSettings(snapshot_refresh_s=600),
        auth=AuthSettings(cookie_secure=True),
    )
    key = create_api_key(settings, "erin", "operator")
    app = create_app(settings, store, load_network(EXAMPLE), clock_ns=ManualClock(T0))
    with TestClient(app) as client:
        cookie = client.post("/auth/login", json={"key": key}).headers["set-cookie"]
    assert "secure" in cookie.lower()


def test_revoking_a_key_ends_its_sessions(app: FastAPI, settings: Settings) -> None:
    key = create_api_key(settings, "fred", "operator")
    with TestClient(app) as client:
        client.post("/auth/login", json={"key": key})
        assert client.get("/api/v1/incidents").status_code == 200
        record = next(r for r in list_api_keys(settings) if r.name == "fred")
        revoke_api_key(settings, record.id)
        app.state.auth.keys._checked = float("-inf")  # skip the 1 s reload throttle
        r = client.get("/api/v1/incidents")
        assert r.status_code == 401 and "log in again" in r.json()["detail"]
        # a stale cookie never breaks public pages
        assert client.get("/feeds/road-status.geojson").status_code == 200


def test_cookie_sessions_refuse_cross_site_writes_and_websockets(
    app: FastAPI, settings: Settings
) -> None:
    key = create_api_key(settings, "gina", "operator")
    with TestClient(app) as client:
        client.post("/auth/login", json={"key": key})
        evil = {"Origin": "https://evil.example"}
        assert client.get("/api/v1/incidents", headers=evil).status_code == 200  # safe method
        write = client.post(
            "/api/v1/detectors/J1-W-1/actions", json={"action": "acknowledge"}, headers=evil
        )
        assert write.status_code == 401 and "another origin" in write.json()["detail"]
        same = client.post(
            "/api/v1/detectors/J1-W-1/actions",
            json={"action": "acknowledge"},
            headers={"Origin": "http://testserver"},
        )
        assert same.status_code == 200
        with client.websocket_connect("/api/v1/stream", headers=evil) as ws:
            assert ws.receive_json()["role"] == "public"  # the cookie is not taken


def test_expired_session_is_anonymous(app: FastAPI, settings: Settings) -> None:
    key = create_api_key(settings, "hugo", "operator")
    with TestClient(app) as client:
        client.post("/auth/login", json={"key": key})
        app.state.auth.clock_s = lambda: 10.0**12  # far in the future
        r = client.get("/api/v1/incidents")
        assert r.status_code == 401 and "expired" in r.json()["detail"]


# -- admin routes ------------------------------------------------------------------------


def test_admin_creates_lists_and_revokes_keys_with_an_audit_trail(
    app: FastAPI, settings: Settings, store: SwitchableStore
) -> None:
    with TestClient(app, headers=key_headers(settings, "root", "admin")) as client:
        created = client.post("/admin/keys", json={"name": "ivan", "role": "operator"})
        assert created.status_code == 201
        body = created.json()
        new_key, key_id = body["key"], body["id"]
        assert body["name"] == "ivan" and body["created_by"] == "root" and body["active"]
        listed = client.get("/admin/keys").json()["keys"]
        assert {k["name"] for k in listed} == {"root", "ivan"}
        assert all("key" not in k and "sha256" not in k for k in listed)
        as_ivan = {"Authorization": f"Bearer {new_key}"}  # replaces the client's admin key
        ok = client.get("/auth/whoami", headers=as_ivan)
        assert (ok.json()["name"], ok.json()["role"]) == ("ivan", "operator")
        revoked = client.delete(f"/admin/keys/{key_id}")
        assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "root"
        app.state.auth.keys._checked = float("-inf")
        again = client.get("/api/v1/incidents", headers=as_ivan)
        assert again.status_code == 401
        assert client.delete("/admin/keys/k-missing").status_code == 404
        bad = client.post("/admin/keys", json={"name": "x y", "role": "operator"})
        assert bad.status_code == 422
        config = client.get("/admin/config").json()["settings"]
        assert config["auth"]["cookie_name"] == "citytraffic_session"
    audit = store.inner.range("audit", 0, 2**62)
    assert [(r.tags["action"], r.tags["kind"], r.fields["actor"]) for r in audit] == [
        ("create", "api_key", "root"),
        ("revoke", "api_key", "root"),
    ]


def test_admin_config_masks_secrets(tmp_path: Path, store: SwitchableStore) -> None:
    from pydantic import SecretStr

    settings = Settings(
        data_dir=tmp_path,
        api=ApiSettings(snapshot_refresh_s=600),
        auth=AuthSettings(session_secret=SecretStr("s" * 40)),
    )
    app = create_app(settings, store, load_network(EXAMPLE), clock_ns=ManualClock(T0))
    with TestClient(app, headers=key_headers(settings, "root", "admin")) as client:
        text = client.get("/admin/config").text
    assert "s" * 40 not in text and "**********" in text


def test_placeholder_session_secret_is_refused() -> None:
    from pydantic import SecretStr, ValidationError

    with pytest.raises(ValidationError, match="session_secret"):
        AuthSettings(session_secret=SecretStr("changeme"))


def test_no_files_are_written_until_needed(app: FastAPI, settings: Settings) -> None:
    with TestClient(app) as client:
        client.get("/api/v1/conditions")
        client.get("/feeds/road-status.geojson")
    assert not (settings.data_dir / "session-secret").exists()
    assert not key_file_path(settings).exists()


def test_invalid_key_on_the_stream_closes_with_1008(app: FastAPI) -> None:
    bad = {"Authorization": "Bearer ctk_nope_nope_nope_nope_nope"}
    with (
        TestClient(app) as client,
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/api/v1/stream", headers=bad) as ws,
    ):
        ws.receive_json()
    assert closed.value.code == 1008

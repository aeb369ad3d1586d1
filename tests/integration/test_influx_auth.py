"""InfluxStore against a real influxd 1.6: authentication, privileges and write-error mapping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer, start_influxd
from citytraffic.storage.points import Point, make_tags
from citytraffic.storage.port import PointsRejected, StoreAuthError, StoreUnavailable

pytestmark = pytest.mark.integration

ADMIN, ADMIN_PW = "admin", "adm-Secret-71"
READER, READER_PW = "reader", "rd-Secret-72"
DB = "authdb"
T0 = 1_700_000_000 * 1_000_000_000


def _point(i: int, **fields: float | int) -> Point:
    return Point("detector", make_tags(site="s1"), dict(fields or {"v": float(i)}), T0 + i)


def _admin_query(server: InfluxServer, q: str) -> None:
    r = httpx.post(f"{server.url}/query", data={"q": q}, auth=(ADMIN, ADMIN_PW))
    assert r.status_code == 200 and "error" not in r.text, r.text


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[InfluxServer]:
    server = start_influxd(tmp_path / "influxd-auth", auth=True)
    try:
        # With auth on and no users, influxd allows exactly one statement: the first admin.
        q = f"CREATE USER {ADMIN} WITH PASSWORD '{ADMIN_PW}' WITH ALL PRIVILEGES"
        r = httpx.post(f"{server.url}/query", data={"q": q})
        assert r.status_code == 200 and "error" not in r.text, r.text
        yield server
    finally:
        server.stop()


def test_user_password_write_and_query(auth_server: InfluxServer) -> None:
    store = InfluxStore(auth_server.url, DB, username=ADMIN, password=ADMIN_PW)
    try:
        assert store.ping()
        store.write([_point(1), _point(2)])
        assert [r.fields["v"] for r in store.range("detector", T0, T0 + 10)] == [1.0, 2.0]
        assert store.count("detector", "v", T0, T0 + 10) == 2
    finally:
        store.close()


@pytest.mark.parametrize(
    ("username", "password"), [(ADMIN, "wrong-password"), (None, None), ("nobody", "x")]
)
def test_bad_credentials_raise_auth_error(
    auth_server: InfluxServer, username: str | None, password: str | None
) -> None:
    _admin_query(auth_server, f'CREATE DATABASE "{DB}"')
    # create_database=True must not raise here: it logs and lets the write report the problem
    store = InfluxStore(auth_server.url, DB, username=username, password=password)
    try:
        with pytest.raises(StoreAuthError):
            store.write([_point(1)])
        with pytest.raises(StoreAuthError):
            store.write_lines(b"detector,site=s1 v=1.0 1")
        with pytest.raises(StoreAuthError):
            store.range("detector", T0, T0 + 10)
    finally:
        store.close()


def test_read_only_user_reads_but_cannot_write(auth_server: InfluxServer) -> None:
    admin = InfluxStore(auth_server.url, DB, username=ADMIN, password=ADMIN_PW)
    admin.write([_point(1)])
    admin.close()
    _admin_query(auth_server, f"CREATE USER {READER} WITH PASSWORD '{READER_PW}'")
    _admin_query(auth_server, f'GRANT READ ON "{DB}" TO {READER}')
    # CREATE DATABASE answers 403 for a non-admin: tolerated by the constructor
    reader = InfluxStore(auth_server.url, DB, username=READER, password=READER_PW)
    try:
        assert [r.fields["v"] for r in reader.range("detector", T0, T0 + 10)] == [1.0]
        with pytest.raises(StoreAuthError):
            reader.write([_point(2)])
        assert reader.count("detector", "v", T0, T0 + 10) == 1
    finally:
        reader.close()


def test_field_type_conflict_is_points_rejected(influxd: InfluxServer) -> None:
    store = InfluxStore(influxd.url, "conflicts")
    try:
        store.write([_point(1, v=1.5)])
        with pytest.raises(PointsRejected, match="field type conflict"):
            store.write([_point(2, v=2)])  # integer into a float field
        with pytest.raises(PointsRejected, match="unable to parse"):
            store.write_lines(b"detector,site=s1 v=1.0 3\nthis is not line protocol")
        # 1.x keeps the valid lines of a rejected batch ("partial write")
        assert store.count("detector", "v", T0, T0 + 10) == 1
        assert len(store.range("detector", 0, 10)) == 1
    finally:
        store.close()


def test_stopped_server_is_unavailable_then_recovers(influxd: InfluxServer) -> None:
    store = InfluxStore(influxd.url, "outage", timeout_s=2.0)
    try:
        store.write([_point(1)])
        influxd.stop()
        assert not store.ping()
        with pytest.raises(StoreUnavailable):
            store.write([_point(2)])
        with pytest.raises(StoreUnavailable):
            store.write_lines(b"detector,site=s1 v=2.0 2")
        with pytest.raises(StoreUnavailable):
            store.latest("detector", 0)
        influxd.start()  # same data dir and port: the keep-alive client reconnects
        store.write([_point(2)])
        assert store.count("detector", "v", T0, T0 + 10) == 2
    finally:
        store.close()


def test_database_missing_after_start_is_recreated(influxd: InfluxServer) -> None:
    store = InfluxStore(influxd.url, "dropped")
    other = InfluxStore(influxd.url, "other")
    try:
        other.query('DROP DATABASE "dropped"')
        store.write([_point(1)])  # 404 database not found -> CREATE DATABASE -> retry
        assert store.count("detector", "v", T0, T0 + 10) == 1
        no_create = InfluxStore(influxd.url, "never_created", create_database=False)
        with pytest.raises(StoreUnavailable, match="database not found"):
            no_create.write([_point(1)])
        no_create.close()
    finally:
        store.close()
        other.close()

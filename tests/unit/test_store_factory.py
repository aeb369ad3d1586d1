"""open_store picks the adapter from Settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from citytraffic.settings import InfluxSettings, Settings
from citytraffic.storage.factory import open_store
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.sqlite import SqliteStore


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("CITYTRAFFIC_"):
            monkeypatch.delenv(name)


def test_default_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "var" / "nested")
    store = open_store(settings)
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / "var" / "nested" / "citytraffic.sqlite"
        assert store.path.exists()
    finally:
        store.close()


def test_explicit_sqlite_path(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, store="sqlite", sqlite_path=tmp_path / "d" / "x.db")
    store = open_store(settings)
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "d" / "x.db"
    store.close()


def test_influx_when_url_is_set() -> None:
    influx = InfluxSettings(
        url="http://127.0.0.1:9/",
        database="traffic",
        username="u",
        password="s3cr3t-pw",
        create_database=False,
    )
    store = open_store(Settings(_env_file=None, influx=influx))
    try:
        assert isinstance(store, InfluxStore)
        assert (store.url, store.database) == ("http://127.0.0.1:9", "traffic")
        assert not store.ping()  # nothing listens on port 9
    finally:
        store.close()

"""Shared fixtures. Server fixtures start private mosquitto / influxd processes on free loopback
ports with temporary data dirs; they fail (never skip) when a server is not installed, because
`make test` installs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from citytraffic.messaging.broker_process import Broker, start_mosquitto
from citytraffic.storage.influx_process import InfluxServer, start_influxd


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    broker = start_mosquitto(tmp_path / "mosquitto")
    yield broker
    broker.stop()


@pytest.fixture
def influxd(tmp_path: Path) -> Iterator[InfluxServer]:
    server = start_influxd(tmp_path / "influxd")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxd_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """One influxd for read-mostly tests; each test uses its own database name."""
    server = start_influxd(tmp_path_factory.mktemp("influxd"))
    yield server
    server.stop()

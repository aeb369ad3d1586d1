"""METR-LA replayed through a real mosquitto and the real ingest into a real influxd: the stored
speeds are the CSV speeds in km/h, nothing else (no count, no occupancy), at the replay's times."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from citytraffic.messaging.broker_process import Broker
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.process import ingest_env, start_ingest
from simulators.metrla.data import MPH_TO_KMH, load_metrla, original_times
from simulators.metrla.run import run_metrla

pytestmark = pytest.mark.integration

DATA = Path(__file__).parents[2].parent / "shared/data/metr-la"
NS = 1_000_000_000


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _ns(t: datetime) -> int:
    return int(t.timestamp()) * NS


def _replay_and_check(
    tmp_path: Path,
    broker: Broker,
    influx: InfluxServer,
    database: str,
    mode: str,
    rows: int,
) -> list[datetime]:
    env = ingest_env(tmp_path, broker.port, influx.url, database, f"ingest-{database}")
    ingest = start_ingest(tmp_path / "ingest", env)
    store = InfluxStore(influx.url, database)
    data = load_metrla(DATA, max_rows=rows)
    expected = rows * len(data.stations)  # the slice has no missing cells
    try:
        before = datetime.now(UTC)
        rc = run_metrla(
            "127.0.0.1",
            broker.port,
            data_dir=DATA,
            speedup=rows * 300 / 4.0,  # about four wall seconds
            mode=mode,  # type: ignore[arg-type]
            duration_s=rows * 300.0,
            network_out=tmp_path / "metr-la.geojson",
        )
        after = datetime.now(UTC)
        assert rc == 0
        start_ns, end_ns = _ns(datetime(2012, 1, 1, tzinfo=UTC)), _ns(after) + NS
        wait_for(
            lambda: store.count("detector", "speed_kmh", start_ns, end_ns) >= expected,
            90,
            "the replayed readings",
        )
        stored = store.range("detector", start_ns, end_ns, limit=expected + 1000)
        ingest.stop()
    finally:
        ingest.kill()
    assert len(stored) == expected
    times = sorted({r.time_ns for r in stored})
    assert len(times) == rows
    column = {f"LA-{s.id}": k for k, s in enumerate(data.stations)}
    for row in stored:
        site, detector = row.tags["site"], row.tags["detector"]
        assert detector == f"{site}:D1"
        k = times.index(row.time_ns)
        mph = data.speeds_mph[k][column[site]]
        assert mph is not None
        assert row.fields["speed_kmh"] == pytest.approx(mph * MPH_TO_KMH, rel=1e-12)
        assert row.fields.get("count") is None and row.fields.get("occupancy") is None
        assert row.fields["interval_s"] == 300 and row.fields["quality"] == "ok"
    field_keys = {v[0] for s in store.query("SHOW FIELD KEYS FROM detector") for v in s["values"]}
    assert "count" not in field_keys and "occupancy" not in field_keys
    assert "speed_kmh" in field_keys
    store.close()
    stamps = [datetime.fromtimestamp(t / NS, UTC) for t in times]
    if mode == "shift":
        assert stamps[-1] <= after  # never in the future
        assert stamps[0] >= before - timedelta(seconds=rows * 300 + 300)
    return stamps


def test_shifted_replay_stores_the_csv_speeds(
    tmp_path: Path, mosquitto: Broker, influxd_session: InfluxServer
) -> None:
    stamps = _replay_and_check(tmp_path, mosquitto, influxd_session, "metrla_shift", "shift", 36)
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(stamps))


def test_original_replay_keeps_the_2012_times(
    tmp_path: Path, mosquitto: Broker, influxd_session: InfluxServer
) -> None:
    stamps = _replay_and_check(
        tmp_path, mosquitto, influxd_session, "metrla_original", "original", 12
    )
    assert stamps == original_times(12)
    assert stamps[0] == datetime(2012, 3, 1, 8, 0, tzinfo=UTC)

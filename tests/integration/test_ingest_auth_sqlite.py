"""Ingest against a broker that refuses it (stops, exit code 2) and with the embedded SQLite store
(the Points path: no line protocol)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from citytraffic.messaging.broker_process import Broker, start_mosquitto
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.storage.sqlite import SqliteStore
from ingest.loadgen import past_stream
from ingest.process import ingest_env, start_ingest

pytestmark = pytest.mark.integration


def test_refused_credentials_stop_the_ingest_with_exit_code_2(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path / "mosquitto", anonymous=False)
    try:
        env = ingest_env(tmp_path, broker.port, None, client_id="ingest-auth")
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "ingest"], env=env, capture_output=True, timeout=60
        )
    finally:
        broker.stop()
    log = done.stderr.decode()
    assert done.returncode == 2, log
    assert "refused the connection" in log and "Not authorized" in log
    assert log.count("MQTT connected") == 0
    assert time.monotonic() - started < 30  # no retry loop


def test_ingest_into_sqlite(tmp_path: Path, mosquitto: Broker) -> None:
    stream = past_stream(1200, per_message=12, junctions=10)
    # A small cap on held messages and small batches: the loop must pause reading, not stall.
    env = ingest_env(
        tmp_path,
        mosquitto.port,
        None,
        client_id="ingest-sqlite",
        max_pending_messages=15,
        batch_size=60,
    )
    env["CITYTRAFFIC_STORE"] = "sqlite"
    ingest = start_ingest(tmp_path / "ingest", env)
    try:
        with GatewayPublisher("127.0.0.1", mosquitto.port, stream.gateway) as pub:
            for message in stream.iter_messages():
                pub.publish(message)
            assert pub.flush(30)
        deadline = time.monotonic() + 60
        while ingest.metric("citytraffic_ingest_readings_stored_total") < 1200:
            assert time.monotonic() < deadline, ingest.tail()
            time.sleep(0.1)
        ingest.stop()
        assert ingest.proc is not None and ingest.proc.returncode == 0, ingest.tail()
    finally:
        ingest.kill()
    store = SqliteStore(tmp_path / "data" / "citytraffic.sqlite")
    try:
        start_ns, end_ns = stream.start_s * 10**9, stream.end_s * 10**9
        assert store.count("detector", "seq", start_ns, end_ns) == 1200
        rows = store.range("detector", start_ns, end_ns, limit=5000)
        got = {
            (r.tags["site"], r.tags["detector"], r.time_ns): (
                r.fields["count"],
                r.fields["occupancy"],
                r.fields["speed_kmh"],
                r.fields["seq"],
            )
            for r in rows
        }
        assert got == stream.expected()
        assert store.latest("ingest_stats", start_ns), "no ingest_stats point"
    finally:
        store.close()

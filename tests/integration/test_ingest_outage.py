"""influxd stopped mid-stream: the ingest spools every batch (and acks it), then drains the spool
when influxd is back. The final count is exact."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from support.checks import assert_reconciled, spool_segments, stored_count
from support.waiting import wait_for

from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.loadgen import past_stream
from ingest.process import ingest_env, start_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 12_000


def test_influxd_outage_is_spooled_and_drained(
    tmp_path: Path, mosquitto: Broker, influxd: InfluxServer
) -> None:
    stream = past_stream(N, per_message=12, junctions=40)
    env = ingest_env(
        tmp_path,
        mosquitto.port,
        influxd.url,
        "outage",
        "ingest-outage",
        batch_size=600,
        store_retry_s=0.5,
    )
    ingest = start_ingest(tmp_path / "ingest", env)
    store = InfluxStore(influxd.url, "outage")
    publisher = GatewayPublisher("127.0.0.1", mosquitto.port, stream.gateway)
    done = threading.Event()

    def produce() -> None:
        start = time.monotonic()
        for i, message in enumerate(stream.iter_messages()):
            publisher.publish(message)
            ahead_s = start + i / 150 - time.monotonic()  # ~6.7 s of traffic
            if ahead_s > 0:
                time.sleep(ahead_s)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_for(lambda: stored_count(store, stream) >= 1000, 60, "the first readings")
        influxd.stop()
        stored_before = ingest.metric("citytraffic_ingest_readings_stored_total")
        wait_for(
            lambda: ingest.metric("citytraffic_ingest_spool_segments") >= 3, 60, "spooled batches"
        )
        assert ingest.metric("citytraffic_ingest_store_up") == 0
        # While influxd is down, batches keep being made durable (spooled) and acknowledged.
        assert ingest.metric("citytraffic_ingest_readings_stored_total") > stored_before
        assert not done.is_set(), "the outage did not land mid-stream"
        time.sleep(1.0)
        influxd.start()
        producer.join(120)
        assert publisher.flush(60)
        wait_for(lambda: stored_count(store, stream) >= N, 120, f"{N} readings after the outage")
        wait_for(lambda: ingest.metric("citytraffic_ingest_spool_segments") == 0, 30, "drain")
        assert ingest.metric("citytraffic_ingest_store_up") == 1
        assert ingest.metric("citytraffic_ingest_store_errors_total") > 0
        assert ingest.metric("citytraffic_ingest_spooled_batches_total") >= 3
        ingest.stop()
        assert ingest.proc is not None and ingest.proc.returncode == 0, ingest.tail()
    finally:
        producer.join(5)
        publisher.close()
        ingest.kill()
    time.sleep(0.5)
    assert stored_count(store, stream) == N
    assert_reconciled(store, stream.iter_readings(), stream.start_ns, stream.end_ns)
    assert spool_segments(tmp_path) == []
    store.close()

"""mosquitto (persistence on) stopped with SIGTERM and started again, several times mid-run: the
gateway's publisher buffers and re-sends what the broker had not acked, the broker keeps the
ingest's persistent session (its queued and unacknowledged messages) on disk, and every reading
is stored exactly once."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from support.checks import assert_reconciled, dead_letters, stored_at_least, stored_count
from support.knobs import Knobs
from support.producer import Producer
from support.waiting import wait_for

from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.loadgen import past_stream
from ingest.process import ingest_env, start_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
log = logging.getLogger(__name__)
READINGS = 36_000


def test_mosquitto_sigterm_restarts_lose_nothing(
    tmp_path: Path, mosquitto: Broker, influxd: InfluxServer, knobs: Knobs
) -> None:
    stream = past_stream(READINGS, per_message=8, junctions=100, per_message_max=16)
    env = ingest_env(tmp_path, mosquitto.port, influxd.url, "restart", "ingest-restart")
    store = InfluxStore(influxd.url, "restart")
    ingest = start_ingest(tmp_path / "ingest", env)
    publisher = GatewayPublisher("127.0.0.1", mosquitto.port, stream.gateway, reconnect_max_s=2)
    rate = knobs.rate_rps * stream.messages / READINGS
    producer = Producer(publisher, stream.iter_messages(), rate).start()
    at_restart: list[tuple[int, int]] = []
    try:
        for k in range(1, knobs.broker_restarts + 1):
            due = k * stream.messages / (knobs.broker_restarts + 1)
            wait_for(producer.reached(due), 300, f"publishing before restart {k}")
            stored_before = stored_count(store, stream)
            mosquitto.restart()  # SIGTERM: mosquitto writes its persistence file, then starts
            at_restart.append((producer.published, stored_before))
            wait_for(stored_at_least(store, stream, stored_before + 1), 120, "progress")
        producer.join(300)
        assert publisher.flush(120), f"{publisher.pending} messages never acked by the broker"
        wait_for(stored_at_least(store, stream, READINGS), 300, "every reading stored")
        time.sleep(1.0)
        ingest.stop()
        assert ingest.proc is not None and ingest.proc.returncode == 0, ingest.tail()
    finally:
        producer.stop()
        publisher.close()
        ingest.kill()
    log.info("(published messages, stored readings) at the restarts: %s", at_restart)
    assert all(p < stream.messages and s < READINGS for p, s in at_restart), at_restart
    assert publisher.connects_total >= knobs.broker_restarts + 1
    # the ingest came back to its own session each time (queued messages kept by the broker)
    assert ingest.tail(1_000_000).count("session present: True") >= knobs.broker_restarts
    assert_reconciled(store, stream.iter_readings(), stream.start_ns, stream.end_ns)
    assert dead_letters(tmp_path) == []
    store.close()

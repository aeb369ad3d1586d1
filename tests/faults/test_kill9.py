"""kill -9 of the ingest process, again and again, during a 100,000-reading run: every reading is
stored exactly once (ack only after durable; redelivered messages overwrite the same points)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.checks import (
    assert_reconciled,
    dead_letters,
    spool_segments,
    stored_at_least,
    stored_count,
)
from support.knobs import Knobs
from support.producer import Producer
from support.waiting import wait_for

from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.loadgen import past_stream
from ingest.process import IngestProcess, ingest_env, start_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
log = logging.getLogger(__name__)
STORED = "citytraffic_ingest_readings_stored_total"
REDELIVERED = "citytraffic_ingest_redelivered_messages_total"


def progress(ingest: IngestProcess) -> Callable[[], bool]:
    return lambda: ingest.metric(STORED) > 0


def test_kill_9_ingest_repeatedly_loses_and_duplicates_nothing(
    tmp_path: Path, mosquitto: Broker, influxd: InfluxServer, knobs: Knobs
) -> None:
    n = knobs.kill_readings
    stream = past_stream(n, per_message=8, junctions=100, per_message_max=16)
    env = ingest_env(tmp_path, mosquitto.port, influxd.url, "kill9", "ingest-kill9")
    store = InfluxStore(influxd.url, "kill9")
    ingest: IngestProcess = start_ingest(tmp_path / "ingest", env)
    publisher = GatewayPublisher("127.0.0.1", mosquitto.port, stream.gateway)
    rate = knobs.rate_rps * stream.messages / n  # messages/s
    producer = Producer(publisher, stream.iter_messages(), rate).start()
    stored_at_kill: list[int] = []
    redelivered = 0.0
    try:
        for k in range(1, knobs.kills + 1):
            # kill k when the stream is k/(kills+1) through and this process has stored some
            due = k * stream.messages / (knobs.kills + 1)
            wait_for(producer.reached(due), 300, f"publishing before kill {k}")
            wait_for(progress(ingest), 120, f"progress before kill {k}")
            redelivered += ingest.metric(REDELIVERED)
            ingest.kill()  # SIGKILL: no flush, no DISCONNECT, unacked messages in flight
            stored_at_kill.append(stored_count(store, stream))
            log.info(
                "kill %d: %d/%d published, %d stored",
                k,
                producer.published,
                stream.messages,
                stored_at_kill[-1],
            )
            ingest = start_ingest(tmp_path / "ingest", env)
        producer.join(300)
        assert publisher.flush(120), f"{publisher.pending} messages never acked by the broker"
        wait_for(stored_at_least(store, stream, n), 300, f"{n} readings stored")
        time.sleep(1.0)  # anything still in flight would show up as an excess now
        redelivered += ingest.metric(REDELIVERED)
        ingest.stop()
        assert ingest.proc is not None and ingest.proc.returncode == 0, ingest.tail()
    finally:
        producer.stop()
        publisher.close()
        ingest.kill()
    log.info("stored at the kills: %s; redelivered after them: %d", stored_at_kill, redelivered)
    assert len(stored_at_kill) == knobs.kills
    assert all(0 < s < n for s in stored_at_kill), f"a kill did not land mid-run: {stored_at_kill}"
    assert redelivered > 0, "no message came back after a kill"
    assert_reconciled(store, stream.iter_readings(), stream.start_ns, stream.end_ns)
    assert dead_letters(tmp_path) == []
    assert spool_segments(tmp_path) == []
    store.close()
